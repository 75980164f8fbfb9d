/*
 * The Lifeline plug-in ABI, version 1: what a shared object must export to
 * teach Lifeline an application (PostgreSQL, MariaDB, the host itself).
 *
 * A plug-in exports one function, lifeline_plugin_entry(), returning a
 * static struct lifeline_plugin. The host loads it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), always in a child process of its own
 * (lifeline-plugin), never inside lifelined: a plug-in that crashes, hangs
 * or returns nonsense is killed or refused there, reported, and disabled,
 * and the engine goes on. Every call is made in a fresh process, so a
 * plug-in keeps no state between calls.
 *
 * Compatibility: the host refuses a plug-in whose api_version differs from
 * its own. Within one version, structs only grow into their reserved
 * space; each carries its size, so either side can tell which fields the
 * other knows. The layouts below are fixed by _Static_assert on LP64.
 */
#ifndef LIFELINE_PLUGIN_H
#define LIFELINE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIFELINE_PLUGIN_API_VERSION 1u
#define LIFELINE_PLUGIN_ENTRY       "lifeline_plugin_entry"

/* What a check or hook returns. Anything else is nonsense and disables the plug-in. */
enum lifeline_result {
	LIFELINE_OK     = 0,       /* healthy; done */
	LIFELINE_FAILED = 1,       /* the application is not healthy; why says so */
};

enum lifeline_log_level {
	LIFELINE_LOG_DEBUG   = 0,
	LIFELINE_LOG_INFO    = 1,
	LIFELINE_LOG_WARNING = 2,
};

/* When a hook runs, on the node where the services start or stop. */
enum lifeline_hook {
	LIFELINE_HOOK_PRE_START  = 0,
	LIFELINE_HOOK_POST_START = 1,
	LIFELINE_HOOK_PRE_STOP   = 2,
	LIFELINE_HOOK_POST_STOP  = 3,
};

/* The host's side of one call; opaque to the plug-in. */
struct lifeline_host;

/*
 * A service found by discover. Either unit (a systemd unit) or start (a
 * command line run by /bin/sh -c, with stop "signal NAME" or "exec CMD").
 */
struct lifeline_service {
	uint32_t    size;              /* sizeof(struct lifeline_service) of the plug-in */
	uint32_t    reserved0;
	const char *name;              /* 1-64 of [A-Za-z0-9_.@-] */
	const char *unit;              /* "postgresql@15-main.service", or NULL */
	const char *start;             /* or NULL when unit is set */
	const char *stop;              /* NULL: "signal TERM" */
	const char *after;             /* comma list of services started first, or NULL */
	const void *reserved[9];
};

/*
 * A health check found by discover: the host runs plug-in check `check`
 * for service every interval_ms, each given timeout_ms (0: the host's
 * defaults).
 */
struct lifeline_check {
	uint32_t    size;              /* sizeof(struct lifeline_check) of the plug-in */
	uint32_t    interval_ms;
	uint32_t    timeout_ms;
	uint32_t    reserved0;
	const char *service;
	const char *check;             /* 1-32 of [a-z0-9_-], passed back to check() */
	const void *reserved[6];
};

/*
 * What the host offers the plug-in. Every add_* copies its arguments and
 * returns 0, or -1 when a value is refused (the reason is logged and the
 * discovery reported as failed).
 */
struct lifeline_host_api {
	uint32_t api_version;          /* LIFELINE_PLUGIN_API_VERSION of the host */
	uint32_t size;                 /* sizeof(struct lifeline_host_api) of the host */
	void (*log)(struct lifeline_host *h, enum lifeline_log_level level, const char *msg);
	/* A setting given at install (`KEY=VALUE`), or NULL. */
	const char *(*setting)(struct lifeline_host *h, const char *key);
	int (*add_data)(struct lifeline_host *h, const char *dir);
	int (*add_config)(struct lifeline_host *h, const char *path);
	int (*add_service)(struct lifeline_host *h, const struct lifeline_service *svc);
	int (*add_check)(struct lifeline_host *h, const struct lifeline_check *chk);
	/* A rule for the rules engine, as "NAME: EXPRESSION" text (kept for it). */
	int (*add_rule)(struct lifeline_host *h, const char *rule);
	void (*reserved[9])(void);
};

struct lifeline_plugin {
	uint32_t api_version;          /* LIFELINE_PLUGIN_API_VERSION it was built for */
	uint32_t size;                 /* sizeof(struct lifeline_plugin) it was built with */
	const char *name;              /* 1-32 of [a-z0-9_-]: "postgresql" */
	const char *version;           /* its own version, free text */
	const char *summary;           /* one line */
	/* Find what to protect in the application as it runs now, through api->add_*. */
	int (*discover)(struct lifeline_host *h, const struct lifeline_host_api *api);
	/* Run check `check`; on LIFELINE_FAILED write why (NUL-terminated, whylen bytes at most). */
	int (*check)(struct lifeline_host *h, const struct lifeline_host_api *api,
	    const char *check, char *why, size_t whylen);
	/* Around the services' start and stop; NULL when it has none. */
	int (*hook)(struct lifeline_host *h, const struct lifeline_host_api *api,
	    enum lifeline_hook when, char *why, size_t whylen);
	void (*reserved[12])(void);
};

/* The one symbol a plug-in exports. */
const struct lifeline_plugin *lifeline_plugin_entry(void);

#if defined(__LP64__) && !defined(__cplusplus)
_Static_assert(sizeof(struct lifeline_service) == 8 + 14 * 8, "lifeline_service layout");
_Static_assert(sizeof(struct lifeline_check) == 16 + 8 * 8, "lifeline_check layout");
_Static_assert(sizeof(struct lifeline_host_api) == 8 + 16 * 8, "lifeline_host_api layout");
_Static_assert(sizeof(struct lifeline_plugin) == 8 + 18 * 8, "lifeline_plugin layout");
_Static_assert(offsetof(struct lifeline_plugin, discover) == 32, "lifeline_plugin layout");
#endif

#ifdef __cplusplus
}
#endif

#endif
