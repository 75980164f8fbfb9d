/*
 * Journal streams: the sender that ships this node's journal to one
 * downstream node and the receiver that takes the upstream node's. A
 * connection goes HELLO both ways (kind WIRE_KIND_STREAM), then the
 * receiver says where its journal stands (POS); the sender finds the prefix
 * the two journals share from their epoch histories, has a divergent tail
 * set aside (CUT) or, when the records the receiver lacks are gone here,
 * says so (SKIP); then RECORDS flow one way and ACKs the other.
 */
#include "repl/stream.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"
#include "common/wire.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define REDIAL_MS        500
#define HANDSHAKE_MS     5000             /* HELLO and POS must come within this */
#define OWN_SYNC_MS      100              /* no upstream: the journal synced at most this often */
#define BATCH_RAW        (1024 * 1024)    /* record bytes per RECORDS message */
#define SEND_HIGH_WATER  (4 * 1024 * 1024) /* stop reading the journal past this */
#define SEND_LOW_WATER   (1024 * 1024)
#define ZSTD_LEVEL       3
#define MAX_PAIRS        (CONFIG_MAX_CHANNELS * CONFIG_MAX_CHANNELS)

enum conn_state { ST_CONNECTING, ST_HANDSHAKE, ST_STREAMING, ST_DEAD };

static const char *state_names[] = {
	[ST_CONNECTING] = "connecting", [ST_HANDSHAKE] = "handshake",
	[ST_STREAMING] = "streaming", [ST_DEAD] = "closed",
};

/* One stream connection, on either side. */
struct sconn {
	struct stream_env	*env;
	struct bufferevent	*bev;
	struct sender		*sender;      /* the side it serves: exactly one is set */
	struct receiver		*receiver;
	int			 peer;        /* from the certificate, -1 before */
	enum conn_state		 state;
	bool			 hello_rx;
	struct event		*deadline;
	uint8_t			*payload;     /* the message being handled */
};

struct sender {
	struct stream_env	*env;
	enum node_id		 peer;
	int			 consumer;
	enum stream_codec	 codec;
	struct ev_token_bucket_cfg *rate;
	struct channel_pair	 pairs[MAX_PAIRS];
	size_t			 npairs, next_pair;
	struct sconn		*conn;
	struct journal_reader	*reader;
	struct event		*redial, *wake;
	uint8_t			*raw, *msg;
	struct stream_status	 st;
	pthread_mutex_t		 st_lock;     /* st is read by status from other threads */
};

struct receiver {
	struct stream_env	*env;
	struct evconnlistener	*listeners[CONFIG_MAX_CHANNELS];
	size_t			 nlisteners;
	_Atomic int		 upstream;      /* read by the sync thread */
	struct sconn		*conn;
	uint8_t			*raw;
	struct event		*acked;       /* the sync thread made records durable */
	pthread_t		 sync_thread;
	_Atomic bool		 stop;
	_Atomic uint64_t	 durable;
	struct stream_status	 st;
	pthread_mutex_t		 st_lock;
	/* UP messages queued by other threads, written before the next ACK */
	pthread_mutex_t		 up_lock;
	struct evbuffer		*up_queue;
	struct event		*up_ev;
	struct event		*applied_ev;  /* the applier moved on: ACK it */
};

static void conn_close(struct sconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sender_dial(struct sender *s);
static void sender_pump(struct sender *s);

static void
set_state(struct stream_status *st, pthread_mutex_t *lock, enum conn_state state, const char *err)
{
	pthread_mutex_lock(lock);
	st->connected = state == ST_STREAMING;
	xstrlcpy(st->state, state_names[state], sizeof(st->state));
	if (err != NULL)
		xstrlcpy(st->last_error, err, sizeof(st->last_error));
	pthread_mutex_unlock(lock);
}

static void
send_bytes(struct sconn *c, const uint8_t *buf, size_t len)
{
	if (len > 0)
		bufferevent_write(c->bev, buf, len);
}

static void
send_hello(struct sconn *c)
{
	struct wire_hello h = {
		.identity = (uint8_t)c->env->self, .kind = WIRE_KIND_STREAM,
		.min_version = STREAM_VERSION, .max_version = STREAM_VERSION,
	};
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HELLO_SIZE];

	xstrlcpy(h.cluster, c->env->conf->name, sizeof(h.cluster));
	send_bytes(c, buf, wire_encode_hello(buf, c->env->epoch, &h));
}

static void
conn_free(struct sconn *c)
{
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c->payload);
	free(c);
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

/*
 * Close a connection, say why once, and let its side go on: a sender
 * dials again (the next channel first), a receiver waits for the upstream.
 * This runs inside the connection's own callbacks, so it is only marked
 * dead here and freed from the loop a moment later.
 */
static void
conn_close(struct sconn *c, const char *fmt, ...)
{
	struct timeval now = { 0, 0 };
	char why[256];
	va_list ap;

	if (c->state == ST_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->state = ST_DEAD;
	if (c->sender != NULL) {
		struct sender *s = c->sender;
		struct timeval tv = { 0, REDIAL_MS * 1000 };

		log_warnx("stream to %s: %s", node_name(s->peer), why);
		set_state(&s->st, &s->st_lock, ST_CONNECTING, why);
		journal_reader_free(s->reader);
		s->reader = NULL;
		s->conn = NULL;
		evtimer_add(s->redial, &tv);
	} else if (c->receiver != NULL && c->receiver->conn == c) {
		struct receiver *r = c->receiver;

		log_warnx("stream from %s: %s", c->peer >= 0 ? node_name(c->peer) : "peer", why);
		set_state(&r->st, &r->st_lock, ST_CONNECTING, why);
		r->conn = NULL;
	} else
		log_debug("stream connection refused: %s", why);
	event_del(c->deadline);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	event_base_once(c->env->base, -1, EV_TIMEOUT, on_reap, c, &now);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	conn_close(arg, "no handshake within %d ms", HANDSHAKE_MS);
}

/* The hello of either side: same cluster, a version both speak, the certificate's identity. */
static int
check_hello(struct sconn *c, const struct wire_hdr *h, const uint8_t *p, char *why, size_t whylen)
{
	struct wire_hello hello;

	if (wire_decode_hello(p, h->length, &hello, why, whylen) < 0)
		return -1;
	if (hello.kind != WIRE_KIND_STREAM) {
		snprintf(why, whylen, "hello of kind %u on a stream connection, expected %u",
		    hello.kind, WIRE_KIND_STREAM);
		return -1;
	}
	if (strncmp(hello.cluster, c->env->conf->name, sizeof(hello.cluster)) != 0 ||
	    hello.identity != c->peer) {
		snprintf(why, whylen, "hello does not match the certificate of %s in cluster %s",
		    node_name(c->peer), c->env->conf->name);
		return -1;
	}
	if (hello.max_version < STREAM_VERSION || hello.min_version > STREAM_VERSION) {
		snprintf(why, whylen, "%s speaks stream protocol versions %u..%u, this node "
		    "speaks %u; upgrade the older node", node_name(c->peer), hello.min_version,
		    hello.max_version, STREAM_VERSION);
		return -1;
	}
	return 0;
}

/* ---- sender ---- */

/*
 * Where to start for a receiver whose journal stands at pos: after the
 * prefix both journals share. Its records past that prefix are a divergent
 * tail (an old active's, or ones this node's journal lost): CUT. Records it
 * lacks that this journal no longer holds: SKIP, and its copy needs a check.
 */
static void
on_pos(struct sconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct sender *s = c->sender;
	struct stream_env *env = c->env;
	struct stream_pos *pos = xcalloc(1, sizeof(*pos));
	uint64_t last = journal_last_seq(env->journal), first = journal_oldest_seq(env->journal);
	uint64_t common, from;
	char why[256];
	size_t n;

	if (stream_decode_pos(p, h->length, pos, why, sizeof(why)) < 0)
		goto refuse;
	common = history_common(env->history, last, &pos->history, pos->last_seq);
	if (common < pos->last_seq) {
		struct stream_cut *cut = xcalloc(1, sizeof(*cut));

		cut->keep_seq = common;
		cut->sender_last_seq = last;
		cut->history = *env->history;
		n = stream_encode_cut(s->msg, WIRE_HDR_SIZE + STREAM_MAX_PAYLOAD, env->epoch, cut);
		send_bytes(c, s->msg, n);
		log_warnx("stream to %s: its records %" PRIu64 "..%" PRIu64 " are not in this "
		    "journal: asked it to set them aside", node_name(s->peer), common + 1,
		    pos->last_seq);
		free(cut);
		free(pos);
		return;         /* a new POS follows */
	}
	from = pos->last_seq;
	if (from + 1 < first) {
		n = stream_encode_skip(s->msg, WIRE_HDR_SIZE + STREAM_SKIP_SIZE, env->epoch, first);
		send_bytes(c, s->msg, n);
		log_warnx("stream to %s: records %" PRIu64 "..%" PRIu64 " it lacks are no longer "
		    "here; its copy needs a check", node_name(s->peer), from + 1, first - 1);
		from = first - 1;
		/* Their files are in the touched list (the quota listed them): check those. */
		if (env->on_up != NULL)
			env->on_up(env->arg, s->peer, STREAM_UP_TOUCHED, NULL, 0);
	}
	journal_consumer_done(env->journal, s->consumer, pos->durable_seq);
	if ((pos->flags & STREAM_POS_NEEDS_CHECK) && env->on_up != NULL)
		env->on_up(env->arg, s->peer, STREAM_UP_CHECK, NULL, 0);
	else if ((pos->flags & STREAM_POS_NEEDS_TOUCHED) && env->on_up != NULL)
		env->on_up(env->arg, s->peer, STREAM_UP_TOUCHED, NULL, 0);
	if ((s->reader = journal_reader_new(env->journal, from, false, why, sizeof(why))) == NULL)
		goto refuse;
	pthread_mutex_lock(&s->st_lock);
	s->st.sent_seq = from;
	s->st.durable_seq = pos->durable_seq;
	s->st.applied_seq = pos->applied_seq;
	pthread_mutex_unlock(&s->st_lock);
	c->state = ST_STREAMING;
	event_del(c->deadline);
	set_state(&s->st, &s->st_lock, ST_STREAMING, NULL);
	n = stream_encode_start(s->msg, WIRE_HDR_SIZE + STREAM_MAX_PAYLOAD, env->epoch, from + 1);
	send_bytes(c, s->msg, n);
	log_info("stream to %s: from seq %" PRIu64 " (its journal at %" PRIu64 ")",
	    node_name(s->peer), from + 1, pos->last_seq);
	free(pos);
	sender_pump(s);
	return;
refuse:
	free(pos);
	conn_close(c, "%s", why);
}

static void
on_ack(struct sconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct sender *s = c->sender;
	struct stream_ack ack;
	char why[256];

	if (stream_decode_ack(p, h->length, &ack, why, sizeof(why)) < 0)
		return conn_close(c, "%s", why);
	journal_consumer_done(c->env->journal, s->consumer, ack.durable_seq);
	pthread_mutex_lock(&s->st_lock);
	s->st.durable_seq = ack.durable_seq;
	s->st.applied_seq = ack.applied_seq;
	s->st.last_ack_ms = now_mono_ms();
	pthread_mutex_unlock(&s->st_lock);
}

/* What the downstream node sends up: for the owner (the active answers, a relay forwards). */
static void
on_up_msg(struct sconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	const uint8_t *body;
	size_t len;
	unsigned kind;
	char why[256];

	if (stream_decode_up(p, h->length, &kind, &body, &len, why, sizeof(why)) < 0)
		return conn_close(c, "%s", why);
	if (c->env->on_up != NULL)
		c->env->on_up(c->env->arg, c->sender->peer, kind, body, len);
}

void
sender_send_checked(struct sender *s, uint64_t seq, const uint64_t *tokens, size_t ntokens)
{
	uint8_t buf[WIRE_HDR_SIZE + STREAM_CHECKED_SIZE + 4 + 8 * STREAM_CHECKED_TOKENS];

	if (s->conn != NULL && s->conn->state == ST_STREAMING)
		send_bytes(s->conn, buf, stream_encode_checked(buf, sizeof(buf), s->env->epoch, seq,
		    tokens, ntokens));
}

/*
 * Ship what the journal holds past the last record sent, a batch per
 * message, until the connection's output passes the high water mark; the
 * write callback comes back below the low one.
 */
static void
sender_pump(struct sender *s)
{
	struct sconn *c = s->conn;
	struct evbuffer *out;

	if (c == NULL || c->state != ST_STREAMING)
		return;
	out = bufferevent_get_output(c->bev);
	while (evbuffer_get_length(out) < SEND_HIGH_WATER) {
		struct record_hdr h;
		const uint8_t *rec;
		size_t raw_len = 0, reclen, n;
		uint64_t first = 0;
		uint32_t count = 0;
		char why[256];
		int rc = 0;

		while (raw_len < BATCH_RAW &&
		    (rc = journal_reader_next(s->reader, &h, &rec, &reclen, why, sizeof(why))) == 1) {
			memcpy(s->raw + raw_len, rec, reclen);
			raw_len += reclen;
			if (count++ == 0)
				first = h.seq;
		}
		if (rc < 0)
			return conn_close(c, "journal: %s", why);
		if (count == 0)
			return;
		n = stream_encode_records(s->msg, WIRE_HDR_SIZE + STREAM_MAX_PAYLOAD, c->env->epoch,
		    s->codec, ZSTD_LEVEL, first, count, s->raw, raw_len);
		if (n == 0)
			return conn_close(c, "cannot encode records %" PRIu64 "..", first);
		send_bytes(c, s->msg, n);
		pthread_mutex_lock(&s->st_lock);
		s->st.sent_seq = first + count - 1;
		s->st.raw_bytes += raw_len;
		s->st.wire_bytes += n;
		pthread_mutex_unlock(&s->st_lock);
	}
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	sender_pump(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;

	if (c->sender != NULL)
		sender_pump(c->sender);
}

/* ---- receiver ---- */

static void
send_pos(struct sconn *c)
{
	struct stream_env *env = c->env;
	struct receiver *r = c->receiver;
	struct stream_pos *pos = xcalloc(1, sizeof(*pos));
	uint8_t *buf = xmalloc(WIRE_HDR_SIZE + STREAM_POS_SIZE + sizeof(pos->history) + 8);
	size_t n;

	pos->first_seq = journal_first_seq(env->journal);
	pos->last_seq = journal_last_seq(env->journal);
	pos->durable_seq = journal_durable_seq(env->journal);
	pos->applied_seq = env->applied_seq;
	if (pos->applied_seq > pos->durable_seq)
		pos->applied_seq = pos->durable_seq;
	pos->last_epoch = journal_last_epoch(env->journal);
	pos->flags = (env->needs_check ? STREAM_POS_NEEDS_CHECK : 0) |
	    (env->needs_touched ? STREAM_POS_NEEDS_TOUCHED : 0);
	pos->history = *env->history;
	n = stream_encode_pos(buf, WIRE_HDR_SIZE + STREAM_POS_SIZE + sizeof(pos->history) + 8,
	    env->epoch, pos);
	send_bytes(c, buf, n);
	r->durable = pos->durable_seq;
	free(buf);
	free(pos);
}

/*
 * The sender says records after keep_seq are a divergent tail: save them
 * in a dated quarantine folder (invariant 5: never deleted), cut the
 * journal and its history there, and say where it stands again. The files
 * those records changed differ from the cluster's now: the copy needs a
 * check, a full one (which POS says) unless the owner lists those files
 * for a targeted one (on_cut).
 */
static void
on_cut(struct sconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct stream_env *env = c->env;
	struct stream_cut *cut = xcalloc(1, sizeof(*cut));
	char why[256], *dir = NULL, *save = NULL, *epoch;

	if (stream_decode_cut(p, h->length, cut, why, sizeof(why)) < 0)
		goto fail;
	if (cut->keep_seq < journal_last_seq(env->journal)) {
		epoch = xasprintf("epoch%" PRIu64, journal_last_epoch(env->journal));
		dir = dated_path(env->quarantine_dir, epoch);
		free(epoch);
		save = xasprintf("%s/journal-tail.llj", dir);
		if (mkdir_p(dir, 0700) < 0) {
			snprintf(why, sizeof(why), "cannot make %s: %s", dir, strerror(errno));
			goto fail;
		}
		if (journal_truncate_after(env->journal, cut->keep_seq, save, why, sizeof(why)) < 0)
			goto fail;
		history_truncate(env->history, cut->keep_seq);
		if (history_save(env->history_path, env->history) < 0) {
			snprintf(why, sizeof(why), "cannot save the epoch history %s", env->history_path);
			goto fail;
		}
		log_warnx("stream from %s: records after seq %" PRIu64 " were never in the cluster's "
		    "journal: saved in %s", node_name(c->peer), cut->keep_seq, save);
		if (env->on_cut == NULL || !env->on_cut(env->arg, cut->keep_seq, save))
			env->needs_check = true;
	}
	free(cut);
	free(dir);
	free(save);
	send_pos(c);
	return;
fail:
	free(cut);
	free(dir);
	free(save);
	conn_close(c, "cannot set the divergent tail aside: %s", why);
}

/*
 * Append a batch. Records already here (a resend after a reconnect) are
 * skipped; a record of an epoch above its message's is refused. A record
 * of a new epoch extends the history first, so the history never lags the
 * journal after a crash.
 */
static void
on_records(struct sconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct stream_env *env = c->env;
	struct receiver *r = c->receiver;
	uint64_t first, last = journal_last_seq(env->journal);
	uint32_t count;
	size_t off = 0;
	char why[256];
	long raw_len;

	raw_len = stream_decode_records(p, h->length, r->raw, &first, &count, why, sizeof(why));
	if (raw_len < 0)
		return conn_close(c, "%s", why);
	for (uint32_t i = 0; i < count; i++) {
		struct record_hdr rh;

		record_decode(r->raw + off, (size_t)raw_len - off, &rh, NULL, why, sizeof(why));
		if (rh.seq <= last) {
			off += record_size(&rh);
			continue;
		}
		if (rh.epoch > h->epoch)
			return conn_close(c, "record %" PRIu64 " of epoch %" PRIu64 " from a sender in "
			    "epoch %" PRIu64, rh.seq, rh.epoch, h->epoch);
		if (rh.epoch > history_last_epoch(env->history)) {
			if (history_begin(env->history, rh.epoch, rh.seq, why, sizeof(why)) < 0 ||
			    history_save(env->history_path, env->history) < 0)
				return conn_close(c, "epoch history: %s", why);
		}
		if (journal_append_record(env->journal, r->raw + off, record_size(&rh), why,
		    sizeof(why)) < 0)
			return conn_close(c, "journal: %s", why);
		off += record_size(&rh);
	}
}

/*
 * The sender no longer holds records this journal lacks (a queue quota cut
 * upstream): the owner drops what is here and goes on from next_seq; the
 * records lost on the way are in the active's list of touched files, for
 * a targeted check.
 */
static void
on_skip(struct sconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct stream_env *env = c->env;
	uint64_t next;
	char why[320];

	if (stream_decode_skip(p, h->length, &next, why, sizeof(why)) < 0)
		return conn_close(c, "%s", why);
	if (next <= journal_last_seq(env->journal) + 1)
		return;
	if (env->on_skip == NULL || env->on_skip(env->arg, next, why, sizeof(why)) < 0)
		return conn_close(c, "cannot go on from seq %" PRIu64 " yet: %s", next,
		    env->on_skip == NULL ? "no owner to skip" : why);
	c->receiver->durable = next - 1;
	log_warnx("stream from %s: records before seq %" PRIu64 " are gone upstream (queue "
	    "quota): going on from there; the files they touched are due for a check",
	    node_name(c->peer), next);
}

/* Write the queued UP messages, in order; without a connection they are dropped. */
static void
flush_up(struct receiver *r)
{
	size_t n;

	pthread_mutex_lock(&r->up_lock);
	n = evbuffer_get_length(r->up_queue);
	if (n > 0 && r->conn != NULL && r->conn->state == ST_STREAMING)
		bufferevent_write_buffer(r->conn->bev, r->up_queue);
	else if (n > 0) {
		evbuffer_drain(r->up_queue, n);
		r->env->up_dropped++;
		r->env->needs_check = true;
		log_warnx("stream: %zu bytes for the active dropped: no upstream connection; the "
		    "copy needs a check, which its next POS asks for", n);
	}
	pthread_mutex_unlock(&r->up_lock);
}

static void
on_up_due(evutil_socket_t fd, short what, void *arg)
{
	flush_up(arg);
}

void
receiver_send_up(struct receiver *r, unsigned kind, const uint8_t *body, size_t len)
{
	uint8_t *buf = xmalloc(WIRE_HDR_SIZE + STREAM_UP_HEAD + len);
	size_t n = stream_encode_up(buf, WIRE_HDR_SIZE + STREAM_UP_HEAD + len, r->env->epoch, kind,
	    body, len);

	if (n == 0)
		log_warnx("stream: an UP of kind %u and %zu bytes does not encode", kind, len);
	else {
		pthread_mutex_lock(&r->up_lock);
		evbuffer_add(r->up_queue, buf, n);
		pthread_mutex_unlock(&r->up_lock);
		event_active(r->up_ev, 0, 0);
	}
	free(buf);
}

static void
send_ack(struct receiver *r)
{
	struct stream_ack ack;
	uint8_t buf[WIRE_HDR_SIZE + STREAM_ACK_SIZE];

	flush_up(r);
	ack.durable_seq = r->durable;
	ack.applied_seq = r->env->applied_seq < ack.durable_seq ? r->env->applied_seq : ack.durable_seq;
	if (r->conn != NULL && r->conn->state == ST_STREAMING)
		send_bytes(r->conn, buf, stream_encode_ack(buf, sizeof(buf), r->env->epoch, &ack));
	pthread_mutex_lock(&r->st_lock);
	r->st.durable_seq = ack.durable_seq;
	r->st.applied_seq = ack.applied_seq;
	pthread_mutex_unlock(&r->st_lock);
}

static void
on_applied(evutil_socket_t fd, short what, void *arg)
{
	send_ack(arg);
}

void
receiver_applied(struct receiver *r)
{
	event_active(r->applied_ev, 0, 0);
}

static void
on_durable(evutil_socket_t fd, short what, void *arg)
{
	struct receiver *r = arg;

	send_ack(r);
	if (r->env->on_durable != NULL)
		r->env->on_durable(r->env->arg, r->durable);
}

/*
 * The receiver's fsyncs, off the loop: whenever the journal holds records
 * not yet durable, sync (group commit) and have the loop send the ACK.
 * On a node with no upstream (the active, or one between roles) the
 * records are the capture's: the applications' own fsyncs sync the
 * journal as barriers, and a sync after every append would put an
 * fdatasync beside every write they make, each one waiting on the file
 * system's journal with theirs. There it is synced at most every
 * OWN_SYNC_MS, which bounds what a power loss takes from it (a crashed
 * active's copies are checked by ctime anyway).
 */
static void *
sync_main(void *arg)
{
	struct receiver *r = arg;
	struct journal *j = r->env->journal;

	while (!r->stop) {
		uint64_t durable = journal_durable_seq(j);
		char err[256];

		if (journal_last_seq(j) <= durable &&
		    journal_wait_append(j, durable, false, 200) != 1)
			continue;
		if (atomic_load(&r->upstream) < 0) {
			for (int i = 0; i < OWN_SYNC_MS / 10 && !r->stop; i++)
				nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
			if (r->stop)
				continue;
		}
		if (journal_sync(j, err, sizeof(err)) < 0) {
			log_warnx("journal: %s", err);
			sleep(1);
			continue;
		}
		r->durable = journal_durable_seq(j);
		event_active(r->acked, 0, 0);
	}
	return NULL;
}

/* ---- both sides ---- */

static void
on_message(struct sconn *c, const struct wire_hdr *h, const uint8_t *p)
{
	char why[256];

	if (!c->hello_rx && h->type != WIRE_HELLO && h->type != WIRE_REFUSE)
		return conn_close(c, "first message is not a hello");
	switch (h->type) {
	case WIRE_HELLO:
		if (c->hello_rx)
			return conn_close(c, "second hello");
		if (check_hello(c, h, p, why, sizeof(why)) < 0)
			return conn_close(c, "%s", why);
		if (c->receiver != NULL && h->epoch < c->env->epoch)
			return conn_close(c, "%s is in epoch %" PRIu64 ", this node in %" PRIu64
			    ": records from a lower epoch are refused", node_name(c->peer), h->epoch,
			    (uint64_t)c->env->epoch);
		c->hello_rx = true;
		if (c->receiver != NULL) {
			send_hello(c);
			send_pos(c);
			/* Messages flow now; in step only once the sender says START. */
			c->state = ST_STREAMING;
			event_del(c->deadline);
			set_state(&c->receiver->st, &c->receiver->st_lock, ST_HANDSHAKE, NULL);
			log_info("stream from %s: journal at seq %" PRIu64, node_name(c->peer),
			    journal_last_seq(c->env->journal));
		}
		return;
	case WIRE_REFUSE:
		wire_decode_refuse(p, h->length, why, sizeof(why));
		return conn_close(c, "refused: %s", why);
	}
	if (c->sender != NULL) {
		if (h->type == WIRE_STREAM_POS)
			return on_pos(c, h, p);
		if (h->type == WIRE_STREAM_ACK && c->state == ST_STREAMING)
			return on_ack(c, h, p);
		if (h->type == WIRE_STREAM_UP && c->state == ST_STREAMING)
			return on_up_msg(c, h, p);
	} else {
		if (h->epoch < c->env->epoch)
			return conn_close(c, "message of epoch %" PRIu64 ", this node is in %" PRIu64,
			    h->epoch, (uint64_t)c->env->epoch);
		if (h->type == WIRE_STREAM_RECORDS)
			return on_records(c, h, p);
		if (h->type == WIRE_STREAM_CUT)
			return on_cut(c, h, p);
		if (h->type == WIRE_STREAM_START) {
			uint64_t next;

			if (stream_decode_start(p, h->length, &next, why, sizeof(why)) < 0)
				return conn_close(c, "%s", why);
			pthread_mutex_lock(&c->receiver->st_lock);
			c->receiver->st.starts++;
			pthread_mutex_unlock(&c->receiver->st_lock);
			set_state(&c->receiver->st, &c->receiver->st_lock, ST_STREAMING, NULL);
			return;
		}
		if (h->type == WIRE_STREAM_CHECKED) {
			uint64_t seq, tokens[STREAM_CHECKED_TOKENS];
			size_t ntokens;

			if (stream_decode_checked(p, h->length, &seq, tokens, &ntokens, why,
			    sizeof(why)) < 0)
				return conn_close(c, "%s", why);
			if (c->env->on_checked != NULL)
				c->env->on_checked(c->env->arg, seq, tokens, ntokens);
			return;
		}
		if (h->type == WIRE_STREAM_SKIP)
			return on_skip(c, h, p);
	}
	conn_close(c, "unexpected message type %u", h->type);
}

/*
 * Every complete message in the input, in order. A handler may close the
 * connection; it stays allocated until the loop reaps it, so stop then.
 */
static void
on_read(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (c->state != ST_DEAD) {
		uint8_t hdr[WIRE_HDR_SIZE];
		struct wire_hdr h;
		char why[256];

		if (evbuffer_get_length(in) < WIRE_HDR_SIZE)
			return;
		evbuffer_copyout(in, hdr, WIRE_HDR_SIZE);
		if (wire_decode_hdr_max(hdr, WIRE_HDR_SIZE, STREAM_MAX_PAYLOAD, &h, why,
		    sizeof(why)) < 0)
			return conn_close(c, "%s", why);
		if (evbuffer_get_length(in) < WIRE_HDR_SIZE + h.length)
			return;
		evbuffer_drain(in, WIRE_HDR_SIZE);
		if (c->payload == NULL)
			c->payload = xmalloc(STREAM_MAX_PAYLOAD);
		evbuffer_remove(in, c->payload, h.length);
		on_message(c, &h, c->payload);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct sconn *c = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		int id;

		if (tls_peer_check(bufferevent_openssl_get_ssl(bev), c->env->conf->name, &id, why,
		    sizeof(why)) < 0)
			return conn_close(c, "%s", why);
		if (c->sender != NULL && id != (int)c->sender->peer)
			return conn_close(c, "certificate of %s answered for %s", node_name(id),
			    node_name(c->sender->peer));
		c->peer = id;
		c->state = ST_HANDSHAKE;
		if (c->sender != NULL)
			send_hello(c);
		else if (c->receiver->upstream != id)
			return conn_close(c, "%s is not this node's upstream", node_name(id));
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		int err = EVUTIL_SOCKET_ERROR();

		if (e != 0)
			return conn_close(c, "TLS: %s", ERR_reason_error_string(e));
		return conn_close(c, "%s", err != 0 ? strerror(err) : "connection failed");
	}
	if (what & BEV_EVENT_EOF)
		conn_close(c, "closed by the peer");
}

static struct sconn *
conn_new(struct stream_env *env, struct bufferevent *bev)
{
	struct sconn *c = xcalloc(1, sizeof(*c));
	struct timeval tv = { HANDSHAKE_MS / 1000, (HANDSHAKE_MS % 1000) * 1000 };

	c->env = env;
	c->bev = bev;
	c->peer = -1;
	c->deadline = evtimer_new(env->base, on_deadline, c);
	evtimer_add(c->deadline, &tv);
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(bev, EV_WRITE, SEND_LOW_WATER, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return c;
}

/* ---- sender setup ---- */

static void
on_redial(evutil_socket_t fd, short what, void *arg)
{
	sender_dial(arg);
}

/* Dial the next channel pair; one connection at a time, channels in turn. */
static void
sender_dial(struct sender *s)
{
	struct stream_env *env = s->env;
	const struct channel_pair *pair;
	struct sockaddr_storage local, remote;
	socklen_t llen, rlen;
	struct bufferevent *bev;
	struct timeval tv = { 0, REDIAL_MS * 1000 };
	SSL *ssl = NULL;
	int fd, one = 1;

	if (s->conn != NULL || s->npairs == 0)
		return;
	pair = &s->pairs[s->next_pair++ % s->npairs];
	llen = ipaddr_sockaddr(&pair->local, 0, &local);
	rlen = ipaddr_sockaddr(&pair->remote, STREAM_PORT, &remote);
	if ((fd = socket(local.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		goto retry;
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&local, llen) < 0 || (ssl = SSL_new(env->client_ctx)) == NULL) {
		close(fd);
		goto retry;
	}
	bev = bufferevent_openssl_socket_new(env->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
		goto retry;
	}
	if (s->rate != NULL)
		bufferevent_set_rate_limit(bev, s->rate);
	s->conn = conn_new(env, bev);
	s->conn->sender = s;
	set_state(&s->st, &s->st_lock, ST_CONNECTING, NULL);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&remote, (int)rlen) < 0)
		conn_close(s->conn, "cannot connect");
	return;
retry:
	evtimer_add(s->redial, &tv);
}

struct sender *
sender_new(struct stream_env *env, enum node_id peer, int consumer, enum stream_codec codec,
    uint64_t bandwidth)
{
	struct sender *s = xcalloc(1, sizeof(*s));

	s->env = env;
	s->peer = peer;
	s->consumer = consumer;
	s->codec = codec;
	s->npairs = config_channel_pairs(env->conf, env->self, peer, s->pairs, MAX_PAIRS);
	s->raw = xmalloc(STREAM_MAX_RAW);
	s->msg = xmalloc(WIRE_HDR_SIZE + STREAM_MAX_PAYLOAD);
	pthread_mutex_init(&s->st_lock, NULL);
	set_state(&s->st, &s->st_lock, ST_CONNECTING, NULL);
	if (bandwidth > 0) {
		size_t rate = bandwidth > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)bandwidth;

		s->rate = ev_token_bucket_cfg_new(rate, rate, EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, NULL);
	}
	s->redial = evtimer_new(env->base, on_redial, s);
	s->wake = event_new(env->base, -1, 0, on_wake, s);
	if (s->npairs == 0)
		log_warnx("stream to %s: no channel reaches it", node_name(peer));
	sender_dial(s);
	return s;
}

void
sender_free(struct sender *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		conn_free(s->conn);
	journal_reader_free(s->reader);
	event_free(s->redial);
	event_free(s->wake);
	if (s->rate != NULL)
		ev_token_bucket_cfg_free(s->rate);
	pthread_mutex_destroy(&s->st_lock);
	free(s->raw);
	free(s->msg);
	free(s);
}

void
sender_wake(struct sender *s)
{
	event_active(s->wake, 0, 0);
}

void
sender_status(const struct sender *s, struct stream_status *st)
{
	pthread_mutex_lock((pthread_mutex_t *)&s->st_lock);
	*st = s->st;
	pthread_mutex_unlock((pthread_mutex_t *)&s->st_lock);
}

/* ---- receiver setup ---- */

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct receiver *r = arg;
	struct bufferevent *bev;
	struct sconn *c;
	SSL *ssl;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((ssl = SSL_new(r->env->server_ctx)) == NULL) {
		close(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(r->env->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
		return;
	}
	c = conn_new(r->env, bev);
	c->receiver = r;
	/* The newest connection from the upstream wins: the old one is a dead path. */
	if (r->conn != NULL)
		conn_close(r->conn, "replaced by a new connection");
	r->conn = c;
}

struct receiver *
receiver_new(struct stream_env *env, char *err, size_t errlen)
{
	const struct node_conf *me = &env->conf->nodes[env->self];
	struct receiver *r = xcalloc(1, sizeof(*r));

	r->env = env;
	r->upstream = -1;
	r->raw = xmalloc(STREAM_MAX_RAW);
	r->durable = journal_durable_seq(env->journal);
	pthread_mutex_init(&r->st_lock, NULL);
	pthread_mutex_init(&r->up_lock, NULL);
	r->up_queue = evbuffer_new();
	r->up_ev = event_new(env->base, -1, 0, on_up_due, r);
	r->applied_ev = event_new(env->base, -1, 0, on_applied, r);
	set_state(&r->st, &r->st_lock, ST_CONNECTING, NULL);
	for (size_t i = 0; i < me->nchannels; i++) {
		struct sockaddr_storage ss;
		socklen_t len = ipaddr_sockaddr(&me->channels[i], STREAM_PORT, &ss);
		int fd, one = 1;

		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0) {
			log_warn("stream: cannot listen on channel address %zu", i);
			close(fd);
			continue;
		}
		r->listeners[r->nlisteners] = evconnlistener_new(env->base, on_accept, r,
		    LEV_OPT_CLOSE_ON_FREE, -1, fd);
		if (r->listeners[r->nlisteners] != NULL)
			r->nlisteners++;
	}
	if (r->nlisteners == 0) {
		snprintf(err, errlen, "cannot listen on any channel address, port %d", STREAM_PORT);
		receiver_free(r);
		return NULL;
	}
	r->acked = event_new(env->base, -1, 0, on_durable, r);
	if (pthread_create(&r->sync_thread, NULL, sync_main, r) != 0) {
		snprintf(err, errlen, "cannot start the journal sync thread");
		event_free(r->acked);
		r->acked = NULL;
		receiver_free(r);
		return NULL;
	}
	return r;
}

void
receiver_free(struct receiver *r)
{
	if (r == NULL)
		return;
	if (r->acked != NULL) {
		r->stop = true;
		pthread_join(r->sync_thread, NULL);
		event_free(r->acked);
	}
	if (r->conn != NULL)
		conn_free(r->conn);
	for (size_t i = 0; i < r->nlisteners; i++)
		evconnlistener_free(r->listeners[i]);
	event_free(r->up_ev);
	event_free(r->applied_ev);
	evbuffer_free(r->up_queue);
	pthread_mutex_destroy(&r->up_lock);
	pthread_mutex_destroy(&r->st_lock);
	free(r->raw);
	free(r);
}

void
receiver_set_upstream(struct receiver *r, int upstream)
{
	r->upstream = upstream;
	if (r->conn != NULL && r->conn->peer >= 0 && r->conn->peer != upstream)
		conn_close(r->conn, "%s is no longer this node's upstream", node_name(r->conn->peer));
}

void
receiver_status(const struct receiver *r, struct stream_status *st)
{
	pthread_mutex_lock((pthread_mutex_t *)&r->st_lock);
	*st = r->st;
	pthread_mutex_unlock((pthread_mutex_t *)&r->st_lock);
}
