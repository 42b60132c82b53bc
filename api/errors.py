"""How the API answers when it cannot: a status and a JSON body `{"error", "message"}`, never a path or trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.errors import PlatformError

log = logging.getLogger("api")


class ApiError(Exception):
    """An answer other than the data: `status`, a short `code` and a message for the caller."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    """Every failure becomes a JSON error; details of unexpected ones go to the server's log only."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # pydantic's messages name the parameter and the rule; the rejected input is not echoed
        problems = "; ".join(f"{error['loc'][-1]}: {error['msg']}" for error in exc.errors())
        return error_response(400, "bad_request", problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, "not_found", "No such endpoint; /openapi.json lists the endpoints.")
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", "The API is read-only: use GET.", exc.headers)
        return error_response(exc.status_code, "error", HTTPStatus(exc.status_code).phrase, exc.headers)

    @app.exception_handler(PlatformError)
    async def platform_error(request: Request, exc: PlatformError) -> JSONResponse:
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return error_response(503, "unavailable", "The published marts cannot be read right now; the API's log says why.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, "internal", "The request failed inside the API; the API's log has the details.")
