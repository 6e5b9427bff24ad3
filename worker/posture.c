/* posture.c - run the posture probe as a real job and watch it from the host.
 *
 * A checklist that is only written down drifts from the system it describes. This runs
 * worker/posture_probe.py (embedded) exactly as a job runs: job_resolve() with the
 * operator's python3 runtime and default limits, the runner on a private loop, the
 * encoder in its box. The probe reports from the inside on its stderr, the job's log;
 * the host side is measured here, because a process cannot vouch for what it cannot see:
 *
 *   while the job runs   the probe says POSTURE-END and waits; this finds the job's
 *                        processes by their pid namespace, reads their host uid, their
 *                        environ (the canary), the owner of their user namespace, their
 *                        cgroup and its limits, the scratch file through /proc/<pid>/root
 *                        and the state dir's new entry, then sends SIGUSR1 to go on;
 *   after it ended       no process in its namespaces or of its host uid, its cgroups
 *                        and state dir gone.
 *
 * posture_judge.c turns the measurements into the eight points.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "encoder.h"
#include "hints.h"
#include "posture.h"
#include "posture_obs.h"
#include "runner.h"
#include "sandbox.h"

#define REPORT_MAX	(256 * 1024) /* the probe's report, reassembled */
#define AFTER_WAIT_MS	1000	     /* how long the job's leftovers may take to go */
#define ENCODER_WAIT_MS 1000	     /* how long the encoder may take to enter its cgroup */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A small file (or its first len-1 bytes), NUL-terminated; bytes read or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

/* The value of "Field:" in /proc/<pid>/status, trimmed; 0 or -ENOENT. */
static int status_field(pid_t pid, const char *field, char *out, size_t len)
{
	char path[64], buf[4096], *p;
	size_t flen = strlen(field);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -ENOENT;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, field, flen) && p[flen] == ':') {
			p += flen + 1;
			p += strspn(p, " \t");
			snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
			return 0;
		}
	}
	return -ENOENT;
}

/* readlink /proc/<pid>/ns/<name> into out ("" when it cannot be read). */
static void ns_link(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
	else
		snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	n = readlink(path, out, len - 1);
	out[n > 0 ? n : 0] = '\0';
}

/* The probe's namespace of this kind, from its report ("" when it did not say). */
static const char *probe_ns(const struct posture_obs *o, const char *name)
{
	const char *s = json_string_value(json_object_get(json_object_get(o->probe, "ns"), name));

	return s && !strncmp(s, name, strlen(name)) ? s : "";
}

/* Call fn for every process on the host; it returns nonzero to stop. */
static void each_pid(int (*fn)(void *, pid_t), void *opaque)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (fn(opaque, (pid_t)pid))
			break;
	}
	closedir(d);
}

/* ---- while the job runs ------------------------------------------------------------ */

/* Is the canary's value anywhere in this process's environment? (read from the host:
 * what the process really holds, not what it says). */
static void check_environ(struct posture_obs *o, pid_t pid)
{
	char path[64];
	char *buf = malloc(65536);
	ssize_t n;

	if (!buf)
		return;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	n = read_small(path, buf, 65536);
	if (n >= 0) {
		o->environ_read++;
		if (memmem(buf, (size_t)n, o->canary, strlen(o->canary)))
			o->canary_found = 1;
	}
	free(buf);
}

/* The host uid that owns pid's user namespace (the kernel charges the namespace's
 * per-user counts to it), or -1. */
static long userns_owner(pid_t pid)
{
	char path[64];
	uid_t owner;
	long r = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (ioctl(fd, NS_GET_OWNER_UID, &owner) == 0)
		r = (long)owner;
	close(fd);
	return r;
}

/* One process of the job (its pid namespace is the probe's): count it, note pid 1 and
 * the probe, and what the host sees of them. */
static int visit_job_proc(void *opaque, pid_t pid)
{
	struct posture_obs *o = opaque;
	char ns[64], nspid[128], uid[128], path[64];
	const char *inner;
	long probe_pid = (long)json_integer_value(json_object_get(o->probe, "pid"));

	ns_link(pid, "pid", ns, sizeof(ns));
	if (!ns[0] || strcmp(ns, probe_ns(o, "pid")) ||
	    status_field(pid, "NSpid", nspid, sizeof(nspid)))
		return 0;
	o->n_procs++;
	check_environ(o, pid);
	inner = strrchr(nspid, '\t') ? strrchr(nspid, '\t') + 1 : nspid;
	if (!strcmp(inner, "1")) {
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		read_small(path, o->pid1_cmd, sizeof(o->pid1_cmd));
		o->userns_owner = userns_owner(pid);
	}
	if (strtol(inner, NULL, 10) == probe_pid && probe_pid > 0) {
		o->host_probe = pid;
		if (status_field(pid, "Uid", uid, sizeof(uid)) == 0)
			o->host_uid = strtol(uid, NULL, 10);
	}
	return 0;
}

/* The cgroup mount holding controller ctrl ("" for cgroup2): its mount point and root. */
static int cgroup_mount(const char *ctrl, char *mnt, size_t mlen, char *root, size_t rlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char r[PATH_MAX], mp[PATH_MAX], *dash = strstr(line, " - "), fs[32], src[256],
						so[1024];

		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", r, mp) != 2 ||
		    sscanf(dash + 3, "%31s %255s %1023s", fs, src, so) != 3)
			continue;
		if (!*ctrl) {
			found = !strcmp(fs, "cgroup2");
		} else if (!strcmp(fs, "cgroup")) {
			for (char *t = strtok(so, ","); t && !found; t = strtok(NULL, ","))
				found = !strcmp(t, ctrl);
		}
		if (found) {
			snprintf(mnt, mlen, "%s", mp);
			snprintf(root, rlen, "%s", r);
		}
	}
	fclose(f);
	return found;
}

/* The job's cgroup dirs (rbx-...) from the probe's /proc/<pid>/cgroup, host paths. */
static void find_cgroups(struct posture_obs *o)
{
	char path[64], buf[4096], mnt[PATH_MAX], root[PATH_MAX];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)o->host_probe);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return;
	for (char *save, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, ctrl[64];
		const char *rel, *base;

		if (!c2 || o->n_cg >= POSTURE_MAX_CG)
			continue;
		snprintf(ctrl, sizeof(ctrl), "%.*s", (int)strcspn(c1 + 1, ",:"), c1 + 1);
		base = strrchr(c2 + 1, '/');
		if (!base || strncmp(base + 1, "rbx-", 4) ||
		    !cgroup_mount(ctrl, mnt, sizeof(mnt), root, sizeof(root)))
			continue;
		rel = c2 + 1;
		if (strcmp(root, "/") && !strncmp(rel, root, strlen(root)))
			rel += strlen(root);
		snprintf(o->cg_dirs[o->n_cg++], PATH_MAX, "%s%s", mnt, rel);
		if (!*ctrl)
			o->cg_v2 = 1;
	}
	o->n_cg_job = o->n_cg;
}

/* The encoder's cgroup dir beside a job dir of ours: rbx-<our pid>-<seq>-slot<N>-enc
 * (sandbox/cgroup.c names it), or 0. */
static int encoder_dir(const struct posture_obs *o, const char *job_dir, char *out, size_t len)
{
	char parent[PATH_MAX], prefix[32], suffix[32];
	const char *slash = strrchr(job_dir, '/');
	struct dirent *e;
	int found = 0;
	DIR *d;

	snprintf(parent, sizeof(parent), "%.*s", (int)(slash ? slash - job_dir : 0), job_dir);
	snprintf(prefix, sizeof(prefix), "rbx-%d-", (int)getpid());
	snprintf(suffix, sizeof(suffix), "-slot%u-enc", o->slot);
	if (!(d = opendir(parent)))
		return 0;
	while (!found && (e = readdir(d))) {
		size_t n = strlen(e->d_name), sl = strlen(suffix);
		found = !strncmp(e->d_name, prefix, strlen(prefix)) && n > sl &&
			!strcmp(e->d_name + n - sl, suffix) && strlen(parent) + n + 2 <= len;
		if (found)
			snprintf(out, len, "%.*s/%.*s", (int)strlen(parent), parent, (int)n,
				 e->d_name);
	}
	closedir(d);
	return found;
}

/* The host uid of the process in an encoder cgroup dir; the child may still be on its
 * way in (the encoder server loads libav before its first job), so it is given up to
 * ENCODER_WAIT_MS while the probe waits. -1 if none came. */
static long encoder_uid(const char *dir)
{
	char path[PATH_MAX + 32], buf[256], uid[128];
	uint64_t until = now_ms() + ENCODER_WAIT_MS;
	long pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	for (;;) {
		pid = read_small(path, buf, sizeof(buf)) > 0 ? strtol(buf, NULL, 10) : 0;
		if (pid > 0 && status_field((pid_t)pid, "Uid", uid, sizeof(uid)) == 0)
			return strtol(uid, NULL, 10);
		if (now_ms() >= until)
			return -1;
		usleep(10000);
	}
}

/* The encoder's cgroup dirs and the host uid it runs as. */
static void find_encoder(struct posture_obs *o)
{
	for (int i = 0; i < o->n_cg_job && o->n_cg < POSTURE_MAX_CG; i++) {
		if (!encoder_dir(o, o->cg_dirs[i], o->cg_dirs[o->n_cg], PATH_MAX))
			continue;
		if (o->enc_uid < 0)
			o->enc_uid = encoder_uid(o->cg_dirs[o->n_cg]);
		o->n_cg++;
	}
}

/* A cgroup file's number: bytes or a count, POSTURE_UNLIMITED for "max" or v1's
 * near-2^63 "no limit", POSTURE_UNKNOWN when no dir of the job has the file. */
static int64_t cg_value(const struct posture_obs *o, const char *file)
{
	char path[PATH_MAX + 64], buf[64];

	for (int i = 0; i < o->n_cg; i++) {
		snprintf(path, sizeof(path), "%s/%s", o->cg_dirs[i], file);
		if (read_small(path, buf, sizeof(buf)) <= 0)
			continue;
		if (!strncmp(buf, "max", 3))
			return POSTURE_UNLIMITED;
		long long v = strtoll(buf, NULL, 10);
		return v >= (1LL << 62) || v < 0 ? POSTURE_UNLIMITED : (int64_t)v;
	}
	return POSTURE_UNKNOWN;
}

/* The limits the kernel holds the job to, read from its cgroup files. */
static void read_cgroup_limits(struct posture_obs *o)
{
	char path[PATH_MAX + 64], buf[64];
	int64_t quota, period;

	o->cg_memory = cg_value(o, o->cg_v2 ? "memory.max" : "memory.limit_in_bytes");
	if (o->cg_v2) {
		o->cg_swap = cg_value(o, "memory.swap.max");
	} else {
		int64_t memsw = cg_value(o, "memory.memsw.limit_in_bytes");
		o->cg_swap = memsw >= 0 && o->cg_memory >= 0 ? memsw - o->cg_memory : memsw;
	}
	o->cg_pids = cg_value(o, "pids.max");
	o->cg_cpus = POSTURE_UNKNOWN;
	for (int i = 0; o->cg_v2 && i < o->n_cg; i++) {
		snprintf(path, sizeof(path), "%s/cpu.max", o->cg_dirs[i]);
		if (read_small(path, buf, sizeof(buf)) > 0) {
			long long q, p;
			o->cg_cpus = sscanf(buf, "%lld %lld", &q, &p) == 2 && p > 0
					 ? (double)q / (double)p
					 : POSTURE_UNLIMITED;
		}
	}
	if (!o->cg_v2) {
		quota = cg_value(o, "cpu.cfs_quota_us");
		period = cg_value(o, "cpu.cfs_period_us");
		o->cg_cpus = quota == POSTURE_UNKNOWN	? POSTURE_UNKNOWN
			     : quota < 0 || period <= 0 ? POSTURE_UNLIMITED
							: (double)quota / (double)period;
	}
}

/* Entries of the state dir named for this process (sb-<pid>-...): listed before the
 * job, and again while it runs; the new ones are the job's. */
static int list_state(const struct posture_obs *o, char names[][128], int max)
{
	char prefix[32];
	DIR *d = opendir(o->state_dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	snprintf(prefix, sizeof(prefix), "sb-%d-", (int)getpid());
	while ((e = readdir(d)) && n < max)
		if (!strncmp(e->d_name, prefix, strlen(prefix)))
			snprintf(names[n++], 128, "%.120s", e->d_name);
	closedir(d);
	return n;
}

/* A process's start time (field 22 of /proc/<pid>/stat), 0 when it is gone or a zombie
 * (gVisor's ptrace stubs end reparented to the host's init, which reaps them later; a
 * zombie holds nothing but its pid): a pid and its start time name one process, even
 * after the pid is reused. */
static unsigned long long start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
		return 0;
	if (p[1] == ' ' && p[2] == 'Z')
		return 0;
	if (sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu",
		   &t) != 1)
		return 0;
	return t;
}

/* Is pid gVisor's Sentry (runsc-sandbox) of a sandbox this process started? Its
 * command line names its runsc root, in our state dir's sb-<our pid>-... entry. */
static int is_our_sentry(const struct posture_obs *o, pid_t pid)
{
	char path[64], cmd[4096], mark[PATH_MAX + 32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((n = read_small(path, cmd, sizeof(cmd))) <= 0 || strcmp(cmd, "runsc-sandbox"))
		return 0;
	snprintf(mark, sizeof(mark), "%s/sb-%d-", o->state_dir, (int)getpid());
	return memmem(cmd, (size_t)n, mark, strlen(mark)) != NULL;
}

static int find_sentry(void *opaque, pid_t pid)
{
	struct posture_obs *o = opaque;

	if (!is_our_sentry(o, pid))
		return 0;
	o->host_probe = pid;
	return 1;
}

/* The gvisor tier: the probe is a task of the Sentry, invisible to the host's /proc.
 * What the host can see is the Sentry and the processes beside it in the job's
 * cgroup (runsc, its gofer, the platform's stubs): their uid, environ, namespaces,
 * seccomp, and the cgroup itself. */
static void observe_gvisor(struct posture_obs *o)
{
	char path[PATH_MAX + 32], buf[8192], v[64];

	each_pid(find_sentry, o);
	if (o->host_probe <= 0)
		return;
	snprintf(o->pid1_cmd, sizeof(o->pid1_cmd), "runsc-sandbox");
	if (status_field(o->host_probe, "Uid", v, sizeof(v)) == 0)
		o->host_uid = strtol(v, NULL, 10);
	status_field(o->host_probe, "Seccomp", o->sentry_seccomp, sizeof(o->sentry_seccomp));
	status_field(o->host_probe, "NoNewPrivs", o->sentry_nnp, sizeof(o->sentry_nnp));
	o->userns_owner = userns_owner(o->host_probe);
	for (int i = 0; i < POSTURE_NS; i++)
		ns_link(o->host_probe, posture_ns_names[i], o->sentry_ns[i],
			sizeof(o->sentry_ns[i]));
	find_cgroups(o);
	read_cgroup_limits(o);
	find_encoder(o);
	snprintf(path, sizeof(path), "%s/cgroup.procs", o->n_cg_job ? o->cg_dirs[0] : "/-");
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return;
	for (char *save, *l = strtok_r(buf, "\n", &save); l && o->n_host < POSTURE_MAX_HOST;
	     l = strtok_r(NULL, "\n", &save)) {
		pid_t pid = (pid_t)strtol(l, NULL, 10);
		o->host_pids[o->n_host] = pid;
		o->host_starts[o->n_host++] = start_time(pid);
		o->n_procs++;
		check_environ(o, pid);
	}
	o->seen = o->n_procs > 0;
}

/* The gvisor tier's scratch is mounted in runsc's own mount namespace only, at
 * <state>/<sb>/scratch: seen from the host through a runsc process's /proc/<pid>/root.
 * Removing the probe's marker there tells it the host has looked (its pid is the
 * Sentry's, so no signal can reach it from here). */
static void release_gvisor_probe(struct posture_obs *o)
{
	const char *marker =
	    json_string_value(json_object_get(json_object_get(o->probe, "scratch"), "marker"));
	char path[PATH_MAX * 2];

	for (int i = 0; marker && o->n_state_new && i < o->n_host && !o->marker_seen; i++) {
		snprintf(path, sizeof(path), "/proc/%d/root%s/%s/scratch/%s", (int)o->host_pids[i],
			 o->state_dir, o->state_new[0], marker);
		o->marker_seen = access(path, F_OK) == 0;
		o->signalled = o->marker_seen && unlink(path) == 0;
	}
}

/* The probe has reported and waits: look at the job from the host, then let it go on. */
static void observe_running_job(struct posture_obs *o, char before[][128], int n_before)
{
	char now[POSTURE_MAX_STATE * 4][128], path[PATH_MAX + 256];
	const char *scratch, *marker;
	int n_now;

	if (!o->probe)
		return;
	if (o->tier == SANDBOX_TIER_GVISOR)
		observe_gvisor(o);
	else
		each_pid(visit_job_proc, o);
	if (o->tier != SANDBOX_TIER_GVISOR)
		o->seen = o->n_procs > 0 && o->host_probe > 0;
	if (o->host_probe > 0 && o->tier != SANDBOX_TIER_GVISOR) {
		find_cgroups(o);
		read_cgroup_limits(o);
		find_encoder(o);
		scratch =
		    json_string_value(json_object_get(json_object_get(o->probe, "scratch"), "dir"));
		marker = json_string_value(
		    json_object_get(json_object_get(o->probe, "scratch"), "marker"));
		snprintf(path, sizeof(path), "/proc/%d/root%s/%s", (int)o->host_probe,
			 scratch ? scratch : "/scratch", marker ? marker : "-");
		o->marker_seen = access(path, F_OK) == 0;
	}
	n_now = list_state(o, now, POSTURE_MAX_STATE * 4);
	for (int i = 0; i < n_now && o->n_state_new < POSTURE_MAX_STATE; i++) {
		int old = 0;
		for (int j = 0; j < n_before; j++)
			old |= !strcmp(now[i], before[j]);
		if (!old)
			snprintf(o->state_new[o->n_state_new++], 128, "%.120s", now[i]);
	}
	if (o->tier == SANDBOX_TIER_GVISOR)
		release_gvisor_probe(o);
	if (o->tier != SANDBOX_TIER_GVISOR && o->host_probe > 0 &&
	    kill(o->host_probe, SIGUSR1) == 0)
		o->signalled = 1;
}

/* ---- the job's log ----------------------------------------------------------------- */

struct posture_run {
	struct posture_obs *o;
	char before[POSTURE_MAX_STATE * 4][128];
	int n_before;
};

/* "POSTURE i/n CHUNK": the next piece of the report, in order. */
static void take_chunk(struct posture_obs *o, const char *line)
{
	int i, n, off = 0;
	size_t len;

	if (sscanf(line, "POSTURE %d/%d %n", &i, &n, &off) != 2 || !off || i != o->chunks + 1 ||
	    (o->chunks_total && n != o->chunks_total)) {
		o->bad_chunk = 1;
		return;
	}
	len = strlen(line + off);
	if (o->report_len + len + 1 > o->report_cap) {
		size_t cap = o->report_cap ? o->report_cap * 2 : 8192;
		char *p;
		while (cap < o->report_len + len + 1)
			cap *= 2;
		if (cap > REPORT_MAX || !(p = realloc(o->report, cap))) {
			o->bad_chunk = 1;
			return;
		}
		o->report = p;
		o->report_cap = cap;
	}
	memcpy(o->report + o->report_len, line + off, len + 1);
	o->report_len += len;
	o->chunks = i;
	o->chunks_total = n;
}

static void on_log_line(void *opaque, const char *line, size_t len)
{
	struct posture_run *pr = opaque;
	struct posture_obs *o = pr->o;

	(void)len;
	if (!strncmp(line, "POSTURE ", 8)) {
		take_chunk(o, line);
	} else if (!strncmp(line, "POSTURE-END ", 12)) {
		o->ended = 1;
		if (!o->bad_chunk && o->chunks == o->chunks_total && o->report)
			o->probe = json_loads(o->report, 0, NULL);
		observe_running_job(o, pr->before, pr->n_before);
	} else if (!strncmp(line, "POSTURE-NET ", 12)) {
		json_decref(o->net);
		o->net = json_loads(line + 12, 0, NULL);
	} else if (!strncmp(line, "reelbox: denied ", 16)) {
		o->n_denied++;
		if (!o->denied_inet[0] && strstr(line, "denied socket(AF_INET)"))
			snprintf(o->denied_inet, sizeof(o->denied_inet), "%s", line);
	}
}

static void on_done(void *opaque, const struct runner_result *res)
{
	struct posture_run *pr = opaque;

	pr->o->res = *res;
	pr->o->finished = 1;
}

static const struct runner_ops posture_ops = {
    .progress = NULL,
    .log_line = on_log_line,
    .done = on_done,
};

/* ---- after the job ------------------------------------------------------------------ */

static int visit_leftover(void *opaque, pid_t pid)
{
	struct posture_obs *o = opaque;
	static const char *const kinds[] = {"pid", "user", "mnt"};
	char ns[64], uid[128];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *job = probe_ns(o, kinds[i]);
		ns_link(pid, kinds[i], ns, sizeof(ns));
		if (*job && !strcmp(ns, job)) {
			o->left_in_ns++;
			return 0;
		}
	}
	if (status_field(pid, "Uid", uid, sizeof(uid)) == 0) {
		long u = strtol(uid, NULL, 10);
		if (u != (long)geteuid() && (u == o->host_uid || u == o->enc_uid))
			o->left_uid++;
	}
	return 0;
}

/* What the job left: processes, cgroups, its state dir. Counted again until nothing is
 * left or AFTER_WAIT_MS have passed (the last kill is asynchronous on cgroup v1). */
static void observe_after(struct posture_obs *o)
{
	uint64_t until = now_ms() + AFTER_WAIT_MS;
	char path[PATH_MAX + 160];
	struct stat st;

	for (;;) {
		o->left_in_ns = o->left_uid = o->cg_left = o->state_left = 0;
		for (int i = 0; i < o->n_host; i++)
			o->left_in_ns +=
			    o->host_starts[i] && start_time(o->host_pids[i]) == o->host_starts[i];
		if (o->probe && o->tier != SANDBOX_TIER_GVISOR)
			each_pid(visit_leftover, o);
		for (int i = 0; i < o->n_cg; i++)
			o->cg_left += stat(o->cg_dirs[i], &st) == 0;
		for (int i = 0; i < o->n_state_new; i++) {
			snprintf(path, sizeof(path), "%s/%s", o->state_dir, o->state_new[i]);
			o->state_left += lstat(path, &st) == 0;
		}
		if (!(o->left_in_ns + o->left_uid + o->cg_left + o->state_left) ||
		    now_ms() >= until)
			return;
		usleep(20000);
	}
}

/* ---- the run ------------------------------------------------------------------------ */

/* The probe as a job: 64x48, one frame, the python3 runtime, the operator's defaults. */
static int probe_job(const struct config *cfg, enum sandbox_tier tier, struct job *job, char *err,
		     size_t errlen)
{
	job_init(job);
	job->script = malloc(posture_probe_py_len + 1);
	if (!job->script) {
		snprintf(err, errlen, "out of memory for the posture probe");
		return -ENOMEM;
	}
	memcpy(job->script, posture_probe_py, posture_probe_py_len + 1);
	job->script_len = posture_probe_py_len;
	snprintf(job->script_name, sizeof(job->script_name), "posture.py");
	snprintf(job->runtime, sizeof(job->runtime), "python3");
	snprintf(job->id, sizeof(job->id), "posture");
	snprintf(job->pix_fmt, sizeof(job->pix_fmt), "rgb24");
	snprintf(job->format, sizeof(job->format), "mp4");
	job->width = 64;
	job->height = 48;
	job->fps = 1;
	job->frames = 1;
	job->crf = -1;
	snprintf(job->tier, sizeof(job->tier), "%s", sandbox_tier_name(tier));
	return job_resolve(job, cfg, err, errlen);
}

/* What this host lets the sandbox enforce, for the judge: rootless, which cgroups. */
static void note_enforcement(struct posture_obs *o)
{
	struct sandbox_enforcement enf;

	sandbox_enforcement(&enf);
	o->rootless = enf.rootless;
	snprintf(o->limits_cgroup, sizeof(o->limits_cgroup), "%s", enf.cgroup);
	snprintf(o->slot_uids, sizeof(o->slot_uids), "%s", enf.slot_uids);
	snprintf(o->limits_summary, sizeof(o->limits_summary), "%s", enf.summary);
}

/* What posture_run needs before the job: python3, the encoder, the probe job. */
static int prepare(struct posture_obs *o, struct job *job, char *err, size_t errlen)
{
	const struct runtime *rt = config_find_runtime(o->cfg, "python3");
	unsigned char rnd[16];
	int rc;

	if (!rt) {
		snprintf(err, errlen,
			 "the runtime table has no python3, which the posture probe "
			 "runs on; add it back (docs/jobs.md, \"runtimes\")");
		return -ENOENT;
	}
	if (access(rt->path, X_OK) < 0) {
		snprintf(err, errlen,
			 "python3 (%s) is not installed on this host, and the posture "
			 "probe runs on it; install python3 (apt-get install python3-minimal)",
			 rt->path);
		return -ENOENT;
	}
	o->rt = rt;
	if ((rc = encoder_server_start(err, errlen)) < 0)
		return rc;
	if ((rc = probe_job(o->cfg, o->tier, job, err, errlen)) < 0)
		return rc;
	o->timeout_s = job->limits.timeout_s;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(err, errlen, "cannot draw a random canary: %s", strerror(errno));
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(o->canary + 2 * i, 3, "%02x", rnd[i]);
	for (int i = 0; i < POSTURE_NS; i++)
		ns_link(0, posture_ns_names[i], o->host_ns[i], sizeof(o->host_ns[i]));
	if (o->cfg->state_dir[0])
		snprintf(o->state_dir, sizeof(o->state_dir), "%s", o->cfg->state_dir);
	else /* sandbox/state.c's default, per user */
		sandbox_state_default_dir(o->state_dir, sizeof(o->state_dir));
	note_enforcement(o);
	return 0;
}

/* Run the probe job to its end on a private loop, with the canary in our environment. */
static int run_probe(struct posture_obs *o, const struct job *job, char *err, size_t errlen)
{
	struct posture_run pr = {.o = o};
	char dir[] = "/tmp/reelbox-posture.XXXXXX", output[64];
	struct runner *r = NULL;
	uv_loop_t loop;
	int rc;

	if (!mkdtemp(dir)) {
		snprintf(err, errlen, "cannot create a temporary dir in /tmp: %s", strerror(errno));
		return -errno;
	}
	snprintf(output, sizeof(output), "%s/posture.mp4", dir);
	pr.n_before = list_state(o, pr.before, POSTURE_MAX_STATE * 4);
	/* The canary: a secret of the process that starts the sandbox. Nothing of our
	 * environment may reach the job, so it must not be found in any of its processes. */
	setenv(POSTURE_CANARY_NAME, o->canary, 1);
	uv_loop_init(&loop);
	rc = runner_start(&loop, job, o->cfg, output, o->slot, NULL, &posture_ops, &pr, &r, err,
			  errlen);
	if (rc < 0)
		hints_privilege(err, errlen, rc);
	else
		uv_run(&loop, UV_RUN_DEFAULT);
	if (r)
		runner_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	unsetenv(POSTURE_CANARY_NAME);
	unlink(output);
	rmdir(dir);
	return rc < 0 ? rc : 0;
}

/* The facts: the probe's report with "net" and "host" added. */
static json_t *build_facts(const struct posture_obs *o)
{
	json_t *facts = o->probe ? json_deep_copy(o->probe) : json_object();

	if (!facts)
		return NULL;
	json_object_set_new(facts, "net", o->net ? json_deep_copy(o->net) : json_object());
	json_object_set_new(facts, "host", posture_host_facts(o));
	return facts;
}

/* The job ran; did the probe report? A sentence if not. */
static int check_reported(const struct posture_obs *o, char *err, size_t errlen)
{
	if (o->probe && o->net)
		return 0;
	snprintf(err, errlen, "the posture probe job %s before it reported%s%s",
		 o->res.succeeded ? "ended" : "failed",
		 o->res.succeeded || !o->res.error[0] ? "" : ": ",
		 o->res.succeeded ? "" : o->res.error);
	return -EPROTO;
}

static int run_slot(const struct config *cfg, enum sandbox_tier tier, unsigned slot,
		    struct posture_report *rep, char *err, size_t errlen)
{
	struct posture_obs *o = calloc(1, sizeof(*o));
	uint64_t t0 = now_ms();
	struct job job;
	int rc;

	memset(rep, 0, sizeof(*rep));
	job_init(&job);
	if (!o) {
		snprintf(err, errlen, "out of memory for the posture probe");
		return -ENOMEM;
	}
	o->cfg = cfg;
	o->tier = tier;
	o->slot = slot;
	o->host_uid = o->enc_uid = o->userns_owner = -1;
	o->cg_memory = o->cg_swap = o->cg_pids = POSTURE_UNKNOWN;
	o->cg_cpus = POSTURE_UNKNOWN;
	rc = prepare(o, &job, err, errlen);
	if (rc == 0)
		rc = run_probe(o, &job, err, errlen);
	if (rc == 0)
		rc = check_reported(o, err, errlen);
	if (rc == 0) {
		observe_after(o);
		posture_judge(o, rep);
		rep->facts = build_facts(o);
		rep->probe_ms = now_ms() - t0;
		rep->tier = tier;
	}
	job_free(&job);
	json_decref(o->probe);
	json_decref(o->net);
	free(o->report);
	free(o);
	return rc;
}

int posture_run_slot(const struct config *cfg, unsigned slot, struct posture_report *rep, char *err,
		     size_t errlen)
{
	return run_slot(cfg, SANDBOX_TIER_NATIVE, slot, rep, err, errlen);
}

int posture_run_tier(const struct config *cfg, enum sandbox_tier tier, struct posture_report *rep,
		     char *err, size_t errlen)
{
	unsigned slot = POSTURE_SLOT_BASE + (unsigned)getpid() % POSTURE_SLOTS;

	return run_slot(cfg, tier, slot, rep, err, errlen);
}

int posture_run(const struct config *cfg, struct posture_report *rep, char *err, size_t errlen)
{
	return posture_run_tier(cfg, SANDBOX_TIER_NATIVE, rep, err, errlen);
}

int posture_all_hold(const struct posture_report *rep)
{
	for (int i = 0; i < POSTURE_POINTS; i++)
		if (!rep->points[i].holds)
			return 0;
	return 1;
}

json_t *posture_json(const struct posture_report *rep)
{
	json_t *points = json_array();

	for (int i = 0; points && i < POSTURE_POINTS; i++) {
		const struct posture_point *p = &rep->points[i];
		json_array_append_new(points, json_pack("{s:s, s:s, s:b, s:s, s:s?}", "id",
							p->id ? p->id : "", "title",
							p->title ? p->title : "", "holds", p->holds,
							"evidence", p->evidence, "failed",
							p->failed[0] ? p->failed : NULL));
	}
	return json_pack("{s:o, s:b, s:O, s:I, s:s}", "points", points, "holds",
			 posture_all_hold(rep), "facts", rep->facts ? rep->facts : json_null(),
			 "probe_ms", (json_int_t)rep->probe_ms, "tier",
			 sandbox_tier_name(rep->tier));
}

void posture_free(struct posture_report *rep)
{
	json_decref(rep->facts);
	rep->facts = NULL;
}
