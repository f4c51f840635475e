from tongban_pb import audit_pb2 as _audit_pb2
from tongban_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogRef(_message.Message):
    __slots__ = ("log",)
    LOG_FIELD_NUMBER: _ClassVar[int]
    log: str
    def __init__(self, log: _Optional[str] = ...) -> None: ...

class SeenCheckpoint(_message.Message):
    __slots__ = ("checkpoint_json",)
    CHECKPOINT_JSON_FIELD_NUMBER: _ClassVar[int]
    checkpoint_json: str
    def __init__(self, checkpoint_json: _Optional[str] = ...) -> None: ...

class WitnessRequest(_message.Message):
    __slots__ = ("checkpoint_json", "old_size", "consistency_proof")
    CHECKPOINT_JSON_FIELD_NUMBER: _ClassVar[int]
    OLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_PROOF_FIELD_NUMBER: _ClassVar[int]
    checkpoint_json: str
    old_size: int
    consistency_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, checkpoint_json: _Optional[str] = ..., old_size: _Optional[int] = ..., consistency_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class WitnessReply(_message.Message):
    __slots__ = ("cosignature_json",)
    COSIGNATURE_JSON_FIELD_NUMBER: _ClassVar[int]
    cosignature_json: str
    def __init__(self, cosignature_json: _Optional[str] = ...) -> None: ...

class CaseEventsReply(_message.Message):
    __slots__ = ("node", "entries")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    node: str
    entries: _containers.RepeatedCompositeFieldContainer[_audit_pb2.LogEntry]
    def __init__(self, node: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[_audit_pb2.LogEntry, _Mapping]]] = ...) -> None: ...

class CaseEvidenceReply(_message.Message):
    __slots__ = ("side_json",)
    SIDE_JSON_FIELD_NUMBER: _ClassVar[int]
    side_json: str
    def __init__(self, side_json: _Optional[str] = ...) -> None: ...
