"""The leaf of a log entry is the same whether computed from the stored state or from its hash,
and covers every field that places the event in the log."""

from __future__ import annotations

import hashlib
import uuid

from nodes.evidence import leaf_from_digest
from storage.chain import GENESIS, chain_hash, entry_leaf

FIELDS = dict(notification_id=7, originator_id=uuid.uuid4().hex, version=3,
              topic="exchange.case:Case.Accepted", state=b'{"actor":{"node":"330000"}}')


def test_a_leaf_from_the_state_hash_equals_the_leaf_from_the_state() -> None:
    digest = hashlib.sha256(FIELDS["state"]).hexdigest()
    without_state = {k: v for k, v in FIELDS.items() if k != "state"}
    assert leaf_from_digest(**without_state, state_sha256=digest) == entry_leaf(**FIELDS)


def test_every_field_of_an_entry_changes_its_leaf() -> None:
    leaf = entry_leaf(**FIELDS)
    for change in ({"notification_id": 8}, {"originator_id": uuid.uuid4().hex}, {"version": 4},
                   {"topic": "exchange.case:Case.Approved"}, {"state": b'{"actor":{"node":"320000"}}'}):
        assert entry_leaf(**{**FIELDS, **change}) != leaf, change


def test_the_chain_hash_depends_on_the_previous_entry() -> None:
    leaf = entry_leaf(**FIELDS)
    assert chain_hash(GENESIS, leaf) != chain_hash(chain_hash(GENESIS, leaf), leaf)
