/*
 * Unit tests of repl/confroot: config entries numbered after the data
 * directories, each rooted at the folder holding it; paths confined to
 * the entry; exclude patterns by whole path or by name, a matching folder
 * hiding what it holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "helpers/conftext.h"
#include "repl/confroot.h"

static const char *protect =
    "data = /var/lib/a, /var/lib/b\n"
    "config = /etc/app, /etc/other.conf, /top\n"
    "exclude = /etc/app/*.dpkg-*, *.swp, /etc/app/cache\n";

static struct config *
load(void)
{
	return conftext_load(protect);
}

static void
test_numbering(void **state)
{
	struct config *c = load();
	struct confroots cr;

	(void)state;
	confroots_init(&cr, c);
	assert_int_equal(cr.first, 2);
	assert_int_equal(cr.n, 3);
	assert_null(confroots_at(&cr, 1));              /* a data directory */
	assert_string_equal(confroots_at(&cr, 2)->parent, "/etc");
	assert_string_equal(confroots_at(&cr, 2)->name, "app");
	assert_string_equal(confroots_at(&cr, 3)->name, "other.conf");
	assert_string_equal(confroots_at(&cr, 4)->parent, "/");
	assert_string_equal(confroots_at(&cr, 4)->name, "top");
	assert_null(confroots_at(&cr, 5));
	confroots_free(&cr);
	config_free(c);
}

static void
test_inside_and_paths(void **state)
{
	struct config *c = load();
	struct confroots cr;
	char abs[256];

	(void)state;
	confroots_init(&cr, c);
	const struct confroot *app = confroots_at(&cr, 2), *top = confroots_at(&cr, 4);

	assert_true(confroot_inside(app, "app", 3));
	assert_true(confroot_inside(app, "app/x.conf", 10));
	assert_false(confroot_inside(app, "app2", 4));       /* a sibling with the same start */
	assert_false(confroot_inside(app, "passwd", 6));     /* beside the entry in /etc */
	assert_false(confroot_inside(app, "ap", 2));
	assert_true(confroot_abspath(app, "app/x.conf", abs, sizeof(abs)));
	assert_string_equal(abs, "/etc/app/x.conf");
	assert_true(confroot_abspath(top, "top/y", abs, sizeof(abs)));
	assert_string_equal(abs, "/top/y");
	assert_false(confroot_abspath(app, "app/x.conf", abs, 8));
	confroots_free(&cr);
	config_free(c);
}

static void
test_exclude(void **state)
{
	struct config *c = load();
	struct confroots cr;

	(void)state;
	confroots_init(&cr, c);
	assert_true(confroots_excluded(&cr, "/etc/app/main.conf.dpkg-dist"));
	assert_false(confroots_excluded(&cr, "/etc/app/sub/main.conf.dpkg-dist"));  /* '*' is one name */
	assert_true(confroots_excluded(&cr, "/etc/app/sub/.main.conf.swp"));   /* a name pattern */
	assert_true(confroots_excluded(&cr, "/etc/app/cache"));
	assert_true(confroots_excluded(&cr, "/etc/app/cache/deep/file"));      /* below an excluded folder */
	assert_false(confroots_excluded(&cr, "/etc/app/main.conf"));
	assert_false(confroots_excluded(&cr, "/etc/app/cachet"));
	/* covers: in a config entry, and not excluded. */
	assert_true(confroots_covers(&cr, 2, "app/main.conf", 13));
	assert_false(confroots_covers(&cr, 2, "app/cache/x", 11));
	assert_false(confroots_covers(&cr, 2, "shadow", 6));
	assert_false(confroots_covers(&cr, 0, "app/main.conf", 13));          /* a data root */
	assert_true(confroots_covers(&cr, 3, "other.conf", 10));
	/* A passive's temporary file is nobody's configuration. */
	assert_false(confroots_covers(&cr, 2, "app/.lifeline-tmp.main.conf", 27));
	confroots_free(&cr);
	config_free(c);
}

static void
test_config_refuses_overlaps(void **state)
{
	static const struct {
		const char *protect, *why;
	} bad[] = {
		{ "data = /var/lib/a\nconfig = /\n", "names the whole system" },
		{ "data = /var/lib/a\nconfig = /var/lib/a/conf\n", "overlaps data" },
		{ "data = /var/lib/a\nconfig = /var/lib\n", "overlaps data" },
		{ "data = /var/lib/a\nconfig = /etc/app, /etc/app/sub\n", "is inside config" },
		{ "data = /var/lib/a\nconfig = /var/lib/lifeline/x\n", "overlaps state_dir" },
		{ "data = /var/lib/a\nexclude = etc/*.conf\n", "does not start with one" },
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config *c;

		char *text = conftext_two_nodes(bad[i].protect);

		c = config_parse_string(text, "t.conf", err, sizeof(err));
		free(text);
		if (c != NULL || strstr(err, bad[i].why) == NULL)
			fail_msg("case %zu: got \"%s\", expected a refusal saying \"%s\"", i,
			    c == NULL ? err : "accepted", bad[i].why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbering),
		cmocka_unit_test(test_inside_and_paths),
		cmocka_unit_test(test_exclude),
		cmocka_unit_test(test_config_refuses_overlaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
