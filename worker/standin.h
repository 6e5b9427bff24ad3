/* standin.h - a local stand-in for a language model, replaying the demo's recorded answers.
 *
 * `reelbox demo` must run on a fresh machine without a network or a key, yet show prompt
 * jobs the way they really run: the worker asks a model over HTTP and renders what comes
 * back. The stand-in is that model. It speaks OpenAI's chat-completions protocol on
 * 127.0.0.1, so the worker's own client (model.c over httpc) talks to it unchanged, key
 * header and all, and it answers each of the demo's prompts with the answers recorded in
 * examples/demo (embedded at build time by cmake/demo_data.cmake). It runs on a thread of
 * its own (libmicrohttpd's internal polling thread) inside the process that starts it.
 */
#ifndef REELBOX_STANDIN_H
#define REELBOX_STANDIN_H

#include <stddef.h>
#include <stdint.h>

/* One recorded scenario: examples/demo/scenarios.json's entry and its directory's files. */
struct demo_scenario {
	const char *id, *kind, *title, *expect, *threat, *tries;
	const char *prompt;   /* prompt.txt, without its trailing blank space */
	const char *job_json; /* the manifest's "job" object as compact JSON text */
	const char *const *answers;
	size_t n_answers;
	/* Added to the brief's fields: */
	const char *status;  /* how the job itself ends: "succeeded" or "failed" (a contained
			      * threat may still render) */
	const char *runtime; /* the runtime every answer's script names: "python3", "sh" ... */
};

extern const struct demo_scenario demo_scenarios[]; /* generated: demo_data.c */
extern const size_t demo_n_scenarios;

#define STANDIN_BODY_MAX (8u << 20) /* a request body above this gets 413 */

struct standin;

/* Serve POST /v1/chat/completions on 127.0.0.1:*port (0 picks a free port; the port is
 * written back), requiring "Authorization: Bearer <key>" (401 in OpenAI's error shape
 * otherwise). The answer is chosen statelessly: the scenario whose prompt appears in the
 * first user message (the longest when several do), and answer number n where n is the
 * count of assistant messages in the request (the last answer repeats); an unknown prompt
 * gets a 200 answer saying the stand-in only knows the demo's prompts. Responses carry
 * usage {prompt_tokens, completion_tokens} estimated as bytes / 4. A body over
 * STANDIN_BODY_MAX gets 413, malformed JSON 400, another path 404, another method 405.
 * key must be non-empty; it is copied. Returns 0, or a negative errno with a sentence in
 * err. */
int standin_start(const char *key, uint16_t *port, struct standin **out, char *err, size_t errlen);

/* Requests answered so far, whatever their status. */
unsigned standin_requests(const struct standin *s);

/* 1 when any request carried the key anywhere but its Authorization header: in the body
 * (raw or JSON-decoded), another header, the URL or its query. The demo's proof that the
 * worker sends its key only where it belongs. */
int standin_key_seen_elsewhere(const struct standin *s);

/* Stop serving (waits for the thread) and free; the key's copy is wiped. NULL is fine. */
void standin_stop(struct standin *s);

/* The scenario with this id, or NULL. */
const struct demo_scenario *demo_scenario_find(const char *id);

#endif
