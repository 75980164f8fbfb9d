/*
 * A daemon's command-line options as one table: getopt_long, the usage
 * text and the option list of its man page all read it, so they cannot
 * drift apart.
 */
#ifndef LIFELINE_OPTIONS_H
#define LIFELINE_OPTIONS_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

struct option_row {
	const char *lng;      /* --name */
	int         shrt;     /* -c */
	const char *arg;      /* the argument's name, or NULL */
	const char *help;     /* one line, lower case, no final period */
};

/* "usage: SYNOPSIS" then one line per option. */
void options_usage(FILE *out, const char *synopsis, const struct option_row *rows, size_t n);

/* The options as mdoc .It items, for the build to put in the man page. */
void options_mdoc(FILE *out, const struct option_row *rows, size_t n);

/*
 * Fill getopt_long's tables: longopts needs n + 1 entries, shortopts
 * 2 * n + 1 bytes.
 */
void options_getopt(const struct option_row *rows, size_t n, struct option *longopts,
    char *shortopts);

#endif
