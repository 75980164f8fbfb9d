/*
 * Processes seen from a test: whether one still runs.
 */
#ifndef LIFELINE_TEST_PROCS_H
#define LIFELINE_TEST_PROCS_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Whether pid runs: not gone and not a zombie. A process that is not our
 * child stays a zombie until its parent reaps it, and some containers'
 * PID 1 never does.
 */
bool proc_alive(pid_t pid);

#endif
