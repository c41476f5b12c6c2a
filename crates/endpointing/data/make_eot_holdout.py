#!/usr/bin/env python3
"""Builds eot_holdout.json from eot_holdout.txt (see the header of that file for the source form).

`python3 make_eot_holdout.py NAME` builds NAME.json from NAME.txt instead (the other hold-out sets, and the
development sets `eot_dev*`, whose note says they are tuned on).

Each line gives one complete turn (label speak) and, for every ` / ` mark, the unfinished turn up to it
(label wait); `hold` and `stop` lines are single turns labelled wait, `ack` lines single turns labelled
speak. Every other line is stored as a transcriber without punctuation returns it (lowercase, punctuation
marks removed, apostrophes kept). Usage: python3 make_eot_holdout.py
"""
import collections
import json
import os
import re
import sys

NAME = sys.argv[1] if len(sys.argv) > 1 else "eot_holdout"
os.chdir(os.path.dirname(os.path.abspath(__file__)))


def bare(text):
    text = re.sub(r"[^\w\s']", " ", text.lower())
    return re.sub(r"\s+", " ", text).strip()


samples = []
line_number = 0
with open(f"{NAME}.txt", encoding="utf-8") as source:
    for line in source:
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        cls, domain, context, text = line.split("|", 3)
        unpunctuated = line_number % 2 == 1
        line_number += 1
        parts = text.split(" / ")
        turns = []
        if cls in ("hold", "stop"):
            assert len(parts) == 1, line
            turns.append((text, "wait"))
        elif cls == "ack":
            assert len(parts) == 1, line
            turns.append((text, "speak"))
        else:
            assert len(parts) > 1, line
            for i in range(1, len(parts)):
                turns.append((" ".join(parts[:i]).rstrip(), "wait"))
            turns.append((" ".join(parts), "speak"))
        for index, (turn, label) in enumerate(turns):
            samples.append({
                "id": f"{domain}-{line_number}-{index + 1}",
                "cls": cls,
                "domain": domain,
                "context": f"Agent: {context}" if context else "",
                "text": bare(turn) if unpunctuated else turn,
                "label": label,
            })

if NAME.startswith("eot_dev"):
    note = ("Switchboard end-of-turn development set: caller turns in many domains, each complete and cut at the "
            "points where callers pause mid-turn. Used to choose the model's data, features and blend. ")
else:
    note = ("Switchboard end-of-turn hold-out set: caller turns in many domains, each complete and cut at the "
            "points where callers pause mid-turn. Never used to train or tune. ")
out = {
    "version": 1,
    "note": note + "speak = the turn is complete, wait = the caller is still speaking or asked the assistant to "
            "wait or stop.",
    "samples": samples,
}
with open(f"{NAME}.json", "w", encoding="utf-8") as sink:
    json.dump(out, sink, indent=1, ensure_ascii=False)
    sink.write("\n")
labels = collections.Counter(s["label"] for s in samples)
no_punct = sum(1 for s in samples if not re.search(r"[^\w\s']", s["text"]))
domains = len({s["domain"] for s in samples})
with_context = sum(1 for s in samples if s["context"])
print(len(samples), dict(labels), "without punctuation:", no_punct, "domains:", domains, "with context:", with_context)
