#!/usr/bin/env python3
# Attack: bpf(2) - load a program or create a map; the verifier has been the source of
# many kernel privilege escalations (CVE-2021-3490, CVE-2022-23222 ...).
# Contained: bpf is closed by the policy.
#@include _lib.py

BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
attr = ctypes.create_string_buffer(128)
struct.pack_into("IIII", attr, 0, 2, 4, 4, 1)  # BPF_MAP_TYPE_ARRAY, key 4, value 4, 1 entry
expect_closed("bpf(BPF_MAP_CREATE)", "bpf", BPF_MAP_CREATE, attr, 128)
insns = (ctypes.c_uint64 * 2)(0x00000000000000b7, 0x0000000000000095)  # r0 = 0; exit
lic = ctypes.create_string_buffer(b"GPL")
attr = ctypes.create_string_buffer(128)
struct.pack_into("IIQQ", attr, 0, 1, 2, ctypes.addressof(insns), ctypes.addressof(lic))  # SOCKET_FILTER
expect_closed("bpf(BPF_PROG_LOAD)", "bpf", BPF_PROG_LOAD, attr, 128)
finish()
