/*
 * Health checks of protected services: one probe at a time per service
 * (tcp HOST:PORT, exec CMD, pid), each answered on the engine's loop
 * within its check_timeout. The probe never blocks the loop: heartbeats
 * run on it (invariant 7).
 */
#ifndef LIFELINE_HEALTH_H
#define LIFELINE_HEALTH_H

#include <stdbool.h>
#include <sys/types.h>

struct event_base;
struct children;
struct service_conf;
struct health;

/* ok, or why not in a sentence ("connection refused by 192.0.2.10:8080"). */
typedef void health_result_fn(void *arg, bool ok, const char *why);

struct health *health_new(struct event_base *base, struct children *kids);

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

/* Drop the probe in flight, if any, without calling its callback. */
void health_cancel(struct health *h);

/* Whether a probe is in flight. */
bool health_busy(const struct health *h);

#endif
