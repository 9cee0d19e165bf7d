"""The reader's short cuts give what the long way gives: YAML values, folder listings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from nyhetsbrev.content import load
from nyhetsbrev.errors import Problem


def constructed(source: str) -> object:
    """Return what PyYAML's own BaseLoader constructs from source (the long way)."""
    loader = yaml.BaseLoader(source)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


SOURCES = [
    "title: Hej\ndate: 2022-03-15",
    "title: Första\ntitle: Andra",  # a later key replaces an earlier one (reported apart)
    "delmal: [1, 5]\nmalgrupp:\n  - Kommuner\n  - 'Regionen'",
    'n: !!int 5\nt: !egen "x"\nl: !!seq [a, !!str b]',  # tags are not obeyed
    "tom:\nlista: []\nnull: ~\nja: yes",
    'radbrytning: "a\\nb"\nvikt: >\n  en\n  två\n',
    "tabell: {a: b}\nlistor: [[a], b]",  # another shape: the loader's own constructor
    "? [a, b]\n: c",  # a key that is a list: the loader's error
    "- a\n- b",  # not a mapping
    "ankare: &a x\nalias: *a",
    "",
]


@pytest.mark.parametrize("source", SOURCES)
def test_front_matter_values_are_the_loaders(source):
    try:
        expected = constructed(source)
    except yaml.YAMLError as e:
        with pytest.raises(type(e)):
            load.parse_yaml(source)
        return
    try:
        node, values = load.parse_yaml(source)
    except load.AliasError:
        assert "*" in source
        return
    assert values == ({} if expected is None else expected)
    assert repr(values) == repr({} if expected is None else expected)  # lists stay lists


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@given(st.lists(st.tuples(TEXT, st.one_of(TEXT, st.lists(TEXT, max_size=3))), max_size=5))
def test_dumped_front_matter_reads_as_the_loader_reads_it(pairs):
    source = "\n".join(
        yaml.safe_dump({key: value}, allow_unicode=True, width=1000).rstrip("\n")
        for key, value in pairs
    )
    try:
        expected = constructed(source)
    except yaml.YAMLError:
        return
    values = load.parse_yaml(source)[1]
    assert values == ({} if expected is None else expected)


def general(root: Path, folder: Path) -> tuple[load.RawIssue, list[Problem]]:
    problems: list[Problem] = []
    return load._read_issue(root, folder, problems), problems


def listed(root: Path, folder: Path) -> tuple[load.RawIssue, list[Problem]]:
    problems: list[Problem] = []
    return load.read_issue(root, folder, problems), problems


FRONT = "---\ntitle: T\n---\nText.\n"


def write(folder: Path, files: dict[str, str | bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, "utf-8")


FOLDERS: dict[str, dict[str, str | bytes]] = {
    "plain": {"issue.md": FRONT, "b.md": FRONT, "a.md": FRONT, "bild.png": b"\x89PNG\r\n\x1a\n"},
    "leftovers": {
        "issue.md": FRONT,
        ".#a.md": FRONT,
        "a.md~": FRONT,
        "#a.md#": FRONT,
        "Thumbs.db": b"x",
        ".DS_Store": b"x",
        "a.MD": FRONT,
        "b.pdf": b"%PDF-1.4",
    },
    # Problems in issue.md and in a file named before it: issue.md's come first.
    "problems": {"issue.md": b"\xff---\n", "a.md": "utan front matter", "b.md": "---\nx: [\n"},
    "control": {"issue.md": "---\ntitle: a\x01b\n---\n", "c.md": '---\nt: "\\x02"\n---\n'},
    "no-issue": {"a.md": FRONT},
    "subfolder": {"issue.md": FRONT, "bilder/a.png": b"\x89PNG\r\n\x1a\n", "a.md": FRONT},
    "empty": {},
}


@pytest.mark.parametrize("name", FOLDERS)
def test_a_folder_read_in_one_listing_is_read_as_the_general_way_reads_it(tmp_path, name):
    root = tmp_path.resolve()
    folder = root / "newsletters" / "2022" / "2022-03"
    write(folder, FOLDERS[name])
    assert (load._plain_folder(root, folder) is None) == (name == "subfolder")
    raw, problems = listed(root, folder)
    assert (raw, problems) == general(root, folder)
    assert list(raw.files.items()) == list(general(root, folder)[0].files.items())


@pytest.mark.parametrize("outside", [False, True])
def test_a_folder_with_a_link_is_read_the_general_way(tmp_path, outside):
    root = tmp_path.resolve()
    folder = root / "newsletters" / "2022" / "2022-03"
    write(folder, {"issue.md": FRONT})
    write(root / "annat", {"a.md": FRONT})
    os.symlink(root / "annat" / "a.md", folder / "a.md")
    if outside:
        os.symlink(tmp_path.parent, folder / "ut.md")  # a folder outside: not a file
    assert load._plain_folder(root, folder) is None
    raw, problems = listed(root, folder)
    assert (raw, problems) == general(root, folder)
    assert [d.path for d in raw.items] == ["annat/a.md"]  # where the link leads, as before


def test_a_tag_someone_gave_a_constructor_is_obeyed():
    classes = [c for c in (getattr(yaml, "CBaseLoader", None), yaml.BaseLoader) if c]
    saved = [c.__dict__.get("yaml_constructors") for c in classes]
    try:
        for c in classes:
            c.add_constructor("!versaler", lambda loader, node: node.value.upper())
        assert load.parse_yaml("t: !versaler hej")[1] == {"t": "HEJ"}
    finally:
        for c, constructors in zip(classes, saved, strict=True):
            if constructors is None:
                del c.yaml_constructors
            else:
                c.yaml_constructors = constructors
    assert load.parse_yaml("t: !versaler hej")[1] == {"t": "hej"}
