/*
 * Protected services, exec back end: the engine starts each protected
 * [service NAME] on the active node once the services its `after` names are
 * up, watches its process and its health check, follows its action list
 * when either fails (restart, switchover, log, ignore), and stops it, before
 * the services it needs, when the node leaves the role or the engine stops
 * with --stop-apps. A service is a process the engine runs (exec) or a
 * systemd unit (over D-Bus). (Tasks are not built yet.)
 */
#ifndef LIFELINE_SERVICES_H
#define LIFELINE_SERVICES_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

struct config;
struct engine;
struct services;

/*
 * bus: systemd's (engine/sdunit), where systemd is PID 1, for the services
 * that are units; NULL leaves units unmanaged.
 */
struct sdbus;
struct services *services_new(struct engine *e, struct sdbus *bus);
void services_free(struct services *s);

/*
 * How a switchover action asks the engine to hand the active role to a
 * stand-by: 0 when it started, else -1 with why in err (the service is then
 * restarted here instead). why says which failure asked for it.
 */
typedef int services_switchover_fn(struct engine *e, const char *why, char *err, size_t errlen);
void services_on_switchover(struct services *s, services_switchover_fn *fn);

/*
 * The node is active: start every protected service that is not running,
 * each once the services its `after` names are up (a pid check is up when
 * its process is there; another check must pass once).
 */
void services_start_all(struct services *s);

/*
 * Stop every running service, those that need others first, each with its
 * stop method and stop_timeout, then SIGKILL. Blocks: call it only when
 * leaving the loop.
 */
void services_stop_all(struct services *s);

/*
 * Stop every running service without blocking the loop: each gets its stop
 * method once no running service needs it, and SIGKILL at its
 * stop_timeout; done(arg) runs once all are down (at once when none runs).
 * Used when the node leaves the active role.
 */
void services_stop_async(struct services *s, void (*done)(void *arg), void *arg);

/*
 * Take over a service process left running by an engine stopped with
 * --leave-apps-running: it is watched through a pidfd, since it is not
 * this engine's child. Returns 0, or -1 (logged) when pid is gone.
 */
int services_adopt(struct services *s, const char *name, pid_t pid);

/* {"NAME": PID} of every running service, for a later engine to adopt. */
json_t *services_running_pids(const struct services *s);

/*
 * Follow a configuration that was just swapped in (old: the one before):
 * add new services (started on the active node) and drop the ones no
 * longer protected. A dropped service is sent its stop method as old
 * said, without waiting: it leaves the list at once and is killed at its
 * stop_timeout if it has not ended by then.
 */
void services_reconcile(struct services *s, const struct config *old);

/*
 * [{"name", "state", "pid", "failures", "last_failure"}] for status. state:
 * stopped, waiting (for the services it starts after), starting (its check
 * has not passed yet), running, restarting, failed (left stopped by its
 * action list), unmanaged or stopping.
 */
json_t *services_json(const struct services *s);

#endif
