"""Shared fixtures. Sandbox tests run the real interpreters in the real (bwrap) sandbox:
`make setup` installs them; a missing one fails loudly rather than skipping."""

from __future__ import annotations

import os

import pytest

from rarelang.sandbox import SandboxConfig, SandboxPool


def make_pool(**overrides) -> SandboxPool:
    cfg = SandboxConfig(**{"backend": os.environ.get("RARELANG_TEST_BACKEND", "bwrap"), "workers": 2, "timeout_s": 10, "memory_mb": 512,
                           "max_output_bytes": 64 * 1024, **overrides})
    return SandboxPool(cfg)


@pytest.fixture(scope="session")
def pool():
    p = make_pool()
    yield p
    p.close()


@pytest.fixture
def fresh_pool():
    """A pool of its own, for tests that kill or poison workers."""
    p = make_pool(workers=1)
    yield p
    p.close()
