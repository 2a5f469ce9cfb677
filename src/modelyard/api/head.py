"""HEAD wherever GET is answered, as the Hub answers it (status and headers, no body).

FastAPI routes declared for GET answer HEAD with 405; clients probe with HEAD (and expect the same
`X-Error-Code` as a GET would get). The server drops the body of a HEAD response, and FileResponse does not
even read the file.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.routing import APIRoute


def answer_head_like_get(routers: Iterable[APIRouter]) -> None:
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and "GET" in route.methods:
                route.methods.add("HEAD")
