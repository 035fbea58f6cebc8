"""Engine and domain errors as HTTP answers (the only place that maps them).

Every refusal has the same JSON shape, :class:`~api.models.ErrorBody`: a sentence
in ``detail`` naming what is wrong and a stable ``code``. Unknown things are 404,
a state that does not allow the change is 409, input that cannot be accepted is
400 or 422, and an unreachable PostgreSQL or Redis is 503.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.models import ErrorBody
from api.pagination import CursorError
from orchestrator.errors import (
    GraphValidationError,
    OrchestratorError,
    RunFinishedError,
    RunInProgressError,
    RunNotFoundError,
    StepNotFoundError,
    StepNotRetryableError,
    UnknownGraphError,
)
from tasks.alert_actions import AlertNotFoundError, AlertStateError
from tasks.amendments import AmendmentError
from tasks.proposals import ProposalNotFoundError, ProposalStateError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal decided in a route, with its status, code and extra fields."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


# (error class, HTTP status, code); looked up along the raised error's MRO.
MAPPING: tuple[tuple[type[Exception], int, str], ...] = (
    (UnknownGraphError, 404, "unknown_graph"),
    (RunNotFoundError, 404, "run_not_found"),
    (StepNotFoundError, 404, "step_not_found"),
    (AlertNotFoundError, 404, "alert_not_found"),
    (ProposalNotFoundError, 404, "proposal_not_found"),
    (StepNotRetryableError, 409, "step_not_retryable"),
    (RunInProgressError, 409, "run_in_progress"),
    (RunFinishedError, 409, "run_finished"),
    (AlertStateError, 409, "alert_state"),
    (ProposalStateError, 409, "proposal_state"),
    (GraphValidationError, 422, "rejected"),
    (AmendmentError, 422, "rejected"),
    (CursorError, 400, "bad_cursor"),
    (OrchestratorError, 400, "bad_request"),
)
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
# PostgreSQL states of a row or lock held by someone else right now.
BUSY_STATES = frozenset({"55P03", "40P01", "40001"})

DESCRIPTIONS = {
    400: "Malformed request: a bad cursor, or a body that cannot be decoded.",
    401: "Missing or wrong bearer token (reads need it when so configured).",
    403: "Changes are disabled: no API_TOKEN is configured.",
    404: "No such graph, run, step, alert, proposal, rule or norm.",
    409: "The current state does not allow this change.",
    413: "Request body larger than the limit.",
    422: "Invalid input; `errors` lists each problem.",
    503: "PostgreSQL or Redis is unreachable.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the refusals an operation can answer: ``statuses``
    plus those any operation under ``/api`` may give (400 for a body that is
    not even text, 401 when reads need the token, 422, 503)."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]}
        for status in sorted({*statuses, 400, 401, 422, 503})
    }


def error_response(
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = ErrorBody(detail=detail, code=code, **extra)
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status, headers=headers
    )


def _mapped(request: Request, exc: Exception) -> JSONResponse:
    for kind, status, code in MAPPING:
        if isinstance(exc, kind):
            return error_response(status, code, str(exc))
    raise exc


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.detail, **exc.extra)


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "invalid")),
            "type": str(e.get("type", "value_error")),
        }
        for e in exc.errors()
    ]
    detail = "; ".join(
        f"{'.'.join(str(p) for p in i['loc']) or 'request'}: {i['msg']}" for i in items
    )
    return error_response(
        422, "invalid_request", detail or "invalid request", errors=items
    )


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(
        exc.status_code,
        f"http_{exc.status_code}",
        str(exc.detail),
        headers=dict(exc.headers or {}),
    )


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning(
        "a dependency is unreachable: %s",
        type(exc).__name__,
        extra={"event": "api.dependency_unavailable"},
    )
    return error_response(
        503,
        "unavailable",
        f"a backing service is unreachable ({type(exc).__name__}); try again shortly",
    )


def _database(request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL refusals that are not bugs; the transaction rolled back."""
    assert isinstance(exc, DBAPIError)
    if getattr(exc.orig, "sqlstate", None) in BUSY_STATES:
        detail = (
            "what this request changes is busy (a step attempt or another change "
            "holds it); nothing was written, try again when it has finished"
        )
        return error_response(409, "busy", detail)
    if isinstance(exc, DataError):
        # A value the validators let through but PostgreSQL refused.
        logger.warning(
            "database refused a value on %s",
            request.url.path,
            extra={"event": "api.data_error"},
        )
        detail = "a value in the request cannot be stored; nothing was written"
        return error_response(422, "rejected", detail)
    if isinstance(exc, OperationalError | InterfaceError):
        return _unavailable(request, exc)
    raise exc


def install_error_handlers(app: FastAPI) -> None:
    """Answer every known error with an :class:`ErrorBody`."""
    for kind, _status, _code in MAPPING:
        app.add_exception_handler(kind, _mapped)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DBAPIError, _database)
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)
