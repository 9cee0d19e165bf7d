"""Findings of an attack through the CLI: each bad input is a Swedish `path:line: message`,
exit 1, no traceback and nothing written."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO
from .smtp import SECRET, point, running
from .test_send import recipients, send_list
from .test_service import SERVICE_ENV, configure, free_port


def edit(tree: Path, rel: str, old: str, new: str) -> None:
    text = (tree / rel).read_text("utf-8")
    assert old in text, f"{old!r} not in {rel}"
    (tree / rel).write_text(text.replace(old, new, 1), "utf-8")


def fails(run, tree: Path, *command: str) -> str:
    """Run a command (build by default) that must fail cleanly; return its stderr."""
    out = tree.parent / "ut"
    result = run(*(command or ("build", "--root", tree, "--out", out)))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not out.exists(), "a failed build wrote its output"
    return result.stderr


def override(tree: Path, line: str) -> None:
    """Give the tree its own web/meta.html: the default one with one line added (line 2)."""
    template = tree / "templates/web/meta.html"
    template.parent.mkdir(parents=True)
    template.write_text("{# egen #}\n" + line + "\n", "utf-8")


# -- 1. a template cannot make a huge value ----------------------------------------------


@pytest.mark.parametrize(
    "expression,message",
    [
        ("'a' * 10**9", "uttrycket med * ger ett för stort värde"),
        ("[1] * 10**9", "uttrycket med * ger ett för stort värde"),
        ("10 ** (10**9)", "uttrycket med ** ger ett för stort värde"),
        ("(10**600000) * (10**600000)", "uttrycket med * ger ett för stort värde"),
        ("range(10**9)|list", "range() ger för många tal (högst 100\N{NO-BREAK SPACE}000)"),
    ],
)
def test_a_template_cannot_make_a_huge_value(run, tree, expression, message):
    override(tree, "{{ " + expression + " }}")
    stderr = fails(run, tree)
    assert stderr.startswith(f"templates/web/meta.html:2: {message}"), stderr


def test_ordinary_products_and_powers_in_a_template_still_work(run, tree):
    override(tree, "<!-- {{ '-' * 3 }}{{ 2 ** 10 }}{{ [0] * 2 }} -->")
    result = run("build", "--root", tree, "--out", tree.parent / "ut")
    assert result.exit_code == 0, result.output
    assert "<!-- ---1024[0, 0] -->" in (tree.parent / "ut/index.html").read_text("utf-8")


# -- 6. English from the libraries stays out of sight ------------------------------------


def test_a_template_syntax_error_is_swedish_with_jinjas_words_quoted(run, tree):
    override(tree, "{{ site.title }} }}\n{% if %}")
    stderr = fails(run, tree)
    assert stderr == (
        "templates/web/meta.html:3: mallen går inte att läsa (Jinja säger på engelska: "
        "\"Expected an expression, got 'end of statement block'\")\n"
    )


# -- 2. a URL setting is written into pages and feeds as it is -------------------------


@pytest.mark.parametrize(
    "url,what",
    [
        ('https://x.se/\\"><script>alert(1)</script>', "ett citattecken"),
        ("https://x.se/<script>", "tecknet <"),
        ("https://x.se/a b", "ett mellanslag"),
        ("https://x.se/a\\tb", "tecknet U+0009"),
        ("https://x.se/'onload='x", "en apostrof"),
    ],
)
def test_a_base_url_with_characters_not_in_a_url_is_refused(run, tree, url, what):
    edit(
        tree, "newsletter.toml", 'base_url = "https://nyhetsbrev.example.se"', f'base_url = "{url}"'
    )
    stderr = fails(run, tree)
    assert stderr == (
        f"newsletter.toml:3: base_url innehåller {what}, som inte får stå i en webbadress: "
        "skriv adressen utan citattecken, <, > och mellanslag\n"
    )


# -- 3. integer settings have an upper bound --------------------------------------------


SUBSCRIPTIONS = '\n[subscriptions]\nurl = "https://nyhetsbrev.example.se/p"\npending_days = {}\n'


def test_a_huge_pending_days_is_refused_by_purge(run, tree):
    toml = tree / "newsletter.toml"
    line = toml.read_text("utf-8").count("\n") + 4
    toml.write_text(toml.read_text("utf-8") + SUBSCRIPTIONS.format(10**11), "utf-8")
    stderr = fails(run, tree, "subscribers", "purge", "--root", tree)
    assert stderr == f"newsletter.toml:{line}: [subscriptions] pending_days får vara högst 365\n"


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("items = 5", "items = 5000", "[feeds] items får vara högst 1\N{NO-BREAK SPACE}000"),
        ("port = 2525", "port = 99999", "[smtp] port får vara högst 65\N{NO-BREAK SPACE}535"),
    ],
)
def test_integer_settings_have_an_upper_bound(run, tree, old, new, message):
    edit(tree, "newsletter.toml", old, new)
    text = (tree / "newsletter.toml").read_text("utf-8")
    line = text[: text.index(new)].count("\n") + 1
    assert f"newsletter.toml:{line}: {message}" in fails(run, tree).splitlines()


# -- 4. a port out of range is refused, in Swedish words ---------------------------------


@pytest.mark.parametrize("command", [("serve",), ("subscribers", "serve")])
def test_a_port_out_of_range_is_refused_in_swedish_words(run, tree, command):
    result = run(*command, "--root", tree, "--port", "99999")
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Fel: Ogiltigt värde för '--port': värdet 99999 ska vara från och med 0 till och med "
        "65535.\n"
    )


# -- 5 and 6. `subscribers serve`: no start without the password, no English log ---------


def serve_subscribers(tree: Path, port: int, password: bool) -> subprocess.Popen:
    env = {**os.environ, **SERVICE_ENV}
    env.pop("NYHETSBREV_SMTP_PASSWORD", None)
    if password:
        env["NYHETSBREV_SMTP_PASSWORD"] = "hemligt"
    return subprocess.Popen(
        [sys.executable, str(REPO / "build.py"), "subscribers", "serve"]
        + ["--root", str(tree), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_service_refuses_to_start_without_the_smtp_password(tree):
    configure(tree, 2525, free_port())
    edit(tree, "newsletter.toml", 'user = ""', 'user = "nyhetsbrev"')
    edit(tree, "newsletter.toml", 'security = "none"', 'security = "tls"')
    process = serve_subscribers(tree, free_port(), password=False)
    try:
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 1, out + err
    assert (out, err) == (
        "",
        '[smtp] user är "nyhetsbrev" men miljövariabeln NYHETSBREV_SMTP_PASSWORD är inte '
        "satt; sätt den i skalet (aldrig i newsletter.toml)\n",
    )


def test_the_service_says_in_swedish_where_it_runs_and_nothing_in_english(tree):
    port = free_port()
    url = configure(tree, 2525, port)
    process = serve_subscribers(tree, port, password=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(url + "/integritet", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert (out, err) == (
        f"Tjänsten för prenumerationer körs på {url}/ (avsluta med Ctrl+C)\n",
        "",
    )


# -- 6. tomllib's reasons in Swedish -----------------------------------------------------


@pytest.mark.parametrize(
    "line,reason",
    [
        (
            'title = "Testbrevet" x',
            "något mer står efter värdet på raden: skriv en inställning per rad och sätt text "
            "inom citattecken",
        ),
        ("[[footer]", "en rubrik saknar sin avslutande ]]"),
        (
            'postal = "c:\\q"',
            "ett ensamt bakstreck i texten: skriv två bakstreck, eller sätt texten inom 'enkla "
            "citattecken'",
        ),
        ('postal = "\\uZZZZ"', "en teckenkod efter ett bakstreck i texten går inte att läsa"),
        ('postal = "\\uD800"', "en teckenkod efter ett bakstreck i texten är inget tecken"),
    ],
)
def test_tomllib_reasons_are_in_swedish(run, tree, line, reason):
    toml = tree / "newsletter.toml"
    toml.write_text(line + "\n" + toml.read_text("utf-8"), "utf-8")
    assert fails(run, tree) == f"newsletter.toml:1: ogiltig TOML: {reason}\n"


# -- 7. a list send's time has a decimal comma -------------------------------------------


def test_a_list_send_says_its_time_with_a_decimal_comma(run, tree, monkeypatch):
    with running() as server:
        point(tree, server.port)
        monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
        monkeypatch.delenv("NYHETSBREV_SMTP_PASSWORD", raising=False)
        result = send_list(run, tree, recipients(tree, 2))
    assert result.exit_code == 0, result.output
    assert re.search(r"hoppades över \(\d+,\d s\)$", result.stdout.splitlines()[0]), result.stdout


# -- 8. an item's or campaign's file name is its id: no spaces --------------------------


@pytest.mark.parametrize(
    "old,new,suggestion",
    [
        (
            "newsletters/2022/2022-03/handlingsplan.md",
            "newsletters/2022/2022-03/Handlingsplan 2022.md",
            "handlingsplan-2022.md",
        ),
        ("campaigns/valj-att-sluta.md", "campaigns/Välj att sluta.md", "valj-att-sluta.md"),
    ],
)
def test_a_file_name_with_a_space_is_refused_with_a_slug(run, tree, old, new, suggestion):
    (tree / old).rename(tree / new)
    edit(tree, "newsletters/2022/2022-03/issue.md", "  - handlingsplan\n", "")
    assert fails(run, tree).splitlines()[0] == (
        f"{new}:1: filnamnet har ett mellanslag, som inte fungerar i länkar: byt namn på "
        f'filen, till exempel till "{suggestion}"'
    )


# -- 9. language is a BCP 47 tag ---------------------------------------------------------


@pytest.mark.parametrize("language", ["sv SE", "<x>", "svenska", "sv_SE", "sv-"])
def test_a_language_that_is_no_language_tag_is_refused(run, tree, language):
    edit(tree, "newsletter.toml", 'language = "sv"', f'language = "{language}"')
    assert fails(run, tree) == (
        f'newsletter.toml:4: language "{language}" är ingen språkkod: skriv till exempel "sv" '
        'eller "sv-SE" (bindestreck, inga mellanslag)\n'
    )


@pytest.mark.parametrize("language", ["sv-SE", "se-Latn-NO", "fi", "en-GB"])
def test_a_language_tag_is_accepted(run, tree, language):
    edit(tree, "newsletter.toml", 'language = "sv"', f'language = "{language}"')
    result = run("check", "--root", tree)
    assert result.exit_code == 0, result.output


# -- 10. [footer] logo stays inside the root and the output, and is an inert image ------


PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


def with_logo(tree: Path, logo: str) -> None:
    """Set [footer] logo (line 18 of newsletter.toml) and its alt text."""
    edit(
        tree, "newsletter.toml", "[footer]\n", f'[footer]\nlogo = "{logo}"\nlogo_alt = "Logotyp"\n'
    )


def test_a_logo_outside_the_root_is_neither_read_nor_written(run, tree):
    secret = tree.parent / "hemligt"
    secret.mkdir()
    (secret / "logo.png").write_bytes(PNG)
    with_logo(tree, "../hemligt/logo.png")
    out = tree.parent / "djup" / "ut"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        'newsletter.toml:18: [footer] logo "../hemligt/logo.png" ska vara en sökväg inom '
        "innehållets mapp, som logotyp.png eller bilder/logotyp.png (utan / först och utan ..)\n"
    )
    assert not out.exists()
    assert not (tree.parent / "djup" / "hemligt").exists()


def test_an_absolute_logo_path_is_refused_in_swedish(run, tree):
    (tree / "logo.png").write_bytes(PNG)
    with_logo(tree, str(tree / "logo.png"))
    message = fails(run, tree)
    # The value is quoted at most 80 characters long, and a temporary folder can be longer.
    assert message.startswith(f'newsletter.toml:18: [footer] logo "{str(tree)[:40]}')
    assert '" ska vara en sökväg inom innehållets mapp, som logotyp.png' in message


def _linked_out(tree: Path) -> str:
    (tree.parent / "utanfor.png").write_bytes(PNG)
    (tree / "logo.png").symlink_to(tree.parent / "utanfor.png")
    return "logo.png"


def _svg(tree: Path) -> str:
    (tree / "logo.svg").write_text('<svg onload="alert(1)"/>', "utf-8")
    return "logo.svg"


def _fake_png(tree: Path) -> str:
    (tree / "logo.png").write_text("<script>alert(1)</script>", "utf-8")
    return "logo.png"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            _linked_out,
            'newsletter.toml:18: [footer] logo "logo.png" är en länk till en fil utanför '
            "innehållets mapp: lägg bilden i mappen\n",
        ),
        (
            _svg,
            'newsletter.toml:18: [footer] logo "logo.svg" får inte publiceras: logotypen ska '
            "vara en bild (png, jpg, gif eller webp), eftersom andra filtyper (som svg) kan "
            "köra skript på webbplatsen\n",
        ),
        (
            _fake_png,
            'newsletter.toml:18: [footer] logo "logo.png" är ingen riktig PNG-bild: innehållet '
            "stämmer inte med filändelsen .png\n",
        ),
    ],
    ids=["link-out", "svg", "fake-png"],
)
def test_a_logo_that_is_not_an_inert_image_in_the_root_is_refused(run, tree, make, message):
    with_logo(tree, make(tree))
    assert fails(run, tree) == message


def test_a_logo_in_a_folder_of_the_root_is_published(run, tree):
    (tree / "bilder").mkdir()
    (tree / "bilder/logo.png").write_bytes(PNG)
    with_logo(tree, "./bilder/logo.png")
    out = tree.parent / "ut"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "bilder/logo.png").read_bytes() == PNG
    assert 'src="bilder/logo.png"' in (out / "index.html").read_text("utf-8")


@pytest.mark.parametrize("rel", ["../utanfor.txt", "/tmp/utanfor.txt", "a/../../utanfor.txt"])
def test_publish_never_writes_outside_the_output(tmp_path, rel):
    from nyhetsbrev.build.publish import PublishError, publish

    out = tmp_path / "ut" / "public"
    with pytest.raises(PublishError, match="filen skulle hamna utanför utmappen"):
        publish(out, [("index.html", b"x"), (rel, b"hemligt")])
    assert not (tmp_path / "ut" / "utanfor.txt").exists()
    assert not (tmp_path / "utanfor.txt").exists()
    assert not out.exists()
    assert list((tmp_path / "ut").iterdir()) == []


# -- 11. a template cannot exhaust memory or time without * or ** --------------------------


def limited_build(tree: Path, seconds: int | None = None) -> subprocess.CompletedProcess[str]:
    """Build in a child process with at most 350 MB of address space (below the 400 MB
    test_hostile_outputs allows its children, which counts every child), killed after two
    minutes."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (350 * 2**20, 350 * 2**20))

    setup = f"render.MAX_SECONDS = {seconds}" if seconds else "pass"
    code = f"from nyhetsbrev.build import render\n{setup}\nfrom nyhetsbrev.cli import cli\ncli()"
    command = [sys.executable, "-c", code, "build", "--root", str(tree), "--out"]
    return subprocess.run(
        [*command, str(tree.parent / "ut")],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        check=False,
    )


@pytest.mark.parametrize(
    "expression,message",
    [
        ("{{ 'a'|center(200000000) }}", "ett tal i anropet är för stort (mer än en miljon)"),
        ("{{ '%0999999999d' % 1 }}", "uttrycket med % ber om en för stor bredd"),
        ("{{ '%0999999999d'|format(1) }}", "format ber om en för stor bredd"),
        ("{{ '{:0999999999}'.format(1) }}", "format() ber om en för stor bredd"),
        ("{{ ('a'*1000)|replace('a','b'*1000000) }}", "en text i anropet är för lång"),
        ("{{ range(300)|join('c'*1000000) }}", "en text i anropet är för lång"),
        (
            "{% set ns = namespace(s='x'*50000) %}{% for i in range(16) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "mallen behöver mer minne än datorn har",
        ),
        (
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "mallen går för djupt",
        ),
    ],
)
def test_a_template_cannot_exhaust_memory(tree, expression, message):
    override(tree, expression)
    result = limited_build(tree)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"templates/web/meta.html:2: {message}"), result.stderr
    assert not (tree.parent / "ut").exists()


def test_a_page_too_big_names_the_override_that_makes_it(tree):
    page = tree / "templates/web/archive.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '{% extends "web/base.html" %}\n{% block main %}\n'
        "{% for i in range(30) %}{{ 'a'|center(999999) }}{% endfor %}\n{% endblock %}\n",
        "utf-8",
    )
    result = limited_build(tree)
    assert result.returncode == 1, result.stderr
    assert re.fullmatch(
        r"templates/web/archive\.html:\d: mallen skriver för mycket \(mer än tjugo miljoner "
        r"tecken\): gör den mindre\n",
        result.stderr,
    ), result.stderr


def test_a_template_too_deep_to_compile_is_named(tree):
    override(tree, "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")
    result = limited_build(tree)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("templates/web/meta.html:1: mallen går för djupt"), (
        result.stderr
    )


def test_a_template_that_runs_too_long_is_stopped(tree):
    override(
        tree, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()
    result = limited_build(tree, seconds=2)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        "templates/web/meta.html:2: mallen tog för lång tid (mer än 2 s): gör den enklare\n"
    )
    assert time.monotonic() - started < 60


def test_ordinary_formatting_in_a_template_still_works(run, tree):
    override(
        tree, "<!-- {{ '%s-%03d' % ('a', 7) }} {{ '{:>4}'.format('b') }} {{ '%d'|format(5) }} -->"
    )
    result = run("build", "--root", tree, "--out", tree.parent / "ut")
    assert result.exit_code == 0, result.output
    assert "<!-- a-007    b 5 -->" in (tree.parent / "ut/index.html").read_text("utf-8")
