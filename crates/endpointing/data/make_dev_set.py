#!/usr/bin/env python3
"""Builds dev_set.json from dev_set.txt (the source form, one utterance per line).

Every other utterance of each class is stored as a transcriber without punctuation returns it: lowercase,
punctuation marks removed (apostrophes and digits kept). Usage: python3 make_dev_set.py [dev_set|holdout_set]
"""
import collections
import json
import os
import re
import sys

os.chdir(os.path.dirname(os.path.abspath(__file__)))

NAME = sys.argv[1] if len(sys.argv) > 1 else "dev_set"
samples = []
seen = collections.Counter()
with open(f"{NAME}.txt", encoding="utf-8") as source:
    for line in source:
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        cls, label, context, text = line.split("|", 3)
        assert label in ("speak", "wait", "unsure"), line
        index = seen[cls]
        seen[cls] += 1
        if index % 2 == 1:
            text = re.sub(r"[^\w\s']", " ", text.lower())
            text = re.sub(r"\s+", " ", text).strip()
        samples.append({
            "id": f"{cls}-{index + 1}",
            "cls": cls,
            "context": f"Agent: {context}" if context else "",
            "text": text,
            "label": label,
        })

out = {
    "version": 1,
    "note": "Switchboard endpointing development set, written for tuning (never the gold set). "
            "Varied domains; every other utterance of each class has no punctuation, as from a transcriber "
            "without it. speak = the user's turn is complete, wait = still speaking, unsure = either is reasonable.",
    "samples": samples,
}
with open(f"{NAME}.json", "w", encoding="utf-8") as sink:
    json.dump(out, sink, indent=1, ensure_ascii=False)
    sink.write("\n")
labels = collections.Counter(s["label"] for s in samples)
bare = sum(1 for s in samples if not re.search(r"[^\w\s']", s["text"]))
print(len(samples), dict(labels), "without punctuation:", bare)
