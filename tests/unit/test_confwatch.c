/*
 * Unit tests of repl/confwatch: changes to a watched config entry become
 * whole-entry ops, coalesced (a file written a hundred times between two
 * flushes goes once; an editor's temporary file renamed over the entry is
 * never sent, only the result); a folder made with files in it goes with
 * them, folder first; a delete and a rename; excluded names never go; a
 * config change is journaled before a data change that follows it; the
 * file beside the entry in its folder is ignored.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"
#include "helpers/conftext.h"
#include "helpers/tmpdir.h"
#include "repl/confwatch.h"
#include "repl/record.h"

#define MAX_SEEN 256

/* What was emitted, in order: "TYPE PATH" lines. */
struct seen {
	char	*line[MAX_SEEN];
	size_t	 n;
};

struct fixture {
	char			*top;
	char			 etc[512];
	struct config		*conf;
	struct confroots	 cr;
	int			 rootfd;
	struct confwatch	*w;
	struct seen		 seen;
};

static int
record(void *arg, const struct op *op)
{
	struct seen *s = arg;

	assert_true(s->n < MAX_SEEN);
	s->line[s->n++] = xasprintf("%s %.*s", record_type_name(op->type), (int)op->path_len,
	    op->path);
	return 0;
}

static void
seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->line[i]);
	s->n = 0;
}

/* The lines seen, joined by "; ", for one comparison. */
static char *
seen_text(const struct seen *s)
{
	char *out = xstrdup("");

	for (size_t i = 0; i < s->n; i++) {
		char *next = xasprintf("%s%s%s", out, i ? "; " : "", s->line[i]);

		free(out);
		out = next;
	}
	return out;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char text[2048], err[512], path[700];

	f->top = tmpdir();
	snprintf(f->etc, sizeof(f->etc), "%s/etc", f->top);
	assert_int_equal(mkdir(f->etc, 0755), 0);
	snprintf(path, sizeof(path), "%s/app", f->etc);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(text, sizeof(text), "data = /var/lib/a\nconfig = %s/app\nexclude = *.dpkg-*\n",
	    f->etc);
	f->conf = conftext_load(text);
	confroots_init(&f->cr, f->conf);
	f->rootfd = open(f->etc, O_RDONLY | O_DIRECTORY);
	f->w = confwatch_new(&f->cr, &f->rootfd, record, &f->seen, err, sizeof(err));
	if (f->w == NULL)
		fail_msg("%s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	confwatch_free(f->w);
	close(f->rootfd);
	confroots_free(&f->cr);
	config_free(f->conf);
	seen_clear(&f->seen);
	rm_rf(f->top);
	free(f->top);
	free(f);
	return 0;
}

static void
write_text(const struct fixture *f, const char *rel, const char *text)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->etc, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
expect(struct fixture *f, const char *want)
{
	char *got;

	assert_true(confwatch_sync_locked(f->w) >= 0);
	got = seen_text(&f->seen);
	if (strcmp(got, want) != 0)
		fail_msg("emitted \"%s\", expected \"%s\"", got, want);
	free(got);
	seen_clear(&f->seen);
}

static void
test_nothing_at_start(void **state)
{
	struct fixture *f = *state;

	expect(f, "");
}

static void
test_many_writes_go_once(void **state)
{
	struct fixture *f = *state;
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/app/main.conf", f->etc);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (int i = 0; i < 100; i++)
		assert_int_equal(write(fd, "line\n", 5), 5);
	close(fd);
	expect(f, "config-file app/main.conf");
	expect(f, "");                              /* and nothing more */
}

static void
test_editor_replace(void **state)
{
	struct fixture *f = *state;
	char from[1024], to[1024];

	write_text(f, "app/main.conf", "v1\n");
	expect(f, "config-file app/main.conf");
	/* An editor's way: a new file beside it, renamed over it. */
	write_text(f, "app/.main.conf.swx", "v2\n");
	snprintf(from, sizeof(from), "%s/app/.main.conf.swx", f->etc);
	snprintf(to, sizeof(to), "%s/app/main.conf", f->etc);
	assert_int_equal(rename(from, to), 0);
	expect(f, "config-file app/main.conf");
}

static void
test_folder_delete_rename(void **state)
{
	struct fixture *f = *state;
	char path[1024], to[1024];

	snprintf(path, sizeof(path), "%s/app/conf.d", f->etc);
	assert_int_equal(mkdir(path, 0755), 0);
	write_text(f, "app/conf.d/b.conf", "b\n");
	write_text(f, "app/conf.d/a.conf", "a\n");
	expect(f, "config-dir app/conf.d; config-file app/conf.d/a.conf; "
	    "config-file app/conf.d/b.conf");
	/* A file made later in the new folder is seen: it was watched before it was read. */
	write_text(f, "app/conf.d/c.conf", "c\n");
	expect(f, "config-file app/conf.d/c.conf");
	snprintf(path, sizeof(path), "%s/app/conf.d/a.conf", f->etc);
	assert_int_equal(unlink(path), 0);
	expect(f, "config-remove app/conf.d/a.conf");
	/* A rename: the old name goes, the new one comes with all it holds. */
	snprintf(path, sizeof(path), "%s/app/conf.d", f->etc);
	snprintf(to, sizeof(to), "%s/app/sites", f->etc);
	assert_int_equal(rename(path, to), 0);
	expect(f, "config-remove app/conf.d; config-dir app/sites; "
	    "config-file app/sites/b.conf; config-file app/sites/c.conf");
	/* The moved folder is watched under its new name. */
	write_text(f, "app/sites/b.conf", "b2\n");
	expect(f, "config-file app/sites/b.conf");
}

/* rm -r: the files go before their folder, so the passive's folder is empty when it goes. */
static void
test_removal_deepest_first(void **state)
{
	struct fixture *f = *state;
	char path[1024];

	snprintf(path, sizeof(path), "%s/app/conf.d", f->etc);
	assert_int_equal(mkdir(path, 0755), 0);
	write_text(f, "app/conf.d/a.conf", "a\n");
	write_text(f, "app/conf.d/b.conf", "b\n");
	expect(f, "config-dir app/conf.d; config-file app/conf.d/a.conf; "
	    "config-file app/conf.d/b.conf");
	snprintf(path, sizeof(path), "%s/app/conf.d/a.conf", f->etc);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/app/conf.d/b.conf", f->etc);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/app/conf.d", f->etc);
	assert_int_equal(rmdir(path), 0);
	write_text(f, "app/new.conf", "n\n");
	expect(f, "config-remove app/conf.d/b.conf; config-remove app/conf.d/a.conf; "
	    "config-remove app/conf.d; config-file app/new.conf");
}

/*
 * The folder holding the entry replaced under its path (a package
 * reinstalled): the new one is followed and sent whole, the old one no
 * longer (its removal sends nothing).
 */
static void
test_folder_replaced(void **state)
{
	struct fixture *f = *state;
	char old[600], path[1100];

	write_text(f, "app/main.conf", "v1\n");
	expect(f, "config-file app/main.conf");
	snprintf(old, sizeof(old), "%s.old", f->etc);
	assert_int_equal(rename(f->etc, old), 0);
	assert_int_equal(mkdir(f->etc, 0755), 0);
	snprintf(path, sizeof(path), "%s/app", f->etc);
	assert_int_equal(mkdir(path, 0755), 0);
	write_text(f, "app/main.conf", "v3\n");
	expect(f, "config-dir app; config-file app/main.conf");
	snprintf(path, sizeof(path), "%s/app/main.conf", old);
	assert_int_equal(unlink(path), 0);           /* the old folder is not the entry any more */
	write_text(f, "app/main.conf", "v4\n");
	expect(f, "config-file app/main.conf");
}

/*
 * Within one flush: a folder removed and made again goes first, then comes
 * whole (the passive must not keep the old one's files); a file renamed
 * over a sent one and then removed is removed (a rename over is no birth).
 */
static void
test_gone_and_back(void **state)
{
	struct fixture *f = *state;
	char path[1100], to[1100];

	snprintf(path, sizeof(path), "%s/app/d", f->etc);
	assert_int_equal(mkdir(path, 0755), 0);
	write_text(f, "app/d/one", "1\n");
	write_text(f, "app/x.conf", "x\n");
	expect(f, "config-dir app/d; config-file app/d/one; config-file app/x.conf");
	snprintf(to, sizeof(to), "%s/d.moved", f->top);
	assert_int_equal(rename(path, to), 0);                /* moved out of the entry */
	assert_int_equal(mkdir(path, 0755), 0);
	write_text(f, "app/d/two", "2\n");
	write_text(f, "app/t", "new\n");
	snprintf(path, sizeof(path), "%s/app/t", f->etc);
	snprintf(to, sizeof(to), "%s/app/x.conf", f->etc);
	assert_int_equal(rename(path, to), 0);
	assert_int_equal(unlink(to), 0);
	expect(f, "config-remove app/x.conf; config-remove app/d; config-dir app/d; "
	    "config-file app/d/two");
}

static void
test_excluded_and_beside(void **state)
{
	struct fixture *f = *state;

	write_text(f, "app/main.conf.dpkg-dist", "the package's\n");
	write_text(f, "passwd", "beside the entry, not in it\n");
	write_text(f, "app2", "a sibling with the same start\n");
	expect(f, "");
}

static void
test_config_before_data(void **state)
{
	struct fixture *f = *state;
	struct op data = { .type = RECORD_WRITE, .path = "db", .path_len = 2 };

	write_text(f, "app/main.conf", "mode = new\n");
	/* The capture's emit: the watcher's sync first, then the data op. */
	confwatch_sync_locked(f->w);
	record(&f->seen, &data);
	expect(f, "config-file app/main.conf; write db");
}

/* What a manifest asks before it is journaled: did anything change since the flush? */
static void
test_changed(void **state)
{
	struct fixture *f = *state;

	assert_false(confwatch_changed_locked(f->w));
	write_text(f, "app/main.conf", "x\n");
	assert_true(confwatch_changed_locked(f->w));
	expect(f, "config-file app/main.conf");
	assert_false(confwatch_changed_locked(f->w));
	write_text(f, "app2", "beside the entry\n");
	assert_false(confwatch_changed_locked(f->w));
}

static void
test_want_sends_again(void **state)
{
	struct fixture *f = *state;

	write_text(f, "app/main.conf", "x\n");
	expect(f, "config-file app/main.conf");
	confwatch_want_locked(f->w, f->cr.first, "app");
	expect(f, "config-dir app; config-file app/main.conf");
	confwatch_want_locked(f->w, f->cr.first, "passwd");     /* outside the entry: ignored */
	confwatch_want_locked(f->w, 0, "app");                  /* a data root: ignored */
	expect(f, "");
}

/* In a child: 0 when the check holds, 1 when not, 77 when no user namespace can be had. */
static int
watch_limit_child(void)
{
	char top[] = "/tmp/lifeline-test_confwatch-limit-XXXXXX", path[700], limit[700], err[512];
	char text[1024], *raised, *conf;
	struct confwatch_stats st;
	struct confroots cr;
	struct confwatch *w;
	struct config *c;
	int rootfd, ok;
	static const char *const dirs[] = { "etc", "etc/app", "etc/app/a", "etc/app/b",
	    "etc/app/c" };

	if (unshare(CLONE_NEWUSER) == -1) {
		fprintf(stderr, "unshare: %s\n", strerror(errno));
		return 77;
	}
	/* Root in the new namespace, where the watch limit is its own (user.max_inotify_watches). */
	for (int i = 0; i < 4; i++) {
		static const char *const files[] = { "/proc/self/setgroups", "/proc/self/uid_map",
		    "/proc/self/gid_map", "/proc/sys/user/max_inotify_watches" };
		static const char *const values[] = { "deny", "0 0 1", "0 0 1", "2" };
		int fd = open(files[i], O_WRONLY | O_CLOEXEC);

		if (fd == -1 || write(fd, values[i], strlen(values[i])) == -1) {
			fprintf(stderr, "%s: %s\n", files[i], strerror(errno));
			return 77;
		}
		close(fd);
	}
	if (mkdtemp(top) == NULL)
		return 1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", top, dirs[i]);
		if (mkdir(path, 0755) == -1)
			return 1;
	}
	/* Never the host's limit: the watcher raises a file of the test's own. */
	snprintf(limit, sizeof(limit), "%s/limit", top);
	if (write_file_atomic(limit, "2\n", 2, 0644) < 0)
		return 1;
	confwatch_limit_file(limit);
	snprintf(text, sizeof(text), "data = /var/lib/a\nconfig = %s/etc/app\n", top);
	conf = conftext_two_nodes(text);
	c = config_parse_string(conf, "t.conf", err, sizeof(err));
	free(conf);
	if (c == NULL)
		return 1;
	confroots_init(&cr, c);
	snprintf(path, sizeof(path), "%s/etc", top);
	rootfd = open(path, O_RDONLY | O_DIRECTORY);
	if ((w = confwatch_new(&cr, &rootfd, record, NULL, err, sizeof(err))) == NULL)
		return 1;
	confwatch_stats(w, &st);
	raised = read_file(limit, 64, NULL);
	ok = st.watch_limit && strstr(st.last_problem, "fs.inotify.max_user_watches is reached") &&
	    st.watches == 2 && raised != NULL && strcmp(raised, "4\n") == 0;
	if (!ok)
		fprintf(stderr, "watch_limit %d, watches %llu, problem \"%s\", limit file \"%s\"\n",
		    st.watch_limit, (unsigned long long)st.watches, st.last_problem,
		    raised ? raised : "?");
	confwatch_free(w);
	close(rootfd);
	free(raised);
	confroots_free(&cr);
	config_free(c);
	{
		char *rm[] = { (char *)"rm", (char *)"-rf", top, NULL };

		run_argv(rm, 1);
	}
	return ok ? 0 : 1;
}

/*
 * Out of inotify watches (a user namespace whose limit is 2, with five
 * folders to watch): the watcher raises the limit once and, that not
 * being enough, says so in its status; the host's limit is never touched.
 */
static void
test_watch_limit(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	if ((pid = fork()) == 0)
		_exit(watch_limit_child());
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nothing_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_writes_go_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_editor_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_delete_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removal_deepest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_and_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_excluded_and_beside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_before_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_want_sends_again, setup, teardown),
		cmocka_unit_test(test_watch_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
