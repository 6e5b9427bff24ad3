/* test_standin.c - the demo's stand-in model, over real HTTP on loopback.
 *
 * Each test starts the stand-in (worker/standin.c) in this process, on its own thread, on
 * a free port, and talks to it the two ways it is talked to: raw HTTP through libcurl (to
 * see statuses and the exact JSON), and the worker's own model client (model.c over
 * httpc) for the whole way a prompt job goes: ask, answer, take the script out. The
 * scenarios are the embedded ones, generated from examples/demo at build time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "model.h"
#include "promptmsg.h"
#include "standin.h"

#define KEY "sk-standin-test-8c0ffee5"

struct server {
	struct standin *s;
	uint16_t port;
	char url[128]; /* the API base, as REELBOX_MODEL_URL would be */
};

static void start(struct server *srv)
{
	char err[256] = "";

	memset(srv, 0, sizeof(*srv));
	assert_int_equal(standin_start(KEY, &srv->port, &srv->s, err, sizeof(err)), 0);
	assert_true(srv->port > 0);
	snprintf(srv->url, sizeof(srv->url), "http://127.0.0.1:%u/v1", (unsigned)srv->port);
}

/* ---- raw HTTP ---- */

struct reply {
	long status;
	char *body;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	char *grown = realloc(r->body, r->len + size * n + 1);

	if (!grown)
		return 0;
	memcpy(grown + r->len, p, size * n);
	r->body = grown;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

/* One request: method and path on the stand-in, up to two extra headers (NULL for none). */
static struct reply http(const struct server *srv, const char *method, const char *path,
			 const char *h1, const char *h2, const char *body, size_t len)
{
	struct reply r = {0};
	struct curl_slist *hs = NULL;
	char url[512];
	CURL *e = curl_easy_init();

	assert_non_null(e);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)srv->port, path);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	hs = curl_slist_append(hs, "Expect:");
	if (h1)
		hs = curl_slist_append(hs, h1);
	if (h2)
		hs = curl_slist_append(hs, h2);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(e);
	return r;
}

static struct reply post(const struct server *srv, const char *auth, const char *body)
{
	return http(srv, "POST", "/v1/chat/completions", auth, NULL, body, strlen(body));
}

static const char *const AUTH = "Authorization: Bearer " KEY;

/* A chat request: a system prompt and the user's prompt as a prompt job quotes it, then
 * `attempts` rounds of (assistant answer, repair turn). malloc'd JSON. */
static char *chat(const char *prompt, size_t attempts)
{
	json_t *msgs = json_array(), *root;
	char *quoted = promptmsg_request(prompt, strlen(prompt)), *out;

	assert_non_null(quoted);
	json_array_append_new(
	    msgs, json_pack("{s:s,s:s}", "role", "system", "content", model_prompt_text));
	json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", quoted));
	for (size_t i = 0; i < attempts; i++) {
		json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "assistant", "content",
						      "```python\nprint('hi')\n```\n"));
		json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content",
						      "That script did not make a video."));
	}
	root = json_pack("{s:s,s:o}", "model", "reelbox-standin", "messages", msgs);
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	free(quoted);
	return out;
}

/* The answer text of a 200 reply; the reply is freed. */
static char *answer_of(struct reply r)
{
	json_error_t jerr;
	json_t *root = json_loads(r.body, 0, &jerr);
	const char *text;
	char *out;

	assert_int_equal(r.status, 200);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "object")), "chat.completion");
	text = json_string_value(json_object_get(
	    json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message"),
	    "content"));
	assert_non_null(text);
	out = strdup(text);
	json_decref(root);
	free(r.body);
	return out;
}

/* ---- the tests ---- */

static void test_each_prompt_gets_answer1_then_answer2_after_one_assistant_turn(void **state)
{
	struct server srv;

	start(&srv);
	for (size_t i = 0; i < demo_n_scenarios; i++) {
		const struct demo_scenario *sc = &demo_scenarios[i];
		char *first = chat(sc->prompt, 0), *second = chat(sc->prompt, 1),
		     *fourth = chat(sc->prompt, 3), *a;

		a = answer_of(post(&srv, AUTH, first));
		assert_string_equal(a, sc->answers[0]);
		free(a);
		a = answer_of(post(&srv, AUTH, second));
		assert_string_equal(a, sc->answers[sc->n_answers > 1 ? 1 : 0]);
		free(a);
		/* past the recording, the last answer repeats */
		a = answer_of(post(&srv, AUTH, fourth));
		assert_string_equal(a, sc->answers[sc->n_answers - 1]);
		free(a);
		free(first);
		free(second);
		free(fourth);
	}
	assert_int_equal(standin_requests(srv.s), 3 * demo_n_scenarios);
	assert_int_equal(standin_key_seen_elsewhere(srv.s), 0);
	standin_stop(srv.s);
}

static void test_repair_scenario_gives_different_answers_per_attempt(void **state)
{
	size_t repaired = 0;

	for (size_t i = 0; i < demo_n_scenarios; i++) {
		const struct demo_scenario *sc = &demo_scenarios[i];

		if (sc->n_answers > 1) {
			assert_string_not_equal(sc->answers[0], sc->answers[1]);
			repaired += !strcmp(sc->kind, "video");
		}
	}
	assert_true(repaired >= 1); /* the demo shows the repair loop at least once */
}

static void assert_openai_error(struct reply r, long status, const char *code)
{
	json_t *root = json_loads(r.body ? r.body : "", 0, NULL), *e;

	assert_int_equal(r.status, status);
	assert_non_null(root);
	e = json_object_get(root, "error");
	assert_true(json_is_object(e));
	assert_non_null(json_string_value(json_object_get(e, "message")));
	assert_non_null(json_string_value(json_object_get(e, "type")));
	assert_true(json_object_get(e, "param") != NULL);
	if (code)
		assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	assert_null(strstr(r.body, KEY)); /* an error never quotes the key */
	json_decref(root);
	free(r.body);
}

static void test_wrong_or_missing_key_gets_401_in_openai_shape(void **state)
{
	struct server srv;
	char *body = chat(demo_scenarios[0].prompt, 0);

	start(&srv);
	assert_openai_error(post(&srv, NULL, body), 401, "invalid_api_key");
	assert_openai_error(post(&srv, "Authorization: Bearer sk-wrong", body), 401,
			    "invalid_api_key");
	assert_openai_error(post(&srv, "Authorization: Bearer " KEY "x", body), 401,
			    "invalid_api_key");
	assert_openai_error(post(&srv, "Authorization: Basic " KEY, body), 401, "invalid_api_key");
	/* the scheme is case-insensitive, as in HTTP */
	free(answer_of(post(&srv, "Authorization: bearer " KEY, body)));
	assert_int_equal(standin_requests(srv.s), 5);
	standin_stop(srv.s);
	free(body);
}

static void test_other_paths_methods_and_bad_json_get_openai_errors(void **state)
{
	struct server srv;

	start(&srv);
	assert_openai_error(http(&srv, "GET", "/v1/chat/completions", AUTH, NULL, NULL, 0), 405,
			    NULL);
	assert_openai_error(http(&srv, "POST", "/v1/completions", AUTH, NULL, "{}", 2), 404,
			    "unknown_url");
	assert_openai_error(post(&srv, AUTH, "{\"messages\": [}"), 400, NULL);
	assert_openai_error(post(&srv, AUTH, "{\"messages\": []}"), 400, NULL);
	standin_stop(srv.s);
}

/* A valid request padded with spaces to exactly `size` bytes. */
static char *padded(const char *prompt, size_t size)
{
	char *body = chat(prompt, 0), *out = malloc(size + 1);
	size_t len = strlen(body);

	assert_non_null(out);
	assert_true(len < size);
	memcpy(out, body, len - 1); /* everything but the closing brace */
	memset(out + len - 1, ' ', size - len);
	out[size - 1] = '}';
	out[size] = '\0';
	free(body);
	return out;
}

static void test_body_over_8_mib_gets_413_and_one_at_the_limit_is_answered(void **state)
{
	struct server srv;
	const struct demo_scenario *sc = &demo_scenarios[0];
	char *at = padded(sc->prompt, STANDIN_BODY_MAX),
	     *over = padded(sc->prompt, STANDIN_BODY_MAX + 1);
	char *a;

	start(&srv);
	assert_openai_error(post(&srv, AUTH, over), 413, "request_too_large");
	/* the server reads on after a refusal: the next request is answered */
	a = answer_of(post(&srv, AUTH, at));
	assert_string_equal(a, sc->answers[0]);
	free(a);
	standin_stop(srv.s);
	free(at);
	free(over);
}

static void test_unknown_prompt_gets_a_200_that_says_it_knows_only_the_demo(void **state)
{
	struct server srv;
	char *body = chat("a 5-second video of a cat playing the piano", 0), *a;

	start(&srv);
	a = answer_of(post(&srv, AUTH, body));
	assert_non_null(strstr(a, "stand-in model"));
	assert_non_null(strstr(a, demo_scenarios[0].id));
	assert_non_null(strstr(a, "REELBOX_MODEL_URL"));
	free(a);
	free(body);
	standin_stop(srv.s);
}

/* One fresh stand-in per place: the flag stays set once raised. */
static void assert_key_flagged(const char *path, const char *header, const char *body, int want)
{
	struct server srv;
	struct reply r;

	start(&srv);
	r = http(&srv, "POST", path, AUTH, header, body, strlen(body));
	free(r.body);
	assert_int_equal(standin_requests(srv.s), 1);
	assert_int_equal(standin_key_seen_elsewhere(srv.s), want);
	standin_stop(srv.s);
}

static void test_key_anywhere_but_authorization_is_flagged(void **state)
{
	char *clean = chat(demo_scenarios[0].prompt, 0), *in_body = chat("my key is " KEY, 0);
	/* JSON may spell it with escapes: the decoded text is checked too */
	const char *escaped = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
			      "\"\\u0073k-standin-test-8c0ffee5\"}]}";

	assert_key_flagged("/v1/chat/completions", NULL, clean, 0);
	assert_key_flagged("/v1/chat/completions", NULL, in_body, 1);
	assert_key_flagged("/v1/chat/completions", NULL, escaped, 1);
	assert_key_flagged("/v1/chat/completions", "X-Api-Key: " KEY, clean, 1);
	assert_key_flagged("/v1/chat/completions?key=" KEY, NULL, clean, 1);
	assert_key_flagged("/v1/" KEY "/chat/completions", NULL, clean, 1);
	free(clean);
	free(in_body);
}

static struct model_config cfg_for(const struct server *srv, const char *key)
{
	return (struct model_config){.api = MODEL_API_OPENAI,
				     .url = srv->url,
				     .name = "reelbox-standin",
				     .key = key,
				     .timeout_ms = 10000,
				     .connect_timeout_ms = 2000,
				     .retries = MODEL_NO_RETRIES};
}

/* model.c asks, the answer is the recorded text, and the script comes out of it with
 * the scenario's runtime. ans is left filled for the caller. */
static void ask_and_extract(const struct server *srv, const struct demo_scenario *sc,
			    const struct model_turn *turns, size_t n, size_t want,
			    struct model_answer *ans)
{
	struct model_config cfg = cfg_for(srv, KEY);
	struct model_script script;
	char err[MODEL_ERROR_MAX] = "";

	assert_int_equal(model_ask_sync(&cfg, model_prompt_text, turns, n, ans, err, sizeof(err)),
			 0);
	assert_string_equal(ans->text, sc->answers[want]);
	assert_true(ans->input_tokens > 0);
	assert_int_equal(ans->output_tokens, (long)((strlen(sc->answers[want]) + 3) / 4));
	assert_int_equal(ans->truncated, 0);
	if (model_extract_script(ans->text, ans->text_len, 1u << 20, NULL, &script, err,
				 sizeof(err)) != 0)
		fail_msg("%s answer %zu: %s", sc->id, want + 1, err);
	assert_int_equal(script.fenced, 1);
	assert_non_null(script.runtime);
	if (strcmp(script.runtime, sc->runtime))
		fail_msg("%s answer %zu: runtime %s, the manifest says %s", sc->id, want + 1,
			 script.runtime, sc->runtime);
	assert_true(script.len > 200); /* a whole script, not a fragment */
	model_script_free(&script);
}

static void test_every_scenario_end_to_end_through_model_c(void **state)
{
	struct server srv;

	start(&srv);
	for (size_t i = 0; i < demo_n_scenarios; i++) {
		const struct demo_scenario *sc = &demo_scenarios[i];
		char *request = promptmsg_request(sc->prompt, strlen(sc->prompt));
		char *repair = promptmsg_repair("script exited with status 1", "Traceback ...");
		struct model_answer first = {0}, second = {0};

		ask_and_extract(&srv, sc, (struct model_turn[]){{MODEL_USER, request}}, 1, 0,
				&first);
		for (size_t k = 1; k < sc->n_answers; k++) {
			struct model_turn turns[] = {{MODEL_USER, request},
						     {MODEL_ASSISTANT, first.text},
						     {MODEL_USER, repair}};

			ask_and_extract(&srv, sc, turns, 3, 1, &second);
			model_answer_free(&second);
		}
		model_answer_free(&first);
		free(request);
		free(repair);
	}
	assert_int_equal(standin_key_seen_elsewhere(srv.s), 0); /* model.c keeps it in its header */
	standin_stop(srv.s);
}

static void test_model_c_with_a_wrong_key_is_refused(void **state)
{
	struct server srv;
	struct model_config cfg;
	struct model_answer ans = {0};
	struct model_turn turn = {MODEL_USER, demo_scenarios[0].prompt};
	char err[MODEL_ERROR_MAX] = "";

	start(&srv);
	cfg = cfg_for(&srv, "sk-not-the-key");
	assert_int_equal(model_ask_sync(&cfg, "system", &turn, 1, &ans, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "401"));
	assert_null(ans.text);
	standin_stop(srv.s);
}

static void test_manifest_holds_the_demo_the_issue_asks_for(void **state)
{
	static const char *const threats[] = {"hallucination",	  "over-helpful",
					      "direct-injection", "indirect-injection",
					      "resource-abuse",	  "persistence"};
	size_t videos = 0, abuse = 0, rendered_threats = 0, failed_threats = 0;

	for (size_t i = 0; i < demo_n_scenarios; i++) {
		const struct demo_scenario *sc = &demo_scenarios[i];
		json_t *job = json_loads(sc->job_json, 0, NULL);

		assert_non_null(job);
		assert_string_equal(json_string_value(json_object_get(job, "size")), "640x360");
		assert_true(json_integer_value(json_object_get(job, "frames")) > 0);
		json_decref(job);
		assert_ptr_equal(demo_scenario_find(sc->id), sc);
		if (!strcmp(sc->kind, "video")) {
			videos++;
			assert_string_equal(sc->expect, "rendered");
			assert_null(sc->threat);
			continue;
		}
		assert_string_equal(sc->expect, "contained");
		assert_non_null(sc->threat);
		abuse += !strcmp(sc->threat, "resource-abuse");
		rendered_threats += !strcmp(sc->status, "succeeded");
		failed_threats += !strcmp(sc->status, "failed");
	}
	assert_true(videos >= 6);
	assert_true(abuse >= 4); /* fork bomb, memory hog, CPU spin, disk filler */
	assert_true(rendered_threats > 0 && failed_threats > 0);
	for (size_t t = 0; t < sizeof(threats) / sizeof(threats[0]); t++) {
		size_t n = 0;

		for (size_t i = 0; i < demo_n_scenarios; i++)
			n += demo_scenarios[i].threat &&
			     !strcmp(demo_scenarios[i].threat, threats[t]);
		if (!n)
			fail_msg("no scenario shows the threat %s", threats[t]);
	}
	assert_null(demo_scenario_find("no-such-scenario"));
}

static void test_start_refuses_an_empty_key_with_a_sentence(void **state)
{
	struct standin *s = (struct standin *)1;
	uint16_t port = 0;
	char err[256] = "";

	assert_int_equal(standin_start("", &port, &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "key"));
	assert_int_equal(standin_start("sk-a\r\nX-Evil: 1", &port, &s, err, sizeof(err)), -EINVAL);
	standin_stop(NULL);
}

static int group_setup(void **state)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_prompt_gets_answer1_then_answer2_after_one_assistant_turn),
	    cmocka_unit_test(test_repair_scenario_gives_different_answers_per_attempt),
	    cmocka_unit_test(test_wrong_or_missing_key_gets_401_in_openai_shape),
	    cmocka_unit_test(test_other_paths_methods_and_bad_json_get_openai_errors),
	    cmocka_unit_test(test_body_over_8_mib_gets_413_and_one_at_the_limit_is_answered),
	    cmocka_unit_test(test_unknown_prompt_gets_a_200_that_says_it_knows_only_the_demo),
	    cmocka_unit_test(test_key_anywhere_but_authorization_is_flagged),
	    cmocka_unit_test(test_every_scenario_end_to_end_through_model_c),
	    cmocka_unit_test(test_model_c_with_a_wrong_key_is_refused),
	    cmocka_unit_test(test_manifest_holds_the_demo_the_issue_asks_for),
	    cmocka_unit_test(test_start_refuses_an_empty_key_with_a_sentence),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
