/* test_encoder.c - the encoder process's box (sandbox/helper.c) and its protocol
 * (worker/encoder.c), with real processes: a helper confined by a real sandbox's ticket
 * must sit in the helper cgroup as its own uid with nothing to open, no network, no
 * executable memory and no new processes; the worker must refuse every record that
 * breaks the protocol; and a real encoder child must turn a pipe into a video whose
 * write end is still held elsewhere once the worker says STOP. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "encoder.h"
#include "helpers.h"
#include "render.h"
#include "sandbox.h"

static char *state_dir;

/* A real sandbox (it owns the helper cgroup) running a command that waits. */
static struct sandbox *start_sandbox(void)
{
	static const char *const argv[] = {"/bin/sleep", "30", NULL};
	static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct sandbox_spec spec = {
	    .argv = argv,
	    .envp = envp,
	    .stdin_fd = -1,
	    .stdout_fd = -1,
	    .stderr_fd = -1,
	    .slot = 7,
	    .state_dir = state_dir,
	    .limits = {.timeout_ms = 20000, .memory_bytes = 64 << 20, .pids = 16},
	    .helper = {.enabled = 1, .memory_bytes = 96 << 20, .pids = 8, .cpus = 1},
	};
	struct sandbox *sb = NULL;
	char err[512];

	if (sandbox_start(&spec, &sb, err, sizeof(err)) < 0)
		fail_msg("sandbox_start: %s", err);
	return sb;
}

/* Run probe() in a forked, confined helper; return its wait status. probe reports by
 * its exit code (0 = all as expected, else the number of the failed check). */
static int run_confined(struct sandbox *sb, int (*probe)(void))
{
	struct sandbox_helper_ticket t;
	char err[512];
	pid_t pid;
	int st;

	assert_int_equal(sandbox_helper_policy_prepare(err, sizeof(err)), 0);
	if (sandbox_helper_ticket(sb, &t, err, sizeof(err)) < 0)
		fail_msg("ticket: %s", err);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (sandbox_helper_confine(&t, NULL, 0, err, sizeof(err)) < 0) {
			dprintf(2, "confine: %s\n", err);
			_exit(100);
		}
		_exit(probe());
	}
	sandbox_helper_ticket_close(&t);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static int probe_identity_and_files(void)
{
	int fd;

	if (getuid() == 0 || geteuid() == 0 || getgid() == 0)
		return 1;
	/* Nothing to open, whatever the path. */
	if (open("/etc/hostname", O_RDONLY) >= 0 || errno != EACCES)
		return 2;
	if (open("/tmp/reelbox-helper-probe", O_WRONLY | O_CREAT, 0600) >= 0)
		return 3;
	/* Only the standard descriptors are left: nothing of the parent's. */
	for (fd = 3; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			return 4;
	return 0;
}

static void test_helper_runs_as_its_own_uid_with_nothing_to_open(void **state)
{
	struct sandbox *sb = start_sandbox();
	int st = run_confined(sb, probe_identity_and_files);

	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	sandbox_destroy(sb);
}

static int probe_socket(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
	return 0; /* reached only if the call was allowed */
}

static int probe_exec_memory(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

static int probe_fork(void)
{
	fork();
	return 0;
}

static int probe_execve(void)
{
	execl("/bin/true", "true", (char *)NULL);
	return 0;
}

static void test_helper_is_killed_for_network_exec_memory_fork_and_exec(void **state)
{
	int (*probes[])(void) = {probe_socket, probe_exec_memory, probe_fork, probe_execve};
	struct sandbox *sb = start_sandbox();

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		int st = run_confined(sb, probes[i]);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
			fail_msg("probe %zu: wait status %#x, expected SIGSYS", i, st);
	}
	sandbox_destroy(sb);
}

static int probe_cgroup(void)
{
	for (;;)
		sleep(1); /* pause() is not on the encoder's allowlist */
	return 0;
}

static void test_helper_sits_in_the_helper_cgroup_beside_the_sandbox(void **state)
{
	struct sandbox_helper_ticket t;
	struct sandbox *sb = start_sandbox();
	char path[64], buf[4096], err[512];
	pid_t pid;
	int st, fd, found = 0;
	ssize_t n;

	assert_int_equal(sandbox_helper_policy_prepare(err, sizeof(err)), 0);
	assert_int_equal(sandbox_helper_ticket(sb, &t, err, sizeof(err)), 0);
	if (t.n_cg == 0) {
		sandbox_helper_ticket_close(&t);
		sandbox_destroy(sb);
		skip();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (sandbox_helper_confine(&t, NULL, 0, err, sizeof(err)) < 0)
			_exit(100);
		_exit(probe_cgroup());
	}
	sandbox_helper_ticket_close(&t);
	/* Wait until it has moved, then read where it is. */
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	for (int tries = 0; tries < 200 && !found; tries++) {
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		assert_true(n > 0);
		buf[n] = '\0';
		found = strstr(buf, "-slot7-enc") != NULL;
		if (!found)
			usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	if (!found)
		fail_msg("helper is not in the encoder cgroup: %s", buf);
	/* The sandbox's own cgroup is a different one. */
	assert_null(strstr(buf, "-slot7\n"));
	sandbox_destroy(sb);
}

/* ---- the protocol ------------------------------------------------------------------- */

static void send_raw(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
}

static void test_records_that_break_the_protocol_are_refused(void **state)
{
	struct encoder_msg m;
	int sv[2], pidfd;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);

	memset(&m, 0, sizeof(m));
	m.type = ENCODER_PROGRESS;
	m.frames = 3;
	send_raw(sv[1], &m, sizeof(m));
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), 1);
	assert_int_equal(m.frames, 3);

	/* Short record. */
	send_raw(sv[1], &m, sizeof(m) - 1);
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), -EPROTO);
	/* Unknown type. */
	memset(&m, 0, sizeof(m));
	m.type = 99;
	send_raw(sv[1], &m, sizeof(m));
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), -EPROTO);
	/* Negative frame count. */
	m.type = ENCODER_PROGRESS;
	m.frames = -1;
	send_raw(sv[1], &m, sizeof(m));
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), -EPROTO);
	/* A success without a well-formed digest. */
	memset(&m, 0, sizeof(m));
	m.type = ENCODER_RESULT;
	memset(m.sha256, 'z', sizeof(m.sha256));
	send_raw(sv[1], &m, sizeof(m));
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), -EPROTO);
	/* STARTED without its pidfd. */
	memset(&m, 0, sizeof(m));
	m.type = ENCODER_STARTED;
	send_raw(sv[1], &m, sizeof(m));
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), -EPROTO);
	/* An error string without its NUL is cut, not read past. */
	memset(&m, 0, sizeof(m));
	m.type = ENCODER_RESULT;
	m.rc = -EPROTO;
	memset(m.err, 'x', sizeof(m.err));
	send_raw(sv[1], &m, sizeof(m));
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), 1);
	assert_int_equal(strlen(m.err), sizeof(m.err) - 1);
	/* Warnings without their NUL are cut too. */
	memset(&m, 0, sizeof(m));
	m.type = ENCODER_RESULT;
	m.rc = -EPROTO;
	for (int i = 0; i < RENDER_MAX_WARNINGS; i++)
		memset(m.warnings[i], 'w', sizeof(m.warnings[i]));
	send_raw(sv[1], &m, sizeof(m));
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), 1);
	for (int i = 0; i < RENDER_MAX_WARNINGS; i++)
		assert_int_equal(strlen(m.warnings[i]), sizeof(m.warnings[i]) - 1);
	/* Flags nobody defined. */
	memset(&m, 0, sizeof(m));
	m.type = ENCODER_RESULT;
	m.rc = -EPROTO;
	m.flags = 0x80;
	send_raw(sv[1], &m, sizeof(m));
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), -EPROTO);
	/* Nothing pending: 0; the peer gone: -EPIPE. */
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), 0);
	close(sv[1]);
	assert_int_equal(encoder_read(sv[0], &m, &pidfd), -EPIPE);
	close(sv[0]);
}

/* A real encoder child: two frames into a pipe whose write end stays open here (as a
 * parked descriptor would); STOP makes it finish with those two frames. */
static void test_stop_ends_a_stream_whose_writer_never_closes(void **state)
{
	struct sandbox *sb = start_sandbox();
	struct sandbox_helper_ticket t;
	struct render_spec spec = {.width = 32,
				   .height = 16,
				   .fps = 10,
				   .pix_fmt = "rgb24",
				   .max_frames = 10,
				   .output = "x.mp4",
				   .crf = -1};
	struct encoder_msg m, result;
	char err[512], *tmp = NULL, out[PATH_MAX];
	uint8_t frame[32 * 16 * 3];
	int p[2], sock, tmpfd, pidfd = -1, got_result = 0, stopped = 0;

	snprintf(out, sizeof(out), "%s/stop.mp4", state_dir);
	tmpfd = render_output_temp(out, &tmp, err, sizeof(err));
	assert_true(tmpfd >= 0);
	assert_int_equal(pipe(p), 0);
	memset(frame, 0x80, sizeof(frame));
	assert_int_equal(write(p[1], frame, sizeof(frame)), (ssize_t)sizeof(frame));
	assert_int_equal(write(p[1], frame, sizeof(frame)), (ssize_t)sizeof(frame));
	assert_int_equal(sandbox_helper_ticket(sb, &t, err, sizeof(err)), 0);
	sock = encoder_spawn(&spec, p[0], tmpfd, &t, err, sizeof(err));
	if (sock < 0)
		fail_msg("encoder_spawn: %s", err);
	sandbox_helper_ticket_close(&t);
	close(p[0]);
	close(tmpfd);
	alarm(20); /* a hang fails the test instead of stalling the suite */
	for (;;) {
		struct pollfd pf = {.fd = sock, .events = POLLIN};
		int fd, n;

		if (poll(&pf, 1, 200) == 0 && !stopped) {
			assert_int_equal(encoder_stop(sock), 0);
			stopped = 1;
			continue;
		}
		n = encoder_read(sock, &m, &fd);
		if (n == 0)
			continue;
		if (n < 0)
			break;
		if (fd >= 0)
			pidfd = fd;
		if (m.type == ENCODER_RESULT) {
			result = m;
			got_result = 1;
		}
		if (m.type == ENCODER_EXITED) {
			if (!got_result)
				fprintf(stderr, "encoder exited with status %#llx\n",
					(unsigned long long)m.value);
			break;
		}
	}
	alarm(0);
	assert_true(stopped);
	assert_true(got_result);
	if (result.rc != 0)
		fail_msg("encoder failed: %s", result.err);
	assert_int_equal(result.frames, 2);
	assert_int_equal(strlen(result.sha256), 64);
	assert_int_equal(render_output_commit(tmp, out, err, sizeof(err)), 0);
	{
		struct stat st;
		assert_int_equal(stat(out, &st), 0);
		assert_int_equal((uint64_t)st.st_size, result.bytes);
	}
	if (pidfd >= 0)
		close(pidfd);
	close(p[1]);
	close(sock);
	free(tmp);
	sandbox_destroy(sb);
}

/* A real encoder child past the frame ceiling: three black frames for a ceiling of two.
 * It drains the third (the stream held more: the cap-hit flag), counts every byte, and
 * its warning about the black clip reaches the worker in the RESULT record. */
static void test_stream_facts_and_warnings_travel_in_the_result(void **state)
{
	struct sandbox *sb = start_sandbox();
	struct sandbox_helper_ticket t;
	struct render_spec spec = {.width = 32,
				   .height = 16,
				   .fps = 10,
				   .pix_fmt = "rgb24",
				   .max_frames = 2,
				   .output = "x.mp4",
				   .crf = -1};
	struct encoder_msg m, result;
	char err[512], *tmp = NULL, out[PATH_MAX];
	uint8_t frame[32 * 16 * 3];
	int p[2], sock, tmpfd, fd, got_result = 0;

	snprintf(out, sizeof(out), "%s/facts.mp4", state_dir);
	tmpfd = render_output_temp(out, &tmp, err, sizeof(err));
	assert_true(tmpfd >= 0);
	assert_int_equal(pipe(p), 0);
	memset(frame, 0, sizeof(frame));
	for (int i = 0; i < 3; i++)
		assert_int_equal(write(p[1], frame, sizeof(frame)), (ssize_t)sizeof(frame));
	close(p[1]); /* the script is done: the drain sees the end */
	assert_int_equal(sandbox_helper_ticket(sb, &t, err, sizeof(err)), 0);
	sock = encoder_spawn(&spec, p[0], tmpfd, &t, err, sizeof(err));
	if (sock < 0)
		fail_msg("encoder_spawn: %s", err);
	sandbox_helper_ticket_close(&t);
	close(p[0]);
	close(tmpfd);
	alarm(20);
	for (;;) {
		struct pollfd pf = {.fd = sock, .events = POLLIN};
		int n;

		(void)poll(&pf, 1, 200);
		n = encoder_read(sock, &m, &fd);
		if (n == 0)
			continue;
		if (n < 0)
			break;
		if (fd >= 0)
			close(fd);
		if (m.type == ENCODER_RESULT) {
			result = m;
			got_result = 1;
		}
		if (m.type == ENCODER_EXITED)
			break;
	}
	alarm(0);
	assert_true(got_result);
	if (result.rc != 0)
		fail_msg("encoder failed: %s", result.err);
	assert_int_equal(result.frames, 2);
	assert_int_equal(result.value, 1); /* hit the ceiling */
	assert_int_equal(result.flags, ENCODER_F_FRAME_CAP_HIT);
	assert_int_equal(result.stream_bytes, 3 * sizeof(frame));
	assert_string_equal(result.warnings[0], "all 2 frames are solid black: did the drawing "
						"reach the frames? (an array never filled, "
						"shapes drawn outside the picture)");
	assert_string_equal(result.warnings[1], "");
	unlink(tmp);
	close(sock);
	free(tmp);
	sandbox_destroy(sb);
}

/* ---- the confined encoder with the issue-15 formats ---- */

/* A sandbox whose encoder box has room for SVT-AV1's threads and x265's memory, as
 * worker/specs.c gives an av1 job (128 pids). */
static struct sandbox *start_roomy_sandbox(void)
{
	static const char *const argv[] = {"/bin/sleep", "30", NULL};
	static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct sandbox_spec spec = {
	    .argv = argv,
	    .envp = envp,
	    .stdin_fd = -1,
	    .stdout_fd = -1,
	    .stderr_fd = -1,
	    .slot = 7,
	    .state_dir = state_dir,
	    .limits = {.timeout_ms = 60000, .memory_bytes = 64 << 20, .pids = 16},
	    .helper = {.enabled = 1, .memory_bytes = 512 << 20, .pids = 128, .cpus = 1},
	};
	struct sandbox *sb = NULL;
	char err[512];

	if (sandbox_start(&spec, &sb, err, sizeof(err)) < 0)
		fail_msg("sandbox_start: %s", err);
	return sb;
}

/* Encode four 64x64 frames of pix_fmt through a real confined encoder child into
 * name; the RESULT record, with the video committed at out. */
static struct encoder_msg encode_confined(const char *name, const char *codec, const char *pix_fmt,
					  char *out, size_t outlen)
{
	struct sandbox *sb = start_roomy_sandbox();
	struct sandbox_helper_ticket t;
	struct render_spec spec = {.width = 64,
				   .height = 64,
				   .fps_num = 30000,
				   .fps_den = 1001,
				   .codec = codec,
				   .pix_fmt = pix_fmt,
				   .max_frames = 4,
				   .output = name,
				   .crf = -1,
				   .preset = "ultrafast",
				   .threads = 1};
	size_t fbytes = render_frame_bytes(pix_fmt, 64, 64);
	struct encoder_msg m, result;
	char err[512], *tmp = NULL;
	uint8_t *frame = malloc(fbytes);
	int p[2], sock, tmpfd, fd, got_result = 0;

	assert_non_null(frame);
	snprintf(out, outlen, "%s/%s", state_dir, name);
	tmpfd = render_output_temp(out, &tmp, err, sizeof(err));
	assert_true(tmpfd >= 0);
	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < 4; i++) {
		for (size_t b = 0; b < fbytes; b++)
			frame[b] = (uint8_t)(b * 7 + (size_t)i * 31);
		assert_int_equal(write(p[1], frame, fbytes), (ssize_t)fbytes);
	}
	close(p[1]);
	assert_int_equal(sandbox_helper_ticket(sb, &t, err, sizeof(err)), 0);
	sock = encoder_spawn(&spec, p[0], tmpfd, &t, err, sizeof(err));
	if (sock < 0)
		fail_msg("encoder_spawn: %s", err);
	sandbox_helper_ticket_close(&t);
	close(p[0]);
	close(tmpfd);
	alarm(60);
	for (;;) {
		struct pollfd pf = {.fd = sock, .events = POLLIN};
		int n;

		(void)poll(&pf, 1, 200);
		n = encoder_read(sock, &m, &fd);
		if (n == 0)
			continue;
		if (n < 0)
			break;
		if (fd >= 0)
			close(fd);
		if (m.type == ENCODER_RESULT) {
			result = m;
			got_result = 1;
		}
		if (m.type == ENCODER_EXITED) {
			if (!got_result)
				fail_msg("%s: the encoder exited with status %#llx and no result "
					 "(SIGSYS is 0x1f: a call outside its allowlist)",
					 name, (unsigned long long)m.value);
			break;
		}
	}
	alarm(0);
	assert_true(got_result);
	if (result.rc != 0)
		fail_msg("%s: the encoder failed: %s", name, result.err);
	assert_int_equal(render_output_commit(tmp, out, err, sizeof(err)), 0);
	close(sock);
	free(tmp);
	free(frame);
	sandbox_destroy(sb);
	return result;
}

static void expect_probe(const char *file, const char *want)
{
	char cmd[PATH_MAX + 256], got[1024];

	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -select_streams v:0 -show_entries "
		 "stream=codec_name,pix_fmt,r_frame_rate -of default=nw=1 '%s'",
		 file);
	assert_int_equal(th_run(cmd, got, sizeof(got)), 0);
	if (!strstr(got, want))
		fail_msg("ffprobe of %s said:\n%s\nbut not \"%s\"", file, got, want);
}

/* Each new codec within the encoder's seccomp allowlist, cgroup and uid: x265 (which
 * asks libnuma about NUMA: get_mempolicy), SVT-AV1 (its many threads), ProRes and VP9
 * with alpha, at 30000/1001. Skipped per codec this libavcodec lacks. */
static void test_new_codecs_encode_inside_the_encoders_box(void **state)
{
	static const struct {
		const char *name, *codec, *pix_fmt, *want;
	} cases[] = {
	    {"h.mp4", "hevc", "rgb24", "codec_name=hevc"},
	    {"a.mp4", "av1", "rgb24", "codec_name=av1"},
	    {"a.webm", "av1", "rgb24", "codec_name=av1"},
	    {"p.mov", NULL, "rgba", "pix_fmt=yuva444p"},
	    {"v.webm", NULL, "rgba", "codec_name=vp9"},
	};
	char out[PATH_MAX], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct encoder_msg r;
		if (cases[i].codec && render_codec_available(render_codec_from_name(cases[i].codec),
							     err, sizeof(err)) < 0) {
			fprintf(stderr, "skipped %s: %s\n", cases[i].name, err);
			continue;
		}
		r = encode_confined(cases[i].name, cases[i].codec, cases[i].pix_fmt, out,
				    sizeof(out));
		assert_int_equal(r.frames, 4);
		expect_probe(out, cases[i].want);
		if (strcmp(cases[i].name, "a.webm")) /* WebM keeps milliseconds */
			expect_probe(out, "r_frame_rate=30000/1001");
	}
}

static int setup(void **state)
{
	/* The encoder server is reelbox itself re-executed, not this test binary. */
	encoder_set_program(getenv("REELBOX_BIN"));
	state_dir = th_tmpdir("encoder");
	return state_dir ? 0 : -1;
}

static int teardown(void **state)
{
	th_rm_rf(state_dir);
	free(state_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_helper_runs_as_its_own_uid_with_nothing_to_open),
	    cmocka_unit_test(test_helper_is_killed_for_network_exec_memory_fork_and_exec),
	    cmocka_unit_test(test_helper_sits_in_the_helper_cgroup_beside_the_sandbox),
	    cmocka_unit_test(test_records_that_break_the_protocol_are_refused),
	    cmocka_unit_test(test_stop_ends_a_stream_whose_writer_never_closes),
	    cmocka_unit_test(test_stream_facts_and_warnings_travel_in_the_result),
	    cmocka_unit_test(test_new_codecs_encode_inside_the_encoders_box),
	};

	if (geteuid() != 0) {
		printf("test_encoder needs root (helper ids and cgroups); skipped\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
