"""The smallest Quill delta that turns one document into another.

:func:`diff_ops` compares two documents (insert-only deltas, as ``RichText.delta`` reads) in
three steps, each on less: the common prefix and suffix are skipped in linear time, the rest
is matched line by line, and only runs of changed lines are compared word by word.
Text that stays but changes formatting becomes a ``retain`` with attributes (``None`` removes
one), so an edit made this way is as small as the change and leaves the rest of the document,
and other peers' concurrent edits there, alone.

Example::

    diff_ops([{"insert": "Hello world\\n"}], [{"insert": "Hello brave world\\n"}])
    # [{'retain': 6}, {'insert': 'brave '}]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any, NamedTuple

from .delta import Attributes, Op

__all__ = ["diff_ops"]

_Unit = tuple[Any, Attributes]  # a character or an embed, and its attributes
_CHARACTER_LIMIT = 4_000_000
"""Above this product of run lengths, changed lines are replaced whole (no quadratic match)."""


def diff_ops(old: Sequence[Op], new: Sequence[Op]) -> list[Op]:
    """A delta of retains, deletes and inserts that turns document ``old`` into ``new``.

    Both are insert-only deltas. Deterministic: the same documents always give the same
    delta. Embeds compare by value, attributes by value; a trailing plain retain is dropped.

    Example::

        old = [{"insert": "Title\\nText\\n"}]
        new = [{"insert": "Title"}, {"insert": "\\n", "attributes": {"header": 1}},
               {"insert": "Text\\n"}]
        diff_ops(old, new)  # [{'retain': 5}, {'retain': 1, 'attributes': {'header': 1}}]
    """
    trimmed = _trim(old, new)
    old_lines = _lines(trimmed.old_rest)
    new_lines = _lines(trimmed.new_rest)
    out = _Builder()
    out.retain(trimmed.head_size, None)
    prefix = 0
    limit = min(len(old_lines), len(new_lines))
    while prefix < limit and old_lines[prefix].key == new_lines[prefix].key:
        prefix += 1
    suffix = 0
    while (
        suffix < limit - prefix
        and old_lines[len(old_lines) - 1 - suffix].key == new_lines[len(new_lines) - 1 - suffix].key
    ):
        suffix += 1
    out.retain(sum(line.size for line in old_lines[:prefix]), None)
    a = old_lines[prefix : len(old_lines) - suffix]
    b = new_lines[prefix : len(new_lines) - suffix]
    matcher = SequenceMatcher(None, [line.key for line in a], [line.key for line in b], False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.retain(sum(line.size for line in a[i1:i2]), None)
        else:
            old_units = [unit for line in a[i1:i2] for unit in line.units()]
            new_units = [unit for line in b[j1:j2] for unit in line.units()]
            _diff_units(old_units, new_units, out)
    return out.ops()


class _Trimmed(NamedTuple):
    """Two documents without the whole lines they start and end with (see :func:`_trim`)."""

    head_size: int
    """The length (characters and embeds) of the lines skipped at the start."""
    head_lines: int
    tail_lines: int
    old_rest: list[Op]
    new_rest: list[Op]


def _trim(old: Sequence[Op], new: Sequence[Op]) -> _Trimmed:
    """Skip the whole lines both documents start and end with, comparing ops rather than
    lines: linear, and fast."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and _same_op(old[head], new[head]):
        head += 1
    tail = 0
    while tail < limit - head and _same_op(old[-1 - tail], new[-1 - tail]):
        tail += 1
    first, cut = 0, 0  # the rest starts at [first][cut:], after the head's last newline
    for index in range(head - 1, -1, -1):
        value = old[index].get("insert")
        if isinstance(value, str) and "\n" in value:
            first, cut = index, value.rindex("\n") + 1
            break
    skip = 0  # the rest ends at [len - skip][:end], the tail's first newline
    end = 0
    for index in range(len(old) - tail, len(old)):
        value = old[index].get("insert")
        if isinstance(value, str) and "\n" in value:
            skip, end = len(old) - index, value.index("\n") + 1
            break
    size = cut
    head_lines = old[first]["insert"].count("\n") if cut else 0
    for op in old[:first]:
        value = op.get("insert")
        if isinstance(value, str):
            size += len(value)
            head_lines += value.count("\n")
        elif value is not None:
            size += 1
    tail_lines = 0
    if skip:
        tail_lines = old[-skip]["insert"].count("\n", end)
        for op in old[len(old) - skip + 1 :]:
            value = op.get("insert")
            if isinstance(value, str):
                tail_lines += value.count("\n")
        value = old[-1].get("insert")
        if not (isinstance(value, str) and value.endswith("\n")):
            tail_lines += 1  # a last line without its newline
    return _Trimmed(
        size,
        head_lines,
        tail_lines,
        _slice(old, first, cut, len(old) - skip if skip else len(old), end),
        _slice(new, first, cut, len(new) - skip if skip else len(new), end),
    )


def _same_op(a: Op, b: Op) -> bool:
    """Equal, and equal as the line keys compare them (``True`` is not ``1`` there)."""
    if a != b:
        return False
    attrs = a.get("attributes")
    if attrs and _frozen(attrs) != _frozen(b["attributes"]):
        return False
    value = a.get("insert")
    return isinstance(value, str) or repr(value) == repr(b.get("insert"))


def _slice(ops: Sequence[Op], first: int, cut: int, last: int, end: int) -> list[Op]:
    """``ops`` from ``ops[first]["insert"][cut:]`` to ``ops[last]["insert"][:end]``."""
    out: list[Op] = []
    for index in range(first, min(last + 1, len(ops))):
        op = ops[index]
        low = cut if index == first else 0
        high = end if index == last else None
        if low or high is not None:
            piece = op["insert"][low:high]
            if piece:
                out.append({**op, "insert": piece})
        else:
            out.append(op)
    return out


class _Line:
    """One line (ending with its newline, but a last line may have none) as segments of
    equally formatted text or one embed."""

    __slots__ = ("key", "segments", "size")

    def __init__(self, segments: list[tuple[Any, Attributes, str]]) -> None:
        self.segments = segments
        self.key = tuple((value, frozen) for value, _, frozen in segments)
        self.size = sum(len(value) if isinstance(value, str) else 1 for value, _, _ in segments)

    def units(self) -> list[_Unit]:
        found: list[_Unit] = []
        for value, attrs, _ in self.segments:
            if isinstance(value, str):
                found.extend((char, attrs) for char in value)
            else:
                found.append((value, attrs))
        return found


def _lines(ops: Sequence[Op]) -> list[_Line]:
    found: list[_Line] = []
    segments: list[tuple[Any, Attributes, str]] = []

    def add(value: Any, attrs: Attributes, frozen: str) -> None:
        last = segments[-1] if segments else None
        if (
            last is not None
            and isinstance(value, str)
            and isinstance(last[0], str)
            and last[2] == frozen
        ):
            segments[-1] = (last[0] + value, attrs, frozen)
            return
        segments.append((value, attrs, frozen))

    for op in ops:
        value = op.get("insert")
        attrs = op.get("attributes") or {}
        frozen = _frozen(attrs)
        if isinstance(value, str):
            start = 0
            while True:
                newline = value.find("\n", start)
                end = len(value) if newline < 0 else newline + 1
                if end > start:
                    add(value[start:end], attrs, frozen)
                if newline < 0:
                    break
                found.append(_Line(segments))
                segments = []
                start = end
        elif value is not None:
            add(_EmbedKey(value), attrs, frozen)
    if segments:
        found.append(_Line(segments))
    return found


class _EmbedKey:
    """An embed compared (and hashed) by its JSON value."""

    __slots__ = ("text", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.text = json.dumps(value, sort_keys=True, default=repr)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _EmbedKey) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _frozen(attrs: Attributes) -> str:
    """A comparable form of attributes (values are JSON: plain data whose repr is exact)."""
    return repr(sorted(attrs.items())) if attrs else ""


def _diff_units(old: list[_Unit], new: list[_Unit], out: _Builder) -> None:
    """Word-level edits between two runs of changed lines.

    Changes are whole words (runs of letters and digits, runs of spaces, or one other
    character), never characters inside a word: merged with a concurrent edit of the same
    word, both versions stay side by side ("dogcow") instead of interleaving ("dogow").
    """
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start][0] == new[start][0]:
        start += 1
    while start and _inside_word(old, new, start):
        start -= 1
    end = 0
    while end < limit - start and old[len(old) - 1 - end][0] == new[len(new) - 1 - end][0]:
        end += 1
    while end and _inside_word(old, new, len(old) - end, len(new) - end):
        end -= 1
    _same(old[:start], new[:start], out)
    middle_old = _tokens(old[start : len(old) - end])
    middle_new = _tokens(new[start : len(new) - end])
    if len(middle_old) * len(middle_new) <= _CHARACTER_LIMIT:
        matcher = SequenceMatcher(
            None,
            [_token_key(t) for t in middle_old],
            [_token_key(t) for t in middle_new],
            autojunk=False,
        )
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            before = [unit for token in middle_old[i1:i2] for unit in token]
            after = [unit for token in middle_new[j1:j2] for unit in token]
            if tag == "equal":
                _same(before, after, out)
            else:
                _replace(before, after, out)
    else:
        _replace(
            [unit for token in middle_old for unit in token],
            [unit for token in middle_new for unit in token],
            out,
        )
    _same(old[len(old) - end :], new[len(new) - end :], out)


def _is_word(value: Any) -> bool:
    return isinstance(value, str) and value.isalnum()


def _inside_word(old: list[_Unit], new: list[_Unit], at: int, at_new: int | None = None) -> bool:
    """Whether a cut before ``old[at]`` (``new[at_new]``) would split a word on either side."""
    at_new = at if at_new is None else at_new
    if not _is_word(old[at - 1][0]):
        return False
    return (at < len(old) and _is_word(old[at][0])) or (
        at_new < len(new) and _is_word(new[at_new][0])
    )


def _tokens(units: list[_Unit]) -> list[list[_Unit]]:
    """Units grouped into words, runs of spaces, and single other characters or embeds."""
    tokens: list[list[_Unit]] = []
    kind = ""
    for unit in units:
        value = unit[0]
        unit_kind = "w" if _is_word(value) else "s" if value in (" ", "\t") else ""
        if unit_kind and unit_kind == kind:
            tokens[-1].append(unit)
        else:
            tokens.append([unit])
        kind = unit_kind
    return tokens


def _token_key(token: list[_Unit]) -> Any:
    return tuple(value for value, _ in token) if len(token) > 1 else token[0][0]


def _replace(old: list[_Unit], new: list[_Unit], out: _Builder) -> None:
    for value, attrs in new:
        out.insert(value.value if isinstance(value, _EmbedKey) else value, attrs)
    out.delete(len(old))


def _same(old: list[_Unit], new: list[_Unit], out: _Builder) -> None:
    """Retain units of equal value, formatting those whose attributes changed."""
    for (_, before), (_, after) in zip(old, new, strict=True):
        out.retain(1, _changes(before, after) if before != after else None)


def _changes(before: Attributes, after: Attributes) -> Attributes:
    changes = {name: value for name, value in after.items() if before.get(name) != value}
    changes.update({name: None for name in before if name not in after})
    return changes


class _Builder:
    """Collects ops, merging neighbours as Quill's ``Delta.push`` does."""

    def __init__(self) -> None:
        self._ops: list[Op] = []

    def retain(self, length: int, attrs: Attributes | None) -> None:
        if length <= 0:
            return
        last = self._ops[-1] if self._ops else None
        if last is not None and "retain" in last and last.get("attributes") == (attrs or None):
            last["retain"] += length
            return
        op: Op = {"retain": length}
        if attrs:
            op["attributes"] = attrs
        self._ops.append(op)

    def insert(self, value: Any, attrs: Attributes) -> None:
        last = self._ops[-1] if self._ops else None
        if (
            isinstance(value, str)
            and last is not None
            and isinstance(last.get("insert"), str)
            and last.get("attributes") == (attrs or None)
        ):
            last["insert"] += value
            return
        op: Op = {"insert": value}
        if attrs:
            op["attributes"] = dict(attrs)
        self._ops.append(op)

    def delete(self, length: int) -> None:
        if length <= 0:
            return
        last = self._ops[-1] if self._ops else None
        if last is not None and "delete" in last:
            last["delete"] += length
            return
        self._ops.append({"delete": length})

    def ops(self) -> list[Op]:
        while self._ops and "retain" in self._ops[-1] and "attributes" not in self._ops[-1]:
            self._ops.pop()
        return self._ops
