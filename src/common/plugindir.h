/*
 * STATE_DIR/plugins: the files of installed plug-ins, each named after its
 * plug-in (NAME.so, NAME.json, NAME.found.json, NAME.conf,
 * NAME.SERVICE.start). Shared by the CLI, which installs on this node,
 * and lifeline-repl's agent, which installs what another node sends.
 */
#ifndef LIFELINE_PLUGINDIR_H
#define LIFELINE_PLUGINDIR_H

#include <stddef.h>

#include "common/wire.h"

/* Remove dir/NAME.*; returns how many files went. */
int plugindir_remove(const char *dir, const char *name);

/*
 * Replace the files of req->plugin in dir with req's: NAME.conf last, so
 * config_load never reads a fragment whose files are not there yet. 0, or
 * -1 with why in err (what was written is removed again).
 */
int plugindir_put(const char *dir, const struct wire_plugin_files *req, char *err, size_t errlen);

/*
 * Read the files of plug-in name in dir into req (op PUT); their data is
 * malloc'd, freed by plugindir_release. 0, or -1 with why in err.
 */
int plugindir_read(const char *dir, const char *name, struct wire_plugin_files *req, char *err,
    size_t errlen);
void plugindir_release(struct wire_plugin_files *req);

#endif
