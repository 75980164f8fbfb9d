/*
 * Unit tests of the postgresql plug-in (plugins/postgresql). Its decisions
 * (pgplan.c, #included) row by row; then the plug-in itself, through the
 * runner lifeline-plugin, against a private PostgreSQL 15 cluster in a
 * scratch folder: run as the user postgres, listening on a socket in that
 * folder and on no TCP port. Discover, check query up and down, and the
 * discovered start command started, checked and stopped by SIGINT to its
 * pid. Every process is the test's own, killed by PID; every wait is
 * bounded; the group teardown stops what runs and removes the folder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "plugin/pluginhost.h"
#include "helpers/tmpdir.h"

#include "../../plugins/postgresql/pgplan.c"

#define PGBIN     "/usr/lib/postgresql/15/bin"
#define PORT      "54329"          /* only names the socket: no TCP at all */
#define RUN_MS    30000            /* a runner call, a start, a stop */
#define INITDB_MS 120000

/* The private cluster, shared by the cases in order. */
static struct {
	bool   wanted;                 /* root, PostgreSQL 15 and the runner are here */
	char   setup_error[512];       /* why the cluster could not be made, or "" */
	char  *dir, *data, *run, *settings, *runner, *plugin, *errlog;
	uid_t  uid;                    /* postgres */
	gid_t  gid;
	char   group[64];
	pid_t  postmaster;             /* ours, running or not yet reaped; 0 when none */
	char  *start;                  /* the start command discover found */
} pg;

/* ---- the decisions ---- */

#define CMD(s) s, sizeof(s) - 1
#define DEB_CONF "/etc/postgresql/15/main/postgresql.conf"
#define DEB_DATA "/var/lib/postgresql/15/main"
#define DEB_CMD  "/usr/lib/postgresql/15/bin/postgres\0-D\0" DEB_DATA "\0-c\0config_file=" \
    DEB_CONF "\0"
#define SETPRIV  "setpriv --reuid=postgres --regid=postgres --init-groups -- "

static void
test_plan(void **state)
{
	static char big[PG_START_MAX + 8];
	const struct {
		const char *what, *cmdline;
		size_t      len;
		const char *data, *config;
		unsigned    version;
		const char *exe, *user;
		bool        systemd;
		const char *unit, *start, *config_dir;   /* or NULL start and why */
		const char *why;
	} rows[] = {
		{ "Debian under systemd: its unit", CMD(DEB_CMD), DEB_DATA, DEB_CONF, 150018,
		  NULL, "postgres", true, "postgresql@15-main.service", "",
		  "/etc/postgresql/15/main", NULL },
		{ "Debian without systemd: its command line as its owner", CMD(DEB_CMD), DEB_DATA,
		  DEB_CONF, 150018, NULL, "postgres", false, "",
		  SETPRIV "/usr/lib/postgresql/15/bin/postgres -D " DEB_DATA
		  " -c config_file=" DEB_CONF, "/etc/postgresql/15/main", NULL },
		{ "another major in the path than the server's: no unit", CMD(DEB_CMD), DEB_DATA,
		  "/etc/postgresql/14/main/postgresql.conf", 150018, NULL, "postgres", true, "",
		  SETPRIV "/usr/lib/postgresql/15/bin/postgres -D " DEB_DATA
		  " -c config_file=" DEB_CONF, "/etc/postgresql/14/main", NULL },
		{ "two-part major", CMD(DEB_CMD), DEB_DATA, "/etc/postgresql/9.6/main/postgresql.conf",
		  90624, NULL, "postgres", true, "postgresql@9.6-main.service", "",
		  "/etc/postgresql/9.6/main", NULL },
		{ "not a Debian layout under systemd, config inside the data",
		  CMD("/opt/pg/bin/postgres\0-D\0/srv/pg\0"), "/srv/pg", "/srv/pg/postgresql.conf",
		  160002, NULL, "pg", true, "",
		  "setpriv --reuid=pg --regid=postgres --init-groups -- /opt/pg/bin/postgres -D /srv/pg",
		  "", NULL },
		{ "run as its owner already; a program without folder is its exe",
		  CMD("postgres\0-D\0/srv/pg\0"), "/srv/pg", "/srv/pg/postgresql.conf", 160002,
		  "/opt/pg/bin/postgres", NULL, false, "", "/opt/pg/bin/postgres -D /srv/pg", "",
		  NULL },
		{ "a relative -D is the data directory", CMD("/bin/postgres\0-D\0pg\0-Dpg\0"),
		  "/srv/pg", "/srv/pg/postgresql.conf", 160002, NULL, NULL, false, "",
		  "/bin/postgres -D /srv/pg -D /srv/pg", "", NULL },
		{ "no -D (PGDATA): added", CMD("/bin/postgres\0-p\0" "5433\0"), "/srv/pg",
		  "/srv/pg/postgresql.conf", 160002, NULL, NULL, false, "",
		  "/bin/postgres -p 5433 -D /srv/pg", "", NULL },
		{ "quoting", CMD("/bin/post gres\0-D/srv/pg\0-c\0cluster_name=it's a $HOME\0\0"),
		  "/srv/pg", "/srv/pg/postgresql.conf", 160002, NULL, NULL, false, "",
		  "'/bin/post gres' -D/srv/pg -c 'cluster_name=it'\\''s a $HOME' ''", "", NULL },
		{ "a first word with = is quoted", CMD("/a=b/postgres\0-D\0/srv/pg\0"), "/srv/pg",
		  "/srv/pg/postgresql.conf", 160002, NULL, NULL, false, "",
		  "'/a=b/postgres' -D /srv/pg", "", NULL },
		{ "a control character", CMD("/bin/postgres\0-c\0a=b\nc\0"), "/srv/pg",
		  "/srv/pg/postgresql.conf", 160002, NULL, NULL, false, NULL, NULL, NULL,
		  "argument 2 of the postmaster's command line holds a control character" },
		{ "empty", "", 0, "/srv/pg", "/srv/pg/postgresql.conf", 160002, NULL, NULL, false,
		  NULL, NULL, NULL, "the postmaster's command line is empty" },
		{ "not NUL-terminated", CMD("/bin/postgres"), "/srv/pg", "/srv/pg/postgresql.conf",
		  160002, NULL, NULL, false, NULL, NULL, NULL,
		  "the postmaster's command line is not a list of NUL-terminated arguments" },
		{ "too long", big, sizeof(big), "/srv/pg", "/srv/pg/postgresql.conf", 160002, NULL,
		  NULL, false, NULL, NULL, NULL, "the postmaster's command line, quoted for the "
		  "shell, is longer than 1000 characters" },
	};
	struct pg_plan plan;
	char why[256];

	memcpy(big, "/bin/postgres", 14);
	memset(big + 14, 'x', sizeof(big) - 15);
	big[sizeof(big) - 1] = '\0';
	for (size_t i = 0; i < nitems(rows); i++) {
		struct pg_facts f = {
			.data_directory = rows[i].data, .config_file = rows[i].config,
			.version_num = rows[i].version, .cmdline = rows[i].cmdline,
			.cmdline_len = rows[i].len, .exe = rows[i].exe, .user = rows[i].user,
			.group = rows[i].user ? "postgres" : NULL, .systemd = rows[i].systemd,
		};
		int rc;

		why[0] = '\0';
		rc = pg_plan(&f, &plan, why, sizeof(why));
		print_message("row %zu: %s\n", i, rows[i].what);
		if (rows[i].why != NULL) {
			assert_int_equal(rc, -1);
			assert_string_equal(why, rows[i].why);
			assert_string_equal(plan.start, "");
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(plan.unit, rows[i].unit);
		assert_string_equal(plan.start, rows[i].start);
		assert_string_equal(plan.config_dir, rows[i].config_dir);
	}
}

static void
test_parsers(void **state)
{
	const struct {
		const char *text;
		long        pid;
	} pids[] = {
		{ "27250\n/tmp/x/data\n1733280000\n", 27250 }, { "42", 42 }, { "-4242\n", -1 },
		{ "", -1 }, { "abc\n", -1 }, { "12x\n", -1 }, { "0\n", -1 },
		{ "99999999999\n", -1 },
	};
	const struct {
		const char *msg, *line;
	} lines[] = {
		{ "connection to server on socket \"/run/x/.s.PGSQL.5432\" failed: No such file or "
		  "directory\n\tIs the server running locally and accepting connections on that "
		  "socket?\n", "No such file or directory" },
		{ "connection to server at \"db\" (10.0.0.1), port 5432 failed: Connection refused\n",
		  "Connection refused" },
		{ "FATAL:  the database system is shutting down\n",
		  "FATAL: the database system is shutting down" },
		{ "ERROR:  relation \"x\" does not exist\nLINE 1: ...", "ERROR: relation \"x\" does not exist" },
		{ "  \n", "no reason given" },
		{ NULL, "no reason given" },
	};
	unsigned uid = 0, gid = 0;
	char out[64], tiny[8];

	for (size_t i = 0; i < nitems(pids); i++)
		assert_int_equal(pg_pidfile_pid(pids[i].text), pids[i].pid);
	assert_int_equal(pg_status_ids("Name:\tpostgres\nUmask:\t0077\nState:\tS (sleeping)\n"
	    "Uid:\t101\t101\t101\t101\nGid:\t104\t104\t104\t104\n", &uid, &gid), 0);
	assert_int_equal(uid, 101);
	assert_int_equal(gid, 104);
	assert_int_equal(pg_status_ids("Name:\tx\nUid:\t101\n", &uid, &gid), -1);
	assert_int_equal(pg_status_ids("Uid:\t-1\nGid:\t1\n", &uid, &gid), -1);
	assert_int_equal(pg_status_ids("Uid:\t99999999999\nGid:\t1\n", &uid, &gid), -1);
	for (size_t i = 0; i < nitems(lines); i++) {
		pg_one_line(lines[i].msg, out, sizeof(out));
		assert_string_equal(out, lines[i].line);
	}
	pg_one_line("FATAL:  a b c d e", tiny, sizeof(tiny));
	assert_string_equal(tiny, "FATAL:");
	pg_one_line("abcdefghijkl", tiny, sizeof(tiny));
	assert_string_equal(tiny, "abcdefg");
}

/* ---- processes, each waited for with a limit ---- */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Reap pid within ms. Its wait status, or -1 when it has not ended (it is
 * still ours to stop then).
 */
static int
reap(pid_t pid, long ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)ms;
	int status;
	pid_t r;

	for (;;) {
		if ((r = waitpid(pid, &status, WNOHANG)) == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (mono_ms() >= deadline)
			return -1;
		sleep_ms(20);
	}
}

/* Stop pid for good: sig, then SIGKILL after ms. Its wait status. */
static int
stop_pid(pid_t pid, int sig, long ms)
{
	int status;

	kill(pid, sig);
	if ((status = reap(pid, ms)) != -1)
		return status;
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/*
 * Start argv, as postgres when as_postgres, in its own process group, in
 * the scratch folder, stdin from /dev/null, stdout to out_fd (or the error
 * log) and stderr to the error log. Its pid.
 */
static pid_t
spawn(char *const argv[], bool as_postgres, int out_fd)
{
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		return pid;
	setpgid(0, 0);
	if ((fd = open("/dev/null", O_RDONLY)) >= 0)
		dup2(fd, 0);
	if ((fd = open(pg.errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) >= 0) {
		dup2(out_fd >= 0 ? out_fd : fd, 1);
		dup2(fd, 2);
	}
	if (chdir(pg.dir) < 0)
		_exit(126);
	if (as_postgres && (setgroups(1, &pg.gid) < 0 || setgid(pg.gid) < 0 ||
	    setuid(pg.uid) < 0))
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

/*
 * Run argv to its end within ms, its stdout in out. Its exit status,
 * 128+signal, or -1 when it was killed at the limit.
 */
static int
run(char *const argv[], bool as_postgres, char *out, size_t outlen, long ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)ms;
	size_t off = 0;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = spawn(argv, as_postgres, fds[1]);
	close(fds[1]);
	assert_true(pid > 0);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		uint64_t now = mono_ms();
		char sink[512];
		ssize_t n;

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) == 0)
			break;
		if (off + 1 < outlen)
			n = read(fds[0], out + off, outlen - 1 - off);
		else
			n = read(fds[0], sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
		if (n > 0 && off + 1 < outlen)
			off += (size_t)n;
	}
	close(fds[0]);
	out[off] = '\0';
	status = reap(pid, (long)(deadline > mono_ms() ? deadline - mono_ms() : 0) + 100);
	if (status == -1) {
		stop_pid(pid, SIGKILL, 0);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* lifeline-plugin CMD PLUGIN ARGS..., its stdout in out; its exit status. */
static int
runner(char *out, size_t outlen, const char *cmd, const char *a1, const char *a2,
    const char *a3)
{
	char *argv[] = { pg.runner, (char *)cmd, pg.plugin, (char *)a1, (char *)a2, (char *)a3,
	    NULL };

	return run(argv, false, out, outlen, RUN_MS);
}

static int
check_query(char *out, size_t outlen)
{
	return runner(out, outlen, "check", "query", "--settings", pg.settings);
}

/* Until check query passes, at most ms; out holds what the last one said. */
static bool
wait_up(long ms, char *out, size_t outlen)
{
	uint64_t deadline = mono_ms() + (uint64_t)ms;

	while (check_query(out, outlen) != 0) {
		if (mono_ms() >= deadline)
			return false;
		sleep_ms(100);
	}
	return true;
}

/* ---- the cluster ---- */

/*
 * The cluster could not be made: say why, with the end of the error log
 * (the scratch folder goes with the teardown).
 */
static int
setup_fail(const char *fmt, ...)
{
	char *log = read_file(pg.errlog, 1 << 20, NULL);
	size_t n = log != NULL ? strlen(log) : 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pg.setup_error, sizeof(pg.setup_error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "test_postgresql_plugin: %s; the end of its log:\n%s\n", pg.setup_error,
	    n > 2048 ? log + n - 2048 : (log != NULL ? log : "(none)"));
	free(log);
	return 0;                      /* the cases fail with it; the teardown still runs */
}

/*
 * The cluster every case below uses: initdb as postgres, then the
 * postmaster started by hand (not by pg_ctl, so it is this process's child
 * to reap) with arguments that need quoting.
 */
static int
group_setup(void **state)
{
	const char *bin = getenv("LIFELINE_BIN");
	struct passwd *pw;
	struct group *gr;
	char out[4096];
	json_t *settings;
	int rc;

	if (bin == NULL)
		bin = "build/bin";
	pg.runner = xasprintf("%s/lifeline-plugin", bin);
	pg.plugin = xasprintf("%s/../plugins/postgresql.so", bin);
	pg.dir = tmpdir();
	pg.data = xasprintf("%s/data", pg.dir);
	pg.run = xasprintf("%s/run", pg.dir);
	pg.settings = xasprintf("%s/settings.json", pg.dir);
	pg.errlog = xasprintf("%s/stderr.log", pg.dir);
	if (geteuid() != 0 || access(PGBIN "/initdb", X_OK) != 0 ||
	    (pw = getpwnam("postgres")) == NULL)
		return 0;
	pg.wanted = true;
	pg.uid = pw->pw_uid;
	pg.gid = pw->pw_gid;
	gr = getgrgid(pg.gid);
	snprintf(pg.group, sizeof(pg.group), "%s", gr != NULL ? gr->gr_name : "?");

	if (chmod(pg.dir, 0711) < 0 || mkdir(pg.data, 0700) < 0 || mkdir(pg.run, 0700) < 0 ||
	    chown(pg.data, pg.uid, pg.gid) < 0 || chown(pg.run, pg.uid, pg.gid) < 0)
		return setup_fail("cannot prepare %s: %s", pg.dir, strerror(errno));
	settings = json_pack("{s:s, s:s, s:s}", "host", pg.run, "port", PORT,
	    "connect_timeout", "2");
	rc = json_dump_file(settings, pg.settings, 0);
	json_decref(settings);
	if (rc < 0)
		return setup_fail("cannot write %s", pg.settings);

	char *initdb[] = { PGBIN "/initdb", "-D", pg.data, "-U", "postgres", "-A", "trust",
	    "--no-sync", NULL };
	if ((rc = run(initdb, true, out, sizeof(out), INITDB_MS)) != 0)
		return setup_fail("initdb exited %d", rc);

	char *sockets = xasprintf("unix_socket_directories=%s", pg.run);
	char *postgres[] = { PGBIN "/postgres", "-D", pg.data, "-p", PORT, "-c",
	    "listen_addresses=", "-c", sockets, "-c", "cluster_name=lifeline's test", NULL };
	pg.postmaster = spawn(postgres, true, -1);
	free(sockets);
	if (!wait_up(RUN_MS, out, sizeof(out)))
		return setup_fail("the postmaster did not answer within %d ms: %.200s", RUN_MS,
		    out);
	return 0;
}

static int
group_teardown(void **state)
{
	char *rm[] = { "rm", "-rf", pg.dir, NULL };

	if (pg.postmaster > 0)
		stop_pid(pg.postmaster, SIGINT, RUN_MS);
	if (pg.dir != NULL && run_argv(rm, 1) != 0)
		fprintf(stderr, "test_postgresql_plugin: cannot remove %s\n", pg.dir);
	free(pg.dir);
	free(pg.data);
	free(pg.run);
	free(pg.settings);
	free(pg.errlog);
	free(pg.runner);
	free(pg.plugin);
	free(pg.start);
	return 0;
}

static void
need_cluster(void)
{
	if (!pg.wanted)
		skip();
	if (pg.setup_error[0] != '\0')
		fail_msg("%s", pg.setup_error);
}

/* pg_ctl stop -m fast as postgres, then our postmaster reaped: it is down. */
static void
stop_server(void)
{
	char out[1024], *t = xasprintf("%d", RUN_MS / 1000 - 5);
	char *pg_ctl[] = { PGBIN "/pg_ctl", "stop", "-D", pg.data, "-m", "fast", "-w", "-t", t,
	    NULL };
	int status;

	assert_int_equal(run(pg_ctl, true, out, sizeof(out), RUN_MS), 0);
	free(t);
	status = reap(pg.postmaster, RUN_MS);
	assert_int_not_equal(status, -1);
	pg.postmaster = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The first line of postmaster.pid: the pid the server says it has. */
static long
pidfile_pid(void)
{
	char *path = xasprintf("%s/postmaster.pid", pg.data), *text;
	long pid;

	text = read_file(path, 4096, NULL);
	assert_non_null(text);
	pid = pg_pidfile_pid(text);
	free(text);
	free(path);
	return pid;
}

/* ---- the plug-in through the runner ---- */

static void
test_info(void **state)
{
	char out[2048];
	json_t *info;

	if (access(pg.plugin, R_OK) != 0)
		skip();
	assert_int_equal(runner(out, sizeof(out), "info", NULL, NULL, NULL), 0);
	info = json_loads(out, 0, NULL);
	assert_non_null(info);
	assert_string_equal(json_string_value(json_object_get(info, "name")), "postgresql");
	assert_int_equal(json_integer_value(json_object_get(info, "api_version")), 1);
	assert_true(json_is_true(json_object_get(info, "hooks")));
	assert_non_null(json_string_value(json_object_get(info, "version")));
	json_decref(info);
}

/* The start command of the postmaster group_setup started, as discover must write it. */
static char *
expected_start(void)
{
	return xasprintf("setpriv --reuid=postgres --regid=%s --init-groups -- "
	    PGBIN "/postgres -D %s -p " PORT " -c listen_addresses= "
	    "-c unix_socket_directories=%s -c 'cluster_name=lifeline'\\''s test'", pg.group,
	    pg.data, pg.run);
}

static void
test_discover(void **state)
{
	char out[8192], *host, *want, *text;
	json_t *found, *svc;

	need_cluster();
	assert_int_equal(pidfile_pid(), pg.postmaster);
	host = xasprintf("host=%s", pg.run);
	assert_int_equal(runner(out, sizeof(out), "discover", host, "port=" PORT, NULL), 0);
	found = json_loads(out, 0, NULL);
	assert_non_null(found);

	svc = json_array_get(json_object_get(found, "services"), 0);
	want = expected_start();
	assert_string_equal(json_string_value(json_object_get(svc, "start")), want);
	assert_string_equal(json_string_value(json_object_get(svc, "stop")), "signal INT");
	pg.start = xstrdup(json_string_value(json_object_get(svc, "start")));
	json_object_del(svc, "start");
	free(want);

	text = json_dumps(found, JSON_COMPACT | JSON_PRESERVE_ORDER);
	want = xasprintf("{\"data\":[\"%s\"],"
	    "\"config\":[\"%s/postgresql.conf\",\"%s/pg_hba.conf\",\"%s/pg_ident.conf\"],"
	    "\"services\":[{\"name\":\"postgresql\",\"stop\":\"signal INT\"}],"
	    "\"checks\":[{\"service\":\"postgresql\",\"check\":\"query\",\"interval_ms\":2000,"
	    "\"timeout_ms\":1500}],"
	    "\"rules\":[\"postgresql-connections: connections > 90%% of max_connections\"]}",
	    pg.data, pg.data, pg.data, pg.data);
	assert_string_equal(text, want);
	free(want);
	free(text);
	free(host);
	json_decref(found);
}

static void
test_check_query(void **state)
{
	char out[1024];

	need_cluster();
	assert_int_equal(check_query(out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void
test_unknown_check(void **state)
{
	char out[1024];

	need_cluster();
	assert_int_equal(runner(out, sizeof(out), "check", "replication", "--settings",
	    pg.settings), PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(out, "no check replication, expected query\n");
}

/*
 * The pre-start hook: a postmaster.pid whose pid is no postmaster of the
 * folder (here this test's own pid) is removed; the running cluster's is
 * kept, and the hook refuses a start over it.
 */
static void
test_hook_pre_start(void **state)
{
	char out[1024], *stale = xasprintf("%s/stale", pg.dir), *pidfile, *text, *set, *set2;

	need_cluster();
	assert_int_equal(mkdir(stale, 0700), 0);
	pidfile = xasprintf("%s/postmaster.pid", stale);
	text = xasprintf("%ld\n%s\n", (long)getpid(), stale);
	assert_int_equal(write_file_atomic(pidfile, text, strlen(text), 0600), 0);
	set = xasprintf("%s/hook1.json", pg.dir);
	free(text);
	text = xasprintf("{\"data_directory\": \"%s\"}", stale);
	assert_int_equal(write_file_atomic(set, text, strlen(text), 0600), 0);
	assert_int_equal(runner(out, sizeof(out), "hook", "pre-start", "--settings", set), 0);
	assert_int_equal(access(pidfile, F_OK), -1);

	set2 = xasprintf("%s/hook2.json", pg.dir);
	free(text);
	text = xasprintf("{\"data_directory\": \"%s\"}", pg.data);
	assert_int_equal(write_file_atomic(set2, text, strlen(text), 0600), 0);
	assert_int_equal(runner(out, sizeof(out), "hook", "pre-start", "--settings", set2),
	    PLUGIN_EXIT_UNHEALTHY);
	assert_non_null(strstr(out, "already serves"));
	free(text);
	text = xasprintf("%s/postmaster.pid", pg.data);
	assert_int_equal(access(text, F_OK), 0);
	free(text);
	free(set);
	free(set2);
	free(pidfile);
	free(stale);
}

/* Down: check query fails with one line saying why, and so does discover. */
static void
test_server_down(void **state)
{
	char out[2048], *host, *want;

	need_cluster();
	stop_server();

	want = xasprintf("cannot connect to %s port " PORT ": No such file or directory\n",
	    pg.run);
	assert_int_equal(check_query(out, sizeof(out)), PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(out, want);
	free(want);

	host = xasprintf("host=%s", pg.run);
	want = xasprintf("plug-in postgresql could not discover its application: cannot "
	    "connect to %s port " PORT ": No such file or directory\n", pg.run);
	assert_int_equal(runner(out, sizeof(out), "discover", host, "port=" PORT, NULL),
	    PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(out, want);
	free(want);
	free(host);
}

/*
 * The discovered start command, run the way the engine runs it (/bin/sh -c
 * "exec START"), brings the server back as the same pid, which discover
 * then finds with the same command, and SIGINT to that pid stops it.
 */
static void
test_start_command(void **state)
{
	char out[8192], *host, *cmd;
	json_t *found;
	int status;

	need_cluster();
	if (pg.start == NULL)
		fail_msg("no start command: test_discover did not pass");
	if (pg.postmaster > 0)
		stop_server();
	cmd = xasprintf("exec %s", pg.start);
	char *sh[] = { "/bin/sh", "-c", cmd, NULL };
	pg.postmaster = spawn(sh, false, -1);
	free(cmd);
	if (!wait_up(RUN_MS, out, sizeof(out)))
		fail_msg("the start command did not bring the server up: %s", out);
	assert_int_equal(pidfile_pid(), pg.postmaster);

	host = xasprintf("host=%s", pg.run);
	assert_int_equal(runner(out, sizeof(out), "discover", host, "port=" PORT, NULL), 0);
	found = json_loads(out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(found, "services"), 0), "start")), pg.start);
	json_decref(found);
	free(host);

	kill(pg.postmaster, SIGINT);
	status = reap(pg.postmaster, RUN_MS);
	assert_int_not_equal(status, -1);
	pg.postmaster = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(check_query(out, sizeof(out)), PLUGIN_EXIT_UNHEALTHY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_discover),
		cmocka_unit_test(test_check_query),
		cmocka_unit_test(test_unknown_check),
		cmocka_unit_test(test_hook_pre_start),
		cmocka_unit_test(test_server_down),
		cmocka_unit_test(test_start_command),
	};

	log_init(LOG_TO_STDERR, 0, "test_postgresql_plugin");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
