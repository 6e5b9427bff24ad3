/* web_guard.c - a deadline on a request's headers, against slowloris.
 *
 * libmicrohttpd's connection timeout is for silence: a client that trickles a header
 * line every few seconds is never silent, and so held a connection slot for good before
 * any check could refuse it (no token needed); 32 such sockets took the dashboard. Here
 * every connection is tracked from its accept: until its request's headers are complete
 * (web_request's first call) it has WEB_HEADER_DEADLINE_S, and so has the wait for the
 * next request on a kept-alive connection. A watchdog thread shuts down the socket of a
 * connection past it; libmicrohttpd then sees the end of the stream and closes it. An
 * answer being sent (the event stream included) is not limited here.
 *
 * The socket is only ever shut down (never closed) here, under the lock, and a
 * connection leaves the list at MHD's CLOSED notice, which comes before MHD closes the
 * socket: the number cannot belong to another connection by then.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "web.h"

struct web_conn {
	struct web_conn *prev, *next;
	int fd;
	int in_request;	 /* headers complete, the answer under way */
	long long since; /* monotonic ms its current wait for headers began */
};

static long long guard_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void web_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		      enum MHD_ConnectionNotificationCode code)
{
	struct web *w = cls;
	struct web_conn *k = *socket_context;
	const union MHD_ConnectionInfo *fd;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!fd || !(k = calloc(1, sizeof(*k))))
			return; /* untracked: MHD's own idle timeout still holds */
		k->fd = fd->connect_fd;
		k->since = guard_ms();
		pthread_mutex_lock(&w->lock);
		k->next = w->conns;
		if (w->conns)
			w->conns->prev = k;
		w->conns = k;
		pthread_mutex_unlock(&w->lock);
		*socket_context = k;
		return;
	}
	if (!k)
		return;
	pthread_mutex_lock(&w->lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		w->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&w->lock);
	*socket_context = NULL;
	free(k);
}

/* Set the connection's state: in a request (1) or waiting for the next one's headers. */
static void guard_mark(struct web *w, struct MHD_Connection *c, int in_request)
{
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct web_conn *k = i ? i->socket_context : NULL;

	if (!k)
		return;
	pthread_mutex_lock(&w->lock);
	k->in_request = in_request;
	k->since = guard_ms();
	pthread_mutex_unlock(&w->lock);
}

void web_guard_request(struct web *w, struct MHD_Connection *c)
{
	guard_mark(w, c, 1);
}

void web_guard_completed(void *cls, struct MHD_Connection *c, void **req,
			 enum MHD_RequestTerminationCode toe)
{
	(void)req;
	(void)toe;
	guard_mark(cls, c, 0);
}

static void *guard_main(void *arg)
{
	struct web *w = arg;

	while (!w->stopping) {
		long long now = guard_ms();

		pthread_mutex_lock(&w->lock);
		for (struct web_conn *k = w->conns; k; k = k->next)
			if (!k->in_request && k->fd >= 0 &&
			    now - k->since > WEB_HEADER_DEADLINE_S * 1000LL) {
				shutdown(k->fd, SHUT_RDWR);
				k->fd = -1; /* once */
			}
		pthread_mutex_unlock(&w->lock);
		usleep(250 * 1000);
	}
	return NULL;
}

int web_guard_start(struct web *w)
{
	return -pthread_create(&w->guard, NULL, guard_main, w);
}

void web_guard_stop(struct web *w)
{
	pthread_join(w->guard, NULL);
}
