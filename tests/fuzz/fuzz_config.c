/*
 * Fuzz target of lifeline.conf: the bytes are a configuration file. The
 * parser and its value parsers are #included, so they are built with this
 * target's instrumentation and their static functions are in reach.
 */
#include "common/config.c"
#include "common/values.c"

#include "fuzz.h"

#define FUZZ_NAME "fuzz.conf"

/*
 * Checks that hold for every input: a refusal names FILE:LINE, and a
 * configuration that is accepted prints a normalized text that is accepted
 * again with the same hash (what -nv prints must be a valid file).
 */
static void
check_result(struct config *conf, const char *err)
{
	struct config *again;
	char err2[1024] = "";
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (conf == NULL) {
		if (strncmp(err, FUZZ_NAME ":", strlen(FUZZ_NAME ":")) != 0) {
			fprintf(stderr, "fuzz_config: refusal without FILE:LINE: \"%s\"\n", err);
			abort();
		}
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL)
		abort();
	config_print(f, conf);
	if (fclose(f) != 0)
		abort();
	again = config_parse_string(text, FUZZ_NAME, err2, sizeof(err2));
	if (again == NULL || strcmp(again->hash, conf->hash) != 0) {
		fprintf(stderr, "fuzz_config: normalized text %s:\n%s\n",
		    again == NULL ? "refused" : "has another hash", text);
		if (again == NULL)
			fprintf(stderr, "fuzz_config: %s\n", err2);
		abort();
	}
	config_free(again);
	free(text);
}

/*
 * Text without a NUL goes through config_parse_string; text with one
 * through the length-counted parse() that config_load uses, so the NUL
 * check is fuzzed too.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *conf;
	char err[1024] = "";
	char *text;

	if (size > CONFIG_MAX_SIZE)
		return 0;
	if (memchr(data, '\0', size) != NULL) {
		conf = parse((const char *)data, size, FUZZ_NAME, false, err, sizeof(err));
	} else {
		text = xmalloc(size + 1);
		memcpy(text, data, size);
		text[size] = '\0';
		conf = config_parse_string(text, FUZZ_NAME, err, sizeof(err));
		free(text);
	}
	check_result(conf, err);
	config_free(conf);
	return 0;
}
