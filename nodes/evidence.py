"""An evidence bundle for one case: every node's recorded events with inclusion proofs under a
witnessed checkpoint of that node's log, the sealed PDF and its verification report. An auditor
verifies it offline with public material only (federation root, province CAs, CRLs).

Events that carry personal data travel as the SHA-256 of their stored state (which is all the
leaf hash needs) plus a masked copy of their fields; the others travel byte for byte. Events the
node keeps encrypted (storage.personal) are decoded with the node's mapper for their masked copy;
the events a bundle's checks rest on (hand-offs, the issued result) are stored in clear."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from uuid import UUID

from eventsourcing.persistence import StoredEvent

from exchange.case import case_id
from exchange.errors import NotFound
from exchange.merkle import MerkleTree, leaf_hash, verify_inclusion
from signing.checkpoint import SignedCheckpoint, TrustAnchors, verify_signed_checkpoint
from signing.errors import SigningError
from signing.trust import TrustMaterial
from storage.chain import RECORD_TAG
from storage.eventcipher import is_encrypted
from storage.logcheck import recorded_checkpoints

FORMAT = "tongban-evidence-v1"


def leaf_from_digest(*, notification_id: int, originator_id: str, version: int, topic: str, state_sha256: str) -> bytes:
    """The leaf of a log entry from the SHA-256 of its stored state (storage.chain.entry_record)."""
    return leaf_hash("\n".join((RECORD_TAG, str(notification_id), originator_id, str(version), topic,
                                state_sha256)).encode("utf-8"))


# Event fields that name or locate a person (exchange.audit.mask_fields masks each): such an
# event leaves the node masked, also from a node that keeps its events unencrypted.
_PERSONAL = ("applicant", "agent", "address", "materials")


def _masked(state: dict[str, Any]) -> dict[str, Any]:
    from exchange.audit import mask_fields

    return mask_fields(state)


def _stored_fields(row: Any, mapper: Any) -> dict[str, Any]:
    if not is_encrypted(row.state):
        return dict(json.loads(row.state))
    if mapper is None:
        raise NotFound(f"event {row.notification_id} is encrypted and no mapper was given to read it")
    from exchange.audit import masked_detail

    event = mapper.to_domain_event(StoredEvent(originator_id=UUID(row.originator_id), originator_version=row.version,
                                               topic=row.topic, state=row.state))
    return {**json.loads(json.dumps(masked_detail(event), default=str)), "encrypted": True}


def case_side(keeper: Any, case_number: str, *, mapper: Any = None) -> dict[str, Any]:
    """This node's side of a case with inclusion proofs under a witnessed checkpoint (`mapper`:
    the ledger's, to read the events the node keeps encrypted)."""
    with keeper.open() as store:
        rows = store.events_of(case_id(case_number).hex)
        if not rows:
            raise NotFound(f"no case {case_number} at this node")
        last = max(pos or 0 for _, pos in rows)
        covering = [c for c in recorded_checkpoints(store, log=keeper.province)
                    if c.checkpoint.size >= last and c.cosignatures]
    signed = covering[-1] if covering else keeper.make_checkpoint()[0]
    with keeper.open() as store:
        tree = MerkleTree(store.leaf_hashes(signed.checkpoint.size))
    entries = []
    for row, position in rows:
        if position is None or position > signed.checkpoint.size:
            raise NotFound(f"event {row.notification_id} of case {case_number} is not in a checkpoint")
        state = _stored_fields(row, mapper)
        entry: dict[str, Any] = {
            "notification_id": row.notification_id, "originator_id": row.originator_id, "version": row.version,
            "topic": row.topic, "state_sha256": hashlib.sha256(row.state).hexdigest(),
            "leaf_index": position - 1, "path": [h.hex() for h in tree.inclusion_proof(position - 1)],
        }
        if state.get("encrypted") or any(name in state for name in _PERSONAL):
            entry["masked_state"] = _masked(state)
        else:
            entry["state"] = base64.b64encode(row.state).decode("ascii")
        entries.append(entry)
    return {"node": keeper.province, "checkpoint": json.loads(signed.to_json()), "entries": entries}


def assemble_bundle(*, case_number: str, sides: list[dict[str, Any]], pdf: bytes | None,
                    report: dict[str, Any] | None, assembled_by: str, assembled_at: str) -> dict[str, Any]:
    return {
        "format": FORMAT, "case_number": case_number, "assembled_by": assembled_by, "assembled_at": assembled_at,
        "sides": sides,
        "pdf": base64.b64encode(pdf).decode("ascii") if pdf is not None else None,
        "verification_report": report,
    }


@dataclass(frozen=True)
class BundleReport:
    verdict: str
    reason: str = ""
    findings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.verdict == "TOTAL_PASSED"

    def render(self) -> str:
        lines = [f"verdict: {self.verdict}" + (f" ({self.reason})" if self.reason else "")]
        lines += [f"  {f}" for f in self.findings]
        return "\n".join(lines)


class _Failed(Exception):
    pass


def _event_name(topic: str) -> str:
    return topic.rsplit(".", 1)[-1]


def verify_bundle(bundle: dict[str, Any], *, anchors: TrustAnchors, trust: TrustMaterial) -> BundleReport:
    """Check every event's inclusion under a co-signed checkpoint, the hand-offs between the
    nodes, and the sealed PDF; fail closed on anything missing or inconsistent."""
    findings: list[str] = []
    try:
        if bundle.get("format") != FORMAT:
            raise _Failed(f"not a {FORMAT} bundle")
        number = bundle["case_number"]
        oid = case_id(number).hex
        events: dict[str, dict[str, dict[str, Any]]] = {}
        for side in bundle["sides"]:
            node = side["node"]
            signed = SignedCheckpoint.from_dict(side["checkpoint"])
            if signed.checkpoint.log != node:
                raise _Failed(f"the checkpoint of side {node} is of the log of {signed.checkpoint.log}")
            try:
                witnesses = verify_signed_checkpoint(signed, anchors=anchors)
            except SigningError as exc:
                raise _Failed(f"checkpoint of {node}: {exc}") from None
            if not witnesses:
                raise _Failed(f"the checkpoint of {node} is not co-signed by any partner")
            root = bytes.fromhex(signed.checkpoint.root)
            versions = []
            for e in side["entries"]:
                if e["originator_id"] != oid:
                    raise _Failed(f"{node} entry {e['notification_id']} belongs to another case")
                state = base64.b64decode(e["state"]) if "state" in e else None
                digest = hashlib.sha256(state).hexdigest() if state is not None else e["state_sha256"]
                leaf = leaf_from_digest(notification_id=e["notification_id"], originator_id=e["originator_id"],
                                        version=e["version"], topic=e["topic"], state_sha256=digest)
                if not verify_inclusion(leaf=leaf, index=e["leaf_index"], size=signed.checkpoint.size,
                                        proof=[bytes.fromhex(h) for h in e["path"]], root=root):
                    raise _Failed(f"{node} event v{e['version']} {_event_name(e['topic'])} is not in "
                                  f"the checkpointed log of {node}")
                versions.append(e["version"])
                fields = json.loads(state) if state is not None else e.get("masked_state", {})
                events.setdefault(node, {})[_event_name(e["topic"])] = fields
            if versions != list(range(1, len(versions) + 1)):
                raise _Failed(f"the side of {node} misses events (versions {versions})")
            findings.append(f"{node}: {len(versions)} events included in its log of {signed.checkpoint.size} "
                            f"entries, checkpoint of {signed.checkpoint.signed_at} co-signed by {', '.join(witnesses)}")
        origin, competent = _parties(events)
        missing = sorted({origin, competent} - set(events))
        if missing:
            # Without a party's own log, what it recorded of the hand-offs cannot be compared.
            return BundleReport("INDETERMINATE", f"the bundle has no side from {', '.join(missing)}, a party to the "
                                "case; fetch the bundle again when every party answers", tuple(findings))
        _check_handoffs(events, findings, origin=origin, competent=competent)
        pdf_b64 = bundle.get("pdf")
        if pdf_b64:
            pdf = base64.b64decode(pdf_b64)
            issued = [e["ResultIssued"]["sha256"] for e in events.values() if "ResultIssued" in e]
            if not issued:
                raise _Failed("the bundle holds a PDF but no node's log records issuing a result")
            digest = hashlib.sha256(pdf).hexdigest()
            if digest != issued[0]:
                raise _Failed(f"the PDF (sha256 {digest[:16]}…) is not the result recorded as issued")
            from signing.verify import verify_sealed_pdf

            competent = next(n for n, e in events.items() if "ResultIssued" in e)
            report = verify_sealed_pdf(pdf, trust=trust, competent_province=competent, competent_department=None,
                                       issued_sha256=issued[0])
            if not report.passed:
                return BundleReport(str(report.verdict), f"seal: {report.reason}", tuple(findings))
            findings.append(f"sealed PDF sha256 {digest[:16]}… is the issued result; seal {report.verdict}")
    except _Failed as exc:
        return BundleReport("TOTAL_FAILED", str(exc), tuple(findings))
    except (KeyError, TypeError, ValueError) as exc:
        return BundleReport("TOTAL_FAILED", f"malformed bundle ({exc!r})", tuple(findings))
    return BundleReport("TOTAL_PASSED", "", tuple(findings))


def _parties(events: dict[str, dict[str, dict[str, Any]]]) -> tuple[str, str]:
    """The provinces that took the case in and decide it, as the events name them."""
    named = {(f["origin_province"], f["competent_province"]) for mine in events.values() for f in mine.values()
             if f.get("origin_province") and f.get("competent_province")}
    if len(named) != 1:
        raise _Failed(f"the events name {len(named)} pairs of origin and competent provinces; a case has one")
    return named.pop()


def _check_handoffs(events: dict[str, dict[str, dict[str, Any]]], findings: list[str], *,
                    origin: str, competent: str) -> None:
    """Both sides of each hand-off must tell the same story, read from either side: a side
    that leaves out its half of a hand-off the other side recorded does not pass."""
    if origin != competent:
        if "Received" in events[competent] and "Forwarded" not in events[origin]:
            raise _Failed(f"{competent} recorded receiving the case, whose forwarding {origin}'s log does not record")
        if "ResultReceived" in events[origin] and "ResultDelivered" not in events[competent]:
            raise _Failed(f"{origin} recorded receiving the result, whose delivery {competent}'s log does not record")
    for node, mine in events.items():
        if "Forwarded" in mine:
            to = mine["Forwarded"]["to_province"]
            if to in events and "Received" not in events[to]:
                raise _Failed(f"{node} recorded forwarding to {to}, whose log records no receipt")
        if "ResultDelivered" in mine:
            to = mine["ResultDelivered"]["to_province"]
            if to in events:
                received = events[to].get("ResultReceived")
                if received is None:
                    raise _Failed(f"{node} recorded delivering the result to {to}, whose log records no receipt")
                if received["sha256"] != mine.get("ResultIssued", {}).get("sha256"):
                    raise _Failed(f"{to} recorded receiving another result than {node} issued")
                findings.append(f"hand-off {node} → {to}: the result received is the result issued")
    if len(events) > 1:
        findings.append("hand-offs between the nodes agree")
