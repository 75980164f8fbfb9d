/*
 * Unit tests of repl/confop: an entry read whole on one side and applied
 * on the other gives the same content, mode, owner, xattrs and mtime; a
 * file is put in place by rename (a reader never sees half of it) and no
 * temporary file is left; a folder, a symlink and a removal with all below
 * it, what the keep callback names left alone; a symlink on the way is
 * never followed; a file over a record's size is refused, not cut.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/util.h"
#include "helpers/twodirs.h"
#include "repl/confop.h"
#include "repl/confroot.h"
#include "repl/record.h"

struct sides {
	struct twodirs d;              /* a: the active's folder holding "app", b: the passive's */
	uint8_t	*buf;
	char	 target[OP_PATH_MAX + 1];
};

static int
setup(void **state)
{
	struct sides *s = calloc(1, sizeof(*s));

	twodirs_make(&s->d);
	s->buf = malloc(CONFOP_MAX_DATA);
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct sides *s = *state;

	twodirs_free(&s->d);
	free(s->buf);
	free(s);
	return 0;
}

static char *
get(const char *dir, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return read_file(path, 1 << 20, NULL);
}

/* Read rel on the active side and apply it on the passive side. */
static enum apply_result
carry(struct sides *s, const char *rel, confop_keep_fn *keep)
{
	struct op op;
	char why[512];
	enum apply_result r;

	if (confop_read(s->d.afd, 0, rel, s->buf, s->target, &op, why, sizeof(why)) != CONFOP_OK)
		fail_msg("reading %s: %s", rel, why);
	r = confop_apply(s->d.bfd, &op, &(struct confop_env){ .keep = keep }, why, sizeof(why));
	if (r != APPLY_OK)
		print_message("apply of %s: %s\n", rel, why);
	return r;
}

static void
test_file_whole(void **state)
{
	struct sides *s = *state;
	struct stat sa, sb, before;
	char path[1024], value[16];
	char *text;

	assert_int_equal(mkdir(strcat(strcpy(path, s->d.a), "/app"), 0750), 0);
	assert_int_equal(mkdir(strcat(strcpy(path, s->d.b), "/app"), 0755), 0);
	put_file(s->d.a, "app/main.conf", "listen = 5432\n", 0640);
	snprintf(path, sizeof(path), "%s/app/main.conf", s->d.a);
	assert_int_equal(setxattr(path, "user.lifeline", "yes", 3, 0), 0);
	assert_int_equal(chown(path, 12, 34), 0);
	put_file(s->d.b, "app/main.conf", "old, longer content than the new one\n", 0600);
	snprintf(path, sizeof(path), "%s/app/main.conf", s->d.b);
	assert_int_equal(setxattr(path, "user.stale", "x", 1, 0), 0);
	assert_int_equal(stat(path, &before), 0);

	assert_int_equal(carry(s, "app", NULL), APPLY_OK);
	assert_int_equal(carry(s, "app/main.conf", NULL), APPLY_OK);
	text = get(s->d.b, "app/main.conf");
	assert_string_equal(text, "listen = 5432\n");
	free(text);
	snprintf(path, sizeof(path), "%s/app/main.conf", s->d.a);
	assert_int_equal(stat(path, &sa), 0);
	snprintf(path, sizeof(path), "%s/app/main.conf", s->d.b);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode, sa.st_mode);
	assert_int_equal(sb.st_uid, 12);
	assert_int_equal(sb.st_gid, 34);
	assert_int_equal(sb.st_mtim.tv_sec, sa.st_mtim.tv_sec);
	assert_int_equal(sb.st_mtim.tv_nsec, sa.st_mtim.tv_nsec);
	assert_true(sb.st_ino != before.st_ino);          /* renamed into place, not rewritten */
	assert_int_equal(getxattr(path, "user.lifeline", value, sizeof(value)), 3);
	assert_int_equal(getxattr(path, "user.stale", value, sizeof(value)), -1);
	/* The folder's own attributes came too; no temporary file is left. */
	snprintf(path, sizeof(path), "%s/app", s->d.b);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0750);
	snprintf(path, sizeof(path), "%s/app/.lifeline-tmp.main.conf", s->d.b);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_symlink_and_remove(void **state)
{
	struct sides *s = *state;
	char path[1024], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/app", s->d.a);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/app/my.cnf", s->d.a);
	assert_int_equal(symlink("/etc/alternatives/my.cnf", path), 0);
	assert_int_equal(carry(s, "app", NULL), APPLY_OK);
	assert_int_equal(carry(s, "app/my.cnf", NULL), APPLY_OK);
	snprintf(path, sizeof(path), "%s/app/my.cnf", s->d.b);
	n = readlink(path, link, sizeof(link) - 1);
	assert_int_equal(n, 24);
	link[n] = '\0';
	assert_string_equal(link, "/etc/alternatives/my.cnf");

	/* The active removes the folder: all of it goes here too. */
	snprintf(path, sizeof(path), "%s/app/my.cnf", s->d.a);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/app", s->d.a);
	assert_int_equal(rmdir(path), 0);
	put_file(s->d.b, "app/extra", "x", 0644);
	assert_int_equal(carry(s, "app", NULL), APPLY_OK);
	snprintf(path, sizeof(path), "%s/app", s->d.b);
	assert_int_equal(access(path, F_OK), -1);
	/* Removing what is already gone is fine (a replay). */
	assert_int_equal(carry(s, "app", NULL), APPLY_OK);
}

static bool
keep_dpkg(void *arg, const char *path)
{
	(void)arg;
	return strstr(path, ".dpkg-") != NULL;
}

static void
test_remove_keeps_excluded(void **state)
{
	struct sides *s = *state;
	char path[1024];

	snprintf(path, sizeof(path), "%s/app", s->d.b);
	assert_int_equal(mkdir(path, 0755), 0);
	put_file(s->d.b, "app/a.conf", "a", 0644);
	put_file(s->d.b, "app/a.conf.dpkg-dist", "the package's", 0644);
	assert_int_equal(carry(s, "app", keep_dpkg), APPLY_OK);   /* gone on the active */
	snprintf(path, sizeof(path), "%s/app/a.conf", s->d.b);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/app/a.conf.dpkg-dist", s->d.b);
	assert_int_equal(access(path, F_OK), 0);
}

static int asides;

static int
aside_ok(void *arg, const char *path)
{
	(void)arg;
	assert_string_equal(path, "app");
	asides++;
	return 0;
}

static int
aside_fails(void *arg, const char *path)
{
	(void)arg;
	(void)path;
	asides++;
	return -1;
}

/*
 * A folder the active removed that still holds entries here is set aside
 * before it goes; when that fails it is left (diverged); an empty one
 * just goes.
 */
static void
test_folder_with_entries_set_aside(void **state)
{
	struct sides *s = *state;
	struct op op = { .type = RECORD_CONFIG_REMOVE, .path = "app", .path_len = 3 };
	char path[1100], why[256];

	snprintf(path, sizeof(path), "%s/app", s->d.b);
	assert_int_equal(mkdir(path, 0755), 0);
	put_file(s->d.b, "app/made-here.conf", "by hand", 0644);
	asides = 0;
	assert_int_equal(confop_apply(s->d.bfd, &op, &(struct confop_env){ .aside = aside_fails },
	    why, sizeof(why)), APPLY_DIVERGED);
	assert_int_equal(asides, 1);
	assert_int_equal(access(path, F_OK), 0);               /* left as it was */
	assert_int_equal(confop_apply(s->d.bfd, &op, &(struct confop_env){ .aside = aside_ok },
	    why, sizeof(why)), APPLY_OK);
	assert_int_equal(asides, 2);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(mkdir(path, 0755), 0);                /* empty: no need to set aside */
	assert_int_equal(confop_apply(s->d.bfd, &op, &(struct confop_env){ .aside = aside_fails },
	    why, sizeof(why)), APPLY_OK);
	assert_int_equal(asides, 2);
}

static void
test_never_through_a_symlink(void **state)
{
	struct sides *s = *state;
	char path[1100], outside[1024];
	struct op op = { .type = RECORD_CONFIG_FILE, .path = "app/x.conf", .path_len = 10,
	    .mode = 0644, .data = (const uint8_t *)"evil", .data_len = 4, .size = 4 };
	char why[256];

	/* The passive's "app" is a symlink to a folder outside its root. */
	snprintf(outside, sizeof(outside), "%s/outside", s->d.top);
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(path, sizeof(path), "%s/app", s->d.b);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(confop_apply(s->d.bfd, &op, NULL, why, sizeof(why)), APPLY_DIVERGED);
	assert_non_null(strstr(why, "symlink"));
	snprintf(path, sizeof(path), "%s/x.conf", outside);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_too_big_is_refused(void **state)
{
	struct sides *s = *state;
	struct op op;
	char path[1024], why[256];
	int fd;

	snprintf(path, sizeof(path), "%s/big.conf", s->d.a);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(ftruncate(fd, CONFOP_MAX_DATA + 1), 0);
	close(fd);
	assert_int_equal(confop_read(s->d.afd, 0, "big.conf", s->buf, s->target, &op, why,
	    sizeof(why)), CONFOP_SKIP);
	assert_non_null(strstr(why, "over the"));
	/* A missing entry reads as its removal. */
	assert_int_equal(confop_read(s->d.afd, 0, "gone.conf", s->buf, s->target, &op, why,
	    sizeof(why)), CONFOP_OK);
	assert_int_equal(op.type, RECORD_CONFIG_REMOVE);
}

/*
 * Through the applier: a CONFIG op lands only in a config root and within
 * its entry; a data op is refused there, a CONFIG op in a data root.
 */
static void
test_applier_confines(void **state)
{
	struct sides *s = *state;
	struct confroot entry = { .entry = "/etc/app", .parent = s->d.b, .name = "app",
	    .name_len = 3 };
	struct confroots cr = { .v = &entry, .n = 1, .first = 1 };
	const char *roots[2] = { s->d.a, s->d.b };
	char pos[1100], why[256];
	struct applier *ap;
	uint64_t seq = 0;

	snprintf(pos, sizeof(pos), "%s/pos", s->d.top);
	ap = applier_open(roots, 2, pos, why, sizeof(why));
	assert_non_null(ap);
	applier_config_roots(ap, &cr, NULL, NULL);
#define APPLY(t, r, p) applier_apply(ap, &(struct record_hdr){ .type = (t), .epoch = 1, \
	    .seq = ++seq }, &(struct op){ .type = (t), .root = (r), .path = (p), \
	    .path_len = (uint16_t)strlen(p), .mode = 0755 }, why, sizeof(why))
	assert_int_equal(APPLY(RECORD_CONFIG_DIR, 1, "passwd.d"), APPLY_REFUSED);
	assert_non_null(strstr(why, "outside config entry /etc/app"));
	seq--;
	assert_int_equal(APPLY(RECORD_CONFIG_DIR, 0, "app"), APPLY_REFUSED);
	assert_non_null(strstr(why, "not a [protect] config entry"));
	seq--;
	assert_int_equal(APPLY(RECORD_MKDIR, 1, "app"), APPLY_REFUSED);
	assert_non_null(strstr(why, "a data op"));
	seq--;
	assert_int_equal(APPLY(RECORD_CONFIG_DIR, 1, "app"), APPLY_OK);
	snprintf(pos, sizeof(pos), "%s/app", s->d.b);
	assert_int_equal(access(pos, F_OK), 0);
	snprintf(pos, sizeof(pos), "%s/passwd.d", s->d.b);
	assert_int_equal(access(pos, F_OK), -1);
	/* The folder holding the entry replaced under its path: records go to the new one. */
	snprintf(pos, sizeof(pos), "%s/b.old", s->d.top);
	assert_int_equal(rename(s->d.b, pos), 0);
	assert_int_equal(mkdir(s->d.b, 0755), 0);
	assert_int_equal(APPLY(RECORD_CONFIG_DIR, 1, "app"), APPLY_OK);
#undef APPLY
	snprintf(pos, sizeof(pos), "%s/app", s->d.b);
	assert_int_equal(access(pos, F_OK), 0);
	applier_close(ap);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_keeps_excluded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_with_entries_set_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_through_a_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_applier_confines, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
