/* policy.h - the sandbox's seccomp policy: default deny, native ABI only.
 *
 * The parent builds the filter once (sandbox_policy_build), the sandbox child
 * installs it just before it execs pid 1 (sandbox_policy_install), and every
 * process in the sandbox inherits it.
 *
 * Three verdicts besides "allow":
 *  - kill:   SECCOMP_RET_KILL_PROCESS for calls that only administer the machine
 *            (kexec, modules, reboot, swap, clock, accounting, I/O ports) and for
 *            foreign ABIs (x32, i386). The job log can only say "SIGSYS": see
 *            sandbox_policy_sigsys_reason().
 *  - deny:   the call fails (EPERM, or EAFNOSUPPORT for socket families). With
 *            SANDBOX_POLICY_NOTIFY the kernel hands each such call to the parent
 *            through a seccomp listener fd; the parent answers with the errno and
 *            gets a sentence naming the call for the job log.
 *  - quiet:  a fixed errno and no report, for calls libc probes on every run
 *            (clone3 answers ENOSYS so glibc falls back to clone, whose flags the
 *            filter can read).
 *
 * Functions return 0 or a negative errno. The FromChild functions are safe to
 * call between clone() and exec: they neither allocate nor take locks.
 *
 * Inside the sandbox module only seccomp.c includes this header: it is the door the
 * rest of the sandbox goes through (tests and policy_gen/gen.c use it directly).
 */
#ifndef REELBOX_SANDBOX_POLICY_H
#define REELBOX_SANDBOX_POLICY_H

#include <stddef.h>
#include <linux/filter.h>

/* Deny-with-report: denied calls go to a listener fd instead of failing in the
 * kernel. Without it they fail with their errno and nobody is told. */
#define SANDBOX_POLICY_NOTIFY 0x1u

/* Build the filter for this machine's native architecture. out->filter is heap
 * memory owned by the caller: release it with sandbox_policy_free(). On failure
 * err holds one sentence. */
int sandbox_policy_build(struct sock_fprog *out, unsigned flags, char *err, size_t errlen);
void sandbox_policy_free(struct sock_fprog *prog);

/* Build the encoder helper's allowlist (kill by default), heap memory released with
 * sandbox_policy_free(). On failure err holds one sentence. */
int sandbox_policy_build_helper(struct sock_fprog *out, char *err, size_t errlen);

/* FromChild: set no_new_privs and install prog on the calling thread. When the
 * filter was built with SANDBOX_POLICY_NOTIFY, pass listener: *listener gets the
 * notification fd (close-on-exec), which the child must hand to the parent
 * (sandbox_policy_send_listener) and close before exec. Pass NULL for a filter
 * built without it. The filter is permanent and is inherited by every child. */
int sandbox_policy_install(const struct sock_fprog *prog, int *listener);

/* FromChild / FromParent: move the listener fd over a unix socket (SCM_RIGHTS).
 * sendmsg is on the allowlist, so the child may send after installing. The
 * received fd is close-on-exec. */
int sandbox_policy_send_listener(int sock, int listener);
int sandbox_policy_recv_listener(int sock, int *listener);

/* FromParent: take one pending notification from listener (poll it for POLLIN
 * first, e.g. from a uv_poll_t), answer it with the policy's errno so the call
 * fails in the script, and write one sentence into msg naming the call, such as
 * "denied socket(AF_INET): network access; only AF_UNIX sockets exist inside".
 * Returns 0, or a negative value when there was nothing to answer (the calling
 * process died in between: skip it). POLLHUP on the listener means every
 * process in the sandbox is gone. If the parent closes the listener, pending
 * and later denied calls fail with ENOSYS instead of blocking. */
int sandbox_policy_notify_receive_and_deny(int listener, char *msg, size_t len);

/* The name of native system call nr ("ptrace"), or "syscall_<nr>" for an unknown
 * number; written into buf, which is returned. */
const char *sandbox_policy_syscall_name(int nr, char *buf, size_t len);

/* The sentence for a command that died of SIGSYS: the kernel kills before anyone
 * can ask which call it was, so the sentence names the kill set instead. */
const char *sandbox_policy_sigsys_reason(void);

#endif
