"""The competent department's side: receive a forwarded case, accept it, approve it,
issue the sealed result and send it back to the window that took the application in."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from exchange import parties, validation
from exchange.case import Actor, Case, CaseStatus
from exchange.context import NodeContext
from exchange.errors import (
    IllegalTransition, InvalidRequest, MaterialIntegrityError, MaterialNotFound, NotAuthorised, NotFound,
    TongbanError,
)
from exchange.materials import (
    CARRIED_EACH,
    CARRIED_IN_ALL,
    TransferBusy,
    TransferOffsetMismatch,
    check_content_complete, check_content_type,
    check_declared_size,
    check_file_name,
    check_media_type,
    retain_for_matter,
)
from exchange.outbox import (
    ASSIGN_TASK, DELIVER_RESULT, NOTIFY_PROGRESS, REPORT_TASK, OutboxMessage, forward_message_id, new_message,
)
from exchange.people import mask_id
from exchange.ports import CertificateRequest
from exchange.workdays import CHINA_TIME


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
        # Senders ask here before they stream: one the case would refuse is told before a byte is sent.
        self._check_material_wanted(case_number, from_province=from_province)
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
        kept for (case, sha256) at `offset`. Chunks are (offset, bytes) and must follow on. A
        stream may start before the offset held (what it repeats is skipped), never after it.
        Name, type, declared size and the first bytes are checked before anything is kept.
        Once all `size` bytes are in, the SHA-256 of the whole material (hashed on arrival, or
        re-read once after a resume) must be `sha256`; only then does it enter the object store.
        Bad content is refused, the refusal recorded and the partial upload dropped, so nothing
        of it stays; a stream that merely broke keeps its confirmed segments for the resume."""
        ctx = self.ctx
        _check_party(from_province, case_number)
        self._check_header(kind=kind, file_name=file_name, media_type=media_type, size=size)
        if ctx.store.stat(sha256) is not None:
            return sha256  # already here (sent before, or the same bytes for another case)
        whole, chunks = _whole_in_one_message(chunks, size=size) if offset == 0 else (None, chunks)
        if whole is not None:
            if not ctx.uploads.holds(case_number=case_number, sha256=sha256):
                return self._take_whole_material(
                    whole, from_province=from_province, case_number=case_number, sha256=sha256,
                    media_type=media_type, kind=kind, file_name=file_name,
                )
            chunks = iter([(0, whole)])  # a part is kept from an earlier stream: finish it
        upload = ctx.uploads.open(
            case_number=case_number, sha256=sha256,
            declared={"size": size, "media_type": media_type, "kind": kind, "file_name": file_name,
                      "from_province": from_province},
        )

        def refuse(exc: Exception) -> None:
            upload.discard()
            self._record_refusal(exc, case_number=case_number, sha256=sha256, from_province=from_province)

        try:
            if offset > upload.confirmed:
                raise TransferOffsetMismatch(
                    f"this node holds {upload.confirmed} bytes of material {sha256[:12]}… of case {case_number}, "
                    f"but the stream starts at {offset}; ask GetTransferOffset and resume from there"
                )
            # A stream may start before what this node holds: a stream that broke went on
            # writing what it had taken in after the sender last asked. Those bytes are skipped.
            due = offset
            for at, data in chunks:
                if at != due:
                    raise InvalidRequest(
                        "data.offset", f"a chunk for offset {at} arrived where offset {due} was due; "
                        "send chunks in order, or ask GetTransferOffset and resume"
                    )
                due += len(data)
                if due <= upload.received:
                    continue
                if at < upload.received:
                    data = data[upload.received - at:]
                try:
                    if upload.received + len(data) > size:
                        raise InvalidRequest("data", f"the stream carries more than the declared {size} bytes")
                    check_content_type(data, media_type=media_type, at=upload.received)
                except InvalidRequest as exc:
                    refuse(exc)
                    raise
                upload.append(data)
            if upload.received < size:
                raise InvalidRequest(
                    "data", f"the stream ended after {upload.received} of {size} bytes; "
                    f"resume from offset {upload.confirmed}"
                )
            try:
                check_content_complete(size, media_type=media_type)
            except InvalidRequest as exc:
                refuse(exc)
                raise
            try:
                received = upload.sha256()
            except MaterialIntegrityError as exc:
                # This node's own copy of what it took in earlier no longer reads back (a disk
                # fault): not the sender's doing, so not refused. Dropped, the material is sent
                # again from the start.
                upload.discard()
                raise TransferBusy(f"the part of material {sha256[:12]}… kept here did not read back intact ({exc}); "
                                   "it was dropped: send the material again from the start") from None
            if received != sha256:
                exc = MaterialIntegrityError(
                    f"received {size} bytes hashing to {received}, but the sender declared {sha256}; "
                    "nothing was stored — ask the sender to resend"
                )
                refuse(exc)
                raise exc
            # Checked as the material enters the store, under the case's lock: the officer may have
            # decided the case (退回, 驳回) while it streamed in, and a store keeps what it takes.
            with ctx.case_lock(case_number):
                try:
                    self._check_material_wanted(case_number, from_province=from_province)
                except (IllegalTransition, NotAuthorised):
                    upload.discard()
                    raise
                upload.commit(sha256=sha256, metadata={"case": case_number, "kind": kind, "file_name": file_name})
            upload.discard()
        finally:
            upload.close()
        return sha256

    def _take_whole_material(
        self, data: bytes, *, from_province: str, case_number: str, sha256: str, media_type: str,
        kind: str, file_name: str,
    ) -> str:
        """A material that arrived whole in one message goes straight into the store: there is
        nothing to resume, so no partial upload (a header file made and removed, a data file)
        is kept for it. Checked as the partial upload path checks: type, completeness, and the
        SHA-256 as it is stored, which leaves nothing behind when it does not match."""
        self._check_whole(data, media_type=media_type, case_number=case_number, sha256=sha256,
                          from_province=from_province)
        with self.ctx.case_lock(case_number):
            self._check_material_wanted(case_number, from_province=from_province)
            self._store_whole(data, case_number=case_number, sha256=sha256, media_type=media_type, kind=kind,
                              file_name=file_name, from_province=from_province)
        return sha256

    def _check_header(self, *, kind: str, file_name: str, media_type: str, size: int) -> None:
        """What a material's header is checked for, pushed or carried, before its bytes are looked at."""
        if not kind:
            raise InvalidRequest("kind", "say which material this is (e.g. id_card)")
        check_file_name(file_name)
        check_media_type(media_type)
        check_declared_size(size, max_bytes=self.ctx.max_material_bytes)

    def _check_whole(self, data: bytes, *, media_type: str, case_number: str, sha256: str,
                     from_province: str) -> None:
        try:
            check_content_type(data, media_type=media_type, at=0)
            check_content_complete(len(data), media_type=media_type)
        except InvalidRequest as exc:
            self._record_refusal(exc, case_number=case_number, sha256=sha256, from_province=from_province)
            raise

    def _store_whole(self, data: bytes, *, case_number: str, sha256: str, media_type: str, kind: str,
                     file_name: str, from_province: str) -> None:
        """Stored only if its SHA-256 is `sha256`; a mismatch leaves nothing and is recorded."""
        try:
            self.ctx.store.put_stream([data], media_type=media_type, expected_sha256=sha256,
                                      metadata={"case": case_number, "kind": kind, "file_name": file_name})
        except MaterialIntegrityError as exc:
            self._record_refusal(exc, case_number=case_number, sha256=sha256, from_province=from_province)
            raise

    def _carried(self, carried: Mapping[str, bytes], materials: list[dict[str, Any]], *, case_number: str,
                 from_province: str) -> list[tuple[dict[str, Any], bytes]]:
        """The materials a forward carries, each one of those it lists, of the size and type it
        declares; checked before the case is read, as a pushed material is before it is stored."""
        listed = {m["sha256"]: m for m in materials}
        total = sum(len(data) for data in carried.values())
        if total > CARRIED_IN_ALL:
            raise InvalidRequest("carried", f"{total} bytes of materials carried in one forward, more than "
                                            f"{CARRIED_IN_ALL}; push the larger ones with PushMaterial")
        taken = []
        for sha256, data in carried.items():
            material = listed.get(sha256)
            if material is None:
                raise InvalidRequest("carried", f"material {sha256[:12]}… is carried but not among the case's "
                                                "materials; list every material the forward carries")
            if len(data) > CARRIED_EACH:
                raise InvalidRequest("carried", f"material {material['kind']} ({sha256[:12]}…) of {len(data)} "
                                                f"bytes is carried; over {CARRIED_EACH} push it with PushMaterial")
            self._check_header(kind=str(material.get("kind") or ""), file_name=str(material["file_name"]),
                               media_type=str(material["media_type"]), size=int(material["size"]))
            if len(data) != int(material["size"]):
                raise InvalidRequest("carried", f"material {material['kind']} ({sha256[:12]}…) is listed with "
                                                f"{material['size']} bytes but {len(data)} are carried")
            self._check_whole(data, media_type=str(material["media_type"]), case_number=case_number,
                              sha256=sha256, from_province=from_province)
            taken.append((material, data))
        return taken

    def _record_refusal(self, exc: Exception, *, case_number: str, sha256: str, from_province: str) -> None:
        self.ctx.uploads.record_refusal(case_number=case_number, sha256=sha256, from_province=from_province,
                                        reason=str(exc))

    def receive(self, envelope: Mapping[str, Any], *, from_province: str, actor: Actor, message_id: str = "") -> Case:
        return self.take_forward(envelope, from_province=from_province, actor=actor, message_id=message_id)[0]

    def take_forward(self, envelope: Mapping[str, Any], *, from_province: str, actor: Actor,
                     message_id: str = "", carried: Mapping[str, bytes] | None = None) -> tuple[Case, bool]:
        """The forwarded case, and whether it was here already (a resend: nothing changes).
        `carried`: whole materials sent inside the forward (SHA-256 -> bytes), stored as a pushed
        one would be, on the same checks, before the case is taken."""
        ctx = self.ctx
        if envelope.get("origin_province") != from_province:
            raise NotAuthorised(f"{from_province} may only forward cases it took in itself")
        if envelope.get("competent_province") != ctx.province_code:
            raise InvalidRequest("competent_province", f"this node decides for {ctx.province_code} only")
        materials = _named_materials(envelope["materials"])
        case_number = str(envelope["case_number"])
        matter = ctx.catalog.get(str(envelope["matter_code"]))
        if envelope.get("competent_department") != matter.lead_department:
            raise InvalidRequest("competent_department", f"{matter.name} is decided by {matter.lead_department}")
        taken = self._carried(carried or {}, materials, case_number=case_number, from_province=from_province)
        with ctx.case_lock(case_number):
            existing = ctx.ledger.find_case(case_number)
            if existing is not None:
                parties.require_origin(existing, from_province, what="forward it")
                same_matter = existing.matter_code == str(envelope["matter_code"]) \
                    or ctx.catalog.get(existing.matter_code) == matter  # the same matter by another code
                _require_the_same_application(existing, same_matter=same_matter, materials=materials)
                # A repeated forward changes nothing, but retains again: a node stopped between
                # the save and the retention below is made good by the sender's resend.
                retain_for_matter(ctx.store, matter=matter, materials=existing.materials, now=ctx.now())
                return existing, True
            # One inbox question, for the id the courier gives every forward, says both whether a
            # withdrawal barred the case and whether that id went to another case; any other id
            # is asked about on its own.
            self._refuse_if_withdrawn_before_arrival(case_number)
            if message_id and message_id != forward_message_id(case_number):
                ctx.already_applied(message_id, case_number=case_number)
            carried_here = {material["sha256"] for material, _ in taken}
            for m in materials:
                if m["sha256"] not in carried_here and ctx.store.stat(m["sha256"]) is None:
                    raise MaterialNotFound(
                        f"material {m['kind']} ({m['sha256'][:12]}…) has not arrived; push it before forwarding"
                    )
            # The checks a pushed material passes as it enters the store are the ones just made
            # for the case itself: the sender opened it, and no withdrawal barred it. Stored only
            # once every other material is here, so a forward refused for one leaves none.
            for material, data in taken:
                if ctx.store.stat(material["sha256"]) is None:
                    self._store_whole(data, case_number=case_number, sha256=material["sha256"],
                                      media_type=str(material["media_type"]), kind=str(material["kind"]),
                                      file_name=str(material["file_name"]), from_province=from_province)
            case = Case.receive(**{k: envelope[k] for k in _ENVELOPE_FIELDS}, actor=actor, at=ctx.stamp())
            identity = dict(envelope.get("identity") or {})
            if identity:  # recorded with the case, so it is never accepted without it
                case.record_identity(identity=identity, agent=envelope.get("agent") or None, actor=actor, at=ctx.stamp())
            ctx.save(case, inbox=message_id)
            # Retained only once the case is saved: a forward refused, or losing to a withdrawal
            # on another replica, locks no material.
            retain_for_matter(ctx.store, matter=matter, materials=materials, now=ctx.now())
        return case, False

    def _refuse_if_withdrawn_before_arrival(self, case_number: str) -> None:
        ctx = self.ctx
        if ctx.outbox is not None and ctx.outbox.inbox_case(forward_message_id(case_number)) == case_number:
            raise IllegalTransition(f"the applicant withdrew case {case_number} at the window before it arrived "
                                    "here, so it is not opened and takes no materials; nothing was recorded")

    def issued_to_origin(self, case_number: str, *, asking_province: str) -> str | None:
        """What was issued for the case, asked by the window that took it in (before it prints):
        from memory when this process issued it, else from the case."""
        known = self.ctx.issued.for_origin(case_number, asking_province)
        if known is not None:
            return known
        case = parties.require_origin(parties.case_of_party(self.ctx.ledger, case_number, asking_province),
                                      asking_province, what="ask what was issued for it")
        return case.result["sha256"] if case.result else None

    # -- 受理, 补正, 核准 / 驳回 / 退回, 签章, 回传 ----------------------------------------------

    def accept(self, case_number: str, *, actor: Actor) -> Case:
        """受理: the time limit starts; a joint case hands each partner province its task."""
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = self._own_case(case_number)
            actor = self._as_department(case, actor)
            matter = ctx.catalog.get(case.matter_code)
            case.accept(actor=actor, time_limit_days=matter.time_limit_for(ctx.province_code), at=ctx.stamp())
            outgoing = []
            if case.mode == "joint" and not case.part:
                for province in case.partners:
                    task = _task_name(matter.name, case.competent_province, province)
                    case.assign_task(province=province, department=matter.lead_department, task=task,
                                     actor=actor, at=ctx.stamp())
                    outgoing.append(new_message(
                        peer=province, kind=ASSIGN_TASK, case_number=case_number, at=ctx.stamp(),
                        payload={"department": matter.lead_department, "task": task}))
            ctx.save(case, outbox=outgoing)
        return ctx.send_now(outgoing).get(case_number, case)

    def request_supplement(self, case_number: str, *, missing: list[str], note: str, actor: Actor) -> Case:
        """补正: one list of everything missing; the origin window hears of it."""
        return self._decide(case_number, actor, "supplement_requested",
                            lambda case, a, at: case.request_supplement(missing=missing, note=note, actor=a, at=at),
                            {"missing": list(missing), "note": note})

    def reject(self, case_number: str, *, legal_basis: str, reason: str, actor: Actor) -> Case:
        """驳回, citing the provision it rests on."""
        return self._decide(case_number, actor, "rejected",
                            lambda case, a, at: case.reject(legal_basis=legal_basis, reason=reason, actor=a, at=at),
                            {"legal_basis": legal_basis, "reason": reason})

    def return_case(self, case_number: str, *, reason: str, actor: Actor) -> Case:
        """退回: not for this department or province to decide."""
        return self._decide(case_number, actor, "returned",
                            lambda case, a, at: case.return_case(reason=reason, actor=a, at=at), {"reason": reason})

    def approve(self, case_number: str, *, actor: Actor) -> Case:
        """核准, seal the result and send it back. The result is sealed first; approval, the
        issued result and its delivery (an outbox message) are then recorded in one save, so a
        node stopped half-way has either recorded nothing (the officer approves again) or
        issued a result whose delivery the relay completes."""
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = self._own_case(case_number)
            actor = self._as_department(case, actor)
            if case.part:
                raise IllegalTransition(
                    f"case {case_number} is this province's part of a joint case; complete the part instead"
                )
            case.approve(actor=actor, at=ctx.stamp())  # checks the step before anything is sealed
            self._issue(case, actor)
            outgoing: list[OutboxMessage] = []
            if case.mode == "online":
                case.deliver_online(channel="online portal", actor=actor, at=ctx.stamp())
            elif case.origin_province != ctx.province_code:
                outgoing.append(new_message(peer=case.origin_province, kind=DELIVER_RESULT, case_number=case_number,
                                            payload={"actor": dict(actor)}, at=ctx.stamp()))
            # A joint case taken in at this province's own window is printed there.
            ctx.save(case, outbox=outgoing)
            ctx.issued.remember(case)
            # Still under the lock: the courier delivers from this very case instead of reading it again.
            return ctx.send_now(outgoing, current=case).get(case_number, case)

    def complete_part(self, case_number: str, *, outcome: str, note: str, actor: Actor) -> Case:
        """At a partner province: its part is done; the accepting node is told."""
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = self._own_case(case_number)
            case.complete_part(outcome=outcome, note=note, actor=self._as_department(case, actor), at=ctx.stamp())
            assert case.part is not None
            report = new_message(peer=case.part["coordinator"], kind=REPORT_TASK, case_number=case_number,
                                 payload={"outcome": outcome, "note": note}, at=ctx.stamp())
            ctx.save(case, outbox=[report])
        return ctx.send_now([report]).get(case_number, case)

    # -- incoming coordination --------------------------------------------------------------

    def receive_task(
        self, envelope: Mapping[str, Any], *, from_province: str, department: str, task: str, actor: Actor,
        message_id: str = "",
    ) -> Case:
        """多地联办: a partner province's node hands this node its part of a case."""
        ctx = self.ctx
        if envelope.get("competent_province") != from_province:
            raise NotAuthorised(f"{from_province} may only hand out tasks of cases it accepted itself")
        if ctx.province_code not in envelope.get("partners", []):
            raise InvalidRequest("partners", f"case {envelope.get('case_number')} names no part for {ctx.province_code}")
        _named_materials(envelope.get("materials", []))  # a part's case names them as a forward does
        matter = ctx.catalog.get(str(envelope["matter_code"]))
        matter.require_mode("joint")
        ctx.department_name(ctx.province_code, department)
        case_number = str(envelope["case_number"])
        with ctx.case_lock(case_number):
            existing = ctx.ledger.find_case(case_number)
            if existing is not None:
                return existing  # a repeated assignment changes nothing
            fields = {k: envelope[k] for k in _ENVELOPE_FIELDS}
            fields.update(origin_province=from_province, competent_province=ctx.province_code,
                          competent_department=department, mode="joint")
            case = Case.receive_task(**fields, partners=[], part={"coordinator": from_province, "task": task},
                                     identity=dict(envelope.get("identity") or {}), actor=actor, at=ctx.stamp())
            ctx.save(case, inbox=message_id)
        return case

    def record_task_report(
        self, *, case_number: str, from_province: str, outcome: str, note: str, actor: Actor, message_id: str = "",
    ) -> Case:
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = self._own_case(case_number)
            if ctx.already_applied(message_id, case_number=case_number):
                return case
            case.complete_task(province=from_province, outcome=outcome, note=note, actor=actor, at=ctx.stamp())
            ctx.save(case, inbox=message_id)
        return case

    def withdrawn_before_arrival(self, case_number: str, *, from_province: str) -> Case:
        """A withdrawal for a case that has not arrived (its forward may still be on its way, from a
        call the window stopped waiting for): its forward is barred, so it can never open the case
        here, and NotFound tells the window it may record the withdrawal. Returns the case if it
        arrived first after all (it is then withdrawn as any other)."""
        ctx = self.ctx
        parties.require_opened_by(case_number, from_province, what="withdraw it")
        if ctx.outbox is None:
            raise TongbanError("this node was started without an inbox; it cannot bar a forward")
        with ctx.case_lock(case_number):
            ctx.outbox.bar_message(forward_message_id(case_number), case_number=case_number)
            # Looked for again under the lock: a forward sent under another id (a message recorded
            # before forward ids were derived) may have opened it meanwhile.
            case = ctx.ledger.find_case(case_number)
            if case is None:
                raise NotFound(f"case {case_number} has not arrived here; its forward is barred, "
                               "so it will not be opened if it comes")
            return case

    def record_applicant_step(
        self, *, case_number: str, from_province: str, step: str, detail: Mapping[str, Any], actor: Actor,
        message_id: str = "",
    ) -> Case:
        """The origin window passed on 补正材料 or a withdrawal."""
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = self._own_case(case_number)
            if from_province != case.origin_province:
                raise NotAuthorised(f"{from_province} did not take case {case_number} in")
            at = ctx.stamp()
            materials = _named_materials(detail.get("materials", []))
            known = {m["sha256"] for m in case.materials}
            if ctx.already_applied(message_id, case_number=case_number):
                return case
            if step == "identified":
                if case.identity == dict(detail.get("identity") or {}):
                    return case  # already recorded
                case.record_identity(identity=dict(detail.get("identity") or {}), agent=detail.get("agent") or None,
                                     actor=actor, at=at)
                ctx.save(case, inbox=message_id)
                return case
            if (step == "withdrawn" and case.status is CaseStatus.WITHDRAWN) or (
                step == "supplemented" and case.status is not CaseStatus.SUPPLEMENT_REQUESTED
                and materials and all(m["sha256"] in known for m in materials)
            ):
                return case  # a repeated notice (the sender retried) changes nothing
            if step == "supplemented":
                _check_takes_supplement(case)  # before anything is looked up or put under retention
                for m in materials:
                    if ctx.store.stat(m["sha256"]) is None:
                        raise MaterialNotFound(f"material {m['kind']} ({m['sha256'][:12]}…) has not arrived; push it first")
                retain_for_matter(ctx.store, matter=ctx.catalog.get(case.matter_code), materials=materials, now=ctx.now())
                case.supplement(materials=materials, actor=actor, at=at)
            elif step == "withdrawn":
                case.withdraw(reason=str(detail.get("reason", "")), actor=actor, at=at)
            else:
                raise InvalidRequest("step", f"an origin node passes on identified, supplemented or withdrawn, not {step!r}")
            ctx.save(case, inbox=message_id)
        return case

    def _decide(self, case_number: str, actor: Actor, step: str, apply: Any, detail: dict[str, Any]) -> Case:
        ctx = self.ctx
        with ctx.case_lock(case_number):
            case = self._own_case(case_number)
            if case.part:
                # Only the accepting province decides a joint case; a partner reports on its part.
                raise IllegalTransition(
                    f"case {case_number} is this province's part of a joint case, decided by "
                    f"{case.part['coordinator']}; report what was done, or why it could not be, with CompletePart"
                )
            at = ctx.stamp()
            apply(case, self._as_department(case, actor), at)
            outgoing = []
            if step in {"rejected", "returned"}:
                for province in case.open_tasks():  # 多地联办: no part is needed any more
                    outgoing.append(new_message(
                        peer=province, kind=NOTIFY_PROGRESS, case_number=case_number, at=at,
                        payload={"step": "withdrawn", "detail": {
                            "reason": f"受理地已{'驳回' if step == 'rejected' else '退回'}：{detail['reason']}", "at": at}}))
            if case.origin_province != ctx.province_code:
                # The window that took the case in must tell the applicant: the notice is
                # recorded with the decision and the relay delivers it if the window is down.
                outgoing.append(new_message(peer=case.origin_province, kind=NOTIFY_PROGRESS, case_number=case_number,
                                            payload={"step": step, "detail": {**detail, "at": at}}, at=at))
            ctx.save(case, outbox=outgoing)
        return ctx.send_now(outgoing).get(case_number, case)

    def _coordination(self):  # type: ignore[no-untyped-def]
        if self.ctx.coordination is None:
            raise TongbanError("this node was started without node-to-node coordination")
        return self.ctx.coordination

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
        retain_for_matter(ctx.store, matter=matter, materials=[{"sha256": stored.sha256}], now=ctx.now())
        case.issue_result(sha256=stored.sha256, object_key=stored.key, verification_code=code, actor=actor, at=ctx.stamp())

    def _check_material_wanted(self, case_number: str, *, from_province: str) -> None:
        """Materials travel before their case does, or as 补正 for it once it is here: then only
        from its window, and only to the province deciding it (checked on the case read here,
        so a push reads the case once)."""
        case = self.ctx.ledger.find_case(case_number)
        if case is not None:
            parties.require_origin(case, from_province, what="send its materials")
            parties.require_competent(case, self.ctx.province_code, what="receive its materials")
            _check_takes_supplement(case)
        else:
            self._refuse_if_withdrawn_before_arrival(case_number)

    def _own_case(self, case_number: str) -> Case:
        case = self.ctx.ledger.get_case(case_number)
        if case.competent_province != self.ctx.province_code:
            raise NotAuthorised(f"case {case_number} is decided in {case.competent_province}, not here")
        return case

    def _as_department(self, case: Case, actor: Actor) -> Actor:
        return {**actor, "department": case.competent_department}


def _require_the_same_application(case: Case, *, same_matter: bool, materials: Sequence[Mapping[str, Any]]) -> None:
    """A forward of a case already here must be a resend of the one that opened it: the same
    matter (by any of its codes), and materials the case holds (it may hold more, supplied for
    补正 since). Anything else is another application under a number given twice, which must not
    be acknowledged as delivered when it was not taken."""
    held = {m["sha256"] for m in case.materials}
    if not same_matter or any(m["sha256"] not in held for m in materials):
        raise IllegalTransition(
            f"case {case.case_number} is already here for another matter or with other materials than this "
            "forward lists; the case held here is unchanged. A case number given twice (a window restored "
            "from an older backup?) needs a new number for the new application"
        )


def _whole_in_one_message(
    chunks: Iterable[tuple[int, bytes]], *, size: int,
) -> tuple[bytes | None, Iterator[tuple[int, bytes]]]:
    """The material, if the stream carried all `size` bytes in its one message (read to the
    stream's end), and the stream to take otherwise, nothing of it lost."""
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        return None, chunks
    if first[0] == 0 and len(first[1]) == size:
        following = next(chunks, None)
        if following is None:
            return first[1], chunks
        return None, itertools.chain([first, following], chunks)
    return None, itertools.chain([first], chunks)


def _check_party(from_province: str, case_number: str) -> None:
    """Materials travel before their case does: the case number names the origin province."""
    if not case_number.startswith(from_province + "-"):
        raise NotAuthorised(f"{from_province} did not open case {case_number} and may not send its materials")


def _check_takes_supplement(case: Case) -> None:
    """补正材料 are stored and retained only for a case waiting for them: a case decided meanwhile
    (退回, 驳回) or never asked for any would keep them for its matter's retention years, unused."""
    if case.status is not CaseStatus.SUPPLEMENT_REQUESTED:
        raise IllegalTransition(
            f"case {case.case_number} is {case.status.value}; it takes 补正材料 only while a supplement is requested, "
            f"so nothing was stored: do not send them again, the applicant is told the case is {case.status.value}"
        )


_NAME_IT = "name each material by the SHA-256 of its bytes (64 lower-case hex digits), the one it was pushed under"


def _named_materials(materials: Iterable[Mapping[str, Any]], *, field: str = "materials") -> list[dict[str, Any]]:
    """The materials another node names, each by a well-formed SHA-256: the store is keyed by it,
    so a missing or malformed one is the sender's mistake, refused before anything is looked up."""
    named = [dict(m) for m in materials]
    for i, m in enumerate(named):
        sha256 = m.get("sha256")
        if sha256 is None:
            raise InvalidRequest(f"{field}[{i}].sha256", f"missing; {_NAME_IT}")
        if not isinstance(sha256, str) or not validation.SHA256.fullmatch(sha256):
            raise InvalidRequest(f"{field}[{i}].sha256", f"{str(sha256)[:40]!r} is not a SHA-256; {_NAME_IT}")
    return named


_ENVELOPE_FIELDS = (
    "case_number", "matter_code", "mode", "origin_province", "competent_province",
    "competent_department", "applicant", "materials", "checklist",
)


def task_envelope(case: Case) -> dict[str, Any]:
    """What a partner province needs to do its part: the case, never the file bytes."""
    return {
        "case_number": case.case_number, "matter_code": case.matter_code, "mode": case.mode,
        "origin_province": case.origin_province, "competent_province": case.competent_province,
        "competent_department": case.competent_department, "applicant": dict(case.applicant),
        "materials": [dict(m) for m in case.materials], "checklist": dict(case.checklist),
        "identity": dict(case.identity), "partners": list(case.partners),
    }


def _task_name(matter_name: str, accepting: str, partner: str) -> str:
    if "迁移" in matter_name or "入户" in matter_name:
        return "迁出地办理迁出"
    if "转移接续" in matter_name or "互转" in matter_name:
        return "转出地办理转出"
    return f"协同办理（{accepting}受理）"
