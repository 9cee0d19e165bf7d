"""`plan YEAR` and the CSV convention: names not slugs, one count of the year's issues with
`report`, one CSV convention for every CSV, and no cell a spreadsheet would run."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from nyhetsbrev.csvout import safe_cell, to_csv

from .conftest import FIXTURES, edit
from .test_report import write_tree


def parse(data: bytes) -> list[list[str]]:
    """Read a CSV the way Swedish Excel does: BOM, semicolons, CRLF."""
    assert data.startswith(b"\xef\xbb\xbf"), "a UTF-8 byte order mark first"
    text = data.decode("utf-8-sig")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def test_plan_shows_campaign_names_not_slugs(run, tree):
    table = run("plan", "2022", "--root", tree).stdout
    md = run("plan", "2022", "--format", "md", "--root", tree).stdout
    rows = parse(run("plan", "2022", "--format", "csv", "--root", tree).stdout_bytes)
    both = "Svartsjuka är inte romantiskt, Välj att sluta"
    assert both in table and both in md and rows[2][4] == both
    for text in (table, md, *(cell for row in rows for cell in row)):
        assert "valj-att-sluta" not in text and "svartsjuka," not in text


def test_plan_csv_is_the_table_only_follows_the_one_convention_and_parses(run, tree):
    result = run("plan", "2022", "--format", "csv", "--root", tree)
    assert result.exit_code == 0
    data = result.stdout_bytes
    assert data.startswith('\ufeff"Nummer";"Datum";'.encode())
    assert parse(data) == [
        ["Nummer", "Datum", "Status", "Texter", "Kampanjer", "Delmål"],
        ["2022-03", "2022-03-15", "skickat", "3", "Svartsjuka är inte romantiskt", "1, 3, 5"],
        [
            "2022-10",
            "2022-10-20",
            "klart",
            "2",
            "Svartsjuka är inte romantiskt, Välj att sluta",
            "1, 3",
        ],
    ]
    assert result.stderr.splitlines()[0].startswith("Månader utan nummer: januari")
    assert result.stderr.splitlines()[-1].startswith("varning: Under 2022 finns två nummer")


def test_every_csv_is_written_the_same_way(run, tree):
    report = run("report", "2022", "--format", "csv", "--root", tree).stdout_bytes
    plan = run("plan", "2022", "--format", "csv", "--root", tree).stdout_bytes
    for data in (report, plan):
        first = data.split(b"\r\n", 1)[0]
        assert first.startswith(b'\xef\xbb\xbf"') and b'";"' in first and b"," not in first


def hostile(root: Path) -> Path:
    """Put formula-like text into a campaign name, a title and target groups."""
    shutil.copytree(FIXTURES / "basic", root, ignore=shutil.ignore_patterns(".nyhetsbrev"))
    edit(
        root,
        "campaigns/svartsjuka.md",
        "name: Svartsjuka är inte romantiskt",
        'name: \'=HYPERLINK("http://x.example","A")\'',
    )
    item = "newsletters/2022/2022-03/svartsjuka.md"
    edit(root, item, "title: Sprid kampanjen", "title: \"@SUM(1+1)*cmd|' /C calc'!A0\" #")
    edit(root, item, "malgrupp: [Unga, Generalister]", 'malgrupp: ["+46 70 123", "-2+3", "＝1+1"]')
    return root


FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d")


def test_no_csv_cell_starts_a_formula_and_every_value_stays_readable(run, tmp_path):
    root = hostile(tmp_path / "fientligt")
    report = parse(run("report", "2022", "--format", "csv", "--root", root).stdout_bytes)
    plan = parse(run("plan", "2022", "--format", "csv", "--root", root).stdout_bytes)
    for row in report + plan:
        for cell in row:
            assert not cell.startswith(FORMULA), cell
    [item] = [r for r in report if r[2].startswith("'@")]
    assert item[2] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert item[4] == '\'=HYPERLINK("http://x.example","A")'
    assert item[6] == "'+46 70 123 | -2+3 | ＝1+1"
    assert plan[1][4] == '\'=HYPERLINK("http://x.example","A")'


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("\0x", "'\0x"),
        ("＠A1", "'＠A1"),
        ("a=1", "a=1"),
        ("", ""),
        (None, ""),
        (3, "3"),
    ],
)
def test_safe_cell_neutralises_formula_starts_only(value, cell):
    assert safe_cell(value) == cell
    assert parse(to_csv(["x"], [[value]]))[1] == [cell]


# -- one count of the year's issues ----------------------------------------------------------


def test_plan_and_report_count_the_year_the_same_way(run, tmp_path):
    """Seven published issues, one draft: both say seven, within 6-12; no warning."""
    root = write_tree(tmp_path / "ar")
    plan = run("plan", "2023", "--root", root)
    assert plan.exit_code == 0 and plan.stderr == ""
    report = run("report", "2023", "--root", root).stdout
    assert "Under 2023 gavs sju nummer ut, inom planens 6–12." in report
    # Make two more drafts: five published is below the plan for both commands.
    for issue in ("2023-06", "2023-09"):
        path = root / f"newsletters/2023/{issue}/issue.md"
        path.write_text(path.read_text("utf-8").replace("status: sent", "status: draft"), "utf-8")
    plan = run("plan", "2023", "--root", root)
    assert plan.stderr == (
        "varning: Under 2023 finns fem nummer som räknas; handlingsplanen anger 6–12 om året. "
        "Årets tre utkast räknas inte förrän de har status ready.\n"
    )
    report = run("report", "2023", "--root", root).stdout
    assert "Under 2023 gavs fem nummer ut, färre än planens 6–12." in report


def test_plan_texts_are_plain_swedish(run, tree):
    result = run("plan", "2022", "--format", "md", "--gap", "0", "--root", tree)
    assert '- Kampanjen "Välj att sluta" saknas i ett nummer (2022-03)\n' in result.stdout
    assert result.stderr == (
        "varning: Under 2022 finns två nummer som räknas; handlingsplanen anger 6–12 om året. "
        "Planera minst fyra till med `nyhetsbrev new issue 2022-MM`.\n"
    )


def test_campaigns_are_listed_in_the_order_of_their_names(run, tmp_path):
    """A reader sees names, so every list of campaigns is in Swedish order of the names."""
    root = write_tree(tmp_path / "ar")
    campaign = root / "campaigns/alfa.md"
    campaign.write_text(
        campaign.read_text("utf-8").replace("Alfa-kampanjen", "Öppna dörrar"), "utf-8"
    )
    text = run("report", "2023", "--root", root).stdout
    presence = text.split("## Kampanjernas närvaro\n", 1)[1].split("\n## ", 1)[0]
    names = [line.split(" | ")[0][2:] for line in presence.splitlines() if line.startswith("| ")]
    assert names[1:] == ["Beta", "Delta", "Gamma", "Öppna dörrar"]
    gaps = run("plan", "2023", "--gap", "0", "--root", root).stdout.splitlines()
    named = [line.split('"')[1] for line in gaps if line.startswith("Kampanjen ")]
    assert list(dict.fromkeys(named)) == ["Beta", "Delta", "Gamma", "Öppna dörrar"]


# -- no sentence starts with a digit, however many --------------------------------------------


def test_sentences_with_counts_never_start_with_a_digit(run, tmp_path):
    """Fourteen issues of 2024: thirteen ready, one sent; then all fourteen drafts."""
    root = tmp_path / "manga"
    shutil.copytree(FIXTURES / "basic" / "campaigns", root / "campaigns")
    shutil.copy(FIXTURES / "basic" / "newsletter.toml", root)
    for n in range(14):
        folder = root / f"newsletters/2024/2024-{n:02d}"
        folder.mkdir(parents=True)
        status = "sent" if n == 0 else "ready"
        day = f"2024-{n % 12 + 1:02d}-{n // 12 + 10}"
        (folder / "issue.md").write_text(f"---\ndate: {day}\nstatus: {status}\n---\nI.\n", "utf-8")
    text = run("report", "2024", "--root", root).stdout
    assert (
        "Under 2024 gavs 14 nummer ut, fler än planens 6–12. Av dem har 13 status klart men "
        "är ännu inte markerade som skickade."
    ) in text
    for issue in root.glob("newsletters/2024/*/issue.md"):
        text = issue.read_text("utf-8").replace("status: ready", "status: draft")
        issue.write_text(text.replace("status: sent", "status: draft"), "utf-8")
    result = run("build", "--root", root, "--out", tmp_path / "ut")
    assert result.exit_code == 0, result.output
    assert " s. Utkast som inte publicerades (14): 2024-00, 2024-01, " in result.stdout


def test_a_year_of_drafts_only_has_no_issue_that_counts(run, tree):
    issue = tree / "newsletters/2021/2021-11/issue.md"
    issue.write_text(issue.read_text("utf-8").replace("status: sent", "status: draft"), "utf-8")
    assert "Under 2021 gavs inget nummer ut, färre än planens 6–12." in (
        run("report", "2021", "--root", tree).stdout
    )
    assert run("plan", "2021", "--root", tree).stderr.startswith(
        "varning: Under 2021 finns inget nummer som räknas; handlingsplanen anger 6–12 om året. "
        "Årets utkast räknas inte förrän det har status ready. Planera minst fem till"
    )


def test_a_line_break_in_a_campaign_name_keeps_the_tables_whole(run, tree):
    campaign = tree / "campaigns/svartsjuka.md"
    text = campaign.read_text("utf-8").replace(
        "name: Svartsjuka är inte romantiskt", 'name: "Svartsjuka |\\när inte romantiskt"'
    )
    campaign.write_text(text, "utf-8")
    result = run("plan", "2022", "--format", "md", "--root", tree)
    if result.exit_code == 1:  # refused by check as a line break in a one-line field: fine
        assert "campaigns/svartsjuka.md:" in result.stderr
        return
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 2022-")]
    assert len(rows) == 2 and all(line.endswith(" |") for line in rows)
    table = run("plan", "2022", "--root", tree).stdout.splitlines()
    assert table[2].startswith("2022-03") and table[3].startswith("2022-10")


@pytest.mark.parametrize("year", ["0", "99999"])
def test_a_year_no_plan_can_have_is_refused_in_swedish(run, tree, year):
    # It used to be accepted and suggested `nyhetsbrev new issue 0-MM`.
    result = run("plan", year, "--root", tree)
    assert result.exit_code == 2
    assert f"värdet {year} ska vara från och med 1900 till och med 2999" in result.stderr
