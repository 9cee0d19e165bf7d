"""The repository as a newcomer meets it: the documented commands run, the suite's rules hold."""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from nyhetsbrev.cli import cli

from .conftest import REPO

TESTS = Path(__file__).parent


def _browser_marked(node: ast.FunctionDef, module: ast.Module) -> bool:
    def marks(decorators: list[ast.expr]) -> bool:
        return any("browser" in ast.unparse(d) for d in decorators)

    module_mark = any(
        isinstance(s, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in s.targets)
        and "browser" in ast.unparse(s.value)
        for s in module.body
    )
    return module_mark or marks(node.decorator_list)


def test_every_test_that_launches_chromium_is_marked_browser():
    unmarked = []
    for path in sorted(set(TESTS.glob("test_*.py")) - {Path(__file__)}):
        module = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(module):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                launches = "chromium" in ast.unparse(node) or "browser" in [
                    a.arg for a in node.args.args
                ]
                if launches and not _browser_marked(node, module):
                    unmarked.append(f"{path.name}::{node.name}")
    assert unmarked == [], "these launch Chromium without @pytest.mark.browser (no skip without it)"


def test_build_py_runs_from_a_fresh_shell_without_the_venv(tmp_path):
    """`python3 build.py …` in a shell where nothing is activated uses the checkout's .venv."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(base), str(REPO / "build.py"), "check", "--root", str(REPO / "tests/fixtures/basic")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_without_chromium_every_browser_test_is_skipped_with_one_reason(tmp_path):
    env = {**os.environ, "NYHETSBREV_TEST_CHROMIUM": str(tmp_path / "no-chromium")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "browser", "-p", "no:cacheprovider", "-rs"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    summary = result.stdout.splitlines()[-1]
    assert result.returncode == 0, result.stdout[-3000:]
    assert "passed" not in summary and "failed" not in summary and "skipped" in summary, summary
    assert "every browser test is skipped" in result.stdout


def readme_commands() -> list[str]:
    """Return every command line in README.md's shell blocks, without prompt or comment."""
    text = (REPO / "README.md").read_text("utf-8")
    lines = []
    for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, flags=re.S):
        prompted = any(line.startswith("$ ") for line in block.splitlines())
        for line in block.splitlines():
            if prompted and not line.startswith("$ "):
                continue  # what the command above printed
            line = line.removeprefix("$ ").split("  #")[0].split(" # ")[0].strip()
            if line:
                lines.append(line)
    return lines


def test_readme_runs_the_tool_as_a_fresh_shell_can():
    """Each command in README.md starts with something a fresh shell has after `make build`."""
    starts = ("make ", "python3 build.py ", "export ", ". .venv/bin/activate", "sudo ")
    odd = [line for line in readme_commands() if not line.startswith(starts)]
    assert odd == [], "a fresh shell has no `nyhetsbrev` on its PATH: write `python3 build.py`"


@pytest.mark.parametrize(
    "line", [c for c in readme_commands() if c.startswith("python3 build.py ")], ids=str
)
def test_every_readme_command_parses(line):
    """The command, its options and arguments exist exactly as README.md writes them."""
    args = shlex.split(line)[2:]
    command: click.Command = cli
    name = "nyhetsbrev"
    while isinstance(command, click.Group) and args and args[0] in command.commands:
        name = f"{name} {args[0]}"
        command = command.commands[args.pop(0)]
    command.make_context(name, args, resilient_parsing=False)


def test_the_swedish_review_file_is_up_to_date():
    """docs/texts-sv.md lists every Swedish text; a changed message must show up there."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts/texts.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
