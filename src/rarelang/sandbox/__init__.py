"""Run a program against its unit tests in Julia or R: isolated, fast, classified honestly.

Public API::

    from rarelang.sandbox import SandboxPool, Job
    with SandboxPool.from_params() as pool:
        outcome = pool.run(Job("julia", code, tests))
"""

from .config import SandboxConfig
from .outcome import STATUSES, Job, Outcome, Status
from .pool import SandboxPool

__all__ = ["Job", "Outcome", "SandboxConfig", "SandboxPool", "STATUSES", "Status"]
