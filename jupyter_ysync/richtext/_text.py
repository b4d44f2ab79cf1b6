"""RichText: a pycrdt ``Text`` read and written as Quill 2 (bound with y-quill) sees it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import pycrdt

from ._apply import _NEWLINES, _NO_ATTRIBUTES, _Engine, _split
from ._units import _Content, _index_at, _Offsets, _relative_position, _size, units_of
from ._validate import (
    _check_attrs,
    _check_embed,
    _check_index,
    _LineFormatError,
    _parse_ops,
    _past_end,
)
from .delta import BLOCK_FORMATS, Op, push
from .diff import diff_ops
from .html import delta_to_html

if TYPE_CHECKING:
    from .authors import Authorship


class TextHost(Protocol):
    """What a :class:`RichText` needs from the document that owns it (``SharedDocument``).

    Example::

        class Host:
            def refresh(self) -> None: ...  # apply the updates other peers sent
            def edited(self, index: int) -> None: ...  # move this peer's caret there
            def write_transaction(self) -> pycrdt.Transaction:
                return doc.transaction(origin="local")  # an origin the undo manager tracks

        text = RichText(doc.get("content", type=pycrdt.Text), host=Host())
    """

    def refresh(self) -> None:
        """Apply pending remote updates on this thread; called before every read or write."""

    def edited(self, index: int) -> None:
        """A local edit just ended at ``index`` (RichText units); moves the presence cursor."""

    def write_transaction(self) -> AbstractContextManager[Any]:
        """The transaction a write opens, e.g. one with an origin the host's undo manager
        tracks, or the enclosing transaction; ``doc.transaction()`` joins an enclosing
        transaction and keeps its origin."""


def _native(txn: pycrdt.Transaction) -> Any:
    """The native transaction handle that pycrdt's own methods pass to the native text.

    RichText reaches into two pycrdt internals: ``Transaction._txn`` (here and in
    :class:`_Write`) and ``pycrdt.Text.integrated`` (the native text). The public ``Text``
    methods each enter a transaction context and count UTF-8 offsets on every call, and
    ``diff()`` copies the whole text; going native, one write makes several calls in one open
    transaction and converts offsets once, which keeps a keystroke near the cost of raw pycrdt.
    Both names are private to pycrdt and may change in any release: that is why
    ``pyproject.toml`` pins ``pycrdt<0.15``.
    """
    return txn._txn


def _plain(value: Any) -> Any:
    """JSON as JavaScript shows it: pycrdt reads numbers back as floats (1 -> 1.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class RichText:
    """A rich-text view over a pycrdt ``Text`` with Quill delta semantics.

    Indices count Python characters (code points) and 1 per embed, so ``str(rich)[i]`` is the
    character at index ``i``. Quill counts UTF-16 code units: the two differ only after
    characters outside the Basic Multilingual Plane (emoji). Formats follow Quill: *line
    formats* (:data:`~jupyter_ysync.richtext.delta.BLOCK_FORMATS`: ``header``, ``list``,
    ``blockquote``, ``code-block``, ``align``, ...) belong on the ``"\\n"`` that ends a line,
    *inline formats* (``bold``, ``link``, ``color``, ...) on the other characters and on embeds.
    Writes put each attribute where Quill would, so ``insert(0, "Title\\n", {"header": 1})``
    makes one header line, as in the editor.

    Args:
        text: the shared text, integrated in a document (the room's root ``"content"``).
        host: the owning document; ``None`` for in-process use.

    Every write runs in one transaction of the text's document (the host's
    ``write_transaction()`` if there is a host), joining the caller's transaction if one is
    open (so ``with doc.transaction(origin="bot"):`` keeps its origin).

    Example::

        doc = pycrdt.Doc()
        text = RichText(doc.get("content", type=pycrdt.Text))
        text.insert(0, "Title\\n", {"header": 1})
        text.insert(len(text), "Hello world")
        text.format(12, 5, {"bold": True})
        text.delta
        # [{'insert': 'Title'}, {'insert': '\\n', 'attributes': {'header': 1}},
        #  {'insert': 'Hello '}, {'insert': 'world', 'attributes': {'bold': True}},
        #  {'insert': '\\n'}]
    """

    _text: pycrdt.Text
    _doc: pycrdt.Doc[Any]
    _native_text: Any  # pycrdt's native text, written with the transaction's native handle
    _host: TextHost | None
    _offsets: _Offsets

    def __init__(self, text: pycrdt.Text, *, host: TextHost | None = None) -> None:
        if not isinstance(text, pycrdt.Text):
            raise TypeError(
                f"RichText wraps a pycrdt.Text, not {type(text).__name__}; "
                "use doc.get('content', type=pycrdt.Text)"
            )
        try:
            self._doc = text.doc
        except RuntimeError:
            raise ValueError(
                "the pycrdt.Text is not in a document yet; use doc.get('content', type=pycrdt.Text)"
            ) from None
        self._text = text
        self._native_text = text.integrated  # see _native() for why
        self._host = host
        self._offsets = _Offsets(self._native_text)
        self._subscription = self._native_text.observe(self._offsets.invalidate)

    # ---------------------------------------------------------------------------------------
    # writes

    def insert(self, index: int, text: str, attrs: Mapping[str, Any] | None = None) -> None:
        """Insert ``text`` at ``index`` with exactly the attributes ``attrs``.

        Like a Quill delta insert, it does not inherit the formatting around ``index``
        (``attrs=None`` is plain text). Line formats go on the newlines of ``text``.

        Raises:
            IndexError: ``index`` is outside ``0..len(self)``.
            ValueError: bad attributes, or a line format and no newline in ``text``.
        """
        if not isinstance(text, str):
            raise TypeError(
                f"text must be a str, not {type(text).__name__}; use insert_embed for embeds"
            )
        if attrs is not None:
            attrs = _check_attrs(attrs, "insert")
        if not text:
            return
        with _Write(self) as write:
            size = self._native_text.len(write.native)
            if self._offsets.direct(size, index):
                offset, ascii_after = index, text.isascii()
            else:
                index = _check_index(index)
                content, offset = self._seek(write.native, index)
                ascii_after = content.ascii and text.isascii()
            if attrs:
                write.engine().insert_text(offset, text, attrs)
            else:
                self._native_text.insert(write.native, offset, text, iter(_NO_ATTRIBUTES))
            self._offsets.wrote(ascii_after, size + len(text))
            write.end = index + len(text)

    def insert_embed(
        self, index: int, embed: Mapping[str, Any], attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Insert an embed such as ``{"image": url}`` (any JSON dict) at ``index``.

        ``attrs`` are inline formats of the embed (``link``, ``alt``, ``width``, ...).
        """
        value = _check_embed(embed, "insert_embed")
        inline: dict[str, Any] = {}
        if attrs is not None:
            inline, block, _ = _split(_check_attrs(attrs, "insert_embed"))
            if block:
                raise ValueError(
                    f"insert_embed: line formats {sorted(block)} cannot apply to an embed; "
                    "format the newline that ends its line"
                )
        with _Write(self) as write:
            index = _check_index(index)
            _, offset = self._seek(write.native, index)
            self._native_text.insert_embed(write.native, offset, value, iter(inline.items()))
            write.end = index + 1

    def delete(self, index: int, length: int = 1) -> None:
        """Delete ``length`` units (characters or embeds) starting at ``index``.

        Raises:
            IndexError: the range is not inside ``0..len(self)``.
        """
        if length == 0 and type(length) is int:
            return
        with _Write(self) as write:
            native = write.native
            size = self._native_text.len(native)
            if self._offsets.direct(size, index, length):
                self._native_text.remove_range(native, index, length)
                self._offsets.wrote(True, size - length)
            else:
                index = _check_index(index)
                length = _check_index(length, "length")
                content, offset = self._seek(native, index)
                if index + length > content.size:
                    raise IndexError(
                        f"cannot delete {length} from index {index}: the text is "
                        f"{content.size} long, so at most {content.size - index} can go"
                    )
                self._native_text.remove_range(native, offset, _size(content.take(length)))
                all_ascii = content.ascii
                self._offsets.wrote(all_ascii, size - length if all_ascii else -1, own=length > 0)
            write.end = index

    def format(self, index: int, length: int, attrs: Mapping[str, Any]) -> None:
        """Set attributes on ``length`` units from ``index``; a value of ``None`` removes one.

        Inline formats apply to text and embeds, line formats to the newlines in the range, as
        in Quill. The range may include the editor's final newline (see :attr:`delta`):
        formatting it stores it, as y-quill does when a user formats the last line.

        Raises:
            IndexError: the range ends past the editor's final newline.
            ValueError: bad attributes, or a line format set on a range without a newline.
        """
        checked = _check_attrs(attrs, "format")
        index = _check_index(index)
        length = _check_index(length, "length")
        if not checked:
            return
        with _Write(self) as write:
            content = self._offsets.read(write.native)
            view = content.size + (0 if content.ends_with_newline else 1)
            if index + length > view:
                raise IndexError(
                    f"cannot format {length} from index {index}: the document is {view} long "
                    f"(len(text) is {content.size}, plus the editor's final newline "
                    f"{'stored' if content.ends_with_newline else 'implicit'})"
                )
            try:
                write.engine().run(content, [("retain", index, None), ("retain", length, checked)])
            except _LineFormatError as error:
                raise ValueError(
                    f"format({index}, {length}, {checked!r}): {error.reason}"
                ) from None
            write.end = index + length

    def apply_delta(self, ops: Sequence[Op] | Mapping[str, Any]) -> None:
        """Apply Quill delta ops as ``quill.updateContents`` would, in one transaction.

        ``{"retain": n}`` moves on (with ``attributes``, formats: ``None`` removes),
        ``{"insert": str | embed, "attributes": ...}`` inserts with exactly those attributes,
        ``{"delete": n}`` deletes. A Delta object (``{"ops": [...]}``) is accepted too. A retain
        or delete may reach the editor's final newline (see :attr:`delta`): formatting it
        stores it, as Yjs does when a Quill user formats the last line; a plain retain or a
        delete leaves it alone. Nothing is applied if an op is invalid.

        Raises:
            ValueError: an op is malformed or reaches past the editor's final newline; the
                message names it.
        """
        parsed = _parse_ops(ops)
        with _Write(self) as write:
            engine = write.engine()
            content = self._offsets.read(write.native)
            engine.check(content.again(), parsed)
            write.end = engine.run(content, parsed)

    def insert_markdown(self, index: int, markdown: str) -> None:
        """Insert Markdown at ``index`` as formatted content, in one transaction.

        Parsed by :func:`~jupyter_ysync.richtext.markdown.markdown_to_delta`: headers, lists,
        blockquotes, code blocks, bold, italic, strike, code, links and images (embeds). The
        inserted content ends with a newline; insert at the start of a line to keep the line
        there separate from it.
        """
        from .markdown import markdown_to_delta  # markdown-it loads on first use

        index = _check_index(index)
        ops = markdown_to_delta(markdown)
        parsed = _parse_ops([{"retain": index}, *ops]) if ops else []
        with _Write(self) as write:
            content = self._offsets.read(write.native)
            if index > content.size:
                raise _past_end(index, content.size)
            write.end = write.engine().run(content, parsed)

    def set_delta(self, ops: Sequence[Op] | Mapping[str, Any]) -> None:
        """Make the content exactly ``ops`` (a document: inserts only), changing only what
        differs, in one transaction.

        The change is applied as the minimal edit (:func:`~jupyter_ysync.richtext.diff.diff_ops`)
        from the current content, so other peers' concurrent edits elsewhere survive and one
        undo reverts it. Nothing is applied if an op is invalid.

        Example::

            rich.set_delta([{"insert": "Title"}, {"insert": "\\n", "attributes": {"header": 1}}])

        Raises:
            ValueError: an op is malformed or is not an insert.
        """
        items: Sequence[Op] = ops.get("ops", []) if isinstance(ops, Mapping) else ops
        if any(not isinstance(op, Mapping) or "insert" not in op for op in items):
            raise ValueError("set_delta takes a document: insert ops only, as `delta` reads")
        target = _canonical(items)
        with _Write(self) as write:
            changes = diff_ops(self._read(), target)
            if changes:
                parsed = _parse_ops(changes)
                engine = write.engine()
                content = self._offsets.read(write.native)
                engine.check(content.again(), parsed)
                write.end = engine.run(content, parsed)

    def set_text(self, text: str) -> None:
        """Make the content the plain ``text`` (no formats), changing only what differs.

        Example::

            rich.set_text("Hello\\nworld\\n")
            str(rich)  # 'Hello\\nworld\\n'
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        self.set_delta([{"insert": text}] if text else [])

    def set_markdown(self, markdown: str) -> None:
        """Make the content the Markdown document ``markdown``, changing only what differs.

        Read by :func:`~jupyter_ysync.richtext.lossless.parse`: what rich text cannot show
        (tables, raw HTML, front matter...) becomes verbatim source lines.

        Example::

            rich.set_markdown("# Title\\n\\nSome *text*\\n")
        """
        from .lossless import parse  # markdown-it loads on first use

        self.set_delta(parse(markdown, "markdown").ops)

    def set_html(self, html: str) -> None:
        """Make the content the HTML document ``html``, changing only what differs.

        Read by :func:`~jupyter_ysync.richtext.lossless.parse`: unsupported elements become
        verbatim source lines, never live markup.

        Example::

            rich.set_html("<h1>Title</h1><p>Some <em>text</em></p>")
        """
        from .lossless import parse

        self.set_delta(parse(html, "html").ops)

    # ---------------------------------------------------------------------------------------
    # reads

    @property
    def delta(self) -> list[Op]:
        """The content as Quill ops, equal to ``quill.getContents().ops`` in every editor on
        this text.

        The final-newline contract, written here once for every peer: the text is the
        document, shown with one final newline, the text's own when it ends with ``"\\n"``,
        else an implicit plain one (``{"insert": "\\n"}``, merged into a plain last op). Every
        editor shows exactly that, however long it has been open (``RichTextBinding``, in
        ``labextension/src/binding.ts`` and ``richtext.ts``): Quill always ends with a newline,
        so after a remote change an editor drops an extra empty last line, or a line format
        the text no longer holds; and when its user adds a line or sets a line format at the
        end of a text without a final newline, the editor stores that newline in the text.

        Line formats are shown on newlines only and inline formats on the rest, as Quill
        renders them; ``{"code-block": True}`` shows as ``"plain"``; numbers that are whole
        are ints.
        """
        self._refresh()
        return self._read()

    def _read(self) -> list[Op]:
        """:attr:`delta` without refreshing (callable inside a write)."""
        with self._doc.transaction() as txn:  # the native diff: see _native()
            chunks = self._native_text.diff(_native(txn))
        ops: list[Op] = []
        pieces: list[str] = []  # the last op's text, joined once (push's += copies it)
        ends_with_newline = False
        for value, attrs in chunks:
            if attrs:
                plain = _plain(attrs)
                inline = {
                    k: v for k, v in plain.items() if k not in BLOCK_FORMATS and v is not None
                }
            else:
                plain = inline = {}
            if isinstance(value, str):
                block = {k: v for k, v in plain.items() if k in BLOCK_FORMATS and v is not None}
                if block.get("code-block") is True:
                    block["code-block"] = "plain"
                parts = _NEWLINES.split(value) if block != inline else (value,)
                for part in parts:
                    if not part:
                        continue
                    chosen = (block if part[0] == "\n" else inline) or None
                    last = ops[-1] if ops else None
                    if last is not None and pieces and last.get("attributes") == chosen:
                        pieces.append(part)
                        continue
                    if len(pieces) > 1:
                        ops[-1]["insert"] = "".join(pieces)
                    pieces = [part]
                    ops.append(
                        {"insert": part, "attributes": dict(chosen)} if chosen else {"insert": part}
                    )
                ends_with_newline = value.endswith("\n")
            else:
                if len(pieces) > 1:
                    ops[-1]["insert"] = "".join(pieces)
                pieces = []
                push(ops, _embed(self._text._maybe_as_type_or_doc(value)), inline)
                ends_with_newline = False
        if len(pieces) > 1:
            ops[-1]["insert"] = "".join(pieces)
        if not ends_with_newline:
            push(ops, "\n", None)
        return ops

    def to_html(self) -> str:
        """The content as sanitised semantic HTML (see :mod:`jupyter_ysync.richtext.html`)."""
        return delta_to_html(self.delta)

    def to_markdown(self) -> str:
        """The content as Markdown; underline, colours and alignment are dropped."""
        from .markdown import delta_to_markdown  # markdown-it loads on first use

        return delta_to_markdown(self.delta)

    def authors(self) -> list[Authorship]:
        """Who inserted each range of the current content, in order, covering all of it.

        Ranges come from this replica (:func:`~jupyter_ysync.richtext.authors.author_runs`);
        identities from the host's ``author_identities`` (a connected document asks the
        server, and caches), None without one.

        Example::

            for run in doc.text.authors():
                print(str(doc.text)[run.index : run.index + run.length], run.user)
        """
        from .authors import Authorship, author_runs

        self._refresh()
        runs = author_runs(self._text)
        lookup = getattr(self._host, "author_identities", None)
        users = lookup({client for _, _, client in runs}) if lookup and runs else {}
        return [Authorship(i, n, client, users.get(client)) for i, n, client in runs]

    def sticky_index(self, index: int, assoc: pycrdt.Assoc = pycrdt.Assoc.AFTER) -> Any:
        """A ``pycrdt.StickyIndex`` at ``index`` (e.g. for a presence cursor), converted to
        pycrdt's own offsets; read it back with :meth:`index_of`."""
        self._refresh()
        return self._sticky_index(index, assoc)

    def index_of(self, sticky: pycrdt.StickyIndex) -> int:
        """The current RichText index of a sticky index made by :meth:`sticky_index`."""
        self._refresh()
        with self._doc.transaction() as txn:
            offset = sticky.get_index(txn)
            return _index_at(self._native_text.diff(_native(txn)), offset)

    def relative_position(self, index: int) -> dict[str, Any]:
        """A Yjs ``RelativePosition`` (as JSON) before ``index``, as y-quill reads a remote
        caret; an index outside the text is its end."""
        self._refresh()
        item = None
        if 0 <= index < self._len():
            item = self._sticky_index(index, pycrdt.Assoc.AFTER).to_json().get("item")
        return _relative_position(item)

    def __str__(self) -> str:
        """The text, with :data:`EMBED_CHARACTER` for each embed (so indices match)."""
        self._refresh()
        return units_of(self._text)

    def __len__(self) -> int:
        """Length in RichText units: characters, plus 1 per embed."""
        self._refresh()
        return self._len()

    def __repr__(self) -> str:
        text = str(self)
        shown = text if len(text) <= 40 else text[:39] + "…"
        return f"<RichText len={len(text)} {shown!r}>"

    # ---------------------------------------------------------------------------------------
    # internals

    def _refresh(self) -> None:
        if self._host is not None:
            self._host.refresh()

    def _seek(self, native: Any, index: int) -> tuple[_Content, int]:
        """The content, taken up to ``index``, and the pycrdt offset of ``index``.

        Raises:
            IndexError: ``index`` is past the end of the text.
        """
        content = self._offsets.read(native)
        if index > content.size:
            raise _past_end(index, content.size)
        return content, _size(content.take(index))

    def _len(self) -> int:
        with self._doc.transaction() as txn:
            native = _native(txn)
            size: int = self._native_text.len(native)
            if self._offsets.fits(size):
                return size
            return self._offsets.read(native).size

    def _sticky_index(self, index: int, assoc: pycrdt.Assoc) -> Any:
        index = _check_index(index)
        with self._doc.transaction() as txn:
            _, offset = self._seek(_native(txn), index)
        return self._text.sticky_index(offset, assoc)


class _Write:
    """One write of a RichText: ``with _Write(rich) as write:``.

    Refreshes the host, then entering opens the host's write transaction (the document's
    without a host) and refuses a read-only one; ``write.native`` is its native handle. Set
    ``write.end`` where the write ended: leaving tells the host, which moves the presence
    cursor there. A class rather than a generator: every keystroke goes through it.
    """

    __slots__ = ("_host", "_opened", "_text", "end", "native")

    def __init__(self, rich: RichText) -> None:
        self._host = host = rich._host
        self._text = rich._native_text
        self.end: int | None = None
        self._opened: AbstractContextManager[Any]
        if host is None:
            self._opened = rich._doc.transaction()
        else:
            host.refresh()
            self._opened = host.write_transaction()

    def __enter__(self) -> _Write:
        txn = self._opened.__enter__()
        if isinstance(txn, pycrdt.ReadTransaction):
            error = RuntimeError(
                "RichText cannot change the document from an observer callback, where the "
                "transaction is read-only; make the change after the callback returns"
            )
            self._opened.__exit__(RuntimeError, error, None)
            raise error
        self.native = txn._txn  # see _native()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._opened.__exit__(kind, error, traceback)
        if kind is None and self.end is not None and self._host is not None:
            self._host.edited(self.end)

    def engine(self) -> _Engine:
        """The delta interpreter, writing in this transaction."""
        return _Engine(self._text, self.native)


def _canonical(ops: Sequence[Op]) -> list[Op]:
    """``ops`` as :attr:`RichText.delta` would read them back once applied (checks them)."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    scratch = RichText(doc.get("content", type=pycrdt.Text))
    scratch.apply_delta(ops)
    return scratch._read()


def _embed(value: Any) -> dict[str, Any]:
    """An embed as Quill shows it: a dict, or ``{"embed": value}`` for anything else."""
    if isinstance(value, pycrdt.Array | pycrdt.Map | pycrdt.Text):
        value = value.to_py()
    return _plain(value) if isinstance(value, dict) else {"embed": _plain(value)}
