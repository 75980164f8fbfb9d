/*
 * Unit tests of common/options: the usage text and the man page's option
 * list printed from one table, and getopt_long tables that really parse
 * what the table says (short and long forms, arguments, unknown options).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "common/util.h"

static const struct option_row rows[] = {
	{ "config",  'f', "FILE", "configuration file (default /etc/x.conf)" },
	{ "debug",   'd', NULL,   "log to stderr instead of syslog" },
	{ "verbose", 'v', NULL,   "more logging" },
	{ "socket",  's', "PATH", "control socket" },
};

/* What fn printed to a memory stream; malloc'd. */
static char *
printed(void (*fn)(FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	fn(out);
	assert_int_equal(fclose(out), 0);
	return buf;
}

static void
print_usage(FILE *out)
{
	options_usage(out, "prog [-dv] [-f FILE] [-s PATH]", rows, nitems(rows));
}

static void
print_mdoc(FILE *out)
{
	options_mdoc(out, rows, nitems(rows));
}

static void
test_usage_text(void **state)
{
	char *text = printed(print_usage);

	/* The synopsis first, then one aligned line per row, in table order. */
	assert_string_equal(text,
	    "usage: prog [-dv] [-f FILE] [-s PATH]\n"
	    "  -f, --config FILE          configuration file (default /etc/x.conf)\n"
	    "  -d, --debug                log to stderr instead of syslog\n"
	    "  -v, --verbose              more logging\n"
	    "  -s, --socket PATH          control socket\n");
	free(text);
}

static void
test_usage_no_options(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	options_usage(out, "prog", rows, 0);
	fclose(out);
	assert_string_equal(buf, "usage: prog\n");
	free(buf);
}

/* A left column wider than its 26 columns still leaves a space before the help. */
static void
test_usage_long_name(void **state)
{
	static const struct option_row wide[] = {
		{ "a-rather-long-option", 'x', "ARGUMENT", "help text" },
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	options_usage(out, "prog", wide, nitems(wide));
	fclose(out);
	assert_string_equal(buf, "usage: prog\n"
	    "  -x, --a-rather-long-option ARGUMENT help text\n");
	free(buf);
}

static void
test_mdoc_items(void **state)
{
	char *text = printed(print_mdoc);

	/* Each help line capitalised and ended with a period, as mdoc prose. */
	assert_string_equal(text,
	    ".It Fl f Ar FILE , Fl -config Ar FILE\n"
	    "Configuration file (default /etc/x.conf).\n"
	    ".It Fl d , Fl -debug\n"
	    "Log to stderr instead of syslog.\n"
	    ".It Fl v , Fl -verbose\n"
	    "More logging.\n"
	    ".It Fl s Ar PATH , Fl -socket Ar PATH\n"
	    "Control socket.\n");
	free(text);
}

static void
test_getopt_tables(void **state)
{
	struct option longopts[nitems(rows) + 1];
	char shortopts[2 * nitems(rows) + 1];

	memset(longopts, 0xaa, sizeof(longopts));
	memset(shortopts, 0xaa, sizeof(shortopts));
	options_getopt(rows, nitems(rows), longopts, shortopts);
	assert_string_equal(shortopts, "f:dvs:");
	for (size_t i = 0; i < nitems(rows); i++) {
		assert_string_equal(longopts[i].name, rows[i].lng);
		assert_int_equal(longopts[i].has_arg,
		    rows[i].arg ? required_argument : no_argument);
		assert_null(longopts[i].flag);
		assert_int_equal(longopts[i].val, rows[i].shrt);
	}
	/* getopt_long stops at an all-zero entry. */
	assert_null(longopts[nitems(rows)].name);
	assert_int_equal(longopts[nitems(rows)].has_arg, 0);
	assert_null(longopts[nitems(rows)].flag);
	assert_int_equal(longopts[nitems(rows)].val, 0);
}

/*
 * Parse argv with the generated tables; one letter per option seen, in
 * order, '?' for a refused one; the arguments of -f and -s are kept.
 */
static void
parse(int argc, char **argv, char *seen, size_t seenlen, const char **file,
    const char **sock)
{
	struct option longopts[nitems(rows) + 1];
	char shortopts[2 * nitems(rows) + 1];
	size_t n = 0;
	int c;

	options_getopt(rows, nitems(rows), longopts, shortopts);
	optind = 0;          /* glibc: a full reset, between parses */
	opterr = 0;
	*file = *sock = NULL;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		assert_true(n + 1 < seenlen);
		seen[n++] = (char)c;
		if (c == 'f')
			*file = optarg;
		else if (c == 's')
			*sock = optarg;
	}
	seen[n] = '\0';
}

static void
test_getopt_parses(void **state)
{
	static const struct {
		const char *args[6];
		const char *seen;
		const char *file, *sock;
	} cases[] = {
		{ { "-f", "a.conf", "-d" }, "fd", "a.conf", NULL },
		{ { "--config", "b.conf", "--socket=/run/s" }, "fs", "b.conf", "/run/s" },
		{ { "--config=c.conf", "-dv" }, "fdv", "c.conf", NULL },
		{ { "-fd.conf", "--verbose" }, "fv", "d.conf", NULL },
		{ { "--debug", "--verbose", "-s", "/tmp/s" }, "dvs", NULL, "/tmp/s" },
		/* Not in the table, or an argument where none is taken: refused. */
		{ { "-x" }, "?", NULL, NULL },
		{ { "--nope" }, "?", NULL, NULL },
		{ { "--debug=yes" }, "?", NULL, NULL },
		/* A missing argument is refused, not taken from nowhere. */
		{ { "-f" }, "?", NULL, NULL },
		{ { "--socket" }, "?", NULL, NULL },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		char *argv[8] = { "prog" };
		const char *file, *sock;
		char seen[16];
		int argc = 1;

		for (size_t j = 0; j < nitems(cases[i].args) && cases[i].args[j]; j++)
			argv[argc++] = (char *)cases[i].args[j];
		parse(argc, argv, seen, sizeof(seen), &file, &sock);
		if (strcmp(seen, cases[i].seen) != 0)
			fail_msg("case %zu: options seen \"%s\", expected \"%s\"", i, seen,
			    cases[i].seen);
		if (cases[i].file)
			assert_string_equal(file, cases[i].file);
		else
			assert_null(file);
		if (cases[i].sock)
			assert_string_equal(sock, cases[i].sock);
		else
			assert_null(sock);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_text),
		cmocka_unit_test(test_usage_no_options),
		cmocka_unit_test(test_usage_long_name),
		cmocka_unit_test(test_mdoc_items),
		cmocka_unit_test(test_getopt_tables),
		cmocka_unit_test(test_getopt_parses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
