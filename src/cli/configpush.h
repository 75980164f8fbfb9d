/*
 * lifeline config push: one cluster configuration. On the active node,
 * this node's lifeline.conf goes to every node of the mode as a two-phase
 * commit through their node agents (repl/configstage.h): every node
 * checks and stages it, and only when all did is it put in place and the
 * engines reload, this node's first; otherwise every staged copy is
 * removed and every node keeps the configuration it runs.
 */
#ifndef LIFELINE_CLI_CONFIGPUSH_H
#define LIFELINE_CLI_CONFIGPUSH_H

struct cli_ctx;

/* argv[0] is "config"; returns the exit code (0, 1 failure, 2 bad usage). */
int config_command(struct cli_ctx *ctx, int argc, char **argv);

#endif
