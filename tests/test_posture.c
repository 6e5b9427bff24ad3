/* test_posture.c - the posture audit: it holds on this host, and each point can fail.
 *
 * One live test runs the probe as a real job through the API the demo uses
 * (posture_run, posture_json) and expects all eight points to hold with evidence. The
 * table below then starts from a sound measurement (a real probe report, trimmed) and
 * breaks one fact at a time, as a weaker sandbox or a careless operator would: exactly
 * the point that fact belongs to must fail, with a clause naming what broke. A point
 * that no broken fact can fail would be a check that cannot fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "encoder.h"
#include "helpers.h"
#include "job.h"
#include "posture.h"
#include "posture_obs.h"

static const char *const ids[POSTURE_POINTS] = {"isolation", "filesystem", "network", "secrets",
						"limits",    "lifetime",   "cleanup", "audit"};

/* ---- live ----------------------------------------------------------------------------- */

static void test_every_point_holds_in_a_live_job_with_evidence(void **state)
{
	struct posture_report rep;
	struct config cfg;
	char err[512] = "";
	json_t *j;

	(void)state;
	if (geteuid() != 0)
		skip(); /* the sandbox needs root, as every command that starts one */
	encoder_set_program(th_reelbox_bin());
	config_defaults(&cfg);
	assert_int_equal(posture_run(&cfg, &rep, err, sizeof(err)), 0);
	for (int i = 0; i < POSTURE_POINTS; i++) {
		const struct posture_point *p = &rep.points[i];
		if (!p->holds)
			fail_msg("%s does not hold: %s (evidence: %s)", p->id, p->failed,
				 p->evidence);
		assert_string_equal(p->id, ids[i]);
		assert_true(strlen(p->evidence) > 20);
		assert_string_equal(p->failed, "");
	}
	assert_true(posture_all_hold(&rep));
	j = posture_json(&rep);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "points")), POSTURE_POINTS);
	assert_true(json_is_true(json_object_get(j, "holds")));
	assert_true(json_is_true(
	    json_object_get(json_object_get(json_object_get(j, "facts"), "host"), "job_seen")));
	json_decref(j);
	posture_free(&rep);
}

static void test_a_missing_python3_is_one_sentence(void **state)
{
	struct posture_report rep;
	struct config cfg;
	char err[512] = "";

	(void)state;
	config_defaults(&cfg);
	for (int i = 0; i < cfg.n_runtimes; i++)
		if (!strcmp(cfg.runtimes[i].name, "python3"))
			snprintf(cfg.runtimes[i].path, sizeof(cfg.runtimes[i].path),
				 "/usr/bin/no-such-python3");
	assert_true(posture_run(&cfg, &rep, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "python3 (/usr/bin/no-such-python3) is not installed"));
}

/* ---- judged from a sound measurement, one fact broken at a time ------------------------- */

static const char sound_probe[] =
    "{\"cap\":{\"CapAmb\":\"0000000000000000\",\"CapBnd\":\"0000000000000000\","
    "\"CapEff\":\"0000000000000000\",\"CapInh\":\"0000000000000000\","
    "\"CapPrm\":\"0000000000000000\"},"
    "\"dev\":[\"full\",\"null\",\"random\",\"urandom\",\"zero\"],"
    "\"env\":[\"FPS\",\"FRAMES\",\"HEIGHT\",\"HOME\",\"LANG\",\"PATH\",\"PIX_FMT\","
    "\"PYTHONDONTWRITEBYTECODE\",\"PYTHONUNBUFFERED\",\"SCRATCH\",\"WIDTH\"],"
    "\"fds\":[[0,\"/dev/null\"],[1,\"pipe:[1]\"],[2,\"pipe:[2]\"]],"
    "\"groups\":[],\"host_paths\":{\"/root\":\"absent\",\"/home\":\"absent\"},"
    "\"ifaces\":[\"?\"],"
    "\"mounts\":[[\"/\",\"/\",\"tmpfs\",\"ro,nosuid,nodev\"],"
    "[\"/usr\",\"/usr\",\"ext4\",\"ro,nosuid,nodev\"],"
    "[\"/job\",\"/\",\"tmpfs\",\"ro,nosuid,nodev\"],"
    "[\"/scratch\",\"/\",\"tmpfs\",\"rw,nosuid,nodev\"],"
    "[\"/proc\",\"/\",\"proc\",\"rw,nosuid,nodev,noexec\"],"
    "[\"/dev/null\",\"/null\",\"devtmpfs\",\"rw,nosuid,noexec\"]],"
    "\"nnp\":\"1\",\"ns\":{\"cgroup\":\"cgroup:[11]\",\"ipc\":\"ipc:[12]\",\"mnt\":\"mnt:[13]\","
    "\"net\":\"net:[14]\",\"pid\":\"pid:[15]\",\"user\":\"user:[16]\",\"uts\":\"uts:[17]\"},"
    "\"pid\":2,\"pid1_environ\":\"unreadable\","
    "\"rlimit\":{\"core\":[0,0],\"cpu\":[130,131],\"fsize\":[67108864,67108864],"
    "\"msgqueue\":[0,0],\"nofile\":[256,256],\"nproc\":[144,144],\"sigpending\":[64,64]},"
    "\"scratch\":{\"bytes\":67108864,\"dir\":\"/scratch\",\"inodes\":16384,"
    "\"marker\":\"m\"},\"seccomp\":\"2\",\"seccomp_filters\":\"1\","
    "\"uid\":[\"1000\",\"1000\",\"1000\",\"1000\"],\"uid_map\":[\"1000\",\"1501024\",\"1\"],"
    "\"writes\":{\"/\":\"EROFS\",\"/usr\":\"EROFS\",\"/job\":\"EROFS\"}}";
static const char sound_net[] = "{\"AF_INET\":\"EAFNOSUPPORT\",\"AF_INET6\":\"EAFNOSUPPORT\","
				"\"AF_NETLINK\":\"EAFNOSUPPORT\",\"AF_PACKET\":\"EAFNOSUPPORT\"}";

struct fixture {
	struct config cfg;
	struct posture_obs o;
};

/* What a sound sandbox measures: the probe's report above and the host's view. */
static struct fixture *sound(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static const char *const host_ns[POSTURE_NS] = {
	    "user:[1]", "pid:[2]", "mnt:[3]", "net:[4]", "ipc:[5]", "uts:[6]", "cgroup:[7]"};
	struct posture_obs *o = &f->o;

	config_defaults(&f->cfg);
	o->cfg = &f->cfg;
	o->rt = config_find_runtime(&f->cfg, "python3");
	o->probe = json_loads(sound_probe, 0, NULL);
	o->net = json_loads(sound_net, 0, NULL);
	assert_non_null(o->probe);
	assert_non_null(o->net);
	for (int i = 0; i < POSTURE_NS; i++)
		snprintf(o->host_ns[i], sizeof(o->host_ns[i]), "%s", host_ns[i]);
	o->seen = 1;
	o->n_procs = o->environ_read = 2;
	o->host_probe = 4242;
	snprintf(o->pid1_cmd, sizeof(o->pid1_cmd), "reelbox-init");
	o->host_uid = o->userns_owner = 1501024;
	o->enc_uid = 1566560;
	o->marker_seen = 1;
	o->n_cg = 2;
	o->n_cg_job = 1;
	snprintf(o->cg_dirs[0], PATH_MAX, "/sys/fs/cgroup/reelbox/rbx-1-1-slot1024");
	snprintf(o->cg_dirs[1], PATH_MAX, "/sys/fs/cgroup/reelbox/rbx-1-2-slot1024-enc");
	o->cg_v2 = 1;
	o->cg_memory = 512 << 20;
	o->cg_swap = 0;
	o->cg_pids = 64;
	o->cg_cpus = 1.0;
	snprintf(o->state_dir, sizeof(o->state_dir), "/var/tmp/reelbox");
	snprintf(o->state_new[0], sizeof(o->state_new[0]), "sb-1-2-0");
	o->n_state_new = 1;
	o->n_denied = 4;
	snprintf(o->denied_inet, sizeof(o->denied_inet),
		 "reelbox: denied socket(AF_INET): network access; only AF_UNIX sockets exist "
		 "inside");
	o->res.succeeded = 1;
	o->res.exit_code = 0;
	snprintf(o->res.log_tail, sizeof(o->res.log_tail), "POSTURE-END 5\n%s\nPOSTURE-NET {}\n",
		 o->denied_inet);
	return f;
}

static void fixture_free(struct fixture *f)
{
	json_decref(f->o.probe);
	json_decref(f->o.net);
	free(f);
}

static void set(json_t *obj, const char *key, const char *json)
{
	json_object_set_new(obj, key, json_loads(json, JSON_DECODE_ANY, NULL));
}

static json_t *probe_obj(struct posture_obs *o, const char *key)
{
	return json_object_get(o->probe, key);
}

/* The breakages, one per row. */
static void cap_eff(struct posture_obs *o)
{
	set(probe_obj(o, "cap"), "CapEff", "\"000001ffffffffff\"");
}
static void shared_pid_ns(struct posture_obs *o)
{
	set(probe_obj(o, "ns"), "pid", "\"pid:[2]\"");
}
static void root_mapped(struct posture_obs *o)
{
	set(o->probe, "uid_map", "[\"0\",\"0\",\"4294967295\"]");
}
static void no_seccomp(struct posture_obs *o)
{
	set(o->probe, "seccomp", "\"0\"");
}
static void no_nnp(struct posture_obs *o)
{
	set(o->probe, "nnp", "\"0\"");
}
static void home_writable(struct posture_obs *o)
{
	json_array_append_new(
	    probe_obj(o, "mounts"),
	    json_loads("[\"/home\",\"/home\",\"ext4\",\"rw,nosuid,nodev\"]", 0, NULL));
}
static void suid_mount(struct posture_obs *o)
{
	json_array_append_new(probe_obj(o, "mounts"),
			      json_loads("[\"/opt\",\"/opt\",\"ext4\",\"ro,nodev\"]", 0, NULL));
}
static void usr_writable(struct posture_obs *o)
{
	set(probe_obj(o, "writes"), "/usr", "\"WRITABLE\"");
}
static void root_visible(struct posture_obs *o)
{
	set(probe_obj(o, "host_paths"), "/root", "\"present\"");
}
static void disk_visible(struct posture_obs *o)
{
	json_array_append_new(probe_obj(o, "dev"), json_string("sda"));
}
static void inet_created(struct posture_obs *o)
{
	set(o->net, "AF_INET", "\"CREATED\"");
}
static void eth0_visible(struct posture_obs *o)
{
	set(o->probe, "ifaces", "[\"lo\",\"eth0\"]");
}
static void token_inside(struct posture_obs *o)
{
	json_array_append_new(probe_obj(o, "env"), json_string("GITHUB_TOKEN"));
}
static void redis_url_inside(struct posture_obs *o)
{
	json_array_append_new(probe_obj(o, "env"), json_string("REELBOX_REDIS_URL"));
}
static void stray_var_inside(struct posture_obs *o)
{
	json_array_append_new(probe_obj(o, "env"), json_string("DISPLAY"));
}
static void canary_found(struct posture_obs *o)
{
	o->canary_found = 1;
}
static void fd_inherited(struct posture_obs *o)
{
	json_array_append_new(probe_obj(o, "fds"), json_loads("[5,\"socket:[9]\"]", 0, NULL));
}
static void no_cgroup(struct posture_obs *o)
{
	o->n_cg = o->n_cg_job = 0;
	o->cg_memory = o->cg_swap = o->cg_pids = POSTURE_UNKNOWN;
}
static void swap_allowed(struct posture_obs *o)
{
	o->cg_swap = POSTURE_UNLIMITED;
}
static void nofile_unlimited(struct posture_obs *o)
{
	set(probe_obj(o, "rlimit"), "nofile", "[-1,-1]");
}
static void cpu_unlimited(struct posture_obs *o)
{
	set(probe_obj(o, "rlimit"), "cpu", "[-1,-1]");
}
static void pid1_not_init(struct posture_obs *o)
{
	snprintf(o->pid1_cmd, sizeof(o->pid1_cmd), "python3");
}
static void process_left(struct posture_obs *o)
{
	o->left_in_ns = 1;
}
static void uid_process_left(struct posture_obs *o)
{
	o->left_uid = 1;
}
static void cgroup_left(struct posture_obs *o)
{
	o->cg_left = 2;
}
static void state_left(struct posture_obs *o)
{
	o->state_left = 1;
}
static void job_unseen(struct posture_obs *o)
{
	o->seen = 0;
	o->pid1_cmd[0] = '\0';
}
static void denial_unnamed(struct posture_obs *o)
{
	o->denied_inet[0] = '\0';
	o->n_denied = 0;
}
static void denial_out_of_tail(struct posture_obs *o)
{
	snprintf(o->res.log_tail, sizeof(o->res.log_tail), "POSTURE-NET {}\n");
}

struct row {
	const char *name;
	void (*breakage)(struct posture_obs *);
	const char *point;  /* the one point that must fail */
	const char *clause; /* in its `failed` */
};

static const struct row rows[] = {
    {"capabilities_inside_fail_isolation", cap_eff, "isolation", "CapEff 000001ffffffffff"},
    {"the_hosts_pid_namespace_fails_isolation", shared_pid_ns, "isolation",
     "the host's pid namespace is shared"},
    {"root_mapped_inside_fails_isolation", root_mapped, "isolation", "uid map \"0 0\""},
    {"no_seccomp_filter_fails_isolation", no_seccomp, "isolation", "Seccomp 0"},
    {"no_new_privs_unset_fails_isolation", no_nnp, "isolation", "NoNewPrivs 0"},
    {"a_writable_host_mount_fails_filesystem", home_writable, "filesystem",
     "/home (ext4) is writable"},
    {"a_mount_without_nosuid_fails_filesystem", suid_mount, "filesystem", "/opt is not nosuid"},
    {"a_file_created_in_usr_fails_filesystem", usr_writable, "filesystem",
     "a file could be created in /usr"},
    {"the_hosts_root_visible_fails_filesystem", root_visible, "filesystem",
     "the host's /root is visible"},
    {"a_disk_device_fails_filesystem", disk_visible, "filesystem", "device /dev/sda is visible"},
    {"an_inet_socket_fails_network", inet_created, "network", "socket(AF_INET) was created"},
    {"a_real_interface_fails_network", eth0_visible, "network", "interface eth0 is visible"},
    {"a_token_inside_fails_secrets", token_inside, "secrets",
     "GITHUB_TOKEN is set inside, a name like a credential's"},
    {"a_reelbox_variable_inside_fails_secrets", redis_url_inside, "secrets",
     "REELBOX_REDIS_URL is set inside"},
    {"a_variable_outside_the_contract_fails_secrets", stray_var_inside, "secrets",
     "DISPLAY is set inside and is not in the contract"},
    {"the_canary_inside_fails_secrets", canary_found, "secrets", "the canary"},
    {"an_inherited_fd_fails_secrets", fd_inherited, "secrets", "fd 5 (socket:[9]) is open"},
    {"no_cgroup_fails_limits", no_cgroup, "limits", "no cgroup of the job was found"},
    {"swap_fails_limits", swap_allowed, "limits", "swap unlimited"},
    {"unlimited_files_fail_limits", nofile_unlimited, "limits", "RLIMIT_nofile unlimited"},
    {"unlimited_cpu_seconds_fail_lifetime", cpu_unlimited, "lifetime", "RLIMIT_CPU unlimited"},
    {"a_pid1_that_is_not_the_init_fails_lifetime", pid1_not_init, "lifetime",
     "pid 1 of the job is not reelbox-init"},
    {"a_process_left_in_the_namespaces_fails_cleanup", process_left, "cleanup",
     "1 process(es) left in the job's namespaces"},
    {"a_process_of_the_jobs_uid_left_fails_cleanup", uid_process_left, "cleanup",
     "1 process(es) of host uid 1501024"},
    {"a_cgroup_left_fails_cleanup", cgroup_left, "cleanup", "2 of its 2 cgroup dirs left"},
    {"a_state_dir_left_fails_cleanup", state_left, "cleanup",
     "its state dir /var/tmp/reelbox/sb-1-2-0 left"},
    {"a_denial_not_in_the_log_fails_audit", denial_unnamed, "audit",
     "socket(AF_INET) was not named in the job's log"},
    {"a_denial_lost_from_the_tail_fails_audit", denial_out_of_tail, "audit",
     "the result's log tail lost the denied call"},
};

static void test_a_sound_measurement_holds_everywhere(void **state)
{
	struct fixture *f = sound();
	struct posture_report rep = {0};

	(void)state;
	posture_judge(&f->o, &rep);
	for (int i = 0; i < POSTURE_POINTS; i++)
		if (!rep.points[i].holds)
			fail_msg("%s does not hold: %s", rep.points[i].id, rep.points[i].failed);
	fixture_free(f);
}

/* A job that was never seen from the host fails cleanup (nothing could be checked) and
 * lifetime (its pid 1 was not seen), and nothing else. */
static void test_an_unseen_job_fails_cleanup_and_lifetime_only(void **state)
{
	struct fixture *f = sound();
	struct posture_report rep = {0};

	(void)state;
	job_unseen(&f->o);
	posture_judge(&f->o, &rep);
	for (int i = 0; i < POSTURE_POINTS; i++) {
		int should_fail = !strcmp(ids[i], "cleanup") || !strcmp(ids[i], "lifetime");
		assert_int_equal(rep.points[i].holds, !should_fail);
	}
	assert_non_null(strstr(rep.points[6].failed, "not seen from the host"));
	fixture_free(f);
}

static void test_row(void **state)
{
	const struct row *r = *state;
	struct fixture *f = sound();
	struct posture_report rep = {0};

	r->breakage(&f->o);
	posture_judge(&f->o, &rep);
	for (int i = 0; i < POSTURE_POINTS; i++) {
		const struct posture_point *p = &rep.points[i];
		int target = !strcmp(p->id, r->point);

		if (target && p->holds)
			fail_msg("%s still holds (evidence: %s)", p->id, p->evidence);
		if (!target && !p->holds)
			fail_msg("%s fails too: %s", p->id, p->failed);
		if (target && !strstr(p->failed, r->clause))
			fail_msg("%s fails with \"%s\", not \"%s\"", p->id, p->failed, r->clause);
	}
	fixture_free(f);
}

int main(void)
{
	enum { N = sizeof(rows) / sizeof(rows[0]) };
	struct CMUnitTest tests[N + 4];

	tests[0] =
	    (struct CMUnitTest)cmocka_unit_test(test_every_point_holds_in_a_live_job_with_evidence);
	tests[1] = (struct CMUnitTest)cmocka_unit_test(test_a_missing_python3_is_one_sentence);
	tests[2] = (struct CMUnitTest)cmocka_unit_test(test_a_sound_measurement_holds_everywhere);
	tests[3] =
	    (struct CMUnitTest)cmocka_unit_test(test_an_unseen_job_fails_cleanup_and_lifetime_only);
	for (size_t i = 0; i < N; i++)
		tests[4 + i] = (struct CMUnitTest){
		    .name = rows[i].name, .test_func = test_row, .initial_state = (void *)&rows[i]};
	return _cmocka_run_group_tests("posture", tests, N + 4, NULL, NULL);
}
