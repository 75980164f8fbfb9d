/*
 * Fuzz target of the wants codec (repl/check): the bytes are a message of
 * wants as it comes upstream from a passive. check.c, hashcache.c, op.c and record.c
 * are #included. Whatever the bytes, check_wants_decode refuses them with
 * a reason and no want, or every want it gives has a valid path inside
 * the message, ended by its NUL, and the wants encode back to exactly the
 * same bytes.
 */
#include "repl/record.c"
#include "repl/op.c"
#include "repl/hashcache.c"
#include "repl/check.c"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

/*
 * The decoder never opens a file; the verifier does, through the applier,
 * which this target does not link. Any call is a bug of the target.
 */
int
applier_openat(const struct applier *a, unsigned root, const char *path, int flags, mode_t mode)
{
	abort();
}

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_check_wants: %s\n", what);
		abort();
	}
}

static bool
inside(const uint8_t *buf, size_t size, const void *s, size_t len)
{
	const uint8_t *p = s;

	return p >= buf && p <= buf + size && (size_t)(buf + size - p) >= len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct check_want w[CHECK_WANTS_MAX];
	size_t n = 99, i, total = CHECK_WANTS_HEAD, taken;
	char why[256] = "";
	uint8_t *buf;

	if (check_wants_decode(data, size, w, CHECK_WANTS_MAX, &n, why, sizeof(why)) == -1) {
		check(why[0] != '\0' && n == 0, "refused without a reason, or with wants");
		return 0;
	}
	check(n <= CHECK_WANTS_MAX, "more wants than the bound");
	for (i = 0; i < n; i++) {
		check(inside(data, size, w[i].path, (size_t)w[i].path_len + 1) &&
		    w[i].path[w[i].path_len] == '\0', "path outside the message or without NUL");
		check(op_path_valid(w[i].path, w[i].path_len), "accepted an invalid path");
		check(w[i].xnames_len == 0 || inside(data, size, w[i].xnames, w[i].xnames_len),
		    "xattr names outside the message");
		check(w[i].kind >= CHECK_WANT_BLOCKS && w[i].kind <= CHECK_WANT_ENTRY,
		    "accepted an unknown kind");
		total += check_want_size(&w[i]);
	}
	check(total == size, "the wants do not add up to the message");
	buf = malloc(size);
	check(buf != NULL, "out of memory");
	check(check_wants_encode(buf, size, w, n, &taken) == size && taken == n,
	    "re-encoding has another length");
	check(memcmp(buf, data, size) == 0, "re-encoding differs from the message");
	free(buf);
	return 0;
}
