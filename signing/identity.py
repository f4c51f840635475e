"""Who a federation certificate speaks for, read from its subjectAltName URIs."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from signing.errors import SigningError

URN = "urn:tongban:"
# auditor-pii: an auditor cleared to see personal data unmasked (on the node's host, see
# nodes/audit_cli.py); the gRPC audit service serves role auditor, always masked.
ROLES = frozenset({"root", "province-ca", "node", "window", "officer", "auditor", "auditor-pii", "seal", "tsa"})
OPERATOR_ROLES = frozenset({"window", "officer", "auditor", "auditor-pii"})
PROVINCE_CODE = re.compile(r"^\d{6}$")
DEPARTMENT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
OPERATOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class CertIdentity:
    province_code: str
    role: str
    common_name: str
    department_key: str | None = None
    operator_id: str | None = None
    fingerprint_sha256: str = ""


def province_uri(code: str) -> str:
    return f"{URN}province:{code}"


def role_uri(role: str) -> str:
    return f"{URN}role:{role}"


def department_uri(code: str, department_key: str) -> str:
    return f"{URN}department:{code}:{department_key}"


def operator_uri(operator_id: str) -> str:
    return f"{URN}operator:{operator_id}"


def load_certificate(data: bytes | str | x509.Certificate) -> x509.Certificate:
    if isinstance(data, x509.Certificate):
        return data
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise SigningError(f"not an X.509 certificate in PEM or DER ({exc}); supply the certificate file itself") from exc


def identity_from_certificate(cert: bytes | x509.Certificate) -> CertIdentity:
    """Read the tongban URIs; refuse a certificate whose URIs are missing or contradict each other."""
    c = load_certificate(cert)
    cn_attrs = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cn_attrs[0].value) if cn_attrs else ""
    what = f"certificate {common_name or c.serial_number!r}"
    try:
        san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise SigningError(f"{what} has no subjectAltName, so it is not a tongban federation certificate; "
                           "use a certificate issued by `tongban pki init`") from None
    fields: dict[str, set[str]] = {}
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(URN):
            kind, _, value = uri[len(URN):].partition(":")
            fields.setdefault(kind, set()).add(value)

    def one(kind: str, *, required: bool) -> str | None:
        values = fields.get(kind, set())
        if len(values) > 1:
            raise SigningError(f"{what} names several {kind}s ({', '.join(sorted(values))}); "
                               "a federation certificate speaks for exactly one; re-issue it")
        if not values and required:
            raise SigningError(f"{what} carries no urn:tongban:{kind} URI; re-issue it with `tongban pki`")
        return next(iter(values), None)

    province = one("province", required=True)
    role = one("role", required=True)
    assert province is not None and role is not None
    if not PROVINCE_CODE.match(province):
        raise SigningError(f"{what} has province code {province!r}, which is not six digits; re-issue it")
    if role not in ROLES:
        raise SigningError(f"{what} has unknown role {role!r} (known: {', '.join(sorted(ROLES))}); re-issue it")
    department_key = None
    department = one("department", required=role == "seal")
    if department is not None:
        dept_province, _, department_key = department.partition(":")
        if dept_province != province or not DEPARTMENT_KEY.match(department_key):
            raise SigningError(f"{what} names department {department!r}, which contradicts its province "
                               f"{province} or is malformed; re-issue it")
        if role != "seal":
            raise SigningError(f"{what} has role {role!r} but names a department; only seals do; re-issue it")
    operator_id = one("operator", required=role in OPERATOR_ROLES)
    if operator_id is not None and role not in OPERATOR_ROLES:
        raise SigningError(f"{what} has role {role!r} but names an operator; re-issue it")
    return CertIdentity(
        province_code=province,
        role=role,
        common_name=common_name,
        department_key=department_key,
        operator_id=operator_id,
        fingerprint_sha256=hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )
