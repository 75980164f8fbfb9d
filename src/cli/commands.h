/*
 * The lifeline command table: every command's name, arguments, help and
 * handler in one place. `lifeline help`, the usage on bad input and the
 * command list of lifeline(8) are all printed from it.
 */
#ifndef LIFELINE_COMMANDS_H
#define LIFELINE_COMMANDS_H

#include <stdio.h>

struct cli_ctx {
	const char *conf_path;     /* -f FILE, or NULL for the default */
	const char *socket;        /* --socket PATH, or NULL: STATE_DIR/lifelined.sock */
};

struct cli_command {
	const char *name;
	const char *args;
	const char *help;
	int (*fn)(struct cli_ctx *ctx, int argc, char **argv);  /* argv[0] is the name */
};

extern const struct cli_command cli_commands[];

/* Run argv[0] from the table; returns the exit code (2 for bad usage). */
int cli_dispatch(struct cli_ctx *ctx, int argc, char **argv);

/* The usage text, or with mdoc the command list as .It items for lifeline(8). */
void cli_usage(FILE *out, int mdoc);

#endif
