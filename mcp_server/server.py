"""The MCP server: the tools an agent calls, over stdio or streamable HTTP on loopback.

Over HTTP the caller sends its API key in the `X-API-Key` header of every request; over stdio
the process that starts the server passes it in `DUCKSTACK_API_KEY`. Each tool resolves the
key, does its read (mcp_server/reads.py) and writes one access-log row, answered or refused;
a refusal reaches the agent as a tool error whose text says what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from starlette.concurrency import run_in_threadpool

from mcp_server.reads import Call, Reads, Refused

INSTRUCTIONS = """Read-only access to the published marts and governed metrics of a duckstack data platform.
Start with list_metrics (business numbers, one definition each) or list_marts (tables with their
columns, owner, grain, lineage and freshness). Query a metric with query_metric rather than summing
mart rows yourself: it applies the metric's definition. Every answer names the published version
it came from; cite it. Personal columns are masked unless your key's role may see them."""

Grain = Literal["day", "week", "month", "quarter", "year"]


def create_server(reads: Reads, *, stdio_key: str | None = None, port: int = 8700) -> FastMCP:
    """The tools over `reads`; `stdio_key` is the caller's key when serving stdio (None over HTTP)."""
    server = FastMCP("duckstack", instructions=INSTRUCTIONS, host="127.0.0.1", port=port, stateless_http=True, json_response=True)

    async def serve(tool: str, ctx: Context, read: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        request = ctx.request_context.request
        if request is None:  # stdio: the key the starting process passed
            call, key_text = Call(tool, client="stdio"), stdio_key
        else:
            call = Call(tool, client=request.client.host if request.client else None)
            key_text = request.headers.get("x-api-key")

        def work() -> dict[str, Any]:
            try:
                return read(reads.caller(key_text, call), call)
            except Refused as refusal:
                call.status = refusal.status
                raise
            except Exception:
                call.status = 500
                raise
            finally:
                reads.log(call)

        try:
            return await run_in_threadpool(work)
        except Refused as refusal:
            raise ToolError(str(refusal)) from None

    @server.tool()
    async def list_metrics(ctx: Context) -> dict[str, Any]:
        """The metrics this key may query: name, label, description, format, owner, the day it is dated by, its dimensions."""
        return await serve("list_metrics", ctx, lambda key, call: reads.list_metrics(key, call))

    @server.tool()
    async def describe_metric(name: str, ctx: Context) -> dict[str, Any]:
        """One metric's definition: label, description, format, owner, dimensions and the published marts it reads."""
        return await serve("describe_metric", ctx, lambda key, call: reads.describe_metric(key, name, call))

    @server.tool()
    async def query_metric(
        name: str,
        ctx: Context,
        grain: Grain | None = None,
        by: list[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        where: dict[str, list[str]] | None = None,
    ) -> dict[str, Any]:
        """A metric through the semantic layer: per period (`grain`), cut by dimensions (`by`), between the days
        `start` and `end` (YYYY-MM-DD, both included), keeping only some dimension values (`where`:
        {"customer_city": ["Berlin"]}). Without a period, all published days."""
        return await serve(
            "query_metric",
            ctx,
            lambda key, call: reads.query_metric(key, name, call, grain=grain, by=by, start=start, end=end, where=where),
        )

    @server.tool()
    async def list_marts(ctx: Context) -> dict[str, Any]:
        """The published marts this key may read: columns with types and descriptions (personal ones with their mask),
        description, owner, grain, upstream and downstream models, rows and publish time."""
        return await serve("list_marts", ctx, lambda key, call: reads.list_marts(key, call))

    @server.tool()
    async def describe_mart(mart: str, ctx: Context) -> dict[str, Any]:
        """One published mart, documented as list_marts documents each."""
        return await serve("describe_mart", ctx, lambda key, call: reads.describe_mart(key, mart, call))

    @server.tool()
    async def read_rows(
        mart: str,
        ctx: Context,
        columns: list[str] | None = None,
        filters: dict[str, str] | None = None,
        order: list[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Rows of a mart. `filters` maps `column` or `column__op` (op: eq, ne, gt, gte, lt, lte, in with
        comma-separated values) to a value, e.g. {"order_date__gte": "2025-06-01"}; `order` lists columns,
        `-column` for descending; follow `next_offset` for the next page."""
        return await serve(
            "read_rows",
            ctx,
            lambda key, call: reads.read_rows(key, mart, call, columns=columns, filters=filters, order=order, limit=limit, offset=offset),
        )

    @server.tool()
    async def pipeline_health(ctx: Context) -> dict[str, Any]:
        """The latest run of every pipeline job, how fresh each source and mart is against its SLA, and the open alerts."""
        return await serve("pipeline_health", ctx, lambda key, call: reads.pipeline_health(key, call))

    return server
