/*
 * Unit tests of cli/plugins: the fragment written from a discovery (exact
 * text; a start command too long for a line run from a script; values a
 * configuration line cannot hold refused), and install, list, discover
 * and uninstall end to end with the test plug-in against a scratch
 * configuration: uninstall leaves nothing of the plug-in behind, a failed
 * install leaves nothing either.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/plugins.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "helpers/tmpdir.h"

static const char found_text[] =
    "{\"data\": [\"/var/lib/pg\"], \"config\": [\"/etc/pg/pg.conf\", \"/etc/pg/hba.conf\"],"
    " \"services\": [{\"name\": \"pg\", \"start\": \"/usr/bin/pg -D /var/lib/pg\","
    " \"stop\": \"signal INT\"}, {\"name\": \"web\", \"unit\": \"web.service\", \"after\": \"pg\"}],"
    " \"checks\": [{\"service\": \"pg\", \"check\": \"query\", \"interval_ms\": 2000,"
    " \"timeout_ms\": 1500}],"
    " \"rules\": [\"pg-connections: connections > 90%\"]}";

static void
test_fragment(void **state)
{
	json_t *found = json_loads(found_text, 0, NULL);
	char err[256], *text = plugin_fragment("pg", "2.1", found, NULL, err, sizeof(err));

	assert_non_null(text);
	assert_string_equal(text,
	    "; Written by `lifeline plugin install` for plug-in pg 2.1.\n"
	    "; `lifeline plugin uninstall pg` removes it, and with it all it adds.\n"
	    "[protect]\n"
	    "data = /var/lib/pg\n"
	    "config = /etc/pg/pg.conf\n"
	    "config = /etc/pg/hba.conf\n"
	    "service = pg\n"
	    "service = web\n"
	    "; rule: pg-connections: connections > 90%\n"
	    "\n[service pg]\n"
	    "start = /usr/bin/pg -D /var/lib/pg\n"
	    "stop = signal INT\n"
	    "check = plugin pg query\n"
	    "check_interval = 2s\n"
	    "check_timeout = 1500ms\n"
	    "\n[service web]\n"
	    "unit = web.service\n"
	    "after = pg\n");
	free(text);
	json_decref(found);
}

/*
 * Config paths a discovery names inside its data directory or inside
 * another config folder of it are left out (configuration must not nest),
 * said in a comment; the folder and the rest are kept.
 */
static void
test_fragment_config_nesting(void **state)
{
	json_t *found = json_loads("{\"data\": [\"/var/lib/pg\"], \"config\": ["
	    "\"/var/lib/pg/postgresql.conf\", \"/etc/pg/main/pg_hba.conf\", \"/etc/pg/main\", "
	    "\"/etc/pg/main2.conf\"]}", 0, NULL);
	char err[256], *text;

	(void)state;
	assert_non_null(found);
	text = plugin_fragment("pg", "1", found, NULL, err, sizeof(err));
	assert_non_null(text);
	assert_non_null(strstr(text, "; config /var/lib/pg/postgresql.conf: inside /var/lib/pg, "
	    "replicated with it\n"));
	assert_non_null(strstr(text, "; config /etc/pg/main/pg_hba.conf: inside /etc/pg/main, "
	    "replicated with it\n"));
	assert_non_null(strstr(text, "\nconfig = /etc/pg/main\n"));
	assert_non_null(strstr(text, "\nconfig = /etc/pg/main2.conf\n"));   /* a sibling, not inside */
	assert_null(strstr(text, "config = /var/lib/pg/postgresql.conf"));
	free(text);
	json_decref(found);
}

/* A start command longer than a line: a script beside, or refused without a folder. */
static void
test_long_start(void **state)
{
	char *dir = tmpdir(), err[256], *text, *script, *want, *body;
	char longcmd[400];
	json_t *found;
	size_t len;

	memset(longcmd, 'x', sizeof(longcmd) - 1);
	longcmd[0] = '/';
	longcmd[sizeof(longcmd) - 1] = '\0';
	found = json_pack("{s:[], s:[], s:[{s:s, s:s}], s:[]}", "data", "config", "services",
	    "name", "pg", "start", longcmd, "checks");
	assert_null(plugin_fragment("pg", "1", found, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot be a configuration line"));

	text = plugin_fragment("pg", "1", found, dir, err, sizeof(err));
	assert_non_null(text);
	script = xasprintf("%s/pg.pg.start", dir);
	want = xasprintf("start = %s\n", script);
	assert_non_null(strstr(text, want));
	assert_non_null(body = read_file(script, 4096, &len));
	assert_non_null(strstr(body, longcmd));
	assert_int_equal(access(script, X_OK), 0);
	free(body);
	free(want);
	free(script);
	free(text);
	json_decref(found);
	rm_rf(dir);
	free(dir);
}

/* The files of the plug-in folder, one per line, sorted. */
static char *
listing(const char *dir)
{
	char *names[32], *out = xstrdup("");
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL && n < 32)
		if (de->d_name[0] != '.')
			names[n++] = xstrdup(de->d_name);
	if (d != NULL)
		closedir(d);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];

				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n; i++) {
		char *next = xasprintf("%s%s\n", out, names[i]);

		free(out);
		free(names[i]);
		out = next;
	}
	return out;
}

/* lifeline plugin A [B [C]] --here: this scratch configuration has no other node to reach. */
static int
run(struct cli_ctx *ctx, const char *a, const char *b, const char *c)
{
	char *argv[] = { (char *)"plugin", (char *)a, (char *)b, (char *)c, NULL, NULL };
	int argc = c != NULL ? 4 : b != NULL ? 3 : 2;

	if (strcmp(a, "install") == 0 || strcmp(a, "uninstall") == 0)
		argv[argc++] = (char *)"--here";

	fflush(stdout);
	return plugin_command(ctx, argc, argv);
}

static void
test_install_uninstall(void **state)
{
	const char *bin = getenv("LIFELINE_BIN");
	char *dir, *conf, *plugins, *so, *runner, *files, *text, *dataset, *path;
	struct cli_ctx ctx = { 0 };
	struct config *c;
	char err[512];
	size_t len;

	if (bin == NULL)
		skip();
	dir = tmpdir();
	conf = xasprintf("%s/lifeline.conf", dir);
	plugins = xasprintf("%s/plugins", dir);
	so = xasprintf("%s/../plugins/testplug-good.so", bin);
	runner = xasprintf("%s/lifeline-plugin", bin);
	setenv("LIFELINE_PLUGIN_RUNNER", runner, 1);
	text = xasprintf("[cluster]\nname = t\nmode = ha\nstate_dir = %s\n"
	    "[node primary]\nchannel = 203.0.113.1/30\npublic = eth0 192.0.2.10/24\n"
	    "management = 198.51.100.11/24\n"
	    "[node secondary]\nchannel = 203.0.113.2/30\npublic = eth0 192.0.2.10/24\n"
	    "management = 198.51.100.12/24\n"
	    "[protect]\ndata = /var/lib/app\n", dir);
	assert_int_equal(write_file_atomic(conf, text, strlen(text), 0600), 0);
	ctx.conf_path = conf;
	ctx.socket = "/nonexistent/lifelined.sock";

	/* The application is not there: nothing installed, nothing left. */
	assert_int_equal(run(&ctx, "install", so, "data=missing"), 1);
	files = listing(plugins);
	assert_string_equal(files, "");
	free(files);

	assert_int_equal(run(&ctx, "install", so, "data=/srv/tp"), 0);
	files = listing(plugins);
	assert_string_equal(files, "testplug.conf\ntestplug.found.json\ntestplug.json\n"
	    "testplug.so\n");
	free(files);
	c = config_load(conf, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->protect_data.n, 2);
	assert_string_equal(c->protect_data.v[1], "/srv/tp");
	assert_non_null(config_service(c, "testapp"));
	config_free(c);
	path = xasprintf("%s/testplug.json", plugins);
	dataset = read_file(path, 4096, &len);
	assert_non_null(strstr(dataset, "\"data\":\"/srv/tp\""));
	free(dataset);
	free(path);

	assert_int_equal(run(&ctx, "install", so, NULL), 1);      /* installed already */
	assert_int_equal(run(&ctx, "list", NULL, NULL), 0);
	assert_int_equal(run(&ctx, "discover", "testplug", NULL), 0);
	assert_int_equal(run(&ctx, "uninstall", "testplug", NULL), 0);
	files = listing(plugins);
	assert_string_equal(files, "");
	free(files);
	c = config_load(conf, err, sizeof(err));
	assert_int_equal(c->protect_data.n, 1);
	assert_null(config_service(c, "testapp"));
	config_free(c);
	assert_int_equal(run(&ctx, "uninstall", "testplug", NULL), 1);
	assert_int_equal(run(&ctx, "frob", NULL, NULL), 2);

	unsetenv("LIFELINE_PLUGIN_RUNNER");
	rm_rf(dir);
	free(dir);
	free(conf);
	free(plugins);
	free(so);
	free(runner);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fragment),
		cmocka_unit_test(test_fragment_config_nesting),
		cmocka_unit_test(test_long_start),
		cmocka_unit_test(test_install_uninstall),
	};

	log_init(LOG_TO_STDERR, 0, "test_plugins");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
