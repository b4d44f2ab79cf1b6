"""Conversions between Quill deltas and HTML or Markdown.

Pure functions over lists of Quill ops (``{"insert": ..., "attributes": {...}}``); nothing here
knows about pycrdt. A document is a sequence of lines: inline content (strings and embeds with
inline attributes such as ``bold`` or ``link``) ended by a ``"\\n"`` whose attributes are the
line's block formats (``header``, ``list``, ``blockquote``, ``code-block``, ``align``, ...).

- :func:`delta_to_html`: semantic, sanitised HTML. Text and attribute values are escaped, no raw
  HTML is ever copied from the content, and URLs are kept only when :func:`safe_url` accepts them.
- :func:`delta_to_markdown`: CommonMark with GFM strikethrough and task lists. Formats Markdown
  cannot express (underline, colour, alignment) are dropped and their text is kept.
- :func:`markdown_to_delta`: parses Markdown with markdown-it-py (raw HTML is treated as text).

Example::

    ops = markdown_to_delta("# Title\\n\\nSome **bold** text\\n")
    delta_to_html(ops)  # '<h1>Title</h1><p>Some <strong>bold</strong> text</p>'
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, TypeAlias

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = [
    "BLOCK_FORMATS",
    "Attributes",
    "Op",
    "delta_to_html",
    "delta_to_markdown",
    "markdown_to_delta",
    "push",
    "safe_url",
]

Attributes: TypeAlias = dict[str, Any]
Op: TypeAlias = dict[str, Any]

BLOCK_FORMATS = frozenset(
    {"header", "list", "blockquote", "code-block", "align", "direction", "indent"}
)
"""Quill 2's line formats: they belong on the ``"\\n"`` that ends a line."""

_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_IMAGE_SCHEMES = frozenset({"http", "https"})
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|jpg|gif|webp|bmp|avif)[;,]", re.IGNORECASE)
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers drop tabs and newlines anywhere in a URL and C0 controls or spaces around it, so
# "java\tscript:" is "javascript:": remove them before looking at the scheme.
_URL_IGNORED = re.compile(r"[\t\n\r]")
_COLOR = re.compile(
    r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30}|rgba?\(\s*\d{1,3}%?(?:\s*,\s*\d{1,3}%?){2}"
    r"(?:\s*,\s*(?:0|1|0?\.\d+))?\s*\)"
)
_ALIGNS = frozenset({"left", "center", "right", "justify"})
_SIZE = re.compile(r"\d{1,5}(?:px|%)?")


def safe_url(url: object, *, image: bool = False) -> str | None:
    """Return ``url`` cleaned if it is safe to put in ``href``/``src``, else ``None``.

    Accepted: relative URLs, ``http:``, ``https:``, ``mailto:`` (links only) and, for images,
    ``data:image/...`` raster images. Everything else (``javascript:``, ``vbscript:``,
    ``data:text/html``, ``file:``, ...) is refused.
    """
    if not isinstance(url, str):
        return None
    cleaned = _URL_IGNORED.sub("", url).strip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e"
        "\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"
        "\x1b\x1c\x1d\x1e\x1f \x7f"
    )
    if not cleaned:
        return None
    match = _SCHEME.match(cleaned)
    if match is None:
        return cleaned  # relative (a ":" after "/", "?" or "#" is not a scheme)
    scheme = match.group(1).lower()
    if scheme in (_IMAGE_SCHEMES if image else _LINK_SCHEMES):
        return cleaned
    if image and _DATA_IMAGE.match(cleaned):
        return cleaned
    return None


# --------------------------------------------------------------------------------------------
# Lines


@dataclass
class _Line:
    """One line: inline segments and the attributes of the newline that ends it."""

    segments: list[tuple[str | dict[str, Any], Attributes]] = field(default_factory=list)
    attrs: Attributes = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.segments


def _lines(ops: Iterable[Op]) -> list[_Line]:
    """Split insert ops into lines; a last line without its newline is kept."""
    lines: list[_Line] = []
    line = _Line()
    for op in ops:
        value = op.get("insert")
        attrs = op.get("attributes") or {}
        if isinstance(value, dict):
            line.segments.append((value, attrs))
            continue
        if not isinstance(value, str):
            continue
        first, *rest = value.split("\n")
        if first:
            line.segments.append((first, attrs))
        for part in rest:
            line.attrs = {k: v for k, v in attrs.items() if k in BLOCK_FORMATS}
            lines.append(line)
            line = _Line()
            if part:
                line.segments.append((part, attrs))
    if line.segments:
        lines.append(line)
    return lines


def _line_kind(attrs: Attributes) -> str:
    """The block a line renders as, by Quill's precedence."""
    if attrs.get("code-block"):
        return "code"
    if _header_level(attrs) is not None:
        return "header"
    if attrs.get("list") in ("bullet", "ordered", "checked", "unchecked"):
        return "list"
    if attrs.get("blockquote"):
        return "quote"
    return "paragraph"


def _header_level(attrs: Attributes) -> int | None:
    level = attrs.get("header")
    if isinstance(level, bool) or not isinstance(level, int | float):
        return None
    return int(level) if level == int(level) and 1 <= level <= 6 else None


def _indent(attrs: Attributes) -> int:
    indent = attrs.get("indent")
    if isinstance(indent, bool) or not isinstance(indent, int | float):
        return 0
    return max(0, min(int(indent), 8))


def _plain_text(line: _Line) -> str:
    return "".join(value for value, _ in line.segments if isinstance(value, str))


# --------------------------------------------------------------------------------------------
# HTML


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _embed_html(embed: dict[str, Any], attrs: Attributes) -> str:
    if "image" in embed:
        src = safe_url(embed["image"], image=True)
        if src is None:
            return ""
        extra = ""
        alt = attrs.get("alt")
        extra += f' alt="{_attr(alt)}"' if isinstance(alt, str) else ' alt=""'
        for name in ("width", "height"):
            size = attrs.get(name)
            if isinstance(size, int | float) and not isinstance(size, bool):
                size = str(int(size))
            if isinstance(size, str) and _SIZE.fullmatch(size):
                extra += f' {name}="{size}"'
        return f'<img src="{_attr(src)}"{extra}>'
    if "video" in embed:
        src = safe_url(embed["video"])
        return f'<a href="{_attr(src)}">{html.escape(src)}</a>' if src else ""
    if "formula" in embed and isinstance(embed["formula"], str):
        return f'<span class="ql-formula">{html.escape(embed["formula"])}</span>'
    return ""  # unknown embeds carry no renderable content


def _segment_html(value: str | dict[str, Any], attrs: Attributes) -> str:
    if isinstance(value, dict):
        out = _embed_html(value, attrs)
    else:
        out = html.escape(value, quote=False)
        if attrs.get("code"):
            out = f"<code>{out}</code>"
    if not out:
        return ""
    script = attrs.get("script")
    if script in ("sub", "super"):
        tag = "sub" if script == "sub" else "sup"
        out = f"<{tag}>{out}</{tag}>"
    for name, tag in (("underline", "u"), ("strike", "s"), ("italic", "em"), ("bold", "strong")):
        if attrs.get(name):
            out = f"<{tag}>{out}</{tag}>"
    styles = [
        f"{prop}: {attrs[name]}"
        for name, prop in (("color", "color"), ("background", "background-color"))
        if isinstance(attrs.get(name), str) and _COLOR.fullmatch(attrs[name])
    ]
    if styles:
        out = f'<span style="{_attr("; ".join(styles))}">{out}</span>'
    return out


def _inline_html(line: _Line) -> str:
    out: list[str] = []

    def link_of(segment: tuple[str | dict[str, Any], Attributes]) -> str | None:
        return safe_url(segment[1].get("link"))

    for href, group in groupby(line.segments, key=link_of):
        inner = "".join(_segment_html(value, attrs) for value, attrs in group)
        if href is not None and inner:
            inner = f'<a href="{_attr(href)}" rel="noopener noreferrer">{inner}</a>'
        out.append(inner)
    return "".join(out)


def _block_attrs_html(attrs: Attributes) -> str:
    out = ""
    align = attrs.get("align")
    if align in _ALIGNS:
        out += f' style="text-align: {align}"'
    if attrs.get("direction") == "rtl":
        out += ' dir="rtl"'
    return out


def _list_html(lines: Sequence[_Line]) -> str:
    """Nested ``<ul>``/``<ol>`` for consecutive list lines, nesting by their ``indent``."""
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # open lists (level, tag), each with an open <li>
    for line in lines:
        kind = line.attrs["list"]
        tag = "ol" if kind == "ordered" else "ul"
        level = _indent(line.attrs)
        while stack and stack[-1][0] > level:
            out.append(f"</li></{stack.pop()[1]}>")
        if stack and stack[-1][0] == level:
            if stack[-1][1] == tag:
                out.append("</li>")
            else:
                out.append(f"</li></{stack.pop()[1]}>")
        while not stack or stack[-1][0] < level:
            new_level = stack[-1][0] + 1 if stack else 0
            # a skipped level gets an empty item to hold the deeper list, as Quill renders it
            out.append(f"<{tag}>" if new_level == level else f"<{tag}><li>")
            stack.append((new_level, tag))
        data = f' data-list="{kind}"' if kind in ("checked", "unchecked") else ""
        out.append(f"<li{data}{_block_attrs_html(line.attrs)}>{_inline_html(line)}")
    while stack:
        out.append(f"</li></{stack.pop()[1]}>")
    return "".join(out)


def delta_to_html(ops: Iterable[Op]) -> str:
    """Render Quill ops as semantic HTML, sanitised (see the module docstring).

    Lines become ``<p>``, ``<h1>``-``<h6>``, ``<li>`` in ``<ul>``/``<ol>``, ``<blockquote>``;
    consecutive code-block lines become one ``<pre>``. An empty line is ``<p><br></p>``.
    """
    lines = _lines(ops)
    out: list[str] = []
    for kind, group in groupby(lines, key=lambda line: _line_kind(line.attrs)):
        block = list(group)
        if kind == "list":
            out.append(_list_html(block))
            continue
        if kind == "code":
            for language, run in groupby(block, key=lambda line: line.attrs["code-block"]):
                data = (
                    f' data-language="{_attr(language)}"'
                    if isinstance(language, str) and language != "plain"
                    else ""
                )
                code = "\n".join(html.escape(_plain_text(line), quote=False) for line in run)
                out.append(f"<pre{data}>{code}</pre>")
            continue
        for line in block:
            level = _header_level(line.attrs)
            tag = f"h{level}" if level else "blockquote" if kind == "quote" else "p"
            inner = _inline_html(line) or "<br>"
            out.append(f"<{tag}{_block_attrs_html(line.attrs)}>{inner}</{tag}>")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Markdown export

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~|])|&(?=#?\w+;)")
_MD_LINE_START = re.compile(r"(#{1,6}(?=\s|$)|[-+=](?=\s|$|[-=]*\s*$)|\d{1,9}(?=[.)]))")
_EMPHASIS = ("strike", "bold", "italic")
_DELIMITERS = {"strike": "~~", "bold": "**", "italic": "*", "link": "["}


def _escape_md(text: str) -> str:
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _md_url(url: str) -> str:
    return (
        url.replace(" ", "%20")
        .replace("(", "%28")
        .replace(")", "%29")
        .replace("<", "%3C")
        .replace(">", "%3E")
    )


def _code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if (
        text.startswith("`")
        or text.endswith("`")
        or (text.startswith(" ") and text.endswith(" ") and text.strip(" "))
    ):
        text = f" {text} "
    return f"{fence}{text}{fence}"


# A mark set: (link, strike, bold, italic, code).
_Marks = tuple[str | None, bool, bool, bool, bool]
_Mark = tuple[str, str | None]  # (name, link url)


def _marks(attrs: Attributes, embed: bool) -> _Marks:
    return (
        safe_url(attrs.get("link")),
        bool(attrs.get("strike")),
        bool(attrs.get("bold")),
        bool(attrs.get("italic")),
        bool(attrs.get("code")) and not embed,
    )


def _image_markdown(embed: dict[str, Any], attrs: Attributes) -> str:
    src = safe_url(embed.get("image"), image=True)
    if src is None:
        return ""
    alt = attrs.get("alt")
    return f"![{_escape_md(alt) if isinstance(alt, str) else ''}]({_md_url(src)})"


def _is_space(value: object) -> bool:
    return isinstance(value, str) and value.isspace()


def _inline_markdown(line: _Line) -> str:
    """Inline Markdown of a line, nesting emphasis as CommonMark's flanking rules need.

    Marks already open stay open while the next run also has them; delimiters never touch
    whitespace on their inner side ("**bold** ", not "**bold **", which would not close).
    """
    # One item per character or embed, grouped below by identical marks.
    items: list[tuple[str | tuple[dict[str, Any], Attributes], _Marks]] = []
    for value, attrs in line.segments:
        if isinstance(value, dict):
            if _image_markdown(value, attrs):
                items.append(((value, attrs), _marks(attrs, embed=True)))
        else:
            marks = _marks(attrs, embed=False)
            items.extend((char, marks) for char in value)

    out: list[str] = []
    stack: list[_Mark] = []

    def close_to(depth: int) -> None:
        if depth >= len(stack):
            return
        last = out[-1] if out else ""
        body = last.rstrip(" \t") if not last.endswith("`") else last
        trailing = last[len(body) :]
        if trailing:
            out[-1] = body
        while len(stack) > depth:
            name, url = stack.pop()
            out.append(f"]({_md_url(url)})" if url is not None else _DELIMITERS[name])
        out.append(trailing)

    for marks, group in groupby(items, key=lambda item: item[1]):
        link, strike, bold, italic, code = marks
        wanted: list[_Mark] = [("link", link)] if link else []
        wanted.extend(
            (name, None) for name, on in zip(_EMPHASIS, (strike, bold, italic), strict=True) if on
        )
        keep = 0
        while keep < len(stack) and stack[keep] in wanted:
            keep += 1
        close_to(keep)
        values = [value for value, _ in group]
        opening = [mark for mark in wanted if mark not in stack]
        if not code:
            lead = 0
            while lead < len(values) and _is_space(values[lead]):
                lead += 1
            if lead == len(values):
                # whitespace alone cannot open emphasis: leave it outside
                opening = [mark for mark in opening if mark[0] == "link"]
            elif any(mark[0] != "link" for mark in opening):
                out.append("".join(str(value) for value in values[:lead]))
                values = values[lead:]
        for mark in opening:
            out.append(_DELIMITERS[mark[0]])
            stack.append(mark)
        for is_text, run in groupby(values, key=lambda value: isinstance(value, str)):
            if is_text:
                text = "".join(str(char) for char in run)
                out.append(_code_span(text) if code else _escape_md(text))
            else:
                for embed in run:
                    assert isinstance(embed, tuple)
                    out.append(_image_markdown(*embed))
    close_to(0)
    return "".join(out)


def _guard_line_start(text: str) -> str:
    """Escape what would make the start of a line a block marker (``#``, ``-``, ``1.``, ...).

    Leading spaces and tabs become character references: Markdown strips them, and four of
    them would start an indented code block.
    """
    body = text.lstrip(" \t")
    if not body:
        return ""
    lead = "".join("&#32;" if char == " " else "&#9;" for char in text[: len(text) - len(body)])
    match = _MD_LINE_START.match(body)
    if match:
        token = match.group(1)
        body = token + "\\" + body[len(token) :] if token[0].isdigit() else "\\" + body
    return lead + body


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


def delta_to_markdown(ops: Iterable[Op]) -> str:
    """Render Quill ops as Markdown (CommonMark plus GFM strikethrough and task lists).

    Headers become ``#``, lists ``- ``/``1. ``/``- [x] `` (nested by ``indent``), blockquotes
    ``> ``, code-block lines one fenced block; inline ``**bold**``, ``*italic*``,
    ``~~strike~~``, ``\\`code\\```, ``[text](url)``, ``![alt](url)``. Underline, colours and
    alignment have no Markdown form: their text is kept unformatted (no raw HTML). Text is
    escaped; empty lines are dropped, since Markdown collapses them anyway.
    """
    blocks: list[tuple[str, str]] = []  # (separator before, markdown)
    previous = ""  # kind of the previous block
    family = ""  # "ordered" or "bullet": the current top-level list
    counters: dict[int, int] = {}
    widths: list[int] = []  # marker width of the open list item at each level
    for kind, group in groupby(_lines(ops), key=lambda line: _line_kind(line.attrs)):
        block = list(group)
        if kind == "code":
            for language, run in groupby(block, key=lambda line: line.attrs["code-block"]):
                code = "\n".join(_plain_text(line) for line in run)
                fence = _fence(code)
                info = language if isinstance(language, str) and language != "plain" else ""
                blocks.append(("\n\n", f"{fence}{info}\n{code}\n{fence}"))
            previous = kind
            continue
        for line in block:
            inline = _inline_markdown(line)
            if kind == "list":
                list_kind = line.attrs["list"]
                level = _indent(line.attrs)
                top_family = "ordered" if list_kind == "ordered" else "bullet"
                separator = "\n"
                if previous != "list" or (level == 0 and top_family != family):
                    separator = "\n\n"  # a new list
                    counters.clear()
                    widths.clear()
                if level == 0:
                    family = top_family
                del widths[level:]
                widths.extend([2] * (level - len(widths)))
                for deeper in [key for key in counters if key > level]:
                    del counters[deeper]
                if list_kind == "ordered":
                    counters[level] = counters.get(level, 0) + 1
                    marker = f"{counters[level]}. "
                else:
                    counters.pop(level, None)
                    marker = {"checked": "- [x] ", "unchecked": "- [ ] "}.get(list_kind, "- ")
                text = " " * sum(widths) + marker + _guard_line_start(inline)
                widths.append(len(marker) if list_kind in ("bullet", "ordered") else 2)
                blocks.append((separator, text.rstrip(" ")))
            elif line.empty:
                continue
            elif kind == "header":
                level = _header_level(line.attrs) or 1
                blocks.append(("\n\n", f"{'#' * level} {_guard_line_start(inline)}".rstrip()))
            elif kind == "quote":
                separator = "\n>\n" if previous == "quote" else "\n\n"
                blocks.append((separator, f"> {_guard_line_start(inline)}".rstrip()))
            else:
                blocks.append(("\n\n", _guard_line_start(inline)))
            previous = kind
    if not blocks:
        return ""
    return blocks[0][1] + "".join(separator + text for separator, text in blocks[1:]) + "\n"


# --------------------------------------------------------------------------------------------
# Markdown import

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
_TASK = re.compile(r"\[([ xX])\] ")


def push(ops: list[Op], value: str | dict[str, Any], attrs: Mapping[str, Any] | None) -> None:
    """Append an insert op to ``ops``, merged into the last one as Quill's ``Delta.push`` does.

    Two string inserts with equal attributes merge; empty strings are skipped; attributes are
    omitted when empty.
    """
    if value == "":
        return
    op: Op = {"insert": value}
    if attrs:
        op["attributes"] = dict(attrs)
    if ops:
        last = ops[-1]
        if (
            isinstance(value, str)
            and isinstance(last.get("insert"), str)
            and last.get("attributes") == op.get("attributes")
        ):
            last["insert"] += value
            return
    ops.append(op)


class _DeltaBuilder:
    """Accumulates insert ops with :func:`push`."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def insert(self, value: str | dict[str, Any], attrs: Mapping[str, Any]) -> None:
        push(self.ops, value, attrs)


@dataclass
class _Block:
    lists: list[str] = field(default_factory=list)
    quote: int = 0
    header: int | None = None
    task: str | None = None

    def attrs(self) -> Attributes:
        if self.header is not None:
            return {"header": self.header}
        if self.lists:
            attrs: Attributes = {"list": self.task or self.lists[-1]}
            if len(self.lists) > 1:
                attrs["indent"] = len(self.lists) - 1
            return attrs
        if self.quote:
            return {"blockquote": True}
        return {}


def _inline_ops(
    children: Sequence[Token], builder: _DeltaBuilder, block: _Block, task_allowed: bool
) -> None:
    formats: dict[str, int] = {"bold": 0, "italic": 0, "strike": 0}
    links: list[str] = []

    def current() -> Attributes:
        attrs: Attributes = {name: True for name, depth in formats.items() if depth}
        if links:
            attrs["link"] = links[-1]
        return attrs

    for index, token in enumerate(children):
        kind = token.type
        if kind == "text":
            content = token.content
            if index == 0 and task_allowed:
                match = _TASK.match(content)
                if match:
                    block.task = "unchecked" if match.group(1) == " " else "checked"
                    content = content[match.end() :]
            builder.insert(content, current())
        elif kind == "code_inline":
            builder.insert(token.content, {**current(), "code": True})
        elif kind == "softbreak":
            builder.insert(" ", current())
        elif kind == "hardbreak":
            builder.insert("\n", block.attrs())
        elif kind in ("strong_open", "em_open", "s_open", "strong_close", "em_close", "s_close"):
            name = {"strong": "bold", "em": "italic", "s": "strike"}[kind.rsplit("_", 1)[0]]
            formats[name] += 1 if kind.endswith("_open") else -1
        elif kind == "link_open":
            links.append(str(token.attrs.get("href", "")))
        elif kind == "link_close":
            links.pop()
        elif kind == "image":
            attrs = current()
            if token.content:
                attrs["alt"] = token.content
            builder.insert({"image": str(token.attrs.get("src", ""))}, attrs)
        elif token.content:  # anything else (e.g. html_inline): its source, as text
            builder.insert(token.content, current())


def markdown_to_delta(markdown: str) -> list[Op]:
    """Parse Markdown (CommonMark + strikethrough + task lists) into Quill insert ops.

    Headers, bullet/ordered/task lists (nested lists get ``indent``), blockquotes, fenced and
    indented code (``code-block``: the fence's language or ``"plain"``), bold, italic, strike,
    inline code, links and images (``{"image": src}`` embeds, ``alt`` as an attribute). A soft
    line break becomes a space, a hard break a new line. Thematic breaks are dropped; raw HTML
    is kept as text. Every line, the last included, ends with ``"\\n"``.
    """
    if not isinstance(markdown, str):
        raise TypeError(f"markdown must be a str, not {type(markdown).__name__}")
    builder = _DeltaBuilder()
    block = _Block()
    item_start = False
    for token in _MARKDOWN.parse(markdown):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            block.lists.append("bullet" if kind == "bullet_list_open" else "ordered")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            block.lists.pop()
        elif kind == "list_item_open":
            item_start = True
        elif kind == "blockquote_open":
            block.quote += 1
        elif kind == "blockquote_close":
            block.quote -= 1
        elif kind == "heading_open":
            block.header = int(token.tag[1:])
        elif kind == "inline":
            task_allowed = item_start and bool(block.lists) and block.lists[-1] == "bullet"
            _inline_ops(token.children or [], builder, block, task_allowed)
            item_start = False
        elif kind in ("paragraph_close", "heading_close"):
            builder.insert("\n", block.attrs())
            block.header = None
            block.task = None
        elif kind in ("fence", "code_block"):
            language = token.info.strip().split(" ")[0] if kind == "fence" else ""
            attrs = {"code-block": language or "plain"}
            for code_line in token.content.removesuffix("\n").split("\n"):
                builder.insert(code_line, {})
                builder.insert("\n", attrs)
    return builder.ops
