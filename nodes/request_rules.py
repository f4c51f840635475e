"""A rule for every field of every request message a node accepts, applied before any servicer
runs: a malformed field is refused with INVALID_ARGUMENT naming it (e.g. `materials[1].sha256`),
so the domain only ever sees well-formed values. The domain still decides what the values
mean (is this matter in the catalog, is this ID number's check digit right).

Rules are looked up by "Message.field" first, then by field name alone. A field without a rule
is a defect: tests/unit/test_request_rules.py walks every service's request messages."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from exchange import validation as v
from exchange.errors import InvalidRequest

Check = Callable[[Any, str, Collection[str]], None]  # (value, field path, federation provinces)

MAX_SIZE = 1 << 40  # bytes of one material; the node's own limit (max_material_bytes) is lower
MAX_CHUNK = 4 << 20  # clients send 1 MiB chunks
MAX_COUNTER = (1 << 63) - 1


@dataclass(frozen=True)
class Rule:
    check: Check | None = None  # None: a nested message, checked field by field
    max_items: int = 0  # repeated and map fields: how many elements at most
    # A bytes field's limit: in a request that arrived in no more bytes it is not read, since
    # reading a bytes field copies it (a megabyte per material message, twice with the servicer).
    max_bytes: int = 0


def _text(max_length: int = v.SHORT_TEXT, *, required: bool = False, multiline: bool = False) -> Check:
    return lambda value, field, _: v.text(value, field=field, max_length=max_length, required=required,
                                          multiline=multiline) and None


def _province(*, required: bool = True) -> Check:
    return lambda value, field, known: v.province_code(value, field=field, known=known, required=required) and None


def _case_number(*, required: bool = True) -> Check:
    return lambda value, field, known: v.case_number(value, field=field, known_provinces=known,
                                                     required=required) and None


def _sha256(*, required: bool = True) -> Check:
    return lambda value, field, _: v.sha256(value, field=field, required=required) and None


def _identifier(*, required: bool = True) -> Check:
    return lambda value, field, _: v.identifier(value, field=field, required=required) and None


def _token(*, required: bool = True) -> Check:
    return lambda value, field, _: v.token(value, field=field, required=required) and None


def _moment(value: str, field: str, _: Collection[str]) -> None:
    v.moment(value, field=field)


def _count(maximum: int) -> Check:
    return lambda value, field, _: v.bounded(int(value), field=field, maximum=maximum) and None


def _length_at_most(maximum: int) -> Check:
    def check(value: bytes, field: str, _: Collection[str]) -> None:
        if len(value) > maximum:
            raise InvalidRequest(field, f"{len(value)} bytes is more than the limit of {maximum}")
    return check


def _bytes(maximum: int) -> Rule:
    return Rule(_length_at_most(maximum), max_bytes=maximum)


def _issuer(value: str, field: str, known: Collection[str]) -> None:
    if value != "root":
        v.province_code(value, field=field, known=known)


def _anything(value: Any, field: str, _: Collection[str]) -> None:
    """Booleans: every value is meaningful."""


NESTED = Rule()
LONG = Rule(_text(v.LONG_TEXT, multiline=True))

BY_FIELD: Mapping[str, Rule] = {
    # who and which case
    "case_number": Rule(_case_number()),
    "from_province": Rule(_province()),
    "origin_province": Rule(_province()),
    "competent_province": Rule(_province()),
    "partner_province": Rule(_province(required=False)),
    "partner_provinces": Rule(_province(), max_items=40),
    "partners": Rule(_province(), max_items=40),
    "log": Rule(_province()),
    "issuers": Rule(_issuer, max_items=64),
    "message_id": Rule(_token(required=False)),  # a sender's outbox id (a UUID) for idempotent delivery
    "request_id": Rule(_token(required=False)),  # a client's id for a submission it may repeat
    # what the case is about
    "matter_code": Rule(_token()),
    "mode": Rule(_identifier()),
    "competent_department": Rule(_identifier()),
    "department": Rule(_identifier()),
    "task": Rule(_text()),
    "step": Rule(_identifier()),
    "identity_method": Rule(_identifier(required=False)),
    "applicant": NESTED,
    "agent": NESTED,
    "identity": NESTED,
    "name": Rule(_text(100)),
    "id_number": Rule(_text(32)),
    "relationship": Rule(_text(50)),
    "method": Rule(_identifier(required=False)),
    "verified": Rule(_anything),
    "checklist": Rule(_identifier(), max_items=64),  # keys: material kinds
    # materials
    "materials": Rule(max_items=64),
    "carried": Rule(max_items=64),  # materials inside a forward, each one listed in its materials
    "material": NESTED,
    "header": NESTED,
    "kind": Rule(_identifier()),
    "file_name": Rule(_text(255, required=True)),
    "media_type": Rule(_text(100, required=True)),
    "size": Rule(_count(MAX_SIZE)),
    "offset": Rule(_count(MAX_SIZE)),
    "sha256": Rule(_sha256()),
    "issued_sha256": Rule(_sha256()),
    "data": _bytes(MAX_CHUNK),
    "pdf": _bytes(64 << 20),
    # decisions and what people write
    "note": LONG,
    "reason": LONG,
    "legal_basis": LONG,
    "comment": LONG,
    "address": LONG,
    "missing": Rule(_text(), max_items=64),
    "outcome": Rule(_text()),
    "at": Rule(_moment),
    "since": Rule(_moment),
    "moment": Rule(_moment),
    "carrier": Rule(_text(50)),
    "tracking_number": Rule(_text(64)),
    "channel": Rule(_text(100)),
    "rating": Rule(_text(20)),
    "copies": Rule(_count(100)),
    "reprint_reason": LONG,
    # the window console's case list (filters)
    "statuses": Rule(_identifier(), max_items=20),
    "applicant_id_number": Rule(_text(32)),
    "text": Rule(_text()),
    "limit": Rule(_count(MAX_COUNTER)),
    "due_within_days": Rule(_count(366)),
    # logs and witnesses
    "after": Rule(_count(MAX_COUNTER - 1)),  # the log is read from after + 1, a 64-bit column too
    "version": Rule(_count(MAX_COUNTER)),
    "old_size": Rule(_count(MAX_COUNTER)),
    "checkpoint_json": _bytes(1 << 20),
    "consistency_proof": Rule(_length_at_most(32), max_items=128),
    "ask_witnesses": Rule(_anything),
    "awaiting_print": Rule(_anything),  # the console's queue of results to print
    "check_handoffs": Rule(_anything),
}

BY_MESSAGE_FIELD: Mapping[str, Rule] = {
    # A window uploads before any case exists; only nodes name the case and their province.
    "MaterialHeader.case_number": Rule(_case_number(required=False)),
    "MaterialHeader.from_province": Rule(_province(required=False)),
    "MaterialHeader.sha256": Rule(_sha256(required=False)),
    "MonitorRequest.matter_code": Rule(_token(required=False)),
    "RefusalsRequest.province": Rule(_province(required=False)),
    "CaseQuery.case_number": Rule(_case_number(required=False)),  # a filter: empty lists every case
    "CatalogQuery.limit": Rule(_count(200)),
    "CaseQuery.limit": Rule(_count(500)),
    "NodeLogRequest.limit": Rule(_count(MAX_COUNTER)),
}


def rule_for(message: Descriptor, field: FieldDescriptor) -> Rule | None:
    return BY_MESSAGE_FIELD.get(f"{message.name}.{field.name}") or BY_FIELD.get(field.name)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


# How a field is checked; worked out once per message type (descriptor calls such as
# GetOptions cost more than most checks).
_UNRULED, _MAP, _REPEATED_MESSAGES, _REPEATED, _MESSAGE, _ONEOF_SCALAR, _SCALAR = range(7)


@dataclass(frozen=True)
class _Step:
    field: FieldDescriptor
    name: str  # field.name, read at every check of every message
    kind: int
    rule: Rule | None


@functools.cache
def _plan(descriptor: Descriptor) -> tuple[_Step, ...]:
    steps = []
    for field in descriptor.fields:
        rule = rule_for(descriptor, field)
        if rule is None:
            kind = _UNRULED
        elif _is_map(field):
            kind = _MAP
        elif field.is_repeated:
            kind = _REPEATED_MESSAGES if field.message_type is not None else _REPEATED
        elif field.message_type is not None:
            kind = _MESSAGE
        elif field.containing_oneof is not None:
            kind = _ONEOF_SCALAR
        else:
            kind = _SCALAR
        steps.append(_Step(field, field.name, kind, rule))
    return tuple(steps)


def _is_set(message: Message, step: _Step) -> bool:
    value = getattr(message, step.name)
    if step.field.is_repeated:  # maps too
        return len(value) > 0
    if step.field.message_type is not None or step.field.containing_oneof is not None:
        return message.HasField(step.name)
    return bool(value)


def check_request(
    message: Message, *, provinces: Collection[str], prefix: str = "", encoded_size: int | None = None,
) -> None:
    """Raise InvalidRequest for the first field of `message` that breaks its rule.
    `encoded_size`: the size of the encoded request this message is (part of), when known; a
    bytes field with a limit it is within is not read, since reading one copies it."""
    for step in _plan(message.DESCRIPTOR):
        rule, kind = step.rule, step.kind
        if kind == _UNRULED:  # fail closed: a value in a field nobody thought about is not accepted
            if _is_set(message, step):
                raise InvalidRequest(prefix + step.name, "this node has no rule for this field; it cannot be accepted")
            continue
        assert rule is not None
        if kind == _MESSAGE:
            if message.HasField(step.name):
                check_request(getattr(message, step.name), provinces=provinces, prefix=f"{prefix}{step.name}.",
                              encoded_size=encoded_size)
            continue
        if kind == _ONEOF_SCALAR and not message.HasField(step.name):
            continue  # the other part of a oneof
        if rule.max_bytes and encoded_size is not None and encoded_size <= rule.max_bytes:
            continue  # the field is no longer than the whole request
        path = prefix + step.name
        value = getattr(message, step.name)
        if kind == _MAP:
            if len(value) > rule.max_items:
                raise InvalidRequest(path, f"{len(value)} entries; at most {rule.max_items}")
            if rule.check is not None:
                for key in value:
                    rule.check(key, f"{path}[{key[:40]!r}]", provinces)
        elif kind in (_REPEATED, _REPEATED_MESSAGES):
            if len(value) > rule.max_items:
                raise InvalidRequest(path, f"{len(value)} entries; at most {rule.max_items}")
            for i, item in enumerate(value):
                if kind == _REPEATED_MESSAGES:
                    check_request(item, provinces=provinces, prefix=f"{path}[{i}].", encoded_size=encoded_size)
                elif rule.check is not None:
                    rule.check(item, f"{path}[{i}]", provinces)
        elif rule.check is not None:
            rule.check(value, path, provinces)


def request_types(service: Any) -> list[Descriptor]:
    """Every message type a service accepts, nested ones included."""
    seen: dict[str, Descriptor] = {}

    def walk(d: Descriptor) -> None:
        if d.full_name in seen or d.GetOptions().map_entry:
            return
        seen[d.full_name] = d
        for f in d.fields:
            if f.message_type is not None:
                walk(f.message_type)

    for method in service.methods:
        walk(method.input_type)
    return list(seen.values())
