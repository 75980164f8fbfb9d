/*
 * Unit tests of repl/confcheck: a manifest of an entry compared with a
 * copy that matches finds nothing; one that differs in content, mode or
 * owner, has more or lacks a file shows each as drift, keeps this copy's
 * version in the quarantine, removes what only it had and asks for the
 * entry; excluded files are neither listed nor drift; a malformed
 * manifest is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"
#include "helpers/conftext.h"
#include "helpers/twodirs.h"
#include "repl/confcheck.h"
#include "repl/confop.h"

struct fixture {
	struct twodirs		 d;
	char			 q[600];
	struct config		*conf;
	struct confroots	 cr;
	int			 afd, bfd;
	uint8_t			*buf;
	struct op		 manifest;
};

/* The same tree on both sides: app/main.conf, app/conf.d/x.conf. */
static void
tree(const char *dir)
{
	char path[1100];

	snprintf(path, sizeof(path), "%s/app", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/app/conf.d", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	put_file(dir, "app/main.conf", "main\n", 0644);
	put_file(dir, "app/conf.d/x.conf", "x\n", 0640);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	twodirs_make(&f->d);
	snprintf(f->q, sizeof(f->q), "%s/quarantine", f->d.top);
	tree(f->d.a);
	tree(f->d.b);
	/* Both sides protect "<a>/app"; the passive's root is its own folder b. */
	f->conf = conftext_load("data = /var/lib/a\nconfig = /etc/app\nexclude = *.dpkg-*\n");
	confroots_init(&f->cr, f->conf);
	f->buf = malloc(OP_MAX_DATA);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	confroots_free(&f->cr);
	config_free(f->conf);
	twodirs_free(&f->d);
	free(f->buf);
	free(f);
	return 0;
}

/* Manifest of a, compared on b: the drift as "what path" lines joined by "; ". */
static char *
compare(struct fixture *f, bool *want)
{
	struct confcheck_result res = { 0 };
	char why[512], *out = xstrdup("");

	if (confcheck_manifest(&f->cr, f->d.afd, f->cr.first, f->buf, OP_MAX_DATA, &f->manifest,
	    why, sizeof(why)) < 0)
		fail_msg("manifest: %s", why);
	if (confcheck_compare(&f->cr, f->d.bfd, &f->manifest, f->q, &res, why, sizeof(why)) < 0)
		fail_msg("compare: %s", why);
	for (size_t i = 0; i < res.ndrift; i++) {
		char *next = xasprintf("%s%s%s %s", out, i ? "; " : "", res.drift[i].what,
		    res.drift[i].path);

		free(out);
		out = next;
	}
	*want = res.want;
	confcheck_result_clear(&res);
	return out;
}

static void
is_drift(struct fixture *f, const char *want_text, bool want_want)
{
	bool want;
	char *got = compare(f, &want);

	if (strcmp(got, want_text) != 0)
		fail_msg("drift \"%s\", expected \"%s\"", got, want_text);
	assert_int_equal(want, want_want);
	free(got);
}

static void
test_same(void **state)
{
	struct fixture *f = *state;

	put_file(f->d.b, "app/main.conf.dpkg-old", "the package's own", 0644);   /* excluded */
	is_drift(f, "", false);
}

/* What the active cannot send (a fifo) is not "missing here". */
static void
test_unsendable_not_missing(void **state)
{
	struct fixture *f = *state;
	char path[1100];

	snprintf(path, sizeof(path), "%s/app/pipe", f->d.a);
	assert_int_equal(mkfifo(path, 0600), 0);
	is_drift(f, "", false);
}

static void
test_differences(void **state)
{
	struct fixture *f = *state;
	char path[1100], *kept;

	put_file(f->d.b, "app/main.conf", "changed on the passive\n", 0644);
	snprintf(path, sizeof(path), "%s/app/conf.d/x.conf", f->d.b);
	assert_int_equal(chmod(path, 0600), 0);
	put_file(f->d.b, "app/extra.conf", "only here\n", 0644);
	put_file(f->d.a, "app/new.conf", "only on the active\n", 0644);
	/* In tree order: a folder and all below it, then its next sibling. */
	is_drift(f, "mode /etc/app/conf.d/x.conf; only here /etc/app/extra.conf; "
	    "content /etc/app/main.conf; missing here /etc/app/new.conf", true);
	/* The passive's versions are kept; what only it had is gone from its copy. */
	snprintf(path, sizeof(path), "%s/etc/app/main.conf", f->q);
	kept = read_file(path, 4096, NULL);
	assert_non_null(kept);
	assert_string_equal(kept, "changed on the passive\n");
	free(kept);
	snprintf(path, sizeof(path), "%s/etc/app/extra.conf", f->q);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/app/extra.conf", f->d.b);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_folder_only_here(void **state)
{
	struct fixture *f = *state;
	char path[1100];

	snprintf(path, sizeof(path), "%s/app/local.d", f->d.b);
	assert_int_equal(mkdir(path, 0755), 0);
	put_file(f->d.b, "app/local.d/z.conf", "z\n", 0644);
	put_file(f->d.b, "app/local.d.conf", "beside it\n", 0644);
	is_drift(f, "only here /etc/app/local.d; only here /etc/app/local.d.conf", true);
	snprintf(path, sizeof(path), "%s/etc/app/local.d/z.conf", f->q);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/app/local.d", f->d.b);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_malformed_manifest(void **state)
{
	struct fixture *f = *state;
	struct confcheck_result res = { 0 };
	char why[512];
	bool want;

	free(compare(f, &want));
	/* Say one entry more than it holds. */
	f->manifest.size++;
	assert_int_equal(confcheck_compare(&f->cr, f->d.bfd, &f->manifest, f->q, &res, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "entries"));
	confcheck_result_clear(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsendable_not_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_differences, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_only_here, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_manifest, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
