"""The files scenario's project, as a new user writes it: config.yaml with a files source (the demo shop
off), the raw tables in external_models.yaml, a staging model per table and three marts.

The project is this repository's config.yaml with its sources replaced, plus the SQLMesh files
below; `write` makes it in a folder of its own, which every platform side of the scenario runs
on (`--project`). The staging models are written by `staging_model`, the one place that follows
the staging convention.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.harness import ROOT
from bench.scenario_data import SHIFTS, SOURCE, TRIPS

OWNER = "fleet"
# The project's files copied from this repository: SQLMesh's custom linter rules, audits and macros.
COPIED = ("linter", "audits", "macros")
INCREMENTAL_MACRO = ROOT / "macros" / "unmerged_keys.py"

SOURCE_YAML = f"""\
    sources:
      {SOURCE}:
        kind: files
        schedule: "0 * * * *"
        settle_seconds: 0
        tables:
          {TRIPS}: {{pattern: "{TRIPS}-*.csv", primary_key: trip_id, cursor: updated_at}}
          {SHIFTS}: {{pattern: "{SHIFTS}-*.csv", primary_key: [vehicle_id, service_date, shift], cursor: updated_at}}
"""

# Each table's columns as the files ingest loads them: (name, raw type, staged type, comment).
COLUMNS = {
    TRIPS: [
        ("trip_id", "BIGINT", "BIGINT", "The trip"),
        ("vehicle_id", "BIGINT", "BIGINT", "The vehicle that drove it"),
        ("zone", "TEXT", "TEXT", "Where it started"),
        ("fare_eur", "DOUBLE", "DECIMAL(10, 2)", "Fare charged, in EUR"),
        ("distance_km", "DOUBLE", "DOUBLE", "Distance driven, in km"),
        ("started_at", "TIMESTAMP", "TIMESTAMP", "When it started"),
        ("updated_at", "TIMESTAMP", "TIMESTAMP", "When this version was written"),
    ],
    SHIFTS: [
        ("vehicle_id", "BIGINT", "BIGINT", "The vehicle"),
        ("service_date", "DATE", "DATE", "The day of the shift"),
        ("shift", "TEXT", "TEXT", "day or night"),
        ("fuel_eur", "DOUBLE", "DECIMAL(10, 2)", "Fuel bought during the shift, in EUR"),
        ("km_driven", "BIGINT", "BIGINT", "Distance driven during the shift, in km"),
        ("status", "TEXT", "TEXT", "active or maintenance"),
        ("updated_at", "TIMESTAMP", "TIMESTAMP", "When this version was written"),
    ],
}
KEYS = {TRIPS: ["trip_id"], SHIFTS: ["vehicle_id", "service_date", "shift"]}
DELETED = ("deleted_at", "TIMESTAMP")  # a soft delete travels as a new version with this set
DESCRIPTIONS = {TRIPS: "One row per trip: its latest version", SHIFTS: "One row per vehicle, day and shift: its latest version"}

MARTS = {
    "fleet_daily_trips": f"""\
MODEL (
  name marts.fleet_daily_trips,
  kind FULL,
  owner {OWNER},
  cron '@daily',
  grain trip_date,
  description 'One row per day with trips: trips, fares, distance and vehicles on the road.',
  audits (not_null(columns := (trip_date, count_trips)), unique_values(columns := (trip_date)))
);

SELECT
  started_at::DATE AS trip_date, -- The day the trips started
  count(*) AS count_trips, -- Trips started that day
  sum(fare_eur)::DECIMAL(18, 2) AS amount_fares, -- Fares charged, in EUR
  sum(distance_km::DECIMAL(12, 2))::DECIMAL(18, 2) AS distance_km, -- Distance driven, in km
  count(DISTINCT vehicle_id) AS count_vehicles -- Vehicles that drove a trip
FROM staging.stg_{SOURCE}__{TRIPS}
WHERE NOT is_deleted
GROUP BY trip_date
""",
    "fleet_daily_fuel": f"""\
MODEL (
  name marts.fleet_daily_fuel,
  kind FULL,
  owner {OWNER},
  cron '@daily',
  grain service_date,
  description 'One row per day of service: shifts, fuel bought, distance, shifts in maintenance.',
  audits (not_null(columns := (service_date, count_shifts)), unique_values(columns := (service_date)))
);

SELECT
  service_date, -- The day
  count(*) AS count_shifts, -- Shifts worked that day
  sum(fuel_eur)::DECIMAL(18, 2) AS amount_fuel, -- Fuel bought, in EUR
  sum(km_driven)::BIGINT AS km_driven, -- Distance driven, in km
  count(*) FILTER (WHERE status = 'maintenance') AS count_maintenance -- Shifts spent in maintenance
FROM staging.stg_{SOURCE}__{SHIFTS}
WHERE NOT is_deleted
GROUP BY service_date
""",
    "fleet_vehicles": f"""\
MODEL (
  name marts.fleet_vehicles,
  kind FULL,
  owner {OWNER},
  cron '@daily',
  grain vehicle_id,
  description 'One row per vehicle with a trip or a shift: its trips, fares, first and last trip, shifts and fuel.',
  audits (not_null(columns := (vehicle_id)), unique_values(columns := (vehicle_id)))
);

WITH trips AS (
  SELECT
    vehicle_id,
    count(*) AS count_trips,
    sum(fare_eur) AS amount_fares,
    min(started_at) AS first_trip_at,
    max(started_at) AS last_trip_at
  FROM staging.stg_{SOURCE}__{TRIPS}
  WHERE NOT is_deleted
  GROUP BY vehicle_id
),

shifts AS (
  SELECT vehicle_id, count(*) AS count_shifts, sum(fuel_eur) AS amount_fuel
  FROM staging.stg_{SOURCE}__{SHIFTS}
  WHERE NOT is_deleted
  GROUP BY vehicle_id
)

SELECT
  coalesce(trips.vehicle_id, shifts.vehicle_id) AS vehicle_id, -- The vehicle
  coalesce(trips.count_trips, 0) AS count_trips, -- Trips it drove
  coalesce(trips.amount_fares, 0)::DECIMAL(18, 2) AS amount_fares, -- Fares of those trips, in EUR
  trips.first_trip_at AS first_trip_at, -- Its first trip's start
  trips.last_trip_at AS last_trip_at, -- Its last trip's start
  coalesce(shifts.count_shifts, 0) AS count_shifts, -- Shifts it worked
  coalesce(shifts.amount_fuel, 0)::DECIMAL(18, 2) AS amount_fuel -- Fuel bought, in EUR
FROM trips
FULL OUTER JOIN shifts
  ON trips.vehicle_id = shifts.vehicle_id
""",
}


def staging_model(table: str, staging: str) -> str:
    """The staging model of a declared table: the latest version per key, deleted ones flagged.

    `full`: kind FULL over every load. `incremental`: the staging convention, incremental by key over
    the loads not yet merged (`@unmerged_keys`, macros/unmerged_keys.py).
    """
    keys = KEYS[table]
    key_list = ", ".join(keys)
    one_key = keys[0] if len(keys) == 1 else f"({key_list})"
    names = [name for name, _, _, _ in COLUMNS[table]]
    columns = "\n".join(f"  {name}::{staged} AS {name}, -- {comment}" for name, _, staged, comment in COLUMNS[table])
    unique = "unique_values" if len(keys) == 1 else "unique_combination_of_columns"
    if staging == "full":
        kind, read = "FULL", f"raw_{SOURCE}.{table}"
    else:
        kind = f"INCREMENTAL_BY_UNIQUE_KEY (\n    unique_key {one_key}\n  )"
        read = "source"
    header = f"""\
MODEL (
  name staging.stg_{SOURCE}__{table},
  kind {kind},
  owner {OWNER},
  cron '@daily',
  grain {one_key},
  description '{DESCRIPTIONS[table]}, deleted ones flagged.',
  audits (not_null(columns := ({key_list})), {unique}(columns := ({key_list})))
);

"""
    source = ""
    if staging != "full":
        source = f"""\
WITH source AS (
  SELECT {", ".join(names)}, {DELETED[0]}, _deleted, _dlt_load_id
  FROM raw_{SOURCE}.{table}
  WHERE @unmerged_keys(raw_{SOURCE}.{table}, {one_key})
)

"""
    return f"""{header}{source}SELECT
{columns}
  {DELETED[0]}::TIMESTAMP AS {DELETED[0]}, -- When it was deleted in the source (a soft delete), else NULL
  {DELETED[0]} IS NOT NULL OR _deleted AS is_deleted -- Deleted in the source, softly or not
FROM {read}
QUALIFY row_number() OVER (PARTITION BY {key_list} ORDER BY updated_at DESC, _dlt_load_id DESC) = 1
"""


def external_models() -> str:
    out = []
    for table, columns in COLUMNS.items():
        out.append(f"- name: raw_{SOURCE}.{table}\n  description: Every version of every row dropped as {table}.\n  columns:\n")
        for name, raw, _, _ in [
            *columns,
            (*DELETED, None, None),
            ("_dlt_load_id", "TEXT", None, None),
            ("_deleted", "BOOLEAN", None, None),
        ]:
            out.append(f"    {name}: {raw}\n")
    return "".join(out)


def config_yaml() -> str:
    """This repository's config.yaml with the fleet as its only source and the demo shop off."""
    text = (ROOT / "config.yaml").read_text()
    start, end = text.index("    sources:\n"), text.index("    run:\n")
    text = text[:start] + SOURCE_YAML + text[end:]
    return text.replace("    demo:\n", "    demo:\n      enabled: false\n", 1)


def has_incremental_macro() -> bool:
    return INCREMENTAL_MACRO.exists()


def write(folder: Path, *, staging: str) -> Path:
    """Write the project in `folder` (replacing what was there), its staging models `full` or `incremental`; return it."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "models" / "staging").mkdir(parents=True)
    (folder / "models" / "marts").mkdir(parents=True)
    for name in (name for name in COPIED if (ROOT / name).is_dir()):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__", "contracts"))
    (folder / "config.yaml").write_text(config_yaml())
    (folder / "external_models.yaml").write_text(external_models())
    for table in COLUMNS:
        (folder / "models" / "staging" / f"stg_{SOURCE}__{table}.sql").write_text(staging_model(table, staging))
    for name, sql in MARTS.items():
        (folder / "models" / "marts" / f"{name}.sql").write_text(sql)
    return folder
