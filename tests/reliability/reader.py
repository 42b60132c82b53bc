"""A dashboard-like reader in its own process: every INTERVAL seconds, open the published marts and
answer one question (orders and revenue), one JSON line per read to OUT; errors are lines too.

`python -m tests.reliability.reader OUT INTERVAL` (settings from the environment); SIGTERM stops it.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from core.settings import load_settings
from publish.reader import connect_published

QUESTION = (
    "SELECT (SELECT count(*) FROM marts.fct_orders), (SELECT round(sum(amount_total), 2) FROM marts.fct_orders), "
    "(SELECT round(sum(amount_revenue), 2) FROM marts.daily_revenue), (SELECT count(*) FROM marts.dim_customers)"
)


def answer(settings) -> dict:
    """The published version and its totals, read through the one reader path dashboards use."""
    con, published = connect_published(settings)
    with con:
        orders, total, revenue, customers = con.execute(QUESTION).fetchone()
    return {"version": published.version, "totals": [orders, float(total), float(revenue), customers]}


def main(out: str, interval: float) -> int:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    settings = load_settings()
    with open(Path(out), "a") as handle:
        while not stop:
            started = time.time()
            try:
                line = {"at": started, **answer(settings)}
            except Exception as exc:  # noqa: BLE001 - every failure is what the test counts
                line = {"at": started, "error": f"{type(exc).__name__}: {exc}"}
            handle.write(json.dumps(line) + "\n")
            handle.flush()
            time.sleep(max(0.0, interval - (time.time() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
