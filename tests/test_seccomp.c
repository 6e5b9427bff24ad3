/* test_seccomp.c - the seccomp policy, exercised for real.
 *
 * Each test forks a child that installs the filter (no_new_privs first, as the
 * sandbox does) and then makes the call under test, reporting errno through
 * its exit code. The parent checks the exit code or the killing signal and, in
 * notify mode, answers the listener and keeps the sentences it produced.
 *
 * Probes that would change the host if the filter failed use arguments that
 * make the unfiltered call fail harmlessly (a missing path, a bad fd), so a
 * broken filter shows up as the wrong errno, not as a mounted /tmp.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "policy.h"

static struct sock_fprog prog_plain;
static struct sock_fprog prog_notify;

struct run {
	int status; /* from waitpid */
	int timed_out;
	char denied[4096]; /* one sentence per line, notify mode only */
	char out[8192];	   /* the child's stdout and stderr */
	size_t out_len;
};

typedef int (*probe_fn)(void);

static void append(char *buf, size_t size, const char *line)
{
	size_t n = strlen(buf);

	if (n + 1 < size)
		snprintf(buf + n, size - n, "%s\n", line);
}

static void child_run(int notify, int sock, int out, probe_fn fn, const char *const *argv)
{
	const struct sock_fprog *prog = notify ? &prog_notify : &prog_plain;
	int listener = -1;

	dup2(out, 1);
	dup2(out, 2);
	signal(SIGSEGV, SIG_DFL); /* cmocka's handler would turn a crash into an exit */
	if (sandbox_policy_install(prog, notify ? &listener : NULL) < 0)
		_exit(250);
	if (notify) {
		if (sandbox_policy_send_listener(sock, listener) < 0)
			_exit(251);
		close(listener);
	}
	close(sock);
	if (argv) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	_exit(fn ? fn() : 126);
}

/* Run fn (or exec argv) under the filter and wait, answering notifications. */
static void run_filtered(int notify, probe_fn fn, const char *const *argv, struct run *r)
{
	int sv[2], pipefd[2], listener = -1, done = 0;
	time_t deadline = time(NULL) + 120;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		close(pipefd[0]);
		child_run(notify, sv[1], pipefd[1], fn, argv);
	}
	close(sv[1]);
	close(pipefd[1]);
	if (notify && sandbox_policy_recv_listener(sv[0], &listener) < 0)
		listener = -1;
	close(sv[0]);

	while (!done) {
		struct pollfd p[2] = {{.fd = pipefd[0], .events = POLLIN},
				      {.fd = listener, .events = POLLIN}};
		char msg[512];
		ssize_t n;

		if (poll(p, 2, 50) > 0) {
			if (p[1].revents & POLLIN &&
			    sandbox_policy_notify_receive_and_deny(listener, msg, sizeof(msg)) == 0)
				append(r->denied, sizeof(r->denied), msg);
			if (p[0].revents & (POLLIN | POLLHUP)) {
				n = read(pipefd[0], r->out + r->out_len,
					 sizeof(r->out) - 1 - r->out_len);
				if (n > 0)
					r->out_len += (size_t)n;
			}
		}
		if (waitpid(pid, &r->status, WNOHANG) == pid)
			done = 1;
		else if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &r->status, 0);
			r->timed_out = done = 1;
		}
	}
	while (r->out_len < sizeof(r->out) - 1) {
		struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 0) <= 0 || (n = read(pipefd[0], r->out + r->out_len,
						     sizeof(r->out) - 1 - r->out_len)) <= 0)
			break;
		r->out_len += (size_t)n;
	}
	r->out[r->out_len] = '\0';
	close(pipefd[0]);
	if (listener >= 0)
		close(listener);
}

/* The probe's exit code; fails the test when it was killed instead. */
static int exit_code(const struct run *r)
{
	if (!WIFEXITED(r->status))
		fail_msg("child did not exit: status 0x%x, output: %s", r->status, r->out);
	return WEXITSTATUS(r->status);
}

static int killed_by(const struct run *r)
{
	return WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0;
}

static int probe(int notify, probe_fn fn)
{
	struct run r;

	run_filtered(notify, fn, NULL, &r);
	return exit_code(&r);
}

static int err_of(long rc)
{
	return rc < 0 ? errno : 0;
}

/* ---- network ---------------------------------------------------------- */

static int probe_socket_inet(void)
{
	return err_of(socket(AF_INET, SOCK_STREAM, 0));
}

static int probe_socket_unix(void)
{
	int sv[2];

	if (socket(AF_UNIX, SOCK_STREAM, 0) < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
		return errno;
	if (write(sv[0], "x", 1) != 1)
		return 200;
	return 0;
}

/* 0 when every family is refused with EAFNOSUPPORT, else 1 + the index. */
static int probe_other_families(void)
{
	static const int fams[] = {AF_INET6, AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK};
	int sv[2];
	size_t i;

	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		if (socket(fams[i], SOCK_DGRAM, 0) >= 0 || errno != EAFNOSUPPORT)
			return 1 + (int)i;
		if (socketpair(fams[i], SOCK_DGRAM, 0, sv) >= 0 || errno != EAFNOSUPPORT)
			return 1 + (int)i;
	}
	return 0;
}

/* The kernel reads the family as an int: without a full compare this would be
 * an AF_UNIX socket that passed for something else, or the reverse. */
static int probe_socket_family_high_bits(void)
{
	return err_of(syscall(SYS_socket, 0x100000000UL | AF_UNIX, SOCK_STREAM, 0));
}

static void test_inet_socket_fails_with_eafnosupport(void **state)
{
	assert_int_equal(probe(0, probe_socket_inet), EAFNOSUPPORT);
}

static void test_unix_socket_and_socketpair_work(void **state)
{
	assert_int_equal(probe(0, probe_socket_unix), 0);
}

static void test_inet6_netlink_packet_alg_vsock_are_refused(void **state)
{
	assert_int_equal(probe(0, probe_other_families), 0);
}

static void test_socket_family_is_compared_on_all_64_bits(void **state)
{
	assert_int_equal(probe(0, probe_socket_family_high_bits), EAFNOSUPPORT);
}

/* ---- kernel attack surface ---------------------------------------------- */

static int probe_io_uring_setup(void)
{
	char params[120] = {0};

	return err_of(syscall(SYS_io_uring_setup, 1, params));
}

static int probe_io_uring_enter(void)
{
	return err_of(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
}

static int probe_ptrace(void)
{
	return err_of(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static int probe_process_vm_readv(void)
{
	char src[8] = "secret", dst[8];
	struct iovec l = {dst, sizeof(dst)}, r = {src, sizeof(src)};

	return err_of(process_vm_readv(getpid(), &l, 1, &r, 1, 0));
}

/* 0 when each call fails with EPERM, else 1 + the index of the first that
 * did not. */
static int first_not_eperm(const long *rcs, const int *errs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rcs[i] >= 0 || errs[i] != EPERM)
			return 1 + (int)i;
	return 0;
}

#define TRY(i, call)                                                                               \
	do {                                                                                       \
		rcs[i] = (call);                                                                   \
		errs[i] = errno;                                                                   \
	} while (0)

static int probe_keys_bpf_perf_uffd(void)
{
	long rcs[6];
	int errs[6];

	TRY(0, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
	TRY(1, syscall(SYS_add_key, "user", "reelbox", "x", 1, KEY_SPEC_PROCESS_KEYRING));
	TRY(2, syscall(SYS_request_key, "user", "reelbox", NULL, 0));
	TRY(3, syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, NULL, 0));
	TRY(4, syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	TRY(5, syscall(SYS_userfaultfd, 0));
	return first_not_eperm(rcs, errs, 6);
}

static void test_io_uring_is_denied(void **state)
{
	assert_int_equal(probe(0, probe_io_uring_setup), EPERM);
	assert_int_equal(probe(0, probe_io_uring_enter), EPERM);
}

static void test_ptrace_and_process_vm_are_denied(void **state)
{
	assert_int_equal(probe(0, probe_ptrace), EPERM);
	assert_int_equal(probe(0, probe_process_vm_readv), EPERM);
}

static void test_keyctl_bpf_perf_event_open_userfaultfd_are_denied(void **state)
{
	assert_int_equal(probe(0, probe_keys_bpf_perf_uffd), 0);
}

/* ---- mounts and namespaces -------------------------------------------- */

static int probe_mounts(void)
{
	const char *nx = "/nonexistent-reelbox";
	long rcs[11];
	int errs[11];

	TRY(0, mount("none", nx, "tmpfs", 0, NULL));
	TRY(1, umount2(nx, 0));
	TRY(2, syscall(SYS_pivot_root, nx, nx));
	TRY(3, chroot(nx));
	TRY(4, syscall(SYS_fsopen, "reelbox-nofs", 0));
	TRY(5, syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0));
	TRY(6, syscall(SYS_fsmount, -1, 0, 0));
	TRY(7, syscall(SYS_fspick, -1, nx, 0));
	TRY(8, syscall(SYS_open_tree, -1, nx, 0));
	TRY(9, syscall(SYS_move_mount, -1, "", -1, nx, 0));
	TRY(10, syscall(SYS_mount_setattr, -1, nx, 0, NULL, 0));
	return first_not_eperm(rcs, errs, 11);
}

static int probe_unshare_and_setns(void)
{
	long rcs[3];
	int errs[3];

	TRY(0, unshare(CLONE_NEWUSER));
	TRY(1, unshare(CLONE_NEWNS));
	TRY(2, setns(-1, 0));
	return first_not_eperm(rcs, errs, 3);
}

/* Raw clone with each namespace flag: 0 when all fail with EPERM. */
static int probe_clone_namespaces(void)
{
	static const unsigned long flags[] = {CLONE_NEWUSER,  CLONE_NEWNS,  CLONE_NEWPID,
					      CLONE_NEWNET,   CLONE_NEWIPC, CLONE_NEWUTS,
					      CLONE_NEWCGROUP};
	size_t i;
	long pid;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		pid = syscall(SYS_clone, flags[i] | SIGCHLD, NULL, NULL, NULL, 0);
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid((pid_t)pid, NULL, 0);
		if (pid >= 0 || errno != EPERM)
			return 1 + (int)i;
	}
	return 0;
}

static int probe_clone_newnet(void)
{
	long pid = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, 0);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return err_of(pid);
}

static int probe_clone3(void)
{
	struct clone_args args = {.exit_signal = SIGCHLD};
	long pid = syscall(SYS_clone3, &args, sizeof(args));

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return err_of(pid);
}

static void *thread_main(void *arg)
{
	return arg;
}

static int probe_fork_and_threads(void)
{
	pthread_t t;
	void *ret = NULL;
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0)
		_exit(7);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 7)
		return 1;
	if (pthread_create(&t, NULL, thread_main, (void *)0x5) != 0 || pthread_join(t, &ret) != 0 ||
	    ret != (void *)0x5)
		return 2;
	return 0;
}

static void test_mount_and_the_new_mount_api_are_denied(void **state)
{
	assert_int_equal(probe(0, probe_mounts), 0);
}

static void test_unshare_and_setns_are_denied(void **state)
{
	assert_int_equal(probe(0, probe_unshare_and_setns), 0);
}

static void test_clone_with_newnet_is_denied(void **state)
{
	assert_int_equal(probe(0, probe_clone_newnet), EPERM);
}

static void test_clone_with_any_namespace_flag_is_denied(void **state)
{
	assert_int_equal(probe(0, probe_clone_namespaces), 0);
}

static void test_clone3_answers_enosys(void **state)
{
	assert_int_equal(probe(0, probe_clone3), ENOSYS);
}

static void test_fork_and_threads_still_work(void **state)
{
	assert_int_equal(probe(0, probe_fork_and_threads), 0);
}

/* ---- ioctl, prctl, personality ------------------------------------------ */

/* On a pipe an allowed request reaches the kernel and fails ENOTTY; a filtered
 * one fails EPERM before the kernel looks. */
static int ioctl_err(unsigned long req)
{
	int p[2];
	char c = 'x';

	if (pipe(p) < 0)
		return 200;
	return err_of(ioctl(p[0], req, &c));
}

static int probe_tiocsti(void)
{
	return ioctl_err(TIOCSTI);
}

static int probe_tiocsti_high_bits(void)
{
	return ioctl_err(0x100000000UL | TIOCSTI);
}

static int probe_tioclinux(void)
{
	return ioctl_err(TIOCLINUX);
}

static int probe_tcgets(void)
{
	return ioctl_err(TCGETS);
}

static int probe_tcgets_high_bits(void)
{
	return ioctl_err(0x100000000UL | TCGETS);
}

static void test_ioctl_tiocsti_is_denied_even_with_high_bits_set(void **state)
{
	assert_int_equal(probe(0, probe_tiocsti), EPERM);
	assert_int_equal(probe(0, probe_tiocsti_high_bits), EPERM);
	assert_int_equal(probe(0, probe_tioclinux), EPERM);
}

static void test_ioctl_allowlist_compares_all_64_bits(void **state)
{
	assert_int_equal(probe(0, probe_tcgets), ENOTTY);
	assert_int_equal(probe(0, probe_tcgets_high_bits), EPERM);
}

static int probe_personality(void)
{
	if (personality(0xffffffff) < 0 || personality(PER_LINUX) < 0)
		return 100;
	if (personality(PER_LINUX32) >= 0)
		return 101;
	if (errno != EPERM)
		return errno;
	if (personality(ADDR_NO_RANDOMIZE) >= 0)
		return 102;
	return errno;
}

static int probe_prctl(void)
{
	char name[16];
	long rcs[3];
	int errs[3];

	if (prctl(PR_SET_NAME, "reelbox-probe") < 0 || prctl(PR_GET_NAME, name) < 0)
		return 100;
	TRY(0, prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0));
	TRY(1, syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL));
	TRY(2, prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 0));
	return first_not_eperm(rcs, errs, 3);
}

static void test_personality_allows_only_the_query_and_per_linux(void **state)
{
	assert_int_equal(probe(0, probe_personality), EPERM);
}

static void test_prctl_allows_naming_but_not_seccomp_or_mm(void **state)
{
	assert_int_equal(probe(0, probe_prctl), 0);
}

/* ---- kills: foreign ABIs and machine administration ---------------------- */

static int probe_x32_getpid(void)
{
	syscall(0x40000000 | __NR_getpid);
	return 0;
}

static int probe_i386_getpid(void)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory", "r8", "r9", "r10", "r11");
	return ret > 0 ? 0 : 1;
}

static int probe_finit_module(void)
{
	return err_of(syscall(SYS_finit_module, -1, "", 0));
}

static int probe_kexec_file_load(void)
{
	return err_of(syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
}

static int probe_reboot_bad_magic(void)
{
	return err_of(syscall(SYS_reboot, 0, 0, 0, NULL));
}

static int probe_swapoff(void)
{
	return err_of(syscall(SYS_swapoff, "/nonexistent-reelbox"));
}

static int probe_clock_settime_monotonic(void)
{
	struct timespec ts = {0, 0};

	return err_of(syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts));
}

static int probe_acct(void)
{
	return err_of(syscall(SYS_acct, "/nonexistent-reelbox/acct"));
}

static void test_x32_syscall_kills_the_process(void **state)
{
	struct run r;

	run_filtered(0, probe_x32_getpid, NULL, &r);
	assert_int_equal(killed_by(&r), SIGSYS);
}

/* How int 0x80 ends without any filter: a kernel built or booted without 32-bit
 * emulation (ia32_emulation=false, some VMs) has no such entry and raises SIGSEGV. */
static int int80_unfiltered_signal(void)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* cmocka's handler is inherited */
		_exit(probe_i386_getpid());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void test_i386_int80_kills_the_process(void **state)
{
	struct run r;
	int bare = int80_unfiltered_signal();

	run_filtered(0, probe_i386_getpid, NULL, &r);
	if (bare == SIGSEGV) {
		/* No 32-bit entry on this kernel: nothing reaches the filter, and the call
		 * still never runs. */
		printf("   (this kernel has no 32-bit system call entry: int 0x80 is SIGSEGV)\n");
		assert_int_equal(killed_by(&r), SIGSEGV);
		return;
	}
	assert_int_equal(killed_by(&r), SIGSYS);
}

static void test_machine_administration_calls_kill_the_process(void **state)
{
	static const probe_fn fns[] = {
	    probe_finit_module, probe_kexec_file_load,	       probe_reboot_bad_magic,
	    probe_swapoff,	probe_clock_settime_monotonic, probe_acct};
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		run_filtered(1, fns[i], NULL, &r);
		if (killed_by(&r) != SIGSYS)
			fail_msg("kill probe %zu: status 0x%x", i, r.status);
		assert_string_equal(r.denied, "");
	}
}

static void test_sigsys_reason_names_the_kill_set(void **state)
{
	assert_non_null(strstr(sandbox_policy_sigsys_reason(), "SIGSYS"));
	assert_non_null(strstr(sandbox_policy_sigsys_reason(), "kernel modules"));
}

/* ---- naming the denied call ---------------------------------------------- */

static int probe_clone_newuser(void)
{
	long pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, 0);

	if (pid == 0)
		_exit(0);
	return err_of(pid);
}

static int probe_ioprio_get(void)
{
	return err_of(syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0));
}

static void test_denied_socket_is_named_and_fails_eafnosupport(void **state)
{
	struct run r;

	run_filtered(1, probe_socket_inet, NULL, &r);
	assert_int_equal(exit_code(&r), EAFNOSUPPORT);
	assert_non_null(strstr(r.denied, "denied socket(AF_INET): network access"));
}

static void test_denied_clone_names_its_namespace_flags(void **state)
{
	struct run r;

	run_filtered(1, probe_clone_newuser, NULL, &r);
	assert_int_equal(exit_code(&r), EPERM);
	assert_non_null(strstr(r.denied, "denied clone(CLONE_NEWUSER|CLONE_NEWNET)"));
}

static void test_denied_ptrace_and_tiocsti_are_named_with_their_reason(void **state)
{
	struct run r;

	run_filtered(1, probe_ptrace, NULL, &r);
	assert_int_equal(exit_code(&r), EPERM);
	assert_non_null(strstr(r.denied, "denied ptrace: reading or steering another process"));
	run_filtered(1, probe_tiocsti_high_bits, NULL, &r);
	assert_int_equal(exit_code(&r), EPERM);
	assert_non_null(strstr(r.denied, "denied ioctl(TIOCSTI 0x100005412): TIOCSTI"));
}

static void test_unlisted_call_is_named_and_fails_eperm(void **state)
{
	struct run r;

	run_filtered(1, probe_ioprio_get, NULL, &r);
	assert_int_equal(exit_code(&r), EPERM);
	assert_non_null(strstr(r.denied, "denied ioprio_get: not on the sandbox's allowlist"));
}

static void test_notify_filter_denies_like_the_plain_one(void **state)
{
	assert_int_equal(probe(1, probe_io_uring_setup), EPERM);
	assert_int_equal(probe(1, probe_clone3), ENOSYS);
	assert_int_equal(probe(1, probe_socket_unix), 0);
	assert_int_equal(probe(1, probe_fork_and_threads), 0);
}

/* If the worker drops the listener, a denied call must fail, not hang. */
static void test_closed_listener_turns_denials_into_enosys(void **state)
{
	int sv[2], listener = -1, status;
	char go;
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (sandbox_policy_install(&prog_notify, &listener) < 0 ||
		    sandbox_policy_send_listener(sv[1], listener) < 0)
			_exit(250);
		close(listener);
		if (read(sv[1], &go, 1) != 0)
			_exit(251);
		_exit(probe_socket_inet());
	}
	close(sv[1]);
	assert_int_equal(sandbox_policy_recv_listener(sv[0], &listener), 0);
	close(listener);
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), ENOSYS);
}

static void test_syscall_name_resolves_native_numbers(void **state)
{
	char buf[32];

	assert_string_equal(sandbox_policy_syscall_name(__NR_ptrace, buf, sizeof(buf)), "ptrace");
	assert_string_equal(sandbox_policy_syscall_name(99999, buf, sizeof(buf)), "syscall_99999");
}

/* ---- the runtimes still work --------------------------------------------- */

/* Exec argv under the notify filter: it must exit 0, print want, and trip no
 * denial, so an honest run leaves nothing in the job log. */
static void runs_clean(const char *const *argv, const char *want)
{
	struct run r;

	if (access(argv[0], X_OK) != 0)
		skip();
	run_filtered(1, NULL, argv, &r);
	if (r.timed_out || exit_code(&r) != 0)
		fail_msg("%s failed (status 0x%x); output:\n%s\ndenied:\n%s", argv[0], r.status,
			 r.out, r.denied);
	if (want && !strstr(r.out, want))
		fail_msg("%s printed:\n%s\nwanted: %s", argv[0], r.out, want);
	if (r.denied[0])
		fail_msg("%s tripped denials:\n%s", argv[0], r.denied);
}

static void test_python_numpy_and_pillow_run_under_the_filter(void **state)
{
	char *dir = th_tmpdir("seccomp");
	char code[1024];

	assert_non_null(dir);
	snprintf(code, sizeof(code),
		 "import numpy, PIL.Image, subprocess\n"
		 "a = numpy.zeros((32, 32, 3), numpy.uint8); a[..., 0] = 255\n"
		 "im = PIL.Image.fromarray(a); im.save('%s/x.png')\n"
		 "m = numpy.dot(numpy.ones((300, 300)), numpy.ones((300, 300))).sum()\n"
		 "subprocess.run(['true'], check=True)\n"
		 "print('ok', PIL.Image.open('%s/x.png').getpixel((1, 1)), m)\n",
		 dir, dir);
	const char *argv[] = {"/usr/bin/python3", "-c", code, NULL};
	runs_clean(argv, "ok (255, 0, 0) 27000000.0");
	th_rm_rf(dir);
	free(dir);
}

static void test_sh_pipeline_and_coreutils_run_under_the_filter(void **state)
{
	const char *argv[] = {
	    "/bin/sh", "-c",
	    "d=$(mktemp -d) && ls / | wc -l >/dev/null && seq 5 | sort -r | head -1 && "
	    "cp -a /etc/hostname $d/h && install -m 600 $d/h $d/i && mkfifo $d/f && "
	    "ln -s h $d/l && cat $d/l >/dev/null && sed -i s/x/y/ $d/i && "
	    "date >/dev/null && id -u >/dev/null && rm -rf $d && echo done",
	    NULL};

	runs_clean(argv, "5\ndone");
}

static void test_node_runs_under_the_filter(void **state)
{
	const char *argv[] = {"/usr/bin/node", "-e",
			      "const cp = require('child_process');"
			      "cp.execSync('true');"
			      "setTimeout(() => console.log([1, 2, 3].map(x => x * 2).join()), 5)",
			      NULL};

	runs_clean(argv, "2,4,6");
}

static void test_ffmpeg_lavfi_runs_under_the_filter(void **state)
{
	const char *argv[] = {"/usr/bin/ffmpeg",
			      "-nostdin",
			      "-hide_banner",
			      "-loglevel",
			      "error",
			      "-f",
			      "lavfi",
			      "-i",
			      "testsrc",
			      "-frames",
			      "1",
			      "-f",
			      "null",
			      "-",
			      NULL};

	runs_clean(argv, NULL);
}

static void test_ffmpeg_x264_encode_runs_under_the_filter(void **state)
{
	char *dir = th_tmpdir("seccomp");
	char out[512];

	assert_non_null(dir);
	snprintf(out, sizeof(out), "%s/o.mp4", dir);
	const char *argv[] = {"/usr/bin/ffmpeg",
			      "-nostdin",
			      "-hide_banner",
			      "-loglevel",
			      "error",
			      "-f",
			      "lavfi",
			      "-i",
			      "testsrc=size=160x120:rate=25",
			      "-frames",
			      "25",
			      "-c:v",
			      "libx264",
			      "-pix_fmt",
			      "yuv420p",
			      "-y",
			      out,
			      NULL};
	runs_clean(argv, NULL);
	th_rm_rf(dir);
	free(dir);
}

static void test_lua_runs_under_the_filter(void **state)
{
	const char *argv[] = {"/usr/bin/lua", "-e",
			      "print(('ab'):rep(2), os.time() > 0, os.execute('true'))", NULL};

	runs_clean(argv, "abab\ttrue\ttrue");
}

static int group_setup(void **state)
{
	char err[256];

	if (sandbox_policy_build(&prog_plain, 0, err, sizeof(err)) < 0 ||
	    sandbox_policy_build(&prog_notify, SANDBOX_POLICY_NOTIFY, err, sizeof(err)) < 0) {
		fprintf(stderr, "building the policy failed: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	sandbox_policy_free(&prog_plain);
	sandbox_policy_free(&prog_notify);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inet_socket_fails_with_eafnosupport),
	    cmocka_unit_test(test_unix_socket_and_socketpair_work),
	    cmocka_unit_test(test_inet6_netlink_packet_alg_vsock_are_refused),
	    cmocka_unit_test(test_socket_family_is_compared_on_all_64_bits),
	    cmocka_unit_test(test_io_uring_is_denied),
	    cmocka_unit_test(test_ptrace_and_process_vm_are_denied),
	    cmocka_unit_test(test_keyctl_bpf_perf_event_open_userfaultfd_are_denied),
	    cmocka_unit_test(test_mount_and_the_new_mount_api_are_denied),
	    cmocka_unit_test(test_unshare_and_setns_are_denied),
	    cmocka_unit_test(test_clone_with_newnet_is_denied),
	    cmocka_unit_test(test_clone_with_any_namespace_flag_is_denied),
	    cmocka_unit_test(test_clone3_answers_enosys),
	    cmocka_unit_test(test_fork_and_threads_still_work),
	    cmocka_unit_test(test_ioctl_tiocsti_is_denied_even_with_high_bits_set),
	    cmocka_unit_test(test_ioctl_allowlist_compares_all_64_bits),
	    cmocka_unit_test(test_personality_allows_only_the_query_and_per_linux),
	    cmocka_unit_test(test_prctl_allows_naming_but_not_seccomp_or_mm),
	    cmocka_unit_test(test_x32_syscall_kills_the_process),
	    cmocka_unit_test(test_i386_int80_kills_the_process),
	    cmocka_unit_test(test_machine_administration_calls_kill_the_process),
	    cmocka_unit_test(test_sigsys_reason_names_the_kill_set),
	    cmocka_unit_test(test_denied_socket_is_named_and_fails_eafnosupport),
	    cmocka_unit_test(test_denied_clone_names_its_namespace_flags),
	    cmocka_unit_test(test_denied_ptrace_and_tiocsti_are_named_with_their_reason),
	    cmocka_unit_test(test_unlisted_call_is_named_and_fails_eperm),
	    cmocka_unit_test(test_notify_filter_denies_like_the_plain_one),
	    cmocka_unit_test(test_closed_listener_turns_denials_into_enosys),
	    cmocka_unit_test(test_syscall_name_resolves_native_numbers),
	    cmocka_unit_test(test_python_numpy_and_pillow_run_under_the_filter),
	    cmocka_unit_test(test_sh_pipeline_and_coreutils_run_under_the_filter),
	    cmocka_unit_test(test_node_runs_under_the_filter),
	    cmocka_unit_test(test_ffmpeg_lavfi_runs_under_the_filter),
	    cmocka_unit_test(test_ffmpeg_x264_encode_runs_under_the_filter),
	    cmocka_unit_test(test_lua_runs_under_the_filter),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
