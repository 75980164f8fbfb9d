/*
 * The config watcher (confwatch.h): inotify watches over each config
 * entry and the folder holding it, a set of dirty entries, and flushes
 * that read each dirty entry whole and journal it.
 */
#include "repl/confwatch.h"
#include "repl/beneath.h"
#include "repl/confop.h"
#include "repl/record.h"
#include "common/log.h"
#include "common/util.h"

#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_MASK  (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | \
    IN_MODIFY | IN_ATTRIB | IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK)
#define EVENTS_BUF  65536
#define LIMIT_PATH  "/proc/sys/fs/inotify/max_user_watches"

/* The file the watch limit is read from and raised in (tests point it elsewhere). */
static const char *limit_path = LIMIT_PATH;
#define LIMIT_MAX   (1u << 22)       /* never raise the watch limit past this */

/* A watched folder: config entry ci, path in its root ("" the folder holding the entry). */
struct watch {
	int		 wd;
	uint16_t	 ci;
	char		*path;
};

/*
 * An entry to send. deep: with all below it (a folder made or moved in).
 * born: its first event since the last flush made it, so if it is gone
 * by the flush, no node ever had it and nothing is sent.
 */
struct dirty {
	uint16_t	 ci;
	bool		 deep, born;
	bool		 sent;        /* this flush sent it (its removal) */
	bool		 gone;        /* an event removed or moved it away: even if the name
				         is back by the flush, the passive's goes first */
	char		*path;
};

struct confwatch {
	const struct confroots	*cr;
	int			*rootfds;
	bool			 refresh_due;     /* a held folder went: look at the paths */
	confwatch_emit_fn	*emit;
	void			*arg;
	int			 fd;
	struct watch		*watches;
	size_t			 nwatches, watches_cap;
	struct dirty		*dirty;
	size_t			 ndirty, dirty_cap;
	bool			 flushing;
	bool			 limit_tried;
	uint8_t			*buf;            /* CONFOP_MAX_DATA: an entry being read */
	char			 target[OP_PATH_MAX + 1];
	struct confwatch_stats	 st;
};

static void
problem(struct confwatch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
problem(struct confwatch *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->st.last_problem, sizeof(w->st.last_problem), fmt, ap);
	va_end(ap);
	log_warnx("config watcher: %s", w->st.last_problem);
}

/* ---- watches ---- */

void
confwatch_limit_file(const char *path)
{
	limit_path = path != NULL ? path : LIMIT_PATH;
}

/* One more allowed watch than now, doubled, once: what an administrator would do. */
static bool
raise_limit(struct confwatch *w)
{
	char *text;
	unsigned long now;
	char next[32];

	if (w->limit_tried)
		return false;
	w->limit_tried = true;
	if ((text = read_file(limit_path, 64, NULL)) == NULL)
		return false;
	now = strtoul(text, NULL, 10);
	free(text);
	if (now == 0 || now >= LIMIT_MAX)
		return false;
	snprintf(next, sizeof(next), "%lu\n", now * 2 > LIMIT_MAX ? LIMIT_MAX : now * 2);
	if (write_file_atomic(limit_path, next, strlen(next), 0644) < 0) {
		/* /proc files cannot be renamed over: write in place. */
		FILE *f = fopen(limit_path, "we");

		if (f == NULL || fputs(next, f) == EOF || fclose(f) != 0)
			return false;
	}
	problem(w, "raised fs.inotify.max_user_watches from %lu to %s to watch every config "
	    "folder; set it in sysctl.conf to keep it", now, strtok(next, "\n"));
	return true;
}

static void
watch_add(struct confwatch *w, uint16_t ci, const char *path)
{
	const struct confroot *r = &w->cr->v[ci];
	char abs[PATH_MAX];
	int wd;

	uint32_t mask = WATCH_MASK;

	if (path[0] == '\0') {
		snprintf(abs, sizeof(abs), "%s", r->parent);
		mask |= IN_DELETE_SELF | IN_MOVE_SELF;     /* the held folder went: refresh */
	} else if (!confroot_abspath(r, path, abs, sizeof(abs))) {
		return;
	}
	while ((wd = inotify_add_watch(w->fd, abs, mask)) == -1 && errno == ENOSPC &&
	    raise_limit(w))
		;
	if (wd == -1) {
		if (errno == ENOSPC) {
			w->st.watch_limit = true;
			problem(w, "cannot watch %s: fs.inotify.max_user_watches is reached; changes "
			    "below it are not replicated until it is raised (sysctl "
			    "fs.inotify.max_user_watches) and the engine restarted", abs);
		} else if (errno != ENOENT && errno != ENOTDIR) {
			problem(w, "cannot watch %s: %s", abs, strerror(errno));
		}
		return;
	}
	for (size_t i = 0; i < w->nwatches; i++)
		if (w->watches[i].wd == wd && w->watches[i].ci == ci) {
			free(w->watches[i].path);
			w->watches[i].path = xstrdup(path);
			return;
		}
	if (w->nwatches == w->watches_cap) {
		w->watches_cap = w->watches_cap ? 2 * w->watches_cap : 16;
		w->watches = xrealloc(w->watches, w->watches_cap * sizeof(*w->watches));
	}
	w->watches[w->nwatches++] = (struct watch){ .wd = wd, .ci = ci, .path = xstrdup(path) };
	w->st.watches = w->nwatches;
}

static bool
is_at_or_below(const char *path, const char *top)
{
	size_t n = strlen(top);

	return strncmp(path, top, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void
watch_remove_at(struct confwatch *w, size_t i)
{
	free(w->watches[i].path);
	w->watches[i] = w->watches[--w->nwatches];
	w->st.watches = w->nwatches;
}

/* A folder went away or moved: its watches and those below it go (a flush adds them again). */
static void
watches_drop_below(struct confwatch *w, uint16_t ci, const char *path)
{
	for (size_t i = 0; i < w->nwatches;) {
		if (w->watches[i].ci == ci && w->watches[i].path[0] != '\0' &&
		    is_at_or_below(w->watches[i].path, path)) {
			inotify_rm_watch(w->fd, w->watches[i].wd);
			watch_remove_at(w, i);
		} else {
			i++;
		}
	}
}

/* ---- the dirty set ---- */

static struct dirty *
dirty_add(struct confwatch *w, uint16_t ci, const char *path, bool deep, bool born)
{
	for (size_t i = 0; i < w->ndirty; i++)
		if (w->dirty[i].ci == ci && strcmp(w->dirty[i].path, path) == 0) {
			w->dirty[i].deep |= deep;
			return &w->dirty[i];
		}
	if (w->ndirty == w->dirty_cap) {
		w->dirty_cap = w->dirty_cap ? 2 * w->dirty_cap : 16;
		w->dirty = xrealloc(w->dirty, w->dirty_cap * sizeof(*w->dirty));
	}
	w->dirty[w->ndirty++] = (struct dirty){ .ci = ci, .deep = deep, .born = born,
	    .path = xstrdup(path) };
	return &w->dirty[w->ndirty - 1];
}

static void
dirty_clear(struct confwatch *w, size_t from)
{
	for (size_t i = from; i < w->ndirty; i++)
		free(w->dirty[i].path);
	w->ndirty = from;
}

void
confwatch_all_dirty_locked(struct confwatch *w)
{
	for (size_t ci = 0; ci < w->cr->n; ci++)
		dirty_add(w, (uint16_t)ci, w->cr->v[ci].name, true, false);
}

void
confwatch_want_locked(struct confwatch *w, uint16_t root, const char *path)
{
	if (!confroots_covers(w->cr, root, path, strlen(path)))
		return;
	dirty_add(w, (uint16_t)(root - w->cr->first), path, true, false);
}

/* ---- events ---- */

/* What one event means for the watch it came on. */
static void
on_event(struct confwatch *w, const struct watch *wa, const struct inotify_event *ev)
{
	const struct confroot *r = &w->cr->v[wa->ci];
	uint16_t root = (uint16_t)(w->cr->first + wa->ci);
	char rel[OP_PATH_MAX + 1];
	struct dirty *d;
	bool made = ev->mask & (IN_CREATE | IN_MOVED_TO);
	/* Only a creation is "born": a rename over a name replaces what the passive has. */
	bool born = ev->mask & IN_CREATE;
	int n;

	if (wa->path[0] == '\0') {
		if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
			w->refresh_due = true;
			return;
		}
		/* The folder holding the entry: only the entry's own name matters. */
		if (ev->len == 0 || strcmp(ev->name, r->name) != 0)
			return;
		n = snprintf(rel, sizeof(rel), "%s", ev->name);
	} else if (ev->len == 0) {
		n = snprintf(rel, sizeof(rel), "%s", wa->path);      /* the folder itself */
		made = born = false;
	} else {
		n = snprintf(rel, sizeof(rel), "%s/%s", wa->path, ev->name);
	}
	if (n < 0 || (size_t)n >= sizeof(rel) || !op_path_valid(rel, (size_t)n) ||
	    !confroots_covers(w->cr, root, rel, (size_t)n))
		return;
	if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_DELETE | IN_MOVED_FROM)))
		watches_drop_below(w, wa->ci, rel);
	d = dirty_add(w, wa->ci, rel, made && (ev->mask & IN_ISDIR), born);
	d->gone |= (ev->mask & (IN_DELETE | IN_MOVED_FROM)) != 0;
}

void
confwatch_take_locked(struct confwatch *w)
{
	_Alignas(struct inotify_event) char buf[EVENTS_BUF];
	const struct inotify_event *ev;
	ssize_t n;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			w->st.events++;
			if (ev->mask & IN_Q_OVERFLOW) {
				w->st.overflows++;
				problem(w, "the kernel's event queue overflowed: every config entry "
				    "is sent again; what was removed meanwhile is found by the next "
				    "check");
				confwatch_all_dirty_locked(w);
				continue;
			}
			for (size_t i = 0; i < w->nwatches;) {
				if (w->watches[i].wd != ev->wd) {
					i++;
				} else if (ev->mask & IN_IGNORED) {
					w->refresh_due |= w->watches[i].path[0] == '\0';
					watch_remove_at(w, i);
				} else {
					on_event(w, &w->watches[i], ev);
					i++;
				}
			}
		}
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		problem(w, "reading inotify events: %s", strerror(errno));
}

bool
confwatch_changed_locked(struct confwatch *w)
{
	confwatch_take_locked(w);
	return w->ndirty > 0 || w->refresh_due;
}

/* ---- flushing ---- */

static int
cmp_dirty(const void *x, const void *y)
{
	const struct dirty *a = x, *b = y;

	return a->ci != b->ci ? (int)a->ci - (int)b->ci : strcmp(a->path, b->path);
}

static int send_tree(struct confwatch *, uint16_t, const char *, bool);

/* Everything below folder path, in name order, each folder watched before it is listed. */
static int
send_below(struct confwatch *w, uint16_t ci, const char *path, bool emit)
{
	char rel[OP_PATH_MAX + 1], **names;
	size_t n;
	int rc = 0;

	if ((names = confop_names(w->rootfds[ci], path, &n)) == NULL)
		return 0;       /* gone: its own record says so */
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(rel, sizeof(rel), "%s/%s", path, names[i]);

		if (rc == 0 && len > 0 && (size_t)len < sizeof(rel) &&
		    confroots_covers(w->cr, w->cr->first + ci, rel, (size_t)len))
			rc = send_tree(w, ci, rel, emit);
		free(names[i]);
	}
	free(names);
	return rc;
}

/*
 * Send entry path of ci as it is now (emit false: only watch), and with
 * deep all below it. A folder is watched before it is read, so nothing
 * made in it afterwards is missed. 0, or -1 when journaling failed.
 */
static int
send_tree(struct confwatch *w, uint16_t ci, const char *path, bool emit)
{
	struct op op;
	char why[512];
	enum confop_read r;

	r = confop_read(w->rootfds[ci], (uint16_t)(w->cr->first + ci), path, w->buf, w->target,
	    &op, why, sizeof(why));
	if (r == CONFOP_GONE)
		return 0;                 /* changed while read: its event follows */
	if (r == CONFOP_SKIP) {
		w->st.skipped++;
		problem(w, "not replicated: %s", why);
		return 0;
	}
	if (r == CONFOP_FAIL) {
		w->st.errors++;
		problem(w, "cannot read: %s", why);
		return 0;
	}
	if (op.type == RECORD_CONFIG_DIR)
		watch_add(w, ci, path);
	if (emit) {
		if (w->emit(w->arg, &op) < 0) {
			w->st.errors++;
			return -1;
		}
		w->st.emitted++;
	}
	return op.type == RECORD_CONFIG_DIR ? send_below(w, ci, path, emit) : 0;
}

/*
 * One dirty entry that is gone: its removal, unless it came and went
 * unseen (then nothing). Marked sent either way; an entry that exists is
 * left for send_dirty. -1 when journaling failed.
 */
static int
send_removal(struct confwatch *w, struct dirty *d)
{
	struct op op = { .type = RECORD_CONFIG_REMOVE, .root = (uint16_t)(w->cr->first + d->ci),
	    .path = d->path, .path_len = (uint16_t)strlen(d->path) };
	char dir[OP_PATH_MAX + 1];
	const char *slash = strrchr(d->path, '/');
	struct stat st;
	int fd;

	bool here;

	if ((fd = open_beneath(w->rootfds[d->ci], d->path, O_PATH | O_NOFOLLOW, 0)) != -1)
		close(fd);
	else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
		return 0;                 /* send_dirty says what is wrong with it */
	/* Back under the same name (removed, then made again): the old one goes first. */
	if ((here = fd != -1) && !d->gone)
		return 0;
	d->sent = !here;
	if (d->born)
		return 0;
	/* The folder's mtime after the removal, when the folder is still there. */
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - d->path) : 0, d->path);
	if (slash != NULL && (fd = open_beneath(w->rootfds[d->ci], dir, O_RDONLY | O_DIRECTORY,
	    0)) != -1) {
		if (fstat(fd, &st) == 0) {
			op.dir_mtime_sec = st.st_mtim.tv_sec;
			op.dir_mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
		}
		close(fd);
	}
	if (w->emit(w->arg, &op) < 0) {
		d->sent = false;
		w->st.errors++;
		return -1;
	}
	w->st.emitted++;
	d->deep |= here;                  /* what it holds now goes whole after */
	return 0;
}

/* One dirty entry: as it is now, unless it came and went unseen. */
static int
send_dirty(struct confwatch *w, const struct dirty *d)
{
	struct op op;
	char why[512];
	enum confop_read r;

	if (d->deep)
		return send_tree(w, d->ci, d->path, true);
	r = confop_read(w->rootfds[d->ci], (uint16_t)(w->cr->first + d->ci), d->path, w->buf,
	    w->target, &op, why, sizeof(why));
	if (r == CONFOP_GONE)
		return 0;                 /* changed while read: its event follows */
	if (r == CONFOP_SKIP || r == CONFOP_FAIL) {
		*(r == CONFOP_SKIP ? &w->st.skipped : &w->st.errors) += 1;
		problem(w, "%s: %s", r == CONFOP_SKIP ? "not replicated" : "cannot read", why);
		return 0;
	}
	if (op.type == RECORD_CONFIG_REMOVE && d->born)
		return 0;
	if (op.type == RECORD_CONFIG_DIR)
		watch_add(w, d->ci, d->path);
	if (w->emit(w->arg, &op) < 0) {
		w->st.errors++;
		return -1;
	}
	w->st.emitted++;
	return 0;
}

/* Entry ci's folder is not the one held: hold and watch the new one, send it all again. */
static void
replace_root(struct confwatch *w, uint16_t ci, int fd)
{
	const struct confroot *r = &w->cr->v[ci];

	for (size_t i = 0; i < w->nwatches;) {
		if (w->watches[i].ci == ci) {
			inotify_rm_watch(w->fd, w->watches[i].wd);
			watch_remove_at(w, i);
		} else {
			i++;
		}
	}
	close(w->rootfds[ci]);
	w->rootfds[ci] = fd;
	watch_add(w, ci, "");
	send_tree(w, ci, r->name, false);
	dirty_add(w, ci, r->name, true, false);
	problem(w, "the folder %s holding config entry %s was replaced: watching the new one and "
	    "sending the entry again", r->parent, r->entry);
}

int
confwatch_refresh_locked(struct confwatch *w)
{
	struct stat now, held;
	int replaced = 0, fd;

	w->refresh_due = false;
	for (size_t ci = 0; ci < w->cr->n; ci++) {
		const struct confroot *r = &w->cr->v[ci];

		if (stat(r->parent, &now) == -1 || !S_ISDIR(now.st_mode)) {
			w->refresh_due = true;     /* gone for now: looked at again */
			continue;
		}
		if (fstat(w->rootfds[ci], &held) == 0 && held.st_dev == now.st_dev &&
		    held.st_ino == now.st_ino)
			continue;
		if ((fd = open(r->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			continue;
		replace_root(w, (uint16_t)ci, fd);
		replaced++;
	}
	return replaced;
}

int
confwatch_sync_locked(struct confwatch *w)
{
	uint64_t before = w->st.emitted;
	size_t i, kept = 0;
	int rc = 0;

	if (w->flushing)
		return 0;                 /* our own emit reached the capture's hook */
	w->flushing = true;
	confwatch_take_locked(w);
	if (w->refresh_due)
		confwatch_refresh_locked(w);
	if (w->ndirty > 1)
		qsort(w->dirty, w->ndirty, sizeof(*w->dirty), cmp_dirty);
	/*
	 * Removals first, deepest first (an rm -r's files before their
	 * folder, which is then empty on the passive), then the rest in
	 * tree order (a folder before what it holds).
	 */
	for (i = w->ndirty; i > 0 && rc == 0; i--)
		rc = send_removal(w, &w->dirty[i - 1]);
	for (i = 0; i < w->ndirty && rc == 0; i++)
		if (!w->dirty[i].sent) {
			rc = send_dirty(w, &w->dirty[i]);
			w->dirty[i].sent = rc == 0;
		}
	/* Journaling failed: what was not sent stays dirty for the next flush. */
	for (i = 0; i < w->ndirty; i++) {
		if (rc == 0 || w->dirty[i].sent)
			free(w->dirty[i].path);
		else
			w->dirty[kept++] = w->dirty[i];
	}
	w->ndirty = kept;
	w->flushing = false;
	return rc < 0 ? -1 : (int)(w->st.emitted - before);
}

/* ---- life ---- */

struct confwatch *
confwatch_new(const struct confroots *cr, int *rootfds, confwatch_emit_fn *emit,
    void *arg, char *err, size_t errlen)
{
	struct confwatch *w = xcalloc(1, sizeof(*w));

	w->cr = cr;
	w->rootfds = rootfds;
	w->emit = emit;
	w->arg = arg;
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		why_printf(err, errlen, "inotify: %s", strerror(errno));
		free(w);
		return NULL;
	}
	w->buf = xmalloc(CONFOP_MAX_DATA);
	for (size_t ci = 0; ci < cr->n; ci++) {
		watch_add(w, (uint16_t)ci, "");
		send_tree(w, (uint16_t)ci, cr->v[ci].name, false);
	}
	return w;
}

void
confwatch_free(struct confwatch *w)
{
	if (w == NULL)
		return;
	close(w->fd);
	for (size_t i = 0; i < w->nwatches; i++)
		free(w->watches[i].path);
	dirty_clear(w, 0);
	free(w->watches);
	free(w->dirty);
	free(w->buf);
	free(w);
}

int
confwatch_fd(const struct confwatch *w)
{
	return w->fd;
}

void
confwatch_stats(const struct confwatch *w, struct confwatch_stats *st)
{
	*st = w->st;
}
