/* helpers.h - small utilities shared by the cmocka tests. */
#ifndef REELBOX_TEST_HELPERS_H
#define REELBOX_TEST_HELPERS_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh private directory under $TMPDIR (or /tmp); caller frees the string. */
char *th_tmpdir(const char *tag);

/* Remove a tree without following symlinks. */
void th_rm_rf(const char *path);

/* Run a shell command, capture up to outlen-1 bytes of its stdout (NUL-terminated)
 * when out is non-NULL, and return its exit status (128+N when killed by signal N). */
int th_run(const char *cmd, char *out, size_t outlen);

/* Read a whole file into a NUL-terminated buffer; NULL on error. */
char *th_read_file(const char *path, size_t *len);

/* Create or replace a file with the given bytes and mode; 0 or -errno. */
int th_write_file(const char *path, const void *data, size_t len, int mode);

/* Count the entries of a directory, not counting . and ..; -1 if it does not exist. */
int th_count_entries(const char *dir);

/* $REELBOX_BIN (set by ctest), else "build/reelbox". */
const char *th_reelbox_bin(void);

/* $REELBOX_SOURCE_DIR (set by ctest), else ".". */
const char *th_source_dir(void);

/* A TCP port on 127.0.0.1 free right now; -1 on error. */
int th_free_port(void);

/* A private redis-server on 127.0.0.1:port (and dir/redis.sock), no RDB, with an
 * append-only file when aof; its pid once it answers PING, or -1. */
pid_t th_redis_start(int port, const char *dir, int aof);

/* Signal it and reap it. */
void th_redis_stop(pid_t pid, int sig);

#endif
