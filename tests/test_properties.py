"""Property-based tests: whatever a coordinator writes, the build either succeeds with safe
output or fails with `path:line: message` lines, exit 1 and no traceback.

The "ci" hypothesis profile (tests/conftest.py) runs a fixed, bounded set of examples;
`make fuzz` (HYPOTHESIS_PROFILE=fuzz) runs many more with a random seed.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import lxml.etree
import lxml.html
import pytest
from click.testing import CliRunner
from hypothesis import event, example, given
from hypothesis import strategies as st

from nyhetsbrev import schema
from nyhetsbrev.cli import cli

from .conftest import FIXTURES

# Temporary trees live in memory when /dev/shm exists: hundreds of small builds otherwise
# spend most of their time creating files on a shared disk.
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None
PROBLEM_LINE = re.compile(r"^[^\s:][^:]*:\d+: \S.*$")
# How a link's URL is written in the text version ("label (URL)") and in a calendar file.
TEXT_LINK = re.compile(
    r"(\(|<|^URL[^:\n]*:)(javascript|vbscript|data):", re.IGNORECASE | re.MULTILINE
)
INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")

# --- front matter -------------------------------------------------------------------------

YAML_ODDITIES = [
    "no",
    "yes",
    "on",
    "off",
    "~",
    "null",
    "true",
    "2022-13-01",
    "2022-02-30",
    "2022-3-5",
    "12:30",
    "1e3",
    "0x1F",
    "0o17",
    ".inf",
    "-.nan",
    "[]",
    "{}",
    "''",
    '""',
    "-",
    "|",
    ">",
    "[1, [2, [3, [4]]]]",
    "{a: {b: {c: d}}}",
    "[a, {b: c}]",
    "!!binary aGVq",
    "!!str 1",
    "!!python/object:os.system x",
    "&a x",
    "*nope",
    "'",
    '"',
    "[",
    "{",
    "a: b",
    "? x",
    "%YAML 1.2",
    "@x",
    "`x`",
    "#",
    "- a",
    "2022-04-21T25:00",
    "2022-04-21 09:00",
    "https://",
    "javascript:alert(1)",
    "/",
    "../../../etc/passwd",
    "bild.png",
    "0",
]
# Any character except surrogates (which cannot be written as UTF-8 files) and the colon:
# prose then never spells a "javascript:" URL, so one in the output came from a link.
ANY_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=":"), max_size=60
)
LONG_TEXT = st.builds(lambda s, n: (s[:8] or "å") * n, ANY_TEXT, st.integers(100, 2_500))
SCALAR = st.one_of(
    st.sampled_from(YAML_ODDITIES),
    ANY_TEXT.map(json.dumps),  # a double-quoted YAML string: every character, escaped
    LONG_TEXT.map(json.dumps),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.from_regex(r"\A[a-zA-Z0-9 åäöÅÄÖ:/._#-]{0,40}\Z"),
)
YAML_VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: "".join(f"\n  - {x}" for x in xs)),
        st.dictionaries(st.sampled_from(["a", "b", "title", "no"]), inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=8,
)
# Every declared item field, and three keys that are not one.
ITEM_FIELDS = [*schema.keys(schema.ITEM), "okänt", "Title", "date "]
VALID_ITEM = {
    "title": '"Rubrik"',
    "date": "2022-03-10",
    "id": "prop-1",
    "campaign": "svartsjuka",
    "delmal": "[1, 5]",
    "malgrupp": "[Unga]",
}


@st.composite
def front_matter(draw) -> str:
    """Return item front matter: a valid one with a few fields replaced by odd values."""
    fields = dict(VALID_ITEM)
    for key in draw(st.lists(st.sampled_from(ITEM_FIELDS), max_size=3, unique=True)):
        fields[key] = draw(YAML_VALUE)
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True)):
        del fields[key]
    lines = [f"{k}: {v}" for k, v in fields.items()]
    if draw(st.booleans()):  # an anchor and an alias to it
        lines += ["malgrupp: &grupp [Unga, Chefer]", "summary: *grupp"]
    return "\n".join(draw(st.permutations(lines)))


# --- Markdown bodies ----------------------------------------------------------------------

DANGEROUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src="bild.png" onload="alert(1)" alt="x">',
    '<a href="javascript:alert(1)">a</a>',
    '<a href=" JaVaScRiPt:alert(1)">b</a>',
    '<a href="jav&#x09;ascript:alert(1)">c</a>',
    '<a href="&#106;avascript:alert(1)">d</a>',
    '<a href="java\nscript:alert(1)">e</a>',
    "<svg onload=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<p style="background:url(javascript:alert(1))" onclick="x()">p</p>',
    '<form action="javascript:alert(1)"><input onfocus=alert(1) autofocus></form>',
    '<math><mi xlink:href="javascript:alert(1)">m</mi></math>',
    "<!-- <script>x</script> -->",
    "<style>*{background:url(javascript:alert(1))}</style>",
    "<object data=javascript:x>",
    '<a href="vbscript:msgbox(1)">v</a>',
    '<a href="data:text/html,<script>x</script>">d</a>',
    "<details open ontoggle=alert(1)>",
    '<body onload="alert(1)">',
    "<base href=javascript:/>",
    '<a href="https://ok.example/" onmouseover="alert(1)">ok</a>',
    "<ScRiPt >x</ScRiPt >",
    '<img src="javascript:alert(1)" alt="">',
    "<a href='javascript&colon;alert(1)'>c</a>",
]
MARKDOWN_ATTACKS = [
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](<javascript:alert(1)>)",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x](java&#115;cript:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x]( javascript:x )",
    "[x](vbscript:x)",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](file:///etc/passwd)",
    "[x](//evil.example/x)",
    "[x](../../utanfor.png)",
    "[x](finns-inte.pdf)",
    "[x](#ankare)",
    "[x](/sida)",
    "[x](mailto:a@example.se)",
    "[x](tel:+4620505050)",
    "![bild](bild.png)",
]
ENTITIES = (
    "&amp; &lt;script&gt; &#0; &#x110000; &nbsp; &bogus; &#128512; &#x0A; &quot;onload=&quot;"
).split()
WORDS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r:"), max_size=40
)


def nested(depth: int, marker: str) -> str:
    return "\n".join(
        ("  " * i if marker == "- " else "")
        + (marker * (i + 1 if marker == "> " else 1))
        + f"nivå {i}"
        for i in range(depth)
    )


BLOCK = st.one_of(
    WORDS,
    st.sampled_from(DANGEROUS),
    st.sampled_from(MARKDOWN_ATTACKS),
    st.sampled_from(ENTITIES),
    st.builds(nested, st.integers(1, 120), st.sampled_from(["- ", "> ", "1. "])),
    st.builds(lambda n: "*" * n + "text" + "*" * n, st.integers(1, 60)),
    st.builds(lambda n: "[" * n + "x" + "](https://e.se)" * n, st.integers(1, 60)),
    st.just("```\n<script>alert(1)</script>\n```"),
    st.just("| a | b |\n|---|---|\n| <script>x</script> | [y](javascript:z) |"),
    LONG_TEXT,
)
BODY = st.lists(st.tuples(BLOCK, st.sampled_from(["\n\n", " ", "\n"])), max_size=8).map(
    lambda parts: "".join(block + sep for block, sep in parts)
)


# --- the tree and the build ---------------------------------------------------------------


def write_tree(root: Path, item_meta: str, item_body: str, intro: str = "") -> None:
    """Copy the basic fixture's settings and campaigns, with one issue holding one item."""
    root.mkdir()
    shutil.copy(FIXTURES / "basic" / "newsletter.toml", root)
    shutil.copytree(FIXTURES / "basic" / "campaigns", root / "campaigns")
    folder = root / "newsletters" / "2022" / "2022-03"
    folder.mkdir(parents=True)
    shutil.copy(
        FIXTURES / "basic" / "newsletters" / "2022" / "2022-03" / "plan.png", folder / "bild.png"
    )
    issue = f"---\ndate: 2022-03-15\nstatus: ready\n---\n{intro}\n"  # a draft is not built
    (folder / "issue.md").write_text(issue, "utf-8")
    (folder / "nyhet.md").write_text(f"---\n{item_meta}\n---\n{item_body}\n", "utf-8")


def build(item_meta: str, item_body: str, intro: str = "") -> None:
    """Build one generated tree and assert every property of the result."""
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        root, out = Path(tmp) / "innehall", Path(tmp) / "public"
        write_tree(root, item_meta, item_body, intro)
        result = CliRunner().invoke(
            cli, ["build", "--root", str(root), "--out", str(out)], catch_exceptions=True
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"traceback: {result.exception!r}\n{result.stderr}"
        )
        assert result.exit_code in (0, 1), result.output
        event(f"exit {result.exit_code}")  # --hypothesis-show-statistics shows the balance
        bad = [line for line in result.stderr.splitlines() if not PROBLEM_LINE.match(line)]
        assert bad == [], f"stderr lines that are not path:line: message: {bad}"
        if result.exit_code == 1:
            assert result.stderr.strip(), "exit 1 without saying why"
            assert not out.exists(), "a failed build wrote output"
        else:
            assert (out / "2022/2022-03/index.html").is_file(), "the issue was not built"
            check_outputs(out)


def check_outputs(out: Path) -> None:
    """Assert that no output holds a script, an event handler or a javascript: URL."""
    files = [p for p in sorted(out.rglob("*")) if p.is_file()]
    assert files, "a successful build wrote nothing"
    # The search index is Pagefind's own code and data, not built from content.
    files = [p for p in files if "pagefind" not in p.relative_to(out).parts]
    for path in files:
        if path.suffix == ".html":
            assert_safe_html(path.read_bytes(), path)
        elif path.suffix == ".xml":
            check_feed(path)
        elif path.suffix == ".json":
            for entry in json.loads(path.read_bytes())["items"]:
                assert_safe_html(entry.get("content_html") or "<p></p>", path)
        elif path.suffix == ".eml":
            check_message(path)
        elif path.name == "email.txt":  # robots.txt holds no content
            html = (path.parent / "email.html").read_text("utf-8")
            assert_no_attack_text(path.read_text("utf-8"), path, html)
        elif path.suffix == ".ics":
            assert_no_attack_text(path.read_text("utf-8").replace("\r\n ", ""), path, "")


def assert_safe_html(source: bytes | str, where: Path) -> None:
    """Assert, by parsing, that the HTML has no script, on* attribute or script URL."""
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    if not source.strip():
        return
    document = lxml.html.document_fromstring(source)
    own = 0  # the site's one script, site.js, in the head of an archive page
    for element in document.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        if element.tag.lower() == "script" and _own_script(element):
            own += 1
            continue
        assert element.tag.lower() != "script", f"{where}: <script> element"
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), f"{where}: {name}= on <{element.tag}>"
            flat = INVISIBLE.sub("", value).lower()
            assert "javascript:" not in flat and "vbscript:" not in flat, (
                f"{where}: {name}={value!r} on <{element.tag}>"
            )
    assert source.lower().count("<script") == own, f"{where}: the text <script outside the parse"


def _own_script(element) -> bool:
    """Return whether a <script> is the archive's own: site.js from the head, nothing inline."""
    parent = element.getparent()
    return (
        parent is not None
        and parent.tag == "head"
        and re.fullmatch(r"(\.\./)*site\.js", element.get("src", "")) is not None
        and not (element.text or "").strip()
        and sorted(element.attrib) == ["defer", "src"]
    )


def check_feed(path: Path) -> None:
    """Assert that the feed is well-formed XML and the HTML it carries is safe.

    HTML travels in RSS content:encoded and in Atom elements of type "html". RSS
    <description> holds the plain-text summary (the feed rules), so it is not parsed as HTML.
    """
    tree = lxml.etree.fromstring(path.read_bytes())  # raises on anything not well-formed
    for element in tree.iter():
        if not isinstance(element.tag, str) or not element.text:
            continue
        if element.tag.endswith("}encoded") or element.get("type") == "html":
            assert_safe_html(element.text, path)
    assert "<script" not in path.read_text("utf-8").lower()


def check_message(path: Path) -> None:
    """Assert that the .eml parses without defects, and both parts are safe."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative", path
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"], path
    assert not message.defects and not any(p.defects for p in parts), path
    assert_no_attack_text(parts[0].get_content(), path, parts[1].get_content())
    assert_safe_html(parts[1].get_content(), path)


def assert_no_attack_text(text: str, where: Path, html: str) -> None:
    """Assert that the text version writes no script URL as a link: "label (URL)".

    Prose and code blocks may show "(javascript:…" as literal text: then the HTML version
    shows it as text too (its hrefs are checked apart), so the text may hold no more such
    strings than the HTML's visible text.
    """
    found = TEXT_LINK.findall(INVISIBLE.sub("", text))
    visible = lxml.html.document_fromstring(html).text_content() if html.strip() else ""
    shown = TEXT_LINK.findall(INVISIBLE.sub("", visible))
    assert len(found) <= len(shown), f"{where}: script URLs written as links: {found}"


# --- the properties -------------------------------------------------------------------------


@given(front_matter())
@example("title: no\ndate: 2022-13-01")
@example("title: ~\ndate: ~")
@example('title: "\\0\\x07\\x1b\\u2028"\ndate: 2022-03-10')
@example("title: &a [x]\ndate: *a")
@example("title: [1, [2, [3]]]\ndate: {a: b}\ndelmal: yes")
@example(f"title: {'å' * 100_000}\ndate: 2022-03-10")
@example("title: x\ndate: 2022-03-10\nimage: bild.png")
def test_any_front_matter_builds_or_reports_lines(meta):
    build(meta, "Lite text.")


@given(BODY)
@example("<script>alert(1)</script>")
@example('[x](javascript:alert(1)) <a href="javascript:alert(1)" onclick="x">y</a>')
@example("> " * 200 + "djupt")
@example("<javascript:alert(1)>")
@example("[x](&#x6A;avascript:alert(1))")
def test_any_body_gives_safe_output(body):
    build("\n".join(f"{k}: {v}" for k, v in VALID_ITEM.items()), body)


@given(front_matter(), BODY, BODY)
def test_any_item_and_intro_together(meta, body, intro):
    build(meta, body, intro)


# --- hostile trees: control characters in every field, aliases, odd file names ---------------

# Every character that breaks a line or is invisible: C0 and C1 controls, U+2028/U+2029.
CONTROL_CHARACTERS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))] + [
    "\u2028",
    "\u2029",
    "\r\n",
]
HOSTILE_TEXT = st.builds(
    lambda before, char, after: before + char + after,
    st.text(st.characters(whitelist_categories=("L", "Zs")), max_size=12),
    st.sampled_from(CONTROL_CHARACTERS),
    st.text(st.characters(whitelist_categories=("L", "Zs")), max_size=12),
)
ISSUE_FIELDS = ["title", "preheader", "status", "date", "order"]
CAMPAIGN_FIELDS = ["name", "color", "url", "contact", "logo", "logo_alt"]
CONFIG_FIELDS = [
    ("", "title"),
    ("", "organisation"),
    ("", "base_url"),
    ("sender", "name"),
    ("sender", "address"),
    ("sender", "reply_to"),
    ("sender", "postal"),
    ("sender", "reason"),
    ("unsubscribe", "url"),
    ("unsubscribe", "mailto"),
    ("smtp", "host"),
    ("smtp", "user"),
]
ALIAS_BOMB = (
    "["
    + ", ".join(
        ["&a0 [x, x, x, x, x, x, x, x, x]"]
        + [f"&a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    )
    + "]"
)
ODD_NAMES = [
    ".#nyhet.md",  # Emacs' lock: a dangling symlink
    "#nyhet.md#",
    "nyhet.md~",
    ".nyhet.md.swp",
    ".DS_Store",
    "Thumbs.db",
    "ny\ntext.md",
    "ny\u2028text.md",
    "ny text.md",
    "å ä ö.md",
    "a#b.md",
    "a?b.md",
    "bild å.png",
    "mapp.md",  # a folder
    "-.md",
    "issue.md.md",
]
VALID_ISSUE = {"date": "2022-03-15", "title": '"Mars"', "status": "ready"}
VALID_CAMPAIGN = {"name": '"Svartsjuka är inte romantiskt"', "color": '"#8a1538"'}


@st.composite
def hostile_tree(draw) -> dict:
    """Return what to put where: one hostile value in one field of one file, and odd files."""
    where = draw(st.sampled_from(["item", "issue", "campaign", "config"]))
    value = draw(st.one_of(HOSTILE_TEXT.map(json.dumps), st.just(ALIAS_BOMB), st.just("*nope")))
    if where == "item":
        key: object = draw(st.sampled_from(ITEM_FIELDS))
    elif where == "issue":
        key = draw(st.sampled_from(ISSUE_FIELDS))
    elif where == "campaign":
        key = draw(st.sampled_from(CAMPAIGN_FIELDS))
    else:
        key = draw(st.sampled_from(CONFIG_FIELDS))
        value = draw(HOSTILE_TEXT.map(json.dumps))  # TOML reads JSON's escapes the same
    odd = draw(st.lists(st.sampled_from(ODD_NAMES), max_size=3, unique=True))
    return {"where": where, "key": key, "value": value, "odd": odd}


def write_hostile_tree(root: Path, spec: dict) -> None:
    """Write write_tree's one-item tree, then put spec's value and odd files in it."""
    item, issue = dict(VALID_ITEM), dict(VALID_ISSUE)
    campaign = dict(VALID_CAMPAIGN)
    {"item": item, "issue": issue, "campaign": campaign}.get(spec["where"], {})[
        str(spec["key"])
    ] = spec["value"]
    write_tree(root, "\n".join(f"{k}: {v}" for k, v in item.items()), "Lite text.")
    folder = root / "newsletters" / "2022" / "2022-03"
    (folder / "issue.md").write_text(
        "---\n" + "\n".join(f"{k}: {v}" for k, v in issue.items()) + "\n---\nInledning.\n",
        "utf-8",
    )
    (root / "campaigns" / "svartsjuka.md").write_text(
        "---\n" + "\n".join(f"{k}: {v}" for k, v in campaign.items()) + "\n---\nText.\n",
        "utf-8",
    )
    if spec["where"] == "config":
        section, key = spec["key"]
        config = root / "newsletter.toml"
        lines = config.read_text("utf-8").split("\n")
        current = ""
        for number, line in enumerate(lines):
            if line.startswith("["):
                current = line.strip("[]")
            elif current == section and line.startswith(f"{key} ="):
                lines[number] = f"{key} = {spec['value']}"
                break
        else:
            index = lines.index(f"[{section}]") + 1 if section else 0
            lines.insert(index, f"{key} = {spec['value']}")
        config.write_text("\n".join(lines), "utf-8")
    for name in spec["odd"]:
        path = folder / name
        if name == ".#nyhet.md":
            os.symlink("user@host.1234:1700000000", path)
        elif name == "mapp.md":
            path.mkdir()
        elif name.endswith(".md"):
            path.write_text('---\ntitle: "Udda namn"\ndate: 2022-03-11\n---\nText.\n', "utf-8")
        else:
            path.write_bytes(b"\x00\xff leftover")


@given(hostile_tree())
@example({"where": "item", "key": "delmal", "value": ALIAS_BOMB, "odd": []})
@example({"where": "issue", "key": "title", "value": '"Mars\\u2028april"', "odd": []})
@example({"where": "item", "key": "location", "value": '"Plats\\nX"', "odd": [".#nyhet.md"]})
@example({"where": "config", "key": ("sender", "name"), "value": '"A\\nB"', "odd": []})
@example({"where": "campaign", "key": "name", "value": '"A\\u0085B"', "odd": ["ny\ntext.md"]})
def test_a_hostile_tree_builds_or_reports_lines(spec):
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        root, out = Path(tmp) / "innehall", Path(tmp) / "public"
        write_hostile_tree(root, spec)
        result = CliRunner().invoke(
            cli, ["build", "--root", str(root), "--out", str(out)], catch_exceptions=True
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"traceback: {result.exception!r}\n{result.stderr}"
        )
        assert result.exit_code in (0, 1), result.output
        event(f"exit {result.exit_code}")
        bad = [line for line in result.stderr.splitlines() if not PROBLEM_LINE.match(line)]
        assert bad == [], f"stderr lines that are not path:line: message: {bad}"
        assert all(len(line) < 2_500 for line in result.stderr.splitlines())
        if result.exit_code == 1:
            assert result.stderr.strip(), "exit 1 without saying why"
            assert not out.exists(), "a failed build wrote output"
        else:
            check_outputs(out)
            published = {p.name for p in out.rglob("*")}
            assert not published & {".DS_Store", "Thumbs.db", "nyhet.md~", "#nyhet.md#"}


# --- memory: the peak of a whole build, measured in a child process ------------------------

PEAK = """
import resource, sys
from nyhetsbrev import schema
from nyhetsbrev.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="nyhetsbrev")
finally:
    usage = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    sys.stderr.write(f"PEAK_KB {usage}\\n")
"""
PEAK_LIMIT_MB = 250  # measured: a plain build of this tree peaks at 59 MB, the bombs at 34 MB


def peak_build(root: Path, out: Path) -> tuple[int, str, float]:
    """Build in a child process; return its exit code, its stderr and its peak RSS in MB."""
    import resource
    import subprocess
    import sys

    def limit() -> None:  # a regression fails with MemoryError, not by taking the machine
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    child = subprocess.run(
        [sys.executable, "-c", PEAK, "build", "--root", str(root), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )
    lines = child.stderr.splitlines()
    peak = next(int(line.split()[1]) for line in lines if line.startswith("PEAK_KB "))
    rest = "\n".join(line for line in lines if not line.startswith("PEAK_KB "))
    return child.returncode, rest, peak / 1024


HUGE = [
    ("item", "delmal", ALIAS_BOMB),
    ("item", "malgrupp", ALIAS_BOMB),
    ("issue", "order", ALIAS_BOMB),
    ("campaign", "name", ALIAS_BOMB),
    ("item", "title", json.dumps("å" * 100_000)),
    ("item", "date", json.dumps("9" * 1_000_000)),
]


@pytest.mark.parametrize("where,key,value", HUGE, ids=[f"{w}-{k}" for w, k, _ in HUGE])
def test_hostile_values_build_in_bounded_memory(where, key, value):
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        root, out = Path(tmp) / "innehall", Path(tmp) / "public"
        write_hostile_tree(root, {"where": where, "key": key, "value": value, "odd": []})
        code, stderr, peak = peak_build(root, out)
        print(f"peak {peak:.0f} MB for {where}.{key}")
        assert "Traceback" not in stderr, stderr[-2000:]
        assert code in (0, 1), stderr[-2000:]
        assert all(PROBLEM_LINE.match(line) for line in stderr.splitlines()), stderr[-2000:]
        assert len(stderr) < 10_000
        assert peak < PEAK_LIMIT_MB, f"peak {peak:.0f} MB"
