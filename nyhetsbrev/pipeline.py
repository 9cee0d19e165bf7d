"""The stages in order: load -> check -> assemble/render -> publish."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from . import archive_pages, urls
from .cache import BuildCache
from .calendar import calendar_files
from .check import check
from .errors import ERROR, WARNING, ContentError, Problem
from .feeds import feed_files
from .lint import body_lints, documents, lint
from .load import Document, load
from .memo import BuildRecord, Memo, outside_inputs
from .models import Content, Issue
from .numerals import capitalized, counted, decimal
from .parallel import in_background, render_parallel, workers_for
from .publish import Output, PublishError, publish, remove_leftovers, unsafe_output
from .render import (
    RenderedIssue,
    render_archive,
    render_campaign,
    render_issue,
    site_environment,
    stylesheet,
)
from .timing import Timings, timed


@dataclass(frozen=True)
class Checked:
    content: Content
    warnings: list[Problem]
    documents: Mapping[str, Document] = field(default_factory=dict)  # for lint's lines
    drafts: tuple[Issue, ...] = ()  # checked, but left out of what was published


def load_content(
    root: Path, strict: bool = False, timings: Timings | None = None, memo: Memo | None = None
) -> Checked:
    """Read and check the content tree; raise ContentError listing every problem.

    With a memo, unchanged issue folders are not parsed or checked again (nyhetsbrev.memo).
    """
    with timed(timings, "load"):
        tree = load(root, memo.read_issue if memo else None)
    with timed(timings, "check"):
        if memo is not None:
            memo.config = tree.config
        content, problems = check(tree, memo.check_issue if memo else None)
    errors = [p for p in problems if p.severity == ERROR or (strict and p.severity == WARNING)]
    if errors or content is None:
        # Everything at once: the warnings and the body findings too, which a run that
        # stopped at front-matter errors would otherwise show only once those are fixed.
        raise ContentError(dict.fromkeys([*problems, *body_lints(tree)]))
    return Checked(content, [p for p in problems if p.severity == WARNING], documents(tree))


def linted(checked: Checked, rendered: list[RenderedIssue], strict: bool = False) -> Checked:
    """Add the lint findings; raise ContentError on a lint error (or any warning if strict)."""
    found = lint(checked.content, rendered, checked.documents)
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
    env = site_environment(content.site)
    if cache is None:
        return _render(env, content, range(len(content.issues)), timings, workers)
    with timed(timings, "cache"):
        keys = [cache.key(content, issue) for issue in content.issues]
        found = [cache.get(key, issue) for key, issue in zip(keys, content.issues, strict=True)]
    missing = [n for n, r in enumerate(found) if r is None]
    for n, result in zip(missing, _render(env, content, missing, timings, workers), strict=True):
        cache.put(keys[n], result)
        found[n] = result
    cache.keep_only(keys)
    return [r for r in found if r is not None]


def _render(
    env: jinja2.Environment,
    content: Content,
    indices: Sequence[int],
    timings: Timings | None,
    workers: int | None,
) -> list[RenderedIssue]:
    count = workers_for(len(indices)) if workers is None else workers
    if count > 1:
        return render_parallel(env, content, count, timings, indices)
    return [render_issue(env, content, content.issues[n], timings=timings) for n in indices]


def outputs(
    content: Content,
    rendered: list[RenderedIssue],
    emit_mjml: bool = False,
    timings: Timings | None = None,
) -> Iterator[Output]:
    """Yield every output file as (relative path, bytes or source file)."""
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
    record = BuildRecord.open(root, out, f"{strict} {emit_mjml}") if use_cache else None
    before = None
    if record is not None:
        with timed(timings, "unchanged"):
            before = record.inputs()
            if (last := record.unchanged(before)) is not None:  # out holds this build
                remove_leftovers(out.resolve())
                content, warnings, drafts, count = last
                return Checked(content, warnings, {}, drafts), count
    memo = Memo.open(root) if use_cache else None
    checked = load_content(root, False, timings, memo)  # linted() applies --strict to all
    if memo is not None:
        memo.keep_only_used()
    drafts = checked.content.drafts
    checked = Checked(checked.content.published(), checked.warnings, checked.documents, drafts)
    with timed(timings, "render"):
        cache = BuildCache.open(checked.content) if use_cache else None
        rendered = render_all(checked.content, timings, cache=cache)
    checked, files = _lint_beside_outputs(checked, rendered, strict, emit_mjml, timings)
    with timed(timings, "writing"):
        count = publish(out, files, finish=lambda staging: _search_index(staging, cache, timings))
    if record is not None:
        copied = [
            (rel, data)
            for rel, data in files
            if isinstance(data, Path) and outside_inputs(checked.content.site.root, data)
        ]
        result = (checked.content, checked.warnings, checked.drafts, count)
        record.keep(before, copied, result)
    return checked, count


def _search_index(staging: Path, cache: BuildCache | None, timings: Timings | None) -> int:
    """Index the staged pages (timed apart as "search", a part of "writing")."""
    from .search_index import build_index

    kept = cache.folder / "search" if cache is not None and cache.folder is not None else None
    with timed(timings, "search"):
        return build_index(staging, kept)


def _lint_beside_outputs(
    checked: Checked,
    rendered: list[RenderedIssue],
    strict: bool,
    emit_mjml: bool,
    timings: Timings | None,
) -> tuple[Checked, list[Output]]:
    """Lint, and make the output files meanwhile (in a forked process, for a big build)."""
    if workers_for(len(rendered)) == 1:
        with timed(timings, "lint"):
            checked = linted(checked, rendered, strict)
        return checked, list(outputs(checked.content, rendered, emit_mjml, timings))
    pool, linting = in_background(lambda: _lint_findings(checked, rendered, strict))
    with pool:
        files = list(outputs(checked.content, rendered, emit_mjml, timings))
        warnings, errors, seconds = linting.result()
    if timings is not None:
        timings.add("lint", seconds)
    if errors:
        raise ContentError(errors)
    return Checked(checked.content, warnings, checked.documents, checked.drafts), files


def _lint_findings(
    checked: Checked, rendered: list[RenderedIssue], strict: bool
) -> tuple[list[Problem], list[Problem], float]:
    """Return linted()'s warnings, its errors, and the seconds it took (picklable values)."""
    recorder = Timings()
    try:
        with recorder.stage("lint"):
            warnings = linted(checked, rendered, strict).warnings
    except ContentError as e:
        return [], e.problems, recorder.seconds["lint"]
    return warnings, [], recorder.seconds["lint"]


def summary(content: Content) -> dict[str, int]:
    """Return counts for the build's closing line."""
    return {
        "issues": len(content.issues),
        "items": len(content.items),
        "events": sum(1 for i in content.items if i.is_event),
    }


def closing_line(checked: Checked, files: int, out: Path, seconds: float) -> str:
    """Return build's last line: what was published, and which drafts were not."""
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


__all__ = ["build", "load_content", "render_all", "outputs", "summary", "closing_line"]
