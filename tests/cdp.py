"""cdp.py - headless Chromium driven over its DevTools protocol, for the integration tests.

The standard library has no websocket client, so the protocol's one socket is spoken by
hand: an HTTP upgrade, then masked text frames out and plain frames in. `launch` starts
Debian's chromium headless with a private profile and `attach` connects to its first
page. Used by tests/it_demo.sh (the demo's report) and tests/it_web.sh (the dashboard),
each of which puts tests/ on PYTHONPATH.
"""
import base64
import json
import os
import re
import socket
import struct
import subprocess
import time
import urllib.request


class CDP:
    """The DevTools protocol over a websocket, by hand (the standard library has none)."""

    def __init__(self, url):
        host, port, path = re.match(r"ws://([^:/]+):(\d+)(/.*)", url).groups()
        self.s = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.next_id, self.events = 0, []

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("chromium closed the connection")
            buf += chunk
        return buf

    def _frame(self):
        b0, b1 = self._recv_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._recv_exact(8))[0]
        return b0 & 0x0F, b0 & 0x80, self._recv_exact(n)

    def _message(self):
        data = b""
        while True:
            op, fin, payload = self._frame()
            if op == 9:  # ping
                self._send(payload, 10)
                continue
            data += payload
            if fin:
                return json.loads(data)

    def _send(self, payload, op=1):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else
                                     bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                     bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self._send(json.dumps({"id": my, "method": method, "params": params}).encode())
        while True:
            m = self._message()
            if m.get("id") == my:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, name, timeout):
        end = time.time() + timeout
        while time.time() < end:
            for i, e in enumerate(self.events):
                if e.get("method") == name:
                    return self.events.pop(i)
            self.s.settimeout(max(0.1, end - time.time()))
            try:
                self.events.append(self._message())
            except socket.timeout:
                break
            finally:
                self.s.settimeout(60)
        raise TimeoutError(name)

    def js(self, expr, timeout=30):
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True,
                      timeout=timeout * 1000)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")


def launch(chromium, profile, width=1920, height=1080):
    """Chromium headless on a private profile, its DevTools on a free port."""
    return subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--hide-scrollbars", "--mute-audio", "--no-first-run",
                             "--autoplay-policy=no-user-gesture-required",
                             f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             f"--window-size={width},{height}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def attach(profile, timeout=30):
    """A CDP connection to the first page of the Chromium that launch() started."""
    port_file = os.path.join(profile, "DevToolsActivePort")
    for _ in range(int(timeout * 10)):
        if os.path.exists(port_file) and open(port_file).read().count("\n") >= 1:
            break
        time.sleep(0.1)
    port = int(open(port_file).read().split()[0])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    pages = json.load(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10))
    page = next(p for p in pages if p["type"] == "page")
    return CDP(page["webSocketDebuggerUrl"])
