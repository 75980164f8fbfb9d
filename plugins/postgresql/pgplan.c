/*
 * The postgresql plug-in's decisions (pgplan.h): from what discover read
 * about the running server to what it declares, and the parsers of the
 * texts it read. Nothing here opens a file or talks to the server.
 */
#include "pgplan.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A command line being written into a fixed buffer; full once it would not fit. */
struct cmd {
	char   *s;
	size_t  len, off;
	bool    full;
};

static void
cmd_put(struct cmd *c, const char *s, size_t n)
{
	if (c->full || c->off + n >= c->len) {
		c->full = true;
		return;
	}
	memcpy(c->s + c->off, s, n);
	c->off += n;
	c->s[c->off] = '\0';
}

/*
 * Whether /bin/sh takes a as one word as it is. The first word must not
 * hold '=', or the shell would read it as an assignment.
 */
static bool
sh_plain(const char *a, bool first)
{
	if (*a == '\0')
		return false;
	for (; *a != '\0'; a++) {
		if ((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') || (*a >= '0' && *a <= '9'))
			continue;
		if (strchr("_./:,@%+-", *a) == NULL && (first || *a != '='))
			return false;
	}
	return true;
}

/* Append one argument, quoted for /bin/sh -c when it needs it: 'it'\''s'. */
static void
cmd_arg(struct cmd *c, const char *a)
{
	bool first = c->off == 0;

	if (!first)
		cmd_put(c, " ", 1);
	if (sh_plain(a, first)) {
		cmd_put(c, a, strlen(a));
		return;
	}
	cmd_put(c, "'", 1);
	for (; *a != '\0'; a++) {
		if (*a == '\'')
			cmd_put(c, "'\\''", 4);
		else
			cmd_put(c, a, 1);
	}
	cmd_put(c, "'", 1);
}

static bool
has_control(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f)
			return true;
	return false;
}

/* path is dir or below it. */
static bool
path_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * The postmaster's command line as a start command: run as its owner by
 * setpriv, which execs it in place, so the pid the engine started is the
 * postmaster's and "signal INT" reaches it (runuser would keep a parent of
 * its own that blocks SIGINT). A program named without a folder becomes
 * its /proc/PID/exe, and a data directory that is relative or only in the
 * environment (PGDATA) becomes -D DATA_DIRECTORY, so the command runs the
 * same from any folder and environment.
 */
static int
start_command(const struct pg_facts *f, char *out, size_t len, char *why, size_t whylen)
{
	const char *args[256];
	size_t argc = 0, pos = 0;
	struct cmd c = { .s = out, .len = len };
	bool data_given = false;
	char opt[320];

	out[0] = '\0';
	if (f->cmdline_len == 0 || f->cmdline[f->cmdline_len - 1] != '\0') {
		snprintf(why, whylen, "the postmaster's command line is %s", f->cmdline_len == 0 ?
		    "empty" : "not a list of NUL-terminated arguments");
		return -1;
	}
	while (pos < f->cmdline_len) {
		if (argc == sizeof(args) / sizeof(args[0])) {
			snprintf(why, whylen, "the postmaster's command line has more than %zu "
			    "arguments", argc);
			return -1;
		}
		args[argc] = f->cmdline + pos;
		if (has_control(args[argc])) {
			snprintf(why, whylen, "argument %zu of the postmaster's command line holds "
			    "a control character", argc);
			return -1;
		}
		pos += strlen(args[argc++]) + 1;
	}
	if (args[0][0] == '\0') {
		snprintf(why, whylen, "the postmaster's command line is empty");
		return -1;
	}
	if (f->user != NULL) {
		cmd_arg(&c, "setpriv");
		snprintf(opt, sizeof(opt), "--reuid=%s", f->user);
		cmd_arg(&c, opt);
		snprintf(opt, sizeof(opt), "--regid=%s", f->group);
		cmd_arg(&c, opt);
		cmd_arg(&c, "--init-groups");
		cmd_arg(&c, "--");
	}
	cmd_arg(&c, args[0][0] != '/' && f->exe != NULL ? f->exe : args[0]);
	for (size_t i = 1; i < argc; i++) {
		const char *a = args[i];

		if (strcmp(a, "-D") == 0 && i + 1 < argc) {
			data_given = true;
			cmd_arg(&c, a);
			a = args[++i];
			cmd_arg(&c, a[0] == '/' ? a : f->data_directory);
		} else if (strncmp(a, "-D", 2) == 0 && a[2] != '\0') {
			data_given = true;
			if (a[2] == '/') {
				cmd_arg(&c, a);
			} else {
				cmd_arg(&c, "-D");
				cmd_arg(&c, f->data_directory);
			}
		} else {
			cmd_arg(&c, a);
		}
	}
	if (!data_given) {
		cmd_arg(&c, "-D");
		cmd_arg(&c, f->data_directory);
	}
	if (c.full) {
		snprintf(why, whylen, "the postmaster's command line, quoted for the shell, is "
		    "longer than %zu characters", len - 1);
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
pg_plan(const struct pg_facts *f, struct pg_plan *p, char *why, size_t whylen)
{
	char dir[PG_PATH_MAX];
	char *slash;

	memset(p, 0, sizeof(*p));
	snprintf(dir, sizeof(dir), "%s", f->config_file);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (!path_inside(dir, f->data_directory))
			snprintf(p->config_dir, sizeof(p->config_dir), "%s", dir);
	}
	if (f->systemd && pg_debian_unit(f->config_file, f->version_num, p->unit,
	    sizeof(p->unit)))
		return 0;
	return start_command(f, p->start, sizeof(p->start), why, whylen);
}

bool
pg_debian_unit(const char *config_file, unsigned version_num, char *unit, size_t len)
{
	static const char prefix[] = "/etc/postgresql/";
	const char *major_at, *cluster, *end;
	char major[24];
	size_t mlen, clen;
	int n;

	/* 15 from 150018; 9.6 from 90624, when the major version had two parts */
	if (version_num >= 100000)
		snprintf(major, sizeof(major), "%u", version_num / 10000);
	else
		snprintf(major, sizeof(major), "%u.%u", version_num / 10000, version_num / 100 % 100);
	mlen = strlen(major);
	if (strncmp(config_file, prefix, sizeof(prefix) - 1) != 0)
		return false;
	major_at = config_file + sizeof(prefix) - 1;
	if (strncmp(major_at, major, mlen) != 0 || major_at[mlen] != '/')
		return false;
	cluster = major_at + mlen + 1;
	if ((end = strchr(cluster, '/')) == NULL || strcmp(end, "/postgresql.conf") != 0)
		return false;
	clen = (size_t)(end - cluster);
	if (clen == 0 || cluster[0] == '.')
		return false;
	for (size_t i = 0; i < clen; i++) {
		char ch = cluster[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return false;
	}
	n = snprintf(unit, len, "postgresql@%s-%.*s.service", major, (int)clen, cluster);
	return n > 0 && (size_t)n < len;
}

long
pg_pidfile_pid(const char *text)
{
	long pid = 0;
	const char *s;

	for (s = text; *s >= '0' && *s <= '9'; s++) {
		pid = pid * 10 + (*s - '0');
		if (pid > INT_MAX)
			return -1;
	}
	/* A standalone backend writes its pid negated: no postmaster then. */
	if (s == text || (*s != '\n' && *s != '\0') || pid == 0)
		return -1;
	return pid;
}

/* The first number of the line "KEY:\t..." of a /proc/PID/status text. */
static int
status_field(const char *status, const char *key, unsigned *v)
{
	size_t klen = strlen(key);
	unsigned long x = 0;
	const char *p;

	for (p = status; p != NULL; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) != 0)
			continue;
		for (p += klen; *p == ' ' || *p == '\t'; p++)
			;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++)
			if ((x = x * 10 + (unsigned long)(*p - '0')) > UINT_MAX)
				return -1;
		*v = (unsigned)x;
		return 0;
	}
	return -1;
}

int
pg_status_ids(const char *status, unsigned *uid, unsigned *gid)
{
	if (status_field(status, "Uid:", uid) < 0 || status_field(status, "Gid:", gid) < 0)
		return -1;
	return 0;
}

void
pg_one_line(const char *msg, char *out, size_t len)
{
	static const char conn[] = "connection to server ";
	const char *end, *failed;
	bool blank = false;
	size_t o = 0;

	if (len == 0)
		return;
	if (msg == NULL)
		msg = "";
	end = msg + strcspn(msg, "\r\n");
	if (strncmp(msg, conn, sizeof(conn) - 1) == 0 &&
	    (failed = memmem(msg, (size_t)(end - msg), " failed: ", 9)) != NULL)
		msg = failed + 9;
	for (; msg < end && o + 1 < len; msg++) {
		if (*msg == ' ' || *msg == '\t') {
			blank = true;
			continue;
		}
		if (blank && o > 0) {
			if (o + 2 >= len)
				break;
			out[o++] = ' ';
		}
		blank = false;
		out[o++] = *msg;
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, len, "no reason given");
}
