"""The local preview: every issue as the email at phone and desktop width, as text, with its
check findings, updated in the open browser tab as files change.

The content tree is read once; a change under newsletters/<YYYY>/<id>/ re-reads and
re-renders that issue only (campaigns, newsletter.toml and templates concern every issue,
so a change there starts over). Issues are checked and rendered with the same functions as
`build`, one issue at a time, and cached. A file that does not check shows its problems on
the page; the server keeps running and shows the last version that rendered.

The browser is told about changes by Server-Sent Events on /handelser.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import mimetypes
import os
import shutil
import signal
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2

from nyhetsbrev import urls
from nyhetsbrev.build.lint import documents, lint
from nyhetsbrev.build.render import (
    TEMPLATES,
    RenderedIssue,
    TemplateFailure,
    environment,
    render_issue,
    render_web,
    site_environment,
    stylesheet,
)
from nyhetsbrev.content.check import check
from nyhetsbrev.content.config import parse_config
from nyhetsbrev.content.load import CONFIG, RawIssue, Tree, load, read_config, read_issue
from nyhetsbrev.content.models import Asset, Content, Issue, issue_title
from nyhetsbrev.errors import ERROR, ContentError, NyhetsbrevError, Problem

EMAIL_PREFIX = "/utskick/"  # where the outputs are served; base_url is rewritten to it
WATCHED = ("newsletters", "campaigns", "templates")
KEEPALIVE = 15.0  # seconds between SSE comments, so proxies and browsers keep the stream


@dataclass(frozen=True)
class IssueView:
    """What the preview shows for one issue."""

    key: str  # "2022/2022-03", also its output folder
    title: str
    date: str
    status: str
    items: int
    problems: tuple[Problem, ...]  # check and lint findings, errors first
    rendered: RenderedIssue | None  # None when the issue does not check (or is not rendered)
    stale: bool = False  # rendered is the last version that worked, not the current files
    assets: tuple[tuple[str, Path], ...] = ()  # (output path, file) of every file it links
    page: WebPage | None = None  # the web version of rendered, made when first asked for

    def web(self) -> str:
        """Return the web version of the rendered issue ("" when there is none)."""
        return self.page() if self.page is not None else ""

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == ERROR)

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors


class WebPage:
    """An issue's web version, made the first time it is asked for.

    The preview's page shows the email and its text; the web version only opens from a
    link, so an edit need not wait for it.
    """

    def __init__(self, make: Callable[[], str]):
        self._make: Callable[[], str] | None = make
        self._page = ""
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._make is not None:
                self._page, self._make = self._make(), None
            return self._page


@dataclass
class _Entry:
    raw: RawIssue
    problems: list[Problem]  # problems found while reading its files
    view: IssueView | None = None  # checked (and, if rendered is set, rendered) view
    last_good: RenderedIssue | None = None
    last_page: WebPage | None = None  # last_good's web version


@dataclass
class Preview:
    """The preview's state: the tree read per issue, checked and rendered on demand."""

    root: Path
    version: int = 0
    _tree: Tree | None = None
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _env: jinja2.Environment | None = None
    _base_url: str | None = None
    _log: list[tuple[int, set[str]]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.reload()

    # -- reading -------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the whole tree again and forget every rendered issue."""
        tree = load(self.root)
        site, _ = parse_config(tree.config, tree.root)
        with self._lock:
            old = self._entries
            self._tree = tree
            self._base_url = site.base_url + "/" if site else None
            self._env = None
            self._entries = {}
            for raw in tree.issues:
                key = f"{raw.year}/{raw.id}"
                mine = [p for p in tree.problems if p.path.startswith(f"newsletters/{key}/")]
                previous = old.get(key)
                self._entries[key] = _Entry(
                    raw,
                    mine,
                    last_good=previous.last_good if previous else None,
                    last_page=previous.last_page if previous else None,
                )

    def _reread(self, key: str) -> None:
        folder = self.root / "newsletters" / key
        with self._lock:
            if not folder.is_dir():
                self._entries.pop(key, None)
                return
            problems: list[Problem] = []
            raw = read_issue(self.root, folder, problems)
            previous = self._entries.get(key)
            self._entries[key] = _Entry(
                raw,
                problems,
                last_good=previous.last_good if previous else None,
                last_page=previous.last_page if previous else None,
            )

    def changed(self, paths: Iterable[Path | str]) -> set[str]:
        """Re-read what changed; return the keys of the issues it affects ("*": all)."""
        keys = {key for path in paths if (key := self.key_of(Path(path))) is not None}
        if "*" in keys:
            self.reload()
        else:
            for key in keys:
                self._reread(key)
        return keys

    def announce(self, keys: set[str]) -> None:
        """Tell the waiting pages that these issues changed."""
        with self._changed:
            self.version += 1
            self._log = [*self._log[-50:], (self.version, keys)]
            self._changed.notify_all()

    def changes_at(self, version: int) -> set[str]:
        """Return the keys announced at this version ({"*"} once it has left the log)."""
        with self._changed:
            return next((keys for v, keys in reversed(self._log) if v == version), {"*"})

    def key_of(self, path: Path) -> str | None:
        """Return the issue key a changed path belongs to, "*" for all, None if irrelevant."""
        try:
            parts = path.resolve().relative_to(self.root).parts
        except ValueError:
            return None
        if not parts or any(p.startswith(".") for p in parts):
            return None
        if parts == (CONFIG,) or parts[0] in ("campaigns", "templates"):
            return "*"
        if parts[0] != "newsletters":
            return None
        return f"{parts[1]}/{parts[2]}" if len(parts) >= 3 else "*"

    # -- checking and rendering ----------------------------------------------------------

    def keys(self) -> list[str]:
        """Return the issue keys, newest first."""
        with self._lock:
            return sorted(self._entries, reverse=True)

    def shared_problems(self) -> list[Problem]:
        """Return the problems of newsletter.toml and the campaigns (they concern all issues)."""
        with self._lock:
            tree = self._tree
        assert tree is not None
        single = Tree(
            tree.root,
            tree.config,
            tree.campaigns,
            tree.campaign_files,
            (),
            tree.templates,
            tuple(p for p in tree.problems if not p.path.startswith("newsletters/")),
        )
        return check(single)[1]

    def view(self, key: str, render: bool = True) -> IssueView | None:
        """Return the issue's view, checked (and rendered if asked), from the cache if fresh."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.view is not None and (entry.view.rendered or entry.view.errors or not render):
                return entry.view
            entry.view = self._make_view(key, entry, render)
            if entry.view.rendered is not None and not entry.view.stale:
                entry.last_good, entry.last_page = entry.view.rendered, entry.view.page
            return entry.view

    def _make_view(self, key: str, entry: _Entry, render: bool) -> IssueView:
        tree = self._tree
        assert tree is not None
        shared = tuple(p for p in tree.problems if not p.path.startswith("newsletters/"))
        single = Tree(
            tree.root,
            tree.config,
            tree.campaigns,
            tree.campaign_files,
            (entry.raw,),
            tree.templates,
            (*shared, *entry.problems),
        )
        content, problems = check(single)
        if content is None or not content.issues:
            return self._broken(key, entry, problems)
        issue = content.issues[0]
        rendered = page = None
        if render:
            try:
                env = self._environment(content)
                # The tool's own web templates are rendered when the page is asked for; a
                # content tree's own are rendered now, so that a mistake in them is listed.
                later = not (self.root / TEMPLATES / "web").exists()
                rendered = render_issue(env, content, issue, web=not later)
                made = rendered.web
                page = WebPage(partial(render_web, env, content, issue) if later else lambda: made)
            except Exception as e:  # a broken template: show it, keep serving
                return self._broken(key, entry, [*problems, self._render_problem(issue.path, e)])
            problems = problems + lint(content, [rendered], documents(single))
        return IssueView(
            key,
            issue.title,
            issue.date.isoformat(),
            issue.status,
            len(issue.items),
            _ordered(problems),
            rendered,
            assets=_linked(issue, content),
            page=page,
        )

    def _render_problem(self, issue_path: str, error: Exception) -> Problem:
        """Return a problem for an exception raised while rendering (a template's mistake)."""
        if isinstance(error, TemplateFailure):
            return error.problem
        if isinstance(error, jinja2.TemplateSyntaxError) and error.filename:
            path = Path(error.filename)
            where = (
                path.relative_to(self.root).as_posix()
                if path.is_relative_to(self.root)
                else f"templates/{error.name}"
            )
            return Problem(where, error.lineno, f"mallen går inte att läsa: {error.message}")
        return Problem(
            issue_path, 1, f"numret går inte att rendera: {type(error).__name__}: {error}"
        )

    def _broken(self, key: str, entry: _Entry, problems: list[Problem]) -> IssueView:
        meta = entry.raw.doc.meta if entry.raw.doc else {}
        date = str(meta.get("date", "")) if isinstance(meta.get("date", ""), str) else ""
        title = meta.get("title")
        title = title if isinstance(title, str) else None
        if not title and len(date) >= 7 and date[5:7].isdecimal() and 1 <= int(date[5:7]) <= 12:
            title = issue_title(date[:4], int(date[5:7]))
        status = meta.get("status")
        status = status if isinstance(status, str) else "draft"
        return IssueView(
            key,
            title or entry.raw.id,
            date,
            status,
            len(entry.raw.items),
            _ordered(problems),
            entry.last_good,
            stale=entry.last_good is not None,
            assets=_linked(entry.last_good.issue) if entry.last_good else (),
            page=entry.last_page,
        )

    def _environment(self, content: Content) -> jinja2.Environment:
        if self._env is None:
            self._env = site_environment(content.site)
        return self._env

    def base_url(self) -> str | None:
        """Return the site's base_url with a trailing slash, if newsletter.toml checks."""
        return self._base_url

    def asset(self, parts: list[str]) -> Path | None:
        """Return the file at an output path (campaigns/NAME or YYYY/ID/NAME) if one is linked.

        Only files that a checked issue links are served (the same that `build` publishes),
        and only while they are inside the content root: not every file in a folder.
        """
        target = "/".join(parts)
        if parts[0] == "campaigns":
            keys = self.keys()
        elif len(parts) >= 3:
            keys = [f"{parts[0]}/{parts[1]}"]
        else:
            return None
        for key in keys:
            view = self.view(key)
            path = dict(view.assets).get(target) if view else None
            if path is not None:
                return path if _inside(path, self.root) else None
        return None

    # -- change notification -------------------------------------------------------------

    def wait(self, version: int, timeout: float) -> int:
        """Block until the version passes `version` (or timeout); return the version."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version, timeout)
            return self.version

    def wake(self) -> None:
        """Wake every waiting stream (used when the server stops)."""
        with self._changed:
            self._changed.notify_all()

    def watch(self, stop: threading.Event) -> None:
        """Re-read and re-render what changes under the root until stop is set."""
        import watchfiles

        for changes in watchfiles.watch(
            self.root,
            watch_filter=_Filter(self.root),
            stop_event=stop,
            debounce=1600,
            step=50,
            raise_interrupt=False,
        ):
            try:
                keys = self.changed(path for _, path in changes)
                for key in keys - {"*"}:
                    self.view(key)  # render now, so the page's request finds it ready
            except Exception:  # noqa: BLE001 - a bug must not end live reload; pages show it
                logging.getLogger(__name__).exception("förhandsvisningen kunde inte uppdateras")
                keys = {"*"}
            if keys:
                self.announce(keys)


def _linked(issue: Issue, content: Content | None = None) -> tuple[tuple[str, Path], ...]:
    """Return (output path, file) of every file the issue links, with its campaigns' files."""
    assets: list[Asset | None] = [*issue.intro.assets]
    campaigns = content.campaigns if content else {}
    for item in issue.items:
        assets += [*item.body.assets, item.image_asset]
        for slug in item.campaigns:
            if campaign := campaigns.get(slug):
                logo = campaign.logo if isinstance(campaign.logo, Asset) else None
                assets += [*campaign.body.assets, logo]
    return tuple(dict.fromkeys((a.target, a.source) for a in assets if a is not None))


def _inside(path: Path, root: Path) -> bool:
    """Return whether path is a regular file that resolves inside root (no link leads out)."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return resolved.is_relative_to(root) and resolved.is_file()


def _ordered(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    unique = list(dict.fromkeys(problems))
    return tuple(sorted(unique, key=lambda p: (p.severity != ERROR, p.path, p.line, p.message)))


class _Filter:
    """Watch the content files only: newsletter.toml, campaigns/, newsletters/, templates/."""

    def __init__(self, root: Path):
        import watchfiles

        self.root = root
        self.default = watchfiles.DefaultFilter()

    def __call__(self, change: Any, path: str) -> bool:
        if not self.default(change, path):
            return False
        try:
            parts = Path(path).relative_to(self.root).parts
        except ValueError:
            return False
        return bool(parts) and (parts == (CONFIG,) or parts[0] in WATCHED)


# -- HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    file: Path | None = None  # sent in chunks instead of body: an asset is never read whole


LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


def allowed_host(header: str | None, bound: str) -> bool:
    """Return whether a request's Host header names this server (no DNS rebinding).

    A page on another site can make the browser send requests here under its own domain
    name; those carry that name in Host and are refused. Accepted: localhost, the bound
    address, a loopback address, and, when bound to every interface, any IP address and
    this computer's name.
    """
    if not header:
        return False
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host in LOOPBACK_NAMES or host == bound.lower():
        return True
    everywhere = bound in ("0.0.0.0", "::", "")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return everywhere and host in {socket.gethostname().lower(), socket.getfqdn().lower()}
    return address.is_loopback or everywhere


def exposure_warning(host: str) -> str | None:
    """Return the warning for a preview that other computers can reach, or None."""
    if is_loopback(host):
        return None
    return (
        f"varning: förhandsvisningen kan nås från andra datorer via {host} och visar även "
        "utkast; starta med --host 127.0.0.1 om bara du ska se den"
    )


def is_loopback(host: str) -> bool:
    """Return whether host is reachable from this computer only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Site:
    """Answers the preview's URLs from a Preview."""

    def __init__(self, preview: Preview):
        self.preview = preview
        self.pages = environment(trusted=True)  # the preview's own pages, templates/serve/

    def get(self, path: str) -> Response:
        """Return the response for a GET of path."""
        path = unquote(urlsplit(path).path)
        if path in ("/", "/index.html"):
            return self._html("index.html", **self._index())
        if path == "/index.json":
            return _json(
                {
                    "version": self.preview.version,
                    "html": self.pages.get_template("serve/list.html").render(**self._index()),
                }
            )
        if path.startswith("/nummer/"):
            return self._issue_page(path[len("/nummer/") :])
        if path.startswith(EMAIL_PREFIX):
            return self._output(path[len(EMAIL_PREFIX) :])
        return self._not_found()

    def _html(self, template: str, status: int = 200, **context: Any) -> Response:
        body = self.pages.get_template(f"serve/{template}").render(
            version=self.preview.version, **context
        )
        return Response(status, body.encode())

    def _not_found(self) -> Response:
        return self._html("missing.html", status=404)

    def _index(self) -> dict[str, Any]:
        views = [v for k in self.preview.keys() if (v := self.preview.view(k))]
        return {
            "views": views,
            "shared": self.preview.shared_problems(),
            "root": str(self.preview.root),
        }

    def _issue_page(self, rest: str) -> Response:
        key, name = rest.rstrip("/"), ""
        if key.endswith("/data.json"):
            key, name = key.removesuffix("/data.json"), "data.json"
        view = self.preview.view(key)
        if view is None:
            return self._not_found()
        if name == "data.json":
            return _json(self._data(view))
        return self._html("issue.html", view=view, data=self._data(view))

    def _data(self, view: IssueView) -> dict[str, Any]:
        return {
            "version": self.preview.version,
            "key": view.key,
            "title": view.title,
            "stale": view.stale,
            "rendered": view.rendered is not None,
            "text": view.rendered.text if view.rendered else "",
            "errors": view.errors,
            "warnings": view.warnings,
            "findings": self.pages.get_template("serve/findings.html").render(view=view),
        }

    def _output(self, rest: str) -> Response:
        if rest == urls.STYLESHEET:
            return Response(200, stylesheet().encode(), "text/css; charset=utf-8")
        if rest == urls.SCRIPT:  # the web version's quick exit works in the preview too
            from nyhetsbrev.build.archive_pages import SCRIPT

            return Response(200, SCRIPT.read_bytes(), "text/javascript; charset=utf-8")
        key, _, name = rest.rpartition("/")
        view = self.preview.view(key) if key.count("/") == 1 else None
        if view is not None and name in (urls.EMAIL_HTML, urls.WEB, urls.EMAIL_TEXT):
            return self._rendered(view, name)
        return self._asset(rest)

    def _rendered(self, view: IssueView, name: str) -> Response:
        if view.rendered is None:
            return self._html("unrenderable.html", view=view)
        base = self.preview.base_url()
        if name == urls.EMAIL_TEXT:
            return Response(200, view.rendered.text.encode(), "text/plain; charset=utf-8")
        html = view.rendered.html if name == urls.EMAIL_HTML else view.web()
        if base:
            html = html.replace(base, EMAIL_PREFIX)
        return Response(200, html.encode())

    def _asset(self, rest: str) -> Response:
        """Return a file that an item or campaign refers to (only files the tree lists)."""
        path = self.preview.asset(rest.split("/"))
        if path is None:
            return self._not_found()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(200, b"", kind, file=path)


def _json(data: dict[str, Any]) -> Response:
    return Response(
        200, json.dumps(data, ensure_ascii=False).encode(), "application/json; charset=utf-8"
    )


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        host = self.headers.get("Host")
        if not allowed_host(host, self.server.host):
            text = f"Förhandsvisningen svarar bara på adressen den startades med, inte på {host!r}."
            return self._respond(Response(421, text.encode(), "text/plain; charset=utf-8"))
        if urlsplit(self.path).path == "/handelser":
            return self._events()
        try:
            response = self.server.site.get(self.path)
        except Exception as e:  # a bug must not stop the preview; show it instead
            body = f"Fel i förhandsvisningen: {type(e).__name__}: {e}".encode()
            response = Response(500, body, "text/plain; charset=utf-8")
        self._respond(response)

    def _respond(self, response: Response) -> None:
        if response.file is not None:
            try:
                source = response.file.open("rb")
            except OSError:
                response = Response(404, b"Filen finns inte.", "text/plain; charset=utf-8")
            else:
                with source:
                    self._head(response, os.fstat(source.fileno()).st_size)
                    shutil.copyfileobj(source, self.wfile, 1024 * 1024)
                return
        self._head(response, len(response.body))
        self.wfile.write(response.body)

    def _head(self, response: Response, length: int) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()

    def _events(self) -> None:
        preview = self.server.preview
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        version = preview.version
        try:
            self._send("hello", {"version": version})
            while not self.server.stopping.is_set():
                current = preview.wait(version, KEEPALIVE)
                if self.server.stopping.is_set():
                    break
                if current == version:
                    self.wfile.write(b": ping\n\n")
                    self.wfile.flush()
                    continue
                version = current
                self._send(
                    "change", {"version": version, "issues": sorted(preview.changes_at(version))}
                )
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, event: str, data: dict[str, Any]) -> None:
        self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # the terminal shows the server's own lines, not one per request


class PreviewServer(ThreadingHTTPServer):
    """The HTTP server with its Preview, watcher thread and change log."""

    daemon_threads = True

    def __init__(self, preview: Preview, host: str, port: int):
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        self.host = host
        self.preview = preview
        self.site = Site(preview)
        self.stopping = threading.Event()
        self._workers: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):  # only AF_UNIX sockets name themselves in bytes
            host = host.decode()
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    def start(self) -> PreviewServer:
        """Serve and watch in background threads; return self."""
        for target in (self.serve_forever, lambda: self.preview.watch(self.stopping)):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and watching."""
        self.stopping.set()
        self.preview.wake()
        self.shutdown()
        self.server_close()
        for thread in self._workers:
            thread.join(timeout=5)


def start(root: Path, host: str = "127.0.0.1", port: int = 0) -> PreviewServer:
    """Return a running preview server for the content tree at root."""
    root = root.resolve()
    if not (root / CONFIG).is_file():  # the same message as every other command
        raise ContentError(read_config(root)[1])
    preview = Preview(root)
    try:
        server = PreviewServer(preview, host, port)
    except OSError as e:
        raise NyhetsbrevError(
            f"kan inte lyssna på {host}:{port} ({e.strerror}): välj en annan port med --port"
        ) from None
    return server.start()


def serve(
    root: Path,
    host: str,
    port: int,
    echo: Callable[[str], Any],
    warn: Callable[[str], Any] | None = None,
) -> None:
    """Run the preview until Ctrl+C (SIGINT) or SIGTERM; both end it cleanly."""
    stop = threading.Event()
    previous = {
        number: signal.signal(number, lambda *_: stop.set())
        for number in (signal.SIGINT, signal.SIGTERM)
    }  # set even when started with SIGINT ignored (in the background of a shell)
    try:
        server = start(root, host, port)
        if warning := exposure_warning(host):
            (warn or echo)(warning)
        echo(f"Förhandsvisning på {server.url} (avsluta med Ctrl+C)")
        try:
            while not stop.wait(0.5):
                pass
            echo("Förhandsvisningen avslutas.")
        finally:
            server.stop()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
