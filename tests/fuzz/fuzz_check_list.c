/*
 * Fuzz target of the list a copy that crashed while active sends up
 * (repl/check, STREAM_UP_TARGETS). check.c, hashcache.c, op.c and record.c are
 * #included. Whatever the bytes, check_list_decode refuses them with a
 * reason, or gives a token that is not 0 and entries whose paths lie in
 * the message and are valid, which check_list_put writes back to exactly
 * the same bytes.
 */
#include "repl/record.c"
#include "repl/op.c"
#include "repl/hashcache.c"
#include "repl/check.c"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

/* The decoder never opens a file: any call is a bug of the target. */
int
applier_openat(const struct applier *a, unsigned root, const char *path, int flags, mode_t mode)
{
	abort();
}

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_check_list: %s\n", what);
		abort();
	}
}

struct again {
	const uint8_t	*data;
	size_t		 size;
	uint8_t		*buf;
	size_t		 len;
};

static int
put_again(void *arg, uint16_t root, const char *path, size_t len, bool deep)
{
	struct again *a = arg;

	check((const uint8_t *)path >= a->data && (const uint8_t *)path + len <= a->data + a->size,
	    "a path outside the message");
	check(len == 0 || op_path_valid(path, len), "an invalid path");
	check(check_list_put(a->buf, a->size, &a->len, root, path, len, deep),
	    "an entry that does not encode back");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct again a = { data, size, malloc(size + 1), CHECK_LIST_HEAD };
	uint64_t token = 0;
	char why[256] = "";

	if (check_list_decode(data, size, &token, put_again, &a, why, sizeof(why)) == -1)
		check(why[0] != '\0', "refused without a reason");
	else {
		check(token != 0, "token 0 taken");
		put64(a.buf, token);
		check(a.len == size && memcmp(a.buf, data, size) == 0,
		    "the entries do not encode back to the same bytes");
	}
	free(a.buf);
	return 0;
}
