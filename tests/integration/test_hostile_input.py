"""Hostile or careless input against the real daemon: reprocessing a message twice, X-Loop
naming our own address, and numbers or JSON that once made the API answer 500."""

from __future__ import annotations

import threading
import time

import httpx

from tests.conftest import ON_POSTGRES, Daemon, Sink, make_mail, wait_until
from tests.integration.api_helpers import add_user, error, login
from tests.integration.test_loops import send_raw, wait_inbound
from tests.integration.test_pages import sign_in

HUGE = "100000000000000000000"  # 10**20: more than a 64-bit SQL integer holds


def _ticket_count(daemon: Daemon) -> int:
    return int(daemon.sql("SELECT count(*) FROM tickets")[0][0])


def _marker(daemon: Daemon, sink: Sink, sender: str) -> None:
    """A later, ordinary request whose confirmation arrives: everything sent before it has
    had its chance to go out too (one pipeline, one outbox, in order)."""
    daemon.send(make_mail(sender, "Marker", "Just checking."))
    sink.wait_for(sender)


# -- reprocess (issue 11.8) -------------------------------------------------------------------


def test_reprocess_of_a_processed_message_is_refused_and_sends_nothing(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "pat@example.com", admin=True)
    inbound_id = send_raw(daemon, make_mail("ann@example.org", "Printer on fire", "Help!").as_bytes(),
                          mail_from="ann@example.org")
    assert wait_inbound(daemon, inbound_id)[0] == "processed"
    sink.wait_for("ann@example.org")
    with login(daemon, "pat@example.com") as admin:
        detail = error(admin.post(f"/admin/support/inbound/{inbound_id}/reprocess"), 409)
    assert "processed" in detail and "failed or ignored" in detail
    assert daemon.sql("SELECT status FROM inbound_messages WHERE id = :i", i=inbound_id)[0][0] == "processed"
    _marker(daemon, sink, "marker@example.org")
    assert _ticket_count(daemon) == 2
    assert len(sink.to("ann@example.org")) == 1


def test_reprocess_of_an_ignored_message_runs_it_again(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "pat@example.com", admin=True)
    auto = make_mail("robot@example.net", "Weekly digest", "Numbers.", headers={"Auto-Submitted": "auto-generated"})
    inbound_id = send_raw(daemon, auto.as_bytes(), mail_from="robot@example.net")
    assert wait_inbound(daemon, inbound_id)[0] == "ignored"
    with login(daemon, "pat@example.com") as admin:
        r = admin.post(f"/admin/support/inbound/{inbound_id}/reprocess")
        assert r.status_code == 202 and r.json()["status"] == "received"
        status, reason, classification, _ticket = wait_inbound(daemon, inbound_id)
    assert (status, classification) == ("ignored", "auto_reply") and "Auto-Submitted" in reason
    _marker(daemon, sink, "marker@example.org")
    assert sink.to("robot@example.net") == [] and _ticket_count(daemon) == 1


def test_reprocess_of_an_attached_automatic_message_does_not_attach_it_twice(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "pat@example.com", admin=True)
    daemon.send(make_mail("jana@example.org", "Payout missing", "Where is it?"))
    (confirmation,) = sink.wait_for("jana@example.org")
    ooo = make_mail("jana@example.org", f"Automatic reply: {confirmation.subject}", "Out until Monday.",
                    in_reply_to=confirmation.msg["Message-ID"], headers={"Auto-Submitted": "auto-replied"})
    inbound_id = send_raw(daemon, ooo.as_bytes(), mail_from="jana@example.org")
    status, _reason, _kind, ticket_id = wait_inbound(daemon, inbound_id)
    assert status == "ignored" and ticket_id is not None
    entries = "SELECT count(*) FROM ticket_messages WHERE inbound_id = :i"
    assert daemon.sql(entries, i=inbound_id)[0][0] == 1
    with login(daemon, "pat@example.com") as admin:
        assert admin.post(f"/admin/support/inbound/{inbound_id}/reprocess").status_code == 202
    status, reason, _kind, _ticket = wait_inbound(daemon, inbound_id)
    number = daemon.sql("SELECT ticket_number FROM tickets WHERE id = :t", t=ticket_id)[0][0]
    assert status == "ignored" and reason == f"already applied to {number}; not applied again"
    assert daemon.sql(entries, i=inbound_id)[0][0] == 1


def _insert_failed(daemon: Daemon, raw: bytes) -> int:
    """A message an earlier pipeline pass gave up on (fault injection: the row as it is left)."""
    envelope = '["support@example.com"]'
    value = "CAST(:env AS JSON)" if ON_POSTGRES else ":env"
    daemon.sql(
        "INSERT INTO inbound_messages (dedupe_key, envelope_from, envelope_to, source, raw, size, status, reason, "
        f"attempts, received_at) VALUES ('failed-once', 'lee@example.org', {value}, 'smtp', :raw, :size, 'failed', "
        "'apply: RuntimeError: simulated', 1, CURRENT_TIMESTAMP)",
        env=envelope, raw=raw, size=len(raw),
    )
    return int(daemon.sql("SELECT id FROM inbound_messages WHERE dedupe_key = 'failed-once'")[0][0])


def test_concurrent_reprocess_calls_apply_a_failed_message_once(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "pat@example.com", admin=True)
    inbound_id = _insert_failed(daemon, make_mail("lee@example.org", "Refund", "Please refund me.").as_bytes())
    codes: list[int] = []
    details: list[str] = []
    start = threading.Barrier(4)

    def hammer() -> None:
        # Keep asking until the answer says the message is processed: every call before
        # that races the pipeline, every call after it must be refused.
        with login(daemon, "pat@example.com") as admin:
            start.wait()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                r = admin.post(f"/admin/support/inbound/{inbound_id}/reprocess")
                codes.append(r.status_code)
                if r.status_code == 409:
                    details.append(r.json()["detail"])
                    if "is processed" in details[-1]:
                        return
                time.sleep(0.01)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(202) == 1, codes
    assert set(codes) == {202, 409} and sum("is processed" in d for d in details) == 4
    assert _ticket_count(daemon) == 1
    _marker(daemon, sink, "marker@example.org")
    assert len(sink.to("lee@example.org")) == 1


# -- X-Loop (issue 11.10) ---------------------------------------------------------------------


def test_x_loop_naming_the_support_address_is_recorded_and_not_answered(daemon: Daemon, sink: Sink) -> None:
    ids = []
    for value in ("<Support+billing@Example.COM>", "support@example.com"):
        mail = make_mail("carol@example.org", "Fwd: your request", "Forwarded by my filter.",
                         headers={"X-Loop": value})
        ids.append(send_raw(daemon, mail.as_bytes(), mail_from="carol@example.org"))
    for inbound_id in ids:
        status, reason, classification, _ticket = wait_inbound(daemon, inbound_id)
        assert (status, classification) == ("ignored", "loop"), reason
        assert "X-Loop names our own address" in reason and "not answered" in reason
    _marker(daemon, sink, "marker@example.org")
    assert sink.to("carol@example.org") == []
    assert [t[2] for t in daemon.tickets()] == ["marker@example.org"]


# -- 4xx, not 500 (issue 11.11) ---------------------------------------------------------------


def test_huge_page_numbers_are_422_naming_page(daemon: Daemon) -> None:
    add_user(daemon, "pat@example.com", admin=True)
    with login(daemon, "pat@example.com") as admin:
        for path in ("/admin/support/tickets", "/support/tickets", "/admin/support/inbound", "/admin/users"):
            assert error(admin.get(path, params={"page": HUGE}), 422).startswith("page:"), path
        assert admin.get("/admin/support/tickets", params={"page": "1000000"}).status_code == 200
        assert error(admin.get("/admin/support/tickets", params={"assigned_to": HUGE}), 422).startswith("assigned_to")
        number = admin.post("/support/tickets", json={"subject": "s", "description": "d"}).json()["ticket_number"]
        r = admin.patch(f"/admin/support/tickets/{number}", json={"assigned_to": int(HUGE)})
        assert error(r, 422).startswith("assigned_to")
        for path in (f"/admin/support/inbound/{HUGE}/reprocess", f"/support/tickets/{HUGE}",
                     f"/support/tickets/{number}/attachments/{HUGE}"):
            call = admin.post if path.endswith("reprocess") else admin.get
            assert error(call(path), 404), path


def test_json_nested_deeply_is_400(daemon: Daemon) -> None:
    add_user(daemon, "pat@example.com", admin=True)
    deep = b"[" * 100_000 + b"]" * 100_000
    with login(daemon, "pat@example.com") as admin:
        for path in ("/support/tickets", "/auth/login"):
            r = admin.post(path, content=deep, headers={"Content-Type": "application/json"})
            assert "nested too deeply" in error(r, 400), path
        r = admin.post("/support/tickets", content=b'{"subject": ' + deep + b', "description": "d"}',
                       headers={"Content-Type": "application/json"})
        assert "nested too deeply" in error(r, 400)
        assert admin.get("/healthz").status_code == 200


def test_html_pages_take_any_page_parameter(daemon: Daemon) -> None:
    with sign_in(daemon, "pat@example.com", admin=True) as browser:
        for path in ("/admin/support", "/help/tickets"):
            for page in (HUGE, "\u00b2", "-1", "abc"):
                r = browser.get(path, params={"page": page})
                assert r.status_code == 200 and "<html" in r.text, (path, page, r.status_code)
        assert browser.get("/admin/support", params={"assignee": HUGE}).status_code == 200
    with httpx.Client(base_url=daemon.base_url) as client:
        assert client.get("/healthz").status_code == 200
