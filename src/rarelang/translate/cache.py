"""Content-addressed, append-only response cache (JSONL; crash-safe: a torn last line is ignored).

Key = sha256 of {backend, model, template version, sampling params, messages}. A re-run, a
resumed run after a crash, or a replay with ``provider: cache`` costs nothing already answered.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any


def cache_key(*, backend: str, model: str, template_version: str, sampling: dict[str, Any],
              messages: list[dict[str, str]]) -> str:
    blob = json.dumps({"backend": backend, "model": model, "template": template_version,
                       "sampling": sampling, "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        if self.path.exists():
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        self._data[rec["key"]] = rec
                    except (json.JSONDecodeError, KeyError, TypeError):
                        self.torn_lines += 1

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> str | None:
        rec = self._data.get(key)
        return None if rec is None else rec["response"]

    def put(self, key: str, response: str, **meta: Any) -> None:
        rec = {"key": key, "response": response, **meta}
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self._lock:
            if key in self._data:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                if f.tell() > 0 and self.torn_lines:
                    f.write("\n")           # never glue a record onto a torn line
                    self.torn_lines = 0
                f.write(line)
                f.flush()
            self._data[key] = rec
