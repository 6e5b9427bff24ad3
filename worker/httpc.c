/* httpc.c - libcurl's multi-socket API driven by a libuv loop (see httpc.h).
 *
 * The shape is the one curl documents for event loops: curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and when to wake it up (CURLMOPT_TIMERFUNCTION); we keep
 * one uv_poll_t per socket and one uv_timer_t, and whenever either fires we hand the event
 * to curl_multi_socket_action() and then collect the transfers curl finished. Nothing here
 * blocks: name resolution is curl's threaded resolver, every read and write is on a socket
 * the loop said was ready.
 *
 * Each libuv handle is freed in its close callback, so the client itself can go at once
 * (httpc_free) while its handles finish closing on the loop's next turn.
 */
#define _GNU_SOURCE
#include "httpc.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lazylib.h"

/* Response headers a server may send before we hang up: curl bounds each line, this
 * bounds their sum (a server streaming endless headers is as bad as an endless body). */
#define HTTPC_HEADERS_MAX (64u * 1024)

struct httpc_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct httpc *c;
	struct httpc_sock *prev, *next;
};

struct httpc {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t *timer; /* its own allocation: it outlives the client while closing */
	struct httpc_req *reqs;
	struct httpc_sock *socks;
	unsigned pending;
	int dispatching; /* inside drain(): freeing waits until it returns */
	int freeing;
};

struct httpc_req {
	struct httpc *c;
	CURL *easy;
	struct curl_slist *headers;
	httpc_done_cb done;
	void *arg;
	char *buf;
	size_t len, cap, max;
	size_t header_bytes;
	long long announced; /* the response's Content-Length, -1 if none */
	int over_cap, headers_over_cap, saw_retry_after, in_done;
	unsigned timeout_ms, connect_timeout_ms;
	uint64_t start_ns;
	int file_fd;			 /* body_file, or -1 */
	curl_off_t file_size, file_sent; /* what is sent of it: its size at start */
	struct httpc_req *prev, *next;
	char curl_err[CURL_ERROR_SIZE];
};

__attribute__((format(printf, 3, 4))) static void say(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void fmt_ms(char *out, size_t len, unsigned ms)
{
	if (ms % 1000 == 0)
		snprintf(out, len, "%u s", ms / 1000);
	else if (ms >= 1000)
		snprintf(out, len, "%.1f s", ms / 1000.0);
	else
		snprintf(out, len, "%u ms", ms);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- sockets and the timer: curl says what to watch, the loop watches it ---- */

static void drain(struct httpc *c);
static void really_free(struct httpc *c);

static void sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sock_close(struct httpc_sock *s)
{
	struct httpc *c = s->c;

	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct httpc_sock *s = h->data;
	struct httpc *c = s->c;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	drain(c);
}

static struct httpc_sock *sock_new(struct httpc *c, curl_socket_t fd)
{
	struct httpc_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
		free(s);
		return NULL;
	}
	s->fd = fd;
	s->c = c;
	s->poll.data = s;
	s->next = c->socks;
	if (c->socks)
		c->socks->prev = s;
	c->socks = s;
	return s;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct httpc *c = userp;
	struct httpc_sock *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_close(s);
		curl_multi_assign(c->multi, fd, NULL);
		return 0;
	}
	if (!s && !(s = sock_new(c, fd)))
		return -1;
	curl_multi_assign(c->multi, fd, s);
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	return uv_poll_start(&s->poll, events, on_poll) < 0 ? -1 : 0;
}

static void on_timer(uv_timer_t *t)
{
	struct httpc *c = t->data;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(c);
}

/* curl asks for a wake-up in timeout_ms (0: as soon as possible, -1: none). It must not
 * be driven from inside this callback, so even 0 goes through the loop. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *c = userp;

	if (timeout_ms < 0)
		uv_timer_stop(c->timer);
	else
		uv_timer_start(c->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

int httpc_new(struct httpc **out, uv_loop_t *loop, char *err, size_t errlen)
{
	struct httpc *c;

	*out = NULL;
	/* libcurl is loaded on first use (lazy/lazylib.c): a missing one is said here. */
	if (rb_lib_load(RB_LIB_CURL, err, errlen) < 0)
		return -ENOENT;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		say(err, errlen, "libcurl could not start: %s", curl_easy_strerror(global_rc));
		return -EIO;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->timer = calloc(1, sizeof(*c->timer))) || !(c->multi = curl_multi_init())) {
		if (c)
			free(c->timer);
		free(c);
		say(err, errlen, "out of memory starting the HTTP client");
		return -ENOMEM;
	}
	c->loop = loop;
	uv_timer_init(loop, c->timer);
	c->timer->data = c;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	*out = c;
	return 0;
}

/* ---- one request ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct httpc_req *r = ud;
	size_t len = size * n;

	/* A server that answers forever (or a model that never stops) cannot make us hold
	 * more than max bytes: the chunk that would pass the cap aborts the transfer. */
	if (len > r->max - r->len) {
		r->over_cap = 1;
		return 0;
	}
	if (r->len + len + 1 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4096;
		char *nb;

		while (cap < r->len + len + 1)
			cap *= 2;
		if (cap > r->max + 1)
			cap = r->max + 1;
		nb = realloc(r->buf, cap);
		if (!nb)
			return 0;
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, len);
	r->len += len;
	r->buf[r->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct httpc_req *r = ud;
	size_t len = size * n;

	r->header_bytes += len;
	if (r->header_bytes > HTTPC_HEADERS_MAX) {
		r->headers_over_cap = 1;
		return 0;
	}
	if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
		r->saw_retry_after = 0; /* a new response (after a 100 Continue): forget */
		r->announced = -1;
	} else if (len >= 12 && !strncasecmp(p, "Retry-After:", 12)) {
		r->saw_retry_after = 1;
	} else if (len >= 15 && !strncasecmp(p, "Content-Length:", 15)) {
		/* Only for the sentence: curl itself enforces the cap against it. */
		char num[24];
		size_t k = len - 15 < sizeof(num) - 1 ? len - 15 : sizeof(num) - 1;

		memcpy(num, p + 15, k);
		num[k] = '\0';
		r->announced = strtoll(num, NULL, 10);
	}
	return len;
}

static void req_unlink(struct httpc_req *r)
{
	struct httpc *c = r->c;

	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->pending--;
}

/* Header values may be API keys: wipe our copies before the memory goes back. */
static void free_headers(struct curl_slist *h)
{
	for (struct curl_slist *i = h; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

static void req_free(struct httpc_req *r)
{
	if (r->file_fd >= 0)
		close(r->file_fd);
	curl_multi_remove_handle(r->c->multi, r->easy);
	curl_easy_cleanup(r->easy);
	free_headers(r->headers);
	free(r->buf);
	free(r);
}

static int header_ok(const char *h)
{
	/* A CR or LF inside a header would start a header (or a request) of its own. */
	return h && !strpbrk(h, "\r\n") && strchr(h, ':') && h[0] != ':';
}

static int method_ok(const char *m)
{
	size_t n = strlen(m);

	if (!n || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isupper((unsigned char)m[i]))
			return 0;
	return 1;
}

static int check_request(const struct httpc_request *rq, char *err, size_t errlen)
{
	if (!rq->url ||
	    (strncasecmp(rq->url, "http://", 7) && strncasecmp(rq->url, "https://", 8))) {
		say(err, errlen, "the URL must start with http:// or https://");
		return -EINVAL;
	}
	if (strpbrk(rq->url, "\r\n \t")) {
		say(err, errlen, "the URL contains a space or a line break");
		return -EINVAL;
	}
	if (rq->method && !method_ok(rq->method)) {
		say(err, errlen, "the HTTP method must be 1 to 16 capital letters");
		return -EINVAL;
	}
	for (const char *const *h = rq->headers; h && *h; h++) {
		if (!header_ok(*h)) {
			/* Not quoted: the header may be the one carrying a key. */
			say(err, errlen, "request header %zu is not one \"Name: value\" line",
			    (size_t)(h - rq->headers) + 1);
			return -EINVAL;
		}
	}
	return 0;
}

static int set_headers(struct httpc_req *r, const struct httpc_request *rq)
{
	struct curl_slist *l;

	for (const char *const *h = rq->headers; h && *h; h++) {
		if (!(l = curl_slist_append(r->headers, *h)))
			return -ENOMEM;
		r->headers = l;
	}
	/* No "Expect: 100-continue" round trip (a second of waiting on servers without it). */
	if (!(l = curl_slist_append(r->headers, "Expect:")))
		return -ENOMEM;
	r->headers = l;
	return curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers) ? -EIO : 0;
}

/* The file's next bytes, never past the size it had at start: a file that grows while
 * it is sent cannot make the body longer than its Content-Length. */
static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct httpc_req *r = ud;
	size_t want = size * n;
	ssize_t got;

	if ((curl_off_t)want > r->file_size - r->file_sent)
		want = (size_t)(r->file_size - r->file_sent);
	if (!want)
		return 0;
	do
		got = read(r->file_fd, p, want);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return CURL_READFUNC_ABORT; /* shrank or unreadable: not a short body */
	r->file_sent += got;
	return (size_t)got;
}

static int set_file_body(struct httpc_req *r, const struct httpc_request *rq)
{
	CURL *e = r->easy;
	struct stat st;
	int bad = 0;

	r->file_fd = open(rq->body_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (r->file_fd < 0)
		return -errno;
	if (fstat(r->file_fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -EINVAL;
	r->file_size = st.st_size;
	bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	bad |= curl_easy_setopt(e, CURLOPT_READDATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, r->file_size);
	if (rq->method && strcmp(rq->method, "PUT"))
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
	return bad ? -EIO : 0;
}

static int set_method(struct httpc_req *r, const struct httpc_request *rq)
{
	const char *m = rq->method ? rq->method : rq->body ? "POST" : "GET";
	CURL *e = r->easy;
	int bad = 0;

	if (rq->body_file)
		return set_file_body(r, rq);
	if (!strcmp(m, "GET") && !rq->body)
		return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) ? -EIO : 0;
	if (strcmp(m, "POST"))
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	if (rq->body || !strcmp(m, "POST")) {
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
					(curl_off_t)(rq->body ? rq->body_len : 0));
		bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, rq->body ? rq->body : "");
	}
	return bad ? -ENOMEM : 0;
}

static int set_options(struct httpc_req *r, const struct httpc_request *rq)
{
	CURL *e = r->easy;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, rq->url);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)rq->connect_timeout_ms);
	/* A Content-Length over the cap is refused before a byte of the body is read. */
	bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max);
	/* A redirect would carry the caller's headers (a key) to wherever it points. */
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "reelbox");
	if (bad)
		return -EIO;
	return set_method(r, rq);
}

int httpc_start(struct httpc *c, const struct httpc_request *rq, httpc_done_cb done, void *arg,
		struct httpc_req **out, char *err, size_t errlen)
{
	struct httpc_req *r;
	int rc;

	if (out)
		*out = NULL;
	if (c->freeing) {
		say(err, errlen, "the HTTP client is shutting down");
		return -EINVAL;
	}
	if ((rc = check_request(rq, err, errlen)) < 0)
		return rc;
	if (!(r = calloc(1, sizeof(*r))) || !(r->easy = curl_easy_init())) {
		free(r);
		say(err, errlen, "out of memory starting an HTTP request");
		return -ENOMEM;
	}
	r->c = c;
	r->done = done;
	r->arg = arg;
	r->max = rq->max_response ? rq->max_response : HTTPC_DEFAULT_MAX_RESPONSE;
	r->announced = -1;
	r->timeout_ms = rq->timeout_ms;
	r->connect_timeout_ms = rq->connect_timeout_ms;
	r->start_ns = uv_hrtime();
	r->file_fd = -1;
	if ((rc = set_options(r, rq)) < 0 || (rc = set_headers(r, rq)) < 0 ||
	    (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK && (rc = -EIO))) {
		if (rq->body_file && r->file_fd < 0)
			say(err, errlen, "cannot open the file to send: %s", strerror(-rc));
		else if (rq->body_file && rc == -EINVAL)
			say(err, errlen, "the file to send is not a regular file");
		else
			say(err, errlen, "libcurl refused the request's options");
		if (r->file_fd >= 0)
			close(r->file_fd);
		curl_easy_cleanup(r->easy);
		free_headers(r->headers);
		free(r);
		return rc;
	}
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->pending++;
	if (out)
		*out = r;
	return 0;
}

/* ---- completion: curl's result code becomes an errno and one clause ---- */

static int timeout_error(struct httpc_req *r, char *out, size_t len)
{
	curl_off_t connected = 0;
	unsigned ms = r->timeout_ms;
	char t[32];

	curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connected);
	if (!connected) {
		if (r->connect_timeout_ms && (!ms || r->connect_timeout_ms < ms))
			ms = r->connect_timeout_ms;
		fmt_ms(t, sizeof(t), ms);
		snprintf(out, len, "could not connect within %s", t);
	} else {
		fmt_ms(t, sizeof(t), ms);
		snprintf(out, len, "no complete answer within %s", t);
	}
	return -ETIMEDOUT;
}

static int connect_error(struct httpc_req *r, char *out, size_t len)
{
	long os_errno = 0;

	curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
	if (os_errno == ECONNREFUSED || !os_errno) {
		snprintf(out, len, "connection refused (is the server running on that port?)");
		return -ECONNREFUSED;
	}
	if (os_errno == ENETUNREACH || os_errno == EHOSTUNREACH) {
		snprintf(out, len, "the host is unreachable");
		return -EHOSTUNREACH;
	}
	snprintf(out, len, "could not connect: %s", strerror((int)os_errno));
	return -EIO;
}

static int size_error(struct httpc_req *r, char *out, size_t len)
{
	if (r->headers_over_cap) {
		snprintf(out, len, "the response headers passed %u KB", HTTPC_HEADERS_MAX / 1024);
		return -EFBIG;
	}
	if (r->announced > 0 && (unsigned long long)r->announced > r->max)
		snprintf(out, len, "the response is %lld bytes, over the %zu-byte limit",
			 r->announced, r->max);
	else
		snprintf(out, len, "the response passed the %zu-byte limit", r->max);
	return -EFBIG;
}

static int map_error(struct httpc_req *r, CURLcode rc, char *out, size_t len)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return timeout_error(r, out, len);
	case CURLE_COULDNT_CONNECT:
		return connect_error(r, out, len);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		snprintf(out, len, "the host name could not be resolved");
		return -EHOSTUNREACH;
	case CURLE_FILESIZE_EXCEEDED:
		return size_error(r, out, len);
	case CURLE_WRITE_ERROR:
		if (r->over_cap || r->headers_over_cap)
			return size_error(r, out, len);
		snprintf(out, len, "out of memory reading the response");
		return -ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_READ_ERROR:
		snprintf(out, len, "the file to send could not be read whole (did it change?)");
		return -EIO;
	case CURLE_GOT_NOTHING:
		snprintf(out, len, "the server closed the connection without answering");
		return -ECONNRESET;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		snprintf(out, len, "the connection broke before the answer was complete");
		return -ECONNRESET;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		snprintf(out, len, "the URL is not a valid http:// or https:// URL");
		return -EINVAL;
	case CURLE_WEIRD_SERVER_REPLY:
		snprintf(out, len, "the server's answer is not HTTP");
		return -EPROTO;
	default:
		break;
	}
	/* TLS failures name certificates and hosts, never a header: the detail helps. */
	snprintf(out, len, "%s", r->curl_err[0] ? r->curl_err : curl_easy_strerror(rc));
	return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ? -EPROTO
										     : -EIO;
}

static void finish(struct httpc_req *r, CURLcode rc)
{
	struct httpc_response res = {.retry_after_ms = -1};
	curl_off_t ra = 0;

	req_unlink(r);
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
	if (r->saw_retry_after && curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK)
		res.retry_after_ms = (ra < 0 ? 0 : ra > 86400 ? 86400 : ra) * 1000L;
	if (rc != CURLE_OK)
		res.err = map_error(r, rc, res.error, sizeof(res.error));
	res.elapsed_ms = (unsigned)((uv_hrtime() - r->start_ns) / 1000000u);
	if (!r->buf && !(r->buf = calloc(1, 1))) {
		res.err = -ENOMEM;
		snprintf(res.error, sizeof(res.error), "out of memory reading the response");
	}
	res.body = r->buf;
	res.body_len = r->buf ? r->len : 0;
	r->buf = NULL;
	r->in_done = 1;
	if (r->done)
		r->done(r, &res, r->arg);
	free(res.body);
	req_free(r);
}

/* Collect what curl finished. A done callback may cancel other requests (curl drops
 * their queued messages) or free the whole client (then we stop reading and free it
 * once no callback is on the stack). */
static void drain(struct httpc *c)
{
	CURLMsg *msg;
	int left;

	c->dispatching++;
	while (!c->freeing && (msg = curl_multi_info_read(c->multi, &left))) {
		struct httpc_req *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			finish(r, msg->data.result);
	}
	if (--c->dispatching == 0 && c->freeing)
		really_free(c);
}

void httpc_cancel(struct httpc_req *r)
{
	if (!r || r->in_done)
		return;
	req_unlink(r);
	req_free(r);
}

uv_loop_t *httpc_loop(const struct httpc *c)
{
	return c->loop;
}

unsigned httpc_pending(const struct httpc *c)
{
	return c->pending;
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void really_free(struct httpc *c)
{
	curl_multi_cleanup(c->multi); /* may still tell us to forget sockets */
	while (c->socks)
		sock_close(c->socks);
	uv_timer_stop(c->timer);
	uv_close((uv_handle_t *)c->timer, timer_closed);
	free(c);
}

void httpc_free(struct httpc *c)
{
	if (!c || c->freeing)
		return;
	c->freeing = 1;
	while (c->reqs)
		httpc_cancel(c->reqs);
	if (!c->dispatching)
		really_free(c);
}
