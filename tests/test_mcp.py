"""The MCP server through the SDK's own client, over streamable HTTP and stdio: keys, masking, versions, the access log."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from api.keys import hash_key
from core import accesslog
from metrics import layer
from publish.reader import connect_published, current_version
from tests.support.project import ROOT, SMALL_SCALE, settings_for
from tests.support.s3server import free_port, wait_until_listening

pytestmark = pytest.mark.slow

BUSINESS_KEY, OPERATOR_KEY = "dsk_business-mcp-key", "dsk_operator-mcp-key"
BUSINESS_MARTS = ["daily_revenue", "dim_customers", "fct_orders"]
ENV = {
    "PLATFORM__API__KEYS": "{agent: business, ops: operator}",
    "PLATFORM__API__MARTS": "{business: [" + ", ".join(BUSINESS_MARTS) + "]}",
    "PLATFORM__DEMO__SCALE": SMALL_SCALE,
    "API_KEY_HASH_AGENT": hash_key(BUSINESS_KEY),
    "API_KEY_HASH_OPS": hash_key(OPERATOR_KEY),
}
FIRST_EMAILS = {"columns": ["customer_id", "customer_email"], "order": ["customer_id"], "limit": 5}
TOOLS = {"list_metrics", "describe_metric", "query_metric", "list_marts", "describe_mart", "read_rows", "pipeline_health"}


def _environ(data_dir, **extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM__", "API_KEY_HASH_", "DUCKSTACK_"))}
    return {**environ, **ENV, "PLATFORM__DATA_DIR": str(data_dir), **extra}


async def _calls(session: ClientSession, calls: list[tuple[str, dict]]) -> list:
    await session.initialize()
    listed = await session.list_tools()
    results = [{tool.name for tool in listed.tools}]
    for name, arguments in calls:
        results.append(await session.call_tool(name, arguments))
    return results


def _json(result) -> dict:
    assert not result.isError, result.content
    return json.loads(result.content[0].text)


def _error(result) -> str:
    """The refusal's own words, as the SDK hands a tool error to the agent."""
    assert result.isError
    return result.content[0].text.split(": ", 1)[1]


def over_http(data_dir, sessions: list[tuple[str | None, list[tuple[str, dict]]]]) -> list[list]:
    """One server; per (key, calls), a client session of its own that sends that key (or none)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mcp_server.cli", "--http", "--port", str(port)],
        cwd=ROOT,
        env=_environ(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_listening(port, timeout=90)

        async def talk(key: str | None, calls: list[tuple[str, dict]]) -> list:
            headers = {"X-API-Key": key} if key else {}
            async with (
                httpx.AsyncClient(headers=headers, timeout=120) as client,
                streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=client) as (read, write, _),
                ClientSession(read, write) as session,
            ):
                return await _calls(session, calls)

        return [anyio.run(talk, key, calls) for key, calls in sessions]
    finally:
        server.terminate()
        server.wait(timeout=30)


def over_stdio(data_dir, key: str, calls: list[tuple[str, dict]]) -> list:
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server.cli"], cwd=str(ROOT), env=_environ(data_dir, DUCKSTACK_API_KEY=key)
    )

    async def talk() -> list:
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            return await _calls(session, calls)

    return anyio.run(talk)


@pytest.fixture(scope="module")
def published(built):
    settings = settings_for(built[0].data_dir, **{k: v for k, v in ENV.items() if k.startswith("PLATFORM__")})
    return settings, current_version(settings).version


def test_over_http_a_business_key_reads_masked_allowed_data_citing_the_version_and_no_key_reads_nothing(published):
    settings, version = published
    first = current_version(settings)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    business, (_, missing), (_, wrong) = over_http(
        settings.data_dir,
        [
            (
                BUSINESS_KEY,
                [
                    ("list_metrics", {}),
                    ("query_metric", {"name": "revenue", "grain": "month", "where": {"order_status": ["delivered", "shipped"]}}),
                    ("read_rows", {"mart": "dim_customers", **FIRST_EMAILS}),
                    ("read_rows", {"mart": "fct_payments"}),
                    ("describe_mart", {"mart": "daily_revenue"}),
                    ("query_metric", {"name": "revenue", "by": ["payment_method"]}),
                ],
            ),
            (None, [("list_marts", {})]),
            ("dsk_not-a-key", [("read_rows", {"mart": "dim_customers"})]),
        ],
    )
    tools, metrics, revenue, emails, payments, described, unknown = business
    assert tools == TOOLS
    listed = _json(metrics)
    assert listed["version"] == version == first.version
    assert {"revenue", "orders", "new_customers"} <= {m["name"] for m in listed["metrics"]}
    assert "amount_paid" not in {m["name"] for m in listed["metrics"]}  # it reads fct_payments, not this key's
    answer = _json(revenue)
    assert answer["version"] == version
    con, _ = connect_published(settings, role="business")
    with contextlib.closing(con):
        expected = layer.run(con, layer.Query(("revenue",), grain="month", where=(("order_status", ("delivered", "shipped")),)))
        firsts = con.execute("SELECT customer_id, customer_email FROM marts.dim_customers ORDER BY customer_id LIMIT 5").fetchall()
    assert [(row["period_start"], row["revenue"]) for row in answer["rows"]] == [
        (row["period_start"].isoformat(), pytest.approx(float(row["revenue"]))) for row in expected.to_dict("records")
    ]
    masked = _json(emails)
    assert masked["personal_values"] == "masked" and masked["version"] == version
    assert [(r["customer_id"], r["customer_email"]) for r in masked["rows"]] == firsts
    assert all("@" not in r["customer_email"] for r in masked["rows"])
    assert _error(payments) == "Key 'agent' (role business) may not read mart 'fct_payments'."
    mart = _json(described)["mart"]
    assert mart["owner"] == "analytics" and mart["grain"] == "revenue_date" and "marts.fct_orders" in mart["upstream"]
    assert {c["name"]: c["description"] for c in mart["columns"]}["count_new_customers"].startswith("Customers whose first order")
    assert _error(unknown) == "by: metric 'revenue' cannot be cut by 'payment_method'; its dimensions are: order_status, customer_city."
    log = accesslog.recent(settings.meta_path, since, channel=accesslog.MCP, principal="agent")
    assert log is not None
    reads = {(row["action"], row["subject"], row["status"]) for row in log.to_dict("records")}
    assert ("tool read_rows", "dim_customers", 200) in reads and ("tool read_rows", "fct_payments", 403) in reads
    assert ("tool query_metric", "revenue", 400) in reads
    read = next(row for row in log.to_dict("records") if row["action"] == "tool read_rows" and row["status"] == 200)
    assert (read["version"], read["client"], read["rows"]) == (version, "127.0.0.1", 5)
    assert not any("delivered" in str(row["detail"]) for row in log.to_dict("records"))  # names, never values
    # Without a valid key, every tool is refused, and the refusal is logged.
    assert "No API key" in _error(missing)
    assert _error(wrong) == "The API key is not valid."
    log = accesslog.recent(settings.meta_path, since, channel=accesslog.MCP)
    assert {(row["principal"], row["status"]) for row in log.to_dict("records")} >= {("(no key)", 401), ("(invalid key)", 401)}


def test_an_operator_key_over_stdio_sees_personal_values_marts_and_pipeline_health(published):
    settings, version = published
    _, emails, marts, health = over_stdio(
        settings.data_dir,
        OPERATOR_KEY,
        [
            ("read_rows", {"mart": "dim_customers", "columns": ["customer_id", "customer_email"], "filters": {"customer_id__lte": "3"}}),
            ("list_marts", {}),
            ("pipeline_health", {}),
        ],
    )
    con, _ = connect_published(settings, role="operator")
    with contextlib.closing(con):
        expected = con.execute("SELECT customer_id, customer_email FROM marts.dim_customers WHERE customer_id <= 3 ORDER BY ALL").fetchall()
    shown = _json(emails)
    assert shown["personal_values"] == "shown" and shown["version"] == version
    assert sorted((r["customer_id"], r["customer_email"]) for r in shown["rows"]) == expected and all("@" in e for _, e in expected)
    listing = _json(marts)
    assert {m["name"] for m in listing["marts"]} >= {"daily_revenue", "fct_payments", "dim_customers"}
    customers = next(m for m in listing["marts"] if m["name"] == "dim_customers")
    assert {c["name"]: c.get("personal") for c in customers["columns"]}["customer_email"] == "hash"
    assert customers["published_at"] == current_version(settings).published_at
    report = _json(health)
    assert report["version"] == version and any(job["job"] == "publish" for job in report["jobs"])
    assert {row["name"] for row in report["freshness"]} >= {"marts.daily_revenue"}
