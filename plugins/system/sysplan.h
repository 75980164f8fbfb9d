/*
 * What the system plug-in decides: its settings parsed and validated, the
 * texts of /proc/meminfo and /proc/loadavg read into numbers, and whether
 * those numbers (and statvfs's) are healthy, with the one-line reason when
 * not. Pure functions, no I/O, so a table-driven test covers every row.
 */
#ifndef LIFELINE_SYSPLAN_H
#define LIFELINE_SYSPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYS_TEXT_MAX  32           /* a threshold as given: "5%", "256MiB" */
#define SYS_PATH_MAX  256          /* a disk path or proc_root, NUL included */
#define SYS_PATHS_MAX 16           /* folders in disk_paths */
#define SYS_RULE_MAX  512
#define SYS_RULES_MAX (3 + 2 * SYS_PATHS_MAX)
#define SYS_PPM       1000000u     /* a whole, in parts per million */

/* The settings, in the order of sys_settings[]. */
enum sys_key {
	SYS_PROC_ROOT,
	SYS_MEMORY_MIN,
	SYS_DISK_PATHS,
	SYS_DISK_MIN,
	SYS_INODES_MIN,
	SYS_LOAD_MAX,
	SYS_SWAP_MAX,
	SYS_NKEYS,
};

/* Each setting's name, its default, and what a value must be. */
struct sys_setting {
	const char *key;
	const char *fallback;
	const char *expected;
};
extern const struct sys_setting sys_settings[SYS_NKEYS];

/* A limit: a share of the whole, or an amount (bytes; inodes for inodes_min). */
struct sys_threshold {
	bool     share;
	uint64_t ppm;                  /* the share in parts per million: 5% is 50000 */
	uint64_t amount;
	char     text[SYS_TEXT_MAX];   /* as given, blanks trimmed, for rules and reasons */
};

struct sys_config {
	char                 proc_root[SYS_PATH_MAX];
	struct sys_threshold memory_min, disk_min, inodes_min, swap_max;
	uint64_t             load_max;       /* per CPU, in hundredths */
	char                 load_text[SYS_TEXT_MAX];
	char                 paths[SYS_PATHS_MAX][SYS_PATH_MAX];
	size_t               npaths;
};

/* What /proc/meminfo says, in bytes. */
struct sys_mem {
	uint64_t total, available, swap_total, swap_free;
};

/* What statvfs says of one file system, in bytes and inodes (f_bavail, f_favail). */
struct sys_fs {
	uint64_t total, avail, files, favail;
};

/*
 * Set one setting of c from value, or from its default when value is NULL.
 * 0, or -1 with why naming the setting, the value and what is expected
 * (c's field is then left as it was).
 */
int sys_config_set(struct sys_config *c, enum sys_key key, const char *value, char *why,
    size_t whylen);

/* MemTotal, MemAvailable, SwapTotal and SwapFree of a meminfo text; -1 with why. */
int sys_meminfo_parse(const char *text, struct sys_mem *m, char *why, size_t whylen);
/* The 1-minute load of a loadavg text, in hundredths; -1 with why. */
int sys_loadavg_parse(const char *text, uint64_t *load, char *why, size_t whylen);

/*
 * The judges: true when healthy; false with the reason, one line giving
 * the value measured and the threshold.
 */
bool sys_memory_ok(const struct sys_config *c, const struct sys_mem *m, char *why,
    size_t whylen);
bool sys_swap_ok(const struct sys_config *c, const struct sys_mem *m, char *why,
    size_t whylen);
bool sys_load_ok(const struct sys_config *c, uint64_t load, unsigned ncpu, char *why,
    size_t whylen);
bool sys_disk_ok(const struct sys_config *c, const char *path, const struct sys_fs *fs,
    char *why, size_t whylen);
bool sys_inodes_ok(const struct sys_config *c, const char *path, const struct sys_fs *fs,
    char *why, size_t whylen);

/* The rule texts the checks stand for, "NAME: EXPRESSION"; how many were written. */
size_t sys_rules(const struct sys_config *c, char rules[][SYS_RULE_MAX], size_t max);

#endif
