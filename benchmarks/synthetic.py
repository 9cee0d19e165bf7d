"""Synthetic content trees of any size, for the benchmark and the fault tests.

A tree has 12 issues a year with 15 items each: every fifth item is an event, every
seventh carries an image, items rotate through three campaigns. The text is plain Swedish
prose of a realistic length. The same arguments give the same files.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

ISSUES_PER_YEAR = 12
ITEMS_PER_ISSUE = 15
FIRST_YEAR = 2010
CAMPAIGNS = {
    "svartsjuka": ("Svartsjuka är inte romantiskt", "#8a1538"),
    "valj-att-sluta": ("Välj att sluta", "#1d4f91"),
    "kop-av-sex": ("Köp av sex är ett brott", "#3d5a1e"),
}
CONFIG = """\
title = "Nyhetsbrevet"
organisation = "Länsstyrelsen i Jönköpings län"
base_url = "https://nyhetsbrev.example.se"
language = "sv"

[sender]
name = "Länsstyrelsen i Jönköpings län"
address = "nyhetsbrev@example.se"
reply_to = "svar@example.se"
postal = "Box 1, 551 86 Jönköping"
reason = "Du får brevet eftersom du arbetar mot mäns våld mot kvinnor i länet."

[unsubscribe]
url = "https://nyhetsbrev.example.se/avsluta"
mailto = "avsluta@example.se"

[footer]
lines = ["Kvinnofridslinjen 020-50 50 50", "Välj att sluta 020-555 666"]
"""
PARAGRAPH = (
    "Länsstyrelsen samordnar det regionala arbetet mot mäns våld mot kvinnor. "
    "Under året erbjuder vi utbildningar, webbinarier och nätverksträffar för "
    "socialtjänst, hälso- och sjukvård, polis och ideella organisationer i länet."
)


def png(width: int, height: int) -> bytes:
    """Return a valid grey PNG image of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\xc8" * width
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def write_tree(root: Path, years: int, first_year: int = FIRST_YEAR) -> int:
    """Write a content tree with `years` years of issues under root; return the item count."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "newsletter.toml").write_text(CONFIG, "utf-8")
    (root / "campaigns").mkdir(exist_ok=True)
    for slug, (name, color) in CAMPAIGNS.items():
        (root / "campaigns" / f"{slug}.md").write_text(
            f'---\nname: {name}\ncolor: "{color}"\nurl: https://www.example.se/{slug}\n---\n'
            f"{name} är en av länets kampanjer. Beställ material och sprid budskapet.\n",
            "utf-8",
        )
    image = png(600, 300)
    count = 0
    for year in range(first_year, first_year + years):
        for month in range(1, ISSUES_PER_YEAR + 1):
            count += _issue(
                root / "newsletters" / str(year) / f"{year}-{month:02d}", year, month, image
            )
    return count


def _issue(folder: Path, year: int, month: int, image: bytes) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "issue.md").write_text(
        f"---\ndate: {year}-{month:02d}-15\nstatus: sent\n---\n"
        "Välkommen till månadens nummer med nyheter, kampanjer och evenemang.\n",
        "utf-8",
    )
    (folder / "bild.png").write_bytes(image)
    for n in range(1, ITEMS_PER_ISSUE + 1):
        (folder / f"text-{n:02d}.md").write_text(_item(year, month, n), "utf-8")
    return ITEMS_PER_ISSUE


def _item(year: int, month: int, n: int) -> str:
    slug = list(CAMPAIGNS)[n % len(CAMPAIGNS)]
    meta = [
        f"title: Nyhet {n} i numret {year}-{month:02d} om samverkan i länet",
        f"date: {year}-{month:02d}-{min(n, 14):02d}",
        f"id: {year}-{month:02d}-{n:02d}",
        f"campaign: {slug}" if n % 2 else "",
        f"delmal: [{n % 5 + 1}]",
        "malgrupp: [Socialtjänst, Hälso- och sjukvård]",
        f"link: https://www.example.se/nyhet/{year}/{month}/{n}" if n % 3 == 0 else "",
    ]
    if n % 7 == 0:
        meta += ["image: bild.png", "image_alt: En grå ruta som står för en bild"]
    if n % 5 == 0:
        meta += [
            "type: event",
            f"start: {year}-{month:02d}-20T09:00",
            f"end: {year}-{month:02d}-20T12:00",
            "location: Jönköping, Länsstyrelsen",
            f"registration: https://www.example.se/anmalan/{year}-{month}-{n}",
        ]
    body = (
        f"{PARAGRAPH}\n\n- utbildning för **yrkesverksamma**\n- stöd till "
        f"[kommunerna](https://www.example.se/kommun/{n})\n\n{PARAGRAPH}\n"
    )
    return "---\n" + "\n".join(m for m in meta if m) + "\n---\n" + body
