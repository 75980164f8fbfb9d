/*
 * Fuzz target of the journal record codec: the bytes are a journal segment
 * (or a stream read from a peer). record.c is #included. Whatever the
 * bytes, record_scan must return a valid prefix made only of records that
 * decode one by one, with sequence numbers rising by one.
 */
#include "repl/record.c"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256] = "";
	uint64_t last = 0, prev = 0;
	size_t valid = record_scan(data, size, &last, why, sizeof(why)), off = 0;
	int n = 0;

	if (valid > size) {
		fprintf(stderr, "fuzz_record: valid prefix %zu past the end %zu\n", valid, size);
		abort();
	}
	if (valid < size && why[0] == '\0') {
		fprintf(stderr, "fuzz_record: prefix cut without a reason\n");
		abort();
	}
	while (off < valid) {
		struct record_hdr h;
		const uint8_t *payload;
		char err[256];

		if (record_decode(data + off, valid - off, &h, &payload, err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz_record: record in the valid prefix does not decode: %s\n", err);
			abort();
		}
		if (n > 0 && h.seq != prev + 1) {
			fprintf(stderr, "fuzz_record: seq %llu after %llu in the valid prefix\n",
			    (unsigned long long)h.seq, (unsigned long long)prev);
			abort();
		}
		prev = h.seq;
		off += record_size(&h);
		n++;
	}
	if (off != valid || (n > 0 && last != prev)) {
		fprintf(stderr, "fuzz_record: prefix %zu ends mid-record or last seq %llu != %llu\n",
		    valid, (unsigned long long)last, (unsigned long long)prev);
		abort();
	}
	return 0;
}
