/* Unit tests of engine/state: the persisted epoch and active node. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/config.h"
#include "common/util.h"
#include "engine/state.h"

struct fixture {
	char dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/lifeline-test-state-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "rm", "-rf", f->dir, NULL };

	run_argv(argv, 1);
	free(f);
	return 0;
}

static void
write_state(const char *dir, const char *text)
{
	char *path = xasprintf("%s/%s", dir, STATE_FILE_NAME);

	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
	free(path);
}

static void
test_missing_is_new_node(void **state)
{
	struct fixture *f = *state;
	struct node_state st;
	char err[256];

	assert_int_equal(state_load(f->dir, &st, err, sizeof(err)), 0);
}

static void
test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct node_state out = { .epoch = 7, .active = NODE_SECONDARY, .ever_in_sync = true };
	struct node_state in = { 0 };
	char err[256];
	struct stat st;
	char *path = xasprintf("%s/%s", f->dir, STATE_FILE_NAME);

	assert_int_equal(state_save(f->dir, &out), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(state_load(f->dir, &in, err, sizeof(err)), 1);
	assert_int_equal(in.epoch, 7);
	assert_int_equal(in.active, NODE_SECONDARY);
	assert_true(in.ever_in_sync);

	out.active = -1;
	assert_int_equal(state_save(f->dir, &out), 0);
	assert_int_equal(state_load(f->dir, &in, err, sizeof(err)), 1);
	assert_int_equal(in.active, -1);
	free(path);
}

static void
test_new_cluster(void **state)
{
	struct node_state st;

	state_new_cluster(&st);
	assert_int_equal(st.epoch, 1);
	assert_int_equal(st.active, NODE_PRIMARY);
	assert_false(st.ever_in_sync);
}

/* Each bad file is refused with a message naming the field. */
static void
test_bad_files(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} rows[] = {
		{ "not json", "expected the role state" },
		{ "{\"epoch\": 0, \"active\": \"primary\", \"ever_in_sync\": false}", "\"epoch\"" },
		{ "{\"epoch\": \"1\", \"active\": \"primary\", \"ever_in_sync\": false}", "\"epoch\"" },
		{ "{\"epoch\": 3, \"active\": \"quaternary\", \"ever_in_sync\": false}", "\"active\"" },
		{ "{\"epoch\": 3, \"active\": \"primary\"}", "\"ever_in_sync\"" },
		{ "{\"epoch\": 3, \"epoch\": 4, \"active\": null, \"ever_in_sync\": true}", "duplicate" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < nitems(rows); i++) {
		struct node_state st = { .epoch = 99 };
		char err[256] = "";

		write_state(f->dir, rows[i].text);
		assert_int_equal(state_load(f->dir, &st, err, sizeof(err)), -1);
		if (strstr(err, rows[i].expect) == NULL)
			fail_msg("row %zu: \"%s\" does not mention %s", i, err, rows[i].expect);
		assert_int_equal(st.epoch, 99);     /* untouched on failure */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_is_new_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test(test_new_cluster),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
