/*
 * Fuzz target of the op payload codec: the first byte picks the record type
 * (valid or not), the rest is the payload as it comes out of a record.
 * op.c and record.c (type names) are #included. Whatever the bytes,
 * op_decode refuses them with a reason, or the op it gives has valid paths
 * inside the payload and encodes back to exactly the same bytes.
 */
#include "repl/record.c"
#include "repl/op.c"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_op: %s\n", what);
		abort();
	}
}

/* Whether the string [s, s + len] (its NUL too) lies inside the payload. */
static bool
inside(const uint8_t *payload, size_t size, const void *s, size_t len)
{
	const uint8_t *p = s;

	return p >= payload && p <= payload + size && (size_t)(payload + size - p) >= len + 1;
}

/*
 * An accepted VERIFY of several entries: op_entry_next walks exactly the
 * data, as many entries as the size says, each inside it with a valid
 * name, and op_entry_put writes each back to the same bytes.
 */
static void
check_entries(const struct op *op)
{
	uint8_t again[OP_ENTRY_HEAD + OP_NAME_MAX + 1 + OP_PATH_MAX];
	struct op_entry e;
	size_t off = 0, prev, n = 0;

	for (prev = 0; op_entry_next(op, &off, &e); prev = off, n++) {
		check(off > prev && off <= op->data_len, "an entry outside the data");
		check((const uint8_t *)e.name == op->data + prev + OP_ENTRY_HEAD &&
		    e.name[e.name_len] == '\0' && e.name_len >= 1 && e.name_len <= OP_NAME_MAX &&
		    memchr(e.name, '/', e.name_len) == NULL, "an entry name broken");
		check(e.data + e.data_len == op->data + off, "an entry's data not where it ends");
		check(op_entry_put(again, sizeof(again), &e) == off - prev &&
		    memcmp(again, op->data + prev, off - prev) == 0, "an entry re-encodes otherwise");
	}
	check(off == op->data_len, "entries do not end the data");
	check(n == op->size && n > 0, "entries not as many as the size");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned type;
	const uint8_t *payload;
	struct op op;
	uint8_t *buf;
	char why[256] = "";
	size_t len, n;

	if (size == 0)
		return 0;
	type = data[0] % (RECORD_TYPE_MAX + 2);          /* 0 and 19 are no types */
	payload = data + 1;
	len = size - 1;
	if (op_decode(type, payload, len, &op, why, sizeof(why)) == -1) {
		check(why[0] != '\0', "refused without a reason");
		return 0;
	}
	check(record_type_valid(type) && op.type == type, "accepted an unknown type");
	check(inside(payload, len, op.path, op.path_len) && op.path[op.path_len] == '\0',
	    "path outside the payload or without its NUL");
	check(inside(payload, len, op.path2, op.path2_len), "path2 outside the payload");
	check(inside(payload, len, op.name, op.name_len), "name outside the payload");
	check(op.data + op.data_len == payload + len, "data does not end the payload");
	check(op_path_valid(op.path, op.path_len), "accepted an invalid path");
	check(op.path_len <= OP_PATH_MAX && op.path2_len <= OP_PATH_MAX &&
	    op.name_len <= OP_NAME_MAX && op.data_len <= OP_MAX_DATA, "length over its limit");
	check(op_size(&op) == len, "op_size differs from the payload length");

	if (op.type == RECORD_VERIFY && (op.flags & OP_VERIFY_ENTRIES))
		check_entries(&op);

	buf = malloc(len);
	check(buf != NULL, "out of memory");
	n = op_encode(buf, len, &op);
	check(n == len, "re-encoding has another length");
	check(memcmp(buf, payload, len) == 0, "re-encoding differs from the payload");
	check(op_encode(buf, len - 1, &op) == 0, "encoded into a buffer one byte short");
	free(buf);
	return 0;
}
