"""Operations: the log tells what happened to each message (text and json), and GET /metrics."""

from __future__ import annotations

import json
import re
import smtplib
from typing import Any, Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Daemon, Sink, make_mail, wait_until
from tests.integration.api_helpers import anon, login, user_client, add_user

BODY = "The invoice for order 4711 was charged twice, my card ends 9876."


def _lines_with(daemon: Daemon, *needles: str, timeout: float = 20) -> list[str]:
    """Wait until the log holds a line containing every needle; return those lines."""
    def found() -> list[str]:
        return [line for line in daemon.log().splitlines() if all(n in line for n in needles)]
    return wait_until(found, timeout, what=f"a log line with {needles}:\n{daemon.log()[-3000:]}")


def _sign_in_token(daemon: Daemon, sink: Sink, email: str) -> str:
    add_user(daemon, email)
    with anon(daemon) as client:
        assert client.post("/auth/magic-link", json={"email": email}).status_code in (200, 202)
    (mail,) = sink.wait_for(email)
    match = re.search(r"/auth/magic/(\S+)", mail.text())
    assert match
    return match.group(1)


def test_text_log_has_a_line_per_message_outcome_and_delivery_and_no_body_or_token(
    daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    daemon = daemon_factory()
    sink.refuse = "451 4.3.0 Greylisted, try again later"
    daemon.send(make_mail("ann@example.org", "Charged twice", BODY, message_id="<first-1@client.example.org>"))

    (accepted,) = _lines_with(daemon, "accepted inbound 1:", "<first-1@client.example.org>")
    assert "ann@example.org" in accepted and "via smtp" in accepted and " bytes" in accepted
    (outcome,) = _lines_with(daemon, "inbound 1: new ticket SUP-")
    number = re.search(r"SUP-\d+", outcome).group(0)  # type: ignore[union-attr]
    # The relay said no for now: the line has its answer and when the next try is.
    retry = _lines_with(daemon, "(confirmation) to ann@example.org not delivered", "Greylisted", "next try at")[0]
    assert "WARNING" in retry
    sink.refuse = None
    (confirmation,) = sink.wait_for("ann@example.org")
    _lines_with(daemon, "delivered outbound", "(confirmation) to ann@example.org", "Ok")

    # The reply threads by In-Reply-To; the log says so.
    daemon.send(make_mail("ann@example.org", "Re: Charged twice", "Any news? " + BODY,
                          in_reply_to=str(confirmation.msg["Message-ID"])))
    _lines_with(daemon, "accepted inbound 2:")
    _lines_with(daemon, f"inbound 2: reply on {number} from the requester, matched by in_reply_to")

    # An out-of-office answer is kept but not acted on; the reason is in the log.
    daemon.send(make_mail("bot@example.org", "Out of office", "I am away.", headers={"Auto-Submitted": "auto-replied"}))
    _lines_with(daemon, "inbound 3 ignored", "automatic mail")

    token = _sign_in_token(daemon, sink, "bea@example.org")
    _lines_with(daemon, "delivered outbound", "(magic_link) to bea@example.org")

    log = daemon.log()
    assert BODY not in log and "order 4711" not in log and "I am away" not in log
    assert token not in log and "/auth/magic/" not in log
    assert "Traceback" not in log


def test_json_log_is_one_object_per_line_with_stable_keys(
    daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    daemon = daemon_factory(MAILDESK_LOG_FORMAT="json", MAILDESK_SLA_HOURS="urgent=0.0003,high=0.0003,medium=0.0003,low=0.0003",
                            MAILDESK_SLA_CHECK_SECONDS="0.5")
    daemon.send(make_mail("cy@example.org", "Cannot log in", BODY, message_id="<json-1@client.example.org>"))
    sink.wait_for("cy@example.org")
    token = _sign_in_token(daemon, sink, "dee@example.org")

    def events() -> list[dict[str, Any]]:
        lines = [line for line in daemon.log().splitlines() if line.strip()]
        parsed = [json.loads(line) for line in lines]  # every line is one JSON object
        for obj in parsed:
            assert {"ts", "level", "logger", "msg", "event"} <= set(obj), obj
        return parsed

    def by_event(name: str) -> list[dict[str, Any]]:
        return [e for e in events() if e["event"] == name]

    (accepted,) = wait_until(lambda: by_event("inbound.accepted"), 20, what="inbound.accepted")
    assert accepted["inbound_id"] == 1 and accepted["message_id"] == "json-1@client.example.org"
    assert accepted["from"] == "cy@example.org" and accepted["source"] == "smtp" and accepted["size"] > len(BODY)
    (processed,) = wait_until(lambda: by_event("pipeline.processed"), 20, what="pipeline.processed")
    assert processed["inbound_id"] == 1 and processed["how"] == "new_ticket"
    assert re.fullmatch(r"SUP-\d+", processed["ticket"])
    sent = wait_until(lambda: [e for e in by_event("outbound.sent") if e["kind"] == "magic_link"], 20,
                      what="magic_link outbound.sent")
    assert sent[0]["to"] == "dee@example.org" and sent[0]["outbound_id"] and sent[0]["reply"]
    (escalated,) = wait_until(lambda: by_event("sla.escalated"), 20, what="sla.escalated")
    assert escalated["ticket"] == processed["ticket"] and escalated["priority"] == "medium"
    assert escalated["hours_late"] >= 0 and escalated["level"] == "WARNING"
    assert {e["logger"] for e in events() if e["event"] is None}  # ordinary lines are JSON too
    log = daemon.log()
    assert BODY not in log and token not in log


def test_mail_written_to_the_outbox_dir_is_logged_by_kind_and_recipient_only(
    daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    daemon = daemon_factory(MAILDESK_RELAY_URL="")  # no relay: outbound mail becomes .eml files
    daemon.send(make_mail("gil@example.org", "No relay here", BODY))
    (line,) = _lines_with(daemon, "delivered outbound 1 (confirmation) to gil@example.org: written to")
    assert line.rstrip().endswith("-confirmation.eml")
    assert BODY not in daemon.log() and "has been received" not in daemon.log()


def _scrape(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def _value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_mail_queues_tickets_sessions_and_escalations(
    daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    daemon = daemon_factory(MAILDESK_SLA_HOURS="urgent=0.0003,high=0.0003,medium=0.0003,low=0.0003")
    client = anon(daemon)  # from 127.0.0.1: allowed by the default MAILDESK_METRICS_ALLOW
    before = _scrape(client)
    assert _value(before, "maildesk_inbound_messages_total", source="smtp", status="received") == 0
    assert _value(before, "maildesk_tickets", status="open") == 0
    assert ("maildesk_queue_depth", frozenset({("queue", "inbound")})) in before
    assert _value(before, "maildesk_smtp_sessions") == 0

    daemon.send(make_mail("eve@example.org", "First", "one", message_id="<m-1@client.example.org>"))
    daemon.send(make_mail("eve@example.org", "First", "one", message_id="<m-1@client.example.org>"))  # again
    daemon.send(make_mail("fay@example.org", "Second", "two"))
    daemon.wait_processed(2)
    sink.wait_for("eve@example.org")
    sink.wait_for("fay@example.org")

    def sent_two() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        m = _scrape(client)
        return m if _value(m, "maildesk_outbound_messages_total", kind="confirmation", status="sent") == 2 else None

    after = wait_until(sent_two, 20, what="two confirmations counted")
    assert _value(after, "maildesk_inbound_messages_total", source="smtp", status="received") == 2
    assert _value(after, "maildesk_inbound_messages_total", source="smtp", status="duplicate") == 1
    assert _value(after, "maildesk_inbound_messages_total", source="smtp", status="processed") == 2
    assert _value(after, "maildesk_pipeline_seconds_count") == 2
    assert _value(after, "maildesk_pipeline_seconds_sum") > 0
    assert _value(after, "maildesk_tickets", status="open") == 2
    assert _value(after, "maildesk_queue_depth", queue="inbound") == 0
    assert _value(after, "maildesk_queue_depth", queue="outbound") == 0

    # Ticket counts come from the database at scrape time.
    daemon.sql("UPDATE tickets SET status = 'resolved' WHERE id = 1")
    m = _scrape(client)
    assert _value(m, "maildesk_tickets", status="resolved") == 1 and _value(m, "maildesk_tickets", status="open") == 1

    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as session:
        session.ehlo()
        assert _value(_scrape(client), "maildesk_smtp_sessions") == 1
    wait_until(lambda: _value(_scrape(client), "maildesk_smtp_sessions") == 0, 10, what="session gauge back to 0")

    with user_client(daemon, "boss@example.org", admin=True) as admin:
        open_number = [row[1] for row in daemon.tickets() if row[4] == "open"]
        escalated = wait_until(lambda: admin.post("/admin/support/check-sla").json()["escalated"], 20,
                               what="the open ticket past its 1-second SLA")
        assert escalated == open_number
    assert _value(_scrape(client), "maildesk_sla_escalations_total") == 1
    client.close()


def test_metrics_are_refused_outside_the_allow_list_unless_admin(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(MAILDESK_METRICS_ALLOW="10.0.0.0/8")
    with anon(daemon) as client:
        r = client.get("/metrics")
        assert r.status_code == 403 and "MAILDESK_METRICS_ALLOW" in r.json()["detail"]
    with user_client(daemon, "user@example.org") as user:
        assert user.get("/metrics").status_code == 403
    with user_client(daemon, "root@example.org", admin=True) as admin:
        r = admin.get("/metrics")
        assert r.status_code == 200 and "maildesk_inbound_messages_total" in r.text
        assert "maildesk_tickets" in r.text
