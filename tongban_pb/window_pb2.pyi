from tongban_pb import audit_pb2 as _audit_pb2
from tongban_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitApplicationRequest(_message.Message):
    __slots__ = ("matter_code", "competent_province", "applicant", "materials", "checklist", "identity", "agent", "request_id")
    class ChecklistEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    COMPETENT_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    CHECKLIST_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    matter_code: str
    competent_province: str
    applicant: _common_pb2.Applicant
    materials: _containers.RepeatedCompositeFieldContainer[_common_pb2.MaterialRef]
    checklist: _containers.ScalarMap[str, bool]
    identity: _common_pb2.IdentityCheck
    agent: _common_pb2.Agent
    request_id: str
    def __init__(self, matter_code: _Optional[str] = ..., competent_province: _Optional[str] = ..., applicant: _Optional[_Union[_common_pb2.Applicant, _Mapping]] = ..., materials: _Optional[_Iterable[_Union[_common_pb2.MaterialRef, _Mapping]]] = ..., checklist: _Optional[_Mapping[str, bool]] = ..., identity: _Optional[_Union[_common_pb2.IdentityCheck, _Mapping]] = ..., agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitOnlineRequest(_message.Message):
    __slots__ = ("matter_code", "applicant", "materials", "identity", "agent")
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    matter_code: str
    applicant: _common_pb2.Applicant
    materials: _containers.RepeatedCompositeFieldContainer[_common_pb2.MaterialRef]
    identity: _common_pb2.IdentityCheck
    agent: _common_pb2.Agent
    def __init__(self, matter_code: _Optional[str] = ..., applicant: _Optional[_Union[_common_pb2.Applicant, _Mapping]] = ..., materials: _Optional[_Iterable[_Union[_common_pb2.MaterialRef, _Mapping]]] = ..., identity: _Optional[_Union[_common_pb2.IdentityCheck, _Mapping]] = ..., agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ...) -> None: ...

class SubmitJointRequest(_message.Message):
    __slots__ = ("matter_code", "partner_provinces", "applicant", "materials", "checklist", "identity", "agent")
    class ChecklistEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    PARTNER_PROVINCES_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    CHECKLIST_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    matter_code: str
    partner_provinces: _containers.RepeatedScalarFieldContainer[str]
    applicant: _common_pb2.Applicant
    materials: _containers.RepeatedCompositeFieldContainer[_common_pb2.MaterialRef]
    checklist: _containers.ScalarMap[str, bool]
    identity: _common_pb2.IdentityCheck
    agent: _common_pb2.Agent
    def __init__(self, matter_code: _Optional[str] = ..., partner_provinces: _Optional[_Iterable[str]] = ..., applicant: _Optional[_Union[_common_pb2.Applicant, _Mapping]] = ..., materials: _Optional[_Iterable[_Union[_common_pb2.MaterialRef, _Mapping]]] = ..., checklist: _Optional[_Mapping[str, bool]] = ..., identity: _Optional[_Union[_common_pb2.IdentityCheck, _Mapping]] = ..., agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ...) -> None: ...

class SupplementCaseRequest(_message.Message):
    __slots__ = ("case_number", "materials")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    materials: _containers.RepeatedCompositeFieldContainer[_common_pb2.MaterialRef]
    def __init__(self, case_number: _Optional[str] = ..., materials: _Optional[_Iterable[_Union[_common_pb2.MaterialRef, _Mapping]]] = ...) -> None: ...

class WithdrawRequest(_message.Message):
    __slots__ = ("case_number", "reason")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    reason: str
    def __init__(self, case_number: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PrintRequest(_message.Message):
    __slots__ = ("case_number", "copies", "reprint_reason")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    REPRINT_REASON_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    copies: int
    reprint_reason: str
    def __init__(self, case_number: _Optional[str] = ..., copies: _Optional[int] = ..., reprint_reason: _Optional[str] = ...) -> None: ...

class PrintReceipt(_message.Message):
    __slots__ = ("case", "report", "spool_ref")
    CASE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    SPOOL_REF_FIELD_NUMBER: _ClassVar[int]
    case: _common_pb2.CaseView
    report: _common_pb2.VerificationReport
    spool_ref: str
    def __init__(self, case: _Optional[_Union[_common_pb2.CaseView, _Mapping]] = ..., report: _Optional[_Union[_common_pb2.VerificationReport, _Mapping]] = ..., spool_ref: _Optional[str] = ...) -> None: ...

class MailRequest(_message.Message):
    __slots__ = ("case_number", "carrier", "tracking_number", "address")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CARRIER_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    carrier: str
    tracking_number: str
    address: str
    def __init__(self, case_number: _Optional[str] = ..., carrier: _Optional[str] = ..., tracking_number: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class DeliverOnlineRequest(_message.Message):
    __slots__ = ("case_number", "channel")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    channel: str
    def __init__(self, case_number: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...

class EvaluationRequest(_message.Message):
    __slots__ = ("case_number", "rating", "comment")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    rating: str
    comment: str
    def __init__(self, case_number: _Optional[str] = ..., rating: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class CaseQuery(_message.Message):
    __slots__ = ("statuses", "applicant_id_number", "limit", "case_number", "awaiting_print")
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AWAITING_PRINT_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedScalarFieldContainer[str]
    applicant_id_number: str
    limit: int
    case_number: str
    awaiting_print: bool
    def __init__(self, statuses: _Optional[_Iterable[str]] = ..., applicant_id_number: _Optional[str] = ..., limit: _Optional[int] = ..., case_number: _Optional[str] = ..., awaiting_print: _Optional[bool] = ...) -> None: ...

class CaseListing(_message.Message):
    __slots__ = ("case", "matter_name", "applicant_name", "applicant_id_masked", "updated_at", "print_refused", "printed_copies")
    CASE_FIELD_NUMBER: _ClassVar[int]
    MATTER_NAME_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_NAME_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_ID_MASKED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PRINT_REFUSED_FIELD_NUMBER: _ClassVar[int]
    PRINTED_COPIES_FIELD_NUMBER: _ClassVar[int]
    case: _common_pb2.CaseView
    matter_name: str
    applicant_name: str
    applicant_id_masked: str
    updated_at: str
    print_refused: bool
    printed_copies: int
    def __init__(self, case: _Optional[_Union[_common_pb2.CaseView, _Mapping]] = ..., matter_name: _Optional[str] = ..., applicant_name: _Optional[str] = ..., applicant_id_masked: _Optional[str] = ..., updated_at: _Optional[str] = ..., print_refused: _Optional[bool] = ..., printed_copies: _Optional[int] = ...) -> None: ...

class CaseList(_message.Message):
    __slots__ = ("cases",)
    CASES_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[CaseListing]
    def __init__(self, cases: _Optional[_Iterable[_Union[CaseListing, _Mapping]]] = ...) -> None: ...

class CaseHistoryReply(_message.Message):
    __slots__ = ("listing", "entries", "nodes", "unreachable", "due_at", "clock_paused", "clock_stopped")
    LISTING_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_PAUSED_FIELD_NUMBER: _ClassVar[int]
    CLOCK_STOPPED_FIELD_NUMBER: _ClassVar[int]
    listing: CaseListing
    entries: _containers.RepeatedCompositeFieldContainer[_audit_pb2.LogEntry]
    nodes: _containers.RepeatedScalarFieldContainer[str]
    unreachable: _containers.RepeatedScalarFieldContainer[str]
    due_at: str
    clock_paused: bool
    clock_stopped: bool
    def __init__(self, listing: _Optional[_Union[CaseListing, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[_audit_pb2.LogEntry, _Mapping]]] = ..., nodes: _Optional[_Iterable[str]] = ..., unreachable: _Optional[_Iterable[str]] = ..., due_at: _Optional[str] = ..., clock_paused: _Optional[bool] = ..., clock_stopped: _Optional[bool] = ...) -> None: ...

class ResultDocument(_message.Message):
    __slots__ = ("report", "pdf", "file_name")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    PDF_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    report: _common_pb2.VerificationReport
    pdf: bytes
    file_name: str
    def __init__(self, report: _Optional[_Union[_common_pb2.VerificationReport, _Mapping]] = ..., pdf: _Optional[bytes] = ..., file_name: _Optional[str] = ...) -> None: ...

class WholeMaterial(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.MaterialHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[_common_pb2.MaterialHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...
