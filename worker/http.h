/* http.h - a small HTTP server on a libuv loop that serves the paths registered with it.
 *
 * It knows nothing of jobs: a caller registers a path with a function that makes the
 * body, and GET (or HEAD) on that path answers 200 with it; any other path is 404, any
 * other method 405. The protocol is libmicrohttpd's, driven from the caller's loop
 * (its epoll descriptor under a uv_poll, its timeouts under a uv_timer), so a body
 * function runs on the loop's thread and may read the caller's state without a lock.
 * The worker serves its metrics here; a dashboard can add its paths beside them.
 */
#ifndef REELBOX_HTTP_H
#define REELBOX_HTTP_H

#include <stddef.h>
#include <netinet/in.h>
#include <stdint.h>
#include <uv.h>

#define HTTP_MAX_ROUTES 8

struct http_server;

/* Make the body of one answer: 0 with *body malloc'd (the server frees it) and *len its
 * length, or a negative errno (the client gets 500). */
typedef int (*http_body_fn)(void *opaque, char **body, size_t *len);

/* Listen on 127.0.0.1:port (0: a free port, see http_port) on loop. 0, or a negative
 * errno with one sentence in err. */
int http_open(struct http_server **out, uv_loop_t *loop, uint16_t port, char *err, size_t errlen);

/* The same on a chosen IPv4 address (0.0.0.0: every interface, e.g. a pod's metrics for
 * a Service to scrape). */
int http_open_at(struct http_server **out, uv_loop_t *loop, struct in_addr ip, uint16_t port,
		 char *err, size_t errlen);

/* Serve path (an exact match, e.g. "/metrics") with content_type and fn's body. 0, or
 * -ENOSPC past HTTP_MAX_ROUTES, -EEXIST for a path already served. */
int http_route(struct http_server *s, const char *path, const char *content_type, http_body_fn fn,
	       void *opaque);

/* The port it listens on. */
uint16_t http_port(const struct http_server *s);

/* Stop listening and drop open connections; the memory goes once the loop has closed
 * the server's handles (the loop must run on, as uv_close asks). NULL is a no-op. */
void http_close(struct http_server *s);

#endif
