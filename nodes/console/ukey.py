"""Clerks' keys for the console, kept as a UKey keeps them: the operator certificate beside its
private key encrypted with the clerk's own PIN. Signing in is unlocking the key with the PIN;
the console then acts as that clerk, with that certificate, and nobody else.

Only a window clerk of this node's province may sign in; the refusal says so in plain Chinese."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.errors import SigningError
from signing.identity import OPERATOR_ID, CertIdentity, identity_from_certificate
from signing.pki import Federation, load_private_key

MIN_PIN = 6
MAX_TRIES = 5  # wrong PINs in a row before the key is locked for a while, as a UKey locks
LOCKOUT_SECONDS = 300
ROLE_NAMES = {"window": "窗口收件人员", "officer": "部门审批人员", "auditor": "审计人员"}


class SignInRefused(Exception):
    """The clerk cannot sign in; the message (Chinese) says why and what to do."""


@dataclass(frozen=True)
class Clerk:
    identity: CertIdentity
    cert_pem: bytes
    key_pem: bytes  # unencrypted, in memory only, for the gRPC channel of this sign-in

    @property
    def operator_id(self) -> str:
        return self.identity.operator_id or self.identity.common_name


def _paths(keyring: Path, operator_id: str) -> tuple[Path, Path]:
    return keyring / f"{operator_id}.pem", keyring / f"{operator_id}.key"


def write_ukey(keyring: Path, *, operator_id: str, cert_pem: bytes, key: ec.EllipticCurvePrivateKey, pin: str) -> Path:
    """Store a certificate and its key under the PIN (no checks: see enrol)."""
    if len(pin) < MIN_PIN:
        raise SignInRefused(f"PIN 至少 {MIN_PIN} 位")
    keyring.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = _paths(keyring, operator_id)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(pin.encode("utf-8")))
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.write_bytes(encrypted)
    cert_path.write_bytes(cert_pem)
    return cert_path


def enrol(keyring: Path, *, federation: Federation, province: str, operator_id: str, pin: str) -> Path:
    """Put a window clerk's key (issued by the province CA) into the console's keyring under a PIN."""
    folder = federation.directory / "provinces" / province / "operators"
    cert_pem = (folder / f"{operator_id}.pem").read_bytes() if OPERATOR_ID.match(operator_id) and \
        (folder / f"{operator_id}.pem").exists() else None
    if cert_pem is None:
        raise SignInRefused(f"省CA没有为 {operator_id} 签发证书；请先签发：tongban pki init --operator {province}:window:{operator_id}")
    refusal = _refusal(identity_from_certificate(cert_pem), province=province, federation=federation)
    if refusal:
        raise SignInRefused(refusal)
    key = load_private_key(folder / f"{operator_id}.key")
    return write_ukey(keyring, operator_id=operator_id, cert_pem=cert_pem, key=key, pin=pin)


class Keyring:
    """The enrolled clerks of one console, with a lock-out after repeated wrong PINs."""

    def __init__(self, directory: Path, *, federation: Federation, province: str) -> None:
        self.directory = directory
        self.federation = federation
        self.province = province
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def unlock(self, operator_id: str, pin: str) -> Clerk:
        operator_id = operator_id.strip()
        if not operator_id:
            raise SignInRefused("请输入工号")
        if not OPERATOR_ID.match(operator_id):
            raise SignInRefused("工号只能包含字母、数字、点、下划线和短横线，请核对后重新输入")
        cert_path, key_path = _paths(self.directory, operator_id)
        if not cert_path.exists() or not key_path.exists():
            raise SignInRefused(f"本窗口没有工号 {operator_id} 的数字证书，请联系管理员办理证书登记（tongban console --enrol）")
        left = self._take_try(operator_id)
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=pin.encode("utf-8") or None)
        except (ValueError, TypeError):
            raise SignInRefused("PIN 不正确" + (f"，还可再试 {left} 次" if left else
                                f"，证书已锁定 {LOCKOUT_SECONDS // 60} 分钟")) from None
        self._failures.pop(operator_id, None)
        cert_pem = cert_path.read_bytes()
        try:
            identity = identity_from_certificate(cert_pem)
        except SigningError:
            raise SignInRefused("该证书不是跨省通办联盟签发的工作人员证书，不能登录") from None
        cert = x509.load_pem_x509_certificate(cert_pem)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            raise SignInRefused("证书与私钥不匹配，请联系管理员重新登记证书")
        refusal = _refusal(identity, province=self.province, federation=self.federation, cert=cert)
        if refusal:
            raise SignInRefused(refusal)
        plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        return Clerk(identity=identity, cert_pem=cert_pem, key_pem=plain)

    def _take_try(self, operator_id: str) -> int:
        """Count this try as failed before the PIN is checked (a success clears it), so tries
        sent at once cannot all pass the lock-out check first; returns the tries left if it fails."""
        with self._lock:
            count, since = self._failures.get(operator_id, (0, 0.0))
            if count >= MAX_TRIES:
                wait = since + LOCKOUT_SECONDS - time.monotonic()
                if wait > 0:
                    raise SignInRefused(f"PIN 连续输错 {MAX_TRIES} 次，证书已锁定，请 {int(wait // 60) + 1} 分钟后再试")
                count = 0
            self._failures[operator_id] = (count + 1, time.monotonic())
            return max(MAX_TRIES - count - 1, 0)


def _refusal(identity: CertIdentity, *, province: str, federation: Federation,
             cert: x509.Certificate | None = None) -> str:
    here = _province_name(federation, province)
    if identity.province_code != province:
        return (f"该证书属于{_province_name(federation, identity.province_code)}的工作人员，"
                f"不能登录{here}的窗口控制台；请使用本省签发的证书")
    if identity.role != "window":
        role = ROLE_NAMES.get(identity.role, identity.role)
        return f"该证书的角色是“{role}”，窗口控制台只允许窗口收件人员登录"
    if cert is not None:
        now = datetime.now(timezone.utc)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return f"该证书已过期或尚未生效（有效期至 {cert.not_valid_after_utc:%Y-%m-%d}），请联系省CA更换证书"
    return ""


def _province_name(federation: Federation, code: str) -> str:
    province = federation.provinces.get(code)
    return f"{province.name}（{code}）" if province else code
