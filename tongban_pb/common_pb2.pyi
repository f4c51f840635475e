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
    __slots__ = ("case_number", "matter_code", "mode", "status", "origin_province", "competent_province", "competent_department", "materials", "result_sha256", "version", "progress")
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
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
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
    progress: CaseProgress
    def __init__(self, case_number: _Optional[str] = ..., matter_code: _Optional[str] = ..., mode: _Optional[str] = ..., status: _Optional[str] = ..., origin_province: _Optional[str] = ..., competent_province: _Optional[str] = ..., competent_department: _Optional[str] = ..., materials: _Optional[_Iterable[_Union[MaterialRef, _Mapping]]] = ..., result_sha256: _Optional[str] = ..., version: _Optional[int] = ..., progress: _Optional[_Union[CaseProgress, _Mapping]] = ...) -> None: ...

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

class IdentityCheck(_message.Message):
    __slots__ = ("method", "verified")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    method: str
    verified: bool
    def __init__(self, method: _Optional[str] = ..., verified: _Optional[bool] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("name", "id_number", "relationship")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    name: str
    id_number: str
    relationship: str
    def __init__(self, name: _Optional[str] = ..., id_number: _Optional[str] = ..., relationship: _Optional[str] = ...) -> None: ...

class JointTask(_message.Message):
    __slots__ = ("province", "department", "task", "status", "outcome")
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    province: str
    department: str
    task: str
    status: str
    outcome: str
    def __init__(self, province: _Optional[str] = ..., department: _Optional[str] = ..., task: _Optional[str] = ..., status: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...

class CaseProgress(_message.Message):
    __slots__ = ("opened_at", "due_at", "clock_paused", "supplement_missing", "decision", "decision_reason", "legal_basis", "delivery", "tracking_number", "rating", "partners", "tasks", "identity_method", "agent_relationship")
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_PAUSED_FIELD_NUMBER: _ClassVar[int]
    SUPPLEMENT_MISSING_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DECISION_REASON_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    PARTNERS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_METHOD_FIELD_NUMBER: _ClassVar[int]
    AGENT_RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    opened_at: str
    due_at: str
    clock_paused: bool
    supplement_missing: _containers.RepeatedScalarFieldContainer[str]
    decision: str
    decision_reason: str
    legal_basis: str
    delivery: str
    tracking_number: str
    rating: str
    partners: _containers.RepeatedScalarFieldContainer[str]
    tasks: _containers.RepeatedCompositeFieldContainer[JointTask]
    identity_method: str
    agent_relationship: str
    def __init__(self, opened_at: _Optional[str] = ..., due_at: _Optional[str] = ..., clock_paused: _Optional[bool] = ..., supplement_missing: _Optional[_Iterable[str]] = ..., decision: _Optional[str] = ..., decision_reason: _Optional[str] = ..., legal_basis: _Optional[str] = ..., delivery: _Optional[str] = ..., tracking_number: _Optional[str] = ..., rating: _Optional[str] = ..., partners: _Optional[_Iterable[str]] = ..., tasks: _Optional[_Iterable[_Union[JointTask, _Mapping]]] = ..., identity_method: _Optional[str] = ..., agent_relationship: _Optional[str] = ...) -> None: ...

class RequiredMaterialInfo(_message.Message):
    __slots__ = ("kind", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class MatterListing(_message.Message):
    __slots__ = ("list", "batch", "seq")
    LIST_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    list: str
    batch: str
    seq: int
    def __init__(self, list: _Optional[str] = ..., batch: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...

class MatterInfo(_message.Message):
    __slots__ = ("code", "name", "scenario", "kind", "lead_department", "cooperating_departments", "modes", "required_materials", "time_limit_days", "result_kind", "lists", "aliases", "time_limit_here")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LEAD_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    COOPERATING_DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    MODES_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_MATERIALS_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_DAYS_FIELD_NUMBER: _ClassVar[int]
    RESULT_KIND_FIELD_NUMBER: _ClassVar[int]
    LISTS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_HERE_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    scenario: str
    kind: str
    lead_department: str
    cooperating_departments: _containers.RepeatedScalarFieldContainer[str]
    modes: _containers.RepeatedScalarFieldContainer[str]
    required_materials: _containers.RepeatedCompositeFieldContainer[RequiredMaterialInfo]
    time_limit_days: int
    result_kind: str
    lists: _containers.RepeatedCompositeFieldContainer[MatterListing]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    time_limit_here: int
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., scenario: _Optional[str] = ..., kind: _Optional[str] = ..., lead_department: _Optional[str] = ..., cooperating_departments: _Optional[_Iterable[str]] = ..., modes: _Optional[_Iterable[str]] = ..., required_materials: _Optional[_Iterable[_Union[RequiredMaterialInfo, _Mapping]]] = ..., time_limit_days: _Optional[int] = ..., result_kind: _Optional[str] = ..., lists: _Optional[_Iterable[_Union[MatterListing, _Mapping]]] = ..., aliases: _Optional[_Iterable[str]] = ..., time_limit_here: _Optional[int] = ...) -> None: ...

class CatalogQuery(_message.Message):
    __slots__ = ("text", "limit")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    text: str
    limit: int
    def __init__(self, text: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class CatalogResults(_message.Message):
    __slots__ = ("matters",)
    MATTERS_FIELD_NUMBER: _ClassVar[int]
    matters: _containers.RepeatedCompositeFieldContainer[MatterInfo]
    def __init__(self, matters: _Optional[_Iterable[_Union[MatterInfo, _Mapping]]] = ...) -> None: ...

class MonitorRequest(_message.Message):
    __slots__ = ("due_within_days", "matter_code", "partner_province", "since")
    DUE_WITHIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    PARTNER_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    due_within_days: int
    matter_code: str
    partner_province: str
    since: str
    def __init__(self, due_within_days: _Optional[int] = ..., matter_code: _Optional[str] = ..., partner_province: _Optional[str] = ..., since: _Optional[str] = ...) -> None: ...

class MonitorBucket(_message.Message):
    __slots__ = ("matter_code", "partner_province", "open", "overdue", "due_soon", "paused", "overdue_cases")
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    PARTNER_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    DUE_SOON_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_CASES_FIELD_NUMBER: _ClassVar[int]
    matter_code: str
    partner_province: str
    open: int
    overdue: int
    due_soon: int
    paused: int
    overdue_cases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, matter_code: _Optional[str] = ..., partner_province: _Optional[str] = ..., open: _Optional[int] = ..., overdue: _Optional[int] = ..., due_soon: _Optional[int] = ..., paused: _Optional[int] = ..., overdue_cases: _Optional[_Iterable[str]] = ...) -> None: ...

class MatterThroughput(_message.Message):
    __slots__ = ("matter_code", "decided", "approved", "rejected_or_returned", "median_handling_hours", "within_time_limit")
    MATTER_CODE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_OR_RETURNED_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_HANDLING_HOURS_FIELD_NUMBER: _ClassVar[int]
    WITHIN_TIME_LIMIT_FIELD_NUMBER: _ClassVar[int]
    matter_code: str
    decided: int
    approved: int
    rejected_or_returned: int
    median_handling_hours: float
    within_time_limit: int
    def __init__(self, matter_code: _Optional[str] = ..., decided: _Optional[int] = ..., approved: _Optional[int] = ..., rejected_or_returned: _Optional[int] = ..., median_handling_hours: _Optional[float] = ..., within_time_limit: _Optional[int] = ...) -> None: ...

class MonitorReport(_message.Message):
    __slots__ = ("node", "at", "due_within_days", "buckets", "throughput", "totals")
    class TotalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NODE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    DUE_WITHIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    node: str
    at: str
    due_within_days: int
    buckets: _containers.RepeatedCompositeFieldContainer[MonitorBucket]
    throughput: _containers.RepeatedCompositeFieldContainer[MatterThroughput]
    totals: _containers.ScalarMap[str, int]
    def __init__(self, node: _Optional[str] = ..., at: _Optional[str] = ..., due_within_days: _Optional[int] = ..., buckets: _Optional[_Iterable[_Union[MonitorBucket, _Mapping]]] = ..., throughput: _Optional[_Iterable[_Union[MatterThroughput, _Mapping]]] = ..., totals: _Optional[_Mapping[str, int]] = ...) -> None: ...
