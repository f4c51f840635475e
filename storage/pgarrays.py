"""PostgreSQL array literals for the arguments of a node's append function.

psycopg adapts a Python list through its list dumper, which looks at the elements to choose
the array type and then dumps each element through the dumper of its own type: ≈ 5 µs a list,
50–90 µs for the eleven lists of one save (measured on the bench machine), a sizeable part of
the client's share of a save. The append function's parameters are typed and psycopg sends a
`str` untyped, so PostgreSQL reads each literal below as its parameter's array type: ≈ 14 µs
for the same eleven. Elements are never NULL in these arrays; an element of another type than
the array's (None, a datetime where a text is due, a float where an integer is) is refused as
psycopg would refuse it, not turned into some text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID


def text_array(values: Iterable[str | UUID]) -> str:
    """`{"a","b"}` for text[] (and uuid[]): each element quoted, its backslashes and quotes escaped."""
    return "{" + ",".join(_quoted(v) for v in values) + "}"


def int_array(values: Iterable[int]) -> str:
    return "{" + ",".join(str(_checked(v, int)) for v in values) + "}"


def bytea_array(values: Iterable[bytes]) -> str:
    """bytea[] in hex form; the array literal's own escaping turns `\\\\x` into bytea's `\\x`."""
    return "{" + ",".join('"\\\\x' + _checked(v, (bytes, bytearray, memoryview)).hex() + '"' for v in values) + "}"


def _quoted(value: str | UUID) -> str:
    return '"' + str(_checked(value, (str, UUID))).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _checked(value: Any, kinds: type | tuple[type, ...]) -> Any:
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, allowed) or isinstance(value, bool):
        raise TypeError(f"an element of a save's array is {type(value).__name__}, not "
                        f"{' or '.join(k.__name__ for k in allowed)}; never NULL, never converted")
    return value
