"""Bad input: every check gives one exact `path:line: message`, exit 1, and writes nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import edit
from .conftest import files as snapshot

ITEM = "newsletters/2022/2022-03/handlingsplan.md"
EVENT = "newsletters/2022/2022-03/webbinarium.md"
ISSUE = "newsletters/2022/2022-03/issue.md"


def write(tree: Path, rel: str, text: str, encoding: str = "utf-8") -> None:
    (tree / rel).write_bytes(text.encode(encoding))


def fails(run, tree: Path, *extra: str) -> str:
    """Build into a fresh folder and into an existing output; both must fail and write nothing."""
    fresh = tree.parent / "fresh"
    result = run("build", "--root", tree, "--out", fresh, *extra)
    assert result.exit_code == 1, result.output
    assert not fresh.exists()
    assert "Traceback" not in result.output
    assert not list(tree.parent.glob(".fresh-*")), "a staging folder was left behind"
    return result.stderr


@pytest.fixture
def previous(tree, built_basic) -> Path:
    """A previous good output that a failed build must leave untouched.

    The fixture tree builds to the same bytes every time, so the session's one build of it is
    copied rather than built again for every case.
    """
    out = tree.parent / "public"
    shutil.copytree(built_basic, out, symlinks=True)
    return out


CASES = [
    # (id, edit function, expected line on stderr)
    (
        "invalid-yaml",
        lambda t: edit(t, ITEM, "delmal: [1, 5]", "delmal: [1, 5"),
        f"{ITEM}:6: ogiltig YAML: väntade ',' eller ']' men hittade ':' "
        "(i listan som börjar på rad 5)",
    ),
    (
        "yaml-colon-in-value",
        lambda t: edit(
            t, ITEM, "title: Handlingsplanen för 2022 är klar", "title: Handlingsplan: 2022 är klar"
        ),
        f"{ITEM}:2: ogiltig YAML: ett kolon är inte tillåtet här: sätt texten inom citattecken",
    ),
    (
        "yaml-tab",
        lambda t: edit(t, ITEM, "delmal: [1, 5]", "delmal:\t[1, 5]\n\tx: 1"),
        f"{ITEM}:5: ogiltig YAML: tabbtecken går inte i YAML: använd mellanslag",
    ),
    (
        "latin-1",
        lambda t: write(t, ITEM, (t / ITEM).read_text("utf-8"), encoding="latin-1"),
        f"{ITEM}:2: filen är inte UTF-8 (byte 0xf6); spara den som UTF-8",
    ),
    (
        "unknown-campaign",
        lambda t: edit(
            t,
            "newsletters/2022/2022-03/svartsjuka.md",
            "campaign: svartsjuka",
            "campaign: svartsjukan",
        ),
        'newsletters/2022/2022-03/svartsjuka.md:5: okänd kampanj "svartsjukan" (menade du '
        '"svartsjuka" (Svartsjuka är inte romantiskt)?); skriv kampanjens filnamn eller namn. '
        'Kända kampanjer: "svartsjuka" (Svartsjuka är inte romantiskt), "valj-att-sluta" '
        "(Välj att sluta)",
    ),
    (
        "duplicate-id",
        lambda t: edit(
            t,
            "newsletters/2022/2022-03/svartsjuka.md",
            "6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0003",
            "6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0002",
        ),
        'newsletters/2022/2022-03/svartsjuka.md:4: id "6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0002" '
        f"används redan i {ITEM}:4: varje text behöver ett eget id",
    ),
    (
        "missing-title",
        lambda t: edit(t, ITEM, "title: Handlingsplanen för 2022 är klar\n", ""),
        f"{ITEM}:1: title saknas",
    ),
    (
        "bad-date",
        lambda t: edit(t, ITEM, "date: 2022-03-10", "date: 2022-13-01"),
        f'{ITEM}:3: date "2022-13-01" finns inte: det finns ingen månad 13, året har tolv månader',
    ),
    (
        "date-without-that-day",
        lambda t: edit(t, ITEM, "date: 2022-03-10", "date: 2022-02-30"),
        f'{ITEM}:3: date "2022-02-30" finns inte: februari 2022 har ingen dag 30',
    ),
    (
        "date-in-another-format",
        lambda t: edit(t, ITEM, "date: 2022-03-10", "date: 10 mars 2022"),
        f'{ITEM}:3: date "10 mars 2022" är inget datum: skriv ÅÅÅÅ-MM-DD, t.ex. 2022-03-15',
    ),
    (
        "missing-date",
        lambda t: edit(t, ITEM, "date: 2022-03-10\n", ""),
        f"{ITEM}:1: date saknas, skriv datumet som ÅÅÅÅ-MM-DD",
    ),
    (
        "delmal-out-of-range",
        lambda t: edit(t, ITEM, "delmal: [1, 5]", "delmal: [1, 7]"),
        f'{ITEM}:5: delmål "7" finns inte: delmålen är heltalen 1–5',
    ),
    (
        "delmal-on-its-own-lines",
        lambda t: edit(t, ITEM, "delmal: [1, 5]", "delmal:\n  - 1\n  - fem"),
        f'{ITEM}:7: delmål "fem" finns inte: delmålen är heltalen 1–5',
    ),
    (
        "image-without-alt",
        lambda t: edit(t, ITEM, "image_alt: Omslaget till handlingsplanen\n", ""),
        f"{ITEM}:7: image_alt saknas: beskriv bilden i text för den som inte ser den "
        '(skriv image_alt: "" om bilden bara är dekoration)',
    ),
    (
        "image-missing-file",
        lambda t: edit(t, ITEM, "image: plan.png", "image: plan-ny.png"),
        f'{ITEM}:7: filen "plan-ny.png" finns inte i newsletters/2022/2022-03/ [missing-file]',
    ),
    (
        "markdown-link-to-missing-file",
        lambda t: edit(t, ITEM, "(bilaga.pdf)", "(bilaga-2021.pdf)"),
        f'{ITEM}:16: filen "bilaga-2021.pdf" finns inte i newsletters/2022/2022-03/ [missing-file]',
    ),
    (
        "path-outside-folder",
        lambda t: edit(t, ITEM, "(bilaga.pdf)", "(../../hemlig.txt)"),
        f'{ITEM}:16: "../../hemlig.txt" pekar utanför mappen: lägg filen bredvid texten',
    ),
    (
        "order-names-missing-item",
        lambda t: edit(t, ISSUE, "  - svartsjuka", "  - svartsjukan"),
        f'{ISSUE}:8: order nämner "svartsjukan" men det finns ingen svartsjukan.md i numret '
        '(menade du "svartsjuka"?)',
    ),
    (
        "order-twice",
        lambda t: edit(t, ISSUE, "  - svartsjuka", "  - handlingsplan"),
        f'{ISSUE}:8: "handlingsplan" står två gånger i order',
    ),
    (
        "low-contrast-colour",
        lambda t: edit(t, "campaigns/svartsjuka.md", '"#8a1538"', '"#ff9999"'),
        "campaigns/svartsjuka.md:3: color #ff9999 har kontrast 2,05:1 mot vitt; text och knappar "
        "kräver minst 4,5:1 (WCAG AA): välj en mörkare nyans [contrast]",
    ),
    (
        "bad-colour",
        lambda t: edit(t, "campaigns/svartsjuka.md", '"#8a1538"', "röd"),
        'campaigns/svartsjuka.md:3: color "röd" ska vara en hexfärg som #8a1538',
    ),
    (
        "campaign-without-name",
        lambda t: edit(t, "campaigns/valj-att-sluta.md", "name: Välj att sluta\n", ""),
        "campaigns/valj-att-sluta.md:1: name saknas",
    ),
    (
        "no-front-matter",
        lambda t: write(t, ITEM, "# Bara rubrik\n"),
        f"{ITEM}:1: front matter saknas: filen ska börja med en rad med bara '---'",
    ),
    (
        "unclosed-front-matter",
        lambda t: write(t, ITEM, "---\ntitle: x\ndate: 2022-03-01\n"),
        f"{ITEM}:1: front matter avslutas aldrig: lägg till en rad med bara '---'",
    ),
    (
        "front-matter-not-a-mapping",
        lambda t: write(t, ITEM, "---\n- title\n- date\n---\nText\n"),
        f"{ITEM}:2: front matter ska vara nycklar med värden (key: value)",
    ),
    (
        "duplicate-key",
        lambda t: edit(t, ITEM, "delmal: [1, 5]", "delmal: [1, 5]\ntitle: Igen"),
        f'{ITEM}:6: nyckeln "title" finns redan på rad 2',
    ),
    (
        "event-end-before-start",
        lambda t: edit(t, EVENT, "end: 2022-03-31T11:30", "end: 2022-03-31T08:30"),
        f"{EVENT}:9: end (2022-03-31 08:30) ska vara efter start (2022-03-31 09:00)",
    ),
    (
        "event-without-start",
        lambda t: edit(t, EVENT, "start: 2022-03-31T09:00\n", ""),
        f"{EVENT}:7: ett evenemang (type: event) behöver start, t.ex. start: 2022-04-21T09:00",
    ),
    (
        "event-bad-time",
        lambda t: edit(t, EVENT, "start: 2022-03-31T09:00", "start: 31 mars kl 9"),
        f'{EVENT}:8: start "31 mars kl 9" är ingen tidpunkt: skriv datum och klockslag i '
        "svensk tid, t.ex. 2023-03-14T09:00",
    ),
    (
        "event-time-that-does-not-exist",
        lambda t: edit(t, EVENT, "start: 2022-03-31T09:00", "start: 2022-03-31T24:30"),
        f'{EVENT}:8: start "2022-03-31T24:30" finns inte: dygnet går från 00:00 till 23:59',
    ),
    (
        "unknown-type",
        lambda t: edit(t, EVENT, "type: event", "type: evenemang"),
        f'{EVENT}:7: type "evenemang" måste vara news (nyhet) eller event (evenemang); '
        'menade du "event"?',
    ),
    (
        "unknown-status",
        lambda t: edit(t, ISSUE, "status: sent", "status: klar"),
        f'{ISSUE}:5: status "klar" måste vara draft (utkast), ready (klart att skicka) eller '
        'sent (skickat); menade du "ready"?',
    ),
    (
        "javascript-link-field",
        lambda t: edit(
            t, ITEM, "link: https://www.example.se/handlingsplan", "link: javascript:alert(1)"
        ),
        f'{ITEM}:9: link "javascript:alert(1)" är ingen tillåten adress: använd https://…',
    ),
    (
        "issue-date-in-other-year",
        lambda t: edit(t, ISSUE, "date: 2022-03-15", "date: 2023-03-15"),
        f"{ISSUE}:2: datumet 2023-03-15 ligger inte i året 2022 som mappen anger",
    ),
    (
        "missing-issue-md",
        lambda t: (t / ISSUE).unlink(),
        f"{ISSUE}:1: issue.md saknas: skapa den med `nyhetsbrev new issue 2022-03`",
    ),
    (
        "bad-issue-folder-name",
        lambda t: (t / "newsletters/2022/2022-10").rename(t / "newsletters/2022/Oktober 2022"),
        'newsletters/2022/Oktober 2022:1: numrets mapp "Oktober 2022" får bara innehålla a–z, '
        "0–9 och bindestreck, t.ex. 2022-03",
    ),
    (
        "missing-config",
        lambda t: (t / "newsletter.toml").unlink(),
        None,
    ),  # the message names the tmp folder; checked in its own test below
    (
        "invalid-toml",
        lambda t: edit(t, "newsletter.toml", 'language = "sv"', "language = sv"),
        "newsletter.toml:4: ogiltig TOML: värdet går inte att läsa: sätt text inom citattecken, "
        't.ex. "text"',
    ),
    (
        "toml-section-twice",
        lambda t: write(
            t,
            "newsletter.toml",
            (t / "newsletter.toml").read_text("utf-8") + "\n[feeds]\nitems = 3\n",
        ),
        None,  # its line depends on the fixture's length; the message is checked below
    ),
    (
        "base-url-not-https",
        lambda t: edit(
            t,
            "newsletter.toml",
            '"https://nyhetsbrev.example.se"',
            '"http://nyhetsbrev.example.se"',
        ),
        "newsletter.toml:3: base_url ska vara en absolut https-adress, inte "
        '"http://nyhetsbrev.example.se"',
    ),
    (
        "config-missing-sender",
        lambda t: edit(t, "newsletter.toml", 'name = "Länsstyrelsen i Testlän"\n', ""),
        "newsletter.toml:6: [sender] name saknas",
    ),
    (
        "config-wrong-type",
        lambda t: edit(t, "newsletter.toml", "items = 5", 'items = "fem"'),
        "newsletter.toml:21: [feeds] items ska vara ett heltal större än noll",
    ),
]


@pytest.mark.parametrize("name,change,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_with_exact_message(name, change, message, run, tree, previous):
    before = snapshot(previous)
    change(tree)
    stderr = fails(run, tree)
    if message is not None:
        assert message in stderr.splitlines(), stderr
    result = run("build", "--root", tree, "--out", previous)
    assert result.exit_code == 1
    assert snapshot(previous) == before, "a failed build changed the previous output"
    check = run("check", "--root", tree)
    assert check.exit_code == 1 and (message is None or message in check.stderr.splitlines())


def test_missing_config_names_the_folder(run, tree):
    (tree / "newsletter.toml").unlink()
    stderr = fails(run, tree)
    assert stderr == (
        f"newsletter.toml:1: newsletter.toml saknas i {tree.resolve()}: ange rätt "
        "mapp med --root eller skapa filen (se README)\n"
    )


def test_all_problems_are_reported_at_once(run, tree):
    edit(tree, ITEM, "delmal: [1, 5]", "delmal: [9]")
    edit(tree, EVENT, "type: event", "type: evenemang")
    edit(tree, "campaigns/svartsjuka.md", '"#8a1538"', '"#ffcc00"')
    lines = [line for line in fails(run, tree).splitlines() if ": varning: " not in line]
    assert [line.split(":")[0] for line in lines] == ["campaigns/svartsjuka.md", ITEM, EVENT]


def test_unknown_key_is_a_warning_with_a_suggestion(run, tree):
    edit(tree, ITEM, "malgrupp:", "malgrup:")
    out = tree.parent / "public"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0
    assert (
        f'{ITEM}:6: varning: okänt fält "malgrup" (menade du "malgrupp"?); det används inte '
        "[unknown-key]"
    ) in result.stderr.splitlines()
    assert fails(run, tree, "--strict")


def test_unknown_config_key_is_a_warning(run, tree):
    edit(tree, "newsletter.toml", 'language = "sv"', 'language = "sv"\norganization = "x"')
    result = run("check", "--root", tree)
    assert result.exit_code == 0
    assert (
        'newsletter.toml:5: varning: okänd inställning "organization" (menade du '
        '"organisation"?) [unknown-key]'
    ) in result.stderr.splitlines()


def test_script_and_javascript_are_removed_from_every_output(run, tree):
    out = tree.parent / "public"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0
    assert f'{ITEM}:16: varning: osäker HTML "javascript:" togs bort [unsafe-html]' in (
        result.stderr.splitlines()
    )
    assert f'{ITEM}:17: varning: osäker HTML "<script" togs bort [unsafe-html]' in (
        result.stderr.splitlines()
    )
    own_script = re.compile(r'<script src="(\.\./)*site\.js" defer></script>')
    for path in out.rglob("*"):
        if "pagefind" in path.relative_to(out).parts:  # the search index, not content
            continue
        if path.suffix in (".html", ".txt", ".eml", ".xml", ".json", ".ics"):
            data = own_script.sub("", path.read_text("utf-8", errors="replace").lower())
            assert "<script" not in data and "javascript:" not in data, path
            assert "onclick" not in data, path


def test_javascript_markdown_link_is_dropped(run, tree):
    edit(tree, ITEM, "Se också", "Se [det här](javascript:alert(1)) och")
    out = tree.parent / "public"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0
    assert f'{ITEM}:16: varning: osäker länk "javascript:alert(1)" togs bort [unsafe-html]' in (
        result.stderr.splitlines()
    )
    html = (out / "2022/2022-03/email.html").read_text()
    assert "javascript" not in html and "det här</a>" in html


def test_relative_image_is_copied_and_made_absolute(run, tree):
    out = tree.parent / "public"
    assert run("build", "--root", tree, "--out", out).exit_code == 0
    assert (out / "2022/2022-03/affisch.png").read_bytes() == (
        tree / "newsletters/2022/2022-03/affisch.png"
    ).read_bytes()
    html = (out / "2022/2022-03/email.html").read_text()
    assert 'src="https://nyhetsbrev.example.se/2022/2022-03/affisch.png"' in html
    assert 'src="affisch.png"' not in html


def test_root_relative_link_resolves_against_base_url(run, tree):
    edit(tree, ITEM, "(bilaga.pdf)", "(/om-oss/)")
    out = tree.parent / "public"
    assert run("build", "--root", tree, "--out", out).exit_code == 0
    assert (
        'href="https://nyhetsbrev.example.se/om-oss/"'
        in (out / "2022/2022-03/email.html").read_text()
    )


def test_bom_and_crlf_are_accepted(run, tree):
    text = (tree / ITEM).read_text("utf-8")
    (tree / ITEM).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    out = tree.parent / "public"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "Handlingsplanen för 2022 är klar" in (out / "2022/2022-03/email.txt").read_text()


def test_yaml_oddities_stay_text(run, tree):
    """`no` is the Swedish-unfriendly YAML boolean; a title must stay the word."""
    edit(tree, ITEM, "title: Handlingsplanen för 2022 är klar", "title: no")
    out = tree.parent / "public"
    assert run("build", "--root", tree, "--out", out).exit_code == 0
    assert "\nNO\n" in (out / "2022/2022-03/email.txt").read_text()


def test_a_toml_table_written_twice_is_named_in_swedish(run, tree):
    toml = tree / "newsletter.toml"
    text = toml.read_text("utf-8") + "\n[feeds]\nitems = 3\n"
    toml.write_text(text, "utf-8")
    line = text.count("\n") - 1
    stderr = fails(run, tree)
    assert (
        stderr == f"newsletter.toml:{line}: ogiltig TOML: [feeds] står två gånger: slå ihop dem\n"
    )
