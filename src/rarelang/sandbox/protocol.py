"""Wire format between the Python side and a language worker.

Request (worker's stdin)::

    JOB <nonce> <style> <timeout_s> <n_code_bytes> <n_test_bytes>\\n<code bytes><test bytes>
    QUIT\\n

Response (the worker's response fd, never the job's stdout): one JSON object per line; the
first is ``{"ready": true, "pid": …, "vmsize_kb": …}``, then one per job, carrying the job's
nonce back.
"""

from __future__ import annotations

import json
import re
from typing import Any

_STYLE = re.compile(r"^[a-z_]+$")


def encode_request(nonce: str, style: str, timeout_s: float, code: str, tests: str) -> bytes:
    if not _STYLE.match(style) or not re.fullmatch(r"[0-9a-f]+", nonce):
        raise ValueError("bad style or nonce")
    c = code.encode("utf-8", errors="replace")
    t = tests.encode("utf-8", errors="replace")
    header = f"JOB {nonce} {style} {float(timeout_s):g} {len(c)} {len(t)}\n".encode()
    return header + c + t


QUIT = b"QUIT\n"


class ProtocolError(RuntimeError):
    pass


def decode_response(line: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(line.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as e:
        raise ProtocolError(f"worker sent a malformed line: {line[:200]!r}") from e
    if not isinstance(obj, dict):
        raise ProtocolError(f"worker sent a non-object: {line[:200]!r}")
    return obj
