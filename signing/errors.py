"""The one error the signing package raises on purpose."""

from __future__ import annotations

from exchange.errors import TongbanError


class SigningError(TongbanError):
    """Key material, certificates, rendering or sealing went wrong. The message says what
    happened and what the operator can do about it. (A document that fails verification is
    not an error: verification returns a report instead.)"""
