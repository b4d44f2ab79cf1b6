"""Quill deltas as semantic, sanitised HTML.

Text and attribute values are escaped, no raw HTML is ever copied from the content, URLs are kept
only when :func:`safe_url` accepts them, and colours and sizes only when they match a strict
pattern, so the output can be shown as it is.

Example::

    delta_to_html([{"insert": "Title"}, {"insert": "\\n", "attributes": {"header": 1}}])
    # '<h1>Title</h1>'
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

from .delta import Attributes, Line, Op, header_level, indent, line_kind, lines

__all__ = ["delta_to_html", "safe_url"]

_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_IMAGE_SCHEMES = frozenset({"http", "https"})
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|jpg|gif|webp|bmp|avif)[;,]", re.IGNORECASE)
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers drop tabs and newlines anywhere in a URL and C0 controls or spaces around it, so
# "java\tscript:" is "javascript:": remove them before looking at the scheme.
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_STRIPPED = (
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e"
    "\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"
    "\x1b\x1c\x1d\x1e\x1f \x7f"
)
_COLOR = re.compile(
    r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30}|rgba?\(\s*\d{1,3}%?(?:\s*,\s*\d{1,3}%?){2}"
    r"(?:\s*,\s*(?:0|1|0?\.\d+))?\s*\)"
)
_ALIGNS = frozenset({"left", "center", "right", "justify"})
_SIZE = re.compile(r"\d{1,5}(?:px|%)?")
_TAGS = (("underline", "u"), ("strike", "s"), ("italic", "em"), ("bold", "strong"))
"""Inline formats as tags, innermost first."""


def safe_url(url: object, *, image: bool = False) -> str | None:
    """Return ``url`` cleaned if it is safe to put in ``href``/``src``, else ``None``.

    Accepted: relative URLs, ``http:``, ``https:``, ``mailto:`` (links only) and, for images,
    ``data:image/...`` raster images. Everything else (``javascript:``, ``vbscript:``,
    ``data:text/html``, ``file:``, ...) is refused.
    """
    if not isinstance(url, str):
        return None
    cleaned = _URL_IGNORED.sub("", url).strip(_URL_STRIPPED)
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


def delta_to_html(ops: Iterable[Op]) -> str:
    """Render Quill ops as semantic HTML, sanitised (see the module docstring).

    Lines become ``<p>``, ``<h1>``-``<h6>``, ``<li>`` in ``<ul>``/``<ol>``, ``<blockquote>``;
    consecutive code-block lines become one ``<pre>``. An empty line is ``<p><br></p>``.
    """
    out: list[str] = []
    for kind, group in groupby(lines(ops), key=lambda line: line_kind(line.attrs)):
        block = list(group)
        if kind == "list":
            out.append(_list_html(block))
        elif kind == "code":
            out.extend(_code_html(block))
        else:
            out.extend(_line_html(line, kind) for line in block)
    return "".join(out)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _line_html(line: Line, kind: str) -> str:
    level = header_level(line.attrs)
    tag = f"h{level}" if level else "blockquote" if kind == "quote" else "p"
    inner = _inline_html(line) or "<br>"
    return f"<{tag}{_block_attrs_html(line.attrs)}>{inner}</{tag}>"


def _code_html(block: Sequence[Line]) -> Iterable[str]:
    """One ``<pre>`` per run of code lines in the same language."""
    for language, run in groupby(block, key=lambda line: line.attrs["code-block"]):
        data = (
            f' data-language="{_attr(language)}"'
            if isinstance(language, str) and language != "plain"
            else ""
        )
        code = "\n".join(html.escape(line.plain_text, quote=False) for line in run)
        yield f"<pre{data}>{code}</pre>"


def _list_html(block: Sequence[Line]) -> str:
    """Nested ``<ul>``/``<ol>`` for consecutive list lines, nesting by their ``indent``."""
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # open lists (level, tag), each with an open <li>
    for line in block:
        kind = line.attrs["list"]
        tag = "ol" if kind == "ordered" else "ul"
        level = indent(line.attrs)
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


def _block_attrs_html(attrs: Attributes) -> str:
    out = ""
    align = attrs.get("align")
    if align in _ALIGNS:
        out += f' style="text-align: {align}"'
    if attrs.get("direction") == "rtl":
        out += ' dir="rtl"'
    return out


def _inline_html(line: Line) -> str:
    out: list[str] = []

    def link_of(segment: tuple[str | dict[str, Any], Attributes]) -> str | None:
        return safe_url(segment[1].get("link"))

    for href, group in groupby(line.segments, key=link_of):
        inner = "".join(_segment_html(value, attrs) for value, attrs in group)
        if href is not None and inner:
            inner = f'<a href="{_attr(href)}" rel="noopener noreferrer">{inner}</a>'
        out.append(inner)
    return "".join(out)


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
    for name, tag in _TAGS:
        if attrs.get(name):
            out = f"<{tag}>{out}</{tag}>"
    return _styled(out, attrs)


def _styled(out: str, attrs: Attributes) -> str:
    """``out`` in a ``<span>`` with its text and background colours, when they are safe."""
    styles = [
        f"{prop}: {attrs[name]}"
        for name, prop in (("color", "color"), ("background", "background-color"))
        if isinstance(attrs.get(name), str) and _COLOR.fullmatch(attrs[name])
    ]
    if styles:
        return f'<span style="{_attr("; ".join(styles))}">{out}</span>'
    return out


def _embed_html(embed: dict[str, Any], attrs: Attributes) -> str:
    if "image" in embed:
        return _image_html(embed["image"], attrs)
    if "video" in embed:
        src = safe_url(embed["video"])
        return f'<a href="{_attr(src)}">{html.escape(src)}</a>' if src else ""
    if "formula" in embed and isinstance(embed["formula"], str):
        return f'<span class="ql-formula">{html.escape(embed["formula"])}</span>'
    return ""  # unknown embeds carry no renderable content


def _image_html(url: object, attrs: Attributes) -> str:
    src = safe_url(url, image=True)
    if src is None:
        return ""
    alt = attrs.get("alt")
    extra = f' alt="{_attr(alt)}"' if isinstance(alt, str) else ' alt=""'
    for name in ("width", "height"):
        size = attrs.get(name)
        if isinstance(size, int | float) and not isinstance(size, bool):
            size = str(int(size))
        if isinstance(size, str) and _SIZE.fullmatch(size):
            extra += f' {name}="{size}"'
    return f'<img src="{_attr(src)}"{extra}>'
