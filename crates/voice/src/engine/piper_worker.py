# A persistent Piper worker: loads every model once, then speaks one request at a time.
#
# argv[1] is JSON: {"models": [path, ...], "threads": n}.
# stdin: one JSON object per line, either {"id": n, "text": "...", "voice": index} or {"cancel": n}.
# stdout: frames of one kind byte, a little-endian u32 length and the payload:
#   R  ready, JSON {"rates": [...]} (one rate per model)
#   A  audio of one sentence, mono s16le at the model's rate
#   X  an error message (before R: the worker could not start)
#   E  the current request is over (after its last A, after an X, or early after a cancel)
# A cancel stops the request with that id after the sentence being synthesized.
import json
import queue
import struct
import sys
import threading


def main():
    out = sys.stdout.buffer

    def send(kind, payload=b""):
        out.write(kind + struct.pack("<I", len(payload)) + payload)
        out.flush()

    args = json.loads(sys.argv[1])
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(args["threads"])
        options.inter_op_num_threads = 1
        voices = []
        for model in args["models"]:
            with open(model + ".json", encoding="utf-8") as file:
                config = PiperConfig.from_dict(json.load(file))
            session = onnxruntime.InferenceSession(
                model, sess_options=options, providers=["CPUExecutionProvider"]
            )
            voice = PiperVoice(config=config, session=session)
            # The first inference allocates and plans; do it now, not on a caller's time.
            for _ in voice.synthesize("Ready."):
                pass
            voices.append(voice)
    except Exception as error:  # noqa: BLE001 - every start failure is reported the same way
        send(b"X", f"{type(error).__name__}: {error}".encode())
        return 1
    send(b"R", json.dumps({"rates": [v.config.sample_rate for v in voices]}).encode())

    jobs = queue.Queue()
    cancelled = {"id": None}

    def read():
        for line in sys.stdin.buffer:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "cancel" in message:
                cancelled["id"] = message["cancel"]
            else:
                jobs.put(message)
        jobs.put(None)

    threading.Thread(target=read, daemon=True).start()
    while True:
        job = jobs.get()
        if job is None:
            return 0
        try:
            voice = voices[int(job["voice"])]
            if cancelled["id"] != job["id"]:
                for chunk in voice.synthesize(job["text"]):
                    if cancelled["id"] == job["id"]:
                        break
                    send(b"A", chunk.audio_int16_bytes)
        except Exception as error:  # noqa: BLE001 - reported to the server, which ends the stream
            send(b"X", f"{type(error).__name__}: {error}".encode())
        send(b"E")


sys.exit(main())
