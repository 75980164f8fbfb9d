/* Scratch folders for unit tests (tmpdir.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "common/util.h"
#include "helpers/tmpdir.h"

char *
tmpdir(void)
{
	char *tmpl = xasprintf("/tmp/lifeline-%s-XXXXXX",
	    program_invocation_short_name);

	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

void
rm_rf(const char *dir)
{
	char *argv[] = { "rm", "-rf", (char *)dir, NULL };

	assert_int_equal(run_argv(argv, 1), 0);
}
