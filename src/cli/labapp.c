/*
 * The lab's applications: the sample, and PostgreSQL 15 from Debian's
 * packages. PostgreSQL's cluster is made once, on the host, in the
 * primary's protected folder before any engine runs; the stand-bys get it
 * from the first full check like any protected data.
 */
#include "cli/labapp.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_STEP_MS  60000        /* initdb, a start, a stop */

static const char *const app_names[] = {
	[LAB_APP_SAMPLE] = "sample", [LAB_APP_POSTGRESQL] = "postgresql",
	[LAB_APP_MARIADB] = "mariadb",
};

int
lab_app_parse(const char *name)
{
	for (size_t i = 0; i < nitems(app_names); i++)
		if (strcmp(name, app_names[i]) == 0)
			return (int)i;
	return -1;
}

int
lab_app_port(enum lab_app app)
{
	return app == LAB_APP_POSTGRESQL ? LAB_PG_PORT : app == LAB_APP_MARIADB ? LAB_MY_PORT : 8080;
}

const char *
lab_app_missing(enum lab_app app)
{
	if (app == LAB_APP_MARIADB) {
		if (access("/usr/sbin/mariadbd", X_OK) != 0 ||
		    access("/usr/bin/mariadb-install-db", X_OK) != 0)
			return "MariaDB (Debian's mariadb-server package)";
		if (getpwnam("mysql") == NULL)
			return "the mysql user (Debian's mariadb-server package)";
		return NULL;
	}
	if (app != LAB_APP_POSTGRESQL)
		return NULL;
	if (access(LAB_PG_BIN "/postgres", X_OK) != 0 || access(LAB_PG_BIN "/initdb", X_OK) != 0)
		return "PostgreSQL 15 (Debian's postgresql package: " LAB_PG_BIN ")";
	if (getpwnam("postgres") == NULL)
		return "the postgres user (Debian's postgresql package)";
	return NULL;
}

const char *
lab_app_service_name(enum lab_app app)
{
	return app_names[app];
}

/*
 * PostgreSQL runs as postgres, through setpriv so that the engine's pid is
 * the postmaster itself (its stop signal reaches it). INT is its fast
 * shutdown. The check is the postgresql plug-in's query, on loopback.
 */
void
lab_app_service_section(FILE *f, enum lab_app app, const char *check, const char *bindir)
{
	if (app == LAB_APP_MARIADB) {
		/* mariadbd switches to its user itself; TERM is its clean shutdown. */
		fprintf(f, "[service mariadb]\n");
		fprintf(f, "start = /usr/sbin/mariadbd --defaults-file=%s/my.cnf\n", LAB_MY_RUN);
		fprintf(f, "stop = signal TERM\nstop_timeout = 30s\nstart_timeout = 2m\n");
		fprintf(f, "check = plugin mariadb query\ncheck_interval = 2s\n"
		    "check_timeout = 1500ms\n");
		return;
	}
	if (app == LAB_APP_POSTGRESQL) {
		fprintf(f, "[service postgresql]\n");
		fprintf(f, "start = setpriv --reuid=postgres --regid=postgres --init-groups -- "
		    "%s/postgres -D %s\n", LAB_PG_BIN, LAB_PG_DATA);
		fprintf(f, "stop = signal INT\nstop_timeout = 30s\nstart_timeout = 2m\n");
		fprintf(f, "check = plugin postgresql query\ncheck_interval = 2s\n"
		    "check_timeout = 1500ms\n");
		return;
	}
	fprintf(f, "[service sample]\n");
	fprintf(f, "start = %s/lifeline-sample --config /etc/lifeline-sample/sample.conf\n",
	    bindir);
	fprintf(f, "check = %s\n", check);
}

/*
 * Run argv (as postgres when as_postgres), its output into out (a line
 * kept for errors), within ms. Returns its exit status, or -1.
 */
static int
run(bool as_postgres, int ms, char *out, size_t outlen, char *const argv[])
{
	char *full[24];
	size_t n = 0;
	int p[2], status;
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;
	pid_t pid;
	ssize_t got;
	size_t have = 0;

	if (as_postgres) {
		full[n++] = (char *)"/usr/bin/setpriv";
		full[n++] = (char *)"--reuid=postgres";
		full[n++] = (char *)"--regid=postgres";
		full[n++] = (char *)"--init-groups";
		full[n++] = (char *)"--";
	}
	for (size_t i = 0; argv[i] != NULL && n < nitems(full) - 1; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	out[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(full[0], full);
		_exit(127);
	}
	close(p[1]);
	while ((got = read(p[0], out + have, have + 1 < outlen ? outlen - have - 1 : 0)) > 0)
		have += (size_t)got;
	if (have + 1 >= outlen) {             /* drain what does not fit */
		char sink[512];

		while (read(p[0], sink, sizeof(sink)) > 0)
			;
	}
	out[have < outlen ? have : outlen - 1] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(20 * 1000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Append text to path. */
static int
append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");
	int rc;

	if (f == NULL)
		return -1;
	fputs(text, f);
	rc = fclose(f);
	return rc;
}

/* Start the postmaster on a socket folder only; its pid, or -1. */
static pid_t
pg_start_private(const char *pgdata, const char *sockdir)
{
	char *sockopt = xasprintf("unix_socket_directories=%s", sockdir);
	char *argv[] = { (char *)"/usr/bin/setpriv", (char *)"--reuid=postgres",
	    (char *)"--regid=postgres", (char *)"--init-groups", (char *)"--",
	    (char *)LAB_PG_BIN "/postgres", (char *)"-D", (char *)pgdata, (char *)"-c",
	    (char *)"listen_addresses=", (char *)"-c", sockopt, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	free(sockopt);
	return pid;
}

/* sig (the server's clean stop) and wait; SIGKILL when it takes too long. */
static void
stop_server(pid_t pid, int sig)
{
	uint64_t deadline = now_mono_ms() + PG_STEP_MS;
	int status;

	kill(pid, sig);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return;
		}
		usleep(50 * 1000);
	}
}

/*
 * The server's files, made in a work folder of its user's, copied into
 * dest (a new folder of that user's): cp -a keeps owners and modes.
 */
static int
copy_into(const char *from, const char *dest, const struct passwd *pw, const char *what,
    char *err, size_t errlen)
{
	char *src = xasprintf("%s/.", from), out[1024] = "";
	char *cp[] = { (char *)"/bin/cp", (char *)"-a", src, (char *)dest, NULL };
	int rc = 0;

	if (mkdir(dest, 0700) < 0 || chown(dest, pw->pw_uid, pw->pw_gid) < 0 ||
	    run(false, PG_STEP_MS, out, sizeof(out), cp) != 0)
		rc = fail(err, errlen, "cannot copy the %s to %s: %.600s", what, dest,
		    out[0] ? out : strerror(errno));
	free(src);
	return rc;
}

/* Remove a work folder made by mkdtemp (nothing when it was not made). */
static void
remove_work(const char *work)
{
	char out[256], *rm[] = { (char *)"/bin/rm", (char *)"-rf", (char *)work, NULL };

	if (work[strlen(work) - 1] != 'X')
		run(false, PG_STEP_MS, out, sizeof(out), rm);
}

/*
 * Wait (bounded) until ready succeeds against a server just started, then
 * run sql, which makes the lab's user and database.
 */
static int
wait_and_make_user(bool as_user, char *const ready[], char *const sql[], char *err,
    size_t errlen)
{
	uint64_t deadline = now_mono_ms() + PG_STEP_MS;
	char out[1024];

	while (run(as_user, 5000, out, sizeof(out), ready) != 0 && now_mono_ms() < deadline)
		usleep(100 * 1000);
	if (run(as_user, PG_STEP_MS, out, sizeof(out), sql) != 0)
		return fail(err, errlen, "cannot make the lifeline user and database: %.600s", out);
	return 0;
}

/*
 * The cluster: initdb as postgres (trust), reachable from every address
 * of the lab (it has no uplink), then a user and a database "lifeline"
 * made through a private socket before any engine runs. All of it in a
 * folder of postgres's own under /tmp (the lab folder may be one postgres
 * cannot enter), then copied into the primary's protected folder.
 */
static int
pg_make_cluster(const char *datadir, char *err, size_t errlen)
{
	char work[] = "/tmp/lifeline-lab-pg-XXXXXX", out[1024];
	char *pgdata = NULL, *sockdir = NULL, *dest = xasprintf("%s/pgdata", datadir);
	struct passwd *pw = getpwnam("postgres");
	int rc = -1;
	pid_t pid = -1;

	if (mkdtemp(work) == NULL || chown(work, pw->pw_uid, pw->pw_gid) < 0) {
		fail(err, errlen, "cannot make a folder for postgres in /tmp: %s", strerror(errno));
		goto out;
	}
	pgdata = xasprintf("%s/pgdata", work);
	sockdir = xasprintf("%s/sock", work);
	if (mkdir(sockdir, 0700) < 0 || chown(sockdir, pw->pw_uid, pw->pw_gid) < 0) {
		fail(err, errlen, "cannot make %s: %s", sockdir, strerror(errno));
		goto out;
	}
	{
		char *argv[] = { (char *)LAB_PG_BIN "/initdb", (char *)"-D", pgdata, (char *)"-A",
		    (char *)"trust", (char *)"-U", (char *)"postgres", (char *)"-E", (char *)"UTF8",
		    NULL };

		if (run(true, PG_STEP_MS, out, sizeof(out), argv) != 0) {
			fail(err, errlen, "initdb %s failed: %.600s", pgdata, out);
			goto out;
		}
	}
	{
		char *conf = xasprintf("%s/postgresql.conf", pgdata);
		char *hba = xasprintf("%s/pg_hba.conf", pgdata);
		int a = append(conf, "\n# lifeline lab\nlisten_addresses = '*'\nport = 5432\n"
		    "unix_socket_directories = ''\n");
		int b = append(hba, "\n# lifeline lab: no uplink, every lab address may come\n"
		    "host all all 0.0.0.0/0 trust\n");

		free(conf);
		free(hba);
		if (a < 0 || b < 0) {
			fail(err, errlen, "cannot add the lab's settings in %s: %s", pgdata,
			    strerror(errno));
			goto out;
		}
	}
	if ((pid = pg_start_private(pgdata, sockdir)) < 0) {
		fail(err, errlen, "cannot start postgres: %s", strerror(errno));
		goto out;
	}
	{
		char *ready[] = { (char *)LAB_PG_BIN "/pg_isready", (char *)"-q", (char *)"-h",
		    sockdir, NULL };
		char *psql[] = { (char *)"/usr/bin/psql", (char *)"-q", (char *)"-X", (char *)"-h",
		    sockdir, (char *)"-U", (char *)"postgres", (char *)"-d", (char *)"postgres",
		    (char *)"-v", (char *)"ON_ERROR_STOP=1", (char *)"-c",
		    (char *)"CREATE ROLE lifeline LOGIN", (char *)"-c",
		    (char *)"CREATE DATABASE lifeline OWNER lifeline", NULL };

		if (wait_and_make_user(true, ready, psql, err, errlen) < 0)
			goto out;
	}
	stop_server(pid, SIGINT);
	pid = -1;
	rc = copy_into(pgdata, dest, pw, "cluster", err, errlen);
out:
	if (pid > 0)
		stop_server(pid, SIGINT);
	remove_work(work);
	free(pgdata);
	free(sockdir);
	free(dest);
	return rc;
}

/* Plug-in name and its settings in a node's state folder, for the service's check. */
static int
install_plugin(const char *state, const char *bindir, const char *name, const char *settings,
    char *err, size_t errlen)
{
	char *dir = xasprintf("%s/plugins", state), *src = xasprintf("%s/../plugins/%s.so",
	    bindir, name), *dst = xasprintf("%s/%s.so", dir, name), *set = xasprintf("%s/%s.json",
	    dir, name), *data = NULL;
	size_t len;
	int rc = -1;

	if ((data = read_file(src, 64 << 20, &len)) == NULL)
		fail(err, errlen, "no plug-in %s: %s (build it first)", src, strerror(errno));
	else if (mkdir_p(dir, 0700) < 0 || write_file_atomic(dst, data, len, 0644) < 0 ||
	    write_file_atomic(set, settings, strlen(settings), 0600) < 0)
		fail(err, errlen, "cannot write in %s: %s", dir, strerror(errno));
	else
		rc = 0;
	free(data);
	free(dir);
	free(src);
	free(dst);
	free(set);
	return rc;
}

static const char pg_settings[] = "{\"host\": \"127.0.0.1\", \"port\": \"5432\", "
    "\"user\": \"lifeline\", \"dbname\": \"lifeline\", \"data_directory\": \""
    LAB_PG_DATA "\"}\n";
static const char my_settings[] = "{\"socket\": \"" LAB_MY_RUN "/mysqld.sock\", "
    "\"user\": \"root\", \"data_directory\": \"" LAB_MY_DATA "\"}\n";

/*
 * A node's own MariaDB folder (state/mysql-run, LAB_MY_RUN inside it):
 * its my.cnf, socket and pid file, so no node meets another's.
 */
static int
my_node_folder(const char *state, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam("mysql");
	char *dir = xasprintf("%s/mysql-run", state), *cnf = xasprintf("%s/my.cnf", dir);
	static const char text[] =
	    "# Written by `lifeline lab up`: this node's MariaDB.\n"
	    "[mariadbd]\n"
	    "user = mysql\n"
	    "datadir = " LAB_MY_DATA "\n"
	    "socket = " LAB_MY_RUN "/mysqld.sock\n"
	    "pid-file = " LAB_MY_RUN "/mysqld.pid\n"
	    "bind-address = 0.0.0.0\n"
	    "port = 3306\n"
	    "skip-name-resolve\n"
	    "log-error = " LAB_MY_RUN "/error.log\n";
	int rc = -1;

	if (mkdir_p(dir, 0755) < 0 || chown(dir, pw->pw_uid, pw->pw_gid) < 0 ||
	    write_file_atomic(cnf, text, strlen(text), 0644) < 0)
		fail(err, errlen, "cannot make %s: %s", dir, strerror(errno));
	else
		rc = 0;
	free(cnf);
	free(dir);
	return rc;
}

/*
 * The MariaDB data: mariadb-install-db, then a user "lifeline" any lab
 * address may use without a password and a database of its own, made on
 * a private socket; all in a folder of mysql's under /tmp, then copied
 * into the primary's protected folder (as for PostgreSQL).
 */
static int
my_make_data(const char *datadir, char *err, size_t errlen)
{
	char work[] = "/tmp/lifeline-lab-my-XXXXXX", out[1024];
	char *data = NULL, *sock = NULL, *dest = xasprintf("%s/mysql", datadir);
	char *o_data = NULL, *o_sock = NULL, *o_pid = NULL;
	struct passwd *pw = getpwnam("mysql");
	int rc = -1;
	pid_t pid = -1;

	if (mkdtemp(work) == NULL || chown(work, pw->pw_uid, pw->pw_gid) < 0) {
		fail(err, errlen, "cannot make a folder for mysql in /tmp: %s", strerror(errno));
		goto out;
	}
	data = xasprintf("%s/data", work);
	sock = xasprintf("%s/mysqld.sock", work);
	o_data = xasprintf("--datadir=%s", data);
	o_sock = xasprintf("--socket=%s", sock);
	o_pid = xasprintf("--pid-file=%s/mysqld.pid", work);
	{
		char *argv[] = { (char *)"/usr/bin/mariadb-install-db", (char *)"--no-defaults",
		    (char *)"--user=mysql", o_data, (char *)"--skip-test-db", NULL };

		if (run(false, PG_STEP_MS, out, sizeof(out), argv) != 0) {
			fail(err, errlen, "mariadb-install-db failed: %.600s", out);
			goto out;
		}
	}
	if ((pid = fork()) == 0) {
		int fd = open("/dev/null", O_RDWR);
		char *argv[] = { (char *)"/usr/sbin/mariadbd", (char *)"--no-defaults",
		    (char *)"--user=mysql", o_data, o_sock, o_pid, (char *)"--skip-networking", NULL };

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	{
		char *ping[] = { (char *)"/usr/bin/mariadb-admin", (char *)"--no-defaults", o_sock,
		    (char *)"ping", NULL };
		char *sql[] = { (char *)"/usr/bin/mariadb", (char *)"--no-defaults", o_sock,
		    (char *)"-e", (char *)"CREATE DATABASE lifeline; CREATE USER 'lifeline'@'%'; "
		    "GRANT ALL ON lifeline.* TO 'lifeline'@'%';", NULL };

		if (wait_and_make_user(false, ping, sql, err, errlen) < 0)
			goto out;
	}
	stop_server(pid, SIGTERM);
	pid = -1;
	rc = copy_into(data, dest, pw, "data", err, errlen);
out:
	if (pid > 0)
		stop_server(pid, SIGTERM);
	remove_work(work);
	free(data);
	free(sock);
	free(o_data);
	free(o_sock);
	free(o_pid);
	free(dest);
	return rc;
}

int
lab_app_prepare(enum lab_app app, const char *datadir, const char *const *states,
    const char *bindir, char *err, size_t errlen)
{
	if (app == LAB_APP_SAMPLE)
		return 0;
	for (size_t i = 0; states[i] != NULL; i++) {
		if (app == LAB_APP_MARIADB && my_node_folder(states[i], err, errlen) < 0)
			return -1;
		if (install_plugin(states[i], bindir, app_names[app], app == LAB_APP_POSTGRESQL ?
		    pg_settings : my_settings, err, errlen) < 0)
			return -1;
	}
	return app == LAB_APP_POSTGRESQL ? pg_make_cluster(datadir, err, errlen) :
	    my_make_data(datadir, err, errlen);
}
