"""The package's seams: who may read files, and that the content tree has one reader."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nyhetsbrev"

# Every module that opens or reads a file itself, and what it reads. The content tree
# (newsletter.toml, newsletters/, campaigns/, templates/, the files items use) is read by
# `load` alone; `memo` and `cache` hash its bytes to know what changed, and hand a changed
# file to `load`; the others read their own data, never an issue, item or campaign.
READERS = {
    "load": "the content tree",
    "cache": "its own folder under .nyhetsbrev/",
    "memo": "its own folder under .nyhetsbrev/; the content's bytes, hashed only",
    "publish": "the output folder it replaces",
    "search_index": "the built pages and its kept index",
    "records": "the sent issues' archive packages (arkiv/)",
    "recipients": "recipient lists and the suppression list",
    "subscribers": "the suppression list's digest",
    "signing": "the DKIM private key",
    "bounces": "returned mail (maildir or mbox)",
    "serve": "the package's script and the preview's built files",
    "scaffold": "nothing: it creates new files only (open mode 'x')",
}
CALLS = {"read_text", "read_bytes", "open"}


def readers() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in CALLS or (isinstance(func, ast.Name) and name != "open"):
                continue  # a bare read_bytes() is load's function, imported
            # self.open() / conn.open() are SMTP and cache objects, not files
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if func.value.id in {"self", "conn", "os"} or func.value.id[0].isupper():
                    continue  # an SMTP connection, or a class's own open() (BuildCache)
            found.setdefault(path.stem, []).append(node.lineno)
    return found


def test_only_the_listed_modules_read_files():
    found = readers()
    unexpected = {module: lines for module, lines in found.items() if module not in READERS}
    assert not unexpected, f"modules reading files that are not in READERS: {unexpected}"


def test_every_listed_reader_still_reads():
    # A stale entry would let a new reader hide behind an old reason.
    missing = set(READERS) - set(readers())
    assert not missing, f"in READERS but reading nothing: {missing}"
