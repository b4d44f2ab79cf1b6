"""RichText reads and writes the room's Y.Text exactly as Quill 2 + y-quill see it."""

from __future__ import annotations

import base64
import random
from typing import Any

import pycrdt
import pytest

from jupyter_ysync.richtext import EMBED_CHARACTER, RichText

IMAGE = "https://example.com/plot.png"


def new_text(host: Any = None) -> tuple[pycrdt.Doc[Any], pycrdt.Text, RichText]:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    text = doc.get("content", type=pycrdt.Text)
    return doc, text, RichText(text, host=host)


def sync(source: pycrdt.Doc[Any], target: pycrdt.Doc[Any]) -> None:
    target.apply_update(source.get_update(target.get_state()))


def stored(text: pycrdt.Text) -> list[tuple[Any, Any]]:
    """What the Y.Text holds, as Yjs' toDelta() would list it."""
    return [(value, attrs) for value, attrs in text.diff()]


# --------------------------------------------------------------------------------------------
# delta: what Quill shows


def test_empty_document_shows_quills_single_newline() -> None:
    _, _, rich = new_text()
    assert rich.delta == [{"insert": "\n"}]
    assert len(rich) == 0
    assert str(rich) == ""


def test_trailing_newline_is_added_and_merged_into_plain_text() -> None:
    _, _, rich = new_text()
    rich.insert(0, "abc")
    assert rich.delta == [{"insert": "abc\n"}]
    assert len(rich) == 3  # the editor's final newline is not stored


def test_trailing_newline_is_separate_after_formatted_text() -> None:
    _, _, rich = new_text()
    rich.insert(0, "abc", {"bold": True})
    assert rich.delta == [{"insert": "abc", "attributes": {"bold": True}}, {"insert": "\n"}]


def test_no_newline_is_added_when_the_text_ends_with_one() -> None:
    _, _, rich = new_text()
    rich.insert(0, "Title\n", {"header": 1})
    assert rich.delta == [{"insert": "Title"}, {"insert": "\n", "attributes": {"header": 1}}]
    rich.insert(0, "abc\n")
    assert rich.delta[-1] == {"insert": "\n", "attributes": {"header": 1}}


def test_deleting_the_final_newline_leaves_an_implicit_plain_one() -> None:
    # The final-newline contract: the line format went with the newline that held it.
    _, _, rich = new_text()
    rich.insert(0, "Title\n", {"header": 1})
    rich.delete(5)
    assert str(rich) == "Title"
    assert rich.delta == [{"insert": "Title\n"}]


def test_trailing_newline_follows_an_embed() -> None:
    _, _, rich = new_text()
    rich.insert(0, "x")
    rich.insert_embed(1, {"image": IMAGE})
    assert rich.delta == [{"insert": "x"}, {"insert": {"image": IMAGE}}, {"insert": "\n"}]


def test_line_formats_are_stored_on_newlines_only() -> None:
    _, text, rich = new_text()
    rich.insert(0, "Title\nbody\n", {"header": 1, "bold": True})
    assert stored(text) == [
        ("Title", {"bold": True}),
        ("\n", {"header": 1}),
        ("body", {"bold": True}),
        ("\n", {"header": 1}),
    ]


def test_foreign_formats_show_as_quill_renders_them() -> None:
    # Written by a peer that ignores Quill's rules: Quill drops inline formats on newlines
    # and line formats on text, shows code-block true as "plain", and numbers as ints.
    _, text, rich = new_text()
    text.insert(0, "abc\n", {"bold": True})
    text.insert(4, "def", {"header": 1})
    text.insert(7, "\n", {"code-block": True})
    text.insert(8, "h\n", {"header": 2})
    assert rich.delta == [
        {"insert": "abc", "attributes": {"bold": True}},
        {"insert": "\ndef"},
        {"insert": "\n", "attributes": {"code-block": "plain"}},
        {"insert": "h"},
        {"insert": "\n", "attributes": {"header": 2}},
    ]
    assert type(rich.delta[-1]["attributes"]["header"]) is int


def test_embeds_count_one_and_show_in_str_as_replacement_character() -> None:
    _, _, rich = new_text()
    rich.insert(0, "ab")
    rich.insert_embed(1, {"image": IMAGE, "width": 100}, {"link": "https://example.com"})
    assert len(rich) == 3
    assert str(rich) == f"a{EMBED_CHARACTER}b"
    assert rich.delta[1] == {
        "insert": {"image": IMAGE, "width": 100},
        "attributes": {"link": "https://example.com"},
    }


def test_repr_is_short() -> None:
    _, _, rich = new_text()
    rich.insert(0, "x" * 500)
    assert len(repr(rich)) < 80
    assert "len=500" in repr(rich)


# Recorded with Quill 2.0.3 + y-quill 1.0.0 + yjs 13.6 in a browser DOM: a user's edits in the
# editor, the document's Yjs update, and quill.getContents().ops afterwards.
QUILL_RECORDINGS = {
    "typed then bold and header": (
        "AQfL8fTJBwAEAQdjb250ZW50BUhlbGxvhMvx9MkHBAYgd29ybGRGy/H0yQcABGJvbGQEdHJ1ZcbL8fTJBwTL"
        "8fTJBwUEYm9sZARudWxshsvx9MkHCgZoZWFkZXIBMYTL8fTJBw0BCobL8fTJBw4GaGVhZGVyBG51bGwA",
        [
            {"insert": "Hello", "attributes": {"bold": True}},
            {"insert": " world"},
            {"insert": "\n", "attributes": {"header": 1}},
        ],
    ),
    "pasted image": (
        "AQOtyqvtAwAEAQdjb250ZW50BHNlZSCFrcqr7QMDLnsiaW1hZ2UiOiJkYXRhOmltYWdlL3BuZztiYXNlNjQs"
        "aVZCT1J3MEtHZ289In2Ercqr7QMEBSBkb25lAA==",
        [
            {"insert": "see "},
            {"insert": {"image": "data:image/png;base64,iVBORw0KGgo="}},
            {"insert": " done\n"},
        ],
    ),
    "nested bullet list": (
        "AQ6Mxs7UDgAEAQdjb250ZW50AWGEjMbO1A4AAQqEjMbO1A4BAWKEjMbO1A4CAQqEjMbO1A4DAWPGjMbO1A4A"
        "jMbO1A4BBGxpc3QIImJ1bGxldCLGjMbO1A4BjMbO1A4CBGxpc3QEbnVsbMaMxs7UDgKMxs7UDgMEbGlzdAgi"
        "YnVsbGV0IsaMxs7UDgOMxs7UDgQEbGlzdARudWxshozGztQOBARsaXN0CCJidWxsZXQihIzGztQOCQEKhozG"
        "ztQOCgRsaXN0BG51bGzGjMbO1A4CjMbO1A4HBmluZGVudAExxozGztQOCIzGztQOBAZpbmRlbnQEbnVsbAA=",
        [
            {"insert": "a"},
            {"insert": "\n", "attributes": {"list": "bullet"}},
            {"insert": "b"},
            {"insert": "\n", "attributes": {"list": "bullet", "indent": 1}},
            {"insert": "c"},
            {"insert": "\n", "attributes": {"list": "bullet"}},
        ],
    ),
    "formats removed": (
        "AQn5kpWwDwAGAQdjb250ZW50BGJvbGQEdHJ1ZYb5kpWwDwAGaXRhbGljBHRydWWE+ZKVsA8BAmFihPmSlbAP"
        "AwJjZIT5kpWwDwUCZWaB+ZKVsA8HAsb5kpWwDwP5kpWwDwQEYm9sZARudWxswfmSlbAPBfmSlbAPBgHG+ZKV"
        "sA8F+ZKVsA8LBml0YWxpYwRudWxsAfmSlbAPAggCCwE=",
        [
            {"insert": "ab", "attributes": {"italic": True, "bold": True}},
            {"insert": "cd", "attributes": {"italic": True}},
            {"insert": "ef\n"},
        ],
    ),
    "emoji and underline": (
        "AQXGkeDlCAAEAQdjb250ZW50BfCfmIAghMaR4OUIAgJoaYTGkeDlCAQDIMOpxsaR4OUIAsaR4OUIAwl1bmRl"
        "cmxpbmUEdHJ1ZcbGkeDlCATGkeDlCAUJdW5kZXJsaW5lBG51bGwA",
        [
            {"insert": "\U0001f600 "},
            {"insert": "hi", "attributes": {"underline": True}},
            {"insert": " é\n"},
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(QUILL_RECORDINGS))
def test_delta_equals_what_quill_showed_for_its_own_edits(name: str) -> None:
    update, quill_ops = QUILL_RECORDINGS[name]
    doc, _, rich = new_text()
    doc.apply_update(base64.b64decode(update))
    assert rich.delta == quill_ops


# --------------------------------------------------------------------------------------------
# writes


def test_insert_does_not_inherit_surrounding_formatting() -> None:
    _, _, rich = new_text()
    rich.insert(0, "bold", {"bold": True})
    rich.insert(2, "X")
    rich.insert(len(rich), "Y")
    assert rich.delta == [
        {"insert": "bo", "attributes": {"bold": True}},
        {"insert": "X"},
        {"insert": "ld", "attributes": {"bold": True}},
        {"insert": "Y\n"},
    ]


def test_insert_with_a_line_format_needs_a_newline() -> None:
    _, _, rich = new_text()
    with pytest.raises(ValueError, match="'header' formats lines"):
        rich.insert(0, "Title", {"header": 1})
    assert str(rich) == ""


@pytest.mark.parametrize(
    ("index", "error"),
    [(4, IndexError), (-1, IndexError), ("0", TypeError), (1.0, TypeError), (True, TypeError)],
)
def test_insert_refuses_bad_indices_instead_of_appending(index: Any, error: type) -> None:
    _, _, rich = new_text()
    rich.insert(0, "abc")
    with pytest.raises(error):
        rich.insert(index, "x")
    assert str(rich) == "abc"


def test_indices_may_be_any_integer_type() -> None:
    class Position:  # like numpy.int64: an integer, not an int
        def __index__(self) -> int:
            return 1

    _, _, rich = new_text()
    rich.insert(0, "ac")
    rich.insert(Position(), "b")  # type: ignore[arg-type]
    rich.delete(Position(), Position())  # type: ignore[arg-type]
    assert str(rich) == "ac"


def test_insert_refuses_non_json_attributes_and_embeds() -> None:
    _, _, rich = new_text()
    with pytest.raises(ValueError, match="not JSON data"):
        rich.insert(0, "x", {"bold": object()})
    with pytest.raises(ValueError, match="non-empty dict"):
        rich.insert_embed(0, {})
    with pytest.raises(TypeError, match="insert_embed"):
        rich.insert(0, {"image": IMAGE})  # type: ignore[arg-type]
    assert len(rich) == 0


def test_format_sets_inline_formats_on_text_and_line_formats_on_newlines() -> None:
    _, text, rich = new_text()
    rich.insert(0, "a\nb\n")
    rich.format(0, 4, {"bold": True, "list": "ordered"})
    assert stored(text) == [
        ("a", {"bold": True}),
        ("\n", {"list": "ordered"}),
        ("b", {"bold": True}),
        ("\n", {"list": "ordered"}),
    ]


def test_format_none_removes_the_attribute_and_the_removal_syncs() -> None:
    doc, text, rich = new_text()
    rich.insert(0, "hello world\n")
    rich.format(0, 11, {"bold": True, "color": "#ff0000"})
    peer, _, peer_rich = new_text()
    sync(doc, peer)

    rich.format(3, 5, {"bold": None})
    sync(doc, peer)

    expected = [
        {"insert": "hel", "attributes": {"bold": True, "color": "#ff0000"}},
        {"insert": "lo wo", "attributes": {"color": "#ff0000"}},
        {"insert": "rld", "attributes": {"bold": True, "color": "#ff0000"}},
        {"insert": "\n"},
    ]
    assert rich.delta == expected
    assert peer_rich.delta == expected
    assert all("bold" not in (attrs or {}) for value, attrs in stored(text) if value == "lo wo")


def test_format_of_the_final_line_stores_the_editors_newline() -> None:
    _, _, rich = new_text()
    rich.insert(0, "Title")
    rich.format(5, 1, {"header": 2})
    assert len(rich) == 6
    assert rich.delta == [{"insert": "Title"}, {"insert": "\n", "attributes": {"header": 2}}]


def test_format_refuses_ranges_past_the_editors_final_newline() -> None:
    _, _, rich = new_text()
    rich.insert(0, "abc\n")
    with pytest.raises(IndexError, match="4 long"):
        rich.format(0, 5, {"bold": True})


def test_format_refuses_a_line_format_without_a_newline() -> None:
    _, _, rich = new_text()
    rich.insert(0, "Title\nbody")
    with pytest.raises(ValueError, match=r"format\(0, 5, .*include that newline"):
        rich.format(0, 5, {"header": 1})


def test_delete_removes_characters_and_embeds() -> None:
    _, _, rich = new_text()
    rich.insert(0, "abcdef")
    rich.insert_embed(3, {"image": IMAGE})
    rich.delete(2, 3)
    assert str(rich) == "abef"
    rich.delete(0)
    rich.delete(0, 0)
    assert str(rich) == "bef"


@pytest.mark.parametrize(("index", "length"), [(2, 5), (9, 1), (-1, 1), (0, -1)])
def test_delete_refuses_ranges_outside_the_text(index: int, length: int) -> None:
    _, _, rich = new_text()
    rich.insert(0, "abcdef")
    with pytest.raises(IndexError):
        rich.delete(index, length)
    assert str(rich) == "abcdef"


def test_indices_are_python_characters_with_accents_and_emoji() -> None:
    # pycrdt itself counts UTF-8 bytes: without conversion these land inside characters.
    _, _, rich = new_text()
    rich.insert(0, "Café \U0001f600!")
    assert len(rich) == len("Café \U0001f600!")
    rich.insert(4, "s")
    rich.insert(7, "?")
    assert str(rich) == "Cafés \U0001f600?!"
    rich.format(6, 1, {"bold": True})
    rich.delete(0, 1)
    assert rich.delta == [
        {"insert": "afés "},
        {"insert": "\U0001f600", "attributes": {"bold": True}},
        {"insert": "?!\n"},
    ]


def test_ascii_fast_path_notices_remote_non_ascii_text() -> None:
    doc, _, rich = new_text()
    rich.insert(0, "abc")
    peer, peer_text, _ = new_text()
    sync(doc, peer)
    peer_text.insert(0, "éé")  # bytes 0..4 in pycrdt
    sync(peer, doc)
    rich.insert(3, "X")
    rich.delete(0, 1)
    assert str(rich) == "éaXbc"


def test_ascii_fast_path_notices_a_remote_replacement_of_the_same_byte_length() -> None:
    doc, _, rich = new_text()
    rich.insert(0, "abcd")
    peer, peer_text, _ = new_text()
    sync(doc, peer)
    with peer.transaction():  # a user selects "ab" and types "é": 2 bytes for 2 bytes
        del peer_text[0:2]
        peer_text.insert(0, "é")
    sync(peer, doc)
    rich.insert(2, "X")
    assert str(rich) == "écXd"


def test_ascii_fast_path_notices_non_ascii_written_earlier_in_the_same_transaction() -> None:
    doc, text, rich = new_text()
    rich.insert(0, "ab")
    with doc.transaction():
        text.insert(0, "é")  # raw pycrdt, not through RichText
        rich.insert(2, "X")
    assert str(rich) == "éaXb"


def test_ascii_fast_path_sees_non_ascii_written_later_in_the_transaction() -> None:
    doc, text, rich = new_text()
    rich.insert(0, "ab")
    with doc.transaction():
        rich.insert(2, "X")
        text.insert(0, "é")  # raw pycrdt, after RichText's last write
    rich.insert(2, "Y")
    assert str(rich) == "éaYbX"


def test_a_refused_write_does_not_hide_the_next_remote_change() -> None:
    doc, _, rich = new_text()
    rich.insert(0, "abcd")
    with pytest.raises(IndexError):
        rich.insert(99, "X")
    with pytest.raises(IndexError):
        rich.delete(3, 5)
    peer, peer_text, _ = new_text()
    sync(doc, peer)
    with peer.transaction():  # same byte length: only the delta tells
        del peer_text[0:2]
        peer_text.insert(0, "é")
    sync(peer, doc)
    rich.insert(2, "X")
    assert str(rich) == "écXd"


def test_random_edits_match_a_python_model() -> None:
    rng = random.Random(20240611)
    doc, _, rich = new_text()
    peer, peer_text, _ = new_text()
    model: list[str] = []
    alphabet = ["a", "b", " ", "\n", "é", "ß", "中", "\U0001f600", "xyz"]
    for step in range(600):
        action = rng.random()
        if action < 0.5 or not model:
            index = rng.randint(0, len(model))
            chunk = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
            rich.insert(index, chunk)
            model[index:index] = list(chunk)
        elif action < 0.8:
            index = rng.randrange(len(model))
            length = rng.randint(1, min(3, len(model) - index))
            rich.delete(index, length)
            del model[index : index + length]
        elif action < 0.85:
            index = rng.randint(0, len(model))
            rich.insert_embed(index, {"image": IMAGE})
            model.insert(index, EMBED_CHARACTER)
        else:  # a remote peer appends
            sync(doc, peer)
            chunk = rng.choice(["remote", "rémote"])
            peer_text.insert(len(peer_text), chunk)  # at the end: byte offsets are safe
            sync(peer, doc)
            model.extend(chunk)
        assert len(rich) == len(model), step
    assert str(rich) == "".join(model)


def test_each_write_is_one_transaction_and_keeps_the_callers_origin() -> None:
    doc, text, rich = new_text()
    seen: list[Any] = []
    text.observe(lambda event: seen.append(event.transaction.origin))
    rich.apply_delta([{"insert": "ab"}, {"insert": {"image": IMAGE}}, {"insert": "c\n"}])
    assert seen == [None]
    with doc.transaction(origin="report-bot"):
        rich.insert(0, "x")
        rich.format(0, 1, {"bold": True})
        rich.delete(1, 1)
        rich.insert_markdown(0, "# T\n")
    assert seen == [None, "report-bot"]


def test_writing_from_an_observer_callback_is_refused_clearly() -> None:
    _, text, rich = new_text()
    text.observe(lambda event: rich.insert(0, "echo"))
    try:
        rich.insert(0, "x")
    except Exception as error:  # pycrdt gathers observer errors in an ExceptionGroup
        errors = getattr(error, "exceptions", [error])
    else:
        pytest.fail("writing from an observer callback was allowed")
    assert "cannot change the document from an observer callback" in str(errors[0])


# --------------------------------------------------------------------------------------------
# apply_delta


def test_apply_delta_has_quill_update_contents_semantics() -> None:
    _, _, rich = new_text()
    rich.insert(0, "Hello brave world", {"bold": True})
    rich.apply_delta(
        [
            {"retain": 6},
            {"delete": 6},
            {"insert": "new ", "attributes": {"italic": True}},
            {"retain": 5, "attributes": {"bold": None, "underline": True}},
            {"insert": "!"},
        ]
    )
    assert rich.delta == [
        {"insert": "Hello ", "attributes": {"bold": True}},
        {"insert": "new ", "attributes": {"italic": True}},
        {"insert": "world", "attributes": {"underline": True}},
        {"insert": "!\n"},
    ]


def test_apply_delta_accepts_a_quill_delta_object() -> None:
    _, _, rich = new_text()
    rich.apply_delta({"ops": [{"insert": "x"}]})
    assert str(rich) == "x"


def test_apply_delta_retain_over_the_final_newline_stores_it_like_yjs() -> None:
    _, _, rich = new_text()
    rich.insert(0, "Title")
    rich.apply_delta([{"retain": 5}, {"retain": 1, "attributes": {"header": 1}}])
    assert str(rich) == "Title\n"
    assert rich.delta == [{"insert": "Title"}, {"insert": "\n", "attributes": {"header": 1}}]


def test_apply_delta_plain_retain_over_the_final_newline_changes_nothing() -> None:
    _, _, rich = new_text()
    rich.insert(0, "abc")
    rich.apply_delta([{"retain": 4}])
    rich.apply_delta([{"retain": 4}, {"insert": "!"}])
    assert str(rich) == "abc!"


def test_apply_delta_copies_a_document_exactly() -> None:
    _, _, source = new_text()
    source.insert_markdown(0, "# Title\n\n- **bold** item\n\n> quote\n")
    source.insert_embed(len(source), {"image": IMAGE}, {"width": "120"})
    _, _, copy = new_text()
    copy.apply_delta(source.delta)
    assert copy.delta == source.delta


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ("insert", "list of ops"),
        ([["insert", "x"]], "an op is a dict"),
        ([{"insert": "x", "retain": 1}], "exactly one of"),
        ([{"insret": "x"}], "exactly one of"),
        ([{"retain": -1}], "must not be negative"),
        ([{"retain": "1"}], "takes a count"),
        ([{"retain": {"table": {}}}], "retaining into an embed"),
        ([{"delete": 1, "attributes": {"bold": True}}], "takes no attributes"),
        ([{"insert": "x", "attributes": "bold"}], "attributes must be a dict"),
        ([{"insert": 5}], "non-empty dict"),
        ([{"retain": 2}, {"retain": 3, "attributes": {"bold": True}}], "past the end"),
        ([{"delete": 6}], "past the end"),
        ([{"insert": "T", "attributes": {"header": 1}}], "formats lines"),
        ([{"insert": {"image": IMAGE}, "attributes": {"list": "bullet"}}], "cannot apply"),
    ],
)
def test_apply_delta_refuses_bad_ops_and_changes_nothing(ops: Any, message: str) -> None:
    _, _, rich = new_text()
    rich.insert(0, "abc")
    before = rich.delta
    with pytest.raises(ValueError, match=message) as raised:
        rich.apply_delta([{"insert": "first"}, *ops] if isinstance(ops, list) else ops)
    if isinstance(ops, list):
        assert "delta op" in str(raised.value)
    assert rich.delta == before


# --------------------------------------------------------------------------------------------
# the earlier demo's bugs, and convergence


def test_formatting_set_from_python_syncs_to_another_peer() -> None:
    doc, _, rich = new_text()
    peer, _, peer_rich = new_text()
    rich.insert(0, "select me\n")
    sync(doc, peer)
    rich.format(0, 6, {"italic": True})
    sync(doc, peer)
    assert peer_rich.delta == [
        {"insert": "select", "attributes": {"italic": True}},
        {"insert": " me\n"},
    ]


def test_image_embedded_by_another_peer_reads_without_crashing() -> None:
    doc, _, rich = new_text()
    peer, peer_text, _ = new_text()
    peer_text.insert(0, "see \n")
    peer_text.insert_embed(4, {"image": "data:image/png;base64,iVBORw0KGgo="})
    sync(peer, doc)
    assert rich.delta == [
        {"insert": "see "},
        {"insert": {"image": "data:image/png;base64,iVBORw0KGgo="}},
        {"insert": "\n"},
    ]
    assert '<img src="data:image/png;base64,iVBORw0KGgo="' in rich.to_html()
    rich.insert(len(rich), "after")  # and writing around it works
    assert str(rich) == f"see {EMBED_CHARACTER}\nafter"


def test_concurrent_edits_with_formatting_and_embeds_converge() -> None:
    doc_a, _, a = new_text()
    doc_b, _, b = new_text()
    a.insert(0, "shared text\n")
    sync(doc_a, doc_b)

    a.format(0, 6, {"bold": True})
    a.insert_embed(7, {"image": IMAGE})
    b.insert(0, "Title\n", {"header": 1})
    b.format(13, 4, {"italic": True})
    b.delete(12, 1)
    sync(doc_a, doc_b)
    sync(doc_b, doc_a)

    assert a.delta == b.delta
    assert str(a) == str(b) == f"Title\nshared{EMBED_CHARACTER}text\n"
    # Where a concurrent insert lands against a concurrent format's boundary ("Title" vs the
    # bold run starting at 0, the image vs the italic run) is decided by client ids; every
    # peer decides the same, and nothing is lost.
    ops = a.delta
    assert [op["insert"] for op in ops] == ["Title", "\n", "shared", {"image": IMAGE}, "text", "\n"]
    assert ops[1]["attributes"] == {"header": 1}
    assert ops[2]["attributes"] == {"bold": True}
    assert ops[4]["attributes"] == {"italic": True}
    assert "attributes" not in ops[5]


# --------------------------------------------------------------------------------------------
# host


class RecordingHost:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.pending: list[bytes] = []
        self.doc: pycrdt.Doc[Any] | None = None

    def refresh(self) -> None:
        self.calls.append(("refresh", None))
        assert self.doc is not None
        while self.pending:
            self.doc.apply_update(self.pending.pop(0))

    def edited(self, index: int) -> None:
        self.calls.append(("edited", index))

    def write_transaction(self) -> pycrdt.Transaction:
        assert self.doc is not None
        return self.doc.transaction()


def test_host_refreshes_before_every_read_so_reads_are_fresh() -> None:
    host = RecordingHost()
    doc, _, rich = new_text(host)
    host.doc = doc
    peer, peer_text, _ = new_text()
    peer_text.insert(0, "remote")
    host.pending.append(peer.get_update())
    assert str(rich) == "remote"
    host.pending.append(peer.get_update(peer.get_state()))  # nothing new
    assert len(rich) == 6
    assert rich.delta == [{"insert": "remote\n"}]
    assert [name for name, _ in host.calls] == ["refresh"] * 3


def test_writes_use_the_hosts_transaction_when_it_has_one() -> None:
    class OriginHost(RecordingHost):
        def write_transaction(self) -> pycrdt.Transaction:
            assert self.doc is not None
            return self.doc.transaction(origin="local")

    host = OriginHost()
    doc, text, rich = new_text(host)
    host.doc = doc
    seen: list[Any] = []
    text.observe(lambda event: seen.append(event.transaction.origin))
    rich.insert(0, "ab")
    rich.format(0, 1, {"bold": True})
    rich.apply_delta([{"delete": 1}])
    len(rich)
    assert seen == ["local", "local", "local"]


def test_host_hears_where_each_local_edit_ended() -> None:
    host = RecordingHost()
    doc, _, rich = new_text(host)
    host.doc = doc
    rich.insert(0, "hello")
    rich.insert_embed(5, {"image": IMAGE})
    rich.format(0, 2, {"bold": True})
    rich.delete(1, 2)
    rich.apply_delta([{"retain": 2}, {"insert": "XY"}, {"retain": 1}])
    rich.insert_markdown(0, "# T\n")
    edited = [index for name, index in host.calls if name == "edited"]
    assert edited == [5, 6, 2, 1, 4, 2]
    assert [name for name, _ in host.calls].count("refresh") == 6


# --------------------------------------------------------------------------------------------
# sticky indices, HTML, Markdown


def test_sticky_index_converts_to_and_from_pycrdt_offsets() -> None:
    _, _, rich = new_text()
    rich.insert(0, "\U0001f600 café target")
    sticky = rich.sticky_index(len("\U0001f600 café "))
    rich.insert(0, "éé \U0001f600")
    index = rich.index_of(sticky)
    assert str(rich)[index:] == "target"


def test_to_html_and_to_markdown_render_the_quill_view() -> None:
    _, _, rich = new_text()
    rich.insert(0, "Title\n", {"header": 1})
    rich.insert(6, "<script>x</script>", {"bold": True})
    rich.insert(len(rich), " link", {"link": "javascript:alert(1)"})
    assert rich.to_html() == (
        "<h1>Title</h1><p><strong>&lt;script&gt;x&lt;/script&gt;</strong> link</p>"
    )
    assert rich.to_markdown() == "# Title\n\n**\\<script\\>x\\</script\\>** link\n"


CANONICAL_MARKDOWN = """\
# Report

Some **bold**, *italic*, ~~struck~~, `code` and a [link](https://example.com).

- first
- second
  1. nested
- [x] done

> quoted

```python
print("hi")
```

![plot](https://example.com/plot.png)
"""


def test_markdown_round_trips_through_the_document() -> None:
    _, _, rich = new_text()
    rich.insert_markdown(0, CANONICAL_MARKDOWN)
    assert rich.to_markdown() == CANONICAL_MARKDOWN
    assert {"insert": "\n", "attributes": {"list": "ordered", "indent": 1}} in rich.delta
    assert {
        "insert": {"image": "https://example.com/plot.png"},
        "attributes": {"alt": "plot"},
    } in rich.delta


def test_insert_markdown_inside_existing_content() -> None:
    _, _, rich = new_text()
    rich.insert(0, "before\nafter\n")
    rich.insert_markdown(7, "## Middle *part*\n")
    assert rich.delta == [
        {"insert": "before\nMiddle "},
        {"insert": "part", "attributes": {"italic": True}},
        {"insert": "\n", "attributes": {"header": 2}},
        {"insert": "after\n"},
    ]
    with pytest.raises(IndexError):
        rich.insert_markdown(100, "x")
