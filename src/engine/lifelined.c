/*
 * lifelined: the Lifeline engine, one per node. main() reads the flags and
 * the configuration, sets up the event loop and its handlers, and runs.
 * Everything the engine does happens on that one loop.
 */
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/identity.h"
#include "engine/membership.h"
#include "engine/replication.h"
#include "engine/roles.h"
#include "engine/sdunit.h"
#include "engine/services.h"
#include "engine/state.h"
#include "engine/status.h"
#include "common/config.h"
#include "common/control.h"
#include "common/ctl.h"
#include "common/log.h"
#include "common/options.h"
#include "common/util.h"
#include "common/wire.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LIFELINE_VERSION
#define LIFELINE_VERSION "0.1.0"
#endif


/* The options, as one table: getopt, usage and the man page read it. */
static const struct option_row option_rows[] = {
	{ "config",   'f', "FILE", "configuration file (default " CONFIG_DEFAULT_PATH ")" },
	{ "identity", 'i', "NAME", "this node's identity, instead of " IDENTITY_DEFAULT_PATH },
	{ "socket",   's', "PATH", "control socket (default STATE_DIR/" CTL_SOCKET_NAME ")" },
	{ "debug",    'd', NULL,   "log to stderr instead of syslog" },
	{ "check",    'n', NULL,   "check the configuration and exit: 0, or FILE:LINE: message and 1" },
	{ "verbose",  'v', NULL,   "more logging; with -n, print the normalized configuration" },
	{ "version",  'V', NULL,   "print the version and exit" },
	{ "help",     'h', NULL,   "print this help and exit" },
};

static void
usage(FILE *out)
{
	options_usage(out, "lifelined [-dnvV] [-f FILE] [-i NAME] [-s PATH]", option_rows,
	    nitems(option_rows));
}

static json_t *cmd_status(void *ctx, json_t *req, struct control_later *later);
static json_t *cmd_reload(void *ctx, json_t *req, struct control_later *later);
static json_t *cmd_switchover(void *ctx, json_t *req, struct control_later *later);
static json_t *cmd_make_active(void *ctx, json_t *req, struct control_later *later);
static json_t *cmd_stop(void *ctx, json_t *req, struct control_later *later);
static json_t *cmd_check(void *ctx, json_t *req, struct control_later *later);
static json_t *cmd_check_wait(void *ctx, json_t *req, struct control_later *later);

static const struct control_command control_table[] = {
	{ "status", cmd_status, "this node and the cluster as this node sees it" },
	{ "reload", cmd_reload, "re-read the configuration file, all or nothing" },
	{ "stop", cmd_stop, "stop the engine: {\"apps\": \"stop\"|\"leave\", \"cluster\": bool}" },
	{ "make-active", cmd_make_active, "become active now: {\"force\": true} (the active site is lost)" },
	{ "switchover", cmd_switchover, "hand the active role to a node: {\"to\": NODE} or the default" },
	{ "check", cmd_check, "start a system check of the protected set: {\"full\": true, "
	    "\"rehash\": false}" },
	{ "check_wait", cmd_check_wait, "answer when check {\"id\"} ended, or after "
	    "{\"timeout_ms\"}" },
	{ NULL, NULL, NULL },
};

static json_t *
cmd_status(void *ctx, json_t *req, struct control_later *later)
{
	struct engine *e = ctx;
	json_t *answer = ctl_ok();

	json_object_set_new(answer, "status", status_json(e));
	return answer;
}

/*
 * Swap in a new configuration, or keep the running one and say why. What
 * cannot change under a running engine (its state folder, cluster name,
 * mode, its own node) is refused here rather than half applied.
 */
static int
reload(struct engine *e, char *why, size_t whylen)
{
	struct config *next, *old;
	char err[1024];

	if ((next = config_load(e->conf_path, err, sizeof(err))) == NULL) {
		snprintf(why, whylen, "%s", err);
		return -1;
	}
	if (strcmp(next->state_dir, e->conf->state_dir) != 0 ||
	    strcmp(next->name, e->conf->name) != 0 || next->mode != e->conf->mode) {
		snprintf(why, whylen, "%s: cluster name, mode or state_dir changed; "
		    "these need an engine restart", e->conf_path);
		goto refuse;
	}
	if (strcmp(next->hash, e->conf->hash) == 0) {
		config_free(next);
		log_info("reload: configuration unchanged (%.12s)", e->conf->hash);
		return 0;
	}
	old = e->conf;
	e->conf = next;
	services_reconcile(e->services, old);
	config_free(old);
	log_info("reload: now running configuration %.12s", e->conf->hash);
	return 0;
refuse:
	config_free(next);
	return -1;
}

static struct control_later *reload_later;   /* a lifeline reload waiting for the data plane */

static void
on_repl_reloaded(void *arg, bool ok, const char *why)
{
	struct engine *e = arg;
	json_t *answer = ctl_ok();

	json_object_set_new(answer, "config_hash", json_string(e->conf->hash));
	if (!ok) {
		event(e, EV_WARNING, "config", "lifeline-repl kept its settings: %s", why);
		json_object_set_new(answer, "warning", json_sprintf("lifeline-repl kept its "
		    "settings: %s", why));
	}
	if (reload_later != NULL)
		control_answer(reload_later, answer);
	else
		json_decref(answer);
	reload_later = NULL;
}

static json_t *
cmd_reload(void *ctx, json_t *req, struct control_later *later)
{
	struct engine *e = ctx;
	char why[1024];
	
	if (reload(e, why, sizeof(why)) < 0) {
		event(e, EV_WARNING, "config", "reload refused, keeping the running configuration: %s", why);
		return ctl_error("reload refused, the running configuration is kept: %s", why);
	}
	if (later == NULL) {
		replication_reload(e->replication, NULL, NULL);
		return ctl_ok();
	}
	/* Answered once the data plane took it too. */
	reload_later = later;
	replication_reload(e->replication, on_repl_reloaded, e);
	return NULL;
}

static json_t *
cmd_switchover(void *ctx, json_t *req, struct control_later *later)
{
	struct engine *e = ctx;
	json_t *to = json_object_get(req, "to"), *answer;
	int target = -1, resolved;
	char err[512];

	if (to != NULL && (!json_is_string(to) || (target = node_from_name(json_string_value(to))) < 0))
		return ctl_error("\"to\" must be primary, secondary or tertiary");
	if (roles_switchover(e->roles, target, &resolved, err, sizeof(err)) < 0) {
		event(e, EV_WARNING, "refusal", "switchover refused: %s", err);
		return ctl_error("switchover refused: %s", err);
	}
	answer = ctl_ok();
	json_object_set_new(answer, "reply_seq", json_integer((json_int_t)e->switch_reply.seq));
	json_object_set_new(answer, "target", json_string(node_name(resolved)));
	json_object_set_new(answer, "forwarded", json_boolean(e->role != ROLE_ACTIVE));
	return answer;
}

static json_t *
cmd_make_active(void *ctx, json_t *req, struct control_later *later)
{
	struct engine *e = ctx;
	json_t *answer;
	char err[512];

	if (!json_is_true(json_object_get(req, "force")))
		return ctl_error("make-active needs \"force\": true: it overrides the failover rules");
	if (roles_make_active(e->roles, err, sizeof(err)) < 0) {
		event(e, EV_WARNING, "refusal", "make-active refused: %s", err);
		return ctl_error("make-active refused: %s", err);
	}
	answer = ctl_ok();
	json_object_set_new(answer, "epoch", json_integer((json_int_t)e->state.epoch));
	return answer;
}

static void
on_check_started(void *arg, uint64_t id, const char *why)
{
	json_t *answer;

	if (why != NULL) {
		control_answer(arg, ctl_error("check refused: %s", why));
		return;
	}
	answer = ctl_ok();
	json_object_set_new(answer, "id", json_integer((json_int_t)id));
	control_answer(arg, answer);
}

/* lifeline check: the active's lifeline-repl runs it; a passive says where. */
static json_t *
cmd_check(void *ctx, json_t *req, struct control_later *later)
{
	struct engine *e = ctx;

	if (e->role != ROLE_ACTIVE)
		return ctl_error("a check runs on the active node%s%s; this node is passive",
		    e->state.active >= 0 ? ", " : "",
		    e->state.active >= 0 ? node_name(e->state.active) : "");
	if (later == NULL)
		return ctl_error("\"check\" is answered later");
	event(e, EV_INFO, "replication", "%s system check requested%s",
	    json_is_true(json_object_get(req, "full")) ? "full" : "targeted",
	    json_is_true(json_object_get(req, "rehash")) ? ", reading every file (rehash)" : "");
	replication_check(e->replication, json_is_true(json_object_get(req, "full")),
	    json_is_true(json_object_get(req, "rehash")), on_check_started, later);
	return NULL;
}

static void
on_check_over(void *arg, json_t *check, const char *why)
{
	json_t *answer;

	if (why != NULL) {
		control_answer(arg, ctl_error("waiting for the check: %s", why));
		return;
	}
	answer = ctl_ok();
	json_object_set(answer, "check", check);
	control_answer(arg, answer);
}

/*
 * lifeline check --wait: answered when check "id" ends, as lifeline-repl
 * sees it at once (not from the status it polls), or after "timeout_ms"
 * (at most CTL_CHECK_WAIT_MAX_MS) with the check still running; the CLI asks
 * again. The loop never waits for it.
 */
static json_t *
cmd_check_wait(void *ctx, json_t *req, struct control_later *later)
{
	struct engine *e = ctx;
	json_t *bad;
	uint64_t id;
	int timeout_ms;

	if (e->role != ROLE_ACTIVE)
		return ctl_error("a check runs on the active node; this node is passive");
	if ((bad = ctl_check_wait_args(req, &id, &timeout_ms)) != NULL)
		return bad;
	if (later == NULL)
		return ctl_error("\"check_wait\" is answered later");
	replication_check_wait(e->replication, id, timeout_ms, on_check_over, later);
	return NULL;
}

#define APPS_MARKER   "apps-left-running.json"
#define CLUSTER_STOP_GRACE_MS 1000   /* peers stop first, so none fails over */

static void
on_stop_due(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	event_base_loopexit(e->base, NULL);
}

/*
 * Leave the loop soon: after the answer to the CLI is out, and for a
 * cluster stop after the peers had time to stop first.
 */
static void
schedule_stop(struct engine *e, bool leave_apps, uint64_t delay_ms)
{
	struct timeval tv = { (time_t)(delay_ms / 1000), (suseconds_t)(delay_ms % 1000) * 1000 };

	e->leave_apps = leave_apps;
	roles_hold(e->roles);
	event_base_once(e->base, -1, EV_TIMEOUT, on_stop_due, e, &tv);
}

static json_t *
cmd_stop(void *ctx, json_t *req, struct control_later *later)
{
	struct engine *e = ctx;
	const char *apps = json_string_value(json_object_get(req, "apps"));
	bool cluster = json_is_true(json_object_get(req, "cluster")), leave;
	json_t *answer;
	int peers = 0;

	if (apps == NULL || (strcmp(apps, "stop") != 0 && strcmp(apps, "leave") != 0))
		return ctl_error("\"apps\" must be \"stop\" or \"leave\": say what becomes of the applications");
	leave = strcmp(apps, "leave") == 0;
	if (cluster && e->membership != NULL)
		peers = membership_broadcast_stop(e->membership, leave ? WIRE_LEAVE_APPS : WIRE_STOP_APPS);
	event(e, EV_INFO, "engine", "stop requested (%s, applications %s)",
	    cluster ? "every node" : "this node", leave ? "left running" : "stopped");
	schedule_stop(e, leave, cluster ? CLUSTER_STOP_GRACE_MS : 100);
	answer = ctl_ok();
	json_object_set_new(answer, "peers", json_integer(peers));
	return answer;
}

/* lifeline engine stop --cluster, given on another node. */
static void
on_peer_engine_stop(struct engine *e, enum node_id from, int apps)
{
	event(e, EV_INFO, "engine", "stop requested by %s (applications %s)", node_name(from),
	    apps == WIRE_LEAVE_APPS ? "left running" : "stopped");
	schedule_stop(e, apps == WIRE_LEAVE_APPS, 100);
}

/*
 * Stopping with the applications left running on the active: record what
 * runs, so that the next engine adopts it instead of hiding the node.
 */
static void
write_apps_marker(struct engine *e)
{
	char *path = xasprintf("%s/%s", e->conf->state_dir, APPS_MARKER);
	json_t *m = json_pack("{s:I, s:o}", "epoch", (json_int_t)e->state.epoch,
	    "services", services_running_pids(e->services));
	char *text = json_dumps(m, JSON_INDENT(2));

	if (text == NULL || write_file_atomic(path, text, strlen(text), 0600) < 0)
		log_warn("cannot record the applications left running in %s", path);
	free(text);
	json_decref(m);
	free(path);
}

/*
 * At start: were applications left running by the previous engine? When
 * this node is still the active of that epoch it resumes serving and adopts
 * them; otherwise they must not serve from a node that is no longer active,
 * and are stopped. Returns whether to resume active; removes the marker.
 */
static bool
take_apps_marker(struct engine *e, json_t **services)
{
	char *path = xasprintf("%s/%s", e->conf->state_dir, APPS_MARKER);
	json_t *m = json_load_file(path, 0, NULL), *pid;
	const char *name;
	bool resume = false;

	*services = NULL;
	if (m == NULL) {
		free(path);
		return false;
	}
	if ((uint64_t)json_integer_value(json_object_get(m, "epoch")) == e->state.epoch &&
	    e->state.active == (int)e->self) {
		resume = true;
		*services = json_incref(json_object_get(m, "services"));
	} else {
		json_object_foreach(json_object_get(m, "services"), name, pid) {
			if (json_is_integer(pid) && json_integer_value(pid) > 1) {
				log_warnx("service %s (pid %lld) was left running but this node is "
				    "no longer active: stopping it", name, (long long)json_integer_value(pid));
				kill(-(pid_t)json_integer_value(pid), SIGTERM);
			}
		}
	}
	json_decref(m);
	unlink(path);
	free(path);
	return resume;
}

/*
 * lifeline-repl died on the active node: the applications' writes are no
 * longer captured, a failed protected component like any other. Switch
 * over to an in-sync stand-by (it has every record acknowledged so far).
 */
static void
on_repl_death(struct engine *e, const char *why)
{
	char err[512];
	int resolved;

	event(e, EV_WARNING, "replication", "lifeline-repl failed on the active node (%s): "
	    "switching over", why);
	if (roles_switchover(e->roles, -1, &resolved, err, sizeof(err)) < 0)
		event(e, EV_WARNING, "refusal", "switchover after the data plane failed refused: %s; "
		    "this node stays active and starts lifeline-repl again", err);
}

/*
 * A protected service's action list asks for a switchover: hand the role
 * to the default stand-by. The services module restarts the service here
 * when this is refused (no stand-by in sync, none heard).
 */
static int
on_service_switchover(struct engine *e, const char *why, char *err, size_t errlen)
{
	int resolved;

	if (e->roles == NULL) {
		snprintf(err, errlen, "the role machine is not running");
		return -1;
	}
	if (roles_switchover(e->roles, -1, &resolved, err, errlen) < 0)
		return -1;
	event(e, EV_WARNING, "role", "switchover to %s because %s", node_name(resolved), why);
	return 0;
}

/* A peer asks this node, the active, to hand over its role. */
static void
on_peer_switchover(struct engine *e, enum node_id from, enum node_id target)
{
	char err[512];
	int resolved;

	event(e, EV_INFO, "role", "switchover to %s requested by %s", node_name(target), node_name(from));
	if (e->role != ROLE_ACTIVE)
		snprintf(err, sizeof(err), "%s is not active", node_name(e->self));
	else if (roles_switchover(e->roles, target, &resolved, err, sizeof(err)) == 0) {
		membership_send_switchover_reply(e->membership, from, 1, target, "started");
		return;
	}
	event(e, EV_WARNING, "refusal", "switchover requested by %s refused: %s", node_name(from), err);
	membership_send_switchover_reply(e->membership, from, 0, target, err);
}

/* The active answered a switchover this node forwarded. */
static void
on_switchover_reply(struct engine *e, enum node_id from, int started, int target, const char *reason)
{
	e->switch_reply.seq++;
	e->switch_reply.started = started;
	e->switch_reply.target = target;
	xstrlcpy(e->switch_reply.reason, reason, sizeof(e->switch_reply.reason));
	if (!started)
		event(e, EV_WARNING, "refusal", "switchover to %s refused by %s: %s", node_name(target),
		    node_name(from), reason);
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	char why[1024];

	if (reload(arg, why, sizeof(why)) < 0)
		event(arg, EV_WARNING, "config", "reload refused, keeping the running configuration: %s", why);
	else
		replication_reload(((struct engine *)arg)->replication, NULL, NULL);
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct engine *e = arg;

	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(e->base, NULL);
}

static int
check_config(const char *path, int verbose)
{
	char err[1024];
	struct config *conf;

	if ((conf = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (verbose)
		config_print(stdout, conf);
	config_free(conf);
	return 0;
}

/* Load config, identity and role state into e; exits with a message on error. */
static void
load_engine(struct engine *e, const char *identity)
{
	char err[1024];
	int id, rc;

	if ((e->conf = config_load(e->conf_path, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((id = identity_load(identity, NULL, err, sizeof(err))) < 0)
		fatalx("%s", err);
	e->self = id;
	if (!config_mode_has(e->conf->mode, e->self))
		fatalx("%s: this node is %s, which mode %s does not use", e->conf_path,
		    node_name(e->self), mode_name(e->conf->mode));
	if (mkdir_p(e->conf->state_dir, 0700) < 0)
		fatal("cannot create state_dir %s", e->conf->state_dir);
	rc = state_load(e->conf->state_dir, &e->state, err, sizeof(err));
	if (rc < 0)
		fatalx("%s", err);
	if (rc == 0) {
		state_new_cluster(&e->state);
		if (state_save(e->conf->state_dir, &e->state) < 0)
			fatalx("cannot persist the role state; refusing to run without it");
		log_info("new node: epoch 1, primary recorded as active");
	}
}

int
main(int argc, char *argv[])
{
	struct option longopts[nitems(option_rows) + 1];
	char shortopts[2 * nitems(option_rows) + 1];
	const char *identity = NULL, *sock = NULL;
	int debug = 0, check = 0, verbose = 0, ch;
	struct engine e = { .conf_path = CONFIG_DEFAULT_PATH };
	struct event *ev_term, *ev_int, *ev_hup;
	struct sdbus *bus = NULL;        /* systemd's, for protected units */
	char *sockpath;

	if (argc == 2 && strcmp(argv[1], "--mdoc") == 0) {
		options_mdoc(stdout, option_rows, nitems(option_rows));
		return 0;
	}
	options_getopt(option_rows, nitems(option_rows), longopts, shortopts);
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': e.conf_path = optarg; break;
		case 'i': identity = optarg; break;
		case 's': sock = optarg; break;
		case 'd': debug = 1; break;
		case 'n': check = 1; break;
		case 'v': verbose++; break;
		case 'V': printf("lifelined %s\n", LIFELINE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "lifelined: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(e.conf_path, verbose);

	log_init(debug ? LOG_TO_STDERR : LOG_TO_SYSLOG, verbose, "lifelined");
	signal(SIGPIPE, SIG_IGN);
	load_engine(&e, identity);
	e.started_ms = now_mono_ms();
	events_open(&e);
	if ((e.base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");

	sockpath = sock ? xstrdup(sock) : xasprintf("%s/%s", e.conf->state_dir, CTL_SOCKET_NAME);
	if ((e.control = control_new(e.base, &e, sockpath, control_table)) == NULL)
		fatalx("cannot serve the control socket %s", sockpath);
	ev_term = evsignal_new(e.base, SIGTERM, on_sigterm, &e);
	ev_int = evsignal_new(e.base, SIGINT, on_sigterm, &e);
	ev_hup = evsignal_new(e.base, SIGHUP, on_sighup, &e);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	if (sdunit_systemd_runs()) {
		char berr[512];

		if ((bus = sdbus_open(e.base, berr, sizeof(berr))) == NULL)
			log_warnx("systemd runs but its bus cannot be reached (%s): protected "
			    "units are not supervised", berr);
	}
	e.services = services_new(&e, bus);
	services_on_switchover(e.services, on_service_switchover);
	{
		char err[512];
		json_t *adopt, *pid;
		const char *name;
		bool resume = take_apps_marker(&e, &adopt);

		/* Hidden before anything else (invariant 2); a node that cannot hide must not run. */
		if ((e.roles = roles_new(&e, resume, err, sizeof(err))) == NULL)
			fatalx("cannot hide the public IP, refusing to run: %s", err);
		json_object_foreach(adopt, name, pid)
			if (json_is_integer(pid))
				services_adopt(e.services, name, (pid_t)json_integer_value(pid));
		if (resume)
			event(&e, EV_INFO, "role", "active in epoch %llu: resuming with the applications "
			    "left running", (unsigned long long)e.state.epoch);
		json_decref(adopt);
		e.replication = replication_new(&e, debug);
		replication_on_death(e.replication, on_repl_death);
		/* Without TLS material the node runs alone and says why in status. */
		if ((e.membership = membership_new(&e, err, sizeof(err))) == NULL) {
			snprintf(e.alone, sizeof(e.alone), "no channels: %s", err);
			log_warnx("%s", e.alone);
		} else {
			membership_on_switchover(e.membership, on_peer_switchover);
			membership_on_engine_stop(e.membership, on_peer_engine_stop);
			membership_on_switchover_reply(e.membership, on_switchover_reply);
		}
	}
	event(&e, EV_INFO, "engine", "lifelined %s: cluster %s, mode %s, node %s, epoch %llu, %s",
	    LIFELINE_VERSION, e.conf->name, mode_name(e.conf->mode), node_name(e.self),
	    (unsigned long long)e.state.epoch, e.role == ROLE_ACTIVE ?
	    "resuming active with the applications left running" : "starting passive and hidden");

	event_base_dispatch(e.base);

	roles_free(e.roles);
	membership_free(e.membership);
	if (e.leave_apps && e.role == ROLE_ACTIVE) {
		/* Applications, address and unhidden filter stay: they keep serving, unwatched. */
		write_apps_marker(&e);
		event(&e, EV_INFO, "engine", "stopping with the applications left running and unwatched");
	} else {
		services_stop_all(e.services);
		identity_release(&e);
	}
	/*
	 * The data plane outlives the engine when the applications are left
	 * running (the active keeps capturing, a passive keeps receiving).
	 */
	replication_free(e.replication, !e.leave_apps);
	services_free(e.services);
	sdbus_close(bus);
	control_free(e.control);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_base_free(e.base);
	config_free(e.conf);
	free(sockpath);
	event(&e, EV_INFO, "engine", "stopped");
	events_close();
	return 0;
}
