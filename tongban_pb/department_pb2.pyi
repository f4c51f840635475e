from tongban_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class DecisionRequest(_message.Message):
    __slots__ = ("case_number", "note")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    note: str
    def __init__(self, case_number: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class SupplementNotice(_message.Message):
    __slots__ = ("case_number", "missing", "note")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    missing: _containers.RepeatedScalarFieldContainer[str]
    note: str
    def __init__(self, case_number: _Optional[str] = ..., missing: _Optional[_Iterable[str]] = ..., note: _Optional[str] = ...) -> None: ...

class RejectRequest(_message.Message):
    __slots__ = ("case_number", "legal_basis", "reason")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    legal_basis: str
    reason: str
    def __init__(self, case_number: _Optional[str] = ..., legal_basis: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReturnRequest(_message.Message):
    __slots__ = ("case_number", "reason")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    reason: str
    def __init__(self, case_number: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PartRequest(_message.Message):
    __slots__ = ("case_number", "outcome", "note")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    outcome: str
    note: str
    def __init__(self, case_number: _Optional[str] = ..., outcome: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...
