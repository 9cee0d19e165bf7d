"""`report YEAR`: every number in all three formats, on a tree whose counts are known by design.

The tree (written below) has seven published issues in 2023, a draft in 2023 and an issue in
2022 that must not be counted, four campaigns (one never used, one only in the last issue)
and tags chosen so that no two rows of a table share a count where a mix-up could hide.
The expected numbers are worked out by hand in the comments, not recomputed by the code.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lxml_html

from nyhetsbrev.delivery.ledger import FAILED, SENT, Ledger
from nyhetsbrev.year.report import GOALS, longest_gap, tal

from .conftest import FIXTURES

SVG = "{http://www.w3.org/2000/svg}"

CAMPAIGNS = {  # slug: (name, colour)
    "alfa": ("Alfa-kampanjen", "#8a1538"),
    "beta": ("Beta", "#1d4f91"),
    "gamma": ("Gamma", "#0b5563"),
    "delta": ("Delta", "#5b2a86"),
}

# issue id, date, status, items: (slug, type or start, campaigns, delmål, målgrupper)
ISSUES = [
    (
        "2023-01",
        "2023-01-15",
        "sent",
        [
            ("a1", None, ["alfa"], [1], ["Skolan"]),
            ("a2", "2023-12-01T09:00", ["beta"], [2, 3], ["Socialtjänsten", "Skolan"]),
        ],
    ),
    (
        "2023-02",
        "2023-02-15",
        "sent",
        [
            ("b1", None, ["alfa", "beta"], [1, 5], ["Polisen"]),
        ],
    ),
    (
        "2023-03",
        "2023-03-15",
        "sent",
        [
            ("c1", None, [], [], []),
            ("c2", "2023-04-10T13:00", ["beta"], [3], ["Polisen", "Åklagare"]),
        ],
    ),
    ("2023-05", "2023-05-15", "sent", [("d1", None, ["beta"], [3], ["Skolan"])]),
    ("2023-06", "2023-06-15", "sent", [("e1", None, ["beta"], [2], ["Socialtjänsten"])]),
    (
        "2023-09",
        "2023-09-15",
        "sent",
        [
            ("f1", None, ["alfa"], [1, 2, 3], ["Skolan"]),
            ("f2", "2023-10-05T18:00", ["alfa"], [5], ["Socialtjänsten, handläggare BOU"]),
        ],
    ),
    (
        "2023-11",
        "2023-11-15",
        "ready",
        [
            ("g1", None, ["gamma"], [3], ["Skolan"]),
            ("g2", None, [], [2], ["Polisen", "Ägare av bostäder"]),
        ],
    ),
    # Not counted: a draft of the same year, and another year.
    ("2023-12", "2023-12-13", "draft", [("h1", None, ["alfa"], [1, 4], ["Skolan"])]),
    ("2022-12", "2022-12-14", "sent", [("x1", None, ["beta"], [4], ["Polisen"])]),
]

TITLE = {
    "a1": "Alfa i skolan",
    "a2": "Konferens om skydd",
    "b1": "Två kampanjer samtidigt",
    "c1": "En text utan taggar",
    "c2": "Seminarium för rättsväsendet",
    "d1": "Beta i skolan",
    "e1": "Upptäcka våld",
    "f1": "Tre delmål på en gång",
    "f2": "Kvällsföreläsning",
    "g1": "Gamma till slut",
    "g2": "Bostäder och våld",
    "h1": "Utkastet",
    "x1": "Förra året",
}


def _list(values) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


def write_tree(root: Path) -> Path:
    """Write the content tree described above under root and return root."""
    (root / "campaigns").mkdir(parents=True)
    shutil.copy(FIXTURES / "basic" / "newsletter.toml", root / "newsletter.toml")
    for slug, (name, color) in CAMPAIGNS.items():
        (root / "campaigns" / f"{slug}.md").write_text(
            f'---\nname: {name}\ncolor: "{color}"\n---\nOm {name}.\n', encoding="utf-8"
        )
    for issue_id, date, status, items in ISSUES:
        folder = root / "newsletters" / issue_id[:4] / issue_id
        folder.mkdir(parents=True)
        (folder / "issue.md").write_text(
            f"---\ndate: {date}\nstatus: {status}\n---\nIntro.\n", encoding="utf-8"
        )
        for slug, start, campaigns, goals, groups in items:
            meta = [f"title: {TITLE[slug]}", f"date: {date}", f"id: test-{slug}"]
            if campaigns:
                meta.append(f"campaign: {_list(campaigns)}")
            if goals:
                meta.append(f"delmal: {_list(goals)}")
            if groups:
                meta.append(f"malgrupp: {_list(groups)}")
            if start:
                meta += ["type: event", f"start: {start}", "location: Jönköping"]
            (folder / f"{slug}.md").write_text(
                "---\n" + "\n".join(meta) + "\n---\nText.\n", encoding="utf-8"
            )
    return root


def write_ledger(root: Path) -> None:
    """Ledger: 2023-01 sent to 3, 2023-02 sent to 2 (one failed), a test send for 2023-03,
    and 2023-05 failed for its only recipient (a real 0). No rows at all for the others."""
    with Ledger(root / ".nyhetsbrev" / "sends.sqlite") as ledger:
        ledger.add("2023-01", ["a@example.se", "b@example.se", "c@example.se"])
        for address in ("a@example.se", "b@example.se", "c@example.se"):
            ledger.finish("2023-01", address, SENT, "250 Ok")
        ledger.add("2023-02", ["a@example.se", "b@example.se", "c@example.se", "d@example.se"])
        for address in ("a@example.se", "b@example.se"):
            ledger.finish("2023-02", address, SENT, "250 Ok")
        ledger.finish("2023-02", "c@example.se", FAILED, "550 Nej")
        ledger.record_test("2023-03", "test@example.se", "250 Ok")
        ledger.add("2023-05", ["a@example.se"])
        ledger.finish("2023-05", "a@example.se", FAILED, "550 Nej")


@pytest.fixture
def year_tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "innehall")


@pytest.fixture
def ledger_tree(year_tree: Path) -> Path:
    write_ledger(year_tree)
    return year_tree


# --- the expected numbers, by hand -------------------------------------------------------

# date, title, status, news, events, items (delivered added where a ledger exists)
ISSUE_ROWS = [
    ["2023-01-15", "Nyhetsbrev januari 2023", "skickat", "1", "1", "2"],
    ["2023-02-15", "Nyhetsbrev februari 2023", "skickat", "1", "0", "1"],
    ["2023-03-15", "Nyhetsbrev mars 2023", "skickat", "1", "1", "2"],
    ["2023-05-15", "Nyhetsbrev maj 2023", "skickat", "1", "0", "1"],
    ["2023-06-15", "Nyhetsbrev juni 2023", "skickat", "1", "0", "1"],
    ["2023-09-15", "Nyhetsbrev september 2023", "skickat", "1", "1", "2"],
    ["2023-11-15", "Nyhetsbrev november 2023", "klart", "2", "0", "2"],
]
TOTAL = ["8", "3", "11"]
MISSING = "uppgift saknas"  # an issue with no list send in the ledger has no figure, not 0
# failed and test sends do not count; 2023-05 was tried and failed: a real 0
DELIVERED = ["3", "2", MISSING, "0", MISSING, MISSING, MISSING]
DELIVERED_TOTAL = "5 för 3 av 7 nummer"
# alfa: a1 b1 f1 f2; beta: a2 b1 c2 d1 e1; gamma: g1; delta: none; untagged: c1 g2
PER_CAMPAIGN = [
    ("Alfa-kampanjen", 4),
    ("Beta", 5),
    ("Delta", 0),
    ("Gamma", 1),
    ("Ingen kampanj", 2),
]
# 1: a1 b1 f1; 2: a2 e1 f1 g2; 3: a2 c2 d1 f1 g1; 4: none (h1 and x1 do not count); 5: b1 f2
PER_GOAL = [(1, 3), (2, 4), (3, 5), (4, 0), (5, 2)]
NO_GOAL = 1  # c1
# by count, then Swedish order (Å before Ä, both after S)
PER_GROUP = [
    ("Skolan", 5),
    ("Polisen", 3),
    ("Socialtjänsten", 2),
    ("Socialtjänsten, handläggare BOU", 1),
    ("Åklagare", 1),
    ("Ägare av bostäder", 1),
    ("Ingen målgrupp angiven", 1),
]
PER_TYPE = [("Nyheter", 8), ("Evenemang", 3)]
# by start, not by issue
EVENTS = [
    ["2023-04-10 kl. 13.00", "Seminarium för rättsväsendet", "Polisen; Åklagare", "3", "2023-03"],
    [
        "2023-10-05 kl. 18.00",
        "Kvällsföreläsning",
        "Socialtjänsten, handläggare BOU",
        "5",
        "2023-09",
    ],
    ["2023-12-01 kl. 09.00", "Konferens om skydd", "Socialtjänsten; Skolan", "2, 3", "2023-01"],
]
# per issue 1..7, then issues carried and longest gap
PRESENCE = [
    ("Alfa-kampanjen", [1, 1, 0, 0, 0, 1, 0], 3, 3),  # the middle run 3-5
    ("Beta", [1, 1, 1, 1, 1, 0, 0], 5, 2),  # the run after its last appearance
    ("Delta", [0, 0, 0, 0, 0, 0, 0], 0, 7),  # never: the whole year
    ("Gamma", [0, 0, 0, 0, 0, 0, 1], 1, 6),  # the run before its first appearance
]
SHORT_DATES = ["15/1", "15/2", "15/3", "15/5", "15/6", "15/9", "15/11"]
CSV_ROWS = [
    ["2023-01", "2023-01-15", "Alfa i skolan", "nyhet", "Alfa-kampanjen", "1", "Skolan", ""],
    [
        "2023-01",
        "2023-01-15",
        "Konferens om skydd",
        "evenemang",
        "Beta",
        "2, 3",
        "Socialtjänsten | Skolan",
        "2023-12-01 09:00",
    ],
    [
        "2023-02",
        "2023-02-15",
        "Två kampanjer samtidigt",
        "nyhet",
        "Alfa-kampanjen | Beta",
        "1, 5",
        "Polisen",
        "",
    ],
    ["2023-03", "2023-03-15", "En text utan taggar", "nyhet", "", "", "", ""],
    [
        "2023-03",
        "2023-03-15",
        "Seminarium för rättsväsendet",
        "evenemang",
        "Beta",
        "3",
        "Polisen | Åklagare",
        "2023-04-10 13:00",
    ],
    ["2023-05", "2023-05-15", "Beta i skolan", "nyhet", "Beta", "3", "Skolan", ""],
    ["2023-06", "2023-06-15", "Upptäcka våld", "nyhet", "Beta", "2", "Socialtjänsten", ""],
    [
        "2023-09",
        "2023-09-15",
        "Tre delmål på en gång",
        "nyhet",
        "Alfa-kampanjen",
        "1, 2, 3",
        "Skolan",
        "",
    ],
    [
        "2023-09",
        "2023-09-15",
        "Kvällsföreläsning",
        "evenemang",
        "Alfa-kampanjen",
        "5",
        "Socialtjänsten, handläggare BOU",
        "2023-10-05 18:00",
    ],
    ["2023-11", "2023-11-15", "Gamma till slut", "nyhet", "Gamma", "3", "Skolan", ""],
    [
        "2023-11",
        "2023-11-15",
        "Bostäder och våld",
        "nyhet",
        "",
        "2",
        "Polisen | Ägare av bostäder",
        "",
    ],
]


def report(run, root: Path, fmt: str) -> str:
    result = run("report", "2023", "--format", fmt, "--root", root)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")


# --- Markdown ----------------------------------------------------------------------------


def md_rows(text: str, heading: str) -> list[list[str]]:
    """Return the body rows of the first table under a '## heading' as lists of cells."""
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[2:]]


def test_markdown_has_every_number(run, ledger_tree):
    text = report(run, ledger_tree, "md")
    assert text.startswith("# Nyhetsbrevet 2023: vad som förmedlades\n")
    assert (
        "- Utgivna nummer (planen: 6–12): 7\n- Texter: 11\n- Varav evenemang: 3\n"
        f"- Levererade meddelanden: {DELIVERED_TOTAL}\n" in text
    )
    assert (
        "Under 2023 gavs sju nummer ut, inom planens 6–12. Ett av dem har status klart men är "
        "ännu inte markerat som skickat."
    ) in text
    assert md_rows(text, "Utgivna nummer") == [
        row + [d] for row, d in zip(ISSUE_ROWS, DELIVERED, strict=True)
    ] + [["Totalt", "", "", *TOTAL, DELIVERED_TOTAL]]
    assert "Utkast som inte räknas: Nyhetsbrev december 2023 (2023-12-13)." in text
    assert md_rows(text, "Texter per kampanj") == [[n, str(c)] for n, c in PER_CAMPAIGN]
    assert md_rows(text, "Texter per delmål") == [
        [f"Mål {g}", GOALS[g], str(c)] for g, c in PER_GOAL
    ] + [["Inget delmål angivet", "", str(NO_GOAL)]]
    assert md_rows(text, "Texter per målgrupp") == [[g, str(c)] for g, c in PER_GROUP]
    assert md_rows(text, "Nyheter och evenemang") == [[t, str(c)] for t, c in PER_TYPE]
    assert md_rows(text, "Evenemang") == EVENTS
    table = text.split("## Kampanjernas närvaro\n", 1)[1]
    assert "| Kampanj | " + " | ".join(SHORT_DATES) + " | Nummer | Längsta uppehåll |" in table
    assert md_rows(text, "Kampanjernas närvaro") == [
        [name, *("x" if c else "–" for c in carried), str(n), str(gap)]
        for name, carried, n, gap in PRESENCE
    ]


def test_markdown_names_the_strategys_goals():
    assert GOALS == {
        1: "Ett utökat och verkningsfullt förebyggande arbete mot våld",
        2: "Förbättrad upptäckt av våld",
        3: "Starkare skydd och stöd för våldsutsatta vuxna och barn",
        4: "Effektivare brottsbekämpning",
        5: "Förbättrad kunskap och metodutveckling",
    }


def test_without_ledger_no_delivered_column(run, year_tree):
    text = report(run, year_tree, "md")
    assert "Levererade" not in text
    assert "Inget utskicksregister hittades, så levererade meddelanden redovisas inte." in text
    assert md_rows(text, "Utgivna nummer")[-1] == ["Totalt", "", "", *TOTAL]


# --- CSV ---------------------------------------------------------------------------------


def test_csv_has_one_row_per_item_with_its_tags(run, ledger_tree):
    result = run("report", "2023", "--format", "csv", "--root", ledger_tree)
    assert result.exit_code == 0
    data = result.stdout_bytes
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for Excel
    assert data.count(b"\r\n") == 1 + len(CSV_ROWS)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == (
        "nummer;datum;titel;typ;kampanjer;delmål;målgrupper;start;levererade för numret"
    ).split(";")
    by_issue = dict(zip([r[0][:7] for r in ISSUE_ROWS], DELIVERED, strict=True))
    assert rows[1:] == [row + [by_issue[row[0]]] for row in CSV_ROWS]


def test_an_issue_without_ledger_rows_has_no_figure_in_any_format(run, ledger_tree, tmp_path):
    """The ledger has only 2023's sends: 2022's issue was sent before there was a ledger."""
    result = run("report", "2022", "--format", "md", "--root", ledger_tree)
    text = result.stdout
    assert "- Levererade meddelanden: uppgift saknas\n" in text
    assert md_rows(text, "Utgivna nummer") == [
        ["2022-12-14", "Nyhetsbrev december 2022", "skickat", "1", "0", "1", MISSING],
        ["Totalt", "", "", "1", "0", "1", MISSING],
    ]
    assert "0" not in md_rows(text, "Utgivna nummer")[0][6:]
    out = tmp_path / "r.html"
    run("report", "2022", "--format", "html", "--out", out, "--root", ledger_tree)
    page = lxml_html.fromstring(out.read_bytes())
    _, body, foot = table(page, "Utgivna nummer 2022")
    assert body[0][-1] == MISSING and foot == [["Totalt", "1", "0", "1", MISSING]]
    _, body, foot = table(page, "Levererade meddelanden per nummer")
    assert body[0][-1] == MISSING and foot == [["Totalt", MISSING]]
    assert bar_values(charts(page)["diagram-levererade"]) == [
        ("2022-12-14 Nyhetsbrev december 2022", MISSING)
    ]
    data = run("report", "2022", "--format", "csv", "--root", ledger_tree).stdout_bytes
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[1][-1] == MISSING


def test_without_ledger_the_csv_says_the_figure_is_missing(run, year_tree):
    data = run("report", "2023", "--format", "csv", "--root", year_tree).stdout_bytes
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert {row[-1] for row in rows[1:]} == {MISSING}


def test_csv_quotes_a_semicolon_in_a_title(run, year_tree):
    item = year_tree / "newsletters/2023/2023-05/d1.md"
    item.write_text(
        item.read_text(encoding="utf-8").replace("title: Beta i skolan", 'title: "Beta; i skolan"'),
        encoding="utf-8",
    )
    data = report(run, year_tree, "csv")
    assert '"Beta; i skolan"' in data
    rows = list(csv.reader(io.StringIO(data.lstrip("\ufeff"), newline=""), delimiter=";"))
    assert rows[6][2] == "Beta; i skolan"


# --- HTML --------------------------------------------------------------------------------


@pytest.fixture
def page(run, ledger_tree, tmp_path) -> lxml_html.HtmlElement:
    out = tmp_path / "rapport.html"
    result = run("report", "2023", "--format", "html", "--out", out, "--root", ledger_tree)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Rapporten för 2023 finns i {out}\n"
    return lxml_html.fromstring(out.read_bytes())


def cells(row) -> list[str]:
    return [" ".join(c.text_content().split()) for c in row.xpath("./th|./td")]


def table(page, caption: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Return the header, body rows and footer rows of the table whose caption starts so."""
    [found] = [
        t for t in page.iter("table") if t.find("caption").text_content().startswith(caption)
    ]
    return (
        cells(found.find("thead/tr")),
        [cells(r) for r in found.xpath("./tbody/tr")],
        [cells(r) for r in found.xpath("./tfoot/tr")],
    )


def test_html_tables_have_every_number(page):
    head, body, foot = table(page, "Utgivna nummer 2023")
    assert head == ["Datum", "Nummer", "Status", "Nyheter", "Evenemang", "Texter", "Levererade"]
    assert body == [row + [d] for row, d in zip(ISSUE_ROWS, DELIVERED, strict=True)]
    assert foot == [["Totalt", *TOTAL, DELIVERED_TOTAL]]
    assert table(page, "Antal texter per kampanj")[1] == [[n, str(c)] for n, c in PER_CAMPAIGN]
    assert table(page, "Antal texter per delmål")[1] == [
        [f"Mål {g}", GOALS[g], str(c)] for g, c in PER_GOAL
    ] + [["Inget delmål angivet", str(NO_GOAL)]]
    assert table(page, "Antal texter per målgrupp")[1] == [[g, str(c)] for g, c in PER_GROUP]
    assert table(page, "Antal texter per typ")[1] == [[t, str(c)] for t, c in PER_TYPE]
    assert table(page, "Evenemang som nyhetsbrevet")[1] == EVENTS
    head, body, _ = table(page, "Kampanjer per nummer")
    assert head == ["Kampanj", *SHORT_DATES, "Nummer", "Längsta uppehåll"]
    assert body == [
        [name, *("✓ja" if c else "·nej" for c in carried), str(n), str(gap)]
        for name, carried, n, gap in PRESENCE
    ]
    _, body, foot = table(page, "Levererade meddelanden per nummer")
    assert [r[1] for r in body] == DELIVERED and foot == [["Totalt", DELIVERED_TOTAL]]
    figures = [
        (d.findtext("dt"), d.findtext("dd")) for d in page.xpath("//dl[@class='figures']/div")
    ]
    assert figures == [
        ("Utgivna nummer (planen: 6–12)", "7"),
        ("Texter", "11"),
        ("Varav evenemang", "3"),
        ("Levererade meddelanden", DELIVERED_TOTAL),
    ]


def charts(page) -> dict[str, etree._Element]:
    """Return every inline SVG, re-parsed as XML on its own, by its id's stem."""
    found = {}
    for svg in page.iter("svg"):
        element = etree.fromstring(lxml_html.tostring(svg))  # raises unless well-formed XML
        found[svg.get("aria-labelledby").removesuffix("-t")] = element
    return found


def bar_values(svg) -> list[tuple[str, int]]:
    """Return (label, number) per bar: the label lines above a bar, the number beside it."""
    rows, label = [], []
    for el in svg:
        if el.tag == f"{SVG}text" and el.get("class") == "label":
            label.append(el.text)
        elif el.tag == f"{SVG}text" and el.get("class") == "value":
            rows.append((" ".join(label), el.text if el.text == MISSING else int(el.text)))
            label = []
    return rows


def test_svg_charts_parse_as_xml_and_draw_the_numbers(page):
    found = charts(page)
    assert sorted(found) == sorted(
        [
            "diagram-nummer",
            "diagram-kampanj",
            "diagram-delmal",
            "diagram-malgrupp",
            "diagram-typ",
            "diagram-narvaro",
            "diagram-levererade",
        ]
    )
    assert bar_values(found["diagram-kampanj"]) == PER_CAMPAIGN
    assert bar_values(found["diagram-delmal"]) == [
        (f"Mål {g} {GOALS[g]}", c) for g, c in PER_GOAL
    ] + [("Inget delmål angivet", NO_GOAL)]
    assert bar_values(found["diagram-malgrupp"]) == PER_GROUP
    assert bar_values(found["diagram-typ"]) == PER_TYPE
    assert [n for _, n in bar_values(found["diagram-levererade"])] == [
        d if d == MISSING else int(d) for d in DELIVERED
    ]
    promise = found["diagram-nummer"]
    assert [t.text for t in promise.iter(f"{SVG}text") if t.get("class") == "value"] == ["7"]
    assert promise.find(f"{SVG}title").text == (
        "Utgivna nummer 2023: 7. Planen anger 6–12 nummer om året."
    )


def test_bar_lengths_are_proportional(page):
    bars = [r for r in charts(page)["diagram-delmal"].iter(f"{SVG}rect")]
    widths = [float(r.get("width")) for r in bars]
    # goal 3 (5 items) is the longest; goal 4 (0 items) a hairline; goal 1 (3) is 3/5 of it
    assert widths[2] == max(widths) == 530 and widths[3] == 2  # 530: the chart less room
    assert widths[0] == pytest.approx(widths[2] * 3 / 5, abs=1)


def test_presence_chart_fills_one_square_per_carrying_issue(page):
    grid = charts(page)["diagram-narvaro"]
    squares = list(grid.iter(f"{SVG}rect"))
    assert len(squares) == 4 * 7
    filled = [0 if s.get("class") == "empty" else 1 for s in squares]
    assert [filled[i * 7 : (i + 1) * 7] for i in range(4)] == [c for _, c, _, _ in PRESENCE]
    ticks = [t.text for t in grid.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert ticks == SHORT_DATES


def test_html_is_accessible_and_self_contained(page):
    assert page.get("lang") == "sv"
    headings = [int(h.tag[1]) for h in page.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    assert headings.count(1) == 1 and headings[0] == 1
    assert all(b - a <= 1 for a, b in zip(headings, headings[1:], strict=False))
    for t in page.iter("table"):
        assert t.find("caption") is not None and t.find("caption").text_content().strip()
    for th in page.iter("th"):
        assert th.get("scope") in ("col", "row"), lxml_html.tostring(th)
    svgs = list(page.iter("svg"))
    assert svgs and page.xpath("//img") == []
    for svg in svgs:
        assert svg.get("role") == "img"
        [label] = page.xpath(f"//*[@id='{svg.get('aria-labelledby')}']")
        assert label.tag == "title" and label.getparent() is svg and label.text.strip()
    assert page.xpath("//script|//link|//iframe|//object|//@*[starts-with(name(), 'on')]") == []
    assert page.xpath("//@src|//@href") == []
    assert "@media print" in page.find("head/style").text
    assert "@page" in page.find("head/style").text


def test_every_chart_is_followed_by_its_table(page):
    for figure in page.iter("figure"):
        following = figure.getnext()
        while following is not None and following.tag not in ("table", "div"):
            following = following.getnext()
        assert following is not None
        assert (following if following.tag == "table" else following.find("table")) is not None


def test_markup_in_content_is_escaped(run, year_tree, tmp_path):
    item = year_tree / "newsletters/2023/2023-05/d1.md"
    item.write_text(
        item.read_text(encoding="utf-8").replace(
            'malgrupp: ["Skolan"]', 'malgrupp: ["<b>Skolan</b> & co"]'
        ),
        encoding="utf-8",
    )
    text = report(run, year_tree, "html")
    assert "&lt;b&gt;Skolan&lt;/b&gt; &amp; co" in text and "<b>Skolan" not in text
    for svg in lxml_html.fromstring(text.encode()).iter("svg"):
        etree.fromstring(lxml_html.tostring(svg))


@pytest.mark.browser
def test_html_passes_axe_in_chromium(run, ledger_tree, tmp_path, new_page):
    from axe_playwright_python.sync_playwright import Axe

    out = tmp_path / "rapport.html"
    assert (
        run("report", "2023", "--format", "html", "--out", out, "--root", ledger_tree).exit_code
        == 0
    )
    view = new_page(viewport={"width": 375, "height": 800}, is_mobile=True)
    view.goto(out.as_uri())
    results = Axe().run(view)
    width = view.evaluate("document.documentElement.scrollWidth")
    pdf = view.pdf(format="A4")
    assert results.violations_count == 0, results.generate_report()
    assert width <= 375
    assert pdf.startswith(b"%PDF")


# --- the command -------------------------------------------------------------------------


def test_default_format_is_markdown_on_stdout(run, year_tree):
    result = run("report", "2023", "--root", year_tree)
    assert result.exit_code == 0
    assert result.stdout.startswith("# Nyhetsbrevet 2023: vad som förmedlades\n")


def test_year_without_issues_fails_in_swedish(run, year_tree):
    result = run("report", "2030", "--root", year_tree)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Inga nummer för 2030: newsletters/2030/ saknas eller har inga nummer. Det finns nummer "
        "för 2022, 2023. Ange ett annat år, t.ex. `nyhetsbrev report 2023`.\n"
    )


def test_year_without_issues_writes_no_file(run, year_tree, tmp_path):
    out = tmp_path / "rapport.md"
    result = run("report", "2030", "--out", out, "--root", year_tree)
    assert result.exit_code == 1 and not out.exists()


def test_unreadable_ledger_fails_in_swedish(run, year_tree):
    ledger = year_tree / ".nyhetsbrev" / "sends.sqlite"
    ledger.parent.mkdir()
    ledger.write_bytes(b"not a database, just text " * 100)
    result = run("report", "2023", "--root", year_tree)
    assert result.exit_code == 1
    assert result.stderr == (
        f"{ledger}: utskicksregistret kan inte läsas (filen är ingen databas); kontrollera att "
        "filen är det register som `nyhetsbrev send` skriver\n"
    )


def test_content_errors_stop_the_report(run, year_tree):
    item = year_tree / "newsletters/2023/2023-05/d1.md"
    item.write_text(
        item.read_text(encoding="utf-8").replace("delmal: [3]", "delmal: [7]"), encoding="utf-8"
    )
    result = run("report", "2023", "--root", year_tree)
    assert result.exit_code == 1
    assert result.stderr == (
        'newsletters/2023/2023-05/d1.md:6: delmål "7" finns inte: delmålen är heltalen 1–5\n'
    )


def test_unknown_format_is_a_usage_error(run, year_tree):
    result = run("report", "2023", "--format", "pdf", "--root", year_tree)
    assert result.exit_code == 2
    assert "'pdf' måste vara en av 'html', 'md', 'csv'" in result.stderr


def test_counts_are_written_the_swedish_way():
    assert [tal(n) for n in (0, 1585, 9999, 12345, 1234567)] == [
        "0",
        "1585",
        "9999",
        "12\u00a0345",
        "1\u00a0234\u00a0567",
    ]


@pytest.mark.parametrize(
    ("carried", "gap"),
    [
        ([], 0),
        ([True], 0),
        ([False], 1),
        ([True, False, False, True], 2),
        ([False, False, True, False], 2),
        ([True, False, True, False, False, False], 3),
    ],
)
def test_longest_gap_counts_the_ends_of_the_year(carried, gap):
    assert longest_gap(carried) == gap


def test_sample_year_2022(run):
    text = report_root(run, FIXTURES.parent.parent, "md")
    assert "Under 2022 gavs åtta nummer ut, inom planens 6–12." in text
    assert "| Välj att sluta | – | x | – | x | – | x | – | x | 4 | 1 |" in text


def report_root(run, root: Path, fmt: str) -> str:
    result = run("report", "2022", "--format", fmt, "--root", root)
    assert result.exit_code == 0, result.output
    return result.stdout
