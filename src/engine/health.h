/*
 * Health checks of protected services: one probe at a time per service
 * (tcp HOST:PORT, exec CMD, pid, plugin NAME CHECK), each answered on the engine's loop
 * within its check_timeout. The probe never blocks the loop: heartbeats
 * run on it (invariant 7).
 */
#ifndef LIFELINE_HEALTH_H
#define LIFELINE_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct children;
struct service_conf;
struct health;

enum health_outcome {
	HEALTH_OK,
	HEALTH_FAILED,     /* the service is not healthy */
	HEALTH_BROKEN,     /* a plug-in check crashed or answered nonsense */
};

/* The outcome, and unless ok why in a sentence ("cannot connect to ..."). */
typedef void health_result_fn(void *arg, enum health_outcome outcome, const char *why);

/*
 * plugin_dir: where installed plug-ins are (NAME.so, settings in
 * NAME.json). A plug-in check runs "lifeline-plugin check" (found beside
 * the running program, or at $LIFELINE_PLUGIN_RUNNER) in a child: exit 0
 * passes, PLUGIN_EXIT_UNHEALTHY fails, anything else (PLUGIN_EXIT_BROKEN,
 * another status, a signal) means the plug-in is broken.
 */
struct health *health_new(struct event_base *base, struct children *kids,
    const char *plugin_dir);

/* Cancels a probe in flight (its callback never runs) and frees h. */
void health_free(struct health *h);

/*
 * Start one probe of sc's check for the service whose main process is pid
 * (0 when none is known). What the probe needs is copied, so sc may be
 * freed by a reload meanwhile. fn runs exactly once, later on the loop,
 * never from inside this call; a probe still running is cancelled first.
 * An exec check runs "/bin/sh -c CMD" in its own process group with
 * LIFELINE_SERVICE and LIFELINE_PID in its environment; exit 0 passes.
 */
void health_probe(struct health *h, const struct service_conf *sc, pid_t pid,
    health_result_fn *fn, void *arg);

/*
 * Run hook when ("pre-start", "post-start", "pre-stop", "post-stop") of the
 * plug-in of sc's plug-in check, like a plug-in check: fn gets ok, failed
 * (the hook's reason) or broken, within timeout_ms.
 */
void health_hook(struct health *h, const struct service_conf *sc, pid_t pid, const char *when,
    uint64_t timeout_ms, health_result_fn *fn, void *arg);

/* Drop the probe in flight, if any, without calling its callback. */
void health_cancel(struct health *h);

/* Whether a probe is in flight. */
bool health_busy(const struct health *h);

#endif
