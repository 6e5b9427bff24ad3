#!/usr/bin/env python3
# Attack: the "shocker" escape (docker 2014): open_by_handle_at with a forged handle for
# inode 2 (the root directory of the file system under a bind mount) reaches files outside
# every bind mount; name_to_handle_at helps forge it.
# Contained: open_by_handle_at is closed by the policy.
#@include _lib.py

AT_FDCWD = -100
handle = ctypes.create_string_buffer(8 + 128)
struct.pack_into("Ii", handle, 0, 128, 0)
mount_id = ctypes.c_int(0)
r, e = sc("name_to_handle_at", AT_FDCWD, b"/etc/passwd", handle, ctypes.byref(mount_id), 0)
log("name_to_handle_at(/etc/passwd): %s" % ("ok" if r == 0 else ename(e)))
# forge: ext4/xfs FILEID_INO32_GEN (type 1) for inode 2, generation 0
forged = ctypes.create_string_buffer(8 + 8)
struct.pack_into("IiII", forged, 0, 8, 1, 2, 0)
fd = os.open("/", os.O_RDONLY)
expect_closed("open_by_handle_at(/, inode 2)", "open_by_handle_at", fd, forged, os.O_RDONLY)
if r == 0:
    expect_closed("open_by_handle_at(own handle)", "open_by_handle_at", fd, handle, os.O_RDONLY)
os.close(fd)
finish()
