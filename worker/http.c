/* http.c - libmicrohttpd driven from a libuv loop (see http.h).
 *
 * libmicrohttpd parses the requests (a hand-written parser is a parser an attacker
 * gets to probe); this file only wires its "external polling" mode into the loop:
 * with MHD_USE_EPOLL and no thread of its own, the daemon keeps one epoll descriptor
 * that becomes readable whenever a socket of its own is ready. A uv_poll watches that
 * descriptor and calls MHD_run, which never blocks; MHD_get_timeout then says when it
 * must run again even without activity (a connection's idle timeout, or work it has
 * left in its ready list), and a uv_timer keeps that appointment.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lazylib.h"

/* A scrape is one small request: a few at once is plenty, and an idle or slow client
 * (slowloris) is dropped after this many seconds instead of holding a slot. */
#define HTTP_MAX_CONNECTIONS 16
#define HTTP_IDLE_TIMEOUT_S  10

struct http_route {
	char path[64];
	char content_type[64];
	http_body_fn fn;
	void *opaque;
};

struct http_server {
	struct MHD_Daemon *daemon;
	uv_poll_t poll;
	uv_timer_t timer;
	int handles; /* uv handles not yet closed */
	uint16_t port;
	struct http_route routes[HTTP_MAX_ROUTES];
	int n_routes;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
			      char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return answer(c, status, "text/plain", (char *)text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

static const struct http_route *find_route(const struct http_server *s, const char *path)
{
	for (int i = 0; i < s->n_routes; i++)
		if (!strcmp(s->routes[i].path, path))
			return &s->routes[i];
	return NULL;
}

/* One request: answered on its first call, whatever follows it (a GET has no body to
 * wait for; one that sends a body anyway gets the answer and a closed connection). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **req)
{
	const struct http_route *r = find_route(cls, url);
	char *body = NULL;
	size_t len = 0;

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)req;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (!r)
		return answer_text(c, MHD_HTTP_NOT_FOUND, "no such path\n");
	if (r->fn(r->opaque, &body, &len) < 0 || !body)
		return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot build the answer\n");
	return answer(c, MHD_HTTP_OK, r->content_type, body, len, MHD_RESPMEM_MUST_FREE);
}

static void on_timer(uv_timer_t *t);

/* Let the daemon work, then book its next appointment. */
static void drive(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(s->daemon);
	if (MHD_get_timeout(s->daemon, &ms) == MHD_YES)
		uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
	else
		uv_timer_stop(&s->timer);
}

static void on_timer(uv_timer_t *t)
{
	drive(t->data);
}

static void on_ready(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	drive(p->data);
}

static void on_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;

	if (--s->handles == 0)
		free(s);
}

/* The daemon on ip:port, without a thread of its own. */
static struct MHD_Daemon *start_daemon(struct http_server *s, struct in_addr ip, uint16_t port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = ip};

	return MHD_start_daemon(
	    MHD_USE_EPOLL, port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_END);
}

int http_open(struct http_server **out, uv_loop_t *loop, uint16_t port, char *err, size_t errlen)
{
	/* Loopback unless asked: nothing outside this host needs what is served here. */
	struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};

	return http_open_at(out, loop, lo, port, err, errlen);
}

int http_open_at(struct http_server **out, uv_loop_t *loop, struct in_addr ip, uint16_t port,
		 char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	const union MHD_DaemonInfo *info;
	char shown[INET_ADDRSTRLEN] = "?";
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory for the HTTP server");
		return -ENOMEM;
	}
	/* libmicrohttpd is loaded on first use (lazy/lazylib.c): a missing one is said here. */
	if ((rc = rb_lib_load(RB_LIB_MHD, err, errlen)) < 0) {
		free(s);
		return rc;
	}
	errno = 0;
	s->daemon = start_daemon(s, ip, port);
	if (!s->daemon) {
		rc = errno ? -errno : -EADDRINUSE;
		inet_ntop(AF_INET, &ip, shown, sizeof(shown));
		snprintf(err, errlen, "cannot listen on %s:%u: %s", shown, (unsigned)port,
			 strerror(-rc));
		free(s);
		return rc;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	rc = info ? uv_poll_init(loop, &s->poll, info->epoll_fd) : UV_EINVAL;
	if (rc < 0) {
		snprintf(err, errlen, "cannot watch the HTTP server: %s", uv_strerror(rc));
		MHD_stop_daemon(s->daemon);
		free(s);
		return rc;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : port;
	uv_timer_init(loop, &s->timer);
	s->poll.data = s->timer.data = s;
	s->handles = 2;
	uv_poll_start(&s->poll, UV_READABLE, on_ready);
	*out = s;
	return 0;
}

int http_route(struct http_server *s, const char *path, const char *content_type, http_body_fn fn,
	       void *opaque)
{
	struct http_route *r;

	if (find_route(s, path))
		return -EEXIST;
	if (s->n_routes >= HTTP_MAX_ROUTES || strlen(path) >= sizeof(r->path) ||
	    strlen(content_type) >= sizeof(r->content_type))
		return -ENOSPC;
	r = &s->routes[s->n_routes++];
	snprintf(r->path, sizeof(r->path), "%s", path);
	snprintf(r->content_type, sizeof(r->content_type), "%s", content_type);
	r->fn = fn;
	r->opaque = opaque;
	return 0;
}

uint16_t http_port(const struct http_server *s)
{
	return s->port;
}

void http_close(struct http_server *s)
{
	if (!s)
		return;
	/* The poll stops watching the epoll descriptor before the daemon closes it. */
	uv_close((uv_handle_t *)&s->poll, on_closed);
	uv_close((uv_handle_t *)&s->timer, on_closed);
	MHD_stop_daemon(s->daemon);
	s->daemon = NULL;
}
