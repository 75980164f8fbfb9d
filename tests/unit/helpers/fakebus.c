/*
 * A private system bus with fake-systemd on it, for unit tests of the
 * systemd back end (test_sdunit, test_services).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "helpers/fakebus.h"

#define WAIT_MS 5000

static const char bus_conf[] =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration "
    "1.0//EN\" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig>\n"
    "  <listen>unix:path=%s/bus</listen>\n"
    "  <auth>EXTERNAL</auth>\n"
    "  <policy context=\"default\">\n"
    "    <allow user=\"*\"/>\n"
    "    <allow own=\"*\"/>\n"
    "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
    "    <allow eavesdrop=\"true\"/>\n"
    "  </policy>\n"
    "</busconfig>\n";

static char *
find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *full = NULL;

	copy = xstrdup(path != NULL ? path : "/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		full = xasprintf("%s/%s", dir, prog);
		if (access(full, X_OK) == 0)
			break;
		free(full);
		full = NULL;
	}
	free(copy);
	return full;
}

/* LIFELINE_BIN/fake-systemd, or beside this test's build: ../bin. */
static char *
fake_path(void)
{
	const char *bin = getenv("LIFELINE_BIN");
	char self[PATH_MAX], *slash;
	ssize_t len;

	if (bin != NULL)
		return xasprintf("%s/fake-systemd", bin);
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(len > 0);
	self[len] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	return xasprintf("%s/../bin/fake-systemd", self);
}

/* Run argv with stdout to a pipe whose reading end goes to *out. */
static pid_t
spawn(char *const argv[], int *out)
{
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

/* The first line fd gives within ms, into buf; false on timeout or EOF. */
static bool
read_line(int fd, char *buf, size_t len, int ms)
{
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;
	size_t n = 0;

	while (n < len - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = now_mono_ms();
		ssize_t got;

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			return false;
		if ((got = read(fd, buf + n, 1)) <= 0)
			return false;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return true;
		}
		n++;
	}
	return false;
}

/* SIGTERM, up to 2 s, then SIGKILL; reaped either way. */
void
fakebus_stop_process(pid_t *pid)
{
	int status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		usleep(10 * 1000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &status, 0);
	*pid = 0;
}

void
fakebus_start_bus(struct fakebus *fb, const char *dbus_daemon, const char *dir)
{
	char *conf = xasprintf("%s/bus.conf", dir);
	char *text = xasprintf(bus_conf, dir);
	char *arg = xasprintf("--config-file=%s", conf);
	char *argv[] = { (char *)dbus_daemon, arg, "--nofork", "--print-address", NULL };
	char line[512];
	int fd;

	assert_int_equal(write_file_atomic(conf, text, strlen(text), 0600), 0);
	fb->bus_pid = spawn(argv, &fd);
	if (!read_line(fd, line, sizeof(line), WAIT_MS))
		fail_msg("dbus-daemon gave no address");
	close(fd);
	assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", line, 1), 0);
	free(conf);
	free(text);
	free(arg);
}

void
fakebus_start_fake(struct fakebus *fb, char *const units[])
{
	char *path = fake_path();
	char *argv[16] = { path };
	char line[64];
	int fd;

	for (size_t i = 0; units[i] != NULL && i < 14; i++)
		argv[i + 1] = units[i];
	if (access(path, X_OK) != 0)
		fail_msg("no %s: build the fake-systemd target", path);
	fb->fake_pid = spawn(argv, &fd);
	if (!read_line(fd, line, sizeof(line), WAIT_MS) ||
	    strcmp(line, "ready") != 0)
		fail_msg("fake-systemd did not get ready");
	close(fd);
	free(path);
}

char *
fakebus_dbus_daemon(void)
{
	return find_in_path("dbus-daemon");
}

void
fakebus_stop(struct fakebus *fb)
{
	fakebus_stop_process(&fb->fake_pid);
	fakebus_stop_process(&fb->bus_pid);
}
