/*
 * Unit tests of engine/membership: two real memberships (a primary and a
 * secondary) on one event loop, their channel addresses on the loopback of
 * a namespace of the test's own (helpers/netns_fixture.h; skipped without
 * root), with TLS files made by cli/init. Covered: they meet and see each
 * other's epoch, role and active; an announce carries a change at once; a
 * silent peer goes dead after failover.timeout; switchover requests and
 * replies and engine stops are delivered to their handlers; a node of
 * another cluster's CA is never met; missing TLS files are named.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/init.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/membership.h"
#include "helpers/netns_fixture.h"
#include "helpers/tmpdir.h"

#define PRIMARY_CH   "203.0.113.1"
#define SECONDARY_CH "203.0.113.2"

static char err[512];

static const char conf_fmt[] =
    "[cluster]\n"
    "name = %s\n"
    "mode = ha\n"
    "state_dir = %s\n"
    "tls_dir = %s\n"
    "[node primary]\n"
    "channel = " PRIMARY_CH "/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "[node secondary]\n"
    "channel = " SECONDARY_CH "/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "[failover]\n"
    "heartbeat = 50ms\n"
    "timeout = 300ms\n"
    "[protect]\n"
    "data = /var/lib/app\n";

struct pair {
	char              *dir;
	struct event_base *base;
	struct config     *conf[2];
	struct engine      e[2];          /* [0] primary, [1] secondary */
	struct membership *m[2];
};

static struct config *
conf_of(const char *cluster, const char *dir, const char *tls)
{
	char *text = xasprintf(conf_fmt, cluster, dir, tls);
	struct config *conf = config_parse_string(text, "test.conf", err, sizeof(err));

	if (conf == NULL) {
		fprintf(stderr, "test configuration refused: %s\n", err);
		_exit(1);
	}
	free(text);
	return conf;
}

/*
 * Both nodes' engines on one loop, each with its configuration; the
 * secondary's TLS files from cluster other_ca's CA when it is not NULL.
 */
static struct pair *
pair_new(const char *other_ca)
{
	struct pair *p = xcalloc(1, sizeof(*p));
	char *tls = NULL, *tls2 = NULL;

	log_init(LOG_TO_STDERR, 0, "test_membership");
	signal(SIGPIPE, SIG_IGN);
	RUN("ip addr add " PRIMARY_CH "/32 dev lo");
	RUN("ip addr add " SECONDARY_CH "/32 dev lo");
	p->dir = tmpdir();
	tls = xasprintf("%s/tls", p->dir);
	tls2 = other_ca ? xasprintf("%s/tls2", p->dir) : xstrdup(tls);
	p->conf[0] = conf_of("demo", p->dir, tls);
	p->conf[1] = conf_of("demo", p->dir, tls2);
	CHECK_RC(init_write_tls(p->conf[0], false, err, sizeof(err)));
	if (other_ca != NULL) {
		/* The same cluster name, node names and file names: only the CA differs. */
		CHECK_RC(init_write_tls(p->conf[1], false, err, sizeof(err)));
	}
	p->base = event_base_new();
	for (int i = 0; i < 2; i++) {
		p->e[i].base = p->base;
		p->e[i].conf = p->conf[i];
		p->e[i].self = i == 0 ? NODE_PRIMARY : NODE_SECONDARY;
		p->e[i].state.epoch = 5;
		p->e[i].state.active = NODE_PRIMARY;
		p->e[i].role = i == 0 ? ROLE_ACTIVE : ROLE_PASSIVE;
	}
	free(tls);
	free(tls2);
	return p;
}

static void
pair_start(struct pair *p, int i)
{
	p->m[i] = membership_new(&p->e[i], err, sizeof(err));
	if (p->m[i] == NULL) {
		fprintf(stderr, "membership_new: %s\n", err);
		_exit(1);
	}
	p->e[i].membership = p->m[i];
}

static void
pair_free(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		membership_free(p->m[i]);
		config_free(p->conf[i]);
	}
	event_base_free(p->base);
	rm_rf(p->dir);
	free(p->dir);
	free(p);
}

/* Run the loop in 20 ms slices until cond(p), at most ms. */
static bool
run_until(struct pair *p, bool (*cond)(struct pair *), int ms)
{
	struct timeval slice = { 0, 20 * 1000 };
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	while (!cond(p)) {
		if (now_mono_ms() >= deadline)
			return false;
		event_base_loopexit(p->base, &slice);
		event_base_dispatch(p->base);
	}
	return true;
}

static struct peer_view
view(struct pair *p, int i)
{
	struct peer_view v;

	membership_peer(p->m[i], i == 0 ? NODE_SECONDARY : NODE_PRIMARY, &v);
	return v;
}

/* Both alive, and each has had a heartbeat (a hello alone leaves role at -1). */
static bool
both_alive(struct pair *p)
{
	return view(p, 0).alive && view(p, 1).alive && view(p, 0).role >= 0 &&
	    view(p, 1).role >= 0;
}

static bool
primary_sees_secondary_dead(struct pair *p)
{
	return !view(p, 0).alive;
}

static bool
primary_sees_secondary_silent(struct pair *p)
{
	return view(p, 0).silent_ms >= 300;
}

static bool
rtt_measured(struct pair *p)
{
	json_t *chans = membership_channels_json(p->m[1], NODE_PRIMARY);
	bool measured = json_is_number(json_object_get(json_array_get(chans, 0), "rtt_ms"));

	json_decref(chans);
	return measured;
}

static bool
secondary_sees_epoch_6(struct pair *p)
{
	return view(p, 1).epoch == 6;
}

/* They meet; each sees what the other's heartbeats say. */
static void
body_meet(void)
{
	struct pair *p = pair_new(NULL);
	struct peer_view v;
	json_t *chans, *c;

	pair_start(p, 0);
	pair_start(p, 1);
	CHECK(run_until(p, both_alive, 5000));

	v = view(p, 1);                   /* the secondary's view of the primary */
	CHECK(v.met);
	CHECK(v.epoch == 5);
	CHECK(v.role == ROLE_ACTIVE);
	CHECK(v.active == NODE_PRIMARY);
	CHECK(v.channels == 1);
	CHECK(v.channels_up == 1);
	CHECK(v.silent_ms < 300);
	v = view(p, 0);
	CHECK(v.role == ROLE_PASSIVE);
	CHECK(v.active == NODE_PRIMARY);

	/* The round trip is measured from an echoed heartbeat, soon after. */
	CHECK(run_until(p, rtt_measured, 2000));
	chans = membership_channels_json(p->m[1], NODE_PRIMARY);
	CHECK(json_array_size(chans) == 1);
	c = json_array_get(chans, 0);
	CHECK(strcmp(json_string_value(json_object_get(c, "peer")), "primary") == 0);
	CHECK(strcmp(json_string_value(json_object_get(c, "local")), SECONDARY_CH) == 0);
	CHECK(strcmp(json_string_value(json_object_get(c, "remote")), PRIMARY_CH) == 0);
	CHECK(json_is_true(json_object_get(c, "up")));
	CHECK(json_real_value(json_object_get(c, "rtt_ms")) < 1000.0);
	json_decref(chans);
	pair_free(p);
}

/* An announce carries a new epoch and role at once, not at the next beat only. */
static void
body_announce(void)
{
	struct pair *p = pair_new(NULL);
	uint64_t t0;

	pair_start(p, 0);
	pair_start(p, 1);
	CHECK(run_until(p, both_alive, 5000));
	p->e[0].state.epoch = 6;
	p->e[0].role = ROLE_PASSIVE;
	p->e[0].state.active = NODE_SECONDARY;
	t0 = now_mono_ms();
	membership_announce(p->m[0]);
	CHECK(run_until(p, secondary_sees_epoch_6, 2000));
	CHECK(now_mono_ms() - t0 < 1000);
	CHECK(view(p, 1).role == ROLE_PASSIVE);
	CHECK(view(p, 1).active == NODE_SECONDARY);
	pair_free(p);
}

/*
 * A peer that stops: not alive once its connection is gone, still met,
 * silent for longer and longer (what decide() times the failover with).
 */
static void
body_silence(void)
{
	struct pair *p = pair_new(NULL);
	struct peer_view v;
	json_t *chans;

	pair_start(p, 0);
	pair_start(p, 1);
	CHECK(run_until(p, both_alive, 5000));
	membership_free(p->m[1]);
	p->m[1] = NULL;
	p->e[1].membership = NULL;
	CHECK(run_until(p, primary_sees_secondary_dead, 3000));
	CHECK(run_until(p, primary_sees_secondary_silent, 3000));
	v = view(p, 0);
	CHECK(v.met);
	CHECK(!v.alive);
	CHECK(v.silent_ms < 3000);
	CHECK(v.channels_up == 0);
	CHECK(v.epoch == 5);
	chans = membership_channels_json(p->m[0], NODE_SECONDARY);
	CHECK(json_is_false(json_object_get(json_array_get(chans, 0), "up")));
	json_decref(chans);
	/* Nothing to send a switchover on. */
	CHECK(membership_send_switchover(p->m[0], NODE_SECONDARY, NODE_SECONDARY) == -1);
	CHECK(membership_broadcast_stop(p->m[0], WIRE_STOP_APPS) == 0);
	pair_free(p);
}

static struct {
	int  switchovers, replies, stops;
	int  from, target, started, apps;
	char reason[256];
} got;

static void
on_switchover(struct engine *e, enum node_id from, enum node_id target)
{
	got.switchovers++;
	got.from = from;
	got.target = target;
	CHECK(e->self == NODE_PRIMARY);
}

static void
on_reply(struct engine *e, enum node_id from, int started, int target, const char *reason)
{
	got.replies++;
	got.from = from;
	got.started = started;
	got.target = target;
	snprintf(got.reason, sizeof(got.reason), "%s", reason ? reason : "");
	CHECK(e->self == NODE_SECONDARY);
}

static void
on_stop(struct engine *e, enum node_id from, int apps)
{
	got.stops++;
	got.from = from;
	got.apps = apps;
	CHECK(e->self == NODE_SECONDARY);
}

static bool
switchover_arrived(struct pair *p)
{
	return got.switchovers > 0;
}

static bool
reply_arrived(struct pair *p)
{
	return got.replies > 0;
}

static bool
stop_arrived(struct pair *p)
{
	return got.stops > 0;
}

/*
 * The secondary asks the active for a switchover; the active's handler
 * hears who asked and for whom, and its refusal reaches the secondary's
 * handler with the reason. An engine stop reaches the other node.
 */
static void
body_messages(void)
{
	struct pair *p = pair_new(NULL);

	pair_start(p, 0);
	pair_start(p, 1);
	membership_on_switchover(p->m[0], on_switchover);
	membership_on_switchover_reply(p->m[1], on_reply);
	membership_on_engine_stop(p->m[1], on_stop);
	CHECK(run_until(p, both_alive, 5000));

	memset(&got, 0, sizeof(got));
	CHECK(membership_send_switchover(p->m[1], NODE_PRIMARY, NODE_SECONDARY) == 0);
	CHECK(run_until(p, switchover_arrived, 2000));
	CHECK(got.from == NODE_SECONDARY);
	CHECK(got.target == NODE_SECONDARY);

	CHECK(membership_send_switchover_reply(p->m[0], NODE_SECONDARY, 0, NODE_SECONDARY,
	    "secondary is not in sync") == 0);
	CHECK(run_until(p, reply_arrived, 2000));
	CHECK(got.from == NODE_PRIMARY);
	CHECK(got.started == 0);
	CHECK(got.target == NODE_SECONDARY);
	CHECK(strcmp(got.reason, "secondary is not in sync") == 0);

	CHECK(membership_broadcast_stop(p->m[0], WIRE_LEAVE_APPS) == 1);
	CHECK(run_until(p, stop_arrived, 2000));
	CHECK(got.from == NODE_PRIMARY);
	CHECK(got.apps == WIRE_LEAVE_APPS);
	CHECK(got.switchovers == 1);
	pair_free(p);
}

static bool
anyone_met(struct pair *p)
{
	return view(p, 0).met || view(p, 1).met;
}

/* A node whose certificate comes from another CA is never met, however long it tries. */
static void
body_other_ca(void)
{
	struct pair *p = pair_new("other");

	pair_start(p, 0);
	pair_start(p, 1);
	CHECK(!run_until(p, anyone_met, 2000));
	CHECK(view(p, 0).channels_up == 0);
	CHECK(view(p, 1).channels_up == 0);
	pair_free(p);
}

/* No TLS files: no membership, and a message naming the file. */
static void
body_no_tls(void)
{
	struct pair *p = pair_new(NULL);
	char *tls = xasprintf("%s/tls", p->dir), *want = xasprintf("%s/", tls);

	RUN("rm -r %s", tls);
	CHECK(membership_new(&p->e[0], err, sizeof(err)) == NULL);
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "the message does not name a file in %s: %s\n", tls, err);
		_exit(1);
	}
	free(want);
	free(tls);
	pair_free(p);
}

static bool
primary_sees_mismatch(struct pair *p)
{
	return view(p, 0).config_mismatch;
}

static bool
secondary_sees_mismatch(struct pair *p)
{
	return view(p, 1).config_mismatch;
}

static bool
primary_sees_match(struct pair *p)
{
	return !view(p, 0).config_mismatch &&
	    strncmp(view(p, 0).config_hash, p->conf[0]->hash, 16) == 0;
}

/* Whether the event file of p holds a line with text. */
static bool
events_hold(struct pair *p, const char *text)
{
	char *path = xasprintf("%s/%s", p->dir, EVENTS_FILE_NAME);
	size_t len;
	char *all = read_file(path, 1 << 20, &len);
	bool yes = all != NULL && strstr(all, text) != NULL;

	free(all);
	free(path);
	return yes;
}

static bool
mismatch_event_out(struct pair *p)
{
	return events_hold(p, "configuration mismatch: secondary runs eeeeeeeeeeeeeeee, this node "
	    "(primary) runs");
}

static bool
mismatch_end_out(struct pair *p)
{
	return events_hold(p, "configuration mismatch with secondary ended: both run");
}

/*
 * Heartbeats carry each node's config hash. Equal: each sees the other's,
 * no mismatch. The secondary's changes: the primary reports it only after
 * the grace, as one event naming both hashes and `lifeline config push`;
 * equal again: it ends, with one event.
 */
static void
body_config_mismatch(void)
{
	struct pair *p = pair_new(NULL);
	char saved[sizeof(p->conf[1]->hash)];
	struct peer_view v;
	uint64_t t0;

	events_open(&p->e[0]);
	pair_start(p, 0);
	pair_start(p, 1);
	CHECK(run_until(p, both_alive, 5000));
	CHECK(run_until(p, primary_sees_match, 2000));
	v = view(p, 1);
	CHECK(v.config_known);
	CHECK(strncmp(v.config_hash, p->conf[0]->hash, 16) == 0 && strlen(v.config_hash) == 16);
	CHECK(!v.config_mismatch);

	memcpy(saved, p->conf[1]->hash, sizeof(saved));
	memset(p->conf[1]->hash, 'e', 64);
	t0 = now_mono_ms();
	CHECK(run_until(p, primary_sees_mismatch, CONFIG_MISMATCH_GRACE_MS + 3000));
	CHECK(now_mono_ms() - t0 >= CONFIG_MISMATCH_GRACE_MS - 200);
	CHECK(strcmp(view(p, 0).config_hash, "eeeeeeeeeeeeeeee") == 0);
	CHECK(run_until(p, secondary_sees_mismatch, 1000));   /* both ends see it */
	/* The event goes out with the first heartbeat after the grace. */
	CHECK(run_until(p, mismatch_event_out, 1000));
	CHECK(events_hold(p, "run `lifeline config push` on the active node"));
	CHECK(!events_hold(p, "mismatch with secondary ended"));

	memcpy(p->conf[1]->hash, saved, sizeof(saved));
	CHECK(run_until(p, primary_sees_match, 2000));
	CHECK(run_until(p, mismatch_end_out, 1000));
	events_close();
	pair_free(p);
}

/* The mismatch rule as a table: known, differing, for the grace at least. */
static void
test_config_mismatch_rule(void **state)
{
	static const struct {
		bool     known;
		uint64_t since, now;
		bool     want;
	} rows[] = {
		{ false, 1000, 1000 + CONFIG_MISMATCH_GRACE_MS, false },   /* an older peer */
		{ true, 0, 99999, false },                                   /* the same */
		{ true, 1000, 1000 + CONFIG_MISMATCH_GRACE_MS - 1, false },  /* a push under way */
		{ true, 1000, 1000 + CONFIG_MISMATCH_GRACE_MS, true },
		{ true, 1000, 500, false },                                  /* clock behind: no */
	};

	for (size_t i = 0; i < nitems(rows); i++)
		if (membership_config_mismatch(rows[i].known, rows[i].since, rows[i].now) != rows[i].want)
			fail_msg("row %zu: expected %d", i, rows[i].want);
}

static void
test_config_mismatch(void **state)
{
	isolated(body_config_mismatch);
}

static void
test_meet(void **state)
{
	isolated(body_meet);
}

static void
test_announce(void **state)
{
	isolated(body_announce);
}

static void
test_silence(void **state)
{
	isolated(body_silence);
}

static void
test_messages(void **state)
{
	isolated(body_messages);
}

static void
test_other_ca(void **state)
{
	isolated(body_other_ca);
}

static void
test_no_tls(void **state)
{
	isolated(body_no_tls);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meet),
		cmocka_unit_test(test_announce),
		cmocka_unit_test(test_silence),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_other_ca),
		cmocka_unit_test(test_no_tls),
		cmocka_unit_test(test_config_mismatch_rule),
		cmocka_unit_test(test_config_mismatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
