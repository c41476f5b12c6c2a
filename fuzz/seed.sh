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

for target in message endpointing voice edge; do
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
# HTTP edge: [mode byte][raw HTTP/1.1 bytes]. Mode 0 = x-vapi-secret, 1 = bearer, 2 = HMAC (see the target's
# header for the credentials). Every fixture posted with each credential, plus admin, mounted, chunked,
# pipelined and unauthenticated requests.
python3 - "$corpus/message" "$corpus/edge" <<'PY'
import hashlib, hmac, os, sys
messages, out = sys.argv[1], sys.argv[2]
def request(mode, body, path="/webhook", method="POST", extra=""):
    auth = [
        "x-vapi-secret: fuzz-secret\r\n",
        "authorization: Bearer fuzz-token\r\n",
        "x-timestamp: 1700000000\r\nx-signature: "
        + hmac.new(b"fuzz-key", b"1700000000." + body, hashlib.sha256).hexdigest() + "\r\n",
    ][mode]
    head = f"{method} {path} HTTP/1.1\r\nhost: sb.example.com\r\n{auth}{extra}content-type: application/json\r\n"
    return head.encode() + f"content-length: {len(body)}\r\n\r\n".encode() + body
def write(name, mode, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([mode]) + data)
for file in sorted(os.listdir(messages)):
    body = open(os.path.join(messages, file), "rb").read().strip()
    for mode in range(3):
        write(f"{file}-{mode}", mode, request(mode, body))
voice = open(os.path.join(messages, "voice-request.json"), "rb").read().strip()
turn = open(os.path.join(messages, "call-endpointing-request.json"), "rb").read().strip()
hang = b'{"message":{"type":"hang","call":{"id":"c1"}}}'
write("voice-1", 1, request(1, voice, "/voice"))
write("endpointing-2", 2, request(2, turn, "/endpointing"))
write("conversation-0", 0, request(0, hang, "/api/webhook/conv-1"))
write("pipelined-0", 0, request(0, hang) + request(0, hang) + b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
write("unauthenticated-0", 0, b"POST /webhook HTTP/1.1\r\nhost: x\r\ncontent-length: 47\r\n\r\n" + hang)
write("chunked-1", 1, b"POST /webhook HTTP/1.1\r\nhost: x\r\nauthorization: bearer fuzz-token\r\n"
      b"transfer-encoding: chunked\r\n\r\n10\r\n" + hang[:16] + b"\r\n1f\r\n" + hang[16:] + b"\r\n0\r\n\r\n")
write("too-large-0", 0, b"POST /webhook HTTP/1.1\r\nhost: x\r\nx-vapi-secret: fuzz-secret\r\ncontent-length: 99999999\r\n\r\n{")
write("half-body-2", 2, request(2, hang)[:-10])
for i, (path, extra) in enumerate([
    ("/calls", "authorization: Bearer fuzz-admin\r\n"),
    ("/calls?token=fuzz-admin&limit=3", ""),
    ("/calls/c1", "cookie: a=b; switchboard_admin=fuzz-admin\r\n"),
    ("/calls/c1/report", "authorization: bearer fuzz-admin\r\n"),
    ("/metrics", "authorization: Bearer wrong\r\n"),
    ("/readyz", ""),
    ("/nowhere", ""),
]):
    write(f"get-{i}", i % 3, f"GET {path} HTTP/1.1\r\nhost: x\r\n{extra}\r\n".encode())
write("reload-0", 0, b"POST /knowledge/reload HTTP/1.1\r\nhost: x\r\nauthorization: Bearer fuzz-admin\r\ncontent-length: 0\r\n\r\n")
write("delete-1", 1, b"DELETE /webhook HTTP/1.1\r\nhost: x\r\n\r\n")
PY

echo "seeded: $(ls "$corpus/message" | wc -l) message, $(ls "$corpus/endpointing" | wc -l) endpointing, $(ls "$corpus/voice" | wc -l) voice, $(ls "$corpus/edge" | wc -l) edge inputs"
