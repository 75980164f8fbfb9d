/*
 * A plug-in for tests: what a good one declares and answers, and, built
 * with TESTPLUG_VARIANT, the ways one can be wrong. Its checks are named
 * after what they do: ok, down, crash, nonsense, hang, overlong, setting;
 * its hooks are steered by settings (prestart, mark_file).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lifeline/plugin.h"

#ifndef TESTPLUG_VARIANT
#define TESTPLUG_VARIANT 0
#endif
#define GOOD        0
#define BAD_ABI     1
#define BAD_NAME    2
#define BAD_DISCOVER 3

static int
discover(struct lifeline_host *h, const struct lifeline_host_api *api)
{
	const char *dir = api->setting(h, "data");
	struct lifeline_service svc = {
		.size = sizeof(svc), .name = "testapp", .start = "sleep 1000",
		.stop = "signal TERM",
	};
	struct lifeline_check chk = {
		.size = sizeof(chk), .service = "testapp", .check = "ok",
		.interval_ms = 2000, .timeout_ms = 1000,
	};

	api->log(h, LIFELINE_LOG_INFO, "discovering");
	if (dir != NULL && strcmp(dir, "missing") == 0) {
		api->log(h, LIFELINE_LOG_WARNING, "the application is not running");
		return LIFELINE_FAILED;
	}
	if (dir != NULL && strcmp(dir, "badutf8") == 0)
		return api->add_data(h, "/srv/\xff\xfe") == 0 ? LIFELINE_OK : LIFELINE_FAILED;
	if (TESTPLUG_VARIANT == BAD_DISCOVER)
		return api->add_data(h, "relative/path") == 0 ? LIFELINE_OK : LIFELINE_FAILED;
	if (api->add_data(h, dir != NULL ? dir : "/srv/testapp") < 0 ||
	    api->add_config(h, "/etc/testapp/testapp.conf") < 0 ||
	    api->add_service(h, &svc) < 0 || api->add_check(h, &chk) < 0 ||
	    api->add_rule(h, "testapp-lag: replication.lag > 5s") < 0)
		return LIFELINE_FAILED;
	api->add_data(h, dir != NULL ? dir : "/srv/testapp");     /* a repeat is kept once */
	return LIFELINE_OK;
}

static int
check(struct lifeline_host *h, const struct lifeline_host_api *api, const char *name,
    char *why, size_t whylen)
{
	if (strcmp(name, "ok") == 0)
		return LIFELINE_OK;
	if (strcmp(name, "down") == 0) {
		snprintf(why, whylen, "the test application says no\nsecond line");
		return LIFELINE_FAILED;
	}
	if (strcmp(name, "crash") == 0)
		raise(SIGSEGV);
	if (strcmp(name, "hang") == 0)
		for (;;)
			pause();
	if (strcmp(name, "overlong") == 0) {
		memset(why, 'x', whylen);      /* no terminator at all */
		return LIFELINE_FAILED;
	}
	if (strcmp(name, "setting") == 0) {
		const char *v = api->setting(h, "answer");

		if (v != NULL && strcmp(v, "yes") == 0)
			return LIFELINE_OK;
		snprintf(why, whylen, "setting answer is %s", v ? v : "unset");
		return LIFELINE_FAILED;
	}
	return 42;                          /* "nonsense" and anything else */
}

/*
 * Hooks: with setting prestart=fail the pre-start hook refuses; with
 * setting mark_file every hook appends its name there, so a test sees
 * which ran, in what order.
 */
static int
hook(struct lifeline_host *h, const struct lifeline_host_api *api, enum lifeline_hook when,
    char *why, size_t whylen)
{
	static const char *const names[] = { "pre-start", "post-start", "pre-stop", "post-stop" };
	const char *prestart = api->setting(h, "prestart"), *mark = api->setting(h, "mark_file");
	FILE *f;

	if (when == LIFELINE_HOOK_PRE_START && prestart != NULL && strcmp(prestart, "fail") == 0) {
		snprintf(why, whylen, "not ready to start");
		return LIFELINE_FAILED;
	}
	if (mark != NULL && (f = fopen(mark, "a")) != NULL) {
		fprintf(f, "%s\n", names[when]);
		fclose(f);
	}
	return LIFELINE_OK;
}

static const struct lifeline_plugin plugin = {
	.api_version = TESTPLUG_VARIANT == BAD_ABI ? 99 : LIFELINE_PLUGIN_API_VERSION,
	.size = sizeof(struct lifeline_plugin),
	.name = TESTPLUG_VARIANT == BAD_NAME ? "Test Plug" : "testplug",
	.version = "1.0",
	.summary = "a plug-in for Lifeline's own tests",
	.discover = discover,
	.check = check,
	.hook = hook,
};

const struct lifeline_plugin *
lifeline_plugin_entry(void)
{
	return &plugin;
}
