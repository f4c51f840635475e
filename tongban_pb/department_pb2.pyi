from tongban_pb import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class DecisionRequest(_message.Message):
    __slots__ = ("case_number", "note")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    note: str
    def __init__(self, case_number: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...
