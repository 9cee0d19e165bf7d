"""Issue -> email HTML (Jinja2 -> MJML -> MRML -> premailer), plain text, .eml, web pages.

Pure: values in, strings and bytes out. The same functions serve `build`, `serve` and
`send`, so what is previewed and sent is what is built.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html as htmllib
import os
import re
import signal
import string
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache, wraps
from pathlib import Path, PurePath
from types import BuiltinMethodType, MethodType, ModuleType
from typing import Any, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

import jinja2
from jinja2.loaders import split_template_path
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment, safe_range
from markupsafe import Markup as SafeHTML  # models.Markup is our own (html, text, assets)

from nyhetsbrev import urls
from nyhetsbrev.build import headers
from nyhetsbrev.content.load import image_size, read_template
from nyhetsbrev.content.markup import scaled_height, sized_images, wrap
from nyhetsbrev.content.models import (
    STOCKHOLM,
    Asset,
    Campaign,
    Content,
    Issue,
    Item,
    Markup,
    Site,
    Smtp,
)
from nyhetsbrev.content.phones import dialable, link_phones, phones
from nyhetsbrev.errors import NyhetsbrevError, Problem
from nyhetsbrev.timing import Timings, timed
from nyhetsbrev.urls import anchor, ics_url, web_url
from nyhetsbrev.vocabulary import ACCENT, ADD_TO_CALENDAR, READ_MORE, REGISTER, status_label

TEMPLATES = "templates"  # a content tree's own templates, beside newsletter.toml
SEND_HOUR = 8  # Date: header of a built message, local time on the issue's date
DOCTYPE = "<!DOCTYPE html>"
INDENT = re.compile(r"\n[ \t]+<")
GAPS = re.compile(r">[ \t]{2,}<")
EMAIL_CONTENT_WIDTH = 552  # 600 px less 24 px padding on each side
PREVIEW_LENGTH = 150  # characters an inbox may show of the preheader and what follows
TEXT_BGCOLOR = re.compile(r'(<(?:span|a)\b[^>]*?)\s+bgcolor="[^"]*"')
BLOCK_START = re.compile(r">(?=<(?:table|tr|div|p|h[1-6]|ul|ol)\b|<!--\[)")
STYLE_ATTRIBUTE = re.compile(r"""\sstyle=(?:"[^"]*"|'[^']*')""")
STYLE_FROM_NAME = re.compile(r"""style=(?<=\sstyle=)(?:"[^"]*"|'[^']*')""")  # tight_styles()
TAG_SPAN = re.compile(r"<[^>]*(?:>|$)")  # a tag, or one cut off at the end


@dataclass(frozen=True)
class RenderedIssue:
    """Every output of one issue."""

    issue: Issue
    mjml: str
    html: str
    text: str
    eml: bytes
    web: str


class TemplateFailure(NyhetsbrevError):
    """A template could not be read or rendered (a mistake, or an attempt to escape)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))

    def __reduce__(self) -> tuple[Any, ...]:  # crosses from a worker process whole
        return (type(self), (self.problem,))


MAX_VALUE = 1_000_000  # characters or elements a template's * may make; digits of a **


class TemplateTooBig(Exception):
    """A template's expression would make a value too big to hold (a message in Swedish)."""


def too_big(operator: str, left: Any, right: Any) -> bool:
    """Whether left * right or left ** right would be bigger than MAX_VALUE allows."""
    sized = (str, list, tuple)
    if operator == "*" and isinstance(left, int) and isinstance(right, sized):
        left, right = right, left
    if operator == "*" and isinstance(left, sized) and isinstance(right, int):
        return len(left) * right > MAX_VALUE
    if isinstance(left, int) and isinstance(right, int):
        bits = left.bit_length() + right.bit_length() if operator == "*" else 0
        if operator == "**" and abs(left) > 1 and right > 0:
            bits = right * left.bit_length()
        return bits > MAX_VALUE * 3.33  # about MAX_VALUE decimal digits
    return False


MAX_TEXT_ARGUMENT = 100_000  # characters of a text handed to a filter or method
MAX_OUTPUT = 20_000_000  # characters one template may write (the archive is far below)
MAX_SECONDS = 20  # wall-clock seconds one template may take to render
FORMAT_NUMBER = re.compile(r"\d+")
PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d*)(?:\.(\d*))?")


class TemplateTooSlow(Exception):
    """A template rendered longer than MAX_SECONDS (raised by the timer's signal)."""


def _too_big_argument(value: Any) -> str:
    """Return why value may not be handed to a filter or method ("" when it may)."""
    if isinstance(value, int) and abs(value) > MAX_VALUE:
        return "ett tal i anropet är för stort (mer än en miljon): gör det mindre"
    if isinstance(value, str) and len(value) > MAX_TEXT_ARGUMENT:
        return "en text i anropet är för lång (mer än hundratusen tecken): gör den kortare"
    return ""


def _wide_format(template: str, percent: bool) -> bool:
    """Whether a format string asks for a width or precision above MAX_VALUE."""
    if percent:
        numbers = [n for spec in PERCENT_SPEC.findall(template) for n in spec if n]
    else:
        try:
            specs = [spec or "" for _, _, spec, _ in string.Formatter().parse(template)]
        except ValueError:
            return False  # format() itself says what is wrong
        numbers = [n for spec in specs for n in FORMAT_NUMBER.findall(spec)]
    return any(len(n) > 7 or int(n) > MAX_VALUE for n in numbers)


def _check_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        why = _too_big_argument(value)
        if why:
            raise TemplateTooBig(why)


def _capped_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that its arguments (not the value filtered) are checked first."""
    skip = 1 if getattr(function, "jinja_pass_arg", None) is None else 2

    @wraps(function)  # keeps jinja_pass_arg (pass_context and the like)
    def capped(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args[skip:], kwargs)
        text = args[skip - 1] if len(args) >= skip else None
        if name == "format" and isinstance(text, str) and _wide_format(text, percent=True):
            raise TemplateTooBig(
                "format ber om en för stor bredd (mer än en miljon tecken): gör den mindre"
            )
        return function(*args, **kwargs)

    return capped


class _TimedTemplate(jinja2.Template):
    """A template that renders through generate(): its output is counted and refused past
    MAX_OUTPUT, and it is stopped after MAX_SECONDS."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        parts: list[str] = []
        size = 0
        with _time_limit():
            pieces = cast(Generator[str, None, None], self.generate(*args, **kwargs))
            for piece in pieces:
                size += len(piece)
                if size > MAX_OUTPUT:
                    # Thrown in where the template stands, so the error names its line.
                    pieces.throw(
                        TemplateTooBig(
                            "mallen skriver för mycket (mer än tjugo miljoner tecken): "
                            "gör den mindre"
                        )
                    )
                parts.append(piece)
        return "".join(parts)


_timing = False  # a template is being timed (an include or a nested render is not again)


@contextmanager
def _time_limit() -> Iterator[None]:
    """Stop the template after MAX_SECONDS with TemplateTooSlow.

    The timer is a signal, which Python delivers to the main thread only: build renders
    there, in its own process and in its forked workers. Elsewhere (the preview server
    renders in its threads) no limit is set; the preview serves the coordinator's own tree.
    """
    global _timing
    if _timing or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise TemplateTooSlow(f"mallen tog för lång tid (mer än {MAX_SECONDS} s): gör den enklare")

    previous = signal.signal(signal.SIGALRM, stop)
    _timing = True
    signal.setitimer(signal.ITIMER_REAL, MAX_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _timing = False


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's sandbox, and no file paths, modules or SMTP settings within a template's reach.

    A content tree's templates are written by anyone with access to the tree, and they render
    while `send` has the SMTP password and the unsubscribe secret in its environment.
    """

    HIDDEN = (PurePath, ModuleType, Smtp, Asset)
    intercepted_binops = frozenset({"*", "**", "%"})
    template_class = _TimedTemplate

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse a product or power too big to build (a string, list or number)."""
        if operator == "%":
            if isinstance(left, str) and _wide_format(left, percent=True):
                raise TemplateTooBig(
                    "uttrycket med % ber om en för stor bredd (mer än en miljon tecken): "
                    "gör den mindre"
                )
            if isinstance(left, str):
                _check_arguments(right if isinstance(right, tuple) else (right,), {})
        elif too_big(operator, left, right):
            raise TemplateTooBig(
                f"uttrycket med {operator} ger ett för stort värde (mer än en miljon tecken, "
                "element eller siffror): gör det mindre"
            )
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Refuse huge numbers and texts as arguments, and format() with a huge width:
        each could make a value too big to hold. A macro of the templates is exempt, and
        range(), which the sandbox limits itself (with its own message)."""
        if not isinstance(__obj, jinja2.runtime.Macro) and __obj is not safe_range:
            _check_arguments(args, kwargs)
            method = getattr(__obj, "__wrapped__", __obj)  # str.format, wrapped by the sandbox
            text = getattr(method, "__self__", None)
            name = getattr(method, "__name__", "")
            if isinstance(text, str) and name in ("format", "format_map"):
                if _wide_format(text, percent=False):
                    raise TemplateTooBig(
                        "format() ber om en för stor bredd (mer än en miljon tecken): "
                        "gör den mindre"
                    )
        return super().call(__context, __obj, *args, **kwargs)

    def compile(
        self, source: Any, name: Any = None, filename: Any = None, *a: Any, **k: Any
    ) -> Any:
        """Compile a template; running out of memory or stack is the template's problem."""
        try:
            return super().compile(source, name, filename, *a, **k)
        except (MemoryError, RecursionError) as e:
            place = _place(self, filename or "") or f"templates/{name}"
            raise TemplateFailure(Problem(place, 1, _exhausted(e))) from None

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Jinja2's sandboxed attribute read, with its answer for a plain value kept.

        The sandbox reads the attribute, offers a str.format method its own wrapper, and
        asks is_safe_attribute. A value that is no method is never wrapped, and the
        answer is kept per types and name: such a read is the value itself."""
        try:
            value = getattr(obj, attribute)
        except AttributeError:
            return super().getattr(obj, attribute)
        if _SAFE.get((type(obj), attribute, type(value))) and not isinstance(value, _METHODS):
            return value
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # Every check here and in Jinja2's sandbox depends on the types and the name only,
        # so the answer is kept per (types, name): templates ask the same thing thousands
        # of times. An object that claims another class than its type is never kept.
        kind, kind_of_value = type(obj), type(value)
        key = (kind, attr, kind_of_value)
        known = _SAFE.get(key)
        if known is not None:
            return known
        safe = not (isinstance(obj, self.HIDDEN) or isinstance(value, self.HIDDEN)) and bool(
            super().is_safe_attribute(obj, attr, value)
        )
        if obj.__class__ is kind and value.__class__ is kind_of_value and type(self) is _Sandbox:
            _SAFE[key] = safe
        return safe


_SAFE: dict[tuple[type, str, type], bool] = {}  # _Sandbox.is_safe_attribute's answers
_METHODS = (MethodType, BuiltinMethodType)  # what the sandbox's wrap_str_format looks at


class _ContentLoader(jinja2.BaseLoader):
    """A content tree's templates/: never a file that resolves outside the content root."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.root = folder.parent.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.folder.joinpath(*split_template_path(template))
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            relative = path.relative_to(self.root).as_posix()
            raise TemplateFailure(
                Problem(
                    relative,
                    1,
                    "mallen är en länk till en fil utanför innehållets mapp och används inte: "
                    "lägg själva mallen i templates/",
                    rule="outside-root",
                )
            )
        try:
            source = read_template(resolved)
        except (OSError, UnicodeDecodeError) as e:
            relative = path.relative_to(self.root).as_posix()
            why = "den är inte UTF-8" if isinstance(e, UnicodeDecodeError) else e.strerror
            raise TemplateFailure(
                Problem(relative, 1, f"mallen går inte att läsa: {why}")
            ) from None
        mtime = os.path.getmtime(resolved)
        return source, str(path), lambda: os.path.getmtime(resolved) == mtime


def environment(
    templates: Path | None = None,
    *,
    trusted: bool = False,
    filters: Mapping[str, Callable[..., Any]] | None = None,
) -> jinja2.Environment:
    """Return a Jinja2 environment: the one factory for every template the tool renders.

    With `templates` (a content tree's templates/), those come first, then the defaults.
    Every template renders in the sandbox, the defaults too (a content tree's template may
    extend or include them); only the tool's own pages (`report`, the preview), which never
    read a content tree's templates, are `trusted` and render outside it. Every environment
    has the same options, filters and globals (`accent`); `filters` adds a page's own.
    """
    if trusted and templates is not None:
        raise ValueError("a content tree's templates always render in the sandbox")
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        loaders.append(_ContentLoader(templates))
    loaders.append(jinja2.PackageLoader("nyhetsbrev", "templates"))
    kind = jinja2.Environment if trusted else _Sandbox
    env = kind(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "mjml", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        datum=datum, when=when, wrap=_wrap, email_body=email_body, host=host_of, anchor=anchor
    )
    env.filters.update(phones=phones, phone_links=lambda s: SafeHTML(link_phones(str(s))))
    env.filters.update(dialable=_dialable, status=status_label)
    env.filters.update(filters or {})
    if not trusted:
        env.filters = {name: _capped_filter(name, f) for name, f in env.filters.items()}
    env.globals["accent"] = ACCENT
    return env


def _kept(function: Callable[..., str], size: int = 1024) -> Callable[..., str]:
    """Return function with its answers kept per arguments (for pure text filters).

    The text part wraps and dials the same texts again: a campaign's standing text in every
    issue that shows it, and in the preview every item but the one edited.
    """
    cached = lru_cache(maxsize=size, typed=True)(function)

    @wraps(function)
    def kept(*args: Any, **kwargs: Any) -> str:
        try:
            return cached(*args, **kwargs)
        except TypeError:  # an argument that cannot be a key: the function says what is wrong
            return function(*args, **kwargs)

    kept.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return kept


LEAD = re.compile(r"(?:> )*(?:\s*(?:- |\d+\. ))?")  # markup.wrap's: quotes, a list marker
NOT_PLAIN = re.compile(r"[\t\x0b\x0c\r]|  |^ | $")


def wrap_text(text: str, width: int = 78) -> str:
    """Return markup.wrap(text, width), the same text, found faster.

    A line of plain words (single spaces between them, none at its ends, no other ASCII
    whitespace, no word that is only whitespace) is filled here the way textwrap fills it:
    each word on the line while it fits, a longer one alone. Any other line goes through
    markup.wrap. tests/test_hot_paths.py compares the two.
    """
    if width <= 0:
        return wrap(text, width)
    out: list[str] = []
    for line in text.split("\n"):
        found = LEAD.match(line)
        lead = found.group() if found else ""
        body = line[len(lead) :]
        words = body.split(" ")
        if not body or NOT_PLAIN.search(body) or not all(w.strip() for w in words):
            out.append(wrap(line, width))
            continue
        indent = re.sub(r"[^>\s]", " ", lead)
        prefix, room, filled = lead, width - len(lead), words[0]
        for word in words[1:]:
            if len(filled) + 1 + len(word) <= room:
                filled += " " + word
            else:
                out.append(prefix + filled)
                prefix, room, filled = indent, width - len(indent), word
        out.append(prefix + filled)
    return "\n".join(out)


_wrap = _kept(wrap_text)
_dialable = _kept(dialable)


def site_environment(site: Site) -> jinja2.Environment:
    """Return the environment of a content tree: its templates/ (if any), then the defaults."""
    folder = site.root / TEMPLATES
    return environment(folder if folder.is_dir() else None)


P = ParamSpec("P")
R = TypeVar("R")


def _reports_templates(function: Callable[P, R]) -> Callable[P, R]:
    """Turn an error raised inside a template into `path:line: message` (TemplateFailure)."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except TemplateFailure:
            raise
        except Exception as e:
            env = args[0]
            problem = template_problem(e, env) if isinstance(env, jinja2.Environment) else None
            if problem is None:
                raise
            raise TemplateFailure(problem) from None

    return wrapper


def _exhausted(error: MemoryError | RecursionError) -> str:
    if isinstance(error, MemoryError):
        return "mallen behöver mer minne än datorn har: gör den enklare"
    return "mallen går för djupt (för många nästlade anrop eller uttryck): gör den enklare"


def _place(env: jinja2.Environment, filename: str) -> str | None:
    """Return how a template file is named in messages, or None if it is no template."""
    root = next(
        (
            loader.root
            for loader in getattr(env.loader, "loaders", ())
            if isinstance(loader, _ContentLoader)
        ),
        None,
    )
    package = Path(__file__).parents[1] / "templates"

    def where(filename: str) -> str | None:
        path = Path(filename)
        if root is not None and path.is_relative_to(root):
            return path.relative_to(root).as_posix()
        if path.is_relative_to(package):
            return f"templates/{path.relative_to(package).as_posix()} (standardmallen)"
        return None

    return where(filename)


def template_problem(error: Exception, env: jinja2.Environment) -> Problem | None:
    """Return where in which template error happened, or None if no template was involved."""

    def where(filename: str) -> str | None:
        return _place(env, filename)

    if isinstance(error, jinja2.TemplateSyntaxError):
        place = where(error.filename or "") or f"templates/{error.name}"
        detail = f'(Jinja säger på engelska: "{error.message}")'
        return Problem(place, error.lineno, f"mallen går inte att läsa {detail}")
    found: tuple[str, int] | None = None
    own: tuple[str, int] | None = None  # the innermost of the content tree's own templates
    tb = error.__traceback__
    while tb is not None:
        template = where(tb.tb_frame.f_code.co_filename)
        if template is not None:
            found = (template, tb.tb_lineno)
            own = own if template.endswith("(standardmallen)") else found
        tb = tb.tb_next
    if own is not None and isinstance(
        error, (MemoryError, RecursionError, TemplateTooSlow, TemplateTooBig)
    ):
        # Time and memory run out where a default template gathers what an override made
        # (a filter block around the page): the override is the one to name.
        found = own
    if found is None:
        return None
    if isinstance(error, jinja2.exceptions.SecurityError):
        message = "mallen försöker nå något som mallar inte får använda, och stoppades"
    elif isinstance(error, (TemplateTooBig, TemplateTooSlow)):
        message = str(error)
    elif isinstance(error, (MemoryError, RecursionError)):
        message = _exhausted(error)
    elif isinstance(error, OverflowError) and "MAX_RANGE" in str(error):
        message = f"range() ger för många tal (högst {MAX_RANGE:_}): gör det mindre"
        message = message.replace("_", "\N{NO-BREAK SPACE}")
    elif isinstance(error, jinja2.TemplateNotFound):
        message = f'mallen "{error.name}" finns inte'
    else:
        message = f"mallen går inte att rendera: {type(error).__name__}: {str(error)[:200]}"
    return Problem(found[0], found[1], message)


def datum(value: dt.date | dt.datetime) -> str:
    """Return a Swedish date such as '14 mars 2022'."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return _swedish(day, "d MMMM y")


@lru_cache(maxsize=4096)
def _swedish(day: dt.date, pattern: str) -> str:
    """Return babel's Swedish date (kept: an archive shows the same dates many times)."""
    from babel.dates import format_date

    return str(format_date(day, pattern, locale="sv"))


def when(item: Item) -> str:
    """Return an event's day and time in Swedish: 'torsdag 21 april 2022 kl. 09.00–12.00'."""
    assert item.start is not None
    text = _swedish(item.start.date(), "EEEE d MMMM y")
    time = f"kl. {item.start:%H.%M}"
    if item.end and item.end.date() == item.start.date():
        time += f"–{item.end:%H.%M}"
    elif item.end:
        time += f" till {_swedish(item.end.date(), 'd MMMM y')} kl. {item.end:%H.%M}"
    return f"{text} {time}"


def email_body(markup: Markup) -> SafeHTML:
    """Return a Markup's HTML for the email: every image with an integer width."""
    return SafeHTML(sized_images(markup.html, markup.assets, EMAIL_CONTENT_WIDTH))


@dataclass(frozen=True)
class Action:
    """Something a reader can do with an item: one link, the same in every output."""

    kind: str  # "register", "read" or "calendar"
    label: str  # what the link says
    url: str  # absolute
    button: bool  # the item's main action, shown as a button
    name: str = ""  # what a screen reader says: the label, then the item it belongs to


def actions(site: Site, item: Item) -> tuple[Action, ...]:
    """Return an item's actions in order: register, read more, add to the calendar.

    The email, its text part, the web page and the feeds all show these, so a link in
    the front matter reaches every output. The first of them is the button. Each one's
    name starts with its label and says which item it belongs to (WCAG 2.4.4, 2.5.3), as
    "Läs mer" may appear several times in an issue with different targets.
    """
    found = []
    if item.registration:
        found.append(("register", REGISTER, item.registration))
    if item.link:
        found.append(("read", READ_MORE, item.link))
    if item.is_event:
        found.append(("calendar", ADD_TO_CALENDAR, ics_url(site, item)))
    return tuple(
        Action(kind, label, url, index == 0 and kind != "calendar", f"{label}: {item.title}")
        for index, (kind, label, url) in enumerate(found)
    )


def host_of(url: str) -> str:
    """Return the host name of an absolute URL ("www.example.se"), or the URL itself."""
    host = urlsplit(url).hostname
    return host or url


def campaign_boxes(issue: Issue) -> dict[str, tuple[str, ...]]:
    """Return, per item slug, the campaigns whose standing box follows it (once per issue)."""
    shown: set[str] = set()
    boxes: dict[str, tuple[str, ...]] = {}
    for item in issue.news + issue.events:
        new = tuple(c for c in item.campaigns if c not in shown)
        shown.update(new)
        if new:
            boxes[item.slug] = new
    return boxes


@dataclass(frozen=True)
class Badge:
    """A campaign's badge on an item: its name in its colour, linking to its page."""

    slug: str
    name: str
    color: str


@dataclass(frozen=True)
class Entry:
    """One item as every medium shows it, worked out once per issue (IssueView)."""

    item: Item
    badges: tuple[Badge, ...]
    names: str  # its campaigns' names: "Svartsjuka är inte romantiskt, Välj att sluta"
    color: str  # its button's colour: its first campaign's, or the accent
    actions: tuple[Action, ...]
    boxes: tuple[Campaign, ...]  # the campaigns whose standing box follows it
    when: str  # an event's day and time in Swedish ("" for news)
    image_width: int  # the width of its image in the email


@dataclass(frozen=True)
class Footer:
    """The email's footer, the same in its HTML and its text."""

    lines: tuple[str, ...]  # support lines, e.g. Kvinnofridslinjen
    sender: str
    postal: str
    contact: str  # the address replies go to
    reason: str  # why the recipient gets the newsletter
    unsubscribe_url: str
    web_url: str
    privacy_url: str  # the subscription service's privacy notice ("" without a service)


@dataclass(frozen=True)
class IssueView:
    """What the three issue templates (email MJML, email text, web page) show, in order.

    Each medium has partials with the same names for the same parts (email/_parts.mjml,
    email/_parts.txt, web/_parts.html: `_contents`, `_item`, `_event`, `_campaign`,
    `_footer`): a new thing on an item is one field here and one line per medium.
    """

    issue: Issue
    news: tuple[Entry, ...]
    events: tuple[Entry, ...]
    web_url: str


def issue_view(content: Content, issue: Issue) -> IssueView:
    """Return the issue's view: every item's badges, actions, boxes and event facts."""
    site, campaigns = content.site, content.campaigns
    boxes = campaign_boxes(issue)

    def entry(item: Item) -> Entry:
        tagged = [campaigns[slug] for slug in item.campaigns]
        return Entry(
            item,
            tuple(Badge(c.slug, c.name, c.color) for c in tagged),
            ", ".join(c.name for c in tagged),
            tagged[0].color if tagged else ACCENT,
            actions(site, item),
            tuple(campaigns[slug] for slug in boxes.get(item.slug, ())),
            when(item) if item.is_event else "",
            image_width(item),
        )

    return IssueView(
        issue,
        tuple(entry(i) for i in issue.news),
        tuple(entry(i) for i in issue.events),
        web_url(site, issue),
    )


def footer(site: Site, issue: Issue, unsubscribe_url: str | None) -> Footer:
    """Return the email's footer (unsubscribe_url: the recipient's own, or the site's)."""
    service = site.subscriptions
    return Footer(
        site.footer_lines,
        site.sender_name,
        site.postal,
        site.reply_to or site.sender_address,
        site.reason,
        unsubscribe_url or site.unsubscribe_url,
        web_url(site, issue),
        urls.service_url(service.url, urls.PRIVACY_NOTICE) if service else "",
    )


def _context(content: Content, issue: Issue, unsubscribe_url: str | None) -> dict[str, Any]:
    site = content.site
    view = issue_view(content, issue)
    return {
        "site": site,
        "issue": issue,
        "view": view,
        "footer": footer(site, issue, unsubscribe_url),
        # Three invisible characters per step, until inbox previews (about 150
        # characters) end with the preheader.
        "preview_filler": max(0, (PREVIEW_LENGTH - len(issue.preheader)) // 3 + 1),
        # What templates written before IssueView use (a content tree's own may)
        "campaigns": content.campaigns,
        "boxes": campaign_boxes(issue),
        "color_of": lambda item: _entry_of(view, item).color,
        "names": lambda item: _entry_of(view, item).names,
        "web_url": view.web_url,
        "ics_url": lambda item: ics_url(site, item),
        "actions": lambda item: actions(site, item),
        "image_width": image_width,
        "unsubscribe_url": unsubscribe_url or site.unsubscribe_url,
    }


def _entry_of(view: IssueView, item: Item) -> Entry:
    return next(e for e in view.news + view.events if e.item.slug == item.slug)


def _page(site: Site, folder: str) -> dict[str, Any]:
    """Return the context of a web page in folder: its links (and `depth`, for old templates)."""
    links = urls.links(site, folder)
    return {"links": links, "depth": links.up}


@_reports_templates
def _render(env: jinja2.Environment, template: str, context: dict[str, Any]) -> str:
    return env.get_template(template).render(context)


def _web_context(content: Content, issue: Issue, context: dict[str, Any]) -> dict[str, Any]:
    """Return an issue's context for its web page (which no recipient's own link reaches)."""
    site = content.site
    return (
        context
        | _page(site, issue.folder)
        | {
            "content": content,
            "unsubscribe_url": site.unsubscribe_url,
            "footer": footer(site, issue, None),
        }
    )


def _tidy_mjml(mjml: str) -> str:
    # The templates' indentation would otherwise travel in every message.
    return GAPS.sub("> <", INDENT.sub("\n<", mjml))


def _tidy_text(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_mjml(
    env: jinja2.Environment, content: Content, issue: Issue, unsubscribe_url: str | None = None
) -> str:
    """Return the issue's email as MJML."""
    context = _context(content, issue, unsubscribe_url)
    return _tidy_mjml(_render(env, "email/issue.mjml", context))


def compile_mjml(mjml: str, css: str, timings: Timings | None = None) -> str:
    """Return MJML compiled to HTML by MRML, with css inlined and the doctype kept."""
    from mjml import mjml2html

    with timed(timings, "mjml"):
        # fonts={}: MRML would otherwise link Google Fonts for a font name it knows (privacy).
        html = mjml2html(mjml, disable_comments=True, fonts={})
    with timed(timings, "inlining"):
        # Phone numbers become links before inlining, so they get the links' colour.
        return inline_css(link_phones(html), css)


def inline_css(html: str, css: str) -> str:
    """Return html with css inlined by premailer.

    MRML's own <style> blocks (resets, media queries, Outlook fixes) stay as they are:
    inlining them would repeat the same declarations on every table cell.
    """
    from nyhetsbrev.build.inliner import inline

    body = re.sub(r"^<!doctype html>", "", html, flags=re.IGNORECASE)
    body = body.replace("<style", '<style data-premailer="ignore"')
    inlined = inline(body, css)
    inlined = re.sub(r"^<!doctype[^>]*>\s*", "", inlined, flags=re.IGNORECASE)
    inlined = inlined.replace(' data-premailer="ignore"', "")
    inlined = TEXT_BGCOLOR.sub(r"\1", inlined)  # premailer's copy of a badge's colour
    # premailer writes "a:b; c:d"; every byte saved counts against Gmail's clipping.
    inlined = tight_styles(inlined)
    return f"{DOCTYPE}\n{short_lines(inlined.strip())}\n"


def tight_styles(html: str) -> str:
    """Return html with "; " as ";" in each style attribute.

    The same as STYLE_ATTRIBUTE.sub(lambda m: m.group(0).replace("; ", ";"), html), found
    faster: STYLE_FROM_NAME starts at the literal "style=" and looks back for the space,
    where STYLE_ATTRIBUTE tries its leading space at every character. A match of either
    ends with a quote, so the space before the next one is never inside the last one.
    """
    return STYLE_FROM_NAME.sub(lambda m: m.group(0).replace("; ", ";"), html)


def short_lines(html: str, limit: int = 998) -> str:
    """Return html with a line break before each block tag, and no line over limit bytes.

    A relay that re-encodes the message as 8bit must keep lines within RFC 5322's 998
    characters; a break between block tags, or for a space in text, changes nothing shown.
    """
    lines = []
    for line in BLOCK_START.sub(">\n", html).split("\n"):
        while len(line.encode()) > limit:
            head = line.encode()[:limit].decode("utf-8", "ignore")  # whole characters
            outside = TAG_SPAN.sub(lambda m: "x" * len(m.group(0)), head)  # no space in tags
            cut = outside.rfind(" ")
            if cut < 0:
                break
            lines.append(line[:cut])
            line = line[cut + 1 :]
        lines.append(line)
    return "\n".join(lines)


def image_width(item: Item) -> int:
    """Return the width an item's image is shown at in the email: its own, at most 552 px."""
    size = image_size(item.image_asset.source) if item.image_asset else None
    return min(size[0], EMAIL_CONTENT_WIDTH) if size else EMAIL_CONTENT_WIDTH


def image_heights(html: str, issue: Issue) -> str:
    """Return html whose item images (MRML's height="auto") carry their height in pixels."""
    sizes = {
        item.image: size
        for item in issue.news + issue.events
        if item.image_asset and (size := image_size(item.image_asset.source))
    }

    def fix(match: re.Match[str]) -> str:
        tag = match.group(0)
        src = re.search(r'\ssrc="([^"]*)"', tag)
        width = re.search(r'\swidth="(\d+)"', tag)
        size = sizes.get(htmllib.unescape(src.group(1))) if src else None
        height = scaled_height(size, int(width.group(1))) if width else None
        return tag.replace(' height="auto"', f' height="{height}"') if height else tag

    return re.sub(r'<img\b[^>]*\sheight="auto"[^>]*>', fix, html)


@_reports_templates
def email_css(env: jinja2.Environment) -> str:
    """Return the CSS that is inlined into the email (a content tree may override it)."""
    return env.get_template("email/inline.css").render()


def render_text(
    env: jinja2.Environment, content: Content, issue: Issue, unsubscribe_url: str | None = None
) -> str:
    """Return the plain-text version: wrapped at 78 columns, every link as a full URL."""
    return _tidy_text(_render(env, "email/issue.txt", _context(content, issue, unsubscribe_url)))


def message(
    site: Site,
    issue: Issue,
    html: str,
    text: str,
    *,
    to: str | None = None,
    unsubscribe_url: str | None = None,
    subject_prefix: str = "",
    message_id: str | None = None,
    boundary: str | None = None,
) -> EmailMessage:
    """Return the MIME message: text/plain first, text/html last, every header it needs.

    The boundary is made from the bodies unless given (message_bytes() gives the real one).
    """
    msg = EmailMessage(policy=headers.SMTP)  # email.policy.SMTP, each header folded once
    sender = Address(site.sender_name, addr_spec=site.sender_address)
    msg["From"] = sender
    msg["To"] = to or sender
    if site.reply_to:
        msg["Reply-To"] = site.reply_to
    msg["Subject"] = subject_prefix + issue.title
    sent = dt.datetime.combine(issue.date, dt.time(SEND_HOUR), tzinfo=STOCKHOLM)
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = message_id or f"<{issue.year}.{issue.id}@{site.host}>"
    msg["List-Id"] = f"{site.title} <nyhetsbrev.{site.host}>"
    msg["Archived-At"] = f"<{web_url(site, issue)}>"  # RFC 5064: the issue's web version
    unsubscribe = unsubscribe_url or site.unsubscribe_url
    msg["List-Unsubscribe"] = f"<{unsubscribe}>, <mailto:{site.unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg["Content-Language"] = site.language  # after set_content(), which removes it
    msg.set_boundary(boundary or _boundary(text, html))
    return msg


def _boundary(text: str, html: str) -> str:
    digest = hashlib.sha256((text + html).encode()).hexdigest()[:32]
    return f"=_nyhetsbrev_{digest}"


TEXT_STAND_IN, HTML_STAND_IN = "nyhetsbrev-text-part", "nyhetsbrev-html-part"


def message_bytes(
    site: Site, issue: Issue, html: str, text: str, *, unsubscribe_url: str | None = None
) -> bytes:
    """Return message(site, issue, html, text, ...).as_bytes(), the same bytes, faster.

    The email package encodes each body and writes it out again line by line, most of a
    message's time. Here the message is built around two one-line stand-ins, and each
    stand-in's line is replaced by its body, encoded as email.contentmanager encodes it
    (quoted-printable, lines as splitlines() finds them) and written with CRLF as the
    generator writes it. The stand-ins are found from the end: every header comes before
    the bodies. tests/test_hot_paths.py compares the two.
    """
    shell = message(
        site,
        issue,
        HTML_STAND_IN,
        TEXT_STAND_IN,
        unsubscribe_url=unsubscribe_url,
        boundary=_boundary(text, html),
    ).as_bytes()
    rest, found_html, tail = shell.rpartition(HTML_STAND_IN.encode() + b"\r\n")
    head, found_text, middle = rest.rpartition(TEXT_STAND_IN.encode() + b"\r\n")
    if not found_html or not found_text:
        return message(site, issue, html, text, unsubscribe_url=unsubscribe_url).as_bytes()
    return b"".join((head, _quoted_printable(text), middle, _quoted_printable(html), tail))


def _quoted_printable(body: str) -> bytes:
    """Return a text part's body as message().as_bytes() writes it (charset utf-8)."""
    lines = body.encode("utf-8").splitlines()
    normal = (b"\n".join(lines) + b"\n").decode("latin-1")
    encoded = headers.body_encode(normal, int(headers.SMTP.max_line_length or 0))
    return encoded.replace("\n", "\r\n").encode("ascii")


def render_web(env: jinja2.Environment, content: Content, issue: Issue) -> str:
    """Return the issue's web version: semantic HTML with the archive's stylesheet."""
    context = _web_context(content, issue, _context(content, issue, None))
    return _render(env, "web/issue.html", context)


@_reports_templates
def render_archive(env: jinja2.Environment, content: Content) -> str:
    """Return the archive home page: issues by year, newest first."""
    years: dict[int, list[Issue]] = {}
    for issue in sorted(content.issues, key=lambda i: (i.date, i.id), reverse=True):
        years.setdefault(issue.year, []).append(issue)
    site = content.site
    return env.get_template("web/archive.html").render(
        site=site,
        content=content,
        years=years,
        **_page(site, ""),
        accent=ACCENT,
        campaigns=content.campaigns,
    )


@_reports_templates
def render_campaign(env: jinja2.Environment, content: Content, campaign: Campaign) -> str:
    """Return a campaign's page: its standing text, its items newest first, its feeds."""
    site = content.site
    items = sorted(
        (i for i in content.items if campaign.slug in i.campaigns),
        key=lambda i: (i.date, i.year, i.issue_id, i.slug),
        reverse=True,
    )
    logo = (
        campaign.logo
        if isinstance(campaign.logo, str) or campaign.logo is None
        else campaign.logo.url
    )
    return env.get_template("web/campaign.html").render(
        site=site,
        content=content,
        campaign=campaign,
        items=items,
        logo=logo,
        issue_titles={(i.year, i.id): i.title for i in content.issues},
        **_page(site, urls.campaign_folder(campaign.slug)),
        feed_base=urls.absolute(site, urls.campaign_feeds(campaign.slug)),  # for old templates
        accent=ACCENT,
    )


def render_issue(
    env: jinja2.Environment,
    content: Content,
    issue: Issue,
    unsubscribe_url: str | None = None,
    timings: Timings | None = None,
    web: bool = True,
) -> RenderedIssue:
    """Return every output of one issue (timings, if given, gets the time per stage).

    web=False leaves the web version empty (the preview renders it when it is asked for).
    """
    context = _context(content, issue, unsubscribe_url)  # its IssueView: once for all three
    with timed(timings, "mjml"):
        mjml = _tidy_mjml(_render(env, "email/issue.mjml", context))
    html = image_heights(compile_mjml(mjml, email_css(env), timings), issue)
    with timed(timings, "text"):
        text = _tidy_text(_render(env, "email/issue.txt", context))
    with timed(timings, "message"):
        eml = message_bytes(content.site, issue, html, text, unsubscribe_url=unsubscribe_url)
    page = ""
    if web:
        with timed(timings, "web"):
            page = _render(env, "web/issue.html", _web_context(content, issue, context))
    return RenderedIssue(issue, mjml, html, text, eml, page)


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """Return the archive's stylesheet (the default one: a content tree cannot replace it)."""
    return environment().get_template("web/style.css").render()
