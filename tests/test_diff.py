"""diff_ops: the smallest delta between two documents, applied as one edit."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pycrdt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_ysync.richtext import RichText
from jupyter_ysync.richtext.diff import diff_ops
from jupyter_ysync.richtext.lossless import parse

Ops = list[dict[str, Any]]
DATA = Path(__file__).parent / "data" / "markdown"


def holding(ops: Ops) -> RichText:
    rich = RichText(pycrdt.Doc().get("content", type=pycrdt.Text))
    rich.apply_delta(ops)
    return rich


def canonical(ops: Ops) -> Ops:
    return holding(ops).delta


def size(delta: Ops) -> int:
    return sum(len(op["insert"]) if isinstance(op.get("insert"), str) else 1 for op in delta)


INLINE = st.fixed_dictionaries(
    {},
    optional={
        "bold": st.just(True),
        "italic": st.just(True),
        "link": st.sampled_from(["https://a.example", "https://b.example"]),
    },
)
BLOCK = st.sampled_from(
    [{}, {"header": 1}, {"header": 2}, {"list": "bullet"}, {"code-block": "plain"}]
)
SEGMENT = st.one_of(
    st.tuples(st.text(alphabet="ab c\u00e9\U0001f600", min_size=1, max_size=6), INLINE),
    st.tuples(st.sampled_from([{"image": "https://e.com/1.png"}, {"image": "x.png"}]), INLINE),
)
LINE = st.tuples(st.lists(SEGMENT, max_size=4), BLOCK)


@st.composite
def documents(draw: st.DrawFn) -> Ops:
    ops: Ops = []
    for segments, block in draw(st.lists(LINE, min_size=1, max_size=6)):
        for value, attrs in segments:
            ops.append({"insert": value, **({"attributes": attrs} if attrs else {})})
        ops.append({"insert": "\n", **({"attributes": block} if block else {})})
    return canonical(ops)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), documents())
def test_applying_the_diff_gives_the_new_document(old: Ops, new: Ops) -> None:
    rich = holding(old)
    rich.apply_delta(diff_ops(old, new))
    assert rich.delta == new


@settings(max_examples=100, deadline=None)
@given(documents(), documents())
def test_diff_is_deterministic(old: Ops, new: Ops) -> None:
    assert diff_ops(old, new) == diff_ops(old, new)
    assert diff_ops(old, old) == []


def test_attribute_only_changes_are_formats_not_inserts() -> None:
    old = [{"insert": "Title\nsome text\n"}]
    new = [
        {"insert": "Title"},
        {"insert": "\n", "attributes": {"header": 1}},
        {"insert": "some "},
        {"insert": "text", "attributes": {"bold": True}},
        {"insert": "\n"},
    ]
    changes = diff_ops(old, new)
    assert changes == [
        {"retain": 5},
        {"retain": 1, "attributes": {"header": 1}},
        {"retain": 5},
        {"retain": 4, "attributes": {"bold": True}},
    ]
    assert diff_ops(new, old) == [
        {"retain": 5},
        {"retain": 1, "attributes": {"header": None}},
        {"retain": 5},
        {"retain": 4, "attributes": {"bold": None}},
    ]


def test_embeds_compare_by_value() -> None:
    old = [{"insert": {"image": "a.png"}}, {"insert": "\n"}]
    assert diff_ops(old, [{"insert": {"image": "a.png"}}, {"insert": "\n"}]) == []
    new = [{"insert": {"image": "b.png"}}, {"insert": "\n"}]
    assert diff_ops(old, new) == [{"insert": {"image": "b.png"}}, {"delete": 1}]


def test_one_line_edit_in_a_big_document_is_a_tiny_delta() -> None:
    text = "".join(path.read_text(encoding="utf-8") for path in sorted(DATA.glob("*.md")))
    old = parse(text, "markdown").ops
    new = [dict(op) for op in old]
    middle = next(
        k
        for k in range(len(new) // 2, len(new))
        if isinstance(new[k]["insert"], str) and " " in new[k]["insert"]
    )
    new[middle] = {**new[middle], "insert": new[middle]["insert"].replace(" ", " more ", 1)}
    changes = diff_ops(old, new)
    assert size([op for op in changes if "insert" in op]) == len("more ")
    assert not any("delete" in op for op in changes)
    assert len(changes) == 2


def test_corpus_pairs_apply_exactly() -> None:
    paths = sorted(p for p in DATA.glob("*.md") if p.name != "SOURCES.md")[:12]
    documents_ = [canonical(parse(p.read_text(encoding="utf-8"), "markdown").ops) for p in paths]
    for old, new in pairwise(documents_):
        rich = holding(old)
        rich.apply_delta(diff_ops(old, new))
        assert rich.delta == new


def test_set_markdown_keeps_a_concurrent_edit_elsewhere() -> None:
    doc_a: pycrdt.Doc[Any] = pycrdt.Doc()
    doc_b: pycrdt.Doc[Any] = pycrdt.Doc()
    a = RichText(doc_a.get("content", type=pycrdt.Text))
    b = RichText(doc_b.get("content", type=pycrdt.Text))
    a.set_markdown("# Title\n\nfirst paragraph\n\nsecond paragraph\n")
    doc_b.apply_update(doc_a.get_update())
    b.insert(len("Title\nfirst"), " peer")  # a peer edits the first paragraph
    a.set_markdown("# Title\n\nfirst paragraph\n\nsecond *changed* paragraph\n")  # a tool saves
    doc_a.apply_update(doc_b.get_update(doc_a.get_state()))
    doc_b.apply_update(doc_a.get_update(doc_b.get_state()))
    assert a.to_markdown() == b.to_markdown()
    assert a.to_markdown() == "# Title\n\nfirst peer paragraph\n\nsecond *changed* paragraph\n"


def test_setters_are_one_undoable_change() -> None:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    text = doc.get("content", type=pycrdt.Text)
    rich = RichText(text)
    rich.set_text("hello world\n")
    undo = pycrdt.UndoManager(scopes=[text], capture_timeout_millis=0)
    rich.set_html("<h1>hello</h1><p>brave <b>world</b></p>")
    assert rich.delta == [
        {"insert": "hello"},
        {"insert": "\n", "attributes": {"header": 1}},
        {"insert": "brave "},
        {"insert": "world", "attributes": {"bold": True}},
        {"insert": "\n"},
    ]
    undo.undo()
    assert rich.delta == [{"insert": "hello world\n"}]


def test_set_delta_reads_back_exactly() -> None:
    rich = holding([{"insert": "x\n"}])
    target = [{"insert": "a"}, {"insert": "b", "attributes": {"italic": True}}, {"insert": "\n"}]
    rich.set_delta(target)
    assert rich.delta == target
    rich.set_text("")
    assert rich.delta == [{"insert": "\n"}]


def test_a_changed_word_is_replaced_whole_so_concurrent_edits_sit_side_by_side():
    """Merged with someone else's change of the same word, both versions stay readable."""
    ops = diff_ops([{"insert": "the cat sat\n"}], [{"insert": "the cow sat\n"}])
    assert ops == [{"retain": 4}, {"insert": "cow"}, {"delete": 3}]
    base: pycrdt.Doc = pycrdt.Doc()
    text = base.get("content", type=pycrdt.Text)
    text += "the cat sat\n"
    state = base.get_update()
    mine: pycrdt.Doc = pycrdt.Doc()
    theirs: pycrdt.Doc = pycrdt.Doc()
    for doc in (mine, theirs):
        doc.apply_update(state)
    RichText(mine.get("content", type=pycrdt.Text)).apply_delta(ops)
    RichText(theirs.get("content", type=pycrdt.Text)).apply_delta(
        [{"retain": 4}, {"insert": "dog"}, {"delete": 3}]
    )
    mine.apply_update(theirs.get_update(mine.get_state()))
    merged = str(mine.get("content", type=pycrdt.Text))
    assert merged in ("the cowdog sat\n", "the dogcow sat\n")


def test_the_same_attributes_in_another_order_are_no_change() -> None:
    """A replica reads attributes back in its own order: that is not an edit."""
    old = [
        {"insert": "a", "attributes": {"bold": True, "italic": True}},
        {"insert": "\n", "attributes": {"list": "ordered", "indent": 1}},
    ] * 50
    new = [
        {"insert": "a", "attributes": {"italic": True, "bold": True}},
        {"insert": "\n", "attributes": {"indent": 1, "list": "ordered"}},
    ] * 50
    assert diff_ops(old, new) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), documents(), documents(), documents())
def test_a_change_between_a_shared_start_and_end_is_found_there(
    start: Ops, old: Ops, new: Ops, end: Ops
) -> None:
    """The shared start and end are skipped op by op, cut back to whole lines."""
    before, after = canonical(start + old + end), canonical(start + new + end)
    rich = holding(before)
    changes = diff_ops(before, after)
    rich.apply_delta(changes)
    assert rich.delta == after
    if changes and "retain" in changes[0] and "attributes" not in changes[0]:
        assert changes[0]["retain"] >= size(start) - 1  # at most the start's last newline
