"""Fixtures shared by the integration tests: a node's case ledger on each real event store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.ledger import CaseLedger
from storage.eventstore import EventStoreSettings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> EventStoreSettings:
    if request.param == "postgres":
        base = request.getfixturevalue("postgres_schema")
        return EventStoreSettings(**{**base.__dict__, "schema": f"{base.schema}_ledger"})
    return EventStoreSettings(kind="sqlite", sqlite_path=tmp_path / "events.sqlite")


@pytest.fixture
def ledger(settings: EventStoreSettings) -> Iterator[CaseLedger]:
    app = CaseLedger(env=settings.application_env())
    yield app
    app.close()
