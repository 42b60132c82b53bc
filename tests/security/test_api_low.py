"""The API's low-severity side doors, closed; and the injection and traversal attempts that hold, kept holding.

Over real HTTP on loopback, on a copy of the small build's published marts.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.background import running
from api.keys import load_keys
from api.server import create_app
from core import accesslog
from core.settings import Settings
from tests.support.project import settings_for
from tests.test_api import API_ENV, BUSINESS_KEY, KEY_HASHES, LEAKS, OPERATOR_KEY, get

pytestmark = pytest.mark.slow


def published_copy(built, tmp_path: Path, **env: str) -> Settings:
    data_dir = tmp_path / "data"
    if not data_dir.exists():
        shutil.copytree(built[0].lake_root / "curated", data_dir / built[0].lake.root / "curated")
    return settings_for(data_dir, **API_ENV, **env)


@pytest.fixture(scope="module")
def api(built, tmp_path_factory) -> Iterator[tuple[str, Settings]]:
    settings = published_copy(built, tmp_path_factory.mktemp("api-low"))
    with running(create_app(settings, load_keys(settings, KEY_HASHES))) as url:
        yield url, settings


def test_a_huge_offset_is_a_clear_400(api):
    url, _ = api
    reply = get(f"{url}/marts/fct_orders/rows?offset={10**20}", key=BUSINESS_KEY)
    assert reply.status == 400 and reply.json()["error"] == "bad_request" and "offset" in reply.json()["message"]
    assert get(f"{url}/marts/fct_orders/rows?offset={10**15}", key=BUSINESS_KEY).json()["rows"] == []


ATTEMPTS = [
    "/marts/..%2F..%2F..%2Fetc%2Fpasswd/rows",
    "/marts/%2E%2E/rows",
    "/marts/fct_orders;DROP TABLE x/rows",
    "/marts/fct_orders%27%20OR%20%271%27=%271/rows",
    "/marts/read_csv('%2Fetc%2Fpasswd')/rows",
    "/marts/fct_orders/rows?columns=order_id,(SELECT 1)",
    "/marts/fct_orders/rows?order=order_id;DELETE",
    '/marts/fct_orders/rows?order=order_id" DESC, "x',
    "/marts/fct_orders/rows?order_id__eq=1 OR 1=1",
    "/marts/fct_orders/rows?order_id%20OR%201=1=1",
    "/marts/fct_orders/rows?order_status__in=x')) UNION SELECT * FROM read_text('/etc/passwd') --",
    "/marts/fct_orders/rows?version=../../../../etc",
    "/marts/fct_orders/rows?version=20250101T000000000000Z-abcdef",
    "/metrics/revenue?by=customer_city;DROP",
    "/metrics/revenue?where=customer_city=x' OR '1'='1",
    "/metrics/..%2F..%2Fetc%2Fpasswd",
]


@pytest.mark.parametrize("path", ATTEMPTS)
def test_injection_and_traversal_attempts_are_refused_or_harmless(api, path):
    url, _ = api
    reply = get(url + path.replace(" ", "%20"), key=OPERATOR_KEY)
    body = reply.body.decode(errors="replace")
    assert reply.status in (200, 400, 404, 410), (path, reply.status, body)
    assert not any(leak in body for leak in LEAKS) and "root:" not in body, (path, body)
    if reply.status == 200:  # a filter value that is only a value: it matches nothing
        assert all(not any(row.values()) for row in reply.json()["rows"]), (path, body)


def test_requests_without_a_valid_key_are_rate_limited_and_a_burst_is_logged_once(built, tmp_path):
    settings = published_copy(built, tmp_path, PLATFORM__API__RATE_LIMIT_PER_MINUTE="3")
    with running(create_app(settings, load_keys(settings, KEY_HASHES))) as url:
        statuses = [get(f"{url}/marts").status for _ in range(2)] + [get(f"{url}/marts", key="dsk_guess").status for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429, 429, 429]
        limited = get(f"{url}/marts")
        assert limited.status == 429 and int(limited.headers["retry-after"]) >= 1
        assert get(f"{url}/marts", key=BUSINESS_KEY).status == 200  # a valid key has its own allowance
    rows = accesslog.recent(settings.meta_path, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert rows is not None
    refused = rows[rows["status"].isin([401, 429])]
    assert sorted(refused["status"]) == [401, 401, 401, 429]  # the burst of refusals is one row
    assert set(rows["client"]) == {"127.0.0.1"}


def test_the_docs_page_is_off_unless_asked_for_and_the_schema_is_served(built, tmp_path):
    url_settings = published_copy(built, tmp_path)
    with running(create_app(url_settings, load_keys(url_settings, KEY_HASHES))) as url:
        assert get(f"{url}/docs").status == 404
        assert "/marts/{mart}/rows" in get(f"{url}/openapi.json").json()["paths"]
    docs = published_copy(built, tmp_path, PLATFORM__API__DOCS="true")
    with running(create_app(docs, load_keys(docs, KEY_HASHES))) as url:
        assert get(f"{url}/docs").status == 200
