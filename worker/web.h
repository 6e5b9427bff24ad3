/* web.h - `reelbox web`, the dashboard: what its files share.
 *
 * cmd_web.c reads the options and the token and runs the server; web_http.c answers a
 * request: the checks every request passes (Host, token, CSRF) and the routing;
 * web_api.c, web_sse.c and web_media.c make the answers (JSON, the event stream, the
 * video and its poster); web_util.c holds what they all use: the responses with their
 * security headers and the pool of queue clients. Calls go down that list, never up.
 * web_guard.c, beside them, gives every request's headers a deadline (slowloris).
 */
#ifndef REELBOX_WEB_H
#define REELBOX_WEB_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#define WEB_TOKEN_MIN	      16
#define WEB_TOKEN_MAX	      256
#define WEB_POOL_MAX	      8	    /* idle queue clients kept */
#define WEB_POOL_IDLE_MS      60000 /* one idle longer is not trusted (a proxy may have cut it) */
#define WEB_SSE_MAX	      16    /* event streams at once; the other slots stay for requests */
#define WEB_HOSTS_MAX	      8
#define WEB_HOST_LEN	      128
#define WEB_COOKIE	      "reelbox_token"
#define WEB_HEADER_DEADLINE_S 10 /* a request's headers, whole, within this (slowloris) */

struct web_conn;

struct web {
	/* the queue */
	const char *redis_url;
	struct queue_opts qopts;
	pthread_mutex_t lock;
	struct queue *idle[WEB_POOL_MAX];
	long long idle_since[WEB_POOL_MAX]; /* monotonic ms each went back to the pool */
	int n_idle;
	int n_sse;		/* event streams open, under lock */
	struct web_conn *conns; /* every open connection, under lock (web_guard.c) */
	pthread_t guard;
	atomic_int stopping; /* set once by the main thread at SIGTERM, read by every other */

	/* the checks */
	char *token;		     /* NULL: no token asked (loopback only) */
	unsigned char token_sha[32]; /* SHA-256 of the token, compared in constant time */
	char hosts[WEB_HOSTS_MAX][WEB_HOST_LEN]; /* Host values accepted */
	int n_hosts;
	int any_host; /* a wildcard bind: any Host with our port (the token guards it) */
	uint16_t port;

	/* the videos: only files inside this dir (the workers' output dir, resolved) are
	 * served; "" serves none */
	char media_root[4096];

	/* the page and its Content-Security-Policy (hashes of its script and style) */
	char csp[512];
};

/* The page, generated from worker/web/index.html by cmake/web_page.cmake. */
extern const char web_index_html[];
extern const size_t web_index_html_len;

/* ---- web_util.c: responses and the queue pool --------------------------------- */

/* The CSP of the page: its one <script> and one <style> allowed by their SHA-256. */
int web_csp_init(struct web *w, char *err, size_t errlen);

/* Queue a response with the security headers (and no-store): body copied when copy is
 * 1, else persistent. MHD_NO when it could not be queued. */
enum MHD_Result web_send(const struct web *w, struct MHD_Connection *c, unsigned status,
			 const char *type, const char *body, size_t len, int copy);
enum MHD_Result web_send_text(const struct web *w, struct MHD_Connection *c, unsigned status,
			      const char *line);
/* {"error": sentence} with status. */
enum MHD_Result web_send_error(const struct web *w, struct MHD_Connection *c, unsigned status,
			       const char *sentence);
/* A malloc'd body, freed by MHD. */
enum MHD_Result web_send_owned(const struct web *w, struct MHD_Connection *c, unsigned status,
			       const char *type, char *body, size_t len);
/* Add the security headers to a response made elsewhere. */
void web_headers(const struct web *w, struct MHD_Response *r, const char *type);

/* A queue client for this thread (from the pool, or a fresh connection): 0, or a
 * negative errno with the sentence in err (Redis away). */
int web_queue_get(struct web *w, struct queue **q, char *err, size_t errlen);
/* Give it back; rc is the last call's answer: a client whose connection broke is closed. */
void web_queue_put(struct web *w, struct queue *q, int rc);
/* Close every idle client. */
void web_queue_drain(struct web *w);

/* The HTTP status for a queue call's negative errno. */
unsigned web_status_for(int rc);

/* ---- web_api.c, web_sse.c, web_media.c: the answers ---------------------------- */

enum MHD_Result web_api_overview(struct web *w, struct MHD_Connection *c);
enum MHD_Result web_api_jobs(struct web *w, struct MHD_Connection *c);
enum MHD_Result web_api_job(struct web *w, struct MHD_Connection *c, const char *id);
enum MHD_Result web_api_log(struct web *w, struct MHD_Connection *c, const char *id);
enum MHD_Result web_api_action(struct web *w, struct MHD_Connection *c, const char *id,
			       const char *action);
enum MHD_Result web_api_metrics(struct web *w, struct MHD_Connection *c);
enum MHD_Result web_api_healthz(struct web *w, struct MHD_Connection *c);

enum MHD_Result web_sse(struct web *w, struct MHD_Connection *c);

/* A Range header of one byte range over size bytes: 0 with [*first, *last], 1 to send
 * the whole file (no header, or a form not served: several ranges, bad syntax), -1
 * unsatisfiable (416). */
int web_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last);

/* /video/ID (poster 0) and /poster/ID (poster 1). */
enum MHD_Result web_media(struct web *w, struct MHD_Connection *c, const char *id, int poster);

/* ---- web_guard.c: a deadline on a request's headers ---------------------------- */

/* MHD_OPTION_NOTIFY_CONNECTION and MHD_OPTION_NOTIFY_COMPLETED callbacks (cls: the struct
 * web), and web_request's mark that a request's headers are complete. */
void web_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		      enum MHD_ConnectionNotificationCode code);
void web_guard_completed(void *cls, struct MHD_Connection *c, void **req,
			 enum MHD_RequestTerminationCode toe);
void web_guard_request(struct web *w, struct MHD_Connection *c);
/* The watchdog thread: it ends once w->stopping is set; stop joins it. 0 or -errno. */
int web_guard_start(struct web *w);
void web_guard_stop(struct web *w);

/* ---- web_http.c: the request handler ------------------------------------------- */

/* MHD's unescape callback (MHD_OPTION_UNESCAPE_CALLBACK): %XX decoded, except in a
 * value holding %00, which is left as it came (and so matches no id and no token). */
size_t web_unescape(void *cls, struct MHD_Connection *c, char *s);

/* MHD's access handler; cls is the struct web. */
enum MHD_Result web_request(void *cls, struct MHD_Connection *c, const char *url,
			    const char *method, const char *version, const char *upload,
			    size_t *upload_len, void **req);

#endif
