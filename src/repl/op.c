/*
 * The op payload codec: lays one change to protected data out as the
 * payload of a journal record, and checks a received payload field by field
 * so the applier only ever sees paths that stay inside their directory.
 */
#include "repl/op.h"
#include "repl/record.h"
#include "common/bytes.h"
#include "common/util.h"

#include <sys/stat.h>

#include <linux/falloc.h>
#include <linux/fs.h>             /* RENAME_NOREPLACE, RENAME_EXCHANGE */
#include <linux/xattr.h>          /* XATTR_CREATE, XATTR_REPLACE */

#include <stdio.h>
#include <string.h>

/*
 * Offsets of the fields in the 64-byte head. The layout does not depend on
 * the type. There is no data length: the data is the tail of the payload,
 * whatever the three strings leave (the record header's length and checksum
 * frame the payload), which is what lets every field fit in 64 bytes.
 */
#define H_ROOT         0
#define H_PATH_LEN     2
#define H_PATH2_LEN    4
#define H_NAME_LEN     6
#define H_MODE         8
#define H_UID          12
#define H_GID          16
#define H_FLAGS        20
#define H_OFFSET       24
#define H_SIZE         32
#define H_ATIME_SEC    40
#define H_MTIME_SEC    48
#define H_ATIME_NSEC   56
#define H_MTIME_NSEC   60

_Static_assert(2 + 2 + 2 + 2 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 8 + 4 + 4 == OP_HEAD_SIZE,
    "op head layout");
_Static_assert(H_MTIME_NSEC + 4 == OP_HEAD_SIZE, "mtime nsec ends the head");
_Static_assert(OP_PATH_MAX <= UINT16_MAX && OP_NAME_MAX <= UINT16_MAX,
    "string lengths fit their u16 fields");
_Static_assert(OP_HEAD_SIZE + 3 * (OP_PATH_MAX + 1) + OP_MAX_DATA <= RECORD_MAX_PAYLOAD,
    "the largest op fits in one record");

#define NSEC_PER_SEC    1000000000u

/* What a type carries, beyond root and path (which every type has). */
#define F_MODE      0x0001
#define F_OWNER     0x0002    /* uid and gid */
#define F_FLAGS     0x0004
#define F_OFFSET    0x0008
#define F_SIZE      0x0010
#define F_ATIME     0x0020
#define F_MTIME     0x0040
#define F_NAME      0x0080    /* an xattr name, never empty */
#define F_DATA      0x0100    /* data, possibly empty */
#define F_DATA_REQ  0x0200    /* data, never empty */
#define F_PATH_REQ  0x0800    /* path names an entry: never "" (the directory itself) */
#define F_PATH2     0x1000    /* path2 is a path under the rules */
#define F_TARGET    0x2000    /* path2 is a symlink target: any bytes but NUL, not empty */
#define F_DIRTIME   0x4000    /* dir_mtime, in the atime slot */
#define F_DIR2TIME  0x8000    /* dir2_mtime, in the mtime slot */

/* The two time slots of the head: each holds at most one field of a type. */
#define SLOT_A      (F_ATIME | F_DIRTIME)
#define SLOT_M      (F_MTIME | F_DIR2TIME)

#define FALLOC_MODES (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | \
    FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE)

/*
 * One row per type: which fields it carries, which flag bits it may set,
 * and the file type its mode may name. A field a type does not carry is
 * written as zero and must be zero when read, so every payload has exactly
 * one encoding and a decoded op encodes back to the same bytes.
 */
static const struct {
	unsigned	fields;
	uint32_t	flags;      /* allowed bits of op.flags */
	uint32_t	ifmt;       /* file type bits mode may hold besides 0; 0: any */
} specs[RECORD_TYPE_MAX + 1] = {
	[RECORD_WRITE]         = { F_PATH_REQ | F_OFFSET | F_DATA_REQ | F_MTIME, 0, 0 },
	[RECORD_TRUNCATE]      = { F_PATH_REQ | F_SIZE | F_MTIME, 0, 0 },
	[RECORD_CREATE]        = { F_PATH_REQ | F_MODE | F_OWNER | F_FLAGS | F_MTIME | F_DIRTIME,
				   OP_CREATE_EXCL | OP_CREATE_TRUNC, S_IFREG },
	[RECORD_MKDIR]         = { F_PATH_REQ | F_MODE | F_OWNER | F_MTIME | F_DIRTIME, 0,
				   S_IFDIR },
	[RECORD_UNLINK]        = { F_PATH_REQ | F_DIRTIME, 0, 0 },
	[RECORD_RMDIR]         = { F_PATH_REQ | F_DIRTIME, 0, 0 },
	[RECORD_RENAME]        = { F_PATH_REQ | F_PATH2 | F_FLAGS | F_DIRTIME | F_DIR2TIME,
				   RENAME_NOREPLACE | RENAME_EXCHANGE, 0 },
	[RECORD_LINK]          = { F_PATH_REQ | F_PATH2 | F_DIRTIME, 0, 0 },
	[RECORD_SYMLINK]       = { F_PATH_REQ | F_TARGET | F_OWNER | F_MTIME | F_DIRTIME, 0,
				   0 },
	[RECORD_CHMOD]         = { F_MODE, 0, 0 },
	[RECORD_CHOWN]         = { F_OWNER, 0, 0 },
	[RECORD_UTIMENS]       = { F_ATIME | F_MTIME, 0, 0 },
	[RECORD_SETXATTR]      = { F_NAME | F_DATA | F_FLAGS, XATTR_CREATE | XATTR_REPLACE, 0 },
	[RECORD_REMOVEXATTR]   = { F_NAME, 0, 0 },
	[RECORD_FALLOCATE]     = { F_PATH_REQ | F_OFFSET | F_SIZE | F_FLAGS | F_MTIME,
				   FALLOC_MODES, 0 },
	[RECORD_FSYNC_BARRIER] = { F_FLAGS, OP_FSYNC_DATA, 0 },
	[RECORD_VERIFY]        = { F_OFFSET | F_SIZE | F_MODE | F_OWNER | F_MTIME | F_FLAGS |
				   F_DATA, OP_VERIFY_XATTRS | OP_VERIFY_NOXATTRS | OP_VERIFY_AFTER |
				   OP_VERIFY_BEGIN | OP_VERIFY_FULL | OP_VERIFY_ENTRIES |
				   OP_VERIFY_REHASH, 0 },
	[RECORD_DATA]          = { F_PATH_REQ | F_OFFSET | F_SIZE | F_DATA, 0, 0 },
	[RECORD_CONFIG_FILE]   = { F_PATH_REQ | F_MODE | F_OWNER | F_MTIME | F_DIRTIME | F_SIZE |
				   F_DATA, 0, S_IFREG },
	[RECORD_CONFIG_DIR]    = { F_PATH_REQ | F_MODE | F_OWNER | F_MTIME | F_DIRTIME | F_DATA, 0,
				   S_IFDIR },
	[RECORD_CONFIG_SYMLINK] = { F_PATH_REQ | F_TARGET | F_OWNER | F_MTIME | F_DIRTIME, 0, 0 },
	[RECORD_CONFIG_REMOVE] = { F_PATH_REQ | F_DIRTIME, 0, 0 },
	[RECORD_CONFIG_MANIFEST] = { F_PATH_REQ | F_SIZE | F_DATA, 0, 0 },
};


/*
 * A path fit for a message: at most 64 bytes, anything unprintable as '?',
 * so a hostile record cannot put a newline or an escape into a log.
 */
const char *
op_quote(const char *s, size_t len, char out[OP_QUOTE_SIZE])
{
	size_t i, n = len > 64 ? 64 : len;

	for (i = 0; i < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (len > n) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/*
 * Why path breaks the rules of op.h, or NULL if it does not. "" is valid
 * (the directory itself); each type says whether it may name it.
 */
static const char *
path_problem(const char *path, size_t len)
{
	size_t i, start = 0;

	if (len > OP_PATH_MAX)
		return "is longer than 4095 bytes";
	if (len == 0)
		return NULL;
	if (memchr(path, '\0', len) != NULL)
		return "holds a NUL";
	if (path[0] == '/')
		return "is absolute";
	if (path[len - 1] == '/')
		return "ends with '/'";
	for (i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i == start)
			return "has an empty component";
		if (i - start == 1 && path[start] == '.')
			return "has a \".\" component";
		if (i - start == 2 && path[start] == '.' && path[start + 1] == '.')
			return "has a \"..\" component";
		start = i + 1;
	}
	return NULL;
}

_Static_assert(OP_PATH_MAX == 4095, "path_problem's message names the limit");

bool
op_path_valid(const char *path, size_t path_len)
{
	return path_problem(path, path_len) == NULL;
}

/* Whether nsec is a time of day's fraction or one of the wire sentinels. */
static bool
nsec_valid(uint32_t nsec)
{
	return nsec < NSEC_PER_SEC || nsec == OP_TIME_OMIT || nsec == OP_TIME_NOW;
}

/*
 * The wire value of a caller's nsec: the kernel's UTIME_NOW and UTIME_OMIT
 * are taken too (the capture may pass what FUSE gave it) and written as the
 * op sentinels, so the wire never carries a libc value.
 */
static uint32_t
nsec_wire(uint32_t nsec)
{
	if (nsec == (uint32_t)UTIME_NOW)
		return OP_TIME_NOW;
	if (nsec == (uint32_t)UTIME_OMIT)
		return OP_TIME_OMIT;
	return nsec;
}

static unsigned
fields_of(unsigned type)
{
	return record_type_valid(type) ? specs[type].fields : 0;
}

size_t
op_size(const struct op *op)
{
	unsigned f = fields_of(op->type);
	size_t n = OP_HEAD_SIZE + (size_t)op->path_len + 3;

	if (f & (F_PATH2 | F_TARGET))
		n += op->path2_len;
	if (f & F_NAME)
		n += op->name_len;
	if (f & (F_DATA | F_DATA_REQ))
		n += op->data_len;
	return n;
}

/* Copy a string and its NUL; returns the byte after it. */
static uint8_t *
put_string(uint8_t *p, const char *s, size_t len)
{
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p + len + 1;
}

/*
 * Fields the type does not carry are written as zero, whatever the caller
 * left in them. Refused (0): an unknown type, a length over its limit, a
 * missing pointer for a non-zero length, an nsec that is not a time or a
 * sentinel, or a buffer smaller than op_size.
 */
size_t
op_encode(uint8_t *buf, size_t buflen, const struct op *op)
{
	unsigned f = fields_of(op->type);
	uint16_t path2_len = (f & (F_PATH2 | F_TARGET)) ? op->path2_len : 0;
	uint16_t name_len = (f & F_NAME) ? op->name_len : 0;
	uint32_t data_len = (f & (F_DATA | F_DATA_REQ)) ? op->data_len : 0;
	int64_t atime_sec = 0, mtime_sec = 0;
	uint32_t atime_nsec = 0, mtime_nsec = 0;
	uint8_t *p;

	if (f & F_ATIME) {
		atime_sec = op->atime_sec;
		atime_nsec = nsec_wire(op->atime_nsec);
	} else if (f & F_DIRTIME) {
		atime_sec = op->dir_mtime_sec;
		atime_nsec = op->dir_mtime_nsec;
		if (atime_nsec >= NSEC_PER_SEC)
			return 0;
	}
	if (f & F_MTIME) {
		mtime_sec = op->mtime_sec;
		mtime_nsec = nsec_wire(op->mtime_nsec);
	} else if (f & F_DIR2TIME) {
		mtime_sec = op->dir2_mtime_sec;
		mtime_nsec = op->dir2_mtime_nsec;
		if (mtime_nsec >= NSEC_PER_SEC)
			return 0;
	}

	if (f == 0 || op->path_len > OP_PATH_MAX || path2_len > OP_PATH_MAX ||
	    name_len > OP_NAME_MAX || data_len > OP_MAX_DATA)
		return 0;
	if ((op->path_len > 0 && op->path == NULL) || (path2_len > 0 && op->path2 == NULL) ||
	    (name_len > 0 && op->name == NULL) || (data_len > 0 && op->data == NULL))
		return 0;
	if (!nsec_valid(atime_nsec) || !nsec_valid(mtime_nsec))
		return 0;
	if (buflen < op_size(op))
		return 0;
	put16(buf + H_ROOT, op->root);
	put16(buf + H_PATH_LEN, op->path_len);
	put16(buf + H_PATH2_LEN, path2_len);
	put16(buf + H_NAME_LEN, name_len);
	put32(buf + H_MODE, (f & F_MODE) ? op->mode : 0);
	put32(buf + H_UID, (f & F_OWNER) ? op->uid : 0);
	put32(buf + H_GID, (f & F_OWNER) ? op->gid : 0);
	put32(buf + H_FLAGS, (f & F_FLAGS) ? op->flags : 0);
	put64(buf + H_OFFSET, (f & F_OFFSET) ? op->offset : 0);
	put64(buf + H_SIZE, (f & F_SIZE) ? op->size : 0);
	put64(buf + H_ATIME_SEC, (uint64_t)atime_sec);
	put64(buf + H_MTIME_SEC, (uint64_t)mtime_sec);
	put32(buf + H_ATIME_NSEC, atime_nsec);
	put32(buf + H_MTIME_NSEC, mtime_nsec);
	p = buf + OP_HEAD_SIZE;
	p = put_string(p, op->path, op->path_len);
	p = put_string(p, op->path2, path2_len);
	p = put_string(p, op->name, name_len);
	if (data_len > 0)
		memcpy(p, op->data, data_len);
	return (size_t)(p - buf) + data_len;
}

/*
 * Take one string of the payload at *off: its length is in the head, its
 * bytes must be in the payload and followed by a NUL, with no NUL inside.
 */
static int
take_string(const uint8_t *payload, size_t len, size_t *off, size_t slen, const char *field,
    const char **s, char *why, size_t whylen)
{
	const uint8_t *nul;

	if (len - *off < slen + 1) {
		why_printf(why, whylen, "%s of %zu bytes and its NUL run past the end of the "
		    "%zu-byte payload", field, slen, len);
		return -1;
	}
	if ((nul = memchr(payload + *off, '\0', slen)) != NULL) {
		why_printf(why, whylen, "%s holds a NUL at byte %zu of %zu", field,
		    (size_t)(nul - (payload + *off)), slen);
		return -1;
	}
	if (payload[*off + slen] != '\0') {
		why_printf(why, whylen, "%s not followed by a NUL at payload offset %zu", field,
		    *off + slen);
		return -1;
	}
	*s = (const char *)payload + *off;
	*off += slen + 1;
	return 0;
}

/*
 * A field the type does not carry must be zero: a payload has one
 * encoding. Checked field by field so the reason names the one that is not.
 */
static int
check_absent(const struct op *op, unsigned f, const char *tname, char *why, size_t whylen)
{
	static const struct {
		unsigned	 bit;
		const char	*name;
	} zero[] = {
		{ F_MODE, "mode" }, { F_OWNER, "uid/gid" }, { F_FLAGS, "flags" },
		{ F_OFFSET, "offset" }, { F_SIZE, "size" }, { SLOT_A, "atime" },
		{ SLOT_M, "mtime" }, { F_NAME, "name" }, { F_PATH2 | F_TARGET, "path2" },
		{ F_DATA | F_DATA_REQ, "data" },
	};
	size_t i;
	bool set;

	for (i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
		if (f & zero[i].bit)
			continue;
		switch (zero[i].bit) {
		case F_MODE:    set = op->mode != 0; break;
		case F_OWNER:   set = op->uid != 0 || op->gid != 0; break;
		case F_FLAGS:   set = op->flags != 0; break;
		case F_OFFSET:  set = op->offset != 0; break;
		case F_SIZE:    set = op->size != 0; break;
		case SLOT_A:    set = op->atime_sec != 0 || op->atime_nsec != 0; break;
		case SLOT_M:    set = op->mtime_sec != 0 || op->mtime_nsec != 0; break;
		case F_NAME:    set = op->name_len != 0; break;
		case F_DATA | F_DATA_REQ: set = op->data_len != 0; break;
		default:        set = op->path2_len != 0; break;
		}
		if (set) {
			why_printf(why, whylen, "%s is set, but %s ops carry none", zero[i].name,
			    tname);
			return -1;
		}
	}
	return 0;
}

/* The checks of the fields a type does carry: the rules of op.h, per type. */
static int
check_present(const struct op *op, unsigned f, const char *tname, char *why, size_t whylen)
{
	uint32_t ifmt = op->mode & S_IFMT, allowed = specs[op->type].flags;
	const char *problem;
	char q[OP_QUOTE_SIZE];

	if ((f & F_PATH_REQ) && op->path_len == 0) {
		why_printf(why, whylen, "empty path for %s, which needs an entry, not the "
		    "directory itself", tname);
		return -1;
	}
	if ((problem = path_problem(op->path, op->path_len)) != NULL) {
		why_printf(why, whylen, "path \"%s\" %s", op_quote(op->path, op->path_len, q), problem);
		return -1;
	}
	if ((f & (F_PATH2 | F_TARGET)) && op->path2_len == 0) {
		why_printf(why, whylen, "empty path2 for %s", tname);
		return -1;
	}
	if ((f & F_PATH2) && (problem = path_problem(op->path2, op->path2_len)) != NULL) {
		why_printf(why, whylen, "path2 \"%s\" %s", op_quote(op->path2, op->path2_len, q),
		    problem);
		return -1;
	}
	if ((f & F_NAME) && op->name_len == 0) {
		why_printf(why, whylen, "empty xattr name for %s", tname);
		return -1;
	}
	if ((f & F_DATA_REQ) && op->data_len == 0) {
		why_printf(why, whylen, "no data for %s", tname);
		return -1;
	}
	if ((op->flags & ~allowed) != 0) {
		why_printf(why, whylen, "flags 0x%x for %s, expected bits of 0x%x", op->flags,
		    tname, allowed);
		return -1;
	}
	if ((op->type == RECORD_RENAME && op->flags == (RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (op->type == RECORD_SETXATTR && op->flags == (XATTR_CREATE | XATTR_REPLACE))) {
		why_printf(why, whylen, "flags 0x%x for %s: the two are exclusive", op->flags, tname);
		return -1;
	}
	if ((f & F_MODE) && ((op->mode & ~(uint32_t)(S_IFMT | 07777)) != 0 ||
	    (specs[op->type].ifmt != 0 && ifmt != 0 && ifmt != specs[op->type].ifmt))) {
		why_printf(why, whylen, "mode 0%o for %s, expected permission bits%s", op->mode,
		    tname, specs[op->type].ifmt == S_IFREG ? " (and S_IFREG)" :
		    specs[op->type].ifmt == S_IFDIR ? " (and S_IFDIR)" : " and a file type");
		return -1;
	}
	if ((f & F_ATIME) && !nsec_valid(op->atime_nsec)) {
		why_printf(why, whylen, "atime nsec %u, expected below 1000000000 or a sentinel",
		    op->atime_nsec);
		return -1;
	}
	if ((f & F_MTIME) && !nsec_valid(op->mtime_nsec)) {
		why_printf(why, whylen, "mtime nsec %u, expected below 1000000000 or a sentinel",
		    op->mtime_nsec);
		return -1;
	}
	if ((f & F_DIRTIME) && op->atime_nsec >= NSEC_PER_SEC) {
		why_printf(why, whylen, "directory mtime nsec %u in the atime slot, expected below "
		    "1000000000", op->atime_nsec);
		return -1;
	}
	if ((f & F_DIR2TIME) && op->mtime_nsec >= NSEC_PER_SEC) {
		why_printf(why, whylen, "directory mtime nsec %u in the mtime slot, expected below "
		    "1000000000", op->mtime_nsec);
		return -1;
	}
	return 0;
}

/*
 * Offsets and sizes become off_t on the applier's side: each must stay at
 * or below INT64_MAX, with what it adds to, and a range must not be empty.
 */
static int
check_ranges(const struct op *op, const char *tname, char *why, size_t whylen)
{
	const uint64_t max = INT64_MAX;

	switch (op->type) {
	case RECORD_WRITE:
		if (op->offset > max - op->data_len)
			goto past;
		break;
	case RECORD_TRUNCATE:
		if (op->size > max)
			goto past;
		break;
	case RECORD_FALLOCATE:
		if (op->size == 0) {
			why_printf(why, whylen, "size 0 for fallocate, expected a range");
			return -1;
		}
		if (op->offset > max || op->size > max - op->offset)
			goto past;
		break;
	case RECORD_VERIFY:
		if (op->offset > max || op->size > max)
			goto past;
		break;
	case RECORD_DATA:
		if (op->size > max || op->offset > op->size ||
		    op->data_len > op->size - op->offset) {
			why_printf(why, whylen, "data of %u bytes at offset %llu past the file size "
			    "%llu of a data op", op->data_len, (unsigned long long)op->offset,
			    (unsigned long long)op->size);
			return -1;
		}
		break;
	}
	return 0;
past:
	why_printf(why, whylen, "offset %llu and size %llu (data %u bytes) for %s reach past "
	    "2^63 - 1", (unsigned long long)op->offset, (unsigned long long)op->size,
	    op->data_len, tname);
	return -1;
}

/* A file's VERIFY: whole 8-byte hashes of blocks that start before the size. */
static const char *
hashes_problem(const struct op *op)
{
	uint64_t n = op->data_len / 8;

	if (op->data_len % 8 != 0)
		return "a partial hash, expected 8 per block";
	if (op->offset % OP_VERIFY_BLOCK != 0)
		return "offset not a multiple of the 64 KiB block";
	if (n == 0)
		return op->offset == 0 && op->size == 0 ? NULL :
		    "no hash, which only an empty file's verify may lack";
	if (op->offset >= op->size || n - 1 > (op->size - op->offset - 1) / OP_VERIFY_BLOCK)
		return "hashes of blocks past the file size";
	return NULL;
}

/*
 * Walk the NUL-terminated names of a directory chunk or an xattr list,
 * skipping skip bytes after each name's NUL: each name must be 1 to max
 * bytes and come after the one before in byte order. The names are
 * counted in *count. NULL or what is wrong.
 */
static const char *
walk_names(const struct op *op, size_t skip, size_t max, uint64_t *count)
{
	const uint8_t *p = op->data, *end = op->data + op->data_len, *nul;
	const uint8_t *prev = NULL;
	size_t len;

	for (*count = 0; p < end; (*count)++, p = nul + 1 + skip) {
		if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL)
			return "a name with no NUL after it";
		len = (size_t)(nul - p);
		if (len == 0 || len > max)
			return "an empty or overlong name";
		if ((size_t)(end - nul - 1) < skip)
			return "a hash cut short";
		/* Each name is followed by its NUL, so strcmp compares in byte order. */
		if (prev != NULL && strcmp((const char *)prev, (const char *)p) >= 0)
			return "names out of order or twice";
		prev = p;
	}
	return NULL;
}

/* A directory chunk: entry names, with the lower bound first after the first chunk. */
static const char *
names_problem(const struct op *op)
{
	const uint8_t *p = op->data, *end = op->data + op->data_len;
	bool after = op->flags & OP_VERIFY_AFTER;
	const char *problem;
	uint64_t n;
	size_t len;

	if ((problem = walk_names(op, 0, OP_NAME_MAX, &n)) != NULL)
		return problem;
	for (; p < end; p += len + 1) {
		len = strlen((const char *)p);
		if (memchr(p, '/', len) != NULL || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return "a name that is not one component";
	}
	if (after && n == 0)
		return "no lower bound in a chunk after the first";
	if (!after && op->offset != 0)
		return "a first chunk that does not start at entry 0";
	if (op->offset > op->size || n - after > op->size - op->offset)
		return "more entries than its size leaves";
	return NULL;
}

/* An xattr list: name, NUL, 8-byte hash of the value; size is the count. */
static const char *
xattrs_problem(const struct op *op)
{
	const char *problem;
	uint64_t n;

	if ((op->mode & S_IFMT) == S_IFLNK)
		return "xattrs of a symlink, which are not checked";
	if (op->flags != OP_VERIFY_XATTRS)
		return "another flag with XATTRS";
	if (op->offset != 0)
		return "an offset in an xattr list";
	if ((problem = walk_names(op, 8, OP_NAME_MAX, &n)) != NULL)
		return problem;
	return n == op->size ? NULL : "a size that is not the count of xattrs";
}

_Static_assert(OP_ENTRY_HEAD == 2 + 2 + 4 + 4 + 4 + 4 + 8 + 8, "entry head layout");

/* Bytes of an entry's data its mode and size call for: a hash, a target, or none. */
static uint64_t
entry_data_len(uint32_t mode, uint64_t size)
{
	if ((mode & S_IFMT) == S_IFLNK)
		return size;
	return size > 0 ? 8 : 0;
}

/*
 * One entry of an ENTRIES verify at p, left bytes long (op.h), into *e
 * and its length into *used. NULL, or what is wrong with it.
 */
static const char *
entry_take(const uint8_t *p, size_t left, struct op_entry *e, size_t *used)
{
	const char *name;
	uint64_t dlen;

	if (left < OP_ENTRY_HEAD)
		return "an entry head cut short";
	memset(e, 0, sizeof(*e));
	e->name_len = get16(p);
	e->mode = get32(p + 4);
	e->uid = get32(p + 8);
	e->gid = get32(p + 12);
	e->mtime_nsec = get32(p + 16);
	e->mtime_sec = (int64_t)get64(p + 20);
	e->size = get64(p + 28);
	if (get16(p + 2) != 0)
		return "an entry's reserved field is not zero";
	if (e->name_len == 0 || e->name_len > OP_NAME_MAX)
		return "an entry name of 0 or more than 255 bytes";
	if (left - OP_ENTRY_HEAD < (size_t)e->name_len + 1)
		return "an entry name cut short";
	name = (const char *)p + OP_ENTRY_HEAD;
	if (memchr(name, '\0', e->name_len) != NULL || name[e->name_len] != '\0')
		return "an entry name holding a NUL or not followed by one";
	if (memchr(name, '/', e->name_len) != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return "an entry name that is not one component";
	if (e->mtime_nsec >= 1000000000u)
		return "an entry mtime with 10^9 nanoseconds or more";
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		if (e->size > OP_VERIFY_BLOCK)
			return "a file entry of more than one 64 KiB block";
		break;
	case S_IFLNK:
		if (e->size == 0 || e->size > OP_PATH_MAX)
			return "a symlink entry with an empty or overlong target";
		break;
	default:
		return "an entry neither a regular file nor a symlink";
	}
	dlen = entry_data_len(e->mode, e->size);
	if (left - OP_ENTRY_HEAD - e->name_len - 1 < dlen)
		return "an entry's hash or target cut short";
	e->name = name;
	e->data = p + OP_ENTRY_HEAD + e->name_len + 1;
	e->data_len = (uint32_t)dlen;
	if ((e->mode & S_IFMT) == S_IFLNK && memchr(e->data, '\0', e->data_len) != NULL)
		return "a symlink entry's target holding a NUL";
	*used = OP_ENTRY_HEAD + e->name_len + 1 + (size_t)dlen;
	return NULL;
}

/*
 * A VERIFY of several entries of a directory (OP_VERIFY_ENTRIES): the
 * directory's own fields empty, entries whole and in order, as many as
 * its size says, each dir/name a valid path.
 */
static const char *
entries_problem(const struct op *op)
{
	const char *problem, *prev = NULL;
	struct op_entry e;
	size_t off = 0, used;
	uint64_t n = 0;

	if (op->flags != OP_VERIFY_ENTRIES)
		return "another flag with ENTRIES";
	if (op->mode != S_IFDIR || op->uid != 0 || op->gid != 0 || op->mtime_sec != 0 ||
	    op->mtime_nsec != 0 || op->offset != 0)
		return "a mode other than S_IFDIR alone, or an owner, mtime or offset, with ENTRIES";
	while (off < op->data_len) {
		if ((problem = entry_take(op->data + off, op->data_len - off, &e, &used)) != NULL)
			return problem;
		if (prev != NULL && strcmp(prev, e.name) >= 0)
			return "entry names out of order or twice";
		if (op->path_len > 0 && (size_t)op->path_len + 1 + e.name_len > OP_PATH_MAX)
			return "an entry whose path would be longer than 4095 bytes";
		prev = e.name;
		off += used;
		n++;
	}
	if (n == 0 || n != op->size)
		return "a size that is not the count of entries, or no entry";
	return NULL;
}

size_t
op_entry_size(const struct op_entry *e)
{
	return OP_ENTRY_HEAD + (size_t)e->name_len + 1 + e->data_len;
}

size_t
op_entry_put(uint8_t *buf, size_t buflen, const struct op_entry *e)
{
	size_t n = op_entry_size(e), used;
	struct op_entry check;
	uint8_t *p = buf;

	if (n > buflen || e->name == NULL || e->name_len > OP_NAME_MAX ||
	    e->data_len != entry_data_len(e->mode, e->size))
		return 0;
	p = put16(p, e->name_len);
	p = put16(p, 0);
	p = put32(p, e->mode);
	p = put32(p, e->uid);
	p = put32(p, e->gid);
	p = put32(p, e->mtime_nsec);
	p = put64(p, (uint64_t)e->mtime_sec);
	p = put64(p, e->size);
	memcpy(p, e->name, e->name_len);
	p[e->name_len] = '\0';
	p += e->name_len + 1;
	if (e->data_len > 0)
		memcpy(p, e->data, e->data_len);
	/* What the decoder would refuse is not written. */
	if (entry_take(buf, n, &check, &used) != NULL || used != n)
		return 0;
	return n;
}

bool
op_entry_next(const struct op *op, size_t *off, struct op_entry *e)
{
	size_t used;

	if (!(op->flags & OP_VERIFY_ENTRIES) || *off >= op->data_len ||
	    entry_take(op->data + *off, op->data_len - *off, e, &used) != NULL)
		return false;
	*off += used;
	return true;
}

/*
 * The layout of a VERIFY's data and the fields that go with it, by the
 * type in its mode (op.h): the passive reads names and hashes out of it,
 * so their framing is checked here with the rest, and each layout has one
 * encoding. NULL if fit.
 */
static const char *
verify_problem(const struct op *op)
{
	uint32_t ifmt = op->mode & S_IFMT;
	uint32_t flags = op->flags & ~(uint32_t)(OP_VERIFY_BEGIN | OP_VERIFY_FULL |
	    OP_VERIFY_REHASH);

	if ((op->flags & OP_VERIFY_FULL) && !(op->flags & OP_VERIFY_BEGIN))
		return "flag FULL without BEGIN, which it qualifies";
	if ((op->flags & OP_VERIFY_REHASH) && !(op->flags & OP_VERIFY_BEGIN))
		return "flag REHASH without BEGIN, which it qualifies";
	if (op->flags & OP_VERIFY_ENTRIES)
		return entries_problem(op);
	if (ifmt != S_IFREG && ifmt != S_IFDIR && ifmt != S_IFLNK)
		return "not the mode of a regular file, a directory or a symlink";
	if (op->flags & OP_VERIFY_XATTRS)
		return xattrs_problem(op);
	if ((flags & OP_VERIFY_AFTER) && ifmt != S_IFDIR)
		return "flag AFTER, which is for directory chunks";
	if ((flags & OP_VERIFY_NOXATTRS) &&
	    (ifmt == S_IFLNK || op->offset != 0 || (flags & OP_VERIFY_AFTER)))
		return "flag NOXATTRS, which is for the first record of a file or directory";
	if (ifmt == S_IFREG)
		return hashes_problem(op);
	if (ifmt == S_IFDIR)
		return names_problem(op);
	if (op->data_len == 0 || memchr(op->data, '\0', op->data_len) != NULL)
		return "an empty symlink target or one with a NUL";
	if (op->offset != 0 || op->size != op->data_len)
		return "an offset, or a size other than the target's length, for a symlink";
	return NULL;
}

/* ---- xattr blocks of the CONFIG types ---- */

void
op_xattr_block(const struct op *op, const uint8_t **block, size_t *len)
{
	*block = op->data;
	*len = op->type == RECORD_CONFIG_FILE && op->size <= op->data_len ?
	    op->data_len - (size_t)op->size : op->type == RECORD_CONFIG_DIR ? op->data_len : 0;
}

/* One xattr at the start of p (len bytes): NULL with *used, or what is wrong. */
static const char *
xattr_take(const uint8_t *p, size_t len, struct op_xattr *x, size_t *used)
{
	if (len < OP_XATTR_HEAD)
		return "an xattr head cut short";
	x->name_len = get16(p);
	x->value_len = get32(p + 2);
	if (x->name_len == 0 || x->name_len > OP_NAME_MAX)
		return "an xattr name of 0 or more than 255 bytes";
	if (len - OP_XATTR_HEAD < x->name_len ||
	    len - OP_XATTR_HEAD - x->name_len < x->value_len)
		return "an xattr longer than its block";
	x->name = (const char *)p + OP_XATTR_HEAD;
	x->value = p + OP_XATTR_HEAD + x->name_len;
	if (memchr(x->name, '\0', x->name_len) != NULL)
		return "an xattr name with a NUL";
	*used = OP_XATTR_HEAD + x->name_len + x->value_len;
	return NULL;
}

bool
op_xattr_next(const uint8_t *block, size_t len, size_t *off, struct op_xattr *x)
{
	size_t used;

	if (*off >= len || xattr_take(block + *off, len - *off, x, &used) != NULL)
		return false;
	*off += used;
	return true;
}

bool
op_xattr_put(uint8_t *buf, size_t cap, size_t *len, const char *name, size_t name_len,
    const void *value, size_t value_len)
{
	size_t need = OP_XATTR_HEAD + name_len + value_len;

	if (name_len == 0 || name_len > OP_NAME_MAX || memchr(name, '\0', name_len) != NULL ||
	    value_len > UINT32_MAX || *len > cap || cap - *len < need)
		return false;
	put16(buf + *len, (uint16_t)name_len);
	put32(buf + *len + 2, (uint32_t)value_len);
	memcpy(buf + *len + OP_XATTR_HEAD, name, name_len);
	if (value_len > 0)
		memcpy(buf + *len + OP_XATTR_HEAD + name_len, value, value_len);
	*len += need;
	return true;
}

/* Names strictly ascending in byte order, so a block has one encoding. */
static int
xattr_cmp(const struct op_xattr *a, const struct op_xattr *b)
{
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(a->name, b->name, n);

	return c != 0 ? c : (int)a->name_len - (int)b->name_len;
}

static const char *
xattr_block_problem(const uint8_t *block, size_t len)
{
	struct op_xattr x, prev = { 0 };
	const char *problem;
	size_t off = 0, used;

	while (off < len) {
		if ((problem = xattr_take(block + off, len - off, &x, &used)) != NULL)
			return problem;
		if (off > 0 && xattr_cmp(&prev, &x) >= 0)
			return "xattr names not in ascending byte order";
		prev = x;
		off += used;
	}
	return NULL;
}

/* The CONFIG types: the xattr block, the content's size, no folder time for the entry. */
static const char *
config_problem(const struct op *op)
{
	const uint8_t *block;
	size_t len;

	if (op->type == RECORD_CONFIG_MANIFEST)
		return memchr(op->path, '/', op->path_len) != NULL ?
		    "a manifest path with a '/', expected the config entry's own name" : NULL;
	if (memchr(op->path, '/', op->path_len) == NULL &&
	    (op->dir_mtime_sec != 0 || op->dir_mtime_nsec != 0))
		return "a folder time for the config entry itself, whose folder is not protected";
	if (op->type == RECORD_CONFIG_FILE && op->size > op->data_len)
		return "a content size past the data";
	op_xattr_block(op, &block, &len);
	return xattr_block_problem(block, len);
}

/*
 * Decode and check a payload of the given record type. The head must be
 * whole, the three strings and their NULs must lie in the payload, the
 * data is what remains; then each field is judged by the type's row: what
 * it carries must be valid, what it does not must be zero.
 */
int
op_decode(unsigned type, const uint8_t *payload, size_t len, struct op *op, char *why,
    size_t whylen)
{
	const char *tname = record_type_name(type), *problem;
	struct op o = { 0 };
	size_t off = OP_HEAD_SIZE;
	unsigned f;

	if (!record_type_valid(type)) {
		why_printf(why, whylen, "unknown type %u, expected %u to %u", type, RECORD_TYPE_MIN,
		    RECORD_TYPE_MAX);
		return -1;
	}
	f = specs[type].fields;
	if (len < OP_HEAD_SIZE) {
		why_printf(why, whylen, "%s payload of %zu bytes, shorter than the %d-byte head", tname,
		    len, OP_HEAD_SIZE);
		return -1;
	}
	o.type = (uint16_t)type;
	o.root = get16(payload + H_ROOT);
	o.path_len = get16(payload + H_PATH_LEN);
	o.path2_len = get16(payload + H_PATH2_LEN);
	o.name_len = get16(payload + H_NAME_LEN);
	o.mode = get32(payload + H_MODE);
	o.uid = get32(payload + H_UID);
	o.gid = get32(payload + H_GID);
	o.flags = get32(payload + H_FLAGS);
	o.offset = get64(payload + H_OFFSET);
	o.size = get64(payload + H_SIZE);
	o.atime_sec = (int64_t)get64(payload + H_ATIME_SEC);
	o.mtime_sec = (int64_t)get64(payload + H_MTIME_SEC);
	o.atime_nsec = get32(payload + H_ATIME_NSEC);
	o.mtime_nsec = get32(payload + H_MTIME_NSEC);

	if (o.path_len > OP_PATH_MAX || o.path2_len > OP_PATH_MAX) {
		why_printf(why, whylen, "%s length %u, expected at most %d",
		    o.path_len > OP_PATH_MAX ? "path" : "path2",
		    o.path_len > OP_PATH_MAX ? o.path_len : o.path2_len, OP_PATH_MAX);
		return -1;
	}
	if (o.name_len > OP_NAME_MAX) {
		why_printf(why, whylen, "name length %u, expected at most %d", o.name_len, OP_NAME_MAX);
		return -1;
	}
	if (take_string(payload, len, &off, o.path_len, "path", &o.path, why, whylen) == -1 ||
	    take_string(payload, len, &off, o.path2_len, "path2", &o.path2, why, whylen) == -1 ||
	    take_string(payload, len, &off, o.name_len, "name", &o.name, why, whylen) == -1)
		return -1;
	if (len - off > OP_MAX_DATA) {
		why_printf(why, whylen, "data of %zu bytes, expected at most %u", len - off, OP_MAX_DATA);
		return -1;
	}
	o.data = payload + off;
	o.data_len = (uint32_t)(len - off);

	if (check_absent(&o, f, tname, why, whylen) == -1 ||
	    check_present(&o, f, tname, why, whylen) == -1 ||
	    check_ranges(&o, tname, why, whylen) == -1)
		return -1;
	/* The directory times leave the slots they travel in for their own fields. */
	if (f & F_DIRTIME) {
		o.dir_mtime_sec = o.atime_sec;
		o.dir_mtime_nsec = o.atime_nsec;
		o.atime_sec = 0;
		o.atime_nsec = 0;
	}
	if (f & F_DIR2TIME) {
		o.dir2_mtime_sec = o.mtime_sec;
		o.dir2_mtime_nsec = o.mtime_nsec;
		o.mtime_sec = 0;
		o.mtime_nsec = 0;
	}
	if (type >= RECORD_CONFIG_FILE && type <= RECORD_CONFIG_MANIFEST &&
	    (problem = config_problem(&o)) != NULL) {
		why_printf(why, whylen, "%s: %s", tname, problem);
		return -1;
	}
	if (type == RECORD_VERIFY && (problem = verify_problem(&o)) != NULL) {
		why_printf(why, whylen, "verify of mode 0%o, flags 0x%x, data of %u bytes: %s", o.mode,
		    o.flags, o.data_len, problem);
		return -1;
	}
	*op = o;
	return 0;
}
