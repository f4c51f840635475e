"""The catalog of cross-province matters (事项目录) and who is competent for them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exchange.errors import NotFound

MODES = ("online", "proxy", "joint")  # 全程网办, 异地代收代办, 多地联办


@dataclass(frozen=True)
class RequiredMaterial:
    kind: str
    name: str


@dataclass(frozen=True)
class Matter:
    code: str
    name: str
    scenario: str
    lead_department: str
    modes: tuple[str, ...]
    required_materials: tuple[RequiredMaterial, ...]
    time_limit_days: int
    result_kind: str  # certificate | printout | record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Matter:
        return cls(
            code=record["code"],
            name=record["name"],
            scenario=record.get("scenario", ""),
            lead_department=record["lead_department"],
            modes=tuple(record["modes"]),
            required_materials=tuple(
                RequiredMaterial(kind=m["kind"], name=m["name"])
                for m in record["required_materials"]
            ),
            time_limit_days=int(record["time_limit_days"]),
            result_kind=record["result_kind"],
        )

    def required_kinds(self) -> frozenset[str]:
        return frozenset(m.kind for m in self.required_materials)


class Catalog:
    def __init__(self, matters: Iterable[Matter]) -> None:
        self._by_code = {m.code: m for m in matters}

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> Catalog:
        return cls(Matter.from_record(r) for r in records)

    def get(self, code: str) -> Matter:
        try:
            return self._by_code[code]
        except KeyError:
            raise NotFound(
                f"no matter with code {code!r} in the catalog; search the catalog by name "
                "to find the right code"
            ) from None

    def search(self, text: str) -> list[Matter]:
        needle = text.strip()
        return [
            m for m in self._by_code.values()
            if needle in m.code or needle in m.name or needle in m.scenario
        ]

    def __len__(self) -> int:
        return len(self._by_code)
