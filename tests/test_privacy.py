"""Personal data: tagged where it enters, followed by column lineage, masked in every reader for roles without access.

Recognisable values are seeded into the demo source and built; then every reader (connect_published, the
metrics layer, every app page and its CSV downloads, every API endpoint over HTTP, the reports' snapshot)
is searched for them, as a role without access (none of them) and as the operator (all of them).
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlmesh import Context

from api.background import running
from api.keys import hash_key, load_keys
from api.server import create_app
from app import downloads as app_downloads
from core.errors import PlatformError
from core.lake import Lake
from core.privacy import PersonalColumn, hash_salt, masked_select
from core.run_context import open_run
from core.settings import Settings
from metrics import layer
from pipeline import stages
from pipeline.run import run_all
from publish.marts import MANIFEST, marts_folder
from publish.reader import connect_published, current_version
from publish.snapshot import write_snapshot
from tests.support.app_pages import BUSINESS_PAGES, OPERATOR_PAGES, app_on, copy_build, log_in
from tests.support.project import settings_for
from transform.lineage import personal_columns, personal_columns_of

# Three customers get these (customer i: name, email, city); none of the strings occurs in the demo data.
SEEDED = [
    ("Zebedee Quux", "zq-pii-canary@example.org", "Quuxhaven"),
    ("Ottoline Vrask", "ov-pii-canary@example.net", "Vraskby"),
    ("Ignatius Plome", "ip-pii-canary@example.com", "Plomeford"),
]
NEEDLES = [value for row in SEEDED for value in row]
# The shipped config.yaml declares a customer's name and email personal; these tests declare the city
# personal too (partial), so every kind of mask is read end to end.
DECLARED = {"PLATFORM__SOURCES__SHOP__TABLES__CUSTOMERS__PERSONAL": "{name: remove, email: hash, city: partial}"}
pytestmark = pytest.mark.slow

KEYS = {"biz": "dsk_business-pii-key", "ops": "dsk_operator-pii-key"}
API_ENV = {"PLATFORM__API__KEYS": "{biz: business, ops: operator}"}
KEY_HASHES = {f"API_KEY_HASH_{name.upper()}": hash_key(key) for name, key in KEYS.items()}


def found(text: str) -> set[str]:
    return {needle for needle in NEEDLES if needle in text}


@pytest.fixture(scope="module")
def seeded(built, tmp_path_factory) -> Settings:
    """A copy of the session's build whose three most valuable customers carry the seeded values, built and published."""
    settings = copy_build(built[0], tmp_path_factory.mktemp("privacy") / "data", **DECLARED)
    con, _ = connect_published(settings, role="operator")
    with contextlib.closing(con):
        ids = [
            row[0]
            for row in con.execute("SELECT customer_id FROM marts.dim_customers ORDER BY amount_lifetime_value DESC LIMIT 3").fetchall()
        ]
    with contextlib.closing(sqlite3.connect(settings.source_path(settings.demo.source))) as db, db:
        [(latest,)] = db.execute("SELECT max(updated_at) FROM customers").fetchall()
        stamp = db.execute("SELECT strftime('%Y-%m-%d %H:%M:%S', ?, '+1 second')", (latest,)).fetchone()[0]
        for customer, (name, email, city) in zip(ids, SEEDED, strict=True):
            db.execute(
                "UPDATE customers SET name = ?, email = ?, city = ?, updated_at = ? WHERE id = ?", (name, email, city, stamp, customer)
            )
    run_all(settings)
    return settings


def marts_text(con: duckdb.DuckDBPyConnection) -> str:
    """Every row of every mart the connection shows, as CSV."""
    names = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()]
    assert "dim_customers" in names
    return "\n".join(con.execute(f"SELECT * FROM marts.{name}").df().to_csv(index=False) for name in names)


def test_lineage_tags_staging_and_mart_columns_derived_from_a_personal_column(built):
    settings, _ = built
    tags = personal_columns(settings)
    email = PersonalColumn("hash", ("shop.customers.email",))
    assert tags["staging.stg_shop__customers"]["customer_email"] == email
    assert tags["staging.stg_shop__customers_history"]["customer_email"] == email
    assert tags["marts.dim_customers"] == {
        "customer_name": PersonalColumn("remove", ("shop.customers.name",)),
        "customer_email": email,
    }  # config.yaml leaves the city, a reporting dimension, unmasked
    assert "customer_id" not in tags["marts.dim_customers"] and "marts.fct_orders" not in tags
    manifest = json.loads(Lake(settings).read_text(f"{marts_folder(settings)}/{MANIFEST}") or "{}")
    assert manifest["tables"]["dim_customers"]["personal"]["customer_email"] == {"mask": "hash", "from": ["shop.customers.email"]}
    assert manifest["tables"]["fct_orders"]["personal"] == {}


def test_values_passed_through_or_transformed_stay_personal_and_counts_or_sums_do_not(tmp_path):
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "config.yaml").write_text(
        "gateways:\n  local:\n    connection: {type: duckdb, database: ':memory:'}\n"
        "default_gateway: local\nmodel_defaults: {dialect: duckdb}\n"
    )
    (project / "external_models.yaml").write_text(
        "- name: raw_src.people\n  columns: {id: BIGINT, name: TEXT, email: TEXT, city: TEXT, amount: DOUBLE}\n"
    )
    (project / "models" / "stg.sql").write_text(
        "MODEL (name staging.stg_src__people, kind FULL);\n"
        "SELECT id AS person_id, name AS person_name, email AS person_email, city AS person_city, amount FROM raw_src.people"
    )
    (project / "models" / "mart.sql").write_text(
        """MODEL (name marts.people_by_city, kind FULL);
WITH people AS (
  SELECT person_id, lower(person_email) AS email_lower, person_name || ' from ' || person_city AS label, person_city, person_email, amount
  FROM staging.stg_src__people
)
SELECT
  person_city AS city,
  max(email_lower) AS some_email,
  min(label) AS some_label,
  count(DISTINCT person_email) AS count_emails,
  count(*) FILTER (WHERE person_email LIKE '%@example.org') AS count_example_org,
  sum(length(label)) AS total_label_length,
  sum(amount) AS amount
FROM people
GROUP BY person_city"""
    )
    context = Context(paths=[project])
    try:
        tags = personal_columns_of(context, {"raw_src.people": {"name": "remove", "email": "hash", "city": "partial"}})
    finally:
        context.close()
    assert tags["marts.people_by_city"] == {
        "city": PersonalColumn("partial", ("src.people.city",)),
        "some_email": PersonalColumn("hash", ("src.people.email",)),
        # from name (remove) and city (partial): the strictest mask, both origins
        "some_label": PersonalColumn("remove", ("src.people.city", "src.people.name")),
    }


def test_connect_published_and_the_metrics_mask_for_roles_without_access(seeded):
    for role in (None, "business"):
        con, _ = connect_published(seeded, role=role)
        with contextlib.closing(con):
            assert found(marts_text(con)) == set()
            columns = [row[0] for row in con.execute("DESCRIBE marts.dim_customers").fetchall()]
            assert "customer_name" not in columns and {"customer_email", "customer_city"} <= set(columns)
            emails = con.execute("SELECT customer_email, customer_city FROM marts.dim_customers WHERE customer_city IS NOT NULL").fetchall()
            assert all(len(email) == 16 and city.endswith("***") and len(city) == 4 for email, city in emails)
            assert con.execute("SELECT count(DISTINCT customer_email) = count(*) FROM marts.dim_customers").fetchone() == (True,)
            by_city = layer.run(con, layer.Query(("customers",), by=("customer_city",)))
            assert found(by_city.to_csv()) == set() and {"Q***", "V***", "P***"} <= set(by_city["customer_city"])
    # the same salt, so the same hashes, in every read
    reads = []
    for _ in range(2):
        con, _ = connect_published(seeded)
        with contextlib.closing(con):
            reads.append(con.execute("SELECT customer_id, customer_email FROM marts.dim_customers ORDER BY 1").fetchall())
    assert reads[0] == reads[1]

    con, _ = connect_published(seeded, role="operator")
    with contextlib.closing(con):
        assert found(marts_text(con)) == set(NEEDLES)
        by_city = layer.run(con, layer.Query(("customers",), by=("customer_city",)))
        assert {"Quuxhaven", "Vraskby", "Plomeford"} <= set(by_city["customer_city"])


@pytest.fixture
def downloads(monkeypatch) -> list[bytes]:
    """The bytes of every CSV a page offers for download, made as the app's server makes them when the link is followed."""
    served: list[bytes] = []
    offer = app_downloads.offer

    def recording(user, role, name, page, make):
        served.append(make(role).to_csv(index=False).encode())
        return offer(user, role, name, page, make)

    monkeypatch.setattr(app_downloads, "offer", recording)
    return served


def page_texts(at) -> Iterator[str]:
    """Everything a page sent to the browser: every element's message (tables and charts carry their data), and the tables as CSV."""

    def walk(node) -> Iterator[str]:
        proto = getattr(node, "proto", None)
        if proto is not None:
            yield str(proto)
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    yield from walk(at._tree)
    yield from (frame.value.to_csv() for frame in at.dataframe)


def read_every_page(at, downloads: list[bytes]) -> tuple[str, int]:
    """Visit every page; the text of all of them and their downloads, and how many pages ran without an error."""
    texts, clean = [], 0
    for page in [*BUSINESS_PAGES, *OPERATOR_PAGES, "access_log"]:
        at.switch_page(f"views/{page}.py").run()
        clean += not at.exception and not at.error
        texts += list(page_texts(at))
    texts += [data.decode() for data in downloads]
    return "\n".join(texts), clean


def test_every_app_page_and_download_masks_for_anonymous_and_business_users(seeded, monkeypatch, downloads):
    pages = len(BUSINESS_PAGES) + len(OPERATOR_PAGES) + 1
    text, clean = read_every_page(app_on(seeded.data_dir, monkeypatch), downloads)  # no logins configured: anonymous
    assert clean == pages and len(downloads) > pages
    assert found(text) == set()
    assert "Top customers" in text and "Customer city" in text and "Q***" in text

    downloads.clear()
    business = log_in(seeded, monkeypatch, "anna", "business")
    assert business.title[0].value == "Overview"
    business.switch_page("views/customers.py").run()
    assert not business.exception
    shown = "\n".join([*page_texts(business), *(data.decode() for data in downloads)])
    assert downloads and found(shown) == set() and "Q***" in shown


def test_operators_see_personal_values_in_the_app_and_its_downloads(seeded, monkeypatch, downloads):
    at = log_in(seeded, monkeypatch, "oleg", "operator")
    text, _ = read_every_page(at, downloads)
    assert {"Zebedee Quux", "Quuxhaven"} <= found(text)
    assert {"Zebedee Quux", "Quuxhaven"} <= found("\n".join(data.decode() for data in downloads))


def test_the_catalog_shows_personal_columns_their_masks_and_where_they_flow(seeded, monkeypatch):
    at = app_on(seeded.data_dir, monkeypatch, "catalog")
    assert not at.exception
    flows = next(frame.value for frame in at.dataframe if "Source column" in frame.value.columns).set_index("Source column")
    assert flows.loc["shop.customers.email", "Mask"] == "hash"
    assert "staging.stg_shop__customers.customer_email (hash)" in flows.loc["shop.customers.email", "Staging"]
    assert "staging.stg_shop__customers_history.customer_email (hash)" in flows.loc["shop.customers.email", "Staging"]
    assert flows.loc["shop.customers.email", "Marts"] == "marts.dim_customers.customer_email (hash)"
    assert flows.loc["shop.customers.name", "Marts"] == "marts.dim_customers.customer_name (remove)"
    assert set(flows.index) == {"shop.customers.name", "shop.customers.email"}  # as config.yaml declares them


def api_get(url: str, key: str) -> tuple[int, bytes, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("content-type", "")


def as_text(body: bytes, content_type: str) -> str:
    """A reply's content as text: Parquet and Arrow decoded to CSV, the rest as sent."""
    if "parquet" in content_type:
        return pq.read_table(io.BytesIO(body)).to_pandas().to_csv()
    if "arrow" in content_type:
        return pa.ipc.open_stream(body).read_all().to_pandas().to_csv()
    return body.decode()


def read_every_endpoint(url: str, key: str) -> str:
    texts = []
    for path in ("/marts", "/metrics", "/openapi.json"):  # /docs is off unless api.docs
        status, body, kind = api_get(url + path, key)
        assert status == 200, (path, body)
        texts.append(as_text(body, kind))
    marts = [mart["name"] for mart in json.loads(texts[0])["marts"]]
    assert "dim_customers" in marts
    for mart in marts:
        texts.append(as_text(*api_get(f"{url}/marts/{mart}", key)[1:]))
        for output in ("json", "csv", "parquet", "arrow"):
            status, body, kind = api_get(f"{url}/marts/{mart}/rows?limit=100000&format={output}", key)
            assert status == 200, (mart, output, body)
            texts.append(as_text(body, kind))
    for metric in json.loads(texts[1])["metrics"]:
        by = ",".join(dimension["name"] for dimension in metric["dimensions"])
        for output in ("json", "csv"):
            status, body, kind = api_get(f"{url}/metrics/{metric['name']}?grain=month&by={by}&format={output}", key)
            assert status == 200, (metric["name"], body)
            texts.append(as_text(body, kind))
    return "\n".join(texts)


def test_every_api_endpoint_masks_for_the_business_role_and_not_for_operators(seeded):
    settings = settings_for(seeded.data_dir, **API_ENV)
    with running(create_app(settings, load_keys(settings, KEY_HASHES))) as url:
        business = read_every_endpoint(url, KEYS["biz"])
        assert found(business) == set() and "Q***" in business
        status, body, _ = api_get(f"{url}/marts/dim_customers/rows?customer_email={SEEDED[0][1]}", KEYS["biz"])
        assert status == 200 and json.loads(body)["rows"] == []  # a raw value finds nothing among the hashes
        status, body, _ = api_get(f"{url}/marts/dim_customers/rows?columns=customer_name", KEYS["biz"])
        assert status == 400 and b"customer_name" in body  # removed: not a column for this role
        operator = read_every_endpoint(url, KEYS["ops"])
        assert found(operator) == set(NEEDLES)
        status, body, _ = api_get(f"{url}/marts/dim_customers/rows?customer_email={SEEDED[0][1]}", KEYS["ops"])
        assert status == 200 and [row["customer_name"] for row in json.loads(body)["rows"]] == [SEEDED[0][0]]


def snapshot_text(path: Path) -> str:
    with contextlib.closing(duckdb.connect(str(path), read_only=True)) as con:
        return marts_text(con)


def test_the_reports_snapshot_is_masked_unless_its_role_sees_personal_data(seeded):
    snapshot = write_snapshot(seeded)
    assert found(snapshot_text(snapshot.path)) == set()
    assert found(snapshot.path.read_bytes().decode("latin-1")) == set()
    operator_reports = settings_for(seeded.data_dir, PLATFORM__REPORTS__ROLE="operator")
    assert found(snapshot_text(write_snapshot(operator_reports).path)) == set(NEEDLES)
    write_snapshot(seeded)  # as the other tests found it


def test_a_version_that_does_not_record_its_personal_columns_is_not_shown_masked_and_is_published_again(seeded, tmp_path):
    settings = copy_build(seeded, tmp_path / "data")  # published by a run: its manifest names its loads
    lake, path = Lake(settings), f"{marts_folder(settings)}/{MANIFEST}"
    manifest = json.loads(lake.read_text(path) or "{}")
    for table in manifest["tables"].values():
        del table["personal"]
    lake.write_text_atomic(path, json.dumps(manifest))
    with pytest.raises(PlatformError, match="does not record its personal columns"):
        connect_published(settings, role="business")
    con, _ = connect_published(settings, role="operator")
    con.close()
    api = settings_for(settings.data_dir, **API_ENV)
    with running(create_app(api, load_keys(api, KEY_HASHES))) as url:
        status, body, _ = api_get(f"{url}/marts/dim_customers/rows?limit=1", KEYS["biz"])
        assert status == 503 and json.loads(body)["error"] == "unavailable"
        assert api_get(f"{url}/marts/dim_customers/rows?limit=1", KEYS["ops"])[0] == 200
    assert stages.publish_reason(open_run(settings)) == "the published version does not record its personal columns"
    assert stages.publish(open_run(settings)).reason == "the published version does not record its personal columns"
    assert current_version(settings).personal["dim_customers"]["customer_email"].mask == "hash"
    con, _ = connect_published(settings, role="business")
    con.close()
    assert stages.publish_reason(open_run(settings)) is None


def test_the_hash_salt_comes_from_the_environment_else_from_the_data_folder(tmp_path):
    own = settings_for(tmp_path / "own")
    salt = hash_salt(own)
    assert len(salt) == 64 and hash_salt(own) == salt
    assert (tmp_path / "own" / ".pii-salt").stat().st_mode & 0o777 == 0o600
    given = settings_for(tmp_path / "given", PII_HASH_SALT="pepper" * 8)
    assert hash_salt(given) == "pepper" * 8 and not (tmp_path / "given" / ".pii-salt").exists()
    assert "pepper" not in repr(given)
    select = "SELECT 'zq-pii-canary@example.org' AS email"
    tag = {"email": PersonalColumn("hash", ("shop.customers.email",))}
    hashes = [duckdb.sql(masked_select(select, tag, hash_salt(s))).fetchone()[0] for s in (own, given, given)]
    assert hashes[1] == hashes[2] != hashes[0] and all(len(h) == 16 for h in hashes)
