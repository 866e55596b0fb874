"""The GGUF cache: atomic assembly from chunks, cheap reuse, and detection of damage."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from switchpoint.local import LocalModelUnavailable, missing_local_modules, model_files
from switchpoint.local.model_files import (
    CACHE_DIR_ENV,
    ChunkedModel,
    ModelFileError,
    assemble,
    default_cache_dir,
    file_sha256,
    packaged_model,
)

CHUNK_SIZES = (70_000, 1_200_000, 33)


@pytest.fixture
def fake_model(tmp_path: Path) -> tuple[ChunkedModel, bytes]:
    """Three chunks of pseudo-random bytes, and the file they add up to."""
    chunk_dir = tmp_path / "chunks"
    chunk_dir.mkdir()
    chunks, whole = [], b""
    for index, size in enumerate(CHUNK_SIZES):
        data = hashlib.shake_256(f"chunk-{index}".encode()).digest(size)
        path = chunk_dir / f"model.gguf.part{index:02d}"
        path.write_bytes(data)
        chunks.append(path)
        whole += data
    model = ChunkedModel(filename="model.gguf", chunks=tuple(chunks), sha256=hashlib.sha256(whole).hexdigest())
    return model, whole


def cache_listing(cache: Path) -> list[str]:
    return sorted(path.name for path in cache.iterdir())


def test_assembles_the_concatenation_and_leaves_no_temporary_file(
    fake_model: tuple[ChunkedModel, bytes], tmp_path: Path
) -> None:
    model, whole = fake_model
    cache = tmp_path / "deep" / "cache"
    target = assemble(model, cache)
    assert target == cache / "model.gguf"
    assert target.read_bytes() == whole
    assert cache_listing(cache) == ["model.gguf", "model.gguf.verified.json"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_reuse_neither_rewrites_nor_rehashes(
    fake_model: tuple[ChunkedModel, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = fake_model
    target = assemble(model, tmp_path)
    before = target.stat()

    def forbidden(*_args: object) -> None:
        raise AssertionError("the verified cache entry should have been reused as is")

    monkeypatch.setattr(model_files, "_write_atomically", forbidden)
    monkeypatch.setattr(model_files, "file_sha256", forbidden)
    assert assemble(model, tmp_path) == target
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_intact_file_without_sidecar_is_hashed_once_not_rewritten(
    fake_model: tuple[ChunkedModel, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = fake_model
    target = assemble(model, tmp_path)
    sidecar = tmp_path / "model.gguf.verified.json"
    sidecar.unlink()
    inode = target.stat().st_ino

    def forbidden(*_args: object) -> None:
        raise AssertionError("an intact file must not be rewritten")

    monkeypatch.setattr(model_files, "_write_atomically", forbidden)
    assert assemble(model, tmp_path) == target
    assert target.stat().st_ino == inode
    assert sidecar.is_file()


def test_same_size_corruption_is_caught_and_repaired(fake_model: tuple[ChunkedModel, bytes], tmp_path: Path) -> None:
    model, whole = fake_model
    target = assemble(model, tmp_path)
    damaged = bytearray(whole)
    damaged[1000] ^= 0xFF
    target.write_bytes(bytes(damaged))
    os.utime(target, ns=(1, 1))  # a changed mtime invalidates the sidecar
    assert assemble(model, tmp_path).read_bytes() == whole


def test_wrong_size_file_is_replaced(fake_model: tuple[ChunkedModel, bytes], tmp_path: Path) -> None:
    model, whole = fake_model
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "model.gguf").write_bytes(whole[:-1])
    assert assemble(model, cache).read_bytes() == whole
    assert cache_listing(cache) == ["model.gguf", "model.gguf.verified.json"]


def test_digest_mismatch_raises_and_keeps_nothing(fake_model: tuple[ChunkedModel, bytes], tmp_path: Path) -> None:
    model, _ = fake_model
    wrong = ChunkedModel(filename=model.filename, chunks=model.chunks, sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match="reinstall"):
        assemble(wrong, cache)
    assert cache_listing(cache) == []


def test_missing_chunk_is_named(fake_model: tuple[ChunkedModel, bytes], tmp_path: Path) -> None:
    model, _ = fake_model
    model.chunks[1].unlink()
    with pytest.raises(ModelFileError, match=r"model\.gguf\.part01"):
        assemble(model, tmp_path / "cache")
    assert issubclass(ModelFileError, LocalModelUnavailable)


def test_concurrent_assembly_yields_one_good_file(fake_model: tuple[ChunkedModel, bytes], tmp_path: Path) -> None:
    model, whole = fake_model
    errors: list[BaseException] = []
    cache = tmp_path / "cache"

    def build() -> None:
        try:
            assemble(model, cache)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (cache / "model.gguf").read_bytes() == whole
    assert cache_listing(cache) == ["model.gguf", "model.gguf.verified.json"]


def test_default_cache_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir({}) == tmp_path / "home" / ".cache" / "switchpoint" / "models"
    assert default_cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/switchpoint/models")
    assert default_cache_dir({"XDG_CACHE_HOME": "/xdg", CACHE_DIR_ENV: "/override"}) == Path("/override")
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"


@pytest.mark.skipif(bool(missing_local_modules()), reason="the 'local' extra is not installed")
def test_packaged_model_describes_four_chunks() -> None:
    model = packaged_model()
    assert model.filename.endswith(".gguf")
    assert len(model.chunks) == 4
    assert len(model.sha256) == 64
    assert model.expected_size() > 200_000_000


def test_assembled_default_model_has_the_published_digest(local_model_cache: Path) -> None:
    model = packaged_model()
    target = local_model_cache / model.filename
    assert file_sha256(target) == model.sha256
    with target.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
