"""An auditor verifies a node's log while the node keeps recording cases, on SQLite and PostgreSQL.
Each verification checks the log as it stood when the verification began: what the node records
meanwhile is left to the next verification, never mistaken for tampering, and tampering is still
found while the node records."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest

from exchange.ledger import CaseLedger
from storage.chain import LogStore
from storage.eventstore import EventStoreSettings, open_log_store
from storage.logcheck import LogReport, verify_log
from tests.integration.test_audit_chain import NODE, kinds, record_cases, tamper

RUNS = 60  # verifications per test, each racing the node's writes
CASES_DURING = 3  # cases the node must save while the verifications run, however slow it is
FIRST_LIVE_CASE = 1000  # case numbers the live node records, clear of the six recorded up front


class NodeRecording:
    """The node saving one case after another in a process of its own, as a serving node does,
    until the block ends. A process, not a thread: the checker's hashing would otherwise hold
    the interpreter lock and let the node commit only between the checker's steps. Entering
    waits until the node has saved a case, so the writes are under way before the first
    verification starts."""

    def __init__(self, settings: EventStoreSettings) -> None:
        context = multiprocessing.get_context("spawn")  # no forked copies of open connections
        self._saved = context.Value("i", 0)
        self._under_way = context.Event()
        self._stop = context.Event()
        self._process = context.Process(target=record_until_stopped, name="node-recording",
                                        args=(settings, self._saved, self._under_way, self._stop))

    def __enter__(self) -> NodeRecording:
        self._process.start()
        self._under_way.wait()
        if not self._saved.value:  # the node died before its first case
            self.__exit__()  # joins it and fails on its exit code
        return self

    @property
    def saved(self) -> int:
        return int(self._saved.value)

    @property
    def running(self) -> bool:
        return self._process.is_alive()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join()
        assert self._process.exitcode == 0, "the node failed to record while its log was verified"


def record_until_stopped(settings: EventStoreSettings, saved: Any, under_way: Any, stop: Any) -> None:
    try:
        ledger = CaseLedger(env=settings.application_env())
        while not stop.is_set():
            record_cases(ledger, 1, first=FIRST_LIVE_CASE + saved.value)
            saved.value += 1
            under_way.set()
        ledger.close()
    finally:
        under_way.set()  # never leave the test waiting on a node that died (the exit code tells)


@pytest.fixture
def recorded(settings: EventStoreSettings) -> EventStoreSettings:
    """A node's log holding six cases (twelve entries) before the auditor arrives."""
    ledger = CaseLedger(env=settings.application_env())
    record_cases(ledger, 6)
    ledger.close()
    return settings


@pytest.fixture
def store(recorded: EventStoreSettings) -> Iterator[LogStore]:
    with open_log_store(recorded) as opened:
        yield opened


def verify_while_recording(store: LogStore, node: NodeRecording) -> list[LogReport]:
    """RUNS verifications, more until the node has saved CASES_DURING cases since the first ended,
    then one begun after those were committed: however fast or slow the node, the log grew while
    it was checked. (The count of saved cases trails the commits by at most one case.)"""
    reports = [verify_log(store, node=NODE)]
    enough = node.saved + CASES_DURING
    reports += [verify_log(store, node=NODE) for _ in range(RUNS - 1)]
    while node.saved < enough and node.running:
        reports.append(verify_log(store, node=NODE))
    reports.append(verify_log(store, node=NODE))
    return reports


def test_a_log_verified_while_the_node_records_passes_as_of_the_head_it_started_from(
    recorded: EventStoreSettings, store: LogStore,
) -> None:
    with NodeRecording(recorded) as node:
        reports = verify_while_recording(store, node)
    failed = [r.render() for r in reports if not r.passed]
    assert not failed, f"{len(failed)} of {len(reports)} verifications of an untampered log failed:\n{failed[0]}"
    # Each run saw exactly the events its chain covered, and the log grew while it was checked.
    assert all(r.events == r.entries for r in reports)
    sizes = [r.entries for r in reports]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1], sizes


def test_a_case_recorded_after_the_events_ran_out_and_before_the_chain_was_read_is_left_to_the_next_verification(
    recorded: EventStoreSettings, store: LogStore,
) -> None:
    # The race above made certain: the node saves a case just after the reader of events found
    # no more of them, while the chain's last entries are still to be read.
    ledger = CaseLedger(env=recorded.application_env())
    read_events_page = store.events_page
    saved = []

    def events_page_then_a_case_saved(after: int, limit: int):  # type: ignore[no-untyped-def]
        page = read_events_page(after, limit)
        if not page and not saved:
            saved.extend(record_cases(ledger, 1, first=FIRST_LIVE_CASE))
        return page

    store.events_page = events_page_then_a_case_saved  # type: ignore[method-assign]
    try:
        during = verify_log(store, node=NODE)
    finally:
        ledger.close()
        del store.events_page
    assert saved, "the case was not saved during the verification"
    assert during.passed, during.render()
    assert (during.entries, during.events) == (12, 12)
    after = verify_log(store, node=NODE)
    assert after.passed and (after.entries, after.events) == (14, 14), after.render()


def test_an_event_deleted_while_the_node_records_still_fails_verification_at_that_entry_alone(
    recorded: EventStoreSettings, store: LogStore,
) -> None:
    with NodeRecording(recorded) as node:
        tamper(store, recorded, "DELETE FROM {events} WHERE {nid} = 7")
        reports = verify_while_recording(store, node)
    wrong = [r.render() for r in reports if kinds(r) != {("deleted", 7)}]
    assert not wrong, f"{len(wrong)} of {len(reports)} verifications did not report exactly entry 7 deleted:\n{wrong[0]}"
