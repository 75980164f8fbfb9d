/*
 * Scratch folders for unit tests: one under /tmp named after the test
 * program, removed with everything in it when the test is done.
 */
#ifndef LIFELINE_TEST_TMPDIR_H
#define LIFELINE_TEST_TMPDIR_H

/* A new, empty folder "/tmp/lifeline-PROGRAM-XXXXXX"; malloc'd. */
char *tmpdir(void);

/* Remove dir and all below it; a failure fails the calling test. */
void rm_rf(const char *dir);

#endif
