"""Sent issues kept as records: an archive package per issue in the content tree.

A public authority's sent newsletter is an allmän handling (TF 2:10) and is kept under the
archive law: when a list send completes, arkiv/<YYYY>/<issue-id>/ holds the message as it
went out (with the unsubscribe placeholder where each recipient's own link was), its HTML
and text, metadata.json and SHA256SUMS. `check` verifies every package byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nyhetsbrev import __version__, urls
from nyhetsbrev.build.publish import PublishError
from nyhetsbrev.delivery import ledger as ledgers
from nyhetsbrev.errors import Problem

if TYPE_CHECKING:
    from nyhetsbrev.delivery.send import ListPlan, Template

FOLDER = "arkiv"
SUMS = "SHA256SUMS"
FILES = ("message.eml", urls.EMAIL_HTML, urls.EMAIL_TEXT, "metadata.json")


def package_folder(root: Path, year: int, issue_id: str) -> Path:
    """Return the issue's archive package folder in the content tree."""
    return root / FOLDER / str(year) / issue_id


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package_files(
    template: Template, plan: ListPlan, rows: Iterable[ledgers.Row]
) -> dict[str, bytes]:
    """Return the package's files by name: the message, its parts, metadata and checksums."""
    from nyhetsbrev.delivery.send import PLACEHOLDER, personal, wire

    site, issue = template.site, template.issue
    rows = list(rows)
    times = sorted(r.updated for r in rows if r.state == ledgers.SENT)
    first = _datetime(times[0]) if times else None
    msg = personal(
        template,
        site.sender_address,
        site.sender_name,
        PLACEHOLDER,
        f"<{issue.year}.{issue.id}@{site.host}>",
        date=first,
    )
    files = {
        "message.eml": wire(msg),
        urls.EMAIL_HTML: template.html.encode(),
        urls.EMAIL_TEXT: template.text.encode(),
    }
    metadata: dict[str, Any] = {
        "issue": issue.id,
        "year": issue.year,
        "subject": issue.title,
        "sender": str(msg["From"]),
        "web_version": urls.web_url(site, issue),
        "first_sent": times[0] if times else None,
        "last_sent": times[-1] if times else None,
        "sent": sum(1 for r in rows if r.state == ledgers.SENT),
        "failed": sum(1 for r in rows if r.state != ledgers.SENT),
        "skipped": len(plan.suppressed) + len(plan.problems),
        "smtp_host": site.smtp.host,
        "tool_version": __version__,
        "sha256": {name: sha256(data) for name, data in sorted(files.items())},
    }
    files["metadata.json"] = (json.dumps(metadata, ensure_ascii=False, indent=2) + "\n").encode()
    files[SUMS] = "".join(f"{sha256(files[n])}  {n}\n" for n in sorted(files)).encode()
    return files


def _datetime(stamp: str) -> Any:
    import datetime as dt

    from nyhetsbrev.content.models import STOCKHOLM

    return dt.datetime.fromisoformat(stamp).astimezone(STOCKHOLM)


def write_package(template: Template, plan: ListPlan, book: ledgers.Ledger) -> Path:
    """Write (or replace) the issue's archive package whole; return its folder."""
    issue = template.issue
    files = package_files(template, plan, book.rows(issue.id).values())
    target = package_folder(template.site.root, issue.year, issue.id)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{issue.id}-ny-", dir=target.parent))
        for name, data in files.items():
            (staging / name).write_bytes(data)
            os.chmod(staging / name, 0o644)
        os.chmod(staging, 0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{issue.id}-gammal-", dir=target.parent))
            os.rename(target, old / issue.id)
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
    except OSError as e:
        raise PublishError(f"{target}: arkivpaketet kunde inte skrivas: {e.strerror or e}") from e
    return target


def verify_packages(root: Path) -> list[Problem]:
    """Return an error for each archive package file that is missing, changed or unlisted."""
    problems: list[Problem] = []
    base = root / FOLDER
    if not base.is_dir():
        return problems
    for folder in sorted(p for p in base.glob("*/*") if p.is_dir() and not p.name.startswith(".")):
        problems += _verify(folder, folder.relative_to(root).as_posix())
    return problems


def _verify(folder: Path, shown: str) -> list[Problem]:
    sums = folder / SUMS
    if not sums.is_file():
        return [
            Problem(f"{shown}/{SUMS}", 1, "filen saknas: arkivpaketet går inte att kontrollera")
        ]
    problems = []
    listed = set()
    lines = sums.read_text("utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        digest, _, name = line.partition("  ")
        listed.add(name)
        path = folder / name
        if not name or "/" in name or len(digest) != 64:
            problems.append(Problem(f"{shown}/{SUMS}", number, f'raden "{line}" går inte att läsa'))
        elif not path.is_file():
            problems.append(
                Problem(f"{shown}/{name}", 1, "filen saknas i arkivpaketet men finns i SHA256SUMS")
            )
        elif sha256(path.read_bytes()) != digest:
            problems.append(
                Problem(
                    f"{shown}/{name}",
                    1,
                    "filen har ändrats sedan numret skickades (kontrollsumman stämmer inte med "
                    "SHA256SUMS); ett arkiverat utskick får inte ändras: återställ filen",
                )
            )
    for name in FILES:
        if name not in listed:
            problems.append(
                Problem(
                    f"{shown}/{SUMS}", 1, f"{name} saknas i SHA256SUMS: paketet är ofullständigt"
                )
            )
    return problems
