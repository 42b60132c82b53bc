"""The API's routes: list the published marts, describe one, read its rows; list and query the metrics.

Every answer names its published version, and every request to a route goes to the access log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Literal
from urllib.parse import urlencode

import duckdb
from fastapi import Depends, FastAPI, Query, Request, Response, Security
from fastapi.security import APIKeyHeader

from api import access, metric_query
from api.errors import ApiError, install_handlers
from api.formats import MEDIA_TYPES, arrow_page, json_page
from api.keys import ApiKey, identify
from api.limits import RateLimiter
from api.published import VERSION_ID, CurrentDamaged, NotPublished, PublishedMarts, Snapshot, VersionGone
from api.query import BadRequest, check_values, page_sql, parse_query
from core.settings import Settings
from metrics import layer
from publish.reader import UnrecordedPersonal

DESCRIPTION = """Read-only access to the published marts. Every response names the published version it
came from (`X-Data-Version`) and carries an `ETag`; send it back in `If-None-Match` to get 304.
Send your key in the `X-API-Key` header. Rows: filter with `column=value` or `column__op=value`
(op: eq, ne, gt, gte, lt, lte, in with comma-separated values), e.g. `order_date__gte=2025-03-01`.
Metrics (one definition each, metrics/definitions.yml): `GET /metrics/revenue?grain=month&by=customer_city`."""

MAX_OFFSET = 10**15  # beyond any mart's rows, and within DuckDB's OFFSET
# The grains of metrics.layer.GRAINS, spelled out for the OpenAPI schema.
Grain = Literal["day", "week", "month", "quarter", "year"]


def create_app(settings: Settings, keys: list[ApiKey]) -> FastAPI:
    """The API over `settings`' published marts, for `keys` (see api/keys.py)."""
    api = settings.api
    marts = PublishedMarts(settings)
    limiter, anonymous = RateLimiter(api.rate_limit_per_minute), RateLimiter(api.rate_limit_per_minute)
    # /docs loads Swagger UI's scripts from a CDN, so it is served only when `api.docs` asks for it
    docs = "/docs" if api.docs else None
    app = FastAPI(title="duckstack data API", description=DESCRIPTION, version="1", docs_url=docs, redoc_url=None)
    install_handlers(app)
    access.install(app, settings.meta_path)
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key made by `just api-key NAME`.")

    def caller(request: Request, presented: str | None = Security(key_header)) -> ApiKey:
        key = identify(keys, presented) if presented else None
        if key is None:
            # the caller's address has its own allowance, so guessing keys or calling without one is throttled too
            access.note(request, principal=access.INVALID_KEY if presented else access.NO_KEY)
            refuse_if_limited(request, anonymous, access.client_address(request) or "-", "Requests without a valid key from one address")
            message = "The API key is not valid." if presented else "No API key: send one in the X-API-Key header."
            raise ApiError(401, "unauthorized", message, {"WWW-Authenticate": "X-API-Key"})
        access.note(request, principal=key.name)
        refuse_if_limited(request, limiter, key.name, f"Key '{key.name}'")
        return key

    def refuse_if_limited(request: Request, bucket: RateLimiter, name: str, who: str) -> None:
        wait, repeated = bucket.acquire(name)
        if not wait:
            return
        # one access-log row per burst of refusals: the first; the rest of the burst goes unlogged
        access.note(request, unlogged=repeated, detail="later refusals of this burst are not logged")
        raise ApiError(
            429,
            "rate_limited",
            f"{who} may make {api.rate_limit_per_minute} requests a minute; retry in {wait} s.",
            {"Retry-After": str(wait)},
        )

    def allowed(key: ApiKey, mart: str) -> bool:
        allow = api.marts.get(key.role)
        return allow is None or mart in allow

    def snapshot(request: Request, key: ApiKey, version: str | None = None) -> Snapshot:
        access.note(request, version=version)
        try:
            snap = marts.snapshot(version, role=key.role)
        except NotPublished:
            raise ApiError(503, "not_published", "Nothing has been published yet: run `just run` first.") from None
        except VersionGone:
            assert version is not None, "a version read from the manifest that lost its files is CurrentDamaged"
            raise gone(version) from None
        except CurrentDamaged as exc:
            raise damaged(exc.version) from None
        except UnrecordedPersonal:
            if version is None:
                raise  # the current version: the API's log says why, and the next run publishes it again
            raise ApiError(
                403,
                "forbidden",
                f"Version {version} does not record its personal columns, so key '{key.name}' (role {key.role}) may not read it; "
                "start again from the first page, which reads the current version.",
            ) from None
        access.note(request, version=snap.version.version)
        return snap

    def damaged(version: str) -> ApiError:
        return ApiError(
            503,
            "published_damaged",
            f"The published version {version} is damaged (its files are missing) and cannot be read. "
            "The operator repairs it with `just doctor` (or the next `just run`), which publishes the marts again; retry later.",
        )

    def gone(version: str) -> ApiError:
        return ApiError(
            410,
            "version_gone",
            f"Version {version} is no longer published (publish keeps the newest {settings.run.publish_keep_versions}); "
            "start again from the first page.",
        )

    def mart_of(request: Request, snap: Snapshot, key: ApiKey, mart: str) -> str:
        if mart not in snap.columns:
            raise ApiError(404, "not_found", f"There is no published mart '{mart}'; GET /marts lists them.")
        access.note(request, subject=mart)
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
        snap = snapshot(request, key)
        listing = {
            "version": snap.version.version,
            "published_at": snap.version.published_at,
            "marts": [describe(snap, mart) for mart in sorted(snap.columns) if allowed(key, mart)],
        }
        body = json.dumps(listing).encode()
        return answer(request, snap.version.version, _etag(body), body)

    @app.get("/marts/{mart}", tags=["marts"], summary="One mart's columns and row count")
    def mart_schema(request: Request, mart: str, key: ApiKey = Depends(caller)) -> Response:
        snap = snapshot(request, key)
        body = json.dumps({"version": snap.version.version, **describe(snap, mart_of(request, snap, key, mart))}).encode()
        return answer(request, snap.version.version, _etag(body), body)

    @app.get("/marts/{mart}/rows", tags=["marts"], summary="Read a mart: filters, columns, order, pages; JSON, CSV, Parquet or Arrow")
    def mart_rows(
        request: Request,
        mart: str,
        version: str | None = Query(None, pattern=VERSION_ID.pattern, description="Read this published version (the `next` link pins it)."),
        columns: str | None = Query(None, description="Comma-separated columns to return; default all."),
        order: str | None = Query(None, description="Comma-separated columns, `-` for descending, e.g. `-order_date,order_id`."),
        limit: int = Query(api.page_size, ge=1, le=api.max_page_size, description="Rows per page."),
        offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Rows to skip; follow `next` rather than counting."),
        output: Literal["json", "csv", "parquet", "arrow"] = Query("json", alias="format", description="Output format."),
        key: ApiKey = Depends(caller),
    ) -> Response:
        snap = snapshot(request, key, version)
        mart_of(request, snap, key, mart)
        pinned = snap.version.version
        try:
            query = parse_query(request.query_params.multi_items(), snap.columns[mart], limit=limit, offset=offset)
        except BadRequest as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        access.note(request, detail=access.rows_detail(query, output, [c.name for c in snap.columns[mart]]), rows=0)
        etag = query.etag(_view(snap), mart, output)
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
            marts.forget(pinned)  # publish pruned it while this page was read, or the current version lost its files
            raise (damaged(pinned) if marts.is_current(pinned) else gone(pinned)) from None
        finally:
            con.close()
        if page.has_more:
            headers["Link"] = f'<{link}>; rel="next"'
        access.note(request, rows=page.rows)
        return answer(request, pinned, etag, page.body, MEDIA_TYPES[output], headers)

    def metric_of(request: Request, snap: Snapshot, key: ApiKey, name: str) -> layer.Metric:
        metrics = layer.catalog().metrics
        if name not in metrics:
            raise ApiError(404, "not_found", f"There is no metric '{name}'; GET /metrics lists them.")
        access.note(request, subject=name)
        metric = metrics[name]
        marts_read = [table.removeprefix("marts.") for table in metric.tables]
        if not all(allowed(key, mart) for mart in marts_read):
            raise ApiError(
                403, "forbidden", f"Key '{key.name}' (role {key.role}) may not read metric '{name}' (it reads {', '.join(marts_read)})."
            )
        missing = [mart for mart in marts_read if mart not in snap.columns]
        if missing:
            raise ApiError(
                503, "not_published", f"Metric '{name}' reads {', '.join(missing)}, which version {snap.version.version} does not publish."
            )
        return metric

    @app.get("/metrics", tags=["metrics"], summary="The metrics this key may query: label, description, format, dimensions")
    def list_metrics(request: Request, key: ApiKey = Depends(caller)) -> Response:
        snap = snapshot(request, key)
        cat = layer.catalog()
        metrics: list[dict] = []
        listing = {"version": snap.version.version, "grains": list(layer.GRAINS), "metrics": metrics}
        for metric in cat.metrics.values():
            if all(allowed(key, table.removeprefix("marts.")) for table in metric.tables):
                metrics.append(
                    {
                        "name": metric.name,
                        "label": metric.label,
                        "description": metric.description,
                        "format": metric.format,
                        "owner": metric.owner,
                        "dimensions": [{"name": d, "label": cat.dimensions[d].label} for d in metric.dimensions],
                    }
                )
        body = json.dumps(listing).encode()
        return answer(request, snap.version.version, _etag(body), body)

    @app.get("/metrics/{name}", tags=["metrics"], summary="Query a metric by grain, dimensions and period; JSON or CSV")
    def metric_values(
        request: Request,
        name: str,
        grain: Grain | None = Query(None, description="Cut by period: day, week, month, quarter or year."),
        by: str | None = Query(None, description="Comma-separated dimensions to cut by (GET /metrics lists each metric's)."),
        start: dt.date | None = Query(None, alias="from", description="First day, YYYY-MM-DD."),
        end: dt.date | None = Query(None, alias="to", description="Last day, YYYY-MM-DD."),
        where: list[str] = Query([], description="DIMENSION=VALUE[,VALUE]: keep only these values; repeatable."),
        output: Literal["json", "csv"] = Query("json", alias="format", description="Output format."),
        key: ApiKey = Depends(caller),
    ) -> Response:
        snap = snapshot(request, key)
        metric = metric_of(request, snap, key, name)
        try:
            query = metric_query.parse_metric_query(metric, request.query_params.multi_items(), grain=grain, start=start, end=end)
        except BadRequest as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        access.note(request, detail=metric_query.detail(query, output), rows=0)
        version = snap.version.version
        etag = metric_query.etag(_view(snap), query, output)
        headers = {"Content-Disposition": f'attachment; filename="{name}-{version}.csv"'} if output == "csv" else {}
        if _matches(request.headers.get("if-none-match"), etag):
            return answer(request, version, etag, headers=headers)
        con = snap.cursor()
        try:
            frame = layer.run(con, query)
        finally:
            con.close()
        access.note(request, rows=len(frame))
        if output == "csv":
            return answer(request, version, etag, metric_query.csv_body(frame), MEDIA_TYPES["csv"], headers)
        envelope = {
            "metric": name,
            "label": metric.label,
            "format": metric.format,
            "version": version,
            "grain": grain,
            "by": list(query.by),
            "from": start and start.isoformat(),
            "to": end and end.isoformat(),
        }
        return answer(request, version, etag, metric_query.json_body(frame, envelope))

    return app


def _view(snap: Snapshot) -> str:
    """What a query's answer depends on besides the query: the version, and whether personal values are masked."""
    return f"{snap.version.version}:{'personal' if snap.personal else 'masked'}"


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
