/*
 * Running a command's main function inside a unit test with its stdout and
 * stderr captured (test_commands, test_lab, test_init).
 */
#ifndef LIFELINE_TEST_CAPTURED_H
#define LIFELINE_TEST_CAPTURED_H

struct output {
	char out[16384], err[4096];   /* what it printed, cut to fit */
	int  rc;                      /* what it returned */
};

typedef int captured_fn(void *arg, int argc, char **argv);

/* o->rc = fn(arg, argc, argv), with what it wrote to fds 1 and 2 in o. */
void run_captured(struct output *o, captured_fn *fn, void *arg, int argc, char **argv);

#endif
