/*
 * lifelined's handle on lifeline-repl (replica.h): one status poll at a
 * time on a timer, one connection per request, a pidfd on the program, and
 * a detached start when nothing listens on the socket. Nothing here blocks
 * the loop but replica_free.
 */
#include "engine/replica.h"
#include "common/ctl.h"
#include "common/log.h"
#include "common/replctl.h"
#include "common/spawn.h"
#include "common/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKOFF_MIN_MS   500
#define BACKOFF_MAX_MS 30000
#define STABLE_MS      10000     /* up this long: a later death is not a crash loop */

/* One request in flight on its own connection. */
struct call {
	struct replica      *r;
	struct bufferevent  *bev;        /* NULL when the connection failed at once */
	struct event        *timer;      /* the deadline, or the deferred failure */
	int                  timeout_ms;
	int                  sys_errno;  /* why the connection failed at once, or 0 */
	pid_t                peer_pid;   /* the listener, from SO_PEERCRED */
	char                 err[320];   /* set when the connection failed at once */
	replica_cb           cb;
	void                *arg;
	TAILQ_ENTRY(call)    entry;
};

TAILQ_HEAD(calls, call);

struct replica {
	struct event_base   *base;
	struct sockaddr_un   sun;
	char                *program;
	char                *argv[7];    /* program -f CONF -i NAME [-d] */
	void               (*on_up)(void *);
	void               (*on_down)(void *, const char *);
	void                *arg;

	struct event        *tick;       /* the next status poll */
	struct call         *status;     /* the poll in flight, or NULL */
	struct calls         calls;      /* replica_request's, in flight */
	bool                 freeing;

	bool                 up;
	uint64_t             up_since_ms;
	uint64_t             last_ok_ms;
	json_t              *cached;     /* "replication" of the last answer, while up */
	char                 why[400];   /* why not up, for replica_status */
	bool                 told_silent; /* "no answer" logged since the last answer */

	pid_t                pid;        /* the program watched, or 0 */
	int                  pidfd;
	struct event        *pid_ev;

	bool                 starting;   /* started by us, has not answered yet */
	pid_t                started_pid;
	uint64_t             started_ms;
	int                  spawn_fd;   /* reports of the start (struct spawn_msg), or -1 */
	bool                 told_slow;  /* the slow start was logged */
	unsigned             crashes;    /* quick deaths and failed starts in a row */
	char                 spawn_err[400]; /* the last start failure logged */
	uint64_t             next_spawn_ms;
};

static void call_finish(struct call *c, json_t *answer, const char *err);
static void status_done(struct replica *r, json_t *answer, const char *err,
    int sys_errno, pid_t peer_pid);

/* Outside bytes (a bad answer, a quoted token) become '?' so err is ASCII. */
static void
ascii_sanitize(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
}

static void set_why(struct replica *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_why(struct replica *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

/* ---- one request, one connection ---------------------------------------- */

static void
call_free(struct call *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->timer);
	free(c);
}

/* The deadline passed, or a connection that failed at once is reported now. */
static void
on_call_timer(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;
	char err[64];

	if (c->err[0] != '\0') {
		call_finish(c, NULL, c->err);
		return;
	}
	snprintf(err, sizeof(err), "no answer within %d ms", c->timeout_ms);
	call_finish(c, NULL, err);
}

static void
on_call_read(struct bufferevent *bev, void *arg)
{
	struct call *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	json_error_t jerr;
	json_t *answer;
	char err[300];
	size_t len;
	char *line;

	if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) == NULL) {
		if (evbuffer_get_length(in) > CTL_MAX_LINE) {
			snprintf(err, sizeof(err), "bad answer: longer than %d bytes", CTL_MAX_LINE);
			call_finish(c, NULL, err);
		}
		return;
	}
	answer = json_loadb(line, len, 0, &jerr);
	free(line);
	if (answer == NULL) {
		snprintf(err, sizeof(err), "bad answer: not valid JSON (%s at column %d)",
		    jerr.text, jerr.column);
		call_finish(c, NULL, err);
	} else if (!json_is_object(answer)) {
		json_decref(answer);
		call_finish(c, NULL, "bad answer: not a JSON object");
	} else
		call_finish(c, answer, NULL);
}

static void
on_call_event(struct bufferevent *bev, short what, void *arg)
{
	struct call *c = arg;
	char err[300];

	if (what & BEV_EVENT_EOF)
		call_finish(c, NULL, "connection closed before an answer");
	else if (what & BEV_EVENT_ERROR) {
		snprintf(err, sizeof(err), "connection lost: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		call_finish(c, NULL, err);
	}
}

/*
 * Connect to the socket without waiting: a UNIX socket connects at once or
 * fails at once (EAGAIN when its backlog is full). The listener must run as
 * root or as this user: the socket lives in a private folder, but an answer
 * is only trusted from a sender checked here. Returns the connected fd, or
 * -1 with c->err and c->sys_errno set.
 */
static int
call_connect(struct call *c)
{
	struct replica *r = c->r;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&r->sun, sizeof(r->sun)) < 0) {
		c->sys_errno = errno;
		snprintf(c->err, sizeof(c->err), "cannot connect to %s: %s", r->sun.sun_path,
		    strerror(c->sys_errno));
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0) {
		c->sys_errno = errno;
		snprintf(c->err, sizeof(c->err), "%s: cannot learn who listens: %s",
		    r->sun.sun_path, strerror(c->sys_errno));
		goto fail;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		c->sys_errno = EPERM;
		snprintf(c->err, sizeof(c->err), "%s is served by uid %ld (pid %ld), "
		    "expected root or uid %ld", r->sun.sun_path, (long)cred.uid,
		    (long)cred.pid, (long)geteuid());
		goto fail;
	}
	c->peer_pid = cred.pid;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Start one request. A failure is reported through the loop like any other
 * end, so the caller can link the call before its end can run. req is
 * stolen.
 */
static struct call *
call_new(struct replica *r, json_t *req, int timeout_ms)
{
	struct call *c = xcalloc(1, sizeof(*c));
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	char *text;
	int fd;

	if (timeout_ms <= 0)
		fatalx("replica: a request needs a timeout, got %d ms", timeout_ms);
	if ((text = json_dumps(req, JSON_COMPACT)) == NULL)
		fatalx("replica: cannot encode a request");
	json_decref(req);
	c->r = r;
	c->timeout_ms = timeout_ms;
	c->timer = evtimer_new(r->base, on_call_timer, c);
	if ((fd = call_connect(c)) < 0) {
		event_active(c->timer, EV_TIMEOUT, 1);
		free(text);
		return c;
	}
	c->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("replica: cannot make a bufferevent");
	bufferevent_setcb(c->bev, on_call_read, NULL, on_call_event, c);
	/* Stop reading just past the longest line allowed: it is then refused. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, CTL_MAX_LINE + 1);
	evbuffer_add(bufferevent_get_output(c->bev), text, strlen(text));
	evbuffer_add(bufferevent_get_output(c->bev), "\n", 1);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	evtimer_add(c->timer, &tv);
	free(text);
	return c;
}

/*
 * A call ended. Everything of the call is gone before its callback runs,
 * and nothing of the replica is touched after it, so a callback may make
 * or cancel requests freely.
 */
static void
call_finish(struct call *c, json_t *answer, const char *err)
{
	struct replica *r = c->r;
	char errbuf[sizeof(c->err) + 64];
	int sys_errno = c->sys_errno;
	pid_t peer_pid = c->peer_pid;
	replica_cb cb = c->cb;
	void *arg = c->arg;

	if (err != NULL) {
		xstrlcpy(errbuf, err, sizeof(errbuf));
		ascii_sanitize(errbuf);
		err = errbuf;
	}
	if (c == r->status) {
		r->status = NULL;
		call_free(c);
		status_done(r, answer, err, sys_errno, peer_pid);
	} else {
		TAILQ_REMOVE(&r->calls, c, entry);
		call_free(c);
		if (cb != NULL)
			cb(arg, answer, err);
	}
	json_decref(answer);
}

/* ---- the program's process ---------------------------------------------- */

static void
close_spawn_fd(struct replica *r)
{
	if (r->spawn_fd >= 0)
		close(r->spawn_fd);
	r->spawn_fd = -1;
}

static void
unwatch(struct replica *r)
{
	if (r->pid_ev != NULL)
		event_free(r->pid_ev);
	if (r->pidfd >= 0)
		close(r->pidfd);
	r->pid_ev = NULL;
	r->pidfd = -1;
	r->pid = 0;
}

/* Ask for a status poll at the next turn of the loop, not from in here. */
static void
poll_now(struct replica *r)
{
	event_active(r->tick, EV_TIMEOUT, 1);
}

static uint64_t
backoff_ms(unsigned crashes)
{
	uint64_t ms;

	if (crashes == 0)
		return 0;
	ms = (uint64_t)BACKOFF_MIN_MS << (crashes < 16 ? crashes - 1 : 15);
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static void
go_up(struct replica *r, pid_t pid)
{
	r->up = true;
	r->up_since_ms = now_mono_ms();
	r->why[0] = '\0';
	r->told_silent = false;
	log_info("replica: lifeline-repl (pid %ld) answers on %s", (long)pid, r->sun.sun_path);
	if (r->on_up != NULL)
		r->on_up(r->arg);
}

/* Report the program down; r->why says why. */
static void
go_down(struct replica *r)
{
	r->up = false;
	json_decref(r->cached);
	r->cached = NULL;
	log_warnx("replica: lifeline-repl is down: %s", r->why);
	if (r->on_down != NULL)
		r->on_down(r->arg, r->why);
}

/*
 * The watched process ended. One that dies before it answers, or within
 * STABLE_MS of its first answer, counts towards the delay before the next
 * start, so a program that cannot run is not restarted in a tight loop.
 * The next poll finds nothing listening and starts it again.
 */
static void
program_exited(struct replica *r, pid_t pid)
{
	uint64_t now = now_mono_ms();
	int exec_errno;

	unwatch(r);
	if (r->status != NULL) {         /* it would only fail: poll afresh */
		struct call *c = r->status;

		r->status = NULL;
		call_free(c);
	}
	if (r->starting && pid == r->started_pid) {
		exec_errno = spawn_exec_errno(r->spawn_fd);
		close_spawn_fd(r);
		r->starting = false;
		r->crashes++;
		if (exec_errno != 0)
			set_why(r, "cannot spawn %s: %s", r->program, strerror(exec_errno));
		else
			set_why(r, "lifeline-repl (pid %ld) exited before it answered", (long)pid);
		log_warnx("replica: %s", r->why);
	} else {
		/* Up for long enough, it was no crash loop: restart at once. */
		bool quick = r->up_since_ms == 0 || now - r->up_since_ms < STABLE_MS;

		r->crashes = quick ? r->crashes + 1 : 0;
		r->up_since_ms = 0;
		set_why(r, "lifeline-repl (pid %ld) exited", (long)pid);
		if (r->up)
			go_down(r);
		else
			log_warnx("replica: %s", r->why);
	}
	r->next_spawn_ms = now + backoff_ms(r->crashes);
	if (!r->freeing)
		poll_now(r);
}

static void
on_pid_exit(evutil_socket_t fd, short what, void *arg)
{
	struct replica *r = arg;

	program_exited(r, r->pid);
}

/*
 * Watch pid through a pidfd, which works for a process that is not our
 * child and tells at once when it ends. Returns -1 when it has already
 * ended (then it was handled as an exit), 0 otherwise. Without a pidfd
 * (logged) the pid is still remembered, so it is not tried again every
 * poll: silence then shows the program down, and program_alive its end.
 */
static int
watch(struct replica *r, pid_t pid)
{
	int fd;

	unwatch(r);
	if ((fd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
		if (errno == ESRCH) {
			program_exited(r, pid);
			return -1;
		}
		log_warn("replica: cannot watch lifeline-repl pid %ld", (long)pid);
		r->pid = pid;
		return 0;
	}
	r->pid = pid;
	r->pidfd = fd;
	r->pid_ev = event_new(r->base, fd, EV_READ, on_pid_exit, r);
	event_add(r->pid_ev, NULL);
	return 0;
}

/*
 * A start that made no process. The same failure again (the program is
 * still missing) is logged at debug level only: it is no news.
 */
static void
spawn_failed(struct replica *r)
{
	bool news = strcmp(r->why, r->spawn_err) != 0;

	r->crashes++;
	r->next_spawn_ms = now_mono_ms() + backoff_ms(r->crashes);
	if (news)
		log_warnx("replica: %s; trying again, less and less often", r->why);
	else
		log_debug("replica: %s; next try in %llu ms", r->why,
		    (unsigned long long)backoff_ms(r->crashes));
	xstrlcpy(r->spawn_err, r->why, sizeof(r->spawn_err));
}

/*
 * Start the program, detached. The only wait is for the middle process,
 * which forks and exits at once; the program's pid comes back through the
 * pipe, and a failed exec later through the same pipe when its pidfd says
 * it ended.
 */
static void
spawn_program(struct replica *r)
{
	struct timeval start_poll = { 0, REPLICA_START_POLL_MS * 1000 };
	pid_t pid;

	close_spawn_fd(r);
	if ((pid = spawn_detached(r->argv, NULL, &r->spawn_fd, r->why, sizeof(r->why))) < 0) {
		spawn_failed(r);
		return;
	}
	r->starting = true;
	r->started_pid = pid;
	r->started_ms = now_mono_ms();
	r->told_slow = false;
	set_why(r, "starting lifeline-repl (pid %ld)", (long)pid);
	log_info("replica: started %s (pid %ld)", r->program, (long)pid);
	evtimer_add(r->tick, &start_poll);   /* look for its answer sooner */
	watch(r, pid);
}

/* ---- status polls -------------------------------------------------------- */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct replica *r = arg;
	int ms = r->starting ? REPLICA_START_POLL_MS : REPLICA_POLL_MS;
	struct timeval tv = { 0, ms * 1000 };

	evtimer_add(r->tick, &tv);
	if (r->status == NULL)
		r->status = call_new(r, json_pack("{s:s}", "cmd", "status"), REPLICA_SILENT_MS);
}

/*
 * A good status answer from the process peer_pid. A listener whose pid
 * changed while it was up is a program that restarted unseen (no pidfd):
 * it is reported down and up again so the engine sends it the role.
 */
static void
status_answered(struct replica *r, json_t *repl, pid_t peer_pid)
{
	r->last_ok_ms = now_mono_ms();
	if (peer_pid > 0 && peer_pid != r->pid) {
		if (r->up) {
			set_why(r, "lifeline-repl restarted as pid %ld", (long)peer_pid);
			go_down(r);
		}
		if (watch(r, peer_pid) < 0)
			return;
	}
	if (r->starting) {
		r->starting = false;
		close_spawn_fd(r);
	}
	r->spawn_err[0] = '\0';
	json_decref(r->cached);
	r->cached = json_incref(repl);
	if (!r->up)
		go_up(r, peer_pid);
}

/*
 * Whether the program's process is known and still there. A watched one
 * is, until its pidfd says otherwise; one that could not be watched is
 * asked with signal 0, and forgotten once gone.
 */
static bool
program_alive(struct replica *r)
{
	if (r->pid <= 0)
		return false;
	if (r->pidfd >= 0 || kill(r->pid, 0) == 0 || errno == EPERM)
		return true;
	r->pid = 0;
	return false;
}

/*
 * A status poll failed. Nothing listening while no program process is
 * known means there is no program: start one (after the delay, if it has
 * been dying). Anything else (silence, a bad answer, a start still under
 * way) is only waited out: a program that is busy is never doubled.
 */
static void
status_failed(struct replica *r, const char *err, bool nothing_listens)
{
	uint64_t now = now_mono_ms();

	if (r->up) {
		if (!nothing_listens && now - r->last_ok_ms < REPLICA_SILENT_MS)
			return;          /* one failure is not silence yet */
		if (nothing_listens)
			set_why(r, "nothing listens: %s", err);
		else
			set_why(r, "no answer for %llu ms: %s",
			    (unsigned long long)(now - r->last_ok_ms), err);
		go_down(r);
		return;
	}
	if (nothing_listens && !program_alive(r)) {
		if (now >= r->next_spawn_ms)
			spawn_program(r);
		return;
	}
	if (r->starting) {
		if (!r->told_slow && now - r->started_ms >= REPLICA_START_MS) {
			set_why(r, "lifeline-repl (pid %ld) started %llu ms ago and does not answer yet: %s",
			    (long)r->started_pid, (unsigned long long)(now - r->started_ms), err);
			log_warnx("replica: %s; still waiting", r->why);
			r->told_slow = true;
		}
		return;
	}
	set_why(r, "no answer: %s", err);
	if (!r->told_silent) {
		log_warnx("replica: %s", r->why);
		r->told_silent = true;
	}
}

static void
status_done(struct replica *r, json_t *answer, const char *err, int sys_errno,
    pid_t peer_pid)
{
	char why[400];
	json_t *repl;

	if (answer == NULL) {
		status_failed(r, err, sys_errno == ENOENT || sys_errno == ECONNREFUSED);
		return;
	}
	repl = json_object_get(answer, "replication");
	if (json_is_true(json_object_get(answer, "ok")) && json_is_object(repl)) {
		status_answered(r, repl, peer_pid);
		return;
	}
	if (!json_is_true(json_object_get(answer, "ok")))
		snprintf(why, sizeof(why), "status refused: %s",
		    json_is_string(json_object_get(answer, "error")) ?
		    json_string_value(json_object_get(answer, "error")) : "no reason given");
	else
		snprintf(why, sizeof(why), "bad status answer: no \"replication\" object");
	ascii_sanitize(why);
	status_failed(r, why, false);
}

/* ---- the contract -------------------------------------------------------- */

static char *
choose_program(const char *given)
{
	const char *env = getenv("LIFELINE_REPL");
	char *path;

	if (given != NULL)
		return xstrdup(given);
	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	if ((path = spawn_program_beside(REPLCTL_PROGRAM)) != NULL)
		return path;
	return xstrdup(REPLCTL_PROGRAM);   /* its start fails, and says so */
}

struct replica *
replica_new(struct event_base *base, const struct replica_opts *o)
{
	struct replica *r;
	char *path = xasprintf("%s/%s", o->state_dir, REPLCTL_SOCKET_NAME);
	size_t i = 0;

	r = xcalloc(1, sizeof(*r));
	if (strlen(path) >= sizeof(r->sun.sun_path)) {
		log_warnx("replica: socket path too long (%zu bytes, at most %zu): %s",
		    strlen(path), sizeof(r->sun.sun_path) - 1, path);
		free(path);
		free(r);
		return NULL;
	}
	r->sun.sun_family = AF_UNIX;
	strcpy(r->sun.sun_path, path);
	free(path);
	r->base = base;
	r->program = choose_program(o->program);
	r->argv[i++] = r->program;
	r->argv[i++] = "-f";
	r->argv[i++] = xstrdup(o->conf_path);
	r->argv[i++] = "-i";
	r->argv[i++] = xstrdup(o->name);
	if (o->debug)
		r->argv[i++] = "-d";
	r->argv[i] = NULL;
	r->on_up = o->on_up;
	r->on_down = o->on_down;
	r->arg = o->arg;
	TAILQ_INIT(&r->calls);
	r->pidfd = -1;
	r->spawn_fd = -1;
	set_why(r, "not started yet");
	r->tick = evtimer_new(base, on_tick, r);
	poll_now(r);
	return r;
}

int
replica_request(struct replica *r, json_t *req, int timeout_ms, replica_cb cb, void *arg)
{
	struct call *c;

	if (r->freeing) {
		json_decref(req);
		return -1;
	}
	c = call_new(r, req, timeout_ms);
	c->cb = cb;
	c->arg = arg;
	TAILQ_INSERT_TAIL(&r->calls, c, entry);
	return 0;
}

void
replica_cancel(struct replica *r, void *arg)
{
	struct call *c, *next;

	for (c = TAILQ_FIRST(&r->calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->arg == arg) {
			TAILQ_REMOVE(&r->calls, c, entry);
			call_free(c);
		}
	}
}

json_t *
replica_status(const struct replica *r)
{
	json_t *err;

	if (r->up && r->cached != NULL)
		return json_incref(r->cached);
	/* why may quote a path that is not UTF-8: then say it in ASCII. */
	if ((err = json_string(r->why)) == NULL) {
		char ascii[sizeof(r->why)];

		xstrlcpy(ascii, r->why, sizeof(ascii));
		ascii_sanitize(ascii);
		err = json_string(ascii);
	}
	return json_pack("{s:s, s:o}", "state", "disconnected", "error", err);
}

bool
replica_up(const struct replica *r)
{
	return r->up;
}

/*
 * Ask the program to stop and wait for its end, blocking, within
 * REPLICA_STOP_MS: only for the engine's exit. A start of ours that never
 * answered cannot hear the request; it is terminated instead.
 */
static void
stop_program(struct replica *r)
{
	uint64_t deadline = now_mono_ms() + REPLICA_STOP_MS;
	json_t *req = json_pack("{s:s}", "cmd", "stop"), *answer;
	char err[512];
	int n;

	answer = ctl_call(r->sun.sun_path, req, REPLICA_STOP_MS, err, sizeof(err));
	json_decref(req);                    /* ctl_call steals nothing */
	if (answer == NULL && r->starting && r->pid == r->started_pid && r->pid > 0) {
		log_warnx("replica: lifeline-repl (pid %ld) never answered; terminating it",
		    (long)r->pid);
		kill(r->pid, SIGTERM);
	} else if (answer == NULL) {
		log_warnx("replica: cannot stop lifeline-repl: %s", err);
		return;
	} else if (!json_is_true(json_object_get(answer, "ok")))
		log_warnx("replica: lifeline-repl refused to stop");
	json_decref(answer);
	if (r->pidfd < 0)
		return;
	do {
		uint64_t now = now_mono_ms();
		struct pollfd pfd = { .fd = r->pidfd, .events = POLLIN };

		n = poll(&pfd, 1, now >= deadline ? 0 : (int)(deadline - now));
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		log_info("replica: lifeline-repl (pid %ld) stopped", (long)r->pid);
	else
		log_warnx("replica: lifeline-repl (pid %ld) still runs %d ms after the stop request",
		    (long)r->pid, REPLICA_STOP_MS);
}

json_t *
replica_call_sync(struct replica *r, json_t *req, int timeout_ms, char *err, size_t errlen)
{
	json_t *answer = ctl_call(r->sun.sun_path, req, timeout_ms, err, errlen);

	json_decref(req);
	return answer;
}

void
replica_free(struct replica *r, bool stop)
{
	struct call *c;

	if (r == NULL)
		return;
	r->freeing = true;
	if (r->status != NULL) {
		call_free(r->status);
		r->status = NULL;
	}
	/* One at a time: a callback may cancel others. */
	while ((c = TAILQ_FIRST(&r->calls)) != NULL)
		call_finish(c, NULL, "engine stopping");
	if (stop)
		stop_program(r);
	unwatch(r);
	close_spawn_fd(r);
	event_free(r->tick);
	json_decref(r->cached);
	free(r->argv[2]);
	free(r->argv[4]);
	free(r->program);
	free(r);
}
