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
     "finish": "length",         the answer stopped at max_tokens
     "like": "good",             start from this recorded answer, the other keys override
     "ports": [6379],            for "hunter": more loopback ports to try (its own always)
     "paths": ["/etc/x.key"]}    for "hunter": more files to read
The table comes from --table (JSON, or @FILE) and can be replaced at any time with
POST /_control/answers (a JSON list), which also restarts the sequence.

Every request is appended to --record as one JSON line
{"kind": "request", "seq", "t", "method", "path", "headers": [[name, value], ...], "body"},
what happened after it, when there is something to say, as
{"kind": "outcome", "seq", "sent", "total", "aborted", "gone"},
and, once its answer is written (or the client left), as
{"kind": "answered", "seq", "t", "status"} (status null when nothing was sent).
t is the Unix time in seconds (float): a benchmark can see which calls overlapped.

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
# A model answer that hunts for the API key (a prompt injection's best try): the process
# environment, every /proc/<pid>/environ and cmdline it can see, inherited descriptors,
# files where keys live, the model server's port (and the test's, e.g. Redis) on
# loopback, Unix sockets. It prints on stderr (the job's log) each thing it found that
# looks like a key (sk-..., *KEY*=...) and one "denied:" line per kind of refusal, then
# renders black frames so the job succeeds. {PORTS} and {PATHS} are filled in by the
# server (json lists).
HUNTER = r'''import glob, json, os, re, socket, sys
PORTS = {PORTS}
PATHS = {PATHS}
LOOKS = re.compile(rb"sk-[A-Za-z0-9_-]{8,}|[A-Za-z_]*KEY[A-Za-z_]*=[^\x00\n]{4,}")
found, denied, reached = [], {}, []
def deny(what, e):
    denied.setdefault(what, []).append(type(e).__name__ + ":" + str(getattr(e, "errno", "")))
def scan(what, data):
    for m in LOOKS.findall(data):
        found.append("%s: %s" % (what, m.decode("latin1")[:120]))
env = "\0".join("%s=%s" % kv for kv in os.environ.items()).encode()
scan("env", env)
names = [k for k in os.environ if "KEY" in k or "MODEL" in k or "REDIS" in k]
if names:
    found.append("env names: %s" % names)
pids = [p for p in os.listdir("/proc") if p.isdigit()]
for p in pids + ["self", "thread-self"]:
    for f in ("environ", "cmdline"):
        try:
            scan("/proc/%s/%s" % (p, f), open("/proc/%s/%s" % (p, f), "rb").read())
        except OSError as e:
            deny("/proc/<pid>/" + f, e)
try:
    ppid = int(open("/proc/self/status").read().split("PPid:")[1].split()[0])
    scan("/proc/ppid/environ", open("/proc/%d/environ" % ppid, "rb").read())
except (OSError, IndexError, ValueError) as e:
    deny("parent environ", e)
fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
extra = [fd for fd in fds if fd > 2]
for fd in extra:
    try:
        scan("fd %d" % fd, os.pread(fd, 1 << 16, 0))
    except OSError as e:
        deny("inherited fd", e)
files = list(PATHS)
for root in ("/etc/reelbox", "/root", "/home", "/tmp", "/var/tmp", "/run", "/dev/shm", "/var/lib/reelbox"):
    files += glob.glob(root + "/*") + glob.glob(root + "/*/*") + glob.glob(root + "/.*")
for f in files:
    try:
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                scan(f, fh.read(1 << 20))
        elif not os.path.exists(f):
            raise FileNotFoundError(2, "no such file", f)
    except OSError as e:
        deny("files", e)
for port in PORTS:
    for host in ("127.0.0.1", "::1"):
        try:
            s = socket.create_connection((host, port), 1)
            s.sendall(b"PING\r\nGET /_control/ping HTTP/1.0\r\n\r\n")
            reply = s.recv(4096)
            reached.append("%s:%d" % (host, port))
            scan("port %d" % port, reply)
        except OSError as e:
            deny("loopback", e)
for path in glob.glob("/tmp/*.sock") + glob.glob("/run/*/*.sock") + glob.glob("/var/run/redis/*"):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        s.connect(path)
        reached.append(path)
    except OSError as e:
        deny("unix sockets", e)
try:
    socket.create_connection(("1.1.1.1", 443), 1)
    reached.append("internet")
except OSError as e:
    deny("internet", e)
print("hunt: %d pids visible, fds %s, %d files tried, reached %s" % (len(pids), fds, len(files), reached), file=sys.stderr)
for what, errs in sorted(denied.items()):
    print("denied: %s x%d (%s)" % (what, len(errs), ", ".join(sorted(set(errs))[:3])), file=sys.stderr)
print("found: %d" % len(found), file=sys.stderr)
for item in found[:20]:
    print("found:", item, file=sys.stderr)
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
                step = {"like": step}
            if not isinstance(step, dict):
                raise ValueError("a step is a name or an object")
            if "like" in step:
                if step["like"] not in RECORDED:
                    raise ValueError("no recorded answer named %r" % step["like"])
                step = dict(RECORDED[step["like"]], **{k: v for k, v in step.items() if k != "like"})
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
        if "{PORTS}" in text:  # the hunter
            ports = [self.server.server_address[1]] + [int(p) for p in step.get("ports", [])]
            text = text.replace("{PORTS}", json.dumps(ports))
            text = text.replace("{PATHS}", json.dumps([str(p) for p in step.get("paths", [])]))
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
        st.record({"kind": "request", "seq": seq, "t": time.time(), "method": "POST",
                   "path": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                   "body": body.decode("utf-8", "replace")})
        self.last_status = None
        try:
            self.handle_model(seq, dialect, step, body)
        finally:
            if dialect:
                st.record({"kind": "answered", "seq": seq, "t": time.time(),
                           "status": self.last_status})

    def send_response(self, code, message=None):
        self.last_status = code
        super().send_response(code, message)

    def handle_model(self, seq, dialect, step, body):
        st = self.server.state
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
