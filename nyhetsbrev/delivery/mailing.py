"""A mailing: the policy of a test send and of a list send, over the transport in `send`.

Who gets the issue (a list file or the register, minus the suppressed), which unsubscribe
links they get, the secrets, the lock that lets one run at a time hold the ledger, the web
check, the dry run and what a finished run leaves behind (status: sent). The command line
only parses options, shows progress and prints the returned report; warnings that must
appear before a later refusal are handed to `warn` as they arise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from nyhetsbrev.content.models import Content, Issue, Site
from nyhetsbrev.delivery import ledger as ledgers
from nyhetsbrev.delivery import send as delivery
from nyhetsbrev.delivery.send import ListPlan, ListReport, Outcome, Policy
from nyhetsbrev.errors import LINE_BREAKS, NyhetsbrevError
from nyhetsbrev.subscriptions.recipients import normalize, unsubscribe_url

if TYPE_CHECKING:
    from nyhetsbrev.subscriptions.subscribers import Audience as RegisterAudience
    from nyhetsbrev.subscriptions.subscribers import StillActive

Warn = Callable[[str], None]
# Given the number of messages, a context in which each call marks one message done.
Progress = Callable[[int], AbstractContextManager[Callable[[], None]]]


@dataclass(frozen=True)
class Options:
    """How a send runs, as the command line gives it."""

    policy: Policy = field(default_factory=Policy)
    dry_run: bool = False
    resend_uncertain: bool = False
    skip_web_check: bool = False


@dataclass(frozen=True)
class Line:
    """One line of a report; `error` lines go to standard error."""

    text: str
    error: bool = False


@dataclass(frozen=True)
class Report:
    """What a send did: lines to print, and the closing error when it did not finish."""

    lines: list[Line]
    failure: str = ""  # why the run ends with exit status 1 ("" when it does not)
    outcomes: list[Outcome] = field(default_factory=list)


def start(root: Path, issue_id: str, warn: Warn) -> tuple[Content, Issue]:
    """Read the content for a send; warn about what goes out with the issue; check settings."""
    from nyhetsbrev.build.pipeline import load_content

    checked = load_content(root)
    issue = delivery.find_issue(checked.content, issue_id)
    for problem in checked.warnings:
        if delivery.concerns(problem, issue):
            warn(str(problem))
    delivery.check_settings(checked.content.site)
    return checked.content, issue


def status(root: Path, issue_id: str) -> list[str]:
    """Return the ledger's account of one issue, in Swedish."""
    site = delivery.load_site(root)
    with delivery.ledger_errors(site):
        return delivery.status_lines(site, issue_id)


def _shown(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def test_send(
    content: Content, issue: Issue, to: Iterable[str], options: Options, warn: Warn
) -> Report:
    """Send the "[TEST] " message to each address (or say what would go, for a dry run)."""
    site = content.site
    with delivery.ledger_errors(site):
        addresses, suppressed = [], delivery.suppressed(site)
        for raw in to:
            address, reason = normalize(raw)
            if reason:  # one line, even when the address holds a line break
                raise NyhetsbrevError(LINE_BREAKS.sub(_shown, f"--to {raw}: {reason}"))
            if address in suppressed:
                warn(f"varning: {address} står i avregistreringslistan och får inget")
            else:
                addresses.append(address)
        secret = delivery.unsubscribe_secret()
        link: Callable[[str], str] | None = None
        if site.subscriptions is not None:  # the register's opaque links
            from nyhetsbrev.subscriptions import subscribers as register
            from nyhetsbrev.subscriptions.tokens import secret_from_env

            link = partial(register.test_link, site, secret_from_env())
        elif not secret:
            warn(
                f"varning: {delivery.SECRET_ENV} är inte satt; testbrevet får den allmänna "
                "avregistreringslänken i stället för en personlig"
            )
        template = delivery.prepare(content, issue)
        smtp = site.smtp
        if options.dry_run:
            return Report(
                [
                    Line(
                        f'Provkörning, inget skickas: testbrev "[TEST] {issue.title}" till '
                        f"{', '.join(addresses) or 'ingen'} via {smtp.host}:{smtp.port}"
                    )
                ]
            )
        conn = delivery.Connection(smtp, delivery.password_from(site), options.policy)
        if not options.skip_web_check and (problem := delivery.web_refusal(template)):
            warn(f"varning: {problem}")
        with ledgers.Ledger(delivery.ledger_path(site)) as book:
            try:
                outcomes = delivery.send_test(template, addresses, conn, secret, book, link)
            finally:
                conn.close()
    said = {"sent": "skickat", "uncertain": "kan ha kommit fram, servern svarade inte"}
    lines = [
        Line(
            f"Testbrev till {o.address}: {said.get(o.state, 'nekat')} ({o.reply})",
            o.state != "sent",
        )
        for o in outcomes
    ]
    failure = (
        "testbrevet kom inte fram till alla; se serverns svar ovan"
        if any(o.state != "sent" for o in outcomes)
        else ""
    )
    return Report(lines, failure, outcomes)


def list_send(
    content: Content,
    issue: Issue,
    list_file: Path | None,
    options: Options,
    warn: Warn,
    progress: Progress,
) -> Report:
    """A list send: to a --list file, or through the register (--subscribers, or a --list
    imported into the register first when [subscriptions] is set)."""
    site = content.site
    with delivery.ledger_errors(site):
        delivery.require_ready(issue)
        audience = Audience(site, list_file)
        path = delivery.ledger_path(site)
        template = delivery.prepare(content, issue)
        resend = options.resend_uncertain
        if options.dry_run:
            plan = delivery.plan_list(
                content, issue, list_file, audience.shown, audience.recipients(False), resend
            )
            for p in plan.problems:
                warn(str(p))
            if audience.missing:
                warn(f"varning: {audience.missing}")
            example = delivery.personal(
                template, "exempel@example.se", "", audience.example_link(), "<x@x>"
            )
            size = len(delivery.wire(example))
            lines = delivery.plan_lines(plan, audience.shown, site, options.policy.rate, size)
            return Report([Line(line) for line in lines])
        if audience.missing:
            raise NyhetsbrevError(audience.missing)
        password = delivery.password_from(site)
        with ledgers.locked(path) as free:
            if not free:
                raise delivery.DeliveryError(
                    f"ett annat utskick använder {path} just nu; vänta tills det är klart"
                )
            plan = delivery.plan_list(
                content, issue, list_file, audience.shown, audience.recipients(True), resend
            )
            for p in plan.problems:
                warn(str(p))
            if not options.skip_web_check and (problem := delivery.web_refusal(template)):
                raise NyhetsbrevError(problem)  # checked after the local files are known good
            for line in delivery.uncertain_warnings(plan):
                warn(f"varning: {line}")
            started = time.perf_counter()
            conn = delivery.Connection(site.smtp, password, options.policy)
            wanted = audience.still_wanted()
            with ledgers.Ledger(path) as book, progress(len(plan.to_send)) as step:
                try:
                    report = delivery.send_list(
                        template,
                        plan,
                        conn,
                        audience.secret,
                        book,
                        progress=lambda o: step(),
                        link=audience.link,
                        wanted=wanted,
                    )
                finally:
                    conn.close()
                    if wanted is not None:
                        wanted.close()
        return _list_report(plan, report, audience.shown, time.perf_counter() - started, site.root)


def _list_report(
    plan: ListPlan, report: ListReport, shown: str, seconds: float, root: Path
) -> Report:
    """Return what a finished list send prints, and set status: sent when it is complete."""
    issue, outcomes = plan.issue, report.outcomes
    failed = [o for o in outcomes if o.state == ledgers.FAILED]
    unsure = [o for o in outcomes if o.state == ledgers.UNCERTAIN]
    lines = [Line(f"{o.address}: {o.reply}", True) for o in failed]
    lines += [Line(f"{o.address}: kan ha fått brevet ({o.reply})", True) for o in unsure]
    lines.append(Line(delivery.summary_line(plan, outcomes, shown, seconds)))
    marked = report.complete and delivery.mark_sent(issue, root)
    if report.complete:
        lines.append(
            Line(
                f"Alla mottagare är klara: {issue.path} har nu status: sent"
                if marked
                else f"Alla mottagare är klara; sätt status: sent i {issue.path}"
            )
        )
    elif left := delivery.still_uncertain(plan, report):
        lines.append(Line(left))
    failure = report.paused
    if not failure and (failed or unsure):
        failure = delivery.unfinished(issue, len(failed), len(unsure), marked)
    return Report(lines, failure, outcomes)


class Audience:
    """Who a list send goes to, and the unsubscribe links they get: a list file with the
    old token links, or the register with its opaque links."""

    def __init__(self, site: Site, list_file: Path | None):
        self.site = site
        self.list_file = list_file
        self.by_register = site.subscriptions is not None or list_file is None
        self.missing = ""
        self.ids: dict[str, str] = {}
        self.key = b""
        if self.by_register:
            from nyhetsbrev.subscriptions import subscribers as register
            from nyhetsbrev.subscriptions.tokens import secret_from_env

            register.settings(site)
            self.key = secret_from_env()
            self.secret = ""
            self.shown = list_file.as_posix() if list_file else "prenumerantregistret"
        else:
            assert list_file is not None  # by_register otherwise
            self.secret = delivery.unsubscribe_secret()
            self.shown = list_file.as_posix()
            if not self.secret:
                self.missing = (
                    f"miljövariabeln {delivery.SECRET_ENV} är inte satt: varje mottagare behöver "
                    "en personlig avregistreringslänk. Sätt samma hemlighet som "
                    "avregistreringssidan använder"
                )

    def recipients(self, write: bool) -> RegisterAudience | None:
        """Return the register's audience (None for a plain list file)."""
        if not self.by_register:
            return None
        from nyhetsbrev.subscriptions import subscribers as register

        found = register.audience(self.site, self.key, self.list_file, self.shown, write)
        self.ids = found.ids
        return found

    def example_link(self) -> str:
        if self.by_register:
            from nyhetsbrev.subscriptions import subscribers as register

            return register.unsubscribe_link(self.site, self.key, "0" * 32)
        return self.site.unsubscribe_url + "?token=" + "0" * 64 + "&email=exempel%40example.se"

    def link(self, address: str) -> str:
        if self.by_register:
            from nyhetsbrev.subscriptions import subscribers as register

            return register.unsubscribe_link(self.site, self.key, self.ids[address])
        return unsubscribe_url(self.site.unsubscribe_url, self.secret, address)

    def still_wanted(self) -> StillActive | None:
        """Return the register's check for an unsubscribe during the send (None: no register)."""
        if not self.by_register:
            return None
        from nyhetsbrev.subscriptions import subscribers as register

        return register.StillActive(self.site)
