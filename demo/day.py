"""Advance the demo shop by one simulated day, so that incremental loading has real work to do."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from demo.shop import CANCEL_SHARE, CITIES, PAYMENT_METHODS, PAYMENT_WEIGHTS, open_existing


@dataclass
class DayReport:
    """What one simulated day changed in the source."""

    day: str
    new_customers: int = 0
    new_orders: int = 0
    new_items: int = 0
    new_payments: int = 0
    status_changes: int = 0
    customer_updates: int = 0
    price_changes: int = 0
    soft_deleted_customers: int = 0
    soft_deleted_orders: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def advance_day(path: Path, *, seed: int) -> DayReport:
    """Apply one day of activity in a single transaction and move the demo clock forward."""
    with contextlib.closing(open_existing(path)) as con, con:
        today = dt.date.fromisoformat(con.execute("SELECT today FROM demo_clock").fetchone()[0])
        rng = np.random.default_rng([seed, today.toordinal()])
        day = _Day(con, rng, today)
        report = DayReport(day=today.isoformat())
        report.new_customers = day.new_customers()
        report.status_changes, report.new_payments = day.progress_orders()
        report.new_orders, report.new_items = day.new_orders()
        report.customer_updates = day.update_customers()
        report.price_changes = day.change_prices()
        report.soft_deleted_customers, report.soft_deleted_orders = day.soft_deletes()
        con.execute("UPDATE demo_clock SET today = ?", ((today + dt.timedelta(days=1)).isoformat(),))
    return report


class _Day:
    """The changes of one day; every timestamp falls inside that day, after all earlier ones."""

    def __init__(self, con, rng: np.random.Generator, today: dt.date) -> None:
        self.con, self.rng, self.today = con, rng, today
        self.customers = self.existing_customers = con.execute("SELECT count(*) FROM customers").fetchone()[0]
        # The source's own daily rate: its orders over the days since its first (history_days may be any length).
        count, first = con.execute("SELECT count(*), min(ordered_at) FROM orders").fetchone()
        days = (today - dt.date.fromisoformat(first[:10])).days if first else 1
        self.orders_per_day = max(5, count // max(1, days))

    def at(self, size: int | None = None, *, after_hour: int = 0) -> list[str] | str:
        seconds = self.rng.integers(after_hour * 3600, 86_400, size)
        base = dt.datetime.combine(self.today, dt.time())
        stamp = lambda s: (base + dt.timedelta(seconds=int(s))).strftime("%Y-%m-%d %H:%M:%S")
        return [stamp(s) for s in np.sort(np.atleast_1d(seconds))] if size is not None else stamp(seconds)

    def _max_id(self, table: str) -> int:
        return self.con.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]

    def new_customers(self) -> int:
        count = max(1, self.orders_per_day // 10)
        first = self._max_id("customers") + 1
        rows = []
        for offset, stamp in enumerate(self.at(count)):
            cid = first + offset
            city = CITIES[int(self.rng.integers(0, len(CITIES)))]
            rows.append((cid, f"Customer {cid}", f"customer{cid}@example.com", city, stamp, stamp))
        self.con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, NULL)", rows)
        self.customers += count
        return count

    def progress_orders(self) -> tuple[int, int]:
        """Move open orders one step along placed → paid → shipped → delivered, or cancel them."""
        changes = payments = 0
        day_start = f"{self.today} 00:00:00"
        open_orders = self.con.execute(
            "SELECT id, status FROM orders WHERE status IN ('placed', 'paid', 'shipped') "
            "AND deleted_at IS NULL AND updated_at < ? ORDER BY id",
            (day_start,),
        ).fetchall()
        next_status = {"paid": "shipped", "shipped": "delivered"}
        next_payment_id = self._max_id("payments") + 1
        for order_id, status in open_orders:
            stamp = self.at(after_hour=1)
            if status == "placed" and self.rng.random() < CANCEL_SHARE * 4:
                new_status = "cancelled"
            elif status == "placed":
                new_status = "paid"
                total = self._order_total(order_id)
                method = PAYMENT_METHODS[int(self.rng.choice(len(PAYMENT_METHODS), p=PAYMENT_WEIGHTS))]
                self.con.execute(
                    "INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?)",
                    (next_payment_id, order_id, total, method, stamp, stamp),
                )
                next_payment_id += 1
                payments += 1
            elif self.rng.random() < 0.7:
                new_status = next_status[status]
            else:
                continue
            self.con.execute("UPDATE orders SET status = ?, updated_at = ? WHERE id = ?", (new_status, stamp, order_id))
            changes += 1
        return changes, payments

    def _order_total(self, order_id: int) -> float:
        total = self.con.execute("SELECT sum(quantity * unit_price) FROM order_items WHERE order_id = ?", (order_id,)).fetchone()[0]
        return round(total, 2)

    def new_orders(self) -> tuple[int, int]:
        """Orders placed today, by existing live customers, with their items."""
        count = int(self.rng.integers(self.orders_per_day * 8 // 10, self.orders_per_day * 12 // 10 + 1))
        # arrays, not lists: `rng.choice` would convert a list anew on every pick (minutes at 5M orders)
        live = np.array([r[0] for r in self.con.execute("SELECT id FROM customers WHERE deleted_at IS NULL").fetchall()])
        prices = dict(self.con.execute("SELECT id, price FROM products").fetchall())
        product_ids = np.array(list(prices))
        order_id, item_id = self._max_id("orders") + 1, self._max_id("order_items") + 1
        orders, items = [], []
        for stamp in self.at(count):
            orders.append((order_id, int(self.rng.choice(live)), "placed", stamp, stamp))
            for _ in range(int(self.rng.integers(1, 6))):
                product = int(self.rng.choice(product_ids))
                items.append((item_id, order_id, product, int(self.rng.integers(1, 4)), prices[product], stamp))
                item_id += 1
            order_id += 1
        self.con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, NULL)", orders)
        self.con.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?)", items)
        return len(orders), len(items)

    def update_customers(self) -> int:
        """A few customers move city or change email."""
        ids = self.rng.choice(self.existing_customers, size=min(self.existing_customers, 5), replace=False) + 1
        for cid in ids.tolist():
            city = CITIES[int(self.rng.integers(0, len(CITIES)))]
            email = f"customer{cid}.{self.today:%Y%m%d}@example.com"
            self.con.execute(
                "UPDATE customers SET city = ?, email = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
                (city, email, self.at(after_hour=2), cid),
            )
        return len(ids)

    def change_prices(self) -> int:
        """A few products change price; existing order items keep the price they were sold at."""
        products = self.con.execute("SELECT id, price FROM products ORDER BY id").fetchall()
        picks = self.rng.choice(len(products), size=min(len(products), 3), replace=False)
        for index in picks.tolist():
            pid, price = products[index]
            new_price = round(max(1.0, price * float(self.rng.uniform(0.85, 1.15))), 2)
            self.con.execute("UPDATE products SET price = ?, updated_at = ? WHERE id = ?", (new_price, self.at(after_hour=2), pid))
        return len(picks)

    def soft_deletes(self) -> tuple[int, int]:
        """Customers who never ordered close their account; a few unpaid orders are voided."""
        stamp = self.at(after_hour=3)
        customers = self.con.execute(
            "UPDATE customers SET deleted_at = ?, updated_at = ? WHERE id IN ("
            " SELECT c.id FROM customers c WHERE c.deleted_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY c.id LIMIT 2)",
            (stamp, stamp),
        ).rowcount
        orders = self.con.execute(
            "UPDATE orders SET deleted_at = ?, updated_at = ? WHERE id IN ("
            " SELECT id FROM orders WHERE status = 'placed' AND deleted_at IS NULL AND ordered_at < ?"
            " ORDER BY id LIMIT 1)",
            (stamp, stamp, stamp),
        ).rowcount
        return customers, orders
