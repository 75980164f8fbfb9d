/*
 * The postgresql plug-in: finds a running PostgreSQL server's data,
 * configuration files and postmaster through libpq and /proc, and checks
 * it with SELECT 1. The decisions are in pgplan.c; this file reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "lifeline/plugin.h"
#include "pgplan.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#define WHY_MAX     512
#define SERVICE     "postgresql"
#define CHECK_EVERY 2000           /* ms */
#define CHECK_LIMIT 1500           /* ms */
#define CMDLINE_MAX 8192           /* far above what fits in a start command */

/* The settings a plug-in install may give, and their defaults (NULL: none). */
static const struct {
	const char *key, *fallback;
} settings[] = {
	{ "host", "/var/run/postgresql" },
	{ "port", "5432" },
	{ "user", "postgres" },
	{ "dbname", "postgres" },
	{ "password", NULL },
	{ "connect_timeout", "2" },
};

/* What discover reads with SHOW, in this order. */
enum { SHOW_DATA, SHOW_CONFIG, SHOW_HBA, SHOW_IDENT, SHOW_VERSION, SHOW_N };
static const char *const shown_names[SHOW_N] = {
	[SHOW_DATA] = "data_directory", [SHOW_CONFIG] = "config_file",
	[SHOW_HBA] = "hba_file", [SHOW_IDENT] = "ident_file",
	[SHOW_VERSION] = "server_version_num",
};

/* The running postmaster, as /proc shows it. */
struct postmaster {
	long   pid;
	char   cmdline[CMDLINE_MAX];
	size_t cmdline_len;
	char   exe[PATH_MAX];          /* "" when unreadable */
	char   user[256], group[256];  /* "" when the plug-in runs as its owner */
};

static const char *
setting(struct lifeline_host *h, const struct lifeline_host_api *api, const char *key)
{
	const char *v = api->setting(h, key);

	for (size_t i = 0; v == NULL && i < nitems(settings); i++)
		if (strcmp(settings[i].key, key) == 0)
			v = settings[i].fallback;
	return v;
}

/*
 * Connect with the settings, as keyword and value arrays (no conninfo
 * string is ever assembled, and dbname is not expanded). NULL with a
 * one-line reason in why when the server cannot be reached.
 */
static PGconn *
pg_connect(struct lifeline_host *h, const struct lifeline_host_api *api, char *why,
    size_t whylen)
{
	const char *keys[nitems(settings) + 2], *values[nitems(settings) + 2];
	char reason[WHY_MAX];
	size_t n = 0;
	PGconn *conn;

	for (size_t i = 0; i < nitems(settings); i++) {
		if ((values[n] = setting(h, api, settings[i].key)) != NULL)
			keys[n++] = settings[i].key;
	}
	keys[n] = "application_name";
	values[n++] = "lifeline";
	keys[n] = values[n] = NULL;
	conn = PQconnectdbParams(keys, values, 0);
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return conn;
	pg_one_line(conn != NULL ? PQerrorMessage(conn) : "out of memory", reason,
	    sizeof(reason));
	snprintf(why, whylen, "cannot connect to %s port %s: %s", setting(h, api, "host"),
	    setting(h, api, "port"), reason);
	PQfinish(conn);
	return NULL;
}

/* Run sql, which returns one value, into out. -1 with why when it does not. */
static int
pg_value(PGconn *conn, const char *sql, char *out, size_t len, char *why, size_t whylen)
{
	PGresult *res = PQexec(conn, sql);
	char reason[WHY_MAX];
	int rc = -1;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_one_line(res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn), reason,
		    sizeof(reason));
		snprintf(why, whylen, "%s: %s", sql, reason);
	} else if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0)) {
		snprintf(why, whylen, "%s returned %d rows of %d columns, expected one value, "
		    "not NULL", sql, PQntuples(res), PQnfields(res));
	} else if ((size_t)PQgetlength(res, 0, 0) >= len) {
		snprintf(why, whylen, "%s returned %d bytes, more than the %zu expected", sql,
		    PQgetlength(res, 0, 0), len - 1);
	} else {
		memcpy(out, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0) + 1);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

/* The whole of a small file into buf, NUL-terminated; its length, or -1 with errno. */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while (off + 1 < len && (n = read(fd, buf + off, len - 1 - off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return (ssize_t)off;
}

/* The user and group to run as, by name where they have one. */
static void
owner_names(unsigned uid, unsigned gid, struct postmaster *pm)
{
	struct passwd *pw = getpwuid(uid);
	struct group *gr = getgrgid(gid);

	if (pw != NULL)
		snprintf(pm->user, sizeof(pm->user), "%s", pw->pw_name);
	else
		snprintf(pm->user, sizeof(pm->user), "%u", uid);
	if (gr != NULL)
		snprintf(pm->group, sizeof(pm->group), "%s", gr->gr_name);
	else
		snprintf(pm->group, sizeof(pm->group), "%u", gid);
}

/*
 * The postmaster of data_directory: its pid from postmaster.pid, its
 * command line, program and owner from /proc. -1 with why when it is not
 * there (a server on another host) or is not a postgres.
 */
static int
read_postmaster(const char *data_directory, struct postmaster *pm, char *why, size_t whylen)
{
	char path[PATH_MAX + 32], text[4096];
	const char *name;
	unsigned uid, gid;
	ssize_t n;

	memset(pm, 0, sizeof(*pm));
	snprintf(path, sizeof(path), "%s/postmaster.pid", data_directory);
	if (read_small(path, text, sizeof(text)) < 0) {
		snprintf(why, whylen, "cannot read %.300s: %s (is the server on this host?)", path,
		    strerror(errno));
		return -1;
	}
	if ((pm->pid = pg_pidfile_pid(text)) < 0) {
		snprintf(why, whylen, "%.300s holds no postmaster pid on its first line", path);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pm->pid);
	if ((n = read_small(path, pm->cmdline, sizeof(pm->cmdline))) <= 0) {
		snprintf(why, whylen, "cannot read the command line of postmaster %ld: %s",
		    pm->pid, n < 0 ? strerror(errno) : "it is empty");
		return -1;
	}
	if ((size_t)n + 1 >= sizeof(pm->cmdline)) {
		snprintf(why, whylen, "the command line of postmaster %ld is longer than %zu bytes",
		    pm->pid, sizeof(pm->cmdline) - 2);
		return -1;
	}
	pm->cmdline_len = (size_t)n;
	snprintf(path, sizeof(path), "/proc/%ld/exe", pm->pid);
	if ((n = readlink(path, pm->exe, sizeof(pm->exe) - 1)) < 0)
		n = 0;
	pm->exe[n] = '\0';
	/* postmaster.pid may be left from a server since gone, its pid now another's */
	name = strrchr(pm->exe[0] ? pm->exe : pm->cmdline, '/');
	name = name != NULL ? name + 1 : (pm->exe[0] ? pm->exe : pm->cmdline);
	if (strcmp(name, "postgres") != 0 && strcmp(name, "postmaster") != 0) {
		snprintf(why, whylen, "process %ld named in %.300s/postmaster.pid is not a postgres "
		    "but %.100s", pm->pid, data_directory, name);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%ld/status", pm->pid);
	if (read_small(path, text, sizeof(text)) < 0 || pg_status_ids(text, &uid, &gid) < 0) {
		snprintf(why, whylen, "cannot read the owner of postmaster %ld from %.64s", pm->pid,
		    path);
		return -1;
	}
	if (uid != geteuid())
		owner_names(uid, gid, pm);
	return 0;
}

static bool
systemd_booted(void)
{
	struct stat st;

	return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Declare the server as it runs now: its data directory, its configuration
 * files (and their folder when it is outside the data, as on Debian), the
 * service that starts it, the query check and a rule. A server that cannot
 * be reached or read is a failed discovery, with the reason logged.
 */
static int
discover(struct lifeline_host *h, const struct lifeline_host_api *api)
{
	char shown[SHOW_N][PG_PATH_MAX], why[WHY_MAX], sql[64];
	struct postmaster pm;
	struct pg_plan plan;
	struct pg_facts facts = { 0 };
	struct lifeline_service svc = { .size = sizeof(svc), .name = SERVICE };
	struct lifeline_check chk = {
		.size = sizeof(chk), .service = SERVICE, .check = "query",
		.interval_ms = CHECK_EVERY, .timeout_ms = CHECK_LIMIT,
	};
	PGconn *conn;

	if ((conn = pg_connect(h, api, why, sizeof(why))) == NULL)
		goto fail;
	for (size_t i = 0; i < SHOW_N; i++) {
		snprintf(sql, sizeof(sql), "SHOW %s", shown_names[i]);
		if (pg_value(conn, sql, shown[i], sizeof(shown[i]), why, sizeof(why)) < 0) {
			PQfinish(conn);
			goto fail;
		}
	}
	PQfinish(conn);
	if (read_postmaster(shown[SHOW_DATA], &pm, why, sizeof(why)) < 0)
		goto fail;

	facts.data_directory = shown[SHOW_DATA];
	facts.config_file = shown[SHOW_CONFIG];
	facts.version_num = (unsigned)strtoul(shown[SHOW_VERSION], NULL, 10);
	facts.cmdline = pm.cmdline;
	facts.cmdline_len = pm.cmdline_len;
	facts.exe = pm.exe[0] ? pm.exe : NULL;
	facts.user = pm.user[0] ? pm.user : NULL;
	facts.group = pm.user[0] ? pm.group : NULL;
	facts.systemd = systemd_booted();
	if (pg_plan(&facts, &plan, why, sizeof(why)) < 0)
		goto fail;

	if (plan.unit[0] != '\0') {
		svc.unit = plan.unit;
	} else {
		svc.start = plan.start;
		svc.stop = "signal INT";          /* PostgreSQL's fast shutdown */
	}
	if (api->add_data(h, shown[SHOW_DATA]) < 0 ||
	    api->add_config(h, shown[SHOW_CONFIG]) < 0 ||
	    api->add_config(h, shown[SHOW_HBA]) < 0 ||
	    api->add_config(h, shown[SHOW_IDENT]) < 0 ||
	    (plan.config_dir[0] != '\0' && api->add_config(h, plan.config_dir) < 0) ||
	    api->add_service(h, &svc) < 0 || api->add_check(h, &chk) < 0 ||
	    api->add_rule(h, "postgresql-connections: connections > 90% of max_connections") < 0)
		return LIFELINE_FAILED;            /* the host says which value it refused */
	return LIFELINE_OK;
fail:
	api->log(h, LIFELINE_LOG_WARNING, why);
	return LIFELINE_FAILED;
}

/* The server answers SELECT 1 with one row holding 1. */
static int
check_query(struct lifeline_host *h, const struct lifeline_host_api *api, char *why,
    size_t whylen)
{
	char value[16];
	PGconn *conn;
	int rc;

	if ((conn = pg_connect(h, api, why, whylen)) == NULL)
		return LIFELINE_FAILED;
	rc = pg_value(conn, "SELECT 1", value, sizeof(value), why, whylen);
	PQfinish(conn);
	if (rc < 0)
		return LIFELINE_FAILED;
	if (strcmp(value, "1") != 0) {
		snprintf(why, whylen, "SELECT 1 returned \"%s\"", value);
		return LIFELINE_FAILED;
	}
	return LIFELINE_OK;
}

static const struct {
	const char *name;
	int (*run)(struct lifeline_host *, const struct lifeline_host_api *, char *, size_t);
} checks[] = {
	{ "query", check_query },
};

static int
check(struct lifeline_host *h, const struct lifeline_host_api *api, const char *name,
    char *why, size_t whylen)
{
	for (size_t i = 0; i < nitems(checks); i++)
		if (strcmp(checks[i].name, name) == 0)
			return checks[i].run(h, api, why, whylen);
	snprintf(why, whylen, "no check %.64s, expected query", name);
	return LIFELINE_FAILED;
}

/*
 * Whether process pid is a postmaster serving data_directory: a postgres
 * whose working folder is that folder (the postmaster chdirs into it).
 */
static bool
serves(long pid, const char *data_directory)
{
	char path[64], exe[PATH_MAX], cwd[PATH_MAX], want[PATH_MAX];
	const char *name;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
	if ((n = readlink(path, exe, sizeof(exe) - 1)) <= 0)
		return false;
	exe[n] = '\0';
	name = strrchr(exe, '/');
	name = name != NULL ? name + 1 : exe;
	if (strcmp(name, "postgres") != 0 && strcmp(name, "postmaster") != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cwd", pid);
	if ((n = readlink(path, cwd, sizeof(cwd) - 1)) <= 0)
		return true;              /* a postgres we cannot look into: take it as one */
	cwd[n] = '\0';
	if (realpath(data_directory, want) == NULL)
		snprintf(want, sizeof(want), "%s", data_directory);
	return strcmp(cwd, want) == 0;
}

/*
 * pre-start: a postmaster.pid left by a server that is gone (the copy
 * replicated from a node that was lost keeps its pid, which here may be
 * nobody's or another process's) makes PostgreSQL refuse to start; it is
 * removed when no postmaster of this folder runs under that pid. Needs
 * the setting data_directory (`lifeline plugin install` records the data
 * folder it found there).
 */
static int
hook(struct lifeline_host *h, const struct lifeline_host_api *api, enum lifeline_hook when,
    char *why, size_t whylen)
{
	const char *dir = api->setting(h, "data_directory");
	char path[PATH_MAX + 32], text[512], msg[PATH_MAX + 128];
	long pid;

	if (when != LIFELINE_HOOK_PRE_START || dir == NULL)
		return LIFELINE_OK;
	snprintf(path, sizeof(path), "%s/postmaster.pid", dir);
	if (read_small(path, text, sizeof(text)) < 0)
		return LIFELINE_OK;       /* none: a clean stop, or a new cluster */
	pid = pg_pidfile_pid(text);
	if (pid > 0 && serves(pid, dir)) {
		snprintf(why, whylen, "a postmaster (pid %ld) already serves %.300s", pid, dir);
		return LIFELINE_FAILED;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(why, whylen, "cannot remove the stale %.300s: %s", path, strerror(errno));
		return LIFELINE_FAILED;
	}
	snprintf(msg, sizeof(msg), "removed %s, left by postmaster %ld, which no longer runs here",
	    path, pid);
	api->log(h, LIFELINE_LOG_INFO, msg);
	return LIFELINE_OK;
}

static const struct lifeline_plugin plugin = {
	.api_version = LIFELINE_PLUGIN_API_VERSION,
	.size = sizeof(struct lifeline_plugin),
	.name = "postgresql",
	.version = "1.0",
	.summary = "PostgreSQL: data, configuration and postmaster found through libpq; "
	    "checked with SELECT 1",
	.discover = discover,
	.check = check,
	.hook = hook,
};

__attribute__((visibility("default"))) const struct lifeline_plugin *
lifeline_plugin_entry(void)
{
	return &plugin;
}
