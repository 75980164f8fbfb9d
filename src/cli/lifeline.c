/*
 * lifeline: the command-line tool. Global options, then one command from
 * the table in commands.c.
 */
#include "cli/commands.h"
#include "common/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' },
		{ "help",   no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_ctx ctx = { NULL, NULL };
	int ch;

	log_init(LOG_TO_STDERR, 0, "lifeline");
	/* "+": stop at the command, its options are its own. */
	while ((ch = getopt_long(argc, argv, "+f:s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': ctx.conf_path = optarg; break;
		case 's': ctx.socket = optarg; break;
		case 'h': cli_usage(stdout, 0); return 0;
		default: cli_usage(stderr, 0); return 2;
		}
	}
	if (optind >= argc) {
		cli_usage(stderr, 0);
		return 2;
	}
	return cli_dispatch(&ctx, argc - optind, argv + optind);
}
