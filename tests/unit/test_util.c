/* Unit tests of common/util: atomic file replacement, reads, mkdir -p, run_argv. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "helpers/tmpdir.h"

static void
test_write_then_read(void **state)
{
	char *dir = tmpdir(), *path = xasprintf("%s/f", dir), *back;
	struct stat st;
	size_t len;

	assert_int_equal(write_file_atomic(path, "first\n", 6, 0600), 0);
	assert_int_equal(write_file_atomic(path, "second\n", 7, 0640), 0);
	back = read_file(path, 1024, &len);
	assert_non_null(back);
	assert_int_equal(len, 7);
	assert_string_equal(back, "second\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(back);
	free(path);
	rm_rf(dir);
	free(dir);
}

static void
test_write_leaves_no_temporary(void **state)
{
	char *dir = tmpdir(), *path = xasprintf("%s/f", dir);
	char *argv[] = { "sh", "-c", NULL, NULL };

	assert_int_equal(write_file_atomic(path, "x", 1, 0600), 0);
	argv[2] = xasprintf("test \"$(ls -A %s)\" = f", dir);
	assert_int_equal(run_argv(argv, 1), 0);
	free(argv[2]);
	free(path);
	rm_rf(dir);
	free(dir);
}

static void
test_write_into_missing_dir_fails(void **state)
{
	errno = 0;
	assert_int_equal(write_file_atomic("/nonexistent-lifeline/f", "x", 1, 0600), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_read_file_limits(void **state)
{
	char *dir = tmpdir(), *path = xasprintf("%s/big", dir);
	char buf[10000];
	size_t len;

	memset(buf, 'a', sizeof(buf));
	assert_int_equal(write_file_atomic(path, buf, sizeof(buf), 0600), 0);
	errno = 0;
	assert_null(read_file(path, 9999, &len));
	assert_int_equal(errno, EFBIG);
	char *all = read_file(path, 10000, &len);
	assert_non_null(all);
	assert_int_equal(len, 10000);
	assert_int_equal(all[len], '\0');
	free(all);
	assert_null(read_file("/nonexistent-lifeline/f", 10, &len));
	assert_int_equal(errno, ENOENT);
	free(path);
	rm_rf(dir);
	free(dir);
}

static void
test_mkdir_p(void **state)
{
	char *dir = tmpdir(), *deep = xasprintf("%s/a/b/c", dir);
	struct stat st;

	assert_int_equal(mkdir_p(deep, 0700), 0);
	assert_int_equal(mkdir_p(deep, 0700), 0);      /* again: no error */
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(deep);
	rm_rf(dir);
	free(dir);
}

static void
test_run_argv_status(void **state)
{
	char *t[] = { "true", NULL }, *f[] = { "false", NULL };
	char *sig[] = { "sh", "-c", "kill -9 $$", NULL };
	char *none[] = { "/nonexistent-lifeline-program", NULL };

	assert_int_equal(run_argv(t, 1), 0);
	assert_int_equal(run_argv(f, 1), 1);
	assert_int_equal(run_argv(sig, 1), 128 + 9);
	assert_int_equal(run_argv(none, 1), -1);
}

static void
test_strlcpy_truncates(void **state)
{
	char small[4];

	assert_int_equal(xstrlcpy(small, "abcdef", sizeof(small)), 6);
	assert_string_equal(small, "abc");
}

static void
test_clocks_move(void **state)
{
	uint64_t a = now_mono_ms();

	usleep(20000);
	assert_true(now_mono_ms() >= a + 15);
	assert_true(now_wall_ms() > 1700000000000ULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_then_read),
		cmocka_unit_test(test_write_leaves_no_temporary),
		cmocka_unit_test(test_write_into_missing_dir_fails),
		cmocka_unit_test(test_read_file_limits),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_run_argv_status),
		cmocka_unit_test(test_strlcpy_truncates),
		cmocka_unit_test(test_clocks_move),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
