"""Hostile content against the outputs: templates, symlinks, active files, deep nesting,
odd file names, feeds read as HTML, big assets, and the preview's Host header and signals."""

from __future__ import annotations

import json
import re
import resource
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import feedparser
import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from nyhetsbrev.build.pipeline import load_content
from nyhetsbrev.preview.serve import Preview, start

SECRET = "hemligt-losenord-4711"
CLI = "from nyhetsbrev.cli import cli; cli()"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
MARCH = "newsletters/2022/2022-03"
ITEM = f"{MARCH}/svartsjuka.md"  # 9 lines: an appended line is line 10


def append(tree: Path, line: str, path: str = ITEM) -> None:
    file = tree / path
    file.write_text(file.read_text("utf-8") + line + "\n", "utf-8")


def build(run, tree: Path):
    return run("build", "--root", tree, "--out", tree / "public")


def errors(result) -> list[str]:
    return [line for line in result.output.splitlines() if "varning:" not in line]


# -- 1. templates run in the sandbox ------------------------------------------------------

ESCAPES = [
    "cycler.__init__.__globals__.os.popen('echo $NYHETSBREV_SMTP_PASSWORD').read()",
    "lipsum.__globals__['os'].environ['NYHETSBREV_SMTP_PASSWORD']",
    "joiner.__init__.__globals__.os.environ",
    "namespace.__init__.__globals__.os.environ",
    "self._TemplateReference__context",
    "().__class__.__base__.__subclasses__()",
    "color_of.__globals__['os'].environ",
    "site.root.joinpath('/proc/self/environ').read_text()",
    "site|attr('root')",
    "site.smtp",
]


@pytest.mark.parametrize("expression", ESCAPES)
def test_a_hostile_template_is_stopped_with_its_line_and_leaks_nothing(
    run, tree, monkeypatch, expression
):
    monkeypatch.setenv("NYHETSBREV_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    template = tree / "templates/web/issue.html"
    template.parent.mkdir(parents=True)
    template.write_text(
        '{% extends "web/base.html" %}\n{% block main %}\n'
        f"<p>{{{{ {expression} }}}}</p>\n{{% endblock %}}\n",
        "utf-8",
    )
    result = build(run, tree)
    assert result.exit_code == 1
    assert result.output == (
        "templates/web/issue.html:3: mallen försöker nå något som mallar inte får använda, "
        "och stoppades\n"
    )
    assert SECRET not in result.output and not (tree / "public").exists()


def test_the_preview_shows_a_hostile_template_as_a_problem(tree, monkeypatch):
    monkeypatch.setenv("NYHETSBREV_SMTP_PASSWORD", SECRET)
    template = tree / "templates/email/issue.txt"
    template.parent.mkdir(parents=True)
    template.write_text("Hej\n{{ lipsum.__globals__.os.environ }}\n", "utf-8")
    view = Preview(tree).view("2022/2022-03")
    assert view.rendered is None
    assert [str(p) for p in view.problems if p.severity == "error"] == [
        "templates/email/issue.txt:2: mallen försöker nå något som mallar inte får använda, "
        "och stoppades"
    ]


def test_a_template_that_links_outside_the_tree_is_not_read(run, tree, tmp_path):
    outside = tmp_path / "utanfor.txt"
    outside.write_text(f"{SECRET}\n", "utf-8")
    (tree / "templates/email").mkdir(parents=True)
    (tree / "templates/email/issue.txt").symlink_to(outside)
    result = build(run, tree)
    assert result.exit_code == 1
    assert result.output == (
        "templates/email/issue.txt:1: mallen är en länk till en fil utanför innehållets mapp "
        "och används inte: lägg själva mallen i templates/ [outside-root]\n"
    )


def test_a_template_that_is_not_utf8_is_a_path_line_error(run, tree):
    template = tree / "templates/email/issue.txt"
    template.parent.mkdir(parents=True)
    template.write_bytes("Hej på dig\n".encode("latin-1"))
    result = build(run, tree)
    assert result.exit_code == 1
    assert (
        result.output
        == "templates/email/issue.txt:1: mallen går inte att läsa: den är inte UTF-8\n"
    )


def test_a_template_mistake_is_a_path_line_error_not_a_traceback(run, tree):
    template = tree / "templates/web/issue.html"
    template.parent.mkdir(parents=True)
    template.write_text("{% extends 'web/base.html' %}\n{% block main %}\n{{ 1 / 0 }}\n", "utf-8")
    template.write_text(template.read_text() + "{% endblock %}\n", "utf-8")
    result = build(run, tree)
    assert result.exit_code == 1
    assert result.output == (
        "templates/web/issue.html:3: mallen går inte att rendera: "
        "ZeroDivisionError: division by zero\n"
    )


# -- 2. nothing outside the content root ------------------------------------------------


def linked_file(tree: Path, outside: Path) -> str:
    """Link a file of the item's folder to a file outside the tree; return the link text."""
    outside.write_text(f"root:{SECRET}\n", "utf-8")
    (tree / MARCH / "hemlig.pdf").symlink_to(outside)
    append(tree, "[Läs](hemlig.pdf)")
    return "hemlig.pdf"


def linked_folder(tree: Path, outside: Path) -> str:
    """Link a folder of the item's folder to a folder outside the tree; return the image."""
    outside.mkdir()
    shutil.copy(tree / MARCH / "plan.png", outside / "bild.png")
    (tree / MARCH / "bilder").symlink_to(outside, target_is_directory=True)
    append(tree, "![Bild](bilder/bild.png)")
    return "bilder/bild.png"


@pytest.mark.parametrize("link", [linked_file, linked_folder], ids=["file", "folder"])
def test_a_symlink_out_of_the_tree_is_refused(run, tree, tmp_path, link):
    target = link(tree, tmp_path / "ute")
    result = build(run, tree)
    assert result.exit_code == 1
    assert errors(result) == [
        f'{ITEM}:10: "{target}" är en länk till en fil utanför innehållets mapp och '
        "publiceras inte: lägg en kopia av filen bredvid texten [outside-root]"
    ]


def test_markdown_behind_a_link_out_of_the_tree_is_not_read(run, tree, tmp_path):
    outside = tmp_path / "ute"
    shutil.move(tree / "newsletters/2022/2022-10", outside)
    (tree / "newsletters/2022/2022-10").symlink_to(outside, target_is_directory=True)
    (tree / MARCH / "extra.md").symlink_to(outside / "konferens.md")
    result = build(run, tree)
    assert result.exit_code == 1
    message = (
        ":1: filen är en länk till en fil utanför innehållets mapp och läses inte: "
        "lägg själva filen här [outside-root]"
    )
    assert errors(result) == [
        f"{MARCH}/extra.md{message}",
        f"newsletters/2022/2022-10/issue.md{message}",
        f"newsletters/2022/2022-10/konferens.md{message}",
        f"newsletters/2022/2022-10/valj-att-sluta.md{message}",
    ]


@pytest.mark.parametrize("link", ["%2e%2e/%2e%2e/%2e%2e/newsletter.toml", "%2Fetc%2Fpasswd"])
def test_an_encoded_way_out_of_the_folder_is_refused(run, tree, link):
    append(tree, f"[Fil]({link})")
    result = build(run, tree)
    assert result.exit_code == 1
    assert errors(result) == [
        f'{ITEM}:10: "{link}" pekar utanför mappen: lägg filen bredvid texten'
    ]


def test_a_symlink_inside_the_tree_is_published(run, tree):
    (tree / MARCH / "samma.png").symlink_to(tree / MARCH / "plan.png")
    append(tree, "![Plan](samma.png)")
    result = build(run, tree)
    assert result.exit_code == 0, result.output
    assert (tree / "public/2022/2022-03/samma.png").read_bytes().startswith(b"\x89PNG")


def get(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_preview_serves_only_linked_files_inside_the_tree(tree, tmp_path):
    outside = tmp_path / "passwd"
    outside.write_text(f"root:{SECRET}\n", "utf-8")
    (tree / MARCH / "hemlig.txt").symlink_to(outside)
    (tree / MARCH / "ritning.svg").write_text("<svg><script>alert(1)</script></svg>", "utf-8")
    server = start(tree)
    try:
        base = server.url + "utskick/2022/2022-03/"
        assert get(base + "hemlig.txt")[0] == 404
        assert get(base + "ritning.svg")[0] == 404
        assert get(base + "bilaga.pdf") == (200, (tree / MARCH / "bilaga.pdf").read_bytes())
        # A linked file replaced by a link out of the tree after it was checked.
        (tree / MARCH / "bilaga.pdf").unlink()
        (tree / MARCH / "bilaga.pdf").symlink_to(outside)
        status, body = get(base + "bilaga.pdf")
        assert status == 404 and SECRET.encode() not in body
    finally:
        server.stop()


# -- 5. deep nesting never reaches the MJML compiler -------------------------------------


def test_deep_nesting_is_an_error_not_a_crash(tree):
    append(tree, "<b>" * 10_000 + "djupt" + "</b>" * 10_000)
    result = subprocess.run(
        [sys.executable, "-c", CLI, "build", "--root", tree, "--out", tree / "ut"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, (result.returncode, result.stderr[-500:])
    assert [line for line in result.stderr.splitlines() if "varning:" not in line] == [
        f"{ITEM}:10: texten har fler än 100 element inuti varandra (t.ex. <b><b><b>…): "
        "förenkla formateringen [nesting]"
    ]


def test_deep_markdown_emphasis_is_an_error_on_its_line(run, tree):
    append(tree, "*" * 400 + "djupt" + "*" * 400)
    append(tree, "Sista raden.")
    result = build(run, tree)
    assert result.exit_code == 1
    assert errors(result) == [
        f"{ITEM}:10: texten har fler än 100 element inuti varandra (t.ex. <b><b><b>…): "
        "förenkla formateringen [nesting]"
    ]


def test_ordinary_nesting_still_builds(run, tree):
    append(tree, "<b>" * 40 + "fett" + "</b>" * 40)
    assert build(run, tree).exit_code == 0


# -- 8. only inert file types are published ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "ritning.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            'filen "ritning.svg" får inte publiceras: bara bilder (png, jpg, gif, webp) och pdf '
            "får länkas, eftersom andra filtyper (som svg och html) kan köra skript på "
            "webbplatsen [file-type]",
        ),
        (
            "sida.html",
            b"<script>fetch('/')</script>",
            'filen "sida.html" får inte publiceras: bara bilder (png, jpg, gif, webp) och pdf '
            "får länkas, eftersom andra filtyper (som svg och html) kan köra skript på "
            "webbplatsen [file-type]",
        ),
        (
            "bild.png",
            b"<html><script>alert(1)</script></html>",
            'filen "bild.png" är ingen riktig PNG-bild: innehållet stämmer inte med '
            "filändelsen .png [file-type]",
        ),
        (
            "rapport.pdf",
            b"\x89PNG\r\n\x1a\n",
            'filen "rapport.pdf" är ingen riktig PDF: innehållet stämmer inte med '
            "filändelsen .pdf [file-type]",
        ),
    ],
)
def test_active_or_disguised_files_are_refused(run, tree, name, data, message):
    (tree / MARCH / name).write_bytes(data)
    append(tree, f"[Fil]({name})")
    result = build(run, tree)
    assert result.exit_code == 1
    assert errors(result) == [f"{ITEM}:10: {message}"]
    assert not (tree / "public").exists()


def test_every_allowed_type_is_published(run, tree):
    heads = {
        "a.jpg": b"\xff\xd8\xff\xe0" + bytes(12),
        "b.GIF": b"GIF89a" + bytes(10),
        "c.webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        "d.pdf": b"%PDF-1.7\n",
    }
    for name, data in heads.items():
        (tree / MARCH / name).write_bytes(data)
    append(tree, " ".join(f"[{n}]({n})" for n in heads))
    result = build(run, tree)
    assert result.exit_code == 0, result.output
    assert all((tree / "public/2022/2022-03" / n).exists() for n in heads)


# -- 10. feed fields read as HTML ------------------------------------------------------


def test_the_channel_description_is_text_even_read_as_html(run, tree):
    campaign = tree / "campaigns/svartsjuka.md"
    text = campaign.read_text("utf-8")
    head, body = text.rsplit("---\n", 1)
    campaign.write_text(
        f"{head}---\nSe `<img src=x onerror=alert(1)>` och &lt;script&gt;x&lt;/script&gt;.\n\n"
        + body,
        "utf-8",
    )
    toml = tree / "newsletter.toml"
    toml.write_text(
        toml.read_text("utf-8").replace(
            'organisation = "Länsstyrelsen i Testlän"',
            'organisation = "Länsstyrelsen <script>alert(2)</script>"',
        ),
        "utf-8",
    )
    assert build(run, tree).exit_code == 0
    for feed in ("campaigns/svartsjuka/feed.xml", "feed.xml"):
        channel = etree.parse(str(tree / "public" / feed)).find("channel")
        description = channel.findtext("description")
        as_html = lxml.html.fragment_fromstring(description, create_parent="div")
        assert as_html.findall(".//img") == [] and as_html.findall(".//script") == []
        assert "<" in as_html.text_content(), description  # shown as text, not dropped
    atom = feedparser.parse((tree / "public/campaigns/svartsjuka/atom.xml").read_bytes())
    assert "<img src=x onerror=alert(1)>" in atom.feed.subtitle_detail.value
    assert atom.feed.subtitle_detail.type == "text/plain"
    data = json.loads((tree / "public/feed.json").read_text("utf-8"))
    assert data["description"].endswith("<script>alert(2)</script>")  # JSON: plain text


# -- 10/11. one list of actions in every output ----------------------------------------


def test_every_item_link_reaches_all_four_outputs(run, tree):
    event = tree / "newsletters/2022/2022-10/konferens.md"
    event.write_text(
        event.read_text("utf-8").replace(
            "registration:", "link: https://www.example.se/konferens/program\nregistration:"
        ),
        "utf-8",
    )
    assert build(run, tree).exit_code == 0
    public = tree / "public"
    content = load_content(tree).content
    from nyhetsbrev.build.render import actions

    feeds = [(public / n).read_text("utf-8") for n in ("feed.xml", "atom.xml", "feed.json")]
    checked = 0
    for issue in content.issues:
        folder = public / issue.folder
        outputs = {
            "e-post": (folder / "email.html").read_text("utf-8"),
            "text": (folder / "email.txt").read_text("utf-8"),
            "webb": (folder / "index.html").read_text("utf-8"),
        }
        for item in issue.items:
            links = [item.link, item.registration] + ([""] if not item.is_event else [])
            wanted = {a.url for a in actions(content.site, item)}
            assert {x for x in links if x} <= wanted
            for url in wanted:
                checked += 1
                for name, text in outputs.items():
                    assert url in text, (item.slug, url, name)
                if item in content.items[-5:]:  # feeds carry the newest five
                    assert any(url.replace("/", "\\/") in f or url in f for f in feeds), url
    assert checked >= 6
    web = (public / "2022/2022-10/index.html").read_text("utf-8")
    assert 'href="https://www.example.se/konferens/program">Läs mer' in web


# -- 14. names with å, spaces, # and ? -------------------------------------------------


def test_file_names_with_letters_and_spaces_are_found_and_linked(run, tree):
    for name in ("bild-å.png", "a b.png"):
        shutil.copy(tree / MARCH / "plan.png", tree / MARCH / name)
    append(tree, "![Å](bild-å.png) ![Mellanslag](<a b.png>)")
    result = build(run, tree)
    assert result.exit_code == 0, result.output
    html = (tree / "public/2022/2022-03/email.html").read_text("utf-8")
    assert 'src="https://nyhetsbrev.example.se/2022/2022-03/bild-%C3%A5.png"' in html
    assert 'src="https://nyhetsbrev.example.se/2022/2022-03/a%20b.png"' in html
    assert (tree / "public/2022/2022-03/bild-å.png").exists()
    assert (tree / "public/2022/2022-03/a b.png").exists()


def test_a_slug_with_hash_and_question_mark_gives_working_links(run, tree):
    source = tree / "newsletters/2022/2022-10/konferens.md"
    shutil.move(source, source.with_name("frågor#svar?.md"))
    assert build(run, tree).exit_code == 0
    web = (tree / "public/2022/2022-10/index.html").read_text("utf-8")
    assert 'href="#fr%C3%A5gor%23svar%3F"' in web and 'id="frågor#svar?"' in web
    ics = "https://nyhetsbrev.example.se/2022/2022-10/fr%C3%A5gor%23svar%3F.ics"
    assert ics in web and ics in (tree / "public/2022/2022-10/email.html").read_text("utf-8")
    assert (tree / "public/2022/2022-10/frågor#svar?.ics").exists()
    feed = (tree / "public/feed.xml").read_text("utf-8")
    assert "https://nyhetsbrev.example.se/2022/2022-10/#fr%C3%A5gor%23svar%3F" in feed


# -- 15. big assets ---------------------------------------------------------------------


def big_asset(tree: Path) -> None:
    """Link a sparse 200 MB PDF from an item."""
    with (tree / MARCH / "stor.pdf").open("wb") as f:
        f.write(b"%PDF-1.7\n")
        f.truncate(200 * 1024 * 1024)
    append(tree, "[Stor](stor.pdf)")


def test_a_rebuild_compares_a_big_asset_without_reading_it_whole(tree):
    big_asset(tree)
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from nyhetsbrev.build.pipeline import build\n"
        "build(Path(sys.argv[1]), Path(sys.argv[1]) / 'public')\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    peaks = []
    for _ in range(2):  # the first build copies, the second compares
        done = subprocess.run(
            [sys.executable, "-c", code, tree], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-500:]
        peaks.append(int(done.stdout.split()[-1]) // 1024)
    assert peaks[1] < peaks[0] + 50, f"peak RSS in MB, first and rebuild: {peaks}"
    assert peaks[1] < 200, peaks
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def test_the_preview_streams_a_big_asset_without_reading_it_whole(tree):
    big_asset(tree)
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--root", tree, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().split()[2]
        received = 0
        with urllib.request.urlopen(url + "utskick/2022/2022-03/stor.pdf") as response:
            assert response.headers["Content-Length"] == str(200 * 1024 * 1024)
            while chunk := response.read(1024 * 1024):
                received += len(chunk)
        assert received == 200 * 1024 * 1024
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1])
        assert peak < 150 * 1024, f"the preview peaked at {peak // 1024} MB"
    finally:
        process.kill()
        process.communicate()


def test_an_image_too_big_for_an_email_gets_a_warning(run, tree):
    image = tree / MARCH / "stor.png"
    image.write_bytes((tree / MARCH / "plan.png").read_bytes() + bytes(1_600_000))
    append(tree, "![Stor bild](stor.png)")
    result = build(run, tree)
    assert result.exit_code == 0
    assert (
        f'{ITEM}:10: varning: bilden "stor.png" är 1,6 MB; en bild i ett e-brev bör vara '
        "under 1 MB: spara den i lägre upplösning [image-size]"
    ) in result.output.splitlines()


# -- 16. the preview answers only to its own address ------------------------------------


def test_the_preview_refuses_a_foreign_host_header(tree):
    server = start(tree)
    try:
        port = server.server_address[1]
        for host in (f"angripare.example:{port}", "nyhetsbrev.example.se", "127.0.0.1.nip.io"):
            status, body = get(server.url, host)
            assert status == 421, host
            assert "Förhandsvisningen svarar bara på adressen" in body.decode()
            assert get(server.url + "handelser", host)[0] == 421
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert get(server.url, host)[0] == 200, host
    finally:
        server.stop()


def test_which_host_headers_and_addresses_count_as_local():
    from nyhetsbrev.preview.serve import allowed_host, exposure_warning, is_loopback

    assert allowed_host("[::1]:8000", "::1") and allowed_host("LOCALHOST:80", "127.0.0.1")
    assert not allowed_host(None, "127.0.0.1") and not allowed_host("", "127.0.0.1")
    assert not allowed_host("192.168.1.5", "127.0.0.1")
    assert allowed_host("192.168.1.5:8000", "0.0.0.0")
    assert not allowed_host("rebind.example:8000", "0.0.0.0")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert exposure_warning("127.0.0.1") is None
    assert exposure_warning("0.0.0.0") == (
        "varning: förhandsvisningen kan nås från andra datorer via 0.0.0.0 och visar även "
        "utkast; starta med --host 127.0.0.1 om bara du ska se den"
    )


# -- issue 10, 14: serve ends cleanly on SIGINT and SIGTERM ------------------------------


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for a job started with & in a script


@pytest.mark.parametrize(
    ("stop", "started"),
    [(signal.SIGINT, _ignore_sigint), (signal.SIGTERM, None)],
    ids=["sigint-in-background", "sigterm"],
)
def test_serve_stops_cleanly_on_a_signal(tree, stop, started):
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--root", tree, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=started,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Förhandsvisning på http://127.0.0.1:"), line
        process.send_signal(stop)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out == "Förhandsvisningen avslutas.\n"


# -- property: any file name that a coordinator can type is found and linked -------------

NAME_CHARACTERS = "abcxyzåäöÅÄÖé019 -_.,;'()!&+=@$~"


@settings(max_examples=60)
@given(
    stem=st.text(NAME_CHARACTERS, min_size=1, max_size=24).filter(
        lambda s: s.strip() == s and not s.startswith(".") and "  " not in s
    ),
    encoded=st.booleans(),
)
def test_any_typed_file_name_is_found_and_linked_whole(stem, encoded):
    import tempfile
    from urllib.parse import quote, unquote, urlsplit

    from nyhetsbrev.content.markup import Place, render_markdown

    name = f"{stem}.png"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / name).write_bytes(PNG)
        place = Place(
            "nummer/text.md",
            5,
            "https://example.se/2022/2022-03",
            "2022/2022-03",
            root,
            {name: len(PNG)},
            "https://example.se",
            root,
        )
        link = quote(name) if encoded else f"<{name}>"
        markup, problems = render_markdown(f"![Bild]({link})\n", place)
    assert [p for p in problems if p.severity == "error"] == []
    (asset,) = markup.assets
    assert asset.source == root / name and asset.target == f"2022/2022-03/{name}"
    src = markup.html.split('src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert src == asset.url
    assert unquote(urlsplit(src).path) == f"/2022/2022-03/{name}"


# -- property: hostile trees end in exit 0 or path:line errors, never a crash ------------

HAZARDS = {
    "nesting": lambda tree, n: append(tree, "<i>" * n + "x" + "</i>" * n),
    "emphasis": lambda tree, n: append(tree, "_" * n + "x" + "_" * n),
    "file-link-out": lambda tree, n: (
        (tree / MARCH / f"ut{n}.png").symlink_to("/etc/passwd"),
        append(tree, f"![Ut](ut{n}.png)"),
    ),
    "folder-link-out": lambda tree, n: (
        (tree / MARCH / f"mapp{n}").symlink_to("/etc", target_is_directory=True),
        append(tree, f"[Ut](mapp{n}/passwd)"),
    ),
    "svg": lambda tree, n: (
        (tree / MARCH / "r.svg").write_text("<svg><script>1</script></svg>"),
        append(tree, "![R](r.svg)"),
    ),
    "disguised": lambda tree, n: (
        (tree / MARCH / "d.png").write_text("<html><script>1</script>"),
        append(tree, "[D](d.png)"),
    ),
    "odd-name": lambda tree, n: (
        (tree / MARCH / f"bild å #{n}.png").write_bytes(PNG),
        append(tree, f"![Å](bild%20%C3%A5%20%23{n}.png)"),
    ),
    "template": lambda tree, n: (
        (tree / "templates/email").mkdir(parents=True, exist_ok=True),
        (tree / "templates/email/issue.txt").write_text("{{ range.__globals__ }}\n"),
    ),
}


@settings(max_examples=12)
@given(
    hazards=st.lists(st.sampled_from(sorted(HAZARDS)), min_size=1, max_size=4, unique=True),
    size=st.sampled_from([3, 99, 150, 5_000, 20_000]),
)
def test_hostile_trees_end_in_path_line_errors_never_a_crash(hazards, size):
    import re
    import tempfile

    from .conftest import FIXTURES

    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "innehall"
        shutil.copytree(FIXTURES / "basic", tree, ignore=shutil.ignore_patterns(".nyhetsbrev"))
        for hazard in hazards:
            HAZARDS[hazard](tree, size)
        done = subprocess.run(
            [sys.executable, "-c", CLI, "build", "--root", tree, "--out", tree / "ut"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode in (0, 1), (hazards, done.returncode, done.stderr[-300:])
    assert "Traceback" not in done.stderr and "passwd" not in done.stdout
    for line in done.stderr.splitlines():
        assert re.match(r"[^:\s]+(?: \(standardmallen\))?:\d+: ", line), (hazards, line)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    assert peak < 400, f"a build peaked at {peak} MB"


# --- found by an attack after the merges ------------------------------------------------------


@pytest.mark.parametrize("where", [".", "newsletters/x", "campaigns", "..", "victim"])
def test_build_never_replaces_the_content_or_a_foreign_folder(run, tree, where):
    """Publishing replaces the output folder whole: never the tree, its parts or others' files."""
    victim = tree / "victim"
    victim.mkdir()
    (victim / "avhandling.docx").write_bytes(b"viktig")
    before = sorted(p.relative_to(tree.parent).as_posix() for p in tree.parent.rglob("*"))
    result = run("build", "--root", tree, "--out", tree / where)
    assert result.exit_code == 1, result.output
    assert "build ersätter hela utmappen" in result.stderr
    after = sorted(p.relative_to(tree.parent).as_posix() for p in tree.parent.rglob("*"))
    assert after == before


def test_an_earlier_output_is_still_replaced(run, tree):
    out = tree.parent / "ut"
    assert run("build", "--root", tree, "--out", out).exit_code == 0
    assert run("build", "--root", tree, "--out", out).exit_code == 0


def test_deep_nesting_in_front_matter_and_config_is_a_path_line_error(run, tree):
    item = tree / "newsletters/2022/2022-03/handlingsplan.md"
    text = item.read_text("utf-8").replace("delmal: [1, 5]", "malgrupp: " + "[" * 2000 + "]" * 2000)
    item.write_text(text, "utf-8")
    toml = tree / "newsletter.toml"
    toml.write_text(toml.read_text("utf-8") + "\n[extra]\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    lines = toml.read_text("utf-8").count("\n")
    assert f"newsletter.toml:{lines}: ogiltig TOML: värdena ligger för djupt" in result.stderr
    toml.write_text(toml.read_text("utf-8").split("\n[extra]")[0] + "\n", "utf-8")
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    assert "newsletters/2022/2022-03/handlingsplan.md:5: värdena ligger för djupt" in result.stderr


def test_a_template_that_prints_the_site_shows_no_path_or_mail_server(run, tree):
    (tree / "templates/email").mkdir(parents=True)
    (tree / "templates/email/issue.txt").write_text(
        "{{ site }}|{{ site.subscriptions }}|{{ unsubscribe_url }}\n", "utf-8"
    )
    toml = tree / "newsletter.toml"
    toml.write_text(
        toml.read_text("utf-8") + '\n[subscriptions]\nurl = "https://nyhetsbrev.example.se/p"\n',
        "utf-8",
    )
    out = tree.parent / "ut"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0, result.output
    text = (out / "2022/2022-03/email.txt").read_text("utf-8")
    assert str(tree.resolve()) not in text and "sqlite" not in text, text
    assert "localhost" not in text and "port" not in text, text


@pytest.mark.parametrize("address", ["<script>@e.se", "a@e.se..", ".a@e.se", "a@.e.se", "a@b@c.se"])
def test_an_invalid_address_is_explained_in_swedish_only(address):
    from nyhetsbrev.subscriptions.recipients import normalize

    key, reason = normalize(address)
    assert key == "" and "ingen giltig e-postadress" in reason
    english = re.compile(r"\b(the|an|cannot|can't|There|must|should|address)\b")
    assert not english.search(reason.split(": ", 1)[1]), reason
