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
    __slots__ = ("case_number", "copies")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    copies: int
    def __init__(self, case_number: _Optional[str] = ..., copies: _Optional[int] = ...) -> None: ...

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
