"""Freshness: every source's last successful load and every published mart against its SLA."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from app.queries.meta import read_meta
from core.settings import Settings
from publish.reader import current_version

GREEN, AMBER, RED = "green", "amber", "red"


def status(age_hours: float | None, sla_hours: float, warn_ratio: float) -> str:
    """Green while well inside the SLA, amber near its end, red past it (or never loaded)."""
    if age_hours is None or age_hours > sla_hours:
        return RED
    return AMBER if age_hours > sla_hours * warn_ratio else GREEN


def _age_hours(when: str | None, now: dt.datetime) -> float | None:
    if not when:
        return None
    moment = dt.datetime.fromisoformat(when)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return round((now - moment).total_seconds() / 3600, 2)


def freshness(settings: Settings, now: dt.datetime | None = None) -> pd.DataFrame:
    """One row per source (last successful ingest) and per published prod mart (publish time)."""
    now = now or dt.datetime.now(dt.UTC)
    warn = settings.app.freshness_warn_ratio
    loaded = read_meta(
        settings.meta_path,
        "SELECT substr(job, 8) AS source, max(finished_at) AS finished_at FROM job_runs "
        "WHERE job LIKE 'ingest:%' AND status = 'success' GROUP BY job",
    )
    last_load = dict(zip(loaded["source"], loaded["finished_at"], strict=True)) if loaded is not None else {}
    rows = []
    for name, source in settings.sources.items():
        age = _age_hours(last_load.get(name), now)
        rows.append(_row("source", name, last_load.get(name), age, source.freshness_sla_hours, warn))
    published = current_version(settings)
    if published is not None:
        age = _age_hours(published.published_at, now)
        for table in sorted(published.files):
            rows.append(_row("mart", f"marts.{table}", published.published_at, age, settings.monitoring.marts_freshness_sla_hours, warn))
    return pd.DataFrame(rows, columns=["kind", "name", "last_updated_at", "age_hours", "sla_hours", "status"])


def _row(kind: str, name: str, when: str | None, age: float | None, sla: float, warn: float) -> dict:
    return {
        "kind": kind,
        "name": name,
        "last_updated_at": when,
        "age_hours": age,
        "sla_hours": sla,
        "status": status(age, sla, warn),
    }
