"""Pure parts of the web guards: origin matching (sameorigin.py) and the sign-in backoff
(ratelimit.py), each against a fake clock or plain values."""

from __future__ import annotations

import pytest
from litestar.exceptions import HTTPException, PermissionDeniedException

from maildesk.web.ratelimit import Backoff, RateLimiter
from maildesk.web.sameorigin import check_cookie_write, origin_of, own_origins


def test_origin_of_normalises_and_rejects_opaque_origins() -> None:
    assert origin_of("https://Help.Example.com:443/desk/x?y") == "https://help.example.com"
    assert origin_of("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert origin_of("http://[::1]:80/") == "http://[::1]"
    for bad in ("null", "", None, "file:///etc/passwd", "javascript:alert(1)", "http://x:99999"):
        assert origin_of(bad) is None
    assert own_origins("https://help.example.com/desk", "http", "127.0.0.1:8000") == {
        "https://help.example.com", "http://127.0.0.1:8000"}


def _check(**overrides: object) -> None:
    values: dict[str, object] = dict(method="POST", has_bearer=False, has_cookie=True, origin="https://h.example",
                                     referer=None, content_type="application/json; charset=utf-8", has_body=True,
                                     allowed={"https://h.example"})
    values.update(overrides)
    check_cookie_write(**values)  # type: ignore[arg-type]


def test_cookie_writes_need_our_origin_and_json() -> None:
    _check()
    _check(origin=None, referer="https://h.example/admin/support")
    _check(method="GET", origin="http://evil.example", content_type="text/plain")
    _check(has_bearer=True, origin=None, content_type="application/json")
    _check(has_cookie=False, origin="http://evil.example")
    _check(method="DELETE", content_type=None, has_body=False)
    for refused in (dict(origin="http://evil.example"), dict(origin="null"), dict(origin=None),
                    dict(origin=None, referer="http://evil.example/"), dict(origin="https://h.example.evil.example")):
        with pytest.raises(PermissionDeniedException):
            _check(**refused)
    for wrong_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        with pytest.raises(HTTPException) as info:
            _check(content_type=wrong_type)
        assert info.value.status_code == 415


def test_backoff_doubles_after_the_free_failures_and_success_clears() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    policy = Backoff(free=3, first_delay=1.0, max_delay=8.0)
    key = ("login-pair:1.2.3.4", "a@x")
    for _ in range(3):
        assert limiter.attempt(key, policy) is None
        limiter.settle(key, ok=False)
    waits = []
    for _ in range(6):
        wait = limiter.attempt(key, policy)
        assert wait is not None
        waits.append(wait)
        now[0] += wait
        assert limiter.attempt(key, policy) is None
        limiter.settle(key, ok=False)
    assert waits == [1, 2, 4, 8, 8, 8]
    assert limiter.attempt(("login-pair:5.6.7.8", "a@x"), policy) is None  # another client is not slowed
    now[0] += 100  # quiet for longer than max_delay: forgotten
    assert limiter.attempt(key, policy) is None
    limiter.settle(key, ok=True)
    for _ in range(3):
        assert limiter.attempt(key, policy) is None
        limiter.settle(key, ok=False)
