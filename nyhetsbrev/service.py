"""The subscription service: sign-up with double opt-in, confirmation, one-click unsubscribe.

A Starlette application, served by uvicorn behind the county's web server. Pages are
rendered on the server and work without JavaScript; no page sets a cookie. Every state
change is one transaction in the register (see register.py); the confirmation mails are
queued in the register in the same transaction and sent by a background thread, so a
sign-up is answered at once, in the same time whether or not the address was known, and a
mail queued before a crash goes out after the restart.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from nyhetsbrev import urls
from nyhetsbrev.content.models import Site, Subscriptions
from nyhetsbrev.subscriptions import register as reg
from nyhetsbrev.subscriptions import tokens
from nyhetsbrev.subscriptions.recipients import normalize
from nyhetsbrev.subscriptions.subscribers import notice_version, settings

log = logging.getLogger("nyhetsbrev.service")

MAX_BODY = 8 * 1024  # bytes in one form post
MAX_EMAIL = 254  # RFC 5321's limit for a path
MAX_NAME = 100
HONEYPOT = "webbplats"
PLACEHOLDER = "https://bekraftelse.invalid/nyhetsbrev-5d1e0c2b"
HOUR = 3600.0


class TooLarge(Exception):
    pass


class RateLimit:
    """At most `limit` sign-up posts per client address in any hour (0: no limit)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.seen: dict[str, collections.deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        if not self.limit:
            return True
        moment = time.monotonic()
        with self.lock:
            if len(self.seen) > 10_000:  # forget clients idle for an hour
                self.seen = {k: v for k, v in self.seen.items() if v and v[-1] > moment - HOUR}
            times = self.seen.setdefault(client, collections.deque())
            while times and times[0] <= moment - HOUR:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(moment)
            return True


class Mailer(threading.Thread):
    """Sends the confirmation mails queued in the register's outbox."""

    def __init__(self, site: Site, key: bytes, mail: tuple[str, str]):
        super().__init__(name="bekraftelsemejl", daemon=True)
        self.site = site
        self.key = key
        self.html, self.text = mail
        self.wake = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        book = reg.Register(settings(self.site).database)
        try:
            while not self.stopping.is_set():
                try:
                    self.drain(book)
                except Exception:  # a bad moment (disk, SMTP): try again shortly
                    log.exception("bekräftelsemejlen kunde inte skickas; nytt försök snart")
                    self.stopping.wait(5)
                self.wake.wait(1.0)
                self.wake.clear()
        finally:
            book.close()

    def drain(self, book: reg.Register) -> None:
        from nyhetsbrev.delivery import send

        queued = book.outbox()
        if not queued:
            return
        conn = send.Connection(
            self.site.smtp,
            send.password_from(self.site),
            send.Policy(retries=2, wait=1.0, timeout=30.0),
        )
        try:
            for seq, subscriber, _ in queued:
                found = book.get(subscriber)
                if found is None or not found.nonce:
                    book.sent(seq)
                    continue
                token = tokens.make(self.key, tokens.CONFIRM, subscriber, found.nonce)
                data = confirmation(self.site, self.html, self.text, found, token)
                outcome = send.deliver(conn, self.site.sender_address, found.address, data)
                if outcome.state == "sent" or outcome.reply.startswith("5"):
                    book.sent(seq)
                state = "skickat" if outcome.state == "sent" else "inte skickat"
                log.info("bekräftelsemejl %s (prenumerant %s)", state, subscriber[:8])
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


def confirmation(site: Site, html: str, text: str, found: reg.Subscriber, token: str) -> bytes:
    """Return the confirmation mail for one subscriber as sent."""
    import datetime as dt
    import uuid
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import format_datetime
    from html import escape

    url = urls.service_url(settings(site).url, urls.CONFIRM, token)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(site.sender_name, addr_spec=site.sender_address)
    msg["To"] = Address(found.pending_name or found.name, addr_spec=found.address)
    if site.reply_to:
        msg["Reply-To"] = site.reply_to
    msg["Subject"] = f"Bekräfta din prenumeration på {site.title}"
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = f"<bekrafta.{uuid.uuid4().hex}@{site.host}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = site.language
    msg.set_content(text.replace(PLACEHOLDER, url), subtype="plain", cte="quoted-printable")
    msg.add_alternative(
        html.replace(PLACEHOLDER, escape(url, quote=True)), subtype="html", cte="quoted-printable"
    )
    return msg.as_bytes(policy=SMTP.clone(max_line_length=998))


def render_confirmation(site: Site) -> tuple[str, str]:
    """Return the confirmation mail's HTML (MJML, the newsletter's look) and text, once."""
    from nyhetsbrev.build.render import compile_mjml, email_css, site_environment

    env = site_environment(site)
    context = {
        "site": site,
        "url": PLACEHOLDER,
        "privacy_url": urls.service_url(settings(site).url, urls.PRIVACY_NOTICE),
    }
    mjml = env.get_template("service/confirm_mail.mjml").render(context)
    html = compile_mjml(mjml, email_css(env))
    text = env.get_template("service/confirm_mail.txt").render(context)
    return html, text


def security_headers(config: Subscriptions) -> dict[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(config.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
            f"form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",  # token URLs must not leak to other sites
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def create_app(site: Site, key: bytes, mailer: bool = True) -> Starlette:
    """Return the service for this site; key is the checked token secret."""
    from nyhetsbrev.build.render import site_environment

    config = settings(site)
    env = site_environment(site)
    css = (
        env.get_template("web/style.css").render()
        + env.get_template("service/service.css").render()
    )
    # The information text beside the form; a content tree may word its own. Each wording
    # is kept in the register with its version, the evidence of what a subscriber was shown.
    assert env.loader is not None
    notice = env.loader.get_source(env, "service/notice.txt")[0].strip()
    book = reg.Register(config.database)
    version = notice_version(notice)
    book.remember_notice(version, notice)
    limit = RateLimit(config.signups_per_ip_per_hour)
    headers = security_headers(config)
    sender = Mailer(site, key, render_confirmation(site)) if mailer else None

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("again", False)
        html = env.get_template(f"service/{name}.html").render(
            site=site, url=config.url, css=css, notice=notice, privacy=config.privacy, **context
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    async def read_form(request: Request) -> FormData:
        """Return the posted form, refusing more than MAX_BODY bytes before parsing."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise TooLarge
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise TooLarge
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            request._body = body  # starlette's form parser reads the cached body
            return await request.form(max_files=0, max_fields=20, max_part_size=MAX_BODY)
        # URL-encoded, also when a client leaves out the Content-Type (RFC 8058 senders
        # should send it, not all do).
        pairs: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("utf-8", "replace"), max_num_fields=20)
        )
        return FormData(pairs)

    async def signup_page(request: Request) -> Response:
        return page("signup", values={}, errors={})

    async def signup(request: Request) -> Response:
        client = request.client.host if request.client else "okänd"
        if not limit.allow(client):
            response = page(
                "error",
                429,
                title="För många anmälningar",
                message="Det har kommit för många anmälningar från din anslutning den senaste "
                "timmen. Vänta en stund och försök igen.",
            )
            response.headers["Retry-After"] = "3600"
            return response
        try:
            form = await read_form(request)
        except TooLarge:
            return page(
                "error",
                413,
                title="Formuläret är för stort",
                message="Det du skickade är för långt. Fyll i din e-postadress och ditt namn "
                "och försök igen.",
            )
        except Exception:  # a body that is not a form
            form = FormData()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        errors = check_signup(values)
        if errors:
            shown = {k: v[:MAX_EMAIL] for k, v in values.items() if k in ("email", "name")}
            return page("signup", 400, values=shown, errors=errors)
        address, _ = normalize(values["email"])
        result = book.signup(address, values.get("name", "").strip(), version)
        if result.mailed and sender is not None:
            sender.wake.set()
        return page("check_mail")

    def subscriber_for(token: str, purpose: str) -> tuple[str | None, reg.Subscriber | None]:
        subscriber = tokens.subscriber_of(token)
        found = book.get(subscriber) if subscriber else None
        nonce = found.nonce if (found and purpose == tokens.CONFIRM) else ""
        if purpose == tokens.CONFIRM and not nonce:
            return None, found
        return tokens.verify(key, token, purpose, nonce), found

    def invalid(purpose: str) -> HTMLResponse:
        if purpose == tokens.CONFIRM:
            message = (
                "Länken gäller inte: den har redan använts, är för gammal eller har ändrats. "
                "Har du redan bekräftat behöver du inte göra något mer. Annars kan du anmäla "
                "dig igen."
            )
        else:
            message = (
                "Länken gäller inte: den är ofullständig eller har ändrats. Kopiera hela "
                "länken från nyhetsbrevet, eller skriv till oss så avslutar vi prenumerationen."
            )
        return page("error", 400, title="Länken gäller inte", message=message, again=True)

    async def confirm_page(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber, _ = subscriber_for(token, tokens.CONFIRM)
        if subscriber is None:
            return invalid(tokens.CONFIRM)
        return page("confirm", token=token)

    async def confirm(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber, found = subscriber_for(token, tokens.CONFIRM)
        if subscriber is None or found is None:
            return invalid(tokens.CONFIRM)
        if not book.confirm(subscriber, found.nonce, config.pending_days):
            return invalid(tokens.CONFIRM)
        return page("confirmed")

    async def unsubscribe_page(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber, found = subscriber_for(token, tokens.UNSUBSCRIBE)
        if subscriber is None:
            return invalid(tokens.UNSUBSCRIBE)
        done = found is None or found.status == reg.UNSUBSCRIBED
        return page("unsubscribe", token=token, done=done, found=found)

    async def unsubscribe(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber, _ = subscriber_for(token, tokens.UNSUBSCRIBE)
        if subscriber is None:
            return invalid(tokens.UNSUBSCRIBE)
        try:
            form = await read_form(request)
        except Exception:
            form = FormData()
        one_click = form.get("List-Unsubscribe") == "One-Click"
        how = "ett klick i e-postprogrammet (RFC 8058)" if one_click else "avregistreringssidan"
        before = book.unsubscribe(subscriber, how)
        return page("unsubscribed", found=before)

    async def privacy(request: Request) -> Response:
        return page("privacy")

    async def startup() -> None:
        if sender is not None:
            sender.start()

    async def shutdown() -> None:
        if sender is not None:
            sender.stop()
            sender.join(timeout=5)

    routes = [
        Route("/", signup_page, methods=["GET"]),
        Route("/", signup, methods=["POST"]),
        Route(f"/{urls.CONFIRM}/{{token}}", confirm_page, methods=["GET"]),
        Route(f"/{urls.CONFIRM}/{{token}}", confirm, methods=["POST"]),
        Route(f"/{urls.UNSUBSCRIBE}/{{token}}", unsubscribe_page, methods=["GET"]),
        Route(f"/{urls.UNSUBSCRIBE}/{{token}}", unsubscribe, methods=["POST"]),
        Route(f"/{urls.PRIVACY_NOTICE}", privacy, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return page(
            "error", 404, title="Sidan finns inte", message="Det finns ingen sida på den adressen."
        )

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return page(
            "error", 405, title="Det går inte", message="Sidan kan inte användas på det sättet."
        )

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await startup()
        try:
            yield
        finally:
            await shutdown()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed},
    )


def check_signup(values: dict[str, str]) -> dict[str, str]:
    """Return a Swedish message per bad field of a sign-up (empty when it may be stored)."""
    errors: dict[str, str] = {}
    if values.get(HONEYPOT, ""):
        errors[HONEYPOT] = (
            "Fältet ”Webbplats” ska lämnas tomt. Töm det och skicka igen, så kommer anmälan fram."
        )
    email = values.get("email", "")
    name = values.get("name", "")
    if not email.strip():
        errors["email"] = "Fyll i din e-postadress, till exempel namn@kommun.se."
    elif len(email) > MAX_EMAIL:
        errors["email"] = "E-postadressen är för lång; den får vara högst 254 tecken."
    elif any(c in email for c in "\r\n\0"):
        errors["email"] = "E-postadressen får inte innehålla radbrytningar."
    else:
        _, reason = normalize(email)
        if reason:
            errors["email"] = (
                "Det där ser inte ut som en e-postadress: "
                + reason.split(": ", 1)[-1].rstrip(".")
                + ". Kontrollera stavningen."
            )
    if len(name) > MAX_NAME:
        errors["name"] = "Namnet är för långt; det får vara högst hundra tecken."
    elif any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in name):
        errors["name"] = "Namnet får inte innehålla radbrytningar eller andra styrtecken."
    return errors


def serve(root: Path, host: str, port: int) -> None:
    """Run the service under uvicorn until stopped."""
    import uvicorn

    from nyhetsbrev.delivery.send import load_site, password_from

    site = load_site(root)
    settings(site)
    key = tokens.secret_from_env()
    password_from(site)  # refuse to start, rather than fail at the first sign-up
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # The delivery log names each recipient; the service's log must hold no address.
    logging.getLogger("nyhetsbrev.delivery.send").setLevel(logging.WARNING)
    app = create_app(site, key)
    where = f"http://{host}:{port}/" if port else f"{host} på en ledig port"
    print(f"Tjänsten för prenumerationer körs på {where} (avsluta med Ctrl+C)", flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
        access_log=False,  # paths carry tokens
        log_level="warning",  # uvicorn's own lines are English; one Swedish line instead
    )
