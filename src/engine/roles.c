/*
 * The role state machine: observations in, decide() in the middle, side
 * effects out. The probes of the public network feed it: ping targets
 * (does this node reach the public network?), and on a passive, when the
 * active falls silent, an ARP probe of the public IP and a ping of the
 * active's management address (is the active really gone?). A watch for
 * gratuitous ARPs tells an isolated active that another node took over.
 */
#include "engine/roles.h"
#include "engine/decide.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/filter.h"
#include "engine/garp.h"
#include "engine/identity.h"
#include "engine/membership.h"
#include "engine/probe.h"
#include "engine/replication.h"
#include "engine/services.h"
#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PING_ROUND_MS     500     /* a ping round's timeout */
#define PING_EVERY_MS     200     /* how often the ping targets are probed */
#define MGMT_PING_EVERY_MS 100    /* a silent active's management address, as often */
#define TICK_MS           20      /* decide() this often: a failover lands within
				     TICK_MS of the timeout, not within a heartbeat */
#define PROBE_FRESH_MS    500     /* an ARP or management answer counts this long */
#define GARP_BURSTS       3       /* announcements after a promotion, 500 ms apart */
#define FOREIGN_GARP_MS   3000    /* a claim by another MAC counts this long */
#define SWITCH_DRAIN_MS   60000   /* a switchover waits so long for the queue to drain */

struct roles {
	struct engine      *e;
	struct event       *tick;
	bool                filtered;
	/* ping targets of the public network */
	struct ipaddr       targets[CONFIG_MAX_PING];
	size_t              ntargets;
	struct probe_ping  *ping;
	uint64_t            ping_ok_ms;       /* last answer from any target */
	uint64_t            ping_next_ms;     /* next round due */
	/* a passive's look at a silent active */
	struct probe_ping  *mgmt_ping;
	int                 mgmt_node;        /* whose management IP mgmt_ping pings */
	uint64_t            mgmt_ok_ms;
	uint64_t            mgmt_next_ms;
	struct probe_arp   *arp;
	uint64_t            arp_ok_ms;
	/* another MAC claiming the public IP */
	struct probe_garp  *garp_watch;
	uint64_t            foreign_garp_ms;
	/* heard an active that knows a stand-by exists, since start (rule 8) */
	bool                heard_active;
	/* applications stopping after a demotion: the capture stays until they are down */
	bool                apps_stopping;
	void              (*apps_stopped)(void *);
	/* lifeline-repl in sync, as last seen while the active was heard */
	bool                data_in_sync;
	uint64_t            data_down_ms;     /* its stream seen down since, the active heard */
	/* the capture did not come up: said once */
	bool                capture_failed;
	struct event       *garp_ev;
	int                 garp_left;
	int                 switching_to;     /* a switchover from here under way, or -1 */
	bool                held;             /* cluster stop: decide nothing more */
	struct decision     last;             /* to log a decision once, not every tick */
};

/* The default IPv4 gateway from /proc/net/route: the ping target by default. */
static int
default_gateway(struct ipaddr *gw)
{
	char *text = read_file("/proc/net/route", 1 << 20, NULL), *line, *save = NULL;
	int rc = -1;

	if (text == NULL)
		return -1;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char ifname[32];
		unsigned dest, gateway, flags;

		if (sscanf(line, "%31s %x %x %x", ifname, &dest, &gateway, &flags) == 4 &&
		    dest == 0 && gateway != 0) {
			memset(gw, 0, sizeof(*gw));
			gw->family = AF_INET;
			gw->v4.s_addr = gateway;   /* the file holds it in network order */
			gw->prefix = -1;
			rc = 0;
			break;
		}
	}
	free(text);
	return rc;
}

static void
on_ping(void *arg, int target, bool answered, double rtt_ms)
{
	struct roles *r = arg;

	if (answered)
		r->ping_ok_ms = now_mono_ms();
}

static void
on_mgmt_ping(void *arg, int target, bool answered, double rtt_ms)
{
	struct roles *r = arg;

	if (answered)
		r->mgmt_ok_ms = now_mono_ms();
}

static void
on_arp(void *arg, bool answered, const uint8_t mac[6])
{
	struct roles *r = arg;

	if (answered)
		r->arp_ok_ms = now_mono_ms();
	probe_arp_free(r->arp);
	r->arp = NULL;
}

static void
on_foreign_garp(void *arg, const uint8_t mac[6])
{
	struct roles *r = arg;

	/*
	 * Only a claim seen while this node serves means another node took
	 * over; while passive, the active answering our own ARP probes looks
	 * the same and must not count once we promote.
	 */
	if (r->e->role != ROLE_ACTIVE)
		return;
	event(r->e, EV_WARNING, "role", "another node (%02x:%02x:%02x:%02x:%02x:%02x) claims the public IP",
	    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	r->foreign_garp_ms = now_mono_ms();
}

static uint64_t
ping_lost_ms(const struct roles *r, uint64_t now)
{
	uint64_t since = now - r->ping_ok_ms;

	return since > r->e->conf->timeout_ms ? since : 0;
}

/*
 * A passive whose active has gone silent looks for it on the public
 * network, so that decide() can tell a dead active from a cut channel.
 */
static void
probe_silent_active(struct roles *r, const struct peer_view *active, int active_node)
{
	struct engine *e = r->e;
	const struct node_conf *me = &e->conf->nodes[e->self];
	char err[256];

	if (active->silent_ms < 3 * e->conf->heartbeat_ms)
		return;
	if (r->arp == NULL && me->public_addr.family == AF_INET) {
		r->arp = probe_arp_start(e->base, me->public_if, &me->public_addr,
		    PROBE_FRESH_MS / 2, on_arp, r, err, sizeof(err));
		if (r->arp == NULL)
			log_debug("ARP probe: %s", err);
	}
	if (r->mgmt_node != active_node) {
		struct ipaddr mgmt = e->conf->nodes[active_node].management;

		probe_ping_free(r->mgmt_ping);
		mgmt.prefix = -1;
		r->mgmt_ping = probe_ping_new(e->base, &mgmt, 1, on_mgmt_ping, r, err, sizeof(err));
		r->mgmt_node = r->mgmt_ping != NULL ? active_node : -1;
		if (r->mgmt_ping == NULL)
			log_warnx("cannot ping the active's management address: %s", err);
	}
	if (r->mgmt_ping != NULL && !probe_ping_busy(r->mgmt_ping) && now_mono_ms() >= r->mgmt_next_ms) {
		r->mgmt_next_ms = now_mono_ms() + MGMT_PING_EVERY_MS;
		probe_ping_send(r->mgmt_ping, PROBE_FRESH_MS / 2, err, sizeof(err));
	}
}

/*
 * Is this passive's copy in sync, judged while the active is heard? A
 * stream that is down counts as in sync for failover.timeout (the active
 * may be gone with it; its fsync-mode waits go on twice as long, so no
 * acknowledged write is missed), then as behind.
 */
static void
judge_data(struct roles *r, uint64_t now)
{
	switch (replication_view(r->e->replication)) {
	case REPL_VIEW_IN_SYNC:
		r->data_in_sync = true;
		r->data_down_ms = 0;
		break;
	case REPL_VIEW_DISCONNECTED:
		if (r->data_down_ms == 0)
			r->data_down_ms = now;
		else if (now - r->data_down_ms >= r->e->conf->timeout_ms)
			r->data_in_sync = false;
		break;
	case REPL_VIEW_BEHIND:
		r->data_in_sync = false;
		r->data_down_ms = 0;
		break;
	case REPL_VIEW_UNKNOWN:
		break;
	}
}

static void
fill_observations(struct roles *r, struct decide_state *st, struct observations *obs)
{
	struct engine *e = r->e;
	uint64_t now = now_mono_ms();

	memset(st, 0, sizeof(*st));
	memset(obs, 0, sizeof(*obs));
	st->self = e->self;
	st->mode = e->conf->mode;
	st->role = e->role;
	st->persisted = e->state;
	st->auto_failover = e->conf->auto_failover;
	st->timeout_ms = e->conf->timeout_ms;
	for (int id = 0; id < NODE_COUNT; id++) {
		struct peer_view v;
		struct peer_obs *p = &obs->peer[id];

		if (id == (int)e->self || !config_mode_has(e->conf->mode, id) || e->membership == NULL)
			continue;
		membership_peer(e->membership, id, &v);
		p->met = v.met;
		p->silent_ms = v.silent_ms;
		p->epoch = v.epoch;
		p->role = v.role == ROLE_ACTIVE ? ROLE_ACTIVE : ROLE_PASSIVE;
		p->active = v.active;
		p->ping_ok = v.flags & WIRE_HB_PING_OK;
		p->active_lost = v.flags & WIRE_HB_ACTIVE_LOST;
		p->in_sync = v.flags & WIRE_HB_IN_SYNC;
		/*
		 * In sync (for now: has heard the active) only once the active
		 * has recorded on its disk that a stand-by exists; otherwise an
		 * active that crashed before recording it could start alone
		 * (rule 8) while this node fails over.
		 */
		if (v.alive && v.role == ROLE_ACTIVE && (v.flags & WIRE_HB_STANDBY_KNOWN))
			r->heard_active = true;
		/*
		 * The copy's state counts as it was while the active was heard:
		 * its stream ends with it, and that must not veto the failover.
		 */
		if (v.alive && v.role == ROLE_ACTIVE)
			judge_data(r, now);
		if (e->role == ROLE_PASSIVE && id == e->state.active && v.met)
			probe_silent_active(r, &v, id);
	}
	/* In sync: the active is known to have a stand-by, and our copy keeps up with it. */
	obs->in_sync = r->heard_active && r->data_in_sync;
	obs->ping_lost_ms = ping_lost_ms(r, now);
	obs->public_arp = r->arp_ok_ms != 0 && now - r->arp_ok_ms < PROBE_FRESH_MS;
	obs->active_mgmt_ping = r->mgmt_ok_ms != 0 && now - r->mgmt_ok_ms < PROBE_FRESH_MS;
	obs->foreign_garp = r->foreign_garp_ms != 0 && now - r->foreign_garp_ms < FOREIGN_GARP_MS;
}

static void
on_garp_due(evutil_socket_t fd, short what, void *arg)
{
	struct roles *r = arg;
	const struct node_conf *me = &r->e->conf->nodes[r->e->self];
	struct timeval tv = { 0, 500 * 1000 };
	char err[256];

	if (r->e->role != ROLE_ACTIVE || r->garp_left <= 0)
		return;
	if (garp_send(me->public_if, &me->public_addr, 2, err, sizeof(err)) < 0)
		log_warnx("gratuitous ARP: %s", err);
	if (--r->garp_left > 0)
		evtimer_add(r->garp_ev, &tv);
}

/*
 * lifeline-repl applied everything this node received and mounted the
 * capture (or could not: it retries, and the applications wait).
 */
static void
on_capture_ready(void *arg, bool ok, const char *why)
{
	struct roles *r = arg;
	struct engine *e = r->e;

	if (e->role != ROLE_ACTIVE)
		return;
	if (ok) {
		if (r->capture_failed)
			event(e, EV_INFO, "replication", "capture in place: starting the applications");
		r->capture_failed = false;
		services_start_all(e->services);
	} else if (!r->capture_failed) {
		r->capture_failed = true;
		event(e, EV_WARNING, "replication", "applications not started: their writes "
		    "could not be captured: %s; retrying", why);
	}
}

/* Serve: the epoch is already on disk; lift the filter, take the address, announce it. */
static void
promote(struct roles *r, const char *why)
{
	struct engine *e = r->e;
	char err[256];

	e->role = ROLE_ACTIVE;
	e->waiting[0] = '\0';
	r->foreign_garp_ms = 0;
	event(e, EV_INFO, "role", "active in epoch %llu: %s", (unsigned long long)e->state.epoch, why);
	membership_announce(e->membership);
	if (filter_unhide(err, sizeof(err)) < 0)
		log_warnx("cannot lift the filter: %s", err);
	else
		r->filtered = false;
	if (identity_claim(e) < 0) {
		log_warnx("services not started: the public address could not be claimed");
		return;
	}
	r->garp_left = GARP_BURSTS;
	on_garp_due(-1, 0, r);
	/* The applications start once their writes are captured, never before. */
	r->capture_failed = false;
	replication_activate(e->replication, on_capture_ready, r);
}

static void
on_demoted(void *arg)
{
	struct roles *r = arg;

	if (r->e->role == ROLE_PASSIVE)
		identity_release(r->e);
}

/* The applications of a demoted node are down: the capture may go now. */
static void
on_apps_stopped(void *arg)
{
	struct roles *r = arg;

	r->apps_stopping = false;
	r->apps_stopped(r);
}

/* Leave the role: hidden first, so the node stops answering at once. */
static void
demote(struct roles *r, const char *why, void (*done)(void *))
{
	struct engine *e = r->e;
	const struct node_conf *me = &e->conf->nodes[e->self];
	char err[256];

	e->role = ROLE_PASSIVE;
	r->data_in_sync = false;         /* until the next active is heard */
	r->data_down_ms = 0;
	event(e, EV_WARNING, "role", "passive: %s", why);
	membership_announce(e->membership);
	if (filter_hide(&me->public_addr, me->public_if, err, sizeof(err)) < 0)
		log_warnx("cannot raise the filter: %s", err);
	else
		r->filtered = true;
	r->apps_stopping = true;
	r->apps_stopped = done;
	services_stop_async(e->services, on_apps_stopped, r);
}

/*
 * The old active's side of a switchover, once its queue is drained: the
 * next epoch, naming the target, goes to disk. Its heartbeats then carry
 * it and the target takes over (follow_active). A queue that did not
 * drain aborts the switchover: the target lacks records, and this node,
 * still the active of its epoch, takes the role back.
 */
static void
on_switch_drained(void *arg, bool ok, const char *why)
{
	struct roles *r = arg;
	struct engine *e = r->e;
	struct node_state next = e->state;

	if (!ok) {
		event(e, EV_WARNING, "role", "switchover to %s aborted: %s; this node stays the "
		    "active of epoch %llu and resumes", node_name(r->switching_to), why,
		    (unsigned long long)e->state.epoch);
		r->switching_to = -1;
		return;
	}
	next.epoch = e->state.epoch + 1;
	next.active = r->switching_to;
	if (state_save(e->conf->state_dir, &next) < 0) {
		event(e, EV_WARNING, "role", "switchover to %s aborted: epoch %llu could not be persisted; "
		    "this node stays passive and decides again", node_name(r->switching_to),
		    (unsigned long long)next.epoch);
	} else {
		e->state = next;
		/* The node that hands over cleanly holds the newest copy: in sync. */
		r->heard_active = true;
		r->data_in_sync = true;
		event(e, EV_INFO, "role", "switchover: handed epoch %llu to %s", (unsigned long long)next.epoch,
		    node_name(next.active));
		membership_announce(e->membership);
	}
	r->switching_to = -1;
}

/* The old active's services are down and its address released: drain the queue. */
static void
on_switch_stopped(void *arg)
{
	struct roles *r = arg;

	identity_release(r->e);
	replication_drain(r->e->replication, SWITCH_DRAIN_MS, on_switch_drained, r);
}

/* The node that takes over by default from the node active now. */
static int
default_target(enum node_id active)
{
	return active == NODE_PRIMARY ? NODE_SECONDARY : NODE_PRIMARY;
}

int
roles_switchover(struct roles *r, int target, int *resolved, char *err, size_t errlen)
{
	struct engine *e = r->e;
	int active = e->role == ROLE_ACTIVE ? (int)e->self : e->state.active;
	struct peer_view v;
	char why[128];

	if (active < 0) {
		snprintf(err, errlen, "no node is known to be active; see lifeline status");
		return -1;
	}
	if (target < 0)
		target = default_target(active);
	*resolved = target;
	if (!config_mode_has(e->conf->mode, target)) {
		snprintf(err, errlen, "%s is not a node of this %s cluster", node_name(target),
		    mode_name(e->conf->mode));
		return -1;
	}
	if (target == active) {
		snprintf(err, errlen, "%s is already active", node_name(target));
		return -1;
	}
	if (e->role != ROLE_ACTIVE) {
		/* Refuse here what the active would refuse, rather than silently there. */
		if (target == (int)e->self && !r->heard_active) {
			snprintf(err, errlen, "this node is not in sync with the active yet");
			return -1;
		}
		if (e->membership == NULL ||
		    membership_send_switchover(e->membership, active, target) < 0) {
			snprintf(err, errlen, "the active node, %s, cannot be reached from here",
			    node_name(active));
			return -1;
		}
		event(e, EV_INFO, "role", "switchover to %s: request sent to the active, %s", node_name(target),
		    node_name(active));
		return 0;
	}
	if (r->switching_to >= 0) {
		snprintf(err, errlen, "a switchover to %s is already under way",
		    node_name(r->switching_to));
		return -1;
	}
	if (e->membership == NULL) {
		snprintf(err, errlen, "this node has no channels (%s)", e->alone);
		return -1;
	}
	membership_peer(e->membership, target, &v);
	if (!v.alive) {
		snprintf(err, errlen, "%s is not reachable on any channel; it must be up to take over",
		    node_name(target));
		return -1;
	}
	if (!(v.flags & WIRE_HB_IN_SYNC)) {
		snprintf(err, errlen, "%s is not in sync; a switchover to it would lose data",
		    node_name(target));
		return -1;
	}
	r->switching_to = target;
	snprintf(why, sizeof(why), "switchover to %s", node_name(target));
	demote(r, why, on_switch_stopped);
	return 0;
}

int
roles_make_active(struct roles *r, char *err, size_t errlen)
{
	struct engine *e = r->e;
	struct node_state next = e->state;
	uint64_t top = e->state.epoch;

	if (e->role == ROLE_ACTIVE) {
		snprintf(err, errlen, "this node is already active in epoch %llu",
		    (unsigned long long)e->state.epoch);
		return -1;
	}
	if (r->switching_to >= 0) {
		snprintf(err, errlen, "a switchover is under way");
		return -1;
	}
	for (int id = 0; id < NODE_COUNT && e->membership != NULL; id++) {
		struct peer_view v;

		if (id == (int)e->self || !config_mode_has(e->conf->mode, id))
			continue;
		membership_peer(e->membership, id, &v);
		if (v.alive && v.role == ROLE_ACTIVE) {
			snprintf(err, errlen, "%s is active and reachable; use lifeline switchover",
			    node_name(id));
			return -1;
		}
		if (v.met && v.epoch > top)
			top = v.epoch;
	}
	next.epoch = top + 1;
	next.active = (int)e->self;
	next.ever_in_sync = true;
	if (state_save(e->conf->state_dir, &next) < 0) {
		snprintf(err, errlen, "epoch %llu could not be persisted", (unsigned long long)next.epoch);
		return -1;
	}
	e->state = next;
	promote(r, "forced by the administrator (lifeline make-active --force)");
	return 0;
}

/* A passive follows the active it hears: its epoch becomes ours, durably. */
static void
follow_active(struct roles *r)
{
	struct engine *e = r->e;

	if (e->role != ROLE_PASSIVE || e->membership == NULL)
		return;
	for (int id = 0; id < NODE_COUNT; id++) {
		struct peer_view v;

		if (id == (int)e->self || !config_mode_has(e->conf->mode, id))
			continue;
		membership_peer(e->membership, id, &v);
		/* A switchover: the old active hands us the next epoch. */
		if (v.alive && v.epoch > e->state.epoch && v.active == (int)e->self) {
			struct node_state next = e->state;

			next.epoch = v.epoch;
			next.active = (int)e->self;
			if (state_save(e->conf->state_dir, &next) == 0) {
				event(e, EV_INFO, "role", "switchover: %s hands this node epoch %llu", node_name(id),
				    (unsigned long long)v.epoch);
				e->state = next;
			}
			continue;
		}
		/*
		 * A passive peer ahead of us tells who is active in its epoch:
		 * learn it too, or this node would vote on a stale active (the
		 * tertiary's "active lost" in a trio) if the new active dies
		 * before we hear it.
		 */
		if (v.alive && v.role == ROLE_PASSIVE && v.epoch > e->state.epoch &&
		    v.active >= 0 && v.active != (int)e->self) {
			struct node_state next = e->state;

			next.epoch = v.epoch;
			next.active = v.active;
			if (state_save(e->conf->state_dir, &next) == 0) {
				event(e, EV_INFO, "role", "learned from %s: %s is active in epoch %llu",
				    node_name(id), node_name(v.active), (unsigned long long)v.epoch);
				e->state = next;
			}
			continue;
		}
		if (!v.alive || v.role != ROLE_ACTIVE)
			continue;
		if (v.epoch > e->state.epoch || (v.epoch == e->state.epoch && e->state.active != id)) {
			struct node_state next = e->state;

			next.epoch = v.epoch;
			next.active = id;
			if (state_save(e->conf->state_dir, &next) == 0) {
				event(e, EV_INFO, "role", "following %s, active in epoch %llu", node_name(id),
				    (unsigned long long)v.epoch);
				e->state = next;
			}
		}
	}
}

/*
 * Record, durably, that a stand-by exists (rule 8). The active records it as
 * soon as it hears a stand-by, before that stand-by may count itself in
 * sync (see WIRE_HB_STANDBY_KNOWN); a stand-by records it once in sync.
 * From then on no node starts active alone.
 */
static void
note_synced_standby(struct roles *r)
{
	struct engine *e = r->e;
	struct node_state next = e->state;
	bool synced = false;

	if (e->state.ever_in_sync)
		return;
	if (e->role == ROLE_PASSIVE)
		synced = r->heard_active;
	for (int id = 0; e->role == ROLE_ACTIVE && id < NODE_COUNT && e->membership != NULL; id++) {
		struct peer_view v;

		if (id == (int)e->self || !config_mode_has(e->conf->mode, id))
			continue;
		membership_peer(e->membership, id, &v);
		synced |= v.alive;
	}
	if (!synced)
		return;
	next.ever_in_sync = true;
	if (state_save(e->conf->state_dir, &next) == 0)
		e->state = next;
}

static void
beat_flags(struct roles *r, const struct observations *obs)
{
	struct engine *e = r->e;
	uint8_t flags = 0;

	if (obs->ping_lost_ms == 0)
		flags |= WIRE_HB_PING_OK;
	if (e->role == ROLE_PASSIVE && obs->in_sync)
		flags |= WIRE_HB_IN_SYNC;
	if (e->role == ROLE_ACTIVE && e->state.ever_in_sync)
		flags |= WIRE_HB_STANDBY_KNOWN;
	if (e->state.active >= 0 && e->state.active != (int)e->self &&
	    (!obs->peer[e->state.active].met ||
	    obs->peer[e->state.active].silent_ms >= e->conf->timeout_ms))
		flags |= WIRE_HB_ACTIVE_LOST;
	e->beat_flags = flags;
}

/* Log a decision when its kind changes, not on every tick. */
static void
report(struct roles *r, const struct decision *d)
{
	bool same = d->action == r->last.action && d->veto == r->last.veto;

	r->last = *d;
	if (same)
		return;
	if (d->action == ACT_VETO)
		event(r->e, EV_WARNING, "veto", "failover vetoed (%s): %s", veto_name(d->veto), d->reason);
	else if (d->action == ACT_WAIT)
		event(r->e, EV_INFO, "role", "waiting: %s", d->reason);
}

static void
act(struct roles *r, const struct decision *d)
{
	struct engine *e = r->e;

	switch (d->action) {
	case ACT_FAILOVER: {
		struct node_state next = e->state;

		next.epoch = d->epoch;
		next.active = (int)e->self;
		/* Invariant 1: the new epoch is on disk before the node serves. */
		if (state_save(e->conf->state_dir, &next) < 0) {
			event(e, EV_WARNING, "role", "failover aborted: epoch %llu could not be persisted",
			    (unsigned long long)d->epoch);
			return;
		}
		e->state = next;
		promote(r, d->reason);
		break;
	}
	case ACT_RESUME_ACTIVE:
		if (e->role != ROLE_ACTIVE)
			promote(r, d->reason);
		break;
	case ACT_DEMOTE:
		if (e->role == ROLE_ACTIVE)
			demote(r, d->reason, on_demoted);
		break;
	case ACT_SWITCHOVER_TO: {
		char err[256];
		int resolved;

		event(e, EV_WARNING, "role", "automatic switchover to %s: %s", node_name(d->target), d->reason);
		if (roles_switchover(r, d->target, &resolved, err, sizeof(err)) < 0)
			event(e, EV_WARNING, "refusal", "automatic switchover refused: %s", err);
		break;
	}
	case ACT_WAIT:
		xstrlcpy(e->waiting, d->reason, sizeof(e->waiting));
		break;
	case ACT_NONE:
	case ACT_VETO:
		if (e->role == ROLE_ACTIVE)
			e->waiting[0] = '\0';
		break;
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct roles *r = arg;
	struct decide_state st;
	struct observations obs;
	struct decision d;
	char err[256];

	if (r->ping != NULL && !probe_ping_busy(r->ping) && now_mono_ms() >= r->ping_next_ms) {
		r->ping_next_ms = now_mono_ms() + PING_EVERY_MS;
		if (probe_ping_send(r->ping, PING_ROUND_MS, err, sizeof(err)) < 0)
			log_debug("ping round: %s", err);
	}
	follow_active(r);
	replication_follow(r->e->replication, !r->apps_stopping && r->switching_to < 0);
	fill_observations(r, &st, &obs);
	/* Persisted before the in-sync flag goes out in a heartbeat. */
	note_synced_standby(r);
	beat_flags(r, &obs);
	/* A switchover from here runs its own course until the epoch is handed on. */
	if (r->switching_to >= 0 || r->held)
		return;
	decide(&st, &obs, &d);
	act(r, &d);
	report(r, &d);
}

void
roles_hold(struct roles *r)
{
	r->held = true;
}

struct roles *
roles_new(struct engine *e, bool resume_active, char *err, size_t errlen)
{
	const struct node_conf *me = &e->conf->nodes[e->self];
	struct roles *r = xcalloc(1, sizeof(*r));
	uint64_t tick = e->conf->heartbeat_ms < TICK_MS ? e->conf->heartbeat_ms : TICK_MS;
	struct timeval tv = { 0, (suseconds_t)tick * 1000 };
	char perr[256];

	r->e = e;
	r->mgmt_node = -1;
	r->switching_to = -1;
	if (resume_active) {
		/* Applications and address were left in place: keep serving. */
		e->role = ROLE_ACTIVE;
		e->public_claimed = true;
		r->heard_active = true;
		r->filtered = false;
	} else {
		e->role = ROLE_PASSIVE;
		if (filter_hide(&me->public_addr, me->public_if, err, errlen) < 0) {
			free(r);
			return NULL;
		}
		r->filtered = true;
	}
	identity_management(e);
	r->ntargets = e->conf->nping;
	memcpy(r->targets, e->conf->ping, sizeof(r->targets));
	if (r->ntargets == 0 && default_gateway(&r->targets[0]) == 0)
		r->ntargets = 1;
	if (r->ntargets == 0)
		log_warnx("no ping target: [failover] ping is not set and there is no default gateway");
	else if ((r->ping = probe_ping_new(e->base, r->targets, r->ntargets, on_ping, r,
	    perr, sizeof(perr))) == NULL)
		log_warnx("cannot ping the public network: %s", perr);
	r->ping_ok_ms = now_mono_ms();         /* grace until the first round reports */
	r->garp_watch = probe_watch_garp(e->base, me->public_if, &me->public_addr,
	    on_foreign_garp, r, perr, sizeof(perr));
	if (r->garp_watch == NULL)
		log_warnx("cannot watch for claims of the public IP: %s", perr);
	r->garp_ev = evtimer_new(e->base, on_garp_due, r);
	r->tick = event_new(e->base, -1, EV_PERSIST, on_tick, r);
	event_add(r->tick, &tv);
	return r;
}

void
roles_free(struct roles *r)
{
	if (r == NULL)
		return;
	event_free(r->tick);
	event_free(r->garp_ev);
	probe_ping_free(r->ping);
	probe_ping_free(r->mgmt_ping);
	probe_arp_free(r->arp);
	probe_garp_free(r->garp_watch);
	free(r);
}

bool
roles_filtered(const struct roles *r)
{
	return r != NULL && r->filtered;
}

json_t *
roles_json(const struct roles *r)
{
	uint64_t now = now_mono_ms();

	return json_pack("{s:s, s:s, s:s?, s:b, s:s}",
	    "decision", action_name(r->last.action),
	    "reason", r->last.reason,
	    "veto", r->last.action == ACT_VETO ? veto_name(r->last.veto) : NULL,
	    "ping_ok", ping_lost_ms(r, now) == 0,
	    "sync_basis", "the data plane: the active knows a stand-by and lifeline-repl is in sync");
}
