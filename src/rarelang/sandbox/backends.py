"""Isolation backends: turn a worker's argv into one that runs inside a sandbox.

* ``bwrap``     — bubblewrap (default here): new user/PID/network/IPC/UTS namespaces (no network
                   at all), read-only system, private /tmp, the worker dir as the only writable
                   place, a new session, non-root uid.
* ``apptainer`` — for HPC: ``apptainer exec --containall --no-home --cleanenv --net --network none``
                   with the worker dir bound in; one image per language (containers/*.def).
* ``none``      — development only: no isolation at all (warns).

Rlimits (CPU, file size, processes, core) are applied by the caller to the launched process
and are inherited by everything inside.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .config import SandboxConfig

if TYPE_CHECKING:
    from ..languages.base import Language, Mount

INSIDE_WORKDIR = "/sandbox"
INSIDE_HARNESS = "/opt/rarelang/harness"


class SandboxUnavailable(RuntimeError):
    """The chosen backend cannot run on this machine."""


class Backend:
    name = "base"
    pid_namespace = False
    isolated = True

    def __init__(self, cfg: SandboxConfig):
        self.cfg = cfg

    def check(self) -> None:
        """Raise SandboxUnavailable with a helpful message if this backend cannot run."""

    def workdir_inside(self, workdir: Path) -> str:
        return INSIDE_WORKDIR

    def harness_inside(self, harness_dir: Path) -> str:
        return INSIDE_HARNESS

    # which interpreter runs a language's programs, and what of the host it needs: the host's own
    # interpreter here (bwrap, none); a container image's in ApptainerBackend
    def interpreter(self, language: "Language") -> str:
        return language.find_interpreter(self.cfg)

    def mounts(self, language: "Language") -> list["Mount"]:
        return language.host_mounts(self.cfg)

    def command(self, argv: list[str], *, workdir: Path, harness_dir: Path, mounts: list["Mount"],
                env: dict[str, str], lang: str) -> list[str]:
        raise NotImplementedError


class BwrapBackend(Backend):
    name = "bwrap"
    pid_namespace = True

    def __init__(self, cfg: SandboxConfig, bwrap: str | None = None):
        super().__init__(cfg)
        self.bwrap = bwrap or shutil.which("bwrap") or "bwrap"

    def check(self) -> None:
        if not shutil.which(self.bwrap):
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed: run `make setup` (Debian package bubblewrap), "
                "or set machine.sandbox_backend to apptainer (HPC) or none (development only)")

    def command(self, argv, *, workdir, harness_dir, mounts, env, lang):
        cmd = [self.bwrap,
               "--unshare-all",            # user, ipc, pid, net, uts, cgroup namespaces
               "--die-with-parent",
               "--new-session",
               "--hostname", "sandbox",
               "--ro-bind", "/usr", "/usr",
               "--ro-bind", "/etc", "/etc"]
        for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            p = Path(d)
            if p.is_symlink():
                cmd += ["--symlink", str(p.readlink()), d]
            elif p.is_dir():
                cmd += ["--ro-bind", d, d]
        for m in mounts:
            cmd += ["--ro-bind", str(m.host), m.inside]
        cmd += ["--ro-bind", str(harness_dir), INSIDE_HARNESS,
                "--proc", "/proc",
                "--dev", "/dev",
                "--tmpfs", "/tmp",
                "--bind", str(workdir), INSIDE_WORKDIR,
                "--chdir", INSIDE_WORKDIR,
                "--clearenv"]
        for k, v in sorted(env.items()):
            cmd += ["--setenv", k, v]
        return cmd + ["--"] + list(argv)


class ApptainerBackend(Backend):
    """Runs the worker in ``apptainer exec``: the HPC path. Cannot run on the dev machine."""

    name = "apptainer"
    pid_namespace = True   # --containall implies --pid

    def __init__(self, cfg: SandboxConfig):
        super().__init__(cfg)
        self.binary = str(cfg.apptainer.get("bin", "apptainer"))

    def interpreter(self, language: "Language") -> str:
        """The image's own interpreter, found on the image's PATH (machine.apptainer.<lang>_bin)."""
        return str(self.cfg.apptainer.get(f"{language.name}_bin", language.default_binary))

    def mounts(self, language: "Language") -> list["Mount"]:
        return []            # the image brings its interpreter and libraries: nothing of the host

    def image(self, lang: str) -> str:
        images = self.cfg.apptainer.get("images") or {}
        if lang not in images:
            raise SandboxUnavailable(f"machine.apptainer.images has no image for {lang!r}")
        return str(images[lang])

    def check(self) -> None:
        if not shutil.which(self.binary):
            raise SandboxUnavailable(
                f"{self.binary!r} not found: the apptainer backend is for HPC nodes with Apptainer; "
                "build the images with `make containers` there, or use machine.sandbox_backend: bwrap")
        for lang, img in (self.cfg.apptainer.get("images") or {}).items():
            if not Path(img).exists():
                raise SandboxUnavailable(f"apptainer image for {lang} not found: {img} (run `make containers`)")

    def command(self, argv, *, workdir, harness_dir, mounts, env, lang):
        cmd = [self.binary, "exec",
               "--containall", "--no-home", "--cleanenv",
               "--net", "--network", "none",
               "--bind", f"{workdir}:{INSIDE_WORKDIR}",
               "--bind", f"{harness_dir}:{INSIDE_HARNESS}:ro",
               "--pwd", INSIDE_WORKDIR]
        for k, v in sorted(env.items()):
            cmd += ["--env", f"{k}={v}"]
        return cmd + [self.image(lang)] + list(argv)


class NoneBackend(Backend):
    """No isolation: the worker runs as this user with full access. Development only."""

    name = "none"
    pid_namespace = False
    isolated = False
    _warned = False

    def check(self) -> None:
        if not NoneBackend._warned:
            warnings.warn("machine.sandbox_backend=none: programs run WITHOUT isolation (no namespace, "
                          "network or filesystem protection). Use it for development only.",
                          RuntimeWarning, stacklevel=3)
            NoneBackend._warned = True

    def workdir_inside(self, workdir: Path) -> str:
        return str(workdir)

    def harness_inside(self, harness_dir: Path) -> str:
        return str(harness_dir)

    def command(self, argv, *, workdir, harness_dir, mounts, env, lang):
        return ["env", "-i"] + [f"{k}={v}" for k, v in sorted(env.items())] + list(argv)


BACKENDS = {"bwrap": BwrapBackend, "apptainer": ApptainerBackend, "none": NoneBackend}


def make_backend(cfg: SandboxConfig) -> Backend:
    try:
        cls = BACKENDS[cfg.backend]
    except KeyError:
        raise ValueError(f"unknown sandbox backend {cfg.backend!r}; choose from {sorted(BACKENDS)}") from None
    return cls(cfg)
