from tongban_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaseEnvelope(_message.Message):
    __slots__ = ("case_number", "matter_code", "mode", "origin_province", "competent_province", "competent_department", "applicant", "materials", "checklist", "from_province", "message_id", "identity", "agent", "carried")
    class ChecklistEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    COMPETENT_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    COMPETENT_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    CHECKLIST_FIELD_NUMBER: _ClassVar[int]
    FROM_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    CARRIED_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    matter_code: str
    mode: str
    origin_province: str
    competent_province: str
    competent_department: str
    applicant: _common_pb2.Applicant
    materials: _containers.RepeatedCompositeFieldContainer[_common_pb2.MaterialRef]
    checklist: _containers.ScalarMap[str, bool]
    from_province: str
    message_id: str
    identity: _common_pb2.IdentityCheck
    agent: _common_pb2.Agent
    carried: _containers.RepeatedCompositeFieldContainer[CarriedMaterial]
    def __init__(self, case_number: _Optional[str] = ..., matter_code: _Optional[str] = ..., mode: _Optional[str] = ..., origin_province: _Optional[str] = ..., competent_province: _Optional[str] = ..., competent_department: _Optional[str] = ..., applicant: _Optional[_Union[_common_pb2.Applicant, _Mapping]] = ..., materials: _Optional[_Iterable[_Union[_common_pb2.MaterialRef, _Mapping]]] = ..., checklist: _Optional[_Mapping[str, bool]] = ..., from_province: _Optional[str] = ..., message_id: _Optional[str] = ..., identity: _Optional[_Union[_common_pb2.IdentityCheck, _Mapping]] = ..., agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ..., carried: _Optional[_Iterable[_Union[CarriedMaterial, _Mapping]]] = ...) -> None: ...

class CarriedMaterial(_message.Message):
    __slots__ = ("sha256", "data")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    data: bytes
    def __init__(self, sha256: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ResultEnvelope(_message.Message):
    __slots__ = ("case_number", "from_province", "pdf", "issued_sha256", "message_id")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FROM_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    PDF_FIELD_NUMBER: _ClassVar[int]
    ISSUED_SHA256_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    from_province: str
    pdf: bytes
    issued_sha256: str
    message_id: str
    def __init__(self, case_number: _Optional[str] = ..., from_province: _Optional[str] = ..., pdf: _Optional[bytes] = ..., issued_sha256: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class IssuedResult(_message.Message):
    __slots__ = ("case_number", "sha256")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    sha256: str
    def __init__(self, case_number: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("case_number", "status", "already_applied")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ALREADY_APPLIED_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    status: str
    already_applied: bool
    def __init__(self, case_number: _Optional[str] = ..., status: _Optional[str] = ..., already_applied: _Optional[bool] = ...) -> None: ...

class MaterialPush(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: PushHeader
    data: PushData
    def __init__(self, header: _Optional[_Union[PushHeader, _Mapping]] = ..., data: _Optional[_Union[PushData, _Mapping]] = ...) -> None: ...

class PushHeader(_message.Message):
    __slots__ = ("material", "size", "offset")
    MATERIAL_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    material: _common_pb2.MaterialHeader
    size: int
    offset: int
    def __init__(self, material: _Optional[_Union[_common_pb2.MaterialHeader, _Mapping]] = ..., size: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class PushData(_message.Message):
    __slots__ = ("offset", "data")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class TransferRef(_message.Message):
    __slots__ = ("case_number", "sha256", "from_province")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FROM_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    sha256: str
    from_province: str
    def __init__(self, case_number: _Optional[str] = ..., sha256: _Optional[str] = ..., from_province: _Optional[str] = ...) -> None: ...

class TransferOffset(_message.Message):
    __slots__ = ("confirmed_offset", "complete")
    CONFIRMED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    confirmed_offset: int
    complete: bool
    def __init__(self, confirmed_offset: _Optional[int] = ..., complete: _Optional[bool] = ...) -> None: ...
