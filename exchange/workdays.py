"""工作日 and the 办结时限 clock.

A time limit is counted in working days in China time: weekends and the public holidays the
State Council announces each year are skipped, and the weekend days it makes working days
(调休上班) count. The clock runs only on working days and stops while the case waits for 补正;
time already used before a 补正 is not given back, and a case that was late before it was asked
for a 补正 stays late.

The holiday table is the State Council's yearly notice (国务院办公厅关于部分节假日安排的通知).
A year not in the table is counted with weekends and the holidays fixed by date in 全国年节及纪念日
放假办法 (元旦, 1-2 May, 1-3 October) only, without the lunar holidays and the 调休 days the notice
adds: add each year's notice when it is published (`covers` says whether a year's is here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

CHINA_TIME = timezone(timedelta(hours=8), "CST")
DAY = 86400.0
MAX_LIMIT_DAYS = 365  # no matter's 办结时限 is longer; the clock's arithmetic is bounded by it
# Fixed by law whatever the yearly notice adds (全国年节及纪念日放假办法, as revised in 2024).
_STATUTORY_BY_DATE = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})
# MAX_LIMIT_DAYS working days never reach this far; a calendar with no working days must not
# loop for ever.
_HORIZON_DAYS = 3660


def _span(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=n) for n in range((end - start).days + 1)}


def _days(*iso: str) -> set[date]:
    return {date.fromisoformat(d) for d in iso}


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = frozenset()  # 放假: days off, weekends among them
    working_weekends: frozenset[date] = frozenset()  # 调休上班: weekend days worked
    years: frozenset[int] = frozenset()  # the years whose notice the table holds

    def is_working_day(self, day: date) -> bool:
        if day in self.working_weekends:
            return True
        if day.year not in self.years and (day.month, day.day) in _STATUTORY_BY_DATE:
            return False
        return day.weekday() < 5 and day not in self.holidays

    def covers(self, year: int) -> bool:
        return year in self.years


# The notices for 2025 (国办发明电〔2024〕12号, 12 November 2024) and 2026 (4 November 2025).
STATE_COUNCIL = WorkingCalendar(
    holidays=frozenset(
        _days("2025-01-01") | _span("2025-01-28", "2025-02-04") | _span("2025-04-04", "2025-04-06")
        | _span("2025-05-01", "2025-05-05") | _span("2025-05-31", "2025-06-02") | _span("2025-10-01", "2025-10-08")
        | _span("2026-01-01", "2026-01-03") | _span("2026-02-15", "2026-02-23") | _span("2026-04-04", "2026-04-06")
        | _span("2026-05-01", "2026-05-05") | _span("2026-06-19", "2026-06-21") | _span("2026-09-25", "2026-09-27")
        | _span("2026-10-01", "2026-10-07")
    ),
    working_weekends=frozenset(
        _days("2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
              "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")
    ),
    years=frozenset({2025, 2026}),
)


def add_working_time(start: datetime, seconds: float, *, calendar: WorkingCalendar = STATE_COUNCIL) -> datetime:
    """The moment `seconds` of working-day time have passed after `start`."""
    moment = start.astimezone(CHINA_TIME)
    for _ in range(_HORIZON_DAYS):
        midnight = datetime.combine(moment.date() + timedelta(days=1), time(), CHINA_TIME)
        if calendar.is_working_day(moment.date()):
            available = (midnight - moment).total_seconds()
            if seconds <= available:
                return (moment + timedelta(seconds=seconds)).astimezone(start.tzinfo)
            seconds -= available
        moment = midnight
    raise ValueError(f"no working days within {_HORIZON_DAYS} days of {start.isoformat()}")


def working_seconds(start: datetime, end: datetime, *, calendar: WorkingCalendar = STATE_COUNCIL) -> float:
    """Working-day time between two moments (0 if `end` is not after `start`)."""
    moment, end = start.astimezone(CHINA_TIME), end.astimezone(CHINA_TIME)
    total = 0.0
    while moment < end:
        midnight = datetime.combine(moment.date() + timedelta(days=1), time(), CHINA_TIME)
        if calendar.is_working_day(moment.date()):
            total += (min(midnight, end) - moment).total_seconds()
        moment = midnight
    return total


def add_working_days(start: datetime, days: int, *, calendar: WorkingCalendar = STATE_COUNCIL) -> datetime:
    return add_working_time(start, days * DAY, calendar=calendar)


Pause = tuple[datetime, "datetime | None"]  # 补正: from the request to the supplement (None: still waiting)


@dataclass(frozen=True)
class TimeLimit:
    """Where a case stands against its 办结时限.

    While a 补正 is awaited, due_at is the due date as it stood when the wait began (it moves
    on by the working time the wait lasts once the supplement arrives)."""

    due_at: datetime
    paused: bool  # waiting for 补正 with time left: the clock is stopped


def time_limit(
    *, accepted_at: datetime, limit_days: int, pauses: Iterable[Pause], calendar: WorkingCalendar = STATE_COUNCIL,
) -> TimeLimit:
    budget = limit_days * DAY
    running_from = accepted_at
    for start, end in sorted(_pauses(pauses, after=accepted_at), key=lambda p: p[0]):
        used = working_seconds(running_from, start, calendar=calendar)
        if used >= budget:  # the time was up before this wait began: it gives nothing back
            break
        budget -= used
        if end is None:
            return TimeLimit(due_at=add_working_time(start, budget, calendar=calendar), paused=True)
        running_from = max(end, running_from)
    return TimeLimit(due_at=add_working_time(running_from, budget, calendar=calendar), paused=False)


def _pauses(pauses: Iterable[Pause], *, after: datetime) -> Sequence[Pause]:
    # A wait begun before acceptance (补正 at 形式审查) stops no clock: only its part after counts.
    kept: list[Pause] = []
    for start, end in pauses:
        if end is not None and end <= after:
            continue
        kept.append((max(start, after), end))
    return kept
