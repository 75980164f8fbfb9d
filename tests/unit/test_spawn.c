/*
 * common/spawn: a detached start reports the program's own pid, leaves no
 * child of ours, gives the program a new session, /dev/null for stdin, the
 * asked output file and nothing else open; a start that cannot run says
 * why; programs are found beside the running executable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/spawn.h"
#include "common/util.h"
#include "helpers/tmpdir.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Wait (bounded, 5 s) until path exists and is not empty; its text or NULL. */
static char *
wait_file(const char *path)
{
	for (int i = 0; i < 500; i++) {
		char *text = read_file(path, 65536, NULL);

		if (text != NULL && text[0] != '\0' && strchr(text, '\n') != NULL)
			return text;
		free(text);
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return NULL;
}

/* Wait (bounded, 5 s) for the end of a process that is not our child. */
static int
wait_gone(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n;

	if (fd < 0)
		return errno == ESRCH ? 0 : -1;
	n = poll(&pfd, 1, 5000);
	close(fd);
	return n == 1 ? 0 : -1;
}

/* The program's own view: pid, session, what stdin is, its open descriptors. */
static void
test_detached_start(void **state)
{
	char *dir = tmpdir(), *out = xasprintf("%s/out.log", dir), *text, err[256];
	char *argv[] = { "/bin/sh", "-c",
	    "echo \"pid $$ sid $(ps -o sid= -p $$ | tr -d ' ') stdin $(readlink /proc/self/fd/0)\";"
	    " echo \"fds $(ls /proc/$$/fd | tr '\\n' ' ')\"; exec sleep 30", NULL };
	long pid_seen, sid_seen;
	char stdin_seen[64];
	int report_fd = -1, status;
	pid_t pid;

	pid = spawn_detached(argv, out, &report_fd, err, sizeof(err));
	assert_true(pid > 0);
	assert_true(report_fd >= 0);
	assert_non_null(text = wait_file(out));
	assert_int_equal(sscanf(text, "pid %ld sid %ld stdin %63s", &pid_seen, &sid_seen, stdin_seen), 3);
	assert_int_equal(pid_seen, pid);                 /* the program's pid, not the middle's */
	/* A new session (the middle process's, which exited: no terminal can be taken). */
	assert_int_not_equal(sid_seen, getsid(0));
	assert_int_not_equal(sid_seen, pid);
	assert_int_equal(getsid(pid), sid_seen);
	assert_string_equal(stdin_seen, "/dev/null");
	/* Only 0-2 (and the fd ls itself holds while listing, 3): nothing of ours. */
	free(text);
	for (int i = 0; i < 500; i++) {
		text = read_file(out, 65536, NULL);
		if (text != NULL && strstr(text, "fds ") != NULL)
			break;
		free(text);
		text = NULL;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	assert_non_null(text);
	assert_non_null(strstr(text, "fds 0 1 2 "));
	assert_null(strstr(text, "fds 0 1 2 3 4"));
	/* Not our child: the caller never reaps it. */
	assert_int_equal(waitpid(pid, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(spawn_exec_errno(report_fd), 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(wait_gone(pid), 0);
	close(report_fd);
	free(text);
	rm_rf(dir);
	free(out);
	free(dir);
}

/* Output appended, never truncated: a log keeps what earlier starts wrote. */
static void
test_output_appended(void **state)
{
	char *dir = tmpdir(), *out = xasprintf("%s/out.log", dir), *text, err[256];
	char *argv[] = { "/bin/echo", "second", NULL };
	int report_fd;
	pid_t pid;

	assert_int_equal(write_file_atomic(out, "first\n", 6, 0600), 0);
	assert_true((pid = spawn_detached(argv, out, &report_fd, err, sizeof(err))) > 0);
	assert_int_equal(wait_gone(pid), 0);
	assert_non_null(text = read_file(out, 4096, NULL));
	assert_string_equal(text, "first\nsecond\n");
	close(report_fd);
	free(text);
	rm_rf(dir);
	free(out);
	free(dir);
}

/* What cannot be started says why: missing, not executable, not a program. */
static void
test_failures(void **state)
{
	char *dir = tmpdir(), *junk = xasprintf("%s/junk", dir), err[256];
	char *missing[] = { "/nonexistent/lifelined", NULL };
	char *notexec[] = { junk, NULL };
	int report_fd = -1, exec_errno;
	pid_t pid;

	assert_int_equal(spawn_detached(missing, NULL, &report_fd, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot spawn /nonexistent/lifelined: No such file or directory");

	static const char garbage[] = "\x7f\x01\x02\x03 not a program";

	assert_int_equal(write_file_atomic(junk, garbage, sizeof(garbage) - 1, 0644), 0);
	assert_int_equal(spawn_detached(notexec, NULL, &report_fd, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Permission denied"));

	/* Executable but no format the kernel knows: the exec itself fails. */
	assert_int_equal(chmod(junk, 0755), 0);
	pid = spawn_detached(notexec, NULL, &report_fd, err, sizeof(err));
	if (pid < 0)
		assert_non_null(strstr(err, "Exec format error"));   /* seen at once */
	else {
		assert_int_equal(wait_gone(pid), 0);
		exec_errno = spawn_exec_errno(report_fd);           /* or reported later */
		assert_int_equal(exec_errno, ENOEXEC);
		close(report_fd);
	}
	rm_rf(dir);
	free(junk);
	free(dir);
}

static void
test_program_beside(void **state)
{
	char *self = spawn_program_beside("test_spawn");

	assert_non_null(self);
	assert_int_equal(access(self, X_OK), 0);
	assert_non_null(strstr(self, "/test_spawn"));
	assert_null(spawn_program_beside("no-such-program-here"));
	free(self);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detached_start),
		cmocka_unit_test(test_output_appended),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_program_beside),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
