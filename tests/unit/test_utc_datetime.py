"""UTCDateTime on SQLite reads stored text back as aware UTC times (models/base.py): the one-step
reader gives what SQLAlchemy's DATETIME processor followed by process_result_value gave, for
the text the ORM writes and for text written by hand (README: editing a ticket's history)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text

from maildesk.models.base import UTCDateTime

UTC = timezone.utc


@pytest.fixture
def table(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'times.db'}")
    metadata = MetaData()
    times = Table("times", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
    metadata.create_all(engine)
    yield engine, times
    engine.dispose()


def test_written_times_come_back_aware_and_equal(table) -> None:  # type: ignore[no-untyped-def]
    engine, times = table
    written = [datetime(2026, 12, 3, 22, 47, 52, 123456, tzinfo=UTC), datetime(2026, 12, 3, 22, 47, 52, tzinfo=UTC),
               datetime(2026, 12, 3, 23, 47, 52, 5, tzinfo=timezone.utc).astimezone(), None]
    with engine.begin() as conn:
        conn.execute(insert(times), [{"id": i, "at": at} for i, at in enumerate(written)])
        read = [at for (at,) in conn.execute(select(times.c.at).order_by(times.c.id))]
    assert read == written
    assert all(at.tzinfo is UTC for at in read if at is not None)


@pytest.mark.parametrize("stored, expected", [
    ("2020-01-01 00:00:00", datetime(2020, 1, 1, tzinfo=UTC)),
    ("2020-01-01 05:06:07.250000", datetime(2020, 1, 1, 5, 6, 7, 250000, tzinfo=UTC)),
    ("2020-01-01", datetime(2020, 1, 1, tzinfo=UTC)),  # a date alone: midnight UTC
    ("2020-01-01T05:06", datetime(2020, 1, 1, 5, 6, tzinfo=UTC)),
    # Text with an offset of its own was never converted, only labelled UTC: still so.
    ("2020-01-01 05:06:07+02:00", datetime(2020, 1, 1, 5, 6, 7, tzinfo=UTC)),
])
def test_text_written_by_hand(table, stored: str, expected: datetime) -> None:  # type: ignore[no-untyped-def]
    engine, times = table
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO times (id, at) VALUES (1, :at)"), {"at": stored})
        (at,) = conn.execute(select(times.c.at)).one()
    assert at == expected and at.tzinfo is UTC
