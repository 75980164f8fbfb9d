/*
 * Journal streams between nodes, over TLS on the channel addresses (port
 * STREAM_PORT, never the heartbeat connections): a sender per downstream
 * node reads this node's journal and ships it; the receiver takes the
 * stream of the one upstream node, appends it to this node's journal,
 * makes it durable and only then acknowledges it (invariant 4).
 *
 * Everything runs on the owner's libevent loop but the receiver's fsyncs,
 * which a thread of its own does so acks never wait on the loop.
 * The loop's base must have been made after evthread_use_pthreads().
 */
#ifndef LIFELINE_STREAM_H
#define LIFELINE_STREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "repl/history.h"
#include "repl/journal.h"
#include "repl/streamwire.h"

/* What senders and the receiver share with their owner. */
struct stream_env {
	struct event_base	*base;
	const struct config	*conf;
	enum node_id		 self;
	SSL_CTX			*server_ctx, *client_ctx;
	struct journal		*journal;
	struct history		*history;        /* this journal's; the receiver extends it */
	const char		*history_path;
	const char		*quarantine_dir; /* STATE_DIR/quarantine */
	_Atomic uint64_t	 epoch;          /* the node's persisted epoch, kept current by the owner */
	_Atomic uint64_t	 applied_seq;    /* the applier's position, for POS and ACK */
	_Atomic bool		 needs_check;    /* this copy is known to differ somewhere */
	_Atomic bool		 needs_touched;  /* it lacks records whose files are listed as
						    touched: a targeted check brings it back */
	_Atomic uint64_t	 up_dropped;     /* UP messages dropped for want of a connection */
	/* Called on the loop when the receiver made records durable (a relay wakes its sender). */
	void			(*on_durable)(void *arg, uint64_t durable_seq);
	/*
	 * Called on the loop when a divergent tail was cut: records after
	 * keep_seq are gone from the journal, saved in the file saved. true:
	 * the owner sees to the check the copy now needs (it lists the
	 * entries the tail changed for a targeted one); false, or with no
	 * callback, the copy is marked as needing a full check (needs_check).
	 */
	bool			(*on_cut)(void *arg, uint64_t keep_seq, const char *saved);
	/*
	 * Called on the loop with what a downstream node sent up (UP): the
	 * wants of a check, or STREAM_UP_CHECK, also when its POS says its
	 * copy needs a check. body is valid during the call only.
	 */
	void			(*on_up)(void *arg, enum node_id from, unsigned kind,
				    const uint8_t *body, size_t len);
	/*
	 * Called on the loop when the upstream no longer holds records this
	 * journal lacks (SKIP, a quota cut upstream): the owner drops what
	 * the journal holds and goes on at next_seq (journal_skip_to), the
	 * copy then waiting for a targeted check. 0 when done; -1 with why
	 * when not now (the connection is closed and the skip comes again).
	 */
	int			(*on_skip)(void *arg, uint64_t next_seq, char *why, size_t whylen);
	/*
	 * Called on the loop when the upstream says a check of this copy ended
	 * at seq, covering the lists (STREAM_UP_TARGETS) of these tokens.
	 */
	void			(*on_checked)(void *arg, uint64_t seq, const uint64_t *tokens,
				    size_t ntokens);
	void			*arg;
};

struct sender;
struct receiver;

/*
 * Start shipping to peer: dial its channel addresses in order until one
 * answers, find where its journal stands (POS), cut its divergent tail if
 * it has one (CUT), then send records from there, consumer being the
 * journal consumer that tracks what peer acknowledged. codec is the DR
 * hop's choice; bandwidth (bytes/s, 0 = unlimited) limits it.
 */
struct sender	*sender_new(struct stream_env *env, enum node_id peer, int consumer,
		    enum stream_codec codec, uint64_t bandwidth);
void		 sender_free(struct sender *s);

/* Records were appended: ship them. Safe from any thread. */
void		 sender_wake(struct sender *s);

struct stream_status {
	bool		connected;
	char		state[24];       /* "connecting", "handshake", "streaming", "refused" */
	uint64_t	sent_seq;        /* last seq written to the connection */
	uint64_t	durable_seq;     /* peer's: acknowledged */
	uint64_t	applied_seq;     /* peer's */
	uint64_t	raw_bytes, wire_bytes;
	uint64_t	last_ack_ms;     /* monotonic */
	uint64_t	starts;          /* receiver: STARTs heard, one per connection in step */
	char		last_error[192];
};
void		 sender_status(const struct sender *s, struct stream_status *st);

/*
 * Tell the peer a check of its copy ended at seq (CHECKED), covering the
 * lists of these tokens (at most STREAM_CHECKED_TOKENS), when streaming.
 */
void		 sender_send_checked(struct sender *s, uint64_t seq, const uint64_t *tokens,
		    size_t ntokens);

/*
 * Listen on this node's channel addresses and accept the stream of the
 * upstream node only (receiver_set_upstream; -1 accepts none). NULL with
 * err when no address can be listened on.
 */
struct receiver	*receiver_new(struct stream_env *env, char *err, size_t errlen);
void		 receiver_free(struct receiver *r);
void		 receiver_set_upstream(struct receiver *r, int upstream);
void		 receiver_status(const struct receiver *r, struct stream_status *st);

/* The applier moved on (env->applied_seq): ACK it even when nothing new is durable. Any thread. */
void		 receiver_applied(struct receiver *r);

/*
 * Send UP to the upstream node. Safe from any thread: queued, and written
 * before the next ACK, so an ACK that says a record is applied never
 * overtakes the wants that applying it produced. Dropped (logged) when
 * there is no connection: the copy then still needs a check, which its
 * next POS says.
 */
void		 receiver_send_up(struct receiver *r, unsigned kind, const uint8_t *body,
		    size_t len);

#endif
