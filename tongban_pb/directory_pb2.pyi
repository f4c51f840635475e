from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RevocationListsRequest(_message.Message):
    __slots__ = ("issuers",)
    ISSUERS_FIELD_NUMBER: _ClassVar[int]
    issuers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, issuers: _Optional[_Iterable[str]] = ...) -> None: ...

class RevocationList(_message.Message):
    __slots__ = ("issuer", "crl_der", "crl_number", "this_update", "next_update")
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CRL_DER_FIELD_NUMBER: _ClassVar[int]
    CRL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    THIS_UPDATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_UPDATE_FIELD_NUMBER: _ClassVar[int]
    issuer: str
    crl_der: bytes
    crl_number: int
    this_update: str
    next_update: str
    def __init__(self, issuer: _Optional[str] = ..., crl_der: _Optional[bytes] = ..., crl_number: _Optional[int] = ..., this_update: _Optional[str] = ..., next_update: _Optional[str] = ...) -> None: ...

class RevocationLists(_message.Message):
    __slots__ = ("from_province", "crls")
    FROM_PROVINCE_FIELD_NUMBER: _ClassVar[int]
    CRLS_FIELD_NUMBER: _ClassVar[int]
    from_province: str
    crls: _containers.RepeatedCompositeFieldContainer[RevocationList]
    def __init__(self, from_province: _Optional[str] = ..., crls: _Optional[_Iterable[_Union[RevocationList, _Mapping]]] = ...) -> None: ...

class TrustMaterialRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TrustMaterial(_message.Message):
    __slots__ = ("province", "root_der", "province_ca_der", "tsa_der", "node_der")
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    ROOT_DER_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_CA_DER_FIELD_NUMBER: _ClassVar[int]
    TSA_DER_FIELD_NUMBER: _ClassVar[int]
    NODE_DER_FIELD_NUMBER: _ClassVar[int]
    province: str
    root_der: bytes
    province_ca_der: bytes
    tsa_der: bytes
    node_der: bytes
    def __init__(self, province: _Optional[str] = ..., root_der: _Optional[bytes] = ..., province_ca_der: _Optional[bytes] = ..., tsa_der: _Optional[bytes] = ..., node_der: _Optional[bytes] = ...) -> None: ...
