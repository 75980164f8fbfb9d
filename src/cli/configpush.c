/*
 * lifeline config push (configpush.h). The phases, in order:
 *
 *   1. check the file here as lifelined -n does; a bad file goes nowhere;
 *   2. ask this node's engine: it must be the active, of the same cluster
 *      name and mode;
 *   3. PREPARE on every other node of the mode (each checks the text for
 *      itself and stages it durably);
 *   4. one refused or did not answer: ABORT on the prepared ones; nothing
 *      changed anywhere, and the push fails naming each node and why;
 *   5. all prepared: this node's engine reloads the file (the commit
 *      here); if it refuses, ABORT everywhere as in 4;
 *   6. COMMIT on every other node. A node that fails now, after others
 *      committed, leaves the cluster split: said plainly, and shown by
 *      every status as config_mismatch until a push succeeds;
 *   7. wait (bounded) until every reachable node's heartbeats carry the
 *      new hash.
 */
#include "cli/configpush.h"
#include "cli/agentcall.h"
#include "cli/commands.h"
#include "common/config.h"
#include "common/ctl.h"
#include "common/util.h"
#include "common/wire.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENGINE_CALL_MS   15000     /* a reload waits for lifeline-repl's too */
#define CONVERGE_MS      15000     /* for the peers' engines to reload and beat */

/* What became of one node. */
enum node_result {
	NR_NONE,          /* not asked (not in the mode) */
	NR_FAILED,        /* refused or no answer at prepare */
	NR_PREPARED,      /* staged, waiting for the decision */
	NR_ABORTED,       /* staged, then removed */
	NR_COMMITTED,     /* in place (and the engine asked to reload) */
	NR_COMMIT_FAILED, /* prepared, but the commit failed: keeps the old */
};

static const char *const result_names[] = {
	[NR_NONE] = "none", [NR_FAILED] = "failed", [NR_PREPARED] = "prepared",
	[NR_ABORTED] = "aborted", [NR_COMMITTED] = "committed",
	[NR_COMMIT_FAILED] = "commit-failed",
};

struct push {
	const struct cli_ctx *ctx;
	const char           *conf_path;
	struct config        *conf;           /* the file, as this node loads it */
	enum node_id          self;
	bool                  json;
	struct wire_config_push req;
	enum node_result      result[NODE_COUNT];
	char                  hash[NODE_COUNT][65];
	char                  msg[NODE_COUNT][1200];
};

/* Where this node's engine listens (see commands.c: --socket, else state_dir). */
static char *
socket_path(const struct push *p)
{
	char *dir, *sock;

	if (p->ctx->socket != NULL)
		return xstrdup(p->ctx->socket);
	dir = config_peek_state_dir(p->conf_path);
	sock = xasprintf("%s/%s", dir, CTL_SOCKET_NAME);
	free(dir);
	return sock;
}

/* {"cmd": name} to this node's engine: the answer when ok, else NULL with why. */
static json_t *
engine_call(const struct push *p, const char *name, char *why, size_t whylen)
{
	json_t *req = json_pack("{s:s}", "cmd", name), *answer;
	char *sock = socket_path(p);

	answer = ctl_call(sock, req, ENGINE_CALL_MS, why, whylen);
	json_decref(req);
	free(sock);
	if (answer != NULL && !json_is_true(json_object_get(answer, "ok"))) {
		const char *e = json_string_value(json_object_get(answer, "error"));

		snprintf(why, whylen, "%s", e != NULL ? e : "the engine refused without a reason");
		json_decref(answer);
		return NULL;
	}
	return answer;
}

static const char *
jstr(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

/* The node this node's status holds active, or NULL. */
static const char *
active_of(json_t *st)
{
	json_t *n;
	size_t i;

	json_array_foreach(json_object_get(st, "nodes"), i, n)
		if (strcmp(jstr(n, "role"), "active") == 0)
			return jstr(n, "identity");
	return NULL;
}

/*
 * Steps 1 and 2: the file is valid here, and this node's engine is the
 * active of the cluster the file names. -1 with why (one line).
 */
static int
check_here(struct push *p, char *why, size_t whylen)
{
	char err[1024];
	json_t *answer, *st;
	const char *active;
	int id, rc = -1;

	if ((p->conf = config_load(p->conf_path, err, sizeof(err))) == NULL) {
		snprintf(why, whylen, "%s; nothing was sent", err);
		return -1;
	}
	if ((id = identity_load(NULL, NULL, err, sizeof(err))) < 0) {
		snprintf(why, whylen, "%s", err);
		return -1;
	}
	p->self = id;
	if (!config_mode_has(p->conf->mode, p->self)) {
		snprintf(why, whylen, "%s: this node is %s, which mode %s does not use; nothing was sent",
		    p->conf_path, node_name(p->self), mode_name(p->conf->mode));
		return -1;
	}
	if ((answer = engine_call(p, "status", err, sizeof(err))) == NULL) {
		snprintf(why, whylen, "cannot ask this node's engine whether it is active: %s", err);
		return -1;
	}
	st = json_object_get(answer, "status");
	active = active_of(st);
	if (strcmp(jstr(st, "role"), "active") != 0)
		snprintf(why, whylen, "this node (%s) is passive: run lifeline config push on the "
		    "active node%s%s, after copying the file there", node_name(p->self),
		    active != NULL ? ", " : "", active != NULL ? active : "");
	else if (strcmp(jstr(st, "cluster"), p->conf->name) != 0 ||
	    strcmp(jstr(st, "mode"), mode_name(p->conf->mode)) != 0)
		snprintf(why, whylen, "%s names cluster %s in mode %s, the engine runs %s in mode %s: "
		    "a reload cannot change them; nothing was sent", p->conf_path, p->conf->name,
		    mode_name(p->conf->mode), jstr(st, "cluster"), jstr(st, "mode"));
	else
		rc = 0;
	json_decref(answer);
	return rc;
}

/* One phase to peer; its result and message recorded. */
static bool
ask_peer(struct push *p, enum node_id peer, uint8_t phase)
{
	struct wire_config_done done;
	struct wire_config_push req = p->req;

	req.phase = phase;
	if (agent_config_push(p->conf, p->self, peer, &req, &done, p->msg[peer],
	    sizeof(p->msg[peer])) < 0)
		return false;
	memcpy(p->hash[peer], done.config_hash, sizeof(p->hash[peer]));
	return true;
}

static void
say(const struct push *p, enum node_id id, const char *what)
{
	if (!p->json)
		printf("%s: %s: %s\n", node_name(id), what, p->msg[id]);
}

/* Step 3: prepare every other node of the mode; how many failed. */
static int
prepare_all(struct push *p)
{
	int failed = 0;

	for (int id = 0; id < NODE_COUNT; id++) {
		if (id == (int)p->self || !config_mode_has(p->conf->mode, id))
			continue;
		if (ask_peer(p, id, WIRE_CONFIG_PREPARE)) {
			p->result[id] = NR_PREPARED;
			say(p, id, "prepared");
		} else {
			p->result[id] = NR_FAILED;
			say(p, id, "FAILED");
			failed++;
		}
	}
	return failed;
}

/* Step 4: remove what the prepared nodes staged. */
static void
abort_all(struct push *p)
{
	for (int id = 0; id < NODE_COUNT; id++) {
		if (id == (int)p->self || p->result[id] != NR_PREPARED)
			continue;
		if (ask_peer(p, id, WIRE_CONFIG_ABORT))
			say(p, id, "aborted");
		else
			say(p, id, "abort FAILED (a staged copy that nothing uses stays; the next "
			    "push replaces it)");
		p->result[id] = NR_ABORTED;
	}
}

/* Step 5: this node's engine takes the file; -1 with why in p->msg[self]. */
static int
commit_here(struct push *p)
{
	char why[1024];
	json_t *answer = engine_call(p, "reload", why, sizeof(why));

	if (answer == NULL) {
		snprintf(p->msg[p->self], sizeof(p->msg[p->self]), "the engine refused the reload: %s",
		    why);
		return -1;
	}
	if (strcmp(jstr(answer, "config_hash"), p->conf->hash) != 0) {
		/* Edited again while the push ran: the others would get other bytes than it runs. */
		snprintf(p->msg[p->self], sizeof(p->msg[p->self]), "%s changed during the push (the "
		    "engine now runs %.12s, the checked file was %.12s); push it again", p->conf_path,
		    jstr(answer, "config_hash"), p->conf->hash);
		json_decref(answer);
		return -1;
	}
	xstrlcpy(p->hash[p->self], jstr(answer, "config_hash"), sizeof(p->hash[p->self]));
	snprintf(p->msg[p->self], sizeof(p->msg[p->self]), "the engine runs %s%s%s", p->conf_path,
	    json_is_string(json_object_get(answer, "warning")) ? "; " : "",
	    jstr(answer, "warning"));
	json_decref(answer);
	p->result[p->self] = NR_COMMITTED;
	say(p, p->self, "committed");
	return 0;
}

/* Step 6: commit every prepared node; how many failed. */
static int
commit_all(struct push *p)
{
	int failed = 0;

	for (int id = 0; id < NODE_COUNT; id++) {
		if (id == (int)p->self || p->result[id] != NR_PREPARED)
			continue;
		if (ask_peer(p, id, WIRE_CONFIG_COMMIT)) {
			p->result[id] = NR_COMMITTED;
			say(p, id, "committed");
		} else {
			p->result[id] = NR_COMMIT_FAILED;
			say(p, id, "COMMIT FAILED");
			failed++;
		}
	}
	return failed;
}

/* Whether every committed peer that this node hears beats with the hash it committed. */
static bool
converged(struct push *p, char *late, size_t latelen)
{
	char why[256];
	json_t *answer = engine_call(p, "status", why, sizeof(why)), *n;
	bool all = answer != NULL;
	size_t i;

	late[0] = '\0';
	json_array_foreach(json_object_get(json_object_get(answer, "status"), "nodes"), i, n) {
		int id = node_from_name(jstr(n, "identity"));

		if (id < 0 || id == (int)p->self || p->result[id] != NR_COMMITTED ||
		    !json_is_true(json_object_get(n, "reachable")))
			continue;
		if (strncmp(jstr(n, "config_hash"), p->hash[id], 2 * WIRE_HB_HASH_SIZE) != 0) {
			snprintf(late + strlen(late), latelen - strlen(late), "%s%s still runs %s",
			    late[0] != '\0' ? ", " : "", node_name(id),
			    json_is_string(json_object_get(n, "config_hash")) ?
			    jstr(n, "config_hash") : "an unknown configuration");
			all = false;
		}
	}
	json_decref(answer);
	return all;
}

/* Step 7, bounded: 0 when every reachable peer runs it, else -1 with who does not. */
static int
wait_converged(struct push *p, char *late, size_t latelen)
{
	uint64_t deadline = now_mono_ms() + CONVERGE_MS;

	while (!converged(p, late, latelen)) {
		if (now_mono_ms() >= deadline)
			return -1;
		nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
	}
	return 0;
}

/* "secondary, tertiary": the nodes whose result is r. */
static void
nodes_with(const struct push *p, enum node_result r, char *out, size_t outlen)
{
	out[0] = '\0';
	for (int id = 0; id < NODE_COUNT; id++)
		if (p->result[id] == r)
			snprintf(out + strlen(out), outlen - strlen(out), "%s%s",
			    out[0] != '\0' ? ", " : "", node_name(id));
}

static void
print_json(const struct push *p, bool ok, const char *summary)
{
	json_t *nodes = json_array(), *o;

	for (int id = 0; id < NODE_COUNT; id++) {
		if (p->result[id] == NR_NONE && id != (int)p->self)
			continue;
		json_array_append_new(nodes, json_pack("{s:s, s:s, s:s?, s:s}",
		    "identity", node_name(id), "result", result_names[p->result[id]],
		    "config_hash", wire_is_config_hash(p->hash[id]) ? p->hash[id] : NULL,
		    "message", p->msg[id]));
	}
	o = json_pack("{s:b, s:s, s:s, s:o}", "ok", ok, "config_hash", p->conf->hash,
	    "message", summary, "nodes", nodes);
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
}

/* The end: the summary on stdout (ok) or stderr (not), or the JSON object. */
static int
finish(const struct push *p, bool ok, const char *summary)
{
	if (p->json)
		print_json(p, ok, summary);
	if (ok && !p->json)
		printf("%s\n", summary);
	fflush(stdout);               /* the nodes' lines before the verdict */
	if (!ok)
		fprintf(stderr, "lifeline config push: %s\n", summary);
	return ok ? 0 : 1;
}

/* Phases 3 to 7 once the file is known good here; the exit code. */
static int
push_run(struct push *p)
{
	char names[64], late[512], summary[1400];

	p->result[p->self] = NR_PREPARED;
	snprintf(p->msg[p->self], sizeof(p->msg[p->self]), "valid here");
	xstrlcpy(p->hash[p->self], p->conf->hash, sizeof(p->hash[p->self]));
	if (prepare_all(p) > 0) {
		abort_all(p);
		p->result[p->self] = NR_ABORTED;     /* its engine was never asked to reload */
		nodes_with(p, NR_FAILED, names, sizeof(names));
		snprintf(summary, sizeof(summary), "not pushed: %s did not take it; every node keeps "
		    "the configuration it runs", names);
		return finish(p, false, summary);
	}
	if (commit_here(p) < 0) {
		p->result[p->self] = NR_FAILED;
		abort_all(p);
		snprintf(summary, sizeof(summary), "not pushed: %s; every node keeps the "
		    "configuration it runs", p->msg[p->self]);
		return finish(p, false, summary);
	}
	if (commit_all(p) > 0) {
		char done[64];

		nodes_with(p, NR_COMMITTED, done, sizeof(done));
		nodes_with(p, NR_COMMIT_FAILED, names, sizeof(names));
		snprintf(summary, sizeof(summary), "PARTIAL: %s run the new configuration %.12s, but "
		    "the commit failed on %s, which keeps the old one (status shows config_mismatch); "
		    "fix what it says and run lifeline config push again", done, p->conf->hash, names);
		return finish(p, false, summary);
	}
	if (wait_converged(p, late, sizeof(late)) < 0) {
		snprintf(summary, sizeof(summary), "committed everywhere, but after %d s %s; see "
		    "that node's lifeline events", CONVERGE_MS / 1000, late);
		return finish(p, false, summary);
	}
	snprintf(summary, sizeof(summary), "every node runs configuration %.12s", p->conf->hash);
	return finish(p, true, summary);
}

static int
push_command(struct cli_ctx *ctx, bool json)
{
	struct push p = { .ctx = ctx, .json = json };
	char why[1400];
	size_t len;
	char *text;
	int rc;

	p.conf_path = ctx->conf_path != NULL ? ctx->conf_path : CONFIG_DEFAULT_PATH;
	if (check_here(&p, why, sizeof(why)) < 0) {
		fprintf(stderr, "lifeline config push: %s\n", why);
		config_free(p.conf);
		return 1;
	}
	/* Read after the check; every node checks these very bytes again at its prepare. */
	if ((text = read_file(p.conf_path, WIRE_CONFIG_MAX_TEXT, &len)) == NULL) {
		fprintf(stderr, "lifeline config push: cannot read %s again\n", p.conf_path);
		config_free(p.conf);
		return 1;
	}
	p.req.text = text;
	p.req.len = (uint32_t)len;
	wire_config_digest(text, len, p.req.digest);
	rc = push_run(&p);
	free(text);
	config_free(p.conf);
	return rc;
}

int
config_command(struct cli_ctx *ctx, int argc, char **argv)
{
	bool json = false;

	if (argc < 2 || strcmp(argv[1], "push") != 0) {
		fprintf(stderr, "lifeline config: expected \"push [--json]\"\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else {
			fprintf(stderr, "lifeline config push: unknown argument \"%s\", expected --json\n",
			    argv[i]);
			return 2;
		}
	}
	return push_command(ctx, json);
}
