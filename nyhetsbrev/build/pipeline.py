"""The stages in order: load -> check -> assemble/render -> publish."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nyhetsbrev import urls
from nyhetsbrev.build.memo import BuildRecord, Memo, Recorded, outside_inputs
from nyhetsbrev.build.publish import (
    Output,
    PublishError,
    output_lock,
    publish,
    remove_leftovers,
    unsafe_output,
)
from nyhetsbrev.content.models import Content, Issue
from nyhetsbrev.errors import ERROR, WARNING, ContentError, Problem
from nyhetsbrev.numerals import capitalized, counted, decimal
from nyhetsbrev.timing import Timings, timed

# The stages import the template, Markdown, feed and calendar libraries where they run:
# a build whose inputs and output are unchanged reads its record and stops before them.
if TYPE_CHECKING:
    import jinja2

    from nyhetsbrev.build.cache import BuildCache
    from nyhetsbrev.build.render import RenderedIssue
    from nyhetsbrev.content.load import Document


@dataclass(frozen=True)
class Checked:
    content: Content
    warnings: list[Problem]
    documents: Mapping[str, Document] = field(default_factory=dict)  # for lint's lines
    drafts: tuple[Issue, ...] = ()  # checked, but left out of what was published


class _Unchanged(Checked):
    """What a build with nothing to do returns: the last build's result from its record.

    The content is read from the record only when asked for (the closing line needs only
    its counts); if the record cannot give it whole, the tree is checked again.
    """

    recorded: Recorded
    root: Path

    def __init__(self, root: Path, recorded: Recorded):
        object.__setattr__(self, "warnings", recorded.warnings)
        object.__setattr__(self, "documents", {})
        object.__setattr__(self, "drafts", recorded.drafts)
        object.__setattr__(self, "recorded", recorded)
        object.__setattr__(self, "root", root)

    @functools.cached_property
    def content(self) -> Content:
        content = self.recorded.content()
        return content if content is not None else load_content(self.root).content.published()


def load_content(
    root: Path, strict: bool = False, timings: Timings | None = None, memo: Memo | None = None
) -> Checked:
    """Read and check the content tree; raise ContentError listing every problem.

    With a memo, unchanged issue folders are not parsed or checked again (nyhetsbrev.build.memo).
    """
    from nyhetsbrev.build.lint import body_lints, documents
    from nyhetsbrev.build.parallel import each
    from nyhetsbrev.content.check import check
    from nyhetsbrev.content.load import load

    forked = None if memo is not None else each  # the memo is kept in this process
    with timed(timings, "load"):
        tree = load(root, memo.read_issue if memo else None, forked)
    with timed(timings, "check"):
        if memo is not None:
            memo.config = tree.config
        content, problems = check(tree, memo.check_issue if memo else None, forked)
    errors = [p for p in problems if p.severity == ERROR or (strict and p.severity == WARNING)]
    if errors or content is None:
        # Everything at once: the warnings and the body findings too, which a run that
        # stopped at front-matter errors would otherwise show only once those are fixed.
        raise ContentError(dict.fromkeys([*problems, *body_lints(tree)]))
    return Checked(content, [p for p in problems if p.severity == WARNING], documents(tree))


def linted(checked: Checked, rendered: Iterable[RenderedIssue], strict: bool = False) -> Checked:
    """Add the lint findings; raise ContentError on a lint error (or any warning if strict)."""
    from nyhetsbrev.build.lint import lint

    return _with_findings(checked, lint(checked.content, rendered, checked.documents), strict)


def _with_findings(checked: Checked, found: list[Problem], strict: bool) -> Checked:
    warnings = sorted(checked.warnings + [p for p in found if p.severity == WARNING])
    errors = [p for p in found if p.severity == ERROR] + (warnings if strict else [])
    if errors:
        raise ContentError(dict.fromkeys(errors + warnings))  # the warnings too: all at once
    return Checked(checked.content, warnings, checked.documents, checked.drafts)


def render_all(
    content: Content,
    timings: Timings | None = None,
    workers: int | None = None,
    cache: BuildCache | None = None,
) -> list[RenderedIssue]:
    """Render every issue, in order: on several cores when there are many (workers=1: here).

    With a cache, an issue whose inputs are unchanged is taken from it, and only the others
    are rendered (and then kept in the cache).
    """
    return list(render_stream(content, timings, workers, cache))


def render_stream(
    content: Content,
    timings: Timings | None = None,
    workers: int | None = None,
    cache: BuildCache | None = None,
    memo: Memo | None = None,
) -> Iterator[RenderedIssue]:
    """Yield render_all()'s issues one by one, in order, each as soon as it is rendered.

    Nothing keeps an issue once it is yielded, so a build holds a few issues at a time.
    memo: the memo the issues were checked through (their keys stand for them in the cache's).
    """
    from nyhetsbrev.build.render import site_environment

    env = site_environment(content.site)
    if cache is None:
        yield from _render(env, content, range(len(content.issues)), timings, workers)
        return
    with timed(timings, "cache"):
        keys = [
            cache.key(content, issue, memo.key_of(issue) if memo is not None else None)
            for issue in content.issues
        ]
        found = [cache.get(key, issue) for key, issue in zip(keys, content.issues, strict=True)]
    missing = [n for n, r in enumerate(found) if r is None]
    rendered = _render(env, content, missing, timings, workers)
    for n, key in enumerate(keys):
        result = found[n]
        if result is None:
            result = next(rendered)
            cache.put(key, result)
        found[n] = None
        yield result
    cache.keep_only(keys)


def _render(
    env: jinja2.Environment,
    content: Content,
    indices: Sequence[int],
    timings: Timings | None,
    workers: int | None,
) -> Iterator[RenderedIssue]:
    from nyhetsbrev.build.parallel import render_parallel, workers_for
    from nyhetsbrev.build.render import render_issue

    count = workers_for(len(indices)) if workers is None else workers
    if count > 1:
        return render_parallel(env, content, count, timings, indices)
    return (render_issue(env, content, content.issues[n], timings=timings) for n in indices)


def outputs(
    content: Content,
    rendered: Iterable[RenderedIssue],
    emit_mjml: bool = False,
    timings: Timings | None = None,
) -> Iterator[Output]:
    """Yield every output file as (relative path, bytes or source file)."""
    from nyhetsbrev.build import archive_pages
    from nyhetsbrev.build.calendar import calendar_files
    from nyhetsbrev.build.feeds import feed_files
    from nyhetsbrev.build.render import (
        render_archive,
        render_campaign,
        site_environment,
        stylesheet,
    )

    env = site_environment(content.site)
    yield urls.ARCHIVE, render_archive(env, content).encode()
    yield urls.STYLESHEET, stylesheet().encode()
    for r in rendered:
        folder = r.issue.folder
        yield urls.page(folder), r.web.encode()
        yield f"{folder}/{urls.EMAIL_HTML}", r.html.encode()
        yield f"{folder}/{urls.EMAIL_TEXT}", r.text.encode()
        yield f"{folder}/{urls.EMAIL_MESSAGE}", r.eml
        if emit_mjml:
            yield f"{folder}/{urls.EMAIL_MJML}", r.mjml.encode()
    for slug, campaign in sorted(content.campaigns.items()):
        page = urls.page(urls.campaign_folder(slug))
        yield page, render_campaign(env, content, campaign).encode()
    with timed(timings, "feeds"):
        feeds = [*feed_files(content), *calendar_files(content)]
    yield from feeds
    yield from _assets(content)
    yield from archive_pages.outputs(env, content)


def _assets(content: Content) -> Iterator[Output]:
    seen: set[str] = set()
    assets = [a for item in content.items for a in (*item.body.assets, item.image_asset) if a]
    assets += [a for issue in content.issues for a in issue.intro.assets]
    assets += [a for c in content.campaigns.values() for a in c.body.assets]
    assets += [c.logo for c in content.campaigns.values() if c.logo and not isinstance(c.logo, str)]
    for asset in assets:
        if asset.target not in seen:
            seen.add(asset.target)
            yield asset.target, asset.source


def build(
    root: Path,
    out: Path,
    strict: bool = False,
    emit_mjml: bool = False,
    timings: Timings | None = None,
    use_cache: bool = True,
) -> tuple[Checked, int]:
    """Check everything, then render and publish all but the drafts.

    With use_cache, unchanged issues come from the content root's build cache (nyhetsbrev.
    cache); the output is the same byte for byte.

    Every file is checked, drafts too, but only `ready` and `sent` issues (their items and
    their assets) reach the output: a draft is in no page, feed or calendar. Returns the
    checked content of what was published, and the number of files.
    """
    if problem := unsafe_output(root, out):
        raise PublishError(problem)
    with output_lock(out):  # one build at a time into out: it removes leftover staging
        return _build(root, out, strict, emit_mjml, timings, use_cache)


def _build(
    root: Path,
    out: Path,
    strict: bool,
    emit_mjml: bool,
    timings: Timings | None,
    use_cache: bool,
) -> tuple[Checked, int]:
    record = BuildRecord.open(root, out, f"{strict} {emit_mjml}") if use_cache else None
    before = None
    if record is not None:
        with timed(timings, "unchanged"):
            before = record.inputs()
            if (last := record.unchanged(before)) is not None:  # out holds this build
                record.digests.keep()
                remove_leftovers(out.resolve())
                return _Unchanged(root, last), last.files
    from nyhetsbrev.build.cache import BuildCache
    from nyhetsbrev.build.lint import lint_campaign, lint_issue

    memo = Memo.open(root, record.digests if record is not None else None) if use_cache else None
    checked = load_content(root, False, timings, memo)  # linted() applies --strict to all
    if memo is not None:
        memo.keep_only_used()
    drafts = checked.content.drafts
    checked = Checked(checked.content.published(), checked.warnings, checked.documents, drafts)
    cache = BuildCache.open(checked.content) if use_cache else None
    content = checked.content
    found: list[Problem] = []  # the lint findings, gathered as the issues go by
    waited = Timings()  # the time spent waiting for the next rendered issue
    copied: list[tuple[str, Path]] = []  # files copied from outside the inputs (the logo)

    def linting(stream: Iterator[RenderedIssue]) -> Iterator[RenderedIssue]:
        while True:
            with waited.stage("render"):
                r = next(stream, None)
            if r is None:
                return
            with timed(timings, "lint"):
                found.extend(lint_issue(r, checked.documents, content.site.max_words))
            yield r

    def files() -> Iterator[Output]:
        # Each issue's files are written as soon as it is rendered, and it is dropped:
        # publish() writes into a staging folder, so a lint error raised at the end
        # still leaves the previous output as it was.
        nonlocal checked
        stream = render_stream(content, timings, cache=cache, memo=memo)
        for rel, data in outputs(content, linting(stream), emit_mjml, timings):
            if isinstance(data, Path) and outside_inputs(content.site.root, data):
                copied.append((rel, data))  # the build record keys by these files too
            yield rel, data
        with timed(timings, "lint"):
            found.extend(
                p for c in content.campaigns.values() for p in lint_campaign(c, checked.documents)
            )
            checked = _with_findings(checked, sorted(found), strict)

    def keep(count: int, removed: Callable[[], None]) -> None:
        # The record of this build, made while the old output is removed.
        if record is not None:
            result = (checked.content, checked.warnings, checked.drafts, count)
            record.keep(before, copied, result, removed)
            record.digests.keep()

    with timed(timings, "writing"):
        count = publish(
            out, files(), finish=lambda staging: _search_index(staging, cache, timings), after=keep
        )
    if timings is not None:
        # "render" is the wall time of rendering; "writing" the rest of the publishing.
        render = waited.seconds.get("render", 0.0)
        timings.add("render", render)
        timings.add("writing", -render)
    return checked, count


def _search_index(staging: Path, cache: BuildCache | None, timings: Timings | None) -> int:
    """Index the staged pages (timed apart as "search", a part of "writing")."""
    from nyhetsbrev.build.search_index import build_index

    kept = cache.folder / "search" if cache is not None and cache.folder is not None else None
    with timed(timings, "search"):
        return build_index(staging, kept)


def summary(content: Content) -> dict[str, int]:
    """Return counts for the build's closing line."""
    return {
        "issues": len(content.issues),
        "items": len(content.items),
        "events": sum(1 for i in content.items if i.is_event),
    }


def closing_line(checked: Checked, files: int, out: Path, seconds: float) -> str:
    """Return build's last line: what was published, and which drafts were not."""
    if isinstance(checked, _Unchanged):  # counted by the build it repeats
        issues, items, events = checked.recorded.counts
        n = {"issues": issues, "items": items, "events": events}
    else:
        n = summary(checked.content)
    line = (
        f"Klart: {n['issues']} nummer, {counted(n['items'], 'text', 'texter')} "
        f"({n['events']} evenemang), {counted(files, 'fil', 'filer')} i {out} på "
        f"{decimal(seconds)} s."
    )
    if checked.drafts:
        ids = ", ".join(sorted(d.id for d in checked.drafts))
        drafts = len(checked.drafts)
        line += (
            f" {capitalized(drafts)} utkast publicerades inte: {ids}."
            if drafts <= 12
            else f" Utkast som inte publicerades ({drafts}): {ids}."
        )
    return line


__all__ = [
    "build",
    "load_content",
    "render_all",
    "render_stream",
    "outputs",
    "summary",
    "closing_line",
]
