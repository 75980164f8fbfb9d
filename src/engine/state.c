/*
 * Persistence of the role state (epoch, active node). The file is small JSON
 * so an administrator can read it; it is replaced atomically and fsynced so a
 * power loss leaves either the old or the new state, never a torn one.
 */
#include "engine/state.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
state_new_cluster(struct node_state *st)
{
	st->epoch = 1;
	st->active = NODE_PRIMARY;
	st->ever_in_sync = false;
}

int
state_load(const char *state_dir, struct node_state *st, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", state_dir, STATE_FILE_NAME);
	json_error_t jerr;
	json_t *root = NULL, *epoch, *active, *synced;
	int rc = -1, id;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (errno == ENOENT && jerr.line == -1) {
			rc = 0;
			goto out;
		}
		snprintf(err, errlen, "%s: %s, expected the role state written by lifelined",
		    path, jerr.text);
		goto out;
	}
	epoch = json_object_get(root, "epoch");
	active = json_object_get(root, "active");
	synced = json_object_get(root, "ever_in_sync");
	if (!json_is_integer(epoch) || json_integer_value(epoch) < 1) {
		snprintf(err, errlen, "%s: \"epoch\" missing or not a positive integer", path);
		goto out;
	}
	if (json_is_null(active))
		id = -1;
	else if (!json_is_string(active) ||
	    (id = node_from_name(json_string_value(active))) < 0) {
		snprintf(err, errlen, "%s: \"active\" is not primary, secondary, tertiary or null", path);
		goto out;
	}
	if (!json_is_boolean(synced)) {
		snprintf(err, errlen, "%s: \"ever_in_sync\" missing or not a boolean", path);
		goto out;
	}
	st->epoch = (uint64_t)json_integer_value(epoch);
	st->active = id;
	st->ever_in_sync = json_is_true(synced);
	rc = 1;
out:
	json_decref(root);
	free(path);
	return rc;
}

int
state_save(const char *state_dir, const struct node_state *st)
{
	char *path = xasprintf("%s/%s", state_dir, STATE_FILE_NAME);
	json_t *root;
	char *text;
	int rc;

	root = json_pack("{s:I, s:o, s:b}", "epoch", (json_int_t)st->epoch,
	    "active", st->active >= 0 ? json_string(node_name(st->active)) : json_null(),
	    "ever_in_sync", st->ever_in_sync);
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (text == NULL)
		fatalx("cannot encode the role state");
	text = xrealloc(text, strlen(text) + 2);
	strcat(text, "\n");
	rc = write_file_atomic(path, text, strlen(text), 0600);
	if (rc < 0)
		log_warn("cannot save the role state to %s", path);
	free(text);
	free(path);
	return rc;
}
