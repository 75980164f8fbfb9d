/*
 * Unit tests of plugin/pluginhost with the test plug-ins of
 * tests/plugins/testplug.c (build/plugins): a good declaration and its
 * discovery, settings, the declarations that are refused (ABI version,
 * name, no entry point), an invalid discovery kept whole or not at all,
 * and how check and hook results are judged (a reason cut to one line, an
 * unterminated reason, nonsense). A crashing plug-in is tested through
 * the runner in test_health, since it would take this process down.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "plugin/pluginhost.h"

static char *
plugin_path(const char *variant)
{
	const char *bin = getenv("LIFELINE_BIN");

	if (bin == NULL)
		bin = "build/bin";
	return xasprintf("%s/../plugins/testplug-%s.so", bin, variant);
}

static struct plugin_host *
load(const char *variant, json_t *settings)
{
	char *path = plugin_path(variant), err[512];
	struct plugin_host *h = plugin_host_load(path, settings, err, sizeof(err));

	if (h == NULL)
		fail_msg("%s", err);
	free(path);
	return h;
}

static void
test_info_and_discover(void **state)
{
	struct plugin_host *h = load("good", NULL);
	json_t *info = plugin_host_info(h), *found;
	char err[512], *text;

	assert_string_equal(json_string_value(json_object_get(info, "name")), "testplug");
	assert_int_equal(json_integer_value(json_object_get(info, "api_version")), 1);
	assert_true(json_is_true(json_object_get(info, "hooks")));
	found = plugin_host_discover(h, err, sizeof(err));
	assert_non_null(found);
	text = json_dumps(found, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(text, "{\"data\":[\"/srv/testapp\"],"
	    "\"config\":[\"/etc/testapp/testapp.conf\"],"
	    "\"services\":[{\"name\":\"testapp\",\"start\":\"sleep 1000\",\"stop\":\"signal TERM\"}],"
	    "\"checks\":[{\"service\":\"testapp\",\"check\":\"ok\",\"interval_ms\":2000,\"timeout_ms\":1000}],"
	    "\"rules\":[\"testapp-lag: replication.lag > 5s\"]}");
	free(text);
	json_decref(found);
	json_decref(info);
	plugin_host_free(h);
}

/* Settings reach the plug-in; its own failure to discover is told apart. */
static void
test_settings(void **state)
{
	json_t *s = json_pack("{s:s, s:s}", "data", "/srv/elsewhere", "answer", "yes");
	struct plugin_host *h = load("good", s);
	char err[512], why[512];
	json_t *found = plugin_host_discover(h, err, sizeof(err));

	assert_string_equal(json_string_value(json_array_get(json_object_get(found, "data"), 0)),
	    "/srv/elsewhere");
	json_decref(found);
	assert_int_equal(plugin_host_check(h, "setting", why, sizeof(why)), PLUGIN_OK);
	plugin_host_free(h);

	/* Text that is not UTF-8 is refused, not dropped. */
	json_object_set_new(s, "data", json_string("badutf8"));
	h = load("good", s);
	assert_null(plugin_host_discover(h, err, sizeof(err)));
	assert_non_null(strstr(err, "declared something invalid: add_data"));
	plugin_host_free(h);

	json_object_set_new(s, "data", json_string("missing"));
	h = load("good", s);
	assert_null(plugin_host_discover(h, err, sizeof(err)));
	assert_string_equal(err, "plug-in testplug could not discover its application: "
	    "the application is not running");
	plugin_host_free(h);
	json_decref(s);
}

static void
test_refused(void **state)
{
	const struct {
		const char *variant, *message;
	} cases[] = {
		{ "badabi", "is refused: it was built for plug-in API version 99, this Lifeline "
		  "has version 1" },
		{ "badname", "is refused: its name is not 1 to 32 of [a-z0-9_-]" },
	};
	char err[512];

	for (size_t i = 0; i < nitems(cases); i++) {
		char *path = plugin_path(cases[i].variant);

		assert_null(plugin_host_load(path, NULL, err, sizeof(err)));
		assert_non_null(strstr(err, cases[i].message));
		free(path);
	}
	/* A shared object that is not a plug-in: libc has no entry point. */
	assert_null(plugin_host_load("libc.so.6", NULL, err, sizeof(err)));
	assert_string_equal(err, "libc.so.6 is not a Lifeline plug-in: it exports no "
	    "lifeline_plugin_entry");
	assert_null(plugin_host_load("/nonexistent/x.so", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot load /nonexistent/x.so"));
}

static void
test_invalid_discovery(void **state)
{
	struct plugin_host *h = load("baddiscover", NULL);
	char err[512];

	assert_null(plugin_host_discover(h, err, sizeof(err)));
	assert_string_equal(err, "plug-in testplug declared something invalid: add_data "
	    "\"relative/path\" is not an absolute path below /");
	plugin_host_free(h);
}

static void
test_check_results(void **state)
{
	struct plugin_host *h = load("good", NULL);
	char why[1024];

	assert_int_equal(plugin_host_check(h, "ok", why, sizeof(why)), PLUGIN_OK);
	assert_int_equal(plugin_host_check(h, "down", why, sizeof(why)), PLUGIN_FAILED);
	assert_string_equal(why, "the test application says no");
	assert_int_equal(plugin_host_check(h, "overlong", why, sizeof(why)), PLUGIN_FAILED);
	assert_int_equal(strlen(why), 511);       /* cut at its buffer, terminated */
	assert_int_equal(plugin_host_check(h, "setting", why, sizeof(why)), PLUGIN_FAILED);
	assert_string_equal(why, "setting answer is unset");
	assert_int_equal(plugin_host_check(h, "nonsense", why, sizeof(why)), PLUGIN_BROKEN);
	assert_string_equal(why, "plug-in testplug: check returned 42, which is neither "
	    "LIFELINE_OK nor LIFELINE_FAILED");
	/* A hook that is content; an unknown one is refused. */
	assert_int_equal(plugin_host_hook(h, "pre-start", why, sizeof(why)), PLUGIN_OK);
	assert_int_equal(plugin_host_hook(h, "midway", why, sizeof(why)), PLUGIN_BROKEN);
	assert_non_null(strstr(why, "no hook \"midway\""));
	plugin_host_free(h);
}

static void
test_names(void **state)
{
	assert_true(plugin_name_valid("postgresql"));
	assert_true(plugin_name_valid("my_plug-2"));
	assert_false(plugin_name_valid(""));
	assert_false(plugin_name_valid("PostgreSQL"));
	assert_false(plugin_name_valid("a/b"));
	assert_false(plugin_name_valid("abcdefghijklmnopqrstuvwxyz0123456"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_and_discover),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_invalid_discovery),
		cmocka_unit_test(test_check_results),
		cmocka_unit_test(test_names),
	};

	log_init(LOG_TO_STDERR, 0, "test_pluginhost");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
