/*
 * Protected services, systemd back end: one connection to the system bus on
 * the engine's libevent loop, and a watch of each unit's ActiveState through
 * it, with StartUnit and StopUnit sent on request. Nothing here blocks the
 * loop once the connection is open: every call is asynchronous.
 *
 * Callbacks run from the loop, never from inside an sdunit_* or sdbus_*
 * call. A callback may free the unit that called it (or another one); the
 * memory goes once the callback has returned.
 */
#ifndef LIFELINE_SDUNIT_H
#define LIFELINE_SDUNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;

/* Whether systemd is PID 1 here (sd_booted()). */
bool sdunit_systemd_runs(void);

/* Longest unit name systemd accepts, without its NUL. */
#define SDUNIT_NAME_MAX 255

struct sdbus;

/*
 * Connect to the system bus (sd_bus_open_system honours
 * DBUS_SYSTEM_BUS_ADDRESS, which the tests use), subscribe to systemd's
 * signals (Manager.Subscribe) and hook the connection into base. The
 * connect itself is the only wait; authentication, Hello and the rest run
 * on the loop. Whenever org.freedesktop.systemd1 leaves the bus every unit
 * is reported SDUNIT_UNKNOWN; when it comes back (daemon-reexec) the module
 * subscribes again and reads each unit afresh. A lost connection to the bus
 * itself is reported the same way and is final: close and open again.
 * Returns NULL with why in err.
 */
struct sdbus *sdbus_open(struct event_base *base, char *err, size_t errlen);

/*
 * Close the connection. Units still watched through it stay valid but
 * report nothing more and refuse start and stop; each must still be freed
 * with sdunit_free. Safe from inside a callback.
 */
void sdbus_close(struct sdbus *b);

/* Whether the connection to the bus is still up. */
bool sdbus_connected(const struct sdbus *b);

enum sdunit_state {
	SDUNIT_INACTIVE,
	SDUNIT_ACTIVATING,
	SDUNIT_ACTIVE,		/* also systemd's "reloading" and "refreshing" */
	SDUNIT_DEACTIVATING,
	SDUNIT_FAILED,
	SDUNIT_UNKNOWN,		/* not read yet, no such unit, or systemd unreachable */
};

/* "inactive", "activating", ...: systemd's own words, and "unknown". */
const char *sdunit_state_name(enum sdunit_state s);

/*
 * Called on the loop whenever the unit's state changes. why is NULL for
 * changes Lifeline asked for (the transitions its own start or stop
 * causes), else a sentence saying what happened as far as systemd can
 * tell, e.g. "stopped through systemd by another client (a stop job
 * Lifeline did not start, e.g. systemctl stop)", "its main process was
 * killed by signal KILL", "its main process exited with status 3",
 * "failed: start-limit-hit". The first report of a watch always comes,
 * with a why that says it is the state found when the watch began. why is
 * valid only during the call.
 */
typedef void sdunit_change_fn(void *arg, enum sdunit_state state,
    const char *why);

struct sdunit;

/*
 * Watch unit (e.g. "postgresql@15-main.service"): LoadUnit for its object
 * path, follow PropertiesChanged on that path, read its properties. The
 * first state arrives through fn, SDUNIT_UNKNOWN with a why when systemd
 * has no such unit (LoadState not-found) or cannot be asked. Returns NULL
 * with why in err when the name is not a valid unit name (a template
 * without its instance is not), or b is closed or lost.
 */
struct sdunit *sdunit_watch(struct sdbus *b, const char *unit,
    sdunit_change_fn *fn, void *arg, char *err, size_t errlen);

/*
 * StartUnit(unit, "replace") / StopUnit(unit, "replace"), asynchronous.
 * The state changes they cause are reported with why NULL. A call systemd
 * refuses is reported through fn as SDUNIT_FAILED with a why naming the
 * D-Bus error, and sdunit_state says failed until systemd reports the next
 * change. Returns 0 once the call is queued, -1 (logged) when the
 * connection is closed or lost.
 */
int sdunit_start(struct sdunit *u);
int sdunit_stop(struct sdunit *u);

/* The state last reported through fn (SDUNIT_UNKNOWN before the first). */
enum sdunit_state sdunit_state(const struct sdunit *u);

/* The unit's name as given to sdunit_watch. */
const char *sdunit_name(const struct sdunit *u);

/* Service.MainPID as last read, 0 when none or unknown. */
pid_t sdunit_main_pid(const struct sdunit *u);

/* Stop watching (the unit itself is left as it is). NULL is allowed. */
void sdunit_free(struct sdunit *u);

/*
 * The decision behind every why, a pure function exposed for its
 * table-driven test; the engine has no need to call it.
 */
enum sdunit_own { SDUNIT_OWN_NONE, SDUNIT_OWN_START, SDUNIT_OWN_STOP };

/* One change of a unit's state and what surrounds it. */
struct sdunit_change {
	enum sdunit_state	 from, to;
	enum sdunit_own		 own;		/* Lifeline's start or stop in progress */
	bool			 own_job;	/* the unit's job is Lifeline's */
	bool			 foreign;	/* another's job seen since it settled */
	const char		*result;	/* Service.Result, "" when none */
	int			 exec_code;	/* Service.ExecMainCode: CLD_* or 0 */
	int			 exec_status;	/* Service.ExecMainStatus */
};

/*
 * NULL when the change is Lifeline's doing, else the why, written into
 * buf. A failure (to SDUNIT_FAILED) is never Lifeline's doing; any other
 * change is when Lifeline's job drives the unit, or its start or stop is
 * on its way and the change goes that way. to is never SDUNIT_UNKNOWN.
 */
const char *sdunit_explain(const struct sdunit_change *c, char *buf,
    size_t len);

#endif
