"""Shared fixtures: content trees (copied or fresh), a CLI runner, an SMTP server, a browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from nyhetsbrev.cli import cli

from .smtp import SECRET, Server, point, running
from .trees import Fresh
from .trees import fresh as fresh_tree

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"

# Hypothesis profiles: "ci" (default) is derandomized with a bounded example count, so the
# property tests are repeatable and fast; `make fuzz` selects "fuzz" for a long random run.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
EXPECTED = HERE / "expected"
REPO = HERE.parent
# The browser the tests drive; another path only to prove the suite skips cleanly without one.
CHROMIUM = Path(os.environ.get("NYHETSBREV_TEST_CHROMIUM", "/usr/bin/chromium"))
NO_BROWSER = (
    f"Debian's chromium is not installed ({CHROMIUM}): every browser test is skipped; "
    "`make test` installs it when run as root"
)


def pytest_collection_modifyitems(config, items) -> None:
    """Skip every test marked `browser`, for one stated reason, when Chromium is missing."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=NO_BROWSER)
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter) -> None:
    if not CHROMIUM.exists():
        terminalreporter.write_line(f"NOTE: {NO_BROWSER}")


def without_section(text: str, name: str) -> str:
    """Return newsletter.toml's text without its [name] table (to write another one)."""
    return re.sub(rf"(?ms)^\[{re.escape(name)}\]\n.*?(?=^\[|\Z)", "", text)


def files(folder: Path) -> dict[str, bytes]:
    """Return every file under folder with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def edit(tree: Path, rel: str, old: str, new: str) -> None:
    """Replace the first old with new in the file rel of tree (old must be there)."""
    text = (tree / rel).read_text("utf-8")
    assert old in text, f"{old!r} not in {rel}"
    (tree / rel).write_text(text.replace(old, new, 1), "utf-8")


def fails_with(result, output: str) -> None:
    """The command exited 1 and printed exactly output (stdout and stderr together)."""
    assert result.exit_code == 1
    assert result.output == output


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Return a fresh copy of the basic fixture content tree."""
    target = tmp_path / "innehall"
    shutil.copytree(FIXTURES / "basic", target, ignore=shutil.ignore_patterns(".nyhetsbrev"))
    return target


@pytest.fixture
def run():
    """Return a function that runs the CLI and returns click's Result."""
    runner = CliRunner()

    def invoke(*args: str | Path):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def built_basic(tmp_path_factory) -> Path:
    """Build the basic fixture once per session and return the output folder."""
    out = tmp_path_factory.mktemp("basic") / "public"
    result = CliRunner().invoke(
        cli, ["build", "--root", str(FIXTURES / "basic"), "--out", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(autouse=True)
def _fixed_today(monkeypatch):
    """Pin "today" for the accessibility statement's age check, so fixtures do not age."""
    import datetime as dt

    from nyhetsbrev.content import statement

    monkeypatch.setattr(statement, "today", lambda: dt.date(2026, 11, 26))


@pytest.fixture
def fresh(tmp_path: Path) -> Fresh:
    """Return a small valid content tree written in one call (see tests/trees.py)."""
    return fresh_tree(tmp_path / "innehall")


@pytest.fixture
def server():
    """Start an SMTP server (aiosmtpd) on a free port of 127.0.0.1 for one test."""
    with running() as s:
        yield s


@pytest.fixture
def site(tree: Path, server: Server, monkeypatch) -> Path:
    """Return the fixture tree pointed at the test server, with the unsubscribe secret set."""
    point(tree, server.port)
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    monkeypatch.delenv("NYHETSBREV_SMTP_PASSWORD", raising=False)
    return tree


@pytest.fixture(scope="session")
def browser():
    """Launch Debian's Chromium once per session (per worker) for every browser test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """Return a function that opens a page in a new browser context; all close after the test."""
    contexts = []

    def open_page(**options):
        contexts.append(browser.new_context(**options))
        return contexts[-1].new_page()

    yield open_page
    for context in contexts:
        context.close()
