/*
 * Unit tests of engine/roles on a node that runs alone: no membership (no
 * peer is ever heard), a fake lifeline-repl in a thread on the replication
 * socket, the node's public interface a veth in a namespace of the test's
 * own (helpers/netns_fixture.h; skipped without root). What is covered:
 * start hidden, the primary of a new cluster serving alone in order
 * (filter lifted, address claimed, applications only once the capture is
 * in place), a secondary that waits, make-active --force, the refusals of
 * switchover and make-active with their messages, and a resumed active.
 * What needs peers (failover, switchover hand-over, following an active)
 * is decide()'s table in test_decide.c and the scenarios.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/replctl.h"
#include "common/util.h"
#include "engine/engine.h"
#include "engine/filter.h"
#include "engine/replication.h"
#include "engine/roles.h"
#include "engine/services.h"
#include "engine/state.h"
#include "helpers/netns_fixture.h"
#include "helpers/line_server.h"
#include "helpers/tmpdir.h"

#define PUBLIC_IP   "192.0.2.10"
#define NODE_PUB    "192.0.2.21"
#define PEER_PUB    "192.0.2.2"      /* the ping target, on the peer's side of the veth */

static char err[512];

/* ---- the fake lifeline-repl ---------------------------------------------- */

static struct {
	struct line_server *server;
	pthread_mutex_t lock;
	bool            refuse_active;   /* answer "role active" with an error */
	char            role[16];        /* the last role told, or "" */
	long long       epoch;           /* ... and its epoch */
	int             actives;         /* "role active" requests seen */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
fake_answer(void *arg, int fd, const char *line)
{
	json_t *req = json_loads(line, 0, NULL);
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	if (cmd == NULL) {
		line_server_send(fd, json_pack("{s:b, s:s}", "ok", 0, "error", "bad request"));
	} else if (strcmp(cmd, "status") == 0) {
		pthread_mutex_lock(&fake.lock);
		line_server_send(fd, json_pack("{s:b, s:{s:s, s:s, s:s?}}", "ok", 1, "replication",
		    "mode", "async", "state", "in-sync", "role", fake.role[0] ? fake.role : NULL));
		pthread_mutex_unlock(&fake.lock);
	} else if (strcmp(cmd, "role") == 0) {
		const char *role = json_string_value(json_object_get(req, "role"));
		bool refuse;

		pthread_mutex_lock(&fake.lock);
		refuse = role != NULL && strcmp(role, "active") == 0 && fake.refuse_active;
		if (role != NULL && strcmp(role, "active") == 0)
			fake.actives++;
		if (!refuse && role != NULL) {
			xstrlcpy(fake.role, role, sizeof(fake.role));
			fake.epoch = json_integer_value(json_object_get(req, "epoch"));
		}
		pthread_mutex_unlock(&fake.lock);
		if (refuse)
			line_server_send(fd, json_pack("{s:b, s:s}", "ok", 0, "error",
			    "cannot mount the capture over /var/lib/app"));
		else
			line_server_send(fd, json_pack("{s:b, s:i}", "ok", 1, "last_seq", 0));
	} else {
		line_server_send(fd, json_pack("{s:b, s:i}", "ok", 1, "last_seq", 0));
	}
	json_decref(req);
}

/* One thread, many short connections: each line answered at once. */
static void
fake_start(const char *state_dir)
{
	char *path = xasprintf("%s/%s", state_dir, REPLCTL_SOCKET_NAME);

	fake.role[0] = '\0';
	fake.actives = 0;
	fake.server = line_server_start(path, fake_answer, NULL);
	CHECK(fake.server != NULL);
	free(path);
}

static void
fake_stop(void)
{
	line_server_stop(fake.server);
	fake.server = NULL;
}

/* ---- the node ------------------------------------------------------------ */

struct node {
	char          *dir;
	struct engine  e;
};

static const char conf_fmt[] =
    "[cluster]\n"
    "name = demo\n"
    "mode = ha\n"
    "state_dir = %s\n"
    "[node primary]\n"
    "channel = 203.0.113.1/30\n"
    "public = pub0 " PUBLIC_IP "/24\n"
    "management = 198.51.100.11/24\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/30\n"
    "public = pub0 " PUBLIC_IP "/24\n"
    "management = 198.51.100.12/24\n"
    "[failover]\n"
    "heartbeat = 50ms\n"
    "timeout = 300ms\n"
    "ping = " PEER_PUB "\n"
    "[protect]\n"
    "data = /var/lib/app\n"
    "service = app\n"
    "[service app]\n"
    "start = sleep 30\n"
    "stop_timeout = 1s\n";

/*
 * The node self with its persisted state, up to roles_new(): a public LAN
 * to ping on, the fake data plane, services. NULL roles with err set when
 * roles_new refused.
 */
static struct node *
node_new(enum node_id self, const struct node_state *st, bool resume_active)
{
	struct node *n = xcalloc(1, sizeof(*n));
	char *text;

	log_init(LOG_TO_STDERR, 0, "test_roles");
	signal(SIGPIPE, SIG_IGN);
	setenv("LIFELINE_REPL", "/nonexistent/lifeline-repl", 1);   /* never the real one */
	/* The node's own address on its public LAN, as the lab gives it. */
	veth("pub0", NODE_PUB "/24", "pub1", PEER_PUB "/24");
	n->dir = tmpdir();
	text = xasprintf(conf_fmt, n->dir);
	n->e.conf = config_parse_string(text, "test.conf", err, sizeof(err));
	CHECK(n->e.conf != NULL);
	free(text);
	n->e.conf_path = "/nonexistent/test.conf";
	n->e.self = self;
	n->e.state = *st;
	CHECK(state_save(n->dir, st) == 0);
	n->e.base = event_base_new();
	n->e.started_ms = now_mono_ms();
	fake_start(n->dir);
	n->e.services = services_new(&n->e, NULL);
	n->e.replication = replication_new(&n->e, false);
	n->e.roles = roles_new(&n->e, resume_active, err, sizeof(err));
	return n;
}

static void
node_free(struct node *n)
{
	roles_free(n->e.roles);
	services_stop_all(n->e.services);
	replication_free(n->e.replication, false);
	services_free(n->e.services);
	fake_stop();
	filter_unhide(err, sizeof(err));
	event_base_free(n->e.base);
	config_free(n->e.conf);
	rm_rf(n->dir);
	free(n->dir);
	free(n);
}

/* Run the node's loop in 20 ms slices until cond(n), at most ms. */
static bool
run_until(struct node *n, bool (*cond)(struct node *), int ms)
{
	struct timeval slice = { 0, 20 * 1000 };
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	while (!cond(n)) {
		if (now_mono_ms() >= deadline)
			return false;
		event_base_loopexit(n->e.base, &slice);
		event_base_dispatch(n->e.base);
	}
	return true;
}

static bool
never(struct node *n)
{
	return false;
}

static bool
hiding(void)
{
	struct ipaddr pub = addr(PUBLIC_IP);
	bool h = false;

	CHECK_RC(filter_is_hiding(&pub, &h, err, sizeof(err)));
	return h;
}

static bool
has_public_address(void)
{
	char buf[2048];
	FILE *p = popen("ip -o -4 addr show dev pub0", "r");
	size_t len;

	CHECK(p != NULL);
	len = fread(buf, 1, sizeof(buf) - 1, p);
	buf[len] = '\0';
	CHECK(pclose(p) == 0);
	return strstr(buf, "inet " PUBLIC_IP "/24 ") != NULL;
}

static const char *
service_state(struct node *n)
{
	static char buf[32];
	json_t *all = services_json(n->e.services);

	snprintf(buf, sizeof(buf), "%s",
	    json_string_value(json_object_get(json_array_get(all, 0), "state")));
	json_decref(all);
	return buf;
}

static bool
app_running(struct node *n)
{
	return strcmp(service_state(n), "running") == 0;
}

static bool
is_active(struct node *n)
{
	return n->e.role == ROLE_ACTIVE;
}

static bool
told_passive(struct node *n)
{
	bool told;

	pthread_mutex_lock(&fake.lock);
	told = strcmp(fake.role, "passive") == 0;
	pthread_mutex_unlock(&fake.lock);
	return told;
}

static bool
told_active_twice(struct node *n)
{
	bool twice;

	pthread_mutex_lock(&fake.lock);
	twice = fake.actives >= 2;
	pthread_mutex_unlock(&fake.lock);
	return twice;
}

static const char *
decision_of(struct node *n, char *reason, size_t len)
{
	static char buf[32];
	json_t *j = roles_json(n->e.roles);

	snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(j, "decision")));
	if (reason != NULL)
		snprintf(reason, len, "%s", json_string_value(json_object_get(j, "reason")));
	json_decref(j);
	return buf;
}

/* ---- cases --------------------------------------------------------------- */

/*
 * The primary of a new cluster starts hidden, then serves alone (no
 * stand-by was ever in sync, so none can have taken over): the filter is
 * lifted, the address claimed, the data plane told "active" in epoch 1,
 * and the application started once the capture is in place.
 */
static void
body_new_cluster_primary(void)
{
	struct node_state st;
	struct node *n;

	state_new_cluster(&st);
	n = node_new(NODE_PRIMARY, &st, false);
	CHECK(n->e.roles != NULL);
	CHECK(n->e.role == ROLE_PASSIVE);
	CHECK(roles_filtered(n->e.roles));
	CHECK(hiding());
	CHECK(!has_public_address());
	CHECK(strcmp(service_state(n), "stopped") == 0);

	CHECK(run_until(n, app_running, 5000));
	CHECK(n->e.role == ROLE_ACTIVE);
	CHECK(n->e.public_claimed);
	CHECK(has_public_address());
	CHECK(!hiding());
	CHECK(!roles_filtered(n->e.roles));
	pthread_mutex_lock(&fake.lock);
	CHECK(strcmp(fake.role, "active") == 0);
	CHECK(fake.epoch == 1);
	pthread_mutex_unlock(&fake.lock);
	CHECK(n->e.state.epoch == 1);
	CHECK(n->e.waiting[0] == '\0');
	node_free(n);
}

/*
 * Applications start only once their writes are captured: a data plane
 * that refuses "active" leaves the node serving the address, but the
 * application stopped, and the request is retried.
 */
static void
body_capture_refused(void)
{
	struct node_state st;
	struct node *n;

	state_new_cluster(&st);
	fake.refuse_active = true;
	n = node_new(NODE_PRIMARY, &st, false);
	CHECK(run_until(n, is_active, 5000));
	CHECK(run_until(n, told_active_twice, 8000));
	CHECK(strcmp(service_state(n), "stopped") == 0);
	fake.refuse_active = false;
	CHECK(run_until(n, app_running, 8000));
	node_free(n);
}

/*
 * A secondary whose active (the primary, epoch 1) is never heard waits,
 * hidden, and says why in its status; the data plane is told passive.
 */
static void
body_secondary_waits(void)
{
	struct node_state st = { .epoch = 1, .active = NODE_PRIMARY };
	char reason[256];
	struct node *n = node_new(NODE_SECONDARY, &st, false);

	CHECK(n->e.roles != NULL);
	CHECK(run_until(n, told_passive, 3000));
	CHECK(!run_until(n, is_active, 1000));
	CHECK(hiding());
	CHECK(!has_public_address());
	CHECK(strcmp(service_state(n), "stopped") == 0);
	CHECK(strcmp(decision_of(n, reason, sizeof(reason)), "wait") == 0);
	CHECK(strstr(reason, "met no peer since start") != NULL);
	CHECK(strcmp(n->e.waiting, reason) == 0);
	node_free(n);
}

/*
 * make-active --force on that waiting secondary: the next epoch is on disk
 * naming it before it serves; it then serves; asked again, it refuses.
 */
static void
body_make_active(void)
{
	struct node_state st = { .epoch = 4, .active = NODE_PRIMARY, .ever_in_sync = true }, disk;
	struct node *n = node_new(NODE_SECONDARY, &st, false);

	CHECK(run_until(n, told_passive, 3000));
	CHECK_RC(roles_make_active(n->e.roles, err, sizeof(err)));
	CHECK(state_load(n->dir, &disk, err, sizeof(err)) == 1);
	CHECK(disk.epoch == 5);
	CHECK(disk.active == NODE_SECONDARY);
	CHECK(n->e.state.epoch == 5);
	CHECK(n->e.role == ROLE_ACTIVE);
	CHECK(!hiding());
	CHECK(has_public_address());
	CHECK(run_until(n, app_running, 5000));

	CHECK(roles_make_active(n->e.roles, err, sizeof(err)) == -1);
	CHECK(strcmp(err, "this node is already active in epoch 5") == 0);
	node_free(n);
}

/* Every refusal of a switchover asked on a lone passive, with its message. */
static void
body_switchover_refusals(void)
{
	static const struct {
		int         target;
		int         resolved;
		const char *error;
	} rows[] = {
		{ NODE_TERTIARY, NODE_TERTIARY, "tertiary is not a node of this ha cluster" },
		{ NODE_PRIMARY, NODE_PRIMARY, "primary is already active" },
		/* The default target of an active primary is this secondary. */
		{ -1, NODE_SECONDARY, "this node is not in sync with the active yet" },
		{ NODE_SECONDARY, NODE_SECONDARY, "this node is not in sync with the active yet" },
	};
	struct node_state st = { .epoch = 3, .active = NODE_PRIMARY, .ever_in_sync = true };
	struct node *n = node_new(NODE_SECONDARY, &st, false);

	run_until(n, never, 200);
	for (size_t i = 0; i < nitems(rows); i++) {
		int resolved = -7;

		err[0] = '\0';
		if (roles_switchover(n->e.roles, rows[i].target, &resolved, err, sizeof(err)) != -1 ||
		    strcmp(err, rows[i].error) != 0) {
			fprintf(stderr, "row %zu: \"%s\", expected \"%s\"\n", i, err, rows[i].error);
			_exit(1);
		}
		CHECK(resolved == rows[i].resolved);
	}
	/* Nobody known to be active: nothing to switch from. */
	n->e.state.active = -1;
	CHECK(roles_switchover(n->e.roles, NODE_PRIMARY, &(int){ 0 }, err, sizeof(err)) == -1);
	CHECK(strcmp(err, "no node is known to be active; see lifeline status") == 0);
	CHECK(n->e.role == ROLE_PASSIVE);
	CHECK(hiding());
	node_free(n);
}

/* The active without channels cannot hand over, and says why it has none. */
static void
body_switchover_alone_active(void)
{
	struct node_state st;
	struct node *n;
	int resolved = -1;

	state_new_cluster(&st);
	n = node_new(NODE_PRIMARY, &st, false);
	snprintf(n->e.alone, sizeof(n->e.alone), "cannot load the TLS files");
	CHECK(run_until(n, app_running, 5000));
	CHECK(roles_switchover(n->e.roles, -1, &resolved, err, sizeof(err)) == -1);
	CHECK(resolved == NODE_SECONDARY);
	CHECK(strcmp(err, "this node has no channels (cannot load the TLS files)") == 0);
	/* Still serving: a refused switchover changes nothing. */
	CHECK(n->e.role == ROLE_ACTIVE);
	CHECK(!hiding());
	CHECK(app_running(n));
	node_free(n);
}

/*
 * Resumed active (engine stopped with the applications left running): not
 * hidden, active, the address counted as claimed from the start.
 */
static void
body_resume_active(void)
{
	struct node_state st = { .epoch = 9, .active = NODE_PRIMARY, .ever_in_sync = false };
	struct node *n;

	n = node_new(NODE_PRIMARY, &st, true);
	CHECK(n->e.roles != NULL);
	CHECK(n->e.role == ROLE_ACTIVE);
	CHECK(n->e.public_claimed);
	CHECK(!roles_filtered(n->e.roles));
	CHECK(!hiding());
	node_free(n);
}

static bool
ping_ok(struct node *n)
{
	json_t *j = roles_json(n->e.roles);
	bool ok = json_is_true(json_object_get(j, "ping_ok"));

	json_decref(j);
	return ok;
}

static bool
ping_lost(struct node *n)
{
	return !ping_ok(n);
}

/*
 * roles_json: the fields status shows; ping_ok follows the ping target,
 * lost once it has not answered for failover.timeout.
 */
static void
body_json(void)
{
	struct node_state st = { .epoch = 1, .active = NODE_PRIMARY, .ever_in_sync = true };
	struct node *n = node_new(NODE_SECONDARY, &st, false);
	json_t *j;

	run_until(n, never, 800);
	j = roles_json(n->e.roles);
	CHECK(strcmp(json_string_value(json_object_get(j, "decision")), "wait") == 0);
	CHECK(json_is_string(json_object_get(j, "reason")));
	CHECK(json_is_null(json_object_get(j, "veto")));
	CHECK(json_is_true(json_object_get(j, "ping_ok")));
	CHECK(json_is_string(json_object_get(j, "sync_basis")));
	json_decref(j);

	enter(ns_peer);
	RUN("ip link set pub1 down");
	enter(ns_node);
	CHECK(run_until(n, ping_lost, 3000));
	enter(ns_peer);
	RUN("ip link set pub1 up");
	enter(ns_node);
	CHECK(run_until(n, ping_ok, 5000));
	node_free(n);
}

static void
test_new_cluster_primary(void **state)
{
	isolated(body_new_cluster_primary);
}

static void
test_capture_refused(void **state)
{
	isolated(body_capture_refused);
}

static void
test_secondary_waits(void **state)
{
	isolated(body_secondary_waits);
}

static void
test_make_active(void **state)
{
	isolated(body_make_active);
}

static void
test_switchover_refusals(void **state)
{
	isolated(body_switchover_refusals);
}

static void
test_switchover_alone_active(void **state)
{
	isolated(body_switchover_alone_active);
}

static void
test_resume_active(void **state)
{
	isolated(body_resume_active);
}

static void
test_json(void **state)
{
	isolated(body_json);
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_cluster_primary),
		cmocka_unit_test(test_capture_refused),
		cmocka_unit_test(test_secondary_waits),
		cmocka_unit_test(test_make_active),
		cmocka_unit_test(test_switchover_refusals),
		cmocka_unit_test(test_switchover_alone_active),
		cmocka_unit_test(test_resume_active),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
