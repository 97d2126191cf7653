"""Webhooks against a real `maildesk serve` and a real HTTP receiver that checks signatures.

The receiver is an http.server in a thread. It verifies every delivery with the
`standardwebhooks` library, as a host site would, and answers 204 (or a redirect on the
path that asks for one). Delivery tests run the daemon with MAILDESK_WEBHOOK_ALLOW_PRIVATE=1,
since the receiver listens on loopback.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import httpx
from standardwebhooks import Webhook

from tests.conftest import Daemon, Sink, free_port, make_mail, wait_until
from tests.integration.api_helpers import add_user, anon, error, login, new_ticket, user_client

ALL_EVENTS = ["ticket.created", "ticket.updated", "message.created", "note.created"]


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: Any = None  # the verified JSON, None when the signature did not verify


@dataclass
class Receiver:
    port: int
    secrets: dict[str, str] = field(default_factory=dict)  # path -> secret
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    hits: list[Hit] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hit = Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if self.path in receiver.redirects:
                    receiver.hits.append(hit)
                    self.send_response(302)
                    self.send_header("Location", receiver.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                secret = receiver.secrets.get(self.path)
                try:
                    hit.payload = Webhook(secret).verify(body, hit.headers) if secret else None
                except Exception:
                    hit.payload = None
                receiver.hits.append(hit)
                self.send_response(204 if hit.payload is not None else 400)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def at(self, path: str) -> list[Hit]:
        return [h for h in list(self.hits) if h.path == path]


def _receiver(start: bool = True) -> Receiver:
    r = Receiver(free_port())
    return r.start() if start else r


def _register(admin: httpx.Client, url: str, events: list[str]) -> dict[str, Any]:
    r = admin.post("/admin/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _deliveries(admin: httpx.Client, endpoint_id: int) -> dict[str, Any]:
    r = admin.get(f"/admin/webhooks/{endpoint_id}/deliveries", params={"page_size": 100})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _all_settled(admin: httpx.Client, endpoint_id: int, count: int, status: str = "delivered") -> Callable[[], Any]:
    def check() -> Any:
        page = _deliveries(admin, endpoint_id)
        return page["total"] == count and all(d["status"] == status for d in page["items"]) and page
    return check


def _webhook_daemon(daemon_factory: Callable[..., Daemon], **env: str) -> Daemon:
    return daemon_factory(MAILDESK_WEBHOOK_ALLOW_PRIVATE="1", **env)


def test_each_event_arrives_once_signed(daemon_factory: Callable[..., Daemon], sink: Sink) -> None:
    daemon = _webhook_daemon(daemon_factory)
    receiver = _receiver()
    try:
        lead_id = add_user(daemon, "lead@example.com", admin=True, name="Lead")
        with login(daemon, "lead@example.com") as admin:
            public = _register(admin, receiver.url("/public"), ["ticket.created", "ticket.updated", "message.created"])
            everything = _register(admin, receiver.url("/all"), ALL_EVENTS)
            assert public["secret"].startswith("whsec_") and public["secret"] != everything["secret"]
            assert public["enabled"] is True and public["events"] == ["ticket.created", "ticket.updated", "message.created"]
            receiver.secrets.update({"/public": public["secret"], "/all": everything["secret"]})
            listed = admin.get("/admin/webhooks").json()
            assert listed["total"] == 2 and [e["id"] for e in listed["items"]] == [public["id"], everything["id"]]
            assert all("secret" not in e for e in listed["items"])  # shown once, at creation

            daemon.send(make_mail("Kim <kim@example.org>", "Cannot log in", "The password reset never arrives."))
            daemon.wait_processed(1)
            number = daemon.tickets()[0][1]
            assert admin.post(f"/admin/support/tickets/{number}/messages",
                              json={"body": "We have sent a new link."}).status_code == 201
            update = sink.wait_for("kim@example.org", 2)[-1]  # the confirmation, then the reply
            daemon.send(make_mail("Kim <kim@example.org>", f"Re: [{number}] Cannot log in", "It worked, thanks!",
                                  in_reply_to=update.msg["Message-ID"]))
            daemon.wait_processed(2)
            assert admin.post(f"/admin/support/tickets/{number}/messages",
                              json={"body": "Checked the mail log: delivered.", "is_internal": True}).status_code == 201
            assert admin.patch(f"/admin/support/tickets/{number}",
                               json={"status": "resolved", "priority": "high", "assigned_to": lead_id,
                                     "escalated": True}).status_code == 200

            wait_until(_all_settled(admin, public["id"], 5), timeout=30, what="5 deliveries to /public")
            settled = wait_until(_all_settled(admin, everything["id"], 6), timeout=30, what="6 deliveries to /all")
            assert all(d["attempts"][0]["status_code"] == 204 and d["attempt_count"] == 1 for d in settled["items"])

        for path in ("/public", "/all"):
            hits = receiver.at(path)
            assert all(h.payload is not None for h in hits), "every delivery carries a valid signature"
            ids = [h.headers["webhook-id"] for h in hits]
            assert len(ids) == len(set(ids)), "each event arrives once"
        public_hits = {h.headers["webhook-id"]: h.payload for h in receiver.at("/public")}
        all_hits = {h.headers["webhook-id"]: h.payload for h in receiver.at("/all")}
        assert Counter(p["type"] for p in public_hits.values()) == {
            "ticket.created": 1, "message.created": 2, "ticket.updated": 2}
        assert Counter(p["type"] for p in all_hits.values()) == {
            "ticket.created": 1, "message.created": 2, "ticket.updated": 2, "note.created": 1}
        # One event, one id: both endpoints got the same events under the same webhook-ids.
        assert set(public_hits) < set(all_hits)

        def one(hits: dict[str, Any], kind: str) -> dict[str, Any]:
            found = [p for p in hits.values() if p["type"] == kind]
            assert len(found) == 1, (kind, found)
            return found[0]

        created = one(public_hits, "ticket.created")
        assert created["data"]["ticket"]["ticket_number"] == number
        assert created["data"]["ticket"]["user_email"] == "kim@example.org"
        assert created["data"]["ticket"]["source"] == "email" and created["timestamp"].endswith("Z")
        messages = sorted((p["data"]["message"] for p in public_hits.values() if p["type"] == "message.created"),
                          key=lambda m: m["id"])
        assert [(m["sender_role"], m["sender_email"], m["body"], m["is_internal"], m["source"]) for m in messages] == [
            ("admin", "lead@example.com", "We have sent a new link.", False, "api"),
            ("user", "kim@example.org", "It worked, thanks!", False, "email"),
        ]
        note = one(all_hits, "note.created")["data"]["message"]
        assert note["body"] == "Checked the mail log: delivered." and note["is_internal"] is True
        assert not any("Checked the mail log" in h.body.decode() for h in receiver.at("/public"))
        changes = sorted((p["data"]["changes"] for p in public_hits.values() if p["type"] == "ticket.updated"),
                         key=len)
        assert changes == [
            {"status": {"old": "open", "new": "in_progress"}},  # the first public reply
            {"priority": {"old": "medium", "new": "high"}, "status": {"old": "in_progress", "new": "resolved"},
             "assigned_to": {"old": None, "new": lead_id}, "escalated": {"old": False, "new": True}},
        ]
    finally:
        receiver.stop()


def test_deliveries_queued_while_the_receiver_is_down_arrive_once_it_is_back(
    daemon_factory: Callable[..., Daemon],
) -> None:
    daemon = _webhook_daemon(daemon_factory, MAILDESK_WEBHOOK_RETRY_SECONDS=",".join(["0.5"] * 60))
    receiver = _receiver(start=False)
    try:
        add_user(daemon, "lead@example.com", admin=True)
        with login(daemon, "lead@example.com") as admin, anon(daemon) as visitor:
            endpoint = _register(admin, receiver.url("/hook"), ["ticket.created"])
            receiver.secrets["/hook"] = endpoint["secret"]
            number = new_ticket(visitor, "Order missing", user_email="ana@example.org")["ticket_number"]

            def failed_twice() -> Any:
                items = _deliveries(admin, endpoint["id"])["items"]
                return items and len(items[0]["attempts"]) >= 2 and items[0]
            down = wait_until(failed_twice, timeout=30, what="two failed attempts while the receiver is down")
            assert down["status"] in ("pending", "sending")  # still queued (or being tried again)
            assert all(a["status_code"] is None and a["error"] for a in down["attempts"])

            receiver.start()  # back, on the same port
            settled = wait_until(_all_settled(admin, endpoint["id"], 1), timeout=30, what="the delivery once back")
            attempts = settled["items"][0]["attempts"]
            assert attempts[0]["status_code"] == 204 and all(a["status_code"] is None for a in attempts[1:])
        hits = receiver.at("/hook")
        assert len(hits) == 1 and hits[0].payload is not None
        assert hits[0].payload["type"] == "ticket.created"
        assert hits[0].payload["data"]["ticket"]["ticket_number"] == number
        assert hits[0].headers["webhook-id"] == settled["items"][0]["event_id"]
    finally:
        receiver.stop()


def test_redirects_are_not_followed_and_an_endpoint_that_keeps_failing_is_disabled(
    daemon_factory: Callable[..., Daemon], sink: Sink,
) -> None:
    daemon = _webhook_daemon(daemon_factory, MAILDESK_WEBHOOK_RETRY_SECONDS="0.2,0.2")
    receiver = _receiver()
    receiver.redirects["/moved"] = receiver.url("/elsewhere")
    try:
        add_user(daemon, "lead@example.com", admin=True)
        with login(daemon, "lead@example.com") as admin, anon(daemon) as visitor:
            endpoint = _register(admin, receiver.url("/moved"), ["ticket.created"])
            receiver.secrets["/elsewhere"] = endpoint["secret"]
            new_ticket(visitor, "Refund?", user_email="ana@example.org")

            def disabled() -> Any:
                items = admin.get("/admin/webhooks").json()["items"]
                return items and not items[0]["enabled"] and items[0]
            gone = wait_until(disabled, timeout=30, what="the endpoint to be disabled")
            assert "3 attempts" in gone["disabled_reason"] and "redirects are not followed" in gone["disabled_reason"]
            delivery = _deliveries(admin, endpoint["id"])["items"][0]
            assert delivery["status"] == "failed" and delivery["attempt_count"] == 3
            assert [a["status_code"] for a in delivery["attempts"]] == [302, 302, 302]
            assert "redirects are not followed" in delivery["last_error"]
            assert len(receiver.at("/moved")) == 3 and receiver.at("/elsewhere") == []

            mail = wait_until(lambda: [m for m in sink.to("lead@example.com")
                                       if m.subject == "A webhook endpoint was disabled"],
                              timeout=30, what="the admin told of the disabled endpoint")
            text = mail[0].text()
            assert f"endpoint {endpoint['id']}" in text and "3 attempts" in text
            assert mail[0].msg["Auto-Submitted"] == "auto-generated"

            # A disabled endpoint gets no more events: the ticket's transaction wrote none for it.
            new_ticket(visitor, "Another one", user_email="ana@example.org")
            assert _deliveries(admin, endpoint["id"])["total"] == 1
    finally:
        receiver.stop()


def test_private_urls_refused_checked_again_at_delivery_and_admin_only(
    daemon_factory: Callable[..., Daemon],
) -> None:
    first = _webhook_daemon(daemon_factory)
    receiver = _receiver()
    try:
        add_user(first, "lead@example.com", admin=True)
        with login(first, "lead@example.com") as admin:
            endpoint = _register(admin, receiver.url("/hook"), ["ticket.created"])
        assert first.stop() == 0

        # The same database, without MAILDESK_WEBHOOK_ALLOW_PRIVATE: loopback is now refused.
        daemon = daemon_factory(db=first.db)
        with login(daemon, "lead@example.com") as admin, anon(daemon) as visitor, \
                user_client(daemon, "kim@example.org") as kim:
            for url, words in [
                (receiver.url("/hook"), "loopback"),
                ("http://localhost:9/hook", "loopback"),
                ("http://10.1.2.3/hook", "private"),
                ("http://[fd00::1]/hook", "private"),
                ("http://169.254.169.254/latest/meta-data", "link-local"),
                ("ftp://example.com/hook", "http"),
                ("https://user:pw@example.com/hook", "credentials"),
            ]:
                detail = error(admin.post("/admin/webhooks", json={"url": url, "events": ["ticket.created"]}), 422)
                assert detail.startswith("url:") and words in detail, (url, detail)
            detail = error(admin.post("/admin/webhooks", json={"url": "https://example.com/h",
                                                              "events": ["ticket.deleted"]}), 422)
            assert detail.startswith("events:") and "ticket.deleted" in detail
            assert "events" in error(admin.post("/admin/webhooks", json={"url": "https://example.com/h"}), 422)
            assert "colour" in error(admin.post("/admin/webhooks", json={"url": "https://example.com/h",
                                                                        "events": ["ticket.created"],
                                                                        "colour": "red"}), 422)

            # Registered while allowed; at delivery time the address is checked again.
            new_ticket(visitor, "Where is my parcel?", user_email="ana@example.org")

            def refused() -> Any:
                items = _deliveries(admin, endpoint["id"])["items"]
                return items and items[0]["attempts"] and items[0]
            delivery = wait_until(refused, timeout=30, what="a refused delivery attempt")
            attempt = delivery["attempts"][0]
            assert attempt["status_code"] is None and "loopback" in attempt["error"]
            assert attempt["error"].startswith("not sent:")
            assert receiver.hits == []

            for method, path in [("GET", "/admin/webhooks"), ("POST", "/admin/webhooks"),
                                 ("DELETE", f"/admin/webhooks/{endpoint['id']}"),
                                 ("GET", f"/admin/webhooks/{endpoint['id']}/deliveries")]:
                error(kim.request(method, path, json={}), 403)
                error(visitor.request(method, path, json={}), 401)

            assert admin.delete(f"/admin/webhooks/{endpoint['id']}").status_code == 204
            assert admin.get("/admin/webhooks").json()["total"] == 0
            error(admin.get(f"/admin/webhooks/{endpoint['id']}/deliveries"), 404)
            error(admin.delete(f"/admin/webhooks/{endpoint['id']}"), 404)
    finally:
        receiver.stop()
