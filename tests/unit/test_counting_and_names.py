"""Swedish numbers, campaign names and the year's count, tested as functions."""

from __future__ import annotations

import pytest

from nyhetsbrev.content import campaign_names
from nyhetsbrev.numerals import capitalized, counted, decimal, in_words
from nyhetsbrev.year.plan import plan

from ..trees import Fresh

NAMES = {"svartsjuka": "Svartsjuka är inte romantiskt", "valj-att-sluta": "Välj att sluta"}


@pytest.mark.parametrize(
    ("n", "common", "words"),
    [(0, False, "noll"), (1, False, "ett"), (1, True, "en"), (12, False, "tolv"), (13, True, "13")],
)
def test_small_numbers_are_words_and_larger_ones_digits(n, common, words):
    assert in_words(n, common) == words
    assert capitalized(n, common) == words[0].upper() + words[1:]


def test_counts_and_decimals_in_status_lines():
    assert [counted(n, "text", "texter") for n in (0, 1, 6)] == ["0 texter", "1 text", "6 texter"]
    assert decimal(0.9) == "0,90" and decimal(2.05, 1) == "2,0" and decimal(12.345) == "12,35"


@pytest.mark.parametrize(
    ("written", "slug"),
    [
        ("svartsjuka", "svartsjuka"),
        ("Välj att sluta", "valj-att-sluta"),
        ("VALJ ATT SLUTA!", "valj-att-sluta"),
        ("valj-att-slut", None),
        ("", None),
    ],
)
def test_a_campaign_is_found_by_slug_or_name(written, slug):
    assert campaign_names.find(written, NAMES) == slug


def test_an_unknown_campaign_suggests_the_closest_and_lists_all():
    assert campaign_names.unknown("valj-att-slut", NAMES) == (
        'okänd kampanj "valj-att-slut" (menade du "valj-att-sluta" (Välj att sluta)?); '
        "skriv kampanjens filnamn eller namn. Kända kampanjer: "
        '"svartsjuka" (Svartsjuka är inte romantiskt), "valj-att-sluta" (Välj att sluta)'
    )
    assert campaign_names.suggestion("helt annat", NAMES) == ""
    assert campaign_names.choices({}) == "inga"


def test_plan_counts_ready_and_sent_issues_not_drafts(fresh: Fresh):
    for month in ("2022-04", "2022-05", "2022-06", "2022-09"):
        fresh.issue(month)
    fresh.issue("2022-11", status="draft")
    fresh.issue("2022-12", status="sent")
    year = plan(fresh.content(), 2022, gap=3)
    assert [row[:3] for row in year.rows] == [
        ("2022-03", "2022-03-15", "klart"),
        ("2022-04", "2022-04-15", "klart"),
        ("2022-05", "2022-05-15", "klart"),
        ("2022-06", "2022-06-15", "klart"),
        ("2022-09", "2022-09-15", "klart"),
        ("2022-11", "2022-11-15", "utkast"),
        ("2022-12", "2022-12-15", "skickat"),
    ]
    assert year.warning == ""  # six count: the draft does not
    assert year.gaps[0] == "Månader utan nummer: januari, februari, juli, augusti, oktober"
    fresh.issue("2022-12", status="draft")
    assert plan(fresh.content(), 2022, gap=3).warning == (
        "Under 2022 finns fem nummer som räknas; handlingsplanen anger 6–12 om året. "
        "Årets två utkast räknas inte förrän de har status ready."
    )
