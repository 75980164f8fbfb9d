/* Two scratch folders (twodirs.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/tmpdir.h"
#include "helpers/twodirs.h"

void
twodirs_make(struct twodirs *t)
{
	t->top = tmpdir();
	snprintf(t->a, sizeof(t->a), "%s/a", t->top);
	snprintf(t->b, sizeof(t->b), "%s/b", t->top);
	assert_int_equal(mkdir(t->a, 0755), 0);
	assert_int_equal(mkdir(t->b, 0755), 0);
	t->afd = open(t->a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t->bfd = open(t->b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->afd >= 0 && t->bfd >= 0);
}

void
twodirs_free(struct twodirs *t)
{
	close(t->afd);
	close(t->bfd);
	rm_rf(t->top);
	free(t->top);
}

void
put_file(const char *dir, const char *rel, const char *text, mode_t mode)
{
	char path[1100];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}
