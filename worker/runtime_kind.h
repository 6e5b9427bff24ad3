/* runtime_kind.h - which family an operator's interpreter belongs to, from its path.
 *
 * Two places need to know what an interpreter is beyond its name in the runtime table:
 * `reelbox runtimes` (which probe can ask it what it imports) and the syntax check of a
 * prompt job's script (which checker can parse without running). The rule is one, here:
 * the base name of the interpreter's real path (a symlink such as /usr/bin/python3 ->
 * python3.11 or /bin/sh -> dash is followed on the host), or a runtime named python*.
 */
#ifndef REELBOX_RUNTIME_KIND_H
#define REELBOX_RUNTIME_KIND_H

#include <stddef.h>

#include "job.h"

enum runtime_kind { RUNTIME_PYTHON, RUNTIME_NODE, RUNTIME_LUA, RUNTIME_SHELL, RUNTIME_OTHER };

/* The kind of rt; real_base gets the base name of its real path ("python3.11", "dash";
 * the configured path's when it cannot be resolved). */
enum runtime_kind runtime_kind(const struct runtime *rt, char *real_base, size_t len);

#endif
