"""Checks of what callers pass to RichText, and the errors that name what was wrong."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any, SupportsIndex

from .delta import Attributes, Op

_ParsedOp = tuple[str, Any, Attributes | None]
"""A checked delta op: (kind, value, attributes), kind one of insert, retain, delete."""

_KINDS = ("insert", "retain", "delete")


def _json_value(value: object, where: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _json_value(item, where)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} must be a str")
            _json_value(item, where)
        return
    raise ValueError(
        f"{where}: {value!r} ({type(value).__name__}) is not JSON data; "
        "use str, int, float, bool, None, list or dict"
    )


def _check_attrs(attrs: object, where: str) -> Attributes:
    if not isinstance(attrs, Mapping):
        raise ValueError(f"{where}: attributes must be a dict like {{'bold': True}}, not {attrs!r}")
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{where}: attribute name {key!r} must be a non-empty str")
        _json_value(value, f"{where}: attribute {key!r}")
    return dict(attrs)


def _check_embed(embed: object, where: str) -> dict[str, Any]:
    if not isinstance(embed, Mapping) or not embed:
        raise ValueError(
            f"{where}: an embed must be a non-empty dict like {{'image': url}}, not {embed!r}"
        )
    _json_value(embed, where)
    return dict(embed)


def _check_index(index: object, name: str = "index") -> int:
    """``index`` as an int (numpy integers too), refusing bools and negative values."""
    if isinstance(index, bool) or not isinstance(index, SupportsIndex):
        raise TypeError(f"{name} must be an int, not {type(index).__name__}")
    value = operator.index(index)
    if value < 0:
        raise IndexError(f"{name} {value} is negative; indices count from 0")
    return value


def _parse_ops(ops: object) -> list[_ParsedOp]:
    """Validate Quill ops into (kind, value, attributes) tuples; empty ops are dropped."""
    if isinstance(ops, Mapping) and "ops" in ops:
        ops = ops["ops"]
    if isinstance(ops, str | bytes) or not isinstance(ops, Sequence):
        raise ValueError(f"a delta is a list of ops like [{{'insert': 'text'}}], not {ops!r}")
    parsed: list[_ParsedOp] = []
    for number, op in enumerate(ops):
        checked = _parse_op(op, f"delta op {number} {op!r}")
        if checked is not None:
            parsed.append(checked)
    return parsed


def _parse_op(op: object, where: str) -> _ParsedOp | None:
    """One op checked, or None if it does nothing (an empty insert, a count of 0)."""
    if not isinstance(op, Mapping):
        raise ValueError(f"{where}: an op is a dict like {{'insert': 'text'}}")
    kinds = [key for key in _KINDS if key in op]
    if len(kinds) != 1 or set(op) - {*_KINDS, "attributes"}:
        raise ValueError(
            f"{where}: an op has exactly one of 'insert', 'retain' or 'delete', and "
            "optionally 'attributes'"
        )
    kind = kinds[0]
    value = op[kind]
    attrs = op.get("attributes")
    if attrs is not None:
        if kind == "delete":
            raise ValueError(f"{where}: a delete takes no attributes")
        attrs = _check_attrs(attrs, where) or None
    if kind != "insert":
        count = _check_count(value, kind, where)
        return (kind, count, attrs) if count else None
    if isinstance(value, str):
        return (kind, value, attrs) if value else None
    return (kind, _check_embed(value, where), attrs)


def _check_count(value: object, kind: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"{where}: {kind} takes a count of characters (int)"
            + (", retaining into an embed is not supported" if isinstance(value, dict) else "")
        )
    if value < 0:
        raise ValueError(f"{where}: {kind} count must not be negative")
    return value


class _LineFormatError(ValueError):
    """A line format set where there is no newline to hold it; ``reason`` is unprefixed."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _line_format_error(block: Attributes) -> _LineFormatError:
    names = ", ".join(repr(name) for name in block)
    reason = (
        f"{names} formats lines: Quill keeps it on the '\\n' that ends a line, and there is "
        "none here; include that newline (the editor's final newline, at len(text), counts)"
    )
    return _LineFormatError(reason, reason)


def _op_error(number: int, ops: Sequence[_ParsedOp], error: ValueError) -> ValueError:
    """``error`` prefixed with the op it is about, keeping a line-format error's reason."""
    kind, value, attrs = ops[number]
    op: Op = {kind: value}
    if attrs:
        op["attributes"] = attrs
    message = f"delta op {number} {op!r}: {error}"
    if isinstance(error, _LineFormatError):
        return _LineFormatError(message, error.reason)
    return ValueError(message)


def _past_end(index: int, size: int) -> IndexError:
    return IndexError(f"index {index} is past the end of the text ({size} long); use 0..{size}")
