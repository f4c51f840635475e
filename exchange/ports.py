"""The ports the domain needs from the outside world. Adapters in storage/, signing/ and nodes/
implement them; exchange/ never imports those packages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class StoredObject:
    """An object in a content-addressed store: the key is derived from the SHA-256."""

    key: str
    sha256: str
    size: int
    media_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    """Content-addressed object storage (local folder or S3 through the MinIO SDK)."""

    def put_stream(
        self,
        chunks: Iterable[bytes],
        *,
        media_type: str,
        metadata: Mapping[str, str] | None = None,
        expected_sha256: str | None = None,
    ) -> StoredObject:
        """Store the bytes; raise MaterialIntegrityError (leaving nothing visible) if they do
        not hash to expected_sha256. Storing bytes that are already there stores them once."""

    def put_bytes(
        self, data: bytes, *, media_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject: ...

    def stat(self, sha256: str) -> StoredObject | None: ...

    def iter_chunks(self, sha256: str, *, chunk_size: int = 1 << 20, verify: bool = True) -> Iterator[bytes]:
        """Raise MaterialNotFound if absent; MaterialIntegrityError after the last chunk if the
        bytes no longer hash to `sha256`, unless `verify` is False (the receiver checks them)."""

    def read_bytes(self, sha256: str, *, verify: bool = True) -> bytes: ...

    def retain_until(self, sha256: str, *, until: datetime) -> bool:
        """Keep the material write-once (not deletable, not overwritable) until `until`, in the
        store's retention mode; a longer or stricter retention it has stays. False when the
        backend cannot retain (S3 without object lock)."""


@dataclass(frozen=True)
class CertificateRequest:
    """What the competent department's result certificate says."""

    case_number: str
    matter_code: str
    matter_name: str
    applicant_name: str
    applicant_id_masked: str
    province_code: str
    department_key: str
    department_name: str
    issued_on: date
    verification_code: str


class ResultIssuer(Protocol):
    """Renders and seals a result certificate as the competent department."""

    def issue(self, request: CertificateRequest) -> bytes: ...


class VerificationOutcome(Protocol):
    passed: bool
    verdict: str
    reason: str | None
    explanation_zh: str

    def summary(self) -> dict[str, Any]: ...


class ResultVerifier(Protocol):
    """Checks a sealed PDF before a window prints it (fail closed)."""

    def verify(
        self,
        pdf: bytes,
        *,
        competent_province: str,
        competent_department: str,
        issued_sha256: str | None,
    ) -> VerificationOutcome: ...


class PeerGateway(Protocol):
    """Calls to partner provinces' nodes (gRPC over mutual TLS in production)."""

    # first_push: nothing of this material can have reached the receiver for this case yet (the
    # message was recorded a moment ago and is tried for the first time), so the sender need not
    # ask how much of it the receiver holds. A receiver holding part of it refuses the push.
    def push_material(
        self, province: str, *, case_number: str, material: Mapping[str, Any], chunks: Iterable[bytes],
        first_push: bool = False,
    ) -> None: ...

    # The message id lets the receiver apply a resent message once; each returns True when the
    # receiver says it had already applied it.
    def forward_case(self, province: str, *, envelope: Mapping[str, Any], message_id: str = "",
                     carried: Mapping[str, bytes] | None = None) -> bool:
        """`carried`: whole materials of the envelope (SHA-256 -> bytes) sent inside the forward
        instead of pushed before it."""

    def deliver_result(
        self, province: str, *, case_number: str, pdf: bytes, issued_sha256: str, message_id: str = ""
    ) -> bool: ...

    def issued_result_sha256(self, province: str, *, case_number: str) -> str | None:
        """The SHA-256 the competent node recorded as issued, or None if it recorded none."""


class PrintSpool(Protocol):
    """Two steps, so that no paper leaves without its record: a prepared job is invisible to the
    printer until it is released, after the print is recorded."""

    def prepare(self, *, case_number: str, pdf: bytes, copies: int) -> str:
        """Keep the document for printing, not yet released; return the job's reference."""

    def release(self, ref: str) -> None:
        """Hand a prepared job to the printer."""

    def discard(self, ref: str) -> None:
        """Drop a prepared job: its print was not recorded."""

    def prepared(self) -> list[tuple[str, str]]:
        """(reference, case number) of jobs prepared and neither released nor discarded."""


class CoordinationGateway(Protocol):
    """Node-to-node messages beyond carrying a case and its result: 多地联办 tasks, and the
    progress an origin window must hear of (补正, 驳回, 退回) or pass on (补正材料, 撤回)."""

    def assign_task(
        self, province: str, *, envelope: Mapping[str, Any], department: str, task: str, message_id: str = "",
    ) -> bool: ...

    def report_task(self, province: str, *, case_number: str, outcome: str, note: str, message_id: str = "") -> bool: ...

    def notify_progress(
        self, province: str, *, case_number: str, step: str, detail: Mapping[str, Any], message_id: str = "",
    ) -> bool:
        """step: supplement_requested | rejected | returned (competent → origin)
        or supplemented | withdrawn (origin → competent)."""
