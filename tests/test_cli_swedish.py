"""click's own words reach a coordinator in Swedish: usage lines, headings, usage errors."""

from __future__ import annotations

import re

import pytest

from nyhetsbrev.cli import cli
from nyhetsbrev.click_sv import CATALOGUE

from .test_cli import commands

ENGLISH = re.compile(
    r"\b(Usage|Error|Options|Commands|Invalid|Missing|No such|Show this|Try|"
    r"does not exist|is not|requires|Got unexpected|default|required)\b"
)

USAGE_ERRORS = [
    ("plan", "tjugo"),  # not an integer
    ("send",),  # a missing argument
    ("finns-inte",),  # no such command
    ("build", "--finns-inte"),  # no such option
    ("plan", "2022", "--format", "pdf"),  # not one of the choices
    ("serve", "--port"),  # an option without its value
    ("plan", "2022", "extra"),  # an extra argument
    ("build", "--root", "/finns/inte/heller", "--out"),
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=lambda a: " ".join(a))
def test_usage_errors_are_swedish_and_exit_2(run, args):
    from click.testing import CliRunner

    from nyhetsbrev.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 2, result.output
    text = result.output
    assert text.startswith(("Användning: nyhetsbrev", "Fel: ")), text
    assert "\nFel: " in text or text.startswith("Fel: ")
    assert not ENGLISH.search(text), text


@pytest.mark.parametrize("args", [(), ("build",), ("new", "item"), ("plan",)], ids=str)
def test_help_headings_are_swedish(run, args):
    result = run(*args, "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Användning: nyhetsbrev")
    assert "Flaggor:" in result.output and "Options" not in result.output
    assert "Visa den här hjälpen och avsluta." in result.output


def test_the_catalogue_keeps_clicks_placeholders():
    """A translation that drops or renames a {placeholder} would raise inside click."""
    for english, swedish in CATALOGUE.items():
        assert set(re.findall(r"\{[^}]*\}", english)) == set(re.findall(r"\{[^}]*\}", swedish))
        assert english.count("%(") == swedish.count("%(")


def test_build_says_its_time_with_a_decimal_comma(run, tree):
    line = run("build", "--root", tree).stdout.splitlines()[-1]
    assert re.search(r" på \d+,\d\d s\.", line), line


ENGLISH_WORDS = re.compile(r"\b(the|and|of|to|with|from|every|this|Show|Send|Write|Print)\b")


@pytest.mark.parametrize("name,command", commands(cli), ids=lambda v: str(v))
def test_every_command_helps_in_swedish(name, command, run):
    """The whole --help of each command: its text, its options and its placeholders."""
    result = run(*name.split(), "--help")
    assert result.exit_code == 0
    text = "\n".join(
        line
        for line in result.output.splitlines()
        if "build.py" not in line  # examples
    )
    text = re.sub(r"--[\w-]+", "", text)  # option names are the same in every language
    assert not ENGLISH_WORDS.search(text), ENGLISH_WORDS.search(text).group() + "\n" + text
    assert "Exempel:" in result.output


def test_one_of_a_kind_is_singular_in_status_lines(run, tmp_path):
    from .conftest import FIXTURES

    root = tmp_path / "innehall"
    root.mkdir()
    (root / "newsletter.toml").write_bytes((FIXTURES / "basic/newsletter.toml").read_bytes())
    assert run("new", "issue", "2027-03", "--root", root).exit_code == 0
    assert run("new", "item", "2027-03", "Ny handbok", "--root", root).exit_code == 0
    checked = run("check", "--root", root)
    assert checked.exit_code == 0, checked.output
    assert re.fullmatch(r"Inga fel: 1 nummer, 1 text, \d+ varningar\n", checked.stdout)
