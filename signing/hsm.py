"""Seal keys in a PKCS#11 token (SoftHSM2 in tests, a real HSM in production).

The key pair is generated inside the token and never leaves it; the province CA certifies its
public key, and pyHanko signs through `pyhanko.sign.pkcs11`. Key labels follow
`seal-<province>-<department>` so a token can hold every seal of a province."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.errors import SigningError

PIN_ENV = "TONGBAN_PKCS11_PIN"


@dataclass(frozen=True)
class Pkcs11Token:
    """Where the seal keys live. The PIN comes from the config or $TONGBAN_PKCS11_PIN."""

    module: str  # path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
    token_label: str
    pin: str | None = None

    def user_pin(self) -> str:
        pin = self.pin or os.environ.get(PIN_ENV)
        if not pin:
            raise SigningError(f"no PIN for PKCS#11 token {self.token_label!r}; set {PIN_ENV} or pkcs11.pin")
        return pin

    def open_session(self, *, read_write: bool = False):  # -> pkcs11.Session (python-pkcs11 imported lazily)
        try:
            import pkcs11
        except ImportError as exc:
            raise SigningError("PKCS#11 support needs python-pkcs11; install the project's dependencies") from exc

        if not os.path.exists(self.module):
            raise SigningError(f"PKCS#11 module {self.module} not found; install it (softhsm2 for tests) "
                               "or fix pkcs11.module in the config")
        try:
            token = pkcs11.lib(self.module).get_token(token_label=self.token_label)
            return token.open(rw=read_write, user_pin=self.user_pin())
        except pkcs11.PKCS11Error as exc:
            raise SigningError(f"cannot open PKCS#11 token {self.token_label!r} ({type(exc).__name__}: {exc}); "
                               f"check the token label and the PIN in {PIN_ENV}") from exc


def seal_key_label(province_code: str, department_key: str) -> str:
    return f"seal-{province_code}-{department_key}"


def generate_seal_key(token: Pkcs11Token, *, province_code: str, department_key: str) -> ec.EllipticCurvePublicKey:
    """Create a P-256 key pair inside the token (non-extractable, sign-only) and return its
    public half for the CA to certify. An existing key with the same label is replaced."""
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    label = seal_key_label(province_code, department_key)
    session = token.open_session(read_write=True)
    try:
        for old in session.get_objects({Attribute.LABEL: label}):
            old.destroy()
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("1.2.840.10045.3.1.7")}, local=True)
        public, _ = params.generate_keypair(
            store=True, label=label, id=label.encode("ascii"),
            private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True},
            public_template={Attribute.VERIFY: True})
        der = encode_ec_public_key(public)
    except pkcs11.PKCS11Error as exc:
        raise SigningError(f"the token refused to generate seal key {label} ({type(exc).__name__}: {exc})") from exc
    finally:
        session.close()
    key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningError(f"token returned a non-EC public key for {label}")
    return key
