"""Write what `headline.sh … bundle` leaves in $OUT: a tar cut in two pieces plus its sha256."""

import hashlib
import io
import tarfile
from pathlib import Path


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    """A tar archive of these members (mode "w:gz" for `headline.sh … pack`'s results-RUN.tgz)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for member, blob in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def write_bundle(d: Path, name: str, members: dict[str, bytes]) -> Path:
    data = tar_bytes(members)
    d.mkdir(parents=True, exist_ok=True)
    half = len(data) // 2
    (d / f"bundle-{name}.tar.part00").write_bytes(data[:half])
    (d / f"bundle-{name}.tar.part01").write_bytes(data[half:])
    (d / f"bundle-{name}.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    return d
