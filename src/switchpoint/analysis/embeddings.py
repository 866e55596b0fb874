"""Static sentence embeddings in pure Python: a WordPiece tokenizer and an int8 vector table.

The table is a model2vec-style distillation of sentence-transformers/all-MiniLM-L6-v2: every
vocabulary token was passed through the transformer once, offline, and its output vector kept
(reduced by PCA, weighted by token frequency). A sentence vector is the sum of its tokens'
vectors. Each row is packed into one Python integer (a 16-bit field per dimension, offset to be
positive), so summing a sentence's rows is one C-level ``sum`` over big integers, unpacked once
with ``int.to_bytes`` into an ``array``: a dictionary lookup per word and a few microseconds.
See ``scripts/analysis/build_embeddings.py`` and ``artifacts/PROVENANCE.md``.

Artifact (gzip): ``SPEMB1\\n``, a JSON header line (``dims``, ``size``, ``scale``, ``unk``,
``prefix``), the vocabulary (one token per line, in id order), then ``size * dims`` signed bytes.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import sys
import unicodedata
from array import array
from collections.abc import Sequence
from pathlib import Path

__all__ = ["MAX_TOKENS", "StaticEmbedder", "cosine"]

_MAGIC = b"SPEMB1\n"
_ACCENTS = re.compile(r"[\u0300-\u036f]")
_CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")
_WORDS = re.compile(r"\w+|[^\w\s]")
_MAX_WORDS = 96
_MAX_WORD_CHARS = 100
_CACHE_LIMIT = 50_000
_OFFSET = 128  # int8 values + 128 fit a byte; a 16-bit field holds the sum of up to 256 of them
MAX_TOKENS = 255


class StaticEmbedder:
    """Encodes texts into unit vectors. Holds its table and a per-instance word cache."""

    def __init__(self, vocab: Sequence[str], table: array[int], dims: int, *, scale: float = 1.0,
                 unk: str = "[UNK]", prefix: str = "##") -> None:
        if len(table) != len(vocab) * dims:
            raise ValueError(f"table has {len(table)} values, expected {len(vocab)} x {dims}")
        self.dims = dims
        self.scale = scale
        self._ids = {token: i for i, token in enumerate(vocab)}
        self._unk = self._ids.get(unk)
        self._prefix = prefix
        self._table = table
        self._rows: dict[int, int] = {}
        self._word_cache: dict[str, tuple[int, ...]] = {}

    @classmethod
    def load(cls, path: Path) -> StaticEmbedder:
        data = gzip.decompress(path.read_bytes())
        if not data.startswith(_MAGIC):
            raise ValueError(f"{path}: not a static embedding artifact")
        header_end = data.index(b"\n", len(_MAGIC))
        header = json.loads(data[len(_MAGIC) : header_end])
        dims, size = int(header["dims"]), int(header["size"])
        vocab_end = len(data) - size * dims
        vocab = data[header_end + 1 : vocab_end - 1].decode("utf-8").split("\n")
        table: array[int] = array("b")
        table.frombytes(data[vocab_end:])
        return cls(vocab, table, dims, scale=float(header["scale"]), unk=header.get("unk", "[UNK]"),
                   prefix=header.get("prefix", "##"))

    # -- tokenizer ----------------------------------------------------------------------------

    def token_ids(self, text: str) -> list[int]:
        """BERT-uncased WordPiece ids of the first ``_MAX_WORDS`` words of ``text``."""
        text = text[: _MAX_WORDS * 12].lower()
        if not text.isascii():
            text = _ACCENTS.sub("", unicodedata.normalize("NFD", text))
            text = _CJK.sub(r" \1 ", text)
        ids: list[int] = []
        cache = self._word_cache
        for word in _words(text)[:_MAX_WORDS]:
            pieces = cache.get(word)
            if pieces is None:
                pieces = self._wordpiece(word)
                if len(cache) < _CACHE_LIMIT:
                    cache[word] = pieces
            ids.extend(pieces)
        return ids

    def _wordpiece(self, word: str) -> tuple[int, ...]:
        ids = self._ids
        whole = ids.get(word)
        if whole is not None:
            return (whole,)
        if len(word) > _MAX_WORD_CHARS:
            return () if self._unk is None else (self._unk,)
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else self._prefix + word[start:end]
                found = ids.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return () if self._unk is None else (self._unk,)
            pieces.append(found)
            start = end
        return tuple(pieces)

    # -- vectors -------------------------------------------------------------------------------

    def _row(self, token_id: int) -> int:
        """The token's vector packed into one integer: dimension i in bits 16i..16i+15, plus 128."""
        row = self._rows.get(token_id)
        if row is None:
            start = token_id * self.dims
            fields = array("H", [v + _OFFSET for v in self._table[start : start + self.dims]])
            if sys.byteorder == "big":
                fields.byteswap()
            row = int.from_bytes(fields.tobytes(), "little")
            self._rows[token_id] = row
        return row

    def values(self, token_id: int) -> array[int]:
        """The token's int8 vector."""
        start = token_id * self.dims
        return self._table[start : start + self.dims]

    def vector(self, text: str) -> list[int] | None:
        """The (unnormalised) sum of the token vectors of ``text``, or None when no token is known."""
        return self.sum_vectors(self.token_ids(text)[:MAX_TOKENS])

    def sum_vectors(self, ids: Sequence[int]) -> list[int] | None:
        """The sum of the vectors of up to ``MAX_TOKENS`` tokens."""
        if not ids:
            return None
        if len(ids) > MAX_TOKENS:
            raise ValueError(f"at most {MAX_TOKENS} tokens")
        try:  # every row packed already, as is usual in a running process: no method call per token
            total = sum(map(self._rows.__getitem__, ids))
        except KeyError:
            total = sum(map(self._row, ids))
        fields = array("H")
        fields.frombytes(total.to_bytes(2 * self.dims, "little"))
        if sys.byteorder == "big":
            fields.byteswap()
        offset = _OFFSET * len(ids)
        return [v - offset for v in fields]

    def encode(self, text: str) -> list[float] | None:
        """The unit-length sentence vector of ``text``, or None when no token is known."""
        summed = self.vector(text)
        if summed is None:
            return None
        norm = math.hypot(*summed)
        if norm == 0:
            return None
        return [v / norm for v in summed]


def _words(text: str) -> list[str]:
    """Runs of word characters and single other characters (``_WORDS``), the regex run only on the
    white-space-separated chunks that are not one word already (same list, less regex work)."""
    words: list[str] = []
    for chunk in text.split():
        if len(chunk) == 1 or chunk.isalnum():
            words.append(chunk)
        else:
            words += _WORDS.findall(chunk)
    return words


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Dot product of two unit vectors."""
    return sum(map(float.__mul__, a, b))
