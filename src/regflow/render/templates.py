"""Mails and server-rendered pages from Jinja2 templates: the only module that imports jinja2.

One template per mail (`templates/mails/<name>.j2`) holds three blocks, `subject`, `text` and
`html`: the same source is compiled twice, once without autoescaping (for the subject and the
plain-text part, which are not HTML) and once with it (for the HTML part), so a name like
`Tom & "Jerry" <x>` reads as typed in the text part and is escaped in the HTML part. The subject
is then made one line (line breaks and other control characters become spaces).

Pages (`templates/pages/<name>.j2`) are HTML, always autoescaped.

A template sees:

- `t(key, **params)`: the catalog message in the template's language. In HTML the message and
  every parameter are escaped (a parameter marked safe, e.g. `'<code>x</code>'|safe`, is not);
- `tn(key, count, **params)`: the `key.one` / `key.other` plural form, `{count}` filled;
- `fmt_date(moment)`: a datetime in the language's date format (`Catalog.date_time`);
- `fmt_utc(moment)`: a datetime as '2026-11-29 16:00 UTC', the same in every language;
- `lang`: the language code (for `<html lang>`), and every keyword given to `mail`/`page`.

HTML templates also have the filter `linkify` (escape, and make each http(s) URL a link).

An owner's directory (`override_dir`) may hold `templates/mails/<name>.j2` or
`templates/pages/<name>.j2`: a file there replaces the shipped template of the same path.

Every template (shipped or the owner's) runs in Jinja's immutable sandbox: a template reads
what it is given and calls the helpers above, but cannot reach Python internals
(`cycler.__init__.__globals__`, `__class__.__mro__`, ...) nor change the values it is given.
A breach raises `jinja2.exceptions.SecurityError` while rendering. `unsafe_override_path`
names the first file or folder of an owner's directory that other users could write (start-up
refuses it, as it refuses a readable key file).
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    pass_eval_context,
)
from jinja2.nodes import EvalContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from regflow.render import RenderedMail
from regflow.render.catalog import Catalog, plural_form

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
MAIL_BLOCKS = ("subject", "text", "html")

_URL_RE = re.compile(r"https?://[^\s<>\"']+")
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_HELPERS = frozenset({"t", "tn", "fmt_date", "fmt_utc", "lang"})


def one_line(text: str) -> str:
    """A header-safe single line: control characters and line/paragraph separators become
    spaces, runs of spaces collapse, and the ends are trimmed."""
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return re.sub(r" {2,}", " ", cleaned).strip()


def utc(moment: datetime) -> str:
    """A moment as '2026-11-29 16:00 UTC' (the same in every language: for records)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def linkify(text: object) -> Markup:
    """`text` escaped for HTML, each http(s) URL in it made a link."""
    value = str(text)
    out: list[str] = []
    last = 0
    for match in _URL_RE.finditer(value):
        out.append(str(escape(value[last : match.start()])))
        url = match.group(0)
        out.append(f'<a class="mail-link" href="{escape(url)}">{escape(url)}</a>')
        last = match.end()
    out.append(str(escape(value[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece above is escaped


def unsafe_override_path(folder: Path) -> tuple[Path, str] | None:
    """The first of `folder`, and every file and folder below it (symbolic links followed to
    what they name), that group or others may write (`"writable"`) or that cannot be read
    (`"unreadable"`); None when all are the owner's alone to change. A template is code run
    with the server's rights."""
    seen: set[tuple[int, int]] = set()
    pending = [folder]
    while pending:
        path = pending.pop()
        try:
            info = path.stat()
        except OSError:
            return path, "unreadable"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return path, "writable"
        if not stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            entries = sorted(os.listdir(path), reverse=True)
        except OSError:
            return path, "unreadable"
        pending.extend(path / entry for entry in entries)
    return None


def _normalize_text(text: str) -> str:
    """The plain-text part: no leading blank lines, no trailing spaces, one final newline."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


class Renderer:
    """Renders mails and pages in any supported language from the shipped templates, or an
    owner's replacements of them."""

    def __init__(
        self, catalog: Catalog, override_dir: Path | None = None, *, site: str = "regflow"
    ) -> None:
        self.catalog = catalog
        # SITE_NAME: every template sees it as `site` (a caller may still pass its own)
        self.site = site
        loaders: list[BaseLoader] = []
        if override_dir is not None:
            loaders.append(FileSystemLoader(str(override_dir / "templates")))
        loaders.append(FileSystemLoader(str(TEMPLATE_DIR)))
        loader = ChoiceLoader(loaders)
        options: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
            "auto_reload": False,
        }
        # The sandbox: an owner's template is not trusted with the process (see the module doc).
        self._html = ImmutableSandboxedEnvironment(autoescape=True, **options)
        self._html.filters["linkify"] = linkify
        # The subject and the plain-text part are not HTML: escaping them would show `&amp;`.
        self._text = ImmutableSandboxedEnvironment(autoescape=False, **options)

    # --- what a template sees ----------------------------------------------------------

    def _helpers(self, lang: str) -> dict[str, Any]:
        catalog = self.catalog

        @pass_eval_context
        def t(eval_ctx: EvalContext, key: str, /, **params: object) -> str:
            if eval_ctx.autoescape:
                return escape(catalog.message(key, lang)).format(**params)
            return catalog.text(key, lang, **params)

        @pass_eval_context
        def tn(eval_ctx: EvalContext, key: str, count: int, /, **params: object) -> str:
            form = f"{key}.{plural_form(lang, count)}"
            return t(eval_ctx, form, count=count, **params)

        def fmt_date(moment: datetime) -> str:
            return catalog.date_time(moment, lang)

        return {"t": t, "tn": tn, "fmt_date": fmt_date, "fmt_utc": utc, "lang": lang}

    def _context(self, lang: str, context: dict[str, object]) -> dict[str, Any]:
        for name in context:
            if name in _HELPERS:
                raise TypeError(f"{name!r} is set by the renderer; pass another name")
        return {"site": self.site, **context, **self._helpers(lang)}

    def _template(self, env: ImmutableSandboxedEnvironment, kind: str, name: str) -> Template:
        if _NAME_RE.fullmatch(name) is None:
            raise ValueError(f"not a template name: {name!r}")
        return env.get_template(f"{kind}/{name}.j2")

    # --- the interface --------------------------------------------------------------------

    def mail(self, name: str, lang: str, /, **context: object) -> RenderedMail:
        """RenderedMail(subject, text, html) from `mails/<name>.j2` (blocks subject, text, html)."""
        lang = self.catalog.language(lang)
        variables = self._context(lang, context)
        parts: dict[str, str] = {}
        for block, env in (("subject", self._text), ("text", self._text), ("html", self._html)):
            template = self._template(env, "mails", name)
            render: Callable[[Any], Any] | None = template.blocks.get(block)
            if render is None:
                raise LookupError(f"mails/{name}.j2 has no block {block!r}")
            parts[block] = "".join(render(template.new_context(variables)))
        return RenderedMail(
            subject=one_line(parts["subject"]),
            text=_normalize_text(parts["text"]),
            html=parts["html"].strip("\n") + "\n",
        )

    def page(self, name: str, lang: str, /, **context: object) -> str:
        """A server-rendered HTML page (`pages/<name>.j2`)."""
        lang = self.catalog.language(lang)
        return self._template(self._html, "pages", name).render(self._context(lang, context))
