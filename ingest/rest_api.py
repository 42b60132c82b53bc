"""REST API sources, configured rather than coded: dlt's `rest_api` built from a source declaration.

Pagination (page number, offset, cursor), auth from an environment secret, an
incremental query parameter (dlt keeps the highest cursor value seen) and retries:
429 and 5xx responses and connection errors are retried with exponential backoff,
honouring `Retry-After`, up to `max_attempts` tries per request.
"""

from __future__ import annotations

from typing import Any, cast

from core.settings import Settings
from core.settings_sources import EndpointSettings, PaginatorSettings, RestApiSource


def endpoint_resources(settings: Settings, name: str) -> list:
    """One dlt resource per declared endpoint."""
    from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources

    # A plain dict built from the validated declaration; dlt checks it against RESTAPIConfig again.
    config = cast(RESTAPIConfig, rest_api_config(settings, settings.source_of_kind(name, RestApiSource)))
    return rest_api_resources(config)


def rest_api_config(settings: Settings, source: RestApiSource) -> dict[str, Any]:
    """The declaration in dlt's RESTAPIConfig form (secrets filled in from the settings)."""
    from dlt.sources.helpers.requests import Client

    http = Client(
        request_timeout=source.timeout_seconds,
        request_max_attempts=source.max_attempts,
        request_backoff_factor=source.backoff_seconds,
        request_max_retry_delay=source.max_retry_delay_seconds,
        raise_for_status=True,
    )
    client: dict[str, Any] = {
        "base_url": source.base_url,
        "paginator": paginator(source.paginator),
        "session": http.session,
    }
    if source.auth is not None:
        token = settings.secret(source.auth.token_env)
        if source.auth.type == "bearer":
            client["auth"] = {"type": "bearer", "token": token}
        else:
            client["auth"] = {"type": "api_key", "name": source.auth.header, "api_key": token, "location": "header"}
    return {"client": client, "resources": [_resource(table, spec) for table, spec in source.endpoints.items()]}


def _resource(table: str, spec: EndpointSettings) -> dict[str, Any]:
    params: dict[str, Any] = dict(spec.params)
    if spec.incremental is not None:
        params[spec.incremental.param] = {
            "type": "incremental",
            "cursor_path": spec.incremental.cursor_path,
            "initial_value": spec.incremental.initial_value,
        }
    endpoint: dict[str, Any] = {"path": spec.path, "params": params}
    if spec.data_selector:
        endpoint["data_selector"] = spec.data_selector
    if spec.paginator is not None:
        endpoint["paginator"] = paginator(spec.paginator)
    return {
        "name": table,
        "primary_key": spec.primary_key,
        "write_disposition": spec.write_disposition,
        "endpoint": endpoint,
    }


def paginator(spec: PaginatorSettings) -> dict[str, Any]:
    if spec.type == "page_number":
        return {"type": "page_number", "page_param": spec.page_param, "base_page": spec.base_page, "total_path": spec.total_path}
    if spec.type == "offset":
        return {
            "type": "offset",
            "limit": spec.limit,
            "offset_param": spec.offset_param,
            "limit_param": spec.limit_param,
            "total_path": spec.total_path,
        }
    if spec.type == "cursor":
        return {"type": "cursor", "cursor_path": spec.cursor_path, "cursor_param": spec.cursor_param}
    return {"type": "single_page"}
