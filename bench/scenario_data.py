"""The files scenario's data: a fleet's trips (one key column) and vehicle shifts (a three-column key),
dropped as CSV files the way a partner would drop them, and the changes dropped later.

Every value is a function of the row number, so a drop and its changes are the same at every run
and the hand-written DuckDB side can be checked against the platform. DuckDB writes the files (not
measured). A change round `r` drops, per table, one file holding: 1% of the keys updated (a newer
`updated_at` and new values), a few deleted (one in DELETE_EVERY, at least ten) (`deleted_at` set, as a soft delete travels), and
0.1% new keys.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

from core import warehouse

SOURCE = "fleet"
TRIPS, SHIFTS = "trips", "vehicle_shifts"
SCENARIO_ROWS = 6_000_000  # trips at full size, the size the targets are set for
ROWS_PER_FILE = 500_000
SHIFTS_PER_TRIP = 0.25  # 6M trips come with 1.5M vehicle shifts
TRIPS_PER_VEHICLE = 300
HISTORY_DAYS = 365
DELETE_EVERY = 9_973  # one key in this many is deleted by a change round
NEW_SHARE = 0.001
FIRST_DELETED_EVERY = 997


def shift_rows(trips: int) -> int:
    return max(100, round(trips * SHIFTS_PER_TRIP))


def vehicles(trips: int) -> int:
    return max(10, trips // TRIPS_PER_VEHICLE)


def _deleted_at(row: str, changed: int, deleted: bool) -> str:
    """When the row was deleted. The first drops hold a few deleted rows in every file too: a column
    empty in a whole file would not load as a timestamp."""
    if deleted:
        return f"TIMESTAMP '2026-01-01' + to_days({changed})"
    return "NULL::TIMESTAMP" if changed else f"CASE WHEN {row} % {FIRST_DELETED_EVERY} = 5 THEN TIMESTAMP '2025-12-31' END"


def _trips_sql(trips: int, ids: str, *, changed: int = 0, deleted: bool = False) -> str:
    """Trips of row numbers `ids` (a query of column i); `changed` > 0 is the change round that rewrote them."""
    seconds = HISTORY_DAYS * 86_400 / trips
    fare = f"((i * 37 + {changed} * 11) % 10000) / 100.0" if changed else "((i * 37) % 10000) / 100.0"
    updated = f"TIMESTAMP '2026-01-01' + to_days({changed})" if changed else "started_at + INTERVAL 1 HOUR"
    return f"""
      SELECT
        i AS trip_id,
        (i * 7919) % {vehicles(trips)} AS vehicle_id,
        ['north', 'south', 'east', 'west', 'centre'][1 + i % 5] AS zone,
        round({fare}, 2)::DECIMAL(10, 2) AS fare_eur,
        ((i * 13) % 5000) / 100.0 AS distance_km,
        started_at,
        {updated} AS updated_at,
        {_deleted_at("i", changed, deleted)} AS deleted_at
      FROM (SELECT i, TIMESTAMP '2025-01-01' + to_microseconds((i % {trips} * {seconds} * 1e6)::BIGINT) AS started_at FROM ({ids}))
    """


def _shifts_sql(trips: int, ids: str, *, changed: int = 0, deleted: bool = False) -> str:
    """Vehicle shifts of row numbers `ids`: row j is vehicle j % V, on day (j // V) // 2, day or night shift."""
    fleet = vehicles(trips)
    fuel = f"((j * 53 + {changed} * 7) % 20000) / 100.0" if changed else "((j * 53) % 20000) / 100.0"
    updated = f"TIMESTAMP '2026-01-01' + to_days({changed})" if changed else "service_date + INTERVAL 1 DAY"
    status = (
        f"CASE WHEN j % 7 = {changed % 7} THEN 'maintenance' ELSE 'active' END"
        if changed
        else "CASE WHEN j % 50 = 0 THEN 'maintenance' ELSE 'active' END"
    )
    return f"""
      SELECT
        j % {fleet} AS vehicle_id,
        service_date,
        ['day', 'night'][1 + (j // {fleet}) % 2] AS shift,
        round({fuel}, 2)::DECIMAL(10, 2) AS fuel_eur,
        (j * 17) % 400 AS km_driven,
        {status} AS status,
        {updated} AS updated_at,
        {_deleted_at("j", changed, deleted)} AS deleted_at
      FROM (SELECT j, DATE '2025-01-01' + ((j // {fleet}) // 2)::INTEGER AS service_date FROM ({ids}))
    """


def _tables(trips: int) -> tuple:
    """Each table: its name, its rows, its SQL, the name of its row number."""
    return ((TRIPS, trips, _trips_sql, "i"), (SHIFTS, shift_rows(trips), _shifts_sql, "j"))


def _copy(con, sql: str, target: Path) -> None:
    con.execute(f"COPY ({sql} ORDER BY 1, 2, 3) TO {warehouse.sql_literal(target)} (HEADER, DELIMITER ',')")


def generate(landing: Path, trips: int) -> dict[str, int]:
    """The first drops: `trips` trips and their vehicle shifts, in files of at most ROWS_PER_FILE rows."""
    landing.mkdir(parents=True, exist_ok=True)
    counts = {TRIPS: trips, SHIFTS: shift_rows(trips)}
    with contextlib.closing(warehouse.connect()) as con:
        for table, rows, build, var in _tables(trips):
            files = max(1, math.ceil(rows / ROWS_PER_FILE))
            per_file = math.ceil(rows / files)
            for index in range(files):
                ids = f"SELECT i AS {var} FROM range({index * per_file}, {min(rows, (index + 1) * per_file)}) AS t(i)"
                _copy(con, build(trips, ids), landing / f"{table}-{index:03d}.csv")
    return counts


def change(landing: Path, trips: int, round_no: int) -> dict[str, dict[str, int]]:
    """Drop change round `round_no` (1, 2, ...) beside the first drops; return, per table, the keys updated, deleted, added."""
    assert round_no >= 1
    out: dict[str, dict[str, int]] = {}
    with contextlib.closing(warehouse.connect()) as con:
        for table, rows, build, var in _tables(trips):
            new = max(1, round(rows * NEW_SHARE))
            first_new = rows + (round_no - 1) * new
            # at least a few deletes at a small size; ends in 3, so that it is prime to the 100 of the updates
            every = min(DELETE_EVERY, max(50, rows // 10) // 10 * 10 + 3)
            # 1% of the keys, none deleted by an earlier round; a few others deleted
            picked = f"i % 100 = {round_no % 100} AND i % {every} NOT BETWEEN 1 AND {round_no - 1}"
            gone = f"i % {every} = {round_no % every} AND i % 100 <> {round_no % 100}"
            keys = {"updated": picked, "deleted": gone}
            updated, deleted = (f"SELECT i AS {var} FROM range({rows}) AS t(i) WHERE {keys[k]}" for k in ("updated", "deleted"))
            added = f"SELECT i AS {var} FROM range({first_new}, {first_new + new}) AS t(i)"
            rows_sql = " UNION ALL ".join(
                (
                    build(trips, updated, changed=round_no),
                    build(trips, deleted, changed=round_no, deleted=True),
                    build(trips, added, changed=round_no),
                )
            )
            _copy(con, rows_sql, landing / f"{table}-change-{round_no:03d}.csv")
            counts = {
                k: con.execute(f"SELECT count(*) FROM range({rows}) AS t(i) WHERE {where}").fetchall()[0][0] for k, where in keys.items()
            }
            out[table] = counts | {"new": new}
    return out
