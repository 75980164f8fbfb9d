/*
 * The system plug-in: the host Lifeline runs on, judged by its available
 * memory, the free space and inodes of chosen folders' file systems, its
 * load per CPU and its swap in use. It protects nothing; discover declares
 * the rules these checks stand for. The decisions are in sysplan.c; this
 * file reads /proc and calls statvfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lifeline/plugin.h"
#include "sysplan.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#define PROC_TEXT_MAX 16384        /* meminfo is under 2 KiB */

/*
 * The settings keys[] from the host (each its default when not given);
 * the others are left unset. -1 with why naming the first bad one.
 */
static int
read_settings(struct lifeline_host *h, const struct lifeline_host_api *api,
    const enum sys_key *keys, size_t n, struct sys_config *c, char *why, size_t whylen)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++)
		if (sys_config_set(c, keys[i], api->setting(h, sys_settings[keys[i]].key), why,
		    whylen) < 0)
			return -1;
	return 0;
}

/* proc_root/name, whole, NUL-terminated, into buf. -1 with why. */
static int
read_proc(const struct sys_config *c, const char *name, char *buf, size_t len, char *why,
    size_t whylen)
{
	char path[SYS_PATH_MAX + 16];
	size_t off = 0;
	ssize_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", c->proc_root, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		while (off + 1 < len && (n = read(fd, buf + off, len - 1 - off)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			off += (size_t)n;
		}
	}
	if (fd < 0 || n < 0) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	buf[off] = '\0';
	return 0;
}

/* proc_root/meminfo in numbers. -1 with why. */
static int
read_meminfo(const struct sys_config *c, struct sys_mem *m, char *why, size_t whylen)
{
	char text[PROC_TEXT_MAX], reason[256];

	if (read_proc(c, "meminfo", text, sizeof(text), why, whylen) < 0)
		return -1;
	if (sys_meminfo_parse(text, m, reason, sizeof(reason)) < 0) {
		snprintf(why, whylen, "%s/meminfo: %s", c->proc_root, reason);
		return -1;
	}
	return 0;
}

static uint64_t
times(uint64_t a, uint64_t b)
{
	uint64_t v;

	return __builtin_mul_overflow(a, b, &v) ? UINT64_MAX : v;
}

/* The space and inodes of path's file system, left to users other than root. */
static int
read_fs(const char *path, struct sys_fs *fs, char *why, size_t whylen)
{
	struct statvfs sv;
	uint64_t unit;

	if (statvfs(path, &sv) < 0) {
		snprintf(why, whylen, "cannot read the file system of %s: %s", path,
		    strerror(errno));
		return -1;
	}
	unit = sv.f_frsize != 0 ? sv.f_frsize : sv.f_bsize;
	fs->total = times(sv.f_blocks, unit);
	fs->avail = times(sv.f_bavail, unit);
	fs->files = sv.f_files;
	fs->favail = sv.f_favail;
	return 0;
}

static int
check_memory(struct lifeline_host *h, const struct lifeline_host_api *api, char *why,
    size_t whylen)
{
	static const enum sys_key keys[] = { SYS_PROC_ROOT, SYS_MEMORY_MIN };
	struct sys_config c;
	struct sys_mem m;

	if (read_settings(h, api, keys, nitems(keys), &c, why, whylen) < 0 ||
	    read_meminfo(&c, &m, why, whylen) < 0 || !sys_memory_ok(&c, &m, why, whylen))
		return LIFELINE_FAILED;
	return LIFELINE_OK;
}

static int
check_swap(struct lifeline_host *h, const struct lifeline_host_api *api, char *why,
    size_t whylen)
{
	static const enum sys_key keys[] = { SYS_PROC_ROOT, SYS_SWAP_MAX };
	struct sys_config c;
	struct sys_mem m;

	if (read_settings(h, api, keys, nitems(keys), &c, why, whylen) < 0 ||
	    read_meminfo(&c, &m, why, whylen) < 0 || !sys_swap_ok(&c, &m, why, whylen))
		return LIFELINE_FAILED;
	return LIFELINE_OK;
}

static int
check_load(struct lifeline_host *h, const struct lifeline_host_api *api, char *why,
    size_t whylen)
{
	static const enum sys_key keys[] = { SYS_PROC_ROOT, SYS_LOAD_MAX };
	char text[512], reason[256];
	struct sys_config c;
	uint64_t load;
	long ncpu;

	if (read_settings(h, api, keys, nitems(keys), &c, why, whylen) < 0 ||
	    read_proc(&c, "loadavg", text, sizeof(text), why, whylen) < 0)
		return LIFELINE_FAILED;
	if (sys_loadavg_parse(text, &load, reason, sizeof(reason)) < 0) {
		snprintf(why, whylen, "%s/loadavg: %s", c.proc_root, reason);
		return LIFELINE_FAILED;
	}
	errno = 0;
	if ((ncpu = sysconf(_SC_NPROCESSORS_ONLN)) < 1) {
		snprintf(why, whylen, "cannot count the CPUs online: %s",
		    errno != 0 ? strerror(errno) : "sysconf gave none");
		return LIFELINE_FAILED;
	}
	if (!sys_load_ok(&c, load, (unsigned)ncpu, why, whylen))
		return LIFELINE_FAILED;
	return LIFELINE_OK;
}

/* Each folder of disk_paths in turn, judged by ok; the first that fails says why. */
static int
check_folders(struct lifeline_host *h, const struct lifeline_host_api *api, enum sys_key min,
    bool (*ok)(const struct sys_config *, const char *, const struct sys_fs *, char *, size_t),
    char *why, size_t whylen)
{
	const enum sys_key keys[] = { SYS_DISK_PATHS, min };
	struct sys_config c;
	struct sys_fs fs;

	if (read_settings(h, api, keys, nitems(keys), &c, why, whylen) < 0)
		return LIFELINE_FAILED;
	for (size_t i = 0; i < c.npaths; i++)
		if (read_fs(c.paths[i], &fs, why, whylen) < 0 ||
		    !ok(&c, c.paths[i], &fs, why, whylen))
			return LIFELINE_FAILED;
	return LIFELINE_OK;
}

static int
check_disk(struct lifeline_host *h, const struct lifeline_host_api *api, char *why,
    size_t whylen)
{
	return check_folders(h, api, SYS_DISK_MIN, sys_disk_ok, why, whylen);
}

static int
check_inodes(struct lifeline_host *h, const struct lifeline_host_api *api, char *why,
    size_t whylen)
{
	return check_folders(h, api, SYS_INODES_MIN, sys_inodes_ok, why, whylen);
}

static const struct {
	const char *name;
	int (*run)(struct lifeline_host *, const struct lifeline_host_api *, char *, size_t);
} checks[] = {
	{ "memory", check_memory },
	{ "disk", check_disk },
	{ "inodes", check_inodes },
	{ "load", check_load },
	{ "swap", check_swap },
};

static int
check(struct lifeline_host *h, const struct lifeline_host_api *api, const char *name,
    char *why, size_t whylen)
{
	for (size_t i = 0; i < nitems(checks); i++)
		if (strcmp(checks[i].name, name) == 0)
			return checks[i].run(h, api, why, whylen);
	snprintf(why, whylen, "no check %.64s, expected memory, disk, inodes, load or swap", name);
	return LIFELINE_FAILED;
}

/*
 * Nothing to protect: no data, configuration or service (and add_check
 * is per service, so none either). Every setting is validated, so that an
 * install with a bad one is refused with its reason, and the rules the
 * checks stand for are declared with the thresholds given.
 */
static int
discover(struct lifeline_host *h, const struct lifeline_host_api *api)
{
	static const enum sys_key keys[] = { SYS_PROC_ROOT, SYS_MEMORY_MIN, SYS_DISK_PATHS,
	    SYS_DISK_MIN, SYS_INODES_MIN, SYS_LOAD_MAX, SYS_SWAP_MAX };
	static char rules[SYS_RULES_MAX][SYS_RULE_MAX];
	struct sys_config c;
	char why[512];
	size_t n;

	if (read_settings(h, api, keys, nitems(keys), &c, why, sizeof(why)) < 0) {
		api->log(h, LIFELINE_LOG_WARNING, why);
		return LIFELINE_FAILED;
	}
	n = sys_rules(&c, rules, nitems(rules));
	for (size_t i = 0; i < n; i++)
		if (api->add_rule(h, rules[i]) < 0)
			return LIFELINE_FAILED;    /* the host says which it refused */
	return LIFELINE_OK;
}

static const struct lifeline_plugin plugin = {
	.api_version = LIFELINE_PLUGIN_API_VERSION,
	.size = sizeof(struct lifeline_plugin),
	.name = "system",
	.version = "1.0",
	.summary = "The host itself: available memory, free disk space and inodes, load per "
	    "CPU and swap in use, against thresholds",
	.discover = discover,
	.check = check,
	.hook = NULL,
};

__attribute__((visibility("default"))) const struct lifeline_plugin *
lifeline_plugin_entry(void)
{
	return &plugin;
}
