/*
 * A private system bus for tests of systemd units: a dbus-daemon of the
 * test's own (DBUS_SYSTEM_BUS_ADDRESS points at it) and fake-systemd
 * (tests/tools) serving the units it is given. Every process is the
 * test's, stopped by PID.
 */
#ifndef LIFELINE_TEST_FAKEBUS_H
#define LIFELINE_TEST_FAKEBUS_H

#include <stdbool.h>
#include <sys/types.h>

struct fakebus {
	pid_t bus_pid;      /* dbus-daemon, 0 when stopped */
	pid_t fake_pid;     /* fake-systemd, 0 when stopped */
};

/* dbus-daemon's path, or NULL when it is not installed (then skip). */
char *fakebus_dbus_daemon(void);

/* Start dbus-daemon listening in dir and point DBUS_SYSTEM_BUS_ADDRESS at it. */
void fakebus_start_bus(struct fakebus *fb, const char *dbus_daemon, const char *dir);

/* Start fake-systemd on that bus serving units ("NAME.service=COMMAND", NULL-ended). */
void fakebus_start_fake(struct fakebus *fb, char *const units[]);

/* SIGTERM, up to 2 s, then SIGKILL; reaped either way; *pid becomes 0. */
void fakebus_stop_process(pid_t *pid);

/* Both stopped. */
void fakebus_stop(struct fakebus *fb);

#endif
