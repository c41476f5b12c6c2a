#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the Vapi webhook fixtures (tests/fixtures/vapi/*.json, `_source` stripped),
# plus a few text turns for `endpointing` and binary resampler inputs for `voice`. Idempotent; needs jq or
# python3. The corpus directories are git-ignored: libFuzzer adds what it finds there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="$here/../tests/fixtures/vapi"
corpus="$here/corpus"

strip() {
    if command -v jq >/dev/null; then
        jq -c 'del(._source)' "$1"
    else
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("_source",None); print(json.dumps(d,separators=(",",":")))' "$1"
    fi
}

for target in message endpointing voice; do
    mkdir -p "$corpus/$target"
done
for file in "$fixtures"/*.json; do
    name="$(basename "$file" .json)"
    strip "$file" >"$corpus/message/$name.json"
done
cp "$corpus/message/call-endpointing-request.json" "$corpus/endpointing/"
cp "$corpus/message/voice-request.json" "$corpus/voice/"

# Text turns for the pure decision: "<assistant>\0<user>" or just "<user>".
printf 'What day works for you?\0Tuesday, um, or maybe' >"$corpus/endpointing/turn-unfinished"
printf 'Can I get your date of birth?\0hold on let me check' >"$corpus/endpointing/turn-hold"
printf 'my number is 555 01' >"$corpus/endpointing/turn-digits"
printf 'Yes, that works. Thanks!' >"$corpus/endpointing/turn-complete"

# Voice requests at the edges of validation.
printf '{"message":{"type":"voice-request","text":"   ","sampleRate":16000}}' >"$corpus/voice/empty-text.json"
printf '{"message":{"type":"voice-request","text":"hi","sampleRate":7999}}' >"$corpus/voice/low-rate.json"
printf '{"message":{"type":"voice-request","text":"hi","sampleRate":48000,"voiceId":"x"}}' >"$corpus/voice/max-rate.json"

# Resampler inputs: [in u16 LE][out u16 LE][flags][samples]; rates map to 8000 + v % 40001.
# 22050 -> 8000 and 16000 -> 48000 as i16 samples, 12000 -> 16000 as raw f32 samples (v = rate - 8000). The
# samples are the bytes of a fixture: deterministic, and noisy enough.
noise="$fixtures/conversation-update.json"
{ printf '\xe2\x36\x00\x00\x04'; head -c 1200 "$noise"; } >"$corpus/voice/resample-22050-8000"
{ printf '\x40\x1f\x40\x9c\x10'; head -c 1200 "$noise"; } >"$corpus/voice/resample-16000-48000"
{ printf '\xa0\x0f\x40\x1f\x01'; head -c 800 "$noise"; } >"$corpus/voice/resample-f32"
echo "seeded: $(ls "$corpus/message" | wc -l) message, $(ls "$corpus/endpointing" | wc -l) endpointing, $(ls "$corpus/voice" | wc -l) voice inputs"
