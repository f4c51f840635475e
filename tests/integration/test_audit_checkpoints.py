"""Signed checkpoints: the node key signs, partners co-sign, and nothing else verifies."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nodes.witness import trust_anchors
from signing.checkpoint import (
    Checkpoint, SignedCheckpoint, cosign, sign_checkpoint, verify_signed_checkpoint,
)
from signing.errors import SigningError
from signing.pki import Federation

CHECKPOINT = Checkpoint(log="340000", size=12, root="ab" * 32, chain_head="cd" * 32,
                        signed_at="2025-11-23T02:00:00+00:00")


def signed_by(federation: Federation, province: str, checkpoint: Checkpoint = CHECKPOINT) -> SignedCheckpoint:
    cert, key = federation.node_tls(province)
    return sign_checkpoint(dataclasses.replace(checkpoint, log=province), cert_pem=cert, key_pem=key)


def test_a_checkpoint_signed_and_cosigned_by_node_keys_verifies(federation: Federation) -> None:
    signed = signed_by(federation, "340000")
    cert, key = federation.node_tls("330000")
    co = cosign(signed.checkpoint, witness="330000", signed_at="2025-11-23T02:00:01+00:00", cert_pem=cert, key_pem=key)
    both = SignedCheckpoint.from_json(signed.with_cosignature(co).to_json())
    assert verify_signed_checkpoint(both, anchors=trust_anchors(federation)) == ["330000"]


def test_a_checkpoint_whose_numbers_were_changed_does_not_verify(federation: Federation) -> None:
    signed = signed_by(federation, "340000")
    for change in ({"size": 11}, {"root": "00" * 32}, {"chain_head": "00" * 32}, {"signed_at": "2026-01-01T00:00:00+00:00"}):
        forged = SignedCheckpoint(dataclasses.replace(signed.checkpoint, **change), signed.signature)
        with pytest.raises(SigningError, match="does not match"):
            verify_signed_checkpoint(forged, anchors=trust_anchors(federation))


def test_another_provinces_key_cannot_sign_or_witness_for_it(federation: Federation) -> None:
    signed = signed_by(federation, "340000")
    cert, key = federation.node_tls("320000")
    impostor = sign_checkpoint(signed.checkpoint, cert_pem=cert, key_pem=key)  # 320000 signs 340000's log
    with pytest.raises(SigningError, match="not the node certificate of 340000"):
        verify_signed_checkpoint(impostor, anchors=trust_anchors(federation))
    co = cosign(signed.checkpoint, witness="320000", signed_at="x", cert_pem=cert, key_pem=key)
    claimed = dataclasses.replace(co, signer="330000")  # a co-signature passed off as another partner's
    with pytest.raises(SigningError):
        verify_signed_checkpoint(signed.with_cosignature(claimed), anchors=trust_anchors(federation))
    own = cosign(signed.checkpoint, witness="340000", signed_at="x", cert_pem=federation.node_tls("340000")[0],
                 key_pem=federation.node_tls("340000")[1])
    with pytest.raises(SigningError, match="own log"):
        verify_signed_checkpoint(signed.with_cosignature(own), anchors=trust_anchors(federation))


def test_a_checkpoint_signed_outside_the_federation_does_not_verify(
    federation: Federation, foreign_federation: Federation,
) -> None:
    forged = signed_by(foreign_federation, "340000")
    with pytest.raises(SigningError, match="does not chain to the federation root"):
        verify_signed_checkpoint(forged, anchors=trust_anchors(federation))


def test_an_operator_certificate_cannot_sign_a_checkpoint(federation: Federation) -> None:
    cert, key = federation.operator_tls("340000", "clerk-hefei-001")
    signed = sign_checkpoint(CHECKPOINT, cert_pem=cert, key_pem=key)
    with pytest.raises(SigningError, match="window certificate"):
        verify_signed_checkpoint(signed, anchors=trust_anchors(federation))
    assert json.loads(signed.to_json())["checkpoint"]["size"] == 12


def test_what_a_revoked_node_key_signs_after_its_revocation_does_not_count(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timedelta, timezone

    from nodes.demo import make_federation

    federation = make_federation(tmp_path / "pki")  # its own: a revocation must not reach other tests
    cert, key = federation.node_tls("330000")
    federation.revoke("330000", cert_pem=cert)  # the key was stolen
    now = datetime.now(timezone.utc)
    before = dataclasses.replace(CHECKPOINT, log="330000", signed_at=(now - timedelta(days=1)).isoformat())
    after = dataclasses.replace(CHECKPOINT, log="330000", signed_at=(now + timedelta(minutes=1)).isoformat())
    anchors = trust_anchors(federation)
    assert verify_signed_checkpoint(sign_checkpoint(before, cert_pem=cert, key_pem=key), anchors=anchors) == []
    with pytest.raises(SigningError, match="the node certificate of 330000 was revoked on"):
        verify_signed_checkpoint(sign_checkpoint(after, cert_pem=cert, key_pem=key), anchors=anchors)
    witness_cert, witness_key = federation.node_tls("340000")  # a co-signature by the stolen key is refused too
    signed = sign_checkpoint(dataclasses.replace(after, log="340000"), cert_pem=witness_cert, key_pem=witness_key)
    stolen = cosign(signed.checkpoint, witness="330000", signed_at=after.signed_at, cert_pem=cert, key_pem=key)
    with pytest.raises(SigningError, match="revoked"):
        verify_signed_checkpoint(signed.with_cosignature(stolen), anchors=anchors)
