/*
 * Fuzz target of PLUGIN_FILES, what another node's lifeline plugin sends a
 * node agent (common/wire.c, linked): whatever the bytes, the decoder
 * refuses with a reason, or returns files that are each the plug-in's own
 * (named "NAME.", without '/' or ".."), lie inside the input, and encode
 * back to the same bytes.
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
		fprintf(stderr, "fuzz_pluginfiles: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_plugin_files r;
	char why[256] = "";
	uint8_t *again;
	size_t n;

	if (wire_decode_plugin_files(data, size, &r, why, sizeof(why)) < 0) {
		must(why[0] != '\0', "refused without a reason");
		return 0;
	}
	for (size_t i = 0; i < r.nfiles; i++) {
		const struct wire_plugin_file *f = &r.files[i];

		must(strncmp(f->name, r.plugin, strlen(r.plugin)) == 0 &&
		    f->name[strlen(r.plugin)] == '.' && strchr(f->name, '/') == NULL &&
		    strstr(f->name, "..") == NULL, "a file that is not the plug-in's");
		must(f->data >= data && f->data + f->len <= data + size, "data outside the input");
	}
	n = wire_encode_plugin_files(&again, 0, &r);
	must(n == size + WIRE_HDR_SIZE && memcmp(again + WIRE_HDR_SIZE, data, size) == 0,
	    "does not encode back");
	free(again);
	return 0;
}
