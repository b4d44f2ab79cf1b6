"""Inputs found by fuzzing that broke a room, kept as regression cases."""

from __future__ import annotations

PARENT_IS_NOT_A_TYPE = bytes.fromhex(
    "0102c6b5c39c0e002701046d657461027430020400c6b5c39d0e02066e65737c656400"
)
"""An update whose parent is item 2 of client :data:`PARENT_OWNER`. When that item is a
string, not a type, Yrs raises RuntimeError ("block parent ... must be deleted or shared ref
type") while integrating it."""

PARENT_OWNER = 3820018374
"""The client id whose item 2 :data:`PARENT_IS_NOT_A_TYPE` names as its parent."""

PANICKING = bytes.fromhex("0101b7d1a5920affffff4d7401780000040107636f6e746574017800")
"""An update on which Yrs panics (``Option::unwrap()`` on ``None`` in ``BlockSet::exclude``)
when its client already has a few items in the replica."""
