"""Named domain errors. Each message says what happened and what the caller can do."""

from __future__ import annotations


class TongbanError(Exception):
    """Base class of every error tongban raises on purpose."""


class InvalidRequest(TongbanError):
    """The caller sent something malformed; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(TongbanError):
    """The case, matter or object asked for does not exist here."""


class IllegalTransition(TongbanError):
    """The case is not in a state that allows this step."""


class NotAuthorised(TongbanError):
    """The caller's identity does not allow this action."""


class MaterialNotFound(NotFound):
    """No stored material has this SHA-256."""


class MaterialIntegrityError(TongbanError):
    """Received bytes do not hash to the SHA-256 the sender declared."""


class Unavailable(TongbanError):
    """Something this node depends on (a partner node, the object store) could not be reached;
    nothing was done, and the step can be retried later."""


class PeerUnavailable(Unavailable):
    """A partner node could not be reached; the step can be retried later."""


class PeerBusy(PeerUnavailable):
    """A partner node answered ABORTED: the case changed under the request there, or a transfer
    of the same material is under way. That request, not the partner, waits and goes again."""


class CaseCatchingUp(PeerUnavailable):
    """A partner's message arrived before this node recorded an earlier step of the case (its
    own outbox has not confirmed it yet); the sender retries shortly."""


class PrintRefused(TongbanError):
    """The result did not pass verification, so the window must not print it."""

    def __init__(self, reason: str, explanation: str, *, step: str = "printing") -> None:
        super().__init__(f"{step} refused ({reason}): {explanation}")
        self.reason = reason
        self.explanation = explanation


class PeerRefused(TongbanError):
    """A partner node answered but refused the request; its reason is in the message.
    `code` is the refusal's status name (PERMISSION_DENIED, FAILED_PRECONDITION…)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code
