"""Findings of an attack through the CLI: each bad input is a Swedish `path:line: message`,
exit 1, no traceback and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest


def edit(tree: Path, rel: str, old: str, new: str) -> None:
    text = (tree / rel).read_text("utf-8")
    assert old in text, f"{old!r} not in {rel}"
    (tree / rel).write_text(text.replace(old, new, 1), "utf-8")


def fails(run, tree: Path, *command: str) -> str:
    """Run a command (build by default) that must fail cleanly; return its stderr."""
    out = tree.parent / "ut"
    result = run(*(command or ("build", "--root", tree, "--out", out)))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not out.exists(), "a failed build wrote its output"
    return result.stderr


def override(tree: Path, line: str) -> None:
    """Give the tree its own web/meta.html: the default one with one line added (line 2)."""
    template = tree / "templates/web/meta.html"
    template.parent.mkdir(parents=True)
    template.write_text("{# egen #}\n" + line + "\n", "utf-8")


# -- 1. a template cannot make a huge value ----------------------------------------------


@pytest.mark.parametrize(
    "expression,message",
    [
        ("'a' * 10**9", "uttrycket med * ger ett för stort värde"),
        ("[1] * 10**9", "uttrycket med * ger ett för stort värde"),
        ("10 ** (10**9)", "uttrycket med ** ger ett för stort värde"),
        ("(10**600000) * (10**600000)", "uttrycket med * ger ett för stort värde"),
        ("range(10**9)|list", "range() ger för många tal (högst 100\N{NO-BREAK SPACE}000)"),
    ],
)
def test_a_template_cannot_make_a_huge_value(run, tree, expression, message):
    override(tree, "{{ " + expression + " }}")
    stderr = fails(run, tree)
    assert stderr.startswith(f"templates/web/meta.html:2: {message}"), stderr


def test_ordinary_products_and_powers_in_a_template_still_work(run, tree):
    override(tree, "<!-- {{ '-' * 3 }}{{ 2 ** 10 }}{{ [0] * 2 }} -->")
    result = run("build", "--root", tree, "--out", tree.parent / "ut")
    assert result.exit_code == 0, result.output
    assert "<!-- ---1024[0, 0] -->" in (tree.parent / "ut/index.html").read_text("utf-8")


# -- 6. English from the libraries stays out of sight ------------------------------------


def test_a_template_syntax_error_is_swedish_with_jinjas_words_quoted(run, tree):
    override(tree, "{{ site.title }} }}\n{% if %}")
    stderr = fails(run, tree)
    assert stderr == (
        "templates/web/meta.html:3: mallen går inte att läsa (Jinja säger på engelska: "
        "\"Expected an expression, got 'end of statement block'\")\n"
    )
