#!/usr/bin/env python3
# Attack: bytes in the log that are not honest UTF-8 text - an encoded surrogate
# (ED A0 80), an overlong NUL (E0 80 80), a code point past U+10FFFF (F4 90 80 80), the
# C1 controls CSI and OSC in their UTF-8 form (C2 9B, C2 9D), and a plain ESC [ 2 J -
# hoping to break the JSON summary, or to reach a terminal that shows the log as escape
# sequences (a C1 CSI acts like ESC [ on many terminals).
# Contained: the job succeeds; the summary is strict JSON in valid UTF-8 with no lone
# surrogate, and neither it nor reelbox's stderr carries ESC or a C1 control (the host
# checks the raw bytes and the decoded strings).
#@include _lib.py

for label, raw in (
    (b"surrogate", b"\xed\xa0\x80"),
    (b"overlong", b"\xe0\x80\x80"),
    (b"beyond U+10FFFF", b"\xf4\x90\x80\x80"),
    (b"C1 CSI", b"\xc2\x9b31m"),
    (b"C1 OSC", b"\xc2\x9d0;pwned-title\x07"),
    (b"ESC clear", b"\x1b[2J"),
):
    os.write(2, b"bytes " + label + b": [" + raw + b"] end\n")
os.write(2, b"all on one line: \xed\xa0\x80\xe0\x80\x80\xf4\x90\x80\x80\xc2\x9b\xc2\x9d\x1b[2J\n")
finish()
