"""Every declared field is exercised: the checks, the unknown-key warning and the scaffold all
come from nyhetsbrev/schema.py, so a field declared there and forgotten elsewhere fails here.

These run the library on small trees (no CLI, no build): load, check and parse_config.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import tomllib
import uuid
from pathlib import Path

import pytest

from nyhetsbrev import schema
from nyhetsbrev.content import scaffold
from nyhetsbrev.content.check import check
from nyhetsbrev.content.config import parse_config
from nyhetsbrev.content.load import load
from nyhetsbrev.errors import ERROR, WARNING, Problem

from .conftest import FIXTURES

ITEM = "newsletters/2023/2023-03/text.md"
ISSUE = "newsletters/2023/2023-03/issue.md"
CAMPAIGN = "campaigns/kampanj.md"
# The smallest valid document of each kind: its required fields.
VALID = {
    ITEM: {"title": "Rubrik", "date": "2023-03-10"},
    ISSUE: {"date": "2023-03-15"},
    CAMPAIGN: {"name": "Kampanj"},
}
DECLARED = {ITEM: schema.ITEM, ISSUE: schema.ISSUE, CAMPAIGN: schema.CAMPAIGN}
FRONT_MATTER = [
    pytest.param(rel, field, id=f"{rel.rsplit('/', 1)[-1]}-{field.key}")
    for rel, fields in DECLARED.items()
    for field in fields
]


def checked(tmp_path: Path, rel: str, meta: dict[str, str]) -> tuple[list[Problem], int]:
    """Check a tree whose file rel has meta (YAML source per key, in order).

    Return every problem, and the line of meta's last key.
    """
    root = tmp_path / "innehall"
    root.mkdir()
    (root / "newsletter.toml").write_bytes((FIXTURES / "basic" / "newsletter.toml").read_bytes())
    for path, valid in VALID.items():
        written = meta if path == rel else valid
        front = "".join(f"{key}: {value}\n" for key, value in written.items())
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(f"---\n{front}---\nEn text.\n", "utf-8")
    _, problems = check(load(root))
    return problems, 1 + len(meta)


def at(problems: list[Problem], path: str, line: int, severity: str = ERROR) -> list[str]:
    return [p.message for p in problems if (p.path, p.line, p.severity) == (path, line, severity)]


def test_the_smallest_documents_are_valid(tmp_path):
    problems, _ = checked(tmp_path, ITEM, VALID[ITEM])
    assert not [p for p in problems if p.severity == ERROR], problems


@pytest.mark.parametrize("rel, field", FRONT_MATTER)
def test_each_front_matter_field_refuses_a_value_of_the_wrong_kind(tmp_path, rel, field):
    """A table is no field's kind: each declared field is read, and the value refused."""
    meta = {k: v for k, v in VALID[rel].items() if k != field.key} | {field.key: "{a: 1}"}
    problems, line = checked(tmp_path, rel, meta)
    messages = at(problems, rel, line)
    assert any(message.startswith(f"{field.key} ") for message in messages), problems


@pytest.mark.parametrize("rel, field", FRONT_MATTER)
def test_each_front_matter_key_misspelt_is_warned_with_the_right_one(tmp_path, rel, field):
    wrong = field.key + field.key[-1]
    problems, line = checked(tmp_path, rel, VALID[rel] | {wrong: '"x"'})
    assert at(problems, rel, line, WARNING) == [
        f'okänt fält "{wrong}" (menade du "{field.key}"?); det används inte'
    ]


@pytest.mark.parametrize("rel, field", [p for p in FRONT_MATTER if p.values[1].required])
def test_each_required_front_matter_field_is_required(tmp_path, rel, field):
    meta = {k: v for k, v in VALID[rel].items() if k != field.key}
    problems, _ = checked(tmp_path, rel, meta)
    assert f"{field.key} saknas{field.hint}" in [p.message for p in problems if p.path == rel]


@pytest.mark.parametrize(
    "rel, field",
    [p for p in FRONT_MATTER if p.values[1].choices],
)
def test_each_choice_lists_its_values_with_their_meaning(tmp_path, rel, field):
    problems, line = checked(tmp_path, rel, VALID[rel] | {field.key: "fel"})
    assert at(problems, rel, line) == [
        f'{field.key} "fel" måste vara {schema.one_of(field.choices)}'
    ]


@pytest.mark.parametrize("rel, field", [p for p in FRONT_MATTER if p.values[1].required_with])
def test_each_companion_field_is_required_with_the_one_it_describes(tmp_path, rel, field):
    """An image or logo without its alt text: reported at the image, with what to write."""
    meta = VALID[rel] | {field.required_with: "https://www.example.se/bild.png"}
    problems, line = checked(tmp_path, rel, meta)
    assert at(problems, rel, line) == [f"{field.key} saknas{field.hint}"]
    assert field.hint.startswith(": beskriv ")


# -- the scaffold: `new` writes every field, with its comment ------------------------------


def scaffolds(tmp_path: Path, monkeypatch) -> dict[str, tuple[schema.Field, ...]]:
    """Return the text of each file `new` writes (an item as an event), with its fields."""
    monkeypatch.setattr(uuid, "uuid4", lambda: "00000000-0000-0000-0000-000000000000")
    root = tmp_path / "ny"
    root.mkdir()
    issue = scaffold.new_issue(root, "2023-03")
    campaign = scaffold.new_campaign(root, "kampanj")
    item = scaffold.new_item(root, "2023-03", "En text", campaign="kampanj", event=True)
    return {
        issue.read_text("utf-8"): schema.ISSUE,
        campaign.read_text("utf-8"): schema.CAMPAIGN,
        item.read_text("utf-8"): schema.ITEM,
    }


def test_the_scaffold_writes_every_declared_field_with_a_value_or_an_example(tmp_path, monkeypatch):
    for text, fields in scaffolds(tmp_path, monkeypatch).items():
        front = text.split("---\n")[1]
        written = re.findall(r"(?m)^(?:# )?(\w+): (.+)$", front)
        assert [key for key, _ in written] == list(schema.keys(fields)), text
        for field in fields:
            comment = "".join(f"# {line}\n" for line in field.comment.split("\n") if line)
            assert re.search(rf"(?m)^{re.escape(comment)}(# )?{field.key}: ", front), field.key


def test_the_scaffold_writes_the_declared_default_and_placeholders(tmp_path, monkeypatch):
    issue, campaign, item = scaffolds(tmp_path, monkeypatch)
    assert "\nstatus: draft\n" in issue
    assert '\ncolor: "#1d4f91"\n' in campaign
    assert f"\nlocation: {json.dumps(schema.LOCATION, ensure_ascii=False)}\n" in item
    assert schema.PLACEHOLDER_FIELDS == {
        "location": schema.LOCATION,
        "image_alt": schema.IMAGE_ALT_EXAMPLE,
        "preheader": schema.PREHEADER_EXAMPLE,
    }


# -- newsletter.toml -----------------------------------------------------------------------

BASE = tomllib.loads((FIXTURES / "basic" / "newsletter.toml").read_text("utf-8"))
# A valid value for each kind, and for the settings whose rules ask more than their kind.
SAMPLE: dict[str, object] = {
    "text": "x",
    "texts": ["x"],
    "date": dt.date(2026, 10, 1),
    "url": "https://example.se",
    "integer": 5,
    "path": "fil",
}
SPECIAL: dict[tuple[str, str], object] = {
    ("bounces", "address"): "studs@example.se",
    ("accessibility", "feedback"): "mailto:svar@example.se",
    ("accessibility", "status"): "delvis förenlig",
}
SETTINGS = [
    pytest.param(section, field, id=f"[{section}] {field.key}" if section else field.key)
    for section, fields in schema.SETTINGS.items()
    for field in fields
]


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def toml(data: dict[str, object]) -> str:
    """Return data as newsletter.toml: top-level values first, then one table each."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def config_with(section: str, key: str, value: object) -> tuple[list[Problem], int]:
    """Parse the fixture's settings with [section] key = value (and the table's required
    settings); return the problems and the line of key."""
    data = copy.deepcopy(BASE)
    table = data if section == "" else data.setdefault(section, {})
    for field in schema.SETTINGS[section]:
        if field.required and field.key not in table:
            table[field.key] = SPECIAL.get((section, field.key), SAMPLE.get(field.kind))
    table.pop(key, None)
    table[key] = value
    text = toml(data)
    _, problems = parse_config(text, FIXTURES / "basic")
    current, line = "", 0
    for number, raw in enumerate(text.split("\n"), 1):
        if raw.startswith("["):
            current = raw.strip("[]")
        elif current == section and raw.startswith(f"{key} = "):
            line = number
    return problems, line


def name(section: str, key: str) -> str:
    return f"[{section}] {key}" if section else key


def test_the_fixture_settings_with_every_table_are_valid():
    for section, fields in schema.SETTINGS.items():
        for field in fields:
            if field.required:
                value = SPECIAL.get((section, field.key), SAMPLE.get(field.kind))
                problems, _ = config_with(section, field.key, value)
                assert not [p for p in problems if p.severity == ERROR], (section, problems)


@pytest.mark.parametrize("section, field", SETTINGS)
def test_each_setting_refuses_a_value_of_the_wrong_kind(section, field):
    """true is no setting's kind: each declared setting is read, and the value refused."""
    problems, line = config_with(section, field.key, True)
    messages = [p.message for p in problems if p.line == line and p.severity == ERROR]
    assert any(m.startswith(name(section, field.key) + " ") for m in messages), problems


@pytest.mark.parametrize("section, field", SETTINGS)
def test_each_setting_misspelt_is_warned_with_the_right_one(section, field):
    wrong = field.key + field.key[-1]
    problems, line = config_with(section, wrong, "x")
    assert [p.message for p in problems if p.line == line and p.severity == WARNING] == [
        f'okänd inställning "{name(section, wrong)}" (menade du "{field.key}"?)'
    ]


@pytest.mark.parametrize(
    "section, field",
    [p for p in SETTINGS if p.values[1].required],
)
def test_each_required_setting_is_required(section, field):
    data = copy.deepcopy(BASE)
    table = data if section == "" else data.setdefault(section, {})
    for other in schema.SETTINGS[section]:
        if other.required and other.key not in table:
            table[other.key] = SPECIAL.get((section, other.key), SAMPLE.get(other.kind))
    table.pop(field.key, None)
    if not table:  # an empty table is one not written
        table["user"] = "x"
    _, problems = parse_config(toml(data), FIXTURES / "basic")
    assert f"{name(section, field.key)} saknas" in [p.message for p in problems]


def test_a_companion_setting_is_required_with_the_one_it_describes(tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a logo must be a real image
    companions = [
        (s, f) for s, fields in schema.SETTINGS.items() for f in fields if f.required_with
    ]
    assert companions, "no setting goes with another"
    for section, field in companions:
        data = copy.deepcopy(BASE)
        data.setdefault(section, {})[field.required_with] = "logo.png"
        _, problems = parse_config(toml(data), tmp_path)
        assert [p.message for p in problems] == [f"{name(section, field.key)} saknas"]


@pytest.mark.parametrize(
    "section, field",
    [p for p in SETTINGS if p.values[1].kind == "integer"],
)
def test_each_number_setting_has_its_minimum(section, field):
    problems, line = config_with(section, field.key, field.minimum - 1)
    assert [p.message for p in problems if p.line == line][0].startswith(
        f"{name(section, field.key)} ska vara ett heltal "
    )


@pytest.mark.parametrize(
    "section, field",
    [p for p in SETTINGS if p.values[1].choices],
)
def test_each_choice_setting_lists_its_values_with_their_meaning(section, field):
    problems, line = config_with(section, field.key, "fel")
    assert [p.message for p in problems if p.line == line] == [
        f'{name(section, field.key)} "fel" måste vara {schema.one_of(field.choices)}'
    ]
