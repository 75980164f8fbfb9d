/*
 * repl/agent with its client (cli/agentcall): a node's agent and another
 * node's `engine start --cluster` request, over real TLS between two
 * channel addresses on the loopback of a private network namespace.
 * Checked: the request reaches the owner's callback with the asking node,
 * its answer comes back; a refusal comes back with its reason; a node of
 * another cluster is refused by TLS; nobody listening is named, with the
 * address and port tried. A config push's phases reach the owner with the
 * text and its digest, and its answer's config_hash comes back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/agentcall.h"
#include "cli/init.h"
#include "common/config.h"
#include "common/util.h"
#include "common/wire.h"
#include "helpers/netns_fixture.h"
#include "helpers/tmpdir.h"
#include "repl/agent.h"

static const char conf_fmt[] =
    "[cluster]\n"
    "name = %s\n"
    "mode = ha\n"
    "tls_dir = %s/tls-%s\n"
    "state_dir = %s\n"
    "\n"
    "[node primary]\n"
    "channel = 203.0.113.1/29\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/29\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "\n"
    "[protect]\n"
    "data = /var/lib/app\n";

static char *top;
static struct event_base *base;

/* What the agent's owner was asked, and what it answers. */
static int calls, asked_by = -1, start_rc;
static const char *start_msg;

static int
on_start(void *arg, enum node_id peer, char *msg, size_t msglen)
{
	calls++;
	asked_by = (int)peer;
	snprintf(msg, msglen, "%s", start_msg);
	return start_rc;
}

static struct config *
cluster_conf(const char *name)
{
	char *text = xasprintf(conf_fmt, name, top, name, top), err[512];
	struct config *conf = config_parse_string(text, "agent.conf", err, sizeof(err));

	if (conf == NULL) {
		fprintf(stderr, "config: %s\n", err);
		_exit(1);
	}
	free(text);
	CHECK(init_write_tls(conf, false, err, sizeof(err)) == 0);
	return conf;
}

/* What the owner was given for a config push, and what it answers. */
static struct {
	int     calls, rc;
	uint8_t phase;
	char    text[256];
	uint8_t digest[WIRE_CONFIG_DIGEST];
} cfg;

static int
on_config(void *arg, enum node_id peer, const struct wire_config_push *req,
    struct wire_config_done *done)
{
	cfg.calls++;
	cfg.phase = req->phase;
	snprintf(cfg.text, sizeof(cfg.text), "%.*s", (int)req->len, req->text);
	memcpy(cfg.digest, req->digest, sizeof(cfg.digest));
	memset(done->config_hash, 'c', 64);
	snprintf(done->text, sizeof(done->text), cfg.rc == 0 ? "staged for %s" :
	    "%s: config.staged:3: bad", node_name(peer));
	return cfg.rc;
}

/* The blocking client on a thread, while this thread turns the agent's loop. */
struct call {
	const struct config *conf;
	const struct wire_config_push *push;   /* or an engine start */
	struct wire_config_done done;
	int rc;
	char msg[1200];
	atomic_bool done_flag;
};

static void *
call_main(void *arg)
{
	struct call *c = arg;

	if (c->push != NULL)
		c->rc = agent_config_push(c->conf, NODE_PRIMARY, NODE_SECONDARY, c->push, &c->done,
		    c->msg, sizeof(c->msg));
	else
		c->rc = agent_engine_start(c->conf, NODE_PRIMARY, NODE_SECONDARY, c->msg,
		    sizeof(c->msg));
	atomic_store(&c->done_flag, true);
	return NULL;
}

static int ask_call(struct call *c);

/* Ask the secondary's agent from the primary; the loop runs meanwhile (bounded, 15 s). */
static int
ask(const struct config *conf, char *msg, size_t msglen)
{
	struct call c = { .conf = conf };
	int rc = ask_call(&c);

	snprintf(msg, msglen, "%s", c.msg);
	return rc;
}

static int
ask_call(struct call *c)
{
	pthread_t t;

	CHECK(pthread_create(&t, NULL, call_main, c) == 0);
	for (int i = 0; i < 15000 && !atomic_load(&c->done_flag); i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	}
	CHECK(atomic_load(&c->done_flag));
	pthread_join(t, NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);    /* let the agent reap its connection */
	return c->rc;
}

static void
body(void)
{
	struct config *conf, *other;
	struct agent *a;
	char msg[1200], err[512];

	RUN("ip link set lo up");
	RUN("ip addr add 203.0.113.1/29 dev lo");
	RUN("ip addr add 203.0.113.2/29 dev lo");
	conf = cluster_conf("agenttest");
	other = cluster_conf("othercluster");
	CHECK((base = event_base_new()) != NULL);
	a = agent_new(base, conf, NODE_SECONDARY, on_start, NULL, err, sizeof(err));
	if (a == NULL) {
		fprintf(stderr, "agent_new: %s\n", err);
		_exit(1);
	}

	/* The owner's answer comes back, and it knew who asked. */
	start_rc = 0;
	start_msg = "started lifelined (pid 42)";
	CHECK(ask(conf, msg, sizeof(msg)) == 0);
	CHECK(strcmp(msg, "started lifelined (pid 42)") == 0);
	CHECK(calls == 1 && asked_by == NODE_PRIMARY);

	/* A refusal comes back with its reason. */
	start_rc = -1;
	start_msg = "no lifelined beside lifeline-repl";
	CHECK(ask(conf, msg, sizeof(msg)) == -1);
	if (strstr(msg, "refused: no lifelined beside lifeline-repl") == NULL) {
		fprintf(stderr, "unexpected: %s\n", msg);
		_exit(1);
	}
	CHECK(calls == 2);

	/* Config push: refused while the owner takes none; then each phase reaches it. */
	{
		static const char text[] = "[cluster]\nname = agenttest\n";
		struct wire_config_push push = { .phase = WIRE_CONFIG_PREPARE, .text = text,
		    .len = sizeof(text) - 1 };
		struct call c = { .conf = conf, .push = &push };

		wire_config_digest(text, push.len, push.digest);
		CHECK(ask_call(&c) == -1);
		CHECK(strstr(c.msg, "refused: this node's agent takes no configuration pushes") != NULL);
		agent_on_config(a, on_config);
		memset(&c, 0, sizeof(c));
		c.conf = conf;
		c.push = &push;
		CHECK(ask_call(&c) == 0);
		CHECK(cfg.calls == 1 && cfg.phase == WIRE_CONFIG_PREPARE);
		CHECK(strcmp(cfg.text, text) == 0);
		CHECK(memcmp(cfg.digest, push.digest, WIRE_CONFIG_DIGEST) == 0);
		CHECK(c.done.phase == WIRE_CONFIG_PREPARE);
		CHECK(strspn(c.done.config_hash, "c") == 64);
		CHECK(strcmp(c.msg, "staged for primary") == 0);

		/* A commit carries the digest alone; a refusal comes back with the owner's reason. */
		push.phase = WIRE_CONFIG_COMMIT;
		cfg.rc = -1;
		memset(&c, 0, sizeof(c));
		c.conf = conf;
		c.push = &push;
		CHECK(ask_call(&c) == -1);
		CHECK(cfg.calls == 2 && cfg.phase == WIRE_CONFIG_COMMIT && cfg.text[0] == '\0');
		if (strstr(c.msg, "refused: primary: config.staged:3: bad") == NULL) {
			fprintf(stderr, "unexpected: %s\n", c.msg);
			_exit(1);
		}
	}

	/* Another cluster's node never reaches the owner. */
	CHECK(ask(other, msg, sizeof(msg)) == -1);
	if (strstr(msg, "203.0.113.2 port 9730: TLS: ") == NULL) {
		fprintf(stderr, "unexpected: %s\n", msg);
		_exit(1);
	}
	CHECK(calls == 2);

	/* Nobody listening: the address, the port and why. */
	agent_free(a);
	CHECK(ask(conf, msg, sizeof(msg)) == -1);
	if (strcmp(msg, "203.0.113.2 port 9730: Connection refused") != 0) {
		fprintf(stderr, "unexpected: %s\n", msg);
		_exit(1);
	}
	event_base_free(base);
	config_free(conf);
	config_free(other);
}

static void
test_engine_start_request(void **state)
{
	top = tmpdir();
	isolated(body);
	rm_rf(top);
	free(top);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_start_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
