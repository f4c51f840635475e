from tongban_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TimelineEntry(_message.Message):
    __slots__ = ("version", "event", "recorded_at", "actor", "detail_json")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    version: int
    event: str
    recorded_at: str
    actor: _common_pb2.Actor
    detail_json: str
    def __init__(self, version: _Optional[int] = ..., event: _Optional[str] = ..., recorded_at: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., detail_json: _Optional[str] = ...) -> None: ...

class Timeline(_message.Message):
    __slots__ = ("case_number", "node", "entries")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    node: str
    entries: _containers.RepeatedCompositeFieldContainer[TimelineEntry]
    def __init__(self, case_number: _Optional[str] = ..., node: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[TimelineEntry, _Mapping]]] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("node", "notification_id", "case_number", "version", "event", "recorded_at", "actor", "detail_json")
    NODE_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    node: str
    notification_id: int
    case_number: str
    version: int
    event: str
    recorded_at: str
    actor: _common_pb2.Actor
    detail_json: str
    def __init__(self, node: _Optional[str] = ..., notification_id: _Optional[int] = ..., case_number: _Optional[str] = ..., version: _Optional[int] = ..., event: _Optional[str] = ..., recorded_at: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., detail_json: _Optional[str] = ...) -> None: ...

class FederatedTimelineReply(_message.Message):
    __slots__ = ("case_number", "nodes", "entries", "unreachable")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    nodes: _containers.RepeatedScalarFieldContainer[str]
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    unreachable: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, case_number: _Optional[str] = ..., nodes: _Optional[_Iterable[str]] = ..., entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ..., unreachable: _Optional[_Iterable[str]] = ...) -> None: ...

class NodeLogRequest(_message.Message):
    __slots__ = ("after", "limit")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    after: int
    limit: int
    def __init__(self, after: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class CaseStateRequest(_message.Message):
    __slots__ = ("case_number", "version", "moment")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MOMENT_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    version: int
    moment: str
    def __init__(self, case_number: _Optional[str] = ..., version: _Optional[int] = ..., moment: _Optional[str] = ...) -> None: ...

class CaseState(_message.Message):
    __slots__ = ("case_number", "version", "as_of", "state_json")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    version: int
    as_of: str
    state_json: str
    def __init__(self, case_number: _Optional[str] = ..., version: _Optional[int] = ..., as_of: _Optional[str] = ..., state_json: _Optional[str] = ...) -> None: ...

class VerifyLogRequest(_message.Message):
    __slots__ = ("ask_witnesses", "check_handoffs")
    ASK_WITNESSES_FIELD_NUMBER: _ClassVar[int]
    CHECK_HANDOFFS_FIELD_NUMBER: _ClassVar[int]
    ask_witnesses: bool
    check_handoffs: bool
    def __init__(self, ask_witnesses: _Optional[bool] = ..., check_handoffs: _Optional[bool] = ...) -> None: ...

class LogProblem(_message.Message):
    __slots__ = ("kind", "detail", "position", "notification_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    detail: str
    position: int
    notification_id: int
    def __init__(self, kind: _Optional[str] = ..., detail: _Optional[str] = ..., position: _Optional[int] = ..., notification_id: _Optional[int] = ...) -> None: ...

class LogVerification(_message.Message):
    __slots__ = ("verdict", "node", "entries", "events", "checkpoints_checked", "problems", "rendered")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    RENDERED_FIELD_NUMBER: _ClassVar[int]
    verdict: str
    node: str
    entries: int
    events: int
    checkpoints_checked: int
    problems: _containers.RepeatedCompositeFieldContainer[LogProblem]
    rendered: str
    def __init__(self, verdict: _Optional[str] = ..., node: _Optional[str] = ..., entries: _Optional[int] = ..., events: _Optional[int] = ..., checkpoints_checked: _Optional[int] = ..., problems: _Optional[_Iterable[_Union[LogProblem, _Mapping]]] = ..., rendered: _Optional[str] = ...) -> None: ...

class MakeCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckpointReply(_message.Message):
    __slots__ = ("checkpoint_json", "witnessed_by", "refused")
    CHECKPOINT_JSON_FIELD_NUMBER: _ClassVar[int]
    WITNESSED_BY_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    checkpoint_json: str
    witnessed_by: _containers.RepeatedScalarFieldContainer[str]
    refused: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, checkpoint_json: _Optional[str] = ..., witnessed_by: _Optional[_Iterable[str]] = ..., refused: _Optional[_Iterable[str]] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("case_number", "node", "notification_id", "originator_id", "version", "topic", "state", "leaf_index", "path", "checkpoint_json")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINATOR_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_JSON_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    node: str
    notification_id: int
    originator_id: str
    version: int
    topic: str
    state: bytes
    leaf_index: int
    path: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint_json: str
    def __init__(self, case_number: _Optional[str] = ..., node: _Optional[str] = ..., notification_id: _Optional[int] = ..., originator_id: _Optional[str] = ..., version: _Optional[int] = ..., topic: _Optional[str] = ..., state: _Optional[bytes] = ..., leaf_index: _Optional[int] = ..., path: _Optional[_Iterable[bytes]] = ..., checkpoint_json: _Optional[str] = ...) -> None: ...

class EvidenceBundleReply(_message.Message):
    __slots__ = ("bundle_json",)
    BUNDLE_JSON_FIELD_NUMBER: _ClassVar[int]
    bundle_json: str
    def __init__(self, bundle_json: _Optional[str] = ...) -> None: ...

class RefusalsRequest(_message.Message):
    __slots__ = ("province", "since", "limit")
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    province: str
    since: str
    limit: int
    def __init__(self, province: _Optional[str] = ..., since: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class RefusalRecord(_message.Message):
    __slots__ = ("at", "method", "code", "reason", "province", "role", "operator", "common_name", "fingerprint_sha256", "case_number", "peer", "suppressed")
    AT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    COMMON_NAME_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_SHA256_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    at: str
    method: str
    code: str
    reason: str
    province: str
    role: str
    operator: str
    common_name: str
    fingerprint_sha256: str
    case_number: str
    peer: str
    suppressed: int
    def __init__(self, at: _Optional[str] = ..., method: _Optional[str] = ..., code: _Optional[str] = ..., reason: _Optional[str] = ..., province: _Optional[str] = ..., role: _Optional[str] = ..., operator: _Optional[str] = ..., common_name: _Optional[str] = ..., fingerprint_sha256: _Optional[str] = ..., case_number: _Optional[str] = ..., peer: _Optional[str] = ..., suppressed: _Optional[int] = ...) -> None: ...

class RefusalList(_message.Message):
    __slots__ = ("node", "refusals")
    NODE_FIELD_NUMBER: _ClassVar[int]
    REFUSALS_FIELD_NUMBER: _ClassVar[int]
    node: str
    refusals: _containers.RepeatedCompositeFieldContainer[RefusalRecord]
    def __init__(self, node: _Optional[str] = ..., refusals: _Optional[_Iterable[_Union[RefusalRecord, _Mapping]]] = ...) -> None: ...
