/*
 * A program run from a test, its output kept, within a time limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "helpers/runprog.h"

int
run_reap(pid_t *pid, uint64_t limit_ms)
{
	uint64_t end = now_mono_ms() + limit_ms;
	struct timespec slice = { 0, 10 * 1000 * 1000 };
	int status;

	while (*pid > 0) {
		pid_t r = waitpid(*pid, &status, WNOHANG);

		if (r == *pid) {
			*pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		if (r == -1 && errno != EINTR) {
			*pid = 0;
			return -1;
		}
		if (now_mono_ms() >= end)
			return -1;
		nanosleep(&slice, NULL);
	}
	return -1;
}

void
run_program(struct run *r, char *const argv[], uint64_t limit_ms)
{
	uint64_t end = now_mono_ms() + limit_ms;
	int outp[2], errp[2], fds[2];
	size_t len[2] = { 0, 0 };
	pid_t pid;

	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe2(outp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	if ((pid = fork()) == 0) {
		dup2(outp[1], 1);
		dup2(errp[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	assert_true(pid > 0);
	close(outp[1]);
	close(errp[1]);
	fds[0] = outp[0];
	fds[1] = errp[0];
	while (fds[0] >= 0 || fds[1] >= 0) {
		struct pollfd p[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
		uint64_t now = now_mono_ms();

		if (now >= end || poll(p, 2, (int)(end - now)) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			char *buf = i == 0 ? r->out : r->err;
			size_t size = i == 0 ? sizeof(r->out) : sizeof(r->err);
			char scrap[512];
			ssize_t n;

			if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (len[i] + 1 < size)
				n = read(fds[i], buf + len[i], size - 1 - len[i]);
			else
				n = read(fds[i], scrap, sizeof(scrap));
			if (n > 0 && len[i] + 1 < size)
				len[i] += (size_t)n;
			else if (n == 0 || (n < 0 && errno != EINTR)) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	r->rc = run_reap(&pid, end > now_mono_ms() ? end - now_mono_ms() : 0);
	if (pid > 0) {
		kill(pid, SIGKILL);
		run_reap(&pid, limit_ms);
		r->rc = -1;
	}
}
