/*
 * `lifeline lab`: a whole cluster on one machine, one network and mount
 * namespace per node, driven from the lab folder's lab.json.
 */
#ifndef LIFELINE_LAB_H
#define LIFELINE_LAB_H

#include <stdio.h>

#define LAB_DEFAULT_DIR "/run/lifeline-lab"

struct lab_command {
	const char     *name;
	const char     *args;           /* usage after the name, "" if none */
	const char     *help;           /* one sentence */
	int           (*run)(const char *dir, int argc, char **argv);  /* argv[0]: name */
};

/* Every subcommand, in the order usage lists them; ends with a NULL name. */
extern const struct lab_command lab_commands[];

/*
 * Run `lifeline lab ...`: argv[0] is "lab". Returns the exit code: 0 ok,
 * 1 failure (one line on stderr saying why), 2 bad usage. `exec` returns
 * the command's own exit status.
 */
int lab_main(int argc, char **argv);

/*
 * Print the subcommands, one per line with its help ("  up [--mode ...]
 * create ..."), or with mdoc set, `.It` items for the caller's `.Bl -tag`
 * list. The caller prints the heading.
 */
void lab_usage(FILE *out, int mdoc);

/*
 * From lab.c, for the lab subcommands that live in files of their own, so
 * that every one reads and refuses its arguments alike.
 *
 * lab_opt_value matches argv[*i] against "--name VALUE" or "--name=VALUE":
 * 1 with *val set (and *i past the value), 0 when argv[*i] is another word,
 * -1 when the value is missing; it prints nothing.
 *
 * lab_usage_error prints a usage error of subcommand cmd, what was wrong
 * and then its usage line from lab_commands, and returns 2, the exit code.
 */
int lab_opt_value(int argc, char **argv, int *i, const char *name,
    const char **val);
int lab_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
