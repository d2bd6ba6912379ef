"""llama.cpp's own tools, as its Python packages ship them: the converter (``convert_hf_to_gguf.py``, with
its ``conversion`` package and its own ``gguf-py``) from the source distribution of the installed
``llama-cpp-python`` (which vendors llama.cpp), and the quantizer (``llama_model_quantize``) through
``llama-cpp-python``'s bindings. Converter, quantizer and loader are then one llama.cpp version.

The converter is unpacked once per version into a cache folder (default ``models/llama.cpp/<version>``);
the source distribution comes through ``pip download`` (pip's cache holds it when the package was built
here). ``$RARELANG_LLAMA_CPP`` or ``--llama-cpp`` may name a llama.cpp checkout to take it from instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

LLAMA_CPP_ENV = "RARELANG_LLAMA_CPP"
CONVERTER = "convert_hf_to_gguf.py"
# what of the vendored llama.cpp the converter needs, and the Qwen2 vocabulary llama.cpp tests its tokenizer
# with (the export's round-trip test builds a tiny Qwen2 model on it)
_WANTED = (CONVERTER, "conversion/", "gguf-py/gguf/", "LICENSE", "models/ggml-vocab-qwen2.gguf")
_INSTALL_HINT = ("llama-cpp-python is not installed: `make setup` installs it (it compiles llama.cpp, ~20 min on "
                 "2 cores, once), or `pip install 'llama-cpp-python>=0.3.36'`")


class LlamaCppMissing(RuntimeError):
    pass


def llama_cpp_version() -> str:
    """The installed llama-cpp-python's version; LlamaCppMissing with how to install it."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("llama-cpp-python")
    except PackageNotFoundError as e:
        raise LlamaCppMissing(_INSTALL_HINT) from e


def _unpack(sdist: Path, dest: Path) -> None:
    """The converter's files of a llama-cpp-python source distribution into ``dest`` (written to a temporary
    folder and renamed: an interrupted unpacking leaves nothing half-made)."""
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        with tarfile.open(sdist) as tar:
            found = 0
            for m in tar.getmembers():
                parts = m.name.split("/", 3)          # llama_cpp_python-X/vendor/llama.cpp/<rel>
                if len(parts) < 4 or parts[1:3] != ["vendor", "llama.cpp"] or not m.isfile():
                    continue
                rel = parts[3]
                if any(rel == w or (w.endswith("/") and rel.startswith(w)) for w in _WANTED):
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(m) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
                    found += 1
        if not (tmp / CONVERTER).exists() or not (tmp / "conversion").is_dir():
            raise FileNotFoundError(f"{sdist.name} holds no vendor/llama.cpp/{CONVERTER} with its conversion package")
        log.info("unpacked llama.cpp's converter (%d files) from %s into %s", found, sdist.name, dest)
        tmp.replace(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tools_dir(cache: Path, llama_cpp: str | os.PathLike | None = None) -> Path:
    """A folder holding llama.cpp's converter: ``llama_cpp`` or ``$RARELANG_LLAMA_CPP`` (a llama.cpp checkout),
    else the one unpacked from the installed llama-cpp-python's source distribution into ``cache/<version>``."""
    given = llama_cpp or os.environ.get(LLAMA_CPP_ENV)
    if given:
        d = Path(given).expanduser()
        if not (d / CONVERTER).exists():
            raise FileNotFoundError(f"{d}: no {CONVERTER} (a llama.cpp checkout holds it at its top level)")
        return d
    version = llama_cpp_version()
    dest = Path(cache) / version
    if (dest / CONVERTER).exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rarelang-sdist-") as tmp:
        log.info("fetching llama-cpp-python %s's source distribution for llama.cpp's converter", version)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={version}", "-d", tmp], check=True)
        sdists = sorted(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if not sdists:
            raise FileNotFoundError(f"pip download of llama-cpp-python=={version} gave no source distribution")
        _unpack(sdists[0], dest)
    return dest


def convert(hf_dir: Path, out: Path, tools: Path, outtype: str = "f16", name: str | None = None) -> Path:
    """A transformers folder → one GGUF file, by llama.cpp's converter (run as its own process, with its own
    ``gguf-py``); written under a temporary name and renamed when whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".partial")
    cmd = [sys.executable, str(Path(tools) / CONVERTER), str(hf_dir), "--outfile", str(part), "--outtype", outtype]
    if name:
        cmd += ["--model-name", name]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not part.exists():
        part.unlink(missing_ok=True)
        raise RuntimeError(f"llama.cpp's converter failed ({' '.join(cmd)}):\n{(r.stderr or r.stdout)[-3000:]}")
    part.replace(out)
    return out


def quantize(src: Path, out: Path, qtype: str = "Q4_K_M", threads: int = 0) -> Path:
    """A GGUF file → a quantized one (``qtype``: a llama.cpp file type such as Q4_K_M, Q5_K_M, Q8_0) by
    llama.cpp's quantizer through llama-cpp-python's bindings; written under a temporary name, renamed when whole."""
    try:
        import llama_cpp
    except ImportError as e:
        raise LlamaCppMissing(_INSTALL_HINT) from e
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}", None)
    if ftype is None:
        known = sorted(k.removeprefix("LLAMA_FTYPE_MOSTLY_") for k in dir(llama_cpp) if k.startswith("LLAMA_FTYPE_MOSTLY_"))
        raise ValueError(f"unknown quantization {qtype!r}; llama.cpp knows: {', '.join(known)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = int(threads)
    part = out.with_name(out.name + ".partial")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(part).encode(), params)
    if rc != 0 or not part.exists():
        part.unlink(missing_ok=True)
        raise RuntimeError(f"llama.cpp's quantizer failed on {src} → {qtype} (return code {rc})")
    part.replace(out)
    return out
