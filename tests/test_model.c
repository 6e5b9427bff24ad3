/* test_model.c - asking a model over HTTP on a real libuv loop, and reading its answer.
 *
 * The group setup starts tests/model_server.py (a stand-in that speaks the OpenAI and
 * Anthropic dialects) on a free loopback port; each test gives it a table of answers and
 * reads back what it recorded of every request. model.c and httpc.c run unmodified on
 * their own loop: no mocks between the worker's code and the socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "helpers.h"
#include "httpc.h"
#include "model.h"

#define KEY "sk-test-5f1c0ffee0ddba11"

static pid_t server_pid;
static int server_port;
static char *tmpdir;
static char record_path[512];
static char base_url[128];

/* ---- the stand-in server ---- */

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

static int group_setup(void **state)
{
	char script[1024];
	int fds[2];

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tmpdir = th_tmpdir("model");
	if (!tmpdir || pipe(fds) < 0)
		return -1;
	snprintf(record_path, sizeof(record_path), "%s/requests.jsonl", tmpdir);
	snprintf(script, sizeof(script), "%s/tests/model_server.py", th_source_dir());
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

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
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

/* The records of one kind ("request", "outcome"), oldest first. */
static json_t *records(const char *kind)
{
	json_t *out = json_array();
	char *text = th_read_file(record_path, NULL), *line, *save = NULL;

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *r = json_loads(line, 0, NULL);

		if (r && !strcmp(json_string_value(json_object_get(r, "kind")), kind))
			json_array_append(out, r);
		json_decref(r);
	}
	free(text);
	return out;
}

/* The first outcome the server recorded, waiting up to ms for it. */
static json_t *wait_outcome(unsigned ms)
{
	for (unsigned waited = 0;; waited += 20) {
		json_t *o = records("outcome");

		if (json_array_size(o) || waited >= ms) {
			json_t *first = json_incref(json_array_get(o, 0));

			json_decref(o);
			return first;
		}
		json_decref(o);
		usleep(20000);
	}
}

static const char *header(json_t *req, const char *name)
{
	size_t i;
	json_t *h;

	json_array_foreach(json_object_get(req, "headers"), i,
			   h) if (!strcasecmp(json_string_value(json_array_get(h, 0)),
					      name)) return json_string_value(json_array_get(h, 1));
	return NULL;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The key is in exactly one place of each request: the dialect's header, in full. */
static void assert_key_only_in_header(const char *name, const char *value)
{
	json_t *reqs = records("request"), *req;
	char *all = th_read_file(record_path, NULL);
	size_t i;

	assert_true(json_array_size(reqs) > 0);
	json_array_foreach(reqs, i, req)
	{
		assert_string_equal(header(req, name), value);
		assert_null(strstr(json_string_value(json_object_get(req, "body")), KEY));
		assert_null(strstr(json_string_value(json_object_get(req, "path")), KEY));
	}
	assert_int_equal(count(all, KEY), json_array_size(reqs));
	free(all);
	json_decref(reqs);
}

/* ---- running a call ---- */

struct outcome {
	int rc, finished;
	char err[MODEL_ERROR_MAX];
	struct model_answer ans;
};

static void on_done(struct model_call *call, int rc, struct model_answer *ans, const char *err,
		    void *arg)
{
	struct outcome *o = arg;

	o->rc = rc;
	o->finished++;
	o->ans = *ans;
	ans->text = NULL;
	snprintf(o->err, sizeof(o->err), "%s", err ? err : "");
}

static struct model_config config(enum model_api api)
{
	return (struct model_config){.api = api,
				     .url = base_url,
				     .name = "test-model",
				     .key = KEY,
				     .timeout_ms = 5000,
				     .connect_timeout_ms = 2000,
				     .max_response = 1 << 20,
				     .retries = 2,
				     .backoff_ms = 20};
}

static const struct model_turn one_turn[] = {{MODEL_USER, "a red square for 1 s"}};

static void ask_turns(const struct model_config *cfg, const struct model_turn *turns, size_t n,
		      struct outcome *o)
{
	uv_loop_t loop;
	struct httpc *http;
	char err[MODEL_ERROR_MAX];

	memset(o, 0, sizeof(*o));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(httpc_new(&http, &loop, err, sizeof(err)), 0);
	assert_int_equal(model_ask(http, cfg, "You write render scripts.", turns, n, on_done, o,
				   NULL, err, sizeof(err)),
			 0);
	assert_int_equal(o->finished, 0); /* never from inside model_ask */
	uv_run(&loop, UV_RUN_DEFAULT);
	httpc_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0); /* every handle was closed */
	assert_int_equal(o->finished, 1);
}

static void ask(const struct model_config *cfg, struct outcome *o)
{
	ask_turns(cfg, one_turn, 1, o);
}

/* ---- the dialects ---- */

static void test_openai_call_sends_the_key_only_as_a_bearer_header(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct outcome o;
	json_t *reqs, *body, *msgs;

	set_answers("[\"good\"]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.ans.text, "```python\nimport os, sys\n"));
	assert_true(o.ans.input_tokens > 0 && o.ans.output_tokens > 0);
	assert_int_equal(o.ans.truncated, 0);
	assert_int_equal(o.ans.http_calls, 1);
	assert_key_only_in_header("Authorization", "Bearer " KEY);

	reqs = records("request");
	assert_int_equal(json_array_size(reqs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
			    "/v1/chat/completions");
	assert_null(header(json_array_get(reqs, 0), "x-api-key"));
	body = json_loads(json_string_value(json_object_get(json_array_get(reqs, 0), "body")), 0,
			  NULL);
	msgs = json_object_get(body, "messages");
	assert_string_equal(json_string_value(json_object_get(body, "model")), "test-model");
	assert_null(json_object_get(body, "max_tokens")); /* newer OpenAI models refuse it */
	assert_int_equal(json_array_size(msgs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
			    "system");
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
			    "a red square for 1 s");
	json_decref(body);
	json_decref(reqs);
	model_answer_free(&o.ans);
}

static void test_anthropic_call_sends_x_api_key_version_and_the_conversation(void **state)
{
	struct model_config cfg = config(MODEL_API_ANTHROPIC);
	const struct model_turn turns[] = {{MODEL_USER, "a bar chart"},
					   {MODEL_ASSISTANT, "```python\nboom()\n```"},
					   {MODEL_USER, "NameError: boom; fix it"}};
	struct outcome o;
	json_t *reqs, *req, *body, *msgs;

	set_answers("[\"good\"]");
	ask_turns(&cfg, turns, 3, &o);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.ans.text, "```python"));
	assert_true(o.ans.input_tokens > 0 && o.ans.output_tokens > 0);
	assert_key_only_in_header("x-api-key", KEY);

	reqs = records("request");
	req = json_array_get(reqs, 0);
	assert_string_equal(json_string_value(json_object_get(req, "path")), "/v1/messages");
	assert_string_equal(header(req, "anthropic-version"), MODEL_ANTHROPIC_VERSION);
	assert_null(header(req, "Authorization"));
	body = json_loads(json_string_value(json_object_get(req, "body")), 0, NULL);
	msgs = json_object_get(body, "messages");
	assert_string_equal(json_string_value(json_object_get(body, "system")),
			    "You write render scripts.");
	assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")),
			 MODEL_DEFAULT_MAX_TOKENS);
	assert_int_equal(json_array_size(msgs), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "role")),
			    "assistant");
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "content")),
			    "NameError: boom; fix it");
	json_decref(body);
	json_decref(reqs);
	model_answer_free(&o.ans);
}

static void test_blocking_call_for_run_returns_the_answer(void **state)
{
	struct model_config cfg = config(MODEL_API_ANTHROPIC);
	struct model_answer ans;
	char err[MODEL_ERROR_MAX] = "";

	set_answers("[\"nocode\"]");
	assert_int_equal(model_ask_sync(&cfg, "sys", one_turn, 1, &ans, err, sizeof(err)), 0);
	assert_string_equal(ans.text, "I'm sorry, but I can't help with making that video.");
	assert_int_equal(ans.http_calls, 1);
	model_answer_free(&ans);
}

/* ---- failures, each one sentence ---- */

static void test_wrong_key_is_401_naming_the_variable_and_not_the_key(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	char want[MODEL_ERROR_MAX];
	struct outcome o;

	set_answers("[\"good\"]");
	cfg.key = "sk-wrong-key-4242";
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EACCES);
	snprintf(want, sizeof(want),
		 "model at %s: 401 Unauthorized: Incorrect API key provided: check "
		 "REELBOX_MODEL_KEY",
		 base_url);
	assert_string_equal(o.err, want);
	assert_int_equal(o.ans.http_calls, 1); /* a 401 is not retried */
	assert_null(o.ans.text);

	cfg.key = NULL;
	cfg.key_env = "MY_MODEL_KEY";
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EACCES);
	assert_non_null(strstr(o.err, "401 Unauthorized"));
	assert_non_null(strstr(o.err, "no key was sent: set MY_MODEL_KEY"));
}

static void test_a_key_with_a_line_break_is_refused_before_any_request(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	char err[MODEL_ERROR_MAX] = "";
	struct httpc *http;
	uv_loop_t loop;
	struct outcome o = {0};
	json_t *reqs;

	set_answers("[\"good\"]");
	cfg.key = "sk-abc\r\nX-Injected: 1";
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(httpc_new(&http, &loop, err, sizeof(err)), 0);
	assert_int_equal(
	    model_ask(http, &cfg, NULL, one_turn, 1, on_done, &o, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the model key contains a space or a control character; check "
				 "REELBOX_MODEL_KEY");
	httpc_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	reqs = records("request");
	assert_int_equal(json_array_size(reqs), 0);
	assert_int_equal(o.finished, 0);
	json_decref(reqs);
}

static void test_429_waits_for_retry_after_then_succeeds(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct outcome o;
	json_t *reqs;

	set_answers("[\"ratelimit\", \"good\"]"); /* Retry-After: 1 */
	ask(&cfg, &o);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.ans.http_calls, 2);
	assert_true(o.ans.ms >= 950); /* the server's second, not the 20 ms backoff */
	assert_true(o.ans.ms < 2500);
	reqs = records("request");
	assert_int_equal(json_array_size(reqs), 2);
	json_decref(reqs);
	model_answer_free(&o.ans);
}

static void test_a_long_retry_after_is_capped(void **state)
{
	struct model_config cfg = config(MODEL_API_ANTHROPIC);
	struct outcome o;

	set_answers("[{\"status\": 429, \"retry_after\": \"120\", \"error\": \"slow down\"}, "
		    "\"good\"]");
	cfg.retry_after_cap_ms = 200;
	ask(&cfg, &o);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.ans.http_calls, 2);
	assert_true(o.ans.ms >= 190 && o.ans.ms < 1500);
	model_answer_free(&o.ans);
}

static void test_500_is_retried_then_one_sentence(void **state)
{
	struct model_config cfg = config(MODEL_API_ANTHROPIC);
	char want[MODEL_ERROR_MAX];
	struct outcome o;
	json_t *reqs;

	set_answers("[\"error500\"]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EAGAIN);
	assert_int_equal(o.ans.http_calls, 3); /* the first and cfg.retries more */
	snprintf(want, sizeof(want),
		 "model at %s: 500 Internal Server Error after 3 tries: The server had an error "
		 "processing your request",
		 base_url);
	assert_string_equal(o.err, want);
	reqs = records("request");
	assert_int_equal(json_array_size(reqs), 3);
	json_decref(reqs);
}

static void test_a_slow_model_times_out_with_a_sentence(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct outcome o;

	set_answers("[\"slow\"]"); /* 3 s */
	cfg.timeout_ms = 300;
	ask(&cfg, &o);
	assert_int_equal(o.rc, -ETIMEDOUT);
	assert_non_null(strstr(o.err, ": no complete answer within 300 ms; the model may be busy, "
				      "or raise model.timeout"));
	assert_int_equal(o.ans.http_calls, 1); /* a timeout spent the budget: no retry */
	assert_true(o.ans.ms >= 290 && o.ans.ms < 1500);
}

static void test_a_refused_connection_is_retried_then_one_sentence(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	char url[96], want[MODEL_ERROR_MAX];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct outcome o;

	/* A port that was free a moment ago and has no listener now. */
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	/* The sentence shows the URL without its userinfo: that is a credential too. */
	snprintf(url, sizeof(url), "http://someone:pw-secret@127.0.0.1:%d/v1/", ntohs(sa.sin_port));
	cfg.url = url;
	ask(&cfg, &o);
	assert_int_equal(o.rc, -ECONNREFUSED);
	assert_int_equal(o.ans.http_calls, 3);
	snprintf(want, sizeof(want),
		 "model at http://127.0.0.1:%d/v1: connection refused (is the server running on "
		 "that port?)",
		 ntohs(sa.sin_port));
	assert_string_equal(o.err, want);
}

static void test_a_huge_answer_is_refused_at_the_cap_without_reading_it_all(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct outcome o;
	json_t *out;

	set_answers("[\"huge\"]"); /* 64 MiB, chunked: no length to refuse it by */
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EFBIG);
	assert_non_null(strstr(o.err, ": the response passed the 1048576-byte limit"));
	assert_int_equal(o.ans.http_calls, 1);
	out = wait_outcome(3000);
	assert_non_null(out);
	assert_true(json_is_true(json_object_get(out, "aborted")));
	/* What the server got out before we hung up: the cap plus the socket buffers. */
	assert_true(json_integer_value(json_object_get(out, "sent")) < (16 << 20));
	json_decref(out);
}

static void test_an_announced_huge_answer_is_refused_before_its_body(void **state)
{
	struct model_config cfg = config(MODEL_API_ANTHROPIC);
	struct outcome o;

	set_answers("[\"huge_cl\"]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EFBIG);
	assert_non_null(strstr(o.err, ": the response is 67108864 bytes, over the 1048576-byte "
				      "limit"));
	assert_true(o.ans.ms < 2000);
}

static void test_a_malformed_answer_names_what_is_missing(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct outcome o;

	set_answers("[{\"raw\": \"{\\\"choices\\\": []}\"}]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EPROTO);
	assert_non_null(strstr(o.err, ": the answer has no \"choices\""));

	set_answers("[{\"raw\": \"Sure! Here you go\"}]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EPROTO);
	assert_non_null(strstr(o.err, ": the answer is not a JSON object (a syntax error at byte"));
	assert_non_null(strstr(o.err, "check that the URL speaks the OpenAI chat-completions API"));

	cfg.api = MODEL_API_ANTHROPIC;
	set_answers("[{\"raw\": \"{\\\"type\\\": \\\"message\\\", \\\"content\\\": \\\"x\\\"}\"}]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EPROTO);
	assert_non_null(strstr(o.err, ": the answer has no \"content\" list"));
}

static void test_an_answer_cut_at_max_tokens_is_marked_and_its_block_refused(void **state)
{
	struct model_config cfg = config(MODEL_API_ANTHROPIC);
	struct model_script s;
	char err[256];
	struct outcome o;

	set_answers("[{\"text\": \"```python\\nimport os\\nfor i in range(\", \"finish\": "
		    "\"length\"}]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.ans.truncated, 1);
	assert_int_equal(
	    model_extract_script(o.ans.text, o.ans.text_len, 0, NULL, &s, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "the code block that opens on line 1 is never closed (was the "
				 "answer cut short?); answer with the whole script in one fenced "
				 "block");
	model_answer_free(&o.ans);
}

/* ---- the key coming back ---- */

static void test_an_echoed_key_is_redacted_in_the_answer_and_the_error(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct outcome o;

	set_answers("[\"echo_key\"]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, 0);
	assert_null(strstr(o.ans.text, KEY));
	assert_non_null(strstr(o.ans.text, "# key: [redacted]\n"));
	assert_int_equal(o.ans.text_len, strlen(o.ans.text));
	model_answer_free(&o.ans);

	cfg.api = MODEL_API_ANTHROPIC;
	set_answers("[\"echo_key_error\"]");
	ask(&cfg, &o);
	assert_int_equal(o.rc, -EPROTO);
	assert_null(strstr(o.err, KEY));
	assert_non_null(strstr(o.err, "400 Bad Request: Invalid request for key [redacted]"));
}

/* ---- cancel ---- */

struct canceller {
	struct model_call *call;
	struct httpc *http;
	uv_timer_t timer;
};

static void cancel_now(uv_timer_t *t)
{
	struct canceller *k = t->data;

	model_cancel(k->call);
	httpc_free(k->http);
	uv_close((uv_handle_t *)t, NULL);
}

/* Start a call, cancel it after ms; returns how long the loop took to go idle. */
static uint64_t ask_and_cancel(struct model_config *cfg, unsigned ms, struct outcome *o)
{
	struct canceller k;
	char err[MODEL_ERROR_MAX];
	uv_loop_t loop;
	uint64_t start;

	memset(o, 0, sizeof(*o));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(httpc_new(&k.http, &loop, err, sizeof(err)), 0);
	assert_int_equal(
	    model_ask(k.http, cfg, NULL, one_turn, 1, on_done, o, &k.call, err, sizeof(err)), 0);
	uv_timer_init(&loop, &k.timer);
	k.timer.data = &k;
	uv_timer_start(&k.timer, cancel_now, ms, 0);
	start = uv_hrtime();
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	return (uv_hrtime() - start) / 1000000u;
}

static void test_cancel_while_the_model_thinks_closes_the_connection(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct outcome o;
	json_t *out;

	set_answers("[\"slow\"]"); /* 3 s */
	assert_true(ask_and_cancel(&cfg, 150, &o) < 1000);
	assert_int_equal(o.finished, 0); /* a cancelled call never calls back */
	out = wait_outcome(2000);
	assert_non_null(out);
	assert_true(json_is_true(json_object_get(out, "gone"))); /* the server saw us hang up */
	json_decref(out);
}

static void test_cancel_during_the_wait_before_a_retry_sends_nothing_more(void **state)
{
	struct model_config cfg = config(MODEL_API_OPENAI);
	struct outcome o;
	json_t *reqs;

	set_answers("[\"ratelimit\", \"good\"]"); /* Retry-After: 1 */
	assert_true(ask_and_cancel(&cfg, 200, &o) < 800);
	assert_int_equal(o.finished, 0);
	usleep(100000);
	reqs = records("request");
	assert_int_equal(json_array_size(reqs), 1);
	json_decref(reqs);
}

/* ---- httpc on its own ---- */

struct got {
	long status;
	int err, calls;
	char body[64];
};

static void got_done(struct httpc_req *req, struct httpc_response *res, void *arg)
{
	struct got *g = arg;

	g->status = res->status;
	g->err = res->err;
	g->calls++;
	snprintf(g->body, sizeof(g->body), "%s", res->body);
}

static void test_httpc_refuses_header_injection_and_other_schemes(void **state)
{
	const char *bad_headers[] = {"X-Ok: 1", "X-Key: abc\r\nX-Evil: 1", NULL};
	char url[128], err[256] = "";
	struct httpc_request rq = {.url = url, .timeout_ms = 2000};
	struct got g = {0};
	struct httpc *c;
	uv_loop_t loop;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_control/ping", server_port);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(httpc_new(&c, &loop, err, sizeof(err)), 0);
	rq.headers = bad_headers;
	assert_int_equal(httpc_start(c, &rq, got_done, &g, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "request header 2 is not one \"Name: value\" line");
	rq.headers = NULL;
	rq.url = "file:///etc/passwd";
	assert_int_equal(httpc_start(c, &rq, got_done, &g, NULL, err, sizeof(err)), -EINVAL);
	rq.url = url;
	assert_int_equal(httpc_start(c, &rq, got_done, &g, NULL, err, sizeof(err)), 0);
	assert_int_equal(httpc_pending(c), 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.err, 0);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.body, "{\"ok\": true}");
	assert_int_equal(httpc_pending(c), 0);
	httpc_free(c);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- redaction and the script in an answer ---- */

static void test_redact_replaces_every_occurrence(void **state)
{
	size_t n;
	char *r = model_redact("KEYaKEYKEYb", 11, "KEY", &n);

	assert_string_equal(r, "[redacted]a[redacted][redacted]b");
	assert_int_equal(n, strlen(r));
	free(r);
	r = model_redact("a long key here", 15, "a long key here", NULL);
	assert_string_equal(r, "[redacted]");
	free(r);
	r = model_redact("nothing", 7, NULL, NULL);
	assert_string_equal(r, "nothing");
	free(r);
}

static int extract(const char *answer, const char *const *offered, size_t max,
		   struct model_script *s, char *err)
{
	return model_extract_script(answer, strlen(answer), max, offered, s, err, 256);
}

static void test_the_first_fenced_block_is_the_script_and_its_tag_the_runtime(void **state)
{
	static const struct {
		const char *answer, *code, *runtime;
	} cases[] = {
	    {"Here:\n```python\nprint(1)\n```\nDone.", "print(1)\n", "python3"},
	    {"```py\nx = 1\n```", "x = 1\n", "python3"},
	    {"```Python3\nx = 1\n```", "x = 1\n", "python3"},
	    {"```bash\necho hi\n```\n```python\nnot this\n```", "echo hi\n", "sh"},
	    {"```shell\r\necho a\r\necho b\r\n```\r\n", "echo a\necho b\n", "sh"},
	    {"~~~javascript\nlet a = 1;\n~~~", "let a = 1;\n", "node"},
	    {"```node title=x.js\nlet a;\n```", "let a;\n", "node"},
	    {"```{.lua}\nprint(1)\n```", "print(1)\n", "lua"},
	    {"1. Save this:\n\n   ```sh\n   echo a\n     echo b\n   ```\n", "echo a\n  echo b\n",
	     "sh"},
	    {"````python\nprint('```')\n```\n````", "print('```')\n```\n", "python3"},
	};
	struct model_script s;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(extract(cases[i].answer, NULL, 0, &s, err), 0);
		assert_string_equal(s.code, cases[i].code);
		assert_int_equal(s.len, strlen(cases[i].code));
		assert_string_equal(s.runtime, cases[i].runtime);
		assert_int_equal(s.fenced, 1);
		model_script_free(&s);
	}
}

static void test_without_a_tag_the_shebang_names_the_runtime(void **state)
{
	static const struct {
		const char *answer, *runtime;
		int fenced;
	} cases[] = {
	    {"```\n#!/usr/bin/env python3\nprint(1)\n```", "python3", 1},
	    {"```\n#!/usr/bin/env -S node --no-warnings\n1;\n```", "node", 1},
	    {"```\n#!/usr/bin/lua5.4\nprint(1)\n```", "lua", 1},
	    {"\n\n#!/bin/bash\necho hi\n\n", "sh", 0},
	    {"#!/usr/bin/python3.11 -u\nprint(1)", "python3", 0},
	};
	struct model_script s;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(extract(cases[i].answer, NULL, 0, &s, err), 0);
		assert_string_equal(s.runtime, cases[i].runtime);
		assert_int_equal(s.fenced, cases[i].fenced);
		assert_int_equal(strncmp(s.code, "#!", 2), 0);
		model_script_free(&s);
	}
}

static void test_an_answer_without_code_is_taken_whole_with_no_runtime(void **state)
{
	struct model_script s;
	char err[256];

	assert_int_equal(extract("\n  I'm sorry, I can't do that.  \n\n", NULL, 0, &s, err), 0);
	assert_string_equal(s.code, "I'm sorry, I can't do that.\n");
	assert_null(s.runtime);
	assert_int_equal(s.fenced, 0);
	model_script_free(&s);

	assert_int_equal(extract("```inline``` code\nmore", NULL, 0, &s, err), 0);
	assert_int_equal(s.fenced, 0); /* inline code is no fence */
	model_script_free(&s);

	assert_int_equal(extract(" \n\t\n", NULL, 0, &s, err), -EINVAL);
	assert_string_equal(err, "the answer is empty; answer with a script in one fenced code "
				 "block");
	assert_int_equal(extract("```python\n\n```", NULL, 0, &s, err), -EINVAL);
	assert_string_equal(err, "the code block is empty; answer with the whole script in it");
	assert_null(s.code);
}

static void test_an_unknown_or_unoffered_language_is_a_sentence_for_the_model(void **state)
{
	static const char *const offered[] = {"python3", "sh", NULL};
	struct model_script s;
	char err[256];

	assert_int_equal(extract("```ruby\nputs 1\n```", NULL, 0, &s, err), -EINVAL);
	assert_string_equal(err, "the code block is tagged 'ruby', which this worker cannot run; "
				 "answer with one fenced block tagged python3, sh, node or lua");
	assert_null(s.code);
	assert_int_equal(extract("```\n#!/usr/bin/env ruby\nputs 1\n```", NULL, 0, &s, err),
			 -EINVAL);
	assert_string_equal(err,
			    "the script's first line runs 'ruby', which this worker cannot "
			    "run; answer with one fenced block tagged python3, sh, node or lua");
	assert_int_equal(extract("```lua\nprint(1)\n```", offered, 0, &s, err), -EINVAL);
	assert_string_equal(err, "the script is lua, which this worker does not offer; answer "
				 "with one fenced block tagged python3 or sh");
	assert_int_equal(extract("```\x1b[31m\nx\n```", NULL, 0, &s, err), -EINVAL);
	assert_null(strchr(err, '\x1b')); /* a tag is quoted terminal-safe */
}

static void test_a_script_over_the_limit_is_refused_with_its_size(void **state)
{
	struct model_script s;
	char err[256];

	assert_int_equal(extract("```sh\necho 0123456789\n```", NULL, 10, &s, err), -EFBIG);
	assert_string_equal(err, "the script is 16 bytes, over this worker's 10-byte limit; write "
				 "a shorter script");
	assert_null(s.code);
	assert_int_equal(extract("```sh\necho 0123456789\n```", NULL, 16, &s, err), 0);
	model_script_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openai_call_sends_the_key_only_as_a_bearer_header),
	    cmocka_unit_test(test_anthropic_call_sends_x_api_key_version_and_the_conversation),
	    cmocka_unit_test(test_blocking_call_for_run_returns_the_answer),
	    cmocka_unit_test(test_wrong_key_is_401_naming_the_variable_and_not_the_key),
	    cmocka_unit_test(test_a_key_with_a_line_break_is_refused_before_any_request),
	    cmocka_unit_test(test_429_waits_for_retry_after_then_succeeds),
	    cmocka_unit_test(test_a_long_retry_after_is_capped),
	    cmocka_unit_test(test_500_is_retried_then_one_sentence),
	    cmocka_unit_test(test_a_slow_model_times_out_with_a_sentence),
	    cmocka_unit_test(test_a_refused_connection_is_retried_then_one_sentence),
	    cmocka_unit_test(test_a_huge_answer_is_refused_at_the_cap_without_reading_it_all),
	    cmocka_unit_test(test_an_announced_huge_answer_is_refused_before_its_body),
	    cmocka_unit_test(test_a_malformed_answer_names_what_is_missing),
	    cmocka_unit_test(test_an_answer_cut_at_max_tokens_is_marked_and_its_block_refused),
	    cmocka_unit_test(test_an_echoed_key_is_redacted_in_the_answer_and_the_error),
	    cmocka_unit_test(test_cancel_while_the_model_thinks_closes_the_connection),
	    cmocka_unit_test(test_cancel_during_the_wait_before_a_retry_sends_nothing_more),
	    cmocka_unit_test(test_httpc_refuses_header_injection_and_other_schemes),
	    cmocka_unit_test(test_redact_replaces_every_occurrence),
	    cmocka_unit_test(test_the_first_fenced_block_is_the_script_and_its_tag_the_runtime),
	    cmocka_unit_test(test_without_a_tag_the_shebang_names_the_runtime),
	    cmocka_unit_test(test_an_answer_without_code_is_taken_whole_with_no_runtime),
	    cmocka_unit_test(test_an_unknown_or_unoffered_language_is_a_sentence_for_the_model),
	    cmocka_unit_test(test_a_script_over_the_limit_is_refused_with_its_size),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
