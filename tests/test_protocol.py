"""The bounded wire decoder: what a hostile peer's bytes can and cannot make it do."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pycrdt import Awareness, Doc, Text, create_sync_message, create_update_message

from jupyter_ysync.errors import MalformedMessage
from jupyter_ysync.protocol import (
    MAX_SAFE_INTEGER,
    AwarenessEntry,
    Decoder,
    MessageType,
    encode_awareness,
    parse_awareness,
    parse_message,
    parse_state_vector,
    write_var_uint,
)
from jupyter_ysync.updates import scan_update


def test_a_long_varint_is_refused_in_bounded_time():
    """pycrdt's decoder spent ~20 s on 384 KiB of continuation bytes; lib0 stops at 53 bits."""
    message = b"\x00\x02" + b"\xff" * 393216
    with pytest.raises(MalformedMessage, match="at offset 2: more than 53 bits"):
        parse_message(message)  # it read 8 bytes of the integer, not the 384 KiB after it


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 300, 2**32, MAX_SAFE_INTEGER], ids=lambda v: f"{v}"
)
def test_varints_up_to_53_bits_round_trip(value):
    assert Decoder(write_var_uint(value)).var_uint() == value


def test_a_varint_past_53_bits_is_refused():
    with pytest.raises(MalformedMessage, match="53 bits"):
        Decoder(write_var_uint(MAX_SAFE_INTEGER + 1)).var_uint()


def test_a_truncated_sync_step1_is_refused_not_shortened():
    """It declares 64 bytes and carries 1: the old decoder returned the short slice."""
    with pytest.raises(MalformedMessage, match="length of 64 bytes"):
        parse_message(b"\x00\x00\x40\x01")


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (b"", "empty"),
        (b"\x00", "no sync message type"),
        (b"\x00\x07\x00", "unknown sync message type 7"),
        (b"\x09", "unknown message type 9"),
        (b"\x01", "truncated"),
        (b"\x01\x05ab", "length of 5 bytes"),
    ],
)
def test_malformed_messages_say_what_was_wrong(message, match):
    with pytest.raises(MalformedMessage, match=match):
        parse_message(message)


def test_real_messages_parse_to_their_payload():
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "hello")
    update = doc.get_update()
    assert parse_message(create_update_message(update)).payload == update
    step1 = parse_message(create_sync_message(doc))
    assert step1.kind == MessageType.SYNC and step1.subtype == 0
    assert parse_state_vector(step1.payload) == {doc.client_id: 5}


def test_a_state_vector_with_more_entries_than_bytes_is_refused():
    with pytest.raises(MalformedMessage, match="state vector entry count"):
        parse_state_vector(b"\x40\x01\x01")


# -- updates -----------------------------------------------------------------------------


def test_an_update_declaring_more_structs_than_bytes_is_refused_before_yrs():
    """Yrs pre-allocated ~0.5 GB for this 8-byte update and blocked the loop ~1 s."""
    message = parse_message(b"\x00\x02\x05\xff\xff\xff\x7f\x00")
    with pytest.raises(MalformedMessage, match="client count 268435455"):
        scan_update(message.payload)


def test_the_scan_reads_a_real_update_whole():
    doc: Doc[Any] = Doc(client_id=7)
    text = doc.get("content", type=Text)
    text.insert(0, "hé 中文 😀 ", {"bold": True})
    text.insert_embed(3, {"image": "x.png"})
    text.format(0, 2, {"italic": True})
    del text[1:3]
    shape = scan_update(doc.get_update())
    assert shape.ends == {7: parse_state_vector(doc.get_state())[7]}
    assert shape.needs == {7: 0}


def test_a_clock_gap_is_seen_as_missing_content():
    a: Doc[Any] = Doc(client_id=1)
    a.get("content", type=Text).insert(0, "hello")
    b: Doc[Any] = Doc(client_id=2)
    b.apply_update(a.get_update())
    text = b.get("content", type=Text)
    text.insert(0, "zz")
    before = b.get_state()
    text.insert(5, "fmt")
    gap = scan_update(b.get_update(before))
    assert gap.missing({1: 5})  # clocks 0-1 of client 2 never arrived
    assert not gap.missing({1: 5, 2: 2})


@pytest.mark.parametrize(
    ("update", "match"),
    [
        (b"\x01\x01\x01\x00\x0b\x01\x01a", "move content"),  # Yrs only: Yjs can't read it
        (b"\x01\x01\x01\x00\x0c\x01\x01a", "unknown content kind 12"),
        (b"\x01\x01\x01\x00\x07\x01\x01a\x09", "unknown shared type 9"),
        (b"\x01\x01\x01\x00\x04\x01\x01a\x02\xff\xfe", "invalid UTF-8"),
    ],
)
def test_updates_no_yjs_peer_could_read_are_refused(update, match):
    with pytest.raises(MalformedMessage, match=match):
        scan_update(update)


def test_deeply_nested_content_is_refused():
    nested = b"\x75\x01" * 100 + b"\x7e"  # arrays in arrays, 100 deep, then null
    update = b"\x01\x01\x01\x00\x08\x01\x01a\x01" + nested + b"\x00"
    with pytest.raises(MalformedMessage, match="nested deeper"):
        scan_update(update)


# -- awareness ---------------------------------------------------------------------------


def _awareness(*entries: tuple[int, int, bytes]) -> bytes:
    parts = [write_var_uint(len(entries))]
    for client, clock, state in entries:
        parts += [write_var_uint(client), write_var_uint(clock), write_var_uint(len(state)), state]
    return b"".join(parts)


@pytest.mark.parametrize(
    ("update", "match"),
    [
        (_awareness((1, 1, b'{"x": NaN}')), "not JSON"),
        (_awareness((1, 1, b"Infinity")), "not JSON"),
        (_awareness((1, 1, b"{")), "not JSON"),
        (write_var_uint(1) + write_var_uint(2**60), "53 bits"),
        (_awareness((1, 1, b"{}"))[:-1], "length of 2 bytes"),
        (b"\x05\x01\x01", "awareness entry count"),
    ],
)
def test_awareness_a_yjs_peer_would_throw_on_is_refused(update, match):
    with pytest.raises(MalformedMessage, match=match):
        parse_awareness(update)


def test_an_empty_awareness_state_is_relayed_as_null():
    entries = parse_awareness(_awareness((4, 2, b"")))
    assert entries == [AwarenessEntry(4, 2, "null")]


def test_awareness_re_encodes_to_what_pycrdt_reads():
    source: Awareness = Awareness(Doc(client_id=9))
    source.set_local_state({"user": {"name": "Ada", "color": "#f00"}})
    update = source.encode_awareness_update([9])
    reencoded = encode_awareness(parse_awareness(update))
    assert reencoded == update
    target: Awareness = Awareness(Doc())
    target.apply_awareness_update(reencoded, "remote")
    assert target.states[9] == json.loads(json.dumps(source.get_local_state()))
