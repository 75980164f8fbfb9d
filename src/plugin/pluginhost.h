/*
 * The host side of the plug-in ABI (include/lifeline/plugin.h): load one
 * plug-in, judge what it declares and what it answers, and run its calls.
 * Used only by the lifeline-plugin program, a child of the engine or the
 * CLI, so that a plug-in never runs inside lifelined.
 */
#ifndef LIFELINE_PLUGIN_HOST_H
#define LIFELINE_PLUGIN_HOST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lifeline/plugin.h"

struct plugin_host;

/*
 * lifeline-plugin's exit status beyond 0 (done, healthy) and 2 (usage):
 * distinct numbers, so that a crash handler's or a loader's exit 1 or 127
 * is never read as an answer of the plug-in.
 */
#define PLUGIN_EXIT_UNHEALTHY 10   /* the application is not healthy: reason on stdout */
#define PLUGIN_EXIT_BROKEN    11   /* the plug-in is refused or answered nonsense */

/*
 * Load the plug-in at path and check its declaration (entry point, ABI
 * version and sizes, name, the functions it must have). settings: a JSON
 * object of strings the plug-in reads with api->setting (borrowed), or
 * NULL. NULL with why in err.
 */
struct plugin_host *plugin_host_load(const char *path, json_t *settings, char *err, size_t errlen);
void plugin_host_free(struct plugin_host *h);

/* {"name", "version", "summary", "api_version", "hooks"} */
json_t *plugin_host_info(const struct plugin_host *h);

/*
 * Run discover. Returns {"data": [...], "config": [...], "services": [{...}],
 * "checks": [{...}], "rules": [...]}, or NULL with why in err (the plug-in
 * failed, or declared something invalid: then nothing of it is kept).
 */
json_t *plugin_host_discover(struct plugin_host *h, char *err, size_t errlen);

/* What a check or a hook came to. */
enum plugin_outcome {
	PLUGIN_OK,
	PLUGIN_FAILED,       /* the application is not healthy: why */
	PLUGIN_BROKEN,       /* the plug-in answered nonsense: why */
};

enum plugin_outcome plugin_host_check(struct plugin_host *h, const char *check, char *why,
    size_t whylen);
/* when: "pre-start", "post-start", "pre-stop" or "post-stop". */
enum plugin_outcome plugin_host_hook(struct plugin_host *h, const char *when, char *why,
    size_t whylen);

/* Whether s is a valid plug-in or check name: 1-32 of [a-z0-9_-]. */
bool plugin_name_valid(const char *s);

#endif
