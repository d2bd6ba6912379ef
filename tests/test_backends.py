import warnings
from pathlib import Path

import pytest

from rarelang.languages import get_language
from rarelang.languages.base import HARNESS_DIR, Mount
from rarelang.sandbox.backends import (INSIDE_HARNESS, INSIDE_WORKDIR, ApptainerBackend, BwrapBackend,
                                       NoneBackend, SandboxUnavailable, make_backend)
from rarelang.sandbox.config import SandboxConfig


def _cmd(backend, lang="julia"):
    return backend.command(["julia", "worker.jl"], workdir=Path("/tmp/w1"), harness_dir=HARNESS_DIR,
                           mounts=[Mount(Path("/opt/julia-1.5.3"), "/opt/julia-1.5.3")],
                           env={"HOME": "/sandbox", "A": "1"}, lang=lang)


def _pairs(cmd, flag):
    return [tuple(cmd[i + 1:i + 3]) for i, x in enumerate(cmd) if x == flag]


def test_apptainer_command_is_contained_and_offline():
    cfg = SandboxConfig(backend="apptainer", apptainer={"bin": "apptainer",
                                                        "images": {"julia": "/img/julia.sif", "r": "/img/r.sif"}})
    cmd = _cmd(ApptainerBackend(cfg))
    assert cmd[:2] == ["apptainer", "exec"]
    for flag in ("--containall", "--no-home", "--cleanenv", "--net"):
        assert flag in cmd
    assert cmd[cmd.index("--network") + 1] == "none"
    assert f"/tmp/w1:{INSIDE_WORKDIR}" in cmd
    assert f"{HARNESS_DIR}:{INSIDE_HARNESS}:ro" in cmd
    assert cmd[cmd.index("--pwd") + 1] == INSIDE_WORKDIR
    assert "HOME=/sandbox" in cmd and "A=1" in cmd
    # image right before the program; program unchanged
    assert cmd[-3:] == ["/img/julia.sif", "julia", "worker.jl"]
    assert _cmd(ApptainerBackend(cfg), lang="r")[-3] == "/img/r.sif"


def test_apptainer_uses_the_images_interpreter_not_the_hosts():
    cfg = SandboxConfig(backend="apptainer")
    backend = ApptainerBackend(cfg)
    assert backend.interpreter(get_language("julia")) == "julia"
    assert backend.interpreter(get_language("r")) == "Rscript"
    assert backend.mounts(get_language("julia")) == []
    # the host's interpreter and its prefix under bwrap (the image's under apptainer, above)
    host = BwrapBackend(SandboxConfig())
    julia = get_language("julia")
    assert host.interpreter(julia) == julia.find_interpreter(host.cfg) and host.interpreter(julia) != "julia"
    assert host.mounts(julia) == julia.host_mounts(host.cfg)


def test_apptainer_missing_binary_or_image_explains():
    cfg = SandboxConfig(backend="apptainer", apptainer={"bin": "definitely-not-apptainer-xyz", "images": {}})
    with pytest.raises(SandboxUnavailable, match="HPC"):
        ApptainerBackend(cfg).check()
    with pytest.raises(SandboxUnavailable, match="no image"):
        ApptainerBackend(cfg).image("julia")


def test_bwrap_command_isolates():
    cmd = _cmd(BwrapBackend(SandboxConfig()))
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in cmd
    assert "--share-net" not in cmd
    assert ("/usr", "/usr") in _pairs(cmd, "--ro-bind")
    assert ("/opt/julia-1.5.3", "/opt/julia-1.5.3") in _pairs(cmd, "--ro-bind")
    assert (str(HARNESS_DIR), INSIDE_HARNESS) in _pairs(cmd, "--ro-bind")
    assert ("/tmp/w1", INSIDE_WORKDIR) in _pairs(cmd, "--bind")   # the only writable bind
    assert len(_pairs(cmd, "--bind")) == 1
    assert cmd[cmd.index("--tmpfs") + 1] == "/tmp"
    assert cmd[-3:] == ["--", "julia", "worker.jl"]


def test_none_backend_warns():
    NoneBackend._warned = False
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        NoneBackend(SandboxConfig(backend="none")).check()
    assert any("WITHOUT isolation" in str(x.message) for x in w)


def test_make_backend_and_bad_names():
    assert isinstance(make_backend(SandboxConfig()), BwrapBackend)
    with pytest.raises(ValueError):
        SandboxConfig(backend="docker")


def test_language_env_and_extra_binds_reach_the_sandbox():
    cfg = SandboxConfig(extra_binds=["/opt/rdeb"], r={"bin": "auto", "env": {"LD_LIBRARY_PATH": "/opt/rdeb/lib"}})
    backend = BwrapBackend(cfg)
    lang = get_language("r")
    env = lang.env(cfg, "/sandbox")
    assert env["LD_LIBRARY_PATH"] == "/opt/rdeb/lib" and env["R_LIBS_USER"] == "/nonexistent"
    mounts = backend.mounts(lang)
    cmd = backend.command(["Rscript"], workdir=Path("/tmp/w"), harness_dir=HARNESS_DIR, mounts=mounts, env=env, lang="r")
    assert ("/opt/rdeb", "/opt/rdeb") in _pairs(cmd, "--ro-bind")
    assert ("LD_LIBRARY_PATH", "/opt/rdeb/lib") in _pairs(cmd, "--setenv")
