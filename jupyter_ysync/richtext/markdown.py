"""Quill deltas to and from Markdown.

- :func:`delta_to_markdown`: CommonMark with GFM strikethrough and task lists. Formats Markdown
  cannot express (underline, colour, alignment) are dropped and their text is kept; URLs pass
  :func:`~jupyter_ysync.richtext.html.safe_url`.
- :func:`markdown_to_delta`: parses Markdown with markdown-it-py (raw HTML is treated as text).

Example::

    ops = markdown_to_delta("# Title\\n\\nSome **bold** text\\n")
    delta_to_markdown(ops)  # '# Title\\n\\nSome **bold** text\\n'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .delta import Attributes, Line, Op, header_level, indent, line_kind, lines, push
from .html import safe_url

__all__ = ["delta_to_markdown", "markdown_to_delta"]

# --------------------------------------------------------------------------------------------
# Export

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~|])|&(?=#?\w+;)")
_MD_LINE_START = re.compile(r"(#{1,6}(?=\s|$)|[-+=](?=\s|$|[-=]*\s*$)|\d{1,9}(?=[.)]))")
_EMPHASIS = ("strike", "bold", "italic")
_DELIMITERS = {"strike": "~~", "bold": "**", "italic": "*", "link": "["}
_TASK_MARKERS = {"checked": "- [x] ", "unchecked": "- [ ] "}

# A mark set: (link, strike, bold, italic, code).
_Marks = tuple[str | None, bool, bool, bool, bool]
_Mark = tuple[str, str | None]  # (name, link url)
_Value = str | tuple[dict[str, Any], Attributes]  # a character, or an image and its attributes


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
    lists = _ListState()
    for kind, group in groupby(lines(ops), key=lambda line: line_kind(line.attrs)):
        block = list(group)
        if kind == "code":
            blocks.extend(_code_markdown(block))
            previous = kind
            continue
        for line in block:
            if kind == "list":
                blocks.append(lists.item(line, new=previous != "list"))
            elif line.empty:
                continue
            else:
                blocks.append(_line_markdown(line, kind, previous))
            previous = kind
    if not blocks:
        return ""
    return blocks[0][1] + "".join(separator + text for separator, text in blocks[1:]) + "\n"


@dataclass
class _ListState:
    """The lists open while exporting (the export twin of the import side's :class:`_Block`)."""

    family: str = ""
    """``"ordered"`` or ``"bullet"``: the current top-level list."""
    counters: dict[int, int] = field(default_factory=dict)
    """The last number of the ordered list at each level."""
    widths: list[int] = field(default_factory=list)
    """The marker width of the open list item at each level."""

    def item(self, line: Line, *, new: bool) -> tuple[str, str]:
        """The separator and the Markdown of a list line; ``new``: the previous block was not a
        list line."""
        kind = line.attrs["list"]
        level = indent(line.attrs)
        family = "ordered" if kind == "ordered" else "bullet"
        separator = "\n"
        if new or (level == 0 and family != self.family):
            separator = "\n\n"  # a new list
            self.counters.clear()
            self.widths.clear()
        if level == 0:
            self.family = family
        del self.widths[level:]
        self.widths.extend([2] * (level - len(self.widths)))
        for deeper in [key for key in self.counters if key > level]:
            del self.counters[deeper]
        marker = self._marker(kind, level)
        text = " " * sum(self.widths) + marker + _guard_line_start(_inline_markdown(line))
        self.widths.append(len(marker) if kind in ("bullet", "ordered") else 2)
        return separator, text.rstrip(" ")

    def _marker(self, kind: str, level: int) -> str:
        if kind == "ordered":
            self.counters[level] = self.counters.get(level, 0) + 1
            return f"{self.counters[level]}. "
        self.counters.pop(level, None)
        return _TASK_MARKERS.get(kind, "- ")


def _line_markdown(line: Line, kind: str, previous: str) -> tuple[str, str]:
    """The separator and the Markdown of a header, quote or paragraph line."""
    inline = _guard_line_start(_inline_markdown(line))
    if kind == "header":
        level = header_level(line.attrs) or 1
        return "\n\n", f"{'#' * level} {inline}".rstrip()
    if kind == "quote":
        return ("\n>\n" if previous == "quote" else "\n\n"), f"> {inline}".rstrip()
    return "\n\n", inline


def _code_markdown(block: Sequence[Line]) -> Iterator[tuple[str, str]]:
    """One fenced block per run of code lines in the same language."""
    for language, run in groupby(block, key=lambda line: line.attrs["code-block"]):
        code = "\n".join(line.plain_text for line in run)
        fence = _fence(code)
        info = language if isinstance(language, str) and language != "plain" else ""
        yield "\n\n", f"{fence}{info}\n{code}\n{fence}"


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


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


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


def _inline_markdown(line: Line) -> str:
    """Inline Markdown of a line, nesting emphasis as CommonMark's flanking rules need.

    Marks already open stay open while the next run also has them; delimiters never touch
    whitespace on their inner side ("**bold** ", not "**bold **", which would not close).
    """
    # One item per character or embed, grouped below by identical marks.
    items: list[tuple[_Value, _Marks]] = []
    for value, attrs in line.segments:
        if isinstance(value, dict):
            if _image_markdown(value, attrs):
                items.append(((value, attrs), _marks(attrs, embed=True)))
        else:
            marks = _marks(attrs, embed=False)
            items.extend((char, marks) for char in value)
    writer = _InlineWriter()
    for marks, group in groupby(items, key=lambda item: item[1]):
        writer.run(marks, [value for value, _ in group])
    writer.close_to(0)
    return "".join(writer.out)


class _InlineWriter:
    """Writes runs of equally marked characters, keeping marks open across runs sharing them."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.stack: list[_Mark] = []  # the marks open, outermost first

    def run(self, marks: _Marks, values: list[_Value]) -> None:
        link, strike, bold, italic, code = marks
        wanted: list[_Mark] = [("link", link)] if link else []
        wanted.extend(
            (name, None) for name, on in zip(_EMPHASIS, (strike, bold, italic), strict=True) if on
        )
        keep = 0
        while keep < len(self.stack) and self.stack[keep] in wanted:
            keep += 1
        self.close_to(keep)
        opening = [mark for mark in wanted if mark not in self.stack]
        if not code:
            opening, values = self._space_outside(opening, values)
        for mark in opening:
            self.out.append(_DELIMITERS[mark[0]])
            self.stack.append(mark)
        self._write(values, code)

    def close_to(self, depth: int) -> None:
        """Close the marks open above ``depth``, moving trailing whitespace outside them."""
        if depth >= len(self.stack):
            return
        out = self.out
        last = out[-1] if out else ""
        body = last.rstrip(" \t") if not last.endswith("`") else last
        trailing = last[len(body) :]
        if trailing:
            out[-1] = body
        while len(self.stack) > depth:
            name, url = self.stack.pop()
            out.append(f"]({_md_url(url)})" if url is not None else _DELIMITERS[name])
        out.append(trailing)

    def _space_outside(
        self, opening: list[_Mark], values: list[_Value]
    ) -> tuple[list[_Mark], list[_Value]]:
        """Write leading whitespace before opening emphasis (it cannot open it); return the
        marks still to open and the values left."""
        lead = 0
        while lead < len(values) and _is_space(values[lead]):
            lead += 1
        if lead == len(values):
            # whitespace alone cannot open emphasis: leave it outside
            return [mark for mark in opening if mark[0] == "link"], values
        if any(mark[0] != "link" for mark in opening):
            self.out.append("".join(str(value) for value in values[:lead]))
            return opening, values[lead:]
        return opening, values

    def _write(self, values: list[_Value], code: bool) -> None:
        for is_text, run in groupby(values, key=lambda value: isinstance(value, str)):
            if is_text:
                text = "".join(str(char) for char in run)
                self.out.append(_code_span(text) if code else _escape_md(text))
            else:
                for embed in run:
                    assert isinstance(embed, tuple)
                    self.out.append(_image_markdown(*embed))


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


# --------------------------------------------------------------------------------------------
# Import

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
_TASK = re.compile(r"\[([ xX])\] ")
_LIST_OPEN = {"bullet_list_open": "bullet", "ordered_list_open": "ordered"}
_EMPHASIS_TOKENS = {
    f"{tag}_{edge}": (name, step)
    for tag, name in (("strong", "bold"), ("em", "italic"), ("s", "strike"))
    for edge, step in (("open", 1), ("close", -1))
}
"""Emphasis tokens: the format each opens (+1) or closes (-1)."""


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
    return _tokens_to_ops(_MARKDOWN.parse(markdown))


def _tokens_to_ops(tokens: Iterable[Token]) -> list[Op]:
    """Insert ops of a markdown-it block token stream (whole or a run of top-level blocks)."""
    ops: list[Op] = []
    block = _Block()
    for token in tokens:
        kind = token.type
        if block.enter(token):
            continue
        if kind == "inline":
            _inline_ops(token.children or [], ops, block)
        elif kind in ("paragraph_close", "heading_close"):
            push(ops, "\n", block.attrs())
            block.header = None
            block.task = None
        elif kind in ("fence", "code_block"):
            _code_ops(token, ops)
    return ops


@dataclass
class _Block:
    """Where the Markdown reader stands: open lists and quotes, the header, the task box."""

    lists: list[str] = field(default_factory=list)
    quote: int = 0
    header: int | None = None
    task: str | None = None
    item_start: bool = False
    """The next inline content starts a list item (where a task box may be)."""

    def enter(self, token: Token) -> bool:
        """Follow a list, list item, quote or heading token; return whether it was one."""
        kind = token.type
        if kind in _LIST_OPEN:
            self.lists.append(_LIST_OPEN[kind])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            self.item_start = True
        elif kind in ("blockquote_open", "blockquote_close"):
            self.quote += 1 if kind == "blockquote_open" else -1
        elif kind == "heading_open":
            self.header = int(token.tag[1:])
        else:
            return False
        return True

    def attrs(self) -> Attributes:
        """The line formats of the line being read."""
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

    def take_task(self, content: str) -> str:
        """``content`` without a leading ``[ ]``/``[x]`` task box, noting the box if found."""
        match = _TASK.match(content)
        if match is None:
            return content
        self.task = "unchecked" if match.group(1) == " " else "checked"
        return content[match.end() :]


def _inline_ops(children: Sequence[Token], ops: list[Op], block: _Block) -> None:
    task_allowed = block.item_start and bool(block.lists) and block.lists[-1] == "bullet"
    block.item_start = False
    reader = _InlineReader(ops, block)
    for index, token in enumerate(children):
        content = token.content
        if index == 0 and task_allowed and token.type == "text":
            content = block.take_task(content)
        reader.read(token, content)


class _InlineReader:
    """Turns inline tokens into insert ops, following the emphasis and links open."""

    def __init__(self, ops: list[Op], block: _Block) -> None:
        self.ops = ops
        self.block = block
        self.formats: dict[str, int] = {"bold": 0, "italic": 0, "strike": 0}
        self.links: list[str] = []

    def attrs(self) -> Attributes:
        attrs: Attributes = {name: True for name, depth in self.formats.items() if depth}
        if self.links:
            attrs["link"] = self.links[-1]
        return attrs

    def read(self, token: Token, content: str) -> None:
        kind = token.type
        emphasis = _EMPHASIS_TOKENS.get(kind)
        if emphasis is not None:
            name, step = emphasis
            self.formats[name] += step
        elif kind == "link_open":
            self.links.append(str(token.attrs.get("href", "")))
        elif kind == "link_close":
            self.links.pop()
        elif kind == "image":
            attrs = self.attrs()
            if token.content:
                attrs["alt"] = token.content
            push(self.ops, {"image": str(token.attrs.get("src", ""))}, attrs)
        else:
            self._text(kind, content)

    def _text(self, kind: str, content: str) -> None:
        if kind == "code_inline":
            push(self.ops, content, {**self.attrs(), "code": True})
        elif kind == "softbreak":
            push(self.ops, " ", self.attrs())
        elif kind == "hardbreak":
            push(self.ops, "\n", self.block.attrs())
        else:  # text, and anything else (e.g. html_inline): its source, as text
            push(self.ops, content, self.attrs())


def _code_ops(token: Token, ops: list[Op]) -> None:
    """Code lines, each ended by a newline carrying the fence's language."""
    language = token.info.strip().split(" ")[0] if token.type == "fence" else ""
    attrs = {"code-block": language or "plain"}
    for code_line in token.content.removesuffix("\n").split("\n"):
        push(ops, code_line, {})
        push(ops, "\n", attrs)
