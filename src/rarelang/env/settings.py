"""The server's settings (`rarelang serve` options); no imports, so that the CLI stays light."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None                # None: no token asked (only sensible on localhost)
    split: str = "test"                     # the split a reset draws from when it names none
    max_attempts: int = 1                   # attempts per episode unless a reset asks for more
    max_attempts_cap: int = 10
    max_sessions: int = 256
    session_ttl_s: float = 300.0            # an idle session is dropped after this
    max_request_bytes: int = 16 << 20       # any request body / WebSocket message
    max_program_bytes: int = 256 << 10      # one program, completion or test file
    max_batch_jobs: int = 4096
    cache_size: int = 20000                 # batch results kept for retried ids
    drain_s: float = 60.0                   # on SIGTERM: finish what is in flight for at most this long
    warm: list[str] = field(default_factory=lambda: ["julia", "r"])   # languages started before /ready

    def limits(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("token", "host", "port")}
