/*
 * The staged lifeline.conf of a config push (configstage.h): validation
 * for this node, the staged file, the previous one, and the rename that
 * is the commit.
 */
#include "repl/configstage.h"
#include "common/util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Whether the configuration at path would run here: it loads (with this
 * node's plug-in fragments, as lifelined -n reads it), names this node in
 * its mode, and changes nothing a reload refuses. Its hash into hash.
 */
static int
validate(const char *path, enum node_id self, const struct config *running, char hash[65],
    char *msg, size_t msglen)
{
	struct config *next;
	char err[1024];
	int rc = -1;

	if ((next = config_load(path, err, sizeof(err))) == NULL) {
		snprintf(msg, msglen, "%s", err);
		return -1;
	}
	if (!config_mode_has(next->mode, self))
		snprintf(msg, msglen, "%s: this node is %s, which mode %s does not use", path,
		    node_name(self), mode_name(next->mode));
	else if (strcmp(next->name, running->name) != 0 || next->mode != running->mode ||
	    strcmp(next->state_dir, running->state_dir) != 0)
		snprintf(msg, msglen, "%s: the cluster name, mode or state_dir differ from the running "
		    "ones (%s, %s, %s); a reload cannot change them: stop every engine, change the "
		    "file on each node, start them", path, running->name, mode_name(running->mode),
		    running->state_dir);
	else {
		memcpy(hash, next->hash, 65);
		rc = 0;
	}
	config_free(next);
	return rc;
}

/* The mode of the file in place, for the staged one; 0644 when there is none. */
static mode_t
file_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
}

int
configstage_prepare(const char *conf_path, enum node_id self, const struct config *running,
    const char *text, size_t len, const uint8_t digest[WIRE_CONFIG_DIGEST], char hash[65],
    char *msg, size_t msglen)
{
	char *staged = xasprintf("%s" CONFIGSTAGE_STAGED, conf_path);
	uint8_t got[WIRE_CONFIG_DIGEST];
	int rc = -1;

	wire_config_digest(text, len, got);
	if (memcmp(got, digest, sizeof(got)) != 0) {
		snprintf(msg, msglen, "the configuration does not match its SHA-256");
		goto out;
	}
	/* Validated where it will stay, so its errors and fragments are this node's. */
	if (write_file_atomic(staged, text, len, file_mode(conf_path)) < 0) {
		snprintf(msg, msglen, "cannot stage %s: %s", staged, strerror(errno));
		goto out;
	}
	if (validate(staged, self, running, hash, msg, msglen) < 0) {
		unlink(staged);
		fsync_parent_dir(staged);
		goto out;
	}
	snprintf(msg, msglen, "valid for %s, staged as %s", node_name(self), staged);
	rc = 0;
out:
	free(staged);
	return rc;
}

/* Read the staged text and check that it is push digest's; NULL with why. */
static char *
read_staged(const char *staged, const uint8_t digest[WIRE_CONFIG_DIGEST], size_t *len, char *msg,
    size_t msglen)
{
	uint8_t got[WIRE_CONFIG_DIGEST];
	char *text = read_file(staged, WIRE_CONFIG_MAX_TEXT, len);

	if (text == NULL) {
		snprintf(msg, msglen, "nothing staged for this push (%s: %s)", staged, strerror(errno));
		return NULL;
	}
	wire_config_digest(text, *len, got);
	if (memcmp(got, digest, sizeof(got)) != 0) {
		snprintf(msg, msglen, "%s holds another push's configuration", staged);
		free(text);
		return NULL;
	}
	return text;
}

/* Whether the file in place is push digest's text. */
static bool
in_place(const char *conf_path, const uint8_t digest[WIRE_CONFIG_DIGEST])
{
	uint8_t got[WIRE_CONFIG_DIGEST];
	size_t len;
	char *text = read_file(conf_path, WIRE_CONFIG_MAX_TEXT, &len);

	if (text == NULL)
		return false;
	wire_config_digest(text, len, got);
	free(text);
	return memcmp(got, digest, sizeof(got)) == 0;
}

int
configstage_commit(const char *conf_path, enum node_id self, const struct config *running,
    const uint8_t digest[WIRE_CONFIG_DIGEST], char hash[65], char *msg, size_t msglen)
{
	char *staged = xasprintf("%s" CONFIGSTAGE_STAGED, conf_path);
	char *previous = xasprintf("%s" CONFIGSTAGE_PREVIOUS, conf_path);
	char *text = NULL, *old = NULL;
	size_t len, oldlen;
	int rc = -1;

	if (in_place(conf_path, digest)) {
		/* A commit asked again (its answer was lost on one channel): done already. */
		if ((rc = validate(conf_path, self, running, hash, msg, msglen)) == 0)
			snprintf(msg, msglen, "%s is this push's already", conf_path);
		goto out;
	}
	if ((text = read_staged(staged, digest, &len, msg, msglen)) == NULL)
		goto out;
	/* Checked again: a plug-in may have come or gone since the prepare. */
	if (validate(staged, self, running, hash, msg, msglen) < 0)
		goto out;
	if ((old = read_file(conf_path, WIRE_CONFIG_MAX_TEXT, &oldlen)) != NULL &&
	    write_file_atomic(previous, old, oldlen, file_mode(conf_path)) < 0) {
		snprintf(msg, msglen, "cannot keep the old file as %s: %s; nothing changed", previous,
		    strerror(errno));
		goto out;
	}
	if (rename(staged, conf_path) < 0 || fsync_parent_dir(conf_path) < 0) {
		snprintf(msg, msglen, "cannot put %s in place of %s: %s", staged, conf_path,
		    strerror(errno));
		goto out;
	}
	snprintf(msg, msglen, "%s replaced%s%s", conf_path, old != NULL ? ", the old one kept as " :
	    "", old != NULL ? previous : "");
	rc = 0;
out:
	free(old);
	free(text);
	free(previous);
	free(staged);
	return rc;
}

int
configstage_abort(const char *conf_path, const uint8_t digest[WIRE_CONFIG_DIGEST], char *msg,
    size_t msglen)
{
	char *staged = xasprintf("%s" CONFIGSTAGE_STAGED, conf_path), *text;
	int rc = 0;
	size_t len;

	if ((text = read_staged(staged, digest, &len, msg, msglen)) == NULL) {
		/* Nothing of this push is staged: the abort has nothing to undo. */
		snprintf(msg, msglen, "nothing of this push was staged; the running configuration "
		    "is kept");
		goto out;
	}
	if (unlink(staged) < 0 || fsync_parent_dir(staged) < 0) {
		snprintf(msg, msglen, "cannot remove %s: %s", staged, strerror(errno));
		rc = -1;
		goto out;
	}
	snprintf(msg, msglen, "staged configuration removed; the running one is kept");
out:
	free(text);
	free(staged);
	return rc;
}
