/*
 * The system plug-in's decisions (sysplan.h): its settings, the parsers of
 * the /proc texts it reads, and the judges of the numbers. Nothing here
 * opens a file or calls the kernel.
 */
#include "sysplan.h"

#include <stdio.h>
#include <string.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#define SHOWN_MAX 40               /* bytes of a refused value quoted back */
#define LOAD_LIMIT 100000000u      /* load_max below a million, in hundredths */

const struct sys_setting sys_settings[SYS_NKEYS] = {
	[SYS_PROC_ROOT] = { "proc_root", "/proc",
	    "an absolute folder holding meminfo and loadavg, shorter than 256 bytes" },
	[SYS_MEMORY_MIN] = { "memory_min", "5%",
	    "a share of MemTotal from 0% to 100% like 5%, or a size like 256MiB" },
	[SYS_DISK_PATHS] = { "disk_paths", "/var/lib/lifeline",
	    "a comma list of 1 to 16 absolute folders, each shorter than 256 bytes" },
	[SYS_DISK_MIN] = { "disk_min", "5%",
	    "a share of the file system from 0% to 100% like 5%, or a size like 10GiB" },
	[SYS_INODES_MIN] = { "inodes_min", "1%",
	    "a share of the inodes from 0% to 100% like 1%, or a number of inodes like 10000" },
	[SYS_LOAD_MAX] = { "load_max", "4",
	    "a load per CPU like 4 or 1.5, with at most two decimals, below 1000000" },
	[SYS_SWAP_MAX] = { "swap_max", "50%",
	    "a share of SwapTotal from 0% to 100% like 50%, or a size like 1GiB" },
};

/* Sizes take the units of lifeline.conf: K, M, G, T and KiB... are 1024-based, KB... 1000. */
static const struct {
	const char *suffix;
	uint64_t    mult;
} size_units[] = {
	{ "", 1 }, { "B", 1 },
	{ "K", 1ULL << 10 }, { "KiB", 1ULL << 10 }, { "KB", 1000ULL }, { "kB", 1000ULL },
	{ "M", 1ULL << 20 }, { "MiB", 1ULL << 20 }, { "MB", 1000ULL * 1000 },
	{ "G", 1ULL << 30 }, { "GiB", 1ULL << 30 }, { "GB", 1000ULL * 1000 * 1000 },
	{ "T", 1ULL << 40 }, { "TiB", 1ULL << 40 }, { "TB", 1000ULL * 1000 * 1000 * 1000 },
};

/* ---- settings ---- */

/* s without the blanks around it, into out; false when it does not fit. */
static bool
trim(const char *s, char *out, size_t len)
{
	size_t n;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= len)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* A value as it may be quoted in a reason: printable ASCII, cut at SHOWN_MAX bytes. */
static void
shown(const char *s, char out[SHOWN_MAX + 4])
{
	size_t n = 0;

	for (; *s != '\0' && n < SHOWN_MAX; s++)
		out[n++] = (unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ? '?' : *s;
	strcpy(out + n, *s != '\0' ? "..." : "");
}

/* Printable UTF-8 (what the host takes in a rule): no control character, no bad sequence. */
static bool
utf8_text(const char *s)
{
	static const unsigned least[] = { 0, 0x80, 0x800, 0x10000 };
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t more;
		unsigned cp;

		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			more = 1, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			more = 2, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			more = 3, cp = *p & 0x07;
		else
			return false;
		for (size_t i = 1; i <= more; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < least[more] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		p += more + 1;
	}
	return true;
}

/*
 * "DIGITS[.DIGITS]" at the start of s, as its integer part and its
 * fraction fp / 10^nfrac (trailing zeros dropped). Where the number ends,
 * or NULL when s holds none or it is too long to be exact.
 */
static const char *
number(const char *s, uint64_t *ip, uint64_t *fp, unsigned *nfrac)
{
	const char *frac;
	size_t n;

	*ip = *fp = 0;
	*nfrac = 0;
	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		if (__builtin_mul_overflow(*ip, 10, ip) ||
		    __builtin_add_overflow(*ip, (uint64_t)(s[n] - '0'), ip))
			return NULL;
	if (n == 0)
		return NULL;
	s += n;
	if (*s != '.')
		return s;
	frac = ++s;
	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		;
	if (n == 0)
		return NULL;
	s += n;
	while (n > 0 && frac[n - 1] == '0')
		n--;
	if (n > 18)
		return NULL;
	for (size_t i = 0; i < n; i++)
		*fp = *fp * 10 + (uint64_t)(frac[i] - '0');
	*nfrac = (unsigned)n;
	return s;
}

/* (ip + fp / 10^nfrac) * mult into out; false when it is not whole or does not fit. */
static bool
scaled(uint64_t ip, uint64_t fp, unsigned nfrac, uint64_t mult, uint64_t *out)
{
	unsigned __int128 part = (unsigned __int128)fp * mult;
	uint64_t pow10 = 1, v;

	for (unsigned i = 0; i < nfrac; i++)
		pow10 *= 10;
	if (part % pow10 != 0 || __builtin_mul_overflow(ip, mult, &v) ||
	    __builtin_add_overflow(v, (uint64_t)(part / pow10), &v))
		return false;
	*out = v;
	return true;
}

/*
 * A threshold: "5%" (0% to 100%, four decimals at most, kept in parts per
 * million), or an amount: a size, or a plain number when count.
 */
static bool
threshold(const char *s, bool count, struct sys_threshold *t)
{
	uint64_t ip, fp, v;
	unsigned nfrac;
	const char *end;

	if (!trim(s, t->text, sizeof(t->text)) ||
	    (end = number(t->text, &ip, &fp, &nfrac)) == NULL)
		return false;
	if (strcmp(end, "%") == 0) {
		if (!scaled(ip, fp, nfrac, SYS_PPM / 100, &v) || v > SYS_PPM)
			return false;
		t->share = true;
		t->ppm = v;
		t->amount = 0;
		return true;
	}
	for (size_t i = 0; i < nitems(size_units); i++) {
		if (strcmp(end, size_units[i].suffix) != 0 ||
		    (count && size_units[i].suffix[0] != '\0'))
			continue;
		if (!scaled(ip, fp, nfrac, size_units[i].mult, &v))
			return false;
		t->share = false;
		t->ppm = 0;
		t->amount = v;
		return true;
	}
	return false;
}

/* A per-CPU load, in hundredths. */
static bool
load_limit(const char *s, uint64_t *load, char *text, size_t len)
{
	uint64_t ip, fp, v;
	unsigned nfrac;
	const char *end;

	if (!trim(s, text, len) || (end = number(text, &ip, &fp, &nfrac)) == NULL ||
	    *end != '\0' || !scaled(ip, fp, nfrac, 100, &v) || v >= LOAD_LIMIT)
		return false;
	*load = v;
	return true;
}

/* An absolute folder of printable UTF-8, blanks around it trimmed. */
static bool
folder(const char *s, char *out, size_t len)
{
	return trim(s, out, len) && out[0] == '/' && utf8_text(out);
}

static bool
folders(const char *s, struct sys_config *c)
{
	char item[SYS_PATH_MAX + 1];
	size_t n = 0;

	for (;;) {
		size_t len = strcspn(s, ",");
		bool again = false;

		if (len >= sizeof(item))
			return false;
		memcpy(item, s, len);
		item[len] = '\0';
		if (n == SYS_PATHS_MAX || !folder(item, c->paths[n], sizeof(c->paths[n])))
			return false;
		for (size_t i = 0; i < n; i++)
			again = again || strcmp(c->paths[i], c->paths[n]) == 0;
		if (!again)
			n++;
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	c->npaths = n;
	return true;
}

int
sys_config_set(struct sys_config *c, enum sys_key key, const char *value, char *why,
    size_t whylen)
{
	struct sys_config next = *c;
	char show[SHOWN_MAX + 4];
	bool ok = false;

	if (value == NULL)
		value = sys_settings[key].fallback;
	switch (key) {
	case SYS_PROC_ROOT:
		ok = folder(value, next.proc_root, sizeof(next.proc_root));
		break;
	case SYS_MEMORY_MIN:
		ok = threshold(value, false, &next.memory_min);
		break;
	case SYS_DISK_PATHS:
		ok = folders(value, &next);
		break;
	case SYS_DISK_MIN:
		ok = threshold(value, false, &next.disk_min);
		break;
	case SYS_INODES_MIN:
		ok = threshold(value, true, &next.inodes_min);
		break;
	case SYS_LOAD_MAX:
		ok = load_limit(value, &next.load_max, next.load_text, sizeof(next.load_text));
		break;
	case SYS_SWAP_MAX:
		ok = threshold(value, false, &next.swap_max);
		break;
	case SYS_NKEYS:
		break;
	}
	if (!ok) {
		shown(value, show);
		snprintf(why, whylen, "setting %s is \"%s\", expected %s", sys_settings[key].key,
		    show, sys_settings[key].expected);
		return -1;
	}
	*c = next;
	return 0;
}

/* ---- /proc texts ---- */

/* The value of "KEY:   N kB" in a meminfo text, in bytes: 0, -1 when it is bad, -2 when absent. */
static int
meminfo_value(const char *text, const char *key, uint64_t *bytes)
{
	size_t klen = strlen(key);

	for (const char *line = text; *line != '\0'; ) {
		const char *nl = strchr(line, '\n'), *p;
		uint64_t kib = 0;
		size_t n;

		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			p = line + klen + 1;
			p += strspn(p, " \t");
			for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
				if (__builtin_mul_overflow(kib, 10, &kib) ||
				    __builtin_add_overflow(kib, (uint64_t)(p[n] - '0'), &kib))
					return -1;
			if (n == 0 || strncmp(p + n, " kB", 3) != 0 ||
			    (p[n + 3] != '\n' && p[n + 3] != '\0') ||
			    __builtin_mul_overflow(kib, 1024, bytes))
				return -1;
			return 0;
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return -2;
}

int
sys_meminfo_parse(const char *text, struct sys_mem *m, char *why, size_t whylen)
{
	static const char *const keys[] = { "MemTotal", "MemAvailable", "SwapTotal", "SwapFree" };
	uint64_t *values[] = { &m->total, &m->available, &m->swap_total, &m->swap_free };

	for (size_t i = 0; i < nitems(keys); i++) {
		switch (meminfo_value(text, keys[i], values[i])) {
		case 0:
			break;
		case -1:
			snprintf(why, whylen, "%s is not a number of kB", keys[i]);
			return -1;
		default:
			snprintf(why, whylen, "it has no %s line", keys[i]);
			return -1;
		}
	}
	if (m->total == 0) {
		snprintf(why, whylen, "MemTotal is 0 kB");
		return -1;
	}
	return 0;
}

int
sys_loadavg_parse(const char *text, uint64_t *load, char *why, size_t whylen)
{
	uint64_t ip, fp;
	unsigned nfrac;
	const char *end = number(text, &ip, &fp, &nfrac);

	if (end == NULL || (*end != ' ' && *end != '\t') || !scaled(ip, fp, nfrac, 100, load)) {
		snprintf(why, whylen, "its first field is not a load like 0.52");
		return -1;
	}
	return 0;
}

/* ---- judges ---- */

enum rounding { DOWN, NEAREST, UP };

static uint64_t
divide(unsigned __int128 n, uint64_t d, enum rounding r)
{
	unsigned __int128 q = n / d, rem = n % d;

	if ((r == UP && rem != 0) || (r == NEAREST && rem * 2 >= d))
		q++;
	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

/*
 * The numbers of a reason are rounded towards the threshold's side: a
 * value below a minimum rounded down, above a maximum up, so the value
 * shown never seems to meet the threshold it failed.
 */
static const char *
share_text(uint64_t part, uint64_t whole, enum rounding r, char *buf, size_t len)
{
	uint64_t tenths = whole != 0 ? divide((unsigned __int128)part * 1000, whole, r) : 0;

	snprintf(buf, len, "%llu.%llu%%", (unsigned long long)(tenths / 10),
	    (unsigned long long)(tenths % 10));
	return buf;
}

/* "812 MiB", "25.6 GiB", "512 B": one decimal below 100 of the unit. */
static const char *
size_text(uint64_t bytes, enum rounding r, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	size_t u = 0;
	uint64_t tenths, unit;

	while (u + 1 < nitems(units) && bytes >> (10 * (u + 1)) != 0)
		u++;
	unit = 1ULL << (10 * u);
	tenths = divide((unsigned __int128)bytes * 10, unit, r);
	if (u == 0 || tenths >= 1000)
		snprintf(buf, len, "%llu %s", (unsigned long long)divide(bytes, unit, r), units[u]);
	else
		snprintf(buf, len, "%llu.%llu %s", (unsigned long long)(tenths / 10),
		    (unsigned long long)(tenths % 10), units[u]);
	return buf;
}

static bool
below(uint64_t part, uint64_t whole, const struct sys_threshold *t)
{
	if (t->share)
		return (unsigned __int128)part * SYS_PPM < (unsigned __int128)t->ppm * whole;
	return part < t->amount;
}

static bool
above(uint64_t part, uint64_t whole, const struct sys_threshold *t)
{
	if (t->share)
		return (unsigned __int128)part * SYS_PPM > (unsigned __int128)t->ppm * whole;
	return part > t->amount;
}

bool
sys_memory_ok(const struct sys_config *c, const struct sys_mem *m, char *why, size_t whylen)
{
	char share[32], part[32], whole[32];

	if (!below(m->available, m->total, &c->memory_min))
		return true;
	snprintf(why, whylen, "memory: %s available (%s of %s), below memory_min %s",
	    share_text(m->available, m->total, DOWN, share, sizeof(share)),
	    size_text(m->available, DOWN, part, sizeof(part)),
	    size_text(m->total, NEAREST, whole, sizeof(whole)), c->memory_min.text);
	return false;
}

/* Swap used is SwapTotal - SwapFree; a host without swap uses none. */
bool
sys_swap_ok(const struct sys_config *c, const struct sys_mem *m, char *why, size_t whylen)
{
	uint64_t used = m->swap_free < m->swap_total ? m->swap_total - m->swap_free : 0;
	char share[32], part[32], whole[32];

	if (m->swap_total == 0 || !above(used, m->swap_total, &c->swap_max))
		return true;
	snprintf(why, whylen, "swap: %s used (%s of %s), above swap_max %s",
	    share_text(used, m->swap_total, UP, share, sizeof(share)),
	    size_text(used, UP, part, sizeof(part)),
	    size_text(m->swap_total, NEAREST, whole, sizeof(whole)), c->swap_max.text);
	return false;
}

/* The 1-minute load, in hundredths, shared by ncpu CPUs (at least one). */
bool
sys_load_ok(const struct sys_config *c, uint64_t load, unsigned ncpu, char *why,
    size_t whylen)
{
	uint64_t per;

	if (ncpu == 0)
		ncpu = 1;
	if ((unsigned __int128)load <= (unsigned __int128)c->load_max * ncpu)
		return true;
	per = divide(load, ncpu, UP);
	snprintf(why, whylen, "load: %llu.%02llu per CPU (%llu.%02llu on %u CPU%s), above "
	    "load_max %s", (unsigned long long)(per / 100), (unsigned long long)(per % 100),
	    (unsigned long long)(load / 100), (unsigned long long)(load % 100), ncpu,
	    ncpu == 1 ? "" : "s", c->load_text);
	return false;
}

bool
sys_disk_ok(const struct sys_config *c, const char *path, const struct sys_fs *fs, char *why,
    size_t whylen)
{
	char share[32], part[32], whole[32];

	if (!below(fs->avail, fs->total, &c->disk_min))
		return true;
	snprintf(why, whylen, "disk: %s free on %s (%s of %s), below disk_min %s",
	    share_text(fs->avail, fs->total, DOWN, share, sizeof(share)), path,
	    size_text(fs->avail, DOWN, part, sizeof(part)),
	    size_text(fs->total, NEAREST, whole, sizeof(whole)), c->disk_min.text);
	return false;
}

/* A file system that reports no inodes at all (btrfs) has no fixed number to run out of. */
bool
sys_inodes_ok(const struct sys_config *c, const char *path, const struct sys_fs *fs,
    char *why, size_t whylen)
{
	char share[32];

	if (fs->files == 0 || !below(fs->favail, fs->files, &c->inodes_min))
		return true;
	snprintf(why, whylen, "inodes: %s free on %s (%llu of %llu), below inodes_min %s",
	    share_text(fs->favail, fs->files, DOWN, share, sizeof(share)), path,
	    (unsigned long long)fs->favail, (unsigned long long)fs->files, c->inodes_min.text);
	return false;
}

/* ---- rules ---- */

/* The rules of the first folder are "system-disk", of the next "system-disk-2", ... */
static void
rule_suffix(size_t i, char *buf, size_t len)
{
	if (i == 0)
		buf[0] = '\0';
	else
		snprintf(buf, len, "-%zu", i + 1);
}

size_t
sys_rules(const struct sys_config *c, char rules[][SYS_RULE_MAX], size_t max)
{
	size_t n = 0;
	char suffix[24];

	if (n < max)
		snprintf(rules[n++], SYS_RULE_MAX, "system-memory: memory.available < %s",
		    c->memory_min.text);
	for (size_t i = 0; i < c->npaths; i++) {
		rule_suffix(i, suffix, sizeof(suffix));
		if (n < max)
			snprintf(rules[n++], SYS_RULE_MAX, "system-disk%s: disk.free(%s) < %s",
			    suffix, c->paths[i], c->disk_min.text);
	}
	for (size_t i = 0; i < c->npaths; i++) {
		rule_suffix(i, suffix, sizeof(suffix));
		if (n < max)
			snprintf(rules[n++], SYS_RULE_MAX, "system-inodes%s: inodes.free(%s) < %s",
			    suffix, c->paths[i], c->inodes_min.text);
	}
	if (n < max)
		snprintf(rules[n++], SYS_RULE_MAX, "system-load: load.1m per cpu > %s",
		    c->load_text);
	if (n < max)
		snprintf(rules[n++], SYS_RULE_MAX, "system-swap: swap.used > %s", c->swap_max.text);
	return n;
}
