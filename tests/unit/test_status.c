/*
 * Unit tests of engine/status: the object of `lifeline status --json`
 * (CONTRACT.md) built from an engine that runs alone (no membership, no
 * roles, no data plane yet): what it knows is reported, what it cannot
 * know is reported as unknown, never guessed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/util.h"
#include "engine/engine.h"
#include "engine/services.h"
#include "engine/status.h"

/*
 * Two channel subnets per pair: a status that paired every address of one
 * node with every address of the other would show four channels, not two.
 */
static const char ha_conf[] =
    "[cluster]\n"
    "name = demo\n"
    "mode = ha\n"
    "state_dir = /var/lib/lifeline-test\n"
    "[node primary]\n"
    "channel = 203.0.113.1/30, 203.0.113.5/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/30, 203.0.113.6/30\n"
    "public = eth1 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "[replication]\n"
    "mode = fsync\n"
    "[protect]\n"
    "data = /var/lib/app\n"
    "service = app\n"
    "service = web\n"
    "[service app]\n"
    "start = /usr/bin/app\n";

static const char trio_conf[] =
    "[cluster]\n"
    "name = trio.example\n"
    "mode = ha+dr\n"
    "[node primary]\n"
    "channel = 203.0.113.1/30, 203.0.113.9/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "[node tertiary]\n"
    "channel = 203.0.113.10/30\n"
    "public = eth0 198.18.0.10/24\n"
    "management = 198.51.100.13/24\n"
    "[protect]\n"
    "data = /var/lib/app\n";

struct fixture {
	struct config *conf;
	struct engine  e;
};

static struct fixture *
fixture_new(const char *text, enum node_id self)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char err[512];

	f->conf = config_parse_string(text, "test.conf", err, sizeof(err));
	if (f->conf == NULL)
		fail_msg("the test configuration is refused: %s", err);
	f->e.conf = f->conf;
	f->e.self = self;
	f->e.base = event_base_new();
	f->e.state.epoch = 7;
	f->e.state.active = NODE_PRIMARY;
	f->e.role = ROLE_PASSIVE;
	f->e.started_ms = now_mono_ms() - 5500;
	f->e.services = services_new(&f->e, NULL);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	services_free(f->e.services);
	event_base_free(f->e.base);
	config_free(f->conf);
	free(f);
}

static const char *
str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(v);
}

/* The entry of nodes[] for identity. */
static json_t *
node_entry(json_t *st, const char *identity)
{
	json_t *nodes = json_object_get(st, "nodes"), *n;
	size_t i;

	json_array_foreach(nodes, i, n)
		if (strcmp(str(n, "identity"), identity) == 0)
			return n;
	fail_msg("no node \"%s\" in the status", identity);
	return NULL;
}

static void
test_cluster_fields(void **state)
{
	struct fixture *f = fixture_new(ha_conf, NODE_SECONDARY);
	json_t *st = status_json(&f->e);

	assert_non_null(st);
	assert_string_equal(str(st, "cluster"), "demo");
	assert_string_equal(str(st, "mode"), "ha");
	assert_int_equal(json_integer_value(json_object_get(st, "epoch")), 7);
	assert_string_equal(str(st, "config_hash"), f->conf->hash);
	assert_int_equal(strlen(str(st, "config_hash")), 64);
	assert_string_equal(str(st, "self"), "secondary");
	assert_string_equal(str(st, "role"), "passive");
	assert_int_equal(json_integer_value(json_object_get(st, "uptime_s")), 5);
	/* Nothing to say: null, not an empty string the CLI would print. */
	assert_true(json_is_null(json_object_get(st, "waiting")));
	assert_true(json_is_null(json_object_get(st, "alone")));
	assert_true(json_is_null(json_object_get(st, "decision")));
	assert_true(json_is_null(json_object_get(st, "switchover_reply")));
	json_decref(st);
	fixture_free(f);
}

/* The public address without its prefix, the interface of this node. */
static void
test_public(void **state)
{
	struct fixture *f = fixture_new(ha_conf, NODE_SECONDARY);
	json_t *st = status_json(&f->e), *pub = json_object_get(st, "public");

	assert_string_equal(str(pub, "ip"), "192.0.2.10");
	assert_string_equal(str(pub, "interface"), "eth1");
	assert_true(json_is_false(json_object_get(pub, "configured")));
	/* No roles yet: the filter is not known to be in place, so not claimed. */
	assert_true(json_is_false(json_object_get(pub, "filtered")));
	json_decref(st);

	f->e.public_claimed = true;
	f->e.role = ROLE_ACTIVE;
	st = status_json(&f->e);
	pub = json_object_get(st, "public");
	assert_true(json_is_true(json_object_get(pub, "configured")));
	assert_string_equal(str(st, "role"), "active");
	json_decref(st);
	fixture_free(f);
}

static void
test_self_and_silent_peer(void **state)
{
	struct fixture *f = fixture_new(ha_conf, NODE_SECONDARY);
	json_t *st = status_json(&f->e), *self, *peer, *chans, *c;

	assert_int_equal(json_array_size(json_object_get(st, "nodes")), 2);
	self = node_entry(st, "secondary");
	assert_string_equal(str(self, "role"), "passive");
	assert_true(json_is_true(json_object_get(self, "reachable")));
	assert_int_equal(json_array_size(json_object_get(self, "channels")), 0);
	/* Per node, the configuration as heartbeats carry it: 16 hex digits. */
	assert_int_equal(strlen(str(self, "config_hash")), 16);
	assert_memory_equal(str(self, "config_hash"), f->conf->hash, 16);

	/* No membership: the peer's role and epoch are unknown, not remembered. */
	peer = node_entry(st, "primary");
	assert_true(json_is_null(json_object_get(peer, "config_hash")));
	/* A peer not heard is no mismatch: the list is there, empty. */
	assert_true(json_is_array(json_object_get(st, "config_mismatch")));
	assert_int_equal(json_array_size(json_object_get(st, "config_mismatch")), 0);
	assert_string_equal(str(peer, "role"), "unknown");
	assert_true(json_is_false(json_object_get(peer, "reachable")));
	assert_true(json_is_null(json_object_get(peer, "epoch")));
	assert_true(json_is_false(json_object_get(peer, "in_sync")));

	/* One channel per shared subnet, seen from this node, down. */
	chans = json_object_get(peer, "channels");
	assert_int_equal(json_array_size(chans), 2);
	c = json_array_get(chans, 0);
	assert_string_equal(str(c, "peer"), "primary");
	assert_string_equal(str(c, "local"), "203.0.113.2");
	assert_string_equal(str(c, "remote"), "203.0.113.1");
	assert_true(json_is_false(json_object_get(c, "up")));
	assert_true(json_is_null(json_object_get(c, "rtt_ms")));
	c = json_array_get(chans, 1);
	assert_string_equal(str(c, "local"), "203.0.113.6");
	assert_string_equal(str(c, "remote"), "203.0.113.5");
	json_decref(st);
	fixture_free(f);
}

/* A trio lists three nodes; the tertiary shares one subnet with the primary only. */
static void
test_trio_nodes(void **state)
{
	struct fixture *f = fixture_new(trio_conf, NODE_TERTIARY);
	json_t *st = status_json(&f->e), *chans;

	assert_string_equal(str(st, "mode"), "ha+dr");
	assert_int_equal(json_array_size(json_object_get(st, "nodes")), 3);
	chans = json_object_get(node_entry(st, "primary"), "channels");
	assert_int_equal(json_array_size(chans), 1);
	assert_string_equal(str(json_array_get(chans, 0), "local"), "203.0.113.10");
	assert_string_equal(str(json_array_get(chans, 0), "remote"), "203.0.113.9");
	chans = json_object_get(node_entry(st, "secondary"), "channels");
	assert_int_equal(json_array_size(chans), 0);
	assert_string_equal(str(node_entry(st, "tertiary"), "role"), "passive");
	assert_string_equal(str(json_object_get(st, "public"), "ip"), "198.18.0.10");
	json_decref(st);
	fixture_free(f);
}

/* Without a data plane: the configured mode, and disconnected. */
static void
test_replication_disconnected(void **state)
{
	struct fixture *f = fixture_new(ha_conf, NODE_PRIMARY);
	json_t *st = status_json(&f->e), *r = json_object_get(st, "replication");

	assert_string_equal(str(r, "mode"), "fsync");
	assert_string_equal(str(r, "state"), "disconnected");
	json_decref(st);
	fixture_free(f);
}

/* Every protected service, in order; one without a section is unmanaged. */
static void
test_services(void **state)
{
	struct fixture *f = fixture_new(ha_conf, NODE_PRIMARY);
	json_t *st = status_json(&f->e), *svcs = json_object_get(st, "services");

	assert_int_equal(json_array_size(svcs), 2);
	assert_string_equal(str(json_array_get(svcs, 0), "name"), "app");
	assert_string_equal(str(json_array_get(svcs, 0), "state"), "stopped");
	assert_true(json_is_null(json_object_get(json_array_get(svcs, 0), "pid")));
	assert_string_equal(str(json_array_get(svcs, 1), "name"), "web");
	assert_string_equal(str(json_array_get(svcs, 1), "state"), "unmanaged");
	json_decref(st);
	fixture_free(f);
}

/* Why the node waits, why it runs alone, and the last switchover answer. */
static void
test_waiting_alone_reply(void **state)
{
	struct fixture *f = fixture_new(ha_conf, NODE_SECONDARY);
	json_t *st, *reply;

	snprintf(f->e.waiting, sizeof(f->e.waiting), "no peer met yet");
	snprintf(f->e.alone, sizeof(f->e.alone), "cannot load the TLS files");
	f->e.switch_reply.seq = 3;
	f->e.switch_reply.started = false;
	f->e.switch_reply.target = NODE_SECONDARY;
	snprintf(f->e.switch_reply.reason, sizeof(f->e.switch_reply.reason),
	    "secondary is not in sync");
	st = status_json(&f->e);
	assert_string_equal(str(st, "waiting"), "no peer met yet");
	assert_string_equal(str(st, "alone"), "cannot load the TLS files");
	reply = json_object_get(st, "switchover_reply");
	assert_int_equal(json_integer_value(json_object_get(reply, "seq")), 3);
	assert_true(json_is_false(json_object_get(reply, "started")));
	assert_string_equal(str(reply, "target"), "secondary");
	assert_string_equal(str(reply, "reason"), "secondary is not in sync");
	json_decref(st);
	fixture_free(f);
}

static void
test_role_name(void **state)
{
	assert_string_equal(role_name(ROLE_ACTIVE), "active");
	assert_string_equal(role_name(ROLE_PASSIVE), "passive");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_fields),
		cmocka_unit_test(test_public),
		cmocka_unit_test(test_self_and_silent_peer),
		cmocka_unit_test(test_trio_nodes),
		cmocka_unit_test(test_replication_disconnected),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_waiting_alone_reply),
		cmocka_unit_test(test_role_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
