"""The HTML pages listed in the README's "Pages" section: plain forms that work without JavaScript.

login.py   /login (password or emailed link), /logout, / (points onwards)
help.py    /help/contact, /help/tickets, /help/tickets/{id}      (requesters)
saved_replies.py /admin/saved-replies forms (the GET is shared with the JSON list)
satisfaction.py /help/satisfaction/{token} (the resolved email's "How did we do?" links)
admin.py   /admin/support, /admin/support/{id}                    (the support team)
notifications.py /admin/notifications (the page; GET shared with the JSON API)
inbound.py /admin/inbound (received mail, reprocess)
suppressed.py /admin/suppressed (clear an address)
users.py   /admin/users (add an admin, disable, send a sign-in link)
stats.py   /admin/support/stats as HTML (shared with the JSON endpoint, by Accept)
negotiate.py one path for a page and the JSON API: HTML for browsers, JSON otherwise
csrf.py    tokens for every state-changing form
render.py  templates (templates/web/), security headers, who may see what, errors as pages

`PAGE_HANDLERS` and `static_router()` are registered by create_app, with `template_config()`.
"""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from maildesk.web.pages import admin, help, inbound, login, notifications, satisfaction, saved_replies, suppressed, users
from maildesk.web.pages.render import STATIC_DIR, STATIC_PATH, template_config

__all__ = ["PAGE_HANDLERS", "static_router", "template_config", "STATIC_PATH"]

# Registered on the app one by one: see render.page_get.
PAGE_HANDLERS: list[Any] = [*login.HANDLERS, *help.HANDLERS, *admin.HANDLERS, *notifications.HANDLERS,
                             *satisfaction.HANDLERS, *saved_replies.HANDLERS,
                             *inbound.HANDLERS, *suppressed.HANDLERS, *users.HANDLERS]


def static_router() -> Router:
    """The one stylesheet, served by the app itself (pages load nothing from other origins)."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(max_age=3600, public=True),
        include_in_schema=False,
        name="pages-static",
    )
