"""What a node checks in a case another node hands it, before it records anything: the sending
node is a party (exchange.parties), but what it sends is still input from outside. A forwarded
case must be one its window could have taken in: a proxy matter, a real applicant, every
required material present and ticked by the clerk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exchange.catalog import Catalog
from exchange.errors import InvalidRequest
from exchange.people import check_resident_id


def check_handed_case(envelope: Mapping[str, Any], *, catalog: Catalog, mode: str) -> None:
    if envelope.get("mode") != mode:
        raise InvalidRequest("mode", f"a case handed over this way is a {mode} case, not {envelope.get('mode')!r}")
    matter = catalog.get(str(envelope.get("matter_code", "")))
    matter.require_mode(mode)
    applicant = envelope.get("applicant") or {}
    if not str(applicant.get("name", "")).strip():
        raise InvalidRequest("applicant.name", "this field is required")
    check_resident_id(str(applicant.get("id_number", "")), field="applicant.id_number")
    if mode != "proxy":
        return  # a joint case's partner acts on the accepting node's review, without the files
    present = {m["kind"] for m in envelope.get("materials", [])}
    missing = sorted(matter.required_kinds() - present)
    if missing:
        raise InvalidRequest("materials", f"the forwarded case lacks required materials: {', '.join(missing)}")
    checklist = envelope.get("checklist") or {}
    unticked = sorted(k for k in matter.required_kinds() if not checklist.get(k))
    if unticked:
        raise InvalidRequest("checklist", f"the origin's clerk has not confirmed: {', '.join(unticked)}")


def check_identity_notice(detail: Mapping[str, Any]) -> None:
    """身份核验 passed on by the origin: one of the methods a window uses, and passed."""
    from exchange.window import IDENTITY_METHODS

    identity = detail.get("identity") or {}
    if identity.get("method") not in IDENTITY_METHODS:
        raise InvalidRequest("identity.method", f"one of {', '.join(IDENTITY_METHODS)}")
    if not identity.get("verified"):
        raise InvalidRequest("identity.verified", "only a passed identity check is passed on")
    agent = detail.get("agent")
    if agent:
        check_resident_id(str(agent.get("id_number", "")), field="agent.id_number")
