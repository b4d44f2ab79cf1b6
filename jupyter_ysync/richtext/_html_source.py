"""Reading HTML files into blocks for :mod:`.lossless` (``html.parser``, checked with nh3).

Each top-level element is converted to ops and kept as rich text only if its normalised element
tree equals that of the ops rendered back, and nh3 leaves it unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import pairwise
from typing import Any

import nh3

from ._blocks import (
    _Candidate,
)
from .delta import Op, push
from .html import delta_to_html

_VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr",
    }
)  # fmt: skip
_TRANSPARENT = frozenset({"html", "body"})
"""Containers whose tags are verbatim blocks of their own, their children blocks."""
_RICH_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "pre"})
_MARK_TAGS = {
    "strong": "bold",
    "b": "bold",
    "em": "italic",
    "i": "italic",
    "u": "underline",
    "s": "strike",
    "del": "strike",
    "strike": "strike",
    "code": "code",
}
_ALLOWED_TAGS = _RICH_BLOCKS | set(_MARK_TAGS) | {"a", "img", "br", "li"}
_ALLOWED_ATTRIBUTES = {
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "li": {"data-list"},
    "pre": {"data-language"},
}
_SPACE = re.compile(r"[ \t\n\r\f]+")


@dataclass
class _Element:
    tag: str
    attrs: list[tuple[str, str | None]]
    start: int
    end: int = -1
    children: list[_Element | str] = field(default_factory=list)


class _Reader(HTMLParser):
    """Builds an element tree with source offsets (the tokenizer is the standard library's)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.root = _Element("#root", [], 0)
        self.stack = [self.root]
        self.items: list[tuple[str, int, Any]] = []  # (kind, start, payload) at depth 0

    def position(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self.position()
        element = _Element(tag, attrs, start, start + len(self.get_starttag_text() or ""))
        if len(self.stack) == 1 and tag in _TRANSPARENT:
            self.items.append(("verbatim", start, element.end))
            return
        self.stack[-1].children.append(element)
        if len(self.stack) == 1:
            self.items.append(("element", start, element))
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack[-1].tag == tag and len(self.stack) > 1:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        start = self.position()
        close = self.text.find(">", start)
        end = len(self.text) if close < 0 else close + 1
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                for element in self.stack[depth:]:
                    element.end = end
                del self.stack[depth:]
                return
        if len(self.stack) == 1:
            self.items.append(("verbatim", start, end))  # </body>, </html> or a stray end tag

    def handle_data(self, data: str) -> None:
        start = self.position()
        if len(self.stack) > 1:
            self.stack[-1].children.append(data)
            return
        stripped = data.strip(" \t\n\r\f")
        if stripped:
            lead = self.text.find(stripped[:1], start)
            self.items.append(("text", lead, len(stripped)))

    def _other(self) -> None:
        if len(self.stack) == 1:
            self.items.append(("other", self.position(), None))

    def handle_comment(self, data: str) -> None:
        self._other()

    def handle_decl(self, decl: str) -> None:
        self._other()

    def handle_pi(self, data: str) -> None:
        self._other()

    def unknown_decl(self, data: str) -> None:
        self._other()


def _read_html(text: str) -> _Reader:
    reader = _Reader(text)
    reader.feed(text)
    reader.close()
    for element in reader.stack[1:]:
        element.end = len(text)
    return reader


def _html_blocks(text: str) -> list[_Candidate]:
    reader = _read_html(text)
    candidates: list[_Candidate] = []
    items = reader.items
    for index, (kind, start, payload) in enumerate(items):
        if kind == "element":
            element: _Element = payload
            end = element.end
            candidate = _Candidate(start, end, None, "")
            if element.tag in _RICH_BLOCKS:
                candidate.ops = _faithful_html(element, text[start:end])
                candidate.kind = _html_kind(element.tag)
        elif kind == "verbatim":
            candidate = _Candidate(start, payload, None)
        elif kind == "text":
            candidate = _Candidate(start, start + payload, None)
        else:  # a comment, doctype or processing instruction: up to the next item
            following = items[index + 1][1] if index + 1 < len(items) else len(text)
            end = start + len(text[start:following].rstrip(" \t\n\r\f"))
            candidate = _Candidate(start, end, None)
        candidates.append(candidate)
    # Two neighbouring lists or code blocks would become one in the delta.
    for left, right in pairwise(candidates):
        if left.ops is not None and right.ops is not None and left.kind == right.kind != "":
            right.ops = None
    return candidates


def _html_kind(tag: str) -> str:
    return {"ul": "list", "ol": "list", "pre": "code"}.get(tag, "")


def _faithful_html(element: _Element, source: str) -> list[Op] | None:
    """The element's ops if their HTML reads as the element does (and sanitising the element
    changes nothing), else None."""
    ops = _element_ops(element)
    if not ops:
        return None
    expected = _normal([element])
    if _normal(_read_html(delta_to_html(ops)).root.children) != expected:
        return None
    cleaned = nh3.clean(
        source,
        tags=set(_ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in _ALLOWED_ATTRIBUTES.items()},
        link_rel=None,
        strip_comments=True,
    )
    if _normal(_read_html(cleaned).root.children) != expected:
        return None
    return ops


def _normal(nodes: Sequence[_Element | str]) -> Any:
    """A comparable form of HTML content: text runs with their inline marks, other elements
    with their sorted attributes; whitespace collapsed as a browser lays it out."""
    out: list[Any] = []
    _normal_into(nodes, (), out, pre=False)
    return _squeeze(out)


def _normal_into(
    nodes: Sequence[_Element | str], marks: tuple[Any, ...], out: list[Any], *, pre: bool
) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(("pre", node, marks) if pre else ("text", _SPACE.sub(" ", node), marks))
            continue
        tag, attrs = node.tag, dict(node.attrs)
        if tag in _MARK_TAGS and not attrs:
            mark = _MARK_TAGS[tag]
            _normal_into(node.children, tuple(sorted({*marks, mark}, key=repr)), out, pre=pre)
        elif (
            tag == "a"
            and set(attrs) <= {"href", "rel"}
            and attrs.get("rel")
            in (
                None,
                "noopener noreferrer",
            )
        ):
            link = ("link", attrs.get("href"))
            _normal_into(node.children, tuple(sorted({*marks, link}, key=repr)), out, pre=pre)
        elif tag == "br":
            out.append(("br", marks))
        else:
            if tag == "img":
                attrs.setdefault("alt", "")
            children: list[Any] = []
            inner_pre = pre or tag == "pre"
            content = node.children
            if tag == "pre":
                if len(content) == 1 and isinstance(content[0], _Element):
                    code = content[0]
                    if code.tag == "code" and not code.attrs:
                        content = code.children
                if content and isinstance(content[0], str) and content[0].startswith("\n"):
                    content = [content[0][1:], *content[1:]]
            _normal_into(content, marks if tag not in _RICH_BLOCKS else (), children, pre=inner_pre)
            if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote"):
                children = _strip_edges(children)
            out.append((tag, tuple(sorted(attrs.items(), key=repr)), _squeeze(children)))


def _strip_edges(items: list[Any]) -> list[Any]:
    """Block content without whitespace at its edges, or a lone ``<br>`` (an empty line)."""
    squeezed = _squeeze(items)
    if squeezed and squeezed[0][0] == "text":
        squeezed[0] = ("text", squeezed[0][1].lstrip(" "), squeezed[0][2])
    if squeezed and squeezed[-1][0] == "text":
        squeezed[-1] = ("text", squeezed[-1][1].rstrip(" "), squeezed[-1][2])
    squeezed = [item for item in squeezed if item[0] != "text" or item[1]]
    if len(squeezed) == 1 and squeezed[0][0] == "br":
        return []
    return squeezed


def _squeeze(items: list[Any]) -> list[Any]:
    """Join neighbouring text runs with the same marks; drop whitespace between blocks."""
    out: list[Any] = []
    for item in items:
        if item[0] in ("text", "pre") and out and out[-1][0] == item[0] and out[-1][2] == item[2]:
            out[-1] = (item[0], out[-1][1] + item[1], item[2])
        else:
            out.append(item)
    blocks = [item for item in out if item[0] not in ("text", "br")]
    if blocks and all(item[0] != "text" or not item[1].strip() for item in out):
        return blocks
    return [
        ("text", re.sub("  +", " ", item[1]), item[2]) if item[0] == "text" else item
        for item in out
    ]


def _element_ops(element: _Element) -> list[Op]:
    """The element read as Quill lines (unsupported tags are read for their text; the
    faithfulness check then refuses the block)."""
    ops: list[Op] = []
    tag = element.tag
    if tag in ("ul", "ol"):
        _list_ops(element, 0, ops)
    elif tag == "pre":
        language = dict(element.attrs).get("data-language") or "plain"
        content = element.children
        if len(content) == 1 and isinstance(content[0], _Element) and content[0].tag == "code":
            content = content[0].children
        code = "".join(_text_of(node) for node in content)
        code = code.removeprefix("\n")
        for code_line in code.split("\n"):
            push(ops, code_line, None)
            push(ops, "\n", {"code-block": language})
    else:
        attrs: dict[str, Any] = {}
        if tag.startswith("h"):
            attrs["header"] = int(tag[1:])
        elif tag == "blockquote":
            attrs["blockquote"] = True
        _inline_line(element.children, attrs, ops)
    return ops


def _text_of(node: _Element | str) -> str:
    if isinstance(node, str):
        return node
    return "".join(_text_of(child) for child in node.children)


def _list_ops(element: _Element, level: int, ops: list[Op]) -> None:
    kind = "ordered" if element.tag == "ol" else "bullet"
    for item in element.children:
        if not isinstance(item, _Element) or item.tag != "li":
            continue
        inline = [c for c in item.children if isinstance(c, str) or c.tag not in ("ul", "ol")]
        data = dict(item.attrs).get("data-list")
        attrs: dict[str, Any] = {
            "list": data if kind == "bullet" and data in ("checked", "unchecked") else kind
        }
        if level:
            attrs["indent"] = level
        _inline_line(inline, attrs, ops)
        for child in item.children:
            if isinstance(child, _Element) and child.tag in ("ul", "ol"):
                _list_ops(child, level + 1, ops)


def _inline_line(nodes: Sequence[_Element | str], block: dict[str, Any], ops: list[Op]) -> None:
    """One or more lines (a ``<br>`` ends one) of inline content, whitespace collapsed."""
    segments: list[tuple[str | dict[str, Any], dict[str, Any]]] = []
    _inline_segments(nodes, {}, segments)
    line: list[tuple[str | dict[str, Any], dict[str, Any]]] = []
    for segment in [*segments, ("\n", {})]:
        if segment[0] != "\n":
            line.append(segment)
            continue
        texts = _collapse(line)
        for value, attrs in texts:
            push(ops, value, attrs)
        push(ops, "\n", block)
        line = []


def _collapse(
    segments: list[tuple[str | dict[str, Any], dict[str, Any]]],
) -> list[tuple[str | dict[str, Any], dict[str, Any]]]:
    out: list[tuple[str | dict[str, Any], dict[str, Any]]] = []
    space = True  # at the start of a line, whitespace is dropped
    for value, attrs in segments:
        if isinstance(value, dict):
            out.append((value, attrs))
            space = False
            continue
        text = _SPACE.sub(" ", value)
        if space:
            text = text.lstrip(" ")
        if text:
            space = text.endswith(" ")
            out.append((text, attrs))
    while out and isinstance(out[-1][0], str) and out[-1][0].endswith(" "):
        value, attrs = out.pop()
        text = str(value).rstrip(" ")
        if text:
            out.append((text, attrs))
            break
    return out


def _inline_segments(
    nodes: Sequence[_Element | str],
    attrs: dict[str, Any],
    out: list[tuple[str | dict[str, Any], dict[str, Any]]],
) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append((node, attrs))
            continue
        tag, element_attrs = node.tag, dict(node.attrs)
        if tag == "br":
            out.append(("\n", {}))
        elif tag == "img":
            embed_attrs = dict(attrs)
            for name in ("alt", "width", "height"):
                value = element_attrs.get(name)
                if value is not None and (name == "alt" or value):
                    embed_attrs[name] = value
            out.append(({"image": element_attrs.get("src") or ""}, embed_attrs))
        elif tag == "a":
            _inline_segments(node.children, {**attrs, "link": element_attrs.get("href") or ""}, out)
        elif tag in _MARK_TAGS:
            _inline_segments(node.children, {**attrs, _MARK_TAGS[tag]: True}, out)
        else:
            _inline_segments(node.children, attrs, out)
