"""The recipient's whole path in Debian's Chromium: the archive's form, the confirmation mail,
the confirm button, a list send, "Avsluta prenumeration" and a second send that skips them.
Every service page is checked with axe (WCAG 2.2 AA)."""

from __future__ import annotations

import re
import shutil

import pytest

from .conftest import FIXTURES
from .test_service import Service, Smtp, configure, free_port, link, send_subscribers

WCAG = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]

pytestmark = pytest.mark.browser  # skipped, with one reason, where Chromium is missing


@pytest.fixture
def setup(tmp_path, run):
    smtp = Smtp()
    tree = tmp_path / "innehall"
    shutil.copytree(FIXTURES / "basic", tree, ignore=shutil.ignore_patterns(".nyhetsbrev"))
    port = free_port()
    configure(tree, smtp.port, port)
    built = run("build", "--root", tree, "--out", tmp_path / "public")
    assert built.exit_code == 0, built.output
    service = Service(tree, port, tmp_path / "tjanst.log").start()
    yield smtp, service, tmp_path / "public"
    service.kill()
    smtp.stop()


@pytest.fixture
def checker(new_page):
    """A page with JavaScript on, where axe checks copies of the pages seen without it."""
    return new_page(viewport={"width": 1000, "height": 900})


def axe_clean(page, checker=None) -> None:
    from axe_playwright_python.sync_playwright import Axe

    target = page
    if checker is not None:
        checker.set_content(page.content())
        target = checker
    results = Axe().run(target, options={"runOnly": {"type": "tag", "values": WCAG}})
    assert results.violations_count == 0, f"{page.url}:\n{results.generate_report()}"


def test_sign_up_confirm_receive_unsubscribe_and_be_skipped(browser, setup, checker):
    from playwright.sync_api import expect

    smtp, service, public = setup
    address = "webbläsare@example.se".replace("ä", "a")
    context = browser.new_context(
        viewport={"width": 1000, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()

    def arrived(heading: str, status: str) -> None:
        """The page shows heading, passes axe, and the address has that status."""
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        axe_clean(page, checker)
        assert service.status(address) == status

    try:
        # The archive's "Prenumerera" section posts to the service.
        page.goto((public / "index.html").as_uri())
        page.get_by_label("E-postadress", exact=True).fill(address)
        page.get_by_label("Namn", exact=True).fill("Wera Webb")
        page.get_by_role("button", name="Prenumerera").click()
        arrived("Kolla din e-post", "pending")
        assert page.url == service.url + "/"

        (mail,) = smtp.inbox.wait_for(address)
        page.goto(link(mail, "bekrafta"))
        arrived("Bekräfta prenumerationen", "pending")
        page.get_by_role("button", name="Bekräfta prenumerationen").click()
        arrived("Tack, nu prenumererar du", "active")
        assert context.cookies() == []

        sent = send_subscribers(service.tree)
        assert sent.returncode == 0, sent.stderr
        (issue,) = [m for m in smtp.inbox.to(address) if "Bekräfta" not in m["Subject"]]
        page.set_content(issue.get_body(("html",)).get_content())
        page.get_by_role("link", name="Avsluta prenumeration").click()
        arrived("Avsluta prenumeration", "active")
        assert re.fullmatch(rf"{re.escape(service.url)}/avsluta/[\w-]{{64}}", page.url)
        page.get_by_role("button", name="Avsluta prenumeration").click()
        arrived("Prenumerationen är avslutad", "unsubscribed")

        received = len(smtp.inbox.to(address))
        again = send_subscribers(service.tree)
        assert again.returncode == 0, again.stderr
        assert len(smtp.inbox.to(address)) == received
        assert "1 avregistrerad" in again.stdout or "0 skickade" in again.stdout
    finally:
        context.close()


def test_errors_and_the_privacy_notice_are_accessible(browser, setup):
    from playwright.sync_api import expect

    _, service, _ = setup
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(service.url + "/")
        axe_clean(page)
        page.get_by_label("E-postadress", exact=True).fill("inte-en-adress")
        page.get_by_role("button", name="Prenumerera").click()
        expect(page.get_by_role("alert")).to_contain_text("@ saknas")
        expect(page.get_by_label("E-postadress", exact=True)).to_have_attribute(
            "aria-invalid", "true"
        )
        axe_clean(page)
        assert service.count() == 0
        page.get_by_role("link", name="hur vi behandlar dina personuppgifter").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Så behandlar vi dina personuppgifter"
        )
        axe_clean(page)
        page.goto(service.url + "/avsluta/" + "A" * 64)
        expect(page.get_by_role("heading", level=1)).to_have_text("Länken gäller inte")
        axe_clean(page)
    finally:
        context.close()
