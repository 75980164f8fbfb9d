/*
 * Membership: one TLS connection per channel, used only for heartbeats
 * (invariant 7), to every peer the mode has. It tells the engine, for each
 * peer, whether it is alive on any channel, for how long it has been silent,
 * and what its last heartbeat said (epoch, role, who it holds active).
 */
#ifndef LIFELINE_MEMBERSHIP_H
#define LIFELINE_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "common/config.h"
#include "common/wire.h"

#define CHANNEL_BEAT_PORT 9728       /* heartbeat connections on channel addresses */

struct engine;
struct membership;

/* What this node knows of a peer from its heartbeats. */
struct peer_view {
	bool     met;            /* a hello was ever accepted from it since start */
	bool     alive;          /* a heartbeat within failover.timeout on some channel */
	uint64_t silent_ms;      /* since the last heartbeat on any channel (0 if never met) */
	uint64_t epoch;          /* from its last hello or heartbeat */
	int      role;           /* enum role, -1 before the first heartbeat */
	int      active;         /* node it holds active, -1 none */
	uint8_t  flags;          /* WIRE_HB_* of its last heartbeat */
	unsigned channels_up;
	unsigned channels;
	bool     config_known;   /* its heartbeats carry its config hash (not an older build) */
	char     config_hash[2 * WIRE_HB_HASH_SIZE + 1]; /* hex, of its last heartbeat; "" unknown */
	bool     config_mismatch;/* alive, and it has run another configuration for the grace */
};

/*
 * How long two nodes may run different configurations before it counts
 * as a mismatch: a push reloads the nodes one after the other, a second
 * or so apart, and that is no event.
 */
#define CONFIG_MISMATCH_GRACE_MS 3000

/*
 * Whether a peer's configuration, known from its heartbeats or not, is to
 * be reported as differing from this node's now: it differed since
 * differs_since_ms (0 = it does not differ), for the grace at least.
 * Pure, for the table test.
 */
bool membership_config_mismatch(bool known, uint64_t differs_since_ms, uint64_t now_ms);

/*
 * Start listening on this node's channel addresses and dialing the peers'.
 * Returns NULL with a reason in err when the TLS material cannot be loaded
 * (the engine then runs alone and says why in its status).
 */
struct membership *membership_new(struct engine *e, char *err, size_t errlen);
void membership_free(struct membership *m);

void membership_peer(const struct membership *m, enum node_id peer, struct peer_view *v);

/* Who handles a SWITCHOVER request that a peer sends to this node. */
typedef void membership_switchover_fn(struct engine *e, enum node_id from, enum node_id target);
void membership_on_switchover(struct membership *m, membership_switchover_fn *fn);

/* Who handles the active's answer to a switchover this node forwarded. */
typedef void membership_switch_reply_fn(struct engine *e, enum node_id from, int started,
    int target, const char *reason);
void membership_on_switchover_reply(struct membership *m, membership_switch_reply_fn *fn);

/* Answer a forwarded switchover: started, or refused with why. 0 or -1. */
int membership_send_switchover_reply(struct membership *m, enum node_id peer, int started,
    int target, const char *why);

/* Who handles an ENGINE_STOP from a peer (apps: WIRE_STOP_APPS or WIRE_LEAVE_APPS). */
typedef void membership_stop_fn(struct engine *e, enum node_id from, int apps);
void membership_on_engine_stop(struct membership *m, membership_stop_fn *fn);

/* Send ENGINE_STOP to every peer heard now; returns how many got it. */
int membership_broadcast_stop(struct membership *m, int apps);

/*
 * Ask peer (the active) to hand its role to target, over any live channel.
 * Returns 0 when sent, -1 when no channel to peer is up.
 */
int membership_send_switchover(struct membership *m, enum node_id peer, enum node_id target);

/* Send a heartbeat now on every live channel: the epoch or role changed. */
void membership_announce(struct membership *m);

/* [{"peer","local","remote","up","rtt_ms"}] for the channels to peer. */
json_t *membership_channels_json(const struct membership *m, enum node_id peer);

#endif
