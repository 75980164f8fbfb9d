/*
 * The journal record codec: encodes and checks one record, and finds where
 * the valid part of a journal ends so that a torn or corrupt tail is cut and
 * nothing before it is lost.
 */
#include "repl/record.h"
#include "common/bytes.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY    /* XXH3_state_t on the stack */
#include <xxhash.h>

/* Offsets of the fields in the header. */
#define OFF_MAGIC     0
#define OFF_VERSION   4
#define OFF_TYPE      6
#define OFF_EPOCH     8
#define OFF_SEQ       16
#define OFF_LENGTH    24
#define OFF_FLAGS     28
#define OFF_RESERVED  30
#define OFF_CHECKSUM  40

_Static_assert(4 + 2 + 2 + 8 + 8 + 4 + 2 + RECORD_RESERVED + 8 == RECORD_HDR_SIZE,
    "record header layout");
_Static_assert(OFF_RESERVED + RECORD_RESERVED == OFF_CHECKSUM, "reserved before checksum");
_Static_assert(OFF_CHECKSUM + 8 == RECORD_HDR_SIZE, "checksum ends the header");
_Static_assert(RECORD_MAX_PAYLOAD <= UINT32_MAX, "length fits its u32 field");

/*
 * One table for names and replay semantics, indexed by type. State-setting
 * (ARCHITECTURE invariant 8) means applying the record twice leaves the same
 * state as applying it once, so after a crash it may simply be applied again.
 * CREATE is not: an exclusive create fails the second time. FALLOCATE is kept
 * out until its payload pins the modes: collapse and insert range shift data
 * and are not harmless twice.
 */
static const struct {
	const char	*name;
	bool		 state_setting;
} types[RECORD_TYPE_MAX + 1] = {
	[RECORD_WRITE]         = { "write",         true },
	[RECORD_TRUNCATE]      = { "truncate",      true },
	[RECORD_CREATE]        = { "create",        false },
	[RECORD_MKDIR]         = { "mkdir",         false },
	[RECORD_UNLINK]        = { "unlink",        false },
	[RECORD_RMDIR]         = { "rmdir",         false },
	[RECORD_RENAME]        = { "rename",        false },
	[RECORD_LINK]          = { "link",          false },
	[RECORD_SYMLINK]       = { "symlink",       false },
	[RECORD_CHMOD]         = { "chmod",         true },
	[RECORD_CHOWN]         = { "chown",         true },
	[RECORD_UTIMENS]       = { "utimens",       true },
	[RECORD_SETXATTR]      = { "setxattr",      true },
	[RECORD_REMOVEXATTR]   = { "removexattr",   true },
	[RECORD_FALLOCATE]     = { "fallocate",     false },
	[RECORD_FSYNC_BARRIER] = { "fsync-barrier", true },
	[RECORD_VERIFY]        = { "verify",        true },
	[RECORD_DATA]          = { "data",          true },
	/* Whole entries, redone the same way on a replay: no intent needed. */
	[RECORD_CONFIG_FILE]   = { "config-file",   true },
	[RECORD_CONFIG_DIR]    = { "config-dir",    true },
	[RECORD_CONFIG_SYMLINK] = { "config-symlink", true },
	[RECORD_CONFIG_REMOVE] = { "config-remove", true },
	[RECORD_CONFIG_MANIFEST] = { "config-manifest", true },
};


bool
record_type_valid(unsigned type)
{
	return type >= RECORD_TYPE_MIN && type <= RECORD_TYPE_MAX;
}

const char *
record_type_name(unsigned type)
{
	return record_type_valid(type) ? types[type].name : "unknown";
}

bool
record_is_state_setting(unsigned type)
{
	return record_type_valid(type) && types[type].state_setting;
}

/*
 * The checksum covers the header with its checksum field zeroed, then the
 * payload, so a flipped bit anywhere in the record is caught.
 */
static uint64_t
checksum(const uint8_t *hdr, const void *payload, size_t length)
{
	uint8_t copy[RECORD_HDR_SIZE];
	XXH3_state_t st;

	memcpy(copy, hdr, RECORD_HDR_SIZE);
	memset(copy + OFF_CHECKSUM, 0, 8);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, copy, sizeof(copy));
	if (length > 0)
		XXH3_64bits_update(&st, payload, length);
	return XXH3_64bits_digest(&st);
}

/*
 * Write one record into buf. Returns the bytes written, or 0 if buf is too
 * small or the record would not decode (unknown type, payload over the
 * limit, no payload given for a non-zero length): nothing that a reader
 * refuses is ever written.
 */
size_t
record_encode(uint8_t *buf, size_t buflen, const struct record_hdr *h, const void *payload)
{
	uint8_t *p = buf;

	if (!record_type_valid(h->type) || h->length > RECORD_MAX_PAYLOAD ||
	    (h->length > 0 && payload == NULL) || buflen < record_size(h))
		return 0;
	p = put32(p, RECORD_MAGIC);
	p = put16(p, RECORD_VERSION);
	p = put16(p, h->type);
	p = put64(p, h->epoch);
	p = put64(p, h->seq);
	p = put32(p, h->length);
	p = put16(p, h->flags);
	memset(p, 0, RECORD_RESERVED);
	p += RECORD_RESERVED;
	if (h->length > 0)
		memcpy(buf + RECORD_HDR_SIZE, payload, h->length);
	put64(p, checksum(buf, buf + RECORD_HDR_SIZE, h->length));
	return record_size(h);
}

/*
 * Check and decode the record at the start of buf. Returns 0 for a whole
 * valid record (h filled, *payload pointing into buf), 1 if buf ends before
 * the record does (at the end of a file: a torn tail), -1 if it is corrupt.
 * Each field is judged as soon as its bytes are there, so garbage is called
 * corrupt even when it is shorter than a header. why says what was wrong.
 */
int
record_decode(const uint8_t *buf, size_t len, struct record_hdr *h,
    const uint8_t **payload, char *why, size_t whylen)
{
	uint32_t magic, length;
	uint16_t version, type;
	uint64_t want, got;

	if (len >= OFF_MAGIC + 4 && (magic = get32(buf + OFF_MAGIC)) != RECORD_MAGIC) {
		why_printf(why, whylen, "bad magic 0x%08x, expected 0x%08x (\"LLJ1\")", magic,
		    RECORD_MAGIC);
		return -1;
	}
	if (len >= OFF_VERSION + 2 && (version = get16(buf + OFF_VERSION)) != RECORD_VERSION) {
		why_printf(why, whylen, "unknown version %u, expected %u", version, RECORD_VERSION);
		return -1;
	}
	if (len >= OFF_TYPE + 2 && !record_type_valid(type = get16(buf + OFF_TYPE))) {
		why_printf(why, whylen, "unknown type %u, expected %u to %u", type, RECORD_TYPE_MIN,
		    RECORD_TYPE_MAX);
		return -1;
	}
	if (len >= OFF_LENGTH + 4 && (length = get32(buf + OFF_LENGTH)) > RECORD_MAX_PAYLOAD) {
		why_printf(why, whylen, "payload length %u, expected at most %u", length,
		    RECORD_MAX_PAYLOAD);
		return -1;
	}
	if (len < RECORD_HDR_SIZE) {
		why_printf(why, whylen, "incomplete header: %zu of %d bytes", len, RECORD_HDR_SIZE);
		return 1;
	}
	length = get32(buf + OFF_LENGTH);
	if (len - RECORD_HDR_SIZE < length) {
		why_printf(why, whylen, "incomplete payload: %zu of %u bytes", len - RECORD_HDR_SIZE,
		    length);
		return 1;
	}
	got = get64(buf + OFF_CHECKSUM);
	want = checksum(buf, buf + RECORD_HDR_SIZE, length);
	if (got != want) {
		why_printf(why, whylen, "checksum 0x%016llx, expected 0x%016llx over the header and "
		    "%u payload bytes", (unsigned long long)got, (unsigned long long)want, length);
		return -1;
	}
	h->version = get16(buf + OFF_VERSION);
	h->type = get16(buf + OFF_TYPE);
	h->epoch = get64(buf + OFF_EPOCH);
	h->seq = get64(buf + OFF_SEQ);
	h->length = length;
	h->flags = get16(buf + OFF_FLAGS);
	h->checksum = got;
	if (payload != NULL)
		*payload = buf + RECORD_HDR_SIZE;
	return 0;
}

/*
 * Walk the records from the start of buf (a segment read after a crash, or
 * what a passive received) and return the length of the valid prefix: the
 * offset where a torn or corrupt tail must be cut. Besides each record being
 * whole and valid, seq must rise by exactly one and the epoch must never go
 * down (invariant 3); a record that breaks the order ends the prefix too.
 * *last_seq gets the seq of the last valid record, and is left alone if
 * there is none. why is empty if all of buf is valid, else it names the
 * record and the offset where the prefix ends, and why.
 */
size_t
record_scan(const uint8_t *buf, size_t len, uint64_t *last_seq, char *why, size_t whylen)
{
	struct record_hdr h, prev = { 0 };
	char reason[192];
	size_t off = 0, n = 0;
	int rc;

	why_printf(why, whylen, "%s", "");
	while (off < len) {
		rc = record_decode(buf + off, len - off, &h, NULL, reason, sizeof(reason));
		if (rc != 0) {
			why_printf(why, whylen, "%s record %zu at offset %zu: %s",
			    rc > 0 ? "torn" : "corrupt", n, off, reason);
			break;
		}
		if (n > 0 && (prev.seq == UINT64_MAX || h.seq != prev.seq + 1)) {
			why_printf(why, whylen, "record %zu at offset %zu: seq %llu, expected %llu",
			    n, off, (unsigned long long)h.seq, (unsigned long long)prev.seq + 1);
			break;
		}
		if (n > 0 && h.epoch < prev.epoch) {
			why_printf(why, whylen, "record %zu at offset %zu: epoch %llu below the "
			    "previous record's %llu", n, off, (unsigned long long)h.epoch,
			    (unsigned long long)prev.epoch);
			break;
		}
		prev = h;
		off += record_size(&h);
		n++;
	}
	if (n > 0 && last_seq != NULL)
		*last_seq = prev.seq;
	return off;
}
