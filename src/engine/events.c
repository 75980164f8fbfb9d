/*
 * Appends events to STATE_DIR/events.jsonl. Each event is one small
 * write(2) of a whole line to a file opened with O_APPEND, so lines never
 * interleave and a crash loses at most the event being written; there is
 * no fsync on the loop: events are history, the role state is what must
 * be durable (state.c).
 */
#include "engine/events.h"
#include "engine/engine.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int events_fd = -1;

int
events_open(struct engine *e)
{
	char *path = xasprintf("%s/%s", e->conf->state_dir, EVENTS_FILE_NAME);

	events_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (events_fd < 0)
		log_warn("cannot open the event log %s; events go to the log only", path);
	free(path);
	return events_fd < 0 ? -1 : 0;
}

void
events_close(void)
{
	if (events_fd >= 0)
		close(events_fd);
	events_fd = -1;
}

void
event(struct engine *e, enum event_level level, const char *kind, const char *fmt, ...)
{
	char msg[1024], when[64];
	struct timespec ts;
	struct tm tm;
	json_t *obj;
	char *line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level == EV_WARNING)
		log_warnx("%s: %s", kind, msg);
	else
		log_info("%s: %s", kind, msg);
	if (events_fd < 0)
		return;
	utf8_sanitize(msg);      /* or json_pack refuses it and the event is lost */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	obj = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "time", when,
	    "node", node_name(e->self), "level", level == EV_WARNING ? "warning" : "info",
	    "epoch", (json_int_t)e->state.epoch, "kind", kind, "message", msg);
	line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (line == NULL)
		return;
	line = xrealloc(line, strlen(line) + 2);
	strcat(line, "\n");
	if (write(events_fd, line, strlen(line)) < 0)
		log_warn("cannot append to the event log");
	free(line);
}
