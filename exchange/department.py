"""The competent department's side: receive a forwarded case, accept it, approve it,
issue the sealed result and send it back to the window that took the application in."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from exchange.case import Actor, Case
from exchange.context import CHINA_TIME, NodeContext
from exchange.errors import InvalidRequest, MaterialIntegrityError, MaterialNotFound, NotAuthorised
from exchange.materials import (
    TransferOffsetMismatch,
    check_content_type,
    check_declared_size,
    check_file_name,
    check_media_type,
)
from exchange.people import mask_id
from exchange.ports import CertificateRequest


class DepartmentDesk:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    # -- incoming from peers --------------------------------------------------------------

    def pushed_material_offset(self, *, from_province: str, case_number: str, sha256: str) -> tuple[int, bool]:
        """How far a pushed material has durably arrived, and whether it is already stored."""
        _check_party(from_province, case_number)
        stored = self.ctx.store.stat(sha256)
        if stored is not None:
            return stored.size, True
        return self.ctx.uploads.confirmed_offset(case_number=case_number, sha256=sha256), False

    def take_pushed_material(
        self,
        chunks: Iterable[tuple[int, bytes]],
        *,
        from_province: str,
        case_number: str,
        sha256: str,
        media_type: str,
        kind: str,
        file_name: str,
        size: int,
        offset: int,
    ) -> str:
        """Take (part of) a material streamed by the origin node, resuming the partial upload
        kept for (case, sha256) at `offset`. Chunks are (offset, bytes) and must follow on.
        Name, type, declared size and the first bytes are checked before anything is kept.
        Once all `size` bytes are in, the SHA-256 of the whole material (hashed on arrival, or
        re-read once after a resume) must be `sha256`; only then does it enter the object store.
        Bad content is refused, the refusal recorded and the partial upload dropped, so nothing
        of it stays; a stream that merely broke keeps its confirmed segments for the resume."""
        ctx = self.ctx
        _check_party(from_province, case_number)
        if not kind:
            raise InvalidRequest("kind", "say which material this is (e.g. id_card)")
        check_file_name(file_name)
        check_media_type(media_type)
        check_declared_size(size, max_bytes=ctx.max_material_bytes)
        if ctx.store.stat(sha256) is not None:
            return sha256  # already here (sent before, or the same bytes for another case)
        upload = ctx.uploads.open(
            case_number=case_number, sha256=sha256,
            declared={"size": size, "media_type": media_type, "kind": kind, "file_name": file_name,
                      "from_province": from_province},
        )

        def refuse(exc: Exception) -> None:
            upload.discard()
            ctx.uploads.record_refusal(case_number=case_number, sha256=sha256, from_province=from_province, reason=str(exc))

        try:
            if offset != upload.confirmed:
                raise TransferOffsetMismatch(
                    f"this node holds {upload.confirmed} bytes of material {sha256[:12]}… of case {case_number}, "
                    f"but the stream starts at {offset}; ask GetTransferOffset and resume from there"
                )
            for at, data in chunks:
                if at != upload.received:
                    raise InvalidRequest(
                        "data.offset", f"a chunk for offset {at} arrived where offset {upload.received} was due; "
                        "send chunks in order, or ask GetTransferOffset and resume"
                    )
                try:
                    if upload.received + len(data) > size:
                        raise InvalidRequest("data", f"the stream carries more than the declared {size} bytes")
                    if upload.received == 0:
                        check_content_type(data, media_type=media_type)
                except InvalidRequest as exc:
                    refuse(exc)
                    raise
                upload.append(data)
            if upload.received < size:
                raise InvalidRequest(
                    "data", f"the stream ended after {upload.received} of {size} bytes; "
                    f"resume from offset {upload.confirmed}"
                )
            received = upload.sha256()
            if received != sha256:
                exc = MaterialIntegrityError(
                    f"received {size} bytes hashing to {received}, but the sender declared {sha256}; "
                    "nothing was stored — ask the sender to resend"
                )
                refuse(exc)
                raise exc
            upload.commit(sha256=sha256, metadata={"case": case_number, "kind": kind, "file_name": file_name})
            upload.discard()
        finally:
            upload.close()
        return sha256

    def receive(self, envelope: Mapping[str, Any], *, from_province: str, actor: Actor) -> Case:
        ctx = self.ctx
        if envelope.get("origin_province") != from_province:
            raise NotAuthorised(f"{from_province} may only forward cases it took in itself")
        if envelope.get("competent_province") != ctx.province_code:
            raise InvalidRequest("competent_province", f"this node decides for {ctx.province_code} only")
        case_number = str(envelope["case_number"])
        matter = ctx.catalog.get(str(envelope["matter_code"]))
        if envelope.get("competent_department") != matter.lead_department:
            raise InvalidRequest("competent_department", f"{matter.name} is decided by {matter.lead_department}")
        with ctx.case_lock(case_number):
            if ctx.ledger.has_case(case_number):
                return ctx.ledger.get_case(case_number)  # a repeated forward changes nothing
            for m in envelope["materials"]:
                if ctx.store.stat(m["sha256"]) is None:
                    raise MaterialNotFound(
                        f"material {m['file_name']} ({m['sha256'][:12]}…) has not arrived; push it before forwarding"
                    )
            case = Case.receive(**{k: envelope[k] for k in _ENVELOPE_FIELDS}, actor=actor)
            ctx.save(case)
        return case

    def issued_sha256(self, case_number: str, *, asking_province: str) -> str | None:
        case = self.ctx.ledger.get_case(case_number)
        if asking_province not in {case.origin_province, case.competent_province}:
            raise NotAuthorised(f"{asking_province} is not a party to case {case_number}")
        return case.result["sha256"] if case.result else None

    # -- 受理, 核准, 签章, 回传 ---------------------------------------------------------------

    def accept(self, case_number: str, *, actor: Actor) -> Case:
        with self.ctx.case_lock(case_number):
            case = self._own_case(case_number)
            case.accept(actor=self._as_department(case, actor))
            self.ctx.save(case)
        return case

    def approve(self, case_number: str, *, actor: Actor) -> Case:
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = self._own_case(case_number)
            actor = self._as_department(case, actor)
            case.approve(actor=actor)
            ctx.save(case)
            self._issue(case, actor)
            self._deliver(case, actor)
        return case

    def _issue(self, case: Case, actor: Actor) -> None:
        ctx = self.ctx
        assert ctx.issuer is not None, "this node was started without a department sealer"
        matter = ctx.catalog.get(case.matter_code)
        code = secrets.token_hex(6).upper()
        pdf = ctx.issuer.issue(
            CertificateRequest(
                case_number=case.case_number,
                matter_code=matter.code,
                matter_name=matter.name,
                applicant_name=case.applicant["name"],
                applicant_id_masked=mask_id(case.applicant["id_number"]),
                province_code=case.competent_province,
                department_key=case.competent_department,
                department_name=ctx.department_name(case.competent_province, case.competent_department),
                issued_on=ctx.now().astimezone(CHINA_TIME).date(),
                verification_code=f"{code[:4]}-{code[4:8]}-{code[8:]}",
            )
        )
        stored = ctx.store.put_bytes(
            pdf, media_type="application/pdf", metadata={"case": case.case_number, "kind": "result"}
        )
        case.issue_result(sha256=stored.sha256, object_key=stored.key, verification_code=code, actor=actor)
        ctx.save(case)

    def _deliver(self, case: Case, actor: Actor) -> None:
        ctx = self.ctx
        assert case.result is not None
        pdf = ctx.store.read_bytes(case.result["sha256"])
        ctx.peers.deliver_result(
            case.origin_province, case_number=case.case_number, pdf=pdf, issued_sha256=case.result["sha256"]
        )
        case.deliver_result(to_province=case.origin_province, actor=actor)
        ctx.save(case)

    def _own_case(self, case_number: str) -> Case:
        case = self.ctx.ledger.get_case(case_number)
        if case.competent_province != self.ctx.province_code:
            raise NotAuthorised(f"case {case_number} is decided in {case.competent_province}, not here")
        return case

    def _as_department(self, case: Case, actor: Actor) -> Actor:
        return {**actor, "department": case.competent_department}


def _check_party(from_province: str, case_number: str) -> None:
    """Materials travel before their case does: the case number names the origin province."""
    if not case_number.startswith(from_province + "-"):
        raise NotAuthorised(f"{from_province} did not open case {case_number} and may not send its materials")


_ENVELOPE_FIELDS = (
    "case_number", "matter_code", "mode", "origin_province", "competent_province",
    "competent_department", "applicant", "materials", "checklist",
)
