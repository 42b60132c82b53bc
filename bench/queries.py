"""The dashboard's queries: the functions the Streamlit business pages call on the published marts.

Each runs with the pages' default arguments, after `order_date_range` (which every page
asks first): the last 30 days of data on the overview,
the last 90 days on the trends and products pages, by day. `bench/sides_serve.py` times
them on a connection from `publish.reader.connect_published`, as the pages open it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb

from app.queries import business, products
from app.queries.business import Period

Query = Callable[[duckdb.DuckDBPyConnection, dt.date, dt.date], Any]


def last_days(first: dt.date, last: dt.date, days: int) -> Period:
    """The pages' default period: the last `days` days of data (fewer if the data is shorter)."""
    return Period(max(first, last - dt.timedelta(days=days - 1)), last)


DASHBOARD_QUERIES: dict[str, Query] = {
    "order_date_range": lambda con, first, last: business.order_date_range(con),
    "overview_kpis": lambda con, first, last: business.kpis(con, last_days(first, last, 30)),
    "trends_by_day": lambda con, first, last: business.trends(con, last_days(first, last, 90), "day"),
    "cohort_retention": lambda con, first, last: business.cohort_retention(con),
    "ltv_distribution": lambda con, first, last: business.ltv_distribution(con),
    "top_customers": lambda con, first, last: business.top_customers(con),
    "product_ranking": lambda con, first, last: products.product_ranking(con, last_days(first, last, 90)),
    "category_trend": lambda con, first, last: products.category_trend(con, last_days(first, last, 90), "day"),
}


def result_rows(result: Any) -> int:
    """Rows in a query's result: a DataFrame's or a list's length; one for a single record."""
    return len(result) if hasattr(result, "__len__") and not isinstance(result, tuple) else 1
