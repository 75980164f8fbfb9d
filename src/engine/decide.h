/*
 * The failover rules of ARCHITECTURE.md ("Control plane: failover rules")
 * as one pure function: what this node knows and what it observes in, the
 * one action to take now out. The caller does every side effect.
 */
#ifndef LIFELINE_DECIDE_H
#define LIFELINE_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "engine/engine.h"
#include "engine/state.h"

#define DECIDE_REASON_LEN 160          /* fits struct engine's waiting[] */

enum action {
	ACT_NONE,          /* nothing to change; reason says why all is as it is */
	ACT_FAILOVER,      /* persist epoch + 1 with self active, then serve */
	ACT_DEMOTE,        /* stop services, raise the filter, stay passive */
	ACT_SWITCHOVER_TO, /* managed switchover to target (rules 3 and 6) */
	ACT_RESUME_ACTIVE, /* serve again in the persisted epoch (rule 8) */
	ACT_WAIT,          /* stay passive, unable to decide; show reason in status */
	ACT_VETO           /* a change of the active node was due but is refused */
};

enum veto {
	VETO_NONE,
	VETO_NOT_IN_SYNC,            /* the would-be active's copy is not in sync */
	VETO_ACTIVE_STILL_VISIBLE,   /* the active answers on the public network */
	VETO_NO_PUBLIC_CONNECTIVITY, /* the would-be active misses its ping targets */
	VETO_DR_NEVER_AUTOMATIC,     /* mode dr, or a move to or from the tertiary */
	VETO_TERTIARY_DISAGREES,     /* trio: the tertiary does not report the active lost */
	VETO_AUTO_OFF,               /* [failover] auto = no */
	VETO_NEVER_SYNCED,           /* no stand-by was ever in sync */
	VETO_NO_PASSIVE              /* rule 6: no passive heard to hand over to */
};

/* What this node knows of itself: configuration and persisted state. */
struct decide_state {
	enum node_id      self;          /* this node's identity */
	enum cluster_mode mode;          /* ha, dr or ha+dr */
	enum role         role;          /* this node's role now */
	struct node_state persisted;     /* epoch, node active in it, ever_in_sync, as on disk */
	bool              auto_failover; /* [failover] auto */
	uint64_t          timeout_ms;    /* [failover] timeout */
};

/*
 * What this node knows of one peer, from its heartbeats. A peer is "lost"
 * when never met or silent_ms >= timeout_ms, "heard" otherwise.
 */
struct peer_obs {
	bool     met;          /* heard at least once since lifelined started */
	uint64_t silent_ms;    /* ms since its last heartbeat on any channel; ignored unless met */
	uint64_t epoch;        /* epoch carried by its last heartbeat */
	enum role role;        /* role carried by its last heartbeat; ignored unless met */
	int      active;       /* node its last heartbeat holds active in that epoch, -1 none */
	bool     ping_ok;      /* its last heartbeat says it reaches its public ping targets */
	bool     active_lost;  /* its last heartbeat says it has lost the active (tertiary vote) */
	bool     in_sync;      /* active: its copy is in sync with ours (replication state) */
};

/* What this node observes now; filled every heartbeat tick. */
struct observations {
	struct peer_obs peer[NODE_COUNT]; /* by enum node_id; self and nodes outside the mode ignored */
	bool     in_sync;          /* passive: our copy was in sync when the active was last heard */
	uint64_t ping_lost_ms;     /* ms since this node last reached its ping targets, 0 = reaches them */
	bool     public_arp;       /* an ARP probe of the public IP is answered (passive) */
	bool     active_mgmt_ping; /* the active's management IP answers ping (passive) */
	bool     foreign_garp;     /* another MAC recently claimed the public IP by gratuitous ARP */
	bool     service_switchover; /* a protected service's action list reached "switchover" (rule 6) */
};

/* The one action to take now. */
struct decision {
	enum action action;      /* what to do now */
	enum veto   veto;        /* ACT_VETO only, else VETO_NONE */
	int         target;      /* ACT_SWITCHOVER_TO: enum node_id to hand over to, else -1 */
	uint64_t    epoch;       /* ACT_FAILOVER: epoch to persist before serving (ours + 1), else ours */
	char        reason[DECIDE_REASON_LEN]; /* one human line, never empty */
};

/*
 * Decide what this node must do now. Pure: reads st and obs, writes only
 * *out, no I/O, no clock, no globals; call it every heartbeat tick and act
 * on the answer. Administrator commands (switchover, make-active --force)
 * are not inputs: they act on their own, so the "unless forced" of rule 5
 * is theirs, and decide() sees their result in st on the next tick.
 */
void decide(const struct decide_state *st, const struct observations *obs,
    struct decision *out);

/* Lower-case words for events and JSON: "failover", "not-in-sync", ... */
const char *action_name(enum action action);
const char *veto_name(enum veto veto);

#endif
