"""The node's event-sourced application: where cases are saved and read back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Notification

from exchange.case import Case, case_id
from exchange.case_index import CaseIndex
from exchange.errors import NotFound


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's project_aggregate without its per-event isinstance check against a
    runtime Protocol (≈ 9 µs each, about a millisecond of every bench case's reads): the events
    read here are this application's own aggregate events, all of which mutate."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class CaseLedger(Application):
    """One per node; the persistence module (SQLite, PostgreSQL) comes from its env."""

    name = "tongban"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # What the recorder keeps beside the events (outbox messages) is as confidential as the
        # events: it seals them with the same node cipher the mapper uses, if there is one.
        self.recorder.payload_cipher = getattr(self.mapper, "node_cipher", None)  # type: ignore[attr-defined]
        self.index = CaseIndex(self)

    def close(self) -> None:
        closer = getattr(self.mapper, "close", None)  # the storage mapper may hold a key-table connection
        if closer is not None:
            closer()
        super().close()

    def get_case(self, case_number: str) -> Case:
        try:
            case = self.repository.get(case_id(case_number), projector_func=replay)
        except AggregateNotFoundError:
            raise NotFound(
                f"no case {case_number} at this node; check the case number on the receipt"
            ) from None
        assert isinstance(case, Case)
        return case

    def find_case(self, case_number: str) -> Case | None:
        """The case, or None when this node holds none by that number: one read where
        "is it here?" followed by "give it to me" would replay the case twice."""
        try:
            return self.get_case(case_number)
        except NotFound:
            return None

    def has_case(self, case_number: str) -> bool:
        return self.find_case(case_number) is not None

    def case_changes(self, *, after: int) -> Iterator[tuple[int, UUID | None]]:
        """Every notification after position `after`: its position, and the case it changed
        (None for another aggregate's)."""
        for note in self._notifications(after=after):
            yield note.id, (note.originator_id if _of_a_case(note) else None)

    def case_by_id(self, originator_id: UUID) -> Case | None:
        try:
            aggregate = self.repository.get(originator_id, projector_func=replay)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, Case) else None

    def cases(self) -> Iterator[Case]:
        """Every case this node recorded, read back through the application's notification log
        (creation events only, so each case is read once)."""
        for note in self._notifications(after=0):
            if note.originator_version == 1 and _of_a_case(note):
                aggregate = self.repository.get(note.originator_id, projector_func=replay)
                if isinstance(aggregate, Case):
                    yield aggregate

    def _notifications(self, *, after: int, page: int = 500) -> Iterator[Notification]:
        start = after + 1
        while True:
            notes = self.recorder.select_notifications(start=start, limit=page)
            yield from notes
            if len(notes) < page:
                return
            start = notes[-1].id + 1


def _of_a_case(note: Notification) -> bool:
    return note.topic.startswith(Case.__module__ + ":")
