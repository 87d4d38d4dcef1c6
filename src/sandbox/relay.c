/* Host ports reachable from inside (--function-host-port): a listener in a sandbox's
 * network namespace whose connections the server joins to the same port on the host's
 * loopback, byte for byte, with bufferevents on the loop. LINUX ONLY. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

#define RELAY_HIGH_WATER (256 * 1024) /* bytes queued toward one side before reading stops */

struct relay_listener {
	struct evconnlistener *l;
	uint16_t port; /* on the host's loopback */
};

/* One connection from inside joined to one on the host. */
struct relay_conn {
	struct bufferevent *side[2]; /* 0: from the sandbox, 1: to the host */
	bool eof[2];                 /* that side said EOF */
	bool shut[2];                /* that side's writing half is shut */
	bool connected;              /* the host side's connect completed */
	TAILQ_ENTRY(relay_conn) link;
};

static TAILQ_HEAD(, relay_conn) conns = TAILQ_HEAD_INITIALIZER(conns);

static void conn_free(struct relay_conn *c)
{
	TAILQ_REMOVE(&conns, c, link);
	bufferevent_free(c->side[0]);
	bufferevent_free(c->side[1]);
	free(c);
}

static int side_of(const struct relay_conn *c, const struct bufferevent *bev)
{
	return bev == c->side[0] ? 0 : 1;
}

/* Passes an EOF on: once what side i sent has gone out of the other side, that one's
 * writing half is shut (a half-close, as TCP carries it); the pair ends when both sides
 * have said EOF and nothing is left to deliver. */
static void maybe_end(struct relay_conn *c)
{
	bool done = true;
	for (int i = 0; i < 2; i++) {
		struct bufferevent *peer = c->side[1 - i];
		/* The host side's connect may still be under way: it counts as not drained. */
		bool drained =
		    evbuffer_get_length(bufferevent_get_output(peer)) == 0 && (i == 1 || c->connected);
		if (c->eof[i] && drained && !c->shut[1 - i]) {
			shutdown(bufferevent_getfd(peer), SHUT_WR);
			c->shut[1 - i] = true;
		}
		done = done && c->eof[i] && drained;
	}
	if (done)
		conn_free(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct relay_conn *c = arg;
	int i = side_of(c, bev);
	struct bufferevent *peer = c->side[1 - i];
	bufferevent_write_buffer(peer, bufferevent_get_input(bev));
	if (evbuffer_get_length(bufferevent_get_output(peer)) >= RELAY_HIGH_WATER)
		bufferevent_disable(bev, EV_READ); /* resumed when peer has written it */
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct relay_conn *c = arg;
	int i = side_of(c, bev);
	if (!c->eof[1 - i])
		bufferevent_enable(c->side[1 - i], EV_READ);
	maybe_end(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct relay_conn *c = arg;
	int i = side_of(c, bev);
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->connected = true;
		maybe_end(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		/* A refused or broken side: the other one is cut off too. */
		conn_free(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* What was read before the EOF is passed on, then the pair ends. */
		read_cb(bev, c);
		c->eof[i] = true;
		maybe_end(c);
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct relay_listener *rl = arg;
	struct event_base *base = evconnlistener_get_base(l);
	struct relay_conn *c = xcalloc(1, sizeof(*c));
	c->side[0] = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->side[1] = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	TAILQ_INSERT_TAIL(&conns, c, link);
	for (int i = 0; i < 2; i++) {
		bufferevent_setcb(c->side[i], read_cb, write_cb, event_cb, c);
		bufferevent_enable(c->side[i], EV_READ | EV_WRITE);
	}
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(rl->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bufferevent_socket_connect(c->side[1], (struct sockaddr *)&a, sizeof(a)) < 0) {
		log_debug("sandbox: relay to 127.0.0.1:%u: %s", rl->port, strerror(errno));
		conn_free(c);
	}
}

struct relay_listener *relay_listener_new(struct event_base *base, int lfd, uint16_t port)
{
	struct relay_listener *rl = xcalloc(1, sizeof(*rl));
	rl->port = port;
	evutil_make_socket_nonblocking(lfd);
	/* backlog 0: the socket is listening already (the sandbox made it). */
	rl->l =
	    evconnlistener_new(base, accept_cb, rl, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, lfd);
	if (!rl->l) {
		close(lfd);
		free(rl);
		return NULL;
	}
	return rl;
}

void relay_listener_free(struct relay_listener *rl)
{
	if (!rl)
		return;
	evconnlistener_free(rl->l);
	free(rl);
}

void relay_shutdown(void)
{
	struct relay_conn *c;
	while ((c = TAILQ_FIRST(&conns)))
		conn_free(c);
}
