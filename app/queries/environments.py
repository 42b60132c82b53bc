"""Published environments: prod (`curated/marts`) and each virtual one (`curated/marts__<env>`), side by side."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.lake import Lake
from core.settings import Settings
from publish.marts import PROD
from publish.reader import Published, current_version

PREFIX = "marts__"


def published_environments(settings: Settings) -> dict[str, Published]:
    """Every environment with a readable manifest, prod first."""
    curated = Path(Lake(settings).url("curated"))
    names = [PROD] + sorted(p.name[len(PREFIX) :] for p in curated.glob(PREFIX + "*") if p.is_dir()) if curated.is_dir() else [PROD]
    found = {}
    for name in names:
        published = current_version(settings, name)
        if published is not None:
            found[name] = published
    return found


def compare(environments: dict[str, Published]) -> pd.DataFrame:
    """Rows per table and environment, with each environment's difference to prod."""
    tables = sorted({table for published in environments.values() for table in published.rows})
    prod = environments.get(PROD)
    rows = []
    for table in tables:
        row: dict = {"table": table}
        for name, published in environments.items():
            row[f"rows_{name}"] = published.rows.get(table)
        for name, published in environments.items():
            if name != PROD:
                mine, theirs = published.rows.get(table), prod.rows.get(table) if prod else None
                row[f"difference_{name}"] = None if mine is None or theirs is None else mine - theirs
        rows.append(row)
    return pd.DataFrame(rows)


def versions(environments: dict[str, Published]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"environment": n, "version": p.version, "published_at": p.published_at, "tables": len(p.files)} for n, p in environments.items()]
    )
