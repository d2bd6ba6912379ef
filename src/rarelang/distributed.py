"""Where this process sits in a multi-process (DDP) launch, from the variables torchrun /
``accelerate launch`` set (no torch import): the sandbox shares a machine's cores out across its
local ranks, and only the main process writes adapters, logs and summaries."""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def rank() -> int:
    return _env_int("RANK", 0)


def world_size() -> int:
    return max(1, _env_int("WORLD_SIZE", 1))


def local_rank() -> int:
    return _env_int("LOCAL_RANK", 0)


def local_world_size() -> int:
    return max(1, _env_int("LOCAL_WORLD_SIZE", 1))


def share(total: int, part: int | None = None, parts: int | None = None) -> int:
    """This local rank's share of ``total`` (cores, workers) when a machine's ``parts`` local ranks
    split it: as even as possible, the first ranks take the remainder, never below 1."""
    part = local_rank() if part is None else part
    parts = local_world_size() if parts is None else parts
    if not 0 <= part < parts:
        raise ValueError(f"local rank {part} outside 0..{parts - 1}")
    return max(1, total // parts + (1 if part < total % parts else 0))
