/* Unit tests of repl/history: spans, the shared prefix of two journals, the file and wire forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/tmpdir.h"
#include "repl/history.h"

/* A history from "epoch start" pairs, ended by 0. */
static struct history *
make(uint64_t first, ...)
{
	struct history *h = calloc(1, sizeof(*h));
	char err[160];
	va_list ap;
	uint64_t epoch = first;

	assert_non_null(h);
	va_start(ap, first);
	while (epoch != 0) {
		uint64_t start = va_arg(ap, uint64_t);

		assert_int_equal(history_begin(h, epoch, start, err, sizeof(err)), 0);
		epoch = va_arg(ap, uint64_t);
	}
	va_end(ap);
	return h;
}

#define H(...) make(__VA_ARGS__, (uint64_t)0)
#define U(x) ((uint64_t)(x))

static void
test_begin_rules(void **state)
{
	struct history *h = H(U(1), U(1), U(2), U(50));
	char err[160];

	assert_int_equal(h->n, 2);
	assert_int_equal(history_epoch_at(h, 0), 0);
	assert_int_equal(history_epoch_at(h, 1), 1);
	assert_int_equal(history_epoch_at(h, 49), 1);
	assert_int_equal(history_epoch_at(h, 50), 2);
	assert_int_equal(history_epoch_at(h, 5000), 2);
	assert_int_equal(history_last_epoch(h), 2);

	assert_int_equal(history_begin(h, 2, 60, err, sizeof(err)), -1);
	assert_string_equal(err, "epoch 2 after epoch 2: epochs only rise");
	assert_int_equal(history_begin(h, 3, 49, err, sizeof(err)), -1);
	assert_string_equal(err, "epoch 3 begins at seq 49, before epoch 2 at 50");
	assert_int_equal(history_begin(h, 0, 60, err, sizeof(err)), -1);

	/* Epoch 2 wrote nothing before epoch 3 began: 3 takes its place. */
	assert_int_equal(history_begin(h, 3, 50, err, sizeof(err)), 0);
	assert_int_equal(h->n, 2);
	assert_int_equal(history_epoch_at(h, 50), 3);
	free(h);
}

static void
test_common_prefix(void **state)
{
	/* One table: the two journals, and the last seq both hold. */
	struct {
		struct history	*a, *b;
		uint64_t	 a_last, b_last, common;
	} rows[] = {
		/* same history, one behind */
		{ H(U(1), U(1)), H(U(1), U(1)), 100, 80, 80 },
		{ H(U(1), U(1)), H(U(1), U(1)), 0, 80, 0 },
		/* the new active took epoch 2 at 101; the old active wrote on to 105 */
		{ H(U(1), U(1), U(2), U(101)), H(U(1), U(1)), 130, 105, 100 },
		/* ... and the new active has not written yet: still 100 */
		{ H(U(1), U(1), U(2), U(101)), H(U(1), U(1)), 100, 105, 100 },
		/* a stand-by that got epoch 2's records up to 120 */
		{ H(U(1), U(1), U(2), U(101)), H(U(1), U(1), U(2), U(101)), 130, 120, 120 },
		/* forced epochs on both sides of a partition, from seq 40 and 60 */
		{ H(U(1), U(1), U(3), U(40)), H(U(1), U(1), U(2), U(60)), 90, 90, 39 },
		{ H(U(1), U(1), U(2), U(60)), H(U(1), U(1), U(3), U(40)), 90, 90, 39 },
		/* different from the very first record */
		{ H(U(2), U(1)), H(U(1), U(1)), 10, 10, 0 },
		/* b's oldest spans were pruned: it cannot disagree before 500 */
		{ H(U(1), U(1), U(4), U(500)), H(U(4), U(500)), 600, 550, 550 },
		{ H(U(1), U(1), U(5), U(500)), H(U(4), U(500)), 600, 550, 499 },
		/* several epochs that agree, then one that does not */
		{ H(U(1), U(1), U(2), U(10), U(5), U(20), U(7), U(30)),
		  H(U(1), U(1), U(2), U(10), U(5), U(20), U(6), U(25)), 40, 40, 24 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t got = history_common(rows[i].a, rows[i].a_last, rows[i].b, rows[i].b_last);
		uint64_t back = history_common(rows[i].b, rows[i].b_last, rows[i].a, rows[i].a_last);

		if (got != rows[i].common || back != rows[i].common)
			fail_msg("row %zu: common %llu / %llu, expected %llu", i,
			    (unsigned long long)got, (unsigned long long)back,
			    (unsigned long long)rows[i].common);
		free(rows[i].a);
		free(rows[i].b);
	}
}

static void
test_truncate(void **state)
{
	struct history *h = H(U(1), U(1), U(2), U(50), U(3), U(70));

	history_truncate(h, 69);
	assert_int_equal(h->n, 2);
	assert_int_equal(history_last_epoch(h), 2);
	history_truncate(h, 50);
	assert_int_equal(h->n, 2);
	history_truncate(h, 0);
	assert_int_equal(h->n, 0);
	free(h);
}

static void
test_file_round_trip(void **state)
{
	char *dir = tmpdir(), path[512], err[256];
	struct history *h = H(U(1), U(1), U(2), U(50), U(9), U(70)), *back = calloc(1, sizeof(*back));
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, HISTORY_FILE_NAME);
	assert_int_equal(history_load(path, back, err, sizeof(err)), 0);
	assert_int_equal(back->n, 0);
	assert_int_equal(history_save(path, h), 0);
	assert_int_equal(history_load(path, back, err, sizeof(err)), 1);
	assert_int_equal(back->n, 3);
	assert_memory_equal(back->v, h->v, 3 * sizeof(h->v[0]));

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("1 1\n3 40\n2 60\n", f);
	fclose(f);
	assert_int_equal(history_load(path, back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":3: epoch 2 after epoch 3: epochs only rise"));

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("1 1\n2 x\n", f);
	fclose(f);
	assert_int_equal(history_load(path, back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: \"2 x\" is not \"EPOCH START_SEQ\""));
	free(h);
	free(back);
	rm_rf(dir);
	free(dir);
}

static void
test_wire(void **state)
{
	struct history *h = H(U(1), U(1), U(2), U(50)), *back = calloc(1, sizeof(*back));
	uint8_t buf[64];
	size_t n, used = 0;
	char err[256];

	n = history_encode(buf, sizeof(buf), h);
	assert_int_equal(n, history_wire_size(h));
	assert_int_equal(n, 4 + 2 * 16);
	assert_int_equal(history_encode(buf, n - 1, h), 0);
	assert_int_equal(history_decode(buf, n, back, &used, err, sizeof(err)), 0);
	assert_int_equal(used, n);
	assert_memory_equal(back->v, h->v, 2 * sizeof(h->v[0]));

	/* Short, too many spans, falling epochs: refused. */
	assert_int_equal(history_decode(buf, n - 1, back, &used, err, sizeof(err)), -1);
	buf[0] = 0xff;
	assert_int_equal(history_decode(buf, n, back, &used, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "expected at most 1024 spans"));
	buf[0] = 0;
	buf[4 + 16 + 7] = 1;           /* second span's epoch 2 -> 1 */
	assert_int_equal(history_decode(buf, n, back, &used, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "span 1: epoch 1 after epoch 1"));
	free(h);
	free(back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_begin_rules),
		cmocka_unit_test(test_common_prefix),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
