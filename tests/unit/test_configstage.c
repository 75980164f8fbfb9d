/*
 * Unit tests of repl/configstage, a node's side of `lifeline config push`,
 * on files in a scratch folder: a valid text is staged and its hash is the
 * one config_load gives; an invalid one, one for another mode or cluster,
 * or one this node is not in is refused with config's reason and leaves
 * nothing staged; a commit keeps the old file as .previous and puts the
 * staged text in place, and only for the push that staged it; an abort
 * removes only that push's text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"
#include "common/wire.h"
#include "helpers/tmpdir.h"
#include "repl/configstage.h"

static const char conf_fmt[] =
    "[cluster]\n"
    "name = %s\n"
    "mode = ha\n"
    "state_dir = %s/state\n"
    "[node primary]\n"
    "channel = 203.0.113.1/29\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/29\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "[failover]\n"
    "heartbeat = %s\n"
    "[protect]\n"
    "data = /var/lib/app\n";

struct fx {
	char          *dir, *conf_path, *staged, *previous;
	char          *old_text;
	struct config *running;
};

static char *
text_of(const struct fx *f, const char *cluster, const char *heartbeat)
{
	return xasprintf(conf_fmt, cluster, f->dir, heartbeat);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char err[512];

	f->dir = tmpdir();
	f->conf_path = xasprintf("%s/lifeline.conf", f->dir);
	f->staged = xasprintf("%s.staged", f->conf_path);
	f->previous = xasprintf("%s.previous", f->conf_path);
	f->old_text = text_of(f, "demo", "100ms");
	assert_int_equal(write_file_atomic(f->conf_path, f->old_text, strlen(f->old_text), 0640), 0);
	f->running = config_load(f->conf_path, err, sizeof(err));
	if (f->running == NULL)
		fail_msg("%s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	config_free(f->running);
	rm_rf(f->dir);
	free(f->dir);
	free(f->conf_path);
	free(f->staged);
	free(f->previous);
	free(f->old_text);
	free(f);
	return 0;
}

/* The whole content of path, or NULL when it does not exist. */
static char *
contents(const char *path)
{
	size_t len;

	return read_file(path, 1 << 20, &len);
}

static void
assert_file(const char *path, const char *want)
{
	char *got = contents(path);

	if (got == NULL)
		fail_msg("%s does not exist", path);
	assert_string_equal(got, want);
	free(got);
}

static int
prepare(struct fx *f, const char *text, enum node_id self, char hash[65], char *msg, size_t msglen)
{
	uint8_t digest[WIRE_CONFIG_DIGEST];

	wire_config_digest(text, strlen(text), digest);
	return configstage_prepare(f->conf_path, self, f->running, text, strlen(text), digest, hash,
	    msg, msglen);
}

/* A valid text: staged as it came, its hash what config_load makes of it, nothing else touched. */
static void
test_prepare_valid(void **state)
{
	struct fx *f = *state;
	char *text = text_of(f, "demo", "200ms"), hash[65] = "", msg[512], err[512];
	struct config *want = config_parse_string(text, "x", err, sizeof(err));

	assert_non_null(want);
	assert_int_equal(prepare(f, text, NODE_SECONDARY, hash, msg, sizeof(msg)), 0);
	assert_string_equal(hash, want->hash);
	assert_string_not_equal(hash, f->running->hash);
	assert_non_null(strstr(msg, "valid for secondary, staged as"));
	assert_file(f->staged, text);
	assert_file(f->conf_path, f->old_text);
	assert_null(contents(f->previous));
	config_free(want);
	free(text);
}

/* Each refusal says why, and leaves nothing staged. */
static void
test_prepare_refusals(void **state)
{
	struct fx *f = *state;
	char *bad = text_of(f, "demo", "soon");
	char *renamed = text_of(f, "other", "100ms");
	char hash[65], msg[512];
	uint8_t digest[WIRE_CONFIG_DIGEST] = { 0 };

	assert_int_equal(prepare(f, bad, NODE_SECONDARY, hash, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "lifeline.conf.staged:14: "));
	assert_null(contents(f->staged));

	assert_int_equal(prepare(f, renamed, NODE_SECONDARY, hash, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "the cluster name, mode or state_dir differ from the running "
	    "ones (demo, ha,"));
	assert_null(contents(f->staged));

	/* This node is not one of mode ha's. */
	assert_int_equal(prepare(f, f->old_text, NODE_TERTIARY, hash, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "this node is tertiary, which mode ha does not use"));
	assert_null(contents(f->staged));

	/* A text that is not what its digest names. */
	assert_int_equal(configstage_prepare(f->conf_path, NODE_PRIMARY, f->running, f->old_text,
	    strlen(f->old_text), digest, hash, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "does not match its SHA-256"));
	assert_null(contents(f->staged));
	assert_file(f->conf_path, f->old_text);
	free(bad);
	free(renamed);
}

/* Commit: the old file kept as .previous, the staged one in place; again: already done. */
static void
test_commit(void **state)
{
	struct fx *f = *state;
	char *text = text_of(f, "demo", "250ms"), hash[65], hash2[65], msg[512];
	uint8_t digest[WIRE_CONFIG_DIGEST];

	wire_config_digest(text, strlen(text), digest);
	assert_int_equal(prepare(f, text, NODE_PRIMARY, hash, msg, sizeof(msg)), 0);
	assert_int_equal(configstage_commit(f->conf_path, NODE_PRIMARY, f->running, digest, hash2,
	    msg, sizeof(msg)), 0);
	assert_string_equal(hash2, hash);
	assert_non_null(strstr(msg, "replaced, the old one kept as"));
	assert_file(f->conf_path, text);
	assert_file(f->previous, f->old_text);
	assert_null(contents(f->staged));

	/* Asked again on another channel: in place already, the same answer. */
	assert_int_equal(configstage_commit(f->conf_path, NODE_PRIMARY, f->running, digest, hash2,
	    msg, sizeof(msg)), 0);
	assert_string_equal(hash2, hash);
	assert_non_null(strstr(msg, "this push's already"));
	assert_file(f->previous, f->old_text);
	free(text);
}

/* A commit of a push that staged nothing here, or of another push, changes nothing. */
static void
test_commit_refusals(void **state)
{
	struct fx *f = *state;
	char *text = text_of(f, "demo", "120ms"), *other = text_of(f, "demo", "150ms");
	char hash[65], msg[512];
	uint8_t digest[WIRE_CONFIG_DIGEST];

	wire_config_digest(text, strlen(text), digest);
	assert_int_equal(configstage_commit(f->conf_path, NODE_PRIMARY, f->running, digest, hash,
	    msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "nothing staged for this push"));
	assert_int_equal(prepare(f, other, NODE_PRIMARY, hash, msg, sizeof(msg)), 0);
	assert_int_equal(configstage_commit(f->conf_path, NODE_PRIMARY, f->running, digest, hash,
	    msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "holds another push's configuration"));
	assert_file(f->conf_path, f->old_text);
	assert_null(contents(f->previous));
	/* Its abort leaves the other push's text; that push's abort removes it. */
	assert_int_equal(configstage_abort(f->conf_path, digest, msg, sizeof(msg)), 0);
	assert_file(f->staged, other);
	wire_config_digest(other, strlen(other), digest);
	assert_int_equal(configstage_abort(f->conf_path, digest, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "staged configuration removed"));
	assert_null(contents(f->staged));
	assert_int_equal(configstage_abort(f->conf_path, digest, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "nothing of this push was staged"));
	assert_file(f->conf_path, f->old_text);
	free(text);
	free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prepare_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepare_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
