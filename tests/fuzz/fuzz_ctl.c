/*
 * Fuzz target of the control protocol: the bytes are one request line as
 * the engine reads it from its socket. ctl.c is #included; JSON decoding
 * itself is jansson's. The line then goes through the engine's dispatcher
 * with a stand-in command table, as lifelined does with every line.
 */
#include "common/ctl.c"
#include "common/control.h"

#include "fuzz.h"

static json_t *
cmd_stub(void *ctx, json_t *req, struct control_later *later)
{
	return ctl_ok();
}

static const struct control_command table[] = {
	{ "status", cmd_stub, "status" },
	{ "stop", cmd_stub, "stop" },
	{ NULL, NULL, NULL },
};

/*
 * A request is accepted only as an object with a "cmd" string, and every
 * line gets an answer object with an "ok" boolean.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024] = "";
	json_t *req, *answer;

	if (size > CTL_MAX_LINE)
		return 0;
	req = ctl_parse_request((const char *)data, size, err, sizeof(err));
	if (req == NULL && err[0] == '\0') {
		fprintf(stderr, "fuzz_ctl: refused without a message\n");
		abort();
	}
	if (req != NULL && (!json_is_object(req) ||
	    !json_is_string(json_object_get(req, "cmd")))) {
		fprintf(stderr, "fuzz_ctl: accepted a request without a \"cmd\" string\n");
		abort();
	}
	json_decref(req);

	answer = control_dispatch(NULL, table, (const char *)data, size, NULL);
	if (!json_is_object(answer) || !json_is_boolean(json_object_get(answer, "ok"))) {
		fprintf(stderr, "fuzz_ctl: the dispatcher gave no {\"ok\": ...} answer\n");
		abort();
	}
	json_decref(answer);
	return 0;
}
