/*
 * The engine's side of the data plane. lifeline-repl knows no roles of its
 * own: every change of this node's role or epoch is sent to it here, as
 * its place in the chain that config_chain() gives for the active node.
 */
#include "engine/replication.h"
#include "engine/engine.h"
#include "engine/replica.h"
#include "engine/events.h"
#include "common/log.h"
#include "common/util.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ROLE_TIMEOUT_MS      5000
#define ACTIVATE_TIMEOUT_MS  130000  /* lifeline-repl gives up applying after 120 s */
#define RETRY_MS             1000
#define EXIT_DRAIN_MS        5000    /* an exit with the applications stopped ships this long */

struct replication {
	struct engine		*e;
	struct replica		*replica;
	/* What lifeline-repl was told and confirmed. */
	bool			 told;
	bool			 told_active;
	uint64_t		 told_epoch;
	int			 told_of;          /* the active node of that epoch */
	bool			 asking;           /* a role request is out */
	uint64_t		 next_try_ms;
	char			 last_error[256];  /* said once, not every retry */
	/* The active's wait for its capture, and the switchover's drain. */
	replication_ready_fn	*ready;
	void			*ready_arg;
	replication_ready_fn	*drained;
	void			*drained_arg;
	uint64_t		 drain_deadline_ms;
	struct event		*drain_ev;
	struct event		*retry_ev;
	void			(*death)(struct engine *e, const char *why);
	bool			 reload_refused;   /* runs settings older than the engine's */
	int64_t			 q_seen;           /* quarantine count already reported, -1 unknown */
	int64_t			 drift_seen;       /* config drift count already reported */
	char			 config_problem[256]; /* the config watcher's, already reported */
	replication_ready_fn	*reloaded;
	void			*reloaded_arg;
};

/* This node's place in the chain of the active node: upstream, and who is next. */
static void
chain_place(const struct engine *e, int active, int *upstream, int *downstream)
{
	enum node_id chain[NODE_COUNT];
	size_t n = active >= 0 ? config_chain(e->conf->mode, active, chain) : 0;

	*upstream = -1;
	*downstream = -1;
	for (size_t i = 0; i < n; i++) {
		if (chain[i] != e->self)
			continue;
		if (i > 0)
			*upstream = chain[i - 1];
		if (i + 1 < n)
			*downstream = chain[i + 1];
	}
}

static json_t *
role_request(const struct engine *e, bool active)
{
	int upstream, downstream;
	json_t *req;

	chain_place(e, active ? (int)e->self : e->state.active, &upstream, &downstream);
	req = json_pack("{s:s, s:s, s:I, s:s?, s:[]}", "cmd", "role",
	    "role", active ? "active" : "passive", "epoch", (json_int_t)e->state.epoch,
	    "active", e->state.active >= 0 ? node_name(e->state.active) : NULL, "downstream");
	if (downstream >= 0)
		json_array_append_new(json_object_get(req, "downstream"),
		    json_string(node_name(downstream)));
	if (!active)
		json_object_set_new(req, "upstream",
		    upstream >= 0 ? json_string(node_name(upstream)) : json_null());
	return req;
}

/* Say a failure once, until it changes or things work again. */
static void
note_error(struct replication *rp, const char *what, const char *why)
{
	char msg[sizeof(rp->last_error)];

	snprintf(msg, sizeof(msg), "%s: %s", what, why);
	if (strcmp(msg, rp->last_error) != 0)
		log_warnx("data plane: %s", msg);
	xstrlcpy(rp->last_error, msg, sizeof(rp->last_error));
	rp->next_try_ms = now_mono_ms() + RETRY_MS;
}

/* The answer's error, or NULL when it says ok. */
static const char *
answer_error(json_t *answer, const char *err)
{
	if (answer == NULL)
		return err != NULL ? err : "no answer";
	if (json_is_true(json_object_get(answer, "ok")))
		return NULL;
	return json_string_value(json_object_get(answer, "error")) ?: "refused without a reason";
}

/* ---- active ---- */

static void send_activate(struct replication *rp);

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	send_activate(arg);
}

static void
on_activated(void *arg, json_t *answer, const char *err)
{
	struct replication *rp = arg;
	struct engine *e = rp->e;
	const char *why = answer_error(answer, err);
	struct timeval tv = { RETRY_MS / 1000, 0 };

	rp->asking = false;
	if (e->role != ROLE_ACTIVE)
		return;                      /* demoted meanwhile: nothing to start */
	if (why != NULL) {
		note_error(rp, "cannot capture", why);
		if (rp->ready != NULL)
			rp->ready(rp->ready_arg, false, why);
		evtimer_add(rp->retry_ev, &tv);
		return;
	}
	rp->told = true;
	rp->told_active = true;
	rp->told_epoch = e->state.epoch;
	rp->told_of = (int)e->self;
	rp->last_error[0] = '\0';
	log_info("data plane: capturing in epoch %" PRIu64 " from seq %" PRIu64,
	    e->state.epoch, (uint64_t)json_integer_value(json_object_get(answer, "last_seq")) + 1);
	if (rp->ready != NULL)
		rp->ready(rp->ready_arg, true, NULL);
}

static void
send_activate(struct replication *rp)
{
	if (rp->e->role != ROLE_ACTIVE || rp->asking)
		return;
	rp->asking = true;
	if (replica_request(rp->replica, role_request(rp->e, true), ACTIVATE_TIMEOUT_MS,
	    on_activated, rp) < 0)
		rp->asking = false;
}

void
replication_activate(struct replication *rp, replication_ready_fn *done, void *arg)
{
	rp->ready = done;
	rp->ready_arg = arg;
	rp->told = false;
	event_del(rp->retry_ev);
	/* A request still out for an older epoch is answered first; then this one goes. */
	if (rp->asking)
		replica_cancel(rp->replica, rp);
	rp->asking = false;
	send_activate(rp);
}

/* ---- switchover ---- */

static void send_drain(struct replication *rp);

/*
 * The drain's answer. When lifeline-repl could not be reached (it died,
 * which may be why the node switches over, and is being started again),
 * ask again until the deadline: a restarted one ships what its journal
 * holds just as well.
 */
static void
on_drained(void *arg, json_t *answer, const char *err)
{
	struct replication *rp = arg;
	const char *why = answer_error(answer, err);
	replication_ready_fn *done = rp->drained;
	struct timeval tv = { 0, 200 * 1000 };

	if (answer == NULL && now_mono_ms() + 200 < rp->drain_deadline_ms) {
		log_debug("data plane: drain: %s; asking again", why);
		evtimer_add(rp->drain_ev, &tv);
		return;
	}
	rp->drained = NULL;
	if (why == NULL)
		log_info("data plane: queue drained up to seq %" PRIu64,
		    (uint64_t)json_integer_value(json_object_get(answer, "last_seq")));
	if (done != NULL)
		done(rp->drained_arg, why == NULL, why);
}

static void
send_drain(struct replication *rp)
{
	struct engine *e = rp->e;
	uint64_t now = now_mono_ms();
	int left = rp->drain_deadline_ms > now ? (int)(rp->drain_deadline_ms - now) : 0;
	int upstream, downstream;
	json_t *req;

	chain_place(e, (int)e->self, &upstream, &downstream);
	req = json_pack("{s:s, s:i, s:[]}", "cmd", "drain", "timeout_ms", left, "downstream");
	if (downstream >= 0)
		json_array_append_new(json_object_get(req, "downstream"),
		    json_string(node_name(downstream)));
	if (replica_request(rp->replica, req, left + 5000, on_drained, rp) < 0) {
		replication_ready_fn *done = rp->drained;

		rp->drained = NULL;
		done(rp->drained_arg, false, "the engine is stopping");
	}
}

static void
on_drain_due(evutil_socket_t fd, short what, void *arg)
{
	send_drain(arg);
}

void
replication_drain(struct replication *rp, int timeout_ms, replication_ready_fn *done, void *arg)
{
	rp->drained = done;
	rp->drained_arg = arg;
	rp->told = false;
	rp->drain_deadline_ms = now_mono_ms() + (uint64_t)timeout_ms;
	send_drain(rp);
}

/* ---- passive ---- */

static void
on_told_passive(void *arg, json_t *answer, const char *err)
{
	struct replication *rp = arg;
	const char *why = answer_error(answer, err);
	struct engine *e = rp->e;

	rp->asking = false;
	if (why != NULL) {
		note_error(rp, "cannot follow the active", why);
		return;
	}
	rp->told = true;
	rp->told_active = false;
	rp->told_epoch = e->state.epoch;
	rp->told_of = e->state.active;
	rp->last_error[0] = '\0';
}

/*
 * Something new in the quarantine folder (a divergent tail, or what only
 * this copy had): an event naming where, so nothing is set aside unseen.
 */
static void
report_quarantine(struct replication *rp)
{
	json_t *st = replica_status(rp->replica), *q = json_object_get(st, "quarantine");
	json_int_t count = json_integer_value(json_object_get(q, "count"));
	const char *last = json_string_value(json_object_get(q, "last"));

	if (json_is_object(q)) {
		if (rp->q_seen >= 0 && count > rp->q_seen && last != NULL)
			event(rp->e, EV_WARNING, "replication", "set aside in the quarantine (%lld so "
			    "far): %s", (long long)count, last);
		rp->q_seen = count;
	}
	json_decref(st);
}

/*
 * Config drift a manifest found on this node: an event with the last one
 * (each is in lifeline-repl's log), so no change made on a passive is
 * overwritten unseen; and what keeps the watcher from sending a change.
 */
static void
report_drift(struct replication *rp)
{
	json_t *st = replica_status(rp->replica);
	json_t *c = json_object_get(st, "config");
	json_int_t count = json_integer_value(json_object_get(c, "drift"));
	const char *last = json_string_value(json_object_get(c, "last_drift"));

	const char *problem = json_string_value(json_object_get(c, "problem"));

	if (json_is_object(c)) {
		if (count > rp->drift_seen && last != NULL)
			event(rp->e, EV_WARNING, "config", "%s%s", last, count - rp->drift_seen > 1 ?
			    " (and more: see lifeline-repl's log)" : "");
		rp->drift_seen = count;
		/* The watcher's last problem (a watch limit, a file too big to send), once. */
		if (problem != NULL && strcmp(problem, rp->config_problem) != 0)
			event(rp->e, EV_WARNING, "config", "%s", problem);
		snprintf(rp->config_problem, sizeof(rp->config_problem), "%s",
		    problem != NULL ? problem : "");
	}
	json_decref(st);
}

void
replication_follow(struct replication *rp, bool apps_stopped)
{
	struct engine *e = rp->e;

	report_quarantine(rp);
	report_drift(rp);
	if (e->role != ROLE_PASSIVE || !apps_stopped || rp->asking || rp->drained != NULL ||
	    !replica_up(rp->replica) || now_mono_ms() < rp->next_try_ms)
		return;
	if (rp->told && !rp->told_active && rp->told_epoch == e->state.epoch &&
	    rp->told_of == e->state.active)
		return;
	rp->asking = true;
	if (replica_request(rp->replica, role_request(e, false), ROLE_TIMEOUT_MS,
	    on_told_passive, rp) < 0)
		rp->asking = false;
}

/* ---- reload ---- */

static void
on_reloaded(void *arg, json_t *answer, const char *err)
{
	struct replication *rp = arg;
	const char *why = answer_error(answer, err);
	replication_ready_fn *done = rp->reloaded;

	rp->reloaded = NULL;
	rp->reload_refused = why != NULL;
	if (why != NULL)
		log_warnx("data plane: reload refused: %s", why);
	if (done != NULL)
		done(rp->reloaded_arg, why == NULL, why);
}

void
replication_reload(struct replication *rp, replication_ready_fn *done, void *arg)
{
	/* A caller that waits is never dropped for one that does not. */
	if (done != NULL || rp->reloaded == NULL) {
		if (rp->reloaded != NULL)
			rp->reloaded(rp->reloaded_arg, true, NULL);
		rp->reloaded = done;
		rp->reloaded_arg = arg;
	}
	if (replica_request(rp->replica, json_pack("{s:s}", "cmd", "reload"), ROLE_TIMEOUT_MS,
	    on_reloaded, rp) < 0) {
		rp->reloaded = NULL;
		if (done != NULL)
			done(arg, false, "the engine is stopping");
	}
}

/* ---- check ---- */

struct check_call {
	replication_check_fn	*done;
	void			*arg;
};

static void
on_check_started(void *arg, json_t *answer, const char *err)
{
	struct check_call *c = arg;
	const char *why = answer_error(answer, err);

	c->done(c->arg, why == NULL ? (uint64_t)json_integer_value(json_object_get(answer, "id")) : 0,
	    why);
	free(c);
}

void
replication_check(struct replication *rp, bool full, bool rehash, replication_check_fn *done,
    void *arg)
{
	struct check_call *c = xcalloc(1, sizeof(*c));
	json_t *req = json_pack("{s:s, s:b}", "cmd", "check", "full", full);

	if (rehash)
		json_object_set_new(req, "rehash", json_true());

	c->done = done;
	c->arg = arg;
	if (replica_request(rp->replica, req, ROLE_TIMEOUT_MS, on_check_started, c) < 0) {
		free(c);
		done(arg, 0, "the engine is stopping");
	}
}

struct check_wait_call {
	replication_check_over_fn	*done;
	void				*arg;
};

static void
on_check_over(void *arg, json_t *answer, const char *err)
{
	struct check_wait_call *c = arg;
	const char *why = answer_error(answer, err);
	json_t *check = why == NULL ? json_object_get(answer, "check") : NULL;

	if (why == NULL && !json_is_object(check))
		why = "no \"check\" object in lifeline-repl's answer";
	c->done(c->arg, why == NULL ? check : NULL, why);
	free(c);
}

void
replication_check_wait(struct replication *rp, uint64_t id, int timeout_ms,
    replication_check_over_fn *done, void *arg)
{
	struct check_wait_call *c = xcalloc(1, sizeof(*c));
	json_t *req = json_pack("{s:s, s:I, s:i}", "cmd", "check_wait", "id", (json_int_t)id,
	    "timeout_ms", timeout_ms);

	c->done = done;
	c->arg = arg;
	/* lifeline-repl answers at timeout_ms at the latest: the slack is its way back. */
	if (replica_request(rp->replica, req, timeout_ms + ROLE_TIMEOUT_MS, on_check_over, c) < 0) {
		free(c);
		done(arg, NULL, "the engine is stopping");
	}
}

/* ---- lifeline-repl comes and goes ---- */

/*
 * A lifeline-repl found running that was started with another
 * configuration (it outlived the engine) and captures nothing: it may run
 * with protected folders or addresses it can only take at its start.
 */
static bool
runs_stale_config(const struct replication *rp)
{
	json_t *st = replica_status(rp->replica), *mounts = json_object_get(st, "mounts");
	const char *hash = json_string_value(json_object_get(st, "config_hash"));
	bool stale = hash != NULL && strcmp(hash, rp->e->conf->hash) != 0 &&
	    json_is_array(mounts) && json_array_size(mounts) == 0;

	json_decref(st);
	return stale;
}

static void
on_up(void *arg)
{
	struct replication *rp = arg;

	if (runs_stale_config(rp)) {
		/* It exits; the next poll finds nothing and starts it anew. */
		log_info("data plane: lifeline-repl runs an older configuration and captures "
		    "nothing: restarting it");
		replica_request(rp->replica, json_pack("{s:s}", "cmd", "stop"), ROLE_TIMEOUT_MS,
		    NULL, NULL);
		return;
	}

	rp->told = false;
	rp->q_seen = 0;           /* what it set aside before we heard it is reported too */
	rp->next_try_ms = 0;
	log_info("data plane: lifeline-repl answers");
	if (rp->e->role == ROLE_ACTIVE && rp->drained == NULL)
		send_activate(rp);
}

static void
on_down(void *arg, const char *why)
{
	struct replication *rp = arg;

	rp->told = false;
	log_warnx("data plane: lifeline-repl is down: %s", why);
	if (rp->death != NULL && rp->e->role == ROLE_ACTIVE)
		rp->death(rp->e, why);
}

void
replication_on_death(struct replication *rp, void (*fn)(struct engine *e, const char *why))
{
	rp->death = fn;
}

struct replication *
replication_new(struct engine *e, bool debug)
{
	struct replication *rp = xcalloc(1, sizeof(*rp));
	struct replica_opts o = {
		.state_dir = e->conf->state_dir, .conf_path = e->conf_path,
		.name = node_name(e->self), .debug = debug,
		.on_up = on_up, .on_down = on_down, .arg = rp,
	};

	rp->e = e;
	rp->told_of = -1;
	rp->q_seen = -1;
	rp->retry_ev = evtimer_new(e->base, on_retry, rp);
	rp->drain_ev = evtimer_new(e->base, on_drain_due, rp);
	if ((rp->replica = replica_new(e->base, &o)) == NULL)
		fatalx("cannot watch lifeline-repl (see above)");
	return rp;
}

/* An active lifeline-repl whose applications stopped: drain, then wait passive with no streams. */
static void
idle_program(struct replication *rp)
{
	struct engine *e = rp->e;
	json_t *answer;
	char err[256];
	const char *why;

	answer = replica_call_sync(rp->replica, json_pack("{s:s, s:i, s:[]}", "cmd", "drain",
	    "timeout_ms", EXIT_DRAIN_MS, "downstream"), EXIT_DRAIN_MS + 2000, err, sizeof(err));
	if ((why = answer_error(answer, err)) != NULL)
		log_warnx("data plane: queue not drained before the exit (%s); the records ship "
		    "when the engine is back", why);
	json_decref(answer);
	answer = replica_call_sync(rp->replica, json_pack("{s:s, s:s, s:I, s:s, s:n, s:[]}",
	    "cmd", "role", "role", "passive", "epoch", (json_int_t)e->state.epoch,
	    "active", node_name(e->self), "upstream", "downstream"), ROLE_TIMEOUT_MS, err,
	    sizeof(err));
	if ((why = answer_error(answer, err)) != NULL)
		log_warnx("data plane: lifeline-repl not told to wait: %s", why);
	else
		log_info("data plane: lifeline-repl waits for the engine, capturing nothing");
	json_decref(answer);
}

void
replication_free(struct replication *rp, bool apps_stopped)
{
	if (rp == NULL)
		return;
	replica_cancel(rp->replica, rp);
	if (apps_stopped && rp->told_active && replica_up(rp->replica))
		idle_program(rp);
	replica_free(rp->replica, false);
	event_free(rp->retry_ev);
	event_free(rp->drain_ev);
	free(rp);
}

enum replication_view
replication_view(const struct replication *rp)
{
	json_t *st;
	const char *role, *state;
	enum replication_view v = REPL_VIEW_UNKNOWN;

	if (rp == NULL)
		return REPL_VIEW_UNKNOWN;
	st = replica_status(rp->replica);
	role = json_string_value(json_object_get(st, "role"));
	state = json_string_value(json_object_get(st, "state"));
	if (state != NULL && strcmp(state, "disconnected") == 0 && role == NULL)
		v = REPL_VIEW_DISCONNECTED;     /* lifeline-repl itself is gone */
	else if (!rp->told || rp->told_active || role == NULL || state == NULL ||
	    strcmp(role, "passive") != 0)
		v = REPL_VIEW_UNKNOWN;
	else if (strcmp(state, "in-sync") == 0)
		v = REPL_VIEW_IN_SYNC;
	else if (strcmp(state, "disconnected") == 0)
		v = REPL_VIEW_DISCONNECTED;
	else
		v = REPL_VIEW_BEHIND;
	json_decref(st);
	return v;
}

json_t *
replication_json(const struct replication *rp)
{
	json_t *cached = replica_status(rp->replica), *st = json_deep_copy(cached);

	json_decref(cached);
	/* A reload it took may be newer than its last status. */
	if (json_object_get(st, "mode") == NULL || !rp->reload_refused)
		json_object_set_new(st, "mode", json_string(repl_mode_name(rp->e->conf->repl_mode)));
	if (rp->last_error[0] != '\0')
		json_object_set_new(st, "engine_error", json_string(rp->last_error));
	return st;
}
