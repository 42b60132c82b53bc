"""Every query of the Evidence reports, read from the project and run with Python DuckDB the way Evidence runs it.

Source queries (`sources/<source>/<name>.sql`) run against the published snapshot,
as Evidence's DuckDB connector runs them; each result becomes table
`<source>.<name>` with Evidence's column types (numbers as DOUBLE, dates as
TIMESTAMP), as the reports' browser database sees it. Page queries (```sql name
blocks in `pages/**/*.md`) are compiled as Evidence compiles them: `${other}`
becomes `(other's SQL)`, and `${inputs.<name>.<field>}` takes the default of the
input component of that name on the page. A query that fails is reported with its
page (or source file) and name.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core import warehouse
from core.errors import PlatformError

PROJECT = Path(__file__).resolve().parent
# Fences in pages that are code to show, not queries. Everything else must be ```sql <name>.
SHOWN_LANGUAGES = {"bash", "sh", "shell", "text", "plaintext", "yaml", "json", "python", "markdown", "md"}
FENCE = re.compile(r"^(?P<fence>```+|~~~+)[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
QUERY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REFERENCE = re.compile(r"\$\{(.*?)\}", re.S)
INPUT_REFERENCE = re.compile(r"^inputs\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_]+)$")
COMPONENT = re.compile(r"<(?P<kind>Dropdown|DateRange|ButtonGroup|TextInput)\b(?P<attrs>[^>]*)>", re.S)
ATTRIBUTE = re.compile(r"""([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|\{([^}]*)\}|([^\s>/]+))""")
# Evidence's DuckDB connector reads these as numbers; dates and timestamps as dates.
NUMBER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
}
# A date range input without a default spans all the data: these bounds filter nothing.
WIDEST_RANGE = {"start": "1900-01-01", "end": "2999-12-31"}


@dataclass(frozen=True)
class ReportQuery:
    """One query: where it is written (`pages/x.md`, `sources/s/q.sql`), its name and its SQL as written."""

    origin: str
    name: str
    sql: str

    def label(self) -> str:
        return f"{self.origin}, query `{self.name}`"


def source_queries(project: Path = PROJECT) -> list[ReportQuery]:
    """`sources/<source>/<name>.sql`: Evidence names the result `<source>.<name>`."""
    queries = []
    for path in sorted((project / "sources").glob("*/*.sql")):
        source, name = path.parent.name, path.stem
        for part in (source, name):
            if not QUERY_NAME.match(part):
                raise PlatformError(f"{path.relative_to(project)}: `{part}` is not a plain name (letters, digits, _).")
        queries.append(ReportQuery(str(path.relative_to(project)), f"{source}.{name}", path.read_text().strip()))
    return queries


def page_queries(page: Path, project: Path = PROJECT) -> list[ReportQuery]:
    """The ```sql <name> blocks of one page, as written."""
    origin = str(page.relative_to(project))
    queries, seen = [], set()
    for block in FENCE.finditer(page.read_text()):
        words = block["info"].split()
        if words and words[0].lower() in SHOWN_LANGUAGES and len(words) == 1:
            continue
        if len(words) != 2 or words[0].lower() != "sql" or not QUERY_NAME.match(words[1]):
            raise PlatformError(f"{origin}: a code block starts with ```{block['info']}; write queries as ```sql <name>.")
        if words[1] in seen:
            raise PlatformError(f"{origin}: two queries are named `{words[1]}`.")
        seen.add(words[1])
        queries.append(ReportQuery(origin, words[1], block["body"].strip()))
    return queries


def pages(project: Path = PROJECT) -> list[Path]:
    return sorted((project / "pages").rglob("*.md"))


def input_defaults(page: Path) -> dict[str, dict[str, str]]:
    """Each input component's name → its fields' values when the page opens (what a reader sees first)."""
    inputs = {}
    for component in COMPONENT.finditer(page.read_text()):
        attrs = {m[1]: next(v for v in m.groups()[1:] if v is not None) for m in ATTRIBUTE.finditer(component["attrs"])}
        if "name" not in attrs:
            continue
        if component["kind"] == "DateRange":
            fields = {"start": attrs.get("start", WIDEST_RANGE["start"]), "end": attrs.get("end", WIDEST_RANGE["end"])}
        else:
            fields = {"value": attrs.get("defaultValue", "")}
        inputs[attrs["name"]] = fields
    return inputs


def compile_query(query: ReportQuery, siblings: dict[str, ReportQuery], inputs: dict[str, dict[str, str]]) -> str:
    """The SQL that Evidence sends to DuckDB: query references inlined, inputs at their defaults."""

    def substitute(match: re.Match, stack: tuple[str, ...]) -> str:
        reference = match[1].strip()
        if reference in siblings:
            if reference in stack:
                raise PlatformError(f"{query.label()}: circular reference through `{reference}`.")
            return "(" + expand(siblings[reference].sql, stack + (reference,)) + ")"
        field = INPUT_REFERENCE.match(reference)
        if field is None:
            raise PlatformError(f"{query.label()}: `${{{reference}}}` is neither a query on the page nor an input.")
        name, part = field.groups()
        if name not in inputs or part not in inputs[name]:
            raise PlatformError(f"{query.label()}: `${{{reference}}}` has no input component `{name}` with `{part}` on the page.")
        return inputs[name][part]

    def expand(sql: str, stack: tuple[str, ...]) -> str:
        return REFERENCE.sub(lambda m: substitute(m, stack), sql)

    return expand(query.sql, (query.name,))


@dataclass(frozen=True)
class Checked:
    query: ReportQuery
    rows: int


def load_sources(browser: duckdb.DuckDBPyConnection, snapshot: Path, project: Path = PROJECT) -> tuple[list[Checked], list[str]]:
    """Run the source queries on `snapshot` and store each result in `browser` as Evidence does; return what failed."""
    checked, failures = [], []
    with contextlib.closing(warehouse.connect(snapshot, read_only=True)) as source_db:
        for query in source_queries(project):
            try:
                result = source_db.execute(query.sql).to_arrow_table()
            except duckdb.Error as exc:
                failures.append(f"{query.label()}: {_first_line(exc)}")
                continue
            checked.append(Checked(query, result.num_rows))
            if result.num_rows == 0:
                # Evidence writes no data for an empty result, and the pages that read it fail.
                failures.append(f"{query.label()}: returns no rows, and Evidence cannot serve an empty source result")
                continue
            source, name = query.name.split(".")
            browser.execute(f'CREATE SCHEMA IF NOT EXISTS "{source}"')
            browser.register("source_result", result)
            browser.execute(f'CREATE TABLE "{source}"."{name}" AS SELECT {_as_evidence_types(browser)} FROM source_result')
            browser.unregister("source_result")
    return checked, failures


def validate(snapshot: Path, project: Path = PROJECT) -> list[Checked]:
    """Run every source and page query against `snapshot`; raise PlatformError naming each one that fails."""
    with contextlib.closing(warehouse.connect()) as browser:
        checked, failures = load_sources(browser, snapshot, project)
        for page in pages(project):
            try:
                queries = page_queries(page, project)
                siblings = {q.name: q for q in queries}
                inputs = input_defaults(page)
                compiled = [(q, compile_query(q, siblings, inputs)) for q in queries]
            except PlatformError as exc:
                failures.append(str(exc))
                continue
            for query, sql in compiled:
                try:
                    rows = len(browser.sql(sql).fetchall())
                except duckdb.Error as exc:
                    failures.append(f"{query.label()}: {_first_line(exc)}")
                    continue
                checked.append(Checked(query, rows))
    if failures:
        raise PlatformError("Report queries fail against the published data:\n  - " + "\n  - ".join(failures))
    return checked


def _as_evidence_types(con: duckdb.DuckDBPyConnection) -> str:
    """Cast `source_result`'s columns the way Evidence stores a source result: number, date, boolean or string.

    Evidence stores a date or boolean column that holds only NULLs as a number.
    """
    columns = []
    for name, sql_type, *_ in con.execute("DESCRIBE source_result").fetchall():
        quoted = '"' + name.replace('"', '""') + '"'
        if sql_type in NUMBER_TYPES or sql_type.startswith("DECIMAL"):
            target = "DOUBLE"
        elif sql_type.startswith(("DATE", "TIMESTAMP")):
            target = "TIMESTAMP"
        elif sql_type == "BOOLEAN":
            target = "BOOLEAN"
        else:
            target = "VARCHAR"
        if target in ("TIMESTAMP", "BOOLEAN") and con.execute(f"SELECT count({quoted}) FROM source_result").fetchall() == [(0,)]:
            target = "DOUBLE"
        columns.append(f"CAST({quoted} AS {target}) AS {quoted}")
    return ", ".join(columns)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
