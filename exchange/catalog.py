"""The catalog of cross-province matters (事项目录) and who is competent for them.

Built from the policy texts by scripts/build_catalog.py into exchange/data/matters.json."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exchange.errors import InvalidRequest, NotFound
from exchange.workdays import MAX_LIMIT_DAYS

MODES = ("online", "proxy", "joint")  # 全程网办, 异地代收代办, 多地联办
MODE_NAMES = {"online": "全程网办", "proxy": "异地代收代办", "joint": "多地联办"}
RESULT_KINDS = ("certificate", "printout", "record")
DEFAULT_RETENTION_YEARS = 30  # 定期30年, for a matter recorded before retention was catalogued


@dataclass(frozen=True)
class RequiredMaterial:
    kind: str
    name: str


@dataclass(frozen=True)
class Listing:
    """Where a matter is listed: which list, which batch, which position."""

    list: str  # national-2020 | national-2022 | regional-2023 | regional-2022-additions
    batch: str
    seq: int
    source: str = ""


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
    kind: str = ""
    cooperating_departments: tuple[str, ...] = ()
    lists: tuple[Listing, ...] = ()
    aliases: tuple[str, ...] = ()
    time_limit_overrides: Mapping[str, int] = field(default_factory=dict)
    # 保管期限: the materials of its cases stay write-once this long (scripts/build_catalog.py
    # says which archive rule each period rests on; the policy texts give none).
    retention_years: int = DEFAULT_RETENTION_YEARS
    retention_basis: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Matter:
        modes = tuple(record["modes"])
        limits = [int(record["time_limit_days"]), *(int(v) for v in record.get("time_limit_overrides", {}).values())]
        if not all(0 <= days <= MAX_LIMIT_DAYS for days in limits):
            raise ValueError(f"matter {record['code']}: time limits {limits} outside 0..{MAX_LIMIT_DAYS} working days")
        unknown = [m for m in modes if m not in MODES]
        if unknown or record["result_kind"] not in RESULT_KINDS:
            raise ValueError(f"matter {record['code']}: bad modes {unknown} or result kind {record['result_kind']!r}")
        return cls(
            code=record["code"],
            name=record["name"],
            scenario=record.get("scenario", ""),
            lead_department=record["lead_department"],
            modes=modes,
            required_materials=tuple(
                RequiredMaterial(kind=m["kind"], name=m["name"]) for m in record["required_materials"]
            ),
            time_limit_days=int(record["time_limit_days"]),
            result_kind=record["result_kind"],
            kind=record.get("kind", ""),
            cooperating_departments=tuple(record.get("cooperating_departments", ())),
            lists=tuple(Listing(**listing) for listing in record.get("lists", ())),
            aliases=tuple(record.get("aliases", ())),
            time_limit_overrides={str(k): int(v) for k, v in record.get("time_limit_overrides", {}).items()},
            retention_years=int(record.get("retention_years", DEFAULT_RETENTION_YEARS)),
            retention_basis=str(record.get("retention_basis", "")),
        )

    def required_kinds(self) -> frozenset[str]:
        return frozenset(m.kind for m in self.required_materials)

    def retained_until(self, start: datetime) -> datetime:
        """The end of the retention period begun at `start` (a 29 February start ends on the
        28th)."""
        year = start.year + self.retention_years
        try:
            return start.replace(year=year)
        except ValueError:
            return start.replace(year=year, day=28)

    def time_limit_for(self, province: str) -> int:
        """办结时限 in days at the competent province: its own published limit, else the default."""
        return self.time_limit_overrides.get(province, self.time_limit_days)

    def require_mode(self, mode: str) -> None:
        if mode not in self.modes:
            offered = "、".join(MODE_NAMES[m] for m in self.modes)
            raise InvalidRequest(
                "mode", f"{self.name} is not offered as {MODE_NAMES.get(mode, mode)}; it is offered as {offered}"
            )


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


class Catalog:
    def __init__(self, matters: Iterable[Matter]) -> None:
        self._by_code: dict[str, Matter] = {}
        self._aliases: dict[str, str] = {}
        # Folded once here, so a search only folds the query.
        self._folded: list[tuple[Matter, list[str], str, str]] = []
        for m in matters:
            if m.code in self._by_code:
                raise ValueError(f"two matters have code {m.code}")
            self._by_code[m.code] = m
            for alias in m.aliases:
                self._aliases[alias] = m.code
            self._folded.append((m, [_fold(c) for c in (m.code, *m.aliases)], _fold(m.name), _fold(m.scenario)))

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> Catalog:
        return cls(Matter.from_record(r) for r in records)

    def get(self, code: str) -> Matter:
        try:
            return self._by_code[self._aliases.get(code, code)]
        except KeyError:
            raise NotFound(
                f"no matter with code {code!r} in the catalog; search the catalog by name "
                "to find the right code"
            ) from None

    def search(self, text: str, *, limit: int | None = None) -> list[Matter]:
        """收件标准查询: by code (exact or prefix), then name, then scenario; every word of the
        query must match. An exact code or name comes first."""
        words = [_fold(w) for w in text.split() if w.strip()]
        if not words:
            raise InvalidRequest("query", "give a matter code, a name or a keyword to search for")
        scored = []
        for m, codes, name, scenario in self._folded:
            score = 0
            for w in words:
                if w in codes:
                    score += 100
                elif any(c.startswith(w) for c in codes):
                    score += 50
                elif w == name:
                    score += 80
                elif w in name:
                    score += 10
                elif w in scenario:
                    score += 1
                else:
                    score = 0
                    break
            if score:
                scored.append((-score, m.code, m))
        found = [m for _, _, m in sorted(scored, key=lambda s: (s[0], s[1]))]
        return found[:limit] if limit else found

    def on_list(self, list_name: str) -> list[Matter]:
        return [m for m in self._by_code.values() if any(l.list == list_name for l in m.lists)]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)
