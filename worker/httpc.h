/* httpc.h - an HTTP client on the worker's libuv loop (libcurl's multi-socket API).
 *
 * The worker calls slow servers (a model that thinks for a minute) from the same loop that
 * runs every slot, the heartbeats and Redis, so a request must never block: curl's multi
 * handle is driven by the loop (one uv_poll_t per socket curl opens, one uv_timer_t for
 * curl's timer) and a request ends in a callback.
 *
 * The client knows nothing of models, jobs or Redis. A request is a method, a URL, headers,
 * a body and three bounds: a total timeout, a connect timeout and a maximum response size,
 * enforced while the response arrives (a body over the cap is refused before it is all
 * read). Completion gives the HTTP status, Retry-After, the body, or one clause saying what
 * went wrong. Headers may carry secrets: the client never prints them, and no error clause
 * quotes a header or the body.
 */
#ifndef REELBOX_HTTPC_H
#define REELBOX_HTTPC_H

#include <stddef.h>

#include <uv.h>

struct httpc;
struct httpc_req;

struct httpc_request {
	const char *method;	    /* "GET", "POST", ...; NULL means GET, or POST with a body */
	const char *url;	    /* http:// or https:// only */
	const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
	const char *body;	    /* copied at start; may be NULL */
	size_t body_len;
	/* Or a file streamed from disk as the body (an upload: PUT unless method says
	 * otherwise), opened at start; exactly its size at start is sent, as Content-Length
	 * (a file that shrinks meanwhile fails the request). NULL: none. */
	const char *body_file;
	unsigned timeout_ms;	     /* the whole exchange; 0 means none */
	unsigned connect_timeout_ms; /* 0 means curl's default (300 s) */
	size_t max_response;	     /* body bytes; 0 means HTTPC_DEFAULT_MAX_RESPONSE */
};

#define HTTPC_DEFAULT_MAX_RESPONSE (1u << 20)
#define HTTPC_ERROR_MAX		   256

struct httpc_response {
	/* 0, or a negative errno for a transport failure (then status may be 0):
	 * -ETIMEDOUT (total or connect timeout), -ECONNREFUSED, -EHOSTUNREACH (name or
	 * route), -EFBIG (the body passed max_response), -ECONNRESET (the server hung up),
	 * -EPROTO (TLS or HTTP framing), -EINVAL (a bad URL or scheme), -EIO otherwise. */
	int err;
	char error[HTTPC_ERROR_MAX]; /* one clause when err != 0, e.g. "no answer within 2 s" */
	long status;		     /* the HTTP status of the final response, 0 if none */
	long retry_after_ms;	     /* Retry-After (seconds or a date) in ms; -1 when absent */
	char *body;		     /* NUL-terminated (the NUL is not counted); never NULL */
	size_t body_len;
	unsigned elapsed_ms;
};

/* Called once when a request ends, on the loop, unless the request was cancelled. The
 * callback may take res->body (set it to NULL and free() it later); everything else,
 * req included, is freed when it returns. It may start and cancel other requests. */
typedef void (*httpc_done_cb)(struct httpc_req *req, struct httpc_response *res, void *arg);

/* A client bound to loop; one is enough for any number of concurrent requests (they
 * share connections). Returns 0 or -ENOMEM / -EIO with a sentence in err. */
int httpc_new(struct httpc **out, uv_loop_t *loop, char *err, size_t errlen);

/* Start a request. On success *out (if out is non-NULL) names it for httpc_cancel() until
 * done runs. Returns 0, or -EINVAL / -ENOMEM / -EIO with a sentence in err (then done is
 * never called). */
int httpc_start(struct httpc *c, const struct httpc_request *rq, httpc_done_cb done, void *arg,
		struct httpc_req **out, char *err, size_t errlen);

/* Stop a request in flight now: its connection is closed and its done callback is never
 * called; req is invalid afterwards. Only for a request whose done has not run. */
void httpc_cancel(struct httpc_req *req);

/* The loop the client runs on. */
uv_loop_t *httpc_loop(const struct httpc *c);

/* Number of requests in flight. */
unsigned httpc_pending(const struct httpc *c);

/* Cancel every request in flight (no done callbacks) and free the client; its libuv
 * handles close on the loop's next turn, so run the loop to let them go. Safe from a
 * done callback. */
void httpc_free(struct httpc *c);

#endif
