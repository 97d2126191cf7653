"""The HTML pages over HTTP (no browser) against a real `maildesk serve`: who sees which page,
labels on every form control, CSRF tokens on every state-changing form, nothing loaded from
other origins, user content escaped, and the forms doing what the JSON API does."""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import Daemon, Sink, make_mail, wait_until
from tests.integration.api_helpers import PASSWORD, add_user, anon, login, new_ticket

NAMED_LABELS = {
    "/login": ["Email", "Password"],
    "/help/contact": ["Email", "Name", "Category", "Subject", "Description"],
    "/admin/support": ["Status", "Priority", "Category", "Assignee", "Search"],
    "/admin/support/{n}": ["Status", "Priority", "Assignee", "Resolution notes", "Internal note", "Message"],
    "/help/tickets/{n}": ["Your reply"],
}


# --- reading pages --------------------------------------------------------------------------------


class Page(HTMLParser):
    """What a test needs to know about a page: labels, controls, forms, links, text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.labels: list[dict[str, Any]] = []  # {"for": id, "text": str}
        self.controls: list[dict[str, str]] = []  # input/select/textarea attributes (+ "tag")
        self.forms: list[dict[str, Any]] = []  # {"action", "method", "fields": [...], "buttons": int}
        self.urls: list[str] = []  # every src/href/action
        self.rows: list[list[str]] = []  # table body rows, cell texts
        self.text_parts: list[str] = []
        self._label: dict[str, Any] | None = None
        self._form: dict[str, Any] | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_tbody = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            if name in a:
                self.urls.append(a[name])
        if tag == "label":
            self._label = {"for": a.get("for"), "text": ""}
            self.labels.append(self._label)
        elif tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                          "fields": [], "buttons": 0}
            self.forms.append(self._form)
        elif tag in ("input", "select", "textarea"):
            control = {"tag": tag, **a}
            self.controls.append(control)
            if self._form is not None:
                self._form["fields"].append(control)
                if tag == "input" and a.get("type") == "submit":
                    self._form["buttons"] += 1
        elif tag == "button" and self._form is not None and a.get("type", "submit") == "submit":
            self._form["buttons"] += 1
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            if self._label is not None:
                self._label["text"] = " ".join(self._label["text"].split())
            self._label = None
        elif tag == "form":
            self._form = None
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label["text"] += data
        if self._cell is not None:
            self._cell.append(data)
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def form(self, action: str) -> dict[str, Any]:
        (found,) = [f for f in self.forms if f["action"] == action]
        return found

    def csrf(self, action: str) -> str:
        (token,) = [f["value"] for f in self.form(action)["fields"] if f.get("name") == "csrf_token"]
        return str(token)

    def session_csrf(self) -> str:
        """The token of the sign-out form: the signed-in session's token, good for any of its forms."""
        return self.csrf("/logout")

    def check_accessible(self, named: list[str]) -> None:
        """Every visible control has a label naming it; the named labels exist and point at a
        control; every form has a submit button; every POST form carries a CSRF token."""
        ids = {c.get("id") for c in self.controls if c.get("id")}
        labelled = {lab["for"] for lab in self.labels if lab["for"] and lab["text"].strip()}
        for c in self.controls:
            if c["tag"] == "input" and c.get("type") in ("hidden", "submit", "button"):
                continue
            assert c.get("id") in labelled, f"control without a visible label: {c}"
        for word in named:
            matching = [lab for lab in self.labels if re.search(rf"\b{re.escape(word)}\b", lab["text"])]
            assert matching, f"no label naming {word!r}; labels: {[lab['text'] for lab in self.labels]}"
            assert any(lab["for"] in ids for lab in matching), f"label {word!r} points at no control"
        for f in self.forms:
            assert f["buttons"] >= 1, f"form without a submit button: {f['action']}"
            if f["method"] == "post":
                tokens = [x for x in f["fields"] if x.get("type") == "hidden" and x.get("name") == "csrf_token"]
                assert len(tokens) == 1 and len(tokens[0].get("value", "")) >= 32, f"no CSRF token in {f['action']}"

    def check_same_origin(self) -> None:
        for url in self.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc and not url.startswith("//"), f"other origin: {url}"


def get_page(client: httpx.Client, path: str, status: int = 200) -> Page:
    r = client.get(path)
    assert r.status_code == status, (path, r.status_code, r.text[:2000])
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "http" not in csp, csp
    page = Page(r.text)
    page.check_same_origin()
    return page


def browser(daemon: Daemon) -> httpx.Client:
    """Like a browser: keeps cookies, does not follow redirects on its own (tests look at them)."""
    return httpx.Client(base_url=daemon.base_url, timeout=15, follow_redirects=False)


def sign_in(daemon: Daemon, email: str, *, admin: bool = False, name: str = "") -> httpx.Client:
    """A browser signed in through the /login form."""
    add_user(daemon, email, admin=admin, name=name)
    with browser(daemon) as client:
        page = get_page(client, "/login")
        r = client.post("/login", data={"csrf_token": page.csrf("/login"), "email": email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == ("/admin/support" if admin else "/help/tickets")
        assert client.cookies.get("maildesk_session")
        signed_in = browser(daemon)  # unopened, so callers can use it in a with block
        signed_in.cookies.update(client.cookies)
    return signed_in


def location(r: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    assert r.status_code == 303, (r.status_code, r.text[:1000])
    parts = urlsplit(r.headers["location"])
    return parts.path, parse_qs(parts.query)


def post_form(client: httpx.Client, page: Page, action: str, **fields: str) -> httpx.Response:
    return client.post(action, data={"csrf_token": page.csrf(action), **fields})


# --- sign-in -----------------------------------------------------------------------------------------


def test_login_page_password_form_and_csrf(daemon: Daemon) -> None:
    add_user(daemon, "ada@example.org", name="Ada")
    add_user(daemon, "boss@example.com", admin=True)
    with browser(daemon) as client:
        page = get_page(client, "/login")
        page.check_accessible(NAMED_LABELS["/login"])
        assert "Send me a sign-in link" in page.text
        token = page.csrf("/login")

        # No token, or a token from another browser: refused with a page saying why, nobody signed in.
        for data in ({}, {"csrf_token": "0" * 64}):
            r = client.post("/login", data={**data, "email": "ada@example.org", "password": PASSWORD})
            assert r.status_code == 403 and "security token" in r.text, r.text
            assert "maildesk_session" not in r.headers.get("set-cookie", "")
        with browser(daemon) as other:
            r = other.post("/login", data={"csrf_token": token, "email": "ada@example.org", "password": PASSWORD})
            assert r.status_code == 403

        # A wrong password and an unknown address read the same; the address typed is kept.
        for email in ("ada@example.org", "nobody@example.org"):
            r = client.post("/login", data={"csrf_token": token, "email": email, "password": "wrong"})
            assert r.status_code == 401 and "Wrong email or password." in r.text
            assert f'value="{email}"' in r.text
        r = client.post("/login", data={"csrf_token": token, "email": "", "password": ""})
        assert r.status_code == 422 and "Enter your email address." in r.text

        r = client.post("/login", data={"csrf_token": token, "email": "Ada@Example.org", "password": PASSWORD})
        assert location(r)[0] == "/help/tickets"
        assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=lax" in r.headers["set-cookie"]
        assert "ada@example.org" in get_page(client, "/help/tickets").text

        # Sign out (a form with its own token) ends the session.
        page = get_page(client, "/help/tickets")
        session = client.cookies["maildesk_session"]
        assert client.post("/logout", data={}).status_code == 403
        r = post_form(client, page, "/logout")
        assert location(r) == ("/login", {"signed_out": ["1"]})
        assert "You are signed out." in get_page(client, "/login?signed_out=1").text
        client.cookies.set("maildesk_session", session)  # the old session no longer works
        assert location(client.get("/help/tickets"))[0] == "/login"

    # An admin lands on the queue; `next` brings anyone back to where they were going, on this site only.
    with browser(daemon) as client:
        r = client.get("/admin/support/SUP-00001")
        path, query = location(r)
        assert (path, query["next"]) == ("/login", ["/admin/support/SUP-00001"])
        page = get_page(client, "/login?next=/admin/support/SUP-00001")
        r = post_form(client, page, "/login", email="boss@example.com", password=PASSWORD,
                      next="/admin/support/SUP-00001")
        assert location(r)[0] == "/admin/support/SUP-00001"
    with browser(daemon) as client:
        page = get_page(client, "/login?next=//evil.example/x")
        assert "evil" not in str(page.form("/login")["fields"])
        r = post_form(client, page, "/login", email="boss@example.com", password=PASSWORD, next="//evil.example/x")
        assert location(r)[0] == "/admin/support"


def test_sign_in_link_form(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "bea@example.org")
    with browser(daemon) as client:
        page = get_page(client, "/login")
        answers = []
        for email in ("stranger@example.org", "Bea@Example.org"):
            r = post_form(client, page, "/login/link", email=email)
            assert r.status_code == 200
            answers.append(Page(r.text))
        expected = "If the address is known, a link is on its way."
        assert all(expected in a.text for a in answers)
        assert client.post("/login/link", data={"email": "bea@example.org"}).status_code == 403

        (mail,) = sink.wait_for("bea@example.org")
        link = re.search(r"http://\S+/auth/magic/\S+", mail.text())
        assert link, mail.text()
        r = client.get(link.group(0))
        assert location(r)[0] == "/help/tickets"
        assert "bea@example.org" in get_page(client, "/help/tickets").text
    assert sink.to("stranger@example.org") == []


# --- the contact form ------------------------------------------------------------------------------------


def test_contact_form_creates_a_ticket_like_the_api(daemon: Daemon, sink: Sink) -> None:
    with browser(daemon) as client:
        page = get_page(client, "/help/contact")
        page.check_accessible(NAMED_LABELS["/help/contact"])
        (category,) = [c for c in page.controls if c.get("id") == "category"]
        assert category["tag"] == "select"
        options = re.findall(r'<option value="([^"]*)"', client.get("/help/contact").text)
        assert options == ["", *"getting_started,buying,selling,payments,account,dispute,bug,other".split(",")]

        # Without the token nothing is created.
        r = client.post("/help/contact/send", data={"email": "eve@example.org", "category": "bug",
                                                    "description": "Hello"})
        assert r.status_code == 403 and "security token" in r.text
        assert daemon.tickets() == []

        # Errors are shown next to each field, and what was typed stays (escaped).
        # (The page applies the API's ContactIn, so a name over its 200 characters is refused too.)
        r = post_form(client, page, "/help/contact/send", email="not-an-address", name="E" * 201,
                      category="astrology", subject="<b>Hi</b>", description="   ")
        assert r.status_code == 422
        shown = Page(r.text)
        for field_id, words in (("email", "Enter your email address"), ("category", "Choose a category"),
                                ("description", "Describe what you need"), ("name", "Use at most 200 characters")):
            (control,) = [c for c in shown.controls if c.get("id") == field_id]
            assert control.get("aria-invalid") == "true"
            assert re.search(rf'id="{field_id}-error"[^>]*>.*{words}', r.text), field_id
        assert 'value="not-an-address"' in r.text and 'value="&lt;b&gt;Hi&lt;/b&gt;"' in r.text
        assert daemon.tickets() == []

        r = post_form(client, page, "/help/contact/send", email="Eve@Example.org", name="Eve",
                      category="payments", subject="", description="My payout is late.\nOrder 77.")
        path, query = location(r)
        assert path == "/help/contact"
        (number,) = query["sent"]
        page = get_page(client, f"/help/contact?sent={number}")
        assert f"Your request {number} has been received" in page.text
    (row,) = daemon.tickets()
    assert (row[1], row[2], row[3], row[4], row[5]) == (number, "eve@example.org", "My payout is late.", "open", "payments")
    assert daemon.sql("SELECT source FROM tickets")[0][0] == "contact"
    (confirmation,) = sink.wait_for("eve@example.org")
    assert f"Your support request {number} has been received" in confirmation.subject

    # The JSON API at POST /help/contact is unchanged.
    with anon(daemon) as client:
        r = client.post("/help/contact", json={"email": "fay@example.org", "category": "bug", "description": "x"})
        assert r.status_code == 201 and r.json()["ticket_number"].startswith("SUP-")
        r = client.post("/help/contact", json={"email": "fay@example.org", "category": "nope", "description": "x"})
        assert r.status_code == 422 and "category" in r.json()["detail"]


# --- the requester's pages ----------------------------------------------------------------------------------


def test_requester_sees_own_tickets_only_and_no_internal_notes(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "boss@example.com", admin=True, name="Boss")
    with login(daemon, "boss@example.com") as api_admin, anon(daemon) as api:
        first = new_ticket(api, "First <question>", "About <b>my</b> account", user_email="gil@example.org")
        second = new_ticket(api, "Second question", "Another thing", user_email="gil@example.org")
        other = new_ticket(api, "Hal's", "Not Gil's", user_email="hal@example.org")
        r = api_admin.post(f"/admin/support/tickets/{second['id']}/messages",
                           json={"body": "SECRET internal: refund abuse?", "is_internal": True})
        assert r.status_code == 201
        r = api_admin.post(f"/admin/support/tickets/{second['id']}/messages", json={"body": "We are on it."})
        assert r.status_code == 201

    with sign_in(daemon, "gil@example.org") as gil:
        page = get_page(gil, "/help/tickets")
        assert [row[0] for row in page.rows] == [second["ticket_number"], first["ticket_number"]]  # newest first
        assert page.rows[1][1] == "First <question>"
        assert "First &lt;question&gt;" in gil.get("/help/tickets").text
        assert other["ticket_number"] not in page.text

        number = second["ticket_number"]
        page = get_page(gil, f"/help/tickets/{number}")
        page.check_accessible(NAMED_LABELS["/help/tickets/{n}"])
        assert "We are on it." in page.text and "Another thing" in page.text
        assert "SECRET" not in gil.get(f"/help/tickets/{number}").text
        assert "In progress" in page.text and "in_progress" not in page.text
        assert "About &lt;b&gt;my&lt;/b&gt; account" in gil.get(f"/help/tickets/{first['id']}").text

        # Someone else's ticket is a 403 page; an unknown one a 404 page.
        forbidden = get_page(gil, f"/help/tickets/{other['ticket_number']}", 403)
        assert "belongs to someone else" in forbidden.text and "Not Gil's" not in forbidden.text
        assert "There is no ticket SUP-99999" in get_page(gil, "/help/tickets/SUP-99999", 404).text
        get_page(gil, "/help/tickets/not-a-ticket", 404)

        # Replying: the token is required; then the reply is stored and shown.
        assert gil.post(f"/help/tickets/{number}/reply", data={"body": "Forged"}).status_code == 403
        r = post_form(gil, page, f"/help/tickets/{number}/reply", body="   ")
        assert r.status_code == 422 and "Write your reply first." in r.text
        r = post_form(gil, page, f"/help/tickets/{number}/reply", body="Thanks, <i>waiting</i>.")
        assert location(r) == (f"/help/tickets/{number}", {"done": ["reply"]})
        page = get_page(gil, f"/help/tickets/{number}?done=reply")
        assert "Thanks, <i>waiting</i>." in page.text and "Your reply has been added" in page.text
        assert daemon.sql("SELECT count(*) FROM ticket_messages WHERE body = 'Forged'")[0][0] == 0
        # Nor may Gil post to Hal's ticket, even with a good token.
        token = page.session_csrf()
        r = gil.post(f"/help/tickets/{other['ticket_number']}/reply", data={"csrf_token": token, "body": "Hi Hal"})
        assert r.status_code == 403

    with browser(daemon) as nobody:
        path, query = location(nobody.get(f"/help/tickets/{second['ticket_number']}"))
        assert (path, query["next"]) == ("/login", [f"/help/tickets/{second['ticket_number']}"])
        assert location(nobody.get("/help/tickets"))[0] == "/login"


def test_requester_confirms_a_resolved_ticket(daemon: Daemon) -> None:
    add_user(daemon, "boss@example.com", admin=True)
    with anon(daemon) as api:
        t = new_ticket(api, "Refund", "Please refund", user_email="ida@example.org")
    number = t["ticket_number"]
    with sign_in(daemon, "ida@example.org") as ida:
        page = get_page(ida, f"/help/tickets/{number}")
        assert "Confirm resolved and close" not in page.text
        r = ida.post(f"/help/tickets/{number}/close", data={"csrf_token": page.session_csrf()})
        assert r.status_code == 409 and "not marked resolved" in r.text

        with login(daemon, "boss@example.com") as api_admin:
            r = api_admin.patch(f"/admin/support/tickets/{number}",
                                json={"status": "resolved", "resolution_notes": "Refunded in full."})
            assert r.status_code == 200, r.text
        page = get_page(ida, f"/help/tickets/{number}")
        page.check_accessible([])
        assert "Resolved" in page.text and "Refunded in full." in page.text
        assert ida.post(f"/help/tickets/{number}/close", data={}).status_code == 403
        r = post_form(ida, page, f"/help/tickets/{number}/close")
        assert location(r) == (f"/help/tickets/{number}", {"done": ["closed"]})
        page = get_page(ida, f"/help/tickets/{number}")
        assert "Closed" in page.text and "This request is closed" in page.text
        assert not any(f["action"].endswith("/reply") for f in page.forms)
    assert daemon.sql("SELECT status FROM tickets WHERE id = :i", i=t["id"])[0][0] == "closed"


def test_attachments_download_from_the_ticket_page(daemon: Daemon) -> None:
    msg = make_mail("jo@example.org", "Screenshot attached", "See the file.")
    msg.add_attachment(b"PNGDATA", maintype="image", subtype="png", filename="screen shot.png")
    daemon.send(msg)
    daemon.wait_processed(1)
    (row,) = daemon.tickets()
    with sign_in(daemon, "jo@example.org") as jo:
        r = jo.get(f"/help/tickets/{row[1]}")
        links = [u for u in Page(r.text).urls if "/attachments/" in u]
        assert len(links) == 1 and ">screen shot.png</a>" in r.text
        download = jo.get(links[0])
        assert download.status_code == 200 and download.content == b"PNGDATA"
        assert download.headers["content-disposition"].startswith("attachment")


# --- the support team's pages ---------------------------------------------------------------------------------


def test_admin_pages_are_for_admins_only(daemon: Daemon) -> None:
    with anon(daemon) as api:
        t = new_ticket(api, "Help", "Please", user_email="kim@example.org")
    for path in ("/admin/support", f"/admin/support/{t['ticket_number']}"):
        with browser(daemon) as nobody:
            assert location(nobody.get(path)) == ("/login", {"next": [path]})
            r = nobody.post(f"/admin/support/{t['ticket_number']}/update", data={"status": "resolved"})
            assert location(r)[0] == "/login"
    with sign_in(daemon, "kim@example.org") as kim:
        for path in ("/admin/support", f"/admin/support/{t['ticket_number']}"):
            page = get_page(kim, path, 403)
            assert "support team only" in page.text
        page = get_page(kim, f"/help/tickets/{t['ticket_number']}")
        token = page.session_csrf()  # a good token of Kim's session
        r = kim.post(f"/admin/support/{t['ticket_number']}/update", data={"csrf_token": token, "status": "resolved"})
        assert r.status_code == 403
    assert daemon.sql("SELECT status FROM tickets")[0][0] == "open"


def test_admin_queue_filters_search_and_paging(daemon: Daemon) -> None:
    add_user(daemon, "ann@example.com", admin=True, name="Ann Agent")
    with login(daemon, "ann@example.com") as api_admin, anon(daemon) as api:
        tickets = [new_ticket(api, f"Question {i}", f"Body {i}", user_email=f"u{i}@example.org") for i in range(23)]
        special = new_ticket(api, "Payout missing", "Where is my payout for the kangaroo sale?",
                             user_email="zed@example.org", category="payments")
        r = api_admin.patch(f"/admin/support/tickets/{special['id']}",
                            json={"priority": "urgent", "status": "in_progress", "assigned_to": None})
        assert r.status_code == 200
        ann_id = api_admin.get("/admin/users", params={"role": "admin"}).json()["items"][0]["id"]
        assert api_admin.patch(f"/admin/support/tickets/{tickets[0]['id']}", json={"assigned_to": ann_id}).status_code == 200

    with sign_in(daemon, "ann@example.com", admin=True) as ann:
        page = get_page(ann, "/admin/support")
        page.check_accessible(NAMED_LABELS["/admin/support"])
        (queue_form,) = [f for f in page.forms if f["action"] == "/admin/support"]
        assert queue_form["method"] == "get"
        assert "24 tickets" in page.text
        assert len(page.rows) == 20 and page.rows[0][0] == special["ticket_number"]
        assert page.rows[0][1:8] == ["Payout missing", "zed@example.org", "In progress", "Urgent", "Payments",
                                         "Unassigned", "No"]
        assert 'rel="next"' in ann.get("/admin/support").text
        page2 = get_page(ann, "/admin/support?page=2")
        assert len(page2.rows) == 4 and page2.rows[-1][0] == tickets[0]["ticket_number"]
        assert page2.rows[-1][6] == "Ann Agent"

        page = get_page(ann, "/admin/support?status=in_progress")
        assert [r[0] for r in page.rows] == [special["ticket_number"]]
        page = get_page(ann, "/admin/support?priority=urgent&category=payments")
        assert [r[0] for r in page.rows] == [special["ticket_number"]]
        page = get_page(ann, "/admin/support?q=kangaroo")
        assert [r[0] for r in page.rows] == [special["ticket_number"]] and "1 ticket matching" in page.text
        assert 'value="kangaroo"' in ann.get("/admin/support?q=kangaroo").text
        page = get_page(ann, "/admin/support?assignee=me")
        assert [r[0] for r in page.rows] == [tickets[0]["ticket_number"]]
        page = get_page(ann, "/admin/support?assignee=none&status=open&q=Question")
        assert len(page.rows) == 20 and "22 tickets" in page.text
        page = get_page(ann, "/admin/support?q=nothing-like-this")
        assert page.rows == [["No tickets match these filters."]]
        page = get_page(ann, "/admin/support?status=bogus")
        assert "Unknown status 'bogus' was ignored." in page.text and "24 tickets" in page.text
        # Paging keeps the filters.
        html = ann.get("/admin/support?assignee=none&q=Question").text
        assert re.search(r'href="/admin/support\?[^"]*assignee=none[^"]*page=2"', html)


def test_admin_ticket_page_changes_replies_and_notes(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "ann@example.com", admin=True, name="Ann Agent")
    bob_id = add_user(daemon, "bob@example.com", admin=True, name="Bob Agent")
    with anon(daemon) as api:
        t = new_ticket(api, "Card declined", "My card <is> declined", user_email="lea@example.org")
    number = t["ticket_number"]
    sink.wait_for("lea@example.org")  # the confirmation
    with sign_in(daemon, "ann@example.com", admin=True) as ann:
        page = get_page(ann, f"/admin/support/{number}")
        page.check_accessible(NAMED_LABELS["/admin/support/{n}"])
        assert "My card <is> declined" in page.text
        status_options = re.findall(r'<option value="(\w+)"[^>]*>', ann.get(f"/admin/support/{number}").text)
        assert status_options[:4] == ["open", "in_progress", "waiting_on_user", "resolved"]

        reply = f"/admin/support/{number}/reply"
        update = f"/admin/support/{number}/update"
        assert ann.post(reply, data={"body": "no token"}).status_code == 403

        r = post_form(ann, page, reply, body="Check the 3DS settings", is_internal="1")
        assert location(r) == (f"/admin/support/{number}", {"done": ["note"]})
        r = post_form(ann, page, reply, body="Please try another card.")
        assert location(r)[1] == {"done": ["reply"]}
        (update_mail,) = [m for m in sink.wait_for("lea@example.org", 2) if "updated" in m.subject]
        assert "Please try another card." in update_mail.text() and "3DS" not in update_mail.text()

        html = ann.get(f"/admin/support/{number}").text
        page = Page(html)
        note = re.search(r'<article class="message from-admin internal".*?</article>', html, re.S)
        assert note and "Internal note" in note.group(0) and "Check the 3DS settings" in note.group(0)
        public = re.search(r'<article class="message from-admin"[ >].*?</article>', html, re.S)
        assert public and "Please try another card." in public.group(0) and "Internal note" not in public.group(0)
        assert "changed the status from Open to In progress" in page.text
        assert "added an internal note" in page.text

        r = post_form(ann, page, update, status="resolved", priority="high", assigned_to=str(bob_id),
                      resolution_notes="Customer used a new card.")
        assert location(r)[1] == {"done": ["updated"]}
        page = get_page(ann, f"/admin/support/{number}?done=updated")
        assert "The ticket has been updated." in page.text
        for words in ("changed the status from In progress to Resolved", "changed the priority from Medium to High",
                      "assigned it to bob@example.com", "wrote resolution notes"):
            assert words in page.text, words
        row = daemon.sql("SELECT status, priority, assigned_to, resolution_notes FROM tickets WHERE id = :i", i=t["id"])
        assert row == [("resolved", "high", bob_id, "Customer used a new card.")]

        # An illegal change is refused on the page, naming what is allowed; nothing changes.
        r = post_form(ann, page, update, status="waiting_on_user", priority="low", assigned_to=str(bob_id),
                      resolution_notes="Customer used a new card.")
        assert r.status_code == 409
        assert "allowed next statuses: closed, in_progress" in r.text.replace("\n", " ")
        assert daemon.sql("SELECT status, priority FROM tickets WHERE id = :i", i=t["id"]) == [("resolved", "high")]
        r = post_form(ann, page, update, status="resolved", priority="high", assigned_to="999999",
                      resolution_notes="x")
        assert r.status_code == 422 and "No admin with id 999999." in r.text

    # The requester's page never shows the note.
    with sign_in(daemon, "lea@example.org") as lea:
        html = lea.get(f"/help/tickets/{number}").text
        assert "Please try another card." in html and "3DS" not in html and "Internal note" not in html


def test_every_page_loads_nothing_from_other_origins(daemon: Daemon) -> None:
    with anon(daemon) as api:
        t = new_ticket(api, "Look http://evil.example/x.png", '<img src="http://evil.example/p.png">',
                       user_email="max@example.org")
    number = t["ticket_number"]
    with sign_in(daemon, "root@example.com", admin=True) as admin, sign_in(daemon, "max@example.org") as max_, \
            browser(daemon) as nobody:
        pages = [(nobody, "/login"), (nobody, "/help/contact"), (max_, "/help/tickets"),
                 (max_, f"/help/tickets/{number}"), (admin, "/admin/support"), (admin, f"/admin/support/{number}"),
                 (admin, "/help/tickets/SUP-99999")]
        for client, path in pages:
            r = client.get(path)
            assert r.status_code in (200, 404), path
            assert r.headers["content-security-policy"].startswith("default-src 'self'")
            assert r.headers["x-content-type-options"] == "nosniff"
            page = Page(r.text)
            page.check_same_origin()
            assert "<img" not in r.text and "<script" not in r.text
            css = [u for u in page.urls if u.endswith(".css")]
            assert css == ["/static/maildesk.css"], (path, css)
        r = nobody.get("/static/maildesk.css")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
        assert "@import" not in r.text and "url(" not in r.text


def test_schema_pages_load_nothing_from_other_origins(daemon: Daemon) -> None:
    with browser(daemon) as client:
        page = get_page(client, "/schema")  # CSP, same-origin URLs only (get_page checks both)
        assert "<script" not in client.get("/schema").text
        assert [u for u in page.urls if u.endswith(".css")] == ["/static/maildesk.css"]  # the site's layout
        assert "/schema/openapi.json" in page.urls
        assert "/auth/login" in page.text and "Sign in with email and password" in page.text
        doc = client.get("/schema/openapi.json")
        assert doc.status_code == 200 and "/support/tickets" in doc.json()["paths"]
        assert doc.headers["content-security-policy"].startswith("default-src 'self'")


def test_used_sign_in_link_page_uses_the_site_layout(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "bea@example.org")
    with browser(daemon) as client:
        client.post("/auth/magic-link", json={"email": "bea@example.org"})
        (mail,) = sink.wait_for("bea@example.org")
        link = re.search(r"http://\S+/auth/magic/\S+", mail.text())
        assert link and location(client.get(link.group(0)))[0] == "/help/tickets"
        r = client.get(link.group(0), headers={"Accept": "text/html"})
        assert r.status_code == 410
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
        page = Page(r.text)
        page.check_same_origin()
        assert [u for u in page.urls if u.endswith(".css")] == ["/static/maildesk.css"]
        assert "already been used" in page.text and "Contact support" in page.text  # the site's navigation


def _raw_head(daemon: Daemon, path: str) -> tuple[str, dict[str, str], bytes]:
    """HEAD over a plain socket, reading to the end: whatever follows the headers is a body sent."""
    import socket

    with socket.create_connection(("127.0.0.1", daemon.http_port), timeout=10) as s:
        s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return status, headers, rest


def test_head_on_pages_answers_like_get_without_a_body(daemon: Daemon) -> None:
    for path in ("/", "/login", "/help/contact", "/schema"):
        status, headers, rest = _raw_head(daemon, path)
        get = httpx.get(daemon.base_url + path, follow_redirects=False)
        assert status.split()[1] == str(get.status_code), (path, status)
        assert headers["content-type"] == get.headers["content-type"], path
        assert rest == b"", (path, rest[:200])
    status, headers, _ = _raw_head(daemon, "/help/tickets")  # signed-in page: to /login, as with GET
    assert status.split()[1] == "303" and headers["location"].startswith("/login")
