/*
 * The epoch history of a journal: a short text file of "epoch start_seq"
 * lines an administrator can read, and the comparison of two histories that
 * tells where two journals part.
 */
#include "repl/history.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_FILE_MAX  (HISTORY_MAX_SPANS * 48 + 256)
#define SPAN_WIRE_SIZE    16

int
history_load(const char *path, struct history *h, char *err, size_t errlen)
{
	size_t len;
	char *text, *line, *next;
	int lineno = 0, rc = -1;

	h->n = 0;
	if ((text = read_file(path, HISTORY_FILE_MAX, &len)) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (line = text; line != NULL && *line != '\0'; line = next) {
		uint64_t epoch, start;
		char tail, why[160];

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%" SCNu64 " %" SCNu64 " %c", &epoch, &start, &tail) != 2 ||
		    epoch == 0 || start == 0) {
			snprintf(err, errlen, "%s:%d: \"%s\" is not \"EPOCH START_SEQ\" "
			    "(two numbers from 1)", path, lineno, line);
			goto out;
		}
		if (history_begin(h, epoch, start, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			goto out;
		}
	}
	rc = 1;
out:
	free(text);
	return rc;
}

int
history_save(const char *path, const struct history *h)
{
	size_t cap = HISTORY_FILE_MAX, len = 0;
	char *text = xmalloc(cap);
	int rc;

	len += (size_t)snprintf(text, cap, "# epoch first-seq: where each epoch began in this journal\n");
	for (size_t i = 0; i < h->n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%" PRIu64 " %" PRIu64 "\n",
		    h->v[i].epoch, h->v[i].start_seq);
	if ((rc = write_file_atomic(path, text, len, 0644)) < 0)
		log_warn("cannot write %s", path);
	free(text);
	return rc;
}

int
history_begin(struct history *h, uint64_t epoch, uint64_t start_seq, char *err, size_t errlen)
{
	struct epoch_span *last = h->n > 0 ? &h->v[h->n - 1] : NULL;

	if (epoch == 0 || start_seq == 0) {
		snprintf(err, errlen, "epoch %" PRIu64 " at seq %" PRIu64 ": both must be at least 1",
		    epoch, start_seq);
		return -1;
	}
	if (last != NULL && epoch <= last->epoch) {
		snprintf(err, errlen, "epoch %" PRIu64 " after epoch %" PRIu64 ": epochs only rise",
		    epoch, last->epoch);
		return -1;
	}
	if (last != NULL && start_seq < last->start_seq) {
		snprintf(err, errlen, "epoch %" PRIu64 " begins at seq %" PRIu64 ", before epoch %"
		    PRIu64 " at %" PRIu64, epoch, start_seq, last->epoch, last->start_seq);
		return -1;
	}
	if (last != NULL && start_seq == last->start_seq) {
		/* The last epoch never wrote a record: no seq carries it. */
		last->epoch = epoch;
		return 0;
	}
	if (h->n == HISTORY_MAX_SPANS) {
		/* The oldest spans describe records long gone from every journal. */
		memmove(h->v, h->v + 1, (h->n - 1) * sizeof(h->v[0]));
		h->n--;
	}
	h->v[h->n].epoch = epoch;
	h->v[h->n].start_seq = start_seq;
	h->n++;
	return 0;
}

uint64_t
history_epoch_at(const struct history *h, uint64_t seq)
{
	uint64_t epoch = 0;

	for (size_t i = 0; i < h->n && h->v[i].start_seq <= seq; i++)
		epoch = h->v[i].epoch;
	return epoch;
}

uint64_t
history_last_epoch(const struct history *h)
{
	return h->n > 0 ? h->v[h->n - 1].epoch : 0;
}

/*
 * Whether a and b may hold the same record at seq. A history with no span
 * up to seq lost it to pruning (HISTORY_MAX_SPANS): it cannot disagree.
 */
static bool
agree_at(const struct history *a, const struct history *b, uint64_t seq)
{
	uint64_t ea = history_epoch_at(a, seq), eb = history_epoch_at(b, seq);

	return ea == 0 || eb == 0 || ea == eb;
}

/*
 * Both epochs are constant between consecutive span starts of either
 * history, so comparing them at each start is enough: the first start
 * where they differ is the first seq the journals do not share.
 */
uint64_t
history_common(const struct history *a, uint64_t a_last, const struct history *b,
    uint64_t b_last)
{
	uint64_t limit = a_last < b_last ? a_last : b_last;
	size_t i = 0, j = 0;

	if (limit == 0)
		return 0;
	if (!agree_at(a, b, 1))
		return 0;
	while (i < a->n || j < b->n) {
		uint64_t next;

		if (j >= b->n || (i < a->n && a->v[i].start_seq <= b->v[j].start_seq))
			next = a->v[i++].start_seq;
		else
			next = b->v[j++].start_seq;
		if (next > limit)
			break;
		if (!agree_at(a, b, next))
			return next - 1;
	}
	return limit;
}

void
history_truncate(struct history *h, uint64_t keep_seq)
{
	while (h->n > 0 && h->v[h->n - 1].start_seq > keep_seq)
		h->n--;
}

size_t
history_wire_size(const struct history *h)
{
	return 4 + h->n * SPAN_WIRE_SIZE;
}

size_t
history_encode(uint8_t *buf, size_t buflen, const struct history *h)
{
	uint8_t *p = buf;

	if (buflen < history_wire_size(h))
		return 0;
	p = put32(p, (uint32_t)h->n);
	for (size_t i = 0; i < h->n; i++) {
		p = put64(p, h->v[i].epoch);
		p = put64(p, h->v[i].start_seq);
	}
	return (size_t)(p - buf);
}

int
history_decode(const uint8_t *buf, size_t len, struct history *h, size_t *used, char *err,
    size_t errlen)
{
	uint32_t count;
	char why[160];

	h->n = 0;
	if (len < 4) {
		snprintf(err, errlen, "epoch history: %zu bytes, expected at least 4", len);
		return -1;
	}
	count = get32(buf);
	if (count > HISTORY_MAX_SPANS || len - 4 < (size_t)count * SPAN_WIRE_SIZE) {
		snprintf(err, errlen, "epoch history: %" PRIu32 " spans in %zu bytes, expected at "
		    "most %d spans, 16 bytes each", count, len - 4, HISTORY_MAX_SPANS);
		return -1;
	}
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *p = buf + 4 + (size_t)i * SPAN_WIRE_SIZE;

		if (history_begin(h, get64(p), get64(p + 8), why, sizeof(why)) < 0) {
			snprintf(err, errlen, "epoch history: span %" PRIu32 ": %s", i, why);
			h->n = 0;
			return -1;
		}
	}
	*used = 4 + (size_t)count * SPAN_WIRE_SIZE;
	return 0;
}
