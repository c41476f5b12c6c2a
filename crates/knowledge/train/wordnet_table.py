#!/usr/bin/env python3
"""Builds `data/related-words.txt`, the table of related words the knowledge base expands queries with.

Usage (from the repository root; Debian's `wordnet-base` package puts WordNet 3.0 in /usr/share/wordnet):

    apt-get install wordnet-base
    python3 crates/knowledge/train/wordnet_table.py /usr/share/wordnet > crates/knowledge/data/related-words.txt

For each common English word (a WordNet lemma that occurs in WordNet's sense-tagged corpus, or an irregular form
of one, such as "teeth" or "whiter"), one line lists the single words WordNet relates to it, in three tiers:

1. the same meaning: the other words of its synsets and its derivationally related forms ("reserve": hold, book;
   "white": whiten, whiteness);
2. a broader or narrower meaning: the words of the hypernyms, hyponyms, similar and see-also synsets, entailments,
   causes and attributes of its synsets;
3. the content words of its synsets' glosses ("weekend": Friday, Sunday).

A regular comparative or superlative of a short adjective ("whiter", "biggest"), which the English stemmer does
not reduce, is a line `form<TAB>=lemma` that shares its lemma's words.

Only a word's commonest senses count (at most SENSES per part of speech), and each tier keeps at most
TIER_LIMIT words, so a word with fifty senses does not drag in half the dictionary. The output is deterministic.
"""

import os
import re
import sys
from collections import OrderedDict

SENSES = 4
TIER_LIMIT = (16, 16, 12)
POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
# Pointers of tier 2: hypernym, instance hypernym, hyponym, instance hyponym, similar to, also see, entailment,
# cause, attribute, verb group, member/part/substance holonyms and meronyms.
BROADER = {"@", "@i", "~", "~i", "&", "^", "*", ">", "=", "$", "#m", "#s", "#p", "%m", "%s", "%p"}
# Derivationally related form and pertainym: the same meaning in another part of speech.
SAME = {"+", "\\"}
WORD = re.compile(r"^[a-z]+$")
# Function words and the generic words glosses are made of; never worth adding to a query.
STOP = set(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either especially etc few for from further
    had has have having he her here hers him his how i if in into is it its itself just less like made make many
    may me more most much must my no nor not now of off often on once one only or other others our out over own
    part particular person people place same several she should so some someone something such than that the
    their them then there these they thing things this those through thus to too two under until up usually use
    used using very was way we were what when where which while who whom why will with within without would you
    your kind state act form type quality one's someone's something's make cause become usual""".split()
)


def read_data(root):
    """synset id -> (words, pointers, gloss); ids are 'pos:offset'."""
    synsets = {}
    for name, pos in POS.items():
        with open(os.path.join(root, f"data.{name}"), encoding="latin-1") as file:
            for line in file:
                if line.startswith("  "):
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                offset, count = fields[0], int(fields[3], 16)
                words = [fields[4 + 2 * i].lower() for i in range(count)]
                at = 4 + 2 * count
                pointer_count = int(fields[at])
                pointers = []
                for i in range(pointer_count):
                    symbol, target, target_pos, source_target = fields[at + 1 + 4 * i : at + 5 + 4 * i]
                    target_pos = "a" if target_pos == "s" else target_pos
                    pointers.append((symbol, f"{target_pos}:{target}", source_target))
                synsets[f"{pos}:{offset}"] = (words, pointers, gloss.strip())
    return synsets


def read_index(root):
    """lemma -> [(synset id, tagged)] commonest sense first per part of speech; and the lemmas in the tagged corpus."""
    senses, common = {}, set()
    for name, pos in POS.items():
        with open(os.path.join(root, f"index.{name}"), encoding="latin-1") as file:
            for line in file:
                if line.startswith("  "):
                    continue
                fields = line.split()
                lemma = fields[0]
                pointer_count = int(fields[3])
                tagged = int(fields[5 + pointer_count])
                offsets = fields[6 + pointer_count :]
                senses.setdefault(lemma, []).extend(f"{pos}:{offset}" for offset in offsets[:SENSES])
                if tagged > 0:
                    common.add(lemma)
    return senses, common


def read_exceptions(root):
    """irregular form -> its lemmas ("teeth" -> ["tooth"])."""
    forms = {}
    for name in POS:
        with open(os.path.join(root, f"{name}.exc"), encoding="latin-1") as file:
            for line in file:
                form, *lemmas = line.split()
                forms.setdefault(form, [])
                forms[form].extend(lemma for lemma in lemmas if lemma not in forms[form])
    return forms


def comparatives(adjective):
    """The regular comparative and superlative of a one-syllable-ish adjective: white -> whiter, whitest."""
    if adjective.endswith("e"):
        return [adjective + "r", adjective + "st"]
    if adjective.endswith("y") and len(adjective) > 2 and adjective[-2] not in "aeiou":
        return [adjective[:-1] + "ier", adjective[:-1] + "iest"]
    vowels = "aeiou"
    if len(adjective) >= 3 and adjective[-1] not in vowels + "wxy" and adjective[-2] in vowels and adjective[-3] not in vowels:
        double = adjective + adjective[-1]
        return [double + "er", double + "est", adjective + "er", adjective + "est"]
    return [adjective + "er", adjective + "est"]


def single(word):
    word = word.lower()
    # Adjective markers such as "(a)" and "(p)".
    word = re.sub(r"\(.*\)$", "", word)
    return word if WORD.match(word) and word not in STOP and len(word) > 2 else None


def related(lemma, senses, synsets):
    tiers = [OrderedDict(), OrderedDict(), OrderedDict()]

    def add(tier, word):
        word = single(word)
        if word and word != lemma:
            tiers[tier].setdefault(word, None)

    for synset in senses.get(lemma, []):
        words, pointers, gloss = synsets[synset]
        for word in words:
            add(0, word)
        # The word's own position in the synset, for its lexical pointers.
        position = next((i + 1 for i, word in enumerate(words) if word == lemma), 0)
        for symbol, target, source_target in pointers:
            source = int(source_target[:2], 16)
            target_word = int(source_target[2:], 16)
            target_words = synsets[target][0]
            if symbol in SAME and source in (0, position):
                chosen = [target_words[target_word - 1]] if target_word else target_words
                for word in chosen:
                    add(0, word)
            elif symbol in BROADER and source == 0:
                for word in target_words:
                    add(1, word)
        definition = gloss.split(";")[0]
        for word in re.findall(r"[A-Za-z]+", definition):
            add(2, word)
    seen = set()
    out = []
    for tier, limit in zip(tiers, TIER_LIMIT):
        words = [word for word in tier if word not in seen][:limit]
        seen.update(words)
        out.append(words)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"
    synsets = read_data(root)
    senses, common = read_index(root)
    exceptions = read_exceptions(root)
    keys = {lemma: [lemma] for lemma in common if single(lemma)}
    # Comparatives and superlatives, which the English stemmer leaves alone ("whiter", "biggest"); other regular
    # inflections ("holds", "reserved") share their lemma's stem already.
    adjectives = {lemma for lemma in common if single(lemma) and any(s.startswith("a:") for s in senses[lemma])}
    aliases = {}
    for lemma in sorted(adjectives):
        if len(lemma) > 6 and not lemma.endswith("y"):
            continue  # long adjectives take "more" and "most"
        for form in comparatives(lemma):
            if form not in keys and form not in exceptions:
                aliases.setdefault(form, lemma)
    for form, lemmas in exceptions.items():
        lemmas = [lemma for lemma in lemmas if lemma in common]
        if single(form) and lemmas and form not in keys:
            keys[form] = lemmas
    print("# Related words from WordNet 3.0 (Princeton University), built by train/wordnet_table.py; see its")
    print("# docstring. WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Used under the WordNet")
    print("# license (https://wordnet.princeton.edu/license-and-commercial-use). Format: word<TAB>same<TAB>broader<TAB>gloss,")
    print("# or word<TAB>=lemma for a comparative or superlative that shares its lemma's line.")
    for key in sorted(keys):
        tiers = [[], [], []]
        for lemma in keys[key]:
            if lemma != key:
                tiers[0].append(lemma)
            for tier, words in enumerate(related(lemma, senses, synsets)):
                tiers[tier].extend(word for word in words if word not in tiers[tier] and word != key)
        if any(tiers):
            print(key + "\t" + "\t".join(" ".join(words) for words in tiers))
    for form in sorted(aliases):
        print(f"{form}\t={aliases[form]}")


if __name__ == "__main__":
    main()
