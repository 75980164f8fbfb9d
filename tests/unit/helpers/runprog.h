/*
 * Running a program from a test and keeping what it printed: for the tests
 * that drive plug-ins through lifeline-plugin, and the servers they start.
 */
#ifndef LIFELINE_TEST_RUNPROG_H
#define LIFELINE_TEST_RUNPROG_H

#include <stdint.h>
#include <sys/types.h>

struct run {
	char out[16384], err[8192];
	int  rc;                   /* exit status, 128+signal, -1 when killed at its limit */
};

/*
 * Reap child *pid within limit_ms: its exit status (128 + the signal when
 * one ended it), and *pid becomes 0; -1 when it has not ended by then
 * (*pid stays) or is not ours (*pid becomes 0).
 */
int run_reap(pid_t *pid, uint64_t limit_ms);

/* Run argv, its stdout and stderr into r, ended with SIGKILL at limit_ms. */
void run_program(struct run *r, char *const argv[], uint64_t limit_ms);

#endif
