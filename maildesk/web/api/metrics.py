"""GET /metrics: the Prometheus text exposition, for scrapers on allowed networks and for admins.

Not public (it shows queue sizes and traffic): answered when the client's address is in
MAILDESK_METRICS_ALLOW (default loopback) or the caller presents an admin's bearer token
or session; anyone else gets 403. The client address is the TCP peer; a forwarded header is
not trusted here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException

from maildesk.metrics import CONTENT_TYPE
from maildesk.runtime import Runtime


def client_allowed(host: str | None, allow: tuple[Any, ...]) -> bool:
    """Is the peer address inside one of the allowed networks? (Pure; IPv4-mapped IPv6 counts as IPv4.)"""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in allow)


@get("/metrics", tags=["operations"], opt={"anonymous": True}, include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], rt: NamedDependency[Runtime]) -> Response[bytes]:
    user = request.user
    is_admin = user is not None and user.is_admin and user.is_active
    if not is_admin and not client_allowed(request.client.host if request.client else None,
                                           rt.settings.metrics_allow):
        raise PermissionDeniedException("metrics are for admins and for clients in MAILDESK_METRICS_ALLOW")
    await rt.metrics.refresh(rt.db)
    return Response(content=rt.metrics.exposition(), media_type=CONTENT_TYPE)
