#!/usr/bin/env python3
"""model_server.py - a local stand-in for a language model, for reelbox's tests.

It speaks the two dialects the worker uses: OpenAI chat-completions
(POST <prefix>/chat/completions, "Authorization: Bearer KEY") and Anthropic Messages
(POST <prefix>/messages, "x-api-key: KEY" and an "anthropic-version" header). A request
with the wrong key (or none) gets a 401 in the dialect's error shape.

Its answers are a table of steps: each request takes the next step; the last one stays
(so ["ratelimit", "good"] answers 429 once and then good for ever). A step is the name of
a recorded answer (RECORDED below) or an object:
    {"text": "...",              the answer text (status 200)
     "status": 429,              another status; "error" is its message
     "error": "...",
     "retry_after": "1",         a Retry-After header
     "delay_ms": 3000,           think first (a client that hangs up is noticed)
     "huge": 67108864,           stream a text of this many bytes, chunked ...
     "content_length": true,     ... or with its Content-Length announced
     "raw": "...",               this body as it is (status 200 unless "status")
     "echo_key": true,           the text (or the error) quotes the key
     "finish": "length"}         the answer stopped at max_tokens
The table comes from --table (JSON, or @FILE) and can be replaced at any time with
POST /_control/answers (a JSON list), which also restarts the sequence.

Every request is appended to --record as one JSON line
{"kind": "request", "seq", "method", "path", "headers": [[name, value], ...], "body"},
and what happened after it, when there is something to say, as
{"kind": "outcome", "seq", "sent", "total", "aborted", "gone"}.

Usage: model_server.py [--port 0] [--key KEY] [--table JSON|@FILE] [--record FILE]
Prints "port N" on stdout once it listens on 127.0.0.1:N.
"""
import argparse
import json
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD = '''import os, sys
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(bytes([i % 256, 64, 128]) * (w * h))
'''
BUGGY = '''import os, sys
w, h = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
for i in range(int(os.environ["FRAMES"])):
    sys.stdout.buffer.write(colour(i) * (w * h))
'''
PRINTS = '''import os, sys
print("rendering frames")
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(bytes([0, 0, 0]) * (w * h))
'''
HUNTER = '''import os, sys, glob, socket
found = []
for k, v in os.environ.items():
    if "KEY" in k or "MODEL" in k:
        found.append(k)
for p in glob.glob("/proc/*/environ"):
    try:
        found.append(open(p, "rb").read()[:64].decode("latin1"))
    except OSError as e:
        print("denied:", p, e, file=sys.stderr)
try:
    socket.create_connection(("127.0.0.1", int(os.environ.get("MODEL_PORT", "8000"))), 1)
    found.append("model port")
except OSError as e:
    print("denied: loopback", e, file=sys.stderr)
print("found:", found, file=sys.stderr)
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(bytes([0, 0, 0]) * (w * h))
'''


def fenced(lang, code):
    return "Here is the script:\n\n```%s\n%s```\n\nIt writes raw RGB frames." % (lang, code)


RECORDED = {
    "good": {"text": fenced("python", GOOD)},
    "buggy": {"text": fenced("python", BUGGY)},
    "prints": {"text": fenced("python", PRINTS)},
    "hunter": {"text": fenced("python", HUNTER)},
    "nocode": {"text": "I'm sorry, but I can't help with making that video."},
    "ratelimit": {"status": 429, "retry_after": "1", "error": "Rate limit reached; try again."},
    "error500": {"status": 500, "error": "The server had an error processing your request."},
    "slow": {"text": fenced("python", GOOD), "delay_ms": 3000},
    "huge": {"huge": 64 << 20},
    "huge_cl": {"huge": 64 << 20, "content_length": True},
    "echo_key": {"text": fenced("python", "# key: {KEY}\n" + GOOD), "echo_key": True},
    "echo_key_error": {"status": 400, "error": "Invalid request for key {KEY}", "echo_key": True},
}


class State:
    def __init__(self, key, record, table):
        self.key = key
        self.record_path = record
        self.lock = threading.Lock()
        self.seq = 0
        self.set_table(table)

    def set_table(self, table):
        if not isinstance(table, list) or not table:
            raise ValueError("the answer table is a non-empty JSON list")
        steps = []
        for step in table:
            if isinstance(step, str):
                if step not in RECORDED:
                    raise ValueError("no recorded answer named %r" % step)
                step = RECORDED[step]
            if not isinstance(step, dict):
                raise ValueError("a step is a name or an object")
            steps.append(dict(step))
        with self.lock:
            self.steps = steps

    def next_step(self):
        with self.lock:
            self.seq += 1
            step = self.steps[0] if len(self.steps) == 1 else self.steps.pop(0)
            return self.seq, dict(step)

    def record(self, entry):
        if not self.record_path:
            return
        line = json.dumps(entry) + "\n"
        with self.lock:
            with open(self.record_path, "a") as f:
                f.write(line)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "model-server/1"

    def log_message(self, fmt, *args):
        pass

    # -- plumbing --

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 16 << 20:
            raise ValueError("request too large")
        return self.rfile.read(n) if n else b""

    def send_json(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def client_gone(self, seconds):
        """Wait up to seconds; True as soon as the client closes its end."""
        end = time.monotonic() + seconds
        sock = self.connection
        while time.monotonic() < end:
            r, _, _ = select.select([sock], [], [], min(0.02, max(0, end - time.monotonic())))
            if r:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
        return False

    # -- the dialects --

    def dialect(self):
        if self.path.endswith("/chat/completions"):
            return "openai"
        if self.path.endswith("/messages"):
            return "anthropic"
        return None

    def key_ok(self, dialect):
        st = self.server.state
        if dialect == "openai":
            return self.headers.get("Authorization") == "Bearer " + st.key
        return (self.headers.get("x-api-key") == st.key
                and bool(self.headers.get("anthropic-version")))

    def error_body(self, dialect, kind, message):
        if dialect == "anthropic":
            return {"type": "error", "error": {"type": kind, "message": message}}
        return {"error": {"message": message, "type": kind, "code": None}}

    def answer_body(self, dialect, model, text, finish, usage):
        if dialect == "anthropic":
            return {"id": "msg_test", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "max_tokens" if finish == "length" else "end_turn",
                    "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish or "stop"}],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                          "total_tokens": usage[0] + usage[1]}}

    def stream_huge(self, seq, dialect, total, announce):
        head = b'{"choices":[{"message":{"role":"assistant","content":"'
        if dialect == "anthropic":
            head = b'{"type":"message","content":[{"type":"text","text":"'
        tail = b'"}]}' if dialect == "anthropic" else b'"}}]}'
        pad = total - len(head) - len(tail)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if announce:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent, aborted, chunk = 0, False, b"x" * 65536
        try:
            parts = [head] + [chunk] * (pad // len(chunk)) + [b"x" * (pad % len(chunk)), tail]
            for part in parts:
                if announce:
                    self.wfile.write(part)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
            if not announce:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            aborted = True
            self.close_connection = True
        self.server.state.record({"kind": "outcome", "seq": seq, "sent": sent, "total": total,
                                  "aborted": aborted})

    def answer(self, seq, dialect, step, request):
        st = self.server.state
        if step.get("delay_ms"):
            if self.client_gone(step["delay_ms"] / 1000.0):
                st.record({"kind": "outcome", "seq": seq, "gone": True})
                self.close_connection = True
                return
            st.record({"kind": "outcome", "seq": seq, "gone": False})
        if step.get("huge"):
            return self.stream_huge(seq, dialect, int(step["huge"]), step.get("content_length"))
        status = int(step.get("status", 200))
        extra = {"Retry-After": str(step["retry_after"])} if "retry_after" in step else None
        if "raw" in step:
            body = step["raw"].encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if status != 200:
            msg = step.get("error", "error").replace("{KEY}", st.key)
            return self.send_json(status, self.error_body(dialect, "api_error", msg), extra)
        text = step.get("text", "").replace("{KEY}", st.key)
        usage = (len(request) // 4, len(text) // 4)
        self.send_json(200, self.answer_body(dialect, "test-model", text, step.get("finish"),
                                             usage), extra)

    # -- requests --

    def do_POST(self):
        st = self.server.state
        try:
            body = self.read_body()
        except ValueError:
            return self.send_json(413, {"error": {"message": "request too large"}})
        if self.path == "/_control/answers":
            try:
                st.set_table(json.loads(body))
            except ValueError as e:
                return self.send_json(400, {"error": {"message": str(e)}})
            return self.send_json(200, {"ok": True})
        dialect = self.dialect()
        seq, step = st.next_step() if dialect else (0, None)
        st.record({"kind": "request", "seq": seq, "method": "POST", "path": self.path,
                   "headers": [[k, v] for k, v in self.headers.items()],
                   "body": body.decode("utf-8", "replace")})
        if not dialect:
            return self.send_json(404, {"error": {"message": "no such endpoint"}})
        if not self.key_ok(dialect):
            return self.send_json(401, self.error_body(dialect, "authentication_error",
                                                       "Incorrect API key provided."))
        try:
            request = json.loads(body)
        except ValueError:
            return self.send_json(400, self.error_body(dialect, "invalid_request_error",
                                                       "the body is not JSON"))
        self.answer(seq, dialect, step, json.dumps(request))

    def do_GET(self):
        if self.path == "/_control/ping":
            return self.send_json(200, {"ok": True})
        self.send_json(404, {"error": {"message": "no such endpoint"}})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default="test-key")
    ap.add_argument("--table", default='["good"]')
    ap.add_argument("--record", default=None)
    args = ap.parse_args()
    table = args.table
    if table.startswith("@"):
        with open(table[1:]) as f:
            table = f.read()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.key, args.record, json.loads(table))
    print("port %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
