/* secretenv.h - taking a secret out of this process's environment.
 *
 * A variable's value sits in the environment block the kernel shows as
 * /proc/<pid>/environ (to the process's user and root) for the process's whole life, and
 * unsetenv() only unlinks it from environ. So a secret read from the environment (the
 * model key, the Redis URL's password, the dashboard token, the webhook secret) is copied
 * out, then wiped in place and removed.
 */
#ifndef REELBOX_SECRETENV_H
#define REELBOX_SECRETENV_H

/* Overwrite the value of every entry named name (a parent's execve() may pass it twice,
 * and unsetenv() unlinks the second without wiping its bytes), then unset it. The value
 * must have been copied first: getenv()'s pointer now shows zeros. */
void secret_env_wipe(const char *name);

#endif
