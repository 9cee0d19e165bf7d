"""Shared fixtures: content trees copied to a temporary folder, and a CLI runner."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from nyhetsbrev.cli import cli

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

    from nyhetsbrev import archive_pages

    monkeypatch.setattr(archive_pages, "today", lambda: dt.date(2026, 11, 26))
