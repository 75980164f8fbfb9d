/*
 * Unit tests of the mariadb plug-in (plugins/mariadb), through the runner
 * lifeline-plugin, against a private MariaDB server in a scratch folder:
 * its own data folder, socket and pid file, no TCP port, started as root
 * with --user=mysql. The cases run in order on that one server: info,
 * discover, check query, an unknown check, the server stopped (check and
 * discover fail), and the discovered start command brings it back.
 * Skipped without root, mariadbd, mariadb-install-db or the user mysql.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
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

#include "common/util.h"
#include "plugin/pluginhost.h"
#include "helpers/runprog.h"
#include "helpers/tmpdir.h"

#define INSTALL_LIMIT_MS 120000    /* mariadb-install-db */
#define READY_LIMIT_MS    60000    /* a server answering its first query */
#define STOP_LIMIT_MS     60000    /* a server gone after SIGTERM */
#define RUN_LIMIT_MS      30000    /* one call of the runner */
#define INIT_CONNECT      "--init-connect=SET @lifeline='a b'"  /* a word sh must quote */

/* One call of a program: what it wrote and how it ended. */
static struct {
	const char *skip;          /* why the cases are skipped, or NULL */
	char       *broken;        /* why the server could not be set up, or NULL */
	char       *dir, *datadir, *sock, *pidfile, *cnf, *settings;
	char       *runner, *plugin, *mariadbd, *install_db;
	char       *argv[9];       /* the server's command line */
	pid_t       server;        /* the server we started, until reaped */
	pid_t       shell;         /* /bin/sh -c START, until reaped */
	char       *start;         /* the start command discover found */
} f;

/* PROG in PATH or in /usr/sbin, /usr/bin (ctest may run with a short PATH); NULL if none. */
static char *
find_program(const char *prog)
{
	const char *path = getenv("PATH");
	char *dirs = xasprintf("%s:/usr/sbin:/usr/bin:/sbin:/bin", path ? path : ""), *save = NULL;
	char *found = NULL;

	for (char *d = strtok_r(dirs, ":", &save); d != NULL && found == NULL;
	    d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", d, prog);

		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(dirs);
	return found;
}

/*
 * Start argv in a new session with stdin from /dev/null and stdout and
 * stderr appended to log. The child's pid.
 */
static pid_t
start_logged(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		setsid();
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* End child *pid: SIGTERM, a bounded wait, then SIGKILL. Its status code. */
static int
stop_child(pid_t *pid)
{
	int rc;

	if (*pid <= 0)
		return -1;
	kill(*pid, SIGTERM);
	if ((rc = run_reap(pid, STOP_LIMIT_MS)) >= 0 || *pid == 0)
		return rc;
	kill(*pid, SIGKILL);
	return run_reap(pid, STOP_LIMIT_MS);
}

/* lifeline-plugin CMD PLUGIN [ARG [ARG]] */
static void
run_plugin(struct run *r, const char *cmd, const char *arg1, const char *arg2, const char *arg3)
{
	char *argv[] = { f.runner, (char *)cmd, f.plugin, (char *)arg1, (char *)arg2,
	    (char *)arg3, NULL };

	run_program(r, argv, RUN_LIMIT_MS);
}

/* check query over the test server's socket. */
static void
check_query(struct run *r)
{
	run_plugin(r, "check", "query", "--settings", f.settings);
}

/*
 * Wait until check query passes, at most READY_LIMIT_MS, while *pid (the
 * server, or the shell that starts it) runs. True when it passed.
 */
static bool
wait_ready(pid_t *pid)
{
	uint64_t end = now_mono_ms() + READY_LIMIT_MS;
	struct timespec slice = { 0, 100 * 1000 * 1000 };
	struct run r;

	while (now_mono_ms() < end) {
		check_query(&r);
		if (r.rc == 0)
			return true;
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return false;
		}
		nanosleep(&slice, NULL);
	}
	return false;
}

static bool
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	bool ok = fp != NULL && fputs(text, fp) >= 0;

	return fp != NULL && fclose(fp) == 0 && ok;
}

/* Why the cases cannot run here, or NULL. */
static const char *
skip_reason(void)
{
	const char *bin = getenv("LIFELINE_BIN");

	if (geteuid() != 0)
		return "not root";
	if (bin == NULL)
		return "LIFELINE_BIN is not set";
	if ((f.mariadbd = find_program("mariadbd")) == NULL)
		return "no mariadbd";
	if ((f.install_db = find_program("mariadb-install-db")) == NULL)
		return "no mariadb-install-db";
	if (getpwnam("mysql") == NULL)
		return "no user mysql";
	f.runner = xasprintf("%s/lifeline-plugin", bin);
	f.plugin = xasprintf("%s/../plugins/mariadb.so", bin);
	return NULL;
}

/*
 * The private server: a data folder made by mariadb-install-db (root
 * logs in over the socket by unix_socket authentication, as on Debian),
 * and mariadbd on it, ready for queries. Never fails the group (so that
 * the teardown runs): what went wrong is kept in f.broken.
 */
static int
group_setup(void **state)
{
	struct passwd *pw;
	char *log, *datadir_arg;
	int rc;

	if ((f.skip = skip_reason()) != NULL)
		return 0;
	f.dir = tmpdir();
	f.datadir = xasprintf("%s/data", f.dir);
	f.sock = xasprintf("%s/mysqld.sock", f.dir);
	f.pidfile = xasprintf("%s/mysqld.pid", f.dir);
	f.cnf = xasprintf("%s/my.cnf", f.dir);
	f.settings = xasprintf("%s/settings.json", f.dir);
	pw = getpwnam("mysql");
	if (chmod(f.dir, 0755) == -1 || chown(f.dir, pw->pw_uid, pw->pw_gid) == -1) {
		f.broken = xasprintf("%s: %s", f.dir, strerror(errno));
		return 0;
	}
	{
		char *settings = xasprintf("{\"socket\": \"%s\", \"connect_timeout\": \"2\"}\n",
		    f.sock);
		bool ok = write_text(f.cnf, "[mariadbd]\ninnodb_buffer_pool_size = 32M\n") &&
		    write_text(f.settings, settings);

		free(settings);
		if (!ok) {
			f.broken = xasprintf("cannot write into %s", f.dir);
			return 0;
		}
	}

	log = xasprintf("%s/install.log", f.dir);
	datadir_arg = xasprintf("--datadir=%s", f.datadir);
	{
		char *argv[] = { f.install_db, "--no-defaults", datadir_arg, "--user=mysql",
		    "--skip-test-db", "--auth-root-authentication-method=socket", NULL };
		pid_t pid = start_logged(argv, log);

		if ((rc = run_reap(&pid, INSTALL_LIMIT_MS)) != 0) {
			if (pid > 0) {
				kill(pid, SIGKILL);
				run_reap(&pid, STOP_LIMIT_MS);
			}
			f.broken = xasprintf("mariadb-install-db ended with %d; see %s", rc, log);
		}
	}
	free(datadir_arg);
	free(log);
	if (f.broken != NULL)
		return 0;

	f.argv[0] = f.mariadbd;
	f.argv[1] = xasprintf("--defaults-file=%s", f.cnf);
	f.argv[2] = xasprintf("--datadir=%s", f.datadir);
	f.argv[3] = xasprintf("--socket=%s", f.sock);
	f.argv[4] = xasprintf("--pid-file=%s", f.pidfile);
	f.argv[5] = xstrdup("--skip-networking");
	f.argv[6] = xstrdup("--user=mysql");
	f.argv[7] = xstrdup(INIT_CONNECT);
	f.argv[8] = NULL;
	log = xasprintf("%s/server.log", f.dir);
	f.server = start_logged(f.argv, log);
	if (!wait_ready(&f.server))
		f.broken = xasprintf("the server did not answer within %d ms; see %s",
		    READY_LIMIT_MS, log);
	free(log);
	return 0;
}

/* Every process the cases started is ended, by pid, and the folder removed. */
static int
group_teardown(void **state)
{
	stop_child(&f.shell);
	stop_child(&f.server);
	if (f.dir != NULL)
		rm_rf(f.dir);
	for (size_t i = 1; i < nitems(f.argv); i++)
		free(f.argv[i]);
	free(f.dir);
	free(f.datadir);
	free(f.sock);
	free(f.pidfile);
	free(f.cnf);
	free(f.settings);
	free(f.runner);
	free(f.plugin);
	free(f.mariadbd);
	free(f.install_db);
	free(f.broken);
	free(f.start);
	return 0;
}

/* Skip or fail a case the fixture cannot serve. */
static void
need_fixture(void)
{
	if (f.skip != NULL) {
		print_message("skipped: %s\n", f.skip);
		skip();
	}
	if (f.broken != NULL)
		fail_msg("%s", f.broken);
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The first line of text, its newline required, and nothing after it. */
static void
assert_one_line(const char *text)
{
	const char *nl = strchr(text, '\n');

	assert_non_null(nl);
	assert_true(nl > text);
	assert_string_equal(nl + 1, "");
}

static void
test_info(void **state)
{
	struct run r;
	json_t *info;

	need_fixture();
	run_plugin(&r, "info", NULL, NULL, NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(info = json_loads(r.out, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(info, "name")), "mariadb");
	assert_int_equal(json_integer_value(json_object_get(info, "api_version")), 1);
	assert_true(json_is_false(json_object_get(info, "hooks")));
	assert_non_null(json_string_value(json_object_get(info, "version")));
	assert_non_null(json_string_value(json_object_get(info, "summary")));
	json_decref(info);
}

/*
 * discover: the data folder, the one option file the server read, the
 * service started by the server's own command line with the word sh must
 * quote quoted, stopped by SIGTERM, and check query.
 */
static void
test_discover(void **state)
{
	char *sockarg = xasprintf("socket=%s", f.sock), *expect, *got;
	json_t *found, *svc, *chk;
	struct run r;

	need_fixture();
	run_plugin(&r, "discover", sockarg, NULL, NULL);
	print_message("%s%s", r.out, r.err);
	assert_int_equal(r.rc, 0);
	assert_non_null(found = json_loads(r.out, 0, NULL));

	got = json_dumps(json_object_get(found, "data"), JSON_COMPACT);
	expect = xasprintf("[\"%s\"]", f.datadir);
	assert_string_equal(got, expect);
	free(got);
	free(expect);
	got = json_dumps(json_object_get(found, "config"), JSON_COMPACT);
	expect = xasprintf("[\"%s\"]", f.cnf);
	assert_string_equal(got, expect);
	free(got);
	free(expect);

	assert_int_equal(json_array_size(json_object_get(found, "services")), 1);
	svc = json_array_get(json_object_get(found, "services"), 0);
	assert_string_equal(json_string_value(json_object_get(svc, "name")), "mariadb");
	assert_null(json_object_get(svc, "unit"));
	expect = xasprintf("%s --defaults-file=%s --datadir=%s --socket=%s --pid-file=%s "
	    "--skip-networking --user=mysql '--init-connect=SET @lifeline='\\''a b'\\'''",
	    f.mariadbd, f.cnf, f.datadir, f.sock, f.pidfile);
	assert_string_equal(json_string_value(json_object_get(svc, "start")), expect);
	free(expect);
	assert_string_equal(json_string_value(json_object_get(svc, "stop")), "signal TERM");
	f.start = xstrdup(json_string_value(json_object_get(svc, "start")));

	assert_int_equal(json_array_size(json_object_get(found, "checks")), 1);
	chk = json_array_get(json_object_get(found, "checks"), 0);
	assert_string_equal(json_string_value(json_object_get(chk, "service")), "mariadb");
	assert_string_equal(json_string_value(json_object_get(chk, "check")), "query");
	assert_int_equal(json_integer_value(json_object_get(chk, "interval_ms")), 2000);
	assert_int_equal(json_integer_value(json_object_get(chk, "timeout_ms")), 1500);
	assert_int_equal(json_array_size(json_object_get(found, "rules")), 1);
	json_decref(found);
	free(sockarg);
}

static void
test_check_query(void **state)
{
	struct run r;

	need_fixture();
	check_query(&r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");
}

static void
test_unknown_check(void **state)
{
	struct run r;

	need_fixture();
	run_plugin(&r, "check", "replication", "--settings", f.settings);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(r.out, "no check replication, expected query\n");
}

/* The server stopped by SIGTERM: check and discover fail with one line saying why. */
static void
test_server_down(void **state)
{
	char *sockarg = xasprintf("socket=%s", f.sock), *quoted;
	struct run r;

	need_fixture();
	assert_true(f.server > 0);
	kill(f.server, SIGTERM);
	assert_int_equal(run_reap(&f.server, STOP_LIMIT_MS), 0);

	check_query(&r);
	print_message("check: %s", r.out);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_one_line(r.out);
	assert_true(starts_with(r.out, "cannot connect to MariaDB as root: "));
	quoted = xasprintf("'%s'", f.sock);
	assert_non_null(strstr(r.out, quoted));
	free(quoted);

	run_plugin(&r, "discover", sockarg, NULL, NULL);
	print_message("discover: %s", r.out);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_one_line(r.out);
	assert_true(starts_with(r.out, "plug-in mariadb could not discover its application: "
	    "cannot connect to MariaDB as root: "));
	free(sockarg);
}

/*
 * The start command discover found, run as the engine runs one (/bin/sh
 * -c "exec START"), starts the same server: the shell becomes mariadbd
 * with the same arguments, word for word, and it answers check query.
 * Then it is stopped by its pid, as stop "signal TERM" says.
 */
static void
test_start_command(void **state)
{
	char *log, *cmdline, *want, *w, *exec_start;
	char *argv[] = { "/bin/sh", "-c", NULL, NULL };
	char buf[32];
	size_t len, want_len = 0;
	long pid;
	FILE *fp;

	need_fixture();
	assert_int_equal(f.server, 0);             /* stopped by test_server_down */
	if (f.start == NULL)
		fail_msg("no start command: discover failed");
	argv[2] = exec_start = xasprintf("exec %s", f.start);
	log = xasprintf("%s/server-restarted.log", f.dir);
	unlink(f.pidfile);
	f.shell = start_logged(argv, log);
	assert_true(f.shell > 0);
	if (!wait_ready(&f.shell))
		fail_msg("the start command did not bring the server up within %d ms; see %s",
		    READY_LIMIT_MS, log);
	free(log);
	free(exec_start);

	assert_non_null(fp = fopen(f.pidfile, "r"));
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	pid = strtol(buf, NULL, 10);
	assert_int_equal(pid, f.shell);
	cmdline = xasprintf("/proc/%ld/cmdline", pid);
	w = read_file(cmdline, 65536, &len);
	assert_non_null(w);
	for (size_t i = 0; f.argv[i] != NULL; i++)
		want_len += strlen(f.argv[i]) + 1;
	want = xmalloc(want_len);
	for (size_t i = 0, at = 0; f.argv[i] != NULL; i++) {
		memcpy(want + at, f.argv[i], strlen(f.argv[i]) + 1);
		at += strlen(f.argv[i]) + 1;
	}
	assert_int_equal(len, want_len);
	assert_memory_equal(w, want, len);
	free(w);
	free(want);
	free(cmdline);

	assert_int_equal(kill(f.shell, SIGTERM), 0);
	assert_int_equal(run_reap(&f.shell, STOP_LIMIT_MS), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_discover),
		cmocka_unit_test(test_check_query),
		cmocka_unit_test(test_unknown_check),
		cmocka_unit_test(test_server_down),
		cmocka_unit_test(test_start_command),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
