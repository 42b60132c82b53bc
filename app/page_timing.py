"""How long each page takes to render on the published data: for `just bench` and the README.

Each page runs under Streamlit's AppTest (the script as the server runs it,
without a browser): once cold, then `repeats` times warm (query cache filled, as
for every visitor after the first); the warm figure is the median.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from app.sitemap import BUSINESS_PAGES, OPERATOR_PAGES

ENTRY_POINT = Path(__file__).with_name("streamlit_app.py")


def time_pages(repeats: int = 3) -> dict[str, dict[str, float]]:
    """{page: {"cold_seconds", "warm_seconds"}} for every page of the app as configured."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ENTRY_POINT), default_timeout=300)
    app.run()
    timings = {}
    # The catalog first: the app starts loading it in the background, which would slow whatever page came first.
    pages = sorted(BUSINESS_PAGES + OPERATOR_PAGES, key=lambda page: page[0] != "catalog.py")
    for file, _, _ in pages:
        runs = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            app.switch_page(f"views/{file}").run()
            runs.append(time.perf_counter() - started)
            if app.exception:
                raise RuntimeError(f"{file} failed: {app.exception[0].value}")
        timings[file[:-3]] = {"cold_seconds": round(runs[0], 3), "warm_seconds": round(statistics.median(runs[1:]), 3)}
    return timings
