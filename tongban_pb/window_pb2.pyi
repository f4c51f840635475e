from tongban_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitApplicationRequest(_message.Message):
    __slots__ = ("matter_code", "competent_province", "applicant", "materials", "checklist")
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
    matter_code: str
    competent_province: str
    applicant: _common_pb2.Applicant
    materials: _containers.RepeatedCompositeFieldContainer[_common_pb2.MaterialRef]
    checklist: _containers.ScalarMap[str, bool]
    def __init__(self, matter_code: _Optional[str] = ..., competent_province: _Optional[str] = ..., applicant: _Optional[_Union[_common_pb2.Applicant, _Mapping]] = ..., materials: _Optional[_Iterable[_Union[_common_pb2.MaterialRef, _Mapping]]] = ..., checklist: _Optional[_Mapping[str, bool]] = ...) -> None: ...

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
