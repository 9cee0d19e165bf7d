"""The built emails in a real browser: buttons, dark mode, text sizes and link names.

Every built email of the fixture opens once per colour scheme at phone width; all checks run
on that page, so the file stays fast.
"""

from __future__ import annotations

import pytest

ISSUES = ["2021/2021-11", "2022/2022-03", "2022/2022-10"]

pytestmark = pytest.mark.browser  # skipped, with one reason, where Chromium is missing

# The relative luminance and contrast of WCAG 2.2, and every visible text's colours.
TEXTS = """() => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const canvas = getComputedStyle(document.documentElement).colorScheme.includes('dark')
    && matchMedia('(prefers-color-scheme: dark)').matches ? [18, 18, 18] : [255, 255, 255];
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return canvas;
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el.getClientRects().length) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || el.closest('[style*="display:none"]')) continue;
    const fg = lum(parse(s.color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    out.push({text: n.textContent.trim().slice(0, 40), size: parseFloat(s.fontSize),
              ratio: Math.round(ratio * 100) / 100, bg: lum(background(el))});
  }
  return out;
}"""

BUTTONS = """() => [...document.querySelectorAll('a.button-link')].map((a) => {
  a.scrollIntoView({block: 'center'});
  const area = (a.closest('td.button') || a).getBoundingClientRect();
  const box = a.getBoundingClientRect();
  const points = [[area.left + 4, area.top + 4], [area.right - 4, area.top + 4],
                  [area.left + 4, area.bottom - 4], [area.right - 4, area.bottom - 4],
                  [(area.left + area.right) / 2, (area.top + area.bottom) / 2]];
  return {label: a.textContent.trim(), height: box.height,
          hits: points.map(([x, y]) => document.elementFromPoint(x, y)?.closest('a') === a)};
})"""

NAMES = """() => [...document.querySelectorAll('a[href]')].map((a) => ({
  name: (a.getAttribute('aria-label') || a.textContent).replace(/\\s+/g, ' ').trim(),
  text: a.textContent.replace(/\\s+/g, ' ').trim(),
  href: a.href,
}))"""


@pytest.fixture(scope="module")
def pages(built_basic, browser):
    """Return, per issue and colour scheme, what the checks need from the rendered email."""
    found = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 375, "height": 800}, is_mobile=True, color_scheme=scheme
        )
        context.route(
            "**/*",
            lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort(),
        )
        page = context.new_page()
        for issue in ISSUES:
            page.goto((built_basic / issue / "email.html").as_uri())
            found[issue, scheme] = {
                "texts": page.evaluate(TEXTS),
                "buttons": page.evaluate(BUTTONS),
                "names": page.evaluate(NAMES),
                "background": page.evaluate(
                    "getComputedStyle(document.querySelector('[role=article]')).backgroundColor"
                ),
            }
        context.close()
    return found


@pytest.mark.parametrize("issue", ISSUES)
def test_the_whole_button_is_the_link_and_44_px_tall(pages, issue):
    buttons = pages[issue, "light"]["buttons"]
    if issue != "2021/2021-11":
        assert buttons, "the fixture's issue has a button"
    for button in buttons:
        assert all(button["hits"]), button
        assert button["height"] >= 44, button


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("issue", ISSUES)
def test_every_text_is_14_px_or_more_and_meets_4_5_to_1(pages, issue, scheme):
    texts = pages[issue, scheme]["texts"]
    assert texts
    small = [t for t in texts if t["size"] < 14]
    assert not small, small
    faint = [t for t in texts if t["ratio"] < 4.5]
    assert not faint, faint


@pytest.mark.parametrize("issue", ISSUES)
def test_dark_scheme_has_a_dark_background(pages, issue):
    import re

    r, g, b = (int(v) for v in re.findall(r"\d+", pages[issue, "dark"]["background"])[:3])
    assert max(r, g, b) < 64, pages[issue, "dark"]["background"]
    assert all(t["bg"] < 0.2 or t["ratio"] >= 4.5 for t in pages[issue, "dark"]["texts"])
    light = pages[issue, "light"]["background"]
    assert min(int(v) for v in re.findall(r"\d+", light)[:3]) > 200, light


@pytest.mark.parametrize("issue", ISSUES)
def test_no_two_links_share_a_name_with_different_targets(pages, issue):
    targets: dict[str, set[str]] = {}
    for link in pages[issue, "light"]["names"]:
        # WCAG 2.5.3: the accessible name starts with the visible text.
        assert link["name"].startswith(link["text"]), link
        targets.setdefault(link["name"].casefold(), set()).add(link["href"])
    shared = {name: hrefs for name, hrefs in targets.items() if len(hrefs) > 1}
    assert not shared, shared
