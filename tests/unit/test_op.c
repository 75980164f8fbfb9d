/* Unit tests of repl/op: round trips of every type, exact bytes, every refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/xattr.h>

#include "repl/op.h"
#include "repl/record.h"

#define BUFSZ (OP_HEAD_SIZE + 3 * (OP_PATH_MAX + 1) + 64)

static const uint8_t hashes[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* A valid op of each type, with every field the type carries set. */
static struct op
sample(unsigned type)
{
	struct op op = { .type = (uint16_t)type, .root = 3, .path = "dir/file", .path_len = 8 };

	switch (type) {
	case RECORD_WRITE:
		op.offset = 4096;
		op.data = (const uint8_t *)"hello";
		op.data_len = 5;
		op.mtime_sec = 1700000000;
		op.mtime_nsec = 123456789;
		break;
	case RECORD_TRUNCATE:
		op.size = 123456789;
		break;
	case RECORD_CREATE:
		op.mode = S_IFREG | 0640;
		op.uid = 1000;
		op.gid = 100;
		op.flags = OP_CREATE_EXCL;
		op.mtime_sec = 1700000003;
		op.mtime_nsec = 3;
		op.dir_mtime_sec = 1700000004;
		op.dir_mtime_nsec = 4;
		break;
	case RECORD_MKDIR:
		op.mode = 01777;
		op.uid = 1;
		op.gid = 2;
		break;
	case RECORD_RENAME:
		op.path2 = "other/name";
		op.path2_len = 10;
		op.flags = RENAME_EXCHANGE;
		op.dir_mtime_sec = 1700000001;
		op.dir_mtime_nsec = 1;
		op.dir2_mtime_sec = 1700000002;
		op.dir2_mtime_nsec = 999999999;
		break;
	case RECORD_LINK:
		op.path2 = "hard";
		op.path2_len = 4;
		op.dir_mtime_sec = 5;
		break;
	case RECORD_SYMLINK:
		op.path2 = "../../etc/\x01passwd";      /* a target is any bytes */
		op.path2_len = 17;
		op.uid = UINT32_MAX;
		op.gid = 7;
		break;
	case RECORD_CHMOD:
		op.mode = 04755;
		op.path = "";                          /* the directory itself */
		op.path_len = 0;
		break;
	case RECORD_CHOWN:
		op.uid = UINT32_MAX;
		op.gid = 0;
		break;
	case RECORD_UTIMENS:
		op.atime_sec = -5;
		op.atime_nsec = 999999999;
		op.mtime_sec = INT64_MAX;
		op.mtime_nsec = OP_TIME_OMIT;
		break;
	case RECORD_SETXATTR:
		op.name = "user.test";
		op.name_len = 9;
		op.data = (const uint8_t *)"v\0x";
		op.data_len = 3;
		op.flags = XATTR_REPLACE;
		break;
	case RECORD_REMOVEXATTR:
		op.name = "user.gone";
		op.name_len = 9;
		break;
	case RECORD_FALLOCATE:
		op.offset = 65536;
		op.size = 1 << 20;
		op.flags = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		break;
	case RECORD_FSYNC_BARRIER:
		op.flags = OP_FSYNC_DATA;
		break;
	case RECORD_VERIFY:
		op.offset = 131072;
		op.size = 1 << 30;
		op.mode = S_IFREG | 0600;
		op.uid = 5;
		op.gid = 6;
		op.mtime_sec = 1700000000;
		op.mtime_nsec = 1;
		op.data = hashes;
		op.data_len = sizeof(hashes);
		break;
	case RECORD_DATA:
		op.offset = 65536;
		op.size = 65536 + 5;
		op.data = (const uint8_t *)"block";
		op.data_len = 5;
		break;
	case RECORD_CONFIG_FILE:
		/* One xattr (user.a = "v"), then the content "conf". */
		op.mode = S_IFREG | 0644;
		op.uid = 1;
		op.gid = 2;
		op.mtime_sec = 1700000005;
		op.dir_mtime_sec = 1700000006;
		op.size = 4;
		op.data = (const uint8_t *)"\0\6\0\0\0\1user.avconf";
		op.data_len = 6 + 6 + 1 + 4;
		break;
	case RECORD_CONFIG_DIR:
		op.mode = S_IFDIR | 0755;
		op.mtime_sec = 1700000007;
		break;
	case RECORD_CONFIG_SYMLINK:
		op.path2 = "../target";
		op.path2_len = 9;
		op.uid = 3;
		break;
	case RECORD_CONFIG_REMOVE:
		op.dir_mtime_sec = 1700000008;
		break;
	case RECORD_CONFIG_MANIFEST:
		op.path = "app";
		op.path_len = 3;
		op.size = 0;
		break;
	}
	return op;
}

static size_t
encode(uint8_t *buf, size_t buflen, const struct op *op)
{
	size_t n = op_encode(buf, buflen, op);

	assert_int_not_equal(n, 0);
	assert_int_equal(n, op_size(op));
	return n;
}

static void
test_round_trips(void **state)
{
	uint8_t buf[BUFSZ], again[BUFSZ];
	struct op in, out;
	char why[256];
	unsigned type;
	size_t n;

	for (type = RECORD_TYPE_MIN; type <= RECORD_TYPE_MAX; type++) {
		in = sample(type);
		n = encode(buf, sizeof(buf), &in);
		why[0] = '\0';
		if (op_decode(type, buf, n, &out, why, sizeof(why)) != 0)
			fail_msg("%s: %s", record_type_name(type), why);
		assert_int_equal(out.type, type);
		assert_int_equal(out.root, 3);
		assert_int_equal(out.mode, in.mode);
		assert_int_equal(out.uid, in.uid);
		assert_int_equal(out.gid, in.gid);
		assert_int_equal(out.flags, in.flags);
		assert_true(out.offset == in.offset);
		assert_true(out.size == in.size);
		assert_true(out.atime_sec == in.atime_sec);
		assert_int_equal(out.atime_nsec, in.atime_nsec);
		assert_true(out.mtime_sec == in.mtime_sec);
		assert_int_equal(out.mtime_nsec, in.mtime_nsec);
		assert_true(out.dir_mtime_sec == in.dir_mtime_sec);
		assert_int_equal(out.dir_mtime_nsec, in.dir_mtime_nsec);
		assert_true(out.dir2_mtime_sec == in.dir2_mtime_sec);
		assert_int_equal(out.dir2_mtime_nsec, in.dir2_mtime_nsec);
		assert_int_equal(out.path_len, in.path_len);
		assert_memory_equal(out.path, in.path, in.path_len + 1);
		assert_int_equal(out.path2_len, in.path2_len);
		if (in.path2_len > 0)
			assert_memory_equal(out.path2, in.path2, in.path2_len + 1);
		assert_int_equal(out.name_len, in.name_len);
		if (in.name_len > 0)
			assert_memory_equal(out.name, in.name, in.name_len + 1);
		assert_int_equal(out.data_len, in.data_len);
		if (in.data_len > 0)
			assert_memory_equal(out.data, in.data, in.data_len);
		/* Strings point into the payload itself, data ends it. */
		assert_ptr_equal(out.path, (const char *)buf + OP_HEAD_SIZE);
		assert_ptr_equal(out.data + out.data_len, buf + n);
		/* Re-encoding gives the same bytes. */
		assert_int_equal(op_encode(again, sizeof(again), &out), n);
		assert_memory_equal(again, buf, n);
	}
}

/* The head is fixed: big-endian, these offsets, then the strings and data. */
static void
test_bytes(void **state)
{
	static const uint8_t want[] = {
		0x01, 0x02,  0, 5,  0, 0,  0, 0,           /* root, path_len, path2_len, name_len */
		0, 0, 0x81, 0xa4,                          /* mode 0100644 */
		0, 0, 0x03, 0xe8,  0, 0, 0x03, 0xe9,       /* uid 1000, gid 1001 */
		0, 0, 0, 0x03,                             /* flags */
		0, 0, 0, 0, 0, 0, 0, 0,                    /* offset */
		0, 0, 0, 0, 0, 0, 0, 0,                    /* size */
		0, 0, 0, 0, 0, 0, 0, 0,                    /* atime sec */
		0, 0, 0, 0, 0, 0, 0, 0,                    /* mtime sec */
		0, 0, 0, 0,  0, 0, 0, 0,                   /* atime nsec, mtime nsec */
		'a', '/', 'b', 'c', 'd', 0, 0, 0,          /* path, path2, name */
	};
	static const uint8_t times[] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,    /* atime sec -2 */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,    /* mtime sec */
		0x3b, 0x9a, 0xc9, 0xff, 0xff, 0xff, 0xff, 0xff,    /* 999999999, OP_TIME_NOW */
	};
	struct op op = { .type = RECORD_CREATE, .root = 0x0102, .path = "a/bcd", .path_len = 5,
	    .mode = 0100644, .uid = 1000, .gid = 1001, .flags = 3 };
	uint8_t buf[BUFSZ];

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(op_encode(buf, sizeof(buf), &op), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	op = (struct op){ .type = RECORD_UTIMENS, .path = "", .atime_sec = -2, .atime_nsec = 999999999,
	    .mtime_sec = 0x0102030405060708LL, .mtime_nsec = OP_TIME_NOW };
	assert_int_equal(op_encode(buf, sizeof(buf), &op), OP_HEAD_SIZE + 3);
	assert_memory_equal(buf + 40, times, sizeof(times));

	/* The data follows the three NULs; its length is what remains. */
	op = (struct op){ .type = RECORD_WRITE, .path = "f", .path_len = 1, .offset = 0x10,
	    .data = (const uint8_t *)"xyz", .data_len = 3 };
	assert_int_equal(op_encode(buf, sizeof(buf), &op), OP_HEAD_SIZE + 2 + 1 + 1 + 3);
	assert_memory_equal(buf + OP_HEAD_SIZE, "f\0\0\0xyz", 7);
	assert_int_equal(buf[31], 0x10);
}

/* Fields a type does not carry are written as zero, and sizes follow. */
static void
test_encode_zeroes_unused(void **state)
{
	struct op op = sample(RECORD_UNLINK), out;
	uint8_t buf[BUFSZ], zero[OP_HEAD_SIZE - 8] = { 0 };
	char why[256];
	size_t n;

	op.mode = 0777;
	op.uid = op.gid = 9;
	op.flags = 1;
	op.offset = op.size = 77;
	op.atime_sec = op.mtime_sec = 1;
	op.atime_nsec = op.mtime_nsec = 2;
	op.path2 = "junk";
	op.path2_len = 4;
	op.name = "user.x";
	op.name_len = 6;
	op.data = (const uint8_t *)"data";
	op.data_len = 4;
	assert_int_equal(op_size(&op), OP_HEAD_SIZE + 8 + 3);
	n = encode(buf, sizeof(buf), &op);
	assert_int_equal(n, OP_HEAD_SIZE + 8 + 3);
	assert_memory_equal(buf + 4, "\0\0\0\0", 4);          /* path2_len, name_len */
	assert_memory_equal(buf + 8, zero, sizeof(zero));
	assert_int_equal(op_decode(RECORD_UNLINK, buf, n, &out, why, sizeof(why)), 0);
	assert_int_equal(out.path2_len, 0);
	assert_int_equal(out.data_len, 0);

	/* The kernel's UTIME_* are written as the wire sentinels. */
	op = sample(RECORD_UTIMENS);
	op.atime_nsec = UTIME_NOW;
	op.mtime_nsec = UTIME_OMIT;
	n = encode(buf, sizeof(buf), &op);
	assert_int_equal(op_decode(RECORD_UTIMENS, buf, n, &out, why, sizeof(why)), 0);
	assert_int_equal(out.atime_nsec, OP_TIME_NOW);
	assert_int_equal(out.mtime_nsec, OP_TIME_OMIT);
}

static void
test_encode_refusals(void **state)
{
	static char longpath[OP_PATH_MAX + 2];
	uint8_t buf[BUFSZ];
	struct op op = sample(RECORD_WRITE);

	assert_int_equal(op_encode(buf, op_size(&op) - 1, &op), 0);
	assert_int_equal(op_encode(buf, op_size(&op), &op), op_size(&op));
	op.data = NULL;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
	op = sample(RECORD_WRITE);
	op.data_len = OP_MAX_DATA + 1;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
	op = sample(RECORD_WRITE);
	op.type = 0;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
	op.type = RECORD_TYPE_MAX + 1;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);

	memset(longpath, 'a', sizeof(longpath) - 1);
	op = sample(RECORD_UNLINK);
	op.path = longpath;
	op.path_len = OP_PATH_MAX + 1;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
	op.path_len = OP_PATH_MAX;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), OP_HEAD_SIZE + OP_PATH_MAX + 3);
	op = sample(RECORD_RENAME);
	op.path2 = longpath;
	op.path2_len = OP_PATH_MAX + 1;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
	op = sample(RECORD_SETXATTR);
	op.name = longpath;
	op.name_len = OP_NAME_MAX + 1;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
	op = sample(RECORD_UTIMENS);
	op.atime_nsec = 1000000000;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
	/* A directory's time is a time, never a sentinel. */
	op = sample(RECORD_RENAME);
	op.dir2_mtime_nsec = OP_TIME_NOW;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
	op = sample(RECORD_UNLINK);
	op.dir_mtime_nsec = 1000000000;
	assert_int_equal(op_encode(buf, sizeof(buf), &op), 0);
}


/* Decode and expect a refusal whose reason holds both words. */
static void
refused(unsigned type, const uint8_t *buf, size_t len, const char *word1, const char *word2)
{
	struct op op;
	char why[256] = "";

	assert_int_equal(op_decode(type, buf, len, &op, why, sizeof(why)), -1);
	if (strstr(why, word1) == NULL || strstr(why, word2) == NULL)
		fail_msg("%s: reason \"%s\" lacks \"%s\" or \"%s\"", record_type_name(type), why,
		    word1, word2);
}

/* Encode op and expect op_decode to refuse it for the given reason. */
static void
refused_op(const struct op *op, const char *word1, const char *word2)
{
	uint8_t buf[BUFSZ];
	size_t n = encode(buf, sizeof(buf), op);

	refused(op->type, buf, n, word1, word2);
}

static void
put_be(uint8_t *p, uint64_t v, int bytes)
{
	while (bytes-- > 0) {
		p[bytes] = (uint8_t)v;
		v >>= 8;
	}
}

static void
test_decode_framing(void **state)
{
	uint8_t good[BUFSZ], buf[BUFSZ];
	struct op op = sample(RECORD_RENAME), out;
	size_t n, cut;
	char why[256];

	n = encode(good, sizeof(good), &op);
	refused(0, good, n, "unknown type 0", "1 to 23");
	refused(24, good, n, "unknown type 24", "1 to 23");

	/* Every cut: a short head, then strings running past the end. */
	for (cut = 0; cut < n; cut++) {
		why[0] = '\0';
		assert_int_equal(op_decode(RECORD_RENAME, good, cut, &out, why, sizeof(why)), -1);
		if (cut < OP_HEAD_SIZE)
			assert_non_null(strstr(why, "shorter than the 64-byte head"));
		else
			assert_non_null(strstr(why, "past the end"));
	}
	/* One byte more is data, which a rename does not carry. */
	memcpy(buf, good, n);
	buf[n] = 'x';
	refused(RECORD_RENAME, buf, n + 1, "data is set, but rename ops carry none", "none");

	/* Lengths over their limits, or past the end. */
	memcpy(buf, good, n);
	put_be(buf + 2, OP_PATH_MAX + 1, 2);
	refused(RECORD_RENAME, buf, n, "path length 4096", "at most 4095");
	memcpy(buf, good, n);
	put_be(buf + 4, OP_PATH_MAX + 1, 2);
	refused(RECORD_RENAME, buf, n, "path2 length 4096", "at most 4095");
	memcpy(buf, good, n);
	put_be(buf + 6, OP_NAME_MAX + 1, 2);
	refused(RECORD_RENAME, buf, n, "name length 256", "at most 255");
	memcpy(buf, good, n);
	put_be(buf + 2, 30, 2);
	refused(RECORD_RENAME, buf, n, "path of 30 bytes", "past the end");
	memcpy(buf, good, n);
	put_be(buf + 4, 12, 2);
	refused(RECORD_RENAME, buf, n, "path2 of 12 bytes", "past the end");
	memcpy(buf, good, n);
	put_be(buf + 6, 1, 2);
	refused(RECORD_RENAME, buf, n, "name of 1 bytes", "past the end");

	/* Missing NULs and NULs inside. */
	memcpy(buf, good, n);
	buf[OP_HEAD_SIZE + 8] = 'x';
	refused(RECORD_RENAME, buf, n, "path not followed by a NUL", "offset 72");
	memcpy(buf, good, n);
	buf[OP_HEAD_SIZE + 9 + 10] = 'x';
	refused(RECORD_RENAME, buf, n, "path2 not followed by a NUL", "offset 83");
	memcpy(buf, good, n);
	buf[OP_HEAD_SIZE + 9 + 11] = 'x';
	refused(RECORD_RENAME, buf, n, "name not followed by a NUL", "offset 84");
	memcpy(buf, good, n);
	buf[OP_HEAD_SIZE + 3] = '\0';
	refused(RECORD_RENAME, buf, n, "path holds a NUL", "byte 3 of 8");
	memcpy(buf, good, n);
	buf[OP_HEAD_SIZE + 9] = '\0';
	refused(RECORD_RENAME, buf, n, "path2 holds a NUL", "byte 0 of 10");

	/* Data over the limit: the record could carry it, an op may not. */
	{
		struct op w = sample(RECORD_WRITE);
		size_t head = OP_HEAD_SIZE + 8 + 3, big = head + OP_MAX_DATA + 1;
		uint8_t *p = calloc(1, big);

		assert_non_null(p);
		assert_int_equal(op_encode(p, big, &w), head + w.data_len);
		refused(RECORD_WRITE, p, big, "data of 1048577 bytes", "at most 1048576");
		assert_int_equal(op_decode(RECORD_WRITE, p, big - 1, &out, why, sizeof(why)), 0);
		assert_int_equal(out.data_len, OP_MAX_DATA);
		free(p);
	}

	/* A refusal with no room for a reason still refuses. */
	assert_int_equal(op_decode(RECORD_RENAME, good, 3, &out, NULL, 0), -1);
}

static void
test_bad_paths(void **state)
{
	static const struct {
		const char *path;
		const char *why;
	} bad[] = {
		{ "..", "\"..\" component" },
		{ "../x", "\"..\" component" },
		{ "a/../b", "\"..\" component" },
		{ "a/..", "\"..\" component" },
		{ ".", "\".\" component" },
		{ "a/./b", "\".\" component" },
		{ "./a", "\".\" component" },
		{ "/abs", "absolute" },
		{ "/", "absolute" },
		{ "a//b", "empty component" },
		{ "a/", "ends with '/'" },
		{ "a/b/", "ends with '/'" },
	};
	static const char *good[] = { "a", "a/b/c", "...", "..a", "a..", ".a/b.", "a/.../b",
	    " ", "a\\..\\b", "\xff\x01" };
	struct op op;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(op_path_valid(bad[i].path, strlen(bad[i].path)));
		op = sample(RECORD_UNLINK);
		op.path = bad[i].path;
		op.path_len = (uint16_t)strlen(bad[i].path);
		refused_op(&op, "path \"", bad[i].why);
		/* And as path2 of a rename or a link. */
		op = sample(i % 2 ? RECORD_RENAME : RECORD_LINK);
		op.path2 = bad[i].path;
		op.path2_len = (uint16_t)strlen(bad[i].path);
		refused_op(&op, "path2 \"", bad[i].why);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(op_path_valid(good[i], strlen(good[i])));
	assert_true(op_path_valid("", 0));
	assert_false(op_path_valid("a\0b", 3));

	/* A symlink target is not a path: "..", "/abs", anything but NUL. */
	op = sample(RECORD_SYMLINK);
	op.path2 = "/etc/../x//";
	op.path2_len = 11;
	{
		uint8_t buf[BUFSZ];
		struct op out;
		char why[256];
		size_t n = encode(buf, sizeof(buf), &op);

		assert_int_equal(op_decode(RECORD_SYMLINK, buf, n, &out, why, sizeof(why)), 0);
	}
	/* A hostile path is quoted in the reason, unprintable bytes replaced. */
	op = sample(RECORD_UNLINK);
	op.path = "\n/../x";
	op.path_len = 6;
	refused_op(&op, "path \"?/../x\"", "\"..\"");
}

/* Per type: what must be there, what must not, and what the values may be. */
static void
test_per_type(void **state)
{
	struct op op;

	/* Entries need a path; the directory itself is only for attributes. */
	static const unsigned entry[] = { RECORD_WRITE, RECORD_TRUNCATE, RECORD_CREATE,
	    RECORD_MKDIR, RECORD_UNLINK, RECORD_RMDIR, RECORD_RENAME, RECORD_LINK,
	    RECORD_SYMLINK, RECORD_FALLOCATE, RECORD_DATA };
	size_t i;

	for (i = 0; i < sizeof(entry) / sizeof(entry[0]); i++) {
		op = sample(entry[i]);
		op.path = "";
		op.path_len = 0;
		refused_op(&op, "empty path", record_type_name(entry[i]));
	}

	op = sample(RECORD_RENAME);
	op.path2_len = 0;
	refused_op(&op, "empty path2", "rename");
	op = sample(RECORD_LINK);
	op.path2_len = 0;
	refused_op(&op, "empty path2", "link");
	op = sample(RECORD_SYMLINK);
	op.path2_len = 0;
	refused_op(&op, "empty path2", "symlink");
	op = sample(RECORD_SETXATTR);
	op.name_len = 0;
	refused_op(&op, "empty xattr name", "setxattr");
	op = sample(RECORD_REMOVEXATTR);
	op.name_len = 0;
	refused_op(&op, "empty xattr name", "removexattr");
	op = sample(RECORD_WRITE);
	op.data_len = 0;
	refused_op(&op, "no data", "write");
	op = sample(RECORD_VERIFY);
	op.data_len = 12;
	refused_op(&op, "12 bytes", "8 per block");

	/* Flags: unknown bits and exclusive pairs. */
	op = sample(RECORD_CREATE);
	op.flags = 4;
	refused_op(&op, "flags 0x4 for create", "0x3");
	op = sample(RECORD_RENAME);
	op.flags = RENAME_WHITEOUT;
	refused_op(&op, "flags 0x4 for rename", "0x3");
	op.flags = RENAME_NOREPLACE | RENAME_EXCHANGE;
	refused_op(&op, "flags 0x3", "exclusive");
	op = sample(RECORD_SETXATTR);
	op.flags = XATTR_CREATE | XATTR_REPLACE;
	refused_op(&op, "flags 0x3", "exclusive");
	op = sample(RECORD_FALLOCATE);
	op.flags = FALLOC_FL_NO_HIDE_STALE;
	refused_op(&op, "flags 0x4 for fallocate", "0x7b");
	op = sample(RECORD_FSYNC_BARRIER);
	op.flags = 2;
	refused_op(&op, "flags 0x2", "fsync-barrier");

	/* Modes: permission bits, and only the file type the op makes. */
	op = sample(RECORD_CREATE);
	op.mode = S_IFDIR | 0755;
	refused_op(&op, "mode 040755 for create", "S_IFREG");
	op.mode = 0755;
	{
		uint8_t buf[BUFSZ];
		struct op out;
		char why[256];
		size_t n = encode(buf, sizeof(buf), &op);

		assert_int_equal(op_decode(RECORD_CREATE, buf, n, &out, why, sizeof(why)), 0);
	}
	op = sample(RECORD_MKDIR);
	op.mode = S_IFREG | 0755;
	refused_op(&op, "mode 0100755 for mkdir", "S_IFDIR");
	op = sample(RECORD_CHMOD);
	op.mode = 0x10000000 | 0644;
	refused_op(&op, "mode", "chmod");

	/* Times: nsec below a second, or a sentinel. */
	op = sample(RECORD_UTIMENS);
	op.atime_nsec = 1000000000;
	op.mtime_nsec = OP_TIME_NOW;
	{
		uint8_t buf[BUFSZ];
		size_t n;

		op.atime_nsec = 0;
		n = encode(buf, sizeof(buf), &op);
		put_be(buf + 56, 1000000000, 4);
		refused(RECORD_UTIMENS, buf, n, "atime nsec 1000000000", "sentinel");
		put_be(buf + 56, 0, 4);
		put_be(buf + 60, OP_TIME_OMIT - 1, 4);
		refused(RECORD_UTIMENS, buf, n, "mtime nsec 4294967293", "sentinel");
	}

	/* Ranges that would not fit an off_t. */
	op = sample(RECORD_WRITE);
	op.offset = INT64_MAX - 4;
	refused_op(&op, "offset 9223372036854775803", "2^63 - 1");
	op.offset = INT64_MAX - 5;
	{
		uint8_t buf[BUFSZ];
		struct op out;
		char why[256];
		size_t n = encode(buf, sizeof(buf), &op);

		assert_int_equal(op_decode(RECORD_WRITE, buf, n, &out, why, sizeof(why)), 0);
	}
	op = sample(RECORD_TRUNCATE);
	op.size = (uint64_t)INT64_MAX + 1;
	refused_op(&op, "size 9223372036854775808", "truncate");
	op = sample(RECORD_FALLOCATE);
	op.size = 0;
	refused_op(&op, "size 0", "fallocate");
	op = sample(RECORD_FALLOCATE);
	op.offset = 1;
	op.size = INT64_MAX;
	refused_op(&op, "offset 1", "2^63 - 1");
	op = sample(RECORD_DATA);
	op.size = op.offset + 4;
	refused_op(&op, "data of 5 bytes at offset 65536", "file size 65540");
	op.offset = op.size + 1;
	op.data_len = 0;
	refused_op(&op, "offset 65541", "file size 65540");
}

/*
 * The directory times travel in the time slots: dir_mtime in the atime
 * slot, dir2_mtime in the mtime slot; decoded into their own fields, with
 * atime and mtime left zero. Fields a type does not carry stay out.
 */
static void
test_dir_times(void **state)
{
	static const uint8_t rename_slots[] = {
		0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x01,        /* atime slot: dir_mtime sec */
		0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x02,        /* mtime slot: dir2_mtime sec */
		0, 0, 0, 0x01,  0x3b, 0x9a, 0xc9, 0xff,    /* their nsecs: 1, 999999999 */
	};
	struct op op = sample(RECORD_RENAME), out;
	uint8_t buf[BUFSZ];
	char why[256] = "";
	size_t n;

	n = encode(buf, sizeof(buf), &op);
	assert_memory_equal(buf + 40, rename_slots, sizeof(rename_slots));
	assert_int_equal(op_decode(RECORD_RENAME, buf, n, &out, why, sizeof(why)), 0);
	assert_true(out.atime_sec == 0 && out.atime_nsec == 0);
	assert_true(out.mtime_sec == 0 && out.mtime_nsec == 0);
	assert_true(out.dir_mtime_sec == 1700000001 && out.dir_mtime_nsec == 1);
	assert_true(out.dir2_mtime_sec == 1700000002 && out.dir2_mtime_nsec == 999999999);

	/* An nsec past a second in a directory slot is refused, naming it. */
	put_be(buf + 60, 1000000000, 4);
	refused(RECORD_RENAME, buf, n, "directory mtime nsec 1000000000", "mtime slot");
	n = encode(buf, sizeof(buf), &op);
	put_be(buf + 56, OP_TIME_OMIT, 4);
	refused(RECORD_RENAME, buf, n, "directory mtime nsec", "atime slot");

	/* A type without them: UNLINK has no dir2_mtime, WRITE no directory time. */
	op = sample(RECORD_UNLINK);
	op.dir2_mtime_sec = 9;
	op.atime_sec = 9;
	n = encode(buf, sizeof(buf), &op);
	assert_int_equal(op_decode(RECORD_UNLINK, buf, n, &out, why, sizeof(why)), 0);
	assert_true(out.dir2_mtime_sec == 0 && out.dir_mtime_sec == 0);
	put_be(buf + 48, 1, 8);
	refused(RECORD_UNLINK, buf, n, "mtime is set", "unlink");
	op = sample(RECORD_WRITE);
	op.dir_mtime_sec = 9;
	n = encode(buf, sizeof(buf), &op);
	assert_int_equal(op_decode(RECORD_WRITE, buf, n, &out, why, sizeof(why)), 0);
	assert_true(out.dir_mtime_sec == 0 && out.mtime_sec == 1700000000);
	put_be(buf + 40, 1, 8);
	refused(RECORD_WRITE, buf, n, "atime is set", "write");
}

/* Raw bytes in a field the type does not carry are refused, naming it. */
static void
test_unused_fields(void **state)
{
	static const struct {
		unsigned    type;
		int         off;
		int         bytes;
		const char *name;
	} cases[] = {
		{ RECORD_UNLINK,   8,  4, "mode" },
		{ RECORD_WRITE,    12, 4, "uid/gid" },
		{ RECORD_TRUNCATE, 16, 4, "uid/gid" },
		{ RECORD_LINK,     20, 4, "flags" },
		{ RECORD_CHMOD,    24, 8, "offset" },
		{ RECORD_WRITE,    32, 8, "size" },
		{ RECORD_VERIFY,   40, 8, "atime" },
		{ RECORD_VERIFY,   56, 4, "atime" },
		{ RECORD_CHOWN,    48, 8, "mtime" },
		{ RECORD_SETXATTR, 60, 4, "mtime" },
	};
	uint8_t buf[BUFSZ];
	struct op op;
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		op = sample(cases[i].type);
		n = encode(buf, sizeof(buf), &op);
		put_be(buf + cases[i].off, 1, cases[i].bytes);
		refused(cases[i].type, buf, n, cases[i].name, record_type_name(cases[i].type));
	}
	/* A name on a write: the strings are framed, then judged. */
	op = sample(RECORD_WRITE);
	op.type = RECORD_SETXATTR;
	op.name = "user.a";
	op.name_len = 6;
	n = encode(buf, sizeof(buf), &op);
	refused(RECORD_WRITE, buf, n, "name is set, but write ops carry none", "none");
	refused(RECORD_UNLINK, buf, n, "name is set, but unlink ops carry none", "none");
	op = sample(RECORD_RENAME);
	op.dir_mtime_sec = op.dir2_mtime_sec = 0;     /* UNLINK has the atime slot, not mtime's */
	op.dir_mtime_nsec = op.dir2_mtime_nsec = 0;
	n = encode(buf, sizeof(buf), &op);
	refused(RECORD_UNLINK, buf, n, "flags is set, but unlink ops carry none", "none");
	put_be(buf + 20, 0, 4);
	refused(RECORD_UNLINK, buf, n, "path2 is set, but unlink ops carry none", "none");
}

/* One VERIFY of the given mode, flags and data, on a directory or symlink path. */
static struct op
verify_op(uint32_t mode, uint32_t flags, const void *data, uint32_t len, uint64_t offset,
    uint64_t size)
{
	struct op op = sample(RECORD_VERIFY);

	op.mode = mode;
	op.flags = flags;
	op.data = data;
	op.data_len = len;
	op.offset = offset;
	op.size = size;
	return op;
}

static void
accepted_op(struct op op)
{
	uint8_t buf[BUFSZ + 64];
	struct op out;
	char why[256] = "";
	size_t n = encode(buf, sizeof(buf), &op);

	if (op_decode(op.type, buf, n, &out, why, sizeof(why)) != 0)
		fail_msg("refused: %s", why);
	assert_int_equal(out.flags, op.flags);
	assert_int_equal(out.data_len, op.data_len);
}

/* The layouts of VERIFY by type (op.h), each accepted, and each rule broken. */
static void
test_verify_layouts(void **state)
{
	static const uint8_t xattrs[] = "user.a\0" "12345678" "user.b\0" "abcdefgh";
	static const uint8_t badx[] = "user.b\0" "12345678" "user.a\0" "abcdefgh";
	struct op op;

	/* Accepted: each layout. */
	accepted_op(verify_op(S_IFREG | 0644, OP_VERIFY_NOXATTRS, NULL, 0, 0, 0));
	accepted_op(verify_op(S_IFREG | 0644, 0, hashes, 16, 0, 65537));
	accepted_op(verify_op(S_IFDIR | 0755, OP_VERIFY_NOXATTRS, "a\0b\0", 4, 0, 5));
	accepted_op(verify_op(S_IFDIR | 0755, OP_VERIFY_AFTER, "b\0c\0", 4, 2, 3));
	accepted_op(verify_op(S_IFDIR | 0755, OP_VERIFY_AFTER, "b\0", 2, 2, 2));
	accepted_op(verify_op(S_IFDIR | 0755, 0, NULL, 0, 0, 0));
	accepted_op(verify_op(S_IFLNK | 0777, 0, "../t", 4, 0, 4));
	accepted_op(verify_op(S_IFREG | 0644, OP_VERIFY_XATTRS, xattrs,
	    sizeof(xattrs) - 1, 0, 2));
	accepted_op(verify_op(S_IFDIR | 0755, OP_VERIFY_XATTRS, NULL, 0, 0, 0));
	accepted_op(verify_op(S_IFLNK | 0777, OP_VERIFY_BEGIN, "t", 1, 0, 1));
	accepted_op(verify_op(S_IFDIR | 0755, OP_VERIFY_BEGIN | OP_VERIFY_NOXATTRS, NULL, 0, 0, 0));

	/* Files: whole hashes of blocks before the size, from a block boundary. */
	op = verify_op(S_IFREG | 0644, 0, hashes, 16, 0, 65536);
	refused_op(&op, "data of 16 bytes", "past the file size");
	op = verify_op(S_IFREG | 0644, 0, hashes, 8, 4096, 65536);
	refused_op(&op, "offset not a multiple", "64 KiB");
	op = verify_op(S_IFREG | 0644, 0, NULL, 0, 0, 1);
	refused_op(&op, "no hash", "empty file");
	op = verify_op(S_IFCHR | 0644, 0, NULL, 0, 0, 0);
	refused_op(&op, "mode 020644", "not the mode of a regular file");

	/* Directories: one component per name, sorted, a bound after the first chunk. */
	op = verify_op(S_IFDIR | 0755, 0, "b\0a\0", 4, 0, 2);
	refused_op(&op, "names out of order", "verify");
	op = verify_op(S_IFDIR | 0755, 0, "a\0a\0", 4, 0, 2);
	refused_op(&op, "names out of order or twice", "verify");
	op = verify_op(S_IFDIR | 0755, 0, "a/b\0", 4, 0, 1);
	refused_op(&op, "not one component", "verify");
	op = verify_op(S_IFDIR | 0755, 0, "..\0", 3, 0, 1);
	refused_op(&op, "not one component", "verify");
	op = verify_op(S_IFDIR | 0755, 0, "a", 1, 0, 1);
	refused_op(&op, "no NUL", "verify");
	op = verify_op(S_IFDIR | 0755, 0, "a\0\0", 3, 0, 2);
	refused_op(&op, "empty or overlong name", "verify");
	op = verify_op(S_IFDIR | 0755, 0, "a\0b\0", 4, 0, 1);
	refused_op(&op, "more entries than its size", "verify");
	op = verify_op(S_IFDIR | 0755, 0, "a\0", 2, 1, 2);
	refused_op(&op, "first chunk", "entry 0");
	op = verify_op(S_IFDIR | 0755, OP_VERIFY_AFTER, NULL, 0, 1, 2);
	refused_op(&op, "no lower bound", "after the first");
	op = verify_op(S_IFDIR | 0755, OP_VERIFY_AFTER | OP_VERIFY_NOXATTRS, "a\0b\0", 4, 1, 2);
	refused_op(&op, "flag NOXATTRS", "first record");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_AFTER, NULL, 0, 0, 0);
	refused_op(&op, "flag AFTER", "directory chunks");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_NOXATTRS, hashes, 8, 65536, 65537);
	refused_op(&op, "flag NOXATTRS", "first record");

	/* Symlinks: the target and its length, nothing else. */
	op = verify_op(S_IFLNK | 0777, 0, "a\0b", 3, 0, 3);
	refused_op(&op, "symlink target", "NUL");
	op = verify_op(S_IFLNK | 0777, 0, "ab", 2, 0, 3);
	refused_op(&op, "size other than the target's length", "symlink");
	op = verify_op(S_IFLNK | 0777, OP_VERIFY_NOXATTRS, "ab", 2, 0, 2);
	refused_op(&op, "flag NOXATTRS", "first record");

	/* Xattr lists: sorted names, whole hashes, the count as size, no symlink. */
	op = verify_op(S_IFREG | 0644, OP_VERIFY_XATTRS, badx, sizeof(badx) - 1, 0, 2);
	refused_op(&op, "names out of order", "verify");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_XATTRS, xattrs, sizeof(xattrs) - 2, 0, 2);
	refused_op(&op, "hash cut short", "verify");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_XATTRS, xattrs, sizeof(xattrs) - 1, 0, 3);
	refused_op(&op, "count of xattrs", "verify");
	op = verify_op(S_IFLNK | 0777, OP_VERIFY_XATTRS, NULL, 0, 0, 0);
	refused_op(&op, "xattrs of a symlink", "verify");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_XATTRS | OP_VERIFY_NOXATTRS, NULL, 0, 0, 0);
	refused_op(&op, "another flag with XATTRS", "verify");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_XATTRS | OP_VERIFY_BEGIN, NULL, 0, 0, 0);
	refused_op(&op, "another flag with XATTRS", "verify");
	op = verify_op(S_IFREG | 0644, 0x80, NULL, 0, 0, 0);
	refused_op(&op, "flags 0x80 for verify", "0x7f");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_FULL, NULL, 0, 0, 0);
	refused_op(&op, "FULL without BEGIN", "qualifies");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_FULL | OP_VERIFY_BEGIN, NULL, 0, 0, 0);
	accepted_op(op);
	op = verify_op(S_IFREG | 0644, OP_VERIFY_REHASH, NULL, 0, 0, 0);
	refused_op(&op, "REHASH without BEGIN", "qualifies");
	op = verify_op(S_IFREG | 0644, OP_VERIFY_REHASH | OP_VERIFY_FULL | OP_VERIFY_BEGIN, NULL,
	    0, 0, 0);
	accepted_op(op);
}

/* An entry of a VERIFY with OP_VERIFY_ENTRIES. */
static struct op_entry
entry(const char *name, uint32_t mode, uint64_t size, const void *data, uint32_t data_len)
{
	return (struct op_entry){ .name = name, .name_len = (uint16_t)strlen(name), .mode = mode,
	    .uid = 1000, .gid = 100, .mtime_sec = 1700000000, .mtime_nsec = 999999999,
	    .size = size, .data = data, .data_len = data_len };
}

/* Entries back to back into buf (each must encode); their bytes. */
static size_t
put_entries(uint8_t *buf, size_t cap, const struct op_entry *e, size_t n)
{
	size_t len = 0, k, i;

	for (i = 0; i < n; i++) {
		k = op_entry_put(buf + len, cap - len, &e[i]);
		assert_int_equal(k, op_entry_size(&e[i]));
		len += k;
	}
	return len;
}

/* The ENTRIES verify of the directory "dir" over data. */
static struct op
entries_op(const uint8_t *data, size_t len, uint64_t count)
{
	struct op op = verify_op(S_IFDIR, OP_VERIFY_ENTRIES, data, (uint32_t)len, 0, count);

	op.path = "dir";
	op.path_len = 3;
	op.uid = op.gid = 0;
	op.mtime_sec = 0;
	op.mtime_nsec = 0;
	return op;
}

/*
 * A VERIFY of several small entries: each entry comes back as it went,
 * and every broken count, length and field is refused with its reason.
 */
static void
test_verify_entries(void **state)
{
	const struct op_entry good[] = {
		entry("a", S_IFREG | 0644, 100, hashes, 8),
		entry("b", S_IFREG | 0600, 0, NULL, 0),
		entry("c", S_IFLNK | 0777, 6, "../t/x", 6),
		entry("d", S_IFREG | 0644, 65536, hashes + 8, 8),
	};
	uint8_t data[1024], buf[BUFSZ], bad[1024];
	struct op op, out;
	struct op_entry e;
	char why[256], name[300];
	size_t len, n, off = 0, i = 0;

	(void)state;
	len = put_entries(data, sizeof(data), good, 4);
	op = entries_op(data, len, 4);
	n = encode(buf, sizeof(buf), &op);
	if (op_decode(RECORD_VERIFY, buf, n, &out, why, sizeof(why)) != 0)
		fail_msg("refused: %s", why);
	while (op_entry_next(&out, &off, &e)) {
		assert_true(i < 4);
		assert_string_equal(e.name, good[i].name);
		assert_int_equal(e.name_len, good[i].name_len);
		assert_int_equal(e.mode, good[i].mode);
		assert_int_equal(e.uid, 1000);
		assert_int_equal(e.gid, 100);
		assert_int_equal(e.mtime_sec, 1700000000);
		assert_int_equal(e.mtime_nsec, 999999999);
		assert_int_equal(e.size, good[i].size);
		assert_int_equal(e.data_len, good[i].data_len);
		if (e.data_len > 0)
			assert_memory_equal(e.data, good[i].data, e.data_len);
		i++;
	}
	assert_int_equal(i, 4);
	assert_int_equal(off, len);
	/* An op without the flag has no entries to walk. */
	op = verify_op(S_IFDIR | 0755, 0, "a\0", 2, 0, 1);
	off = 0;
	assert_false(op_entry_next(&op, &off, &e));

	/* Counts: the size is the number of entries, and there is at least one. */
	op = entries_op(data, len, 3);
	refused_op(&op, "count of entries", "verify");
	op = entries_op(data, len, 5);
	refused_op(&op, "count of entries", "verify");
	op = entries_op(NULL, 0, 0);
	refused_op(&op, "no entry", "verify");

	/* Truncation anywhere in the last entry: head, name, hash, target. */
	for (n = 1; n < op_entry_size(&good[3]); n++) {
		op = entries_op(data, len - n, 4);
		refused_op(&op, "cut short", "verify");
	}
	op = entries_op(data, op_entry_size(&good[0]) + 5, 2);
	refused_op(&op, "entry head cut short", "verify");

	/* The directory's own fields and the other flags. */
	op = entries_op(data, len, 4);
	op.uid = 1;
	refused_op(&op, "S_IFDIR alone", "ENTRIES");
	op = entries_op(data, len, 4);
	op.mode = S_IFDIR | 0755;
	refused_op(&op, "S_IFDIR alone", "ENTRIES");
	op = entries_op(data, len, 4);
	op.flags |= OP_VERIFY_BEGIN;
	refused_op(&op, "another flag with ENTRIES", "verify");
	op = entries_op(data, len, 4);
	op.flags |= OP_VERIFY_NOXATTRS;
	refused_op(&op, "another flag with ENTRIES", "verify");

	/* Each entry field out of its bounds (written by hand: op_entry_put refuses them). */
	memcpy(bad, data, len);
	bad[2] = 1;                                      /* reserved */
	op = entries_op(bad, len, 4);
	refused_op(&op, "reserved field", "verify");
	memcpy(bad, data, len);
	bad[0] = 0, bad[1] = 0;                          /* name length 0 */
	op = entries_op(bad, len, 4);
	refused_op(&op, "entry name of 0", "verify");
	memcpy(bad, data, len);
	bad[0] = 0xff, bad[1] = 0xff;                    /* name length past the data */
	op = entries_op(bad, len, 4);
	refused_op(&op, "entry name of 0 or more than 255", "verify");
	memcpy(bad, data, len);
	bad[1] = 2;                                      /* "a" read as two bytes: no NUL after */
	op = entries_op(bad, len, 4);
	refused_op(&op, "NUL", "entry name");
	memcpy(bad, data, len);
	bad[OP_ENTRY_HEAD] = '/';                        /* the name "/" */
	op = entries_op(bad, len, 4);
	refused_op(&op, "not one component", "verify");
	memcpy(bad, data, len);
	bad[OP_ENTRY_HEAD] = '.';                        /* the name "." */
	op = entries_op(bad, len, 4);
	refused_op(&op, "not one component", "verify");
	memcpy(bad, data, len);
	bad[4] = 0, bad[5] = 0, bad[6] = 0x41;           /* mode S_IFDIR */
	op = entries_op(bad, len, 4);
	refused_op(&op, "neither a regular file nor a symlink", "verify");
	memcpy(bad, data, len);
	bad[16] = 0x3b, bad[17] = 0x9a, bad[18] = 0xca, bad[19] = 0x00;  /* nsec 10^9 */
	op = entries_op(bad, len, 4);
	refused_op(&op, "10^9", "verify");
	memcpy(bad, data, len);
	bad[33] = 0x01;                                  /* a: size 65636 */
	op = entries_op(bad, len, 4);
	refused_op(&op, "more than one 64 KiB block", "verify");

	/* Order, symlink targets, the path limit. */
	{
		const struct op_entry swapped[] = { good[1], good[0] };
		const struct op_entry twice[] = { good[0], good[0] };
		const struct op_entry nul[] = { entry("l", S_IFLNK | 0777, 3, "a\0b", 3) };
		const struct op_entry empty[] = { entry("l", S_IFLNK | 0777, 0, NULL, 0) };

		n = put_entries(bad, sizeof(bad), swapped, 2);
		op = entries_op(bad, n, 2);
		refused_op(&op, "out of order or twice", "verify");
		n = put_entries(bad, sizeof(bad), twice, 2);
		op = entries_op(bad, n, 2);
		refused_op(&op, "out of order or twice", "verify");
		assert_int_equal(op_entry_put(bad, sizeof(bad), &nul[0]), 0);
		assert_int_equal(op_entry_put(bad, sizeof(bad), &empty[0]), 0);
	}
	memset(name, 'n', 255);
	name[255] = '\0';
	{
		const struct op_entry longname[] = { entry(name, S_IFREG | 0644, 0, NULL, 0) };
		static char deep[OP_PATH_MAX + 1];

		n = put_entries(bad, sizeof(bad), longname, 1);
		op = entries_op(bad, n, 1);
		accepted_op(op);
		memset(deep, 'd', OP_PATH_MAX - 255);
		deep[OP_PATH_MAX - 255] = '\0';
		op.path = deep;
		op.path_len = (uint16_t)strlen(deep);
		refused_op(&op, "longer than 4095", "verify");
	}
	/* op_entry_put: data that is not what the mode and size call for, a short buffer. */
	e = entry("x", S_IFREG | 0644, 10, NULL, 0);
	assert_int_equal(op_entry_put(bad, sizeof(bad), &e), 0);
	e = entry("x", S_IFREG | 0644, 0, hashes, 8);
	assert_int_equal(op_entry_put(bad, sizeof(bad), &e), 0);
	e = entry("x", S_IFDIR | 0755, 0, NULL, 0);
	assert_int_equal(op_entry_put(bad, sizeof(bad), &e), 0);
	assert_int_equal(op_entry_put(bad, op_entry_size(&good[0]) - 1, &good[0]), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_encode_zeroes_unused),
		cmocka_unit_test(test_encode_refusals),
		cmocka_unit_test(test_dir_times),
		cmocka_unit_test(test_decode_framing),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_per_type),
		cmocka_unit_test(test_unused_fields),
		cmocka_unit_test(test_verify_layouts),
		cmocka_unit_test(test_verify_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
