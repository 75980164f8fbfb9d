/*
 * What the postgresql plug-in declares, decided from what it read: the
 * service (a Debian systemd unit or the postmaster's own command line),
 * the configuration folder, and the small parsers of postmaster.pid and
 * /proc. Pure functions, no I/O, so a table-driven test covers them.
 */
#ifndef LIFELINE_PGPLAN_H
#define LIFELINE_PGPLAN_H

#include <stdbool.h>
#include <stddef.h>

#define PG_START_MAX 1000          /* the host's limit on a command line */
#define PG_PATH_MAX  4096

/* What discover found about the running server. */
struct pg_facts {
	const char *data_directory;    /* SHOW data_directory */
	const char *config_file;       /* SHOW config_file */
	unsigned    version_num;       /* SHOW server_version_num: 150018 */
	const char *cmdline;           /* the postmaster's /proc/PID/cmdline, NUL-separated */
	size_t      cmdline_len;
	const char *exe;               /* its /proc/PID/exe, or NULL when unreadable */
	const char *user;              /* run it as this user and group, or NULL when */
	const char *group;             /* the host runs as its owner already */
	bool        systemd;           /* systemd is PID 1 */
};

/* What discover declares. */
struct pg_plan {
	char unit[256];                /* "postgresql@15-main.service", or "" */
	char start[PG_START_MAX + 1];  /* else the command line for /bin/sh -c */
	char config_dir[PG_PATH_MAX];  /* config_file's folder when outside the data, or "" */
};

/*
 * Decide the plan from the facts. Returns 0, or -1 with why written when
 * the postmaster's command line cannot be turned into a start command
 * (empty, a control character, longer than PG_START_MAX once quoted).
 */
int pg_plan(const struct pg_facts *f, struct pg_plan *p, char *why, size_t whylen);

/* The Debian unit of a config_file /etc/postgresql/MAJOR/CLUSTER/postgresql.conf
 * whose MAJOR is the server's own; false when it is not that layout. */
bool pg_debian_unit(const char *config_file, unsigned version_num, char *unit, size_t len);

/* The pid on the first line of a postmaster.pid, or -1 when there is none. */
long pg_pidfile_pid(const char *text);

/* The real uid and gid of a /proc/PID/status text; 0, or -1 when missing. */
int pg_status_ids(const char *status, unsigned *uid, unsigned *gid);

/* One line for a reason out of a libpq or server message: its first line,
 * after "... failed: " when libpq says which connection failed, with runs of
 * blanks made one space. */
void pg_one_line(const char *msg, char *out, size_t len);

#endif
