/* zygote.h - the python3 zygote behind the warm pool (zygote.c). */
#ifndef REELBOX_ZYGOTE_H
#define REELBOX_ZYGOTE_H

#include <sys/types.h>

#include "sandbox.h"

/* Start `reelbox __zygote PYTHON` with envp (the runtime's base environment) and wait
 * until it has warmed: the handle for sandbox_spec.zygote and its pid (the caller's
 * child, to reap after the handle is freed; it exits once its last sandbox has ended).
 * NULL with err set when it cannot (no libpython for PYTHON, a failed import). */
struct sandbox_zygote *zygote_start(const char *python, char *const *envp, pid_t *pid, char *err,
				    size_t errlen);

/* `reelbox __zygote PYTHON`: the zygote process itself. */
int zygote_main(int argc, char **argv);

#endif
