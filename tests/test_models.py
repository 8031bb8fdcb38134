"""The packaged model cache (rag/models.py) on a small model made of temp part packages: assembled
once, its checksum verified once and recorded, a damaged cache detected and assembled again."""
from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest

from rag import models
from rag.errors import BackendError
from rag.models import PackagedModel, assemble

PARTS = [os.urandom(3000), os.urandom(2000), os.urandom(1000)]


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    """A PackagedModel whose parts are three importable packages (fakemodel_part1..3) in tmp_path,
    laid out like the real weight packages: each one's get_part_path() names its part file."""
    packages = tmp_path / "site"
    for i, data in enumerate(PARTS, 1):
        pkg = packages / f"fakemodel_part{i}"
        pkg.mkdir(parents=True)
        (pkg / "part.bin").write_bytes(data)
        (pkg / "__init__.py").write_text(
            "from pathlib import Path\n\ndef get_part_path():\n    return Path(__file__).with_name('part.bin')\n")
        monkeypatch.delitem(sys.modules, f"fakemodel_part{i}", raising=False)  # another test's copy
    monkeypatch.syspath_prepend(str(packages))
    whole = b"".join(PARTS)
    return PackagedModel("fake-model", "fakemodel_part", len(PARTS), len(whole), hashlib.sha256(whole).hexdigest())


@pytest.fixture
def hashes(monkeypatch):
    """Counts the whole-file checksums of a cached GGUF."""
    calls = []
    real = models._sha256

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(models, "_sha256", counting)
    return calls


def _marker(target):
    return json.loads(target.with_name(target.name + ".verified").read_text())


def _remove_parts(tmp_path):
    for i in range(1, len(PARTS) + 1):
        (tmp_path / "site" / f"fakemodel_part{i}" / "part.bin").unlink()


def test_assembles_the_parts_and_records_the_verified_checksum(packaged, tmp_path, hashes):
    target = assemble(packaged, tmp_path / "cache")
    assert target.read_bytes() == b"".join(PARTS)
    stat = target.stat()
    assert _marker(target) == {"size": packaged.size, "mtime_ns": stat.st_mtime_ns, "sha256": packaged.sha256}
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["fake-model.gguf", "fake-model.gguf.verified"]

    _remove_parts(tmp_path)  # a verified cache needs neither the parts nor another checksum
    assert assemble(packaged, tmp_path / "cache") == target
    assert hashes == []


def test_a_flipped_byte_of_the_same_size_is_detected_and_assembled_again(packaged, tmp_path, hashes):
    target = assemble(packaged, tmp_path / "cache")
    data = bytearray(target.read_bytes())
    data[1234] ^= 0xFF
    target.write_bytes(bytes(data))
    assert target.stat().st_size == packaged.size

    assert assemble(packaged, tmp_path / "cache") == target
    assert target.read_bytes() == b"".join(PARTS), "the damaged cache must be replaced"
    assert len(hashes) == 1 and _marker(target)["mtime_ns"] == target.stat().st_mtime_ns


def test_a_cache_from_before_the_marker_is_checked_once_then_trusted(packaged, tmp_path, hashes):
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / "fake-model.gguf"
    target.write_bytes(b"".join(PARTS))
    _remove_parts(tmp_path)  # nothing to assemble from: the file itself must be verified

    assert assemble(packaged, cache) == target and len(hashes) == 1
    assert _marker(target)["sha256"] == packaged.sha256
    assert assemble(packaged, cache) == target and len(hashes) == 1


def test_a_broken_marker_is_not_trusted(packaged, tmp_path, hashes):
    target = assemble(packaged, tmp_path / "cache")
    data = bytearray(target.read_bytes())
    data[0] ^= 0xFF
    target.write_bytes(bytes(data))
    marker = target.with_name(target.name + ".verified")
    marker.write_text(json.dumps({**_marker(target), "mtime_ns": target.stat().st_mtime_ns}) + "}{")  # not JSON
    assert assemble(packaged, tmp_path / "cache").read_bytes() == b"".join(PARTS)


def test_parts_that_do_not_match_the_checksum_leave_no_file_and_say_what_to_do(packaged, tmp_path):
    wrong = PackagedModel(packaged.name, packaged.package_prefix, packaged.parts, packaged.size, "0" * 64)
    with pytest.raises(BackendError, match="does not match its checksum.*reinstall the weight packages"):
        assemble(wrong, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_missing_part_package_names_the_pip_package(packaged, tmp_path):
    missing = PackagedModel(packaged.name, "absentmodel_part", 2, packaged.size, packaged.sha256)
    with pytest.raises(BackendError, match="absentmodel-part1 is not installed"):
        assemble(missing, tmp_path / "cache")
