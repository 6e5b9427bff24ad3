#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/.

The files are committed; this script is how they were made, so a seed can be changed
or added by editing it and running it again (it rewrites the whole corpus). Each seed is
small: a few valid inputs of every shape the parser knows, and a few that break one rule
each, so the fuzzer starts past the magic bytes and the first checks.
"""
import hashlib
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
PIX = {"rgb24": 0, "rgba": 1, "bgr24": 2, "gray": 3, "yuv420p": 4, "nv12": 5, "none": 6}


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pattern(n, seed=0):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


# ---- fuzz_stream: 4 bytes of job (width-2, height-2, raw pix_fmt, mode), then the stream


def job(w, h, pix="rgb24", parked=False):
    return bytes([w - 2, h - 2, PIX[pix], 1 if parked else 0])


def y4m(w, h, tags="", frames=1, fbytes=None, frame_tag=""):
    fbytes = fbytes if fbytes is not None else w * h * 3 // 2
    out = ("YUV4MPEG2 W%d H%d F30:1 Ip A1:1%s\n" % (w, h, tags)).encode()
    for i in range(frames):
        out += ("FRAME%s\n" % frame_tag).encode() + pattern(fbytes, i)
    return out


def ppm(w, h, frames=1, maxval=255, comment=False, payload=None):
    out = b""
    for i in range(frames):
        head = "P6\n%s%d %d\n%d\n" % ("# made by make_corpus\n" if comment else "", w, h, maxval)
        out += head.encode() + (payload if payload is not None else pattern(w * h * 3, i))
    return out


def stream_seeds():
    t = "fuzz_stream"
    write(t, "raw_rgb24_4x4_2frames", job(4, 4) + pattern(2 * 48))
    write(t, "raw_rgba_8x2", job(8, 2, "rgba") + pattern(64))
    write(t, "raw_yuv420p_6x4", job(6, 4, "yuv420p") + pattern(36))
    write(t, "raw_yuv420p_odd_5x3", job(5, 3, "yuv420p") + pattern(3 * (15 + 2 * 6)))
    write(t, "raw_gray_parked", job(4, 4, "gray", parked=True) + pattern(32))
    write(t, "raw_bgr24_short_frame", job(4, 4, "bgr24") + pattern(47))
    write(t, "raw_unknown_format", job(4, 4, "nv12") + pattern(24))
    write(t, "raw_no_format", job(4, 4, "none") + pattern(48))
    write(t, "raw_text_on_stdout", job(4, 4) + b"hello from the script\n")
    write(t, "empty", job(4, 4))
    write(t, "y4m_420_4x4_2frames", job(4, 4) + y4m(4, 4, " C420jpeg XYSCSS=420JPEG", 2))
    write(t, "y4m_444", job(4, 2) + y4m(4, 2, " C444", 1, 4 * 2 * 3))
    write(t, "y4m_422", job(4, 2) + y4m(4, 2, " C422", 1, 4 * 2 * 2))
    write(t, "y4m_mono_parked", job(6, 2, parked=True) + y4m(6, 2, " Cmono", 2, 12))
    write(t, "y4m_frame_params", job(4, 4) + y4m(4, 4, "", 1, None, " Ip XFOO=1"))
    write(t, "y4m_wrong_size", job(4, 4) + y4m(8, 4))
    write(t, "y4m_header_only", job(4, 4) + y4m(4, 4, "", 0))
    write(t, "y4m_no_width", job(4, 4) + b"YUV4MPEG2 H4 F25:1\nFRAME\n" + pattern(24))
    write(t, "y4m_unknown_tag", job(4, 4) + b"YUV4MPEG2 W4 H4 Z9\nFRAME\n" + pattern(24))
    write(t, "y4m_cut_frame", job(4, 4) + y4m(4, 4)[:-5])
    write(t, "ppm_4x4_2frames", job(4, 4) + ppm(4, 4, 2))
    write(t, "ppm_comment", job(3, 2) + ppm(3, 2, 1, comment=True))
    write(t, "ppm_blank_between", job(2, 2) + ppm(2, 2) + b"\n\n" + ppm(2, 2))
    write(t, "ppm_maxval_65535", job(2, 2) + ppm(2, 2, 1, 65535, payload=pattern(24)))
    write(t, "ppm_wrong_size", job(4, 4) + ppm(2, 2))
    write(t, "ppm_then_garbage", job(2, 2) + ppm(2, 2) + b"P5\n2 2\n255\n" + pattern(4))
    write(t, "ppm_long_comment", job(2, 2) + b"P6\n#" + b"c" * 600 + b"\n2 2\n255\n" + pattern(12))
    write(t, "ppm_many_blanks", job(2, 2) + ppm(2, 2) + b" " * 600 + ppm(2, 2))
    write(t, "ppm_8_digits", job(2, 2) + b"P6 12345678 2 255\n" + pattern(12))
    write(t, "ppm_too_big", job(2, 2) + b"P6 9000 9000 255\n" + pattern(12))
    write(t, "y4m_long_header", job(4, 4) + b"YUV4MPEG2 W4 H4 X" + b"x" * 300 + b"\n")
    write(t, "y4m_not_frame", job(4, 4) + y4m(4, 4) + b"FRAMES\n" + pattern(24))
    write(t, "y4m_duplicate_tag", job(4, 4) + b"YUV4MPEG2 W4 H4 W4\nFRAME\n" + pattern(24))
    write(t, "y4m_bad_rate", job(4, 4) + b"YUV4MPEG2 W4 H4 F30:0\nFRAME\n" + pattern(24))
    write(t, "y4m_bad_interlace", job(4, 4) + b"YUV4MPEG2 W4 H4 Ix\nFRAME\n" + pattern(24))
    write(t, "y4m_bad_aspect", job(4, 4) + b"YUV4MPEG2 W4 H4 A1\nFRAME\n" + pattern(24))
    write(t, "y4m_bad_colorspace", job(4, 4) + b"YUV4MPEG2 W4 H4 C420p10\nFRAME\n" + pattern(24))
    write(t, "y4m_too_big", job(4, 4) + b"YUV4MPEG2 W99999 H4\nFRAME\n" + pattern(24))
    write(t, "raw_two_and_a_half", job(4, 4) + pattern(48 * 2 + 24))


# ---- fuzz_job: the document as the queue hands it over


def job_seeds():
    t = "fuzz_job"
    # Regression seeds: jansson's error text quotes the token it stopped in, raw.
    write(t, "job-not-json-ctl", b"\x0e")
    write(t, "job-not-json-half-utf8", b'"\\u\xc3\xa9"')
    full = {
        "id": "cache-miss-42",
        "script": "import os, sys\n...",
        "script_name": "render.py",
        "runtime": "python3",
        "width": 1280, "height": 720,
        "fps": 30,
        "frames": 150,
        "pix_fmt": "rgb24",
        "format": "mp4",
        "crf": 23,
        "preset": "veryfast",
        "limits": {"timeout": 60, "memory": 512, "pids": 64, "scratch": 64, "cpus": 1.0},
        "retries": 0,
    }
    write(t, "docs_example.json", json.dumps(full, indent=2))
    write(t, "minimal.json", '{"script":"echo hi","script_name":"r.sh"}')
    write(t, "runtime_only.json", '{"script":"print(1)","runtime":"python3"}')
    write(t, "size_webm.json",
          '{"script":"x","runtime":"node","size":"640x360","format":"webm","crf":63,'
          '"preset":"placebo","pix_fmt":"yuv420p"}')
    write(t, "gif_crf_ignored.json",
          '{"script":"x","runtime":"lua","format":"gif","crf":99,"frames":1,"fps":120}')
    write(t, "script_with_nul.json", '{"script":"a\\u0000b","script_name":"s.py"}')
    write(t, "unicode_script.json", '{"script":"print(\\"\\u00e9\\ud83d\\ude00\\")","runtime":"sh"}')
    write(t, "limits_fraction.json",
          '{"script":"x","runtime":"sh","limits":{"cpus":0.25,"memory":4096,"pids":256}}')
    write(t, "bad_size_and_width.json", '{"script":"x","size":"2x2","width":2}')
    write(t, "bad_duplicate_id.json", '{"id":"a","id":"b","script":"x"}')
    write(t, "prompt.json", '{"prompt":"a bar chart of rainfall","size":"64x48","frames":5}')
    write(t, "prompt_runtime.json", '{"prompt":"a test card","runtime":"sh"}')
    write(t, "bad_prompt_and_script.json", '{"prompt":"x","script":"y","runtime":"sh"}')
    write(t, "bad_prompt_nul.json", '{"prompt":"a\\u0000b"}')
    write(t, "bad_id_path.json", '{"id":"../etc","script":"x","runtime":"sh"}')
    write(t, "bad_fraction.json", '{"script":"x","runtime":"sh","width":1280.5}')
    write(t, "bad_unknown_field.json", '{"script":"x","runtime":"sh","color":"red"}')
    write(t, "bad_limits_field.json", '{"script":"x","runtime":"sh","limits":{"disk":1}}')
    write(t, "bad_odd_size.json", '{"script":"x","runtime":"sh","size":"1281x720"}')
    write(t, "bad_too_big.json", '{"script":"x","runtime":"sh","size":"7682x4320"}')
    write(t, "bad_frames_cap.json", '{"script":"x","runtime":"sh","frames":50000}')
    write(t, "bad_encoder_memory.json",
          '{"script":"x","runtime":"sh","size":"7680x4320","preset":"placebo"}')
    write(t, "bad_script_name.json", '{"script":"x","script_name":".hidden\\u001b[2J.py"}')
    write(t, "bad_runtime.json", '{"script":"x","runtime":"ruby"}')
    write(t, "bad_retries.json", '{"script":"x","runtime":"sh","retries":3}')
    write(t, "bad_huge_number.json", '{"script":"x","frames":99999999999999999999}')
    write(t, "bad_not_object.json", '["script"]')
    write(t, "bad_truncated.json", '{"script":"x","runtime":"s')


# ---- fuzz_utf8: bytes 0..4 size the logtail (ring, copy, chunking); all of it is text


def utf8_seeds():
    t = "fuzz_utf8"
    head = b"\x00\x40\x01\x00\x07"  # ring 65 bytes, copy 257, chunking seed 7, flush
    seeds = {
        "ascii_lines": b"frame 1 of 30\nframe 2 of 30\n\ttabbed\r\n",
        "multibyte": "h\u00e9llo \u2713 \U0001F600 \u00ff\n".encode(),
        "overlong": b"a\xc0\xafb\xe0\x80\xafc\xf0\x80\x80\xafd\n",
        "surrogate": b"x\xed\xa0\x80y\xed\xbf\xbfz\n",
        "above_max": b"\xf4\x90\x80\x80\xf5\x80\x80\x80\xff\xfe\n",
        "truncated": b"euro \xe2\x82 cut\nend \xf0\x9f\x98",
        "lone_continuation": b"\x80\x80abc\xbf\n",
        "csi_color": b"\x1b[31mred\x1b[0m plain\n",
        "osc_title_bel": b"\x1b]0;owned\x07after\n",
        "osc52_clipboard_st": b"\x1b]52;c;ZWNobyBoaQ==\x1b\\after\n",
        "c1_csi": b"\xc2\x9b2J\xc2\x9d0;t\xc2\x9cok\n",
        "dcs_unterminated": b"\x1bPq#0;2;0;0;0#1\n",
        "esc_at_end": b"line\x1b",
        "controls": b"nul\x00bell\x07bs\x08del\x7fvt\x0b\n",
        "crlf_only": b"\r\n\r\n\r\n",
        "long_line_cut_in_char": b"a" * 1022 + "\u20ac".encode() + b"b\n",
        "long_line_2k": ("\u00e9" * 1100 + "\n").encode(),
    }
    for name, text in seeds.items():
        write(t, name, head + text)
    write(t, "tiny_ring", b"\x00\x00\x00\x01\x02" + b"one\ntwo\nthree\n")
    write(t, "empty", b"")


# ---- fuzz_encoder_msg: 1 byte (descriptors to attach), then one record

MSG = struct.Struct("<IiqqQQQ65s8s512s")
MSG_SIZE = 640  # sizeof(struct encoder_msg) on x86_64 and aarch64
STARTED, PROGRESS, STREAM_END, RESULT, EXITED = 1, 2, 3, 4, 5


def msg(type_, rc=0, frames=0, value=0, sha=b"", kind=b"", err=b"", nbytes=0):
    raw = MSG.pack(type_, rc, frames, value, nbytes, 12, 345, sha, kind, err)
    return raw + b"\x00" * (MSG_SIZE - len(raw))


def encoder_seeds():
    t = "fuzz_encoder_msg"
    # Regression seed: an empty record carrying three descriptors.
    write(t, "empty-record-with-fds", b"\x03")
    sha = hashlib.sha256(b"video").hexdigest().encode()
    write(t, "started_with_pidfd", b"\x01" + msg(STARTED, value=4242))
    write(t, "started_without_fd", b"\x00" + msg(STARTED, value=4242))
    write(t, "progress", b"\x00" + msg(PROGRESS, frames=30))
    write(t, "progress_with_stray_fds", b"\x02" + msg(PROGRESS, frames=30))
    write(t, "stream_end", b"\x00" + msg(STREAM_END, frames=150, value=1))
    write(t, "result_ok", b"\x00" + msg(RESULT, frames=150, sha=sha, kind=b"raw", nbytes=9999))
    write(t, "result_bad_sha", b"\x00" + msg(RESULT, sha=sha.upper(), kind=b"y4m"))
    write(t, "result_error", b"\x00" + msg(RESULT, rc=-71, err=b"Y4M frame 2 does not start"))
    write(t, "exited", b"\x00" + msg(EXITED, value=0x0900))
    write(t, "unknown_type", b"\x00" + msg(9))
    write(t, "negative_frames", b"\x00" + msg(PROGRESS, frames=-1))
    write(t, "rc_positive", b"\x00" + msg(RESULT, rc=5))
    write(t, "unterminated_strings", b"\x00" + msg(RESULT, rc=-5, sha=b"a" * 65, kind=b"k" * 8,
                                                   err=b"e" * 512))
    write(t, "short_record", b"\x00" + msg(PROGRESS, frames=1)[:100])
    write(t, "long_record", b"\x00" + msg(PROGRESS, frames=1) + b"extra")
    write(t, "too_many_fds", b"\x06" + msg(STARTED, value=1))


# ---- fuzz_audio: an audio file as a script would write it

def wav(rate=48000, channels=1, bits=16, frames=480, fmt=1):
    block = channels * bits // 8
    data = pattern(frames * block, 3)
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * block, block, bits)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt_chunk + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def audio_seeds():
    t = "fuzz_audio"
    write(t, "wav_48k_mono_s16", wav())
    write(t, "wav_44k1_stereo_s16", wav(rate=44100, channels=2, frames=441))
    write(t, "wav_8k_mono_u8", wav(rate=8000, bits=8, frames=80))
    write(t, "wav_float32", wav(bits=32, fmt=3, frames=240))
    write(t, "wav_six_channels", wav(channels=6, frames=240))
    write(t, "wav_truncated", wav()[:60])
    write(t, "wav_zero_rate", wav(rate=0))
    write(t, "wav_huge_data_size", wav()[:40] + struct.pack("<I", 0xFFFFFFF0) + pattern(64))
    write(t, "not_audio", b"hello\n")
    write(t, "empty", b"")


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    stream_seeds()
    job_seeds()
    utf8_seeds()
    encoder_seeds()
    audio_seeds()
