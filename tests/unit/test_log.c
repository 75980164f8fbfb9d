/* Unit tests of common/log: errno survives logging; warn appends strerror. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* Capture what the logger writes to stderr while fn runs. */
static char *
capture_stderr(void (*fn)(void))
{
	static char buf[4096];
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

static void
log_enoent(void)
{
	errno = ENOENT;
	log_warn("opening %s", "x.conf");
}

static void
log_debug_quiet(void)
{
	log_debug("hidden %d", 1);
}

static void
test_warn_appends_strerror(void **state)
{
	log_init(LOG_TO_STDERR, 0, "test");
	char *out = capture_stderr(log_enoent);

	assert_non_null(strstr(out, "test: opening x.conf: No such file or directory\n"));
}

static void
test_errno_preserved(void **state)
{
	log_init(LOG_TO_STDERR, 0, "test");
	errno = EACCES;
	log_warnx("something");
	assert_int_equal(errno, EACCES);
	errno = EPIPE;
	log_warn("something");
	assert_int_equal(errno, EPIPE);
}

static void
test_debug_needs_verbose(void **state)
{
	log_init(LOG_TO_STDERR, 0, "test");
	assert_string_equal(capture_stderr(log_debug_quiet), "");
	log_setverbose(1);
	assert_non_null(strstr(capture_stderr(log_debug_quiet), "hidden 1"));
	log_setverbose(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warn_appends_strerror),
		cmocka_unit_test(test_errno_preserved),
		cmocka_unit_test(test_debug_needs_verbose),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
