from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Actor(_message.Message):
    __slots__ = ("node", "department", "operator")
    NODE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    node: str
    department: str
    operator: str
    def __init__(self, node: _Optional[str] = ..., department: _Optional[str] = ..., operator: _Optional[str] = ...) -> None: ...

class MaterialRef(_message.Message):
    __slots__ = ("kind", "file_name", "media_type", "size", "sha256")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    kind: str
    file_name: str
    media_type: str
    size: int
    sha256: str
    def __init__(self, kind: _Optional[str] = ..., file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class MaterialChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: MaterialHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[MaterialHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class MaterialHeader(_message.Message):
    __slots__ = ("kind", "file_name", "media_type", "sha256", "case_number", "from_province")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FROM_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    file_name: str
    media_type: str
    sha256: str
    case_number: str
    from_province: str
    def __init__(self, kind: _Optional[str] = ..., file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., sha256: _Optional[str] = ..., case_number: _Optional[str] = ..., from_province: _Optional[str] = ...) -> None: ...

class CaseRef(_message.Message):
    __slots__ = ("case_number",)
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    def __init__(self, case_number: _Optional[str] = ...) -> None: ...

class Applicant(_message.Message):
    __slots__ = ("name", "id_number")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    name: str
    id_number: str
    def __init__(self, name: _Optional[str] = ..., id_number: _Optional[str] = ...) -> None: ...

class CaseView(_message.Message):
    __slots__ = ("case_number", "matter_code", "mode", "status", "origin_province", "competent_province", "competent_department", "materials", "result_sha256", "version")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    COMPETENT_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    COMPETENT_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    RESULT_SHA256_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    matter_code: str
    mode: str
    status: str
    origin_province: str
    competent_province: str
    competent_department: str
    materials: _containers.RepeatedCompositeFieldContainer[MaterialRef]
    result_sha256: str
    version: int
    def __init__(self, case_number: _Optional[str] = ..., matter_code: _Optional[str] = ..., mode: _Optional[str] = ..., status: _Optional[str] = ..., origin_province: _Optional[str] = ..., competent_province: _Optional[str] = ..., competent_department: _Optional[str] = ..., materials: _Optional[_Iterable[_Union[MaterialRef, _Mapping]]] = ..., result_sha256: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class SignerInfo(_message.Message):
    __slots__ = ("common_name", "province_code", "department_key", "fingerprint_sha256")
    COMMON_NAME_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_CODE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_KEY_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_SHA256_FIELD_NUMBER: _ClassVar[int]
    common_name: str
    province_code: str
    department_key: str
    fingerprint_sha256: str
    def __init__(self, common_name: _Optional[str] = ..., province_code: _Optional[str] = ..., department_key: _Optional[str] = ..., fingerprint_sha256: _Optional[str] = ...) -> None: ...

class VerificationReport(_message.Message):
    __slots__ = ("verdict", "reason", "explanation_zh", "detail", "document_sha256", "signer", "signed_at", "checked_at")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_ZH_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    verdict: str
    reason: str
    explanation_zh: str
    detail: str
    document_sha256: str
    signer: SignerInfo
    signed_at: str
    checked_at: str
    def __init__(self, verdict: _Optional[str] = ..., reason: _Optional[str] = ..., explanation_zh: _Optional[str] = ..., detail: _Optional[str] = ..., document_sha256: _Optional[str] = ..., signer: _Optional[_Union[SignerInfo, _Mapping]] = ..., signed_at: _Optional[str] = ..., checked_at: _Optional[str] = ...) -> None: ...
