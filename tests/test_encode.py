"""document_update: a whole document as one Yjs update, read back as applying it would."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pycrdt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_ysync.protocol import ROOT_TEXT
from jupyter_ysync.richtext import RichText
from jupyter_ysync.richtext._encode import EMPTY_UPDATE, document_update
from jupyter_ysync.richtext.lossless import parse
from jupyter_ysync.server.system_peer import system_update
from jupyter_ysync.updates import scan_update, utf16_length

Ops = list[dict[str, Any]]
DATA = Path(__file__).parent / "data"
CORPUS = sorted(p for p in (DATA / "markdown").glob("*.md") if p.name != "SOURCES.md") + sorted(
    (DATA / "html").glob("*.html")
)
CLIENT = 2_914_273_001


def corpus_ops(path: Path) -> Ops:
    return parse(
        path.read_text(encoding="utf-8"), "html" if path.suffix == ".html" else "markdown"
    ).ops


def imported(update: bytes) -> RichText:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(update)
    return RichText(doc.get(ROOT_TEXT, type=pycrdt.Text))


def applied(ops: Ops) -> RichText:
    """The old way: the ops applied one by one through pycrdt."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    rich = RichText(doc.get(ROOT_TEXT, type=pycrdt.Text))
    rich.apply_delta(ops)
    return rich


# -- the corpus ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_every_corpus_file_reads_back_as_its_delta(path: Path) -> None:
    ops = corpus_ops(path)
    update = document_update(ops, CLIENT)
    assert imported(update).delta == ops
    assert document_update(ops, CLIENT) == update  # deterministic


def test_the_update_is_one_client_from_clock_0_with_nothing_deleted() -> None:
    ops = corpus_ops(CORPUS[0])
    update = document_update(ops, CLIENT)
    shape = scan_update(update)  # also checks the framing as the server does
    text = "".join(op["insert"] for op in ops if isinstance(op["insert"], str))
    embeds = sum(1 for op in ops if not isinstance(op["insert"], str))
    assert shape.needs == {CLIENT: 0}
    assert shape.ends[CLIENT] >= utf16_length(text) + embeds  # plus one per format marker
    assert shape.refs == {CLIENT: shape.ends[CLIENT] - 1}  # origins only, all its own
    assert update.endswith(b"\x00")  # an empty delete set


def test_the_system_peer_imports_with_it() -> None:
    ops = corpus_ops(CORPUS[1])
    edit = system_update(b"", ops, CLIENT)
    assert edit.update == edit.state == document_update(ops, CLIENT)
    assert edit.changed
    assert system_update(b"", [], CLIENT) == (EMPTY_UPDATE, EMPTY_UPDATE, False)


# -- any document --------------------------------------------------------------------------

TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("ab \n\t\u00e9\u4e2d\U0001f600\U0001d11e"),
        st.characters(codec="utf-8"),  # no lone surrogates: they are not UTF-8
    ),
    min_size=1,
    max_size=8,
)
INLINE = st.fixed_dictionaries(
    {},
    optional={
        "bold": st.just(True),
        "italic": st.booleans(),
        "link": st.sampled_from(["https://a.example", "https://b.example/\u00e9"]),
        "color": st.sampled_from(["#f00", "red"]),
        "size": st.integers(-(2**31), 2**31),
        "alt": st.none(),  # None: no attribute, as RichText inserts it
    },
)
LINE_FORMATS: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {},
        {"header": 1},
        {"header": 3},
        {"list": "bullet"},
        {"list": "ordered", "indent": 2},
        {"code-block": True},
        {"code-block": "verbatim"},
        {"blockquote": True, "align": "center"},
    ]
)
EMBED = st.sampled_from(
    [{"image": "x.png"}, {"image": "https://e.example/\U0001f600.png"}, {"formula": "e=mc^2"}]
)


@st.composite
def documents(draw: st.DrawFn) -> Ops:
    ops: Ops = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["text", "text", "line", "embed"]))
        attrs: dict[str, Any] = draw(INLINE)
        if kind == "embed":
            value: Any = draw(EMBED)
        else:
            value = draw(TEXT)
            if kind == "line":
                attrs = {**attrs, **draw(LINE_FORMATS)}
                if "\n" not in value:
                    value += "\n"
        ops.append({"insert": value, **({"attributes": attrs} if attrs else {})})
    return ops


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_document_reads_back_as_applying_it_would(ops: Ops) -> None:
    update = document_update(ops, CLIENT)
    assert imported(update).delta == applied(ops).delta
    assert document_update(ops, CLIENT) == update


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_edits_after_the_import_land_as_they_would_after_applying(ops: Ops, data: Any) -> None:
    """The format markers left at the end of runs do not leak into later edits."""
    ours, theirs = imported(document_update(ops, CLIENT)), applied(ops)
    for _ in range(3):
        index = data.draw(st.integers(0, len(theirs)))
        value, attrs = data.draw(TEXT), data.draw(INLINE)
        for rich in (ours, theirs):
            rich.insert(index, value.replace("\n", ""), attrs or None)
        start = data.draw(st.integers(0, len(theirs)))
        length = data.draw(st.integers(0, len(theirs) - start))
        change = data.draw(INLINE)
        if change:
            for rich in (ours, theirs):
                rich.format(start, length, change)
        assert ours.delta == theirs.delta


def test_nothing_is_the_empty_update() -> None:
    assert document_update([], CLIENT) == EMPTY_UPDATE
    assert document_update([{"insert": ""}], CLIENT) == EMPTY_UPDATE
    assert imported(EMPTY_UPDATE).delta == [{"insert": "\n"}]


def test_a_delta_object_is_accepted() -> None:
    ops: Ops = [{"insert": "Hi\n"}]
    assert document_update({"ops": ops}, CLIENT) == document_update(ops, CLIENT)


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([{"insert": "a", "attributes": {"header": 1}}], "formats lines"),
        (
            [{"insert": {"image": "x"}, "attributes": {"list": "bullet"}}],
            "cannot apply to an embed",
        ),
        ([{"insert": "a", "attributes": {"bold": float("nan")}}], "not a finite number"),
        ([{"insert": 3}], "embed must be a non-empty dict"),
    ],
)
def test_what_apply_delta_refuses_is_refused(ops: Ops, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        document_update(ops, CLIENT)
    with pytest.raises(ValueError, match=message):
        applied(ops)


def test_a_document_holds_inserts_only() -> None:
    with pytest.raises(ValueError, match=r"delta op 1 .*inserts only"):
        document_update([{"insert": "a"}, {"retain": 1}], CLIENT)


@pytest.mark.parametrize("client", [-1, 2**53, True, 1.5])
def test_a_bad_client_id_is_refused(client: Any) -> None:
    with pytest.raises(ValueError, match="client"):
        document_update([{"insert": "a\n"}], client)


# -- Yjs reads it the same -----------------------------------------------------------------

YJS_READER = """
import * as Y from 'yjs'
import { createInterface } from 'node:readline'
for await (const line of createInterface({ input: process.stdin })) {
  const doc = new Y.Doc()
  let updates = 0
  doc.on('update', () => { updates += 1 })
  Y.applyUpdate(doc, Buffer.from(line, 'base64'), 'remote')
  const text = doc.getText('content')
  console.log(JSON.stringify({ delta: text.toDelta(), updates }))
}
"""


@pytest.mark.interop
def test_yjs_reads_every_corpus_file_as_its_delta() -> None:
    """What y-quill sees: Yjs's delta of the text, and no formatting cleanup of its own (a
    cleanup would be an edit by every browser that opens the file)."""
    from tests.interop.peers import install_node_peer

    node_dir = install_node_peer()
    documents = [corpus_ops(path) for path in CORPUS]
    lines = "".join(
        base64.b64encode(document_update(ops, CLIENT)).decode() + "\n" for ops in documents
    )
    result = subprocess.run(
        ["node", "--input-type=module", "-e", YJS_READER],
        cwd=node_dir,
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    read = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(read) == len(CORPUS)
    for path, ops, yjs in zip(CORPUS, documents, read, strict=True):
        assert yjs == {"delta": ops, "updates": 1}, path.name
