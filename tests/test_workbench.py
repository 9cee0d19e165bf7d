"""The coordinator's commands: new issue/item/campaign, plan, and serve's start and refusals."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from nyhetsbrev.content.scaffold import CAMPAIGN_BODY, ISSUE_INTRO, ITEM_BODY, LOCATION

from .conftest import FIXTURES, fails_with


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """Return a content tree with settings and campaigns but no issues."""
    root = tmp_path / "tomt"
    root.mkdir()
    shutil.copy(FIXTURES / "basic" / "newsletter.toml", root)
    shutil.copytree(FIXTURES / "basic" / "campaigns", root / "campaigns")
    return root


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text("utf-8").split("---\n")[1])


# -- new ---------------------------------------------------------------------------------


def test_new_issue_item_and_campaign_write_files_that_pass_strict_check(run, bare):
    issue = run("new", "issue", "2023-03", "--root", bare)
    assert issue.exit_code == 0, issue.output
    assert issue.output == f"{bare / 'newsletters/2023/2023-03/issue.md'}\n"
    item = run(
        "new",
        "item",
        "2023-03",
        "Välj att sluta – öppet hus på Ängen i Åseda",
        "--campaign",
        "valj-att-sluta",
        "--root",
        bare,
    )
    assert item.exit_code == 0, item.output
    path = bare / "newsletters/2023/2023-03/valj-att-sluta-oppet-hus-pa-angen-i-aseda.md"
    assert item.output == f"{path}\n"
    meta = front_matter(path)
    assert meta["title"] == "Välj att sluta – öppet hus på Ängen i Åseda"
    assert uuid.UUID(meta["id"]).version == 4
    assert meta["campaign"] == "valj-att-sluta"
    assert str(meta["date"]) == "2023-03-15"
    event = run(
        "new", "item", "2023-03", "Webbinarium: våld i nära relationer", "--event", "--root", bare
    )
    assert event.exit_code == 0, event.output
    meta = front_matter(bare / "newsletters/2023/2023-03/webbinarium-vald-i-nara-relationer.md")
    assert meta["type"] == "event" and str(meta["start"]).startswith("2023-03-15")
    campaign = run("new", "campaign", "kop-av-sex", "--root", bare)
    assert campaign.exit_code == 0, campaign.output
    assert front_matter(bare / "campaigns/kop-av-sex.md")["color"] == "#1d4f91"
    fill_in_placeholders(bare)
    checked = run("check", "--strict", "--root", bare)
    assert checked.exit_code == 0, checked.output
    assert checked.output == "Inga fel: 1 nummer, 2 texter\n"
    built = run("build", "--strict", "--root", bare, "--out", bare / "ut")
    assert built.exit_code == 0, built.output


def fill_in_placeholders(root: Path) -> None:
    """Replace every text `new` wrote for the coordinator, as a coordinator would."""
    for path in root.rglob("*.md"):
        text = path.read_text("utf-8")
        for placeholder in (ITEM_BODY, ISSUE_INTRO, CAMPAIGN_BODY, LOCATION):
            text = text.replace(placeholder, "Riktig text om kvinnofrid i länet.")
        path.write_text(text, "utf-8")


def test_placeholders_that_new_writes_are_errors_until_replaced(run, bare):
    assert run("new", "issue", "2023-03", "--root", bare).exit_code == 0
    assert run("new", "item", "2023-03", "Nyhet", "--root", bare).exit_code == 0
    assert run("new", "item", "2023-03", "Möte", "--event", "--root", bare).exit_code == 0
    folder = "newsletters/2023/2023-03"
    draft = run("check", "--root", bare)  # in a draft issue: warnings, the build still runs
    assert draft.exit_code == 0, draft.output
    assert draft.stderr.count("[placeholder]") == 4
    assert run("check", "--strict", "--root", bare).exit_code == 1
    assert run("new", "campaign", "kop-av-sex", "--root", bare).exit_code == 0
    issue = bare / folder / "issue.md"
    issue.write_text(issue.read_text("utf-8").replace("status: draft", "status: ready"), "utf-8")
    result = run("check", "--root", bare)
    assert result.exit_code == 1
    found = sorted(line for line in result.stderr.splitlines() if line.endswith("[placeholder]"))
    assert [line.split(": ", 1)[0] for line in found] == [
        "campaigns/kop-av-sex.md:14",
        f"{folder}/issue.md:14",
        f"{folder}/mote.md:19",
        f"{folder}/mote.md:28",
        f"{folder}/nyhet.md:21",
    ]
    assert f'{folder}/mote.md:19: location är fortfarande exemplet "{LOCATION}" från ' in (
        result.stderr
    )
    assert "varning" not in "".join(found)
    # A commented-out example is no placeholder; an example uncommented and kept is one.
    assert '# image_alt: "Vad bilden visar"' in (bare / folder / "nyhet.md").read_text("utf-8")
    fill_in_placeholders(bare)
    assert run("check", "--strict", "--root", bare).exit_code == 0
    item = bare / folder / "nyhet.md"
    item.write_text(
        item.read_text("utf-8")
        .replace("# image: bild.png", "image: https://www.example.se/bild.png")
        .replace('# image_alt: "Vad bilden visar"', 'image_alt: "Vad bilden visar"'),
        "utf-8",
    )
    result = run("check", "--root", bare)
    assert result.exit_code == 1
    assert f"{folder}/nyhet.md:" in result.stderr and "[placeholder]" in result.stderr


def test_front_matter_is_commented_in_swedish(run, bare):
    run("new", "issue", "2023-04", "--root", bare)
    text = (bare / "newsletters/2023/2023-04/issue.md").read_text("utf-8")
    assert "# Texten som syns efter ämnesraden i inkorgen: 40–130 tecken" in text
    assert "kampanjer under våren" in text and "i våren" not in text
    run("new", "item", "2023-04", "Nyhet", "--root", bare)
    text = (bare / "newsletters/2023/2023-04/nyhet.md").read_text("utf-8")
    assert "# Stabil identitet för flödena: ändra den aldrig." in text
    assert "# campaign: svartsjuka" in text
    run("new", "item", "2023-04", "Möte", "--event", "--root", bare)
    text = (bare / "newsletters/2023/2023-04/mote.md").read_text("utf-8")
    assert "# Start och slut i svensk tid, t.ex. 2023-03-14T09:00." in text
    assert "TTT" not in text
    run("new", "campaign", "ny-kampanj", "--root", bare)
    assert "kontrast 4,5:1" in (bare / "campaigns/ny-kampanj.md").read_text("utf-8")


def test_two_items_get_different_ids(run, bare):
    run("new", "issue", "2023-05", "--root", bare)
    run("new", "item", "2023-05", "Första", "--root", bare)
    run("new", "item", "2023-05", "Andra", "--root", bare)
    folder = bare / "newsletters/2023/2023-05"
    assert front_matter(folder / "forsta.md")["id"] != front_matter(folder / "andra.md")["id"]


EXISTS = "filen finns redan och skrivs inte över; redigera den eller välj ett annat namn\n"
NEW_REFUSALS = [
    # (id, the arguments of `new`, its whole output)
    ("issue-exists", ["issue", "2022-03"], f"newsletters/2022/2022-03/issue.md:1: {EXISTS}"),
    (
        "item-exists",
        ["item", "2022-03", "Svartsjuka"],
        f"newsletters/2022/2022-03/svartsjuka.md:1: {EXISTS}",
    ),
    ("campaign-exists", ["campaign", "svartsjuka"], f"campaigns/svartsjuka.md:1: {EXISTS}"),
    (
        "unknown-issue-with-suggestions",
        ["item", "2022-3", "Rubrik"],
        'okänt nummer "2022-3" (menade du "2022-03" eller "2022-10" eller "2021-11"?); '
        'befintliga nummer: "2021-11", "2022-03", "2022-10". Skapa ett nytt med '
        "`nyhetsbrev new issue ÅÅÅÅ-MM`\n",
    ),
    (
        "unknown-campaign-with-suggestions",
        ["item", "2022-03", "Rubrik", "--campaign", "valj-att-slut"],
        'okänd kampanj "valj-att-slut" (menade du "valj-att-sluta" (Välj att sluta)?); '
        "skriv kampanjens filnamn eller namn. Kända kampanjer: "
        '"svartsjuka" (Svartsjuka är inte romantiskt), "valj-att-sluta" (Välj att sluta)\n',
    ),
    (
        "title-without-letters",
        ["item", "2022-03", "!!!"],
        "rubriken behöver minst en bokstav eller siffra\n",
    ),
    (
        "title-with-a-line-break",
        ["item", "2022-03", "Rubrik\nBcc: alla"],
        "rubriken innehåller tecknet U+000A (en radbrytning eller ett osynligt styrtecken): "
        "skriv rubriken på en rad\n",
    ),
]


def everything(tree: Path) -> dict[str, bytes | None]:
    """Return every path under tree with its bytes (None for a folder)."""
    return {
        p.relative_to(tree).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(tree.rglob("*"))
    }


@pytest.mark.parametrize("name,args,output", NEW_REFUSALS, ids=[c[0] for c in NEW_REFUSALS])
def test_new_refuses_and_writes_nothing(run, tree, name, args, output):
    before = everything(tree)
    fails_with(run("new", *args, "--root", tree), output)
    assert everything(tree) == before


def test_new_item_named_issue_does_not_replace_the_issue(run, tree):
    result = run("new", "item", "2022-03", "Issue", "--root", tree)
    assert result.exit_code == 0
    assert result.output.endswith("newsletters/2022/2022-03/issue-text.md\n")


@pytest.mark.parametrize("month", ["2023-13", "2023-3", "mars", "2023-00"])
def test_new_issue_refuses_a_bad_month_as_a_usage_error(run, tree, month):
    result = run("new", "issue", month, "--root", tree)
    assert result.exit_code == 2
    assert (
        f'Ogiltigt värde för YYYY-MM: "{month}" är ingen månad: skriv ÅÅÅÅ-MM, t.ex. 2023-03'
        in result.output
    )


def test_new_campaign_refuses_a_bad_slug_and_suggests_one(run, tree):
    result = run("new", "campaign", "Köp av sex", "--root", tree)
    assert result.exit_code == 2
    assert (
        'Ogiltigt värde för SLUG: "Köp av sex" får bara innehålla a–z, 0–9 och bindestreck, '
        't.ex. "kop-av-sex"'
    ) in result.output
    assert not (tree / "campaigns/kop-av-sex.md").exists()


# -- plan --------------------------------------------------------------------------------


def test_plan_table_shows_the_year_and_its_gaps(run, tree):
    result = run("plan", "2022", "--root", tree)
    assert result.exit_code == 0
    both = "Svartsjuka är inte romantiskt, Välj att sluta"  # the widest cell of its column
    one = "Svartsjuka är inte romantiskt".ljust(len(both))
    assert result.stdout == (
        f"Nummer   Datum       Status   Texter  {'Kampanjer'.ljust(len(both))}  Delmål\n"
        f"-------  ----------  -------  ------  {'-' * len(both)}  -------\n"
        f"2022-03  2022-03-15  skickat       3  {one}  1, 3, 5\n"
        f"2022-10  2022-10-20  klart         2  {both}  1, 3\n"
        "\n"
        "Månader utan nummer: januari, februari, april, maj, juni, juli, augusti, september, "
        "november, december\n"
        "Delmål som inget nummer tar upp: 2, 4\n"
    )
    assert result.stderr == (
        "varning: Under 2022 finns två nummer som räknas; handlingsplanen anger 6–12 om året. "
        "Planera minst fyra till med `nyhetsbrev new issue 2022-MM`.\n"
    )


def test_plan_markdown_reports_campaigns_absent_longer_than_gap(run, tree):
    result = run("plan", "2022", "--format", "md", "--gap", "0", "--root", tree)
    assert result.exit_code == 0
    assert result.stdout == (
        "# Plan för 2022\n\n"
        "| Nummer | Datum | Status | Texter | Kampanjer | Delmål |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| 2022-03 | 2022-03-15 | skickat | 3 | Svartsjuka är inte romantiskt | 1, 3, 5 |\n"
        "| 2022-10 | 2022-10-20 | klart | 2 | Svartsjuka är inte romantiskt, Välj att sluta "
        "| 1, 3 |\n"
        "\n## Luckor\n\n"
        "- Månader utan nummer: januari, februari, april, maj, juni, juli, augusti, september, "
        "november, december\n"
        '- Kampanjen "Välj att sluta" saknas i ett nummer (2022-03)\n'
        "- Delmål som inget nummer tar upp: 2, 4\n"
    )
    assert "saknas" not in run("plan", "2022", "--format", "md", "--root", tree).stdout


def test_plan_warns_about_more_than_twelve_issues(run, bare):
    for month in range(1, 13):
        assert run("new", "issue", f"2024-{month:02d}", "--root", bare).exit_code == 0
    folder = bare / "newsletters/2024/2024-12b"
    folder.mkdir()
    (folder / "issue.md").write_text("---\ndate: 2024-12-28\n---\nMellandagarna.\n", "utf-8")
    result = run("plan", "2024", "--root", bare)
    assert result.stderr == (
        "varning: Under 2024 finns inget nummer som räknas; handlingsplanen anger 6–12 om året. "
        "Årets 13 utkast räknas inte förrän de har status ready.\n"
    )
    for issue in bare.glob("newsletters/2024/*/issue.md"):  # drafts count once they are ready
        text = issue.read_text("utf-8").replace("status: draft\n", "")
        text = text.replace(ISSUE_INTRO, "Nytt sedan förra numret.")  # the placeholder, replaced
        issue.write_text(text.replace("date:", "status: ready\ndate:", 1), "utf-8")
    result = run("plan", "2024", "--root", bare)
    assert result.exit_code == 0
    assert result.stderr == (
        "varning: Under 2024 finns 13 nummer som räknas; handlingsplanen anger 6–12 om året. "
        "Slå ihop eller flytta ett.\n"
    )
    assert "Månader utan nummer" not in result.stdout
    assert result.stdout.count(" klart ") == 13


def test_plan_of_an_empty_year(run, tree):
    result = run("plan", "2030", "--root", tree)
    assert result.exit_code == 0
    assert result.stdout.startswith("Inga nummer för 2030.\n")
    assert "Planera minst sex till" in result.stderr


def test_plan_refuses_a_year_that_is_not_a_number(run, tree):
    result = run("plan", "tjugotjugotvå", "--root", tree)
    assert result.exit_code == 2
    assert "'tjugotjugotvå' är inget giltigt heltal" in result.output


def test_plan_reports_content_errors_like_check(run, tree):
    (tree / "newsletters/2022/2022-03/issue.md").write_text("---\nstatus: klar\n---\n", "utf-8")
    result = run("plan", "2022", "--root", tree)
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if ": varning: " not in line] == [
        "newsletters/2022/2022-03/issue.md:1: date saknas, skriv datumet som ÅÅÅÅ-MM-DD",
        'newsletters/2022/2022-03/issue.md:2: status "klar" måste vara draft (utkast), '
        'ready (klart att skicka) eller sent (skickat); menade du "ready"?',
    ]


# -- serve -------------------------------------------------------------------------------


def test_serve_refuses_a_folder_without_newsletter_toml(run, tmp_path):
    result = run("serve", "--root", tmp_path, "--port", "0")
    fails_with(
        result,
        (
            f"newsletter.toml:1: newsletter.toml saknas i {tmp_path.resolve()}: ange rätt mapp "
            "med --root eller skapa filen (se README)\n"
        ),
    )


def test_serve_refuses_a_port_in_use(run, tree):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--root", tree, "--port", port)
    fails_with(
        result,
        (
            f"kan inte lyssna på 127.0.0.1:{port} (Address already in use): "
            "välj en annan port med --port\n"
        ),
    )


def test_serve_prints_its_address_serves_the_index_and_stops_on_ctrl_c(tree):
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from nyhetsbrev.cli import cli; cli()",
            "serve",
            "--root",
            str(tree),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(
            r"Förhandsvisning på (http://127\.0\.0\.1:\d+/) "
            r"\(avsluta med Ctrl\+C\)\n",
            line,
        )
        assert match, line
        with urllib.request.urlopen(match.group(1)) as response:
            page = response.read().decode()
        assert '<html lang="sv"' in page and "Nyhetsbrev mars 2022" in page
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:  # never leave a server behind, whatever failed
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out == "Förhandsvisningen avslutas.\n"


def test_every_new_command_is_in_the_readme():
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    for command in ("new item", "new issue", "new campaign", "plan YEAR", "serve"):
        assert f"`{command}" in readme, command
