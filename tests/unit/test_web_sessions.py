"""The `db_session` / `db_write` dependencies (web/sessions.py) on the real app and a real SQLite
database: committed before the client hears of success, rolled back when the handler fails,
a failing commit is an error for the client, and a slow request body never holds the write lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import httpx
import pytest
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.exceptions import NotFoundException
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.config import Settings
from maildesk.db import migrate
from maildesk.models import SavedReply, User, utcnow
from maildesk.runtime import Runtime
from maildesk.web.app import create_app

COMMITTED: list[str] = []


def _reply(title: str) -> SavedReply:
    now = utcnow()
    return SavedReply(title=title, body="b", created_by=None, created_at=now, updated_at=now)


@post("/test/replies", status_code=201, opt={"anonymous": True})
async def add_reply(db_write: NamedDependency[AsyncSession], title: FromQuery[str]) -> dict[str, Any]:
    db_write.add(_reply(title))
    db_write.info["test_probe"] = True  # db.on_commit hooks must still run for the dependency
    return {"title": title}


@post("/test/replies-then-fail", status_code=201, opt={"anonymous": True})
async def add_then_fail(db_write: NamedDependency[AsyncSession]) -> None:
    db_write.add(_reply("doomed"))
    await db_write.flush()  # the row is in the transaction...
    raise NotFoundException("no such thing")  # ...and the handler fails afterwards


@post("/test/users", status_code=201, opt={"anonymous": True})
async def add_user(db_write: NamedDependency[AsyncSession], email: FromQuery[str]) -> dict[str, str]:
    db_write.add(User(email=email, name="", role="user", is_active=True))  # flushed at commit
    return {"email": email}


@post("/test/form", status_code=201, opt={"anonymous": True})
async def add_from_form(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession]) -> dict[str, str]:
    form = await request.form()  # as the pages' forms do (render.posted_form)
    db_write.add(_reply(str(form["title"])))
    return {"title": str(form["title"])}


@get("/test/replies", opt={"anonymous": True})
async def count_replies(db_session: NamedDependency[AsyncSession]) -> dict[str, int]:
    return {"count": await db_session.scalar(select(func.count()).select_from(SavedReply)) or 0}


HANDLERS = [add_reply, add_then_fail, add_user, add_from_form, count_replies]


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    url = f"sqlite:///{tmp_path / 'md.db'}"
    migrate(url)
    runtime = Runtime.build(Settings(database_url=url, secret_key="unit-secret", data_dir=tmp_path))
    COMMITTED.clear()
    runtime.db.on_commit("test_probe", lambda: COMMITTED.append("commit"))
    return runtime


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt, extra_handlers=HANDLERS)) as c:
        yield c


def _rows(rt: Runtime, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(rt.settings.database_url[len("sqlite:///"):]) as conn:
        return conn.execute(sql).fetchall()


def test_a_write_is_committed_before_the_answer(client: TestClient, rt: Runtime) -> None:
    r = client.post("/test/replies", params={"title": "hello"})
    assert r.status_code == 201
    assert COMMITTED == ["commit"]  # the commit hook ran, inside the request
    assert _rows(rt, "SELECT title FROM saved_replies") == [("hello",)]
    assert client.get("/test/replies").json() == {"count": 1}


def test_a_handler_that_fails_after_writing_leaves_nothing(client: TestClient, rt: Runtime) -> None:
    r = client.post("/test/replies-then-fail")
    assert r.status_code == 404  # the handler's own error, not a 500 from the cleanup
    assert r.json() == {"status_code": 404, "detail": "no such thing"}
    assert _rows(rt, "SELECT count(*) FROM saved_replies") == [(0,)]
    assert COMMITTED == []


def test_a_failing_commit_is_an_error_not_a_success(client: TestClient, rt: Runtime) -> None:
    assert client.post("/test/users", params={"email": "a@example.com"}).status_code == 201
    r = client.post("/test/users", params={"email": "a@example.com"})  # unique violation at the commit's flush
    assert r.status_code == 500
    assert r.json() == {"status_code": 500, "detail": "internal error"}
    assert _rows(rt, "SELECT count(*) FROM users WHERE email = 'a@example.com'") == [(1,)]
    # the lock and the connection were given back: the next write goes through
    assert client.post("/test/users", params={"email": "b@example.com"}).status_code == 201


def test_a_slow_form_does_not_hold_the_write_lock(rt: Runtime) -> None:
    app = create_app(rt, extra_handlers=HANDLERS)

    async def scenario() -> None:
        release = asyncio.Event()
        started = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield b"title=sl"
            started.set()
            await release.wait()  # the rest of the form arrives only when the test says so
            yield b"ow"

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as ac:
            slow = asyncio.create_task(ac.post(
                "/test/form", content=slow_body(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ))
            await asyncio.wait_for(started.wait(), 30)
            # Another writer gets through while the slow form is still arriving.
            fast = await asyncio.wait_for(ac.post("/test/replies", params={"title": "fast"}), 30)
            assert fast.status_code == 201
            release.set()
            r = await asyncio.wait_for(slow, 30)
            assert r.status_code == 201 and r.json() == {"title": "slow"}
        await rt.db.dispose()

    asyncio.run(scenario())
    assert sorted(_rows(rt, "SELECT title FROM saved_replies")) == [("fast",), ("slow",)]
