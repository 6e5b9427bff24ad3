/* capacity_hold.c - one process holding N sandboxes, as a worker with a pool of N would.
 *
 * Built and driven by bench/capacity.sh (through bench/capacity.py); not part of the
 * build. It links the worker's own library and starts every sandbox with the spec the
 * worker gives a job (job_sandbox_spec: the runtime's interpreter on /job/<script>, the
 * default limits, the encoder's box beside it, slot i for sandbox i so each gets its
 * own host uid and cgroup), so what it measures is what a worker holding N sandboxes
 * pays, with one supervisor process for all of them instead of one `reelbox exec` each.
 *
 *   capacity_hold sh|python N OUT    start N idle sandboxes (the script blocked reading
 *                                    its stdin, which this process holds open), write
 *                                    "i pid create_ms ready_ms" lines to OUT, print
 *                                    "ready N" and wait for a line on stdin; then destroy
 *                                    every sandbox (kill, reap, purge), write
 *                                    "i destroy_ms" lines to OUT.destroy, print "done".
 *   capacity_hold bare N OUT         the same with `reelbox exec`'s spec (exec_sandbox_spec:
 *                                    /bin/sh -c, no encoder box beside it): what the
 *                                    encoder's cgroups add.
 *   capacity_hold true N OUT         N times: `reelbox exec -- /bin/true`'s own sandbox
 *                                    (exec_sandbox_spec) started, waited for and
 *                                    destroyed; "i start_ms wait_ms destroy_ms" lines.
 *
 * An idle "sh" member runs `printf r; read x`; a "python" member imports numpy and
 * PIL.Image (a warm pool member as issue 16 describes it) and then writes "r" and reads
 * stdin. The "r" on the script's stdout is when the member is ready; create_ms is the
 * time sandbox_start() took, ready_ms from its call to the "r". Starts are paced: at
 * most CAPACITY_WINDOW members (default 1) are starting at once, so a burst of imports
 * does not time the machine's two cores instead of the sandbox (a pool refills under a
 * CPU budget the same way).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "specs.h"

#define WINDOW_MAX 4
#define READY_WAIT 120000 /* ms a member may take to import before the bench gives up */

struct member {
	struct sandbox *sb;
	int in_w, out_r;
	double t_start, create_ms, ready_ms;
	int ready;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char idle_sh[] = "printf r\nread x\n";
static const char idle_py[] = "import sys\nimport numpy\nimport PIL.Image\n"
			      "sys.stdout.write('r')\nsys.stdout.flush()\nsys.stdin.read(1)\n";

/* Wait until at most `allowed` started members are not ready yet, answering denied
 * calls meanwhile (an unanswered one would block the member's import for good). */
static int wait_ready(struct member *m, int n, int allowed)
{
	for (;;) {
		struct pollfd pf[2 * (WINDOW_MAX + 2)];
		int idx[2 * (WINDOW_MAX + 2)], np = 0, pending = 0;

		for (int i = 0; i < n; i++) {
			if (m[i].ready)
				continue;
			pending++;
			if (np + 2 > (int)(sizeof(pf) / sizeof(pf[0])))
				continue;
			pf[np] = (struct pollfd){.fd = m[i].out_r, .events = POLLIN};
			idx[np++] = i;
			if (sandbox_notify_fd(m[i].sb) >= 0) {
				pf[np] = (struct pollfd){.fd = sandbox_notify_fd(m[i].sb),
							 .events = POLLIN};
				idx[np++] = -1 - i;
			}
		}
		if (pending <= allowed)
			return 0;
		int r = poll(pf, (nfds_t)np, READY_WAIT);
		if (r <= 0) {
			fprintf(stderr, "capacity_hold: no member became ready in %d ms\n",
				READY_WAIT);
			return -1;
		}
		for (int k = 0; k < np; k++) {
			if (!pf[k].revents)
				continue;
			if (idx[k] < 0) {
				char msg[256];

				if (sandbox_notify_handle(m[-1 - idx[k]].sb, msg, sizeof(msg)) == 1)
					fprintf(stderr, "capacity_hold: member %d: %s\n",
						-1 - idx[k], msg);
				continue;
			}
			struct member *x = &m[idx[k]];
			char c;

			if (read(x->out_r, &c, 1) != 1) {
				fprintf(stderr,
					"capacity_hold: member %d ended before it was ready "
					"(see its stderr)\n",
					idx[k]);
				return -1;
			}
			x->ready_ms = now_ms() - x->t_start;
			x->ready = 1;
		}
	}
}

/* Members importing at once: CAPACITY_WINDOW (1..WINDOW_MAX), default 1. */
static int window(void)
{
	const char *w = getenv("CAPACITY_WINDOW");
	int v = w ? atoi(w) : 1;

	return v < 1 ? 1 : v > WINDOW_MAX ? WINDOW_MAX : v;
}

static int hold(const char *kind, int n, const char *out, int errfd)
{
	struct config cfg;
	struct member *m = calloc((size_t)n, sizeof(*m));
	char err[512], line[64];
	FILE *f;

	if (!m)
		return 1;
	config_defaults(&cfg);
	for (int i = 0; i < n; i++) {
		struct job job;
		struct job_sandbox box;
		int in[2], o[2], rc;

		if (!strcmp(kind, "bare")) {
			/* `reelbox exec`'s sandbox: no encoder box beside it (one cgroup per
			 * hierarchy instead of two). */
			static const char *const argv[] = {"/bin/sh", "-c", idle_sh, NULL};

			if (exec_sandbox_spec(&box, &cfg, &cfg.defaults, argv, NULL) < 0)
				return 1;
			box.spec.limits.timeout_ms = 0; /* held, not waited for */
			job_init(&job);
		} else {
			job_init(&job);
			job.width = 64;
			job.height = 48;
			job.fps = 10;
			job.frames = 10;
			snprintf(job.script_name, sizeof(job.script_name), "%s",
				 strcmp(kind, "python") ? "idle.sh" : "idle.py");
			job.script = strdup(strcmp(kind, "python") ? idle_sh : idle_py);
			job.script_len = strlen(job.script);
			if (job_resolve(&job, &cfg, err, sizeof(err)) < 0 ||
			    job_sandbox_spec(&box, &job, &cfg, (unsigned)i, err, sizeof(err)) < 0) {
				fprintf(stderr, "capacity_hold: %s\n", err);
				return 1;
			}
		}
		box.spec.slot = (unsigned)i;
		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0) {
			perror("capacity_hold: pipe");
			return 1;
		}
		box.spec.stdin_fd = in[0];
		box.spec.stdout_fd = o[1];
		box.spec.stderr_fd = errfd;
		m[i].t_start = now_ms();
		rc = sandbox_start(&box.spec, &m[i].sb, err, sizeof(err));
		m[i].create_ms = now_ms() - m[i].t_start;
		job_sandbox_free(&box);
		job_free(&job);
		close(in[0]);
		close(o[1]);
		if (rc < 0) {
			fprintf(stderr, "capacity_hold: sandbox %d: %s\n", i, err);
			return 1;
		}
		m[i].in_w = in[1];
		m[i].out_r = o[0];
		if (wait_ready(m, i + 1, window() - 1) < 0)
			return 1;
	}
	if (wait_ready(m, n, 0) < 0)
		return 1;
	if (!(f = fopen(out, "w")))
		return 1;
	for (int i = 0; i < n; i++)
		fprintf(f, "%d %d %.3f %.3f\n", i, (int)sandbox_pid(m[i].sb), m[i].create_ms,
			m[i].ready_ms);
	fclose(f);
	printf("ready %d\n", n);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	snprintf(err, sizeof(err), "%s.destroy", out);
	if (!(f = fopen(err, "w")))
		return 1;
	for (int i = 0; i < n; i++) {
		/* A pool member drained unused: killed, reaped, purged. */
		double t0 = now_ms();

		sandbox_destroy(m[i].sb);
		fprintf(f, "%d %.3f\n", i, now_ms() - t0);
		close(m[i].in_w);
		close(m[i].out_r);
	}
	fclose(f);
	free(m);
	printf("done\n");
	fflush(stdout);
	return 0;
}

/* `reelbox exec -- /bin/true`'s sandbox without the process around it: start to purge. */
static int cycle_true(int n, const char *out)
{
	static const char *const argv[] = {"/bin/true", NULL};
	struct config cfg;
	FILE *f = fopen(out, "w");
	char err[512];

	if (!f)
		return 1;
	config_defaults(&cfg);
	for (int i = 0; i < n; i++) {
		struct job_sandbox box;
		struct sandbox_result res;
		struct sandbox *sb;
		double t0, t1, t2, t3;

		if (exec_sandbox_spec(&box, &cfg, &cfg.defaults, argv, NULL) < 0)
			return 1;
		t0 = now_ms();
		if (sandbox_start(&box.spec, &sb, err, sizeof(err)) < 0) {
			fprintf(stderr, "capacity_hold: %s\n", err);
			return 1;
		}
		t1 = now_ms();
		if (sandbox_wait(sb, &res) < 0 || res.exit_code != 0) {
			fprintf(stderr, "capacity_hold: /bin/true failed in the sandbox\n");
			return 1;
		}
		t2 = now_ms();
		sandbox_destroy(sb);
		t3 = now_ms();
		job_sandbox_free(&box);
		fprintf(f, "%d %.3f %.3f %.3f\n", i, t1 - t0, t2 - t1, t3 - t2);
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	int n, errfd;

	if (argc != 4 || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: capacity_hold sh|python|bare|true N OUT\n");
		return 2;
	}
	if (!strcmp(argv[1], "true"))
		return cycle_true(n, argv[3]);
	if (strcmp(argv[1], "sh") && strcmp(argv[1], "python") && strcmp(argv[1], "bare")) {
		fprintf(stderr, "capacity_hold: kind is sh, python, bare or true\n");
		return 2;
	}
	char path[4096];

	snprintf(path, sizeof(path), "%s.stderr", argv[3]);
	if ((errfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
		perror(path);
		return 1;
	}
	return hold(argv[1], n, argv[3], errfd);
}
