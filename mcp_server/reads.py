"""What an agent may read over MCP: the data API's reads, under its keys, masking, mart rights and access log.

A caller is an API key (api/keys.py): its role decides which marts and metrics it may read
(`api.marts`) and whether personal columns are masked (publish/reader.py, as in the API). Every
answer names the published version it came from. Nothing here writes, and there is no free-form
SQL: a mart is read through the API's bound filters, a metric through the semantic layer.
Every call, answered or refused, goes to the access log (channel `mcp`), with the key's name,
never the key, and without any filter value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from api import metric_query
from api.keys import ApiKey, identify
from api.published import NotPublished, PublishedMarts, Snapshot, VersionGone
from api.query import BadRequest, check_values, page_sql, parse_query
from app.queries import freshness, pipeline_health
from app.queries.catalog import Catalog, load_catalog
from core import accesslog
from core.settings import Settings
from metrics import layer

NO_KEY, INVALID_KEY = "(no key)", "(invalid key)"


class Refused(Exception):
    """A call the server answers with an error: `status` as the API's HTTP status, `message` for the agent."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Call:
    """What the access log keeps of one tool call."""

    tool: str
    principal: str = NO_KEY
    subject: str | None = None
    rows: int | None = None
    detail: str | None = None
    status: int = 200
    version: str | None = None  # the published version read
    client: str | None = None  # the caller's address over HTTP, `stdio` over stdio


@dataclass
class Reads:
    """The reads of one server process, over `settings`' published marts, for `keys`."""

    settings: Settings
    keys: list[ApiKey]
    marts: PublishedMarts = field(init=False)
    _models: Catalog | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.marts = PublishedMarts(self.settings)

    def log(self, call: Call) -> None:
        accesslog.record(
            self.settings.meta_path,
            channel=accesslog.MCP,
            principal=call.principal,
            action=f"tool {call.tool}",
            subject=call.subject,
            rows=call.rows,
            status=call.status,
            detail=call.detail,
            version=call.version,
            client=call.client,
        )

    def caller(self, presented: str | None, call: Call) -> ApiKey:
        if not presented:
            raise Refused(401, "No API key: send one in the X-API-Key header (HTTP) or DUCKSTACK_API_KEY (stdio).")
        key = identify(self.keys, presented)
        if key is None:
            call.principal = INVALID_KEY
            raise Refused(401, "The API key is not valid.")
        call.principal = key.name
        return key

    def allowed(self, key: ApiKey, mart: str) -> bool:
        allow = self.settings.api.marts.get(key.role)
        return allow is None or mart in allow

    def snapshot(self, key: ApiKey, call: Call) -> Snapshot:
        try:
            snap = self.marts.snapshot(role=key.role)
        except (NotPublished, VersionGone):
            raise Refused(503, "Nothing has been published yet: run `just run` first.") from None
        call.version = snap.version.version
        return snap

    def models(self) -> Catalog:
        """The SQLMesh project's documentation of every model (owner, grain, descriptions, lineage), loaded once."""
        with self._lock:
            if self._models is None:
                self._models = load_catalog(self.settings)
            return self._models

    # --- metrics ---

    def metric(self, key: ApiKey, snap: Snapshot, name: str, call: Call) -> layer.Metric:
        metrics = layer.catalog().metrics
        if name not in metrics:
            raise Refused(404, f"There is no metric '{name}'; list_metrics lists them.")
        call.subject = name
        metric = metrics[name]
        reads = [table.removeprefix("marts.") for table in metric.tables]
        if not all(self.allowed(key, mart) for mart in reads):
            raise Refused(403, f"Key '{key.name}' (role {key.role}) may not read metric '{name}' (it reads {', '.join(reads)}).")
        missing = [mart for mart in reads if mart not in snap.columns]
        if missing:
            raise Refused(503, f"Metric '{name}' reads {', '.join(missing)}, which version {snap.version.version} does not publish.")
        return metric

    def describe(self, metric: layer.Metric) -> dict[str, Any]:
        cat = layer.catalog()
        return {
            "name": metric.name,
            "label": metric.label,
            "description": metric.description,
            "format": metric.format,
            "owner": metric.owner,
            "dated_by": metric.time_dimension.split(".")[1],
            "dimensions": [{"name": d, "label": cat.dimensions[d].label} for d in metric.dimensions],
            "reads": list(metric.tables),
        }

    def list_metrics(self, key: ApiKey, call: Call) -> dict[str, Any]:
        snap = self.snapshot(key, call)
        metrics = [
            self.describe(m) for m in layer.catalog().metrics.values() if all(self.allowed(key, t.removeprefix("marts.")) for t in m.tables)
        ]
        call.rows = len(metrics)
        return {**_cite(snap), "grains": list(layer.GRAINS), "metrics": metrics}

    def describe_metric(self, key: ApiKey, name: str, call: Call) -> dict[str, Any]:
        snap = self.snapshot(key, call)
        return {**_cite(snap), "metric": self.describe(self.metric(key, snap, name, call)), "grains": list(layer.GRAINS)}

    def query_metric(
        self,
        key: ApiKey,
        name: str,
        call: Call,
        *,
        grain: str | None = None,
        by: list[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        where: dict[str, list[str]] | None = None,
    ) -> dict[str, Any]:
        snap = self.snapshot(key, call)
        metric = self.metric(key, snap, name, call)
        if grain is not None and grain not in layer.GRAINS:
            raise Refused(400, f"grain: '{grain}' is not one of {', '.join(layer.GRAINS)}.")
        params = [("by", ",".join(by or []))] + [("where", f"{d}={','.join(v)}") for d, v in (where or {}).items()]
        try:
            query = metric_query.parse_metric_query(metric, params, grain=grain, start=_day(start, "start"), end=_day(end, "end"))
        except BadRequest as exc:
            raise Refused(400, str(exc)) from None
        call.detail = metric_query.detail(query, "json")
        con = snap.cursor()
        try:
            frame = layer.run(con, query)
        finally:
            con.close()
        call.rows = len(frame)
        rows = [{column: _plain(value) for column, value in row.items()} for row in frame.to_dict("records")]
        return {**_cite(snap), "metric": name, "label": metric.label, "format": metric.format, "grain": grain, "rows": rows}

    # --- marts ---

    def mart(self, key: ApiKey, snap: Snapshot, mart: str, call: Call) -> str:
        if mart not in snap.columns:
            raise Refused(404, f"There is no published mart '{mart}'; list_marts lists them.")
        call.subject = mart
        if not self.allowed(key, mart):
            raise Refused(403, f"Key '{key.name}' (role {key.role}) may not read mart '{mart}'.")
        return mart

    def document(self, snap: Snapshot, mart: str) -> dict[str, Any]:
        """A mart as the project documents it: columns (personal ones with their mask), owner, grain, lineage, freshness."""
        models = self.models()
        doc = next((m for m in models.models if m.name == f"marts.{mart}"), None)
        described = {c.name: c for c in doc.columns} if doc else {}
        return {
            "name": mart,
            "description": doc.description if doc else "",
            "owner": doc.owner if doc else "",
            "grain": doc.grain if doc else "",
            "rows": snap.version.rows.get(mart),
            "columns": [
                {
                    "name": c.name,
                    "type": c.type,
                    "description": described[c.name].description if c.name in described else "",
                    **({"personal": described[c.name].personal} if c.name in described and described[c.name].personal else {}),
                }
                for c in snap.columns[mart]
            ],
            "upstream": list(doc.depends_on) if doc else [],
            "downstream": sorted(m.name for m in models.models if f"marts.{mart}" in m.depends_on),
            "published_at": snap.version.published_at,
        }

    def list_marts(self, key: ApiKey, call: Call) -> dict[str, Any]:
        snap = self.snapshot(key, call)
        marts = [self.document(snap, mart) for mart in sorted(snap.columns) if self.allowed(key, mart)]
        call.rows = len(marts)
        return {**_cite(snap), "personal_values": "shown" if snap.personal else "masked", "marts": marts}

    def describe_mart(self, key: ApiKey, mart: str, call: Call) -> dict[str, Any]:
        snap = self.snapshot(key, call)
        return {
            **_cite(snap),
            "personal_values": "shown" if snap.personal else "masked",
            "mart": self.document(snap, self.mart(key, snap, mart, call)),
        }

    def read_rows(
        self,
        key: ApiKey,
        mart: str,
        call: Call,
        *,
        columns: list[str] | None = None,
        filters: dict[str, str] | None = None,
        order: list[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        snap = self.snapshot(key, call)
        self.mart(key, snap, mart, call)
        api = self.settings.api
        if not 1 <= limit <= api.max_page_size or offset < 0:
            raise Refused(400, f"limit: between 1 and {api.max_page_size}; offset: 0 or more.")
        params = [(name, str(value)) for name, value in (filters or {}).items()]
        if name_clash := [name for name, _ in params if name in ("columns", "order", "limit", "offset", "version", "format")]:
            raise Refused(400, f"filters: {', '.join(name_clash)} is not a column filter.")
        if columns:
            params.append(("columns", ",".join(columns)))
        if order:
            params.append(("order", ",".join(order)))
        con = snap.cursor()
        try:
            query = parse_query(params, snap.columns[mart], limit=limit, offset=offset)
            call.detail = (
                "filters=" + ",".join(dict.fromkeys(f"{f.column}__{f.operator}" for f in query.filters)) if query.filters else None
            )
            check_values(con, query, snap.columns[mart])
            sql, values = page_sql(mart, query, snap.columns[mart], as_json=False)
            result = con.execute(sql, values)
            names = [d[0] for d in result.description]
            fetched = result.fetchall()
        except BadRequest as exc:
            raise Refused(400, str(exc)) from None
        except duckdb.IOException:
            raise Refused(503, "The published version changed while it was read; ask again.") from None
        finally:
            con.close()
        page = [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in fetched[:limit]]
        call.rows = len(page)
        more = len(fetched) > limit
        return {
            **_cite(snap),
            "mart": mart,
            "personal_values": "shown" if snap.personal else "masked",
            "columns": list(query.columns),
            "rows": page,
            "next_offset": offset + limit if more else None,
        }

    # --- pipeline health ---

    def pipeline_health(self, key: ApiKey, call: Call) -> dict[str, Any]:
        """The latest run of every job, the freshness of each source and mart, and the open alerts' count."""
        snap = self.snapshot(key, call)
        runs = pipeline_health.last_runs_per_job(self.settings.meta_path)
        alerts = pipeline_health.open_alerts(self.settings.meta_path)
        fresh = freshness.freshness(self.settings)
        jobs = [] if runs is None else runs[["job", "status", "started_at", "finished_at", "duration_seconds"]].to_dict("records")
        call.rows = len(jobs)
        return {
            **_cite(snap),
            "jobs": [{k: _plain(v) for k, v in job.items()} for job in jobs],
            "freshness": [{k: _plain(v) for k, v in row.items()} for row in fresh.to_dict("records")],
            "open_alerts": 0 if alerts is None else len(alerts),
        }


def _cite(snap: Snapshot) -> dict[str, str]:
    """Every answer names the published version it came from."""
    return {"version": snap.version.version, "published_at": snap.version.published_at}


def _day(value: str | None, parameter: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Refused(400, f"{parameter}: write a day as YYYY-MM-DD.") from None


def _plain(value: Any) -> Any:
    """A value as JSON carries it: ISO days and times, plain numbers, null where there is none."""
    if value is None or (isinstance(value, float | pd.Timestamp) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
