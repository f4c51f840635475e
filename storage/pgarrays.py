"""PostgreSQL array literals for the arguments of a node's append function.

psycopg adapts a Python list through its list dumper, which looks at the elements to choose
the array type and then dumps each element through the dumper of its own type: ≈ 5 µs a list,
50–90 µs for the eleven lists of one save (measured on the bench machine), a sizeable part of
the client's share of a save. The append function's parameters are typed and psycopg sends a
`str` untyped, so PostgreSQL reads each literal below as its parameter's array type: ≈ 14 µs
for the same eleven. Elements are never NULL in these arrays, and None is refused rather than
written as the text "None"."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID


def text_array(values: Iterable[str | UUID]) -> str:
    """`{"a","b"}` for text[] (and uuid[]): each element quoted, its backslashes and quotes escaped."""
    return "{" + ",".join(_quoted(v) for v in values) + "}"


def int_array(values: Iterable[int]) -> str:
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def bytea_array(values: Iterable[bytes]) -> str:
    """bytea[] in hex form; the array literal's own escaping turns `\\\\x` into bytea's `\\x`."""
    return "{" + ",".join('"\\\\x' + bytes(v).hex() + '"' for v in values) + "}"


def _quoted(value: str | UUID) -> str:
    if value is None:
        raise TypeError("an array element of a save is never NULL")
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
