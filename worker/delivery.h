/* delivery.h - a finished video PUT to the producer's presigned URL, and the final result
 * POSTed to its webhook, signed (docs/jobs.md "Delivery").
 *
 * The worker holds no storage credentials: the producer presigns an upload URL and the
 * worker only PUTs the file there. The webhook's body is signed with HMAC-SHA256 under a
 * secret the operator gives the worker (REELBOX_WEBHOOK_SECRET), never a job, so a
 * receiver can tell the worker's POST from anyone's.
 *
 * Both run on the worker's libuv loop through httpc (never blocking a heartbeat) and
 * retry with backoff within a bounded time. An upload ends in a callback (the job's
 * outcome waits for it); a webhook is fire-and-forget: the slot moves on at once.
 */
#ifndef REELBOX_DELIVERY_H
#define REELBOX_DELIVERY_H

#include <stddef.h>

#include "httpc.h"

#define DELIVERY_URL_MAX	  4096
#define DELIVERY_HEADERS_MAX	  32
#define DELIVERY_HEADER_MAX	  1024	       /* one "Name: value" line */
#define DELIVERY_SIGNATURE_MAX	  (7 + 64 + 1) /* "sha256=" + hex + NUL */
#define DELIVERY_SECRET_ENV	  "REELBOX_WEBHOOK_SECRET"
#define DELIVERY_SIGNATURE_HEADER "X-Reelbox-Signature"

/* 0 if url is an http:// or https:// URL of printable ASCII without spaces, at most
 * DELIVERY_URL_MAX bytes; else -EINVAL with one sentence naming what (e.g. "upload.url"). */
int delivery_check_url(const char *what, const char *url, char *err, size_t errlen);

/* 0 if name: value may go on an upload: a token name, a value without CR, LF or NUL, not
 * a header the transfer itself sets (Host, Content-Length, Transfer-Encoding, Expect,
 * Connection); else -EINVAL with one sentence. */
int delivery_check_header(const char *name, const char *value, char *err, size_t errlen);

/* The Content-Type of a container by its format ("mp4", "webm", "gif"). */
const char *delivery_content_type(const char *format);

/* url without its query string and fragment (a presigned URL's signature), into out. */
void delivery_strip_query(const char *url, char *out, size_t len);

/* "sha256=<hex HMAC-SHA256 of body under secret>" into out. 0 or -EIO. */
int delivery_sign(const char *secret, size_t secret_len, const char *body, size_t body_len,
		  char out[DELIVERY_SIGNATURE_MAX]);

/* The webhook secret from its variable, copied and then wiped from the environment
 * (/proc/<pid>/environ shows the block): NULL when unset or empty. */
char *delivery_secret_from_env(const char *name);

/* Every upload and webhook of one worker, so that shutdown can stop them. */
struct delivery;

int delivery_new(struct delivery **out, struct httpc *c);
/* Stop everything in flight (no callbacks) and free; handles close on the loop. */
void delivery_free(struct delivery *d);
/* Number of uploads and webhooks in flight. */
unsigned delivery_pending(const struct delivery *d);

struct delivery_upload_spec {
	const char *url;
	const char *const *headers; /* "Name: value" lines (checked), NULL-terminated */
	const char *path;	    /* the file, streamed */
	const char *content_type;
	const char *tag;     /* given back to done (a job id) */
	unsigned total_ms;   /* every attempt and pause together (0: 600 s) */
	unsigned max_tries;  /* 0: 4 */
	unsigned backoff_ms; /* the first pause, doubled each time (0: 500 ms) */
};

/* rc 0: the server took it (2xx); else a negative errno and one sentence. tag is the
 * caller's (a job id), copied at start. */
typedef void (*delivery_done_cb)(void *arg, const char *tag, int rc, const char *why);

/* PUT the file, retrying on connection failures, timeouts and 5xx (408, 429 too); a
 * 4xx ends at once. done runs once, on the loop, unless delivery_free came first. */
int delivery_upload(struct delivery *d, const struct delivery_upload_spec *spec,
		    delivery_done_cb done, void *arg, char *err, size_t errlen);

/* POST body to url with Content-Type application/json and the signature header, retried
 * like an upload within total_ms (0: 60 s, 5 tries, 1 s backoff); done (may be NULL)
 * says how it ended. Nothing waits for it. */
int delivery_webhook(struct delivery *d, const char *url, const char *secret, const char *body,
		     const char *tag, unsigned total_ms, delivery_done_cb done, void *arg,
		     char *err, size_t errlen);

#endif
