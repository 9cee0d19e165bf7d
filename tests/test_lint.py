"""`check` as a linter, run as a coordinator runs it: the rules that need the rendered
message (preheader, size, an empty issue), errors, and --strict. The rules that need no
rendering are tested on fresh trees in tests/unit/test_lint_rules.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from nyhetsbrev.build.lint import GMAIL_CLIP, html_size

ISSUE = "newsletters/2022/2022-10"
BASE_WARNINGS = 2  # the fixture's two unsafe-html warnings


def write(tree: Path, name: str, text: str) -> Path:
    path = tree / ISSUE / name
    path.write_text(text, "utf-8")
    return path


def item(body: str, extra: str = "", date: str = "2022-10-01") -> str:
    return (
        f"---\ntitle: En text att granska\ndate: {date}\n"
        f"id: 0e6f2d6c-1111-4222-8333-944444444444\n{extra}---\n{body}\n"
    )


def lint_lines(run, tree: Path) -> list[str]:
    """Return the check's warnings that are not the fixture's own."""
    result = run("check", "--root", tree)
    assert result.exit_code == 0, result.output
    return [line for line in result.stderr.splitlines() if "[unsafe-html]" not in line]


def test_the_fixture_has_no_lint_findings(run, tree):
    assert lint_lines(run, tree) == []


@pytest.mark.parametrize(
    ("preheader", "message"),
    [
        (
            "För kort text",
            "preheadern har 13 tecken, färre än 40: skriv 40–130 tecken om vad numret innehåller",
        ),
        (
            "Lång " * 30,
            "preheadern har 149 tecken, fler än 130: inkorgen visar inte resten; korta den",
        ),
        (
            "Nyhetsbrev oktober 2022 med Välj att sluta",
            "preheadern är samma som ämnesraden: skriv något som kompletterar rubriken",
        ),
    ],
)
def test_preheader_length_and_subject(run, tree, preheader, message):
    title = "Nyhetsbrev oktober 2022 med Välj att sluta"
    write(
        tree,
        "issue.md",
        f"---\ndate: 2022-10-20\ntitle: {title}\npreheader: {preheader.strip()}\n---\nHösten.\n",
    )
    assert lint_lines(run, tree) == [f"{ISSUE}/issue.md:4: varning: {message} [preheader]"]


def test_a_default_preheader_that_is_too_short_says_where_to_write_one(run, tree):
    folder = tree / "newsletters/2022/2022-12"
    folder.mkdir()
    (folder / "issue.md").write_text("---\ndate: 2022-12-01\n---\nJul.\n", "utf-8")
    (folder / "kort.md").write_text(item("Text.", date="2022-12-01"), "utf-8")
    assert lint_lines(run, tree) == [
        "newsletters/2022/2022-12/issue.md:1: varning: preheadern har 26 tecken, färre än 40: "
        "skriv 40–130 tecken om vad numret innehåller (skriv en egen med preheader: i issue.md) "
        "[preheader]",
    ]


def test_an_issue_without_items(run, tree):
    folder = tree / "newsletters/2022/2022-12"
    folder.mkdir()
    (folder / "issue.md").write_text(
        "---\ndate: 2022-12-01\npreheader: Ett nummer som ännu saknar texter men får dem snart.\n"
        "---\nJul.\n",
        "utf-8",
    )
    assert lint_lines(run, tree) == [
        "newsletters/2022/2022-12/issue.md:1: varning: numret har inga texter: lägg till en med "
        '`nyhetsbrev new item 2022-12 "Rubrik"` [empty-issue]',
    ]


def big_issue(tree: Path, items: int, words: int) -> None:
    for n in range(items):
        body = " ".join(f"ordet{n}x{i}åäö" for i in range(words))
        write(
            tree,
            f"stor-{n:02d}.md",
            item(body).replace("0e6f2d6c-1111-4222-8333-944444444444", f"stor-{n}"),
        )
    (tree / "newsletter.toml").write_text(
        (tree / "newsletter.toml").read_text("utf-8") + "\n[check]\nmax_words = 100000\n", "utf-8"
    )


def test_message_over_the_60_kb_budget_is_a_warning(run, tree):
    big_issue(tree, 12, 200)
    lines = lint_lines(run, tree)
    assert len(lines) == 1
    assert lines[0].startswith(f"{ISSUE}/issue.md:1: varning: mejlet är ")
    assert lines[0].endswith(
        " kB, mer än gränsen 60 kB: korta texterna eller flytta några till nästa nummer [size]"
    )
    size = float(lines[0].split("mejlet är ")[1].split(" kB")[0].replace(",", "."))
    assert size > 60


def test_html_over_gmail_clipping_limit_is_an_error_and_fails_build(run, tree):
    big_issue(tree, 12, 1200)
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if ": varning: " not in line]
    assert len(lines) == 1
    assert "[unsafe-html]" in result.stderr  # the fixture's warnings come in the same run
    assert lines[0].startswith(f"{ISSUE}/issue.md:1: mejlets HTML är ")
    assert lines[0].endswith(
        " kB när det skickas; Gmail klipper meddelanden över 102 kB och "
        "döljer slutet, avregistreringen också: korta texterna eller dela "
        "numret [gmail-clip]"
    )
    out = tree / "ut"
    assert run("build", "--root", tree, "--out", out).exit_code == 1
    assert not out.exists()


def test_html_size_measures_the_part_as_sent(built_basic):
    eml = (built_basic / "2022/2022-03/email.eml").read_bytes()
    html = (built_basic / "2022/2022-03/email.html").read_bytes()
    assert len(html) < html_size(eml) < len(eml) < GMAIL_CLIP


def test_strict_fails_on_lint_warnings_and_lists_them_all(run, tree):
    write(tree, "gammal.md", item("[här](https://www.example.se/)", date="2021-12-30"))
    result = run("check", "--strict", "--root", tree)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == BASE_WARNINGS + 2
    assert any("[date-year]" in line for line in lines)
    assert any("[link-text]" in line for line in lines)
    assert any("[unsafe-html]" in line for line in lines)


def test_build_passes_on_lint_warnings_and_strict_build_fails(run, tree):
    write(tree, "gammal.md", item("Text.", date="2021-12-30"))
    out = tree / "ut"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0, result.output
    assert "[date-year]" in result.stderr
    strict = run("build", "--strict", "--root", tree, "--out", tree / "ut2")
    assert strict.exit_code == 1
    assert "[date-year]" in strict.output
    assert not (tree / "ut2").exists()


def test_a_style_block_over_16_kb_is_a_warning(tree):
    import dataclasses

    from nyhetsbrev.build.lint import lint_issue
    from nyhetsbrev.build.pipeline import load_content, render_all

    checked = load_content(tree)
    rendered = render_all(checked.content)[0]
    assert lint_issue(rendered, checked.documents, 250) == []
    style = ".a{color:red}" * 1400  # 18,200 bytes
    bloated = dataclasses.replace(
        rendered, html=f"<html><head><style>{style}</style></head><body></body></html>"
    )
    problems = lint_issue(bloated, checked.documents, 250)
    assert [str(p) for p in problems] == [
        "newsletters/2021/2021-11/issue.md:1: varning: mejlets <style> är 17,8 kB; Gmail tar "
        "bort stilar över 16 kB: förenkla mallens CSS [size]"
    ]


def test_the_html_size_read_in_place_is_the_email_parsers(tree):
    """The size lint measures a built message where it lies; the parser must agree."""
    import email.policy

    from nyhetsbrev.build import pipeline
    from nyhetsbrev.build.lint import _parsed_html_size
    from nyhetsbrev.build.render import message

    content = pipeline.load_content(tree).content
    messages = [r.eml for r in pipeline.render_all(content)]
    issue = content.issues[0]
    tricky = "<p>\r\n--rad som liknar en gräns\r\n</p>" + "å" * 3000
    messages.append(message(content.site, issue, tricky, "Text\n--\n").as_bytes())
    lf = message(content.site, issue, "<p>Hej</p>", "Hej\n")
    messages.append(lf.as_bytes(policy=email.policy.default))  # LF line ends
    sizes = [html_size(m) for m in messages]
    assert sizes == [_parsed_html_size(m) for m in messages]
    assert all(size > 0 for size in sizes)


def test_lint_reads_the_outline_check_kept_and_it_is_a_fresh_parse(tree):
    """check parses each body once and keeps its outline; lint reads that, not a new parse."""
    from nyhetsbrev.build import pipeline
    from nyhetsbrev.content import markup

    markup._OUTLINES.clear()
    checked = pipeline.load_content(tree)
    bodies = {doc.body for doc in checked.documents.values()}
    assert bodies and bodies <= set(markup._OUTLINES)
    for body in bodies:
        assert markup._OUTLINES[body] == markup._outline(markup.parser().parse(body))
