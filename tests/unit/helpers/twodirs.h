/*
 * Two scratch folders side by side, for tests of what one node reads and
 * another applies: TOP/a (the active's) and TOP/b (a passive's), each
 * opened as a directory descriptor; and a file writer for them.
 */
#ifndef LIFELINE_TEST_TWODIRS_H
#define LIFELINE_TEST_TWODIRS_H

#include <sys/types.h>

struct twodirs {
	char	*top;              /* tmpdir(), removed by twodirs_free */
	char	 a[512], b[512];
	int	 afd, bfd;
};

void	twodirs_make(struct twodirs *t);
void	twodirs_free(struct twodirs *t);

/* dir/rel holds exactly text, with mode; a failure fails the calling test. */
void	put_file(const char *dir, const char *rel, const char *text, mode_t mode);

#endif
