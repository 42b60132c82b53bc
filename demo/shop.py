"""The demo source: an operational shop database in SQLite, generated from a seed and a scale.

Every table has an integer primary key `id` and an `updated_at` timestamp, so that
ingestion can load it incrementally. Customers and orders carry `deleted_at` for
soft deletes. Timestamps are stored as 'YYYY-MM-DD HH:MM:SS' text, the form
SQLite tools and SQLAlchemy read as DATETIME.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np

from core.errors import PlatformError

ORDERS_PER_SCALE = 100_000
CATEGORIES = ("books", "electronics", "garden", "home", "kitchen", "sports", "toys", "beauty")
CITIES = ("Berlin", "Lisbon", "Lyon", "Madrid", "Milan", "Oslo", "Porto", "Vienna", "Warsaw", "Zurich")
PAYMENT_METHODS = ("card", "paypal", "bank_transfer", "gift_card")
PAYMENT_WEIGHTS = (0.6, 0.2, 0.1, 0.1)
CANCEL_SHARE = 0.06

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, city TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, deleted_at TIMESTAMP
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price REAL NOT NULL,
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id),
    status TEXT NOT NULL, ordered_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id),
    product_id INTEGER NOT NULL REFERENCES products (id), quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL, updated_at TIMESTAMP NOT NULL
);
CREATE TABLE payments (
    id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id), amount REAL NOT NULL,
    method TEXT NOT NULL, paid_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL
);
CREATE INDEX orders_updated ON orders (updated_at);
CREATE INDEX order_items_updated ON order_items (updated_at);
CREATE INDEX payments_updated ON payments (updated_at);
CREATE INDEX customers_updated ON customers (updated_at);
CREATE INDEX products_updated ON products (updated_at);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX order_items_order ON order_items (order_id);
CREATE TABLE demo_clock (today TEXT NOT NULL);
"""

SECOND = np.timedelta64(1, "s")
DAY_SECONDS = 86_400


def timestamps(values: np.ndarray) -> list[str]:
    """datetime64[s] values as SQLite timestamp text."""
    return np.char.replace(np.datetime_as_string(values.astype("datetime64[s]"), unit="s"), "T", " ").tolist()


def generate(path: Path, *, seed: int, scale: float, start_date: dt.date, history_days: int) -> dict[str, int]:
    """Write a fresh shop database to `path` (atomically) and return its row counts."""
    rng = np.random.default_rng(seed)
    n_orders = max(100, round(ORDERS_PER_SCALE * scale))
    n_customers = max(20, n_orders // 10)
    n_products = max(20, min(5_000, n_orders // 200))
    start = np.datetime64(start_date, "s")
    now = start + np.timedelta64(history_days, "D")
    span = history_days * DAY_SECONDS

    customer_created = np.sort(start + rng.integers(0, span, n_customers) * SECOND)
    # A tenth of the customers exist from the first hour; distinct timestamps keep cursors sharp.
    first = max(1, n_customers // 10)
    customer_created[:first] = start + np.sort(rng.integers(0, 3600, first)) * SECOND
    products_price = np.round(rng.lognormal(3.0, 0.8, n_products), 2).clip(1, 2_000)

    ordered_at = np.sort(start + rng.integers(0, span, n_orders) * SECOND)
    known = np.searchsorted(customer_created, ordered_at, side="right")
    customer_id = (rng.random(n_orders) * known).astype(np.int64) + 1

    items_per_order = rng.integers(1, 6, n_orders)
    item_order = np.repeat(np.arange(1, n_orders + 1), items_per_order)
    popularity = 1.0 / np.arange(1, n_products + 1) ** 0.8
    product_id = rng.choice(n_products, item_order.size, p=popularity / popularity.sum()) + 1
    quantity = rng.integers(1, 4, item_order.size)
    unit_price = products_price[product_id - 1]
    order_total = np.round(np.bincount(item_order - 1, weights=quantity * unit_price, minlength=n_orders), 2)

    hours = np.timedelta64(3600, "s")
    paid_at = ordered_at + (rng.integers(5, 360, n_orders) * 60) * SECOND
    shipped_at = paid_at + rng.integers(20, 60, n_orders) * hours
    delivered_at = shipped_at + rng.integers(40, 120, n_orders) * hours
    cancelled_at = ordered_at + rng.integers(1, 48, n_orders) * hours
    cancels = rng.random(n_orders) < CANCEL_SHARE
    status, updated = _status_at(now, ordered_at, paid_at, shipped_at, delivered_at, cancelled_at, cancels)
    is_paid = ~cancels & (paid_at <= now)

    tmp = path.with_suffix(".db.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(tmp)) as con:
        con.executescript(SCHEMA)
        ids = np.arange(1, n_customers + 1)
        con.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, NULL)",
            zip(
                ids.tolist(),
                [f"Customer {i}" for i in ids.tolist()],
                [f"customer{i}@example.com" for i in ids.tolist()],
                [CITIES[c] for c in rng.integers(0, len(CITIES), n_customers).tolist()],
                timestamps(customer_created),
                timestamps(customer_created),
                strict=True,
            ),
        )
        pids = np.arange(1, n_products + 1)
        listed = timestamps(start + np.sort(rng.integers(0, 3600, n_products)) * SECOND)
        con.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)",
            zip(
                pids.tolist(),
                [f"Product {i}" for i in pids.tolist()],
                [CATEGORIES[c] for c in rng.integers(0, len(CATEGORIES), n_products).tolist()],
                products_price.tolist(),
                listed,
                listed,
                strict=True,
            ),
        )
        con.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, NULL)",
            zip(range(1, n_orders + 1), customer_id.tolist(), status.tolist(), timestamps(ordered_at), timestamps(updated), strict=True),
        )
        item_time = timestamps(ordered_at)
        con.executemany(
            "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?)",
            zip(
                range(1, item_order.size + 1),
                item_order.tolist(),
                product_id.tolist(),
                quantity.tolist(),
                unit_price.tolist(),
                (item_time[o - 1] for o in item_order.tolist()),
                strict=True,
            ),
        )
        paid_orders = np.flatnonzero(is_paid)
        methods = rng.choice(len(PAYMENT_METHODS), paid_orders.size, p=PAYMENT_WEIGHTS)
        paid_text = timestamps(paid_at[paid_orders])
        con.executemany(
            "INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?)",
            zip(
                range(1, paid_orders.size + 1),
                (paid_orders + 1).tolist(),
                order_total[paid_orders].tolist(),
                [PAYMENT_METHODS[m] for m in methods.tolist()],
                paid_text,
                paid_text,
                strict=True,
            ),
        )
        con.execute("INSERT INTO demo_clock VALUES (?)", (str(now.astype("datetime64[D]")),))
        con.commit()
        counts = table_counts(con)
    tmp.replace(path)
    return counts


def _status_at(now, ordered_at, paid_at, shipped_at, delivered_at, cancelled_at, cancels):
    """Each order's status at `now`, and when it last changed."""
    status = np.full(ordered_at.size, "placed", dtype=object)
    updated = ordered_at.copy()
    for name, at in (("paid", paid_at), ("shipped", shipped_at), ("delivered", delivered_at)):
        reached = ~cancels & (at <= now)
        status[reached] = name
        updated[reached] = at[reached]
    cancelled = cancels & (cancelled_at <= now)
    status[cancelled] = "cancelled"
    updated[cancelled] = cancelled_at[cancelled]
    return status, updated


def table_counts(con: sqlite3.Connection) -> dict[str, int]:
    return {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("customers", "products", "orders", "order_items", "payments")
    }


def open_existing(path: Path) -> sqlite3.Connection:
    """Open the demo database for changes, or say how to create it."""
    if not path.is_file():
        raise PlatformError(f"The demo source {path} does not exist. Create it with `just run` (or `just demo`).")
    return sqlite3.connect(path)
