"""`doctor`: what can be checked before a send, each check ok, varning or fel with what to do.

The SMTP server (reachable, STARTTLS, login), the From domain's SPF, DKIM and DMARC records
and their alignment, the List-Unsubscribe headers of a real message, and the subscription
service. DNS goes through a resolver function (dnspython with a timeout by default), so tests
answer from a table and never ask the internet.
"""

from __future__ import annotations

import base64
import contextlib
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from nyhetsbrev import urls
from nyhetsbrev.content.models import Content, Site
from nyhetsbrev.delivery.client import BoundedSMTP, BoundedSMTP_SSL

OK, WARNING, ERROR = "ok", "varning", "fel"
DNS_TIMEOUT = 5.0


class LookupFailed(Exception):
    """The DNS did not answer (timeout, no server): nothing can be said about the record."""


Resolver = Callable[[str], list[str]]  # a name's TXT records ([] when there are none)


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # ok, varning or fel
    text: str  # what was found and, unless ok, what to do


def dns_txt(
    timeout: float = DNS_TIMEOUT, nameservers: list[str] | None = None, port: int = 53
) -> Resolver:
    """Return a resolver of TXT records through dnspython, giving up after timeout seconds.

    By default it asks the system's name servers (/etc/resolv.conf); tests name their own.
    """
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=nameservers is None)
    if nameservers is not None:
        resolver.nameservers = nameservers
        resolver.port = port
    resolver.lifetime = timeout

    def lookup(name: str) -> list[str]:
        try:
            answer = resolver.resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
            raise LookupFailed(str(e) or type(e).__name__) from None
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]

    return lookup


# --- SMTP ------------------------------------------------------------------------------------


def smtp_checks(
    site: Site, password: str | None, timeout: float, context: ssl.SSLContext | None = None
) -> list[Check]:
    """Return the checks of the SMTP server: reachable, encryption, login."""
    smtp = site.smtp
    where = f"{smtp.host}:{smtp.port}"
    context = context or ssl.create_default_context()
    checks = []
    try:
        client: smtplib.SMTP = (
            BoundedSMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
            if smtp.security == "tls"
            else BoundedSMTP(smtp.host, smtp.port, timeout=timeout)
        )
    except (OSError, smtplib.SMTPException) as e:
        return [
            Check(
                "SMTP-servern",
                ERROR,
                f"{where} svarar inte ({str(e) or type(e).__name__}). Kontrollera [smtp] host "
                "och port, och att brandväggen släpper fram trafiken dit",
            )
        ]
    try:
        client.ehlo()
        checks.append(Check("SMTP-servern", OK, f"{where} svarar"))
        checks.append(_encryption(client, smtp.security, smtp.host, context))
        if checks[-1].level != ERROR:
            checks.append(_login(client, site, password))
    except (OSError, smtplib.SMTPException) as e:
        checks.append(
            Check("SMTP-servern", ERROR, f"{where} bröt samtalet ({str(e) or type(e).__name__})")
        )
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
        client.close()
    return checks


def _encryption(client: smtplib.SMTP, security: str, host: str, context: ssl.SSLContext) -> Check:
    from nyhetsbrev.delivery.send import is_loopback

    if security == "tls":
        return Check("Kryptering", OK, "förbindelsen är krypterad från början (TLS)")
    if security == "none":
        level = WARNING if not is_loopback(host) else OK
        return Check(
            "Kryptering",
            level,
            'ingen kryptering (security = "none")'
            + (
                '; använd "starttls" eller "tls" mot en server på en annan dator'
                if level != OK
                else ", men servern finns på den här datorn"
            ),
        )
    if not client.has_extn("starttls"):
        return Check(
            "Kryptering",
            ERROR,
            "servern erbjuder inte STARTTLS, så breven och lösenordet skulle gå okrypterade. "
            'Be den som sköter servern slå på STARTTLS, eller använd security = "tls" med '
            "port 465",
        )
    try:
        client.starttls(context=context)
        client.ehlo()
    except (ssl.SSLError, smtplib.SMTPException, OSError) as e:
        return Check(
            "Kryptering",
            ERROR,
            f"STARTTLS erbjuds men misslyckades ({e}); kontrollera serverns certifikat",
        )
    return Check("Kryptering", OK, "servern erbjuder STARTTLS och certifikatet godtas")


def _login(client: smtplib.SMTP, site: Site, password: str | None) -> Check:
    from nyhetsbrev.delivery.send import PASSWORD_ENV, log_in

    user = site.smtp.user
    if not user:
        return Check("Inloggning", OK, "ingen inloggning är inställd ([smtp] user är tom)")
    if not password:
        return Check(
            "Inloggning",
            ERROR,
            f'[smtp] user är "{user}" men miljövariabeln {PASSWORD_ENV} är inte satt; sätt '
            "den i skalet",
        )
    try:
        log_in(client, user, password)
    except smtplib.SMTPAuthenticationError as e:
        error = e.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        reply = f"{e.smtp_code} {text}".strip()
        return Check(
            "Inloggning",
            ERROR,
            f'inloggningen som "{user}" nekades ({reply}); kontrollera [smtp] user och '
            f"{PASSWORD_ENV}",
        )
    except smtplib.SMTPNotSupportedError:
        return Check(
            "Inloggning",
            ERROR,
            "servern erbjuder ingen inloggning (AUTH); ta bort [smtp] user eller fråga den "
            "som sköter servern",
        )
    return Check("Inloggning", OK, f'inloggningen som "{user}" fungerar')


# --- DNS --------------------------------------------------------------------------------------


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower().rstrip(".")


def organisational(domain: str) -> str:
    """Return the registered domain (the last two labels; enough for .se and .nu)."""
    return ".".join(domain.split(".")[-2:])


def _lookup(resolver: Resolver, name: str, what: str) -> list[str] | Check:
    try:
        return resolver(name)
    except LookupFailed as e:
        return Check(what, WARNING, f"DNS svarade inte om {name} ({e}); försök igen senare")


def spf_check(site: Site, resolver: Resolver) -> Check:
    domain = domain_of(site.sender_address)
    found = _lookup(resolver, domain, "SPF")
    if isinstance(found, Check):
        return found
    records = [r for r in found if r.lower().startswith("v=spf1")]
    if not records:
        return Check(
            "SPF",
            ERROR,
            f"{domain} har ingen SPF-post. Be den som sköter DNS lägga till en TXT-post som "
            'börjar med "v=spf1" och tar med e-postservern, t.ex. "v=spf1 mx -all"',
        )
    if len(records) > 1:
        return Check(
            "SPF",
            ERROR,
            f"{domain} har {len(records)} SPF-poster; mottagarna godtar bara en. Slå ihop dem",
        )
    record = records[0].lower().split()
    ending = next((t for t in record if t.endswith("all")), "")
    if ending in ("+all", "all"):
        return Check(
            "SPF",
            ERROR,
            f'SPF-posten för {domain} slutar med "{ending}", som godkänner alla servrar i '
            'världen; avsluta med "-all" eller "~all"',
        )
    if ending not in ("-all", "~all"):
        return Check(
            "SPF",
            WARNING,
            f'SPF-posten för {domain} avslutas inte med "-all" eller "~all", så den säger '
            "inte vad som gäller för andra servrar; be den som sköter DNS lägga till det",
        )
    return Check("SPF", OK, f"{domain}: {records[0]}")


def _public_key_of_private(pem: bytes) -> bytes | None:
    """Return the modulus of a PEM private key (None when it cannot be read)."""
    from dkim.crypto import parse_pem_private_key

    with contextlib.suppress(Exception):
        return str(parse_pem_private_key(pem)["modulus"]).encode()
    return None


NO_DKIM = (
    "breven signeras inte av verktyget ([dkim] saknas). Om e-postservern signerar dem, "
    "be den som sköter den bekräfta att List-Unsubscribe och List-Unsubscribe-Post "
    "ingår; annars lägg till [dkim] domain och selector (se README)"
)
NO_SERVICE = (
    "[subscriptions] saknas, så ingen tjänst tar emot avregistreringar med ett klick; "
    "sätt upp den (se README)"
)


def dkim_check(site: Site, resolver: Resolver) -> Check:
    from nyhetsbrev.delivery import signing

    if site.dkim is None:
        return Check("DKIM", WARNING, NO_DKIM)
    name = f"{site.dkim.selector}._domainkey.{site.dkim.domain}"
    found = _lookup(resolver, name, "DKIM")
    if isinstance(found, Check):
        return found
    records = [r for r in found if "p=" in r]
    if not records:
        return Check(
            "DKIM",
            ERROR,
            f"{name} har ingen DKIM-post; be den som sköter DNS publicera den publika nyckeln "
            f'där som en TXT-post "v=DKIM1; k=rsa; p=…"',
        )
    tags = dict(
        (t.split("=", 1)[0].strip(), t.split("=", 1)[1].strip())
        for t in records[0].split(";")
        if "=" in t
    )
    published = tags.get("p", "").replace(" ", "")
    if not published:
        return Check("DKIM", ERROR, f"DKIM-nyckeln i {name} är återkallad (tomt p=)")
    try:
        pem = signing.private_key()
    except signing.SigningError as e:
        return Check("DKIM", ERROR, str(e))
    from dkim.crypto import parse_public_key

    try:
        modulus = str(parse_public_key(base64.b64decode(published))["modulus"]).encode()
    except Exception:
        return Check("DKIM", ERROR, f"DKIM-posten i {name} går inte att läsa som en RSA-nyckel")
    if modulus != _public_key_of_private(pem):
        return Check(
            "DKIM",
            ERROR,
            f"den publika nyckeln i {name} hör inte till den privata nyckeln i "
            f"{signing.KEY_ENV}; publicera rätt nyckel eller byt selector",
        )
    return Check("DKIM", OK, f"{name} har den publika nyckeln som hör till {signing.KEY_ENV}")


def dmarc_record(domain: str, resolver: Resolver) -> tuple[str, str] | Check:
    """Return (the name it was found at, the record), '' when none; a Check if DNS failed."""
    for candidate in dict.fromkeys((domain, organisational(domain))):
        found = _lookup(resolver, f"_dmarc.{candidate}", "DMARC")
        if isinstance(found, Check):
            return found
        for record in found:
            if record.replace(" ", "").lower().startswith("v=dmarc1"):
                return f"_dmarc.{candidate}", record
    return "", ""


def dmarc_check(site: Site, resolver: Resolver) -> Check:
    domain = domain_of(site.sender_address)
    found = dmarc_record(domain, resolver)
    if isinstance(found, Check):
        return found
    name, record = found
    if not record:
        return Check(
            "DMARC",
            ERROR,
            f"{domain} har ingen DMARC-post; Gmail och Yahoo kräver en för massutskick. Be "
            f'den som sköter DNS lägga till TXT-posten _dmarc.{domain} med "v=DMARC1; p=none; '
            f'rua=mailto:dmarc@{domain}" och skärp p= när rapporterna ser bra ut',
        )
    tags = {
        t.split("=", 1)[0].strip().lower(): t.split("=", 1)[1].strip().lower()
        for t in record.split(";")
        if "=" in t
    }
    policy = tags.get("p", "")
    if policy not in ("none", "quarantine", "reject"):
        return Check("DMARC", ERROR, f'DMARC-posten i {name} har ingen giltig p= ("{record}")')
    if policy == "none":
        return Check(
            "DMARC",
            WARNING,
            f"DMARC-posten i {name} har p=none: den räcker för Gmail och Yahoo men skyddar "
            "inte mot förfalskade avsändare; byt till p=quarantine när rapporterna ser bra ut",
        )
    return Check("DMARC", OK, f"{name}: {record}")


def alignment_check(site: Site) -> Check:
    """DMARC passes only if SPF or DKIM is for the From domain (relaxed: its registered domain)."""
    sender = organisational(domain_of(site.sender_address))
    path = site.bounces.address if site.bounces else site.sender_address
    spf_ok = organisational(domain_of(path)) == sender
    dkim_ok = site.dkim is not None and organisational(site.dkim.domain) == sender
    if spf_ok and dkim_ok:
        return Check(
            "Samstämmighet",
            OK,
            "avsändaradressen, returadressen och DKIM-domänen hör till samma domän",
        )
    if dkim_ok:
        return Check(
            "Samstämmighet",
            WARNING,
            f"returadressen {path} hör inte till avsändarens domän, så SPF räknas inte för "
            "DMARC (DKIM räcker, men bara så länge signaturen håller); använd en returadress "
            "i samma domän i [bounces] address",
        )
    if spf_ok:
        why = (
            "[dkim] saknas"
            if site.dkim is None
            else f"DKIM-domänen {site.dkim.domain} hör inte till avsändarens domän"
        )
        return Check(
            "Samstämmighet",
            WARNING,
            f"bara SPF stämmer med avsändarens domän ({why}); ett vidarebefordrat brev kan då "
            "underkännas av DMARC. Signera med DKIM i avsändarens domän",
        )
    return Check(
        "Samstämmighet",
        ERROR,
        "varken returadressen eller DKIM-domänen hör till avsändarens domän, så DMARC "
        "underkänner breven; använd avsändarens domän i [bounces] address och [dkim] domain",
    )


# --- the message and the service --------------------------------------------------------------


def header_check(raw: bytes, signed_by_tool: bool) -> Check:
    """Check a message's List-Unsubscribe headers and that the DKIM signature covers them."""
    import email
    import email.policy

    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    unsubscribe = str(msg.get("List-Unsubscribe", ""))
    post = str(msg.get("List-Unsubscribe-Post", "")).strip()
    if "<https://" not in unsubscribe or post != "List-Unsubscribe=One-Click":
        return Check(
            "List-Unsubscribe",
            ERROR,
            "brevet saknar List-Unsubscribe med en https-adress eller List-Unsubscribe-Post "
            "(ett klick); Gmail och Yahoo kräver båda. Kontrollera mallarna och [unsubscribe]",
        )
    if not signed_by_tool:
        return Check(
            "List-Unsubscribe",
            WARNING,
            "rubrikerna finns men verktyget signerar dem inte ([dkim] saknas); kontrollera att "
            "e-postservern tar med båda i sin DKIM-signatur",
        )
    signature = " ".join(str(msg.get("DKIM-Signature", "")).split())
    signed = next(
        (t.split("=", 1)[1] for t in signature.replace(" ", "").split(";") if t.startswith("h=")),
        "",
    )
    headers = [h.lower() for h in signed.split(":")]
    if "list-unsubscribe" not in headers or "list-unsubscribe-post" not in headers:
        return Check(
            "List-Unsubscribe",
            ERROR,
            "DKIM-signaturen omfattar inte båda List-Unsubscribe-rubrikerna",
        )
    return Check("List-Unsubscribe", OK, "båda rubrikerna finns och omfattas av DKIM-signaturen")


def service_check(site: Site, timeout: float) -> Check:
    if site.subscriptions is None:
        return Check("Prenumerationstjänsten", WARNING, NO_SERVICE)
    url = site.subscriptions.url + "/"
    from nyhetsbrev.delivery.send import http_status

    status = http_status(url, timeout, "nyhetsbrev-doctor")
    if isinstance(status, str):
        return Check(
            "Prenumerationstjänsten",
            ERROR,
            f"{url} svarar inte ({status}); starta tjänsten "
            "(subscribers serve) och kontrollera webbservern framför den",
        )
    if status != 200:
        return Check(
            "Prenumerationstjänsten",
            ERROR,
            f"{url} svarade {status}; kontrollera tjänsten och webbservern framför den",
        )
    return Check("Prenumerationstjänsten", OK, f"{url} svarar")


def sample_message(root_content: Content, site: Site) -> bytes | None:
    """Return a list message as send would make it for a sample recipient, signed as sent
    (None when there is no issue to make it from)."""
    from nyhetsbrev.delivery import send, signing

    issues = sorted(root_content.issues, key=lambda i: (i.date, i.id))
    if not issues:
        return None
    template = send.prepare(root_content, issues[-1])
    msg_id = send.message_id(template, "exempel@example.se")
    link = (
        urls.service_url(site.subscriptions.url, urls.UNSUBSCRIBE, "0" * 40)
        if site.subscriptions
        else site.unsubscribe_url + "?token=" + "0" * 64
    )
    data = send.wire(send.personal(template, "exempel@example.se", "", link, msg_id))
    return signing.sign(site, data)


def run_checks(
    site: Site,
    resolver: Resolver,
    message: Callable[[], bytes | None] | None,
    smtp_timeout: float = 10.0,
    context: ssl.SSLContext | None = None,
) -> list[Check]:
    """Return every check, in the order a coordinator would fix them."""
    from nyhetsbrev.delivery import send, signing

    checks = smtp_checks(site, os.environ.get(send.PASSWORD_ENV), smtp_timeout, context)
    checks += [
        spf_check(site, resolver),
        dkim_check(site, resolver),
        dmarc_check(site, resolver),
        alignment_check(site),
    ]
    if message is not None:
        try:
            raw = message()
            checks.append(
                header_check(raw, site.dkim is not None)
                if raw is not None
                else Check(
                    "List-Unsubscribe",
                    WARNING,
                    "det finns inget nummer att göra ett exempelbrev av; kör doctor igen när "
                    "det första numret är skrivet",
                )
            )
        except signing.SigningError as e:
            checks.append(Check("List-Unsubscribe", ERROR, str(e)))
    checks.append(service_check(site, smtp_timeout))
    return checks


def lines(checks: list[Check]) -> list[str]:
    """Return one line per check and a closing count, in Swedish."""
    width = max(len(c.level) for c in checks)
    out = [f"{c.level.ljust(width)}  {c.name}: {c.text}" for c in checks]
    errors = sum(c.level == ERROR for c in checks)
    warnings = sum(c.level == WARNING for c in checks)
    out.append(
        f"Kontrollerna är klara: {errors} fel, {warnings} "
        f"{'varning' if warnings == 1 else 'varningar'}"
        + ("; rätta felen före nästa utskick" if errors else "")
    )
    return out
