/*
 * The failover rules (ARCHITECTURE.md, "Control plane: failover rules") in
 * one place. Nothing here does anything: decide() only reads its inputs and
 * says what the engine must do now, and why.
 */
#include "engine/decide.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/util.h"

static const char *const action_names[] = {
	[ACT_NONE] = "none",
	[ACT_FAILOVER] = "failover",
	[ACT_DEMOTE] = "demote",
	[ACT_SWITCHOVER_TO] = "switchover",
	[ACT_RESUME_ACTIVE] = "resume-active",
	[ACT_WAIT] = "wait",
	[ACT_VETO] = "veto",
};

static const char *const veto_names[] = {
	[VETO_NONE] = "none",
	[VETO_NOT_IN_SYNC] = "not-in-sync",
	[VETO_ACTIVE_STILL_VISIBLE] = "active-still-visible",
	[VETO_NO_PUBLIC_CONNECTIVITY] = "no-public-connectivity",
	[VETO_DR_NEVER_AUTOMATIC] = "dr-never-automatic",
	[VETO_TERTIARY_DISAGREES] = "tertiary-disagrees",
	[VETO_AUTO_OFF] = "auto-off",
	[VETO_NEVER_SYNCED] = "never-synced",
	[VETO_NO_PASSIVE] = "no-passive",
};

const char *
action_name(enum action action)
{
	return (unsigned)action < nitems(action_names) ? action_names[action] : "?";
}

const char *
veto_name(enum veto veto)
{
	return (unsigned)veto < nitems(veto_names) ? veto_names[veto] : "?";
}

static void say(struct decision *, enum action, enum veto, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static void
say(struct decision *out, enum action action, enum veto veto,
    const char *fmt, ...)
{
	va_list ap;

	out->action = action;
	out->veto = veto;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

/* A peer of this node in this mode (the tertiary exists only in ha+dr). */
static bool
is_peer(const struct decide_state *st, int n)
{
	return n >= 0 && n < NODE_COUNT && n != (int)st->self &&
	    config_mode_has(st->mode, n);
}

/* Its heartbeats reached us within the failover timeout. */
static bool
heard(const struct decide_state *st, const struct peer_obs *p)
{
	return p->met && p->silent_ms < st->timeout_ms;
}

/* Nothing from any peer within the timeout: every channel is lost. */
static bool
none_heard(const struct decide_state *st, const struct observations *obs)
{
	int n;

	for (n = 0; n < NODE_COUNT; n++)
		if (is_peer(st, n) && heard(st, &obs->peer[n]))
			return false;
	return true;
}

static bool
none_met(const struct decide_state *st, const struct observations *obs)
{
	int n;

	for (n = 0; n < NODE_COUNT; n++)
		if (is_peer(st, n) && obs->peer[n].met)
			return false;
	return true;
}

/*
 * Whether the heard peers are enough to know the highest epoch (rule 8).
 * In a pair, the one peer. In a trio the tertiary sees every change of the
 * active (an HA failover needs its vote, the new active announces its epoch
 * the moment it is on disk, and a switchover to it or a forced make-active
 * on it happens there), so its word is enough for an HA node;
 * the tertiary itself needs both HA nodes, since either might have been
 * forced active while it was down. Sets *missing to a node not heard.
 */
static bool
knows_epoch(const struct decide_state *st, const struct observations *obs,
    int *missing)
{
	int n;

	if (st->mode == MODE_HA_DR && st->self != NODE_TERTIARY) {
		*missing = NODE_TERTIARY;
		return heard(st, &obs->peer[NODE_TERTIARY]);
	}
	for (n = 0; n < NODE_COUNT; n++) {
		if (is_peer(st, n) && !heard(st, &obs->peer[n])) {
			*missing = n;
			return false;
		}
	}
	return true;
}

/*
 * Rule 8, on a passive node that was the active of its epoch and that no
 * peer has shown to be out of date.
 */
static void
resume(const struct decide_state *st, const struct observations *obs,
    struct decision *out)
{
	uint64_t epoch = st->persisted.epoch;
	int missing = -1;

	if (knows_epoch(st, obs, &missing)) {
		say(out, ACT_RESUME_ACTIVE, VETO_NONE, "holds the highest epoch "
		    "%llu and was active in it", (unsigned long long)epoch);
		return;
	}
	/*
	 * Before a stand-by's first sync no node can have failed over (rule 5),
	 * so the recorded active may serve alone; but not while another MAC
	 * claims the public IP (a forced node, or a conflict): a second claim
	 * would only add to it.
	 */
	if (!st->persisted.ever_in_sync) {
		if (obs->foreign_garp)
			say(out, ACT_WAIT, VETO_NONE, "was active in epoch %llu; "
			    "another MAC claims the public IP",
			    (unsigned long long)epoch);
		else
			say(out, ACT_RESUME_ACTIVE, VETO_NONE, "active in epoch "
			    "%llu; no stand-by was ever in sync, so none can have "
			    "taken over", (unsigned long long)epoch);
		return;
	}
	if (none_met(st, obs))
		say(out, ACT_WAIT, VETO_NONE, "was active in epoch %llu; met no "
		    "peer since start, cannot know whether the epoch moved on",
		    (unsigned long long)epoch);
	else
		say(out, ACT_WAIT, VETO_NONE, "was active in epoch %llu; waiting "
		    "to hear %s before serving again", (unsigned long long)epoch,
		    node_name(missing));
}

/*
 * Rule 1 and its refusals (rules 4 and 5), on a passive node whose active
 * has been silent on every channel for the timeout. The vetoes go from the
 * most lasting cause to the most passing one, so the reason shown is the
 * one an administrator must fix first.
 */
static void
failover(const struct decide_state *st, const struct observations *obs,
    int active, struct decision *out)
{
	const struct peer_obs *a = &obs->peer[active];
	const struct peer_obs *t = &obs->peer[NODE_TERTIARY];
	const char *an = node_name(active);
	unsigned long long silent = a->silent_ms;

	if (st->mode == MODE_DR || st->self == NODE_TERTIARY ||
	    active == NODE_TERTIARY) {
		say(out, ACT_VETO, VETO_DR_NEVER_AUTOMATIC, "%s silent for %llu "
		    "ms; a DR move is never automatic: switchover or make-active "
		    "--force", an, silent);
		return;
	}
	if (!st->auto_failover) {
		say(out, ACT_VETO, VETO_AUTO_OFF, "%s silent for %llu ms; "
		    "automatic failover is off", an, silent);
		return;
	}
	if (!st->persisted.ever_in_sync) {
		say(out, ACT_VETO, VETO_NEVER_SYNCED, "%s silent for %llu ms; "
		    "this node was never in sync", an, silent);
		return;
	}
	if (!obs->in_sync) {
		say(out, ACT_VETO, VETO_NOT_IN_SYNC, "%s silent for %llu ms; "
		    "this node's copy is not in sync", an, silent);
		return;
	}
	if (obs->ping_lost_ms > 0) {
		say(out, ACT_VETO, VETO_NO_PUBLIC_CONNECTIVITY, "%s silent for "
		    "%llu ms; this node has not reached its ping targets for "
		    "%llu ms", an, silent,
		    (unsigned long long)obs->ping_lost_ms);
		return;
	}
	/* Only the channels failed: the active still serves. */
	if (obs->public_arp || obs->active_mgmt_ping) {
		say(out, ACT_VETO, VETO_ACTIVE_STILL_VISIBLE, "%s silent for "
		    "%llu ms on the channels but answers %s", an, silent,
		    obs->public_arp ? "for the public IP" : "on its management IP");
		return;
	}
	if (st->mode == MODE_HA_DR && !heard(st, t)) {
		say(out, ACT_VETO, VETO_TERTIARY_DISAGREES, "%s silent for %llu "
		    "ms; the tertiary is not heard to confirm", an, silent);
		return;
	}
	if (st->mode == MODE_HA_DR && !t->active_lost) {
		say(out, ACT_VETO, VETO_TERTIARY_DISAGREES, "%s silent for %llu "
		    "ms; the tertiary still hears it", an, silent);
		return;
	}
	out->epoch = st->persisted.epoch + 1;
	say(out, ACT_FAILOVER, VETO_NONE, "%s silent for %llu ms on every "
	    "channel and not visible on the public network; taking epoch %llu",
	    an, silent, (unsigned long long)out->epoch);
}

/* The passive half; decide() explains the order. */
static void
decide_passive(const struct decide_state *st, const struct observations *obs,
    struct decision *out)
{
	uint64_t epoch = st->persisted.epoch;
	int n, active = st->persisted.active;

	for (n = 0; n < NODE_COUNT; n++) {
		const struct peer_obs *p = &obs->peer[n];

		if (is_peer(st, n) && heard(st, p) && p->role == ROLE_ACTIVE &&
		    p->epoch >= epoch) {
			say(out, ACT_NONE, VETO_NONE, "passive; %s is active in "
			    "epoch %llu", node_name(n),
			    (unsigned long long)p->epoch);
			return;
		}
	}
	for (n = 0; n < NODE_COUNT; n++) {
		const struct peer_obs *p = &obs->peer[n];

		if (is_peer(st, n) && p->met && p->epoch > epoch) {
			say(out, ACT_WAIT, VETO_NONE, "%s holds epoch %llu, newer "
			    "than ours (%llu)", node_name(n),
			    (unsigned long long)p->epoch,
			    (unsigned long long)epoch);
			return;
		}
	}
	if (active == (int)st->self) {
		resume(st, obs, out);
		return;
	}
	if (!is_peer(st, active)) {
		say(out, ACT_WAIT, VETO_NONE, "no node of this cluster was "
		    "active in epoch %llu; make-active --force ends the wait",
		    (unsigned long long)epoch);
		return;
	}
	if (!obs->peer[active].met) {
		if (none_met(st, obs))
			say(out, ACT_WAIT, VETO_NONE, "met no peer since start; "
			    "cannot know the epoch");
		else
			say(out, ACT_WAIT, VETO_NONE, "has not heard %s, the "
			    "active of epoch %llu, since start", node_name(active),
			    (unsigned long long)epoch);
		return;
	}
	if (heard(st, &obs->peer[active])) {
		say(out, ACT_NONE, VETO_NONE, "passive; %s, the active of epoch "
		    "%llu, is heard", node_name(active),
		    (unsigned long long)epoch);
		return;
	}
	failover(st, obs, active, out);
}

/*
 * Rules 3 and 6 on the active node: hand over to a passive that is heard
 * and reaches the ping targets, HA partner before tertiary (node order).
 * Rule 3 applies only while such a passive exists; rule 6 was asked for by
 * a service, so its absence is a refusal.
 */
static void
switchover(const struct decide_state *st, const struct observations *obs,
    int rule, struct decision *out)
{
	char why[64];
	int n, to = -1;
	bool any_heard = false;

	if (rule == 3)
		snprintf(why, sizeof(why), "ping targets lost for %llu ms",
		    (unsigned long long)obs->ping_lost_ms);
	else
		snprintf(why, sizeof(why), "a protected service asks for a "
		    "switchover");
	for (n = 0; n < NODE_COUNT && to < 0; n++) {
		const struct peer_obs *p = &obs->peer[n];

		if (!is_peer(st, n) || !heard(st, p) || p->role != ROLE_PASSIVE)
			continue;
		any_heard = true;
		if (p->ping_ok)
			to = n;
	}
	if (to < 0 && rule == 3) {
		say(out, ACT_NONE, VETO_NONE, "active; %s and no passive "
		    "reaches them either", why);
		return;
	}
	if (to < 0) {
		say(out, ACT_VETO, any_heard ? VETO_NO_PUBLIC_CONNECTIVITY :
		    VETO_NO_PASSIVE, "%s; %s", why, any_heard ?
		    "no passive reaches its ping targets" : "no passive is heard");
		return;
	}
	if (st->mode == MODE_DR || st->self == NODE_TERTIARY ||
	    to == NODE_TERTIARY) {
		say(out, ACT_VETO, VETO_DR_NEVER_AUTOMATIC, "%s; a DR move to "
		    "%s is never automatic", why, node_name(to));
		return;
	}
	if (!st->auto_failover) {
		say(out, ACT_VETO, VETO_AUTO_OFF, "%s; automatic failover is "
		    "off", why);
		return;
	}
	if (!st->persisted.ever_in_sync) {
		say(out, ACT_VETO, VETO_NEVER_SYNCED, "%s; no stand-by was ever "
		    "in sync", why);
		return;
	}
	if (!obs->peer[to].in_sync) {
		say(out, ACT_VETO, VETO_NOT_IN_SYNC, "%s; %s is not in sync",
		    why, node_name(to));
		return;
	}
	out->target = to;
	say(out, ACT_SWITCHOVER_TO, VETO_NONE, "%s; %s reaches them and is in "
	    "sync", why, node_name(to));
}

/*
 * Two nodes active in one epoch (a fault elsewhere): whether this node is
 * the one that stays. Both sides must pick the same survivor from what
 * both know: the node both persisted records name as the active of the
 * epoch, or, when they disagree, node order (primary, secondary, tertiary).
 */
static bool
keeps_role(const struct decide_state *st, int peer, const struct peer_obs *p)
{
	if (p->active == st->persisted.active &&
	    (p->active == (int)st->self || p->active == peer))
		return p->active == (int)st->self;
	return (int)st->self < peer;
}

/* The active half; decide() explains the order. */
static void
decide_active(const struct decide_state *st, const struct observations *obs,
    struct decision *out)
{
	uint64_t epoch = st->persisted.epoch;
	int n;

	for (n = 0; n < NODE_COUNT; n++) {
		const struct peer_obs *p = &obs->peer[n];

		if (!is_peer(st, n) || !p->met || p->role != ROLE_ACTIVE)
			continue;
		if (p->epoch > epoch) {
			say(out, ACT_DEMOTE, VETO_NONE, "%s is active in epoch "
			    "%llu, newer than ours (%llu)", node_name(n),
			    (unsigned long long)p->epoch,
			    (unsigned long long)epoch);
			return;
		}
		if (p->epoch == epoch && !keeps_role(st, n, p)) {
			say(out, ACT_DEMOTE, VETO_NONE, "%s is also active in "
			    "epoch %llu and %s", node_name(n),
			    (unsigned long long)epoch,
			    p->active == n && st->persisted.active == n ?
			    "both records name it" : "outranks this node");
			return;
		}
	}
	if (obs->foreign_garp && none_heard(st, obs)) {
		say(out, ACT_DEMOTE, VETO_NONE, "every channel lost and another "
		    "MAC claims the public IP");
		return;
	}
	if (none_heard(st, obs) && obs->ping_lost_ms >= st->timeout_ms) {
		say(out, ACT_DEMOTE, VETO_NONE, "every channel and the ping "
		    "targets lost for %llu ms",
		    (unsigned long long)obs->ping_lost_ms);
		return;
	}
	if (obs->ping_lost_ms >= st->timeout_ms) {
		switchover(st, obs, 3, out);
		return;
	}
	if (obs->service_switchover) {
		switchover(st, obs, 6, out);
		return;
	}
	say(out, ACT_NONE, VETO_NONE, "active in epoch %llu",
	    (unsigned long long)epoch);
}

/*
 * Call every heartbeat tick and act on the answer. The role splits the
 * rules in two, and the first check that applies gives the answer.
 *
 * An active node can only keep serving, stop, or hand over:
 *  1. a peer active in a newer epoch, or outranking it in its own: demote.
 *     First, because it proves this node must not serve (invariant 1).
 *  2. Rule 7, every channel lost and the public IP claimed: demote at once.
 *  3. Rule 2, every channel and the ping targets lost for the timeout:
 *     demote. After rule 7, which needs no timeout.
 *  4. Rule 3, ping targets lost for the timeout: switch over to a passive
 *     that reaches them.
 *  5. Rule 6, a service's action list ends in a switchover. (The list
 *     itself lives with the services; decide() only judges the handover.)
 *  The demotes come before the switchovers: a node with no channel left
 *  cannot hand over cleanly, and one that must stop should not try.
 *
 * A passive node can only stay, resume or take over:
 *  1. a heard peer active in our epoch or a newer one: follow it.
 *  2. a peer ahead of our epoch: wait. Acting on an old view would take
 *     an epoch that is already taken.
 *  3. Rule 8, the node recorded active in the epoch resumes once the peers
 *     it hears prove nobody moved the epoch on, else it waits.
 *  4. Rule 1, any other node watches the recorded active and takes over
 *     when it is lost, unless a veto applies (rules 1, 4 and 5).
 *
 * In both halves what protects invariant 1 is checked before what restores
 * service: a wrong "become active" cannot be undone, a late one costs a
 * heartbeat.
 */
void
decide(const struct decide_state *st, const struct observations *obs,
    struct decision *out)
{
	out->action = ACT_NONE;
	out->veto = VETO_NONE;
	out->target = -1;
	out->epoch = st->persisted.epoch;
	out->reason[0] = '\0';

	if (st->role == ROLE_ACTIVE)
		decide_active(st, obs, out);
	else
		decide_passive(st, obs, out);
}
