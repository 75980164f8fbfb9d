/*
 * The mariadb plug-in: finds what a running MariaDB server needs protected
 * (its data folder, its option files, how to start it again) and checks
 * that it answers a query, through the C connector libmariadb only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <mysql.h>

#include "lifeline/plugin.h"

#define SERVICE_NAME     "mariadb"
#define DEFAULT_SOCKET   "/run/mysqld/mysqld.sock"
#define DEFAULT_USER     "root"
#define DEFAULT_TIMEOUT  "2"
#define TIMEOUT_MAX_S    3600u
#define CHECK_INTERVAL_MS 2000u
#define CHECK_TIMEOUT_MS  1500u
#define START_MAX        1000       /* the host's limit on a start command */
#define CMDLINE_MAX      65536
#define WHY_LEN          512
#define nitems(a)        (sizeof(a) / sizeof((a)[0]))

/* What a connection needs, from the settings given at install. */
struct conn {
	const char *socket;
	const char *user;
	const char *password;      /* NULL: none */
	unsigned    timeout_s;     /* connect, read and write */
};

/* The running server, as /proc shows it. */
struct server {
	pid_t  pid;
	char  *cmdline;            /* the arguments, each NUL-terminated */
	char **argv;
	int    argc;
	char   exe[PATH_MAX];
	char   owner[64];          /* user name, or the uid in digits */
	char   unit[256];          /* its MariaDB service of systemd, or "" */
};

/* The option files mariadbd reads on Debian when its arguments name none. */
static const char *const debian_option_files[] = {
	"/etc/my.cnf",
	"/etc/mysql/my.cnf",
	"/etc/mysql/mariadb.cnf",
	"/etc/mysql/conf.d",
	"/etc/mysql/mariadb.conf.d",
};

/* Write a reason on one line: another program's text may hold newlines. */
static void __attribute__((format(printf, 3, 4)))
set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	for (char *c = why; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
}

/*
 * The connection settings: socket, user, password and connect_timeout,
 * with their defaults. -1 with why when connect_timeout is not a number
 * of seconds.
 */
static int
read_conn(struct lifeline_host *h, const struct lifeline_host_api *api, struct conn *c,
    char *why, size_t whylen)
{
	const char *t = api->setting(h, "connect_timeout");
	unsigned long n;
	char *end;

	c->socket = api->setting(h, "socket");
	c->user = api->setting(h, "user");
	c->password = api->setting(h, "password");
	if (c->socket == NULL || c->socket[0] == '\0')
		c->socket = DEFAULT_SOCKET;
	if (c->user == NULL || c->user[0] == '\0')
		c->user = DEFAULT_USER;
	if (t == NULL)
		t = DEFAULT_TIMEOUT;
	errno = 0;
	n = strtoul(t, &end, 10);
	if (t[0] < '0' || t[0] > '9' || *end != '\0' || errno != 0 || n == 0 ||
	    n > TIMEOUT_MAX_S) {
		set_why(why, whylen, "setting connect_timeout \"%.40s\" is not a number of "
		    "seconds from 1 to %u", t, TIMEOUT_MAX_S);
		return -1;
	}
	c->timeout_s = (unsigned)n;
	return 0;
}

/*
 * The connection and the library both end here: the host unloads the
 * plug-in, and libmariadb with it, after each call, so what the library
 * set up is given back now rather than lost.
 */
static void
db_close(MYSQL *m)
{
	mysql_close(m);
	mysql_library_end();
}

/*
 * Connect over the unix socket of the settings, never TCP, each step
 * bounded by the timeout; db_close() ends it. NULL with a one-line reason
 * in why.
 */
static MYSQL *
db_connect(const struct conn *c, char *why, size_t whylen)
{
	unsigned int protocol = MYSQL_PROTOCOL_SOCKET, timeout = c->timeout_s;
	MYSQL *m;

	if (mysql_library_init(0, NULL, NULL) != 0 || (m = mysql_init(NULL)) == NULL) {
		set_why(why, whylen, "cannot set up a MariaDB connection: out of memory");
		mysql_library_end();
		return NULL;
	}
	mysql_options(m, MYSQL_OPT_PROTOCOL, &protocol);
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	if (mysql_real_connect(m, "localhost", c->user, c->password, NULL, 0, c->socket,
	    0) == NULL) {
		set_why(why, whylen, "cannot connect to MariaDB as %s: %s", c->user,
		    mysql_error(m));
		db_close(m);
		return NULL;
	}
	return m;
}

/*
 * Run sql, which answers one row of nfields; copy its fields into out
 * (malloc'd, the caller frees them). -1 with why for an error, another
 * number of rows or fields, or a NULL field.
 */
static int
query_row(MYSQL *m, const char *sql, char **out, unsigned nfields, char *why, size_t whylen)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc = -1;

	if (mysql_query(m, sql) != 0 || (res = mysql_store_result(m)) == NULL) {
		set_why(why, whylen, "%s: %s", sql, mysql_error(m));
		goto out;
	}
	if (mysql_num_rows(res) != 1 || mysql_num_fields(res) != nfields ||
	    (row = mysql_fetch_row(res)) == NULL) {
		set_why(why, whylen, "%s: %llu rows of %u fields, expected one of %u", sql,
		    (unsigned long long)mysql_num_rows(res), mysql_num_fields(res), nfields);
		goto out;
	}
	for (unsigned i = 0; i < nfields; i++)
		if (row[i] == NULL) {
			set_why(why, whylen, "%s: field %u is NULL", sql, i + 1);
			goto out;
		}
	for (unsigned i = 0; i < nfields; i++)
		if ((out[i] = strdup(row[i])) == NULL) {
			set_why(why, whylen, "%s: out of memory", sql);
			while (i > 0)
				free(out[--i]);
			goto out;
		}
	rc = 0;
out:
	if (res != NULL)
		mysql_free_result(res);
	return rc;
}

/* Read up to max bytes of path into buf; the length, or -1 with errno. */
static ssize_t
read_small(const char *path, char *buf, size_t max)
{
	ssize_t n, len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((size_t)len < max && (n = read(fd, buf + len, max - (size_t)len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			len = -1;
			break;
		}
		len += n;
	}
	close(fd);
	return len;
}

/* The pid in the server's pid file, relative to the data folder when not absolute. */
static pid_t
read_pid_file(const char *pid_file, const char *datadir, char *why, size_t whylen)
{
	char path[PATH_MAX], buf[32], *end;
	long pid;
	ssize_t n;

	if (pid_file[0] == '/')
		snprintf(path, sizeof(path), "%s", pid_file);
	else
		snprintf(path, sizeof(path), "%s/%s", datadir, pid_file);
	if ((n = read_small(path, buf, sizeof(buf) - 1)) < 0) {
		set_why(why, whylen, "the server's pid file %s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\0' && *end != '\n') || errno != 0 || pid <= 1 ||
	    pid > INT_MAX) {
		set_why(why, whylen, "the server's pid file %s holds no pid", path);
		return -1;
	}
	return (pid_t)pid;
}

/*
 * A MariaDB unit's name: mariadb, mysql or mysqld, maybe an instance
 * (mariadb@main), then .service. A server started by hand inside another
 * service (a CI runner, a shell of a service) is not that service.
 */
static bool
unit_is_mariadb(const char *unit)
{
	static const char *const names[] = { "mariadb", "mysql", "mysqld" };
	size_t len = strlen(unit);

	if (len <= 8 || strcmp(unit + len - 8, ".service") != 0)
		return false;
	for (size_t i = 0; i < nitems(names); i++) {
		size_t n = strlen(names[i]);

		if (strncmp(unit, names[i], n) == 0 && (unit[n] == '.' || unit[n] == '@'))
			return true;
	}
	return false;
}

/* The MariaDB service of systemd whose cgroup holds pid ("mariadb.service"), or "". */
static void
read_unit(pid_t pid, char *unit, size_t unitlen)
{
	char path[64], buf[4096], *line, *save = NULL, *base;
	ssize_t n;

	unit[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if ((n = read_small(path, buf, sizeof(buf) - 1)) <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if ((base = strrchr(line, '/')) == NULL || !unit_is_mariadb(++base) ||
		    strlen(base) >= unitlen)
			continue;
		memcpy(unit, base, strlen(base) + 1);
		return;
	}
}

static void
server_free(struct server *s)
{
	free(s->argv);
	free(s->cmdline);
	memset(s, 0, sizeof(*s));
}

/*
 * The process behind the pid file, read from /proc: its arguments, its
 * program, its owner and its systemd service. A pid file left by a server
 * that is gone, or naming another program, is refused.
 */
static int
server_read(pid_t pid, struct server *s, char *why, size_t whylen)
{
	char path[64], *base;
	struct passwd *pw;
	struct stat st;
	ssize_t n;
	int i;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((n = readlink(path, s->exe, sizeof(s->exe) - 1)) < 0) {
		set_why(why, whylen, "the server's pid file names process %d: %s", (int)pid,
		    strerror(errno));
		goto fail;
	}
	s->exe[n] = '\0';
	if ((base = strstr(s->exe, " (deleted)")) != NULL && base[10] == '\0')
		*base = '\0';
	base = strrchr(s->exe, '/') ? strrchr(s->exe, '/') + 1 : s->exe;
	if (strcmp(base, "mariadbd") != 0 && strcmp(base, "mysqld") != 0) {
		set_why(why, whylen, "the server's pid file names process %d, which runs %s, "
		    "not mariadbd", (int)pid, s->exe);
		goto fail;
	}
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) == -1) {
		set_why(why, whylen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((pw = getpwuid(st.st_uid)) != NULL)
		snprintf(s->owner, sizeof(s->owner), "%s", pw->pw_name);
	else
		snprintf(s->owner, sizeof(s->owner), "%u", (unsigned)st.st_uid);

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((s->cmdline = malloc(CMDLINE_MAX + 1)) == NULL)
		n = -1;
	else
		n = read_small(path, s->cmdline, CMDLINE_MAX);
	if (n <= 0) {
		set_why(why, whylen, "the command line of the server (pid %d): %s", (int)pid,
		    n == 0 ? "empty" : strerror(errno));
		goto fail;
	}
	if (s->cmdline[n - 1] != '\0')
		s->cmdline[n++] = '\0';    /* cut at CMDLINE_MAX, or rewritten by the program */
	for (ssize_t j = 0; j < n; j++)
		if (s->cmdline[j] == '\0')
			s->argc++;
	if ((s->argv = calloc((size_t)s->argc + 1, sizeof(*s->argv))) == NULL) {
		set_why(why, whylen, "out of memory");
		goto fail;
	}
	for (i = 0, base = s->cmdline; i < s->argc; i++, base += strlen(base) + 1)
		s->argv[i] = base;
	read_unit(pid, s->unit, sizeof(s->unit));
	return 0;
fail:
	server_free(s);
	return -1;
}

/* True when sh leaves s as one word as it is (the first word must not look like VAR=). */
static bool
sh_plain(const char *s, bool first)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("_-./:,+@%", c) != NULL || (c == '=' && !first)))
			return false;
	}
	return true;
}

/*
 * Append word to buf (len bytes used of size) quoted for /bin/sh -c: as it
 * is when sh would leave it alone, otherwise in single quotes with each '
 * written '\''. -1 when it does not fit.
 */
static int
sh_append(char *buf, size_t size, size_t *len, const char *word, bool first)
{
	size_t n = *len;

#define PUT(ch) do { if (n + 1 >= size) return -1; buf[n++] = (ch); } while (0)
	if (!first)
		PUT(' ');
	if (sh_plain(word, first)) {
		for (const char *c = word; *c != '\0'; c++)
			PUT(*c);
	} else {
		PUT('\'');
		for (const char *c = word; *c != '\0'; c++) {
			if (*c == '\'') {
				PUT('\'');
				PUT('\\');
				PUT('\'');
			}
			PUT(*c);
		}
		PUT('\'');
	}
#undef PUT
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Whether the arguments switch user: --user=NAME, --user NAME, -uNAME, -u NAME. */
static bool
has_user_option(const struct server *s)
{
	for (int i = 1; i < s->argc; i++) {
		const char *a = s->argv[i];

		if (strcmp(a, "--user") == 0 || strncmp(a, "--user=", 7) == 0 ||
		    (a[0] == '-' && a[1] == 'u'))
			return true;
	}
	return false;
}

/*
 * The command that starts the server again as it runs now, for /bin/sh -c:
 * its own arguments, each quoted as needed. Two changes only, each so the
 * command works when the engine (root) runs it: a program named by a
 * relative path is named by its absolute one, and a server running as
 * another user than root without --user gets --user=OWNER (mariadbd
 * switches to it itself). -1 with why when it is not one line or longer
 * than the host takes.
 */
static int
start_command(const struct server *s, char *buf, size_t size, char *why, size_t whylen)
{
	size_t len = 0;
	char user[80];

	buf[0] = '\0';
	for (int i = 0; i < s->argc; i++) {
		const char *word = s->argv[i];

		for (const char *c = word; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				set_why(why, whylen, "argument %d of the server's command line has "
				    "a control character; no start command can be made of it", i);
				return -1;
			}
		if (i == 0 && word[0] != '/' && strchr(word, '/') != NULL)
			word = s->exe;
		if (sh_append(buf, size, &len, word, i == 0) < 0)
			goto overlong;
	}
	if (strcmp(s->owner, "root") != 0 && !has_user_option(s)) {
		snprintf(user, sizeof(user), "--user=%s", s->owner);
		if (sh_append(buf, size, &len, user, false) < 0)
			goto overlong;
	}
	return 0;
overlong:
	set_why(why, whylen, "the server's command line is longer than a start command "
	    "may be (%d bytes)", START_MAX);
	return -1;
}

/*
 * The option files the server read, given to add_config: none after
 * --no-defaults, only the file of --defaults-file, otherwise the Debian
 * set that exists and the file of --defaults-extra-file. mariadbd takes
 * these options only as its first arguments, and so are they looked for.
 */
static int
add_option_files(struct lifeline_host *h, const struct lifeline_host_api *api,
    const struct server *s)
{
	const char *only = NULL, *extra = NULL;
	bool none = false;
	char msg[PATH_MAX + 64], *path;
	int rc = 0;

	for (int i = 1; i < s->argc; i++) {
		const char *a = s->argv[i];

		if (strcmp(a, "--no-defaults") == 0)
			none = true;
		else if (strncmp(a, "--defaults-file=", 16) == 0)
			only = a + 16;
		else if (strncmp(a, "--defaults-extra-file=", 22) == 0)
			extra = a + 22;
		else if (strncmp(a, "--defaults-group-suffix=", 24) != 0 &&
		    strcmp(a, "--print-defaults") != 0)
			break;
	}
	if (none)
		return 0;
	if (only == NULL)
		for (size_t i = 0; i < nitems(debian_option_files); i++)
			if (access(debian_option_files[i], F_OK) == 0 &&
			    api->add_config(h, debian_option_files[i]) < 0)
				return -1;
	for (int k = 0; k < 2; k++) {
		const char *file = k == 0 ? only : extra;

		if (file == NULL)
			continue;
		/* mariadbd has left the folder a relative name was taken from. */
		if (file[0] != '/' || (path = realpath(file, NULL)) == NULL) {
			set_why(msg, sizeof(msg), "option file %s of the server's command line is "
			    "%s; not declared", file, file[0] != '/' ? "a relative path" :
			    strerror(errno));
			api->log(h, LIFELINE_LOG_INFO, msg);
			continue;
		}
		rc = api->add_config(h, path);
		free(path);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/*
 * Ask the running server where its data, pid file and socket are, then
 * read its process from /proc, and declare the data folder, the option
 * files, the service (its systemd unit, or the command it was started
 * with), the query check and a rule.
 */
static int
discover(struct lifeline_host *h, const struct lifeline_host_api *api)
{
	enum { DATADIR, PID_FILE, SOCKET, VERSION, NFIELDS };
	char *v[NFIELDS] = { NULL }, why[WHY_LEN] = "", start[START_MAX + 1], msg[WHY_LEN];
	struct lifeline_service svc = { .size = sizeof(svc), .name = SERVICE_NAME };
	struct lifeline_check chk = {
		.size = sizeof(chk), .service = SERVICE_NAME, .check = "query",
		.interval_ms = CHECK_INTERVAL_MS, .timeout_ms = CHECK_TIMEOUT_MS,
	};
	struct server srv = { .pid = 0 };
	MYSQL *m = NULL;
	bool have_server = false;
	int rc = LIFELINE_FAILED;
	struct conn c;
	pid_t pid;
	size_t n;

	if (read_conn(h, api, &c, why, sizeof(why)) < 0 ||
	    (m = db_connect(&c, why, sizeof(why))) == NULL ||
	    query_row(m, "SELECT @@datadir, @@pid_file, @@socket, @@version", v, NFIELDS, why,
	    sizeof(why)) < 0)
		goto out;
	db_close(m);
	m = NULL;
	for (n = strlen(v[DATADIR]); n > 1 && v[DATADIR][n - 1] == '/'; n--)
		v[DATADIR][n - 1] = '\0';
	if ((pid = read_pid_file(v[PID_FILE], v[DATADIR], why, sizeof(why))) < 0 ||
	    server_read(pid, &srv, why, sizeof(why)) < 0)
		goto out;
	have_server = true;
	set_why(msg, sizeof(msg), "MariaDB %s, pid %d run by %s, data %s, socket %s",
	    v[VERSION], (int)pid, srv.owner, v[DATADIR], v[SOCKET]);
	api->log(h, LIFELINE_LOG_INFO, msg);

	/* Under systemd, the server's own unit; otherwise the command it runs. */
	if (access("/run/systemd/system", F_OK) == 0 && srv.unit[0] != '\0') {
		svc.unit = srv.unit;
	} else {
		if (start_command(&srv, start, sizeof(start), why, sizeof(why)) < 0)
			goto out;
		svc.start = start;
		svc.stop = "signal TERM";  /* mariadbd shuts down cleanly on SIGTERM */
	}
	if (add_option_files(h, api, &srv) < 0 || api->add_data(h, v[DATADIR]) < 0 ||
	    api->add_service(h, &svc) < 0 || api->add_check(h, &chk) < 0 ||
	    api->add_rule(h, "mariadb-connections: threads_connected > 90% of "
	    "max_connections") < 0)
		goto out;                  /* the host says what it refused */
	rc = LIFELINE_OK;
out:
	if (why[0] != '\0')
		api->log(h, LIFELINE_LOG_WARNING, why);
	if (m != NULL)
		db_close(m);
	if (have_server)
		server_free(&srv);
	for (int i = 0; i < NFIELDS; i++)
		free(v[i]);
	return rc;
}

/* Check "query": the server answers SELECT 1 with one row "1". */
static int
check(struct lifeline_host *h, const struct lifeline_host_api *api, const char *name,
    char *why, size_t whylen)
{
	char *one = NULL;
	MYSQL *m = NULL;
	int rc = LIFELINE_FAILED;
	struct conn c;

	if (name == NULL || strcmp(name, "query") != 0) {
		set_why(why, whylen, "no check %.64s, expected query", name ? name : "(null)");
		return LIFELINE_FAILED;
	}
	if (read_conn(h, api, &c, why, whylen) < 0 || (m = db_connect(&c, why, whylen)) == NULL ||
	    query_row(m, "SELECT 1", &one, 1, why, whylen) < 0)
		goto out;
	if (strcmp(one, "1") != 0) {
		set_why(why, whylen, "SELECT 1 answered \"%.64s\"", one);
		goto out;
	}
	rc = LIFELINE_OK;
out:
	if (m != NULL)
		db_close(m);
	free(one);
	return rc;
}

static const struct lifeline_plugin plugin = {
	.api_version = LIFELINE_PLUGIN_API_VERSION,
	.size = sizeof(struct lifeline_plugin),
	.name = "mariadb",
	.version = "1.0",
	.summary = "MariaDB: data folder, option files and server command from the running "
	    "server; a SELECT 1 check over its unix socket",
	.discover = discover,
	.check = check,
	.hook = NULL,
};

const struct lifeline_plugin *
lifeline_plugin_entry(void)
{
	return &plugin;
}
