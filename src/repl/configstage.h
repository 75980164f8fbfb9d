/*
 * A node's side of `lifeline config push`, a two-phase commit of
 * lifeline.conf driven by the active node through the node agent:
 *
 *   PREPARE  the text is checked as `lifelined -n` would check it here,
 *            for this node's identity, and as a reload would take it;
 *            then written durably beside the file as CONF.staged.
 *   COMMIT   the staged text (the same push: its SHA-256) is checked
 *            again, the file in place is kept as CONF.previous, and the
 *            staged one renamed over it, the folder fsynced.
 *   ABORT    the staged text of that push is removed.
 *
 * Each phase is one function that touches only those three paths; the
 * caller has the engine reload after a commit.
 */
#ifndef LIFELINE_CONFIGSTAGE_H
#define LIFELINE_CONFIGSTAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/wire.h"

#define CONFIGSTAGE_STAGED   ".staged"
#define CONFIGSTAGE_PREVIOUS ".previous"

/*
 * Check text for node self against the configuration running here (what
 * a reload cannot change: cluster name, mode, state_dir) and stage it.
 * 0 with the config_hash it loads to here in hash and what was done in
 * msg, or -1 with why not in msg (config's own FILE:LINE message for a
 * file it refuses). Nothing is left staged on failure.
 */
int configstage_prepare(const char *conf_path, enum node_id self, const struct config *running,
    const char *text, size_t len, const uint8_t digest[WIRE_CONFIG_DIGEST], char hash[65],
    char *msg, size_t msglen);

/*
 * Put the staged text of push digest in place. 0 with its config_hash and
 * what was done, or -1 with why not: nothing staged, another push's text
 * staged, the text no longer valid here, or a disk error (the file in
 * place is then the old one: the rename is the one step that changes it).
 */
int configstage_commit(const char *conf_path, enum node_id self, const struct config *running,
    const uint8_t digest[WIRE_CONFIG_DIGEST], char hash[65], char *msg, size_t msglen);

/*
 * Remove the staged text of push digest; another push's is left alone.
 * 0 with what was done (also when nothing was staged), -1 on a disk error.
 */
int configstage_abort(const char *conf_path, const uint8_t digest[WIRE_CONFIG_DIGEST], char *msg,
    size_t msglen);

#endif
