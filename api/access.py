"""Every data request goes to the access log (core/accesslog.py): the key's name, the route, what it read, rows, status.

Handlers note what they read with `note` once the name is one the API knows (a published
mart, a defined metric), so text a caller made up never reaches the log; the middleware
writes the row when the answer (or the failure) is known. The presented key never
reaches the log, only the name of the key it matched.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api.query import MartQuery
from core import accesslog

NO_KEY, INVALID_KEY = "(no key)", "(invalid key)"


def note(request: Request, **fields: object) -> None:
    """Record what this request read: `principal`, `subject`, `version`, `rows` or `detail`; `unlogged=True` keeps it out of the log."""
    state = request.state
    if not hasattr(state, "access"):
        state.access = {}
    state.access.update(fields)


def rows_detail(query: MartQuery, output: str, every_column: list[str]) -> str:
    """What the access log keeps of a mart read: format, chosen columns, order and filter columns; never a filter value."""
    parts = [f"format={output}"]
    if list(query.columns) != every_column:
        parts.append(f"columns={','.join(query.columns)}")
    if query.order:
        parts.append("order=" + ",".join(("-" if descending else "") + name for name, descending in query.order))
    if query.filters:
        parts.append("filters=" + ",".join(dict.fromkeys(f"{f.column}__{f.operator}" for f in query.filters)))
    return "; ".join(parts)


def install(app: FastAPI, meta_path: Path) -> None:
    """Log every request that reached one of `app`'s data routes (not /docs), whatever its status."""

    @app.middleware("http")
    async def access_log(request: Request, call_next):
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            fields = getattr(request.state, "access", {})
            if isinstance(route, APIRoute) and not fields.get("unlogged"):
                await run_in_threadpool(
                    accesslog.record,
                    meta_path,
                    channel=accesslog.API,
                    principal=fields.get("principal", NO_KEY),
                    action=f"{request.method} {route.path}",
                    subject=fields.get("subject"),
                    rows=fields.get("rows"),
                    status=status,
                    detail=fields.get("detail"),
                    version=fields.get("version"),
                    client=client_address(request),
                )


def client_address(request: Request) -> str | None:
    """The caller's IP address, as the server saw it (behind a proxy: as the proxy's headers say, where uvicorn trusts them)."""
    return request.client.host if request.client else None
