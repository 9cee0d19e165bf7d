"""The preview's state and HTTP answers without a browser: what re-renders, what is served."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from nyhetsbrev.preview.serve import Preview, start


@pytest.fixture
def preview(tree) -> Preview:
    return Preview(tree)


def test_an_edited_item_re_renders_its_issue_only(preview, tree):
    march, october = preview.view("2022/2022-03"), preview.view("2022/2022-10")
    item = tree / "newsletters/2022/2022-03/svartsjuka.md"
    item.write_text(item.read_text("utf-8").replace("Materialet", "Affischerna"), "utf-8")
    assert preview.changed([item]) == {"2022/2022-03"}
    assert preview.view("2022/2022-10") is october
    new = preview.view("2022/2022-03")
    assert new is not march
    assert "Affischerna finns att beställa" in new.rendered.html
    assert "Affischerna finns att beställa" not in march.rendered.html


def test_a_campaign_change_re_renders_every_issue(preview, tree):
    october = preview.view("2022/2022-10")
    campaign = tree / "campaigns/valj-att-sluta.md"
    campaign.write_text(
        campaign.read_text("utf-8").replace("En nationell", "Den nationella"), "utf-8"
    )
    assert preview.changed([campaign]) == {"*"}
    assert "Den nationella stödlinje" in preview.view("2022/2022-10").rendered.html
    assert preview.view("2022/2022-10") is not october


def test_files_outside_the_content_are_ignored(preview, tree):
    assert preview.changed([tree / "public/index.html", tree / "README.md"]) == set()
    assert preview.key_of(tree / "newsletters/2022/2022-03/plan.png") == "2022/2022-03"
    assert preview.key_of(tree / "newsletters/2022") == "*"
    assert preview.key_of(tree / "newsletters/2022/2022-03/.svartsjuka.md.swp") is None


def test_a_deleted_issue_leaves_the_index(preview, tree):
    import shutil

    shutil.rmtree(tree / "newsletters/2021/2021-11")
    assert preview.changed([tree / "newsletters/2021/2021-11"]) == {"2021/2021-11"}
    assert preview.keys() == ["2022/2022-10", "2022/2022-03"]
    assert preview.view("2021/2021-11") is None


def test_a_broken_item_keeps_the_last_good_render(preview, tree):
    good = preview.view("2022/2022-03")
    item = tree / "newsletters/2022/2022-03/svartsjuka.md"
    item.write_text("---\ntitle: Svartsjuka\ndate: 2022-13-01\n---\nText.\n", "utf-8")
    preview.changed([item])
    broken = preview.view("2022/2022-03")
    assert broken.stale and broken.rendered is good.rendered
    assert [str(p) for p in broken.problems if p.severity == "error"] == [
        'newsletters/2022/2022-03/svartsjuka.md:3: date "2022-13-01" finns inte: det finns '
        "ingen månad 13, året har tolv månader"
    ]
    assert broken.title == "Nyhetsbrev mars 2022"


def test_a_broken_template_is_shown_as_a_problem(preview, tree):
    template = tree / "templates/email/issue.mjml"
    template.parent.mkdir(parents=True)
    template.write_text("<mjml>\n{% if %}\n</mjml>\n", "utf-8")
    assert preview.changed([template]) == {"*"}
    view = preview.view("2022/2022-10")
    assert view.rendered is None and view.errors == 1
    assert str(view.problems[0]) == (
        "templates/email/issue.mjml:2: mallen går inte att läsa (Jinja säger på engelska: "
        "\"Expected an expression, got 'end of statement block'\")"
    )


def test_the_web_version_is_the_builds_and_made_when_asked_for(preview, tree, monkeypatch):
    from nyhetsbrev.build import render
    from nyhetsbrev.content.check import check
    from nyhetsbrev.content.load import load
    from nyhetsbrev.preview import serve

    made = []
    monkeypatch.setattr(serve, "render_web", lambda *a: made.append(a) or render.render_web(*a))
    view = preview.view("2022/2022-03")
    assert view.rendered is not None and made == []  # the email and text only, at first
    content, _ = check(load(tree))
    assert content is not None
    issue = next(i for i in content.issues if i.id == "2022-03")
    built = render.render_issue(render.site_environment(content.site), content, issue).web
    assert view.web() == built and view.web() == built and len(made) == 1


def test_a_broken_web_template_is_shown_as_a_problem_at_once(preview, tree):
    template = tree / "templates/web/issue.html"
    template.parent.mkdir(parents=True)
    template.write_text('{% extends "web/base.html" %}\n{% if %}\n', "utf-8")
    assert preview.changed([template]) == {"*"}
    view = preview.view("2022/2022-10")
    assert view.rendered is None and view.errors == 1
    assert str(view.problems[0]).startswith("templates/web/issue.html:2: mallen går inte att läsa")


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def test_the_server_answers_pages_outputs_and_assets(tree):
    server = start(tree)
    try:
        status, kind, body = get(server.url + "nummer/2022/2022-03/data.json")
        data = json.loads(body)
        assert status == 200 and kind.startswith("application/json")
        assert data["title"] == "Nyhetsbrev mars 2022" and data["errors"] == 0
        assert data["warnings"] == 2
        status, _, body = get(server.url + "utskick/2022/2022-03/email.html")
        html = body.decode()
        assert "https://nyhetsbrev.example.se/" not in html
        assert 'src="/utskick/2022/2022-03/plan.png"' in html
        status, kind, body = get(server.url + "utskick/2022/2022-03/plan.png")
        assert (status, kind) == (200, "image/png") and body.startswith(b"\x89PNG")
        assert get(server.url + "utskick/2022/2022-03/svartsjuka.md")[0] == 404
        assert get(server.url + "utskick/2022/2022-03/../../../newsletter.toml")[0] == 404
        assert get(server.url + "utskick/2022/2022-03/email.txt")[1].startswith("text/plain")
    finally:
        server.stop()


def test_the_event_stream_says_which_issue_changed(tree):
    server = start(tree)
    try:
        with urllib.request.urlopen(server.url + "handelser", timeout=5) as stream:
            assert stream.readline() == b"event: hello\n"
            assert stream.readline() == b'data: {"version": 0}\n'
            stream.readline()
            time.sleep(0.2)  # let the watcher settle
            item = tree / "newsletters/2022/2022-10/konferens.md"
            item.write_text(item.read_text("utf-8") + "\nMer om dagen.\n", "utf-8")
            assert stream.readline() == b"event: change\n"
            assert stream.readline() == b'data: {"version": 1, "issues": ["2022/2022-10"]}\n'
    finally:
        server.stop()
