/*
 * The applications a lab protects (`lifeline lab up --app NAME`): the
 * sample, and PostgreSQL or MariaDB from Debian's packages with its data
 * in the protected folder. Here is what differs between them: the service
 * section of lifeline.conf, what is prepared before the engines start,
 * and the port the client waits for.
 */
#ifndef LIFELINE_LABAPP_H
#define LIFELINE_LABAPP_H

#include <stddef.h>
#include <stdio.h>

enum lab_app { LAB_APP_SAMPLE, LAB_APP_POSTGRESQL, LAB_APP_MARIADB };

#define LAB_PG_BIN      "/usr/lib/postgresql/15/bin"
#define LAB_PG_DATA     "/var/lib/lifeline-sample/pgdata"   /* inside each node */
#define LAB_PG_PORT     5432
#define LAB_MY_DATA     "/var/lib/lifeline-sample/mysql"    /* inside each node */
#define LAB_MY_RUN      "/var/lib/lifeline/mysql-run"       /* each node's own: socket, pid, my.cnf */
#define LAB_MY_PORT     3306

/* "sample", "postgresql", "mariadb"; -1 for anything else. */
int lab_app_parse(const char *name);

/* The TCP port the client waits for on the public IP. */
int lab_app_port(enum lab_app app);

/* NULL when what app needs is installed, else what is missing (static text). */
const char *lab_app_missing(enum lab_app app);

/*
 * The application's part of lifeline.conf: its [service NAME] name for
 * [protect] (service_name) and the section itself (written to f).
 */
const char *lab_app_service_name(enum lab_app app);
void lab_app_service_section(FILE *f, enum lab_app app, const char *check, const char *bindir);

/*
 * Before the engines start: make the application's data in datadir (the
 * primary's protected folder, seen from the host), and for each node
 * state folder in states (NULL-ended) what the application's checks need
 * there. 0, or -1 with why in err.
 */
int lab_app_prepare(enum lab_app app, const char *datadir, const char *const *states,
    const char *bindir, char *err, size_t errlen);

#endif
