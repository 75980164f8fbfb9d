/*
 * Unit tests of engine/replica: the test binary is also the fake
 * lifeline-repl (started as `test_replica [--fake-repl] -f CONF -i NAME
 * [-d]` with LIFELINE_TEST_REPL_DIR in its environment), so starts,
 * deaths, silences, late and bad answers are real processes and sockets
 * in a scratch folder. Every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/ctl.h"
#include "common/replctl.h"
#include "common/util.h"
#include "engine/replica.h"
#include "helpers/tmpdir.h"

#define FAKE_DIR_ENV  "LIFELINE_TEST_REPL_DIR"   /* where the fake serves */
#define TEST_CONF     "/etc/lifeline/test.conf"
#define TEST_NAME     "primary"

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the fake lifeline-repl ---------------------------------------------- */

static struct {
	const char      *conf, *name, *sock;
	bool             debug;
	atomic_int       polls;
	atomic_ullong    muted_until_ms;
	pthread_mutex_t  lock;
	char             role[64];
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
fake_send(int fd, const char *text)
{
	size_t len = strlen(text);

	while (len > 0) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

static void
fake_answer(int fd, json_t *answer)
{
	char *text = json_dumps(answer, JSON_COMPACT);

	fake_send(fd, text);
	fake_send(fd, "\n");
	free(text);
	json_decref(answer);
}

static void
fake_status(int fd)
{
	char role[64];

	/* Muted: answer only when the mute ends, like a program that hangs a while. */
	while (now_mono_ms() < fake.muted_until_ms)
		sleep_ms(10);
	pthread_mutex_lock(&fake.lock);
	xstrlcpy(role, fake.role, sizeof(role));
	pthread_mutex_unlock(&fake.lock);
	fake_answer(fd, json_pack("{s:b, s:{s:s, s:i, s:i, s:s, s:s, s:b, s:i, s:s}}",
	    "ok", 1, "replication", "state", "in-sync", "pid", (int)getpid(),
	    "ppid", (int)getppid(), "conf", fake.conf, "name", fake.name,
	    "debug", fake.debug, "polls", ++fake.polls, "role", role));
}

/* Answer one request line; returns false to close the connection. */
static bool
fake_request(int fd, const char *line)
{
	json_t *req = json_loads(line, 0, NULL);
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	json_int_t ms = json_integer_value(json_object_get(req, "ms"));
	bool keep = true;

	if (cmd == NULL)
		fake_answer(fd, ctl_error("no cmd"));
	else if (strcmp(cmd, "status") == 0)
		fake_status(fd);
	else if (strcmp(cmd, "role") == 0) {
		pthread_mutex_lock(&fake.lock);
		const char *role = json_string_value(json_object_get(req, "role"));

		xstrlcpy(fake.role, role != NULL ? role : "", sizeof(fake.role));
		pthread_mutex_unlock(&fake.lock);
		fake_answer(fd, json_pack("{s:b, s:s}", "ok", 1, "role", fake.role));
	} else if (strcmp(cmd, "slow") == 0) {
		sleep_ms((int)ms);
		fake_answer(fd, json_pack("{s:b, s:I}", "ok", 1, "slept", ms));
	} else if (strcmp(cmd, "mute") == 0) {
		fake.muted_until_ms = now_mono_ms() + (uint64_t)ms;
		fake_answer(fd, ctl_ok());
	} else if (strcmp(cmd, "silent") == 0)
		;                                /* never answered */
	else if (strcmp(cmd, "garbage") == 0)
		fake_send(fd, "this is {not json\xff\n");
	else if (strcmp(cmd, "array") == 0)
		fake_send(fd, "[1,2]\n");
	else if (strcmp(cmd, "partial") == 0) {
		fake_send(fd, "{\"ok\":true");
		keep = false;
	} else if (strcmp(cmd, "huge") == 0) {
		char *big = xmalloc(CTL_MAX_LINE + 101);

		memset(big, 'x', CTL_MAX_LINE + 100);
		big[CTL_MAX_LINE + 100] = '\0';
		fake_send(fd, big);       /* fails once the reader gives up: fine */
		free(big);
		keep = false;
	} else if (strcmp(cmd, "stop") == 0) {
		fake_answer(fd, ctl_ok());
		unlink(fake.sock);
		_exit(0);
	} else
		fake_answer(fd, ctl_error("unknown command %s", cmd));
	json_decref(req);
	return keep;
}

/* One connection, one thread: a slow request never holds up a status. */
static void *
fake_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	size_t len = 0;
	ssize_t n;

	while ((n = recv(fd, buf + len, sizeof(buf) - len - 1, 0)) > 0) {
		char *nl;

		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			if (!fake_request(fd, buf))
				goto out;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len + 1 >= sizeof(buf))
			break;
	}
out:
	close(fd);
	return NULL;
}

/* Serve STATE_DIR/REPLCTL_SOCKET_NAME; STATE_DIR comes from FAKE_DIR_ENV. */
static int
fake_main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *dir = getenv(FAKE_DIR_ENV);
	char *mark;
	int lfd;

	for (int i = argc >= 2 && strcmp(argv[1], "--fake-repl") == 0 ? 2 : 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			fake.conf = argv[++i];
		else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
			fake.name = argv[++i];
		else if (strcmp(argv[i], "-d") == 0)
			fake.debug = true;
		else
			return 2;
	}
	if (dir == NULL || fake.conf == NULL || fake.name == NULL)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	/* One file per start, so a test can count them and clean them up. */
	mark = xasprintf("%s/start.%ld", dir, (long)getpid());
	if (write_file_atomic(mark, "", 0, 0600) < 0)
		return 2;
	fake.sock = xasprintf("%s/%s", dir, REPLCTL_SOCKET_NAME);
	xstrlcpy(sun.sun_path, fake.sock, sizeof(sun.sun_path));
	unlink(fake.sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 16) < 0)
		return 2;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (fd < 0)
			continue;
		if (pthread_create(&t, NULL, fake_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			pthread_detach(t);
	}
}

/* ---- the test side --------------------------------------------------------- */

struct fx {
	char               *dir;
	char               *sock;
	char               *self;        /* this binary, resolved: the fake */
	struct event_base  *base;
	struct replica     *r;
	int                 ups, downs;
	char                down_why[512];
	pid_t               child;       /* a fake the test started itself, or 0 */
	pid_t               other;       /* another program the replica started, or 0 */
	int                 want;        /* what the wait condition waits for */
};

/* What one request's callback saw. */
struct reply {
	int      calls;
	json_t  *answer;
	char     err[512];
	uint64_t at_ms;
};

static void
on_up(void *arg)
{
	struct fx *f = arg;

	f->ups++;
}

static void
on_down(void *arg, const char *why)
{
	struct fx *f = arg;

	f->downs++;
	xstrlcpy(f->down_why, why, sizeof(f->down_why));
}

static void
on_reply(void *arg, json_t *answer, const char *err)
{
	struct reply *p = arg;

	/* Exactly one of the two, every time. */
	assert_true((answer == NULL) != (err == NULL));
	p->calls++;
	p->at_ms = now_mono_ms();
	if (answer != NULL)
		p->answer = json_incref(answer);
	if (err != NULL)
		xstrlcpy(p->err, err, sizeof(p->err));
}

struct waiter {
	struct fx           *f;
	bool               (*cond)(struct fx *, void *);
	void                *arg;
};

static void
on_check(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;

	if (w->cond(w->f, w->arg))
		event_base_loopbreak(w->f->base);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/*
 * Run the loop until cond holds or timeout_ms pass. Our own deadline
 * event, freed here, rather than event_base_loopexit: a loopexit left
 * pending would end the next run early.
 */
static bool
run_until(struct fx *f, bool (*cond)(struct fx *, void *), void *arg, int timeout_ms)
{
	struct waiter w = { f, cond, arg };
	struct timeval tick = { 0, 10 * 1000 };
	struct timeval limit = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct event *check, *deadline;

	if (cond(f, arg))
		return true;
	check = event_new(f->base, -1, EV_PERSIST, on_check, &w);
	deadline = evtimer_new(f->base, on_deadline, f->base);
	event_add(check, &tick);
	evtimer_add(deadline, &limit);
	event_base_dispatch(f->base);
	event_free(check);
	event_free(deadline);
	return cond(f, arg);
}

static bool never(struct fx *f, void *arg) { return false; }
static bool ups_reach(struct fx *f, void *arg) { return f->ups >= f->want; }
static bool downs_reach(struct fx *f, void *arg) { return f->downs >= f->want; }
static bool replied(struct fx *f, void *arg) { return ((struct reply *)arg)->calls > 0; }

static void
run_for(struct fx *f, int ms)
{
	run_until(f, never, NULL, ms);
}

/* Is pid gone? A zombie counts as gone: nobody here may be its parent. */
static bool
pid_gone(pid_t pid)
{
	char path[64], *stat, *paren;
	bool zombie = false;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((stat = read_file(path, 4096, NULL)) == NULL)
		return true;
	if ((paren = strrchr(stat, ')')) != NULL)
		zombie = paren[1] == ' ' && paren[2] == 'Z';
	free(stat);
	return zombie;
}

static bool
wait_gone(pid_t pid, int timeout_ms)
{
	uint64_t deadline = now_mono_ms() + (uint64_t)timeout_ms;

	while (!pid_gone(pid)) {
		if (now_mono_ms() >= deadline)
			return false;
		sleep_ms(10);
	}
	return true;
}

/* Whether pid runs this binary: never kill a pid that was reused meanwhile. */
static bool
is_fake(const struct fx *f, pid_t pid)
{
	char path[64], exe[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	if ((n = readlink(path, exe, sizeof(exe) - 1)) < 0)
		return false;
	exe[n] = '\0';
	return strcmp(exe, f->self) == 0;
}

/* The pids of the fake's starts in f->dir, in pids[]; returns how many. */
static int
starts(struct fx *f, pid_t *pids, int max)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "start.", 6) != 0)
			continue;
		if (n < max && pids != NULL)
			pids[n] = (pid_t)atol(de->d_name + 6);
		n++;
	}
	closedir(d);
	return n;
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char self[PATH_MAX];

	assert_non_null(realpath("/proc/self/exe", self));
	f->self = xstrdup(self);
	f->dir = tmpdir();
	f->sock = xasprintf("%s/%s", f->dir, REPLCTL_SOCKET_NAME);
	f->base = event_base_new();
	assert_non_null(f->base);
	/* The fakes started from here inherit both. */
	setenv(FAKE_DIR_ENV, f->dir, 1);
	setenv("LIFELINE_REPL", self, 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	pid_t pids[32];
	int n;

	replica_free(f->r, false);
	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	if (f->other > 0 && !pid_gone(f->other))
		kill(f->other, SIGKILL);
	n = starts(f, pids, (int)nitems(pids));
	for (int i = 0; i < n && i < (int)nitems(pids); i++) {
		if (!pid_gone(pids[i]) && is_fake(f, pids[i]))
			kill(pids[i], SIGKILL);
		assert_true(wait_gone(pids[i], 5000));
	}
	rm_rf(f->dir);
	event_base_free(f->base);
	free(f->sock);
	free(f->self);
	free(f->dir);
	free(f);
	return 0;
}

static void
open_replica(struct fx *f, const char *program)
{
	struct replica_opts o = {
		.state_dir = f->dir, .conf_path = TEST_CONF, .name = TEST_NAME,
		.debug = true, .program = program,
		.on_up = on_up, .on_down = on_down, .arg = f,
	};

	f->r = replica_new(f->base, &o);
	assert_non_null(f->r);
}

/* Open the replica and wait for the program to answer the first time. */
static void
open_up(struct fx *f)
{
	open_replica(f, NULL);
	f->want = 1;
	assert_true(run_until(f, ups_reach, NULL, 10000));
	assert_true(replica_up(f->r));
}

static json_int_t
status_int(struct fx *f, const char *key)
{
	json_t *s = replica_status(f->r);
	json_int_t v = json_integer_value(json_object_get(s, key));

	json_decref(s);
	return v;
}

/* replica_status's "error" contains want. */
static void
assert_disconnected(struct fx *f, const char *want)
{
	json_t *s = replica_status(f->r);
	const char *err = json_string_value(json_object_get(s, "error"));

	assert_string_equal(json_string_value(json_object_get(s, "state")), "disconnected");
	if (err == NULL || strstr(err, want) == NULL)
		fail_msg("status error \"%s\" does not contain \"%s\"", err ? err : "(none)", want);
	json_decref(s);
}

static void
request(struct fx *f, const char *cmd, json_int_t ms, int timeout_ms, struct reply *p)
{
	assert_int_equal(replica_request(f->r, json_pack("{s:s, s:I}", "cmd", cmd, "ms", ms),
	    timeout_ms, on_reply, p), 0);
	assert_int_equal(p->calls, 0);       /* never from inside replica_request */
}

/* ---- cases ----------------------------------------------------------------- */

/* Nothing listens: the program is started detached, answers, is cached. */
static void
test_spawn_when_nothing_answers(void **state)
{
	struct fx *f = *state;
	pid_t pids[4];
	json_t *s;

	open_replica(f, NULL);
	assert_int_equal(f->ups, 0);         /* not from inside replica_new */
	assert_false(replica_up(f->r));
	assert_disconnected(f, "not started yet");
	f->want = 1;
	assert_true(run_until(f, ups_reach, NULL, 10000));
	assert_true(replica_up(f->r));
	assert_int_equal(starts(f, pids, 4), 1);
	s = replica_status(f->r);
	assert_string_equal(json_string_value(json_object_get(s, "state")), "in-sync");
	assert_int_equal(json_integer_value(json_object_get(s, "pid")), pids[0]);
	/* Double fork: reparented away, never a child of the engine. */
	assert_int_not_equal(json_integer_value(json_object_get(s, "ppid")), getpid());
	assert_int_equal(waitpid(pids[0], NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_string_equal(json_string_value(json_object_get(s, "conf")), TEST_CONF);
	assert_string_equal(json_string_value(json_object_get(s, "name")), TEST_NAME);
	assert_true(json_is_true(json_object_get(s, "debug")));
	json_decref(s);
	assert_int_equal(f->downs, 0);
}

/* A program that already answers is used, not doubled, and left running. */
static void
test_running_program_is_used(void **state)
{
	struct fx *f = *state;
	char *argv[] = { f->self, "--fake-repl", "-f", TEST_CONF, "-i", TEST_NAME, NULL };
	uint64_t deadline = now_mono_ms() + 5000;
	json_t *req = json_pack("{s:s}", "cmd", "status"), *answer = NULL;
	char err[512];

	if ((f->child = fork()) == 0) {
		execv(f->self, argv);
		_exit(127);
	}
	assert_true(f->child > 0);
	while (answer == NULL && now_mono_ms() < deadline) {
		answer = ctl_call(f->sock, req, 1000, err, sizeof(err));
		if (answer == NULL)
			sleep_ms(20);
	}
	json_decref(req);
	assert_non_null(answer);
	json_decref(answer);

	open_up(f);
	assert_int_equal(status_int(f, "pid"), f->child);
	run_for(f, 1000);                     /* polls go on; none may start another */
	assert_int_equal(starts(f, NULL, 0), 1);
	assert_int_equal(f->ups, 1);
	assert_true(replica_up(f->r));
	replica_free(f->r, false);
	f->r = NULL;
	assert_int_equal(kill(f->child, 0), 0);
	assert_false(pid_gone(f->child));
}

/* kill -9: seen at once through the pidfd, reported, started again. */
static void
test_kill9_restarts(void **state)
{
	struct fx *f = *state;
	pid_t first, second;
	char want[64];
	uint64_t t0;

	open_up(f);
	first = (pid_t)status_int(f, "pid");
	assert_true(first > 0);
	t0 = now_mono_ms();
	assert_int_equal(kill(first, SIGKILL), 0);
	f->want = 1;
	assert_true(run_until(f, downs_reach, NULL, 5000));
	/* The pidfd saw the exit (a poll would find the socket refused). */
	snprintf(want, sizeof(want), "(pid %ld) exited", (long)first);
	if (strstr(f->down_why, want) == NULL)
		fail_msg("down for \"%s\", expected \"%s\"", f->down_why, want);
	assert_true(now_mono_ms() - t0 < REPLICA_SILENT_MS / 2);
	assert_false(replica_up(f->r));
	assert_disconnected(f, "exited");
	f->want = 2;
	assert_true(run_until(f, ups_reach, NULL, 10000));
	second = (pid_t)status_int(f, "pid");
	assert_true(second > 0);
	assert_int_not_equal(second, first);
	assert_int_equal(starts(f, NULL, 0), 2);
	assert_true(pid_gone(first));
	assert_int_equal(f->downs, 1);
}

/* A request answered late holds up neither the status polls nor itself. */
static void
test_slow_request_keeps_polls(void **state)
{
	struct fx *f = *state;
	struct reply slow = { 0 };
	json_int_t before, after;
	uint64_t t0;

	open_up(f);
	before = status_int(f, "polls");
	t0 = now_mono_ms();
	request(f, "slow", 1500, 5000, &slow);
	run_for(f, 1000);
	after = status_int(f, "polls");
	assert_int_equal(slow.calls, 0);
	/* About four in a second at REPLICA_POLL_MS; three proves they flowed. */
	if (after - before < 3)
		fail_msg("only %lld status polls answered during the slow request",
		    (long long)(after - before));
	assert_true(replica_up(f->r));
	assert_true(run_until(f, replied, &slow, 3000));
	assert_non_null(slow.answer);
	assert_int_equal(json_integer_value(json_object_get(slow.answer, "slept")), 1500);
	assert_true(slow.at_ms - t0 >= 1500);
	run_for(f, 200);
	assert_int_equal(slow.calls, 1);
	json_decref(slow.answer);
}

/* A request nobody answers ends once, at its timeout, with no answer. */
static void
test_request_timeout(void **state)
{
	struct fx *f = *state;
	struct reply p = { 0 };
	uint64_t t0;

	open_up(f);
	t0 = now_mono_ms();
	request(f, "silent", 0, 300, &p);
	assert_true(run_until(f, replied, &p, 3000));
	assert_null(p.answer);
	assert_string_equal(p.err, "no answer within 300 ms");
	assert_true(p.at_ms - t0 >= 290 && p.at_ms - t0 < 1500);
	run_for(f, 500);
	assert_int_equal(p.calls, 1);
	assert_true(replica_up(f->r));     /* a silent request is not a silent program */
}

/* Answers that are not one JSON object per line are errors, never crashes. */
static void
test_bad_answers(void **state)
{
	static const struct {
		const char *cmd;
		const char *err;
	} rows[] = {
		{ "garbage", "bad answer: not valid JSON" },
		{ "array",   "bad answer: not a JSON object" },
		{ "huge",    "bad answer: longer than" },
		{ "partial", "connection closed before an answer" },
		{ "nosuch",  NULL },             /* the program's own error: an answer */
	};
	struct fx *f = *state;

	open_up(f);
	for (size_t i = 0; i < nitems(rows); i++) {
		struct reply p = { 0 };

		request(f, rows[i].cmd, 0, 5000, &p);
		assert_true(run_until(f, replied, &p, 5000));
		if (rows[i].err == NULL) {
			assert_non_null(p.answer);
			assert_false(json_is_true(json_object_get(p.answer, "ok")));
		} else if (p.answer != NULL || strstr(p.err, rows[i].err) == NULL)
			fail_msg("%s: got \"%s\", expected \"%s\"", rows[i].cmd, p.err, rows[i].err);
		for (const char *c = p.err; *c != '\0'; c++)
			assert_true(*c >= 0x20 && *c <= 0x7e);
		json_decref(p.answer);
	}
	run_for(f, 300);
	assert_true(replica_up(f->r));
	assert_int_equal(f->downs, 0);
}

/* A cancelled request is never called back; the others still are. */
static void
test_cancel(void **state)
{
	struct fx *f = *state;
	struct reply gone = { 0 }, kept = { 0 };

	open_up(f);
	request(f, "silent", 0, 300, &gone);
	request(f, "silent", 0, 300, &kept);
	replica_cancel(f->r, &gone);
	assert_true(run_until(f, replied, &kept, 3000));
	run_for(f, 500);
	assert_int_equal(gone.calls, 0);
	assert_int_equal(kept.calls, 1);
}

/* A program that stops answering is down (nothing killed), then up again. */
static void
test_silence_is_down_then_up(void **state)
{
	struct fx *f = *state;
	struct reply mute = { 0 };
	pid_t pid;

	open_up(f);
	pid = (pid_t)status_int(f, "pid");
	request(f, "mute", 3000, 2000, &mute);
	assert_true(run_until(f, replied, &mute, 3000));
	assert_non_null(mute.answer);
	json_decref(mute.answer);
	f->want = 1;
	assert_true(run_until(f, downs_reach, NULL, REPLICA_SILENT_MS + 1500));
	if (strstr(f->down_why, "no answer") == NULL)
		fail_msg("down for \"%s\", expected silence", f->down_why);
	assert_false(replica_up(f->r));
	assert_disconnected(f, "no answer");
	f->want = 2;
	assert_true(run_until(f, ups_reach, NULL, 5000));
	assert_int_equal(status_int(f, "pid"), pid);
	assert_int_equal(starts(f, NULL, 0), 1);
	assert_false(pid_gone(pid));
}

/* replica_free(stop): pending callbacks told, the program asked to exit. */
static void
test_free_stop(void **state)
{
	struct fx *f = *state;
	struct reply pending = { 0 };
	pid_t pid;

	open_up(f);
	pid = (pid_t)status_int(f, "pid");
	request(f, "silent", 0, 5000, &pending);
	run_for(f, 100);
	replica_free(f->r, true);
	f->r = NULL;
	assert_int_equal(pending.calls, 1);
	assert_null(pending.answer);
	assert_string_equal(pending.err, "engine stopping");
	assert_true(wait_gone(pid, 3000));
	assert_int_equal(starts(f, NULL, 0), 1);
	assert_int_equal(access(f->sock, F_OK), -1);
}

/*
 * replica_free(stop) with a start of ours that never answered: the stop
 * request finds nobody, so the process is terminated, not left behind.
 */
static void
test_free_stop_silent_start(void **state)
{
	struct fx *f = *state;
	char *script = xasprintf("%s/silent.sh", f->dir);
	const char *err;
	json_t *s;
	long pid = 0;

	assert_int_equal(write_file_atomic(script, "#!/bin/sh\nexec sleep 30\n", 24, 0755), 0);
	open_replica(f, script);
	run_for(f, 500);
	assert_int_equal(f->ups, 0);
	s = replica_status(f->r);
	err = json_string_value(json_object_get(s, "error"));
	assert_non_null(err);
	if (sscanf(err, "starting lifeline-repl (pid %ld)", &pid) != 1)
		fail_msg("status error \"%s\", expected a start under way", err);
	json_decref(s);
	f->other = (pid_t)pid;
	assert_false(pid_gone(f->other));
	replica_free(f->r, true);
	f->r = NULL;
	assert_true(wait_gone(f->other, 3000));
	free(script);
}

/* A program that cannot be started is reported, and requests fail cleanly. */
static void
test_cannot_spawn(void **state)
{
	struct fx *f = *state;
	struct reply p = { 0 };

	open_replica(f, "/nonexistent/lifeline-repl");
	run_for(f, 700);
	assert_int_equal(f->ups, 0);
	assert_false(replica_up(f->r));
	assert_disconnected(f, "cannot spawn /nonexistent/lifeline-repl: No such file or directory");
	request(f, "role", 0, 1000, &p);
	assert_true(run_until(f, replied, &p, 2000));
	assert_null(p.answer);
	if (strstr(p.err, "cannot connect to") == NULL)
		fail_msg("got \"%s\", expected a connection error", p.err);
	assert_int_equal(starts(f, NULL, 0), 0);
}

/* A program that exits at once is reported and retried later, not in a loop. */
static void
test_program_that_exits(void **state)
{
	struct fx *f = *state;

	open_replica(f, "/bin/false");
	run_for(f, 1500);
	assert_int_equal(f->ups, 0);
	assert_int_equal(f->downs, 0);           /* never up: nothing went down */
	assert_disconnected(f, "exited before it answered");
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spawn_when_nothing_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_program_is_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_request_keeps_polls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silence_is_down_then_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_stop_silent_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cannot_spawn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_program_that_exits, setup, teardown),
	};

	/*
	 * Before cmocka: this binary is also the fake lifeline-repl. The
	 * replica starts it as `PROGRAM -f CONF -i NAME -d`, without
	 * --fake-repl, so the fake's folder in the environment says so too: a
	 * process started with it must never run the suite, or every start
	 * would run the tests again, and they start more.
	 */
	if ((argc >= 2 && strcmp(argv[1], "--fake-repl") == 0) || getenv(FAKE_DIR_ENV) != NULL)
		return fake_main(argc, argv);
	signal(SIGPIPE, SIG_IGN);            /* as lifelined does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
