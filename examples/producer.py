#!/usr/bin/python3
"""Enqueue a reelbox render job with plain redis-py and follow it to its video.

    python3 examples/producer.py [--redis URL] SCRIPT [--size WxH] [--fps N]
                                 [--frames N] [--format mp4|webm|gif] [--id ID]
                                 [--timeout SEC] [--retries N] [--max-attempts N]
    python3 examples/producer.py [--redis URL] --prompt TEXT | --prompt-file FILE
                                 [the same options]

Nothing here comes from reelbox: it talks to Redis the way docs/queue.md tells any
client to, so it doubles as a worked example of that document.

  1. Build the job document (docs/jobs.md): the script's text (or, for a prompt job,
     the prompt: the worker asks its model for the script) and the settings.
  2. Submit atomically with the submit script of docs/queue.md (EVAL): refuse an id
     that exists, create the consumer group if needed, XADD the entry to P:jobs,
     create the job hash P:job:<id> (state queued, attempts 0, max_attempts,
     created, entry) and emit the `queued` event.
  3. Follow the job's events stream P:job:<id>:events with XREAD BLOCK, no polling,
     from the first kept event, until the `done` event.
  4. Read the job hash for the result and print the output path.

Exit status: 0 when the job succeeded (the output path is the last line of stdout),
1 when it failed or went dead (the reason on stderr), 2 for a usage error or when
Redis cannot be reached. Progress goes to stderr.

Debian: apt-get install python3-redis (run it with /usr/bin/python3).
"""
import argparse
import json
import os
import re
import secrets
import sys
import time

try:
    import redis
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write("producer.py: needs redis-py (Debian: apt-get install python3-redis; "
                     "run with /usr/bin/python3)\n")
    sys.exit(2)

PREFIX = "reelbox"      # the key prefix the workers use (docs/queue.md, "Keys")
GROUP = "workers"       # their consumer group
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")

# The submit script, as docs/queue.md gives it: one atomic step.
# KEYS: job hash, jobs stream, events stream.  ARGV: id, document, max attempts, group.
SUBMIT_LUA = """
local h, jobs, ev = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', h) == 1 then return {'exists'} end
redis.pcall('XGROUP', 'CREATE', jobs, ARGV[4], '0', 'MKSTREAM')
local e = redis.call('XADD', jobs, '*', 'id', ARGV[1], 'job', ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', h, 'id', ARGV[1], 'state', 'queued', 'attempts', 0,
           'max_attempts', ARGV[3], 'created', now, 'entry', e)
local js = cjson.encode({type = 'queued', id = ARGV[1]})
redis.call('XADD', ev, 'MAXLEN', '~', 64, '*', 'type', 'queued', 'data', js)
redis.call('PUBLISH', ev, js)
redis.pcall('LPUSH', jobs .. ':wake', '1')
redis.pcall('LTRIM', jobs .. ':wake', 0, 63)
return {'ok', e}
"""

RUNTIMES = {".py": "python3", ".sh": "sh", ".js": "node", ".lua": "lua"}


def fail(msg, code=1):
    sys.stderr.write("producer.py: %s\n" % msg)
    sys.exit(code)


def parse_args():
    p = argparse.ArgumentParser(description="Submit a render job to reelbox workers "
                                "through Redis and wait for its video.")
    p.add_argument("--redis", default=os.environ.get("REELBOX_REDIS_URL",
                                                     "redis://127.0.0.1:6379"))
    p.add_argument("script", nargs="?", help="the render script (or give a prompt)")
    # A prompt job: the worker asks its model for the script (docs/security.md, "Prompt
    # jobs and the model key"); the document carries "prompt" instead of "script".
    p.add_argument("--prompt", help="what the video should show, e.g. \"a bar chart of "
                   "2024 rainfall growing over 4 s\"")
    p.add_argument("--prompt-file", help="read the prompt from this file "
                   "(examples/prompts/*.txt)")
    # Left out of the job, a setting takes the job's default, as with `reelbox submit`.
    p.add_argument("--size", help="WxH (default 1280x720)")
    p.add_argument("--fps", type=int, help="frames per second (default 30)")
    p.add_argument("--frames", type=int, help="frame count ceiling (default fps*5)")
    p.add_argument("--format", default="mp4", choices=("mp4", "webm", "gif"))
    p.add_argument("--id", help="job id (default: generated)")
    p.add_argument("--timeout", type=int, help="the job's wall-clock limit in seconds")
    p.add_argument("--retries", type=int, help="re-runs after the script's own failure")
    p.add_argument("--max-attempts", type=int, default=3,
                   help="claims before the job is dead-lettered (default 3)")
    p.add_argument("--wait-timeout", type=float, default=0,
                   help="give up following after this many seconds (0: never)")
    a = p.parse_args()
    # Exactly one of the two, as the job document requires.
    given = [o for o, v in (("SCRIPT", a.script), ("--prompt", a.prompt),
                            ("--prompt-file", a.prompt_file)) if v is not None]
    if len(given) != 1:
        p.error("give exactly one of SCRIPT, --prompt or --prompt-file (got %s)" %
                (" and ".join(given) or "none"))
    a.width = a.height = None
    if a.size is not None:
        m = re.match(r"^(\d+)x(\d+)$", a.size)
        if not m:
            p.error("--size must be WxH, like 1280x720")
        a.width, a.height = int(m.group(1)), int(m.group(2))
    if a.id is not None and not ID_RE.match(a.id):
        p.error("--id must be 1-63 characters of [A-Za-z0-9_-]")
    return a


def new_id():
    # Like reelbox's own ids: time first, so they sort roughly by submission.
    return "p%x%s" % (int(time.time() * 1000), secrets.token_hex(5))


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        fail("cannot read %s as UTF-8 text: %s" % (path, e), 2)


def job_document(a, job_id):
    doc = {"id": job_id, "format": a.format}
    for key in ("width", "height", "fps", "frames"):
        if getattr(a, key) is not None:
            doc[key] = getattr(a, key)
    if a.timeout is not None:
        doc["limits"] = {"timeout": a.timeout}
    if a.retries is not None:
        doc["retries"] = a.retries
    if a.script is None:
        # A prompt job: the text as the user wrote it, without a file's last newline.
        prompt = a.prompt if a.prompt is not None else read_text(a.prompt_file)
        prompt = prompt.strip()
        if not prompt:
            fail("the prompt is empty", 2)
        doc["prompt"] = prompt
        return doc
    text = read_text(a.script)
    name = os.path.basename(a.script)
    doc["script"] = text
    # script_name: printable ASCII, no '/', not starting with '.'; else let the
    # worker pick "script" + the runtime's extension.
    if re.match(r"^[!-~]+$", name) and not name.startswith(".") and len(name) < 128:
        doc["script_name"] = name
    else:
        rt = RUNTIMES.get(os.path.splitext(name)[1])
        if not rt:
            fail("cannot tell the runtime of %s from its extension" % a.script, 2)
        doc["runtime"] = rt
    return doc


def decode(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def follow(r, job_id, deadline):
    """XREAD BLOCK on the job's events until `done`; returns its data object."""
    events = "%s:job:%s:events" % (PREFIX, job_id)
    last = "0"  # from the first event kept: nothing is missed, however late we are
    while True:
        if deadline and time.monotonic() > deadline:
            fail("gave up waiting for job %s" % job_id)
        try:
            reply = r.xread({events: last}, count=100, block=5000)
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as e:
            # Redis restarting: the events stream survives (AOF); resume where we were.
            sys.stderr.write("producer.py: Redis unavailable (%s); retrying\n" % e)
            time.sleep(0.5)
            continue
        if not reply:
            # Nothing for 5 s. If the events stream is gone, the job's result expired
            # (or it never existed): the hash tells which.
            if not r.exists(events):
                state = decode(r.hget("%s:job:%s" % (PREFIX, job_id), "state"))
                if state in ("succeeded", "failed", "dead", "cancelled"):
                    return {"type": "done", "state": state}
                if state is None:
                    fail("job %s is gone: unknown, or its result expired" % job_id)
            continue
        for _stream, entries in reply:
            for entry_id, fields in entries:
                last = decode(entry_id)
                data = json.loads(decode(fields.get(b"data", b"{}")))
                t = data.get("type")
                if t == "running":
                    sys.stderr.write("producer.py: %s running (attempt %s on %s)\n" %
                                     (job_id, data.get("attempt"), data.get("worker")))
                elif t == "progress":
                    sys.stderr.write("producer.py: %s %s/%s frames\n" %
                                     (job_id, data.get("frames"), data.get("total")))
                elif t == "retry":
                    sys.stderr.write("producer.py: %s retry in %s ms: %s\n" %
                                     (job_id, data.get("delay_ms"), data.get("error")))
                elif t == "done":
                    return data


def main():
    a = parse_args()
    job_id = a.id or new_id()
    doc = json.dumps(job_document(a, job_id), separators=(",", ":"))
    try:
        r = redis.Redis.from_url(a.redis, socket_connect_timeout=5)
        r.ping()
    except (redis.RedisError, ValueError) as e:
        fail("cannot reach Redis at %s: %s" % (a.redis, e), 2)

    h, jobs, ev = ("%s:job:%s" % (PREFIX, job_id), "%s:jobs" % PREFIX,
                   "%s:job:%s:events" % (PREFIX, job_id))
    ans = r.eval(SUBMIT_LUA, 3, h, jobs, ev, job_id, doc, a.max_attempts, GROUP)
    if decode(ans[0]) == "exists":
        fail("a job with id %s already exists" % job_id, 2)
    sys.stderr.write("producer.py: submitted %s (entry %s)\n" % (job_id, decode(ans[1])))

    deadline = time.monotonic() + a.wait_timeout if a.wait_timeout > 0 else 0
    done = follow(r, job_id, deadline)
    res = {decode(k): decode(v) for k, v in r.hgetall(h).items()}
    state = done.get("state") or res.get("state")
    if state == "succeeded":
        output = done.get("output") or res.get("output")
        sys.stderr.write("producer.py: %s succeeded: %s frames, %s bytes, sha256 %s\n" %
                         (job_id, res.get("frames", "?"), res.get("bytes", "?"),
                          res.get("sha256", "?")))
        print(output)
        return 0
    sys.stderr.write("producer.py: %s %s: %s\n" %
                     (job_id, state, done.get("error") or res.get("error") or "no reason given"))
    if res.get("log"):
        sys.stderr.write("producer.py: script log tail:\n%s\n" % res["log"])
    return 1


if __name__ == "__main__":
    sys.exit(main())
