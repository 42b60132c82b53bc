"""The reports' `metrics` source: SQL generated from the semantic layer, so a report's KPI is the app's KPI.

Each file `sources/metrics/<name>.sql` is one `metrics.layer` query compiled to SQL on the
published marts, which Evidence runs on the snapshot like any source. `just reports-sources`
writes them; `just reports-check` (and the tests) fail while a committed file differs from
what the definitions compile to now.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import PlatformError
from metrics import layer

FOLDER = Path(__file__).resolve().parent / "sources" / "metrics"
HEADER = "-- Generated from metrics/definitions.yml by `just reports-sources`; edit the definitions, not this file.\n"
ORDER_METRICS = ("revenue", "orders", "orders_placed", "cancelled_orders", "average_order_value", "cancellation_rate", "customers")
# What a report may sum again over any days, cities and statuses (ratios and distinct counts may not be).
ADDITIVE = ("revenue", "orders", "orders_placed", "cancelled_orders")

SOURCES = {
    "totals": layer.Query(ORDER_METRICS),
    "monthly": layer.Query((*ORDER_METRICS, "new_customers", "returning_customers"), grain="month"),
    "daily": layer.Query(ADDITIVE, by=("customer_city", "order_status"), grain="day"),
    "by_city": layer.Query(("revenue", "orders", "average_order_value", "customers"), by=("customer_city",)),
    "payments_monthly": layer.Query(("amount_paid", "payments"), by=("payment_method",), grain="month"),
}


def generated() -> dict[str, str]:
    """Each source file's name and the text it must hold."""
    return {f"{name}.sql": HEADER + layer.compile_sql(query).strip() + "\n" for name, query in SOURCES.items()}


def write(folder: Path = FOLDER) -> list[Path]:
    """Write the generated sources (and nothing else) into `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = generated()
    for stale in folder.glob("*.sql"):
        if stale.name not in wanted:
            stale.unlink()
    written = []
    for name, text in wanted.items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


def check(folder: Path = FOLDER) -> None:
    """Raise PlatformError unless `folder` holds exactly what the definitions compile to now."""
    wanted = generated()
    present = {path.name: path.read_text() for path in folder.glob("*.sql")}
    stale = sorted(name for name in wanted.keys() | present.keys() if wanted.get(name) != present.get(name))
    if stale:
        raise PlatformError(
            f"The reports' metric sources in {folder} are not what metrics/definitions.yml compiles to "
            f"({', '.join(stale)}): run `just reports-sources` and commit the result."
        )
