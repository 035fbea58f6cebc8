"""The gate in front of every route: bearer token and request size.

It runs before routing and body parsing, so that a change asked without the
token is answered 401 (or 403 when no token is configured) before anything is
read or written, and a body over the limit is answered 413 without being held
in memory past the limit.

* ``POST`` (every change) needs ``Authorization: Bearer <API_TOKEN>``; with no
  ``API_TOKEN`` configured changes are refused.
* Reads are open unless ``API_READ_TOKEN_REQUIRED`` is set; ``/healthz`` and
  ``/readyz`` stay open for probes.
* Tokens are compared with :func:`hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 1024 * 1024
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Guard:
    """ASGI middleware: authorise by bearer token, then cap the body size."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        read_token_required: bool,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.read_token_required = read_token_required
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._authorise(scope)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = await self._read_body(scope, receive)
        if body is None:
            detail = f"request body is larger than {self.max_body_bytes:,} bytes"
            await _answer(send, 413, "too_large", detail)
            return
        await self.app(scope, _replay(body, receive), send)

    def _authorise(self, scope: Scope) -> tuple[int, str, str, dict[str, str]] | None:
        method, path = scope["method"], scope["path"]
        if path in OPEN_PATHS:
            return None
        needs_token = method not in SAFE_METHODS or (
            self.read_token_required and path.startswith("/api/")
        )
        if not needs_token:
            return None
        if self.token is None:
            detail = (
                "this server accepts no changes: no API_TOKEN is configured; set "
                "API_TOKEN and send it as 'Authorization: Bearer <token>'"
            )
            return 403, "no_token_configured", detail, {}
        presented = _bearer(scope)
        challenge = {"www-authenticate": 'Bearer realm="rulerepo"'}
        if presented is None:
            detail = "this request needs 'Authorization: Bearer <API_TOKEN>'"
            return 401, "unauthenticated", detail, challenge
        if not hmac.compare_digest(presented, self.token):
            return 401, "unauthenticated", "the bearer token is not valid", challenge
        return None

    async def _read_body(self, scope: Scope, receive: Receive) -> list[Message] | None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            return None
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = bytes(value).partition(b" ")
            if scheme.lower() == b"bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], original: Receive) -> Receive:
    """Hand the app the body read so far, then the connection's own messages."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await original()

    return receive


async def _answer(
    send: Send,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    body = json.dumps({"detail": detail, "code": code}).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    logger.info(
        "refused %s request: %s",
        code,
        detail,
        extra={"event": "api.refused"},
    )
    await send(
        {"type": "http.response.start", "status": status, "headers": raw_headers}
    )
    await send({"type": "http.response.body", "body": body})
