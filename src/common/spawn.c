/*
 * Detached starts (spawn.h): a middle process in a new session forks the
 * program and exits; the program's pid, or why a fork or the exec failed,
 * comes back through a close-on-exec pipe.
 */
#include "common/spawn.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* 8 bytes, written atomically to the pipe. */
struct spawn_msg {
	int32_t kind;
	int32_t value;
};
enum { SPAWN_PID = 1, SPAWN_FORK_FAILED, SPAWN_EXEC_FAILED };

/*
 * The program's side, in the grandchild: plain signals, stdin from
 * /dev/null, the output where asked, no descriptor of the caller's but
 * 0-2, then exec. Only async-signal-safe calls: the caller may have threads.
 */
static _Noreturn void
exec_program(char *const argv[], const char *out_path, int report_fd)
{
	struct spawn_msg m = { SPAWN_EXEC_FAILED, 0 };
	sigset_t none;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);    /* the callers ignore SIGPIPE; exec keeps SIG_IGN */
	if ((fd = open("/dev/null", O_RDONLY)) >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	if (out_path != NULL) {
		if ((fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0) {
			m.value = errno;
			(void)!write(report_fd, &m, sizeof(m));
			_exit(127);
		}
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	/* Close-on-exec, not closed: report_fd must live until the exec. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	execv(argv[0], argv);
	m.value = errno;
	(void)!write(report_fd, &m, sizeof(m));
	_exit(127);
}

/* The middle process: a new session, the program in a grandchild, its pid reported. */
static _Noreturn void
spawn_middle(char *const argv[], const char *out_path, int report_fd)
{
	struct spawn_msg m = { SPAWN_PID, 0 };
	pid_t pid;

	setsid();
	if ((pid = fork()) == 0)
		exec_program(argv, out_path, report_fd);
	if (pid < 0) {
		m.kind = SPAWN_FORK_FAILED;
		m.value = errno;
	} else
		m.value = pid;
	(void)!write(report_fd, &m, sizeof(m));
	_exit(pid < 0 ? 1 : 0);
}

/* What the processes reported so far: the pid (0 if none), fork and exec errnos. */
static pid_t
read_msgs(int fd, int *fork_errno, int *exec_errno)
{
	struct spawn_msg m;
	pid_t pid = 0;

	while (read(fd, &m, sizeof(m)) == (ssize_t)sizeof(m)) {
		if (m.kind == SPAWN_PID)
			pid = m.value;
		else if (m.kind == SPAWN_FORK_FAILED)
			*fork_errno = m.value;
		else if (m.kind == SPAWN_EXEC_FAILED)
			*exec_errno = m.value;
	}
	return pid;
}

pid_t
spawn_detached(char *const argv[], const char *out_path, int *report_fd, char *err,
    size_t errlen)
{
	int fds[2], status, fork_errno = 0, exec_errno = 0;
	pid_t mid, pid;

	if (access(argv[0], X_OK) < 0) {
		snprintf(err, errlen, "cannot spawn %s: %s", argv[0], strerror(errno));
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "cannot spawn %s: pipe: %s", argv[0], strerror(errno));
		return -1;
	}
	if ((mid = fork()) == 0) {
		close(fds[0]);
		spawn_middle(argv, out_path, fds[1]);
	}
	fork_errno = errno;
	close(fds[1]);
	if (mid < 0) {
		snprintf(err, errlen, "cannot spawn %s: fork: %s", argv[0], strerror(fork_errno));
		close(fds[0]);
		return -1;
	}
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	fork_errno = 0;
	if ((pid = read_msgs(fds[0], &fork_errno, &exec_errno)) <= 0) {
		snprintf(err, errlen, "cannot spawn %s: %s", argv[0],
		    fork_errno != 0 ? strerror(fork_errno) : "the middle process reported no pid");
		close(fds[0]);
		return -1;
	}
	if (exec_errno != 0) {
		snprintf(err, errlen, "cannot spawn %s: %s", argv[0], strerror(exec_errno));
		close(fds[0]);
		return -1;
	}
	*report_fd = fds[0];
	return pid;
}

int
spawn_exec_errno(int report_fd)
{
	int fork_errno = 0, exec_errno = 0;

	if (report_fd >= 0)
		read_msgs(report_fd, &fork_errno, &exec_errno);
	return exec_errno;
}

char *
spawn_program_beside(const char *name)
{
	char self[PATH_MAX], *slash, *beside, *sbin;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return NULL;
	*slash = '\0';
	beside = xasprintf("%s/%s", self, name);
	if (access(beside, X_OK) == 0)
		return beside;
	free(beside);
	sbin = xasprintf("%s/../sbin/%s", self, name);
	if (access(sbin, X_OK) == 0)
		return sbin;
	free(sbin);
	sbin = xasprintf("%s/../bin/%s", self, name);      /* the CLI, seen from sbin */
	if (access(sbin, X_OK) == 0)
		return sbin;
	free(sbin);
	return NULL;
}
