"""Errors raised by storage adapters on top of the domain errors in exchange.errors."""

from __future__ import annotations

from exchange.errors import Unavailable


class ObjectStoreUnavailable(Unavailable):
    """The object store could not be reached or refused the request. The message names the
    endpoint and bucket (or folder) and says what to check; the operation may be retried once
    the cause is fixed."""
