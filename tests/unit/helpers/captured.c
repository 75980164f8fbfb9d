/* run_captured: fds 1 and 2 pointed at temporary files around the call. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers/captured.h"

#include <stdio.h>
#include <unistd.h>

void
run_captured(struct output *o, captured_fn *fn, void *arg, int argc, char **argv)
{
	FILE *tout = tmpfile(), *terr = tmpfile();
	int sout = dup(1), serr = dup(2);
	size_t n;

	assert_non_null(tout);
	assert_non_null(terr);
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(tout), 1);
	dup2(fileno(terr), 2);
	o->rc = fn(arg, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(sout, 1);
	dup2(serr, 2);
	close(sout);
	close(serr);
	rewind(tout);
	rewind(terr);
	n = fread(o->out, 1, sizeof(o->out) - 1, tout);
	o->out[n] = '\0';
	n = fread(o->err, 1, sizeof(o->err) - 1, terr);
	o->err[n] = '\0';
	fclose(tout);
	fclose(terr);
}
