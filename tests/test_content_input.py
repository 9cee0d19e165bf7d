"""Content a coordinator writes by mistake or an attacker writes on purpose: every case ends
in `path:line: message` lines in Swedish, exit 1 and no traceback (or a warning, and a build).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .test_bad_input import EVENT, ISSUE, ITEM, edit, fails

CAMPAIGN = "campaigns/svartsjuka.md"


def errors(output: str) -> list[str]:
    """Return the lines of output that are not warnings."""
    return [line for line in output.splitlines() if ": varning: " not in line]


# -- one-line fields: a line break would split a mail header or a calendar line -------------

ONE_LINE_CASES = [
    # (id, file, old, new, expected line)
    (
        "issue-title",
        ISSUE,
        "title: Nyhetsbrev mars 2022",
        'title: "Nyhetsbrev\\nmars 2022"',
        f"{ISSUE}:3: title innehåller tecknet U+000A",
    ),
    (
        "issue-title-u2028",
        ISSUE,
        "title: Nyhetsbrev mars 2022",
        'title: "Nyhetsbrev\\u2028mars 2022"',
        f"{ISSUE}:3: title innehåller tecknet U+2028",
    ),
    (
        "issue-title-u2029",
        ISSUE,
        "title: Nyhetsbrev mars 2022",
        'title: "Nyhetsbrev\\u2029mars 2022"',
        f"{ISSUE}:3: title innehåller tecknet U+2029",
    ),
    (
        "preheader-carriage-return",
        ISSUE,
        "preheader: Handlingsplanen för 2022, kampanjen om svartsjuka och ett webbinarium i mars.",
        'preheader: "Handlingsplanen för 2022\\r\\nBcc: alla@example.se"',
        f"{ISSUE}:4: preheader innehåller tecknet U+000D",
    ),
    (
        "event-title",
        EVENT,
        'title: "Webbinarium: våldsutsatta',
        'title: "Webbinarium:\\nvåldsutsatta',
        f"{EVENT}:2: title innehåller tecknet U+000A",
    ),
    (
        "event-location",
        EVENT,
        "location: Digitalt via Teams",
        'location: "Digitalt\\nvia Teams"',
        f"{EVENT}:10: location innehåller tecknet U+000A",
    ),
    (
        "event-location-next-line",
        EVENT,
        "location: Digitalt via Teams",
        'location: "Digitalt\\Nvia Teams"',
        f'{EVENT}:10: fältet "location" innehåller tecknet U+0085',
    ),
    (
        "item-title-literal-block",
        ITEM,
        "title: Handlingsplanen för 2022 är klar",
        "title: |\n  Handlingsplanen\n  för 2022",
        f"{ITEM}:2: title innehåller tecknet U+000A",
    ),
    (
        "campaign-name",
        CAMPAIGN,
        "name: Svartsjuka är inte romantiskt",
        'name: "Svartsjuka\\när inte romantiskt"',
        f"{CAMPAIGN}:2: name innehåller tecknet U+000A",
    ),
    (
        "item-campaign-in-a-list",
        ITEM,
        "delmal: [1, 5]",
        'delmal: [1, 5]\ncampaign: [svartsjuka, "valj-att-\\nsluta"]',
        f"{ITEM}:6: campaign innehåller tecknet U+000A",
    ),
    (
        "image-alt",
        ITEM,
        "image_alt: Omslaget till handlingsplanen",
        'image_alt: "Omslaget\\ntill handlingsplanen"',
        f"{ITEM}:8: image_alt innehåller tecknet U+000A",
    ),
    (
        "config-sender-name",
        "newsletter.toml",
        'name = "Länsstyrelsen i Testlän"',
        'name = "Länsstyrelsen\\ni Testlän"',
        "newsletter.toml:7: [sender] name innehåller tecknet U+000A",
    ),
    (
        "config-title",
        "newsletter.toml",
        'title = "Testbrevet"',
        'title = "Test\\u2028brevet"',
        "newsletter.toml:1: title innehåller tecknet U+2028",
    ),
    (
        "config-footer-line",
        "newsletter.toml",
        '"Kvinnofridslinjen 020-50 50 50"',
        '"Kvinnofridslinjen\\r020-50 50 50"',
        "newsletter.toml:18: [footer] lines innehåller tecknet U+000D",
    ),
]


@pytest.mark.parametrize(
    "name,rel,old,new,expected", ONE_LINE_CASES, ids=[c[0] for c in ONE_LINE_CASES]
)
def test_a_line_break_in_a_one_line_field_is_reported(name, rel, old, new, expected, run, tree):
    edit(tree, rel, old, new)
    stderr = fails(run, tree)
    assert any(line.startswith(expected) for line in stderr.splitlines()), stderr


ONE_ERROR_CASES = [
    # (id, file, old, new, the one error)
    (
        "the-one-line-message-says-what-to-do",
        EVENT,
        "location: Digitalt via Teams",
        'location: "Digitalt\\nvia Teams"',
        f"{EVENT}:10: location innehåller tecknet U+000A (en radbrytning eller ett osynligt "
        "styrtecken): skriv värdet på en rad",
    ),
    (
        "an-alias-in-a-block-mapping",
        ITEM,
        "malgrupp: [Strateger, Chefer]",
        "malgrupp: &g [Strateger]\nsummary: *g",
        f"{ITEM}:7: aliaset *g upprepar ett annat värde: ankare (&namn) och alias (*namn) "
        "går inte i front matter; skriv ut värdet där det behövs [yaml-alias]",
    ),
]


@pytest.mark.parametrize(
    "name,rel,old,new,expected", ONE_ERROR_CASES, ids=[c[0] for c in ONE_ERROR_CASES]
)
def test_one_edit_gives_exactly_its_one_error(name, rel, old, new, expected, run, tree):
    edit(tree, rel, old, new)
    assert errors(fails(run, tree)) == [expected]


def test_a_summary_may_hold_several_lines(run, tree):
    edit(tree, ITEM, "delmal: [1, 5]", "delmal: [1, 5]\nsummary: |\n  En rad.\n  Två rader.")
    result = run("build", "--root", tree, "--out", tree.parent / "ut")
    assert result.exit_code == 0, result.output


def test_an_item_file_name_with_a_line_break_is_reported(run, tree):
    folder = tree / "newsletters/2022/2022-03"
    (folder / "ny\ntext.md").write_text(
        "---\ntitle: Ny text\ndate: 2022-03-11\n---\nText.\n", "utf-8"
    )
    stderr = fails(run, tree)
    assert (
        "newsletters/2022/2022-03/ny\\ntext.md:1: filnamnet innehåller tecknet U+000A (en "
        "radbrytning eller ett osynligt styrtecken): byt namn på filen"
    ) in stderr.splitlines()


# -- YAML aliases and the size of messages -------------------------------------------------

BOMB = "\n".join(
    ["delmal:", " - &a0 [x, x, x, x, x, x, x, x, x]"]
    + [f" - &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
)


def test_a_yaml_alias_bomb_is_refused_with_its_line(run, tree):
    edit(tree, ITEM, "delmal: [1, 5]", BOMB)
    assert len(BOMB) < 1024
    stderr = fails(run, tree)
    assert errors(stderr) == [
        f"{ITEM}:7: aliaset *a0 upprepar ett annat värde: ankare (&namn) och alias (*namn) "
        "går inte i front matter; skriv ut värdet där det behövs [yaml-alias]"
    ]
    assert len(stderr) < 2_000


def test_a_long_value_is_cut_in_the_message(run, tree):
    edit(tree, ITEM, "date: 2022-03-10", f"date: {'9' * 100_000}")
    (line,) = errors(fails(run, tree))
    assert (
        line == f'{ITEM}:3: date "{"9" * 79}…" är inget datum: skriv ÅÅÅÅ-MM-DD, t.ex. 2022-03-15'
    )


def test_shown_cuts_text_lists_and_tables_without_expanding_them():
    from nyhetsbrev.errors import Problem, shown

    nested: list = ["x"] * 9
    for _ in range(30):  # 9**30 leaves if expanded
        nested = [nested] * 9
    assert len(shown(nested)) == 80 and shown(nested).endswith("…")
    assert shown({"a": "b"}) == "{a: b}"
    assert shown("kort") == "kort"
    long = Problem("x.md", 1, "a" * 10_000)
    assert len(str(long)) < 2_100


# -- editors' and systems' leftovers ---------------------------------------------------------


def test_editor_and_system_leftovers_are_ignored(run, tree):
    folder = tree / "newsletters/2022/2022-03"
    os.symlink("root@host.12345:1700000000", folder / ".#handlingsplan.md")  # Emacs' lock
    (folder / "#handlingsplan.md#").write_text("autosave", "utf-8")
    (folder / "handlingsplan.md~").write_text("backup", "utf-8")
    (folder / ".handlingsplan.md.swp").write_bytes(b"\x00vim")
    (folder / ".DS_Store").write_bytes(b"\x00\x00")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf")
    (folder / ".utkast.md").write_text("---\ntitle: [\n---\n", "utf-8")
    (tree / "campaigns" / ".#svartsjuka.md").symlink_to("/nonexistent/lock")
    (tree / "newsletters/2022/.DS_Store").write_bytes(b"\x00")
    out = tree.parent / "ut"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0, result.output
    published = {p.name for p in out.rglob("*")}
    assert not published & {"Thumbs.db", ".DS_Store", "handlingsplan.md~", "#handlingsplan.md#"}


def test_a_folder_named_like_an_item_is_not_read(run, tree):
    (tree / "newsletters/2022/2022-03/mapp.md").mkdir()
    result = run("check", "--root", tree)
    assert result.exit_code == 0, result.output


# -- web addresses ---------------------------------------------------------------------------


def test_a_registration_address_without_https_says_so(run, tree):
    edit(
        tree,
        EVENT,
        "registration: https://www.example.se/anmalan/missbruk",
        "registration: www.example.se/anmalan",
    )
    assert errors(fails(run, tree)) == [
        f'{EVENT}:11: "www.example.se/anmalan" ser ut som en webbadress: skriv den med '
        'https:// först, "https://www.example.se/anmalan" [missing-https]'
    ]


@pytest.mark.parametrize(
    "rel,old,new,line",
    [
        (ITEM, "link: https://www.example.se/handlingsplan", "link: example.se/plan", 9),
        (ITEM, "image: plan.png", "image: www.example.se/plan.png", 7),
        (ITEM, "(bilaga.pdf)", "(lansstyrelsen.se/bilaga.pdf)", 16),
        (CAMPAIGN, "url: https://www.example.se/svartsjuka", "url: www.example.se", 4),
    ],
    ids=["link", "image", "markdown-link", "campaign-url"],
)
def test_web_addresses_without_https_in_other_fields(rel, old, new, line, run, tree):
    edit(tree, rel, old, new)
    (found,) = errors(fails(run, tree))
    assert found.startswith(f"{rel}:{line}: ") and found.endswith("[missing-https]"), found


def test_a_file_beside_the_text_wins_over_a_web_address(run, tree):
    folder = tree / "newsletters/2022/2022-03"
    (folder / "www.kommun.se.pdf").write_bytes(b"%PDF-1.4\n")
    edit(tree, ITEM, "(bilaga.pdf)", "(www.kommun.se.pdf)")
    result = run("check", "--root", tree)
    assert result.exit_code == 0, result.output


def test_http_links_get_a_warning_in_front_matter_and_markdown(run, tree):
    edit(tree, EVENT, "registration: https://www", "registration: http://www")
    edit(tree, ITEM, "(bilaga.pdf)", "(http://www.example.se/bilaga.pdf)")
    result = run("build", "--root", tree, "--out", tree.parent / "ut")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert (
        f'{EVENT}:11: varning: adressen "http://www.example.se/anmalan/missbruk" börjar med '
        "http://, som inte är krypterad: skriv https:// om webbplatsen har det [http-link]"
    ) in lines
    assert sum(1 for line in lines if line.startswith(f"{ITEM}:16: varning: adressen")) == 1


# -- campaigns by name -----------------------------------------------------------------------


@pytest.mark.parametrize("written", ["Välj att sluta", "välj att sluta", "VALJ ATT SLUTA"])
def test_an_item_may_name_its_campaign(written, run, tree):
    edit(tree, ITEM, "delmal: [1, 5]", f"delmal: [1, 5]\ncampaign: {written}")
    out = tree.parent / "ut"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0, result.output
    assert (
        (out / "campaigns/valj-att-sluta/index.html")
        .read_text("utf-8")
        .count("Handlingsplanen för 2022 är klar")
    )


def test_an_unknown_campaign_lists_slugs_with_names(run, tree):
    edit(tree, ITEM, "delmal: [1, 5]", "delmal: [1, 5]\ncampaign: romantiskt")
    (line,) = errors(fails(run, tree))
    assert line == (
        f'{ITEM}:6: okänd kampanj "romantiskt" (menade du "svartsjuka" (Svartsjuka är inte '
        'romantiskt)?); skriv kampanjens filnamn eller namn. Kända kampanjer: "svartsjuka" '
        '(Svartsjuka är inte romantiskt), "valj-att-sluta" (Välj att sluta)'
    )


def test_new_item_takes_the_campaign_name_and_writes_the_slug(run, tree):
    result = run(
        "new", "item", "2022-03", "Öppet hus", "--campaign", "Välj Att Sluta", "--root", tree
    )
    assert result.exit_code == 0, result.output
    text = (tree / "newsletters/2022/2022-03/oppet-hus.md").read_text("utf-8")
    assert "\ncampaign: valj-att-sluta\n" in text


# -- everything at once ----------------------------------------------------------------------


def test_body_findings_are_reported_with_front_matter_errors(run, tree):
    edit(tree, EVENT, "type: event", "type: evenemang")
    edit(tree, ITEM, "Se också", "![](plan.png)\n\nSe också")
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{EVENT}:7: type ") for line in lines), lines
    alt = [line for line in lines if line.endswith("[image-alt]")]
    assert alt == [
        f'{ITEM}:16: varning: bilden "plan.png" saknar alt-text: beskriv vad den visar inom '
        "hakparenteserna, ![Vad bilden visar](plan.png)"
        " [image-alt]"
    ]
    assert len(lines) == len(set(lines)), "a finding was reported twice"


# -- the settings file: one reader, one message ----------------------------------------------


def test_a_settings_file_that_is_not_utf8_gets_one_message_from_every_command(run, tree):
    config = tree / "newsletter.toml"
    config.write_bytes(config.read_text("utf-8").encode("latin-1"))
    expected = "newsletter.toml:2: filen är inte UTF-8 (byte 0xe4); spara den som UTF-8"
    for args in (
        ["check"],
        ["build", "--out", tree.parent / "ut"],
        ["send", "2022-03", "--status"],
        ["plan", "2022"],
        ["report", "2022"],
    ):
        result = run(*args, "--root", tree)
        assert result.exit_code == 1, (args, result.output)
        assert errors(result.stderr) == [expected], (args, result.stderr)


def test_a_missing_settings_file_is_one_message_for_send_status(run, tmp_path: Path):
    result = run("send", "2022-03", "--status", "--root", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"newsletter.toml:1: newsletter.toml saknas i {tmp_path.resolve()}: ange rätt mapp "
        "med --root eller skapa filen (se README)\n"
    )


def test_smtp_security_names_the_meaning_of_each_value(run, tree):
    edit(tree, "newsletter.toml", 'security = "none"', 'security = "ssl"')
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    assert errors(result.stderr) == [
        'newsletter.toml:26: [smtp] security "ssl" måste vara starttls (kryptering efter '
        "anslutningen), tls (kryptering från början) eller none (ingen kryptering)"
    ]


def test_a_binary_file_named_md_gets_a_bounded_report(run, tree):
    (tree / "newsletters/2022/2022-03/bild.md").write_bytes(b"---\n" + b"\x01x\n" * 50_000)
    lines = errors(fails(run, tree))
    assert len(lines) == 11, lines[:3]
    assert lines[-1] == (
        "newsletters/2022/2022-03/bild.md:12: samma slags tecken finns på 49\u00a0990 rader till: "
        "är det här en textfil?"
    )


def test_the_preview_ignores_an_editor_lock_file(tree):
    from nyhetsbrev.preview.serve import Preview

    lock = tree / "newsletters/2022/2022-03/.#svartsjuka.md"
    os.symlink("user@host.1234:1700000000", lock)
    preview = Preview(tree)
    preview.changed([lock])
    view = preview.view("2022/2022-03")
    assert view is not None and view.rendered is not None
    assert not [p for p in view.problems if p.severity == "error"]
