/*
 * One journal record, as it lies in a segment file and travels to a passive:
 * a fixed 48-byte big-endian header and an opaque payload, sealed by an XXH3
 * checksum. Payload layouts of each type live elsewhere.
 */
#ifndef LIFELINE_RECORD_H
#define LIFELINE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_MAGIC        0x4c4c4a31u       /* "LLJ1" */
#define RECORD_VERSION      1
#define RECORD_HDR_SIZE     48
#define RECORD_MAX_PAYLOAD  (16u * 1024 * 1024)
#define RECORD_RESERVED     10                /* zero on write, ignored on read */

/*
 * Record types. The values are on disk and on the wire: fixed forever, never
 * reused. 0 is not a type, so zeroed space never decodes as a record.
 */
enum record_type {
	RECORD_WRITE         = 1,
	RECORD_TRUNCATE      = 2,
	RECORD_CREATE        = 3,
	RECORD_MKDIR         = 4,
	RECORD_UNLINK        = 5,
	RECORD_RMDIR         = 6,
	RECORD_RENAME        = 7,
	RECORD_LINK          = 8,
	RECORD_SYMLINK       = 9,
	RECORD_CHMOD         = 10,
	RECORD_CHOWN         = 11,
	RECORD_UTIMENS       = 12,
	RECORD_SETXATTR      = 13,
	RECORD_REMOVEXATTR   = 14,
	RECORD_FALLOCATE     = 15,
	RECORD_FSYNC_BARRIER = 16,
	RECORD_VERIFY        = 17,   /* full system check: hashes of blocks */
	RECORD_DATA          = 18,   /* full system check: blocks that differed */
	/* Protected configuration ([protect] config), whole entries (op.h). */
	RECORD_CONFIG_FILE   = 19,   /* a file as it is now: content, owner, mode, xattrs */
	RECORD_CONFIG_DIR    = 20,   /* a directory's own attributes (made if missing) */
	RECORD_CONFIG_SYMLINK = 21,  /* a symlink as it is now */
	RECORD_CONFIG_REMOVE = 22,   /* the entry is gone (with all below it) */
	RECORD_CONFIG_MANIFEST = 23, /* check: every entry below a config entry, hashed */
};
#define RECORD_TYPE_MIN RECORD_WRITE
#define RECORD_TYPE_MAX RECORD_CONFIG_MANIFEST

/*
 * The header as decoded. On disk, at these offsets:
 *   0 u32 magic  4 u16 version  6 u16 type  8 u64 epoch  16 u64 seq
 *  24 u32 length  28 u16 flags  30 u8[10] reserved  40 u64 checksum
 * The checksum is XXH3-64 of the 48 header bytes with the checksum field
 * zeroed, followed by the payload.
 */
struct record_hdr {
	uint16_t version;     /* decode fills it; encode always writes RECORD_VERSION */
	uint16_t type;        /* enum record_type */
	uint16_t flags;       /* none defined in version 1; carried as is */
	uint32_t length;      /* payload bytes after the header */
	uint64_t epoch;
	uint64_t seq;
	uint64_t checksum;    /* decode fills it; encode computes it */
};

/* The bytes one record takes: header and payload. */
static inline size_t
record_size(const struct record_hdr *h)
{
	return RECORD_HDR_SIZE + (size_t)h->length;
}

bool		 record_type_valid(unsigned type);
const char	*record_type_name(unsigned type);  /* "unknown" if not a type */
bool		 record_is_state_setting(unsigned type);

size_t		 record_encode(uint8_t *buf, size_t buflen, const struct record_hdr *h,
		    const void *payload);
int		 record_decode(const uint8_t *buf, size_t len, struct record_hdr *h,
		    const uint8_t **payload, char *why, size_t whylen);
size_t		 record_scan(const uint8_t *buf, size_t len, uint64_t *last_seq,
		    char *why, size_t whylen);

#endif
