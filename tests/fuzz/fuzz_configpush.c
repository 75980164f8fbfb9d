/*
 * Fuzz target of what a node agent and `lifeline config push` read from
 * another node (common/wire.c, linked): the first byte picks CONFIG_PUSH
 * (even) or CONFIG_DONE (odd), the rest is its payload. Whatever the
 * bytes, the decoder refuses with a reason; an accepted push has a known
 * phase, text only in a prepare, inside the input, without NUL, and its
 * SHA-256 matching, and encodes back to the same bytes; an accepted answer
 * has a 64-digit hash and printable text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"
#include "fuzz.h"

static void
must(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_configpush: %s\n", what);
		abort();
	}
}

static void
push(const uint8_t *data, size_t size)
{
	struct wire_config_push r;
	uint8_t digest[WIRE_CONFIG_DIGEST], *again;
	char why[256] = "";
	size_t n;

	if (wire_decode_config_push(data, size, &r, why, sizeof(why)) < 0) {
		must(why[0] != '\0', "push refused without a reason");
		return;
	}
	must(r.phase >= WIRE_CONFIG_PREPARE && r.phase <= WIRE_CONFIG_ABORT, "unknown phase");
	must(r.phase == WIRE_CONFIG_PREPARE || r.len == 0, "text outside a prepare");
	must((const uint8_t *)r.text >= data && (const uint8_t *)r.text + r.len <= data + size,
	    "text outside the input");
	if (r.phase == WIRE_CONFIG_PREPARE) {
		must(memchr(r.text, '\0', r.len) == NULL, "a NUL in the text");
		wire_config_digest(r.text, r.len, digest);
		must(memcmp(digest, r.digest, sizeof(digest)) == 0, "text and digest differ");
	}
	n = wire_encode_config_push(&again, 0, &r);
	must(n == size + WIRE_HDR_SIZE && memcmp(again + WIRE_HDR_SIZE, data, size) == 0,
	    "does not encode back");
	free(again);
}

static void
done(const uint8_t *data, size_t size)
{
	struct wire_config_done d;
	char why[256] = "";

	if (wire_decode_config_done(data, size, &d, why, sizeof(why)) < 0) {
		must(why[0] != '\0', "answer refused without a reason");
		return;
	}
	must(wire_is_config_hash(d.config_hash), "an answer without a hash");
	for (const char *c = d.text; *c != '\0'; c++)
		must(*c >= 0x20 && *c < 0x7f, "unprintable answer text");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		push(data + 1, size - 1);
	else
		done(data + 1, size - 1);
	return 0;
}
