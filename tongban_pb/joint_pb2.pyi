from tongban_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskAssignment(_message.Message):
    __slots__ = ("from_province", "case_number", "matter_code", "department", "task", "applicant", "materials", "checklist", "partners", "competent_department", "identity_method", "message_id")
    class ChecklistEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    FROM_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    CHECKLIST_FIELD_NUMBER: _ClassVar[int]
    PARTNERS_FIELD_NUMBER: _ClassVar[int]
    COMPETENT_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_METHOD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    from_province: str
    case_number: str
    matter_code: str
    department: str
    task: str
    applicant: _common_pb2.Applicant
    materials: _containers.RepeatedCompositeFieldContainer[_common_pb2.MaterialRef]
    checklist: _containers.ScalarMap[str, bool]
    partners: _containers.RepeatedScalarFieldContainer[str]
    competent_department: str
    identity_method: str
    message_id: str
    def __init__(self, from_province: _Optional[str] = ..., case_number: _Optional[str] = ..., matter_code: _Optional[str] = ..., department: _Optional[str] = ..., task: _Optional[str] = ..., applicant: _Optional[_Union[_common_pb2.Applicant, _Mapping]] = ..., materials: _Optional[_Iterable[_Union[_common_pb2.MaterialRef, _Mapping]]] = ..., checklist: _Optional[_Mapping[str, bool]] = ..., partners: _Optional[_Iterable[str]] = ..., competent_department: _Optional[str] = ..., identity_method: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class TaskReport(_message.Message):
    __slots__ = ("from_province", "case_number", "outcome", "note", "message_id")
    FROM_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    from_province: str
    case_number: str
    outcome: str
    note: str
    message_id: str
    def __init__(self, from_province: _Optional[str] = ..., case_number: _Optional[str] = ..., outcome: _Optional[str] = ..., note: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class ProgressNotice(_message.Message):
    __slots__ = ("from_province", "case_number", "step", "missing", "note", "legal_basis", "reason", "materials", "at", "identity", "agent", "message_id")
    FROM_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    from_province: str
    case_number: str
    step: str
    missing: _containers.RepeatedScalarFieldContainer[str]
    note: str
    legal_basis: str
    reason: str
    materials: _containers.RepeatedCompositeFieldContainer[_common_pb2.MaterialRef]
    at: str
    identity: _common_pb2.IdentityCheck
    agent: _common_pb2.Agent
    message_id: str
    def __init__(self, from_province: _Optional[str] = ..., case_number: _Optional[str] = ..., step: _Optional[str] = ..., missing: _Optional[_Iterable[str]] = ..., note: _Optional[str] = ..., legal_basis: _Optional[str] = ..., reason: _Optional[str] = ..., materials: _Optional[_Iterable[_Union[_common_pb2.MaterialRef, _Mapping]]] = ..., at: _Optional[str] = ..., identity: _Optional[_Union[_common_pb2.IdentityCheck, _Mapping]] = ..., agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ..., message_id: _Optional[str] = ...) -> None: ...

class CoordinationAck(_message.Message):
    __slots__ = ("case_number", "status", "already_applied")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ALREADY_APPLIED_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    status: str
    already_applied: bool
    def __init__(self, case_number: _Optional[str] = ..., status: _Optional[str] = ..., already_applied: _Optional[bool] = ...) -> None: ...
