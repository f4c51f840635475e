"""The Merkle tree, its inclusion and consistency proofs, checked against a naive definition."""

from __future__ import annotations

import hashlib

import pytest

from exchange.merkle import (
    EMPTY_ROOT, MerkleAccumulator, MerkleTree, leaf_hash, node_hash, root_of, verify_consistency,
    verify_inclusion,
)


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 written as literally as possible."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(40)]


def test_the_tree_head_matches_the_rfc_definition_for_every_size() -> None:
    for n in range(0, 41):
        assert MerkleTree(LEAVES[:n]).root() == naive_root(LEAVES[:n])
        assert root_of(LEAVES[:n]) == naive_root(LEAVES[:n])
        assert MerkleTree(LEAVES).root(n) == naive_root(LEAVES[:n])


def test_the_streaming_accumulator_gives_the_head_at_every_size() -> None:
    acc = MerkleAccumulator()
    assert acc.root() == EMPTY_ROOT
    for n, leaf in enumerate(LEAVES, start=1):
        acc.append(leaf)
        assert acc.size == n and acc.root() == naive_root(LEAVES[:n])


def test_every_leaf_has_a_valid_inclusion_proof_in_every_tree_that_holds_it() -> None:
    tree = MerkleTree(LEAVES)
    for size in range(1, 41):
        root = tree.root(size)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert verify_inclusion(leaf=LEAVES[index], index=index, size=size, proof=proof, root=root)


def test_an_inclusion_proof_fails_for_another_leaf_index_or_root() -> None:
    tree = MerkleTree(LEAVES)
    proof = tree.inclusion_proof(5, 21)
    root = tree.root(21)
    assert not verify_inclusion(leaf=LEAVES[6], index=5, size=21, proof=proof, root=root)
    assert not verify_inclusion(leaf=LEAVES[5], index=4, size=21, proof=proof, root=root)
    assert not verify_inclusion(leaf=LEAVES[5], index=5, size=21, proof=proof, root=tree.root(22))
    assert not verify_inclusion(leaf=LEAVES[5], index=5, size=21, proof=proof[:-1], root=root)
    assert not verify_inclusion(leaf=LEAVES[5], index=21, size=21, proof=proof, root=root)


def test_every_prefix_is_provably_consistent_with_every_longer_log() -> None:
    tree = MerkleTree(LEAVES)
    for new in range(0, 41):
        for old in range(0, new + 1):
            proof = tree.consistency_proof(old, new)
            assert verify_consistency(old_size=old, new_size=new, old_root=tree.root(old),
                                      new_root=tree.root(new), proof=proof), (old, new)


def test_a_rewritten_history_cannot_be_proved_consistent() -> None:
    forked = list(LEAVES)
    forked[3] = leaf_hash(b"rewritten")
    honest, fork = MerkleTree(LEAVES), MerkleTree(forked)
    for old, new in ((4, 8), (5, 13), (7, 40), (16, 33)):
        # The fork's proof cannot connect the honest old head to its new head...
        assert not verify_consistency(old_size=old, new_size=new, old_root=honest.root(old),
                                      new_root=fork.root(new), proof=fork.consistency_proof(old, new))
        # ...nor can the honest proof connect to the fork's new head.
        assert not verify_consistency(old_size=old, new_size=new, old_root=honest.root(old),
                                      new_root=fork.root(new), proof=honest.consistency_proof(old, new))


def test_a_shrunk_log_is_not_consistent_with_its_own_past() -> None:
    tree = MerkleTree(LEAVES)
    assert not verify_consistency(old_size=10, new_size=9, old_root=tree.root(10),
                                  new_root=tree.root(9), proof=[])
    with pytest.raises(ValueError):
        tree.consistency_proof(10, 9)
