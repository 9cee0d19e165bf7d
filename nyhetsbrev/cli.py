"""The command line: parse options, call the stages, print. Heavy imports happen inside commands."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nyhetsbrev import click_sv

if TYPE_CHECKING:  # heavy imports happen inside the commands
    from nyhetsbrev.content.models import Site
    from nyhetsbrev.errors import Problem

click_sv.install()
F = TypeVar("F", bound=Callable[..., Any])

ROOT = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Innehållets mapp (där newsletter.toml ligger).",
)
STRICT = click.option("--strict", is_flag=True, help="Räkna varningar som fel.")
YEAR = click.argument("year", type=click.IntRange(1900, 2999), metavar="ÅR")


def _format(choices: list[str], default: str, help: str) -> Callable[[F], F]:
    """--format: one of choices."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help=help,
    )


def _path(
    name: str, help: str, folder: bool = False, metavar: str | None = None
) -> Callable[[F], F]:
    """An option naming a file (or a folder), None when not given."""
    kind = (
        click.Path(file_okay=False, path_type=Path)
        if folder
        else click.Path(dir_okay=False, path_type=Path)
    )
    return click.option(name, type=kind, default=None, metavar=metavar, help=help)


def _seconds(name: str, default: float, help: str, above_zero: bool = True) -> Callable[[F], F]:
    """An option of seconds: above zero, or zero and above."""
    return click.option(
        name,
        type=click.FloatRange(min=0, min_open=above_zero),
        default=default,
        show_default=True,
        metavar="SEKUNDER",
        help=help,
    )


def _count(name: str, default: int, help: str, least: int) -> Callable[[F], F]:
    """An option of a whole number from least, shown as N."""
    return click.option(
        name,
        type=click.IntRange(min=least),
        default=default,
        show_default=True,
        metavar="N",
        help=help,
    )


def _port(help: str) -> Callable[[F], F]:
    """--port of a server this process runs."""
    return click.option(
        "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help=help
    )


def _host(help: str) -> Callable[[F], F]:
    """--host: the address a server this process runs listens on."""
    return click.option("--host", default="127.0.0.1", show_default=True, help=help)


@click.group(
    "nyhetsbrev", cls=click_sv.Group, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="nyhetsbrev")
def cli() -> None:
    """Nyhetsbrev: Markdown-texter blir nyhetsbrev i e-post, ett webbarkiv, flöden och en kalender.

    \b
    Exempel:
        python3 build.py build
    """


def _warn(warnings: Iterable[Problem]) -> None:
    for problem in warnings:
        click.echo(str(problem), err=True)


@cli.command()
@ROOT
@_path("--out", "Utmappen (standard: public/ i innehållets mapp).", folder=True)
@STRICT
@click.option("--emit-mjml", is_flag=True, help="Skriv också varje nummers email.mjml.")
def build(root: Path, out: Path | None, strict: bool, emit_mjml: bool) -> None:
    """Bygg alla nummer, arkivet, flödena och kalendern i utmappen.

    Inget skrivs om inte allt klarar kontrollen; den förra utmappen ligger kvar tills den
    nya är klar. Utkast (status: draft) publiceras inte.

    \b
    Exempel:
        python3 build.py build --root . --out public
    """
    from nyhetsbrev.build.pipeline import build as run
    from nyhetsbrev.build.pipeline import closing_line

    started = time.perf_counter()
    checked, count = run(root, out or root / "public", strict, emit_mjml)
    _warn(checked.warnings)
    click.echo(closing_line(checked, count, out or root / "public", time.perf_counter() - started))


@cli.command()
@YEAR
@_format(
    ["html", "md", "csv"],
    "md",
    "html: en sida med diagram; md: att klistra in; csv: en rad per text.",
)
@_path("--out", "Skriv till den här filen (standard: standard output).")
@ROOT
def report(year: int, fmt: str, out: Path | None, root: Path) -> None:
    """Redovisa vad årets nummer förmedlade: per kampanj, delmål och målgrupp.

    Siffrorna kommer från innehållet; levererade brev per nummer kommer från
    utskicksregistret när det finns. CSV-filen är UTF-8 med semikolon, för Excel.

    \b
    Exempel:
        python3 build.py report 2022 --format html --out rapport-2022.html
    """
    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.build.publish import write_file
    from nyhetsbrev.year.report import build_report, read_delivered, render

    checked = load_content(root)
    _warn(checked.warnings)
    content = checked.content
    from nyhetsbrev.delivery.deliverability import for_site

    delivered = read_delivered(content.site.ledger)
    feedback = for_site(content.site) if delivered is not None else None
    data = render(build_report(content, year, delivered, feedback), fmt)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_file(out, data)
        click.echo(f"Rapporten för {year} finns i {out}")


@cli.command()
@ROOT
@STRICT
def check(root: Path, strict: bool) -> None:
    """Kontrollera alla filer och visa varje problem som sökväg:rad: meddelande. Skriver inget.

    \b
    Exempel:
        python3 build.py check --strict
    """
    from nyhetsbrev.build.pipeline import linted, load_content, render_all, summary
    from nyhetsbrev.numerals import counted

    checked = load_content(root)  # linted() applies --strict to every warning at once
    checked = linted(checked, render_all(checked.content), strict)
    _warn(checked.warnings)
    n = summary(checked.content)
    click.echo(
        f"Inga fel: {n['issues']} nummer, {counted(n['items'], 'text', 'texter')}"
        + (
            f", {counted(len(checked.warnings), 'varning', 'varningar')}"
            if checked.warnings
            else ""
        )
    )


@cli.command()
@click.argument("issue_id", metavar="NUMMER")
@ROOT
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="ADRESS",
    help='Testbrev ("[TEST] " i ämnesraden) till den här adressen; upprepa för fler.',
)
@click.option(
    "--list",
    "list_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FIL.csv",
    help="Skicka till varje adress i den här CSV-filen (email, eventuellt name).",
)
@click.option(
    "--subscribers",
    "to_register",
    is_flag=True,
    help="Skicka till varje aktiv prenumerant i registret ([subscriptions]).",
)
@click.option(
    "--dry-run", is_flag=True, help="Visa vad som skulle skickas; ansluter inte till något."
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="N",
    help="Högst N brev per minut.",
)
@click.option("--status", is_flag=True, help="Visa utskicksregistrets siffror för numret.")
@_seconds(
    "--retry-wait",
    5,
    "Vänta så här länge innan ett nytt försök efter ett 4xx-svar eller en bruten "
    "anslutning (fördubblas).",
    above_zero=False,
)
@_seconds("--timeout", 30, "Vänta högst så här länge på varje svar från SMTP-servern.")
@_count("--pause-after", 5, "Pausa utskicket efter N mottagare i rad utan klart svar.", least=1)
@click.option(
    "--resend-uncertain",
    is_flag=True,
    help="Skicka igen till dem som kan ha fått brevet redan (inget svar efter DATA).",
)
@click.option(
    "--skip-web-check",
    is_flag=True,
    help="Skicka även om webbversionen och dess bilder inte svarar över HTTP än.",
)
def send(
    issue_id: str,
    root: Path,
    to: tuple[str, ...],
    list_file: Path | None,
    to_register: bool,
    dry_run: bool,
    rate: float | None,
    status: bool,
    retry_wait: float,
    timeout: float,
    pause_after: int,
    resend_uncertain: bool,
    skip_web_check: bool,
) -> None:
    """Skicka ett nummer över SMTP: ett testbrev med --to, eller till en lista (--list eller
    --subscribers) med ett utskicksregister som aldrig skickar två gånger.

    Brevet byggs från innehållet när det skickas, med samma kod som build. Bara ett nummer
    med status ready går till en lista, och först när webbversionen svarar; ett fullständigt
    utskick sätter status: sent. Kör samma kommando igen för att fortsätta: de som fått
    numret hoppas över, och de som kan ha fått det (inget svar efter DATA) får det bara med
    --resend-uncertain. Lösenordet läses från NYHETSBREV_SMTP_PASSWORD och hemligheten för
    avregistreringslänkar (minst 32 byte) från NYHETSBREV_UNSUBSCRIBE_SECRET.

    \b
    Exempel:
        python3 build.py send 2022-10 --to mig@example.se
        python3 build.py send 2022-10 --list mottagare.csv --dry-run
        python3 build.py send 2022-10 --subscribers --rate 120
        python3 build.py send 2022-10 --status
    """
    from nyhetsbrev.delivery import mailing
    from nyhetsbrev.delivery.send import Policy

    if status:
        for line in mailing.status(root, issue_id):
            click.echo(line)
        return
    if bool(to) + bool(list_file) + to_register != 1:
        raise click.UsageError(
            "ange en av --to ADRESS (testbrev), --list FIL.csv eller --subscribers"
        )
    content, issue = mailing.start(root, issue_id, _say)
    policy = Policy(wait=retry_wait, rate=rate, timeout=timeout, pause_after=pause_after)
    options = mailing.Options(policy, dry_run, resend_uncertain, skip_web_check)
    if to:
        report = mailing.test_send(content, issue, to, options, _say)
    else:
        report = mailing.list_send(content, issue, list_file, options, _say, _progress)
    for said in report.lines:
        click.echo(said.text, err=said.error)
    if report.failure:
        from nyhetsbrev.errors import NyhetsbrevError

        raise NyhetsbrevError(report.failure)


def _say(line: str) -> None:
    click.echo(line, err=True)


@contextlib.contextmanager
def _progress(length: int) -> Iterator[Callable[[], None]]:
    with click.progressbar(length=length, label="Skickar", file=sys.stderr, show_pos=True) as bar:
        yield lambda: bar.update(1)


@cli.command("bounces")
@ROOT
@_path("--maildir", "Läs studsarna ur den här Maildir-mappen i stället för IMAP.", True, "MAPP")
@_path("--mbox", "Läs studsarna ur den här mbox-filen i stället för IMAP.", metavar="FIL")
def bounces_command(root: Path, maildir: Path | None, mbox: Path | None) -> None:
    """Läs returnerade brev: studsar och klagomål förs in i registren.

    En hård studs markerar adressen som studsad i prenumerantregistret direkt; tillfälliga
    studsar räknas och markerar adressen efter [bounces] soft_limit inom soft_days dagar;
    ett klagomål (ARF) avregistrerar adressen direkt. Statuskod och felmeddelande sparas
    med raden i utskicksregistret. Utan --maildir och --mbox läses IMAP-brevlådan i
    [bounces] (lösenordet i NYHETSBREV_BOUNCES_PASSWORD). Inga brev flyttas eller tas
    bort, och en ny körning ändrar inget som redan lästs in.

    \b
    Exempel:
        python build.py bounces
        python build.py bounces --maildir ~/Maildir/.Studsar
        python build.py bounces --mbox studsar.mbox
    """
    from nyhetsbrev.delivery import bounces as returned
    from nyhetsbrev.delivery.send import load_site

    if maildir is not None and mbox is not None:
        raise click.UsageError("ange högst en av --maildir MAPP och --mbox FIL")
    for line in returned.lines(returned.read_returned(load_site(root), maildir, mbox)):
        click.echo(line)


@cli.command("doctor")
@ROOT
@_seconds("--timeout", 10, "Vänta högst så här länge på varje svar (SMTP, DNS, webb).")
def doctor_command(root: Path, timeout: float) -> None:
    """Kontrollera före ett utskick: SMTP, SPF, DKIM, DMARC, avregistrering och tjänsten.

    Varje kontroll ger ok, varning eller fel och säger vad du ska göra. Kontrollerna:
    SMTP-servern svarar, erbjuder STARTTLS och godtar inloggningen; avsändardomänens SPF-,
    DKIM- och DMARC-poster; att returadressen och DKIM-domänen hör till avsändarens domän;
    att brevets List-Unsubscribe-rubriker finns och är signerade; att
    prenumerationstjänsten svarar. Avslutas med status 1 om något är fel.

    \b
    Exempel:
        python build.py doctor
        python build.py doctor --timeout 5
    """
    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.delivery import doctor
    from nyhetsbrev.errors import NyhetsbrevError

    checked = load_content(root)
    site = checked.content.site
    checks = doctor.run_checks(
        site,
        doctor.dns_txt(timeout),
        lambda: doctor.sample_message(checked.content, site),
        smtp_timeout=timeout,
    )
    for line in doctor.lines(checks):
        click.echo(line)
    if any(c.level == doctor.ERROR for c in checks):
        raise NyhetsbrevError("minst en kontroll gav fel; se ovan")


@cli.group()
def new() -> None:
    """Skapa ett nytt nummer, en ny text eller en ny kampanj med kommenterade fält.

    \b
    Exempel:
        python3 build.py new issue 2023-03
    """


@new.command("issue")
@click.argument("month", metavar="ÅÅÅÅ-MM")
@ROOT
def new_issue(month: str, root: Path) -> None:
    """Skriv newsletters/ÅÅÅÅ/ÅÅÅÅ-MM/issue.md för ett planerat nummer och visa sökvägen.

    \b
    Exempel:
        python3 build.py new issue 2023-03
    """
    from nyhetsbrev.content.scaffold import new_issue as scaffold
    from nyhetsbrev.content.scaffold import parse_month

    try:
        parse_month(month)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="YYYY-MM") from None
    click.echo(scaffold(root, month))


@new.command("item")
@click.argument("issue_id", metavar="NUMMER")
@click.argument("title", metavar="RUBRIK")
@click.option(
    "--campaign", metavar="KAMPANJ", help="Märk texten med den här kampanjen (namn eller filnamn)."
)
@click.option("--event", is_flag=True, help="Skriv ett evenemang (type, start, end, location).")
@ROOT
def new_item(issue_id: str, title: str, campaign: str | None, event: bool, root: Path) -> None:
    """Skriv en text med ett nytt UUID i numrets mapp och visa sökvägen.

    Filnamnet görs av rubriken (å, ä och ö blir a, a och o).

    \b
    Exempel:
        python3 build.py new item 2022-03 "Webbinarium om våld i nära relationer" --event
    """
    from nyhetsbrev.content.scaffold import new_item as scaffold

    click.echo(scaffold(root, issue_id, title, campaign, event))


@new.command("campaign")
@click.argument("slug", metavar="KAMPANJ")
@ROOT
def new_campaign(slug: str, root: Path) -> None:
    """Skriv campaigns/KAMPANJ.md med ett namn, en tillgänglig färg och en stående text.

    \b
    Exempel:
        python3 build.py new campaign kop-av-sex
    """
    from nyhetsbrev.content.scaffold import new_campaign as scaffold

    try:
        click.echo(scaffold(root, slug))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="SLUG") from None


@cli.command()
@YEAR
@_format(
    ["table", "md", "csv"], "table", "En tabell i terminalen, Markdown eller CSV (bara numren)."
)
@_count("--gap", 3, "Visa en kampanj som saknas i fler än N nummer i rad.", least=0)
@ROOT
def plan(year: int, fmt: str, gap: int, root: Path) -> None:
    """Visa årets nummer: datum, status, texter, kampanjer och delmål, och uppehållen.

    Kampanjerna visas med namn. Varnar när året har färre än sex eller fler än tolv nummer
    som räknas (daterade under året, utom utkast, som i `report`). Med --format csv hamnar
    uppehåll och varningar på standard error.

    \b
    Exempel:
        python3 build.py plan 2022 --format md
    """
    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.year.plan import plan as make
    from nyhetsbrev.year.plan import render, render_csv

    result = make(load_content(root).content, year, gap)
    click.echo(render_csv(result) if fmt == "csv" else render(result, fmt), nl=False)
    if fmt == "csv":
        for line in result.gaps:
            click.echo(line, err=True)
    if result.warning:
        click.echo(f"varning: {result.warning}", err=True)


@cli.command()
@ROOT
@_port("Port att lyssna på (0: valfri ledig port).")
@_host("Adress att lyssna på; standardvärdet nås bara från den här datorn.")
def serve(root: Path, port: int, host: str) -> None:
    """Förhandsvisa alla nummer i webbläsaren; sidan uppdateras när du sparar.

    Varje nummer visar mejlet i mobilbredd (375 px) och datorbredd (600 px), textversionen
    och kontrollens anmärkningar. Utkast visas, märkta som utkast. Avsluta med Ctrl+C.

    \b
    Exempel:
        python3 build.py serve --port 8000
    """
    from nyhetsbrev.preview.serve import serve as run

    run(root, host, port, click.echo, lambda line: click.echo(line, err=True))


@cli.group()
def subscribers() -> None:
    """Prenumerantregistret: tjänsten för anmälan, listor, registerutdrag och radering.

    \b
    Exempel:
        python3 build.py subscribers serve --port 8000
        python3 build.py subscribers show namn@kommun.se
    """


def _register_site(root: Path) -> Site:
    from nyhetsbrev.delivery.send import load_site
    from nyhetsbrev.subscriptions.subscribers import settings

    site = load_site(root)
    settings(site)
    return site


@subscribers.command("serve")
@ROOT
@_host("Adress att lyssna på.")
@_port("Port att lyssna på.")
def subscribers_serve(root: Path, host: str, port: int) -> None:
    """Kör tjänsten för anmälan och avregistrering (bakom webbservern; se README).

    \b
    Exempel:
        NYHETSBREV_UNSUBSCRIBE_SECRET=... python3 build.py subscribers serve --port 8000
    """
    from nyhetsbrev.service import serve as run

    run(root, host, port)


@subscribers.command("list")
@ROOT
@click.option(
    "--status",
    type=click.Choice(["pending", "active", "unsubscribed", "bounced"]),
    default=None,
    help="Bara prenumeranter med den här statusen.",
)
def subscribers_list(root: Path, status: str | None) -> None:
    """Visa en prenumerant per rad: adress, status, namn och källa (tabbavgränsat).

    \b
    Exempel:
        python3 build.py subscribers list --status active
    """
    from nyhetsbrev.subscriptions.subscribers import list_lines

    for line in list_lines(_register_site(root), status):
        click.echo(line)


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), metavar="FIL.csv")
@ROOT
def subscribers_import(file: Path, root: Path) -> None:
    """Lägg till en listas adresser som aktiva prenumeranter.

    Listan är en CSV-fil med kolumnen "email" och eventuellt "name". En adress som redan
    finns behåller sin status, så en import anmäler aldrig någon på nytt, och en raderad
    adress läggs inte till igen.

    \b
    Exempel:
        python3 build.py subscribers import mottagare.csv
    """
    from nyhetsbrev.subscriptions.subscribers import import_file, import_lines
    from nyhetsbrev.subscriptions.tokens import secret_from_env

    site = _register_site(root)
    report = import_file(site, secret_from_env(), file, file.as_posix())
    _warn(report.problems)
    for line in import_lines(report, file.as_posix()):
        click.echo(line)


@subscribers.command("export")
@ROOT
@_path("--out", "Skriv till den här filen.")
def subscribers_export(root: Path, out: Path | None) -> None:
    """Skriv registret som CSV (UTF-8 med semikolon) till standard output eller --out.

    \b
    Exempel:
        python3 build.py subscribers export --out register.csv
    """
    from nyhetsbrev.subscriptions.subscribers import export

    data = export(_register_site(root))
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        from nyhetsbrev.build.publish import write_file

        write_file(out, data, mode=0o600)  # personal data: readable by its owner only
        click.echo(f"Registret finns i {out}")


def _address(raw: str) -> str:
    from nyhetsbrev.errors import NyhetsbrevError
    from nyhetsbrev.subscriptions.recipients import normalize

    address, reason = normalize(raw)
    if reason:
        raise NyhetsbrevError(reason)
    return address


@subscribers.command("show")
@click.argument("address", metavar="ADRESS")
@ROOT
def subscribers_show(address: str, root: Path) -> None:
    """Visa allt som finns om en adress (registerutdrag, artikel 15 i dataskyddsförordningen).

    Prenumerantens uppgifter, varje anmälan, bekräftelse och avregistrering med den
    informationstext som visades, och adressens rader i utskicksregistret.

    \b
    Exempel:
        python3 build.py subscribers show namn@kommun.se
    """
    from nyhetsbrev.subscriptions.subscribers import extract

    for line in extract(_register_site(root), _address(address)):
        click.echo(line)


@subscribers.command("erase")
@click.argument("address", metavar="ADRESS")
@ROOT
def subscribers_erase(address: str, root: Path) -> None:
    """Radera en adress ur registren (artikel 17 i dataskyddsförordningen).

    Bara en nyckelhash av adressen sparas, så att en import inte kan lägga tillbaka den.

    \b
    Exempel:
        python3 build.py subscribers erase namn@kommun.se
    """
    from nyhetsbrev.subscriptions.subscribers import erase
    from nyhetsbrev.subscriptions.tokens import secret_from_env

    for line in erase(_register_site(root), secret_from_env(), _address(address)):
        click.echo(line)


@subscribers.command("purge")
@ROOT
def subscribers_purge(root: Path) -> None:
    """Ta bort utgångna obekräftade anmälningar och utskicksrader äldre än [sending] keep_days.

    \b
    Exempel:
        python3 build.py subscribers purge
    """
    from nyhetsbrev.subscriptions.subscribers import purge

    for line in purge(_register_site(root)):
        click.echo(line)
