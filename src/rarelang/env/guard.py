"""The server's door: the access token and the request-size limit, checked before a request reaches
the application (so a 50 MB body is refused without being parsed, and a wrong token learns nothing).

The token is accepted as ``Authorization: Bearer <token>`` or as a path prefix ``/t/<token>/...``:
OpenEnv's ``EnvClient`` cannot set headers on its WebSocket, but it keeps a path in its base URL
(``EnvClient(base_url="http://host:8000/t/<token>")`` connects to ``ws://host:8000/t/<token>/ws``).
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})       # liveness probes need no token


async def send_json(send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": data})


def error_body(message: str, code: str, **extra: Any) -> dict[str, Any]:
    """Every refusal has this shape: ``{"error": text, "code": CODE, ...}``."""
    return {"error": message, "code": code, **extra}


class Guard:
    def __init__(self, app: ASGIApp, token: str | None, max_request_bytes: int):
        self.app = app
        self.token = token or None
        self.max_request_bytes = int(max_request_bytes)

    def _token_of(self, scope: Scope) -> tuple[str | None, Scope]:
        """The token the request carries, and the scope with a /t/<token> prefix taken off its path."""
        given = None
        path = scope.get("path", "")
        if path.startswith("/t/"):
            given, _, tail = path[3:].partition("/")
            path = "/" + tail
            scope = {**scope, "path": path, "raw_path": path.encode()}
        for k, v in scope.get("headers") or []:
            if k == b"authorization":
                auth = v.decode("latin-1")
                if auth[:7].lower() == "bearer " and given is None:
                    given = auth[7:].strip()
        return given, scope

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        given, scope = self._token_of(scope)
        if self.token and scope["path"] not in OPEN_PATHS and not (
                given is not None and hmac.compare_digest(given.encode(), self.token.encode())):
            if scope["type"] == "websocket":        # refused before the handshake: the client sees HTTP 403
                await send({"type": "websocket.close", "code": 1008, "reason": "wrong or missing token"})
                return
            return await send_json(send, 401, error_body(
                "wrong or missing token: send 'Authorization: Bearer <token>' or use the /t/<token>/ path prefix",
                "UNAUTHORIZED"))
        if scope["type"] == "websocket":              # message sizes: the server's ws_max_size
            return await self.app(scope, receive, send)
        declared = next((v for k, v in scope.get("headers") or [] if k == b"content-length"), None)
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                return await send_json(send, 400, error_body("bad Content-Length", "BAD_REQUEST"))
            if n > self.max_request_bytes:
                return await send_json(send, 413, error_body(
                    f"request body of {n} bytes is over this server's limit of {self.max_request_bytes} bytes",
                    "REQUEST_TOO_LARGE", limit_bytes=self.max_request_bytes))
            return await self.app(scope, receive, send)
        # no declared length (chunked): read up to the limit, then hand the body on
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            size += len(msg.get("body", b""))
            if size > self.max_request_bytes:
                return await send_json(send, 413, error_body(
                    f"request body is over this server's limit of {self.max_request_bytes} bytes",
                    "REQUEST_TOO_LARGE", limit_bytes=self.max_request_bytes))
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)
