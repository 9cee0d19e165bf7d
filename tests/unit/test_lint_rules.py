"""Lint rules on fresh trees, through `lint` and `check` directly: no CLI, no rendering.

The findings that need the rendered message (preheader, size, an empty issue) stay in
tests/test_lint.py, where `check` runs as a coordinator runs it.
"""

from __future__ import annotations

from ..trees import Fresh

ISSUE = "newsletters/2022/2022-03"
LINK_TEXT = (
    "säger inte vart länken leder: låt länktexten säga vad läsaren hittar där, "
    't.ex. "programmet för konferensen" [link-text]'
)


def test_a_fresh_tree_has_no_lint_findings(fresh: Fresh):
    assert fresh.lint_lines() == []


def test_generic_link_texts(fresh: Fresh):
    fresh.item(
        "lank",
        "Programmet finns. [Klicka här](https://www.example.se/a).\n"
        "Anmälan [här](https://www.example.se/b) och [läs mer…](https://www.example.se/c).\n\n"
        "Se [programmet för konferensen](https://www.example.se/d).",
    )
    assert fresh.lint_lines() == [
        f'{ISSUE}/lank.md:6: varning: länktexten "Klicka här" {LINK_TEXT}',
        f'{ISSUE}/lank.md:7: varning: länktexten "här" {LINK_TEXT}',
        f'{ISSUE}/lank.md:7: varning: länktexten "läs mer…" {LINK_TEXT}',
    ]


def test_image_alt_texts(fresh: Fresh):
    fresh.item(
        "bilder",
        "![](https://www.example.se/a.png)\n\n![IMG_2041.jpg](https://www.example.se/b.jpg)\n\n"
        "![Bild](https://www.example.se/c.png)\n\n"
        "![Fyra personer vid ett bord](https://www.example.se/d.png)",
        image="https://www.example.se/e.png",
        image_alt="foto",
    )
    assert fresh.lint_lines() == [
        f'{ISSUE}/bilder.md:6: varning: alt-texten "foto" säger inget om bilden: beskriv vad '
        "den visar [image-alt]",
        f'{ISSUE}/bilder.md:8: varning: bilden "https://www.example.se/a.png" saknar alt-text: '
        "beskriv vad den visar inom hakparenteserna, ![Vad bilden visar]"
        "(https://www.example.se/a.png) [image-alt]",
        f'{ISSUE}/bilder.md:10: varning: alt-texten "IMG_2041.jpg" ser ut som ett filnamn: '
        "beskriv vad bilden visar [image-alt]",
        f'{ISSUE}/bilder.md:12: varning: alt-texten "Bild" säger inget om bilden: beskriv vad '
        "den visar [image-alt]",
    ]


def test_decorative_front_matter_image_is_fine(fresh: Fresh):
    fresh.item("dekor", image="https://www.example.se/e.png", image_alt="")
    assert fresh.lint_lines() == []


def test_heading_order_in_an_item_an_event_and_the_intro(fresh: Fresh):
    fresh.item("rubriker", "# Stor\n\n### Rätt\n\n##### Hopp\n\n## Lika stor")
    fresh.event("konferens", "Text.\n\n### Program\n\n#### Förmiddag")
    fresh.issue(body="Välkommen.\n\n### Hoppar från h1")
    assert fresh.lint_lines() == [
        f"{ISSUE}/issue.md:8: varning: rubriken hoppar från nivå 1 till 3: hoppa inte över "
        "nivåer, använd ## [heading-order]",
        f"{ISSUE}/konferens.md:12: varning: rubriken på nivå 3 (###) är lika stor som eller "
        "större än rubriken den står under (h3): använd #### [heading-order]",
        f"{ISSUE}/rubriker.md:6: varning: rubriken på nivå 1 (#) är lika stor som eller större "
        "än rubriken den står under (h2): använd ### [heading-order]",
        f"{ISSUE}/rubriker.md:10: varning: rubriken hoppar från nivå 3 till 5: hoppa inte över "
        "nivåer, använd #### [heading-order]",
        f"{ISSUE}/rubriker.md:12: varning: rubriken på nivå 2 (##) är lika stor som eller större "
        "än rubriken den står under (h2): använd ### [heading-order]",
    ]


def test_a_date_outside_the_issue_year(fresh: Fresh):
    fresh.item("gammal", date="2021-12-30")
    assert fresh.lint_lines() == [
        f"{ISSUE}/gammal.md:3: varning: date 2021-12-30 ligger utanför numrets år 2022: "
        "kontrollera årtalet [date-year]",
    ]


def test_items_over_the_word_limit_and_the_configurable_limit(fresh: Fresh):
    fresh.item("lang", "Ord " * 251)
    expected = (
        f"{ISSUE}/lang.md:6: varning: texten har 251 ord, fler än 250: korta den eller "
        "länka till en längre version (gränsen ändras med [check] max_words i "
        "newsletter.toml) [long-item]"
    )
    assert fresh.lint_lines() == [expected]
    fresh.config(check={"max_words": 300})
    assert fresh.lint_lines() == []
    fresh.config(check={"max_words": 100})
    assert fresh.lint_lines() == [expected.replace("250", "100")]


def test_campaign_logo_alt_and_body(fresh: Fresh):
    fresh.campaign(
        "svartsjuka",
        "Kampanjen.\n\n[Läs mer](https://www.example.se/svartsjuka)",
        logo="https://www.example.se/logo.png",
        logo_alt="logotyp",
    )
    assert fresh.lint_lines() == [
        'campaigns/svartsjuka.md:6: varning: alt-texten "logotyp" säger inget om bilden: '
        "beskriv vad den visar [image-alt]",
        f'campaigns/svartsjuka.md:10: varning: länktexten "Läs mer" {LINK_TEXT}',
    ]
