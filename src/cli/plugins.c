/*
 * lifeline plugin: install a plug-in from what its application runs now,
 * list, re-discover and uninstall. Every call of a plug-in goes through
 * lifeline-plugin, a child of this command, never this process.
 */
#include "cli/agentcall.h"
#include "cli/commands.h"
#include "cli/plugins.h"
#include "common/config.h"
#include "common/ctl.h"
#include "common/plugindir.h"
#include "common/spawn.h"
#include "common/util.h"
#include "common/values.h"
#include "plugin/pluginhost.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNNER_LIMIT_MS  (150 * 1000)    /* above the runner's own discover limit */
#define RUNNER_OUT_MAX   (1 << 20)

/* lifeline-plugin: $LIFELINE_PLUGIN_RUNNER, or beside this program. */
static char *
runner_path(void)
{
	const char *env = getenv("LIFELINE_PLUGIN_RUNNER");

	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	return spawn_program_beside("lifeline-plugin");
}

/*
 * Run lifeline-plugin with args (NULL-ended), its stdout into *out
 * (malloc'd, NUL-ended), stderr passed through. Returns its exit status,
 * 128 + the signal that ended it, or -1 when it could not be run.
 */
static int
run_runner(char *const args[], char **out)
{
	char *runner = runner_path(), *argv[32];
	uint64_t deadline = now_mono_ms() + RUNNER_LIMIT_MS;
	size_t n = 0, cap = 4096, argc = 0;
	int fds[2], status;
	pid_t pid;

	*out = xcalloc(1, cap);
	if (runner == NULL) {
		fprintf(stderr, "lifeline plugin: lifeline-plugin is not installed beside lifeline\n");
		return -1;
	}
	argv[argc++] = runner;
	for (size_t i = 0; args[i] != NULL && argc < nitems(argv) - 1; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "lifeline plugin: cannot run %s: %s\n", runner, strerror(errno));
		free(runner);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		execv(runner, argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		uint64_t now = now_mono_ms();
		ssize_t got;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		if (n + 1 >= cap) {
			if (cap >= RUNNER_OUT_MAX)
				break;
			*out = xrealloc(*out, cap *= 2);
		}
		if ((got = read(fds[0], *out + n, cap - n - 1)) <= 0)
			break;
		n += (size_t)got;
	}
	(*out)[n] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	free(runner);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The first line of a runner's output, for a message. */
static const char *
first_line(char *out)
{
	out[strcspn(out, "\n")] = '\0';
	return out[0] != '\0' ? out : "(no reason given)";
}

/* Append "KEY = VALUE\n", refusing what a configuration line cannot hold. */
static bool
put_line(FILE *f, const char *key, const char *value, char *err, size_t errlen)
{
	if (strlen(key) + 3 + strlen(value) > CONFIG_MAX_LINE || value[0] == ';') {
		snprintf(err, errlen, "%s \"%.60s...\" cannot be a configuration line (at most %d "
		    "characters, not starting with ';')", key, value, CONFIG_MAX_LINE);
		return false;
	}
	fprintf(f, "%s = %s\n", key, value);
	return true;
}

/* A start command run from a script of its own, when too long for its line. */
static char *
start_script(const char *dir, const char *plugin, const char *service, const char *cmd,
    char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s.%s.start", dir, plugin, service);
	char *text = xasprintf("#!/bin/sh\n# Written by lifeline plugin install for %s.\n"
	    "exec %s\n", plugin, cmd);

	if (mkdir_p(dir, 0700) < 0 || write_file_atomic(path, text, strlen(text), 0700) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		free(path);
		path = NULL;
	}
	free(text);
	return path;
}

/* The first check the discovery gives for service, or NULL. */
static json_t *
check_of(json_t *found, const char *service)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(found, "checks"), i, c)
		if (json_is_string(json_object_get(c, "service")) &&
		    strcmp(json_string_value(json_object_get(c, "service")), service) == 0)
			return c;
	return NULL;
}

/* One [service NAME] section of the fragment. */
static bool
put_service(FILE *f, const char *plugin, json_t *svc, json_t *found, const char *dir,
    char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(svc, "name"));
	const char *unit = json_string_value(json_object_get(svc, "unit"));
	const char *start = json_string_value(json_object_get(svc, "start"));
	const char *stop = json_string_value(json_object_get(svc, "stop"));
	const char *after = json_string_value(json_object_get(svc, "after"));
	json_t *chk = check_of(found, name);
	char d[32], line[64];
	bool ok = true;

	fprintf(f, "\n[service %s]\n", name);
	if (unit != NULL)
		ok = put_line(f, "unit", unit, err, errlen);
	else if (strlen(start) + 8 <= CONFIG_MAX_LINE)
		ok = put_line(f, "start", start, err, errlen);
	else if (dir == NULL)
		ok = put_line(f, "start", start, err, errlen);
	else {
		char *script = start_script(dir, plugin, name, start, err, errlen);

		ok = script != NULL && put_line(f, "start", script, err, errlen);
		free(script);
	}
	if (ok && stop != NULL && unit == NULL)
		ok = put_line(f, "stop", stop, err, errlen);
	if (ok && after != NULL)
		ok = put_line(f, "after", after, err, errlen);
	if (ok && chk != NULL) {
		json_int_t interval = json_integer_value(json_object_get(chk, "interval_ms"));
		json_int_t timeout = json_integer_value(json_object_get(chk, "timeout_ms"));

		snprintf(line, sizeof(line), "plugin %s %s", plugin,
		    json_string_value(json_object_get(chk, "check")));
		ok = put_line(f, "check", line, err, errlen);
		if (ok && interval > 0)
			fprintf(f, "check_interval = %s\n",
			    format_duration((uint64_t)interval, d, sizeof(d)));
		if (ok && timeout > 0)
			fprintf(f, "check_timeout = %s\n",
			    format_duration((uint64_t)timeout, d, sizeof(d)));
	}
	return ok;
}

/* Whether p is dir or below it. */
static bool
at_or_below(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/' || strcmp(dir, "/") == 0);
}

/*
 * A config path a discovery names that a data directory or another config
 * folder of it already holds (PostgreSQL's postgresql.conf in its data
 * directory, pg_hba.conf in the config folder): the one holding it, else
 * NULL. Configuration must not nest in data nor in itself.
 */
static const char *
covered_by(json_t *found, const char *path)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(found, "data"), i, v)
		if (json_is_string(v) && at_or_below(path, json_string_value(v)))
			return json_string_value(v);
	json_array_foreach(json_object_get(found, "config"), i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), path) != 0 &&
		    at_or_below(path, json_string_value(v)))
			return json_string_value(v);
	return NULL;
}

char *
plugin_fragment(const char *name, const char *version, json_t *found, const char *dir,
    char *err, size_t errlen)
{
	static const char *const lists[] = { "data", "config" };
	char *text = NULL;
	size_t len = 0, i;
	json_t *v;
	bool ok = true;
	FILE *f = open_memstream(&text, &len);

	fprintf(f, "; Written by `lifeline plugin install` for plug-in %s %s.\n"
	    "; `lifeline plugin uninstall %s` removes it, and with it all it adds.\n"
	    "[protect]\n", name, version, name);
	for (size_t l = 0; l < nitems(lists) && ok; l++)
		json_array_foreach(json_object_get(found, lists[l]), i, v) {
			const char *path = json_string_value(v), *holder;

			if (!ok || path == NULL)
				continue;
			if (l == 1 && (holder = covered_by(found, path)) != NULL)
				fprintf(f, "; config %s: inside %s, replicated with it\n", path, holder);
			else
				ok = put_line(f, lists[l], path, err, errlen);
		}
	json_array_foreach(json_object_get(found, "services"), i, v)
		if (ok)
			ok = put_line(f, "service", json_string_value(json_object_get(v, "name")),
			    err, errlen);
	json_array_foreach(json_object_get(found, "rules"), i, v)
		if (json_is_string(v))     /* kept for the rules engine, not read yet */
			fprintf(f, "; rule: %s\n", json_string_value(v));
	json_array_foreach(json_object_get(found, "services"), i, v)
		if (ok)
			ok = put_service(f, name, v, found, dir, err, errlen);
	fclose(f);
	if (!ok) {
		free(text);
		return NULL;
	}
	return text;
}

/* STATE_DIR/plugins of the configuration in use; NULL (said) when it cannot be read. */
static char *
plugins_dir(const struct cli_ctx *ctx)
{
	const char *path = ctx->conf_path ? ctx->conf_path : CONFIG_DEFAULT_PATH;
	char *state = config_peek_state_dir(path), *dir = xasprintf("%s/plugins", state);

	free(state);
	return dir;
}

/* Ask a running engine to read its configuration again; say what came of it. */
static void
reload_engine(const struct cli_ctx *ctx)
{
	const char *path = ctx->conf_path ? ctx->conf_path : CONFIG_DEFAULT_PATH;
	char *state = config_peek_state_dir(path), err[512];
	char *sock = ctx->socket ? xstrdup(ctx->socket) : xasprintf("%s/%s", state, CTL_SOCKET_NAME);
	json_t *req = json_pack("{s:s}", "cmd", "reload");
	json_t *answer = ctl_call(sock, req, 10000, err, sizeof(err));

	if (answer == NULL)
		printf("the engine does not run here (%s): it reads this when it starts\n", err);
	else if (!json_is_true(json_object_get(answer, "ok")))
		printf("the engine kept its configuration: %s\n",
		    json_string_value(json_object_get(answer, "error")));
	else
		printf("the engine runs the new configuration\n");
	json_decref(answer);
	json_decref(req);
	free(sock);
	free(state);
}

static int
copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len;
	char *data = read_file(from, 64 << 20, &len);
	int rc;

	if (data == NULL)
		return -1;
	rc = write_file_atomic(to, data, len, mode);
	free(data);
	return rc;
}

/* "data /x, config /y, service z": what a discovery protects, on one line. */
static void
print_found(json_t *found)
{
	static const char *const keys[] = { "data", "config" };
	const char *sep = "";
	json_t *v;
	size_t i;

	for (size_t k = 0; k < nitems(keys); k++)
		json_array_foreach(json_object_get(found, keys[k]), i, v) {
			printf("%s%s %s", sep, keys[k], json_string_value(v));
			sep = ", ";
		}
	json_array_foreach(json_object_get(found, "services"), i, v) {
		printf("%sservice %s", sep, json_string_value(json_object_get(v, "name")));
		sep = ", ";
	}
	if (sep[0] == '\0')
		printf("nothing to protect (checks and rules only)");
	putchar('\n');
}

/*
 * Send the plug-in's files in dir (op PUT) or their removal (DROP) to every
 * other node of the cluster, through their agents. ok[node] says who took
 * it; each node that did not is said on stderr. Returns how many failed.
 */
static int
share(const char *conf_path, const char *dir, const char *name, uint8_t op, bool ok[NODE_COUNT])
{
	struct wire_plugin_files files;
	struct config *conf;
	char err[1024], msg[1200];
	int self, failed = 0;

	memset(ok, 0, NODE_COUNT * sizeof(*ok));
	if ((conf = config_load(conf_path, err, sizeof(err))) == NULL ||
	    (self = identity_load(NULL, NULL, err, sizeof(err))) < 0) {
		fprintf(stderr, "lifeline plugin: cannot reach the other nodes: %s\n", err);
		config_free(conf);
		return 1;
	}
	if (op == WIRE_PLUGIN_PUT) {
		if (plugindir_read(dir, name, &files, err, sizeof(err)) < 0) {
			fprintf(stderr, "lifeline plugin: %s\n", err);
			config_free(conf);
			return 1;
		}
	} else {
		memset(&files, 0, sizeof(files));
		files.op = WIRE_PLUGIN_DROP;
		snprintf(files.plugin, sizeof(files.plugin), "%s", name);
	}
	for (int id = 0; id < NODE_COUNT; id++) {
		if (id == self || !config_mode_has(conf->mode, id))
			continue;
		if (agent_plugin_files(conf, self, id, &files, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "%s: %s\n", node_name(id), msg);
			failed++;
			continue;
		}
		printf("%s: %s\n", node_name(id), msg);
		ok[id] = true;
	}
	plugindir_release(&files);
	config_free(conf);
	return failed;
}

/* Ask the nodes in which[] to drop plug-in name (undoing a half-done install). */
static void
share_drop_only(const char *conf_path, const char *name, const bool which[NODE_COUNT])
{
	struct wire_plugin_files files = { .op = WIRE_PLUGIN_DROP };
	struct config *conf;
	char err[512], msg[1200];
	int self;

	if ((conf = config_load(conf_path, err, sizeof(err))) == NULL ||
	    (self = identity_load(NULL, NULL, err, sizeof(err))) < 0) {
		config_free(conf);
		return;
	}
	snprintf(files.plugin, sizeof(files.plugin), "%s", name);
	for (int id = 0; id < NODE_COUNT; id++)
		if (which[id] && id != self &&
		    agent_plugin_files(conf, self, id, &files, msg, sizeof(msg)) < 0)
			fprintf(stderr, "%s: could not take it back: %s; `lifeline plugin uninstall "
			    "%s` there\n", node_name(id), msg, name);
	config_free(conf);
}

/*
 * Install: ask the plug-in what its application, running now, needs
 * protected; write it as the plug-in's fragment beside a copy of the
 * plug-in and its settings; keep it only if the configuration with it is
 * valid; then the engine reads it.
 */
static int
install(const struct cli_ctx *ctx, int argc, char **argv, bool here)
{
	const char *conf_path = ctx->conf_path ? ctx->conf_path : CONFIG_DEFAULT_PATH;
	char *dir = plugins_dir(ctx), *out = NULL, *args[24], err[1024], *frag = NULL;
	char *so = NULL, *conf = NULL, *settings = NULL, *record = NULL;
	json_t *info = NULL, *found = NULL, *set = json_object(), *rec = NULL;
	const char *name, *version;
	struct config *check;
	bool took[NODE_COUNT];
	int rc = 1, st;

	for (int i = 2; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		char *key;

		if (eq == NULL || eq == argv[i]) {
			fprintf(stderr, "lifeline plugin install: \"%s\" is not KEY=VALUE\n", argv[i]);
			rc = 2;
			goto out;
		}
		key = xasprintf("%.*s", (int)(eq - argv[i]), argv[i]);
		json_object_set_new(set, key, json_string(eq + 1));
		free(key);
	}
	args[0] = (char *)"info";
	args[1] = argv[1];
	args[2] = NULL;
	if ((st = run_runner(args, &out)) != 0) {
		fprintf(stderr, "lifeline plugin install: %s\n", st > 0 ? first_line(out) :
		    "cannot run lifeline-plugin");
		goto out;
	}
	info = json_loads(out, 0, NULL);
	name = json_string_value(json_object_get(info, "name"));
	version = json_string_value(json_object_get(info, "version"));
	if (name == NULL || version == NULL || !plugin_name_valid(name)) {
		fprintf(stderr, "lifeline plugin install: lifeline-plugin info gave no name\n");
		goto out;
	}
	so = xasprintf("%s/%s.so", dir, name);
	conf = xasprintf("%s/%s.conf", dir, name);
	settings = xasprintf("%s/%s.json", dir, name);
	record = xasprintf("%s/%s.found.json", dir, name);
	if (access(conf, F_OK) == 0) {
		fprintf(stderr, "lifeline plugin install: plug-in %s is installed already; "
		    "`lifeline plugin uninstall %s` first\n", name, name);
		goto out;
	}
	/* Settings go through a file: a password must not show in ps. */
	if (mkdir_p(dir, 0700) < 0 || json_dump_file(set, settings, JSON_COMPACT) < 0 ||
	    chmod(settings, 0600) < 0) {
		fprintf(stderr, "lifeline plugin install: cannot write %s: %s\n", settings,
		    strerror(errno));
		goto undo;
	}
	free(out);
	args[0] = (char *)"discover";
	args[1] = argv[1];
	args[2] = (char *)"--settings";
	args[3] = settings;
	args[4] = NULL;
	if ((st = run_runner(args, &out)) != 0) {
		fprintf(stderr, "lifeline plugin install: %s not installed: %s\n", name,
		    st > 0 ? first_line(out) : "cannot run lifeline-plugin");
		goto undo;
	}
	if ((found = json_loads(out, 0, NULL)) != NULL &&
	    json_object_get(set, "data_directory") == NULL &&
	    json_is_string(json_array_get(json_object_get(found, "data"), 0))) {
		/* The hooks run with no application to ask: they get its data folder. */
		json_object_set(set, "data_directory", json_array_get(json_object_get(found, "data"), 0));
		if (json_dump_file(set, settings, JSON_COMPACT) < 0) {
			fprintf(stderr, "lifeline plugin install: cannot write %s: %s\n", settings,
			    strerror(errno));
			goto undo;
		}
	}
	if (found == NULL ||
	    (frag = plugin_fragment(name, version, found, dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lifeline plugin install: %s not installed: %s\n", name,
		    found == NULL ? "its discovery is not JSON" : err);
		goto undo;
	}
	rec = json_pack("{s:O, s:O}", "plugin", info, "found", found);
	if (copy_file(argv[1], so, 0644) < 0 || json_dump_file(rec, record,
	    JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
	    write_file_atomic(conf, frag, strlen(frag), 0600) < 0) {
		fprintf(stderr, "lifeline plugin install: cannot write in %s: %s\n", dir,
		    strerror(errno));
		goto undo;
	}
	if ((check = config_load(conf_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lifeline plugin install: %s not installed, the configuration "
		    "with it is not valid: %s\n", name, err);
		goto undo;
	}
	config_free(check);
	/* Every node or none: a node that refuses undoes it on the others. */
	if (!here && share(conf_path, dir, name, WIRE_PLUGIN_PUT, took) > 0) {
		bool drop[NODE_COUNT];

		for (int id = 0; id < NODE_COUNT; id++)
			if (took[id])
				fprintf(stderr, "%s: taken back\n", node_name(id));
		plugindir_remove(dir, name);
		memcpy(drop, took, sizeof(drop));
		if (memchr(drop, true, sizeof(drop)) != NULL)
			share_drop_only(conf_path, name, drop);
		fprintf(stderr, "lifeline plugin install: %s not installed: a node did not take "
		    "it (above); --here installs on this node alone\n", name);
		goto out;
	}
	printf("installed plug-in %s %s%s: ", name, version, here ? " on this node only" : "");
	print_found(found);
	reload_engine(ctx);
	rc = 0;
	goto out;
undo:
	plugindir_remove(dir, name);
out:
	json_decref(info);
	json_decref(found);
	json_decref(set);
	json_decref(rec);
	free(out);
	free(frag);
	free(so);
	free(conf);
	free(settings);
	free(record);
	free(dir);
	return rc;
}

static int
uninstall(const struct cli_ctx *ctx, const char *name, bool here)
{
	const char *conf_path = ctx->conf_path ? ctx->conf_path : CONFIG_DEFAULT_PATH;
	char *dir = plugins_dir(ctx), *conf = xasprintf("%s/%s.conf", dir, name);
	bool took[NODE_COUNT];
	int rc = 1;

	if (!plugin_name_valid(name) || access(conf, F_OK) != 0) {
		fprintf(stderr, "lifeline plugin uninstall: no plug-in %s is installed here\n", name);
		goto out;
	}
	/* The fragment first: without it nothing of the plug-in is protected. */
	if (unlink(conf) < 0) {
		fprintf(stderr, "lifeline plugin uninstall: cannot remove %s: %s\n", conf,
		    strerror(errno));
		goto out;
	}
	plugindir_remove(dir, name);
	printf("removed plug-in %s: what it added is no longer protected, and its services "
	    "are stopped by the engine like any service taken out of the configuration\n", name);
	reload_engine(ctx);
	rc = 0;
	if (!here && share(conf_path, dir, name, WIRE_PLUGIN_DROP, took) > 0) {
		fprintf(stderr, "lifeline plugin uninstall: removed here, but not on the nodes "
		    "above: `lifeline plugin uninstall %s --here` on each\n", name);
		rc = 1;
	}
out:
	free(conf);
	free(dir);
	return rc;
}

/*
 * What install recorded (NAME.found.json): {"name", "version", "data",
 * "config", "services"}; version "?" when the record is unreadable.
 */
static json_t *
installed_summary(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s.found.json", dir, name);
	json_t *rec = json_load_file(path, 0, NULL), *found = json_object_get(rec, "found");
	const char *version = json_string_value(json_object_get(json_object_get(rec, "plugin"),
	    "version"));
	json_t *o = json_pack("{s:s, s:s}", "name", name, "version", version ? version : "?");
	static const char *const keys[] = { "data", "config", "services", "checks", "rules" };

	for (size_t i = 0; i < nitems(keys); i++) {
		json_t *v = json_object_get(found, keys[i]);

		json_object_set_new(o, keys[i], json_is_array(v) ? json_incref(v) : json_array());
	}
	json_decref(rec);
	free(path);
	return o;
}

static int
list(const struct cli_ctx *ctx, bool as_json)
{
	char *dir = plugins_dir(ctx);
	DIR *d = opendir(dir);
	struct dirent *de;
	json_t *all = json_array(), *p;
	size_t i;

	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char *name;

		if (n <= 5 || strcmp(de->d_name + n - 5, ".conf") != 0 || de->d_name[0] == '.')
			continue;
		name = xasprintf("%.*s", (int)(n - 5), de->d_name);
		json_array_append_new(all, installed_summary(dir, name));
		free(name);
	}
	if (d != NULL)
		closedir(d);
	if (as_json) {
		char *text = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		puts(text);
		free(text);
	} else if (json_array_size(all) == 0)
		printf("no plug-in is installed here (%s)\n", dir);
	json_array_foreach(all, i, p) {
		if (as_json)
			break;
		printf("%s %s: ", json_string_value(json_object_get(p, "name")),
		    json_string_value(json_object_get(p, "version")));
		print_found(p);
	}
	json_decref(all);
	free(dir);
	return 0;
}

/*
 * Discover again with the installed plug-in and its settings, and say
 * whether the application now needs anything else protected than what
 * was installed.
 */
static int
discover(const struct cli_ctx *ctx, const char *name)
{
	char *dir = plugins_dir(ctx), *so = xasprintf("%s/%s.so", dir, name);
	char *settings = xasprintf("%s/%s.json", dir, name), *conf = xasprintf("%s/%s.conf", dir, name);
	char *args[] = { (char *)"discover", so, (char *)"--settings", settings, NULL };
	char *out = NULL;
	json_t *found = NULL, *installed = NULL;
	bool same = true;
	int rc = 1, st;

	if (!plugin_name_valid(name) || access(conf, F_OK) != 0) {
		fprintf(stderr, "lifeline plugin discover: no plug-in %s is installed here\n", name);
		goto out;
	}
	if ((st = run_runner(args, &out)) != 0 || (found = json_loads(out, 0, NULL)) == NULL) {
		fprintf(stderr, "lifeline plugin discover: %s\n", st > 0 ? first_line(out) :
		    "cannot run lifeline-plugin");
		goto out;
	}
	fputs(out, stdout);
	installed = installed_summary(dir, name);
	for (const char *k = "data"; k != NULL; k = strcmp(k, "data") == 0 ? "config" :
	    strcmp(k, "config") == 0 ? "services" : strcmp(k, "services") == 0 ? "checks" : NULL)
		same &= json_equal(json_object_get(found, k), json_object_get(installed, k));
	if (same)
		printf("the same as what is installed\n");
	else
		printf("differs from what is installed: `lifeline plugin uninstall %s` and "
		    "install it again to take it\n", name);
	rc = 0;
out:
	json_decref(found);
	json_decref(installed);
	free(out);
	free(so);
	free(settings);
	free(conf);
	free(dir);
	return rc;
}

int
plugin_command(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (strcmp(sub, "list") == 0 && (argc == 2 || (argc == 3 &&
	    strcmp(argv[2], "--json") == 0)))
		return list(ctx, argc == 3);
	bool here = argc > 2 && strcmp(argv[argc - 1], "--here") == 0;

	if (here)
		argc--;
	if (strcmp(sub, "install") == 0 && argc >= 3)
		return install(ctx, argc - 1, argv + 1, here);
	if (strcmp(sub, "uninstall") == 0 && argc == 3)
		return uninstall(ctx, argv[2], here);
	if (strcmp(sub, "discover") == 0 && argc == 3)
		return discover(ctx, argv[2]);
	fprintf(stderr, "usage: lifeline plugin list [--json] | install PATH [KEY=VALUE ...] "
	    "[--here] | uninstall NAME [--here] | discover NAME\n");
	return 2;
}
