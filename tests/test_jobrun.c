/* test_jobrun.c - a prompt job's attempts (worker/jobrun.c) with every real part.
 *
 * The group setup starts tests/model_server.py (the stand-in model) on a free loopback
 * port; each test gives it a table of answers and runs one prompt job through jobrun on
 * a loop of its own, as `reelbox run` does: the model call over httpc, the syntax check
 * and the render in a real sandbox, the encoder server. What each attempt records must
 * be what its own phase reported.
 *
 * Freed memory is filled with a pattern (M_PERTURB), so a read of the runner's result
 * after runner_free() sees garbage in any build, not only under ASan. Needs root, as
 * the sandbox does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "encoder.h"
#include "helpers.h"
#include "httpc.h"
#include "jobrun.h"
#include "modelcfg.h"

#define KEY  "sk-test-jobrun-0123456789"
#define SLOT 7

static pid_t server_pid;
static int server_port;
static char *tmpdir;
static char record_path[600];
static char base_url[128];
static struct config cfg;

/* ---- the stand-in model ---- */

static int read_port(int fd)
{
	char buf[64] = "";
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int port = 0;

	while (n < sizeof(buf) - 1 && !strchr(buf, '\n') && poll(&p, 1, 10000) == 1) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
	return sscanf(buf, "port %d", &port) == 1 ? port : -1;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* Give the server its answer table and forget what it recorded so far. */
static void set_answers(const char *table)
{
	char url[128];
	long status = 0;
	CURL *e = curl_easy_init();

	assert_non_null(e);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_control/answers", server_port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, table);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	assert_int_equal(status, 200);
	assert_int_equal(truncate(record_path, 0) == 0 || errno == ENOENT, 1);
}

/* The bodies of the requests the server recorded, oldest first. */
static json_t *request_bodies(void)
{
	json_t *out = json_array();
	char *text = th_read_file(record_path, NULL), *line, *save = NULL;

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *r = json_loads(line, 0, NULL);

		if (r && !strcmp(json_string_value(json_object_get(r, "kind")), "request"))
			json_array_append_new(
			    out,
			    json_loads(json_string_value(json_object_get(r, "body")), 0, NULL));
		json_decref(r);
	}
	free(text);
	return out;
}

/* ---- one prompt job ---- */

struct outcome {
	int done;
	struct runner_result res;
	struct jobrun_attempt attempts[JOBRUN_MAX_ATTEMPTS]; /* scripts not kept */
	unsigned n;
	json_t *extra; /* jobrun_result_extra() */
};

static void on_done(void *opaque, const struct runner_result *res)
{
	struct outcome *o = opaque;

	o->done++;
	o->res = *res;
}

static const struct runner_ops ops = {.done = on_done};

/* Run a prompt job on a loop of its own until its done callback, with max_attempts. */
static void run_prompt(const char *prompt, int max_attempts, struct outcome *o)
{
	struct modelcfg m = {.max_attempts = max_attempts};
	const struct jobrun_attempt *at;
	struct jobrun *jr = NULL;
	struct httpc *http = NULL;
	struct job job;
	uv_loop_t loop;
	char err[512], out[700];

	memset(o, 0, sizeof(*o));
	m.mc = (struct model_config){.api = MODEL_API_OPENAI,
				     .url = base_url,
				     .name = "test-model",
				     .key = KEY,
				     .key_env = "REELBOX_MODEL_KEY",
				     .timeout_ms = 30000};
	job_init(&job);
	job.prompt = strdup(prompt);
	job.prompt_len = strlen(prompt);
	job.width = 64;
	job.height = 64;
	job.fps = 10;
	job.frames = 5;
	snprintf(job.format, sizeof(job.format), "mp4");
	if (job_resolve(&job, &cfg, err, sizeof(err)) != 0)
		fail_msg("job refused: %s", err);
	snprintf(out, sizeof(out), "%s/out.mp4", tmpdir);

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(httpc_new(&http, &loop, err, sizeof(err)), 0);
	struct jobrun_env env = {
	    .loop = &loop, .cfg = &cfg, .http = http, .model = &m, .slot = SLOT};
	if (jobrun_start(&env, &job, out, &ops, o, &jr, err, sizeof(err)) < 0)
		fail_msg("jobrun_start: %s", err);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(o->done, 1);
	at = jobrun_attempts(jr, &o->n);
	for (unsigned i = 0; i < o->n; i++) {
		o->attempts[i] = at[i];
		o->attempts[i].script = NULL;
	}
	o->extra = jobrun_result_extra(jr, 0);
	jobrun_free(jr);
	httpc_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	job_free(&job);
	unlink(out);
}

/* ---- the tests ---- */

/* The attempt that rendered is recorded from its render: succeeded, its end, its log,
 * read from the result the runner handed over (not from the freed runner). */
static void test_a_rendered_attempt_is_recorded_from_its_render(void **state)
{
	struct outcome o;

	(void)state;
	set_answers("[{\"text\": \"```python\\nimport sys\\nsys.stderr.write('drawing "
		    "frames\\\\n')\\nfor i in range(5):\\n    sys.stdout.buffer.write(bytes([i * "
		    "40]) * (64 * 64 * 3))\\n```\"}]");
	run_prompt("five grey frames", 3, &o);
	if (!o.res.succeeded)
		fail_msg("the job failed: %s", o.res.error);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.attempts[0].succeeded, 1);
	assert_int_equal(o.attempts[0].end, RUNNER_END_SUCCEEDED);
	assert_string_equal(o.attempts[0].error, "");
	assert_non_null(strstr(o.attempts[0].log, "drawing frames"));
	assert_string_equal(o.attempts[0].log, o.res.log_tail);
	assert_true(o.attempts[0].render_ms > 0);
	json_decref(o.extra);
}

/* A render that failed is recorded with its own failure, and the repair request that
 * follows carries that failure's sentence and log to the model. */
static void test_a_failed_render_is_recorded_and_sent_back_for_repair(void **state)
{
	struct outcome o;
	json_t *bodies, *msgs;
	const char *last;

	(void)state;
	set_answers("[\"buggy\", \"good\"]");
	run_prompt("a colour ramp", 3, &o);
	if (!o.res.succeeded)
		fail_msg("the job failed: %s", o.res.error);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.attempts[0].succeeded, 0);
	assert_int_equal(o.attempts[0].end, RUNNER_END_SCRIPT_FAILED);
	assert_non_null(strstr(o.attempts[0].error, "colour"));
	assert_non_null(strstr(o.attempts[0].log, "NameError"));
	assert_int_equal(o.attempts[1].succeeded, 1);
	assert_int_equal(o.attempts[1].end, RUNNER_END_SUCCEEDED);

	bodies = request_bodies();
	assert_int_equal(json_array_size(bodies), 2);
	msgs = json_object_get(json_array_get(bodies, 1), "messages");
	last = json_string_value(
	    json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content"));
	assert_non_null(last);
	assert_non_null(strstr(last, "NameError"));
	json_decref(bodies);
	json_decref(o.extra);
}

/* The assistant turn of the second request: the model's failed script as it went back. */
static char *echoed_turn(void)
{
	json_t *bodies = request_bodies(), *msgs;
	char *turn = NULL;

	assert_int_equal(json_array_size(bodies), 2);
	msgs = json_object_get(json_array_get(bodies, 1), "messages");
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i);

		if (!strcmp(json_string_value(json_object_get(m, "role")), "assistant"))
			turn = strdup(json_string_value(json_object_get(m, "content")));
	}
	json_decref(bodies);
	assert_non_null(turn);
	return turn;
}

/* A failed script longer than the echo's 64 KiB, of three-byte characters placed so
 * that every 64 KiB cut falls inside one: the echo is cut between characters (a cut
 * character made the repair request's JSON impossible to build, and the job ended
 * there), its closing fence survives the cut, and the result's copy of the script is
 * cut between characters too (no U+FFFD at its end). */
static void test_a_long_failed_script_is_echoed_cut_between_characters(void **state)
{
	static const char head[] = "```python\n## ";
	static const char tail[] = "\nimport sys\nsys.exit(3)\n```";
	size_t n = 30000, len;
	char *table, *p, *turn;
	json_t *t;
	struct outcome o;

	(void)state;
	p = table = malloc(sizeof(head) + 3 * n + sizeof(tail));
	assert_non_null(table);
	p += sprintf(p, "%s", head);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "\xe2\x82\xac"); /* the euro sign */
	sprintf(p, "%s", tail);
	t = json_pack("[{s:s}, s]", "text", table, "good");
	free(table);
	assert_non_null(t);
	table = json_dumps(t, 0);
	json_decref(t);
	set_answers(table);
	free(table);

	run_prompt("a long failing script", 3, &o);
	if (!o.res.succeeded)
		fail_msg("the job failed: %s", o.res.error);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.attempts[0].end, RUNNER_END_SCRIPT_FAILED);

	turn = echoed_turn();
	len = strlen(turn);
	assert_true(len > 60000 && len < 66000);
	assert_memory_equal(turn, "```python3\n## \xe2\x82\xac", 17);
	assert_memory_equal(turn + len - 7, "\xe2\x82\xac\n```", 7);
	free(turn);

	/* The result shows the attempt's script cut the same way: no U+FFFD at the cut. */
	json_t *a0 = json_array_get(json_object_get(o.extra, "attempts"), 0);
	const char *shown = json_string_value(json_object_get(a0, "script"));
	assert_non_null(shown);
	len = strlen(shown);
	assert_true(len > 60000 && len <= 65536);
	assert_memory_equal(shown + len - 3, "\xe2\x82\xac", 3);
	assert_int_equal(json_integer_value(json_object_get(a0, "script_bytes")), 3 + 3 * n + 24);
	json_decref(o.extra);
}

/* An answer whose script is over the operator's cap goes back as it came, cut to 64 KiB
 * between characters: cut inside one, the repair request could not be built and the
 * job ended on the model's first oversized answer. */
static void test_an_oversized_answer_is_echoed_cut_between_characters(void **state)
{
	static const char head[] = "```python\n#";
	size_t n = 40000, len;
	size_t cap = cfg.max_script_bytes;
	char *text, *p, *table, *turn;
	json_t *t;
	struct outcome o;

	(void)state;
	p = text = malloc(sizeof(head) + 2 * n + 8);
	assert_non_null(text);
	p += sprintf(p, "%s", head);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "\xc3\xa9"); /* e acute */
	sprintf(p, "\n```");
	t = json_pack("[{s:s}, s]", "text", text, "good");
	free(text);
	assert_non_null(t);
	table = json_dumps(t, 0);
	json_decref(t);
	set_answers(table);
	free(table);

	cfg.max_script_bytes = 16384;
	run_prompt("an oversized script", 3, &o);
	cfg.max_script_bytes = cap;
	if (!o.res.succeeded)
		fail_msg("the job failed: %s", o.res.error);
	assert_int_equal(o.n, 2);
	assert_non_null(strstr(o.attempts[0].error, "16384-byte limit"));
	turn = echoed_turn();
	len = strlen(turn);
	assert_true(len > 60000 && len <= 65536);
	assert_memory_equal(turn, head, sizeof(head) - 1);
	assert_memory_equal(turn + len - 2, "\xc3\xa9", 2);
	free(turn);
	json_decref(o.extra);
}

/* A script with a line of 20 backticks (inside a string) is echoed between fences of
 * 21: that line cannot close the block early. */
static void test_the_echoed_script_is_fenced_longer_than_its_backtick_runs(void **state)
{
	struct outcome o;
	char *turn;

	(void)state;
	set_answers("[{\"text\": \"``````````````````````python\\nimport sys\\ns = \\\"\\\"\\\"\\n"
		    "````````````````````\\n\\\"\\\"\\\"\\nsys.exit(3)\\n"
		    "``````````````````````\"}, \"good\"]");
	run_prompt("backticks", 3, &o);
	if (!o.res.succeeded)
		fail_msg("the job failed: %s", o.res.error);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.attempts[0].end, RUNNER_END_SCRIPT_FAILED);
	turn = echoed_turn();
	assert_memory_equal(turn, "`````````````````````python3\n", 29);
	assert_int_not_equal(turn[21], '`');
	assert_non_null(strstr(turn, "sys.exit(3)\n`````````````````````"));
	free(turn);
	json_decref(o.extra);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	char script[1024];
	int fds[2];

	(void)state;
	if (geteuid() != 0) {
		print_message("test_jobrun needs root (the sandbox does)\n");
		return -1;
	}
	/* Freed memory reads as 0xa5 ^ 0xff: a use after free shows in any build. */
	mallopt(M_PERTURB, 0xa5);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tmpdir = th_tmpdir("jobrun");
	if (!tmpdir || pipe(fds) < 0)
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/state", tmpdir);
	if (mkdir(cfg.state_dir, 0700) < 0)
		return -1;
	snprintf(record_path, sizeof(record_path), "%s/requests.jsonl", tmpdir);
	snprintf(script, sizeof(script), "%s/tests/model_server.py", th_source_dir());
	encoder_set_program(th_reelbox_bin());
	server_pid = fork();
	if (server_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], 1);
		close(fds[0]);
		execlp("python3", "python3", script, "--key", KEY, "--record", record_path,
		       (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	server_port = read_port(fds[0]);
	close(fds[0]);
	if (server_port <= 0) {
		fprintf(stderr, "model_server.py did not start\n");
		return -1;
	}
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d/v1", server_port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	if (tmpdir)
		th_rm_rf(tmpdir);
	free(tmpdir);
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_rendered_attempt_is_recorded_from_its_render),
	    cmocka_unit_test(test_a_failed_render_is_recorded_and_sent_back_for_repair),
	    cmocka_unit_test(test_a_long_failed_script_is_echoed_cut_between_characters),
	    cmocka_unit_test(test_an_oversized_answer_is_echoed_cut_between_characters),
	    cmocka_unit_test(test_the_echoed_script_is_fenced_longer_than_its_backtick_runs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
