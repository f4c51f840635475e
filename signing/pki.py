"""The federation PKI for development (`tongban pki init`): one root, a CA per province,
and the node, seal and operator certificates those CAs issue. EC P-256 throughout."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.errors import SigningError
from signing.identity import (
    DEPARTMENT_KEY, OPERATOR_ID, OPERATOR_ROLES, PROVINCE_CODE, department_uri, operator_uri,
    province_uri, role_uri,
)
from signing.trust import Province, TrustMaterial

__all__ = ["Federation", "Province", "default_provinces", "init_federation", "key_passphrase", "load_private_key"]

ROOT_CODE = "000000"  # the root speaks for the federation, not for a province
CRL_BASE = "http://crl.tongban.invalid"  # never fetched: it tells validators a CRL is expected
CRL_LIFETIME = dt.timedelta(days=7)
# Backdate validity so a certificate or CRL made this second is already in force on a node
# whose clock runs a little behind.
BACKDATE = dt.timedelta(minutes=5)
ROOT_DAYS, PROVINCE_CA_DAYS, NODE_DAYS, SEAL_DAYS, OPERATOR_DAYS = 3650, 1826, 365, 730, 365
# A timestamp outlives the seal it dates: the TSA certificate must stay valid (and revocation-
# checkable) long after seal certificates expire, so it lives as long as its CA.
TSA_DAYS = PROVINCE_CA_DAYS - 1
MANIFEST = "federation.json"
# Keys are encrypted at rest (PKCS#8, scrypt-based best available encryption) when this is set.
PASSPHRASE_ENV = "TONGBAN_KEY_PASSPHRASE"

PrivateKey = ec.EllipticCurvePrivateKey
_CRL_INSTALL = threading.Lock()
_SETTLED_NS = 2_000_000_000  # a file this long unchanged is kept by its identity (Federation._read)


def _missing(name: str) -> SigningError:
    return SigningError(f"{name} is missing from the federation; re-create it with `tongban pki init`")


def default_provinces() -> list[Province]:
    def departments(prefix: str, *, municipality: bool) -> dict[str, str]:
        bureau = "局" if municipality else "厅"
        return {
            "market": f"{prefix}市场监督管理局",
            "public_security": f"{prefix}公安{bureau}",
            "hrss": f"{prefix}人力资源和社会保障{bureau}",
            "civil_affairs": f"{prefix}民政{bureau}",
            "justice": f"{prefix}司法{bureau}",
            "health": f"{prefix}卫生健康委员会",
        }

    return [
        Province("340000", "安徽省", departments("安徽省", municipality=False)),
        Province("330000", "浙江省", departments("浙江省", municipality=False)),
        Province("320000", "江苏省", departments("江苏省", municipality=False)),
        Province("310000", "上海市", departments("上海市", municipality=True)),
    ]


def key_passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def load_private_key(path: Path, *, passphrase: bytes | None = None) -> PrivateKey:
    """The only place key files are read. An encrypted key needs the passphrase, given here or
    in $TONGBAN_KEY_PASSPHRASE; a plain key is read as it is."""
    passphrase = passphrase if passphrase is not None else key_passphrase()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read private key {path} ({exc}); check the file and its permissions") from exc
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    if encrypted and passphrase is None:
        raise SigningError(f"private key {path} is encrypted; set {PASSPHRASE_ENV} to its passphrase "
                           "(or key_passphrase in the node's config)")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except (ValueError, TypeError) as exc:
        hint = (f"the passphrase in {PASSPHRASE_ENV} is wrong for this key" if encrypted
                else "the file is not a PEM private key")
        raise SigningError(f"cannot load private key {path}: {hint}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningError(f"{path} is not an EC private key; re-create it with `tongban pki init`")
    return key


def _key_pem(key: PrivateKey, *, passphrase: bytes | None = None) -> bytes:
    passphrase = passphrase if passphrase is not None else key_passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside, then rename: a verifier reading CRLs while the directory exchange installs a
    # new one sees the old file or the new one, never half of it. Created with the final mode so
    # a key is never readable by others, not even briefly.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, *, organization: str, province_name: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if province_name:
        attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, province_name))
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
              x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    return x509.Name(attrs)


def _issue(
    *,
    subject: x509.Name,
    key: PrivateKey,
    issuer: tuple[x509.Certificate, PrivateKey] | None,
    days: int,
    uris: Sequence[str],
    ca_path_length: int | None = None,
    is_ca: bool = False,
    key_usage: Mapping[str, bool],
    eku: Sequence[x509.ObjectIdentifier] = (),
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    crl_url: str | None = None,
    critical_eku: bool = False,
    not_after: dt.datetime | None = None,
    public_key: ec.EllipticCurvePublicKey | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    usage = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    usage.update(key_usage)
    san: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
    san += [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key or key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after or now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca_path_length), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key or key.public_key()), critical=False)
    )
    if san:  # RFC 5280 4.2.1.6: the extension holds at least one name (cryptography >= 51 refuses an empty one)
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=critical_eku)
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None,
            crl_issuer=None)]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _crl(
    *, issuer: x509.Certificate, key: PrivateKey, number: int,
    revoked: Iterable[x509.RevokedCertificate] = (),
    lifetime: dt.timedelta = CRL_LIFETIME,
) -> x509.CertificateRevocationList:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - BACKDATE)
        .next_update(now + lifetime)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(key, hashes.SHA256())


@functools.lru_cache(maxsize=128)
def _crl_der(pem: bytes) -> bytes:
    """A CRL file's DER, converted once per content: the trust material is read at every seal and
    verification (so a new CRL applies at once), and parsing a CRL of thousands of entries each
    time cost more than the rest of reading it. The same bytes object each time, too, so what is
    looked up by it (signing.validation) does not hash it again."""
    return x509.load_pem_x509_crl(pem).public_bytes(serialization.Encoding.DER)


def _crl_url(code: str) -> str:
    return f"{CRL_BASE}/{code}.crl"


class Federation:
    """A federation PKI on disk. Opening it reads the manifest; certificates and keys are read
    when asked for, so a re-issued CRL is seen at once."""

    def __init__(self, *, directory: Path, provinces: Mapping[str, Province]) -> None:
        self.directory = directory
        self.provinces = provinces
        # Certificates and CRLs as last read, each with the identity of the file it came from.
        self._files: dict[str, tuple[tuple[int, int, int, int], bytes]] = {}
        self._paths: dict[str | None, tuple[str, str]] = {}

    @classmethod
    def open(cls, directory: Path) -> Federation:
        manifest = directory / MANIFEST
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            provinces = {
                code: Province(code=code, name=p["name"], departments=dict(p["departments"]))
                for code, p in data["provinces"].items()
            }
        except FileNotFoundError:
            raise SigningError(f"{directory} holds no federation ({MANIFEST} missing); "
                               f"create one with `tongban pki init {directory}`") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SigningError(f"{manifest} is malformed ({exc!r}); restore it or re-create the federation") from exc
        return cls(directory=directory, provinces=provinces)

    # -- paths ---------------------------------------------------------------------------
    def _province_dir(self, code: str) -> Path:
        if code not in self.provinces:
            raise SigningError(f"province {code!r} is not in the federation at {self.directory} "
                               f"(provinces: {', '.join(sorted(self.provinces))})")
        return self.directory / "provinces" / code

    def _read(self, path: Path | str) -> bytes:
        """The file's bytes, read again only when it is another file or changed since: a seal and a
        verification each read every CA and CRL (so a new CRL applies at once), and a stat costs
        a fraction of an open and a read. Every write here replaces the file (`_write`: a new
        inode, though one freed a moment before may be reused); an edit in place changes its size
        or times. A file written in the last seconds is not kept (git's rule for racy entries):
        timestamps move in steps of milliseconds on many kernels, so two writes of the same size
        within one step could otherwise look alike. Keys never come here (load_private_key)."""
        name = os.fspath(path)
        try:
            status = os.stat(name)
            identity = (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
            known = self._files.get(name)
            if known is not None and known[0] == identity:
                return known[1]
            with open(name, "rb") as file:
                data = file.read()  # after the stat: never older than the identity it is kept under
        except FileNotFoundError:
            raise _missing(name) from None
        if time.time_ns() - max(status.st_mtime_ns, status.st_ctime_ns) > _SETTLED_NS:
            self._files[name] = (identity, data)
        return data

    def _pem_paths(self, code: str | None) -> tuple[str, str]:
        """The CA certificate and CRL files of a province, or of the root for None: built once,
        as joining paths costs more than the stat that follows."""
        paths = self._paths.get(code)
        if paths is None:
            folder = self._ca_dir(code)
            paths = self._paths[code] = (str(folder / "ca.pem"), str(folder / "crl.pem"))
        return paths

    def _ca_dir(self, code: str | None) -> Path:
        return self.directory / "root" if code is None else self._province_dir(code)

    def _ca(self, code: str | None) -> tuple[x509.Certificate, PrivateKey, Path]:
        folder = self._ca_dir(code)
        cert = x509.load_pem_x509_certificate(self._read(folder / "ca.pem"))
        return cert, load_private_key(folder / "ca.key"), folder

    # -- reading -------------------------------------------------------------------------
    def root_pem(self) -> bytes:
        return self._read(self._pem_paths(None)[0])

    def province_ca_pem(self, code: str) -> bytes:
        return self._read(self._pem_paths(code)[0])

    def _plain_key(self, path: Path) -> bytes:
        # gRPC wants an unencrypted PEM; it is decrypted in memory only.
        if not os.path.exists(path):
            raise _missing(os.fspath(path))
        return load_private_key(path).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def node_tls(self, code: str) -> tuple[bytes, bytes]:
        folder = self._province_dir(code)
        return self._read(folder / "node.pem"), self._plain_key(folder / "node.key")

    def operator_tls(self, code: str, operator_id: str) -> tuple[bytes, bytes]:
        folder = self._province_dir(code) / "operators"
        if not OPERATOR_ID.match(operator_id) or not (folder / f"{operator_id}.pem").exists():
            raise SigningError(f"no operator {operator_id!r} in province {code}; issue one with "
                               f"`tongban pki init --operator {code}:window:{operator_id}` or issue_operator()")
        return self._read(folder / f"{operator_id}.pem"), self._plain_key(folder / f"{operator_id}.key")

    def seal_paths(self, code: str, department_key: str) -> tuple[Path, Path]:
        province = self.provinces.get(code)
        if province is None or department_key not in province.departments:
            raise SigningError(f"province {code} has no department {department_key!r} with a seal; "
                               "check the department key against federation.json")
        folder = self._province_dir(code) / "seals"
        return folder / f"{department_key}.pem", folder / f"{department_key}.key"

    def tsa_paths(self, code: str) -> tuple[Path, Path]:
        folder = self._province_dir(code)
        if not (folder / "tsa.pem").exists():
            raise SigningError(f"province {code} has no timestamp authority certificate; issue one with "
                               f"`tongban pki tsa {self.directory} {code}`")
        return folder / "tsa.pem", folder / "tsa.key"

    def crl_pem(self, code: str | None) -> bytes:
        """The current CRL of a province CA, or of the root for None."""
        return self._read(self._pem_paths(code)[1])

    def crls_der(self) -> list[bytes]:
        return [_crl_der(self.crl_pem(code)) for code in (None, *sorted(self.provinces))]

    def chain_trust(self, code: str) -> TrustMaterial:
        """What a sealer of province `code` validates its own chain with: the root, the province's
        CA and the CRLs of these two, read afresh. Only these can revoke a certificate of the
        chain; pyHanko examines every CRL of its context for every certificate and embeds them
        all in the seal's DSS, so the federation's other CRLs would cost every seal and every
        verifier of it time, growing with the federation."""
        return TrustMaterial(
            root_pem=self.root_pem(),
            intermediate_pems=(self.province_ca_pem(code),),
            crls_der=tuple(_crl_der(self.crl_pem(c)) for c in (None, code)),
            provinces=self.provinces,
        )

    def ca_certs_pem(self) -> list[bytes]:
        return [self.root_pem()] + [self.province_ca_pem(code) for code in sorted(self.provinces)]

    def trust(self) -> TrustMaterial:
        return TrustMaterial(
            root_pem=self.root_pem(),
            intermediate_pems=tuple(self.province_ca_pem(code) for code in sorted(self.provinces)),
            crls_der=tuple(self.crls_der()),
            provinces=self.provinces,
        )

    # -- issuing -------------------------------------------------------------------------
    def issue_operator(self, code: str, *, role: str, operator_id: str) -> tuple[bytes, bytes]:
        if role not in OPERATOR_ROLES:
            raise SigningError(f"operator role {role!r} is not one of {', '.join(sorted(OPERATOR_ROLES))}")
        if not OPERATOR_ID.match(operator_id):
            raise SigningError(f"operator id {operator_id!r} must be letters, digits, '.', '_' or '-'")
        ca_cert, ca_key, folder = self._ca(code)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(
            subject=_name(operator_id, organization=self.provinces[code].name,
                          province_name=self.provinces[code].name),
            key=key, issuer=(ca_cert, ca_key), days=OPERATOR_DAYS,
            uris=[province_uri(code), role_uri(role), operator_uri(operator_id)],
            key_usage={"digital_signature": True}, eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
            crl_url=_crl_url(code),
        )
        _write(folder / "operators" / f"{operator_id}.key", _key_pem(key), secret=True)
        _write(folder / "operators" / f"{operator_id}.pem", _pem(cert))
        return _pem(cert), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def issue_tsa(self, code: str) -> bytes:
        """(Re-)issue the province's timestamp authority certificate and key."""
        ca_cert, ca_key, folder = self._ca(code)
        _write_tsa(folder, province=self.provinces[code], ca=(ca_cert, ca_key))
        return self._read(folder / "tsa.pem")

    def reissue_seal(self, code: str, department_key: str, *, not_after: dt.datetime | None = None) -> bytes:
        """A new key and certificate for a department seal (renewal, or a short-lived seal in
        tests). The old certificate stays valid until it expires or is revoked."""
        cert_path, key_path = self.seal_paths(code, department_key)
        ca_cert, ca_key, _ = self._ca(code)
        cert_pem, key_pem = _seal_material(self.provinces[code], department_key, ca=(ca_cert, ca_key),
                                           not_after=not_after)
        _write(key_path, key_pem, secret=True)
        _write(cert_path, cert_pem)
        return cert_pem

    def certify_token_seal(self, code: str, department_key: str, *, public_key: ec.EllipticCurvePublicKey) -> bytes:
        """Certify a seal key generated inside a PKCS#11 token. The key file, if any, is removed:
        from now on the department seals only through the token."""
        cert_path, key_path = self.seal_paths(code, department_key)
        ca_cert, ca_key, _ = self._ca(code)
        cert_pem, _ = _seal_material(self.provinces[code], department_key, ca=(ca_cert, ca_key), public_key=public_key)
        _write(cert_path, cert_pem)
        key_path.unlink(missing_ok=True)
        return cert_pem

    def reissue_crl(self, code: str | None, *, lifetime: dt.timedelta = CRL_LIFETIME) -> bytes:
        """Publish a fresh CRL (same entries, next number) for a province CA, or the root for None.
        CAs do this well before next_update so windows never hold a stale one."""
        ca_cert, ca_key, folder = self._ca(code)
        old = x509.load_pem_x509_crl(self._read(folder / "crl.pem"))
        number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
        crl = _crl(issuer=ca_cert, key=ca_key, number=number, revoked=list(old), lifetime=lifetime)
        pem = crl.public_bytes(serialization.Encoding.PEM)
        _write(folder / "crl.pem", pem)
        return pem

    def publish_crl_if_due(self, code: str, *, now: dt.datetime | None = None) -> bool:
        """Re-issue the province CA's CRL once half its lifetime has passed, if this federation
        directory holds the CA key (a CA's own node). Returns whether a new CRL was published."""
        folder = self._province_dir(code)
        if not (folder / "ca.key").exists():
            return False
        crl = x509.load_pem_x509_crl(self._read(folder / "crl.pem"))
        now = now or dt.datetime.now(dt.timezone.utc)
        next_update = crl.next_update_utc or now
        if now < crl.last_update_utc + (next_update - crl.last_update_utc) / 2:
            return False
        self.reissue_crl(code)
        return True

    def install_crl(self, crl_data: bytes) -> bool:
        """Store a CRL received from another node if it is genuine (signed by the CA it names)
        and newer than ours. Returns whether it replaced the stored one."""
        try:
            crl = (x509.load_pem_x509_crl(crl_data) if crl_data.lstrip().startswith(b"-----")
                   else x509.load_der_x509_crl(crl_data))
        except ValueError as exc:
            raise SigningError(f"not a CRL in PEM or DER ({exc})") from exc
        folders = [self.directory / "root"] + [self._province_dir(c) for c in sorted(self.provinces)]
        for folder in folders:
            ca_cert = x509.load_pem_x509_certificate(self._read(folder / "ca.pem"))
            if ca_cert.subject != crl.issuer:
                continue
            if not crl.is_signature_valid(ca_cert.public_key()):
                raise SigningError(f"the CRL claiming to be from {crl.issuer.rfc4514_string()} is not signed by "
                                   "that CA; refusing it")
            with _CRL_INSTALL:  # compare-and-replace as one step against concurrent refreshes
                old = x509.load_pem_x509_crl(self._read(folder / "crl.pem"))
                number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
                old_number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
                if number <= old_number:
                    return False
                _write(folder / "crl.pem", crl.public_bytes(serialization.Encoding.PEM))
                return True
        raise SigningError(f"the CRL issuer {crl.issuer.rfc4514_string()} is not a CA of this federation")

    def revoke(self, code: str, *, cert_pem: bytes) -> None:
        """Add a certificate issued by the province CA to its CRL and re-issue the CRL."""
        ca_cert, ca_key, folder = self._ca(code)
        cert = x509.load_pem_x509_certificate(cert_pem)
        if cert.issuer != ca_cert.subject:
            raise SigningError(f"certificate {cert.serial_number} was not issued by the CA of {code}; "
                               "revoke it at the CA that issued it")
        old = x509.load_pem_x509_crl(self._read(folder / "crl.pem"))
        number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
        entries = list(old)
        if old.get_revoked_certificate_by_serial_number(cert.serial_number) is None:
            entries.append(x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                           .revocation_date(dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
                           .build())
        crl = _crl(issuer=ca_cert, key=ca_key, number=number, revoked=entries)
        _write(folder / "crl.pem", crl.public_bytes(serialization.Encoding.PEM))


def _seal_material(province: Province, department_key: str, *, ca: tuple[x509.Certificate, PrivateKey],
                   not_after: dt.datetime | None = None,
                   public_key: ec.EllipticCurvePublicKey | None = None) -> tuple[bytes, bytes]:
    name = province.departments[department_key]
    key = ec.generate_private_key(ec.SECP256R1())  # unused when the key lives in a token
    cert = _issue(subject=_name(name, organization=name, province_name=province.name),
                  key=key, issuer=ca, days=SEAL_DAYS, not_after=not_after, public_key=public_key,
                  uris=[province_uri(province.code), role_uri("seal"), department_uri(province.code, department_key)],
                  key_usage={"digital_signature": True, "content_commitment": True},
                  crl_url=_crl_url(province.code))
    return _pem(cert), _key_pem(key)


def _write_tsa(folder: Path, *, province: Province, ca: tuple[x509.Certificate, PrivateKey]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    # RFC 3161 §2.3: the timeStamping purpose must be the only one and the extension critical.
    cert = _issue(subject=_name(f"{province.name}跨省通办时间戳服务", organization=province.name,
                                province_name=province.name),
                  key=key, issuer=ca, days=TSA_DAYS, uris=[province_uri(province.code), role_uri("tsa")],
                  key_usage={"digital_signature": True, "content_commitment": True},
                  eku=[ExtendedKeyUsageOID.TIME_STAMPING], critical_eku=True, crl_url=_crl_url(province.code))
    _write(folder / "tsa.key", _key_pem(key), secret=True)
    _write(folder / "tsa.pem", _pem(cert))


def init_federation(
    directory: Path, *, provinces: Sequence[Province], operators: Sequence[tuple[str, str, str]] = (),
) -> Federation:
    """Create a new federation. Calling it on a directory that already holds one refuses,
    because overwriting keys would silently invalidate every seal issued so far."""
    if (directory / MANIFEST).exists() or (directory / "root" / "ca.pem").exists():
        raise SigningError(f"{directory} already holds a federation; open it with Federation.open() "
                           "or choose an empty directory")
    by_code = {p.code: p for p in provinces}
    for p in provinces:
        if not PROVINCE_CODE.match(p.code) or p.code == ROOT_CODE:
            raise SigningError(f"province code {p.code!r} must be six digits (administrative division code)")
        bad = [k for k in p.departments if not DEPARTMENT_KEY.match(k)]
        if bad:
            raise SigningError(f"department keys {bad} of {p.code} must be lower-case ASCII words")
    if len(by_code) != len(provinces):
        raise SigningError("a province code appears twice; give each province once")

    root_key = ec.generate_private_key(ec.SECP256R1())
    # The root carries no CRL distribution point: a trust anchor is never revocation-checked.
    root = _issue(subject=_name("跨省通办联盟根CA", organization="跨省通办联盟"), key=root_key, issuer=None,
                  days=ROOT_DAYS, uris=[province_uri(ROOT_CODE), role_uri("root")], is_ca=True,
                  ca_path_length=1, key_usage={"key_cert_sign": True, "crl_sign": True})
    root_dir = directory / "root"
    _write(root_dir / "ca.key", _key_pem(root_key), secret=True)
    _write(root_dir / "ca.pem", _pem(root))

    for p in provinces:
        folder = directory / "provinces" / p.code
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _issue(subject=_name(f"{p.name}跨省通办CA", organization="跨省通办联盟", province_name=p.name),
                    key=ca_key, issuer=(root, root_key), days=PROVINCE_CA_DAYS,
                    uris=[province_uri(p.code), role_uri("province-ca")], is_ca=True, ca_path_length=0,
                    key_usage={"key_cert_sign": True, "crl_sign": True, "digital_signature": True},
                    crl_url=_crl_url("root"))
        _write(folder / "ca.key", _key_pem(ca_key), secret=True)
        _write(folder / "ca.pem", _pem(ca))
        _write(folder / "crl.pem", _crl(issuer=ca, key=ca_key, number=1).public_bytes(serialization.Encoding.PEM))

        node_key = ec.generate_private_key(ec.SECP256R1())
        node = _issue(subject=_name(f"tongban-node-{p.code}", organization=p.name, province_name=p.name),
                      key=node_key, issuer=(ca, ca_key), days=NODE_DAYS,
                      uris=[province_uri(p.code), role_uri("node")], dns=[f"{p.code}.node.tongban.internal", "localhost"], ips=["127.0.0.1"],
                      key_usage={"digital_signature": True},
                      eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                      crl_url=_crl_url(p.code))
        _write(folder / "node.key", _key_pem(node_key), secret=True)
        _write(folder / "node.pem", _pem(node))

        for dept_key in p.departments:
            cert_pem, key_pem = _seal_material(p, dept_key, ca=(ca, ca_key))
            _write(folder / "seals" / f"{dept_key}.key", key_pem, secret=True)
            _write(folder / "seals" / f"{dept_key}.pem", cert_pem)
        _write_tsa(folder, province=p, ca=(ca, ca_key))

    _write(root_dir / "crl.pem", _crl(issuer=root, key=root_key, number=1).public_bytes(serialization.Encoding.PEM))
    # The manifest goes last: its presence means the federation is complete.
    manifest = {"provinces": {p.code: {"name": p.name, "departments": dict(p.departments)} for p in provinces}}
    federation = Federation(directory=directory, provinces=by_code)
    for code, role, operator_id in operators:
        if code not in by_code:
            raise SigningError(f"operator {operator_id!r} names province {code!r}, which is not in the federation")
        federation.issue_operator(code, role=role, operator_id=operator_id)
    _write(directory / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    return federation
