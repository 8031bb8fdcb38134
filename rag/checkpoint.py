"""Embedding checkpoint: vectors an ingest has computed but not yet committed, kept on disk so that a
killed ingest resumes where it stopped instead of embedding everything again.

    index/embeddings.partial   one JSON header line (embedder id and dimension), then fixed-size
                               records: SHA-1 of the embedding input (20 bytes), the vector
                               (dim float32), CRC-32 of both (4 bytes)

Records are appended and fsync'd batch by batch. A record torn by a kill, or damaged, fails its
length or CRC check and is not used; a header for another embedder makes the whole file stale. The
file is deleted once a generation holding the vectors is live.
"""
from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np

FILE = "embeddings.partial"
_KEY_BYTES = 20


class Checkpoint:
    def __init__(self, index_dir: Path, embedder_id: str, dim: int) -> None:
        self.path = index_dir / FILE
        self.dim = dim
        self._header = (json.dumps({"embedder": embedder_id, "dim": dim}) + "\n").encode()
        self._record = _KEY_BYTES + 4 * dim + 4
        self._good_bytes = 0  # where the next record goes: after the last whole record (0: start over)

    def load(self) -> dict[str, np.ndarray]:
        """The vectors saved by earlier, interrupted ingests with the same embedder, by key (hex SHA-1)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        if not data.startswith(self._header):
            return {}  # another embedder's vectors, or a damaged header: started afresh on append
        body = len(data) - len(self._header)
        whole = body - body % self._record
        self._good_bytes = len(self._header) + whole
        vectors = {}
        for at in range(len(self._header), self._good_bytes, self._record):
            record = data[at : at + self._record]
            payload, crc = record[:-4], int.from_bytes(record[-4:], "little")
            if zlib.crc32(payload) == crc:
                key = payload[:_KEY_BYTES].hex()
                vectors[key] = np.frombuffer(payload[_KEY_BYTES:], dtype="<f4").astype(np.float32)
        return vectors

    def append(self, keys: list[str], vectors: np.ndarray) -> None:
        """Save one batch durably (written and fsync'd before this returns)."""
        records = bytearray()
        for key, vector in zip(keys, vectors):
            payload = bytes.fromhex(key) + np.asarray(vector, dtype="<f4").tobytes()
            records += payload + zlib.crc32(payload).to_bytes(4, "little")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if self._good_bytes == 0:
                os.ftruncate(fd, 0)
                records = self._header + records
            else:  # drop a torn record left by a kill, so that records stay aligned
                os.ftruncate(fd, self._good_bytes)
            os.lseek(fd, self._good_bytes, os.SEEK_SET)
            os.write(fd, records)
            os.fsync(fd)
            self._good_bytes += len(records)
        finally:
            os.close(fd)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self._good_bytes = 0
