"""The API's routes: list the published marts, describe one, read its rows; every answer names its version."""

from __future__ import annotations

import hashlib
import json
from typing import Literal
from urllib.parse import urlencode

import duckdb
from fastapi import Depends, FastAPI, Query, Request, Response, Security
from fastapi.security import APIKeyHeader

from api.errors import ApiError, install_handlers
from api.formats import MEDIA_TYPES, arrow_page, json_page
from api.keys import ApiKey, identify
from api.limits import RateLimiter
from api.published import VERSION_ID, NotPublished, PublishedMarts, Snapshot, VersionGone
from api.query import BadRequest, check_values, page_sql, parse_query
from core.settings import Settings

DESCRIPTION = """Read-only access to the published marts. Every response names the published version it
came from (`X-Data-Version`) and carries an `ETag`; send it back in `If-None-Match` to get 304.
Send your key in the `X-API-Key` header. Rows: filter with `column=value` or `column__op=value`
(op: eq, ne, gt, gte, lt, lte, in with comma-separated values), e.g. `order_date__gte=2025-03-01`."""


def create_app(settings: Settings, keys: list[ApiKey]) -> FastAPI:
    """The API over `settings`' published marts, for `keys` (see api/keys.py)."""
    api = settings.api
    marts = PublishedMarts(settings)
    limiter = RateLimiter(api.rate_limit_per_minute)
    app = FastAPI(title="duckstack data API", description=DESCRIPTION, version="1", docs_url="/docs", redoc_url=None)
    install_handlers(app)
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key made by `just api-key NAME`.")

    def caller(presented: str | None = Security(key_header)) -> ApiKey:
        if not presented:
            raise ApiError(401, "unauthorized", "No API key: send one in the X-API-Key header.", {"WWW-Authenticate": "X-API-Key"})
        key = identify(keys, presented)
        if key is None:
            raise ApiError(401, "unauthorized", "The API key is not valid.", {"WWW-Authenticate": "X-API-Key"})
        wait = limiter.acquire(key.name)
        if wait:
            raise ApiError(
                429,
                "rate_limited",
                f"Key '{key.name}' may make {api.rate_limit_per_minute} requests a minute; retry in {wait} s.",
                {"Retry-After": str(wait)},
            )
        return key

    def allowed(key: ApiKey, mart: str) -> bool:
        allow = api.marts.get(key.role)
        return allow is None or mart in allow

    def snapshot(version: str | None = None) -> Snapshot:
        try:
            return marts.snapshot(version)
        except NotPublished:
            raise ApiError(503, "not_published", "Nothing has been published yet: run `just run` first.") from None
        except VersionGone:
            raise gone(version) from None

    def gone(version: str | None) -> ApiError:
        return ApiError(
            410,
            "version_gone",
            f"Version {version} is no longer published (publish keeps the newest {settings.run.publish_keep_versions}); "
            "start again from the first page.",
        )

    def mart_of(snap: Snapshot, key: ApiKey, mart: str) -> str:
        if mart not in snap.columns:
            raise ApiError(404, "not_found", f"There is no published mart '{mart}'; GET /marts lists them.")
        if not allowed(key, mart):
            raise ApiError(403, "forbidden", f"Key '{key.name}' (role {key.role}) may not read mart '{mart}'.")
        return mart

    def describe(snap: Snapshot, mart: str) -> dict:
        return {
            "name": mart,
            "rows": snap.version.rows.get(mart),
            "columns": [{"name": column.name, "type": column.type} for column in snap.columns[mart]],
        }

    def answer(
        request: Request,
        version: str,
        etag: str,
        body: bytes | None = None,
        media_type: str = MEDIA_TYPES["json"],
        headers: dict | None = None,
    ) -> Response:
        headers = {"X-Data-Version": version, "ETag": etag, "Cache-Control": "private, no-cache", **(headers or {})}
        if body is None or _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    @app.get("/marts", tags=["marts"], summary="The published marts this key may read, with their columns")
    def list_marts(request: Request, key: ApiKey = Depends(caller)) -> Response:
        snap = snapshot()
        listing = {
            "version": snap.version.version,
            "published_at": snap.version.published_at,
            "marts": [describe(snap, mart) for mart in sorted(snap.columns) if allowed(key, mart)],
        }
        body = json.dumps(listing).encode()
        return answer(request, snap.version.version, _etag(body), body)

    @app.get("/marts/{mart}", tags=["marts"], summary="One mart's columns and row count")
    def mart_schema(request: Request, mart: str, key: ApiKey = Depends(caller)) -> Response:
        snap = snapshot()
        body = json.dumps({"version": snap.version.version, **describe(snap, mart_of(snap, key, mart))}).encode()
        return answer(request, snap.version.version, _etag(body), body)

    @app.get("/marts/{mart}/rows", tags=["marts"], summary="Read a mart: filters, columns, order, pages; JSON, CSV, Parquet or Arrow")
    def mart_rows(
        request: Request,
        mart: str,
        version: str | None = Query(None, pattern=VERSION_ID.pattern, description="Read this published version (the `next` link pins it)."),
        columns: str | None = Query(None, description="Comma-separated columns to return; default all."),
        order: str | None = Query(None, description="Comma-separated columns, `-` for descending, e.g. `-order_date,order_id`."),
        limit: int = Query(api.page_size, ge=1, le=api.max_page_size, description="Rows per page."),
        offset: int = Query(0, ge=0, description="Rows to skip; follow `next` rather than counting."),
        output: Literal["json", "csv", "parquet", "arrow"] = Query("json", alias="format", description="Output format."),
        key: ApiKey = Depends(caller),
    ) -> Response:
        snap = snapshot(version)
        mart_of(snap, key, mart)
        pinned = snap.version.version
        try:
            query = parse_query(request.query_params.multi_items(), snap.columns[mart], limit=limit, offset=offset)
        except BadRequest as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        etag = query.etag(pinned, mart, output)
        link = _next_link(request, pinned, offset + limit)
        headers = {}
        if output != "json":
            headers["Content-Disposition"] = f'attachment; filename="{mart}-{pinned}-{offset}.{output}"'
        if _matches(request.headers.get("if-none-match"), etag):
            return answer(request, pinned, etag, headers=headers)
        con = snap.cursor()
        try:
            check_values(con, query, snap.columns[mart])
            sql, params = page_sql(mart, query, snap.columns[mart], as_json=output == "json")
            if output == "json":
                envelope = {"mart": mart, "version": pinned, "offset": offset, "limit": limit, "columns": list(query.columns)}
                page = json_page(con, sql, params, limit, envelope, link)
            else:
                page = arrow_page(con, sql, params, limit, output)
        except BadRequest as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        except duckdb.IOException:
            if marts.exists(snap.version):
                raise
            marts.forget(pinned)  # publish pruned it while this page was read
            raise gone(pinned) from None
        finally:
            con.close()
        if page.has_more:
            headers["Link"] = f'<{link}>; rel="next"'
        return answer(request, pinned, etag, page.body, MEDIA_TYPES[output], headers)

    return app


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _next_link(request: Request, version: str, offset: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("version", "offset")]
    return f"{request.url.path}?{urlencode([*params, ('version', version), ('offset', str(offset))])}"
