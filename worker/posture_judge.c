/* posture_judge.c - the eight points of the checklist, judged from what was measured.
 *
 * No I/O here: posture.c measured (the probe's report from inside the job, the host's
 * view while it ran and after it ended) and this says, point by point, whether the
 * promise of docs/security.md ("The sandboxing checklist") holds, with the numbers that
 * show it. A point holds only on evidence: what could not be measured does not hold,
 * and the clause in `failed` says what is missing.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posture_obs.h"

/* The environment of the contract (docs/jobs.md): every job gets these, plus the runtime
 * table's fixed variables, and nothing else. Written out here, not taken from specs.c,
 * so the audit does not check the code against itself. */
/* FRAME_START and FRAME_COUNT: a chunk's range (a chunked job's children only). */
static const char *const contract_env[] = {"WIDTH",   "HEIGHT",	     "FPS",	    "FRAMES",
					   "PIX_FMT", "SCRATCH",     "HOME",	    "PATH",
					   "LANG",    "FRAME_START", "FRAME_COUNT", NULL};
/* A name with one of these in it names a credential: never inside a job, whoever put
 * it in the runtime table. */
static const char *const secret_words[] = {"KEY",  "SECRET", "TOKEN",	"PASSW",   "CREDENTIAL",
					   "AUTH", "COOKIE", "SESSION", "PRIVATE", NULL};
/* The namespaces a job must not share with the host, in posture_obs's order. */
const char *const posture_ns_names[POSTURE_NS] = {"user", "pid", "mnt",	  "net",
						  "ipc",  "uts", "cgroup"};
static const char *const device_nodes[] = {"/dev/full",	   "/dev/null", "/dev/random",
					   "/dev/urandom", "/dev/zero", NULL};
/* gVisor's /dev: the Sentry's own implementations, no host device behind any of them. */
static const char *const sentry_devices[] = {
    "/dev/full", "/dev/null", "/dev/random",  "/dev/urandom",  "/dev/zero",
    "/dev/tty",	 "/dev/fuse", "/dev/net/tun", "/dev/pts/ptmx", NULL};
/* The gvisor tier's writable mounts besides scratch: the Sentry's own /proc, its
 * synthetic /sys, its /dev tmpfs and devpts (root's: the script cannot write them). */
static const char *const sentry_rw[] = {"/proc", "/sys", "/dev", "/dev/pts", NULL};

static void vappend(char *buf, size_t len, const char *sep, const char *fmt, va_list ap)
{
	size_t used = strlen(buf);

	if (used && used + strlen(sep) < len) {
		snprintf(buf + used, len - used, "%s", sep);
		used += strlen(sep);
	}
	if (used < len)
		vsnprintf(buf + used, len - used, fmt, ap);
}

/* One measured fact into the point's evidence. */
__attribute__((format(printf, 2, 3))) static void ev(struct posture_point *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(p->evidence, sizeof(p->evidence), "; ", fmt, ap);
	va_end(ap);
}

/* What does not hold: the point fails, the clause says why. */
__attribute__((format(printf, 2, 3))) static void fail(struct posture_point *p, const char *fmt,
						       ...)
{
	va_list ap;

	p->holds = 0;
	va_start(ap, fmt);
	vappend(p->failed, sizeof(p->failed), ", ", fmt, ap);
	va_end(ap);
}

static const char *js(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

static int in_list(const char *s, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}

/* soft/hard of an rlimit from the report; -1 infinite, -2 missing. */
static long long rlim(const struct posture_obs *o, const char *name, int hard)
{
	json_t *v = json_object_get(json_object_get(o->probe, "rlimit"), name);

	return json_is_array(v) ? (long long)json_integer_value(json_array_get(v, hard)) : -2;
}

static int gvisor(const struct posture_obs *o)
{
	return o->tier == SANDBOX_TIER_GVISOR;
}

static void mb(char *buf, size_t len, long long bytes)
{
	if (bytes < 0)
		snprintf(buf, len, "%s", bytes == POSTURE_UNLIMITED ? "unlimited" : "unknown");
	else
		snprintf(buf, len, "%lld MB", bytes >> 20);
}

/* ---- isolation ---------------------------------------------------------------------- */

/* As root (or with the user's subordinate ids, mapped by newgidmap) the sandbox drops
 * every supplementary group. Otherwise it cannot (an unprivileged gid_map needs
 * setgroups denied first): the job keeps the invoking user's groups,
 * which is fine when they are only the user's own gid, mapped to the inner one; any
 * other group still grants its access to host files, so it fails, and says what to do. */
static void judge_groups(const struct posture_obs *o, struct posture_point *p)
{
	json_t *groups = json_object_get(o->probe, "groups"), *g;
	size_t i, n = json_array_size(groups), other = 0;

	/* gVisor's getgroups() lists the job's own gid 1000, which the OCI spec gives it. */
	if (gvisor(o) && n == 1 && json_integer_value(json_array_get(groups, 0)) == 1000)
		n = 0;
	if (!o->rootless || !strcmp(o->slot_uids, "subuid")) {
		if (n)
			fail(p, "supplementary groups inside");
		if (o->rootless)
			ev(p, "not root: each slot runs as the user's subordinate id (/etc/subuid, "
			      "newuidmap), no supplementary groups");
		return;
	}
	json_array_foreach(groups, i, g) other += json_integer_value(g) != 1000;
	if (other)
		fail(p,
		     "%zu supplementary group%s of the invoking user inside (only root or "
		     "subordinate ids can drop them: run reelbox as a user with none, or give it "
		     "a range in /etc/subuid and /etc/subgid)",
		     other, other == 1 ? "" : "s");
	else
		ev(p, "not root: groups inside are only the user's own gid, mapped to 1000");
	ev(p, "not root: the job runs as this user's own uid, which every slot shares (per-slot "
	      "host uids need root, or a range in /etc/subuid and newuidmap)");
}

/* The gvisor tier: the uid map inside is the Sentry's own user namespace (its identity
 * map is not the host's); what the host kernel sees is the Sentry, measured here. */
static void judge_sentry_ids(const struct posture_obs *o, struct posture_point *p)
{
	ev(p,
	   "gvisor: the uid map inside is the Sentry's own; on the host the Sentry runs as uid "
	   "%ld in a user namespace of its own",
	   o->host_uid);
	if (o->host_uid <= 0)
		fail(p, "the Sentry runs as host uid %ld", o->host_uid);
	if (!o->sentry_ns[0][0] || !strcmp(o->sentry_ns[0], o->host_ns[0]))
		fail(p, "the Sentry shares the host's user namespace");
}

static void judge_ids(const struct posture_obs *o, struct posture_point *p)
{
	json_t *uid = json_object_get(o->probe, "uid"), *map = json_object_get(o->probe, "uid_map");
	const char *inner = json_string_value(json_array_get(map, 0));
	const char *host = json_string_value(json_array_get(map, 1));

	for (size_t i = 0; i < 4; i++) {
		const char *u = json_string_value(json_array_get(uid, i));

		if (!u || !strcmp(u, "0")) {
			fail(p, "uid %s inside", u ? u : "?");
			break;
		}
	}
	if (gvisor(o)) {
		judge_sentry_ids(o, p);
	} else {
		if (json_array_size(map) != 3 || !inner || !host || !strcmp(inner, "0") ||
		    !strcmp(host, "0"))
			fail(p, "uid map \"%s %s\" (one unprivileged id expected)",
			     inner ? inner : "?", host ? host : "?");
		ev(p, "uid %s -> host %s (one id mapped, no root inside)", inner ? inner : "?",
		   host ? host : "?");
	}
	judge_groups(o, p);
	if (gvisor(o) && o->userns_owner >= 0) {
		/* runsc (root) creates the Sentry's user namespace; the job's host resources
		 * are bounded by its cgroup, not by that owner's per-user counts. */
		ev(p, "gvisor: the Sentry's user namespace is runsc's, owned by host uid %ld",
		   o->userns_owner);
	} else if (o->userns_owner >= 0) {
		ev(p, "its user namespace is owned by host uid %ld", o->userns_owner);
		if (o->userns_owner == 0)
			fail(p, "the job's user namespace is owned by root");
	}
}

/* The gvisor tier: the script's system calls are answered by the Sentry, so the seccomp
 * and namespaces that matter are the Sentry's own on the host (inside, Seccomp reads 0:
 * the Sentry, not the host kernel, answers /proc/self/status). */
static void judge_sentry_isolation(const struct posture_obs *o, struct posture_point *p)
{
	char same[128] = "";

	ev(p, "CapInh/Prm/Eff/Bnd %s inside",
	   p->failed[0] && strstr(p->failed, "Cap") ? "not all 0" : "all 0");
	ev(p,
	   "gvisor: Seccomp %s inside is the Sentry's answer; the Sentry on the host: Seccomp "
	   "%s, NoNewPrivs %s",
	   js(o->probe, "seccomp"), o->sentry_seccomp[0] ? o->sentry_seccomp : "?",
	   o->sentry_nnp[0] ? o->sentry_nnp : "?");
	if (strcmp(o->sentry_seccomp, "2"))
		fail(p, "the Sentry's host Seccomp %s",
		     o->sentry_seccomp[0] ? o->sentry_seccomp : "?");
	if (strcmp(o->sentry_nnp, "1"))
		fail(p, "the Sentry's host NoNewPrivs %s", o->sentry_nnp[0] ? o->sentry_nnp : "?");
	/* The Sentry shares the host's pid and cgroup namespaces (the ptrace platform
	 * traces its stubs); the script's own are the Sentry's, where it is pid 1. */
	for (int i = 0; i < POSTURE_NS; i++) {
		const char *n = posture_ns_names[i];
		if (strcmp(n, "pid") && strcmp(n, "cgroup") &&
		    (!o->sentry_ns[i][0] || !strcmp(o->sentry_ns[i], o->host_ns[i])))
			snprintf(same + strlen(same), sizeof(same) - strlen(same), "%s%s",
				 same[0] ? " " : "", n);
	}
	if (same[0])
		fail(p, "the Sentry shares the host's %s namespace(s)", same);
	else
		ev(p,
		   "the Sentry's user mnt net ipc uts namespaces differ from the host's; the "
		   "script is pid %lld of the Sentry's own pid namespace (%s)",
		   (long long)json_integer_value(json_object_get(o->probe, "pid")),
		   js(json_object_get(o->probe, "ns"), "pid"));
	if (!*js(json_object_get(o->probe, "ns"), "pid") ||
	    !strcmp(js(json_object_get(o->probe, "ns"), "pid"), o->host_ns[1]))
		fail(p, "the script's pid namespace is the host's");
}

static void judge_isolation(const struct posture_obs *o, struct posture_point *p)
{
	static const char *const caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	json_t *cap = json_object_get(o->probe, "cap"), *ns = json_object_get(o->probe, "ns");
	char same[128] = "";

	judge_ids(o, p);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		/* gVisor's status has no CapAmb line: the OCI spec's ambient set is empty. */
		if (strcmp(js(cap, caps[i]), "0000000000000000") &&
		    !(gvisor(o) && !strcmp(caps[i], "CapAmb") && !strcmp(js(cap, caps[i]), "?")))
			fail(p, "%s %s", caps[i], js(cap, caps[i]));
	if (gvisor(o)) {
		judge_sentry_isolation(o, p);
		return;
	}
	ev(p, "CapInh/Prm/Eff/Bnd/Amb %s",
	   p->failed[0] && strstr(p->failed, "Cap") ? "not all 0" : "all 0");
	ev(p, "Seccomp %s (%s, %s filter%s)", js(o->probe, "seccomp"),
	   !strcmp(js(o->probe, "seccomp"), "2") ? "filter" : "NOT a filter",
	   js(o->probe, "seccomp_filters"),
	   strcmp(js(o->probe, "seccomp_filters"), "1") ? "s" : "");
	if (strcmp(js(o->probe, "seccomp"), "2") || atoi(js(o->probe, "seccomp_filters")) < 1)
		fail(p, "Seccomp %s", js(o->probe, "seccomp"));
	ev(p, "NoNewPrivs %s", js(o->probe, "nnp"));
	if (strcmp(js(o->probe, "nnp"), "1"))
		fail(p, "NoNewPrivs %s", js(o->probe, "nnp"));
	for (int i = 0; i < POSTURE_NS; i++) {
		const char *job = js(ns, posture_ns_names[i]);
		if (!*job || !strncmp(job, "error", 5) || !strcmp(job, o->host_ns[i]))
			snprintf(same + strlen(same), sizeof(same) - strlen(same), "%s%s",
				 same[0] ? " " : "", posture_ns_names[i]);
	}
	if (same[0])
		fail(p, "the host's %s namespace%s shared", same,
		     strchr(same, ' ') ? "s are" : " is");
	else
		ev(p, "user pid mnt net ipc uts cgroup namespaces all differ from the host's");
}

/* ---- default deny: the file system --------------------------------------------------- */

/* The mount table: read-only but scratch and /proc (and the device nodes), nosuid
 * everywhere, nodev but the device nodes. */
static void judge_mounts(const struct posture_obs *o, struct posture_point *p)
{
	json_t *mounts = json_object_get(o->probe, "mounts"), *m;
	const char *scratch = js(json_object_get(o->probe, "scratch"), "dir");
	json_t *sc = json_object_get(o->probe, "scratch");
	int tmp_is_scratch = json_is_true(json_object_get(sc, "tmp_is_scratch"));
	int shm_is_scratch = json_is_true(json_object_get(sc, "shm_is_scratch"));
	char rw[256] = "";
	size_t i;
	int n = 0, root_ro = 0;

	json_array_foreach(mounts, i, m)
	{
		const char *mp = json_string_value(json_array_get(m, 0));
		const char *fs = json_string_value(json_array_get(m, 2));
		const char *fl = json_string_value(json_array_get(m, 3));
		int dev = mp && in_list(mp, device_nodes);

		if (!mp || !fs || !fl)
			continue;
		n++;
		if (!strcmp(mp, "/"))
			root_ro = strstr(fl, "ro") == fl;
		if (gvisor(o)) {
			/* /tmp may be scratch itself, bound again: the probe's marker shows there.
			 */
			if (strstr(fl, "rw") == fl && strcmp(mp, scratch) &&
			    !in_list(mp, sentry_rw) && !(!strcmp(mp, "/tmp") && tmp_is_scratch) &&
			    !(!strcmp(mp, "/dev/shm") && shm_is_scratch))
				fail(p, "%s (%s) is writable", mp, fs);
			continue;
		}
		if (!strstr(fl, "nosuid"))
			fail(p, "%s is not nosuid", mp);
		if (!dev && !strstr(fl, "nodev"))
			fail(p, "%s is not nodev", mp);
		if (strstr(fl, "rw") != fl || dev)
			continue;
		if (!strcmp(mp, scratch) && !strcmp(fs, "tmpfs"))
			snprintf(rw + strlen(rw), sizeof(rw) - strlen(rw), "%s%s (tmpfs)",
				 rw[0] ? ", " : "", mp);
		else if (!strcmp(mp, "/proc") && !strcmp(fs, "proc"))
			snprintf(rw + strlen(rw), sizeof(rw) - strlen(rw), "%s/proc",
				 rw[0] ? ", " : "");
		else
			fail(p, "%s (%s) is writable", mp, fs);
	}
	if (!root_ro)
		fail(p, "/ is not read-only");
	if (gvisor(o)) {
		ev(p,
		   "/ read-only; %d mounts, writable only %s%s (served by the gofer from the "
		   "worker's size-limited tmpfs) and the Sentry's own /proc /sys /dev",
		   n, scratch,
		   tmp_is_scratch && shm_is_scratch ? " (and /tmp and /dev/shm: the same scratch)"
		   : tmp_is_scratch		    ? " (and /tmp: the same scratch)"
						    : "");
		ev(p,
		   "gvisor: the Sentry's mount table shows no nosuid/nodev; execve in it gains no "
		   "privilege (no_new_privs, every capability set empty) and no host device is "
		   "behind its /dev");
		return;
	}
	ev(p,
	   "/ read-only; %d mounts, writable only %s and the 5 device nodes; all nosuid, "
	   "nodev but the device nodes",
	   n, rw[0] ? rw : "(none)");
}

static void judge_filesystem(const struct posture_obs *o, struct posture_point *p)
{
	json_t *writes = json_object_get(o->probe, "writes"), *paths, *v, *dev;
	const char *k;
	char refused[128] = "", absent[256] = "", devs[128] = "";
	size_t i;

	judge_mounts(o, p);
	json_object_foreach(writes, k, v)
	{
		if (!strcmp(json_string_value(v) ? json_string_value(v) : "WRITABLE", "WRITABLE"))
			fail(p, "a file could be created in %s", k);
		else
			snprintf(refused + strlen(refused), sizeof(refused) - strlen(refused),
				 "%s%s", refused[0] ? " " : "", k);
	}
	ev(p, "creating a file in %s: refused (%s)", refused,
	   js(writes, "/")[0] ? js(writes, "/") : "?");
	paths = json_object_get(o->probe, "host_paths");
	json_object_foreach(paths, k, v)
	{
		/* gVisor's /sys is synthetic: the Sentry's, nothing of the host's. */
		if (gvisor(o) && !strcmp(k, "/sys"))
			ev(p, "gvisor: /sys is the Sentry's synthetic one");
		else if (strcmp(json_string_value(v) ? json_string_value(v) : "", "absent"))
			fail(p, "the host's %s is visible", k);
		else
			snprintf(absent + strlen(absent), sizeof(absent) - strlen(absent), "%s%s",
				 absent[0] ? " " : "", k);
	}
	ev(p, "absent: %s", absent);
	json_array_foreach(json_object_get(o->probe, "dev"), i, dev)
	{
		char node[64];
		snprintf(node, sizeof(node), "/dev/%s",
			 json_string_value(dev) ? json_string_value(dev) : "?");
		if (!in_list(node, gvisor(o) ? sentry_devices : device_nodes))
			fail(p, "device %s is visible", node);
		snprintf(devs + strlen(devs), sizeof(devs) - strlen(devs), "%s%s",
			 devs[0] ? " " : "", node + 5);
	}
	ev(p, "/dev: %s", devs);
	if (json_object_get(json_object_get(o->probe, "scratch"), "error"))
		fail(p, "scratch is not writable");
}

/* ---- no network ---------------------------------------------------------------------- */

/* The gvisor tier: a socket is the Sentry's netstack (runsc --network=none: a loopback
 * only), so creating one proves nothing; reaching out must fail. */
static void judge_sentry_network(const struct posture_obs *o, struct posture_point *p)
{
	static const char *const out[] = {"connect_inet", "connect_inet6"};

	ev(p,
	   "gvisor: socket() is answered by the Sentry's netstack (AF_INET %s, AF_INET6 %s, "
	   "AF_NETLINK %s, AF_PACKET %s)",
	   js(o->net, "AF_INET"), js(o->net, "AF_INET6"), js(o->net, "AF_NETLINK"),
	   js(o->net, "AF_PACKET"));
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		const char *r = js(o->net, out[i]);
		if (!*r || !strcmp(r, "CONNECTED"))
			fail(p, "%s %s", out[i],
			     *r ? "reached a documentation address" : "not tried");
		ev(p, "%s to a documentation address: %s", out[i], *r ? r : "?");
	}
}

static void judge_network(const struct posture_obs *o, struct posture_point *p)
{
	static const char *const fams[] = {"AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"};
	json_t *ifaces = json_object_get(o->probe, "ifaces"), *v;
	const char *net = js(json_object_get(o->probe, "ns"), "net");
	char names[128] = "";
	size_t i;

	if (gvisor(o))
		net = o->sentry_ns[3];
	if (!*net || !strcmp(net, o->host_ns[3]))
		fail(p, "the job shares the host's network namespace");
	else
		ev(p, "a network namespace of its own (%s%s)", net,
		   gvisor(o) ? ", the Sentry's" : "");
	json_array_foreach(ifaces, i, v)
	{
		const char *n = json_string_value(v) ? json_string_value(v) : "?";
		if (strcmp(n, "lo") && strcmp(n, "?"))
			fail(p, "interface %s is visible", n);
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 names[0] ? " " : "", n);
	}
	ev(p, "interfaces: %s", !strcmp(names, "?") ? "none visible (/proc/net is hidden)" : names);
	if (gvisor(o)) {
		judge_sentry_network(o, p);
		return;
	}
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		const char *r = js(o->net, fams[f]);
		if (!*r || !strcmp(r, "CREATED"))
			fail(p, "socket(%s) %s", fams[f], *r ? "was created" : "was not tried");
		ev(p, "socket(%s) %s", fams[f], *r ? r : "?");
	}
}

/* ---- no secrets inside -------------------------------------------------------------- */

static int runtime_env_name(const struct runtime *rt, const char *name)
{
	for (int i = 0; rt && i < rt->n_env; i++)
		if (!strncmp(rt->env[i], name, strlen(name)) && rt->env[i][strlen(name)] == '=')
			return 1;
	return 0;
}

/* The names inside: the contract's and the runtime table's, nothing named like a
 * credential, nothing of reelbox's, not the canary. */
static void judge_env(const struct posture_obs *o, struct posture_point *p)
{
	json_t *env = json_object_get(o->probe, "env"), *v;
	char extra[256] = "";
	size_t i;

	json_array_foreach(env, i, v)
	{
		const char *n = json_string_value(v) ? json_string_value(v) : "?";
		int secret = 0;

		for (int w = 0; secret_words[w]; w++)
			secret |= strstr(n, secret_words[w]) != NULL;
		if (!strncmp(n, "REELBOX_", 8))
			fail(p, "%s is set inside", n);
		else if (secret)
			fail(p, "%s is set inside, %s", n,
			     runtime_env_name(o->rt, n) ? "from the runtime table's env"
							: "a name like a credential's");
		else if (!in_list(n, contract_env) && !runtime_env_name(o->rt, n))
			fail(p, "%s is set inside and is not in the contract", n);
		if (!in_list(n, contract_env))
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "%s%s",
				 extra[0] ? " " : "", n);
	}
	ev(p,
	   "environment: the contract's WIDTH HEIGHT FPS FRAMES PIX_FMT SCRATCH "
	   "HOME PATH LANG%s%s",
	   extra[0] ? " + " : "", extra);
}

static void judge_sentry_pid1_env(const struct posture_obs *o, struct posture_point *p)
{
	json_t *names = json_object_get(o->probe, "pid1_env_names"), *v, *e;
	json_t *env = json_object_get(o->probe, "env");
	size_t i, j;

	json_array_foreach(names, i, v)
	{
		int own = 0;
		json_array_foreach(env, j, e) own |= json_equal(e, v);
		if (!own)
			fail(p, "pid 1's environ holds %s, which the script has not",
			     json_string_value(v) ? json_string_value(v) : "?");
	}
	ev(p,
	   "gvisor: the Sentry shows pid 1's environ (reelbox-init's): only the job's own %zu "
	   "names",
	   json_array_size(names));
}

static void judge_secrets(const struct posture_obs *o, struct posture_point *p)
{
	json_t *fds = json_object_get(o->probe, "fds"), *fd;
	char list[64] = "";
	size_t i;

	judge_env(o, p);
	if (o->canary_found)
		fail(p,
		     "the canary " POSTURE_CANARY_NAME " of this process is in the job's environ");
	else if (o->environ_read)
		ev(p,
		   "the canary " POSTURE_CANARY_NAME " set in this process is in none of the "
		   "environs of the job's %d processes (read from the host)",
		   o->environ_read);
	else
		ev(p,
		   "the canary " POSTURE_CANARY_NAME " set in this process is not among the names "
		   "inside (the host could not read the job's environ)");
	json_array_foreach(fds, i, fd)
	{
		json_int_t n = json_integer_value(json_array_get(fd, 0));
		if (n > 2)
			fail(p, "fd %lld (%s) is open inside", (long long)n,
			     json_string_value(json_array_get(fd, 1))
				 ? json_string_value(json_array_get(fd, 1))
				 : "?");
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%lld",
			 list[0] ? " " : "", (long long)n);
	}
	ev(p, "open fds: %s", list);
	ev(p, "pid 1's environ: %s", js(o->probe, "pid1_environ"));
	/* The Sentry shows pid 1's environ whatever its dumpable flag: it must hold only
	 * the names the script has itself. */
	if (gvisor(o) && strcmp(js(o->probe, "pid1_environ"), "unreadable"))
		judge_sentry_pid1_env(o, p);
	else if (strcmp(js(o->probe, "pid1_environ"), "unreadable"))
		fail(p, "pid 1's environ is readable");
}

/* ---- limits ------------------------------------------------------------------------- */

static void judge_cgroup(const struct posture_obs *o, struct posture_point *p)
{
	char mem[32], swap[32], cpus[32];

	if (!o->n_cg) {
		/* What does hold is said too: RLIMIT_DATA per process, RLIMIT_NPROC per job
		 * (its user namespace's count), the wall clock; not memory across processes
		 * nor a cpu quota, so the point fails. */
		fail(p,
		     "no cgroup of the job was found (%s): memory across processes and the cpu "
		     "quota are not limited",
		     o->rootless ? "not root and no delegated cgroup v2 subtree"
				 : "no usable cgroups on this host");
		mb(mem, sizeof(mem), rlim(o, "data", 1));
		ev(p,
		   "instead: RLIMIT_DATA %s per process, RLIMIT_NPROC %lld per job, the wall clock",
		   mem, rlim(o, "nproc", 1));
		return;
	}
	if (o->limits_cgroup[0])
		ev(p, "cgroup kind: %s", o->limits_cgroup);
	mb(mem, sizeof(mem), o->cg_memory);
	mb(swap, sizeof(swap), o->cg_swap);
	if (o->cg_cpus >= 0)
		snprintf(cpus, sizeof(cpus), "%.2f cores", o->cg_cpus);
	else
		snprintf(cpus, sizeof(cpus), "%s",
			 o->cg_cpus == POSTURE_UNLIMITED ? "unlimited" : "unknown");
	ev(p, "cgroup %s (v%d, read from the host): memory %s, swap %s, pids %lld, cpu %s",
	   strrchr(o->cg_dirs[0], '/') ? strrchr(o->cg_dirs[0], '/') + 1 : o->cg_dirs[0],
	   o->cg_v2 ? 2 : 1, mem, o->cg_swap == 0 ? "none" : swap, (long long)o->cg_pids, cpus);
	if (o->cg_memory < 0)
		fail(p, "memory %s", mem);
	if (o->cg_swap != 0)
		fail(p, "swap %s", swap);
	if (o->cg_pids < 0)
		fail(p, "pids %s", o->cg_pids == POSTURE_UNLIMITED ? "unlimited" : "unknown");
	if (o->cfg->defaults.cpus > 0 && o->cg_cpus < 0)
		fail(p, "cpu quota %s", cpus);
}

static void judge_limits(const struct posture_obs *o, struct posture_point *p)
{
	static const char *const finite[] = {"nofile", "nproc", "fsize", "sigpending"};
	json_t *scratch = json_object_get(o->probe, "scratch");
	char fsize[32], sb[32];

	judge_cgroup(o, p);
	for (size_t i = 0; i < sizeof(finite) / sizeof(finite[0]); i++)
		if (rlim(o, finite[i], 1) < 0)
			fail(p, "RLIMIT_%s unlimited", finite[i]);
	if (rlim(o, "core", 1) != 0)
		fail(p, "core dumps allowed");
	if (rlim(o, "msgqueue", 1) != 0)
		fail(p, "message queues allowed");
	mb(fsize, sizeof(fsize), rlim(o, "fsize", 1));
	ev(p,
	   "rlimits: nofile %lld, nproc %lld, fsize %s, core %lld, sigpending %lld, msgqueue %lld",
	   rlim(o, "nofile", 1), rlim(o, "nproc", 1), fsize, rlim(o, "core", 1),
	   rlim(o, "sigpending", 1), rlim(o, "msgqueue", 1));
	mb(sb, sizeof(sb), (long long)json_integer_value(json_object_get(scratch, "bytes")));
	ev(p, "scratch: a tmpfs of %s, %lld inodes", sb,
	   (long long)json_integer_value(json_object_get(scratch, "inodes")));
	if (json_integer_value(json_object_get(scratch, "bytes")) <= 0)
		fail(p, "scratch has no size limit");
}

/* ---- hard lifetime ------------------------------------------------------------------ */

static void judge_lifetime(const struct posture_obs *o, struct posture_point *p)
{
	const struct job_limits *d = &o->cfg->defaults, *mx = &o->cfg->maxima;

	ev(p,
	   "wall clock %u s by default, %u s at most (the runner's timer ends script, encode "
	   "and all)",
	   d->timeout_s, mx->timeout_s);
	if (!d->timeout_s || !mx->timeout_s)
		fail(p, "no wall clock");
	ev(p, "RLIMIT_CPU %lld/%lld s", rlim(o, "cpu", 0), rlim(o, "cpu", 1));
	if (rlim(o, "cpu", 1) < 0)
		fail(p, "RLIMIT_CPU unlimited");
	if (gvisor(o) && !strcmp(o->pid1_cmd, "runsc-sandbox"))
		ev(p,
		   "gvisor: every process of the job is a task of the Sentry, which runs in the "
		   "job's cgroup with runsc and its gofer (%d host processes): all die with it",
		   o->n_procs);
	else if (!strncmp(o->pid1_cmd, "reelbox-init", 12))
		ev(p,
		   "pid 1 of the job's pid namespace is reelbox-init: every process of the job, a "
		   "daemon too, dies with it");
	else
		fail(p, "pid 1 of the job %s",
		     o->seen ? "is not reelbox-init" : "was not seen from the host");
	if (o->cg_pids > 0)
		ev(p, "pids.max %lld", (long long)o->cg_pids);
	else if (rlim(o, "nproc", 1) > 0)
		ev(p, "RLIMIT_NPROC %lld (no cgroup pids limit)", rlim(o, "nproc", 1));
	else
		fail(p, "no process limit");
}

/* ---- cleanup ------------------------------------------------------------------------ */

static void judge_cleanup(const struct posture_obs *o, struct posture_point *p)
{
	if (!o->seen) {
		fail(p, "the job was not seen from the host, so what it left could not be checked");
		return;
	}
	if (gvisor(o) && o->left_in_ns)
		fail(p, "%d of its %d host processes (runsc, gofer, Sentry) left", o->left_in_ns,
		     o->n_host);
	else if (gvisor(o))
		ev(p, "after the job: none of its %d host processes (runsc, gofer, Sentry) left",
		   o->n_host);
	else if (o->left_in_ns)
		fail(p, "%d process(es) left in the job's namespaces", o->left_in_ns);
	else
		ev(p, "after the job: no process in its pid, user or mount namespace");
	if (!gvisor(o) && o->host_uid >= 0 && o->host_uid != (long)geteuid()) {
		char enc[64] = "";
		if (o->enc_uid >= 0)
			snprintf(enc, sizeof(enc), " or of its encoder's %ld", o->enc_uid);
		if (o->left_uid)
			fail(p, "%d process(es) of host uid %ld%s left", o->left_uid, o->host_uid,
			     enc);
		else
			ev(p, "none of its host uid %ld%s", o->host_uid, enc);
	}
	if (o->n_cg) {
		if (o->cg_left)
			fail(p, "%d of its %d cgroup dirs left", o->cg_left, o->n_cg);
		else
			ev(p, "its cgroup dirs removed (%d, %d of them its encoder's)", o->n_cg,
			   o->n_cg - o->n_cg_job);
	}
	if (!o->n_state_new)
		fail(p, "its state dir in %s was not found while it ran", o->state_dir);
	else if (o->state_left)
		fail(p, "its state dir %s/%s left", o->state_dir, o->state_new[0]);
	else
		ev(p, "its state dir %s/%s removed", o->state_dir, o->state_new[0]);
	if (o->marker_seen)
		ev(p,
		   "scratch (the probe's file in it was seen from the host while the job ran) went "
		   "with its mount namespace");
}

/* ---- audit trail -------------------------------------------------------------------- */

static void judge_audit(const struct posture_obs *o, struct posture_point *p)
{
	if (gvisor(o)) {
		ev(p, "gvisor: no call is denied by a host filter (the Sentry answers each), so no "
		      "denied call is named; the log and the exit are the trail");
		if (!strstr(o->res.log_tail, "POSTURE-NET"))
			fail(p, "the result's log tail lost the probe's last line");
	} else if (!o->denied_inet[0]) {
		fail(p, "the probe's socket(AF_INET) was not named in the job's log");
	} else {
		ev(p, "the job's log named each denied call (%d), e.g. \"%.160s\"", o->n_denied,
		   o->denied_inet);
		if (!strstr(o->res.log_tail, "denied socket(AF_INET)"))
			fail(p, "the result's log tail lost the denied call");
		else
			ev(p, "the result keeps it in its log tail");
	}
	ev(p, "the result records the exit (%s, code %d)",
	   o->res.succeeded ? "succeeded" : "failed", o->res.exit_code);
	if (!o->res.succeeded)
		fail(p, "the probe job failed: %.120s", o->res.error);
}

void posture_judge(const struct posture_obs *o, struct posture_report *rep)
{
	static const struct {
		const char *id, *title;
		void (*judge)(const struct posture_obs *, struct posture_point *);
	} points[POSTURE_POINTS] = {
	    {"isolation", "Isolation per job: its own namespaces, no capabilities, no root inside",
	     judge_isolation},
	    {"filesystem", "Default deny: a read-only system, scratch only", judge_filesystem},
	    {"network", "No network", judge_network},
	    {"secrets", "No secrets inside", judge_secrets},
	    {"limits", "Limits: memory, processes, CPU, files, scratch", judge_limits},
	    {"lifetime", "Hard lifetime: a wall clock, and everything dies with the job",
	     judge_lifetime},
	    {"cleanup", "Cleanup: nothing of the job is left", judge_cleanup},
	    {"audit", "Audit trail: denied calls named in the job's log", judge_audit},
	};

	for (int i = 0; i < POSTURE_POINTS; i++) {
		struct posture_point *p = &rep->points[i];

		memset(p, 0, sizeof(*p));
		p->id = points[i].id;
		p->title = points[i].title;
		p->holds = 1;
		points[i].judge(o, p);
	}
}

static void set_int(json_t *obj, const char *key, long long v)
{
	json_object_set_new(obj, key, json_integer((json_int_t)v));
}

/* What the host saw while the job ran. */
static json_t *host_during(const struct posture_obs *o)
{
	json_t *d = json_object(), *ns = json_object(), *cgs = json_array(), *lim = json_object();

	for (int i = 0; i < POSTURE_NS; i++)
		json_object_set_new(ns, posture_ns_names[i], json_string(o->host_ns[i]));
	json_object_set_new(d, "ns", ns);
	json_object_set_new(d, "job_seen", json_boolean(o->seen));
	set_int(d, "job_processes", o->n_procs);
	set_int(d, "probe_pid", o->host_probe);
	json_object_set_new(d, "pid1", json_string(o->pid1_cmd));
	set_int(d, "host_uid", o->host_uid);
	set_int(d, "encoder_uid", o->enc_uid);
	set_int(d, "userns_owner", o->userns_owner);
	set_int(d, "environs_read", o->environ_read);
	json_object_set_new(d, "canary_found", json_boolean(o->canary_found));
	json_object_set_new(d, "scratch_marker_seen", json_boolean(o->marker_seen));
	for (int i = 0; i < o->n_cg; i++)
		json_array_append_new(cgs, json_string(o->cg_dirs[i]));
	json_object_set_new(d, "cgroups", cgs);
	set_int(lim, "memory", o->cg_memory);
	set_int(lim, "swap", o->cg_swap);
	set_int(lim, "pids", o->cg_pids);
	json_object_set_new(lim, "cpus", json_real(o->cg_cpus));
	json_object_set_new(d, "cgroup_limits", lim);
	return d;
}

json_t *posture_host_facts(const struct posture_obs *o)
{
	json_t *h = host_during(o), *state = json_array(), *after = json_object();

	json_object_set_new(h, "state_dir", json_string(o->state_dir));
	json_object_set_new(h, "rootless", json_boolean(o->rootless));
	json_object_set_new(h, "cgroup", json_string(o->limits_cgroup));
	json_object_set_new(h, "limits", json_string(o->limits_summary));
	for (int i = 0; i < o->n_state_new; i++)
		json_array_append_new(state, json_string(o->state_new[i]));
	json_object_set_new(h, "state_entries", state);
	set_int(h, "denied_named", o->n_denied);
	set_int(after, "in_namespaces", o->left_in_ns);
	set_int(after, "of_host_uid", o->left_uid);
	set_int(after, "cgroups", o->cg_left);
	set_int(after, "state", o->state_left);
	json_object_set_new(h, "after", after);
	return h;
}
