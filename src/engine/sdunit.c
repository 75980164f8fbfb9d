/*
 * The systemd back end of protected services: one sd-bus connection driven
 * by the engine's libevent loop, and for each watched unit its match rule,
 * its pending calls and what systemd last said of it. What a change means
 * (Lifeline's own doing or not, and why) is decided by sdunit_explain(), a
 * pure function of the change.
 */
#include "engine/sdunit.h"
#include "common/log.h"
#include "common/util.h"

#include <event2/event.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define SD_NAME		"org.freedesktop.systemd1"
#define SD_PATH		"/org/freedesktop/systemd1"
#define SD_MANAGER	"org.freedesktop.systemd1.Manager"
#define SD_UNIT		"org.freedesktop.systemd1.Unit"
#define SD_SERVICE	"org.freedesktop.systemd1.Service"
#define DBUS_PROPS	"org.freedesktop.DBus.Properties"
#define DBUS_NAME	"org.freedesktop.DBus"

/* Only changes of systemd's name, not every name on the bus. */
#define OWNER_MATCH	"type='signal',sender='" DBUS_NAME "',path='/org/freedesktop/DBus'," \
			"interface='" DBUS_NAME "',member='NameOwnerChanged',arg0='" SD_NAME "'"

#define PROCESS_BURST	64	/* messages dispatched per wake-up of the loop */
#define WORD_MAX	32	/* ActiveState, LoadState, Result */
#define JOB_PATH_MAX	128	/* "/org/freedesktop/systemd1/job/N" */
#define OWNER_MAX	128	/* a unique name, ":1.42" */
#define WHY_MAX		320
#define HOW_MAX		96	/* one clause: "its main process ..." */

#define WATCH_BEGAN	"when the watch began"
#define SYSTEMD_BACK	"when systemd came back on the bus"

/* What the module knows of a unit, as systemd last said. */
struct unit_props {
	char		 active[WORD_MAX];	/* Unit.ActiveState */
	char		 load[WORD_MAX];	/* Unit.LoadState */
	uint32_t	 job_id;		/* Unit.Job, 0 when none */
	char		 job_path[JOB_PATH_MAX];
	uint32_t	 main_pid;		/* Service.MainPID */
	char		 result[WORD_MAX];	/* Service.Result */
	int32_t		 exec_code;		/* Service.ExecMainCode: CLD_* or 0 */
	int32_t		 exec_status;		/* Service.ExecMainStatus */
};

struct sdunit {
	TAILQ_ENTRY(sdunit)	 entry;
	struct sdbus		*b;		/* NULL once detached */
	char			*name;
	char			*path;		/* from LoadUnit; NULL before */
	bool			 is_service;
	sdunit_change_fn	*fn;
	void			*arg;
	struct unit_props	 p;
	enum sdunit_state	 state;		/* as last reported */
	bool			 reported;
	const char		*reading;	/* a first reading is on its way: when */
	enum sdunit_own		 own;		/* Lifeline's start or stop in progress */
	enum sdunit_own		 job_op;	/* the one job_call waits for */
	char			 own_job[JOB_PATH_MAX];	/* its job, "" before the reply */
	bool			 foreign;	/* another's job seen since the unit settled */
	sd_bus_slot		*match;		/* PropertiesChanged on path */
	sd_bus_slot		*load_call, *unit_call, *service_call, *job_call;
	int			 in_cb;
	bool			 dead;
};

struct sdbus {
	struct event_base	*base;
	sd_bus			*bus;
	struct event		*rd, *wr, *timer;
	sd_bus_slot		*owner_match, *subscribe_call;
	char			 owner[OWNER_MAX];	/* systemd's unique name, "" unknown */
	TAILQ_HEAD(, sdunit)	 units;
	int			 in_process;
	bool			 lost;		/* the connection to the bus is gone */
	bool			 closed;	/* sdbus_close was called */
};

static void bus_rearm(struct sdbus *b);
static void unit_load(struct sdunit *u, const char *when);

bool
sdunit_systemd_runs(void)
{
	return sd_booted() > 0;
}

static const char *const state_names[] = {
	[SDUNIT_INACTIVE] = "inactive", [SDUNIT_ACTIVATING] = "activating",
	[SDUNIT_ACTIVE] = "active", [SDUNIT_DEACTIVATING] = "deactivating",
	[SDUNIT_FAILED] = "failed", [SDUNIT_UNKNOWN] = "unknown",
};

const char *
sdunit_state_name(enum sdunit_state s)
{
	if ((unsigned)s >= nitems(state_names))
		return "unknown";
	return state_names[s];
}

/* Unit names ------------------------------------------------------------ */

static const char *const unit_types[] = {
	"service", "socket", "target", "device", "mount", "automount", "swap",
	"timer", "path", "slice", "scope",
};

/*
 * Whether name is a unit systemd could load: PREFIX[@INSTANCE].TYPE from
 * the characters systemd allows, at most SDUNIT_NAME_MAX long. A template
 * ("foo@.service") names no unit of its own and is refused.
 */
static int
unit_name_check(const char *name, char *err, size_t errlen)
{
	const char *dot, *at = NULL, *c;
	size_t len = strlen(name), i;

	if (len == 0 || len > SDUNIT_NAME_MAX) {
		why_printf(err, errlen, "unit name of %zu characters, expected "
		    "1 to %d", len, SDUNIT_NAME_MAX);
		return -1;
	}
	if ((dot = strrchr(name, '.')) == NULL || dot == name) {
		why_printf(err, errlen, "unit name \"%s\" is not valid: expected "
		    "NAME.TYPE, e.g. app.service", name);
		return -1;
	}
	for (i = 0; i < nitems(unit_types); i++)
		if (strcmp(dot + 1, unit_types[i]) == 0)
			break;
	if (i == nitems(unit_types)) {
		why_printf(err, errlen, "unit name \"%s\" is not valid: unknown "
		    "unit type \"%s\"", name, dot + 1);
		return -1;
	}
	for (c = name; c < dot; c++) {
		if (*c == '@') {
			if (at != NULL || c == name) {
				why_printf(err, errlen, "unit name \"%s\" is not "
				    "valid: misplaced '@'", name);
				return -1;
			}
			at = c;
			continue;
		}
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789:-_.\\", *c) == NULL) {
			why_printf(err, errlen, "unit name \"%s\" is not valid: "
			    "byte 0x%02x at %zu is not allowed (only letters, "
			    "digits and :-_.\\@)", name, (unsigned char)*c,
			    (size_t)(c - name));
			return -1;
		}
	}
	if (at != NULL && at + 1 == dot) {
		why_printf(err, errlen, "unit name \"%s\" is a template: name an "
		    "instance, e.g. %.*s@main%s", name, (int)(at - name), name, dot);
		return -1;
	}
	return 0;
}

/* Properties ------------------------------------------------------------ */

enum prop_kind { PK_WORD, PK_JOB, PK_PID, PK_INT };
enum iface { IF_UNIT, IF_SERVICE };

static const char *const iface_names[] = {
	[IF_UNIT] = SD_UNIT, [IF_SERVICE] = SD_SERVICE,
};

/* The properties the module follows, with the types systemd gives them. */
static const struct prop {
	enum iface	 iface;
	const char	*name;
	const char	*sig;
	enum prop_kind	 kind;
	size_t		 off;
} props[] = {
	{ IF_UNIT, "ActiveState", "s", PK_WORD, offsetof(struct unit_props, active) },
	{ IF_UNIT, "LoadState", "s", PK_WORD, offsetof(struct unit_props, load) },
	{ IF_UNIT, "Job", "(uo)", PK_JOB, 0 },
	{ IF_SERVICE, "MainPID", "u", PK_PID, offsetof(struct unit_props, main_pid) },
	{ IF_SERVICE, "Result", "s", PK_WORD, offsetof(struct unit_props, result) },
	{ IF_SERVICE, "ExecMainCode", "i", PK_INT, offsetof(struct unit_props, exec_code) },
	{ IF_SERVICE, "ExecMainStatus", "i", PK_INT, offsetof(struct unit_props, exec_status) },
};

static const struct prop *
prop_find(enum iface iface, const char *name)
{
	for (size_t i = 0; i < nitems(props); i++)
		if (props[i].iface == iface &&
		    strcmp(props[i].name, name) == 0)
			return &props[i];
	return NULL;
}

/* Read the value of pr (the variant is entered) into p. */
static int
read_value(sd_bus_message *m, const struct prop *pr, struct unit_props *p,
    char *err, size_t errlen)
{
	const char *s, *path;
	uint32_t u32, id;
	int32_t i32;
	int r;

	switch (pr->kind) {
	case PK_WORD:
		if ((r = sd_bus_message_read(m, "s", &s)) < 0)
			return r;
		if (strlen(s) >= WORD_MAX) {
			why_printf(err, errlen, "%s of %zu bytes", pr->name,
			    strlen(s));
			return -EBADMSG;
		}
		xstrlcpy((char *)p + pr->off, s, WORD_MAX);
		return 0;
	case PK_JOB:
		if ((r = sd_bus_message_read(m, "(uo)", &id, &path)) < 0)
			return r;
		if (strlen(path) >= JOB_PATH_MAX) {
			why_printf(err, errlen, "job path of %zu bytes",
			    strlen(path));
			return -EBADMSG;
		}
		p->job_id = id;
		xstrlcpy(p->job_path, id == 0 ? "" : path, JOB_PATH_MAX);
		return 0;
	case PK_PID:
		if ((r = sd_bus_message_read(m, "u", &u32)) < 0)
			return r;
		if (u32 > INT_MAX) {
			why_printf(err, errlen, "%s %u out of range", pr->name, u32);
			return -EBADMSG;
		}
		*(uint32_t *)((char *)p + pr->off) = u32;
		return 0;
	case PK_INT:
		if ((r = sd_bus_message_read(m, "i", &i32)) < 0)
			return r;
		*(int32_t *)((char *)p + pr->off) = i32;
		return 0;
	}
	return -EINVAL;
}

/*
 * Read an a{sv} of iface's properties into p. Properties the module does
 * not follow are skipped; one it follows with another type than systemd
 * gives it, a word too long for its field or a PID out of range fails the
 * whole read, so the caller works on a copy and a bad message changes
 * nothing.
 */
static int
read_props(sd_bus_message *m, enum iface iface, struct unit_props *p,
    char *err, size_t errlen)
{
	const struct prop *pr;
	const char *name, *sig;
	char type;
	int r;

	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
		goto bad;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		if ((r = sd_bus_message_read(m, "s", &name)) < 0)
			goto bad;
		if ((pr = prop_find(iface, name)) == NULL) {
			if ((r = sd_bus_message_skip(m, "v")) < 0)
				goto bad;
		} else {
			if ((r = sd_bus_message_peek_type(m, &type, &sig)) < 0)
				goto bad;
			if (r == 0 || type != 'v' || strcmp(sig, pr->sig) != 0) {
				why_printf(err, errlen, "%s of type %s, expected %s",
				    pr->name, r == 0 || type != 'v' ? "?" : sig,
				    pr->sig);
				return -EBADMSG;
			}
			if ((r = sd_bus_message_enter_container(m, 'v',
			    pr->sig)) < 0)
				goto bad;
			if ((r = read_value(m, pr, p, err, errlen)) < 0) {
				if (r == -EBADMSG)
					return r;
				goto bad;
			}
			if ((r = sd_bus_message_exit_container(m)) < 0)
				goto bad;
		}
		if ((r = sd_bus_message_exit_container(m)) < 0)
			goto bad;
	}
	if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
		goto bad;
	return 0;
bad:
	why_printf(err, errlen, "malformed properties (%s)", strerror(-r));
	return r < 0 ? r : -EBADMSG;
}

/* Decisions -------------------------------------------------------------- */

static const struct {
	const char		*word;
	enum sdunit_state	 state;
} active_states[] = {
	{ "inactive", SDUNIT_INACTIVE },
	{ "activating", SDUNIT_ACTIVATING },
	{ "active", SDUNIT_ACTIVE },
	{ "reloading", SDUNIT_ACTIVE },
	{ "refreshing", SDUNIT_ACTIVE },
	{ "deactivating", SDUNIT_DEACTIVATING },
	{ "failed", SDUNIT_FAILED },
	{ "maintenance", SDUNIT_INACTIVE },	/* systemctl clean: nothing runs */
};

/*
 * The state of a unit whose properties are p. A unit systemd has no file
 * for (LoadState not-found) and that does not run is unknown, as is an
 * ActiveState this module does not know; why then says which.
 */
static enum sdunit_state
state_of(const char *name, const struct unit_props *p, char *why, size_t len)
{
	enum sdunit_state s = SDUNIT_UNKNOWN;

	for (size_t i = 0; i < nitems(active_states); i++)
		if (strcmp(p->active, active_states[i].word) == 0)
			s = active_states[i].state;
	if (s == SDUNIT_UNKNOWN)
		why_printf(why, len, "systemd gave ActiveState \"%s\", which "
		    "Lifeline does not know", p->active);
	else if (strcmp(p->load, "not-found") == 0 &&
	    (s == SDUNIT_INACTIVE || s == SDUNIT_FAILED)) {
		why_printf(why, len, "systemd has no unit %s (LoadState "
		    "not-found)", name);
		s = SDUNIT_UNKNOWN;
	}
	return s;
}

static const char *
signame(int sig, char *buf, size_t len)
{
	const char *s = sig > 0 && sig < NSIG ? sigabbrev_np(sig) : NULL;

	if (s != NULL)
		return s;
	snprintf(buf, len, "%d", sig);
	return buf;
}

/*
 * What the end of the main process says, or "" when it has not ended
 * (ExecMainCode 0).
 */
static const char *
main_exit(const struct sdunit_change *c, char *buf, size_t len)
{
	char sb[16];

	switch (c->exec_code) {
	case CLD_EXITED:
		snprintf(buf, len, "its main process exited with status %d",
		    (int)c->exec_status);
		break;
	case CLD_KILLED:
		snprintf(buf, len, "its main process was killed by signal %s",
		    signame(c->exec_status, sb, sizeof(sb)));
		break;
	case CLD_DUMPED:
		snprintf(buf, len, "its main process was killed by signal %s "
		    "and dumped core", signame(c->exec_status, sb, sizeof(sb)));
		break;
	default:
		snprintf(buf, len, "%s", "");
		break;
	}
	return buf;
}

/*
 * Why a unit failed, from Service.Result: the main process's end when the
 * result is about it, systemd's own word for anything else (timeout,
 * start-limit-hit, oom-kill, watchdog, resources, ...).
 */
static const char *
failure(const struct sdunit_change *c, char *buf, size_t len)
{
	bool about_main = strcmp(c->result, "exit-code") == 0 ||
	    strcmp(c->result, "signal") == 0 ||
	    strcmp(c->result, "core-dump") == 0;

	if (about_main && *main_exit(c, buf, len) != '\0')
		return buf;
	if (c->result[0] == '\0' || strcmp(c->result, "success") == 0)
		snprintf(buf, len, "failed (systemd gave no reason)");
	else
		snprintf(buf, len, "failed: %s", c->result);
	return buf;
}

static bool
toward_start(enum sdunit_state s)
{
	return s == SDUNIT_ACTIVATING || s == SDUNIT_ACTIVE;
}

static bool
toward_stop(enum sdunit_state s)
{
	return s == SDUNIT_DEACTIVATING || s == SDUNIT_INACTIVE;
}

/*
 * Why the state changed, or NULL when Lifeline caused it. A failure is
 * never Lifeline's doing. Otherwise a change is Lifeline's when its own
 * job drives the unit, or when its start or stop is on its way (the reply
 * naming the job not in yet) and the change goes the way it asked. Any
 * other change is explained from the jobs seen and the main process's
 * end. Pure: the test of each row needs no bus.
 */
const char *
sdunit_explain(const struct sdunit_change *c, char *buf, size_t len)
{
	bool ended = c->result[0] != '\0' && strcmp(c->result, "success") != 0;
	char how[HOW_MAX];

	if (c->to == SDUNIT_FAILED)
		return failure(c, buf, len);
	if (c->own_job || (c->own == SDUNIT_OWN_START && toward_start(c->to)) ||
	    (c->own == SDUNIT_OWN_STOP && toward_stop(c->to)))
		return NULL;
	if (toward_stop(c->to)) {
		if (c->foreign)
			snprintf(buf, len, "stopped through systemd by another "
			    "client (a stop job Lifeline did not start, e.g. "
			    "systemctl stop)");
		else if (ended)
			failure(c, buf, len);
		else if (*main_exit(c, how, sizeof(how)) != '\0')
			snprintf(buf, len, "%s", how);
		else
			snprintf(buf, len, "stopped by systemd without a job "
			    "from Lifeline");
		return buf;
	}
	/* toward start */
	if (c->foreign)
		snprintf(buf, len, "started through systemd by another client "
		    "(a start job Lifeline did not start, e.g. systemctl start)");
	else if (c->from == SDUNIT_ACTIVE &&
	    *main_exit(c, how, sizeof(how)) != '\0')
		snprintf(buf, len, "%s; systemd is starting it again "
		    "(Restart=)", how);
	else
		snprintf(buf, len, "started by systemd without a job from "
		    "Lifeline (e.g. Restart=, a dependency, a socket or a timer)");
	return buf;
}

/* Units ------------------------------------------------------------------ */

static void
unit_cancel_calls(struct sdunit *u)
{
	u->load_call = sd_bus_slot_unref(u->load_call);
	u->unit_call = sd_bus_slot_unref(u->unit_call);
	u->service_call = sd_bus_slot_unref(u->service_call);
	u->job_call = sd_bus_slot_unref(u->job_call);
}

/* Take u off its bus: no more calls, no more callbacks. Idempotent. */
static void
unit_detach(struct sdunit *u)
{
	unit_cancel_calls(u);
	u->match = sd_bus_slot_unref(u->match);
	if (u->b != NULL) {
		TAILQ_REMOVE(&u->b->units, u, entry);
		u->b = NULL;
	}
}

static void
unit_destroy(struct sdunit *u)
{
	unit_detach(u);
	free(u->name);
	free(u->path);
	free(u);
}

/*
 * Leave a callback section of u. Returns false when u is gone or detached,
 * and then must not be used further; u's memory goes here when it was
 * freed inside and no other section holds it.
 */
static bool
unit_unpin(struct sdunit *u)
{
	if (--u->in_cb == 0 && u->dead) {
		unit_destroy(u);
		return false;
	}
	return !u->dead && u->b != NULL;
}

/*
 * Tell the owner: the state becomes state for why. Returns false when the
 * callback freed u or closed its bus, so the caller stops there.
 */
static bool
report(struct sdunit *u, enum sdunit_state state, const char *why)
{
	u->state = state;
	u->reported = true;
	if (u->b == NULL || u->dead)
		return false;
	if (why == NULL)
		log_debug("unit %s: %s", u->name, sdunit_state_name(state));
	else if (state == SDUNIT_FAILED || state == SDUNIT_UNKNOWN)
		log_warnx("unit %s: %s: %s", u->name, sdunit_state_name(state), why);
	else
		log_info("unit %s: %s: %s", u->name, sdunit_state_name(state), why);
	u->in_cb++;
	u->fn(u->arg, state, why);
	return unit_unpin(u);
}

/*
 * Whether the unit's current job is Lifeline's: the one its reply named,
 * or any job while that reply is still on its way.
 */
static bool
job_is_own(const struct sdunit *u)
{
	if (u->p.job_id == 0)
		return false;
	if (u->own_job[0] != '\0')
		return strcmp(u->own_job, u->p.job_path) == 0;
	return u->own != SDUNIT_OWN_NONE && u->job_call != NULL;
}

static bool
settled(enum sdunit_state s)
{
	return s == SDUNIT_ACTIVE || s == SDUNIT_INACTIVE ||
	    s == SDUNIT_FAILED || s == SDUNIT_UNKNOWN;
}

/*
 * After a change (or a message that changed no state): Lifeline's start is
 * over once the unit is active, failed or its job is gone, its stop once
 * the unit is inactive or failed; another's job is forgotten once the unit
 * settles.
 */
static void
unit_settle(struct sdunit *u)
{
	bool job_done = u->own_job[0] != '\0' && u->p.job_id == 0;

	if ((u->own == SDUNIT_OWN_START && (u->state == SDUNIT_ACTIVE ||
	    u->state == SDUNIT_FAILED || job_done)) ||
	    (u->own == SDUNIT_OWN_STOP && (u->state == SDUNIT_INACTIVE ||
	    u->state == SDUNIT_FAILED || job_done)))
		u->own = SDUNIT_OWN_NONE;
	if (settled(u->state) && u->p.job_id == 0)
		u->foreign = false;
}

/*
 * The sentence of a first reading: what was found and when, why it had
 * failed, and a LoadState that is not "loaded" (masked, error, ...).
 */
static const char *
reading_why(const struct sdunit *u, const struct sdunit_change *c, const char *when,
    char *buf, size_t len)
{
	char how[HOW_MAX];
	bool loaded = strcmp(u->p.load, "loaded") == 0;

	snprintf(buf, len, "as found %s%s%s%s%s%s", when,
	    c->to == SDUNIT_FAILED ? ": " : "",
	    c->to == SDUNIT_FAILED ? failure(c, how, sizeof(how)) : "",
	    loaded ? "" : " (LoadState ", loaded ? "" : u->p.load,
	    loaded ? "" : ")");
	return buf;
}

/*
 * The Unit interface's properties changed (or were read): report the new
 * state if it is one, with why from sdunit_explain(), or the first reading with
 * when it was made.
 */
static void
unit_evaluate(struct sdunit *u)
{
	char unknown[WHY_MAX], why[WHY_MAX];
	enum sdunit_state to = state_of(u->name, &u->p, unknown, sizeof(unknown));
	struct sdunit_change c = {
		.from = u->state, .to = to, .own = u->own,
		.own_job = job_is_own(u), .result = u->p.result,
		.exec_code = u->p.exec_code, .exec_status = u->p.exec_status,
	};
	const char *when = u->reading, *w;

	if (u->p.job_id != 0 && !c.own_job)
		u->foreign = true;
	c.foreign = u->foreign;
	u->reading = NULL;
	if (u->reported && to == u->state)
		goto out;
	if (to == SDUNIT_UNKNOWN)
		w = unknown;
	else if (when != NULL)
		w = reading_why(u, &c, when, why, sizeof(why));
	else
		w = sdunit_explain(&c, why, sizeof(why));
	if (!report(u, to, w))
		return;
out:
	unit_settle(u);
}

/* The D-Bus error of m in buf: "NAME: MESSAGE". */
static const char *
error_of(sd_bus_message *m, char *buf, size_t len)
{
	const sd_bus_error *e = sd_bus_message_get_error(m);

	snprintf(buf, len, "%s%s%s", e != NULL && e->name != NULL ? e->name :
	    "unnamed error", e != NULL && e->message != NULL ? ": " : "",
	    e != NULL && e->message != NULL ? e->message : "");
	return buf;
}

static const char *
signature_of(sd_bus_message *m)
{
	const char *sig = sd_bus_message_get_signature(m, 1);

	return sig != NULL && sig[0] != '\0' ? sig : "(none)";
}

/* Whether m comes from systemd as the module knows it; learns its name. */
static bool
from_systemd(struct sdbus *b, sd_bus_message *m)
{
	const char *sender = sd_bus_message_get_sender(m);

	if (sender == NULL)
		return false;
	if (b->owner[0] == '\0' && strlen(sender) < sizeof(b->owner))
		xstrlcpy(b->owner, sender, sizeof(b->owner));
	return strcmp(sender, b->owner) == 0;
}

/* systemd cannot tell about u: unknown, with why. */
static void
unit_unreachable(struct sdunit *u, const char *why)
{
	u->reading = NULL;
	if (u->reported && u->state == SDUNIT_UNKNOWN) {
		log_warnx("unit %s: %s", u->name, why);
		return;
	}
	report(u, SDUNIT_UNKNOWN, why);
}

/*
 * A GetAll of iface answered. The first reading of a unit is the Unit
 * interface's: a refusal then leaves the unit unknown; later, it is only
 * logged and the unit keeps what it had.
 */
static void
props_read(sd_bus_message *m, struct sdunit *u, enum iface iface)
{
	struct unit_props next = u->p;
	char err[WHY_MAX], why[WHY_MAX];

	if (sd_bus_message_is_method_error(m, NULL)) {
		if (sd_bus_is_open(sd_bus_message_get_bus(m)) <= 0)
			return;
		snprintf(why, sizeof(why), "cannot read its %s properties: %s",
		    iface == IF_UNIT ? "unit" : "service",
		    error_of(m, err, sizeof(err)));
		if (iface == IF_UNIT && u->reading != NULL)
			unit_unreachable(u, why);
		else
			log_warnx("unit %s: %s", u->name, why);
		return;
	}
	if (!from_systemd(u->b, m) || sd_bus_message_has_signature(m,
	    "a{sv}") <= 0) {
		log_warnx("unit %s: properties reply ignored: not from systemd or "
		    "of signature %s", u->name, signature_of(m));
		return;
	}
	if (read_props(m, iface, &next, err, sizeof(err)) < 0) {
		log_warnx("unit %s: properties reply ignored: %s", u->name, err);
		return;
	}
	u->p = next;
	if (iface == IF_UNIT)
		unit_evaluate(u);
}

static int
on_unit_props(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	struct sdunit *u = arg;

	u->unit_call = sd_bus_slot_unref(u->unit_call);
	props_read(m, u, IF_UNIT);
	return 0;
}

static int
on_service_props(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	struct sdunit *u = arg;

	u->service_call = sd_bus_slot_unref(u->service_call);
	props_read(m, u, IF_SERVICE);
	return 0;
}

/* GetAll of iface on u's path, replacing any such call on its way. */
static void
unit_read(struct sdunit *u, enum iface iface)
{
	sd_bus_slot **slot = iface == IF_UNIT ? &u->unit_call : &u->service_call;
	int r;

	*slot = sd_bus_slot_unref(*slot);
	r = sd_bus_call_method_async(u->b->bus, slot, SD_NAME, u->path,
	    DBUS_PROPS, "GetAll", iface == IF_UNIT ? on_unit_props :
	    on_service_props, u, "s", iface_names[iface]);
	if (r < 0)
		log_warnx("unit %s: cannot ask for its properties: %s", u->name,
		    strerror(-r));
}

/*
 * PropertiesChanged on u's path. Only systemd's Unit and Service
 * interfaces count; a property invalidated rather than sent is read again.
 */
static int
on_props_changed(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	struct sdunit *u = arg;
	struct unit_props next = u->p;
	const char *iname, *name, *path = sd_bus_message_get_path(m);
	enum iface iface;
	char err[WHY_MAX];
	bool stale = false;
	int r;

	if (!from_systemd(u->b, m) || path == NULL || u->path == NULL ||
	    strcmp(path, u->path) != 0 ||
	    sd_bus_message_has_signature(m, "sa{sv}as") <= 0) {
		log_warnx("unit %s: PropertiesChanged ignored: not from systemd, "
		    "not its path or of signature %s", u->name,
		    signature_of(m));
		return 0;
	}
	if ((r = sd_bus_message_read(m, "s", &iname)) < 0)
		goto bad;
	if (strcmp(iname, SD_UNIT) == 0)
		iface = IF_UNIT;
	else if (strcmp(iname, SD_SERVICE) == 0)
		iface = IF_SERVICE;
	else
		return 0;
	if (read_props(m, iface, &next, err, sizeof(err)) < 0) {
		log_warnx("unit %s: PropertiesChanged ignored: %s", u->name, err);
		return 0;
	}
	if ((r = sd_bus_message_enter_container(m, 'a', "s")) < 0)
		goto bad;
	while ((r = sd_bus_message_read(m, "s", &name)) > 0)
		if (prop_find(iface, name) != NULL)
			stale = true;
	if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
		goto bad;
	u->p = next;
	if (stale)
		unit_read(u, iface);
	if (iface == IF_UNIT && u->reading == NULL && !stale)
		unit_evaluate(u);
	return 0;
bad:
	log_warnx("unit %s: PropertiesChanged ignored: malformed (%s)", u->name,
	    strerror(-r));
	return 0;
}

static int
on_match_installed(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	struct sdunit *u = arg;
	char err[WHY_MAX];

	if (sd_bus_message_is_method_error(m, NULL) &&
	    sd_bus_is_open(sd_bus_message_get_bus(m)) > 0)
		log_warnx("unit %s: the bus refused to pass its changes on, they "
		    "will be missed: %s", u->name, error_of(m, err, sizeof(err)));
	return 0;
}

/*
 * LoadUnit answered with the unit's object path: follow its changes (the
 * match goes to the bus before the reads, so no change falls between),
 * then read the Service properties before the Unit ones, so the first
 * report already knows the main PID.
 */
static int
on_load_reply(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	struct sdunit *u = arg;
	char err[WHY_MAX], why[WHY_MAX];
	const char *path;
	int r;

	u->load_call = sd_bus_slot_unref(u->load_call);
	if (sd_bus_message_is_method_error(m, NULL)) {
		if (sd_bus_is_open(sd_bus_message_get_bus(m)) <= 0)
			return 0;
		snprintf(why, sizeof(why), "systemd cannot be asked about it: "
		    "LoadUnit failed: %s", error_of(m, err, sizeof(err)));
		unit_unreachable(u, why);
		return 0;
	}
	if (!from_systemd(u->b, m) || sd_bus_message_has_signature(m, "o") <= 0 ||
	    sd_bus_message_read(m, "o", &path) < 0) {
		log_warnx("unit %s: LoadUnit reply ignored: not from systemd or "
		    "of signature %s", u->name, signature_of(m));
		unit_unreachable(u, "systemd gave a LoadUnit reply Lifeline "
		    "cannot use");
		return 0;
	}
	if (u->path == NULL || strcmp(u->path, path) != 0 || u->match == NULL) {
		free(u->path);
		u->path = xstrdup(path);
		u->match = sd_bus_slot_unref(u->match);
		r = sd_bus_match_signal_async(u->b->bus, &u->match, SD_NAME,
		    u->path, DBUS_PROPS, "PropertiesChanged", on_props_changed,
		    on_match_installed, u);
		if (r < 0)
			log_warnx("unit %s: cannot follow its changes: %s",
			    u->name, strerror(-r));
	}
	if (u->is_service)
		unit_read(u, IF_SERVICE);
	unit_read(u, IF_UNIT);
	return 0;
}

/* Read u afresh: LoadUnit, then its properties; the reading says when. */
static void
unit_load(struct sdunit *u, const char *when)
{
	int r;

	unit_cancel_calls(u);
	u->reading = when;
	r = sd_bus_call_method_async(u->b->bus, &u->load_call, SD_NAME, SD_PATH,
	    SD_MANAGER, "LoadUnit", on_load_reply, u, "s", u->name);
	if (r < 0)
		log_warnx("unit %s: cannot ask systemd about it: %s", u->name,
		    strerror(-r));
}

struct sdunit *
sdunit_watch(struct sdbus *b, const char *unit, sdunit_change_fn *fn,
    void *arg, char *err, size_t errlen)
{
	struct sdunit *u;

	if (b == NULL || fn == NULL || unit == NULL) {
		why_printf(err, errlen, "systemd: a watch needs a bus, a unit "
		    "and a callback");
		return NULL;
	}
	if (unit_name_check(unit, err, errlen) < 0)
		return NULL;
	if (b->lost || b->closed) {
		why_printf(err, errlen, "systemd: no connection to the system "
		    "bus for unit %s", unit);
		return NULL;
	}
	u = xcalloc(1, sizeof(*u));
	u->b = b;
	u->name = xstrdup(unit);
	u->is_service = strlen(unit) > 8 &&
	    strcmp(unit + strlen(unit) - 8, ".service") == 0;
	u->fn = fn;
	u->arg = arg;
	u->state = SDUNIT_UNKNOWN;
	TAILQ_INSERT_TAIL(&b->units, u, entry);
	unit_load(u, WATCH_BEGAN);
	bus_rearm(b);
	return u;
}

/*
 * Lifeline's StartUnit or StopUnit was answered: remember the job it
 * made, so the changes it drives are told from others'. A refusal is
 * reported as a failure naming the D-Bus error.
 */
static int
on_job_reply(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	struct sdunit *u = arg;
	const char *what = u->job_op == SDUNIT_OWN_STOP ? "StopUnit" : "StartUnit";
	char err[WHY_MAX], why[WHY_MAX];
	const char *path;

	u->job_call = sd_bus_slot_unref(u->job_call);
	if (sd_bus_message_is_method_error(m, NULL)) {
		if (sd_bus_is_open(sd_bus_message_get_bus(m)) <= 0)
			return 0;
		if (u->own == u->job_op)
			u->own = SDUNIT_OWN_NONE;
		snprintf(why, sizeof(why), "%s failed: %s", what,
		    error_of(m, err, sizeof(err)));
		report(u, SDUNIT_FAILED, why);
		return 0;
	}
	if (!from_systemd(u->b, m) || sd_bus_message_has_signature(m, "o") <= 0 ||
	    sd_bus_message_read(m, "o", &path) < 0 ||
	    strlen(path) >= sizeof(u->own_job)) {
		log_warnx("unit %s: %s reply ignored: not from systemd or of "
		    "signature %s", u->name, what, signature_of(m));
		return 0;
	}
	xstrlcpy(u->own_job, path, sizeof(u->own_job));
	/* Nothing to do for the job (already active, already stopped). */
	if (u->p.job_id == 0 && ((u->own == SDUNIT_OWN_START && u->state == SDUNIT_ACTIVE) ||
	    (u->own == SDUNIT_OWN_STOP && (u->state == SDUNIT_INACTIVE ||
	    u->state == SDUNIT_FAILED))))
		u->own = SDUNIT_OWN_NONE;
	return 0;
}

static int
unit_job(struct sdunit *u, enum sdunit_own op)
{
	const char *what = op == SDUNIT_OWN_START ? "StartUnit" : "StopUnit";
	int r;

	if (u == NULL)
		return -1;
	if (u->b == NULL || u->b->lost || u->b->closed) {
		log_warnx("unit %s: cannot send %s: no connection to the system "
		    "bus", u->name, what);
		return -1;
	}
	u->job_call = sd_bus_slot_unref(u->job_call);
	u->own = u->job_op = op;
	u->own_job[0] = '\0';
	u->foreign = false;
	r = sd_bus_call_method_async(u->b->bus, &u->job_call, SD_NAME, SD_PATH,
	    SD_MANAGER, what, on_job_reply, u, "ss", u->name, "replace");
	if (r < 0) {
		u->own = SDUNIT_OWN_NONE;
		errno = -r;
		log_warn("unit %s: cannot send %s", u->name, what);
		return -1;
	}
	bus_rearm(u->b);
	return 0;
}

int
sdunit_start(struct sdunit *u)
{
	return unit_job(u, SDUNIT_OWN_START);
}

int
sdunit_stop(struct sdunit *u)
{
	return unit_job(u, SDUNIT_OWN_STOP);
}

enum sdunit_state
sdunit_state(const struct sdunit *u)
{
	return u == NULL ? SDUNIT_UNKNOWN : u->state;
}

const char *
sdunit_name(const struct sdunit *u)
{
	return u == NULL ? NULL : u->name;
}

pid_t
sdunit_main_pid(const struct sdunit *u)
{
	return u == NULL ? 0 : (pid_t)u->p.main_pid;
}

void
sdunit_free(struct sdunit *u)
{
	struct sdbus *b;

	if (u == NULL || u->dead)
		return;
	b = u->b;
	unit_detach(u);
	if (b != NULL && !b->closed)
		bus_rearm(b);		/* the RemoveMatch the detach queued */
	if (u->in_cb > 0)
		u->dead = true;
	else
		unit_destroy(u);
}

/* The bus ------------------------------------------------------------------- */

/*
 * Every unit of b is unknown for why, its calls dropped and its view of
 * systemd forgotten. Callbacks may free any unit or close b meanwhile: the
 * units are pinned first and let go after.
 */
static void
units_unknown(struct sdbus *b, const char *why)
{
	struct sdunit **v, *u;
	size_t n = 0, i = 0;

	TAILQ_FOREACH(u, &b->units, entry)
		n++;
	if (n == 0)
		return;
	v = xcalloc(n, sizeof(*v));
	TAILQ_FOREACH(u, &b->units, entry) {
		u->in_cb++;
		v[i++] = u;
	}
	for (i = 0; i < n; i++) {
		u = v[i];
		if (u->dead || u->b == NULL)
			continue;
		unit_cancel_calls(u);
		memset(&u->p, 0, sizeof(u->p));
		u->own = SDUNIT_OWN_NONE;
		u->own_job[0] = '\0';
		u->foreign = false;
		u->reading = NULL;
		if (!u->reported || u->state != SDUNIT_UNKNOWN)
			report(u, SDUNIT_UNKNOWN, why);
	}
	for (i = 0; i < n; i++)
		unit_unpin(v[i]);
	free(v);
}

/* The connection to the bus is gone for good: say so once, everywhere. */
static void
bus_lost(struct sdbus *b, int error)
{
	char why[WHY_MAX];

	if (b->lost)
		return;
	b->lost = true;
	event_del(b->rd);
	event_del(b->wr);
	event_del(b->timer);
	snprintf(why, sizeof(why), "the connection to the system bus was lost "
	    "(%s)", strerror(error));
	log_warnx("systemd: %s; units are unknown until it is opened again", why);
	units_unknown(b, why);
}

static int
on_subscribe_reply(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	struct sdbus *b = arg;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	char err[WHY_MAX];

	b->subscribe_call = sd_bus_slot_unref(b->subscribe_call);
	if (e == NULL) {
		from_systemd(b, m);
		log_debug("systemd: subscribed to its signals");
	} else if (sd_bus_is_open(sd_bus_message_get_bus(m)) <= 0 ||
	    sd_bus_error_has_name(e, "org.freedesktop.systemd1.AlreadySubscribed"))
		;
	else if (sd_bus_error_has_names(e, "org.freedesktop.DBus.Error.ServiceUnknown",
	    "org.freedesktop.DBus.Error.NameHasNoOwner"))
		log_warnx("systemd: not on the system bus yet; units are read "
		    "when it comes");
	else
		log_warnx("systemd: Subscribe failed, unit changes may be "
		    "missed: %s", error_of(m, err, sizeof(err)));
	return 0;
}

static void
bus_subscribe(struct sdbus *b)
{
	int r;

	b->subscribe_call = sd_bus_slot_unref(b->subscribe_call);
	r = sd_bus_call_method_async(b->bus, &b->subscribe_call, SD_NAME,
	    SD_PATH, SD_MANAGER, "Subscribe", on_subscribe_reply, b, "");
	if (r < 0)
		log_warnx("systemd: cannot send Subscribe: %s", strerror(-r));
}

/*
 * systemd's name changed hands. Gone: every unit is unknown. Back (or
 * there for the first time): subscribe again, since a new systemd does
 * not know its subscribers, and read every unit afresh.
 */
static int
on_owner_changed(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	struct sdbus *b = arg;
	const char *name, *old, *new, *sender = sd_bus_message_get_sender(m);
	struct sdunit **v, *u;
	size_t n = 0, i = 0;

	if (sender == NULL || strcmp(sender, DBUS_NAME) != 0 ||
	    sd_bus_message_has_signature(m, "sss") <= 0 ||
	    sd_bus_message_read(m, "sss", &name, &old, &new) < 0) {
		log_warnx("systemd: NameOwnerChanged ignored: not from the bus or "
		    "malformed");
		return 0;
	}
	if (strcmp(name, SD_NAME) != 0)
		return 0;
	if (new[0] == '\0') {
		b->owner[0] = '\0';
		log_warnx("systemd left the system bus (%s)", old);
		units_unknown(b, "systemd left the system bus (no owner of "
		    SD_NAME " now)");
		return 0;
	}
	if (strlen(new) >= sizeof(b->owner)) {
		log_warnx("systemd: NameOwnerChanged ignored: owner name of %zu "
		    "bytes", strlen(new));
		return 0;
	}
	xstrlcpy(b->owner, new, sizeof(b->owner));
	log_info("systemd is on the system bus (%s)", new);
	bus_subscribe(b);
	/* unit_load sends only, no callback runs: a plain walk is safe. */
	TAILQ_FOREACH(u, &b->units, entry)
		n++;
	v = n > 0 ? xcalloc(n, sizeof(*v)) : NULL;
	TAILQ_FOREACH(u, &b->units, entry)
		v[i++] = u;
	for (i = 0; i < n; i++)
		unit_load(v[i], v[i]->reported ? SYSTEMD_BACK : WATCH_BEGAN);
	free(v);
	return 0;
}

static int
on_owner_match_installed(sd_bus_message *m, void *arg, sd_bus_error *ret_error)
{
	char err[WHY_MAX];

	if (sd_bus_message_is_method_error(m, NULL) &&
	    sd_bus_is_open(sd_bus_message_get_bus(m)) > 0)
		log_warnx("systemd: the bus refused to tell when systemd comes "
		    "and goes: %s", error_of(m, err, sizeof(err)));
	return 0;
}

static uint64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Wait for what sd-bus waits for: input, room to write, its next timeout
 * (a method call's, absolute on CLOCK_MONOTONIC). Called after every
 * processing and every call queued from outside the loop. An error here
 * is left for the processing it schedules, which reports it from the
 * loop rather than from inside the caller.
 */
static void
bus_rearm(struct sdbus *b)
{
	struct timeval tv;
	uint64_t until, now;
	int events;

	if (b->lost || b->closed)
		return;
	if ((events = sd_bus_get_events(b->bus)) < 0) {
		event_active(b->timer, EV_TIMEOUT, 0);
		return;
	}
	if (events & POLLIN)
		event_add(b->rd, NULL);
	else
		event_del(b->rd);
	if (events & POLLOUT)
		event_add(b->wr, NULL);
	else
		event_del(b->wr);
	if (sd_bus_get_timeout(b->bus, &until) < 0 || until == UINT64_MAX) {
		event_del(b->timer);
		return;
	}
	now = now_usec();
	until = until > now ? until - now : 0;
	tv.tv_sec = (time_t)(until / 1000000u);
	tv.tv_usec = (suseconds_t)(until % 1000000u);
	event_add(b->timer, &tv);
}

static void
bus_destroy(struct sdbus *b)
{
	struct sdunit *u;

	while ((u = TAILQ_FIRST(&b->units)) != NULL)
		unit_detach(u);
	if (b->rd != NULL)
		event_free(b->rd);
	if (b->wr != NULL)
		event_free(b->wr);
	if (b->timer != NULL)
		event_free(b->timer);
	sd_bus_slot_unref(b->owner_match);
	sd_bus_slot_unref(b->subscribe_call);
	sd_bus_close_unref(b->bus);
	free(b);
}

/*
 * Dispatch what sd-bus has, a burst at a time so a flood cannot starve
 * the heartbeats (the rest waits for the next turn of the loop), then wait
 * again. A failed or closed connection is lost.
 */
static void
bus_process(struct sdbus *b)
{
	int r = 0, n;

	b->in_process++;
	for (n = 0; n < PROCESS_BURST && !b->closed && !b->lost; n++)
		if ((r = sd_bus_process(b->bus, NULL)) <= 0)
			break;
	if (!b->closed && !b->lost && (r < 0 || sd_bus_is_open(b->bus) <= 0))
		bus_lost(b, r < 0 ? -r : ECONNRESET);
	b->in_process--;
	if (b->closed) {
		if (b->in_process == 0)
			bus_destroy(b);
		return;
	}
	bus_rearm(b);
	if (n == PROCESS_BURST && !b->lost)
		event_active(b->timer, EV_TIMEOUT, 0);
}

static void
on_bus_event(evutil_socket_t fd, short what, void *arg)
{
	bus_process(arg);
}

struct sdbus *
sdbus_open(struct event_base *base, char *err, size_t errlen)
{
	const char *addr = getenv("DBUS_SYSTEM_BUS_ADDRESS");
	struct sdbus *b;
	int r, fd;

	if (base == NULL) {
		why_printf(err, errlen, "systemd: no event base");
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->base = base;
	TAILQ_INIT(&b->units);
	if ((r = sd_bus_open_system(&b->bus)) < 0) {
		why_printf(err, errlen, "systemd: cannot connect to the system "
		    "bus at %s: %s", addr != NULL ? addr :
		    "unix:path=/run/dbus/system_bus_socket", strerror(-r));
		goto fail;
	}
	if ((fd = sd_bus_get_fd(b->bus)) < 0) {
		why_printf(err, errlen, "systemd: no descriptor for the system "
		    "bus: %s", strerror(-fd));
		goto fail;
	}
	b->rd = event_new(base, fd, EV_READ | EV_PERSIST, on_bus_event, b);
	b->wr = event_new(base, fd, EV_WRITE | EV_PERSIST, on_bus_event, b);
	b->timer = evtimer_new(base, on_bus_event, b);
	if (b->rd == NULL || b->wr == NULL || b->timer == NULL) {
		why_printf(err, errlen, "systemd: cannot watch the system bus");
		goto fail;
	}
	r = sd_bus_add_match_async(b->bus, &b->owner_match, OWNER_MATCH,
	    on_owner_changed, on_owner_match_installed, b);
	if (r < 0) {
		why_printf(err, errlen, "systemd: cannot follow its name on the "
		    "bus: %s", strerror(-r));
		goto fail;
	}
	bus_subscribe(b);
	if (b->subscribe_call == NULL) {
		why_printf(err, errlen, "systemd: cannot send Subscribe");
		goto fail;
	}
	bus_rearm(b);
	return b;
fail:
	bus_destroy(b);
	return NULL;
}

void
sdbus_close(struct sdbus *b)
{
	struct sdunit *u;

	if (b == NULL || b->closed)
		return;
	b->closed = true;
	while ((u = TAILQ_FIRST(&b->units)) != NULL)
		unit_detach(u);
	if (b->in_process == 0)
		bus_destroy(b);
}

bool
sdbus_connected(const struct sdbus *b)
{
	return b != NULL && !b->lost && !b->closed;
}
