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
