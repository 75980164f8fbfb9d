/*
 * The node agent (agent.h): a TLS listener per channel address, one short
 * connection per request, each freed from the loop once its answer is out
 * or its deadline passed.
 */
#include "repl/agent.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"
#include "common/wire.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#define AGENT_DEADLINE_MS 5000   /* the whole exchange, handshake to answer */
#define AGENT_MAX_CONNS   16     /* more at once is no peer of ours */

struct aconn {
	struct agent		*a;
	struct bufferevent	*bev;
	struct event		*deadline;
	int			 peer;        /* from the certificate, -1 before */
	bool			 hello_rx, answered, dead;
	TAILQ_ENTRY(aconn)	 entry;
};

TAILQ_HEAD(aconns, aconn);

struct agent {
	struct event_base	*base;
	const struct config	*conf;
	enum node_id		 self;
	SSL_CTX			*ctx;
	struct evconnlistener	*listeners[CONFIG_MAX_CHANNELS];
	size_t			 nlisteners;
	struct aconns		 conns;
	size_t			 nconns;
	agent_start_fn		*start;
	agent_plugin_fn		*plugin;
	agent_config_fn		*config;
	void			*arg;
};

static void
aconn_free(struct aconn *c)
{
	TAILQ_REMOVE(&c->a->conns, c, entry);
	c->a->nconns--;
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	aconn_free(arg);
}

/* End a connection from inside its callbacks: freed from the loop a moment later. */
static void
aconn_close(struct aconn *c, const char *why)
{
	struct timeval now = { 0, 0 };

	if (c->dead)
		return;
	c->dead = true;
	if (why != NULL)
		log_warnx("agent: %s: %s", c->peer >= 0 ? node_name(c->peer) : "peer", why);
	event_del(c->deadline);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	event_base_once(c->a->base, -1, EV_TIMEOUT, on_reap, c, &now);
}

/* Answer, then close once the answer is written (on_write). */
static void
answer(struct aconn *c, uint16_t type, const char *text)
{
	uint8_t buf[WIRE_HDR_SIZE + 256];
	size_t n = type == WIRE_REFUSE ? wire_encode_refuse(buf, sizeof(buf), 0, text) :
	    type == WIRE_PLUGIN_DONE ? wire_encode_plugin_done(buf, sizeof(buf), 0, text) :
	    wire_encode_engine_started(buf, sizeof(buf), 0, text);

	c->answered = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_write(c->bev, buf, n);
}

static void
send_hello(struct aconn *c)
{
	struct wire_hello h = {
		.identity = (uint8_t)c->a->self, .kind = WIRE_KIND_AGENT,
		.min_version = WIRE_VERSION, .max_version = WIRE_VERSION,
	};
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HELLO_SIZE];

	xstrlcpy(h.cluster, c->a->conf->name, sizeof(h.cluster));
	bufferevent_write(c->bev, buf, wire_encode_hello(buf, 0, &h));
}

static void
on_plugin_files(struct aconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct wire_plugin_files *req = xcalloc(1, sizeof(*req));
	char why[256], msg[256];

	if (c->a->plugin == NULL)
		snprintf(why, sizeof(why), "this node's agent takes no plug-in files");
	else if (wire_decode_plugin_files(p, h->length, req, why, sizeof(why)) == 0) {
		if (c->a->plugin(c->a->arg, c->peer, req, msg, sizeof(msg)) == 0) {
			log_info("agent: plug-in %s from %s: %s", req->plugin, node_name(c->peer), msg);
			free(req);
			return answer(c, WIRE_PLUGIN_DONE, msg);
		}
		snprintf(why, sizeof(why), "%s", msg);
	}
	log_warnx("agent: plug-in files from %s refused: %s", node_name(c->peer), why);
	free(req);
	answer(c, WIRE_REFUSE, why);
}

static const char *
phase_name(uint8_t phase)
{
	return phase == WIRE_CONFIG_PREPARE ? "prepare" : phase == WIRE_CONFIG_COMMIT ? "commit" :
	    "abort";
}

/* A phase of lifeline config push: the owner does it; the answer carries the hash. */
static void
on_config_push(struct aconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct wire_config_push req;
	struct wire_config_done done;
	uint8_t buf[WIRE_HDR_SIZE + WIRE_CONFIG_DONE_MIN + 256];
	char why[256];

	if (c->a->config == NULL) {
		snprintf(why, sizeof(why), "this node's agent takes no configuration pushes");
		goto refuse;
	}
	if (wire_decode_config_push(p, h->length, &req, why, sizeof(why)) < 0)
		goto refuse;
	memset(&done, 0, sizeof(done));
	done.phase = req.phase;
	if (c->a->config(c->a->arg, c->peer, &req, &done) < 0) {
		snprintf(why, sizeof(why), "%s", done.text);
		goto refuse;
	}
	log_info("agent: config %s from %s: %s", phase_name(req.phase), node_name(c->peer),
	    done.text);
	c->answered = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_write(c->bev, buf, wire_encode_config_done(buf, sizeof(buf), 0, &done));
	return;
refuse:
	log_warnx("agent: config push from %s refused: %s", node_name(c->peer), why);
	answer(c, WIRE_REFUSE, why);
}

static void
on_message(struct aconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct wire_hello hello;
	char why[256], msg[256];

	if (!c->hello_rx) {
		if (h->type != WIRE_HELLO)
			return answer(c, WIRE_REFUSE, "the first message must be a hello");
		if (wire_decode_hello(p, h->length, &hello, why, sizeof(why)) < 0 ||
		    wire_check_hello(&hello, WIRE_KIND_AGENT, c->a->conf->name, c->peer, why,
		    sizeof(why)) < 0) {
			log_warnx("agent: refused %s: %s", node_name(c->peer), why);
			return answer(c, WIRE_REFUSE, why);
		}
		c->hello_rx = true;
		send_hello(c);
		return;
	}
	if (h->type == WIRE_PLUGIN_FILES)
		return on_plugin_files(c, h, p);
	if (h->type == WIRE_CONFIG_PUSH)
		return on_config_push(c, h, p);
	if (h->type != WIRE_ENGINE_START) {
		snprintf(why, sizeof(why), "message type %u, expected an engine start (%u), plug-in "
		    "files (%u) or a config push (%u)", h->type, WIRE_ENGINE_START, WIRE_PLUGIN_FILES,
		    WIRE_CONFIG_PUSH);
		return answer(c, WIRE_REFUSE, why);
	}
	if (wire_decode_engine_start(p, h->length, why, sizeof(why)) < 0)
		return answer(c, WIRE_REFUSE, why);
	if (c->a->start(c->a->arg, c->peer, msg, sizeof(msg)) < 0) {
		log_warnx("agent: engine start asked by %s: %s", node_name(c->peer), msg);
		return answer(c, WIRE_REFUSE, msg);
	}
	log_info("agent: engine start asked by %s: %s", node_name(c->peer), msg);
	answer(c, WIRE_ENGINE_STARTED, msg);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct aconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->dead && !c->answered) {
		uint8_t hdr[WIRE_HDR_SIZE], *payload;
		struct wire_hdr h;
		char why[256];

		if (evbuffer_get_length(in) < WIRE_HDR_SIZE)
			return;
		evbuffer_copyout(in, hdr, WIRE_HDR_SIZE);
		/* Before the hello nothing is longer than one; after, plug-in files may be. */
		if (wire_decode_hdr_max(hdr, WIRE_HDR_SIZE, c->hello_rx ? WIRE_AGENT_MAX_PAYLOAD :
		    WIRE_HELLO_SIZE, &h, why, sizeof(why)) < 0)
			return answer(c, WIRE_REFUSE, why);
		if (evbuffer_get_length(in) < WIRE_HDR_SIZE + h.length)
			return;
		evbuffer_drain(in, WIRE_HDR_SIZE);
		payload = xmalloc(h.length + 1);
		evbuffer_remove(in, payload, h.length);
		on_message(c, &h, payload);
		free(payload);
	}
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct aconn *c = arg;

	if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		aconn_close(c, NULL);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct aconn *c = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (tls_peer_check(bufferevent_openssl_get_ssl(bev), c->a->conf->name, &c->peer, why,
		    sizeof(why)) < 0) {
			c->peer = -1;
			return aconn_close(c, why);
		}
		if (c->peer == (int)c->a->self || !config_mode_has(c->a->conf->mode, c->peer))
			return answer(c, WIRE_REFUSE, "not another node of this cluster's mode");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		return aconn_close(c, e != 0 ? ERR_reason_error_string(e) : "connection failed");
	}
	if (what & BEV_EVENT_EOF)
		aconn_close(c, c->answered ? NULL : "closed before its request");
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	aconn_close(arg, "no request within the deadline");
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct agent *a = arg;
	struct timeval tv = { AGENT_DEADLINE_MS / 1000, (AGENT_DEADLINE_MS % 1000) * 1000 };
	struct bufferevent *bev;
	struct aconn *c;
	SSL *ssl;
	int one = 1;

	if (a->nconns >= AGENT_MAX_CONNS || (ssl = SSL_new(a->ctx)) == NULL) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bev = bufferevent_openssl_socket_new(a->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->a = a;
	c->bev = bev;
	c->peer = -1;
	c->deadline = evtimer_new(a->base, on_deadline, c);
	evtimer_add(c->deadline, &tv);
	TAILQ_INSERT_TAIL(&a->conns, c, entry);
	a->nconns++;
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct agent *
agent_new(struct event_base *base, const struct config *conf, enum node_id self,
    agent_start_fn *start, void *arg, char *err, size_t errlen)
{
	const struct node_conf *me = &conf->nodes[self];
	struct agent *a = xcalloc(1, sizeof(*a));

	a->base = base;
	a->conf = conf;
	a->self = self;
	a->start = start;
	a->arg = arg;
	TAILQ_INIT(&a->conns);
	if ((a->ctx = tls_server_ctx(conf->tls_dir, conf->name, self, err, errlen)) == NULL) {
		free(a);
		return NULL;
	}
	for (size_t i = 0; i < me->nchannels; i++) {
		struct sockaddr_storage ss;
		socklen_t len = ipaddr_sockaddr(&me->channels[i], WIRE_AGENT_PORT, &ss);
		int fd, one = 1;

		if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0) {
			log_warn("agent: cannot listen on channel address %zu, port %d", i,
			    WIRE_AGENT_PORT);
			close(fd);
			continue;
		}
		a->listeners[a->nlisteners] = evconnlistener_new(base, on_accept, a,
		    LEV_OPT_CLOSE_ON_FREE, -1, fd);
		if (a->listeners[a->nlisteners] != NULL)
			a->nlisteners++;
		else
			close(fd);
	}
	if (a->nlisteners == 0) {
		snprintf(err, errlen, "cannot listen on any channel address, port %d", WIRE_AGENT_PORT);
		agent_free(a);
		return NULL;
	}
	return a;
}

void
agent_on_plugin(struct agent *a, agent_plugin_fn *fn)
{
	if (a != NULL)
		a->plugin = fn;
}

void
agent_on_config(struct agent *a, agent_config_fn *fn)
{
	if (a != NULL)
		a->config = fn;
}

void
agent_free(struct agent *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nlisteners; i++)
		evconnlistener_free(a->listeners[i]);
	while (!TAILQ_EMPTY(&a->conns))
		aconn_free(TAILQ_FIRST(&a->conns));
	SSL_CTX_free(a->ctx);
	free(a);
}
