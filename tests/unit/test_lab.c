/*
 * Unit tests of cli/lab, its front door only: the subcommand table's help
 * and mdoc, --dir, lab_opt_value and lab_usage_error, every argument
 * refusal that comes before a lab is touched (exit 2, what was wrong, then
 * the subcommand's usage line), and "no lab" in an empty folder (exit 1).
 * Nothing here creates a namespace or starts a process: building and
 * driving a lab is what the scenarios do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/lab.h"
#include "common/util.h"
#include "helpers/captured.h"
#include "helpers/tmpdir.h"

static int
lab_fn(void *arg, int argc, char **argv)
{
	return lab_main(argc, argv);
}

/* Run `lifeline lab ARGS...` (NULL-terminated), capturing stdout and stderr. */
static void
run_lab(struct output *o, ...)
{
	char *argv[16] = { "lab" };
	int argc = 1;
	va_list ap;

	va_start(ap, o);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	run_captured(o, lab_fn, NULL, argc, argv);
}

static void
test_opt_value(void **state)
{
	static const struct {
		const char *args[3];
		int         rc;
		const char *val;       /* when rc is 1 */
		int         next;      /* i after the call */
	} rows[] = {
		{ { "--mode", "dr" }, 1, "dr", 1 },
		{ { "--mode=ha+dr" }, 1, "ha+dr", 0 },
		{ { "--mode=" }, 1, "", 0 },
		{ { "--mode" }, -1, NULL, 0 },
		{ { "--model", "x" }, 0, NULL, 0 },
		{ { "--mod" }, 0, NULL, 0 },
		{ { "mode" }, 0, NULL, 0 },
	};

	for (size_t r = 0; r < nitems(rows); r++) {
		char *argv[4] = { 0 };
		const char *val = "unset";
		int argc = 0, i = 0, rc;

		while (argc < 3 && rows[r].args[argc] != NULL) {
			argv[argc] = (char *)rows[r].args[argc];
			argc++;
		}
		rc = lab_opt_value(argc, argv, &i, "--mode", &val);
		if (rc != rows[r].rc)
			fail_msg("row %zu: %d, expected %d", r, rc, rows[r].rc);
		if (rc == 1)
			assert_string_equal(val, rows[r].val);
		else
			assert_string_equal(val, "unset");
		assert_int_equal(i, rows[r].next);
	}
}

static int
usage_error_cut(void)
{
	return lab_usage_error("cut", "unknown network \"%s\"", "wifi");
}

static void
test_usage_error(void **state)
{
	char buf[1024];
	FILE *tmp = tmpfile();
	int saved = dup(2), rc;
	size_t n;

	fflush(stderr);
	dup2(fileno(tmp), 2);
	rc = usage_error_cut();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	assert_int_equal(rc, 2);
	assert_string_equal(buf, "lifeline lab: unknown network \"wifi\"; usage: lifeline lab "
	    "[--dir DIR] cut NODE public|channel[-ps|-ps2|-pt|-st]|management|all\n");
}

static void
test_help(void **state)
{
	struct output o;

	run_lab(&o, "help", NULL);
	assert_int_equal(o.rc, 0);
	assert_true(strncmp(o.out, "usage: lifeline lab [--dir DIR] SUBCOMMAND [ARGS]   (DIR: default "
	    LAB_DEFAULT_DIR ")\n\nsubcommands:\n", 80) == 0);
	for (const struct lab_command *c = lab_commands; c->name != NULL; c++) {
		char *line = xasprintf("\n  %s %s", c->name, c->args);

		if (strstr(o.out, line) == NULL || strstr(o.out, c->help) == NULL)
			fail_msg("help lacks %s or its help", c->name);
		free(line);
	}
	/* No subcommand: the same help, on stderr, as bad usage. */
	run_lab(&o, NULL);
	assert_int_equal(o.rc, 2);
	assert_string_equal(o.out, "");
	assert_non_null(strstr(o.err, "usage: lifeline lab [--dir DIR] SUBCOMMAND"));
}

static void
test_mdoc(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	lab_usage(out, 1);
	fclose(out);
	for (const struct lab_command *c = lab_commands; c->name != NULL; c++) {
		char *item = c->args[0] ? xasprintf(".It Cm lab %s Ar %s\n", c->name, c->args) :
		    xasprintf(".It Cm lab %s\n", c->name);

		if (strstr(buf, item) == NULL)
			fail_msg("no item \"%s\"", item);
		free(item);
	}
	assert_non_null(strstr(buf, ".It Cm lab down\n"));
	free(buf);
}

/* Refused before anything is touched: exit 2, the reason, the usage line. */
static void
test_bad_usage(void **state)
{
	static const struct {
		const char *args[6];
		const char *err;
	} rows[] = {
		{ { "upp" }, "lifeline lab: unknown lab command \"upp\", expected up, down, exec, kill, "
		    "boot, cut, heal, path, status or watch\n" },
		{ { "--dir" }, "lifeline lab: --dir needs a value\n" },
		{ { "--dir=", "status" }, "lifeline lab: --dir needs a folder\n" },
		{ { "up", "--mode", "trio" }, "lifeline lab: unknown --mode \"trio\", expected ha, dr or "
		    "ha+dr; usage: lifeline lab [--dir DIR] up " },
		{ { "up", "--mode" }, "lifeline lab: --mode needs a value\n" },
		{ { "up", "--app", "nginx" }, "lifeline lab: unknown --app \"nginx\", expected sample, "
		    "postgresql or mariadb; usage: " },
		{ { "up", "--replication=semi" }, "lifeline lab: unknown --replication \"semi\", "
		    "expected async, fsync or sync; usage: " },
		{ { "up", "fast" }, "lifeline lab: unexpected argument \"fast\"; usage: lifeline lab "
		    "[--dir DIR] up " },
		{ { "down", "now" }, "lifeline lab: unexpected argument \"now\"; usage: " },
		{ { "exec", "primary", "ls" }, "lifeline lab: expected a node, --, and a command; usage: "
		    "lifeline lab [--dir DIR] exec " },
		{ { "exec", "primary", "--" }, "lifeline lab: expected a node, --, and a command" },
		{ { "kill" }, "lifeline lab: expected one node; usage: lifeline lab [--dir DIR] kill " },
		{ { "kill", "primary", "secondary" }, "lifeline lab: expected one node" },
		{ { "boot" }, "lifeline lab: expected one node; usage: lifeline lab [--dir DIR] boot " },
		{ { "cut", "primary" }, "lifeline lab: expected a node and a network; usage: " },
		{ { "cut", "primary", "wifi" }, "lifeline lab: unknown network \"wifi\", expected public, "
		    "channel, channel-ps, channel-ps2, channel-pt, channel-st, management or all; usage: " },
		{ { "heal", "primary", "secondary" }, "lifeline lab: expected at most one node; usage: " },
		{ { "path", "primary" }, "lifeline lab: expected a node and data, config or state; usage: " },
		{ { "path", "primary", "logs" }, "lifeline lab: unknown folder \"logs\", expected data, "
		    "config or state; usage: " },
		{ { "status", "--all" }, "lifeline lab: unexpected argument \"--all\"; usage: " },
	};
	char *dir = tmpdir();

	for (size_t i = 0; i < nitems(rows); i++) {
		const char *const *a = rows[i].args;
		struct output o;

		/* The empty scratch folder as the lab folder: nothing real is ever named. */
		if (strncmp(a[0], "--dir", 5) == 0)
			run_lab(&o, a[0], a[1], a[2], a[3], a[4], NULL);
		else
			run_lab(&o, "--dir", dir, a[0], a[1], a[2], a[3], a[4], NULL);
		if (o.rc != 2)
			fail_msg("row %zu (%s): exit %d, expected 2; stderr \"%s\"", i, a[0], o.rc, o.err);
		if (strncmp(o.err, rows[i].err, strlen(rows[i].err)) != 0)
			fail_msg("row %zu: stderr \"%s\", expected \"%s\"", i, o.err, rows[i].err);
		assert_string_equal(o.out, "");
	}
	rm_rf(dir);
	free(dir);
}

/* Good arguments, no lab in the folder: exit 1 and how to start one; the folder stays empty. */
static void
test_no_lab(void **state)
{
	static const char *const rows[][5] = {
		{ "path", "primary", "data" },
		{ "kill", "primary" },
		{ "cut", "secondary", "public" },
		{ "exec", "primary", "--", "true" },
		{ "heal" },
		{ "status" },
	};
	char *dir = tmpdir(), *want = xasprintf("lifeline lab: no lab at %s; start one with lifeline "
	    "lab up\n", dir), *check = xasprintf("test -z \"$(ls -A %s)\"", dir);
	char *argv[] = { "sh", "-c", check, NULL };

	for (size_t i = 0; i < nitems(rows); i++) {
		struct output o;

		run_lab(&o, "--dir", dir, rows[i][0], rows[i][1], rows[i][2], rows[i][3], NULL);
		if (o.rc != 1 || strcmp(o.err, want) != 0)
			fail_msg("row %zu (%s): exit %d, stderr \"%s\"", i, rows[i][0], o.rc, o.err);
		assert_string_equal(o.out, "");
	}
	assert_int_equal(run_argv(argv, 1), 0);
	rm_rf(dir);
	free(check);
	free(want);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opt_value),
		cmocka_unit_test(test_usage_error),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_mdoc),
		cmocka_unit_test(test_bad_usage),
		cmocka_unit_test(test_no_lab),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
