"""The sources declared in config.yaml: one entry per source, with its kind, connection, tables and contract."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from core.settings_fields import ColumnName, Cron, EnvName, Identifier, Strict

ContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]


class DemoSettings(Strict):
    """The generated demo shop database."""

    enabled: bool = Field(
        True, description="false: the demo source is not declared and the models that read it are not built (docs/tutorial.md)."
    )
    seed: int = 42
    scale: float = Field(1.0, gt=0, allow_inf_nan=False, description="1.0 is 100,000 orders.")
    source: str = Field("shop", description="The declared source that the demo generates.")
    start_date: dt.date = dt.date(2025, 1, 1)
    history_days: int = Field(180, ge=7)


class SchemaContract(Strict):
    """dlt's schema contract: what happens to new tables, new columns and changed types."""

    tables: ContractMode = "evolve"
    columns: ContractMode = "evolve"
    data_type: ContractMode = "evolve"


class QualitySettings(Strict):
    """The pandera contract at the ingestion boundary (audits/contracts/<source>__<table>.py)."""

    enabled: bool = True
    max_bad_share: float = Field(0.01, ge=0, le=1, description="Share of quarantined rows above which a load fails.")


Mask = Literal["hash", "partial", "remove"]


def _distinct_columns(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list) and (not value or len(set(value)) < len(value)):
        raise ValueError("a composite primary_key lists one or more distinct columns, e.g. [order_id, line_number]")
    return value


PrimaryKey = Annotated[ColumnName | list[ColumnName], AfterValidator(_distinct_columns)]


class _TableBase(Strict):
    primary_key: PrimaryKey = Field("id", description="The key column, or a list of columns for a composite key.")
    personal: dict[ColumnName, Mask] = Field(
        {},
        description="Columns holding personal data, and how roles without access see them: a hash, part of the value, or nothing.",
    )
    write_disposition: Literal["append", "replace"] = "append"
    contract: ContractMode | SchemaContract | None = Field(None, description="Overrides the source's contract.")
    pandera: Identifier | None = Field(None, description="Contract module in audits/contracts/; default <source>__<table>.")
    soft_delete: ColumnName | None = Field(
        None,
        description="The column that marks a row deleted in the source: a boolean (or 0/1) deletes when true, any other type when set. "
        "Default `deleted_at` when the staging model carries it.",
    )

    @property
    def key_columns(self) -> list[str]:
        """The primary key as a list of columns (one for a simple key)."""
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)


NonFinite = Literal["quarantine", "keep"]
NON_FINITE = "A number that is not finite (inf, -inf, NaN; `-1e309` overflows to -inf): the row to quarantine, or kept."


RAW_NAME = re.compile(r"^_?[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


def refuse_unraw_names(table: _TableBase, whose: str):
    """Refuse a table whose key, personal, soft-delete or cursor columns are not named as raw names them (dlt's
    lower-case snake_case): every stage after the load knows a column by that name only."""
    declared = [
        ("primary_key", table.key_columns),
        ("personal", list(table.personal)),
        ("soft_delete", [table.soft_delete] if table.soft_delete else []),
        ("cursor", [cursor] if (cursor := getattr(table, "cursor", None)) else []),
    ]
    for key, names in declared:
        for name in names:
            if not RAW_NAME.match(name):
                raise ValueError(
                    f"{key} {name!r} is not a column name as raw has it: raw names {whose} in dlt's lower-case "
                    "snake_case; declare the name raw has"
                )
    return table


class TableSettings(_TableBase):
    """One table of a SQL source: its key, its incremental cursor, and whether hard deletes are detected.

    A table without a cursor (`cursor: null`) is taken whole on every run, as a snapshot that replaces
    the one before in raw: a key gone from the source is gone from raw.
    """

    cursor: ColumnName | None = "updated_at"
    detect_hard_deletes: bool = False
    non_finite: NonFinite = Field("quarantine", description=NON_FINITE)
    source_table: str | None = Field(
        None,
        min_length=1,
        description="The table's name in the database when raw's name cannot be it (`Order Details`, `InvoiceLine` in "
        "PostgreSQL); default the table's declared name.",
    )

    @model_validator(mode="after")
    def _snapshot_replaces(self) -> TableSettings:
        if self.cursor is None and "write_disposition" in self.model_fields_set and self.write_disposition == "append":
            raise ValueError(
                "a table without a cursor is taken whole on every run: appended, each run would load every row again. "
                "Declare its cursor, or leave write_disposition out (the snapshot replaces the one before)"
            )
        return self

    @model_validator(mode="after")
    def _raw_names(self) -> TableSettings:
        return refuse_unraw_names(self, "a database's columns (`OrderID` loads as `order_id`, `ID` as `id`)")

    @property
    def disposition(self) -> Literal["append", "replace"]:
        """How a load writes the table: a table without a cursor is a snapshot that replaces the one before."""
        return self.write_disposition if self.cursor is not None else "replace"


class _SourceBase(Strict):
    schedule: Cron = "0 * * * *"
    freshness_sla_hours: float = Field(26, gt=0)
    contract: ContractMode | SchemaContract = "evolve"
    quality: QualitySettings = QualitySettings()

    def secret_envs(self) -> list[str]:
        """The environment variables this source needs at startup."""
        return []


class SqliteSource(_SourceBase):
    """A SQLite database file, read through DuckDB's sqlite scanner as Arrow batches."""

    kind: Literal["sqlite"]
    path: str = Field(description="Database file; relative paths are under data_dir.")
    tables: dict[Identifier, TableSettings]
    chunk_size: int = Field(100_000, ge=1_000)


class PostgresSource(_SourceBase):
    """A PostgreSQL database, read through dlt's sql_database with the pyarrow backend."""

    kind: Literal["postgres"]
    host: str = "localhost"
    port: int = Field(5432, ge=1, le=65535)
    database: str
    user: str
    password_env: EnvName
    db_schema: str = "public"
    tables: dict[Identifier, TableSettings]
    chunk_size: int = Field(100_000, ge=1_000)

    def secret_envs(self) -> list[str]:
        return [self.password_env]


class AuthSettings(Strict):
    """How a REST API is authenticated: a bearer token or an API key header, from the environment."""

    type: Literal["bearer", "api_key"] = "bearer"
    token_env: EnvName
    header: str = Field("X-API-Key", description="Header name for type api_key.")


class PaginatorSettings(Strict):
    """Page-number, offset or cursor pagination (dlt rest_api paginators)."""

    type: Literal["page_number", "offset", "cursor", "single_page"] = "single_page"
    page_param: str = "page"
    base_page: int = 1
    limit: int = Field(100, ge=1, description="Page size for offset pagination.")
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_path: str = Field("next_cursor", description="Where the next cursor is in the response body.")
    cursor_param: str = "cursor"
    total_path: str | None = Field(None, description="Where the total count (or page count) is, if the API sends one.")


class IncrementalParam(Strict):
    """Send the highest cursor value seen so far as a query parameter."""

    param: str
    cursor_path: str
    initial_value: str


class EndpointSettings(_TableBase):
    """One REST endpoint: its path, parameters, where the records are, pagination, incremental parameter."""

    path: str
    params: dict[str, str | int | float | bool] = {}
    data_selector: str | None = Field(None, description="JSON path of the records, e.g. `data`.")
    paginator: PaginatorSettings | None = Field(None, description="Overrides the source's paginator.")
    incremental: IncrementalParam | None = None


class RestApiSource(_SourceBase):
    """A REST API, configured rather than coded (dlt rest_api)."""

    kind: Literal["rest_api"]
    base_url: str
    auth: AuthSettings | None = None
    paginator: PaginatorSettings = PaginatorSettings()
    endpoints: dict[Identifier, EndpointSettings]
    timeout_seconds: float = Field(60, gt=0)
    max_attempts: int = Field(5, ge=1, description="Tries per request on 429, 5xx and connection errors.")
    backoff_seconds: float = Field(1, ge=0, description="Exponential backoff base between tries.")
    max_retry_delay_seconds: float = Field(300, ge=0, description="Upper bound of one wait, Retry-After included.")

    @property
    def tables(self) -> dict[str, EndpointSettings]:
        return self.endpoints

    def secret_envs(self) -> list[str]:
        return [self.auth.token_env] if self.auth else []


# pyarrow's own tokens of a missing value, less the empty field (missing in a CSV column that is not text)
MISSING_VALUES = (
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
)


# A column name that raw keeps as it is (dlt's snake_case leaves it alone): a file's columns are named so in raw


class FileTableSettings(_TableBase):
    """Files of one table in the landing area, matched by a glob pattern."""

    pattern: str = Field(description="Glob relative to the source's landing folder, e.g. `orders/*.csv`.")
    format: Literal["csv", "jsonl", "parquet"] | None = Field(None, description="Defaults to the file extension.")
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    cursor: ColumnName | None = Field(
        None,
        description="A column whose larger value marks a newer version of a row. Without one, every key in a new drop "
        "counts as changed for the staging model named after the table.",
    )
    missing_values: tuple[str, ...] = Field(
        MISSING_VALUES, description="CSV fields read as a missing value, in every column, text included (an empty field too, but in text)."
    )
    non_finite: NonFinite = Field("quarantine", description=NON_FINITE)
    on_type_drift: Literal["variant", "refuse", "coerce"] = Field(
        "variant",
        description="A value whose type differs from its loaded column: into `<column>__v_<type>`, reject the file, or quarantine the row.",
    )

    @model_validator(mode="after")
    def _files_append(self) -> FileTableSettings:
        if self.write_disposition == "replace":
            raise ValueError(
                "a files table appends each landed file once: with replace, a run that lands no file of this table "
                "would empty it in raw. Leave write_disposition out (the latest version of a key wins)"
            )
        return self

    @model_validator(mode="after")
    def _raw_names(self) -> FileTableSettings:
        return refuse_unraw_names(self, "a file's columns (a header `Order ID` loads as `order_id`, `ID` as `id`)")


MEMORY_SHARE = 0.6  # of the machine's memory that reading one landed file may take, by default


class FilesSource(_SourceBase):
    """CSV, JSONL and Parquet files dropped in a landing folder; each is loaded exactly once."""

    kind: Literal["files"]
    landing: str | None = Field(
        None,
        description="Landing folder (relative to data_dir) or lake address (`lake://raw/...`); default `landing/<source>` "
        "under data_dir on the local backend, `lake://raw/landing/<source>` on s3.",
    )
    tables: dict[Identifier, FileTableSettings]
    settle_seconds: float = Field(5, ge=0, description="A file is taken once its size and mtime held this long.")
    batch_rows: int = Field(100_000, ge=1_000)
    max_file_memory_mb: int | None = Field(
        None,
        ge=1,
        description="A landed file whose reading would take more memory than this (a CSV file takes about 5x its size) is "
        "read in parts, its accepted rows held on disk; one in UTF-16 or UTF-32 is rejected, naming the size to split it to. "
        f"Default {MEMORY_SHARE:.0%} of the machine's memory.",
    )

    def max_file_memory(self) -> int:
        """Bytes of memory that reading one landed file may take."""
        if self.max_file_memory_mb is not None:
            return self.max_file_memory_mb * 2**20
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * MEMORY_SHARE)


SOURCE_KINDS = ("sqlite", "postgres", "rest_api", "files")
SourceSettings = Annotated[SqliteSource | PostgresSource | RestApiSource | FilesSource, Field(discriminator="kind")]
