/*
 * lifeline-repl: the data plane of one node. main() reads the flags and the
 * configuration, opens the plane and serves lifelined's requests on the
 * control socket (common/replctl.h). lifelined starts it and says which
 * role the node has; it keeps running when lifelined stops with the
 * applications left running.
 */
#include "repl/agent.h"
#include "repl/configstage.h"
#include "repl/plane.h"
#include "common/config.h"
#include "common/control.h"
#include "common/ctl.h"
#include "common/log.h"
#include "common/options.h"
#include "common/plugindir.h"
#include "common/replctl.h"
#include "common/spawn.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef LIFELINE_VERSION
#define LIFELINE_VERSION "0.1.0"
#endif

#define DRAIN_DEFAULT_MS 30000
#define ENGINE_START_GRACE_MS 15000  /* a lifelined started here may take this long to answer */

/* The options, as one table: getopt, usage and the man page read it. */
static const struct option_row option_rows[] = {
	{ "config",   'f', "FILE", "configuration file (default " CONFIG_DEFAULT_PATH ")" },
	{ "identity", 'i', "NAME", "this node's identity, instead of " IDENTITY_DEFAULT_PATH },
	{ "debug",    'd', NULL,   "log to stderr instead of syslog" },
	{ "verbose",  'v', NULL,   "more logging" },
	{ "version",  'V', NULL,   "print the version and exit" },
	{ "help",     'h', NULL,   "print this help and exit" },
};

struct repl {
	struct event_base *base;
	const char        *conf_path;
	struct config     *conf;
	enum node_id       self;
	struct plane      *plane;
	struct agent      *agent;
	pid_t              engine_pid;       /* the lifelined this process started last */
	uint64_t           engine_started_ms;
};

static void
usage(FILE *out)
{
	options_usage(out, "lifeline-repl [-dvV] [-f FILE] [-i NAME]", option_rows,
	    nitems(option_rows));
}

/* ---- requests ---- */

/* A node name from a request field; -1 with the reason in err. */
static int
node_field(json_t *v, const char *field, char *err, size_t errlen)
{
	int id;

	if (!json_is_string(v) || (id = node_from_name(json_string_value(v))) < 0) {
		snprintf(err, errlen, "\"%s\" must be primary, secondary or tertiary", field);
		return -1;
	}
	return id;
}

/* "downstream": [NODE...] into down[]; its count, or -1 with err. */
static int
downstream_field(const struct repl *r, json_t *req, int *down, char *err, size_t errlen)
{
	json_t *list = json_object_get(req, "downstream"), *v;
	size_t i;

	if (list == NULL)
		return 0;
	if (!json_is_array(list) || json_array_size(list) >= NODE_COUNT) {
		snprintf(err, errlen, "\"downstream\" must be a list of at most %d nodes", NODE_COUNT - 1);
		return -1;
	}
	json_array_foreach(list, i, v) {
		if ((down[i] = node_field(v, "downstream", err, errlen)) < 0)
			return -1;
		if (down[i] == (int)r->self || !config_mode_has(r->conf->mode, down[i])) {
			snprintf(err, errlen, "downstream %s is not another node of this %s cluster",
			    node_name(down[i]), mode_name(r->conf->mode));
			return -1;
		}
	}
	return (int)json_array_size(list);
}

static json_t *
cmd_status(void *ctx, json_t *req, struct control_later *later)
{
	struct repl *r = ctx;
	json_t *answer = ctl_ok();
	json_t *st = plane_status(r->plane);

	/* What it was started with: lifelined restarts an idle one that runs an older one. */
	json_object_set_new(st, "config_hash", json_string(r->conf->hash));
	json_object_set_new(answer, "replication", st);
	return answer;
}

static void
on_role_done(void *arg, int rc, uint64_t last_seq, const char *why)
{
	json_t *answer;

	if (rc < 0)
		answer = ctl_error("%s", why);
	else {
		answer = ctl_ok();
		json_object_set_new(answer, "last_seq", json_integer((json_int_t)last_seq));
	}
	control_answer(arg, answer);
}

static json_t *
cmd_role(void *ctx, json_t *req, struct control_later *later)
{
	struct repl *r = ctx;
	const char *role = json_string_value(json_object_get(req, "role"));
	json_t *epoch = json_object_get(req, "epoch"), *up = json_object_get(req, "upstream");
	int down[NODE_COUNT], ndown, upstream = -1;
	char err[256];

	if (role == NULL || (strcmp(role, "active") != 0 && strcmp(role, "passive") != 0))
		return ctl_error("\"role\" must be \"active\" or \"passive\"");
	if (!json_is_integer(epoch) || json_integer_value(epoch) < 1)
		return ctl_error("\"epoch\" must be a positive integer");
	if ((ndown = downstream_field(r, req, down, err, sizeof(err))) < 0)
		return ctl_error("%s", err);
	if (up != NULL && !json_is_null(up) && (upstream = node_field(up, "upstream", err,
	    sizeof(err))) < 0)
		return ctl_error("%s", err);
	if (strcmp(role, "active") == 0) {
		if (upstream >= 0)
			return ctl_error("an active node has no upstream");
		if (later == NULL)
			return ctl_error("\"role\": \"active\" is answered later");
		plane_activate(r->plane, (uint64_t)json_integer_value(epoch), down, (size_t)ndown,
		    on_role_done, later);
		return NULL;
	}
	if (upstream == (int)r->self)
		return ctl_error("a node is not its own upstream");
	if (plane_passive(r->plane, (uint64_t)json_integer_value(epoch), upstream, down,
	    (size_t)ndown, err, sizeof(err)) < 0)
		return ctl_error("%s", err);
	return ctl_ok();
}

static json_t *
cmd_drain(void *ctx, json_t *req, struct control_later *later)
{
	struct repl *r = ctx;
	json_t *t = json_object_get(req, "timeout_ms");
	json_int_t timeout = DRAIN_DEFAULT_MS;
	int down[NODE_COUNT], ndown;
	char err[256];

	if (t != NULL && (!json_is_integer(t) || (timeout = json_integer_value(t)) < 0 ||
	    timeout > 3600 * 1000))
		return ctl_error("\"timeout_ms\" must be an integer from 0 to 3600000");
	if ((ndown = downstream_field(r, req, down, err, sizeof(err))) < 0)
		return ctl_error("%s", err);
	if (later == NULL)
		return ctl_error("\"drain\" is answered later");
	plane_drain(r->plane, down, (size_t)ndown, (int)timeout, on_role_done, later);
	return NULL;
}

/* Whether two lists of strings are the same, in order. */
static bool
same_list(const struct strlist *a, const struct strlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/* Whether the channel addresses of every node are the same: the streams were set up on them. */
static bool
same_channels(const struct config *a, const struct config *b)
{
	for (int id = 0; id < NODE_COUNT; id++) {
		const struct node_conf *x = &a->nodes[id], *y = &b->nodes[id];

		if (x->nchannels != y->nchannels)
			return false;
		for (size_t i = 0; i < x->nchannels; i++)
			if (!ipaddr_equal(&x->channels[i], &y->channels[i]) ||
			    x->channels[i].prefix != y->channels[i].prefix)
				return false;
	}
	return true;
}

/*
 * lifelined reloaded its configuration: take the [replication] settings.
 * What the running plane was built from (the protected folders, TLS, the
 * nodes' channels) is refused: it needs a restart of lifeline-repl, which
 * the answer says.
 */
static json_t *
cmd_reload(void *ctx, json_t *req, struct control_later *later)
{
	struct repl *r = ctx;
	struct config *next;
	char err[1024];
	json_t *answer;

	if ((next = config_load(r->conf_path, err, sizeof(err))) == NULL)
		return ctl_error("%s", err);
	/* Records name folders by number: the protected set changes only between two runs. */
	if (!same_list(&next->protect_data, &r->conf->protect_data) ||
	    !same_list(&next->protect_config, &r->conf->protect_config) ||
	    !same_list(&next->protect_exclude, &r->conf->protect_exclude) ||
	    strcmp(next->tls_dir, r->conf->tls_dir) != 0 ||
	    !same_channels(next, r->conf)) {
		config_free(next);
		return ctl_error("the protected folders, config entries or exclude patterns, tls_dir "
		    "or the nodes' addresses changed: lifeline-repl takes them at its next start "
		    "(lifeline engine stop --cluster --stop-apps, then lifeline engine start "
		    "--cluster); the [replication] settings were not taken either");
	}
	plane_tune(r->plane, next);
	log_info("reload: replication mode %s, queue %" PRIu64 " bytes", repl_mode_name(next->repl_mode),
	    next->queue_bytes);
	answer = ctl_ok();
	json_object_set_new(answer, "config_hash", json_string(next->hash));
	config_free(next);
	return answer;
}

static json_t *
cmd_check(void *ctx, json_t *req, struct control_later *later)
{
	struct repl *r = ctx;
	char err[256];

	json_t *answer;

	if (plane_check(r->plane, json_is_true(json_object_get(req, "full")),
	    json_is_true(json_object_get(req, "rehash")), err, sizeof(err)) < 0)
		return ctl_error("%s", err);
	answer = ctl_ok();
	json_object_set_new(answer, "id", json_integer((json_int_t)plane_check_id(r->plane)));
	return answer;
}

static void
on_check_over(void *arg, json_t *check)
{
	json_t *answer;

	if (check == NULL) {
		control_answer(arg, ctl_error("lifeline-repl is stopping"));
		return;
	}
	answer = ctl_ok();
	json_object_set(answer, "check", check);
	control_answer(arg, answer);
}

/*
 * Answered when check "id" is no longer running, or after "timeout_ms"
 * (at most CTL_CHECK_WAIT_MAX_MS) with it still running: the caller asks
 * again. The answer's "check" is the status's.
 */
static json_t *
cmd_check_wait(void *ctx, json_t *req, struct control_later *later)
{
	struct repl *r = ctx;
	json_t *bad;
	uint64_t id;
	int timeout_ms;

	if ((bad = ctl_check_wait_args(req, &id, &timeout_ms)) != NULL)
		return bad;
	if (later == NULL)
		return ctl_error("\"check_wait\" is answered later");
	plane_check_wait(r->plane, id, timeout_ms, on_check_over, later);
	return NULL;
}

static json_t *
cmd_stop(void *ctx, json_t *req, struct control_later *later)
{
	struct repl *r = ctx;
	struct timeval soon = { 0, 50 * 1000 };

	log_info("stop requested by lifelined");
	event_base_loopexit(r->base, &soon);
	return ctl_ok();
}

static const struct control_command control_table[] = {
	{ "status", cmd_status, "replication status of this node" },
	{ "role", cmd_role, "{\"role\", \"epoch\", \"upstream\", \"downstream\"}: this node's part of the chain" },
	{ "drain", cmd_drain, "the active's applications stopped: ship every record, {\"timeout_ms\"}" },
	{ "check", cmd_check, "start a check on the active: {\"full\": true, \"rehash\": false}" },
	{ "check_wait", cmd_check_wait, "answer when check {\"id\"} ends, or after {\"timeout_ms\"}" },
	{ "reload", cmd_reload, "take the [replication] settings of the configuration file again" },
	{ "stop", cmd_stop, "unmount and exit" },
	{ NULL, NULL, NULL },
};

/* ---- the engine, started for another node ---- */

/* Whether lifelined listens on its control socket: a UNIX connect does not wait. */
static bool
engine_listens(const struct repl *r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	bool yes;
	int fd;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", r->conf->state_dir,
	    CTL_SOCKET_NAME) >= sizeof(sun.sun_path))
		return false;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return false;
	yes = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno == EAGAIN;
	close(fd);
	return yes;
}

/*
 * Have the engine read its configuration again, when it runs: through
 * `lifeline reload`, started apart, since this loop must not wait on the
 * engine (whose reload asks this process in turn); its output goes to
 * STATE_DIR/log/LOGNAME. What was done is added to msg.
 */
static void
ask_engine_reload(struct repl *r, const char *logname, char *msg, size_t msglen)
{
	char *prog, *logdir, *logpath, *argv[6];
	size_t at = strlen(msg);
	int report_fd;

	if (!engine_listens(r)) {
		snprintf(msg + at, msglen - at, "; the engine does not run here and reads it when it "
		    "starts");
		return;
	}
	if ((prog = spawn_program_beside("lifeline")) == NULL) {
		snprintf(msg + at, msglen - at, "; no lifeline command here to make the engine reload");
		return;
	}
	logdir = xasprintf("%s/log", r->conf->state_dir);
	logpath = xasprintf("%s/%s", logdir, logname);
	if (mkdir_p(logdir, 0700) < 0)       /* spawn_detached writes the output there */
		log_warn("cannot create %s", logdir);
	argv[0] = prog;
	argv[1] = "-f";
	argv[2] = (char *)r->conf_path;
	argv[3] = "reload";
	argv[4] = NULL;
	if (spawn_detached(argv, logpath, &report_fd, msg + at, msglen - at) >= 0) {
		close(report_fd);
		snprintf(msg + at, msglen - at, "; the engine reloads");
	}
	free(logdir);
	free(logpath);
	free(prog);
}

/*
 * Plug-in files another node installed or uninstalled: put (or drop) them
 * in STATE_DIR/plugins, keep them only if this node's configuration with
 * them is valid, and have the engine read it again.
 */
static int
on_plugin_files(void *arg, enum node_id peer, const struct wire_plugin_files *req, char *msg,
    size_t msglen)
{
	struct repl *r = arg;
	char *dir = xasprintf("%s/plugins", r->conf->state_dir), err[512];
	struct config *check;
	int rc = -1;

	if (req->op == WIRE_PLUGIN_DROP) {
		snprintf(msg, msglen, "removed %d file(s) of plug-in %s",
		    plugindir_remove(dir, req->plugin), req->plugin);
	} else if (plugindir_put(dir, req, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "%s", err);
		goto out;
	} else if ((check = config_load(r->conf_path, err, sizeof(err))) == NULL) {
		plugindir_remove(dir, req->plugin);
		snprintf(msg, msglen, "the configuration here with it is not valid: %s", err);
		goto out;
	} else {
		config_free(check);
		snprintf(msg, msglen, "installed plug-in %s (%zu files)", req->plugin, req->nfiles);
	}
	ask_engine_reload(r, "plugin-reload.log", msg, msglen);
	rc = 0;
out:
	free(dir);
	return rc;
}

/*
 * A phase of `lifeline config push` from the active (repl/configstage.h).
 * After a commit the engine reads the new file; the answer carries the
 * config_hash it loads to here, which the engine's heartbeats then carry.
 */
static int
on_config_push(void *arg, enum node_id peer, const struct wire_config_push *req,
    struct wire_config_done *done)
{
	struct repl *r = arg;
	char msg[sizeof(done->text)];
	int rc;

	switch (req->phase) {
	case WIRE_CONFIG_PREPARE:
		return configstage_prepare(r->conf_path, r->self, r->conf, req->text, req->len,
		    req->digest, done->config_hash, done->text, sizeof(done->text));
	case WIRE_CONFIG_COMMIT:
		rc = configstage_commit(r->conf_path, r->self, r->conf, req->digest,
		    done->config_hash, msg, sizeof(msg));
		if (rc == 0)
			ask_engine_reload(r, "config-reload.log", msg, sizeof(msg));
		xstrlcpy(done->text, msg, sizeof(done->text));
		return rc;
	default:
		return configstage_abort(r->conf_path, req->digest, done->text, sizeof(done->text));
	}
}


/*
 * lifeline engine start --cluster, given on another node: start lifelined
 * here as `lifeline engine start` would (-d, its output appended to
 * STATE_DIR/log/lifelined.log), unless it runs or one started a moment
 * ago is still coming up. Never waits for it: the asking node sees the
 * engine through its heartbeats.
 */
static int
on_engine_start(void *arg, enum node_id peer, char *msg, size_t msglen)
{
	struct repl *r = arg;
	char *prog, *logdir, *logpath, *argv[8];
	int report_fd, rc = -1;
	pid_t pid;

	if (engine_listens(r)) {
		snprintf(msg, msglen, "lifelined already runs");
		return 0;
	}
	if (r->engine_pid > 0 && now_mono_ms() - r->engine_started_ms < ENGINE_START_GRACE_MS &&
	    kill(r->engine_pid, 0) == 0) {
		snprintf(msg, msglen, "lifelined (pid %ld) is starting", (long)r->engine_pid);
		return 0;
	}
	if ((prog = spawn_program_beside("lifelined")) == NULL) {
		snprintf(msg, msglen, "no lifelined beside lifeline-repl (or in ../sbin from it)");
		return -1;
	}
	logdir = xasprintf("%s/log", r->conf->state_dir);
	logpath = xasprintf("%s/lifelined.log", logdir);
	argv[0] = prog;
	argv[1] = "-d";
	argv[2] = "-f";
	argv[3] = (char *)r->conf_path;
	argv[4] = "-i";
	argv[5] = (char *)node_name(r->self);
	argv[6] = NULL;
	if (mkdir_p(logdir, 0700) < 0)
		snprintf(msg, msglen, "cannot create %s: %s", logdir, strerror(errno));
	else if ((pid = spawn_detached(argv, logpath, &report_fd, msg, msglen)) >= 0) {
		close(report_fd);
		r->engine_pid = pid;
		r->engine_started_ms = now_mono_ms();
		snprintf(msg, msglen, "started lifelined (pid %ld), output in %s", (long)pid, logpath);
		rc = 0;
	}
	free(logpath);
	free(logdir);
	free(prog);
	return rc;
}

/* ---- main ---- */

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct repl *r = arg;

	if (sig == SIGHUP) {
		log_warnx("SIGHUP: lifeline-repl reads its configuration at start only; "
		    "it is restarted with lifelined's when replication settings change");
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(r->base, NULL);
}

static void
load(struct repl *r, const char *conf_path, const char *identity)
{
	char err[1024];
	int id;

	if ((r->conf = config_load(conf_path, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((id = identity_load(identity, NULL, err, sizeof(err))) < 0)
		fatalx("%s", err);
	r->self = id;
	if (!config_mode_has(r->conf->mode, r->self))
		fatalx("%s: this node is %s, which mode %s does not use", conf_path,
		    node_name(r->self), mode_name(r->conf->mode));
	if (mkdir_p(r->conf->state_dir, 0700) < 0)
		fatal("cannot create state_dir %s", r->conf->state_dir);
}

int
main(int argc, char *argv[])
{
	struct option longopts[nitems(option_rows) + 1];
	char shortopts[2 * nitems(option_rows) + 1], *sockpath, err[1024];
	const char *conf_path = CONFIG_DEFAULT_PATH, *identity = NULL;
	int debug = 0, verbose = 0, ch;
	struct repl r = { 0 };
	struct event *sigs[3];
	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	struct control *control;

	if (argc == 2 && strcmp(argv[1], "--mdoc") == 0) {
		options_mdoc(stdout, option_rows, nitems(option_rows));
		return 0;
	}
	options_getopt(option_rows, nitems(option_rows), longopts, shortopts);
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': conf_path = optarg; break;
		case 'i': identity = optarg; break;
		case 'd': debug = 1; break;
		case 'v': verbose++; break;
		case 'V': printf("lifeline-repl %s\n", LIFELINE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "lifeline-repl: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	log_init(debug ? LOG_TO_STDERR : LOG_TO_SYSLOG, verbose, "lifeline-repl");
	signal(SIGPIPE, SIG_IGN);
	r.conf_path = conf_path;
	load(&r, conf_path, identity);
	/* Capture, applier and fsync threads wake the loop's events. */
	if (evthread_use_pthreads() < 0 || (r.base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	/* The socket first: a second lifeline-repl must not touch the journal. */
	sockpath = xasprintf("%s/%s", r.conf->state_dir, REPLCTL_SOCKET_NAME);
	if ((control = control_new(r.base, &r, sockpath, control_table)) == NULL)
		fatalx("cannot serve the control socket %s", sockpath);
	if ((r.plane = plane_open(r.base, r.conf, r.self, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	/* Without it the node runs on; only engine start --cluster cannot reach it. */
	if ((r.agent = agent_new(r.base, r.conf, r.self, on_engine_start, &r, err,
	    sizeof(err))) == NULL)
		log_warnx("node agent: %s; lifeline engine start --cluster cannot start this "
		    "node's engine", err);
	agent_on_plugin(r.agent, on_plugin_files);
	agent_on_config(r.agent, on_config_push);
	for (size_t i = 0; i < nitems(sigs); i++) {
		sigs[i] = evsignal_new(r.base, signums[i], on_signal, &r);
		event_add(sigs[i], NULL);
	}
	log_info("lifeline-repl %s: cluster %s, node %s, waiting for lifelined to give a role",
	    LIFELINE_VERSION, r.conf->name, node_name(r.self));

	event_base_dispatch(r.base);

	agent_free(r.agent);
	plane_close(r.plane);
	control_free(control);
	for (size_t i = 0; i < nitems(sigs); i++)
		event_free(sigs[i]);
	event_base_free(r.base);
	config_free(r.conf);
	free(sockpath);
	log_info("stopped");
	return 0;
}
