"""What the property tests found, pinned: each input once gave a traceback or unsafe output."""

from __future__ import annotations

from pathlib import Path

from nyhetsbrev.errors import Problem

from .conftest import edit as edit_file

ITEM = "newsletters/2022/2022-03/handlingsplan.md"


def edit(tree: Path, old: str, new: str) -> None:
    edit_file(tree, ITEM, old, new)


def build_fails(run, tree: Path) -> str:
    out = tree / "public"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 1
    assert not out.exists()
    return result.stderr


def test_raw_control_character_in_body(run, tree):
    edit(tree, "Länsstyrelsen har", "Länsstyrelsen\x07 har")
    assert build_fails(run, tree) == (
        f"{ITEM}:11: tecknet U+0007 i kolumn 14 är ett osynligt styrtecken som e-postprogram "
        "och flöden inte tål: ta bort det\n"
    )


def test_escaped_control_character_in_front_matter(run, tree):
    edit(tree, "title: Handlingsplanen för 2022 är klar", 'title: "Handlingsplanen\\x1b"')
    assert build_fails(run, tree) == (
        f'{ITEM}:2: fältet "title" innehåller tecknet U+001B, ett osynligt styrtecken (skrivet '
        "som \\-kod inom citattecken): ta bort det\n"
    )


def test_escaped_control_character_in_a_list_under_an_alias(run, tree):
    edit(tree, "malgrupp: [Strateger, Chefer]", 'malgrupp: &m ["ok", ["\\0"]]\nx: *m')
    stderr = build_fails(run, tree)
    assert stderr.startswith(f"{ITEM}:7: aliaset *m upprepar ett annat värde")


def test_superscript_digit_is_no_delmal(run, tree):
    edit(tree, "delmal: [1, 5]", 'delmal: ["¹", 5]')
    assert build_fails(run, tree).startswith(
        f'{ITEM}:5: delmål "¹" finns inte: delmålen är heltalen 1–5\n'
    )


def test_problem_with_a_line_break_stays_on_one_line(run, tree):
    edit(tree, "delmal: [1, 5]", 'delmal: ["2022\\n03"]')
    assert build_fails(run, tree).startswith(
        f'{ITEM}:5: delmål "2022\\n03" finns inte: delmålen är heltalen 1–5\n'
    )


def test_every_line_break_of_splitlines_is_shown_escaped():
    text = str(Problem("a.md", 1, "a\nb\rc\x0bd\x1ce\x85f\u2028g\u2029h"))
    assert text == "a.md:1: a\\nb\\rc\\x0bd\\x1ce\\x85f\\u2028g\\u2029h"
    assert len(text.splitlines()) == 1


def test_text_version_drops_inline_script_and_style_like_the_html(run, tree):
    edit(tree, "Se också", "Före <script>alert(1)</script><style>p{}</style> efter. Se också")
    out = tree / "public"
    assert run("build", "--root", tree, "--out", out).exit_code == 0
    text = (out / "2022" / "2022-03" / "email.txt").read_text("utf-8")
    assert "Före  efter. Se också" in text.replace("\n", " ")
    assert "alert(1)" not in text and "p{}" not in text
