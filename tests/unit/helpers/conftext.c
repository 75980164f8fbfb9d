/* A test configuration (conftext.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "common/config.h"
#include "common/util.h"
#include "helpers/conftext.h"

char *
conftext_two_nodes(const char *protect)
{
	return xasprintf("[cluster]\nname = t\nmode = ha\n"
	    "[node primary]\nchannel = 203.0.113.1\npublic = eth0 192.0.2.10/24\n"
	    "management = 198.51.100.11/24\n"
	    "[node secondary]\nchannel = 203.0.113.2\npublic = eth0 192.0.2.10/24\n"
	    "management = 198.51.100.12/24\n"
	    "[protect]\n%s", protect);
}

struct config *
conftext_load(const char *protect)
{
	char *text = conftext_two_nodes(protect), err[512];
	struct config *c = config_parse_string(text, "t.conf", err, sizeof(err));

	free(text);
	if (c == NULL)
		fail_msg("%s", err);
	return c;
}
