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


# The folders in the order they may depend on each other: a module imports only from its own
# folder and those before it. The top-level homes and helpers come first; the two front doors
# (the command line and the sign-up service) last.
LAYERS = ("", "content", "build", "subscriptions", "delivery", "year preview", "front")
FRONT = {"cli", "service"}
# The one import that goes upwards, with its reason.
UPWARDS = {
    ("content.check", "delivery.records"): "check verifies the archive packages a send wrote",
}


def layer(module: str) -> int:
    """Return the layer of a dotted module name below nyhetsbrev ("content.load", "urls")."""
    if module in FRONT:
        return len(LAYERS) - 1
    first = module.split(".")[0]  # a folder, or a top-level module
    return next((n for n, names in enumerate(LAYERS) if first in names.split()), 0)


def imports(path: Path) -> list[tuple[str, int]]:
    """Return the package modules path imports at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text("utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and id(node) not in skipped and node.module:
            if node.module == "nyhetsbrev":
                found += [(alias.name, node.lineno) for alias in node.names]
            elif node.module.startswith("nyhetsbrev."):
                found.append((node.module.removeprefix("nyhetsbrev."), node.lineno))
    return found


def test_folders_depend_downwards_only():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if source == "__init__" or source.endswith(".__init__"):
            continue
        for target, line in imports(path):
            if target == "__version__" or (source, target) in UPWARDS:
                continue
            if layer(target) > layer(source):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: {source} -> {target}")
    assert wrong == []


def test_the_layers_name_every_folder():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    named = {name for names in LAYERS for name in names.split()} - {"front"}
    assert folders == named - {""}
