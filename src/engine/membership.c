/*
 * Heartbeat connections between nodes. For each pair of channel addresses
 * shared with a peer (same subnet) there is one TLS connection, dialed by
 * the node with the lower identity and accepted by the other. Both sides
 * send HELLO first; then a HEARTBEAT every failover.heartbeat. A channel is
 * up while heartbeats arrive within failover.timeout; a silent connection
 * is closed so that a healed link gets a fresh one.
 *
 * Everything here runs on the engine's loop and never blocks: sockets are
 * non-blocking, TLS runs in bufferevents, and no disk is touched.
 */
#include "engine/membership.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"
#include "common/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REDIAL_MS        500        /* between attempts on a down channel */
#define MIN_HELLO_MS     1000       /* a connection must say hello within this */

struct channel;

/* One TLS connection, before and after it is matched to its channel. */
struct conn {
	struct membership *m;
	struct bufferevent *bev;
	struct channel     *ch;            /* NULL until the hello matched it */
	bool                outgoing;
	int                 peer;          /* from the certificate, -1 before */
	bool                hello_rx;
	uint8_t             peer_features; /* WIRE_FEAT_* of its hello */
	bool                dead;          /* closed; freed by on_reap, not in a callback */
	bool                flushing;      /* dead, but a last message (REFUSE) is going out */
	struct event       *deadline;      /* hello must come before it fires */
	LIST_ENTRY(conn)    entry;
};

struct channel {
	struct membership *m;
	enum node_id        peer;
	struct ipaddr       local, remote;
	bool                dialer;
	struct conn        *conn;          /* live connection, or NULL */
	struct event       *redial;
	uint64_t            tx_seq;
	uint64_t            last_rx_ms;    /* monotonic, 0 = never */
	uint64_t            peer_seq;      /* last heartbeat received */
	uint64_t            peer_sent_ns;
	uint64_t            peer_rx_ns;    /* our clock when it arrived */
	double              rtt_ms;        /* < 0 until measured */
	char                last_why[160]; /* last failure, logged once while it repeats */
};

struct peer_state {
	bool     met;
	uint64_t last_rx_ms;
	uint64_t epoch;
	int      role;
	int      active;
	uint8_t  flags;
	bool     config_known;
	uint8_t  config_hash[WIRE_HB_HASH_SIZE];
	uint64_t config_differs_ms;  /* since when its hash differs from ours, 0 = it does not */
	bool     config_reported;    /* the mismatch event went out, its end has not */
};

struct membership {
	struct engine          *e;
	SSL_CTX                *server_ctx, *client_ctx;
	struct channel         *ch;
	size_t                  nch;
	struct evconnlistener  *listeners[CONFIG_MAX_CHANNELS];
	size_t                  nlisteners;
	struct event           *tick;
	struct event           *reap;          /* frees dead connections */
	struct peer_state       peers[NODE_COUNT];
	LIST_HEAD(, conn)       conns;
	char                    last_refusal[160]; /* of an incoming connection, logged once */
	membership_switchover_fn *on_switchover;
	membership_stop_fn     *on_engine_stop;
	membership_switch_reply_fn *on_switch_reply;
};

static void conn_close(struct conn *c, const char *why);
static void on_flushed(struct bufferevent *bev, void *arg);
static void on_flush_event(struct bufferevent *bev, short what, void *arg);
static void on_flush_timeout(evutil_socket_t fd, short what, void *arg);
static void channel_dial(struct channel *ch);

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool
sockaddr_is(const struct sockaddr_storage *ss, const struct ipaddr *a)
{
	if (ss->ss_family != a->family)
		return false;
	if (a->family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == a->v4.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, &a->v6, sizeof(a->v6)) == 0;
}

static const char *
chan_name(const struct channel *ch, char *buf, size_t len)
{
	char l[64], r[64];
	struct ipaddr a = ch->local, b = ch->remote;

	a.prefix = b.prefix = -1;
	snprintf(buf, len, "%s %s->%s", node_name(ch->peer),
	    ipaddr_str(&a, l, sizeof(l)), ipaddr_str(&b, r, sizeof(r)));
	return buf;
}

/* Beats get low latency on the wire: no Nagle, network-control priority. */
static void
tune_socket(int fd)
{
	int one = 1, prio = 6, tos = 0xc0;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
	setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
}

static void
send_msg(struct conn *c, const uint8_t *buf, size_t len)
{
	bufferevent_write(c->bev, buf, len);
}

static void
send_hello(struct conn *c, int channel_index)
{
	struct engine *e = c->m->e;
	struct wire_hello h = {
		.identity = (uint8_t)e->self, .role = (uint8_t)e->role,
		.channel = (uint8_t)channel_index, .kind = WIRE_KIND_BEATS,
		.min_version = WIRE_VERSION, .max_version = WIRE_VERSION,
		.features = WIRE_FEAT_HB_CONFIG,
	};
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HELLO_SIZE];

	xstrlcpy(h.cluster, e->conf->name, sizeof(h.cluster));
	send_msg(c, buf, wire_encode_hello(buf, e->state.epoch, &h));
}

static void
send_refuse(struct conn *c, const char *why)
{
	uint8_t buf[WIRE_HDR_SIZE + 256];

	send_msg(c, buf, wire_encode_refuse(buf, sizeof(buf), c->m->e->state.epoch, why));
}

static void
send_heartbeat(struct channel *ch)
{
	struct engine *e = ch->m->e;
	uint64_t now = now_ns();
	struct wire_heartbeat hb = {
		.seq = ++ch->tx_seq, .sent_ns = now,
		.echo_seq = ch->peer_seq, .echo_ns = ch->peer_sent_ns,
		.echo_held_us = ch->peer_seq ? (uint32_t)((now - ch->peer_rx_ns) / 1000) : 0,
		.role = (uint8_t)e->role,
		.active = e->state.active >= 0 ? (uint8_t)e->state.active : 0xff,
		.flags = e->beat_flags,
	};
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HEARTBEAT_SIZE];

	/* The long form only to a peer that said it takes it: an older one would hang up. */
	if ((ch->conn->peer_features & WIRE_FEAT_HB_CONFIG) &&
	    wire_hb_hash(e->conf->hash, hb.config_hash) == 0)
		hb.config_known = true;

	send_msg(ch->conn, buf, wire_encode_heartbeat(buf, e->state.epoch, &hb));
}

/* Index of the channel's local address in this node's channel list. */
static int
local_index(const struct membership *m, const struct ipaddr *local)
{
	const struct node_conf *n = &m->e->conf->nodes[m->e->self];

	for (size_t i = 0; i < n->nchannels; i++)
		if (ipaddr_equal(&n->channels[i], local))
			return (int)i;
	return 0;
}

/*
 * The hello of an accepted connection names no channel we can trust; the
 * local address it arrived on and the certificate's identity do.
 */
static struct channel *
match_incoming(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = bufferevent_getfd(c->bev);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return NULL;
	for (size_t i = 0; i < c->m->nch; i++) {
		struct channel *ch = &c->m->ch[i];

		if (!ch->dialer && (int)ch->peer == c->peer && sockaddr_is(&ss, &ch->local))
			return ch;
	}
	return NULL;
}

static void
on_hello(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct membership *m = c->m;
	struct wire_hello hello;
	char why[256];
	struct channel *ch;

	if (wire_decode_hello(p, h->length, &hello, why, sizeof(why)) < 0)
		return conn_close(c, why);
	if (strcmp(hello.cluster, m->e->conf->name) != 0) {
		snprintf(why, sizeof(why), "hello from cluster \"%s\", expected \"%s\"",
		    hello.cluster, m->e->conf->name);
		send_refuse(c, why);
		return conn_close(c, why);
	}
	if (hello.identity != c->peer) {
		snprintf(why, sizeof(why), "hello claims to be %s but the certificate says %s",
		    node_name(hello.identity), node_name(c->peer));
		send_refuse(c, why);
		return conn_close(c, why);
	}
	if (hello.max_version < WIRE_VERSION || hello.min_version > WIRE_VERSION) {
		snprintf(why, sizeof(why), "%s speaks protocol versions %u..%u, this node speaks %u; "
		    "upgrade the older node", node_name(c->peer), hello.min_version,
		    hello.max_version, WIRE_VERSION);
		send_refuse(c, why);
		return conn_close(c, why);
	}
	if (!c->outgoing) {
		if ((ch = match_incoming(c)) == NULL) {
			snprintf(why, sizeof(why), "no channel from %s ends at this address",
			    node_name(c->peer));
			send_refuse(c, why);
			return conn_close(c, why);
		}
		if (ch->conn != NULL)
			conn_close(ch->conn, "replaced by a new connection");
		ch->conn = c;
		c->ch = ch;
		send_hello(c, local_index(m, &ch->local));
	}
	c->hello_rx = true;
	c->peer_features = hello.features;
	event_del(c->deadline);
	m->last_refusal[0] = '\0';
	m->peers[c->peer].met = true;
	m->peers[c->peer].epoch = h->epoch;
	m->peers[c->peer].role = hello.role;
	c->ch->last_rx_ms = now_mono_ms();
	m->peers[c->peer].last_rx_ms = c->ch->last_rx_ms;
	{
		char name[160];

		event(m->e, EV_INFO, "channel", "%s: up", chan_name(c->ch, name, sizeof(name)));
	}
	send_heartbeat(c->ch);
}

bool
membership_config_mismatch(bool known, uint64_t differs_since_ms, uint64_t now_ms)
{
	return known && differs_since_ms != 0 && now_ms >= differs_since_ms &&
	    now_ms - differs_since_ms >= CONFIG_MISMATCH_GRACE_MS;
}

static void
hex8(const uint8_t b[WIRE_HB_HASH_SIZE], char out[2 * WIRE_HB_HASH_SIZE + 1])
{
	for (size_t i = 0; i < WIRE_HB_HASH_SIZE; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/*
 * The config hash a peer's heartbeat carries, against this node's: a
 * difference that outlasts the grace is an event once when it starts and
 * once when it ends, so an administrator hears of a node left on another
 * configuration (edited by hand, or down during a push).
 */
static void
note_peer_config(struct membership *m, enum node_id peer, const struct wire_heartbeat *hb)
{
	struct peer_state *ps = &m->peers[peer];
	struct engine *e = m->e;
	uint8_t mine[WIRE_HB_HASH_SIZE];
	char theirs[2 * WIRE_HB_HASH_SIZE + 1];
	uint64_t now = now_mono_ms();
	bool differs;

	ps->config_known = hb->config_known;
	memcpy(ps->config_hash, hb->config_hash, sizeof(ps->config_hash));
	differs = hb->config_known && wire_hb_hash(e->conf->hash, mine) == 0 &&
	    memcmp(mine, hb->config_hash, sizeof(mine)) != 0;
	if (!differs)
		ps->config_differs_ms = 0;
	else if (ps->config_differs_ms == 0)
		ps->config_differs_ms = now;
	hex8(hb->config_hash, theirs);
	if (membership_config_mismatch(ps->config_known, ps->config_differs_ms, now) &&
	    !ps->config_reported) {
		ps->config_reported = true;
		event(e, EV_WARNING, "config", "configuration mismatch: %s runs %s, this node (%s) "
		    "runs %.16s; run `lifeline config push` on the active node to give every node "
		    "the same", node_name(peer), theirs, node_name(e->self), e->conf->hash);
	} else if (!differs && ps->config_reported) {
		ps->config_reported = false;
		event(e, EV_INFO, "config", "configuration mismatch with %s ended: both run %.16s",
		    node_name(peer), e->conf->hash);
	}
}

static void
on_heartbeat(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct channel *ch = c->ch;
	struct peer_state *ps = &c->m->peers[c->peer];
	struct wire_heartbeat hb;
	char why[256];
	uint64_t now = now_ns();

	if (wire_decode_heartbeat(p, h->length, &hb, why, sizeof(why)) < 0)
		return conn_close(c, why);
	ch->last_rx_ms = now_mono_ms();
	ch->peer_seq = hb.seq;
	ch->peer_sent_ns = hb.sent_ns;
	ch->peer_rx_ns = now;
	if (hb.echo_seq != 0 && hb.echo_ns != 0 && now > hb.echo_ns) {
		uint64_t held = (uint64_t)hb.echo_held_us * 1000;

		if (now - hb.echo_ns >= held)
			ch->rtt_ms = (double)(now - hb.echo_ns - held) / 1e6;
	}
	ps->last_rx_ms = ch->last_rx_ms;
	ps->epoch = h->epoch;
	ps->role = hb.role;
	ps->active = hb.active == 0xff ? -1 : hb.active;
	ps->flags = hb.flags;
	note_peer_config(c->m, c->peer, &hb);
}

/*
 * Take every complete message out of the input buffer. Sizes are checked
 * from the header before a payload is read; a message of a type this
 * version does not know is skipped, so a newer peer can add some.
 */
static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdrbuf[WIRE_HDR_SIZE], *payload;
	struct wire_hdr h;
	char why[256];

	for (;;) {
		size_t avail = evbuffer_get_length(in);
		int rc;

		if (avail < WIRE_HDR_SIZE)
			return;
		evbuffer_copyout(in, hdrbuf, WIRE_HDR_SIZE);
		rc = wire_decode_hdr(hdrbuf, WIRE_HDR_SIZE, &h, why, sizeof(why));
		if (rc < 0)
			return conn_close(c, why);
		if (avail < WIRE_HDR_SIZE + h.length)
			return;
		evbuffer_drain(in, WIRE_HDR_SIZE);
		payload = xmalloc(h.length);
		evbuffer_remove(in, payload, h.length);
		if (!c->hello_rx && h.type != WIRE_HELLO && h.type != WIRE_REFUSE) {
			free(payload);
			return conn_close(c, "first message is not a hello");
		}
		switch (h.type) {
		case WIRE_HELLO:
			if (c->hello_rx) {
				free(payload);
				return conn_close(c, "second hello on one connection");
			}
			on_hello(c, &h, payload);
			break;
		case WIRE_HEARTBEAT:
			on_heartbeat(c, &h, payload);
			break;
		case WIRE_SWITCHOVER: {
			struct wire_switchover sw;

			if (wire_decode_switchover(payload, h.length, &sw, why, sizeof(why)) < 0) {
				free(payload);
				return conn_close(c, why);
			}
			if (sw.requester != c->peer)
				log_warnx("switchover request relayed from %s for %s",
				    node_name(c->peer), node_name(sw.requester));
			if (c->m->on_switchover != NULL)
				c->m->on_switchover(c->m->e, c->peer, sw.target);
			break;
		}
		case WIRE_SWITCHOVER_REPLY: {
			char reason[256];
			int started, target;

			if (wire_decode_switchover_reply(payload, h.length, &started, &target,
			    reason, sizeof(reason), why, sizeof(why)) < 0) {
				free(payload);
				return conn_close(c, why);
			}
			if (c->m->on_switch_reply != NULL)
				c->m->on_switch_reply(c->m->e, c->peer, started, target, reason);
			break;
		}
		case WIRE_ENGINE_STOP: {
			int apps = wire_decode_engine_stop(payload, h.length, why, sizeof(why));

			if (apps < 0) {
				free(payload);
				return conn_close(c, why);
			}
			if (c->m->on_engine_stop != NULL)
				c->m->on_engine_stop(c->m->e, c->peer, apps);
			break;
		}
		case WIRE_REFUSE: {
			char text[256], msg[320];

			wire_decode_refuse(payload, h.length, text, sizeof(text));
			snprintf(msg, sizeof(msg), "refused by %s: %s",
			    c->peer >= 0 ? node_name(c->peer) : "peer", text);
			free(payload);
			return conn_close(c, msg);
		}
		default:
			log_debug("channel: skipping message type %u", h.type);
			break;
		}
		free(payload);
		/* on_hello or on_heartbeat may have closed the connection. */
		if (c->dead)
			return;
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		int id;

		if (tls_peer_check(ssl, c->m->e->conf->name, &id, why, sizeof(why)) < 0)
			return conn_close(c, why);
		if (c->outgoing && id != (int)c->ch->peer) {
			snprintf(why, sizeof(why), "certificate of %s on the channel to %s",
			    node_name(id), node_name(c->ch->peer));
			return conn_close(c, why);
		}
		c->peer = id;
		if (c->outgoing)
			send_hello(c, local_index(c->m, &c->ch->local));
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
		int sockerr = EVUTIL_SOCKET_ERROR();

		if (reason != NULL)
			snprintf(why, sizeof(why), "TLS: %s", reason);
		else if (sockerr != 0)
			snprintf(why, sizeof(why), "%s", strerror(sockerr));
		else
			snprintf(why, sizeof(why), "connection failed");
		return conn_close(c, why);
	}
	if (what & BEV_EVENT_EOF)
		return conn_close(c, "closed by the peer");
}

static void
on_hello_deadline(evutil_socket_t fd, short what, void *arg)
{
	conn_close(arg, "no hello in time");
}

static struct conn *
conn_new(struct membership *m, struct bufferevent *bev, struct channel *ch, bool outgoing)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	uint64_t ms = m->e->conf->timeout_ms > MIN_HELLO_MS ? m->e->conf->timeout_ms : MIN_HELLO_MS;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	c->m = m;
	c->bev = bev;
	c->ch = ch;
	c->outgoing = outgoing;
	c->peer = -1;
	c->deadline = evtimer_new(m->e->base, on_hello_deadline, c);
	evtimer_add(c->deadline, &tv);
	bufferevent_setcb(bev, on_read, NULL, on_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&m->conns, c, entry);
	return c;
}

/*
 * Close a connection and say why, once. The connection is only marked dead
 * here, since this runs inside its own callbacks; on_reap frees it at a
 * safe point of the loop. A channel that loses its connection is dialed
 * again later (when this side dials).
 */
static void
conn_close(struct conn *c, const char *why)
{
	struct channel *ch = c->ch;
	char name[160];

	if (c->dead)
		return;
	c->dead = true;
	if (ch != NULL && ch->conn == c) {
		chan_name(ch, name, sizeof(name));
		if (c->hello_rx)
			event(c->m->e, EV_WARNING, "channel", "%s: down: %s", name, why);
		else if (strcmp(ch->last_why, why) != 0)
			event(c->m->e, EV_WARNING, "channel", "%s: cannot connect: %s", name, why);
		else
			log_debug("channel %s: cannot connect: %s", name, why);
		xstrlcpy(ch->last_why, c->hello_rx ? "" : why, sizeof(ch->last_why));
		ch->conn = NULL;
		if (ch->dialer) {
			struct timeval tv = { 0, REDIAL_MS * 1000 };

			evtimer_add(ch->redial, &tv);
		}
	} else if (!c->outgoing) {
		char msg[sizeof(c->m->last_refusal)];

		/* A refused peer retries every REDIAL_MS: say it once, not each time. */
		snprintf(msg, sizeof(msg), "channel connection from %s refused: %s",
		    c->peer >= 0 ? node_name(c->peer) : "an unknown peer", why);
		if (strcmp(msg, c->m->last_refusal) != 0)
			event(c->m->e, EV_WARNING, "refusal", "%s", msg);
		else
			log_debug("%s", msg);
		xstrlcpy(c->m->last_refusal, msg, sizeof(c->m->last_refusal));
	}
	event_del(c->deadline);
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		/* Let a REFUSE reach the peer, so it can say why; bounded. */
		struct timeval tv = { 1, 0 };

		c->flushing = true;
		bufferevent_setcb(c->bev, NULL, on_flushed, on_flush_event, c);
		event_assign(c->deadline, c->m->e->base, -1, 0, on_flush_timeout, c);
		evtimer_add(c->deadline, &tv);
		return;
	}
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	event_active(c->m->reap, 0, 0);
}

static void
flush_done(struct conn *c)
{
	c->flushing = false;
	event_del(c->deadline);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	event_active(c->m->reap, 0, 0);
}

static void
on_flushed(struct bufferevent *bev, void *arg)
{
	flush_done(arg);
}

static void
on_flush_event(struct bufferevent *bev, short what, void *arg)
{
	flush_done(arg);
}

static void
on_flush_timeout(evutil_socket_t fd, short what, void *arg)
{
	flush_done(arg);
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct membership *m = arg;
	struct conn *c, *next;

	for (c = LIST_FIRST(&m->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (!c->dead || c->flushing)
			continue;
		LIST_REMOVE(c, entry);
		event_free(c->deadline);
		bufferevent_free(c->bev);
		free(c);
	}
}

static void
on_redial(evutil_socket_t fd, short what, void *arg)
{
	channel_dial(arg);
}

static void
channel_dial(struct channel *ch)
{
	struct membership *m = ch->m;
	struct sockaddr_storage local, remote;
	socklen_t llen, rlen;
	struct bufferevent *bev;
	struct timeval tv = { 0, REDIAL_MS * 1000 };
	SSL *ssl;
	int fd, one = 1;

	if (ch->conn != NULL)
		return;
	llen = ipaddr_sockaddr(&ch->local, 0, &local);
	rlen = ipaddr_sockaddr(&ch->remote, CHANNEL_BEAT_PORT, &remote);
	fd = socket(local.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto retry;
	/* Leave by this channel's own address, so the channel is the path. */
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&local, llen) < 0) {
		close(fd);
		goto retry;
	}
	tune_socket(fd);
	if ((ssl = SSL_new(m->client_ctx)) == NULL) {
		close(fd);
		goto retry;
	}
	bev = bufferevent_openssl_socket_new(m->e->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
		goto retry;
	}
	ch->conn = conn_new(m, bev, ch, true);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&remote, (int)rlen) < 0)
		conn_close(ch->conn, "connect failed");
	return;
retry:
	evtimer_add(ch->redial, &tv);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct membership *m = arg;
	struct bufferevent *bev;
	SSL *ssl;

	tune_socket(fd);
	if ((ssl = SSL_new(m->server_ctx)) == NULL) {
		close(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(m->e->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
		return;
	}
	conn_new(m, bev, NULL, false);
}

/*
 * Each heartbeat interval: send on every live channel, and close the ones
 * whose peer has been silent for the whole timeout (a cut link does not
 * always close a TCP connection; a fresh one finds the healed path).
 */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct membership *m = arg;
	uint64_t now = now_mono_ms();

	for (size_t i = 0; i < m->nch; i++) {
		struct channel *ch = &m->ch[i];

		if (ch->conn == NULL || !ch->conn->hello_rx)
			continue;
		if (now - ch->last_rx_ms >= m->e->conf->timeout_ms) {
			conn_close(ch->conn, "no heartbeat within failover.timeout");
			continue;
		}
		send_heartbeat(ch);
	}
}

/*
 * A new epoch or role goes out at once on every live channel rather than
 * with the next tick: a peer that vouches for the epoch (the tertiary of a
 * trio) must not be left a heartbeat interval behind a failover.
 */
void
membership_announce(struct membership *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nch; i++) {
		struct channel *ch = &m->ch[i];

		if (ch->conn != NULL && ch->conn->hello_rx && !ch->conn->dead)
			send_heartbeat(ch);
	}
}

static int
listen_on(struct membership *m, const struct ipaddr *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = ipaddr_sockaddr(addr, CHANNEL_BEAT_PORT, &ss);
	int fd, one = 1;
	char a[64];

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The address may come up after the engine (an interface still starting). */
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0)
		goto fail;
	m->listeners[m->nlisteners] = evconnlistener_new(m->e->base, on_accept, m,
	    LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (m->listeners[m->nlisteners] == NULL)
		goto fail;
	m->nlisteners++;
	return 0;
fail:
	snprintf(err, errlen, "cannot listen on %s port %d: %s",
	    ipaddr_str(&(struct ipaddr){ .family = addr->family, .v6 = addr->v6, .prefix = -1 }, a, sizeof(a)),
	    CHANNEL_BEAT_PORT, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The address pairs shared with each peer: one channel each. */
static void
build_channels(struct membership *m)
{
	const struct config *conf = m->e->conf;

	for (int peer = 0; peer < NODE_COUNT; peer++) {
		struct channel_pair pairs[CONFIG_MAX_CHANNELS * CONFIG_MAX_CHANNELS];
		size_t n = config_channel_pairs(conf, m->e->self, peer, pairs, nitems(pairs));

		for (size_t i = 0; i < n; i++) {
			struct channel *ch;

			m->ch = xrealloc(m->ch, (m->nch + 1) * sizeof(*m->ch));
			ch = &m->ch[m->nch++];
			memset(ch, 0, sizeof(*ch));
			ch->peer = peer;
			ch->local = pairs[i].local;
			ch->remote = pairs[i].remote;
			ch->dialer = (int)m->e->self < peer;
			ch->rtt_ms = -1;
		}
	}
	for (size_t i = 0; i < m->nch; i++) {
		m->ch[i].m = m;
		m->ch[i].redial = evtimer_new(m->e->base, on_redial, &m->ch[i]);
	}
}

struct membership *
membership_new(struct engine *e, char *err, size_t errlen)
{
	const struct node_conf *me = &e->conf->nodes[e->self];
	struct membership *m = xcalloc(1, sizeof(*m));
	struct timeval tv = { (time_t)(e->conf->heartbeat_ms / 1000),
	    (suseconds_t)(e->conf->heartbeat_ms % 1000) * 1000 };

	m->e = e;
	LIST_INIT(&m->conns);
	m->reap = event_new(e->base, -1, 0, on_reap, m);
	for (int i = 0; i < NODE_COUNT; i++) {
		m->peers[i].role = -1;
		m->peers[i].active = -1;
	}
	m->server_ctx = tls_server_ctx(e->conf->tls_dir, e->conf->name, e->self, err, errlen);
	if (m->server_ctx == NULL)
		goto fail;
	m->client_ctx = tls_client_ctx(e->conf->tls_dir, e->conf->name, e->self, err, errlen);
	if (m->client_ctx == NULL)
		goto fail;
	for (size_t i = 0; i < me->nchannels; i++)
		if (listen_on(m, &me->channels[i], err, errlen) < 0)
			goto fail;
	build_channels(m);
	for (size_t i = 0; i < m->nch; i++)
		if (m->ch[i].dialer)
			channel_dial(&m->ch[i]);
	m->tick = event_new(e->base, -1, EV_PERSIST, on_tick, m);
	event_add(m->tick, &tv);
	return m;
fail:
	membership_free(m);
	return NULL;
}

void
membership_free(struct membership *m)
{
	struct conn *c;

	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nch; i++)
		m->ch[i].dialer = false;                /* no redial while tearing down */
	LIST_FOREACH(c, &m->conns, entry) {
		conn_close(c, "engine stopping");
		c->flushing = false;            /* no waiting for a flush at exit */
	}
	on_reap(-1, 0, m);
	event_free(m->reap);
	for (size_t i = 0; i < m->nch; i++)
		event_free(m->ch[i].redial);
	for (size_t i = 0; i < m->nlisteners; i++)
		evconnlistener_free(m->listeners[i]);
	if (m->tick != NULL)
		event_free(m->tick);
	SSL_CTX_free(m->server_ctx);
	SSL_CTX_free(m->client_ctx);
	free(m->ch);
	free(m);
}

void
membership_peer(const struct membership *m, enum node_id peer, struct peer_view *v)
{
	const struct peer_state *ps = &m->peers[peer];
	uint64_t now = now_mono_ms();

	memset(v, 0, sizeof(*v));
	v->met = ps->met;
	v->epoch = ps->epoch;
	v->role = ps->role;
	v->active = ps->active;
	v->flags = ps->flags;
	v->silent_ms = ps->met ? now - ps->last_rx_ms : 0;
	v->config_known = ps->met && ps->config_known;
	if (v->config_known)
		hex8(ps->config_hash, v->config_hash);
	for (size_t i = 0; i < m->nch; i++) {
		const struct channel *ch = &m->ch[i];

		if (ch->peer != peer)
			continue;
		v->channels++;
		if (ch->conn != NULL && ch->conn->hello_rx &&
		    now - ch->last_rx_ms < m->e->conf->timeout_ms)
			v->channels_up++;
	}
	v->alive = v->channels_up > 0;
	v->config_mismatch = v->alive &&
	    membership_config_mismatch(v->config_known, ps->config_differs_ms, now);
}

json_t *
membership_channels_json(const struct membership *m, enum node_id peer)
{
	uint64_t now = now_mono_ms();
	json_t *arr = json_array();

	for (size_t i = 0; i < m->nch; i++) {
		const struct channel *ch = &m->ch[i];
		struct ipaddr l = ch->local, r = ch->remote;
		char ls[64], rs[64];
		bool up;

		if (ch->peer != peer)
			continue;
		up = ch->conn != NULL && ch->conn->hello_rx &&
		    now - ch->last_rx_ms < m->e->conf->timeout_ms;
		l.prefix = r.prefix = -1;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:o}",
		    "peer", node_name(peer),
		    "local", ipaddr_str(&l, ls, sizeof(ls)),
		    "remote", ipaddr_str(&r, rs, sizeof(rs)),
		    "up", up,
		    "rtt_ms", up && ch->rtt_ms >= 0 ? json_real(ch->rtt_ms) : json_null()));
	}
	return arr;
}

void
membership_on_switchover(struct membership *m, membership_switchover_fn *fn)
{
	m->on_switchover = fn;
}

/* A live connection to peer (hello done, heard within the timeout), or NULL. */
static struct conn *
live_conn(struct membership *m, enum node_id peer)
{
	uint64_t now = now_mono_ms();

	for (size_t i = 0; i < m->nch; i++) {
		struct channel *ch = &m->ch[i];

		if (ch->peer == peer && ch->conn != NULL && ch->conn->hello_rx &&
		    now - ch->last_rx_ms < m->e->conf->timeout_ms)
			return ch->conn;
	}
	return NULL;
}

int
membership_send_switchover(struct membership *m, enum node_id peer, enum node_id target)
{
	struct wire_switchover sw = { .target = (uint8_t)target, .requester = (uint8_t)m->e->self };
	uint8_t buf[WIRE_HDR_SIZE + WIRE_SWITCHOVER_SIZE];
	struct conn *c = live_conn(m, peer);

	if (c == NULL)
		return -1;
	send_msg(c, buf, wire_encode_switchover(buf, m->e->state.epoch, &sw));
	return 0;
}

void
membership_on_switchover_reply(struct membership *m, membership_switch_reply_fn *fn)
{
	m->on_switch_reply = fn;
}

int
membership_send_switchover_reply(struct membership *m, enum node_id peer, int started,
    int target, const char *why)
{
	uint8_t buf[WIRE_HDR_SIZE + WIRE_SWITCHOVER_REPLY_MIN + 255];
	struct conn *c = live_conn(m, peer);

	if (c == NULL)
		return -1;
	send_msg(c, buf, wire_encode_switchover_reply(buf, m->e->state.epoch, started, target, why));
	return 0;
}

void
membership_on_engine_stop(struct membership *m, membership_stop_fn *fn)
{
	m->on_engine_stop = fn;
}

int
membership_broadcast_stop(struct membership *m, int apps)
{
	uint8_t buf[WIRE_HDR_SIZE + WIRE_ENGINE_STOP_SIZE];
	int n = 0;

	for (int peer = 0; peer < NODE_COUNT; peer++) {
		struct conn *c = live_conn(m, peer);

		if (c == NULL)
			continue;
		send_msg(c, buf, wire_encode_engine_stop(buf, m->e->state.epoch, apps));
		n++;
	}
	return n;
}
