/*
 * A small valid lifeline.conf for unit tests that need a configuration:
 * a two-node ha cluster on the documentation ranges, with the given
 * [protect] section.
 */
#ifndef LIFELINE_TEST_CONFTEXT_H
#define LIFELINE_TEST_CONFTEXT_H

struct config;

/* The file's text with protect (the lines after "[protect]"); malloc'd. */
char		*conftext_two_nodes(const char *protect);

/* That text parsed as "t.conf"; a refusal fails the calling test. */
struct config	*conftext_load(const char *protect);

#endif
