#!/usr/bin/env python3
"""Trains the text end-of-turn models of the endpointing crate and writes their weights.

Data (all from package registries, nothing downloaded at run time):
- the `chatterbot-corpus` PyPI package (BSD-3-Clause): short dialogues, each line a complete turn answering
  the line before it;
- `phone_calls.txt` beside this script: phone-call templates (bookings, billing, repairs, dictation-free
  requests, confirmations, hesitations), expanded with a fixed seed.

Every complete turn is kept (label 1) and cut at up to three word boundaries into unfinished turns (label 0).
Each example is stored twice: as written and as a transcriber without punctuation returns it. The model is a
logistic regression over hashed features (see `features`), mirrored exactly by `src/model.rs`; the weights are
written as `model/eot-<lang>.bin` (little-endian: magic `SBEOT1\0\0`, u32 hash bits, f32 bias, f32 weights).

Run through `train.sh` (one command: venv under target/, pinned packages, this script). Deterministic: the
same packages and seed give byte-identical weights.
"""
import argparse
import json
import os
import random
import re
import struct
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent
MODEL_DIR = CRATE / "model"
HASH_BITS = 18
MAGIC = b"SBEOT1\0\0"
SEED = 14
CUTS_PER_TURN = 3
EXPANSIONS = 30
# Only English has a model so far; Spanish decisions use the Spanish cues (src/spanish.rs).
CORPUS_LANGUAGE = {"en": "english"}
# Corpus files that are not conversation: code listings, quiz answers cut to one word.
SKIPPED_CORPUS_FILES = {"coding", "trivia"}
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF


# Turns whose logits are written beside the weights, so the Rust side can check it computes the same thing.
PROBES = {
    "en": [
        (None, "Could you help me look up"),
        (None, "My package still hasnt"),
        (None, "My package still hasn't arrived."),
        ("What day works for you?", "tuesday works"),
        ("How can I help?", "I was hoping to get some"),
        (None, "Thanks so much!"),
        ("", "um so I wanted to ask about the"),
        (None, "It’s the one on the left... I think"),
    ],
}


def fnv1a(text):
    h = FNV_OFFSET
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


def normalize(text):
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def words(lower):
    spaced = "".join(c if (c.isalnum() or c == "'") else " " for c in lower)
    return [w for w in (w.strip("'") for w in spaced.split()) if w]


def ending(lower):
    t = lower.rstrip(" \t\r\n\"')\u201d\u2019")
    if t.endswith("...") or t.endswith("\u2026"):
        return "ellipsis"
    if t.endswith("?"):
        return "question"
    if t.endswith(".") or t.endswith("!"):
        return "stop"
    if t.endswith((",", ";", ":")):
        return "comma"
    if t.endswith(("-", "\u2014", "\u2013")):
        return "dash"
    return "none"


def features(user, assistant):
    """The feature strings of a turn. `src/model.rs` hashes exactly these, in any order."""
    lower = normalize(user)
    w = [x.replace("'", "") for x in words(lower)]
    w = [x for x in w if x]
    if not w:
        return []
    n = len(w)
    e = ending(lower)
    if assistant is None or not assistant.strip():
        cq = "-"
    else:
        cq = "1" if assistant.rstrip().endswith("?") else "0"
    out = [
        "e=" + e,
        "w1=" + w[-1],
        "w2=" + (w[-2] if n >= 2 else "^"),
        "b=" + (w[-2] if n >= 2 else "^") + " " + w[-1],
        "f=" + w[0],
        "n=" + str(min(n, 12)),
        "cq=" + cq,
        "cqn=" + cq + str(min(n, 6)),
        "ew1=" + e + " " + w[-1],
    ]
    if n >= 3:
        out.append("t=" + " ".join(w[-3:]))
    if n >= 2:
        out.append("fb=" + w[0] + " " + w[1])
        # The first word with the last: a question or request opener against where it stopped (`how ... take`).
        out.append("fl=" + w[0] + " " + w[-1])
    return out


def bare(text):
    text = re.sub(r"[^\w\s']", " ", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def corpus_turns(language):
    """(assistant, user) pairs from the chatterbot corpus: each line answers the one before it."""
    import yaml
    import chatterbot_corpus

    root = Path(chatterbot_corpus.__file__).resolve().parent / "data" / CORPUS_LANGUAGE[language]
    pairs = []
    for path in sorted(root.glob("*.yml")):
        if path.stem in SKIPPED_CORPUS_FILES:
            continue
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        for conversation in data.get("conversations") or []:
            previous = None
            for line in conversation:
                if not isinstance(line, str):
                    previous = None
                    continue
                line = " ".join(line.split())
                # Spoken-like lines only: no code, no one-letter lines, nothing a caller would not say.
                spoken = 2 <= len(line) <= 160 and not re.search(r"[`{}<>=_#*\[\]]", line)
                if spoken and len(line.split()) <= 25:
                    pairs.append((previous, line))
                previous = line
    return pairs


SLOT = re.compile(r"@([A-Z]+)")
CHOICE = re.compile(r"\{([^{}]*)\}")


def template_turns(path, rng):
    slots, pairs = {}, []
    templates = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("@") and " = " in line:
            name, values = line[1:].split(" = ", 1)
            slots[name.strip()] = values.split("|")
            continue
        context, _, turn = line.rpartition(">>")
        templates.append((context.strip() or None, turn.strip()))
    for context, turn in templates:
        seen = set()
        for _ in range(EXPANSIONS):
            text = SLOT.sub(lambda m: rng.choice(slots[m.group(1)]), turn)
            text = CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), text)
            text = " ".join(text.split()).replace(" .", ".").replace(" ?", "?").replace(" ,", ",")
            text = text[0].upper() + text[1:]
            if text not in seen:
                seen.add(text)
                pairs.append((context, text))
    return pairs


def examples(pairs, rng, cuts_per_turn=CUTS_PER_TURN):
    out = []
    for context, turn in pairs:
        for variant in (turn, bare(turn)):
            w = variant.split()
            if not w:
                continue
            out.append((context, variant, 1))
            cuts = list(range(1, len(w)))
            rng.shuffle(cuts)
            for k in cuts[:cuts_per_turn]:
                prefix = " ".join(w[:k]).rstrip(".!?")
                if prefix:
                    out.append((context, prefix, 0))
    return out


def matrix(rows, buckets):
    cache = {}
    indptr, indices = [0], []
    for context, text, *_ in rows:
        cols = set()
        for f in features(text, context):
            h = cache.get(f)
            if h is None:
                h = cache[f] = fnv1a(f) & (buckets - 1)
            cols.add(h)
        indices.extend(sorted(cols))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    return sp.csr_matrix((data, np.array(indices), np.array(indptr)), shape=(len(rows), buckets)), len(cache)


def dev_check(model, buckets, language):
    """Model-only accuracy on the development sets (never a hold-out set)."""
    if language != "en":
        return {}
    scores = {}
    for name in ("dev_set", "eot_dev2"):
        dev = json.loads((CRATE / "data" / f"{name}.json").read_text(encoding="utf-8"))["samples"]
        rows = []
        for s in dev:
            if s["label"] == "unsure":
                continue
            context = re.sub(r"^Agent:\s*", "", s.get("context") or "") or None
            rows.append((context, s["text"], 1 if s["label"] == "speak" else 0))
        x, _ = matrix(rows, buckets)
        y = np.array([r[2] for r in rows])
        p = model.decision_function(x)
        # Ranking quality (AUC: a complete turn scores above an unfinished one) is what the blend's threshold
        # can use; accuracy at 0.5 depends on the prior.
        pos, neg = p[y == 1], p[y == 0]
        auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
        scores[name] = (round(float((model.predict(x) == y).mean()), 3), round(auc, 3))
    return scores


def write_validation(pairs, language, rng):
    """The validation split as a labelled set (the eval format): each turn complete, and cut once."""
    samples = []
    for i, (context, turn) in enumerate(pairs):
        text = bare(turn) if i % 2 else turn
        w = text.split()
        samples.append({"id": f"v{i}-c", "cls": "complete", "context": context or "", "text": text, "label": "speak"})
        if len(w) >= 2:
            k = rng.randrange(1, len(w))
            prefix = " ".join(w[:k]).rstrip(".!?")
            samples.append({"id": f"v{i}-u", "cls": "cut", "context": context or "", "text": prefix, "label": "wait"})
    for s in samples:
        if language != "en":
            s["language"] = language
    out = CRATE / "data" / f"eot_valid_{language}.json"
    note = ("Validation split of the end-of-turn training data (turns never trained on), for tuning how the "
            "model blends with the cues. Written by train/train.py.")
    with open(out, "w", encoding="utf-8") as sink:
        json.dump({"version": 1, "note": note, "samples": samples}, sink, indent=1, ensure_ascii=False)
        sink.write("\n")
    return len(samples)


def train(language, c_value, cuts_per_turn=CUTS_PER_TURN, bits=HASH_BITS):
    rng = random.Random(SEED)
    pairs = corpus_turns(language)
    source = HERE / "phone_calls.txt"
    if source.exists():
        pairs += template_turns(source, rng)
    # One turn in ten (by a hash of its text, so the split is stable) is kept out of training for validation.
    pairs = list(dict.fromkeys(pairs))
    valid = [p for p in pairs if fnv1a(p[1]) % 10 == 0]
    pairs = [p for p in pairs if fnv1a(p[1]) % 10 != 0]
    valid_count = write_validation(valid, language, rng)
    rows = examples(pairs, rng, cuts_per_turn)
    buckets = 1 << bits
    x, distinct = matrix(rows, buckets)
    y = np.array([r[2] for r in rows])
    model = LogisticRegression(C=c_value, solver="liblinear", class_weight="balanced", max_iter=200)
    model.fit(x, y)
    weights = model.coef_[0].astype("<f4")
    bias = float(model.intercept_[0])
    MODEL_DIR.mkdir(exist_ok=True)
    out = MODEL_DIR / f"eot-{language}.bin"
    with open(out, "wb") as sink:
        sink.write(MAGIC)
        sink.write(struct.pack("<I", bits))
        sink.write(struct.pack("<f", bias))
        sink.write(weights.tobytes())
    probe_rows = [(c, t, 0) for c, t in PROBES[language]]
    px, _ = matrix(probe_rows, buckets)
    probes = [
        {"context": c, "text": t, "logit": round(float(v), 5)}
        for (c, t), v in zip(PROBES[language], model.decision_function(px))
    ]
    with open(MODEL_DIR / f"eot-{language}.probe.json", "w", encoding="utf-8") as sink:
        json.dump(probes, sink, indent=1, ensure_ascii=False)
        sink.write("\n")
    accuracy = float((model.predict(x) == y).mean())
    print(
        f"{language}: {len(pairs)} complete turns, {len(rows)} examples ({int(y.sum())} complete), "
        f"{distinct} distinct features, {valid_count} validation turns, train accuracy {accuracy:.3f}, dev (accuracy, AUC) {dev_check(model, buckets, language)}, "
        f"wrote {out.relative_to(CRATE)} ({out.stat().st_size} bytes)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="en")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularization strength")
    parser.add_argument("--cuts", type=int, default=CUTS_PER_TURN, help="unfinished cuts per complete turn")
    parser.add_argument("--bits", type=int, default=HASH_BITS, help="hash bits (2^bits weights)")
    args = parser.parse_args()
    for language in args.languages.split(","):
        train(language, args.c, args.cuts, args.bits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
