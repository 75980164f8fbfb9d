/*
 * lifeline plugin list|install|uninstall|discover: plug-ins installed on
 * this node. What a plug-in adds lives in STATE_DIR/plugins as NAME.*:
 * the shared object (NAME.so), its settings (NAME.json), what its
 * discovery found (NAME.found.json), the fragment of configuration written
 * from it (NAME.conf, read after lifeline.conf by config_load) and start
 * scripts for commands too long for a line (NAME.SERVICE.start); so
 * uninstalling removes exactly that.
 */
#ifndef LIFELINE_CLI_PLUGINS_H
#define LIFELINE_CLI_PLUGINS_H

#include <jansson.h>
#include <stddef.h>

struct cli_ctx;

/* argv[0] is "plugin"; returns the exit code (2 for bad usage). */
int plugin_command(struct cli_ctx *ctx, int argc, char **argv);

/*
 * The fragment for a discovery (lifeline-plugin discover's JSON) of plug-in
 * name at version: [protect] lines and a [service NAME] section per
 * service, with its first plug-in check. A start command too long for a
 * configuration line is written to dir/NAME.SERVICE.start and run from
 * there (dir NULL: refused instead). NULL with why in err.
 */
char *plugin_fragment(const char *name, const char *version, json_t *found, const char *dir,
    char *err, size_t errlen);

#endif
