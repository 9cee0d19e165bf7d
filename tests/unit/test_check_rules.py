"""`check` on fresh trees, called directly: each message with its path and line."""

from __future__ import annotations

import pytest

from nyhetsbrev.content.check import contrast

from ..trees import Fresh

ISSUE = "newsletters/2022/2022-03"


def errors(fresh: Fresh) -> list[str]:
    """Return check's problems that are not warnings; the content must fail to check."""
    content, _ = fresh.checked()
    assert content is None
    return [line for line in fresh.problems() if ": varning: " not in line]


def test_a_fresh_tree_checks_clean(fresh: Fresh):
    content, problems = fresh.checked()
    assert problems == []
    assert content is not None and [i.slug for i in content.items] == ["nyhet"]
    assert content.site.max_words == 250


def test_max_words_must_be_a_positive_integer(fresh: Fresh):
    config = fresh.config(check={"max_words": "många"})
    line = len(config.read_text("utf-8").splitlines())
    assert errors(fresh) == [
        f"newsletter.toml:{line}: [check] max_words ska vara ett heltal större än noll"
    ]


def test_a_link_to_a_file_that_does_not_exist_is_an_error(fresh: Fresh):
    fresh.item("bilaga", "Se [programmet](program.pdf).")
    assert errors(fresh) == [
        f'{ISSUE}/bilaga.md:6: filen "program.pdf" finns inte i {ISSUE}/ [missing-file]'
    ]


def test_a_campaign_colour_without_contrast_is_an_error(fresh: Fresh):
    fresh.campaign("svartsjuka", color="#ff9999")
    assert errors(fresh) == [
        "campaigns/svartsjuka.md:3: color #ff9999 har kontrast 2,05:1 mot "
        "vitt; text och knappar kräver minst 4,5:1 (WCAG AA): välj en mörkare "
        "nyans [contrast]"
    ]


@pytest.mark.parametrize(
    ("color", "ratio"), [("#ffffff", 1.0), ("#000000", 21.0), ("#767676", 4.54)]
)
def test_contrast_against_white(color, ratio):
    assert contrast(color) == pytest.approx(ratio, abs=0.005)


def test_an_event_ending_before_it_starts_is_an_error_at_its_end_line(fresh: Fresh):
    fresh.event("webbinarium", start="2022-03-31T09:00", end="2022-03-31T08:30")
    assert errors(fresh) == [
        f"{ISSUE}/webbinarium.md:7: end (2022-03-31 08:30) ska vara efter start (2022-03-31 09:00)"
    ]


def test_an_event_without_start_is_an_error_at_its_type_line(fresh: Fresh):
    fresh.event("webbinarium", start=None)
    assert errors(fresh) == [
        f"{ISSUE}/webbinarium.md:5: ett evenemang (type: event) behöver start, t.ex. "
        "start: 2022-04-21T09:00"
    ]


def test_an_unknown_campaign_is_reported_at_its_list_element(fresh: Fresh):
    fresh.campaign("valj-att-sluta", name="Välj att sluta")
    fresh.item("text", campaign=["Välj att sluta", "valj-att-slut"])
    assert errors(fresh) == [
        f'{ISSUE}/text.md:7: okänd kampanj "valj-att-slut" (menade du "valj-att-sluta" '
        "(Välj att sluta)?); skriv kampanjens filnamn eller namn. Kända kampanjer: "
        '"valj-att-sluta" (Välj att sluta)'
    ]
