"""Plain data shared by the PKI and the verifier (kept apart so importing the PKI does
not import the PDF validator)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Province:
    code: str
    name: str
    departments: Mapping[str, str]  # department key -> full Chinese name


@dataclass(frozen=True)
class TrustMaterial:
    """What a verifier needs: the one trust anchor, the CAs that may appear in a chain and the
    CRLs that say which certificates are still good."""

    root_pem: bytes
    intermediate_pems: tuple[bytes, ...]
    crls_der: tuple[bytes, ...]
    provinces: Mapping[str, Province]
