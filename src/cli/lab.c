/*
 * `lifeline lab`: the subcommands that build, break and remove a cluster of
 * namespaces on one machine. Everything the lab made is written down in
 * DIR/lab.json as it is made, so that every later subcommand, and a `down`
 * after a crash half way through `up`, works from that file alone.
 */
#include "cli/init.h"
#include "cli/lab.h"
#include "cli/labapp.h"
#include "cli/labnet.h"
#include "cli/labwatch.h"
#include "common/config.h"
#include "common/ctl.h"
#include "common/tls.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define LAB_JSON            "lab.json"
#define ENGINE_WAIT_MS      30000   /* every engine answers status */
#define APP_WAIT_MS         30000   /* the client reaches the sample */
#define SYNC_WAIT_MS        30000   /* every node's replication is in sync */
#define ENGINE_STOP_MS      10000   /* engines stop their services */
#define PROC_STOP_MS        3000    /* per phase: TERM, then KILL */
#define LOCK_WAIT_MS        60000
#define DIR_MAX_LEN         70      /* DIR/secondary/state/lifelined.sock fits sun_path */
#define LOG_TAIL_LINES      20
#define SAMPLE_ADDR         "192.0.2.10"
#define SAMPLE_PORT         8080
#define MOUNTPOINT_XATTR    "user.lifeline-lab"     /* on host mount points a lab made */

/* The host folders every node sees at the paths the one lifeline.conf names. */
static const struct {
	const char     *sub;            /* under DIR/NODE */
	const char     *target;         /* inside the node */
} node_binds[] = {
	{ "etc",     "/etc/lifeline" },
	{ "state",   "/var/lib/lifeline" },
	{ "data",    "/var/lib/lifeline-sample" },
	{ "appconf", "/etc/lifeline-sample" },
};

/* Subfolders of DIR/NODE that `lab path` prints. */
static const struct {
	const char     *what;
	const char     *sub;
} node_paths[] = {
	{ "data", "data" },
	{ "config", "appconf" },
	{ "state", "state" },
};

enum lab_state { STATE_BUILDING, STATE_UP, STATE_FAILED };
static const char *state_names[] = { "building", "up", "failed" };

struct lab {
	char            dir[PATH_MAX];  /* real path */
	char            prefix[16];     /* of every namespace name */
	enum lab_state  state;
	enum lab_mode   mode;
	char            app[32];
	char            replication[16];
	char            bindir[PATH_MAX];
	char            engine[PATH_MAX];
	bool            selfbind;       /* DIR bind-mounted on itself */
	char            mountpoints[nitems(node_binds)][PATH_MAX];  /* made by the lab */
	size_t          nmountpoints;
	char            ns[LAB_HOST_COUNT + 1][LAB_NS_MAX];
	size_t          nns;
	unsigned        cut[LAB_HOST_COUNT];
	bool            killed[LAB_HOST_COUNT];
	int             lockfd;
};

static int lab_up(const char *, int, char **);
static int lab_down(const char *, int, char **);
static int lab_exec(const char *, int, char **);
static int lab_kill(const char *, int, char **);
static int lab_boot(const char *, int, char **);
static int lab_cut(const char *, int, char **);
static int lab_heal(const char *, int, char **);
static int lab_path(const char *, int, char **);
static int lab_status(const char *, int, char **);

const struct lab_command lab_commands[] = {
	{ "up", "[--mode ha|dr|ha+dr] [--app NAME] [--replication MODE]",
	  "make the namespaces, configs and folders, start every engine; returns once "
	  "every engine answers and the client reaches the application", lab_up },
	{ "down", "", "stop everything and remove the namespaces, mounts and the lab folder",
	  lab_down },
	{ "exec", "NODE -- CMD ...",
	  "run a command in a node (primary, secondary, tertiary or client) with the build's "
	  "programs first in PATH", lab_exec },
	{ "kill", "NODE", "power loss: kill every process of the node, its links down, its mounts gone",
	  lab_kill },
	{ "boot", "NODE", "links up, fresh mounts, start its engine again and wait for it to answer",
	  lab_boot },
	{ "cut", "NODE public|channel[-ps|-ps2|-pt|-st]|management|all", "cut one network of a node (channel-ps: only the first primary-secondary channel); lab heal undoes it",
	  lab_cut },
	{ "heal", "[NODE]", "bring back the networks cut on a node, or on every node", lab_heal },
	{ "path", "NODE data|config|state",
	  "print the node's protected data folder, its protected config folder, or its state_dir",
	  lab_path },
	{ "status", "[--json]",
	  "every node's status (exit 1 when a node does not answer); --json: one object keyed by node",
	  lab_status },
	{ "watch", "[--interval MS] [--duration S] [--out FILE]", "from the client, ask who has the public IP (ARP) and who serves it (GET) every 20 ms; a line per sample, a summary; exit 1 when two nodes answered at once", lab_watch },
	{ NULL, NULL, NULL, NULL },
};

static void lab_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void strfmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * snprintf for messages and paths that may be cut: paths are short (the
 * lab folder is at most DIR_MAX_LEN) and a cut message is still a message.
 */
static void
strfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
lab_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lifeline lab: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

void
lab_usage(FILE *out, int mdoc)
{
	for (size_t i = 0; lab_commands[i].name != NULL; i++) {
		const struct lab_command *c = &lab_commands[i];
		char left[96];

		if (mdoc) {
			fprintf(out, ".It Cm lab %s", c->name);
			if (c->args[0] != '\0')
				fprintf(out, " Ar %s", c->args);
			fprintf(out, "\n%c%s.\n", toupper((unsigned char)c->help[0]), c->help + 1);
			continue;
		}
		strfmt(left, sizeof(left), "%s %s", c->name, c->args);
		if (strlen(left) > 24)
			fprintf(out, "  %s\n  %-24s %s\n", left, "", c->help);
		else
			fprintf(out, "  %-24s %s\n", left, c->help);
	}
}

static void
lab_help(FILE *out)
{
	fprintf(out, "usage: lifeline lab [--dir DIR] SUBCOMMAND [ARGS]   (DIR: default %s)\n\n"
	    "subcommands:\n", LAB_DEFAULT_DIR);
	lab_usage(out, 0);
}

/* ---- lab.json ------------------------------------------------------- */

static void
lab_file(const struct lab *lab, const char *name, char *out, size_t len)
{
	strfmt(out, len, "%s/%s", lab->dir, name);
}

static void
host_file(const struct lab *lab, int host, const char *name, char *out, size_t len)
{
	strfmt(out, len, "%s/%s/%s", lab->dir, lab_host_name(host), name);
}

/* Write lab.json now: called after each thing the lab makes, not at the end. */
static int
lab_save(const struct lab *lab)
{
	json_t *o, *mps, *nss, *nodes;
	char path[PATH_MAX], *text;
	int rc;

	mps = json_array();
	for (size_t i = 0; i < lab->nmountpoints; i++)
		json_array_append_new(mps, json_string(lab->mountpoints[i]));
	nss = json_array();
	for (size_t i = 0; i < lab->nns; i++)
		json_array_append_new(nss, json_string(lab->ns[i]));
	nodes = json_object();
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		json_t *cuts;

		if (!lab_host_in_mode(lab->mode, h))
			continue;
		cuts = json_array();
		for (unsigned bit = 1; bit < LAB_CUT_ALL; bit <<= 1)
			if (lab->cut[h] & bit)
				json_array_append_new(cuts, json_string(lab_cut_name(bit)));
		json_object_set_new(nodes, lab_host_name(h), json_pack("{s:o, s:b}",
		    "cut", cuts, "killed", lab->killed[h]));
	}
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o}",
	    "version", 1, "state", state_names[lab->state], "dir", lab->dir,
	    "prefix", lab->prefix, "mode", lab_mode_name(lab->mode),
	    "app", lab->app, "replication", lab->replication,
	    "bindir", lab->bindir, "engine", lab->engine,
	    "selfbind", lab->selfbind, "mountpoints", mps, "namespaces", nss,
	    "nodes", nodes);
	if (o == NULL)
		fatalx("cannot encode lab.json");
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		fatalx("cannot encode lab.json");
	lab_file(lab, LAB_JSON, path, sizeof(path));
	text = xrealloc(text, strlen(text) + 2);
	strcat(text, "\n");
	rc = write_file_atomic(path, text, strlen(text), 0644);
	if (rc < 0)
		lab_err("cannot write %s: %s", path, strerror(errno));
	free(text);
	return rc;
}

static int
copy_string(json_t *o, const char *key, char *out, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || json_string_length(v) >= len)
		return -1;
	xstrlcpy(out, json_string_value(v), len);
	return 0;
}

/*
 * Read DIR/lab.json into lab. Returns 1 when loaded, 0 when the folder has
 * no lab.json, -1 (after saying why) when the file is unreadable or wrong.
 */
static int
lab_load(struct lab *lab)
{
	char path[PATH_MAX], state[16], mode[16];
	json_t *o, *v, *nodes;
	json_error_t jerr;
	size_t i;
	int n;

	lab_file(lab, LAB_JSON, path, sizeof(path));
	o = json_load_file(path, 0, &jerr);
	if (o == NULL) {
		if (access(path, F_OK) < 0 && errno == ENOENT)
			return 0;
		lab_err("%s: %s (line %d); check `ip netns list` and remove the lab by hand",
		    path, jerr.text, jerr.line);
		return -1;
	}
	if (copy_string(o, "state", state, sizeof(state)) < 0 ||
	    copy_string(o, "mode", mode, sizeof(mode)) < 0 ||
	    copy_string(o, "prefix", lab->prefix, sizeof(lab->prefix)) < 0 ||
	    copy_string(o, "app", lab->app, sizeof(lab->app)) < 0 ||
	    copy_string(o, "replication", lab->replication, sizeof(lab->replication)) < 0 ||
	    copy_string(o, "bindir", lab->bindir, sizeof(lab->bindir)) < 0 ||
	    copy_string(o, "engine", lab->engine, sizeof(lab->engine)) < 0 ||
	    (n = lab_mode_parse(mode)) < 0)
		goto bad;
	lab->mode = n;
	for (n = 0; n < (int)nitems(state_names); n++)
		if (strcmp(state, state_names[n]) == 0)
			break;
	if (n == (int)nitems(state_names))
		goto bad;
	lab->state = n;
	lab->selfbind = json_is_true(json_object_get(o, "selfbind"));
	lab->nmountpoints = 0;
	json_array_foreach(json_object_get(o, "mountpoints"), i, v) {
		if (!json_is_string(v) || lab->nmountpoints == nitems(lab->mountpoints))
			goto bad;
		xstrlcpy(lab->mountpoints[lab->nmountpoints++], json_string_value(v), PATH_MAX);
	}
	lab->nns = 0;
	json_array_foreach(json_object_get(o, "namespaces"), i, v) {
		if (!json_is_string(v) || lab->nns == nitems(lab->ns))
			goto bad;
		xstrlcpy(lab->ns[lab->nns++], json_string_value(v), LAB_NS_MAX);
	}
	nodes = json_object_get(o, "nodes");
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		json_t *node = json_object_get(nodes, lab_host_name(h));

		lab->cut[h] = 0;
		lab->killed[h] = json_is_true(json_object_get(node, "killed"));
		json_array_foreach(json_object_get(node, "cut"), i, v) {
			int c = json_is_string(v) ? lab_cut_parse(json_string_value(v)) : -1;

			if (c < 0)
				goto bad;
			lab->cut[h] |= (unsigned)c;
		}
	}
	json_decref(o);
	return 1;
bad:
	json_decref(o);
	lab_err("%s: not a lab file this version understands; check `ip netns list` and remove the lab by hand",
	    path);
	return -1;
}

/*
 * Serialize subcommands that change the lab (two `kill` at once, a `down`
 * during `up`). The lock is on the lab folder itself and never inherited by
 * the engines the lab starts.
 */
static int
lab_lock(struct lab *lab)
{
	uint64_t deadline = now_mono_ms() + LOCK_WAIT_MS;

	lab->lockfd = open(lab->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lab->lockfd < 0) {
		lab_err("cannot open %s: %s", lab->dir, strerror(errno));
		return -1;
	}
	while (flock(lab->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || now_mono_ms() >= deadline) {
			lab_err("cannot lock %s: %s", lab->dir, errno == EWOULDBLOCK ?
			    "another lifeline lab command holds it" : strerror(errno));
			close(lab->lockfd);
			lab->lockfd = -1;
			return -1;
		}
		usleep(50 * 1000);
	}
	return 0;
}

static void
lab_unlock(struct lab *lab)
{
	if (lab->lockfd >= 0)
		close(lab->lockfd);
	lab->lockfd = -1;
}

/*
 * Find the lab at dir and load it. Returns 1 when it exists, 0 when there
 * is no lab there (quiet: callers decide whether that is an error), -1
 * after an error message.
 */
static int
lab_open(struct lab *lab, const char *dir)
{
	memset(lab, 0, sizeof(*lab));
	lab->lockfd = -1;
	if (realpath(dir, lab->dir) == NULL) {
		lab->dir[0] = '\0';    /* glibc leaves a partial path there */
		if (errno == ENOENT)
			return 0;
		lab_err("%s: %s", dir, strerror(errno));
		return -1;
	}
	lab_prefix(lab->dir, lab->prefix, sizeof(lab->prefix));
	return lab_load(lab);
}

/* As lab_open, but a lab that is not there is an error for this command. */
static int
lab_require(struct lab *lab, const char *dir, bool lock)
{
	int rc = lab_open(lab, dir);

	if (rc == 0) {
		lab_err("no lab at %s; start one with lifeline lab up", dir);
		return -1;
	}
	if (rc < 0)
		return -1;
	if (lock && lab_lock(lab) < 0)
		return -1;
	if (lock && lab_load(lab) <= 0) {       /* it may have changed while we waited */
		lab_unlock(lab);
		return -1;
	}
	return 0;
}

/* ---- small helpers -------------------------------------------------- */

static int
host_arg(const struct lab *lab, const char *s, bool nodes_only)
{
	int h = lab_host_parse(s);

	if (h < 0 || !lab_host_in_mode(lab->mode, h) || (nodes_only && !lab_is_node(h))) {
		char list[128] = "";

		for (int i = 0; i < LAB_HOST_COUNT; i++) {
			if (!lab_host_in_mode(lab->mode, i) || (nodes_only && !lab_is_node(i)))
				continue;
			if (list[0] != '\0')
				strcat(list, ", ");
			strcat(list, lab_host_name(i));
		}
		lab_err("no node \"%s\" in this %s lab, expected one of: %s", s,
		    lab_mode_name(lab->mode), list);
		return -1;
	}
	return h;
}

static void
host_ns(const struct lab *lab, int host, char *out, size_t len)
{
	lab_ns_name(lab->prefix, lab_host_name(host), out, len);
}

/* The folder holding this program: build/bin, or the install's bin. */
static int
self_bindir(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		lab_err("cannot read /proc/self/exe: %s", strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	xstrlcpy(out, exe, len);
	return 0;
}

/*
 * Is path a mount point in this mount namespace? /proc/self/mountinfo is
 * the only answer that also sees bind mounts of the same file system.
 * With below set, any mount strictly under path counts instead.
 */
static bool
mounted(const char *path, bool below)
{
	size_t plen = strlen(path);
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX], *src, *dst;
		int field = 0;

		/* field 5 is the mount point, with blanks as \040 */
		src = line;
		for (field = 1; field < 5 && src != NULL; field++)
			if ((src = strchr(src, ' ')) != NULL)
				src++;
		if (src == NULL)
			continue;
		for (dst = mp; *src != ' ' && *src != '\n' && *src != '\0' &&
		    dst < mp + sizeof(mp) - 1; dst++) {
			if (src[0] == '\\' && src[1] >= '0' && src[1] <= '3' &&
			    src[2] != '\0' && src[3] != '\0') {
				*dst = (char)((src[1] - '0') * 64 + (src[2] - '0') * 8 + (src[3] - '0'));
				src += 4;
			} else
				*dst = *src++;
		}
		*dst = '\0';
		if (below)
			found = strncmp(mp, path, plen) == 0 && mp[plen] == '/';
		else
			found = strcmp(mp, path) == 0;
	}
	free(line);
	fclose(f);
	return found;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP ? rmdir(path) : unlink(path)) {
		lab_err("cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* rm -rf that never leaves the folder's file system nor follows links. */
static int
remove_tree(const char *path)
{
	if (mounted(path, true) || mounted(path, false)) {
		lab_err("something is still mounted at or under %s; not removing it", path);
		return -1;
	}
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Print the last lines of a node's engine log, after an error line. */
static void
print_log_tail(const struct lab *lab, int host)
{
	char path[PATH_MAX], buf[16384];
	const char *p;
	ssize_t n;
	off_t size;
	int fd, lines = 0;

	host_file(lab, host, "log/lifelined.log", path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(buf) - 1)
		lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	p = buf + n;
	if (p > buf && p[-1] == '\n')
		p--;
	while (p > buf && lines < LOG_TAIL_LINES)
		if (*--p == '\n')
			lines++;
	if (*p == '\n')
		p++;
	fprintf(stderr, "--- last lines of %s ---\n%s", path, p);
	if (buf[n - 1] != '\n')
		fprintf(stderr, "\n");
}

/* ---- processes of a node -------------------------------------------- */

struct nsid {
	dev_t           dev;
	ino_t           ino;
};

static int
nsid_of(const char *path, struct nsid *id)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

/*
 * The namespaces whose processes belong to host (or to the whole lab when
 * host is -1): its network namespace and its mount namespace. Names are
 * derived from the lab folder, so leftovers of a crashed `up` are found too.
 */
static size_t
lab_nsids(const struct lab *lab, int host, struct nsid *ids, size_t max)
{
	char ns[LAB_NS_MAX], path[PATH_MAX];
	size_t n = 0;

	for (int h = -1; h < LAB_HOST_COUNT && n + 2 <= max; h++) {
		if (host >= 0 && h != host)
			continue;
		if (h < 0)
			lab_ns_name(lab->prefix, LAB_SWITCH, ns, sizeof(ns));
		else
			host_ns(lab, h, ns, sizeof(ns));
		strfmt(path, sizeof(path), "/run/netns/%s", ns);
		if (nsid_of(path, &ids[n]) == 0)
			n++;
		if (h >= 0) {
			host_file(lab, h, "mntns", path, sizeof(path));
			if (mounted(path, false) && nsid_of(path, &ids[n]) == 0)
				n++;
		}
	}
	return n;
}

static bool
pid_in(pid_t pid, const struct nsid *ids, size_t n)
{
	static const char *kinds[] = { "net", "mnt" };
	char path[64];
	struct nsid id;

	for (size_t k = 0; k < nitems(kinds); k++) {
		strfmt(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, kinds[k]);
		if (nsid_of(path, &id) < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (ids[i].dev == id.dev && ids[i].ino == id.ino)
				return true;
	}
	return false;
}

/* Every live process (zombies have no namespaces) in one of ids. */
static size_t
pids_in(const struct nsid *ids, size_t nids, pid_t *out, size_t max)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (nids == 0 || (d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || pid <= 0 || pid == getpid())
			continue;
		if (pid_in((pid_t)pid, ids, nids))
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/*
 * Signal every process in ids with sig, once each, and any that appears
 * meanwhile, until none is left or wait_ms passed. Reaps our own children
 * (engines started by this very command). Returns how many remain.
 */
static size_t
signal_until_gone(const struct nsid *ids, size_t nids, int sig, uint64_t wait_ms)
{
	uint64_t deadline = now_mono_ms() + wait_ms;
	pid_t pids[1024], sent[1024];
	size_t n, nsent = 0;

	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		n = pids_in(ids, nids, pids, nitems(pids));
		if (n == 0 || now_mono_ms() >= deadline)
			return n;
		for (size_t i = 0; i < n; i++) {
			size_t j;

			for (j = 0; j < nsent && sent[j] != pids[i]; j++)
				;
			if (j < nsent)
				continue;
			kill(pids[i], sig);
			if (nsent < nitems(sent))
				sent[nsent++] = pids[i];
		}
		usleep(20 * 1000);
	}
}

static pid_t
read_pidfile(const struct lab *lab, int host)
{
	char path[PATH_MAX], *text;
	long pid;

	host_file(lab, host, "lifelined.pid", path, sizeof(path));
	if ((text = read_file(path, 64, NULL)) == NULL)
		return -1;
	pid = strtol(text, NULL, 10);
	free(text);
	return pid > 0 ? (pid_t)pid : -1;
}

/* The engine of host when it runs, in that node, or -1. */
static pid_t
engine_pid(const struct lab *lab, int host)
{
	struct nsid ids[2];
	size_t n = lab_nsids(lab, host, ids, nitems(ids));
	pid_t pid = read_pidfile(lab, host);

	if (pid > 0 && n > 0 && pid_in(pid, ids, n))
		return pid;
	return -1;
}

/*
 * Stop the engines first with SIGTERM, so each stops its services and
 * gives the public IP back as it would on a real shutdown; then whatever
 * is left in the lab gets SIGTERM, then SIGKILL. Bounded at every step.
 */
static int
stop_processes(const struct lab *lab)
{
	uint64_t deadline = now_mono_ms() + ENGINE_STOP_MS;
	struct nsid ids[2 * LAB_HOST_COUNT + 2];
	size_t nids, left;
	bool alive = false;
	pid_t pid;

	for (int h = 0; h < LAB_HOST_COUNT; h++)
		if ((pid = engine_pid(lab, h)) > 0) {
			kill(pid, SIGTERM);
			alive = true;
		}
	while (alive && now_mono_ms() < deadline) {
		usleep(20 * 1000);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		alive = false;
		for (int h = 0; h < LAB_HOST_COUNT; h++)
			if (engine_pid(lab, h) > 0)
				alive = true;
	}
	nids = lab_nsids(lab, -1, ids, nitems(ids));
	if (signal_until_gone(ids, nids, SIGTERM, PROC_STOP_MS) == 0)
		return 0;
	left = signal_until_gone(ids, nids, SIGKILL, PROC_STOP_MS);
	if (left > 0) {
		lab_err("%zu processes of the lab are still running after SIGKILL", left);
		return -1;
	}
	return 0;
}

/* ---- entering a node ------------------------------------------------ */

static int
setns_path(const char *path, int type, char *err, size_t errlen)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		strfmt(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	rc = setns(fd, type);
	if (rc < 0)
		strfmt(err, errlen, "cannot enter the namespace %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/*
 * Move the calling (single-threaded) process into host: its network
 * namespace, then its mount namespace, so it sees the node's folders at
 * the configured paths and every FUSE mount its engine made.
 */
static int
node_enter(const struct lab *lab, int host, char *err, size_t errlen)
{
	char ns[LAB_NS_MAX], path[PATH_MAX];

	host_ns(lab, host, ns, sizeof(ns));
	host_file(lab, host, "mntns", path, sizeof(path));
	if (lab->killed[host] || !mounted(path, false)) {
		strfmt(err, errlen, "%s is powered off (lifeline lab kill); start it with lifeline lab boot %s",
		    lab_host_name(host), lab_host_name(host));
		return -1;
	}
	strfmt(path, sizeof(path), "/run/netns/%s", ns);
	if (setns_path(path, CLONE_NEWNET, err, errlen) < 0)
		return -1;
	host_file(lab, host, "mntns", path, sizeof(path));
	return setns_path(path, CLONE_NEWNS, err, errlen);
}

/*
 * The child side of mntns_create: in the host's network namespace, a new
 * mount namespace whose mounts propagate nowhere, a sysfs that shows the
 * node's own interfaces (as `ip netns exec` does), and the node's folders
 * bound where lifeline.conf expects them. Reports "ok" or why not on fd.
 */
static void
mntns_child(const struct lab *lab, int host, int fd)
{
	char ns[LAB_NS_MAX], path[PATH_MAX], err[PATH_MAX + 128];

	host_ns(lab, host, ns, sizeof(ns));
	strfmt(path, sizeof(path), "/run/netns/%s", ns);
	if (setns_path(path, CLONE_NEWNET, err, sizeof(err)) < 0)
		goto fail;
	if (unshare(CLONE_NEWNS) < 0) {
		strfmt(err, sizeof(err), "unshare(CLONE_NEWNS): %s", strerror(errno));
		goto fail;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		strfmt(err, sizeof(err), "making / private: %s", strerror(errno));
		goto fail;
	}
	if (umount2("/sys", MNT_DETACH) == 0)
		mount("sysfs", "/sys", "sysfs", 0, NULL);
	for (size_t i = 0; lab_is_node(host) && i < nitems(node_binds); i++) {
		host_file(lab, host, node_binds[i].sub, path, sizeof(path));
		if (mount(path, node_binds[i].target, NULL, MS_BIND, NULL) < 0) {
			strfmt(err, sizeof(err), "binding %s on %s: %s", path,
			    node_binds[i].target, strerror(errno));
			goto fail;
		}
	}
	(void)!write(fd, "ok", 2);
	return;
fail:
	(void)!write(fd, err, strlen(err));
}

/*
 * Give host a mount namespace that outlives its processes: a child makes
 * it, and we bind the child's /proc/PID/ns/mnt on DIR/HOST/mntns before it
 * exits (DIR is a private mount, which that bind needs). A powered-off node
 * has none; `boot` makes a fresh one.
 */
static int
mntns_create(const struct lab *lab, int host, char *err, size_t errlen)
{
	char bindfile[PATH_MAX], procns[64], msg[PATH_MAX + 128];
	int ready[2] = { -1, -1 }, done[2] = { -1, -1 }, fd, rc = -1;
	ssize_t n;
	pid_t pid;

	host_file(lab, host, "mntns", bindfile, sizeof(bindfile));
	if (mounted(bindfile, false))
		return 0;
	if ((fd = open(bindfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		strfmt(err, errlen, "cannot create %s: %s", bindfile, strerror(errno));
		return -1;
	}
	close(fd);
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0) {
		strfmt(err, errlen, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		strfmt(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		char c;

		close(ready[0]);
		close(done[1]);
		mntns_child(lab, host, ready[1]);
		close(ready[1]);
		while (read(done[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	ready[1] = -1;
	close(done[0]);
	done[0] = -1;
	do
		n = read(ready[0], msg, sizeof(msg) - 1);
	while (n < 0 && errno == EINTR);
	msg[n > 0 ? n : 0] = '\0';
	if (strcmp(msg, "ok") != 0)
		strfmt(err, errlen, "mount namespace of %s: %s", lab_host_name(host),
		    msg[0] != '\0' ? msg : "its maker died");
	else {
		strfmt(procns, sizeof(procns), "/proc/%d/ns/mnt", (int)pid);
		if (mount(procns, bindfile, NULL, MS_BIND, NULL) < 0)
			strfmt(err, errlen, "binding %s on %s: %s", procns, bindfile,
			    strerror(errno));
		else
			rc = 0;
	}
	close(done[1]);
	done[1] = -1;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
out:
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (done[i] >= 0)
			close(done[i]);
	}
	return rc;
}

static void
mntns_destroy(const struct lab *lab, int host)
{
	char bindfile[PATH_MAX];

	host_file(lab, host, "mntns", bindfile, sizeof(bindfile));
	for (int i = 0; i < 8 && mounted(bindfile, false); i++)
		if (umount2(bindfile, MNT_DETACH) < 0)
			lab_err("cannot unmount %s: %s", bindfile, strerror(errno));
	unlink(bindfile);
}

/* ---- engines -------------------------------------------------------- */

static void
set_path_env(const struct lab *lab)
{
	const char *path = getenv("PATH");
	char *p = xasprintf("%s:%s", lab->bindir,
	    path != NULL ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

	setenv("PATH", p, 1);
	free(p);
}

/*
 * Start host's engine in the node, in the foreground of a new session,
 * its output appended to DIR/HOST/log/lifelined.log. Returns its pid (a
 * child of ours until we exit) or -1.
 */
static pid_t
engine_start(const struct lab *lab, int host, char *err, size_t errlen)
{
	char logpath[PATH_MAX], pidpath[PATH_MAX], when[64], *text;
	char *argv[] = { (char *)lab->engine, "-d", "-f", "/etc/lifeline/lifeline.conf", NULL };
	time_t now = time(NULL);
	int logfd;
	pid_t pid;

	host_file(lab, host, "log/lifelined.log", logpath, sizeof(logpath));
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		strfmt(err, errlen, "cannot open %s: %s", logpath, strerror(errno));
		return -1;
	}
	strftime(when, sizeof(when), "%F %T", localtime(&now));
	dprintf(logfd, "--- lifeline lab: %s starts %s on %s ---\n", when, lab->engine,
	    lab_host_name(host));
	if ((pid = fork()) < 0) {
		strfmt(err, errlen, "fork: %s", strerror(errno));
		close(logfd);
		return -1;
	}
	if (pid == 0) {
		char why[PATH_MAX + 128];
		sigset_t none;
		int null;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		if (node_enter(lab, host, why, sizeof(why)) < 0) {
			dprintf(logfd, "lifeline lab: %s\n", why);
			_exit(127);
		}
		setsid();
		if (chdir("/") < 0 || (null = open("/dev/null", O_RDONLY)) < 0 ||
		    dup2(null, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		set_path_env(lab);
		execv(argv[0], argv);
		dprintf(2, "lifeline lab: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	host_file(lab, host, "lifelined.pid", pidpath, sizeof(pidpath));
	text = xasprintf("%d\n", (int)pid);
	if (write_file_atomic(pidpath, text, strlen(text), 0644) < 0)
		lab_err("cannot write %s: %s", pidpath, strerror(errno));
	free(text);
	return pid;
}

static json_t *
engine_status(const struct lab *lab, int host, int timeout_ms, char *err, size_t errlen)
{
	char sock[PATH_MAX];
	json_t *req, *answer, *status;

	host_file(lab, host, "state/" CTL_SOCKET_NAME, sock, sizeof(sock));
	req = json_pack("{s:s}", "cmd", "status");
	answer = ctl_call(sock, req, timeout_ms, err, errlen);
	json_decref(req);
	if (answer == NULL)
		return NULL;
	status = json_object_get(answer, "status");
	if (!json_is_true(json_object_get(answer, "ok")) || !json_is_object(status)) {
		json_t *e = json_object_get(answer, "error");

		strfmt(err, errlen, "the engine at %s answered: %s", sock,
		    json_is_string(e) ? json_string_value(e) : "no status object");
		json_decref(answer);
		return NULL;
	}
	json_incref(status);
	json_decref(answer);
	return status;
}

/*
 * Wait until every engine in pids (indexed by host, -1 for none) answers
 * {"cmd":"status"} on its socket, or one of them exits, or the deadline.
 * On failure names the node in *bad and says why in err.
 */
static int
wait_engines(const struct lab *lab, const pid_t *pids, uint64_t deadline, int *bad,
    char *err, size_t errlen)
{
	bool answered[LAB_HOST_COUNT] = { false };
	char why[LAB_HOST_COUNT][512];

	for (int h = 0; h < LAB_HOST_COUNT; h++)
		strfmt(why[h], sizeof(why[h]), "not started");
	for (;;) {
		bool all = true;

		for (int h = 0; h < LAB_HOST_COUNT; h++) {
			json_t *st;
			int status;

			if (pids[h] <= 0 || answered[h])
				continue;
			if (waitpid(pids[h], &status, WNOHANG) == pids[h]) {
				*bad = h;
				strfmt(err, errlen, "the engine of %s exited (%s %d) before answering",
				    lab_host_name(h), WIFEXITED(status) ? "status" : "signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
				return -1;
			}
			if ((st = engine_status(lab, h, 1000, why[h], sizeof(why[h]))) != NULL) {
				answered[h] = true;
				json_decref(st);
			} else
				all = false;
		}
		if (all)
			return 0;
		if (now_mono_ms() >= deadline)
			break;
		usleep(50 * 1000);
	}
	for (int h = 0; h < LAB_HOST_COUNT; h++)
		if (pids[h] > 0 && !answered[h]) {
			*bad = h;
			strfmt(err, errlen, "the engine of %s did not answer within %d s: %s",
			    lab_host_name(h), ENGINE_WAIT_MS / 1000, why[h]);
			break;
		}
	return -1;
}

/*
 * Wait until every node of the mode reports its replication in sync: the
 * active ships to a connected stand-by, each stand-by takes its stream.
 * Until then a failover would be vetoed, so lab up is not done.
 */
static int
wait_in_sync(const struct lab *lab, uint64_t deadline, int *bad, char *err, size_t errlen)
{
	char why[LAB_HOST_COUNT][256];

	for (;;) {
		int behind = -1;

		for (int h = 0; h < LAB_HOST_COUNT && behind < 0; h++) {
			json_t *st, *repl;
			const char *state;

			if (!lab_host_in_mode(lab->mode, h) || !lab_is_node(h))
				continue;
			if ((st = engine_status(lab, h, 1000, why[h], sizeof(why[h]))) == NULL) {
				behind = h;
				continue;
			}
			repl = json_object_get(st, "replication");
			state = json_string_value(json_object_get(repl, "state"));
			if (state == NULL || strcmp(state, "in-sync") != 0) {
				json_t *e = json_object_get(repl, "error");

				strfmt(why[h], sizeof(why[h]), "replication %s%s%s", state ? state : "unknown",
				    json_is_string(e) ? ": " : "", json_is_string(e) ? json_string_value(e) : "");
				behind = h;
			}
			json_decref(st);
		}
		if (behind < 0)
			return 0;
		if (now_mono_ms() >= deadline) {
			*bad = behind;
			strfmt(err, errlen, "%s is not in sync after %d s: %s", lab_host_name(behind),
			    SYNC_WAIT_MS / 1000, why[behind]);
			return -1;
		}
		usleep(50 * 1000);
	}
}

/*
 * A TCP connection to addr:port from the current namespace within 500 ms:
 * its descriptor, or -1 with why.
 */
static int
tcp_connect(const char *addr, int port, char *why, size_t whylen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, soerr = 0;

	inet_pton(AF_INET, addr, &sin.sin_addr);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		strfmt(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS)
		strfmt(why, whylen, "connect: %s", strerror(errno));
	else if (poll(&pfd, 1, 500) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
		strfmt(why, whylen, "connect: %s", soerr ? strerror(soerr) : "timed out");
	else
		return fd;
	close(fd);
	return -1;
}

/* A TCP connection is taken: 0, or -1 with why. */
static int
tcp_open(const char *addr, int port, char *why, size_t whylen)
{
	int fd = tcp_connect(addr, port, why, whylen);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* One GET to the sample from the current namespace; 0 when a line comes back. */
static int
sample_get(const char *addr, int port, char *why, size_t whylen)
{
	struct pollfd pfd;
	char buf[256];
	int fd, rc = -1;
	ssize_t n;

	if ((fd = tcp_connect(addr, port, why, whylen)) < 0)
		return -1;
	if (send(fd, "GET\n", 4, MSG_NOSIGNAL) != 4) {
		strfmt(why, whylen, "send: %s", strerror(errno));
		goto out;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 1000) != 1 || (n = recv(fd, buf, sizeof(buf) - 1, 0)) <= 0) {
		strfmt(why, whylen, "no answer to GET");
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/*
 * THE WAIT FOR THE APPLICATION. The engine starts the sample when its node
 * becomes active (the primary of a new cluster) and adds the public IP; `up`
 * returns only once the client reaches it there. An engine that does not
 * start services yet makes `up` fail here after APP_WAIT_MS, naming this.
 */
static int
wait_app(const struct lab *lab, uint64_t deadline, char *err, size_t errlen)
{
	bool sample = lab_app_parse(lab->app) == LAB_APP_SAMPLE;
	int port = lab_app_port(lab_app_parse(lab->app));
	char ns[LAB_NS_MAX], path[PATH_MAX], why[512] = "not tried";
	int p[2], status;
	ssize_t n;
	pid_t pid;

	host_ns(lab, LAB_CLIENT, ns, sizeof(ns));
	strfmt(path, sizeof(path), "/run/netns/%s", ns);
	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		strfmt(err, errlen, "pipe/fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (setns_path(path, CLONE_NEWNET, why, sizeof(why)) == 0) {
			while ((sample ? sample_get(SAMPLE_ADDR, port, why, sizeof(why)) :
			    tcp_open(SAMPLE_ADDR, port, why, sizeof(why))) < 0 &&
			    now_mono_ms() < deadline)
				usleep(100 * 1000);
			if (now_mono_ms() < deadline)
				_exit(0);
		}
		(void)!write(p[1], why, strlen(why));
		_exit(1);
	}
	close(p[1]);
	do
		n = read(p[0], why, sizeof(why) - 1);
	while (n < 0 && errno == EINTR);
	why[n > 0 ? n : 0] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	strfmt(err, errlen, "the client did not reach the %s application on %s:%d within %d s (%s); "
	    "the engine starts it when the primary becomes active", lab->app,
	    SAMPLE_ADDR, port, APP_WAIT_MS / 1000, why);
	return -1;
}

/* ---- building and removing ------------------------------------------ */

/* Are another lab's namespaces present (another --dir)? Then the shared host
 * mount points stay, as that lab's nodes still use them. */
static bool
other_labs(const struct lab *lab)
{
	struct dirent *de;
	bool found = false;
	DIR *d;

	if ((d = opendir("/run/netns")) == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "ll-", 3) == 0 &&
		    strncmp(de->d_name, lab->prefix, strlen(lab->prefix)) != 0)
			found = true;
	closedir(d);
	return found;
}

/*
 * Remove the host mount points a lab made: those this lab recorded, and
 * those another lab marked (it may have gone down while this one still
 * used them). Not while another lab is up, and only when empty.
 */
static void
remove_mountpoints(struct lab *lab)
{
	char mark[8];
	bool others = other_labs(lab), told = false;

	for (size_t i = 0; i < nitems(node_binds); i++) {
		const char *t = node_binds[i].target;
		bool ours = false;

		for (size_t j = 0; j < lab->nmountpoints; j++)
			if (strcmp(lab->mountpoints[j], t) == 0)
				ours = true;
		if (!ours && getxattr(t, MOUNTPOINT_XATTR, mark, sizeof(mark)) <= 0)
			continue;
		if (others) {
			if (ours && !told)
				lab_err("leaving %s and the other mount points to the lab that still "
				    "uses them: its down removes them", t);
			told = told || ours;
			continue;
		}
		if (rmdir(t) < 0 && errno != ENOENT)
			lab_err("leaving %s: %s", t, strerror(errno));
	}
	lab->nmountpoints = 0;
}

/*
 * Undo everything `up` made, in the reverse order, whatever state the lab
 * is in (even half built): processes, mount namespaces, network
 * namespaces, host mount points the lab created, the folder's self-bind.
 * The folder itself stays; `down` removes it. Returns -1 if anything could
 * not be undone, after saying what.
 */
static int
lab_teardown(struct lab *lab)
{
	char ns[LAB_NS_MAX], path[PATH_MAX];
	int rc = 0;

	if (stop_processes(lab) < 0)
		rc = -1;
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		mntns_destroy(lab, h);
		host_file(lab, h, "lifelined.pid", path, sizeof(path));
		unlink(path);
		lab->cut[h] = 0;
		lab->killed[h] = false;
	}
	for (int h = -1; h < LAB_HOST_COUNT; h++) {
		lab_ns_name(lab->prefix, h < 0 ? LAB_SWITCH : lab_host_name(h), ns, sizeof(ns));
		if (labnet_ns_exists(ns) && labnet_delete_ns(ns) < 0) {
			lab_err("`ip netns del %s` failed", ns);
			rc = -1;
		}
	}
	lab->nns = 0;
	remove_mountpoints(lab);
	for (int i = 0; i < 8 && mounted(lab->dir, false); i++)
		if (umount2(lab->dir, MNT_DETACH) < 0) {
			lab_err("cannot unmount %s: %s", lab->dir, strerror(errno));
			rc = -1;
			break;
		}
	lab->selfbind = false;
	return rc;
}

/* Copy one file of DIR/tls into a node's tls folder with the given mode. */
static int
copy_tls_file(const char *from_dir, const char *to_dir, const char *name, mode_t mode,
    char *err, size_t errlen)
{
	char from[PATH_MAX], to[PATH_MAX], *data;
	size_t len;
	int rc = 0;

	strfmt(from, sizeof(from), "%s/%s", from_dir, name);
	strfmt(to, sizeof(to), "%s/%s", to_dir, name);
	if ((data = read_file(from, 1 << 20, &len)) == NULL ||
	    write_file_atomic(to, data, len, mode) < 0 || chmod(to, mode) < 0) {
		strfmt(err, errlen, "cannot copy %s to %s: %s", from, to, strerror(errno));
		rc = -1;
	}
	free(data);
	return rc;
}

/*
 * The cluster's TLS files, as an administrator makes them: `lifeline init`
 * once (here into DIR/tls, which stays on the host with ca.key), then each
 * node gets ca.crt and its own certificate and key in /etc/lifeline/tls.
 */
static int
write_tls(const struct lab *lab, const char *conf_text, char *err, size_t errlen)
{
	char tlsdir[PATH_MAX], nodedir[PATH_MAX], cerr[512];
	struct config *conf;
	int rc = -1;

	if ((conf = config_parse_string(conf_text, "lab lifeline.conf", cerr, sizeof(cerr))) == NULL) {
		strfmt(err, errlen, "the lab's own configuration is refused: %s", cerr);
		return -1;
	}
	lab_file(lab, "tls", tlsdir, sizeof(tlsdir));
	free(conf->tls_dir);
	conf->tls_dir = xstrdup(tlsdir);
	if (init_write_tls(conf, true, err, errlen) < 0)
		goto out;
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		char crt[32], key[32];

		if (!lab_host_in_mode(lab->mode, h) || !lab_is_node(h))
			continue;
		host_file(lab, h, "etc/tls", nodedir, sizeof(nodedir));
		if (mkdir_p(nodedir, 0755) < 0) {
			strfmt(err, errlen, "cannot create %s: %s", nodedir, strerror(errno));
			goto out;
		}
		strfmt(crt, sizeof(crt), "%s.crt", lab_host_name(h));
		strfmt(key, sizeof(key), "%s.key", lab_host_name(h));
		if (copy_tls_file(tlsdir, nodedir, TLS_CA_CRT, 0644, err, errlen) < 0 ||
		    copy_tls_file(tlsdir, nodedir, crt, 0644, err, errlen) < 0 ||
		    copy_tls_file(tlsdir, nodedir, key, 0600, err, errlen) < 0)
			goto out;
	}
	rc = 0;
out:
	config_free(conf);
	return rc;
}

/*
 * The files of every host: its folders, and on a node the one
 * lifeline.conf, its identity, its TLS files and the sample's config.
 */
static int
write_host_files(const struct lab *lab, char *err, size_t errlen)
{
	static const char *subs[] = { "etc", "state", "data", "appconf", "log" };
	char path[PATH_MAX], ident[32];
	struct {
		const char *name;
		const char *text;
	} files[] = {
		{ "etc/lifeline.conf", NULL },
		{ "etc/identity", ident },
		{ "appconf/sample.conf", NULL },
	};
	char *conf = lab_config_text(lab->mode, lab->replication, lab->bindir,
	    lab_app_parse(lab->app));
	char *sample = lab_sample_config_text(lab->mode);
	int rc = -1;

	if (conf == NULL || sample == NULL) {
		strfmt(err, errlen, "cannot build the configuration text");
		goto out;
	}
	files[0].text = conf;
	files[2].text = sample;
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		if (!lab_host_in_mode(lab->mode, h))
			continue;
		for (size_t i = 0; i < nitems(subs); i++) {
			if (!lab_is_node(h) && strcmp(subs[i], "log") != 0)
				continue;
			host_file(lab, h, subs[i], path, sizeof(path));
			if (mkdir_p(path, 0755) < 0) {
				strfmt(err, errlen, "cannot create %s: %s", path, strerror(errno));
				goto out;
			}
		}
		strfmt(ident, sizeof(ident), "%s\n", lab_host_name(h));
		for (size_t i = 0; lab_is_node(h) && i < nitems(files); i++) {
			host_file(lab, h, files[i].name, path, sizeof(path));
			if (write_file_atomic(path, files[i].text, strlen(files[i].text), 0644) < 0) {
				strfmt(err, errlen, "cannot write %s: %s", path, strerror(errno));
				goto out;
			}
		}
	}
	rc = write_tls(lab, conf, err, errlen);
out:
	free(conf);
	free(sample);
	return rc;
}

/* The application's data and what its checks need, before any engine runs. */
static int
prepare_app(const struct lab *lab, char *err, size_t errlen)
{
	char data[PATH_MAX], states[LAB_HOST_COUNT][PATH_MAX];
	const char *list[LAB_HOST_COUNT + 1];
	size_t n = 0;

	host_file(lab, LAB_PRIMARY, "data", data, sizeof(data));
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		if (!lab_host_in_mode(lab->mode, h) || !lab_is_node(h))
			continue;
		host_file(lab, h, "state", states[n], sizeof(states[n]));
		list[n] = states[n];
		n++;
	}
	list[n] = NULL;
	return lab_app_prepare(lab_app_parse(lab->app), data, list, lab->bindir, err, errlen);
}

/*
 * The steps of `up` after the folder exists, each recorded in lab.json as
 * soon as it is done. On failure err says why and *bad names the node
 * whose log tells more (-1: none).
 */
static int
lab_build(struct lab *lab, int *bad, char *err, size_t errlen)
{
	char made[LAB_HOST_COUNT + 1][LAB_NS_MAX];
	pid_t pids[LAB_HOST_COUNT];
	uint64_t deadline;
	size_t nmade = 0;
	int rc;

	*bad = -1;
	if (mount(lab->dir, lab->dir, NULL, MS_BIND, NULL) < 0) {
		strfmt(err, errlen, "cannot bind %s on itself: %s", lab->dir, strerror(errno));
		return -1;
	}
	lab->selfbind = true;
	if (mount(NULL, lab->dir, NULL, MS_PRIVATE, NULL) < 0) {
		strfmt(err, errlen, "cannot make %s a private mount: %s", lab->dir, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < nitems(node_binds); i++) {
		const char *t = node_binds[i].target;

		if (access(t, F_OK) == 0)
			continue;
		if (mkdir(t, 0755) < 0) {
			strfmt(err, errlen, "cannot create the mount point %s: %s", t, strerror(errno));
			return -1;
		}
		xstrlcpy(lab->mountpoints[lab->nmountpoints++], t, PATH_MAX);
		setxattr(t, MOUNTPOINT_XATTR, "1", 1, 0);       /* best effort */
	}
	if (lab_save(lab) < 0 || write_host_files(lab, err, errlen) < 0)
		return -1;
	rc = labnet_create(lab->prefix, lab->mode, made, &nmade, err, errlen);
	for (size_t i = 0; i < nmade; i++)
		xstrlcpy(lab->ns[lab->nns++], made[i], LAB_NS_MAX);
	if (lab_save(lab) < 0 || rc < 0)
		return -1;
	for (int h = 0; h < LAB_HOST_COUNT; h++)
		if (lab_host_in_mode(lab->mode, h) && mntns_create(lab, h, err, errlen) < 0)
			return -1;
	if (prepare_app(lab, err, errlen) < 0) {
		*bad = LAB_PRIMARY;
		return -1;
	}
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		pids[h] = -1;
		if (!lab_host_in_mode(lab->mode, h) || !lab_is_node(h))
			continue;
		if ((pids[h] = engine_start(lab, h, err, errlen)) < 0) {
			*bad = h;
			return -1;
		}
	}
	deadline = now_mono_ms() + ENGINE_WAIT_MS;
	if (wait_engines(lab, pids, deadline, bad, err, errlen) < 0)
		return -1;
	deadline = now_mono_ms() + APP_WAIT_MS;
	if (wait_app(lab, deadline, err, errlen) < 0) {
		*bad = LAB_PRIMARY;
		return -1;
	}
	return wait_in_sync(lab, now_mono_ms() + SYNC_WAIT_MS, bad, err, errlen);
}

/* Every namespace of the mode is there, and every running node has its mounts. */
static bool
lab_complete(const struct lab *lab)
{
	char ns[LAB_NS_MAX], path[PATH_MAX];

	lab_ns_name(lab->prefix, LAB_SWITCH, ns, sizeof(ns));
	if (!labnet_ns_exists(ns))
		return false;
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		if (!lab_host_in_mode(lab->mode, h))
			continue;
		host_ns(lab, h, ns, sizeof(ns));
		host_file(lab, h, "mntns", path, sizeof(path));
		if (!labnet_ns_exists(ns) || (!lab->killed[h] && !mounted(path, false)))
			return false;
	}
	return true;
}

static bool
dir_is_empty(const char *path)
{
	struct dirent *de;
	bool empty = true;
	DIR *d;

	if ((d = opendir(path)) == NULL)
		return false;
	while (empty && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

/* Remove what a previous, failed or crashed `up` left in the folder. */
static int
wipe_hosts(const struct lab *lab)
{
	char path[PATH_MAX];

	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		strfmt(path, sizeof(path), "%s/%s", lab->dir, lab_host_name(h));
		if (access(path, F_OK) == 0 && remove_tree(path) < 0)
			return -1;
	}
	return 0;
}

/* ---- subcommands ---------------------------------------------------- */

/* "--name VALUE" or "--name=VALUE"; in labwatch.h, for `lab watch` too. */
int
lab_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t len = strlen(name);

	if (strncmp(argv[*i], name, len) != 0)
		return 0;
	if (argv[*i][len] == '=') {
		*val = argv[*i] + len + 1;
		return 1;
	}
	if (argv[*i][len] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

/* A usage error of one subcommand: what was wrong, then its usage line. */
int
lab_usage_error(const char *cmd, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	for (size_t i = 0; lab_commands[i].name != NULL; i++)
		if (strcmp(lab_commands[i].name, cmd) == 0)
			lab_err("%s; usage: lifeline lab [--dir DIR] %s %s", why, cmd,
			    lab_commands[i].args);
	return 2;
}

/*
 * The engines' sockets live under the lab folder and the lab reaches them
 * by path, so the folder's absolute name must leave room for
 * "/secondary/state/lifelined.sock" in a UNIX socket address.
 */
static int
check_lab_dir(const char *dir)
{
	char cwd[PATH_MAX];
	size_t len = strlen(dir);

	if (dir[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			lab_err("cannot read the current folder: %s", strerror(errno));
			return -1;
		}
		len += strlen(cwd) + 1;
	}
	if (len > DIR_MAX_LEN) {
		lab_err("the lab folder %s is too long (%zu characters as an absolute path, at most %d): "
		    "the engines' sockets under it must fit a UNIX socket address", dir, len, DIR_MAX_LEN);
		return -1;
	}
	return 0;
}

/*
 * Get the folder ready for a new lab, locked. A lab already up as asked
 * stays (returns 1); one up otherwise is refused; what a failed or crashed
 * `up` left is removed first. Returns 0 when the caller may build, -1
 * after a message.
 */
static int
lab_prepare(struct lab *lab, const char *dir, enum lab_mode mode, const char *app,
    const char *repl)
{
	int rc;

	if ((rc = lab_open(lab, dir)) < 0)
		return -1;
	if (rc == 0) {
		if (lab->dir[0] != '\0' && !dir_is_empty(lab->dir)) {
			lab_err("%s exists and is not a lab folder (no %s); choose another --dir",
			    lab->dir, LAB_JSON);
			return -1;
		}
		if (mkdir_p(dir, 0755) < 0) {
			lab_err("cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
		if (lab_open(lab, dir) < 0 || lab_lock(lab) < 0)
			return -1;
		lab_teardown(lab);      /* namespaces of a crash before lab.json existed */
		return 0;
	}
	if (lab_lock(lab) < 0 || lab_load(lab) < 0)
		return -1;
	if (lab->state == STATE_UP && lab_complete(lab)) {
		if (lab->mode == mode && strcmp(lab->app, app) == 0 &&
		    strcmp(lab->replication, repl) == 0) {
			printf("lab already up in mode %s at %s\n", lab_mode_name(mode), lab->dir);
			return 1;
		}
		lab_err("lab already up in mode %s at %s (app %s, replication %s); run lifeline lab down first",
		    lab_mode_name(lab->mode), lab->dir, lab->app, lab->replication);
		return -1;
	}
	if (lab_teardown(lab) < 0 || wipe_hosts(lab) < 0)
		return -1;
	return 0;
}

static int
lab_up(const char *dir, int argc, char **argv)
{
	const char *mode = "ha", *app = "sample", *repl = "async", *env;
	char err[1024], bindir[PATH_MAX], engine[PATH_MAX], sample[PATH_MAX];
	struct lab lab;
	int rc, bad, m;

	for (int i = 1; i < argc; i++) {
		if ((rc = lab_opt_value(argc, argv, &i, "--mode", &mode)) == 0 &&
		    (rc = lab_opt_value(argc, argv, &i, "--app", &app)) == 0 &&
		    (rc = lab_opt_value(argc, argv, &i, "--replication", &repl)) == 0)
			return lab_usage_error("up", "unexpected argument \"%s\"", argv[i]);
		if (rc < 0) {
			lab_err("%s needs a value", argv[i]);
			return 2;
		}
	}
	if ((m = lab_mode_parse(mode)) < 0)
		return lab_usage_error("up", "unknown --mode \"%s\", expected ha, dr or ha+dr", mode);
	if (lab_app_parse(app) < 0)
		return lab_usage_error("up", "unknown --app \"%s\", expected sample, postgresql or mariadb", app);
	if (lab_app_missing(lab_app_parse(app)) != NULL) {
		lab_err("--app %s needs %s", app, lab_app_missing(lab_app_parse(app)));
		return 1;
	}
	if (strcmp(repl, "async") != 0 && strcmp(repl, "fsync") != 0 && strcmp(repl, "sync") != 0)
		return lab_usage_error("up", "unknown --replication \"%s\", expected async, fsync or sync", repl);
	if (self_bindir(bindir, sizeof(bindir)) < 0 || check_lab_dir(dir) < 0)
		return 1;
	if ((env = getenv("LIFELINE_LAB_ENGINE")) != NULL && env[0] != '\0')
		xstrlcpy(engine, env, sizeof(engine));
	else
		strfmt(engine, sizeof(engine), "%s/lifelined", bindir);
	strfmt(sample, sizeof(sample), "%s/lifeline-sample", bindir);
	if (access(engine, X_OK) < 0) {
		lab_err("no engine %s (%s): build it first, or name another in LIFELINE_LAB_ENGINE",
		    engine, strerror(errno));
		return 1;
	}
	if (access(sample, X_OK) < 0) {
		lab_err("no %s (%s): build it first", sample, strerror(errno));
		return 1;
	}

	if ((rc = lab_prepare(&lab, dir, m, app, repl)) != 0)
		return rc < 0 ? 1 : 0;
	lab.state = STATE_BUILDING;
	lab.mode = m;
	xstrlcpy(lab.app, app, sizeof(lab.app));
	xstrlcpy(lab.replication, repl, sizeof(lab.replication));
	xstrlcpy(lab.bindir, bindir, sizeof(lab.bindir));
	xstrlcpy(lab.engine, engine, sizeof(lab.engine));
	if (lab_save(&lab) < 0)
		return 1;
	if (lab_build(&lab, &bad, err, sizeof(err)) < 0)
		goto fail;
	lab.state = STATE_UP;
	if (lab_save(&lab) < 0)
		return 1;
	printf("lab up in mode %s at %s:", mode, lab.dir);
	for (int h = 0; h < LAB_HOST_COUNT; h++)
		if (lab_host_in_mode(lab.mode, h))
			printf(" %s", lab_host_name(h));
	printf("\ntry: lifeline lab status; lifeline lab exec client -- lifeline-sample ask %s:%d GET\n",
	    SAMPLE_ADDR, SAMPLE_PORT);
	return 0;
fail:
	lab_err("up failed: %s", err);
	if (bad >= 0)
		print_log_tail(&lab, bad);
	lab_teardown(&lab);
	lab.state = STATE_FAILED;
	lab_save(&lab);
	fprintf(stderr, "lifeline lab: the logs stay in %s; lifeline lab down removes them\n", lab.dir);
	return 1;
}

static int
lab_down(const char *dir, int argc, char **argv)
{
	struct lab lab;
	int rc;

	if (argc > 1)
		return lab_usage_error("down", "unexpected argument \"%s\"", argv[1]);
	if ((rc = lab_open(&lab, dir)) <= 0) {
		if (rc == 0)
			printf("no lab at %s\n", dir);
		return rc < 0 ? 1 : 0;
	}
	if (lab_lock(&lab) < 0)
		return 1;
	if (lab_teardown(&lab) < 0) {
		lab.state = STATE_FAILED;
		lab_save(&lab);
		lab_err("down incomplete: %s kept; run lifeline lab down again", lab.dir);
		return 1;
	}
	if (remove_tree(lab.dir) < 0)
		return 1;
	printf("lab at %s removed\n", lab.dir);
	return 0;
}

static int
lab_exec(const char *dir, int argc, char **argv)
{
	char err[PATH_MAX + 128], cwd[PATH_MAX];
	struct lab lab;
	int h;

	if (argc < 4 || strcmp(argv[2], "--") != 0)
		return lab_usage_error("exec", "expected a node, --, and a command");
	if (lab_require(&lab, dir, false) < 0 || (h = host_arg(&lab, argv[1], false)) < 0)
		return 1;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		xstrlcpy(cwd, "/", sizeof(cwd));
	if (node_enter(&lab, h, err, sizeof(err)) < 0) {
		lab_err("exec: %s", err);
		return 1;
	}
	if (chdir(cwd) < 0 && chdir("/") < 0)
		lab_err("exec: cannot change to %s or /: %s", cwd, strerror(errno));
	set_path_env(&lab);
	fflush(NULL);
	execvp(argv[3], argv + 3);
	lab_err("exec: cannot run %s in %s: %s", argv[3], lab_host_name(h), strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

/*
 * Power loss. Every process of the node dies at once, its mounts go, and
 * so does whatever its engine did to its network (the public IP, packet
 * filter tables): the namespace is made again as at boot, links down.
 */
static int
lab_kill(const char *dir, int argc, char **argv)
{
	struct nsid ids[2];
	char err[1024], pidfile[PATH_MAX];
	struct lab lab;
	size_t left;
	int h, rc = 1;

	if (argc != 2)
		return lab_usage_error("kill", "expected one node");
	if (lab_require(&lab, dir, true) < 0)
		return 1;
	if ((h = host_arg(&lab, argv[1], true)) < 0)
		goto out;
	left = signal_until_gone(ids, lab_nsids(&lab, h, ids, nitems(ids)), SIGKILL, PROC_STOP_MS);
	if (left > 0) {
		lab_err("kill: %zu processes of %s survive SIGKILL", left, lab_host_name(h));
		goto out;
	}
	lab.killed[h] = true;
	mntns_destroy(&lab, h);
	host_file(&lab, h, "lifelined.pid", pidfile, sizeof(pidfile));
	unlink(pidfile);
	if (labnet_delete_host(lab.prefix, lab.mode, h) < 0) {
		lab_err("kill: cannot delete the network namespace of %s", lab_host_name(h));
		lab_save(&lab);
		goto out;
	}
	if (labnet_create_host(lab.prefix, lab.mode, h, false, err, sizeof(err)) < 0) {
		lab_err("kill: making the network of %s again: %s", lab_host_name(h), err);
		lab_save(&lab);
		goto out;
	}
	if (lab_save(&lab) < 0)
		goto out;
	printf("%s powered off\n", lab_host_name(h));
	rc = 0;
out:
	lab_unlock(&lab);
	return rc;
}

static int
lab_boot(const char *dir, int argc, char **argv)
{
	pid_t pids[LAB_HOST_COUNT];
	char err[1024];
	struct lab lab;
	int h, bad, rc = 1;

	if (argc != 2)
		return lab_usage_error("boot", "expected one node");
	if (lab_require(&lab, dir, true) < 0)
		return 1;
	if ((h = host_arg(&lab, argv[1], true)) < 0)
		goto out;
	if (!lab.killed[h] && (pids[h] = engine_pid(&lab, h)) > 0) {
		printf("%s is running (engine pid %d)\n", lab_host_name(h), (int)pids[h]);
		rc = 0;
		goto out;
	}
	if (labnet_set_links(lab.prefix, lab.mode, h, LAB_CUT_ALL & ~lab.cut[h], true,
	    err, sizeof(err)) < 0)
		goto fail;
	lab.killed[h] = false;
	if (mntns_create(&lab, h, err, sizeof(err)) < 0) {
		lab.killed[h] = true;
		goto fail;
	}
	lab_save(&lab);
	for (int i = 0; i < LAB_HOST_COUNT; i++)
		pids[i] = -1;
	if ((pids[h] = engine_start(&lab, h, err, sizeof(err))) < 0 ||
	    wait_engines(&lab, pids, now_mono_ms() + ENGINE_WAIT_MS, &bad, err, sizeof(err)) < 0) {
		lab_err("boot: %s", err);
		print_log_tail(&lab, h);
		goto out;
	}
	printf("%s booted (engine pid %d)\n", lab_host_name(h), (int)pids[h]);
	rc = 0;
	goto out;
fail:
	lab_err("boot: %s", err);
out:
	lab_unlock(&lab);
	return rc;
}

static int
lab_cut(const char *dir, int argc, char **argv)
{
	char err[1024];
	struct lab lab;
	int h, cut, rc = 1;

	if (argc != 3)
		return lab_usage_error("cut", "expected a node and a network");
	if ((cut = lab_cut_parse(argv[2])) < 0)
		return lab_usage_error("cut", "unknown network \"%s\", expected public, channel, "
		    "channel-ps, channel-ps2, channel-pt, channel-st, management or all",
		    argv[2]);
	if (lab_require(&lab, dir, true) < 0)
		return 1;
	if ((h = host_arg(&lab, argv[1], false)) < 0)
		goto out;
	lab.cut[h] |= (unsigned)cut;
	if (!lab.killed[h] &&
	    labnet_set_links(lab.prefix, lab.mode, h, (unsigned)cut, false, err, sizeof(err)) < 0) {
		lab_err("cut: %s", err);
		lab_save(&lab);
		goto out;
	}
	if (lab_save(&lab) < 0)
		goto out;
	printf("%s: %s cut\n", lab_host_name(h), argv[2]);
	rc = 0;
out:
	lab_unlock(&lab);
	return rc;
}

static int
lab_heal(const char *dir, int argc, char **argv)
{
	char err[1024];
	struct lab lab;
	int only = -1, rc = 1, healed = 0;

	if (argc > 2)
		return lab_usage_error("heal", "expected at most one node");
	if (lab_require(&lab, dir, true) < 0)
		return 1;
	if (argc == 2 && (only = host_arg(&lab, argv[1], false)) < 0)
		goto out;
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		if ((only >= 0 && h != only) || lab.cut[h] == 0)
			continue;
		if (!lab.killed[h] && labnet_set_links(lab.prefix, lab.mode, h, lab.cut[h], true,
		    err, sizeof(err)) < 0) {
			lab_err("heal: %s", err);
			goto out;
		}
		printf("%s: healed\n", lab_host_name(h));
		lab.cut[h] = 0;
		healed++;
	}
	if (lab_save(&lab) < 0)
		goto out;
	if (healed == 0)
		printf("nothing was cut\n");
	rc = 0;
out:
	lab_unlock(&lab);
	return rc;
}

static int
lab_path(const char *dir, int argc, char **argv)
{
	struct lab lab;
	int h;

	if (argc != 3)
		return lab_usage_error("path", "expected a node and data, config or state");
	for (size_t i = 0; i < nitems(node_paths); i++) {
		if (strcmp(argv[2], node_paths[i].what) != 0)
			continue;
		if (lab_require(&lab, dir, false) < 0 || (h = host_arg(&lab, argv[1], true)) < 0)
			return 1;
		printf("%s/%s/%s\n", lab.dir, lab_host_name(h), node_paths[i].sub);
		return 0;
	}
	return lab_usage_error("path", "unknown folder \"%s\", expected data, config or state", argv[2]);
}

/* One line of `lab status` for a node that answered. */
static void
print_node_status(int host, json_t *st)
{
	const char *self = json_string_value(json_object_get(st, "self"));
	const char *role = "?", *repl;
	json_t *node, *svc;
	size_t i;

	json_array_foreach(json_object_get(st, "nodes"), i, node) {
		const char *id = json_string_value(json_object_get(node, "identity"));

		if (id != NULL && self != NULL && strcmp(id, self) == 0 &&
		    json_is_string(json_object_get(node, "role")))
			role = json_string_value(json_object_get(node, "role"));
	}
	repl = json_string_value(json_object_get(json_object_get(st, "replication"), "state"));
	printf("%-10s %-8s epoch %-4" JSON_INTEGER_FORMAT " replication %-12s services",
	    lab_host_name(host), role, json_integer_value(json_object_get(st, "epoch")),
	    repl != NULL ? repl : "?");
	json_array_foreach(json_object_get(st, "services"), i, svc) {
		const char *name = json_string_value(json_object_get(svc, "name"));
		const char *state = json_string_value(json_object_get(svc, "state"));

		printf(" %s=%s", name != NULL ? name : "?", state != NULL ? state : "?");
	}
	if (i == 0)
		printf(" none");
	if (self != NULL && strcmp(self, lab_host_name(host)) != 0)
		printf(" (answers as %s!)", self);
	printf("\n");
}

static int
lab_status(const char *dir, int argc, char **argv)
{
	json_t *all;
	struct lab lab;
	bool json = false;
	int unreachable = 0, nodes = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return lab_usage_error("status", "unexpected argument \"%s\"", argv[i]);
		json = true;
	}
	if (lab_require(&lab, dir, false) < 0)
		return 1;
	all = json_object();
	if (!json)
		printf("lab at %s: mode %s, app %s, replication %s%s\n", lab.dir,
		    lab_mode_name(lab.mode), lab.app, lab.replication,
		    lab.state == STATE_UP ? "" : lab.state == STATE_FAILED ? " (up failed)" : " (being built)");
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		char err[1024], cuts[64] = "";
		json_t *st = NULL;

		if (!lab_host_in_mode(lab.mode, h) || !lab_is_node(h))
			continue;
		nodes++;
		if (lab.killed[h])
			strfmt(err, sizeof(err), "powered off (lifeline lab kill)");
		else
			st = engine_status(&lab, h, 2000, err, sizeof(err));
		for (unsigned bit = 1; bit < LAB_CUT_ALL; bit <<= 1)
			if (lab.cut[h] & bit)
				strfmt(cuts + strlen(cuts), sizeof(cuts) - strlen(cuts), "%s%s",
				    cuts[0] != '\0' ? "," : "", lab_cut_name(bit));
		if (st == NULL) {
			unreachable++;
			if (json)
				json_object_set_new(all, lab_host_name(h), json_pack("{s:s}",
				    "unreachable", err));
			else
				printf("%-10s unreachable: %s\n", lab_host_name(h), err);
		} else if (json)
			json_object_set_new(all, lab_host_name(h), st);
		else {
			print_node_status(h, st);
			json_decref(st);
		}
		if (!json && cuts[0] != '\0')
			printf("%-10s cut: %s\n", "", cuts);
	}
	if (json) {
		json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
	}
	json_decref(all);
	fflush(stdout);
	if (unreachable > 0) {
		lab_err("%d of %d nodes did not answer", unreachable, nodes);
		return 1;
	}
	return 0;
}

int
lab_main(int argc, char **argv)
{
	const char *dir = LAB_DEFAULT_DIR;
	char **args = xcalloc((size_t)argc + 1, sizeof(*args));
	bool dashdash = false;
	int nargs = 0, rc = 2;

	for (int i = 1; i < argc; i++) {
		int r = 0;

		if (!dashdash && strcmp(argv[i], "--") == 0)
			dashdash = true;
		if (!dashdash && (r = lab_opt_value(argc, argv, &i, "--dir", &dir)) < 0) {
			lab_err("%s needs a value", argv[i]);
			goto out;
		}
		if (r == 0)
			args[nargs++] = argv[i];
	}
	if (dir[0] == '\0') {
		lab_err("--dir needs a folder");
		goto out;
	}
	if (nargs == 0) {
		lab_help(stderr);
		goto out;
	}
	if (strcmp(args[0], "help") == 0 || strcmp(args[0], "-h") == 0 ||
	    strcmp(args[0], "--help") == 0) {
		lab_help(stdout);
		rc = 0;
		goto out;
	}
	for (size_t i = 0; lab_commands[i].name != NULL; i++)
		if (strcmp(args[0], lab_commands[i].name) == 0) {
			rc = lab_commands[i].run(dir, nargs, args);
			goto out;
		}
	lab_err("unknown lab command \"%s\", expected up, down, exec, kill, boot, cut, heal, path, status or watch",
	    args[0]);
out:
	free(args);
	return rc;
}
