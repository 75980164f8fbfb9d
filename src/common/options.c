/*
 * The option table of a daemon, turned into getopt_long's tables, the
 * usage text and the man page's option list.
 */
#include "common/options.h"

#include <ctype.h>
#include <string.h>

void
options_usage(FILE *out, const char *synopsis, const struct option_row *rows, size_t n)
{
	fprintf(out, "usage: %s\n", synopsis);
	for (size_t i = 0; i < n; i++) {
		const struct option_row *o = &rows[i];
		char left[40];

		snprintf(left, sizeof(left), "-%c, --%s%s%s", o->shrt, o->lng,
		    o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(out, "  %-26s %s\n", left, o->help);
	}
}

void
options_mdoc(FILE *out, const struct option_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct option_row *o = &rows[i];

		fprintf(out, ".It Fl %c%s%s , Fl -%s%s%s\n%c%s.\n", o->shrt,
		    o->arg ? " Ar " : "", o->arg ? o->arg : "", o->lng,
		    o->arg ? " Ar " : "", o->arg ? o->arg : "",
		    toupper((unsigned char)o->help[0]), o->help + 1);
	}
}

void
options_getopt(const struct option_row *rows, size_t n, struct option *longopts, char *shortopts)
{
	char *p = shortopts;

	for (size_t i = 0; i < n; i++) {
		longopts[i] = (struct option){ rows[i].lng,
		    rows[i].arg ? required_argument : no_argument, NULL, rows[i].shrt };
		*p++ = (char)rows[i].shrt;
		if (rows[i].arg)
			*p++ = ':';
	}
	*p = '\0';
	memset(&longopts[n], 0, sizeof(longopts[0]));
}
