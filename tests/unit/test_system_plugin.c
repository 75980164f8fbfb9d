/*
 * Unit tests of the system plug-in (plugins/system). Its decisions
 * (sysplan.c, #included) row by row: settings, the /proc parsers, the
 * judges at and beside every threshold, the rules. Then the plug-in itself
 * through the runner lifeline-plugin: info, discover, each check against
 * fake /proc files (setting proc_root) passing and failing, a bad setting,
 * an unknown check, and disk and inodes on a scratch folder. Every file is
 * made in that folder, removed by the group teardown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "plugin/pluginhost.h"
#include "helpers/runprog.h"
#include "helpers/tmpdir.h"

#include "../../plugins/system/sysplan.c"

#define RUN_LIMIT_MS 30000         /* one call of the runner */
#define KIB          1024ULL
#define MIB          (1024ULL * KIB)
#define GIB          (1024ULL * MIB)

/* The scratch folder and the runner, shared by the cases. */
static struct {
	char *dir, *proc, *runner, *plugin;
	bool  have_runner;             /* LIFELINE_BIN is set and the plug-in is built */
} t;

/* ---- the decisions ---- */

/* A configuration from settings "KEY=VALUE" (others at their defaults). */
static void
config_of(struct sys_config *c, const char *const *settings)
{
	char why[512];

	memset(c, 0, sizeof(*c));
	for (int k = 0; k < SYS_NKEYS; k++) {
		const char *value = NULL;
		size_t n = strlen(sys_settings[k].key);

		for (const char *const *s = settings; s != NULL && *s != NULL; s++)
			if (strncmp(*s, sys_settings[k].key, n) == 0 && (*s)[n] == '=')
				value = *s + n + 1;
		if (sys_config_set(c, (enum sys_key)k, value, why, sizeof(why)) < 0)
			fail_msg("%s", why);
	}
}

/* What a setting came to, as one comparable text and number. */
static void
setting_result(const struct sys_config *c, enum sys_key key, char *text, size_t len,
    uint64_t *number, bool *share)
{
	const struct sys_threshold *th = NULL;

	*share = false;
	switch (key) {
	case SYS_PROC_ROOT:
		snprintf(text, len, "%s", c->proc_root);
		*number = 0;
		return;
	case SYS_DISK_PATHS:
		text[0] = '\0';
		for (size_t i = 0; i < c->npaths; i++)
			snprintf(text + strlen(text), len - strlen(text), "%s%s", i ? "|" : "",
			    c->paths[i]);
		*number = c->npaths;
		return;
	case SYS_LOAD_MAX:
		snprintf(text, len, "%s", c->load_text);
		*number = c->load_max;
		return;
	case SYS_MEMORY_MIN:
		th = &c->memory_min;
		break;
	case SYS_DISK_MIN:
		th = &c->disk_min;
		break;
	case SYS_INODES_MIN:
		th = &c->inodes_min;
		break;
	case SYS_SWAP_MAX:
		th = &c->swap_max;
		break;
	case SYS_NKEYS:
		fail();
	}
	snprintf(text, len, "%s", th->text);
	*share = th->share;
	*number = th->share ? th->ppm : th->amount;
}

#define BAD(key, value, why) { key, value, why, NULL, 0, false }
#define MEM_BAD(text, why) { text, why, 0, 0, 0, 0 }
#define SHARE true
#define SIZE  false
#define EXPECT_MEM "expected a share of MemTotal from 0% to 100% like 5%, or a size like 256MiB"
#define EXPECT_INODES \
	"expected a share of the inodes from 0% to 100% like 1%, or a number of inodes like 10000"
#define EXPECT_LOAD \
	"expected a load per CPU like 4 or 1.5, with at most two decimals, below 1000000"
#define EXPECT_PATHS \
	"expected a comma list of 1 to 16 absolute folders, each shorter than 256 bytes"
#define EXPECT_ROOT \
	"expected an absolute folder holding meminfo and loadavg, shorter than 256 bytes"

static void
test_settings(void **state)
{
	static char seventeen[17 * 4 + 1], sixteen[16 * 4 + 1], long_ok[300], long_bad[300];
	const struct {
		enum sys_key key;
		const char  *value;        /* NULL: the default */
		const char  *why;          /* NULL: taken, as text, number and share */
		const char  *text;
		uint64_t     number;       /* ppm, bytes, inodes, hundredths or folders */
		bool         share;
	} rows[] = {
		/* memory_min: a share or a size; disk_min and swap_max parse alike */
		{ SYS_MEMORY_MIN, NULL, NULL, "5%", 50000, SHARE },
		{ SYS_MEMORY_MIN, "5%", NULL, "5%", 50000, SHARE },
		{ SYS_MEMORY_MIN, "0%", NULL, "0%", 0, SHARE },
		{ SYS_MEMORY_MIN, "100%", NULL, "100%", 1000000, SHARE },
		{ SYS_MEMORY_MIN, "100.0000%", NULL, "100.0000%", 1000000, SHARE },
		{ SYS_MEMORY_MIN, "0.5%", NULL, "0.5%", 5000, SHARE },
		{ SYS_MEMORY_MIN, "12.3456%", NULL, "12.3456%", 123456, SHARE },
		{ SYS_MEMORY_MIN, "5.000000%", NULL, "5.000000%", 50000, SHARE },
		{ SYS_MEMORY_MIN, " \t10% ", NULL, "10%", 100000, SHARE },
		{ SYS_MEMORY_MIN, "256MiB", NULL, "256MiB", 256 * MIB, SIZE },
		{ SYS_MEMORY_MIN, "256M", NULL, "256M", 256 * MIB, SIZE },
		{ SYS_MEMORY_MIN, "10MB", NULL, "10MB", 10000000, SIZE },
		{ SYS_MEMORY_MIN, "1.5GiB", NULL, "1.5GiB", 3 * GIB / 2, SIZE },
		{ SYS_MEMORY_MIN, "0.5KiB", NULL, "0.5KiB", 512, SIZE },
		{ SYS_MEMORY_MIN, "512", NULL, "512", 512, SIZE },
		{ SYS_MEMORY_MIN, "0", NULL, "0", 0, SIZE },
		{ SYS_MEMORY_MIN, "2T", NULL, "2T", 2048 * GIB, SIZE },
		BAD(SYS_MEMORY_MIN, "100.0001%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "101%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "-1%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "+5%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "12.34567%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "5 %", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "5%%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, ".5%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "5.%", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "  ", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "lots", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "5x", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "1.5", EXPECT_MEM),            /* not whole bytes */
		BAD(SYS_MEMORY_MIN, "0x10", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "256mib", EXPECT_MEM),
		BAD(SYS_MEMORY_MIN, "20000000TiB", EXPECT_MEM),    /* beyond 2^64 */
		BAD(SYS_MEMORY_MIN, "99999999999999999999", EXPECT_MEM),
		{ SYS_DISK_MIN, NULL, NULL, "5%", 50000, SHARE },
		{ SYS_DISK_MIN, "10GiB", NULL, "10GiB", 10 * GIB, SIZE },
		BAD(SYS_DISK_MIN, "10 GiB", "expected a share of the file system from 0% to 100% "
		  "like 5%, or a size like 10GiB"),
		{ SYS_SWAP_MAX, NULL, NULL, "50%", 500000, SHARE },
		{ SYS_SWAP_MAX, "1GiB", NULL, "1GiB", GIB, SIZE },
		BAD(SYS_SWAP_MAX, "150%", "expected a share of SwapTotal from 0% to 100% like 50%, "
		  "or a size like 1GiB"),
		/* inodes_min: a share or a plain count */
		{ SYS_INODES_MIN, NULL, NULL, "1%", 10000, SHARE },
		{ SYS_INODES_MIN, "10000", NULL, "10000", 10000, SIZE },
		{ SYS_INODES_MIN, "0.01%", NULL, "0.01%", 100, SHARE },
		BAD(SYS_INODES_MIN, "10K", EXPECT_INODES),
		BAD(SYS_INODES_MIN, "1.5", EXPECT_INODES),
		/* load_max: per CPU, hundredths */
		{ SYS_LOAD_MAX, NULL, NULL, "4", 400, SIZE },
		{ SYS_LOAD_MAX, "1.5", NULL, "1.5", 150, SIZE },
		{ SYS_LOAD_MAX, "0.25", NULL, "0.25", 25, SIZE },
		{ SYS_LOAD_MAX, "0", NULL, "0", 0, SIZE },
		{ SYS_LOAD_MAX, "999999.99", NULL, "999999.99", 99999999, SIZE },
		BAD(SYS_LOAD_MAX, "1000000", EXPECT_LOAD),
		BAD(SYS_LOAD_MAX, "1.234", EXPECT_LOAD),
		BAD(SYS_LOAD_MAX, "-1", EXPECT_LOAD),
		BAD(SYS_LOAD_MAX, "4%", EXPECT_LOAD),
		BAD(SYS_LOAD_MAX, "four", EXPECT_LOAD),
		BAD(SYS_LOAD_MAX, "", EXPECT_LOAD),
		/* disk_paths */
		{ SYS_DISK_PATHS, NULL, NULL, "/var/lib/lifeline", 1, SIZE },
		{ SYS_DISK_PATHS, "/a, /b ,/c", NULL, "/a|/b|/c", 3, SIZE },
		{ SYS_DISK_PATHS, "/a,/a, /a ", NULL, "/a", 1, SIZE },
		{ SYS_DISK_PATHS, "/srv/donn\xc3\xa9" "es,/x y", NULL, "/srv/donn\xc3\xa9" "es|/x y",
		  2, SIZE },
		{ SYS_DISK_PATHS, sixteen, NULL, NULL, 16, SIZE },
		{ SYS_DISK_PATHS, long_ok, NULL, NULL, 1, SIZE },
		BAD(SYS_DISK_PATHS, seventeen, EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, long_bad, EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "/a,", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, ",/a", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "/a,,/b", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "var/lib", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "/a\tb", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "/a\nb", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "/bad\xff", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "/overlong\xc0\xaf", EXPECT_PATHS),
		BAD(SYS_DISK_PATHS, "/cut\xc3", EXPECT_PATHS),
		/* proc_root */
		{ SYS_PROC_ROOT, NULL, NULL, "/proc", 0, SIZE },
		{ SYS_PROC_ROOT, "/tmp/fake proc", NULL, "/tmp/fake proc", 0, SIZE },
		BAD(SYS_PROC_ROOT, "proc", EXPECT_ROOT),
		BAD(SYS_PROC_ROOT, "", EXPECT_ROOT),
	};
	char why[512], text[8192], want[512];
	struct sys_config c, before;
	uint64_t number;
	bool share;

	/* "/aa,/ab,...": sixteen and seventeen distinct folders */
	for (int i = 0; i < 17; i++) {
		if (i < 16)
			snprintf(sixteen + 4 * i, 5, "/a%c,", 'a' + i);
		snprintf(seventeen + 4 * i, 5, "/a%c,", 'a' + i);
	}
	sixteen[16 * 4 - 1] = seventeen[17 * 4 - 1] = '\0';
	long_ok[0] = long_bad[0] = '/';
	memset(long_ok + 1, 'x', 254);
	memset(long_bad + 1, 'x', 255);

	for (size_t i = 0; i < nitems(rows); i++) {
		print_message("row %zu: %s %s\n", i, sys_settings[rows[i].key].key,
		    rows[i].value ? rows[i].value : "(default)");
		config_of(&c, NULL);
		before = c;
		why[0] = '\0';
		if (rows[i].why != NULL) {
			assert_int_equal(sys_config_set(&c, rows[i].key, rows[i].value, why,
			    sizeof(why)), -1);
			assert_non_null(strstr(why, rows[i].why));
			assert_memory_equal(&c, &before, sizeof(c));     /* left as it was */
			continue;
		}
		assert_int_equal(sys_config_set(&c, rows[i].key, rows[i].value, why, sizeof(why)), 0);
		setting_result(&c, rows[i].key, text, sizeof(text), &number, &share);
		if (rows[i].text != NULL)
			assert_string_equal(text, rows[i].text);
		assert_int_equal(number, rows[i].number);
		assert_int_equal(share, rows[i].share);
	}

	/* the reason quotes the value, printable and cut, with the setting's name */
	assert_int_equal(sys_config_set(&c, SYS_MEMORY_MIN, "5x", why, sizeof(why)), -1);
	assert_string_equal(why, "setting memory_min is \"5x\", " EXPECT_MEM);
	assert_int_equal(sys_config_set(&c, SYS_DISK_PATHS, "/a\nb\xff", why, sizeof(why)), -1);
	assert_string_equal(why, "setting disk_paths is \"/a?b?\", " EXPECT_PATHS);
	snprintf(want, sizeof(want), "setting disk_paths is \"/%.39s...\", %s", long_bad + 1,
	    EXPECT_PATHS);
	assert_int_equal(sys_config_set(&c, SYS_DISK_PATHS, long_bad, why, sizeof(why)), -1);
	assert_string_equal(why, want);
}

static void
test_proc_parsers(void **state)
{
	const struct {
		const char *text;
		const char *why;           /* NULL: parsed */
		uint64_t    total, available, swap_total, swap_free;
	} mem[] = {
		{ "MemTotal:       24683756 kB\nMemFree:        23708284 kB\n"
		  "MemAvailable:   24272120 kB\nBuffers:           30816 kB\n"
		  "SwapTotal:             0 kB\nSwapFree:              0 kB\n", NULL,
		  24683756 * KIB, 24272120 * KIB, 0, 0 },
		{ "SwapFree: 1 kB\nSwapTotal: 2 kB\nMemAvailable: 3 kB\nMemTotal: 4 kB", NULL,
		  4 * KIB, 3 * KIB, 2 * KIB, 1 * KIB },
		{ "MemTotalX: 9 kB\nMemTotal: 4 kB\nMemAvailable: 3 kB\nSwapTotal: 2 kB\n"
		  "SwapFree: 1 kB\n", NULL, 4 * KIB, 3 * KIB, 2 * KIB, 1 * KIB },
		MEM_BAD("MemTotal: 4 kB\nMemFree: 3 kB\nSwapTotal: 2 kB\nSwapFree: 1 kB\n",
		    "it has no MemAvailable line"),
		MEM_BAD("MemTotal: 4 kB\nMemAvailable: 3 kB\nSwapTotal: 2 kB\n",
		    "it has no SwapFree line"),
		MEM_BAD("", "it has no MemTotal line"),
		MEM_BAD("MemTotal: 4\nMemAvailable: 3 kB\n", "MemTotal is not a number of kB"),
		MEM_BAD("MemTotal: x kB\n", "MemTotal is not a number of kB"),
		MEM_BAD("MemTotal: 4 kBx\n", "MemTotal is not a number of kB"),
		MEM_BAD("MemTotal: 99999999999999999 kB\n", "MemTotal is not a number of kB"),
		MEM_BAD("MemTotal: 0 kB\nMemAvailable: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
		    "MemTotal is 0 kB"),
	};
	const struct {
		const char *text;
		int64_t     load;          /* -1: refused */
	} loads[] = {
		{ "0.50 1.08 1.12 2/91 21114\n", 50 }, { "12.07 1.08 1.12 2/91 21114\n", 1207 },
		{ "0.00 0.00 0.00 1/1 1\n", 0 }, { "312.5 1 1 1/1 1\n", 31250 },
		{ "", -1 }, { "abc 1 1\n", -1 }, { "0.50\n", -1 }, { "-1.00 1 1\n", -1 },
		{ "1.234 1 1\n", -1 }, { " 0.50 1 1\n", -1 },
	};
	struct sys_mem m;
	uint64_t load;
	char why[256];

	for (size_t i = 0; i < nitems(mem); i++) {
		print_message("meminfo %zu\n", i);
		memset(&m, 0, sizeof(m));
		if (mem[i].why != NULL) {
			assert_int_equal(sys_meminfo_parse(mem[i].text, &m, why, sizeof(why)), -1);
			assert_string_equal(why, mem[i].why);
			continue;
		}
		assert_int_equal(sys_meminfo_parse(mem[i].text, &m, why, sizeof(why)), 0);
		assert_int_equal(m.total, mem[i].total);
		assert_int_equal(m.available, mem[i].available);
		assert_int_equal(m.swap_total, mem[i].swap_total);
		assert_int_equal(m.swap_free, mem[i].swap_free);
	}
	for (size_t i = 0; i < nitems(loads); i++) {
		print_message("loadavg %zu\n", i);
		if (loads[i].load < 0) {
			assert_int_equal(sys_loadavg_parse(loads[i].text, &load, why, sizeof(why)), -1);
			assert_string_equal(why, "its first field is not a load like 0.52");
			continue;
		}
		assert_int_equal(sys_loadavg_parse(loads[i].text, &load, why, sizeof(why)), 0);
		assert_int_equal(load, (uint64_t)loads[i].load);
	}
}

enum judge { MEMORY, SWAP, LOAD, DISK, INODES };

static void
test_judges(void **state)
{
	const struct {
		enum judge  judge;
		const char *setting;       /* "KEY=VALUE", or NULL for the defaults */
		uint64_t    a, b, c;       /* memory, swap: total, available or used, -;
		                              load: load, ncpu; disk, inodes: total, free */
		const char *why;           /* "" when healthy */
	} rows[] = {
		{ MEMORY, NULL, 25 * GIB, 812 * MIB, 0,
		  "memory: 3.1% available (812 MiB of 25.0 GiB), below memory_min 5%" },
		{ MEMORY, NULL, 100 * MIB, 5 * MIB, 0, "" },                     /* exactly 5% */
		{ MEMORY, NULL, 100 * MIB, 5 * MIB - 1, 0,
		  "memory: 4.9% available (4.9 MiB of 100 MiB), below memory_min 5%" },
		{ MEMORY, NULL, 100 * MIB, 100 * MIB, 0, "" },
		{ MEMORY, "memory_min=0%", 100 * MIB, 0, 0, "" },
		{ MEMORY, "memory_min=100%", 100 * MIB, 100 * MIB, 0, "" },
		{ MEMORY, "memory_min=100%", 100 * MIB, 100 * MIB - 1, 0,
		  "memory: 99.9% available (99.9 MiB of 100 MiB), below memory_min 100%" },
		{ MEMORY, "memory_min=256MiB", 16 * GIB, 256 * MIB, 0, "" },
		{ MEMORY, "memory_min=256MiB", 16 * GIB, 256 * MIB - 1, 0,
		  "memory: 1.5% available (255 MiB of 16.0 GiB), below memory_min 256MiB" },
		{ MEMORY, "memory_min=0", 16 * GIB, 0, 0, "" },
		{ MEMORY, "memory_min=0.0001%", 1000000, 0, 0,
		  "memory: 0.0% available (0 B of 977 KiB), below memory_min 0.0001%" },
		{ MEMORY, "memory_min=0.0001%", 1000000, 1, 0, "" },
		/* swap: total, used */
		{ SWAP, NULL, 0, 0, 0, "" },                                      /* no swap */
		{ SWAP, "swap_max=0%", 0, 0, 0, "" },
		{ SWAP, NULL, 2 * GIB, GIB, 0, "" },                              /* exactly 50% */
		{ SWAP, NULL, 2 * GIB, GIB + 1, 0,
		  "swap: 50.1% used (1.1 GiB of 2.0 GiB), above swap_max 50%" },
		{ SWAP, NULL, 2 * GIB, 2 * GIB, 0,
		  "swap: 100.0% used (2.0 GiB of 2.0 GiB), above swap_max 50%" },
		{ SWAP, "swap_max=100%", 2 * GIB, 2 * GIB, 0, "" },
		{ SWAP, "swap_max=0%", 2 * GIB, 0, 0, "" },
		{ SWAP, "swap_max=0%", 2 * GIB, 4 * KIB, 0,
		  "swap: 0.1% used (4.0 KiB of 2.0 GiB), above swap_max 0%" },
		{ SWAP, "swap_max=1GiB", 8 * GIB, GIB, 0, "" },
		{ SWAP, "swap_max=1GiB", 8 * GIB, 1536 * MIB, 0,
		  "swap: 18.8% used (1.5 GiB of 8.0 GiB), above swap_max 1GiB" },
		/* load (hundredths), CPUs */
		{ LOAD, NULL, 800, 2, 0, "" },                                    /* exactly 4 */
		{ LOAD, NULL, 801, 2, 0, "load: 4.01 per CPU (8.01 on 2 CPUs), above load_max 4" },
		{ LOAD, NULL, 450, 1, 0, "load: 4.50 per CPU (4.50 on 1 CPU), above load_max 4" },
		{ LOAD, NULL, 450, 0, 0, "load: 4.50 per CPU (4.50 on 1 CPU), above load_max 4" },
		{ LOAD, NULL, 25600, 64, 0, "" },
		{ LOAD, "load_max=1.5", 601, 4, 0,
		  "load: 1.51 per CPU (6.01 on 4 CPUs), above load_max 1.5" },
		{ LOAD, "load_max=1.5", 600, 4, 0, "" },
		{ LOAD, "load_max=0", 0, 4, 0, "" },
		{ LOAD, "load_max=0", 1, 4, 0, "load: 0.01 per CPU (0.01 on 4 CPUs), above load_max 0" },
		/* disk: total, free */
		{ DISK, NULL, 60 * GIB, 1280 * MIB, 0,
		  "disk: 2.0% free on /srv (1.2 GiB of 60.0 GiB), below disk_min 5%" },
		{ DISK, NULL, 60 * GIB, 3 * GIB, 0, "" },                         /* exactly 5% */
		{ DISK, NULL, 60 * GIB, 3 * GIB - 4096, 0,
		  "disk: 4.9% free on /srv (2.9 GiB of 60.0 GiB), below disk_min 5%" },
		{ DISK, "disk_min=0%", 60 * GIB, 0, 0, "" },
		{ DISK, "disk_min=100%", 60 * GIB, 60 * GIB - 4096, 0,
		  "disk: 99.9% free on /srv (59.9 GiB of 60.0 GiB), below disk_min 100%" },
		{ DISK, "disk_min=10GiB", 60 * GIB, 10 * GIB, 0, "" },
		{ DISK, "disk_min=10GiB", 60 * GIB, 10 * GIB - 1, 0,
		  "disk: 16.6% free on /srv (9.9 GiB of 60.0 GiB), below disk_min 10GiB" },
		{ DISK, NULL, 0, 0, 0, "" },                   /* no size: no share to lack */
		{ DISK, "disk_min=1GiB", 0, 0, 0,
		  "disk: 0.0% free on /srv (0 B of 0 B), below disk_min 1GiB" },
		{ DISK, NULL, 2 * 1024 * GIB * 1024 * 1024, 1024 * GIB * 1024, 0,
		  "disk: 0.0% free on /srv (1.0 PiB of 2.0 EiB), below disk_min 5%" },
		/* inodes: total, free */
		{ INODES, NULL, 1000000, 10000, 0, "" },                          /* exactly 1% */
		{ INODES, NULL, 1000000, 9999, 0,
		  "inodes: 0.9% free on /srv (9999 of 1000000), below inodes_min 1%" },
		{ INODES, "inodes_min=100%", 0, 0, 0, "" },    /* no fixed number of inodes */
		{ INODES, "inodes_min=10000", 1000000, 10000, 0, "" },
		{ INODES, "inodes_min=10000", 1000000, 9999, 0,
		  "inodes: 0.9% free on /srv (9999 of 1000000), below inodes_min 10000" },
		{ INODES, "inodes_min=0%", 1000000, 0, 0, "" },
	};
	struct sys_config c;
	char why[512];

	for (size_t i = 0; i < nitems(rows); i++) {
		const char *settings[] = { rows[i].setting, NULL };
		struct sys_mem m = { 0 };
		struct sys_fs fs = { 0 };
		bool ok = false;

		print_message("row %zu: %s\n", i, rows[i].why);
		config_of(&c, settings);
		why[0] = '\0';
		switch (rows[i].judge) {
		case MEMORY:
			m.total = rows[i].a;
			m.available = rows[i].b;
			ok = sys_memory_ok(&c, &m, why, sizeof(why));
			break;
		case SWAP:
			m.total = 16 * GIB;
			m.swap_total = rows[i].a;
			m.swap_free = rows[i].a - rows[i].b;
			ok = sys_swap_ok(&c, &m, why, sizeof(why));
			break;
		case LOAD:
			ok = sys_load_ok(&c, rows[i].a, (unsigned)rows[i].b, why, sizeof(why));
			break;
		case DISK:
			fs.total = rows[i].a;
			fs.avail = rows[i].b;
			ok = sys_disk_ok(&c, "/srv", &fs, why, sizeof(why));
			break;
		case INODES:
			fs.files = rows[i].a;
			fs.favail = rows[i].b;
			ok = sys_inodes_ok(&c, "/srv", &fs, why, sizeof(why));
			break;
		}
		assert_int_equal(ok, rows[i].why[0] == '\0');
		assert_string_equal(why, rows[i].why);
	}

	/* SwapFree above SwapTotal (no kernel says so): nothing used */
	config_of(&c, (const char *const[]){ "swap_max=0%", NULL });
	assert_true(sys_swap_ok(&c, &(struct sys_mem){ 1, 1, GIB, 2 * GIB }, why, sizeof(why)));
}

static void
test_rules(void **state)
{
	char rules[SYS_RULES_MAX][SYS_RULE_MAX];
	struct sys_config c;
	size_t n;

	config_of(&c, NULL);
	assert_int_equal(n = sys_rules(&c, rules, nitems(rules)), 5);
	assert_string_equal(rules[0], "system-memory: memory.available < 5%");
	assert_string_equal(rules[1], "system-disk: disk.free(/var/lib/lifeline) < 5%");
	assert_string_equal(rules[2], "system-inodes: inodes.free(/var/lib/lifeline) < 1%");
	assert_string_equal(rules[3], "system-load: load.1m per cpu > 4");
	assert_string_equal(rules[4], "system-swap: swap.used > 50%");

	config_of(&c, (const char *const[]){ "memory_min=256MiB", "disk_paths=/, /srv,/var/lib",
	    "disk_min= 10GiB", "inodes_min=10000", "load_max=1.5", "swap_max=0%", NULL });
	assert_int_equal(n = sys_rules(&c, rules, nitems(rules)), 9);
	assert_string_equal(rules[0], "system-memory: memory.available < 256MiB");
	assert_string_equal(rules[1], "system-disk: disk.free(/) < 10GiB");
	assert_string_equal(rules[2], "system-disk-2: disk.free(/srv) < 10GiB");
	assert_string_equal(rules[3], "system-disk-3: disk.free(/var/lib) < 10GiB");
	assert_string_equal(rules[4], "system-inodes: inodes.free(/) < 10000");
	assert_string_equal(rules[5], "system-inodes-2: inodes.free(/srv) < 10000");
	assert_string_equal(rules[6], "system-inodes-3: inodes.free(/var/lib) < 10000");
	assert_string_equal(rules[7], "system-load: load.1m per cpu > 1.5");
	assert_string_equal(rules[8], "system-swap: swap.used > 0%");
	assert_int_equal(sys_rules(&c, rules, 2), 2);                  /* no more than room */
}

/* ---- the plug-in through the runner ---- */

/* One call of the runner: what it wrote and how it ended. */
/* lifeline-plugin CMD system.so ARGS... (NULL-terminated), within RUN_LIMIT_MS. */
static void
run_plugin(struct run *r, const char *cmd, ...)
{
	char *argv[12] = { t.runner, (char *)cmd, t.plugin };
	int argc = 3;
	va_list ap;

	va_start(ap, cmd);
	while (argc < 11 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	run_program(r, argv, RUN_LIMIT_MS);
}

static void
write_text(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

/* A settings file for --settings: NAME.json in the scratch folder, from KEY, VALUE pairs. */
static char *
settings_file(const char *name, ...)
{
	char *path = xasprintf("%s/%s.json", t.dir, name);
	json_t *o = json_object();
	const char *k, *v;
	va_list ap;

	va_start(ap, name);
	while ((k = va_arg(ap, const char *)) != NULL && (v = va_arg(ap, const char *)) != NULL)
		json_object_set_new(o, k, json_string(v));
	va_end(ap);
	assert_int_equal(json_dump_file(o, path, JSON_COMPACT), 0);
	json_decref(o);
	return path;
}

/* The fake /proc: meminfo of total, available, swap total and free (kB), and a loadavg. */
static void
fake_proc(uint64_t total, uint64_t avail, uint64_t swap_total, uint64_t swap_free,
    const char *loadavg)
{
	char *path = xasprintf("%s/meminfo", t.proc);
	char *text = xasprintf("MemTotal:       %llu kB\nMemFree:        %llu kB\n"
	    "MemAvailable:   %llu kB\nBuffers:           30816 kB\n"
	    "SwapTotal:      %llu kB\nSwapFree:       %llu kB\n", (unsigned long long)total,
	    (unsigned long long)avail, (unsigned long long)avail, (unsigned long long)swap_total,
	    (unsigned long long)swap_free);

	write_text(path, text);
	free(text);
	free(path);
	path = xasprintf("%s/loadavg", t.proc);
	write_text(path, loadavg);
	free(path);
}

static int
group_setup(void **state)
{
	const char *bin = getenv("LIFELINE_BIN");

	t.dir = tmpdir();
	t.proc = xasprintf("%s/proc", t.dir);
	if (mkdir(t.proc, 0700) < 0)
		return -1;
	if (bin != NULL) {
		t.runner = xasprintf("%s/lifeline-plugin", bin);
		t.plugin = xasprintf("%s/../plugins/system.so", bin);
		t.have_runner = access(t.runner, X_OK) == 0 && access(t.plugin, R_OK) == 0;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char *rm[] = { "rm", "-rf", t.dir, NULL };

	if (t.dir != NULL && run_argv(rm, 1) != 0)
		fprintf(stderr, "test_system_plugin: cannot remove %s\n", t.dir);
	free(t.dir);
	free(t.proc);
	free(t.runner);
	free(t.plugin);
	return 0;
}

static void
need_runner(void)
{
	if (getenv("LIFELINE_BIN") == NULL)
		skip();
	if (!t.have_runner)
		fail_msg("LIFELINE_BIN is set but %s or %s is missing", t.runner, t.plugin);
}

static void
test_info(void **state)
{
	struct run r;
	json_t *info;

	need_runner();
	run_plugin(&r, "info", NULL);
	assert_int_equal(r.rc, 0);
	info = json_loads(r.out, 0, NULL);
	assert_non_null(info);
	assert_string_equal(json_string_value(json_object_get(info, "name")), "system");
	assert_string_equal(json_string_value(json_object_get(info, "version")), "1.0");
	assert_non_null(json_string_value(json_object_get(info, "summary")));
	assert_int_equal(json_integer_value(json_object_get(info, "api_version")), 1);
	assert_true(json_is_false(json_object_get(info, "hooks")));
	json_decref(info);
}

/* discover, its output made compact: the rules and nothing else. */
static void
test_discover(void **state)
{
	struct run r;
	json_t *found;
	char *text, *set;

	need_runner();
	run_plugin(&r, "discover", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	found = json_loads(r.out, 0, NULL);
	assert_non_null(found);
	text = json_dumps(found, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(text, "{\"data\":[],\"config\":[],\"services\":[],\"checks\":[],"
	    "\"rules\":[\"system-memory: memory.available < 5%\","
	    "\"system-disk: disk.free(/var/lib/lifeline) < 5%\","
	    "\"system-inodes: inodes.free(/var/lib/lifeline) < 1%\","
	    "\"system-load: load.1m per cpu > 4\",\"system-swap: swap.used > 50%\"]}");
	free(text);
	json_decref(found);

	/* the settings' values, from a file and from words (which win) */
	set = settings_file("discover", "memory_min", "1%", "swap_max", "2GiB", NULL);
	run_plugin(&r, "discover", "--settings", set, "memory_min=10%", "disk_paths=/srv,/",
	    "load_max=2.5", NULL);
	assert_int_equal(r.rc, 0);
	found = json_loads(r.out, 0, NULL);
	text = json_dumps(json_object_get(found, "rules"), JSON_COMPACT);
	assert_string_equal(text, "[\"system-memory: memory.available < 10%\","
	    "\"system-disk: disk.free(/srv) < 5%\",\"system-disk-2: disk.free(/) < 5%\","
	    "\"system-inodes: inodes.free(/srv) < 1%\",\"system-inodes-2: inodes.free(/) < 1%\","
	    "\"system-load: load.1m per cpu > 2.5\",\"system-swap: swap.used > 2GiB\"]");
	free(text);
	json_decref(found);
	free(set);
}

/* memory, swap and load against the fake /proc, passing then failing. */
static void
test_checks(void **state)
{
	char *set, *want;
	struct run r;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t per;

	need_runner();
	set = settings_file("checks", "proc_root", t.proc, NULL);

	fake_proc(26843545, 20971520, 0, 0, "0.50 1.08 1.12 2/91 21114\n");
	run_plugin(&r, "check", "memory", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");
	run_plugin(&r, "check", "swap", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);                                         /* no swap */
	run_plugin(&r, "check", "load", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");

	/* 812 MiB of 25.6 GiB available; half of 2 GiB of swap and a kB more in use */
	fake_proc(26843545, 831488, 2097152, 1048575, "999.00 1.08 1.12 2/91 21114\n");
	run_plugin(&r, "check", "memory", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(r.out, "memory: 3.0% available (812 MiB of 25.6 GiB), below "
	    "memory_min 5%\n");
	run_plugin(&r, "check", "swap", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(r.out, "swap: 50.1% used (1.1 GiB of 2.0 GiB), above swap_max 50%\n");
	run_plugin(&r, "check", "load", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	per = (99900 + (uint64_t)ncpu - 1) / (uint64_t)ncpu;
	want = xasprintf("load: %llu.%02llu per CPU (999.00 on %ld CPU%s), above load_max 4\n",
	    (unsigned long long)(per / 100), (unsigned long long)(per % 100), ncpu,
	    ncpu == 1 ? "" : "s");
	assert_string_equal(r.out, want);
	free(want);
	free(set);

	/* the same numbers pass with thresholds below them */
	set = settings_file("checks-low", "proc_root", t.proc, "memory_min", "512MiB",
	    "swap_max", "60%", "load_max", "999", NULL);
	run_plugin(&r, "check", "memory", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);
	run_plugin(&r, "check", "swap", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);
	run_plugin(&r, "check", "load", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);
	free(set);
}

/* Files that are not there, or not what they should be, say which and why. */
static void
test_unreadable(void **state)
{
	char *set, *want, *path;
	struct run r;

	need_runner();
	set = settings_file("unreadable", "proc_root", t.dir, NULL);   /* no meminfo there */
	run_plugin(&r, "check", "memory", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	want = xasprintf("cannot read %s/meminfo: No such file or directory\n", t.dir);
	assert_string_equal(r.out, want);
	free(want);
	run_plugin(&r, "check", "load", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	want = xasprintf("cannot read %s/loadavg: No such file or directory\n", t.dir);
	assert_string_equal(r.out, want);
	free(want);
	free(set);

	set = settings_file("garbled", "proc_root", t.proc, NULL);
	fake_proc(26843545, 20971520, 0, 0, "busy\n");
	path = xasprintf("%s/meminfo", t.proc);
	write_text(path, "MemTotal: 26843545 kB\n");
	run_plugin(&r, "check", "swap", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	want = xasprintf("%s/meminfo: it has no MemAvailable line\n", t.proc);
	assert_string_equal(r.out, want);
	free(want);
	run_plugin(&r, "check", "load", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	want = xasprintf("%s/loadavg: its first field is not a load like 0.52\n", t.proc);
	assert_string_equal(r.out, want);
	free(want);
	free(path);
	free(set);

	path = xasprintf("%s/missing", t.dir);
	set = settings_file("missing", "disk_paths", path, NULL);
	run_plugin(&r, "check", "disk", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	want = xasprintf("cannot read the file system of %s: No such file or directory\n", path);
	assert_string_equal(r.out, want);
	free(want);
	free(path);
	free(set);
}

/* A bad setting: the check and discover fail naming it; other checks go on. */
static void
test_bad_setting(void **state)
{
	char *set;
	struct run r;

	need_runner();
	fake_proc(26843545, 20971520, 0, 0, "0.50 1.08 1.12 2/91 21114\n");
	set = settings_file("bad", "proc_root", t.proc, "memory_min", "lots", NULL);
	run_plugin(&r, "check", "memory", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(r.out, "setting memory_min is \"lots\", expected a share of "
	    "MemTotal from 0% to 100% like 5%, or a size like 256MiB\n");
	run_plugin(&r, "check", "load", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);
	run_plugin(&r, "discover", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(r.out, "plug-in system could not discover its application: setting "
	    "memory_min is \"lots\", expected a share of MemTotal from 0% to 100% like 5%, or a "
	    "size like 256MiB\n");
	free(set);
	set = settings_file("bad-root", "proc_root", "proc", NULL);
	run_plugin(&r, "check", "swap", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(r.out, "setting proc_root is \"proc\", " EXPECT_ROOT "\n");
	free(set);
}

static void
test_unknown_check(void **state)
{
	struct run r;

	need_runner();
	run_plugin(&r, "check", "cpu", NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	assert_string_equal(r.out, "no check cpu, expected memory, disk, inodes, load or swap\n");
}

/* disk and inodes on the scratch folder's file system: 0% always passes, 100% never. */
static void
test_disk(void **state)
{
	char *set, *path, *prefix, *suffix;
	char block[65536];
	struct run r;

	need_runner();
	memset(block, 'x', sizeof(block));
	path = xasprintf("%s/used", t.dir);       /* so the file system is not empty */
	assert_int_equal(write_file_atomic(path, block, sizeof(block), 0600), 0);

	set = settings_file("disk0", "disk_paths", t.dir, "disk_min", "0%", "inodes_min", "0%",
	    NULL);
	run_plugin(&r, "check", "disk", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");
	run_plugin(&r, "check", "inodes", "--settings", set, NULL);
	assert_int_equal(r.rc, 0);
	free(set);

	set = settings_file("disk100", "disk_paths", t.dir, "disk_min", "100%", NULL);
	run_plugin(&r, "check", "disk", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	prefix = xasprintf("disk: ");
	suffix = xasprintf(" free on %s (", t.dir);
	assert_memory_equal(r.out, prefix, strlen(prefix));
	assert_non_null(strstr(r.out, suffix));
	assert_non_null(strstr(r.out, "), below disk_min 100%\n"));
	assert_string_equal(strchr(r.out, '\n'), "\n");                  /* one line */
	free(prefix);
	free(suffix);
	free(set);

	/* the second folder fails after the first passes */
	prefix = xasprintf("/,%s/none", t.dir);
	set = settings_file("disk-two", "disk_paths", prefix, "disk_min", "0%", NULL);
	run_plugin(&r, "check", "disk", "--settings", set, NULL);
	assert_int_equal(r.rc, PLUGIN_EXIT_UNHEALTHY);
	suffix = xasprintf("cannot read the file system of %s/none: No such file or directory\n",
	    t.dir);
	assert_string_equal(r.out, suffix);
	free(suffix);
	free(prefix);
	free(set);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_proc_parsers),
		cmocka_unit_test(test_judges),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_discover),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_bad_setting),
		cmocka_unit_test(test_unknown_check),
		cmocka_unit_test(test_disk),
	};

	log_init(LOG_TO_STDERR, 0, "test_system_plugin");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
