/*
 * The data plane of one node: which parts run in which role, and the
 * order of a role change. The capture's sink (journal append under the
 * ordering lock, fsync-mode waits), the applier thread of a passive node
 * and the status of replication live here; the parts themselves are
 * journal, capture, stream and apply.
 */
#include "repl/plane.h"
#include "repl/apply.h"
#include "repl/capture.h"
#include "repl/check.h"
#include "repl/confcheck.h"
#include "repl/confroot.h"
#include "repl/confwatch.h"
#include "repl/hashcache.h"
#include "repl/history.h"
#include "repl/journal.h"
#include "repl/op.h"
#include "repl/stream.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS            10        /* activation and drain look again after this */
#define ACTIVATE_MAX_MS    120000    /* the applier must catch up within this */
#define TICK_MS            100
#define CHECK_POLL_MS      5         /* a check's end is looked for this often while it runs */
#define PACE_RECORDS       32        /* a scan runs at most this far ahead of the first sender, */
#define PACE_WAIT_US       200       /* ... waiting this long at a time for it, */
#define PACE_WAITS         25        /* ... this many times per step at most (5 ms) */
#define APPLY_SYNC_MS      50        /* the applier's position goes to disk this often */
#define APPLY_SYNC_RECORDS 4096
#define IN_SYNC_LAG_MS     1000      /* older unacknowledged records: "syncing" */
#define LAG_MARKS          65536
#define CONFIG_COALESCE_MS 20        /* config events wait this long to be sent together */
#define CONFIG_WANT_MS     5000      /* a passive asks for one config entry at most this often */
#define CONFIG_REFRESH_MS  1000      /* the active looks whether an entry's folder was replaced */
#define MANIFEST_TRIES     3         /* a manifest read again while its entry changes */
#define ENC_MAX            (OP_HEAD_SIZE + 3 * (OP_PATH_MAX + 1) + OP_MAX_DATA + OP_NAME_MAX + 1)
/*
 * After a crash of the active, the entries whose ctime is at or after the
 * journal's last sync less this margin are checked. It covers a file
 * system that keeps whole seconds only (a change at 10.9 s is stamped 10
 * s), the tick by which a file's time trails the clock, and a clock slewed
 * by a little meanwhile; a step of the clock by more is not covered.
 */
#define CRASH_MARGIN_MS    2000
#define OWN_LIST_MAX       (STREAM_MAX_PAYLOAD - STREAM_UP_HEAD)  /* one UP of targets */

enum plane_role { PL_IDLE, PL_PASSIVE, PL_ACTIVE };
static const char *const plane_role_names[] = {
	[PL_IDLE] = "idle", [PL_PASSIVE] = "passive", [PL_ACTIVE] = "active",
};

enum pending { PEND_NONE, PEND_ACTIVATE, PEND_DRAIN };

/* What a copy needs, or a check asked for: the larger wins. */
enum need { NEED_NONE, NEED_TOUCHED, NEED_FULL };

/* A node this one ships its journal to. */
struct downstream {
	enum node_id	 peer;
	int		 consumer;
	struct sender	*sender;
	uint64_t	 down_since_ms;  /* loop only: when the stream was last seen down */
	_Atomic bool	 degraded;       /* down longer than failover.timeout: fsync waits end */
};

/* When a record was appended (active) or made durable (passive), for the lag. */
struct lag_mark {
	uint64_t	seq, ms, bytes;  /* bytes: appended up to and with seq */
};

struct plane {
	struct event_base	*base;
	const struct config	*conf;           /* as at start; the tunables below follow reloads */
	_Atomic int		 repl_mode;      /* enum repl_mode */
	_Atomic uint64_t	 queue_bytes;
	_Atomic uint64_t	 degrade_ms;     /* fsync waits end after the stream is down so long */
	enum compress_mode	 compress;       /* for senders made from now on */
	uint64_t		 bandwidth;
	enum node_id		 self;
	char			*dir, *history_path, *pos_path, *quarantine, *touched_path;
	char			*needs_check_path;       /* exists while the copy needs a check */
	char			*down_check_path;        /* exists while a node downstream needs a
						            full check (a relay lost its records) */
	char			*checking_path;          /* the touched list a check works on */
	char			*capturing_path;         /* exists while the capture writes the copy */
	char			*stamp_path;     /* the sync stamp (stamp_open) */
	char			*crashed_path;   /* exists from a crash of the active until its
						    walk listed what it changed (crash_walk) */
	char			*own_path;       /* that list, until a check covered it */
	int			 needs_saved;    /* what needs_check_path says: NEED_* */
	struct journal		*journal;
	struct history		 history;
	struct applier		*applier;
	SSL_CTX			*server_ctx, *client_ctx;
	struct stream_env	 env;
	struct receiver		*receiver;
	enum plane_role		 role;
	int			 upstream;

	pthread_mutex_t		 down_mu;        /* down[] as the capture threads see it */
	struct downstream	 down[NODE_COUNT];
	size_t			 ndown;

	struct capture		**captures;
	size_t			 ncaptures;
	_Atomic bool		 capture_ending; /* barriers stop waiting for acks */
	uint8_t			*enc;            /* under the journal lock */
	_Atomic uint64_t	 emit_errors;
	FILE			*touched;        /* under the journal lock (quota callback) */
	_Atomic uint64_t	 overflows;
	_Atomic uint64_t	 skipped_to;     /* a passive's journal skipped records up to here */
	_Atomic bool		 crashed_active; /* lifeline-repl ended while capturing: a full
						    check is due, wherever this node goes */
	_Atomic bool		 touched_lost;   /* an entry could not be listed: the next check
						    must be a full one */
	int			 stamp_fd;       /* while capturing: the sync stamp, in place */
	_Atomic bool		 crash_walk;     /* the applier thread walks the copy first */
	struct timespec		 crash_since;    /* for entries changed since then */
	_Atomic bool		 own_pending;    /* own_path waits for a check covering it */
	_Atomic bool		 own_resend;     /* a check ended without covering it */
	pthread_mutex_t		 own_mu;         /* the list, its token and checked_mine: a cut
						    replaces them on the applier thread */
	uint64_t		 own_token;
	uint8_t			*own_list;       /* own_path's bytes */
	size_t			 own_len;
	_Atomic bool		 cut_listing;    /* a divergent tail was cut; its entries are not
						    listed yet: out of sync, a full check on disk */
	uint64_t		 own_sent_starts; /* loop: the receiver's STARTs when last sent */
	_Atomic bool		 checked_mine;   /* the last CHECKED covered own_token */
	/* On the active, the lists downstream copies sent up (STREAM_UP_TARGETS). */
	uint64_t		 tok_in[STREAM_CHECKED_TOKENS];    /* received since the last
							      check began */
	size_t			 ntok_in;
	uint64_t		 tok_check[STREAM_CHECKED_TOKENS]; /* the running one covers */
	size_t			 ntok_check;
	uint64_t		 listed, check_listed;  /* lists received, ever; when it began */

	pthread_mutex_t		 ring_mu;
	struct lag_mark		*ring;
	size_t			 ring_n;         /* marks written, ever */
	uint64_t		 appended_bytes;

	/*
	 * The applier thread. The loop never waits for it: it asks with
	 * atomics (apply_run, a pause request it acknowledges between two
	 * records) and wakes it through cv; mu is held only around the wait.
	 */
	pthread_t		 apply_thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	_Atomic bool		 apply_run, apply_quit;
	_Atomic uint64_t	 pause_req, pause_ack;
	pthread_mutex_t		 cut_mu;          /* the cut below, handed to the thread */
	bool			 cut_pending;
	uint64_t		 cut_to;
	char			*cut_saved;       /* the saved tail, for its files */
	/* What went to the quarantine, for status and lifelined's events. */
	pthread_mutex_t		 q_mu;
	uint64_t		 q_count;
	char			 q_last[PATH_MAX];
	int			 apply_consumer;  /* -1 while active */
	char			 apply_error[256];
	uint64_t		 applied_records, diverged, refused;

	/* The check on the active: one scan at a time, the responder, their thread. */
	int			*rootfds;        /* the folders underneath, opened before any mount */
	pthread_t		 check_thread;
	pthread_mutex_t		 check_mu;       /* held by the thread for each step */
	pthread_cond_t		 check_cv;
	_Atomic int		 check_waiters;   /* the loop waits for check_mu */
	struct check_scanner	*scanner;
	struct check_responder	*responder;
	bool			 check_quit, check_running;
	bool			 check_full;      /* the one running (or last run) covers everything */
	int			 check_next;      /* asked for while one ran: NEED_* */
	uint64_t		 check_overflows; /* overflows when it began */
	size_t			 check_targets;   /* entries a targeted one covers */
	uint64_t		 check_id;        /* counts the checks started */
	uint64_t		 wants_added;     /* ever: the responder's count is too */
	uint64_t		 wants_at_begin, repairs_at_begin;  /* for this check's own figures */
	uint64_t		 check_started_ms, check_ended_ms;
	uint64_t		 scan_ended_ms;   /* the scanner's last VERIFY is out */
	char			 check_result[96];
	_Atomic uint64_t	 check_last_seq;  /* the last op a scan or a repair emitted */
	struct check_scan_stats	 scan_stats;
	bool			 check_rehash;    /* the one running (or last run) reads every file */
	/*
	 * What the scanner remembers of files it read, across checks: the
	 * check thread's, emptied when the node leaves the active role.
	 */
	struct hashcache	*scan_cache;
	struct check_waiter {
		uint64_t	 id, deadline_ms;
		plane_check_fn	*done;
		void		*arg;
	}			*waiters;        /* loop: plane_check_wait's callers */
	size_t			 nwaiters, waiters_cap;
	struct event		*check_ev;       /* loop: looks for the end every CHECK_POLL_MS */
	/*
	 * [protect] config: its roots come after the data ones (rootfds too:
	 * the folders holding the entries); on the active, their watcher,
	 * set and cleared under the journal lock (the capture's emits use it).
	 */
	struct confroots	 confroots;
	struct confwatch	*confwatch;
	struct event		*confwatch_ev, *confwatch_timer;
	uint8_t			*manifest_buf;
	uint64_t		*config_wanted_ms; /* applier thread: by entry, its last want */
	uint64_t		 config_refreshed_ms; /* loop: the watcher last looked at the paths */
	uint64_t		 replay_until;   /* the journal's last seq at start: records up to it
						    may have been applied before a crash */
	/* On a passive, what the config manifests found (q_mu). */
	uint64_t		 drift_count;
	char			 drift_last[512];
	struct confcheck_result	 cres;
	/* The check on a passive: the verifier, on the applier thread. */
	struct check_verifier	*verifier;
	struct hashcache	*verify_cache;   /* the verifier's, kept across checks; emptied
						    when the node becomes active */
	char			*verify_folder;  /* its dated quarantine folder */
	struct check_result	 vres;
	uint8_t			*wants_buf;
	bool			 changed_unsynced; /* applier thread: a record changed the copy
						    since the last apply_sync */
	_Atomic bool		 checking;        /* a check's VERIFY seen, its end not yet */
	_Atomic bool		 verifying_full;  /* that check is a full one */
	struct {
		uint64_t	 seq;
		bool		 full;
	}			 begins[4];      /* applier thread: the last checks' first
						    VERIFYs, a ring */
	size_t			 nbegins;
	uint64_t		 dropped_at_begin; /* env.up_dropped when that check began */
	_Atomic uint64_t	 checked_seq;     /* CHECKED: in sync once applied up to it */
	_Atomic uint64_t	 quarantined;

	enum pending		 pending;
	uint64_t		 pending_deadline, pending_epoch;
	uint64_t		 pending_pause;   /* the applier stop an activation waits for */
	int			 pending_down[NODE_COUNT];
	size_t			 pending_ndown;
	plane_done_fn		*done;
	void			*done_arg;
	struct event		*poll_ev, *tick_ev;
};

/* The seq of the last op this capture thread emitted, for its barrier. */
static _Thread_local uint64_t emitted_seq;

static void
finish_pending(struct plane *p, int rc, uint64_t last, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int save_needs_check(struct plane *p);
static void check_request(struct plane *p, enum need what, int from);

/* ---- lag marks ---- */

static void
mark(struct plane *p, uint64_t seq, uint64_t bytes)
{
	pthread_mutex_lock(&p->ring_mu);
	p->appended_bytes += bytes;
	p->ring[p->ring_n++ % LAG_MARKS] = (struct lag_mark){ seq, now_mono_ms(), p->appended_bytes };
	pthread_mutex_unlock(&p->ring_mu);
}

/* Forget the marks: seqs start again from another place (a role change, a cut). */
static void
marks_reset(struct plane *p)
{
	pthread_mutex_lock(&p->ring_mu);
	p->ring_n = 0;
	pthread_mutex_unlock(&p->ring_mu);
}

/*
 * The first mark after seq still in the ring, or NULL: the oldest record
 * not yet done, its time and the bytes appended before it.
 */
static bool
mark_after(struct plane *p, uint64_t seq, struct lag_mark *out, uint64_t *bytes_before)
{
	size_t n = p->ring_n < LAG_MARKS ? p->ring_n : LAG_MARKS;
	size_t lo = 0, hi = n, base = p->ring_n - n;

	/* Marks are in seq order: binary search for the first with seq > the one given. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->ring[(base + mid) % LAG_MARKS].seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n)
		return false;
	*out = p->ring[(base + lo) % LAG_MARKS];
	*bytes_before = lo > 0 ? p->ring[(base + lo - 1) % LAG_MARKS].bytes : 0;
	return true;
}

/* Something went to the quarantine folder: count it and keep the last path for status. */
static void
note_quarantine(struct plane *p, const char *path)
{
	pthread_mutex_lock(&p->q_mu);
	p->q_count++;
	xstrlcpy(p->q_last, path, sizeof(p->q_last));
	pthread_mutex_unlock(&p->q_mu);
}

/* ---- the capture's sink ---- */

static void
sink_lock(void *arg)
{
	struct plane *p = arg;

	journal_lock(p->journal);
}

/*
 * The touched list, STATE_DIR/repl/touched: the entries whose records a
 * node downstream never got (the quota cut it loose), for a targeted
 * check. Entries back to back: u16 root, u16 path length with bit 15 set
 * for "deep" (a directory with all below it, as after a rename), the
 * path (rules of op.h; empty for the root). Root TOUCHED_ALL means
 * "a record that could not be read": only a full check will do. A torn
 * last entry (a crash) is ignored; the records it named were cut with it.
 */
#define TOUCHED_ALL   UINT16_MAX
#define TOUCHED_DEEP  0x8000u

static void
touched_add(struct plane *p, uint16_t root, const char *path, size_t len, bool deep)
{
	uint8_t head[4];

	if (p->touched == NULL && (p->touched = fopen(p->touched_path, "ae")) == NULL) {
		if (!p->touched_lost)
			log_warn("cannot open %s; the next check will be a full one", p->touched_path);
		p->touched_lost = true;
		return;
	}
	put16(head, root);
	put16(head + 2, (uint16_t)(len | (deep ? TOUCHED_DEEP : 0)));
	if (len > OP_PATH_MAX || fwrite(head, 1, sizeof(head), p->touched) != sizeof(head) ||
	    fwrite(path, 1, len, p->touched) != len) {
		if (!p->touched_lost)
			log_warn("cannot list a touched entry in %s; the next check will be a full one",
			    p->touched_path);
		p->touched_lost = true;
	}
}

/*
 * Every record a consumer cut by the quota never got, on the active: the
 * entries it changed. Renames and repairs are deep (what moved carries its
 * content along); the rest names a file or a directory's own attributes.
 * The parents' listings are added when the check is made.
 */
static void
on_overflow(void *arg, int consumer, const struct record_hdr *h, const uint8_t *payload)
{
	struct plane *p = arg;
	struct op op;
	char why[128];

	if (op_decode(h->type, payload, h->length, &op, why, sizeof(why)) < 0) {
		touched_add(p, TOUCHED_ALL, "", 0, true);
		return;
	}
	switch (op.type) {
	case RECORD_FSYNC_BARRIER:
		return;
	case RECORD_RENAME:
		touched_add(p, op.root, op.path, op.path_len, true);
		touched_add(p, op.root, op.path2, op.path2_len, true);
		return;
	case RECORD_LINK:
		touched_add(p, op.root, op.path2, op.path2_len, false);
		break;
	case RECORD_VERIFY:
	case RECORD_DATA:
		touched_add(p, op.root, op.path, op.path_len, true);
		return;
	}
	touched_add(p, op.root, op.path, op.path_len, false);
}

/*
 * On a passive: a consumer here lost records (a SKIP from upstream, or
 * this journal's own quota). The applier's were never applied because
 * they were never durable, and the active lists them; a node downstream
 * that lost some needs a full check, which this relay now asks for
 * whenever that node asks for a targeted one (the marker survives a
 * restart).
 */
static void
on_lost(void *arg, int consumer, const struct record_hdr *h, const uint8_t *payload)
{
	struct plane *p = arg;

	(void)h;
	(void)payload;
	if (consumer == p->apply_consumer || access(p->down_check_path, F_OK) == 0)
		return;
	if (write_file_atomic(p->down_check_path, "full\n", 5, 0600) < 0)
		log_warn("cannot write %s", p->down_check_path);
	else
		log_warnx("a node downstream lost records it had not received: it needs a full check");
}

static void
sink_unlock(void *arg)
{
	struct plane *p = arg;
	int cut;

	journal_unlock(p->journal);
	pthread_mutex_lock(&p->down_mu);
	for (size_t i = 0; i < p->ndown; i++)
		sender_wake(p->down[i].sender);
	pthread_mutex_unlock(&p->down_mu);
	uint64_t quota = p->queue_bytes;

	if (quota == 0 || journal_bytes(p->journal) <= quota)
		return;
	if ((cut = journal_enforce_quota(p->journal, -1, on_overflow, p)) > 0) {
		p->overflows += (uint64_t)cut;
		if (p->touched != NULL && fflush(p->touched) != 0)
			p->touched_lost = true;
		log_warnx("replication queue over %" PRIu64 " bytes: a node downstream was cut "
		    "loose; the files it missed are listed in %s for a targeted check",
		    quota, p->touched_path);
	}
}

static int append_op(struct plane *p, const struct op *op);

/*
 * A data change: every config change that ended before it is journaled
 * first (the watcher reads what the kernel has, cheaply when nothing), so
 * the passive sees a configuration and the data written after it in order.
 */
static int
sink_emit(void *arg, const struct op *op)
{
	struct plane *p = arg;

	/* A config change that cannot be journaled must not be passed by the data after it. */
	if (p->confwatch != NULL && confwatch_sync_locked(p->confwatch) < 0)
		return -1;
	return append_op(p, op);
}

/* The config watcher's ops: journaled as they come, with no hook. */
static int
config_emit(void *arg, const struct op *op)
{
	return append_op(arg, op);
}

static int
append_op(struct plane *p, const struct op *op)
{
	size_t n = op_encode(p->enc, ENC_MAX, op);
	char err[256];
	uint64_t seq;

	if (n == 0) {
		snprintf(err, sizeof(err), "a %s op does not encode", record_type_name(op->type));
		goto fail;
	}
	if (journal_append_locked(p->journal, p->env.epoch, op->type, p->enc, n, &seq, err,
	    sizeof(err)) < 0)
		goto fail;
	emitted_seq = seq;
	mark(p, seq, RECORD_HDR_SIZE + n);
	return 0;
fail:
	/* Said once, then every thousandth time: the application sees EIO each time. */
	if (p->emit_errors++ % 1000 == 0)
		log_warnx("capture: cannot journal a change, the application gets EIO: %s", err);
	return -1;
}

/*
 * fsync and sync modes: wait until the first node downstream (the HA
 * passive) has made seq durable. Waiting ends early, with the record
 * only local, when the plane is unmounting or that node's stream has
 * been down for failover.timeout: then it is out of sync and no failover
 * goes to it (its heartbeats stop saying in sync), so nothing that an
 * application was told is durable can be lost by one.
 */
static int
wait_downstream(struct plane *p, uint64_t seq)
{
	int consumer;

	pthread_mutex_lock(&p->down_mu);
	consumer = p->ndown > 0 ? p->down[0].consumer : -1;
	pthread_mutex_unlock(&p->down_mu);
	if (consumer < 0)
		return 0;
	for (;;) {
		bool degraded;

		/* Before each wait: a stand-by given up on must not cost every fsync a slice. */
		pthread_mutex_lock(&p->down_mu);
		degraded = p->ndown == 0 || p->down[0].degraded || p->down[0].consumer != consumer;
		pthread_mutex_unlock(&p->down_mu);
		if (degraded || p->capture_ending)
			return 0;
		if (journal_wait_done(p->journal, consumer, seq, 50) != 1)
			return 0;
	}
}

/* A check's op: journaled like the application's, its seq noted for the end of the check. */
static int
check_emit(void *arg, const struct op *op)
{
	struct plane *p = arg;

	if (sink_emit(arg, op) < 0)
		return -1;
	p->check_last_seq = emitted_seq;
	return 0;
}

/*
 * The sync stamp, STATE_DIR/repl/synced: a wall-clock time (ns since 1970,
 * 20 digits and a newline) before which every change the capture made
 * underneath is in the durable journal. The capture applies and journals
 * each change under the ordering lock, and a sync covers every record
 * appended before it took that lock, so a time read before journal_sync
 * is such a time once it returns. stamp_open writes it durably when the
 * capture starts (the copy then holds exactly the journal); each sync of
 * an application's barrier then overwrites it in place with no fsync of
 * its own: after a power loss the file holds an older time or none, and
 * an older time only makes the walk after a crash (crash_plan) look at
 * more entries. Never on the write path but as one pwrite per sync.
 */
static void
stamp_text(char buf[32], const struct timespec *t)
{
	snprintf(buf, 32, "%020" PRIu64 "\n",
	    (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec);
}

static void
stamp_open(struct plane *p)
{
	struct timespec t;
	char buf[32];

	clock_gettime(CLOCK_REALTIME, &t);
	stamp_text(buf, &t);
	if (write_file_atomic(p->stamp_path, buf, strlen(buf), 0600) < 0 ||
	    (p->stamp_fd = open(p->stamp_path, O_WRONLY | O_CLOEXEC)) < 0) {
		log_warn("cannot write %s: after a crash, the copies would need a full check",
		    p->stamp_path);
		unlink(p->stamp_path);
	}
}

static void
stamp_close(struct plane *p)
{
	if (p->stamp_fd >= 0)
		close(p->stamp_fd);
	p->stamp_fd = -1;
}

/* journal_sync, and the stamp moved up to the time before it (any capture thread). */
static int
capture_sync(struct plane *p, char *err, size_t errlen)
{
	static _Atomic uint64_t warned;
	struct timespec t;
	char buf[32];

	clock_gettime(CLOCK_REALTIME, &t);
	if (journal_sync(p->journal, err, errlen) < 0)
		return -1;
	stamp_text(buf, &t);
	if (p->stamp_fd >= 0 && pwrite(p->stamp_fd, buf, 21, 0) != 21 && warned++ == 0)
		log_warn("cannot update %s: after a crash, more files would be checked",
		    p->stamp_path);
	return 0;
}

static int
sink_barrier(void *arg, const struct op *op)
{
	struct plane *p = arg;
	char err[256];

	if (capture_sync(p, err, sizeof(err)) < 0) {
		log_warnx("capture: fsync of the journal failed, the application gets EIO: %s", err);
		return -EIO;
	}
	if (p->repl_mode == REPL_ASYNC)
		return 0;
	return wait_downstream(p, emitted_seq);
}

static int
sink_after_write(void *arg, const struct op *op)
{
	struct plane *p = arg;

	if (p->repl_mode != REPL_SYNC)
		return 0;
	return sink_barrier(arg, op);
}

/* ---- captures ---- */

/* ---- the config watcher (active) ---- */

/* The node captures: a data folder is mounted or a config entry watched (a config-only set). */
static bool
capturing(const struct plane *p)
{
	return p->ncaptures > 0 || p->confwatch != NULL;
}

/*
 * A manifest of each config entry, journaled after every config change
 * the watcher has: the passives compare their copies when they reach it.
 * Run when the node becomes active and with every check.
 */
static void
config_manifests(struct plane *p)
{
	const struct confroots *cr = &p->confroots;
	struct op op;
	char why[512];

	if (cr->n == 0)
		return;
	sink_lock(p);
	if (p->confwatch != NULL) {
		confwatch_refresh_locked(p->confwatch);
		confwatch_sync_locked(p->confwatch);
	}
	for (size_t i = 0; i < cr->n; i++) {
		uint16_t root = (uint16_t)(cr->first + i);
		int rc, tries = 0;

		/*
		 * An entry changed while its manifest was read would look like
		 * drift on the passives: its change is sent, and it is read again.
		 */
		while ((rc = confcheck_manifest(cr, p->rootfds[root], root, p->manifest_buf,
		    OP_MAX_DATA, &op, why, sizeof(why))) == 0 && p->confwatch != NULL &&
		    ++tries < MANIFEST_TRIES && confwatch_changed_locked(p->confwatch))
			confwatch_sync_locked(p->confwatch);
		if (rc < 0)
			log_warnx("config check: no manifest of %s: %s", cr->v[i].entry, why);
		else if (append_op(p, &op) < 0)
			log_warnx("config check: the manifest of %s cannot be journaled",
			    cr->v[i].entry);
	}
	sink_unlock(p);
}

/*
 * The "config" object of the status: the entries, the watcher's figures
 * on the active, the drift found on a passive.
 */
static json_t *
config_json(struct plane *p)
{
	struct confwatch_stats st = { 0 };
	bool watching;
	json_t *o;

	journal_lock(p->journal);
	if ((watching = p->confwatch != NULL))
		confwatch_stats(p->confwatch, &st);
	journal_unlock(p->journal);
	/* Names of files are any bytes; the status is UTF-8. */
	utf8_sanitize(st.last_problem);
	o = json_pack("{s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:s?}",
	    "entries", (json_int_t)p->confroots.n, "watching", watching,
	    "watches", (json_int_t)st.watches, "events", (json_int_t)st.events,
	    "sent", (json_int_t)st.emitted, "skipped", (json_int_t)st.skipped,
	    "errors", (json_int_t)st.errors, "overflows", (json_int_t)st.overflows,
	    "watch_limit", st.watch_limit,
	    "problem", st.last_problem[0] != '\0' ? st.last_problem : NULL);
	pthread_mutex_lock(&p->q_mu);
	json_object_set_new(o, "drift", json_integer((json_int_t)p->drift_count));
	if (p->drift_last[0] != '\0') {
		char last[sizeof(p->drift_last)];

		memcpy(last, p->drift_last, sizeof(last));
		utf8_sanitize(last);
		json_object_set_new(o, "last_drift", json_string(last));
	}
	pthread_mutex_unlock(&p->q_mu);
	return o;
}

/*
 * Every CONFIG_REFRESH_MS on the active: has a folder holding a config
 * entry been replaced under its path? The watcher then follows the new one
 * and sends the entry again.
 */
static void
config_refresh(struct plane *p, uint64_t now)
{
	if (p->confwatch == NULL || now - p->config_refreshed_ms < CONFIG_REFRESH_MS)
		return;
	p->config_refreshed_ms = now;
	sink_lock(p);
	if (p->confwatch != NULL && confwatch_refresh_locked(p->confwatch) > 0)
		confwatch_sync_locked(p->confwatch);
	sink_unlock(p);
}

/* The events waited a little, so a file written in pieces goes once: send now. */
static void
on_config_timer(evutil_socket_t fd, short what, void *arg)
{
	struct plane *p = arg;

	(void)fd;
	(void)what;
	sink_lock(p);
	if (p->confwatch != NULL)
		confwatch_sync_locked(p->confwatch);
	sink_unlock(p);
}

static void
on_config_events(evutil_socket_t fd, short what, void *arg)
{
	struct plane *p = arg;
	struct timeval wait = { 0, CONFIG_COALESCE_MS * 1000 };

	(void)fd;
	(void)what;
	journal_lock(p->journal);
	if (p->confwatch != NULL)
		confwatch_take_locked(p->confwatch);
	journal_unlock(p->journal);
	if (!evtimer_pending(p->confwatch_timer, NULL))
		evtimer_add(p->confwatch_timer, &wait);
}

static void
start_config(struct plane *p)
{
	struct confwatch *w;
	char err[256];

	if (p->confroots.n == 0 || p->confwatch != NULL)
		return;
	if ((w = confwatch_new(&p->confroots, p->rootfds + p->confroots.first, config_emit, p,
	    err, sizeof(err))) == NULL) {
		log_warnx("config entries are not replicated: %s", err);
		return;
	}
	p->confwatch_ev = event_new(p->base, confwatch_fd(w), EV_READ | EV_PERSIST,
	    on_config_events, p);
	p->confwatch_timer = evtimer_new(p->base, on_config_timer, p);
	event_add(p->confwatch_ev, NULL);
	journal_lock(p->journal);
	p->confwatch = w;
	journal_unlock(p->journal);
	config_manifests(p);
}

/* Every change made so far goes out, then no more watching. */
static void
stop_config(struct plane *p)
{
	struct confwatch *w = p->confwatch;

	if (w == NULL)
		return;
	sink_lock(p);
	confwatch_sync_locked(w);
	p->confwatch = NULL;
	sink_unlock(p);
	event_free(p->confwatch_ev);
	event_free(p->confwatch_timer);
	p->confwatch_ev = p->confwatch_timer = NULL;
	confwatch_free(w);
}

static void
stop_captures(struct plane *p)
{
	stop_config(p);
	p->capture_ending = true;
	for (size_t i = 0; i < p->ncaptures; i++)
		capture_stop(p->captures[i]);
	p->ncaptures = 0;
	p->capture_ending = false;
	stamp_close(p);
}

static int
start_captures(struct plane *p, char *err, size_t errlen)
{
	const struct strlist *data = &p->conf->protect_data;

	for (size_t i = 0; i < data->n; i++) {
		struct capture_opts o = {
			.dir = data->v[i], .root = (uint16_t)i,
			.writeback = p->repl_mode != REPL_SYNC,
			.sink = { .arg = p, .lock = sink_lock, .unlock = sink_unlock,
			    .emit = sink_emit, .barrier = sink_barrier,
			    .after_write = sink_after_write },
		};

		if ((p->captures[i] = capture_start(&o, err, errlen)) == NULL) {
			stop_captures(p);
			return -1;
		}
		p->ncaptures = i + 1;
	}
	start_config(p);
	return 0;
}

/* ---- the check on the active ---- */

/* check_mu for the loop: the check thread gives it up at its next step. */
static void
check_lock(struct plane *p)
{
	p->check_waiters++;
	pthread_mutex_lock(&p->check_mu);
	p->check_waiters--;
}

/*
 * Let the first sender read what the scan journaled. The ordering lock is
 * the journal's, which the sender takes for every record it reads; a scan
 * that takes it again at once, step after step, keeps the sender from it
 * (a mutex goes to the thread already running), and the passive then
 * starts comparing only once the scan is over: the two sides in series,
 * not side by side. So past PACE_RECORDS not yet sent the scan waits a
 * little, check_mu released, and goes on regardless after PACE_WAITS: a
 * slow or absent node downstream must not stop the check.
 */
static void
check_pace(struct plane *p)
{
	struct timespec pause = { 0, PACE_WAIT_US * 1000 };
	struct stream_status st = { 0 };
	bool down;

	for (int i = 0; i < PACE_WAITS; i++) {
		pthread_mutex_lock(&p->down_mu);
		if ((down = p->ndown > 0))
			sender_status(p->down[0].sender, &st);
		pthread_mutex_unlock(&p->down_mu);
		if (!down || !st.connected || st.sent_seq + PACE_RECORDS >= p->check_last_seq)
			return;
		pthread_mutex_unlock(&p->check_mu);
		nanosleep(&pause, NULL);
		pthread_mutex_lock(&p->check_mu);
	}
}

/*
 * Answer wants first (a passive waits for them), then go on with the
 * scan, a bounded step at a time, holding check_mu through each so the
 * loop can stop the check between two steps.
 */
static void *
check_main(void *arg)
{
	struct plane *p = arg;

	pthread_mutex_lock(&p->check_mu);
	while (!p->check_quit) {
		int rc;

		/* Let the loop in between two steps: it must never wait for a whole scan. */
		if (p->check_waiters > 0) {
			pthread_mutex_unlock(&p->check_mu);
			for (int i = 0; i < 1000 && p->check_waiters > 0; i++)
				sched_yield();
			pthread_mutex_lock(&p->check_mu);
		}
		if ((rc = check_responder_step(p->responder)) != 0)
			continue;
		if (p->scanner == NULL) {
			pthread_cond_wait(&p->check_cv, &p->check_mu);
			continue;
		}
		if ((rc = check_scanner_step(p->scanner)) == 1) {
			check_pace(p);
			continue;
		}
		check_scanner_stats(p->scanner, &p->scan_stats);
		check_scanner_free(p->scanner);
		p->scanner = NULL;
		p->scan_ended_ms = now_mono_ms();
		if (rc < 0) {
			p->check_running = false;
			p->check_ended_ms = now_mono_ms();
			snprintf(p->check_result, sizeof(p->check_result),
			    "failed: a record could not be journaled");
		}
	}
	pthread_mutex_unlock(&p->check_mu);
	return NULL;
}

/* Drop the scan and the wants (the node leaves the active role); nothing runs after. */
static void
check_cancel(struct plane *p, const char *why)
{
	check_lock(p);
	if (p->scanner != NULL)
		check_scanner_free(p->scanner);
	p->scanner = NULL;
	check_responder_free(p->responder);
	p->responder = check_responder_new(p->rootfds, p->conf->protect_data.n,
	    &(struct check_emitter){ p, sink_lock, sink_unlock, check_emit });
	/* What it read is the active's: another role writes the copy by other means. */
	hashcache_clear(p->scan_cache);
	/* The lists it covered are sent again to whichever node is active next. */
	p->ntok_in = p->ntok_check = 0;
	if (p->check_running) {
		p->check_running = false;
		p->check_ended_ms = now_mono_ms();
		snprintf(p->check_result, sizeof(p->check_result), "stopped: %s", why);
		log_warnx("check stopped: %s", why);
	}
	pthread_mutex_unlock(&p->check_mu);
}

uint64_t
plane_check_id(const struct plane *p)
{
	return p->check_id;
}

/*
 * The touched list a check takes: what was listed so far moves to
 * touched.checking (added to what a check that did not end left there),
 * so entries listed while it runs wait for the next one. The list is
 * removed when the check ends in sync.
 */
static void
touched_take(struct plane *p)
{
	char *more = xasprintf("%s.more", p->touched_path);
	uint8_t *buf;
	size_t len;
	int fd;

	journal_lock(p->journal);
	if (p->touched != NULL) {
		if (fflush(p->touched) != 0 || fsync(fileno(p->touched)) < 0)
			log_warn("%s", p->touched_path);
		fclose(p->touched);
		p->touched = NULL;
	}
	if (access(p->checking_path, F_OK) != 0) {
		if (rename(p->touched_path, p->checking_path) < 0 && errno != ENOENT)
			log_warn("cannot rename %s", p->touched_path);
		journal_unlock(p->journal);
		free(more);
		return;
	}
	if (rename(p->touched_path, more) < 0 && errno != ENOENT)
		log_warn("cannot rename %s", p->touched_path);
	journal_unlock(p->journal);
	if ((buf = (uint8_t *)read_file(more, 1u << 30, &len)) != NULL) {
		fd = open(p->checking_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0 || write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0)
			log_warn("cannot add %s to %s", more, p->checking_path);
		else
			unlink(more);
		if (fd >= 0)
			close(fd);
		free(buf);
	}
	free(more);
}

static int
target_cmp(const void *a, const void *b)
{
	const struct check_target *x = a, *y = b;
	int c;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	if ((c = strcmp(x->path, y->path)) != 0)
		return c;
	return (int)x->shallow - (int)y->shallow;       /* deep first: it wins */
}

static void
target_push(struct check_target **v, size_t *n, size_t *cap, uint16_t root, const char *path,
    size_t len, bool shallow)
{
	char *copy;

	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	copy = xmalloc(len + 1);
	memcpy(copy, path, len);
	copy[len] = '\0';
	(*v)[(*n)++] = (struct check_target){ root, copy, shallow };
}

static void
targets_free(struct check_target *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)v[i].path);
	free(v);
}

/*
 * The targets of a targeted check, from touched.checking: each entry, and
 * its parent directory's own listing (a name removed or renamed away
 * leaves nothing else to look at), sorted so a directory comes before
 * what is in it, each once. Without entries, the roots' own listings.
 * false when only a full check will do (an entry said so, or the list
 * cannot be read).
 */
static bool
touched_targets(struct plane *p, struct check_target **out, size_t *nout)
{
	size_t len = 0, n = 0, cap = 0, k = 0;
	uint8_t *buf = (uint8_t *)read_file(p->checking_path, 1u << 30, &len);
	struct check_target *v = NULL;
	const uint8_t *at = buf;
	bool ok = true;

	if (buf == NULL && errno != ENOENT) {
		log_warn("cannot read %s", p->checking_path);
		return false;
	}
	while (buf != NULL && len - (size_t)(at - buf) >= 4) {
		uint16_t root = get16(at), lf = get16(at + 2);
		size_t plen = lf & ~TOUCHED_DEEP, left = len - (size_t)(at - buf) - 4;
		const char *path = (const char *)at + 4;
		const char *slash;

		if (plen > left)
			break;          /* torn by a crash */
		at += 4 + plen;
		if (root == TOUCHED_ALL) {
			ok = false;
			break;
		}
		if (root >= p->conf->protect_data.n || (plen > 0 && !op_path_valid(path, plen)))
			continue;
		target_push(&v, &n, &cap, root, path, plen, !(lf & TOUCHED_DEEP));
		slash = plen > 0 ? memrchr(path, '/', plen) : NULL;
		if (plen > 0)
			target_push(&v, &n, &cap, root, path, slash ? (size_t)(slash - path) : 0, true);
	}
	free(buf);
	if (!ok) {
		targets_free(v, n);
		return false;
	}
	if (n == 0)
		for (size_t i = 0; i < p->conf->protect_data.n; i++)
			target_push(&v, &n, &cap, (uint16_t)i, "", 0, true);
	qsort(v, n, sizeof(*v), target_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && v[k - 1].root == v[i].root && strcmp(v[k - 1].path, v[i].path) == 0) {
			free((char *)v[i].path);
			continue;
		}
		v[k++] = v[i];
	}
	*out = v;
	*nout = k;
	return true;
}


/* ---- after a crash of the active: the entries it may have changed unjournaled ---- */

/*
 * A node whose lifeline-repl ended while capturing without a clean stop
 * (a kill, a crash, a power loss) may hold changes underneath that no
 * record carries: the one applied when it died, or, after a power loss,
 * every one after the journal's last sync. They all moved the ctime of an
 * entry after the sync stamp (stamp_open), so the applier thread, before
 * it applies anything, walks the copy for the entries changed since the
 * stamp less CRASH_MARGIN_MS (check_recent) and lists them in own_path
 * with a token. Wherever the node goes next, a targeted check of those
 * entries brings the copies together: as a passive it sends the list up
 * (STREAM_UP_TARGETS) until a CHECKED that echoes the token, or a full
 * check, ends; as the active it adds the list to its own touched list.
 * Records its journal held that the new active never got are a divergent
 * tail, which the stream sets aside (CUT) and which asks for its own check.
 *
 * The crashed marker (crashed_path) lasts until the list is on disk. When
 * the narrowing cannot be trusted (no stamp, a clock behind the stamp, a
 * walk that failed, a list too long for one message), it says "full" and
 * the copies get a full check, as they did before this was built; it is
 * removed when a full check passes.
 */
static void
crash_full(struct plane *p, const char *why)
{
	if (write_file_atomic(p->crashed_path, "full\n", 5, 0600) < 0)
		log_warn("cannot write %s", p->crashed_path);
	p->crashed_active = true;
	p->env.needs_check = true;
	log_warnx("after the crash of the active: a full check is due, since %s", why);
}

/* A full check passed: nothing of a crash is left to check. */
static void
crash_checked(struct plane *p)
{
	p->crashed_active = false;
	if (unlink(p->crashed_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s", p->crashed_path);
}

/* The sync stamp, in *t. false when there is none, or it cannot be read. */
static bool
stamp_read(struct plane *p, struct timespec *t)
{
	size_t len;
	char *v = read_file(p->stamp_path, 64, &len), *end;
	unsigned long long ns;
	bool ok;

	if (v == NULL)
		return false;
	errno = 0;
	ns = strtoull(v, &end, 10);
	ok = errno == 0 && end != v && *end == '\n' && ns != 0;
	free(v);                 /* end points into it: judged first */
	if (!ok)
		return false;
	t->tv_sec = (time_t)(ns / 1000000000u);
	t->tv_nsec = (long)(ns % 1000000000u);
	return true;
}

/*
 * At open, on the loop, before the threads: what a crash left to do. A
 * copy that needs a full check anyway gets nothing narrower.
 */
static void
crash_plan(struct plane *p)
{
	struct timespec stamp, now;
	char *v, when[64];
	size_t len;
	time_t sec;
	struct tm tm;

	if ((v = read_file(p->crashed_path, 64, &len)) == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (strncmp(v, "full", 4) == 0)
		crash_full(p, "the crash could not be narrowed down before");
	else if (p->env.needs_check)
		crash_full(p, "the copy needed one already");
	else if (!stamp_read(p, &stamp))
		crash_full(p, "no time of the journal's last sync is known");
	else if (stamp.tv_sec > now.tv_sec + 1)
		crash_full(p, "the clock is behind the journal's last sync: it went backwards");
	else {
		p->crash_since = stamp;
		p->crash_since.tv_sec -= CRASH_MARGIN_MS / 1000;
		p->crash_since.tv_nsec -= (CRASH_MARGIN_MS % 1000) * 1000000L;
		if (p->crash_since.tv_nsec < 0) {
			p->crash_since.tv_nsec += 1000000000L;
			p->crash_since.tv_sec--;
		}
		sec = stamp.tv_sec;
		gmtime_r(&sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		p->crash_walk = true;
		log_warnx("after the crash of the active: the entries changed since the journal's "
		    "last sync (%s, less %d ms) will be listed for a targeted check", when,
		    CRASH_MARGIN_MS);
	}
	free(v);
}

struct own_build {
	uint8_t	*buf;
	size_t	 len, cap;
	bool	 over;
};

static int
own_pick(void *arg, uint16_t root, const char *path, size_t len, bool deep)
{
	struct own_build *b = arg;

	while (b->cap - b->len < 4 + len && b->cap < OWN_LIST_MAX) {
		b->cap = b->cap * 2 < OWN_LIST_MAX ? b->cap * 2 : OWN_LIST_MAX;
		b->buf = xrealloc(b->buf, b->cap);
	}
	if (!check_list_put(b->buf, b->cap, &b->len, root, path, len, deep)) {
		b->over = b->cap - b->len < 4 + len;
		return -1;
	}
	return 0;
}

static uint64_t
own_new_token(void)
{
	uint64_t t = 0;
	struct timespec ts;

	if (getrandom(&t, sizeof(t), 0) != (ssize_t)sizeof(t) || t == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		t = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 48);
		t |= 1;
	}
	return t;
}

/* On the applier thread, before it applies anything: list what the crash may have left. */
static void
crash_walk(struct plane *p)
{
	struct own_build b = { xmalloc(65536), CHECK_LIST_HEAD, 65536, false };
	struct check_recent_stats st;
	uint64_t started = now_mono_ms();
	char why[512];

	if (check_recent(p->rootfds, p->conf->protect_data.n, &p->crash_since, own_pick, &b,
	    &st, why, sizeof(why)) < 0) {
		crash_full(p, b.over ? "more entries changed than one list holds" : why);
		free(b.buf);
		goto out;
	}
	if (st.picked == 0) {
		log_info("after the crash of the active: none of %" PRIu64 " entries changed since "
		    "the journal's last sync; nothing to check", st.entries);
		free(b.buf);
		if (unlink(p->crashed_path) < 0 && errno != ENOENT)
			log_warn("cannot remove %s", p->crashed_path);
		goto out;
	}
	p->own_token = own_new_token();
	put64(b.buf, p->own_token);
	if (write_file_atomic(p->own_path, (const char *)b.buf, b.len, 0600) < 0) {
		snprintf(why, sizeof(why), "%s cannot be written: %s", p->own_path, strerror(errno));
		crash_full(p, why);
		free(b.buf);
		goto out;
	}
	p->own_list = b.buf;
	p->own_len = b.len;
	p->own_pending = true;
	if (unlink(p->crashed_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s", p->crashed_path);
	log_warnx("after the crash of the active: %" PRIu64 " of %" PRIu64 " entries changed since "
	    "the journal's last sync (walked in %" PRIu64 " ms); listed in %s for a targeted check",
	    st.picked, st.entries, now_mono_ms() - started, p->own_path);
out:
	p->crash_walk = false;
}

static int
own_valid(void *arg, uint16_t root, const char *path, size_t len, bool deep)
{
	struct plane *p = arg;

	return root < p->conf->protect_data.n ? 0 : -1;
}

/* At open: a list a crash left that no check covered yet. */
static void
own_load(struct plane *p)
{
	size_t len;
	uint8_t *v = (uint8_t *)read_file(p->own_path, OWN_LIST_MAX, &len);
	char why[256];

	if (v == NULL)
		return;
	if (check_list_decode(v, len, &p->own_token, own_valid, p, why, sizeof(why)) < 0) {
		free(v);
		snprintf(why, sizeof(why), "%s cannot be read back", p->own_path);
		crash_full(p, why);
		unlink(p->own_path);
		return;
	}
	p->own_list = v;
	p->own_len = len;
	p->own_pending = true;
}

/* The list is covered (any thread); the bytes stay until plane_close. */
static void
own_done(struct plane *p, const char *how)
{
	p->own_pending = false;
	if (unlink(p->own_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s", p->own_path);
	log_info("check: the entries this copy changed before its crash were checked (%s)", how);
}

static int
own_touched(void *arg, uint16_t root, const char *path, size_t len, bool deep)
{
	struct plane *p = arg;

	if (root >= p->conf->protect_data.n)
		return -1;
	touched_add(p, root, path, len, deep);
	return 0;
}

/*
 * Entries a copy downstream, or this node's own copy when it crashed while
 * active, lists for a targeted check: into the touched list, made durable
 * when own (the list file goes next). 0, or -1 with why.
 */
static int
list_to_touched(struct plane *p, const uint8_t *buf, size_t len, uint64_t *token, bool durable,
    char *why, size_t whylen)
{
	int rc;

	journal_lock(p->journal);
	rc = check_list_decode(buf, len, token, own_touched, p, why, whylen);
	if (p->touched != NULL && (fflush(p->touched) != 0 ||
	    (durable && fsync(fileno(p->touched)) < 0)))
		p->touched_lost = true;
	journal_unlock(p->journal);
	if (rc == 0 && p->touched_lost) {
		snprintf(why, whylen, "the touched list %s cannot be written", p->touched_path);
		rc = -1;
	}
	return rc;
}

/* Becoming active with the list of its own crash: the next check is of those entries. */
static void
own_to_touched(struct plane *p)
{
	uint64_t token;
	char why[256];
	int rc;

	pthread_mutex_lock(&p->own_mu);
	rc = list_to_touched(p, p->own_list, p->own_len, &token, true, why, sizeof(why));
	pthread_mutex_unlock(&p->own_mu);
	if (rc < 0) {
		log_warnx("after the crash: %s; checking everything", why);
		p->check_next = NEED_FULL;
		return;
	}
	p->listed++;
	if (p->check_next < NEED_TOUCHED)
		p->check_next = NEED_TOUCHED;     /* on_tick starts it */
	own_done(p, "listed as touched for a targeted check of the copies downstream");
}

/* On a passive, on the loop: send the list up once per connection, and again when asked. */
static void
own_send(struct plane *p)
{
	struct stream_status st;

	/* A copy that asked for a full check has it covered by that one. */
	if (!p->own_pending || p->role != PL_PASSIVE || p->receiver == NULL || p->env.needs_check)
		return;
	receiver_status(p->receiver, &st);
	if (!st.connected)
		return;
	if (p->own_resend) {
		p->own_resend = false;
		p->own_sent_starts = 0;
	}
	if (st.starts == p->own_sent_starts)
		return;
	p->own_sent_starts = st.starts;
	pthread_mutex_lock(&p->own_mu);
	receiver_send_up(p->receiver, STREAM_UP_TARGETS, p->own_list, p->own_len);
	log_info("check: sent the entries this copy changed before its crash or in a divergent "
	    "tail up, for a targeted check (%zu bytes)", p->own_len);
	pthread_mutex_unlock(&p->own_mu);
}

/* On the active: a copy downstream sent the list of its crash. */
static void
on_targets(struct plane *p, enum node_id from, const uint8_t *body, size_t len)
{
	uint64_t token;
	char why[256];
	size_t i;

	if (list_to_touched(p, body, len, &token, false, why, sizeof(why)) < 0) {
		log_warnx("check: the list of entries from %s's copy cannot be taken (%s): checking "
		    "everything", node_name(from), why);
		check_request(p, NEED_FULL, from);
		return;
	}
	for (i = 0; i < p->ntok_in && p->tok_in[i] != token; i++)
		;
	if (i == p->ntok_in) {
		if (p->ntok_in == STREAM_CHECKED_TOKENS) {
			/* The oldest falls out: its node sends its list again after the next check. */
			memmove(p->tok_in, p->tok_in + 1, sizeof(p->tok_in[0]) * (p->ntok_in - 1));
			p->ntok_in--;
		}
		p->tok_in[p->ntok_in++] = token;
	}
	p->listed++;
	log_info("check: %s's copy lists the entries it changed before a crash while active",
	    node_name(from));
	check_request(p, NEED_TOUCHED, from);
}

/* A check begins: it covers the lists received so far. */
static void
tokens_begin(struct plane *p)
{
	for (size_t i = 0; i < p->ntok_in; i++) {
		size_t k;

		for (k = 0; k < p->ntok_check && p->tok_check[k] != p->tok_in[i]; k++)
			;
		if (k < p->ntok_check)
			continue;
		if (p->ntok_check == STREAM_CHECKED_TOKENS) {
			memmove(p->tok_check, p->tok_check + 1,
			    sizeof(p->tok_check[0]) * (p->ntok_check - 1));
			p->ntok_check--;
		}
		p->tok_check[p->ntok_check++] = p->tok_in[i];
	}
	p->ntok_in = 0;
	p->check_listed = p->listed;
}

/*
 * Start a check on the active: of everything, or targeted, of the entries
 * the touched list names (what a node cut loose by the quota missed, or
 * what a copy changed before a crash while active).
 */
static void check_poll_arm(struct plane *p);

int
plane_check(struct plane *p, bool full, bool rehash, char *err, size_t errlen)
{
	struct check_emitter em = { p, sink_lock, sink_unlock, check_emit };
	struct check_respond_stats rs;
	struct check_target *targets = NULL;
	size_t ntargets = 0;

	if (p->role != PL_ACTIVE || !capturing(p)) {
		snprintf(err, errlen, "a check runs on the active node; this node is %s",
		    plane_role_names[p->role]);
		return -1;
	}
	check_lock(p);
	if (p->scanner != NULL || p->check_running) {
		pthread_mutex_unlock(&p->check_mu);
		snprintf(err, errlen, "a check is already running");
		return -1;
	}
	pthread_mutex_unlock(&p->check_mu);
	config_manifests(p);            /* the config entries are checked with every check */
	p->check_overflows = p->overflows;
	tokens_begin(p);
	touched_take(p);
	if (!full && p->touched_lost) {
		log_warnx("check: an entry could not be listed as touched: checking everything");
		full = true;
	}
	if (full)
		p->touched_lost = false;
	if (!full && !touched_targets(p, &targets, &ntargets)) {
		log_warnx("check: the touched list cannot say which files to check: checking "
		    "everything");
		full = true;
	}
	check_lock(p);
	p->scanner = check_scanner_new(p->rootfds, p->conf->protect_data.n, &em, targets,
	    ntargets);
	targets_free(targets, ntargets);
	if (p->scanner == NULL) {
		pthread_mutex_unlock(&p->check_mu);
		snprintf(err, errlen, "cannot start the scan (see the log)");
		return -1;
	}
	check_scanner_use_cache(p->scanner, p->scan_cache, rehash);
	/* The cache keeps what the last full check saw: files gone since leave it. */
	if (full)
		hashcache_sweep(p->scan_cache);
	p->check_rehash = rehash;
	check_responder_stats(p->responder, &rs);
	p->wants_at_begin = p->wants_added;
	p->repairs_at_begin = rs.ops;
	p->check_running = true;
	p->check_full = full;
	p->check_targets = ntargets;
	p->check_id++;
	p->check_started_ms = now_mono_ms();
	p->check_result[0] = '\0';
	memset(&p->scan_stats, 0, sizeof(p->scan_stats));
	pthread_cond_broadcast(&p->check_cv);
	pthread_mutex_unlock(&p->check_mu);
	check_poll_arm(p);
	if (full)
		log_info("check of the whole protected set started%s",
		    rehash ? ", reading every file (rehash)" : "");
	else
		log_info("targeted check of %zu entries started (the touched list)%s", ntargets,
		    rehash ? ", reading every file (rehash)" : "");
	return 0;
}

/* A check was asked for (by a copy downstream): now, or when the one running ends. */
static void
check_request(struct plane *p, enum need what, int from)
{
	char why[256], who[64];

	if (p->check_running) {
		/* A targeted check that began after the last cut and list already covers it. */
		if (what == NEED_TOUCHED && p->overflows == p->check_overflows &&
		    p->listed == p->check_listed)
			return;
		if ((int)what > p->check_next)
			p->check_next = what;
		return;
	}
	if (from >= 0)
		snprintf(who, sizeof(who), "%s's copy needs", node_name(from));
	else
		snprintf(who, sizeof(who), "asked for earlier (or after a crash):");
	if (plane_check(p, what == NEED_FULL, false, why, sizeof(why)) == 0)
		log_info("check: %s a %s one", who, what == NEED_FULL ? "full" : "targeted");
	else
		log_warnx("check: %s a %s one, which cannot start: %s", who,
		    what == NEED_FULL ? "full" : "targeted", why);
}

/*
 * A check ended in sync: its touched list is done with, and a node cut
 * loose by the quota before it began is in step again. One cut while it
 * ran needs the next check.
 */
static void
check_succeeded(struct plane *p)
{
	if (unlink(p->checking_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s", p->checking_path);
	if (p->listed != p->check_listed && p->check_next < NEED_TOUCHED)
		p->check_next = NEED_TOUCHED;   /* a list came while it ran */
	if (p->overflows != p->check_overflows) {
		if (p->check_next < NEED_TOUCHED)
			p->check_next = NEED_TOUCHED;
		return;
	}
	for (size_t i = 0; i < p->ndown; i++)
		journal_consumer_clear_overflow(p->journal, p->down[i].consumer);
	if (p->check_full)
		crash_checked(p);
}

/*
 * The check is over when the scan is done, every want answered, and the
 * first node downstream has applied every op it emitted: its wants come
 * before the ACK that says so. Then every node downstream hears CHECKED.
 */
static void
check_progress(struct plane *p)
{
	struct check_respond_stats rs;
	struct stream_status st;
	uint64_t last = p->check_last_seq;

	if (!p->check_running || p->ndown == 0)
		return;
	check_lock(p);
	check_responder_stats(p->responder, &rs);
	if (p->scanner != NULL || rs.wants < p->wants_added) {
		pthread_mutex_unlock(&p->check_mu);
		return;
	}
	sender_status(p->down[0].sender, &st);
	if (!st.connected || st.applied_seq < last) {
		pthread_mutex_unlock(&p->check_mu);
		return;
	}
	p->check_running = false;
	p->check_ended_ms = now_mono_ms();
	snprintf(p->check_result, sizeof(p->check_result), "in-sync: %" PRIu64 " wants answered",
	    p->wants_added - p->wants_at_begin);
	pthread_mutex_unlock(&p->check_mu);
	log_info("%s check done in %" PRIu64 " ms: %" PRIu64 " entries, %" PRIu64 " bytes hashed, %"
	    PRIu64 " wants answered; the copies are in sync up to seq %" PRIu64,
	    p->check_full ? "full" : "targeted", p->check_ended_ms - p->check_started_ms,
	    p->scan_stats.entries, p->scan_stats.bytes, p->wants_added - p->wants_at_begin, last);
	check_succeeded(p);
	for (size_t i = 0; i < p->ndown; i++)
		sender_send_checked(p->down[i].sender, last, p->tok_check, p->ntok_check);
	p->ntok_check = 0;
}

/* ---- waiting for the end of a check ---- */

static json_t *check_json(struct plane *p);

/* Whether a caller waiting for check id has its answer: that check is not running. */
static bool
check_over(const struct plane *p, uint64_t id)
{
	return p->check_id != id || !p->check_running;
}

/* Answer the waiters whose check is over or whose time is up (all of them when stopping). */
static void
waiters_answer(struct plane *p, bool stopping)
{
	uint64_t now = now_mono_ms();
	json_t *check = NULL;
	size_t i = 0;

	while (i < p->nwaiters) {
		struct check_waiter w = p->waiters[i];

		if (!stopping && !check_over(p, w.id) && now < w.deadline_ms) {
			i++;
			continue;
		}
		p->waiters[i] = p->waiters[--p->nwaiters];
		if (check == NULL && !stopping)
			check = check_json(p);
		w.done(w.arg, check);
	}
	json_decref(check);
}

/*
 * While a check runs or someone waits for one: look for its end every
 * CHECK_POLL_MS instead of on the tick, so `lifeline check --wait` returns
 * as soon as the passive applied the last op. check_progress takes
 * check_mu, which the check thread gives up between two steps.
 */
static void
on_check_poll(evutil_socket_t fd, short what, void *arg)
{
	struct plane *p = arg;

	check_progress(p);
	waiters_answer(p, false);
	check_poll_arm(p);
}

static void
check_poll_arm(struct plane *p)
{
	struct timeval tv = { 0, CHECK_POLL_MS * 1000 };

	if ((p->check_running || p->nwaiters > 0) && !evtimer_pending(p->check_ev, NULL))
		evtimer_add(p->check_ev, &tv);
}

void
plane_check_wait(struct plane *p, uint64_t id, int timeout_ms, plane_check_fn *done, void *arg)
{
	if (p->nwaiters == p->waiters_cap) {
		p->waiters_cap = p->waiters_cap ? 2 * p->waiters_cap : 4;
		p->waiters = xrealloc(p->waiters, p->waiters_cap * sizeof(*p->waiters));
	}
	p->waiters[p->nwaiters++] = (struct check_waiter){ id,
	    now_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0), done, arg };
	check_poll_arm(p);
}

/* ---- the applier thread ---- */

static void
apply_fail(struct plane *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
apply_fail(struct plane *p, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(p->apply_error)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, p->apply_error) != 0)
		log_warnx("apply: %s", msg);
	xstrlcpy(p->apply_error, msg, sizeof(p->apply_error));
}

static void save_tail_files(struct plane *p, const char *saved);
static void apply_skip(struct plane *p, uint64_t seq);
static void need_full_check(struct plane *p);
static void apply_move(struct plane *p, uint64_t seq);

/* Sleep up to ms, or until the loop has news for the thread (apply_wake). */
static void
apply_pause(struct plane *p, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->mu);
	pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	pthread_mutex_unlock(&p->mu);
}

/* From the loop: the thread has news (run, stop, a cut). Never waits for it. */
static void
apply_wake(struct plane *p)
{
	pthread_mutex_lock(&p->mu);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/*
 * From the loop: stop applying. Returns the request's number; the thread
 * has stopped, synced, once apply_paused says so for it.
 */
static uint64_t
apply_stop(struct plane *p)
{
	p->apply_run = false;
	return ++p->pause_req;
}

static bool
apply_paused(const struct plane *p, uint64_t req)
{
	return p->pause_ack >= req;
}

/*
 * The entries one record of a divergent tail changed, into the list b, as
 * the quota lists what a node downstream missed (on_overflow): renames
 * deep on both sides, a link's new name, repairs deep, the rest itself.
 */
static int
tail_pick(struct own_build *b, const struct op *op)
{
	switch (op->type) {
	case RECORD_FSYNC_BARRIER:
		return 0;
	case RECORD_RENAME:
		if (own_pick(b, op->root, op->path2, op->path2_len, true) < 0)
			return -1;
		return own_pick(b, op->root, op->path, op->path_len, true);
	case RECORD_LINK:
		if (own_pick(b, op->root, op->path2, op->path2_len, false) < 0)
			return -1;
		break;
	case RECORD_VERIFY:
	case RECORD_DATA:
		return own_pick(b, op->root, op->path, op->path_len, true);
	}
	return own_pick(b, op->root, op->path, op->path_len, false);
}

/*
 * On the applier thread, once a divergent tail is saved: list the entries
 * its records (the file saved) changed, with those of the node's own
 * crash list if one waits, as the list this copy sends up for a targeted
 * check (own_path, a new token), instead of asking for a full one. The
 * check that covers it brings back those entries and their folders'
 * listings, which is all the tail changed here. false when they cannot
 * all be listed (a record that does not decode, more than one list
 * holds, the list not written): a full check then.
 */
static bool
cut_list(struct plane *p, const char *saved)
{
	struct own_build b = { xmalloc(65536), CHECK_LIST_HEAD, 65536, false };
	size_t len = 0, off = 0, records = 0;
	uint8_t *buf = (uint8_t *)read_file(saved, 1u << 30, &len), *old;
	uint64_t token;
	char why[256];
	bool ok = buf != NULL;

	pthread_mutex_lock(&p->own_mu);
	if (ok && p->own_pending)
		ok = check_list_decode(p->own_list, p->own_len, &token, own_pick, &b, why,
		    sizeof(why)) == 0;
	pthread_mutex_unlock(&p->own_mu);
	while (ok && off < len) {
		struct record_hdr h;
		const uint8_t *payload;
		struct op op;

		ok = record_decode(buf + off, len - off, &h, &payload, why, sizeof(why)) == 0 &&
		    op_decode(h.type, payload, h.length, &op, why, sizeof(why)) == 0 &&
		    op.root < p->conf->protect_data.n && tail_pick(&b, &op) == 0;
		off += ok ? record_size(&h) : 0;
		records++;
	}
	free(buf);
	token = own_new_token();
	put64(b.buf, token);
	if (ok && write_file_atomic(p->own_path, (const char *)b.buf, b.len, 0600) < 0) {
		log_warn("cannot write %s", p->own_path);
		ok = false;
	}
	if (!ok) {
		free(b.buf);
		return false;
	}
	pthread_mutex_lock(&p->own_mu);
	old = p->own_list;
	p->own_list = b.buf;
	p->own_len = b.len;
	p->own_token = token;
	p->checked_mine = false;         /* a CHECKED seen before covered the list before */
	p->own_pending = true;
	p->own_resend = true;
	pthread_mutex_unlock(&p->own_mu);
	free(old);
	log_warnx("the %zu records of the divergent tail are listed, with the entries they "
	    "changed, in %s for a targeted check", records, p->own_path);
	return true;
}

/* A cut the loop handed over: save the tail's files, move the position back. */
static bool
take_cut(struct plane *p)
{
	struct apply_pos pos;
	char *saved;
	uint64_t to;
	bool listed = false;

	pthread_mutex_lock(&p->cut_mu);
	if (!p->cut_pending) {
		pthread_mutex_unlock(&p->cut_mu);
		return false;
	}
	p->cut_pending = false;
	to = p->cut_to;
	saved = p->cut_saved;
	p->cut_saved = NULL;
	pthread_mutex_unlock(&p->cut_mu);
	if (saved != NULL)
		save_tail_files(p, saved);
	if (p->cut_listing) {
		listed = saved != NULL && cut_list(p, saved);
		if (!listed) {
			/* The POS that followed the cut did not say so: ask now. */
			log_warnx("the entries of the divergent tail cannot be listed: the copy needs a "
			    "full check");
			need_full_check(p);
		}
		p->cut_listing = false;
	}
	free(saved);
	/* The tail's records were applied here (the capture made them): back to the cut. */
	pos = applier_pos(p->applier);
	if (pos.seq > to && listed)
		apply_move(p, to);
	else if (pos.seq > to)
		apply_skip(p, to);
	return true;
}

/* Copy one file of a divergent tail, as this copy has it, under dir/root<N>/path. */
static void
save_tail_file(struct plane *p, const char *dir, unsigned root, const char *path)
{
	char *to = xasprintf("%s/root%u/%s", dir, root, path), *slash, buf[65536];
	int in, out = -1;
	struct stat st;
	ssize_t n;

	if ((in = applier_openat(p->applier, root, path, O_RDONLY, 0)) < 0)
		goto out;              /* gone here, or not a file: the records say what it was */
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || access(to, F_OK) == 0)
		goto out;
	if ((slash = strrchr(to, '/')) != NULL) {
		*slash = '\0';
		mkdir_p(to, 0700);
		*slash = '/';
	}
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777)) < 0) {
		log_warn("quarantine: %s", to);
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			log_warn("quarantine: %s", to);
			break;
		}
	if (fsync(out) < 0)
		log_warn("quarantine: %s", to);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(to);
}

/*
 * The files a divergent tail changed, as this copy has them now, go next
 * to the saved records (DIR/files/root<N>/path) before the check repairs
 * them: with the records, what only this node had is all there.
 */
static void
save_tail_files(struct plane *p, const char *saved)
{
	size_t len, off = 0, nfiles = 0;
	uint8_t *buf = (uint8_t *)read_file(saved, 1u << 30, &len);
	char *dir = xstrdup(saved), *files, *slash;

	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	files = xasprintf("%s/files", dir);
	while (buf != NULL && off < len) {
		struct record_hdr h;
		const uint8_t *payload;
		struct op op;
		char why[128];

		if (record_decode(buf + off, len - off, &h, &payload, why, sizeof(why)) < 0)
			break;
		off += record_size(&h);
		if (op_decode(h.type, payload, h.length, &op, why, sizeof(why)) < 0 || op.path_len == 0)
			continue;
		save_tail_file(p, files, op.root, op.path);
		nfiles++;
	}
	if (nfiles > 0)
		log_warnx("quarantine: the files of the divergent tail, as this node had them, are in %s",
		    files);
	note_quarantine(p, dir);
	free(buf);
	free(files);
	free(dir);
}

/*
 * Whether the check that ended at seq was a full one: the last check
 * whose first VERIFY came at or before seq. The applier may be past the
 * first VERIFY of the next check by the time the end is seen.
 */
static bool
ended_full(const struct plane *p, uint64_t seq)
{
	uint64_t best = 0;
	bool full = false;

	for (size_t i = 0; i < 4 && i < p->nbegins; i++)
		if (p->begins[i].seq <= seq && p->begins[i].seq > best) {
			best = p->begins[i].seq;
			full = p->begins[i].full;
		}
	return full;
}

/* A check ended and this copy applied everything up to its end: in sync again. */
static void
check_passed(struct plane *p)
{
	uint64_t seq = p->checked_seq;
	bool full = ended_full(p, seq);

	p->checked_seq = 0;
	p->checking = false;
	if (p->env.up_dropped != p->dropped_at_begin) {
		/* Some of its wants never reached the active: not in sync; the next POS asks again. */
		log_warnx("check: ended, but wants of this copy were lost on the way; it still needs one");
		p->env.needs_check = true;
		return;
	}
	p->env.needs_touched = false;
	if (p->own_pending) {
		if (full || p->checked_mine)
			own_done(p, full ? "a full check" : "a targeted check of them");
		else {
			log_warnx("check: a check ended that did not cover the entries this copy changed "
			    "before its crash; they go up again");
			p->own_resend = true;
			return;
		}
	}
	if (!full && p->env.needs_check) {
		log_warnx("check: a targeted check ended, but this copy needs a full one");
		return;
	}
	log_info("check: this copy is in sync with the active as of seq %" PRIu64, seq);
	p->env.needs_check = false;
	if (full)
		crash_checked(p);
	/* A full check reached every node below too. */
	if (full && unlink(p->down_check_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s", p->down_check_path);
}

/* Move the position past seq without applying what lies before it. */
static void
apply_move(struct plane *p, uint64_t seq)
{
	struct apply_pos pos = applier_pos(p->applier);
	char err[256];

	pos.seq = seq;
	if (applier_set_pos(p->applier, pos, err, sizeof(err)) < 0)
		apply_fail(p, "cannot move past seq %" PRIu64 ": %s", seq, err);
}

/*
 * On the applier thread: the copy is found to differ where no list says,
 * and needs a full check. The active hears of it from a POS, which only a
 * new connection sends; a copy that finds it out while streaming asks at
 * once, else it would stay out of sync until it reconnects.
 */
static void
need_full_check(struct plane *p)
{
	if (p->env.needs_check)
		return;
	p->env.needs_check = true;
	if (p->role == PL_PASSIVE && p->receiver != NULL)
		receiver_send_up(p->receiver, STREAM_UP_CHECK, NULL, 0);
}

/* Skip past seq: its record cannot be applied; its files are left to a full check. */
static void
apply_skip(struct plane *p, uint64_t seq)
{
	apply_move(p, seq);
	need_full_check(p);
}

/* Make what was applied durable and say so: ACKs, journal segments, status. */
static bool
apply_sync(struct plane *p)
{
	char err[256];
	uint64_t seq;

	if (applier_sync(p->applier, err, sizeof(err)) < 0) {
		apply_fail(p, "%s", err);
		return false;
	}
	p->changed_unsynced = false;
	seq = applier_pos(p->applier).seq;
	p->env.applied_seq = seq;
	if (p->apply_consumer >= 0)
		journal_consumer_done(p->journal, p->apply_consumer, seq);
	if (p->receiver != NULL)
		receiver_applied(p->receiver);
	return true;
}

/*
 * A reader from the applier's position. Records before the journal's
 * oldest are gone (a quota cut upstream, a new journal): the copy then
 * needs a check and the applier goes on from what is there.
 */
static struct journal_reader *
apply_reader(struct plane *p)
{
	struct apply_pos pos = applier_pos(p->applier);
	uint64_t first = journal_oldest_seq(p->journal);
	struct journal_reader *r;
	char err[256];

	if (pos.seq + 1 < first && first - 1 == p->skipped_to) {
		/* Skipped on purpose (on_skip): the targeted check it waits for covers them. */
		log_info("apply: records %" PRIu64 "..%" PRIu64 " were skipped upstream; going on "
		    "after them", pos.seq + 1, first - 1);
		apply_move(p, first - 1);
		pos = applier_pos(p->applier);
	} else if (pos.seq + 1 < first) {
		apply_fail(p, "records %" PRIu64 "..%" PRIu64 " are not in the journal: "
		    "the copy needs a check", pos.seq + 1, first - 1);
		apply_skip(p, first - 1);
		pos = applier_pos(p->applier);
	}
	if ((r = journal_reader_new(p->journal, pos.seq, true, err, sizeof(err))) == NULL)
		apply_fail(p, "%s", err);
	return r;
}

/* Send what a VERIFY found missing or different up to the active, in messages that fit. */
static void
send_wants(struct plane *p, const struct check_result *res)
{
	size_t done = 0, cap = STREAM_MAX_PAYLOAD - STREAM_UP_HEAD;

	if (p->receiver == NULL)
		return;
	while (done < res->nwants) {
		size_t taken = 0;
		size_t n = check_wants_encode(p->wants_buf, cap, res->wants + done,
		    res->nwants - done, &taken);

		if (n == 0 || taken == 0) {
			log_warnx("check: a want for %s does not encode; the copy stays out of sync",
			    res->wants[done].path);
			p->env.needs_check = true;
			done++;
			continue;
		}
		receiver_send_up(p->receiver, STREAM_UP_WANTS, p->wants_buf, n);
		done += taken;
	}
}

/*
 * Compare the copy with a VERIFY, the applier having applied everything
 * before it. What only this node has is moved into quarantine; what
 * differs is asked for. The position is made durable first when a record
 * since the last sync changed the copy: a move into quarantine must never
 * sit under a position a crash would replay changes from. Only VERIFY
 * records since then (they change nothing) need no sync: a replay of
 * them verifies again, and wants asked twice are answered twice, which
 * repairs nothing twice. That keeps a check of many unchanged entries
 * from paying a position write and an fdatasync per entry. false when the
 * position could not be made durable.
 */
static bool
verify_record(struct plane *p, const struct record_hdr *h, const struct op *op)
{
	char why[512];

	if (p->changed_unsynced && !apply_sync(p))
		return false;
	if ((op->flags & OP_VERIFY_BEGIN) || p->verifier == NULL) {
		/* A dated folder for what this check moves aside: QUARANTINE/DATE-check. */
		char *q = dated_path(p->quarantine, "check");

		check_verifier_free(p->verifier);
		p->verifier = check_verifier_new(p->applier, q);
		check_verifier_use_cache(p->verifier, p->verify_cache);
		/* The cache keeps what the last full check saw: files gone since leave it. */
		if ((op->flags & OP_VERIFY_BEGIN) && (op->flags & OP_VERIFY_FULL))
			hashcache_sweep(p->verify_cache);
		free(p->verify_folder);
		p->verify_folder = q;
		p->checking = true;
		p->verifying_full = (op->flags & OP_VERIFY_FULL) != 0;
		p->begins[p->nbegins % 4].seq = h->seq;
		p->begins[p->nbegins % 4].full = p->verifying_full;
		p->nbegins++;
		p->dropped_at_begin = p->env.up_dropped;
	}
	if (check_verify(p->verifier, op, &p->vres, why, sizeof(why)) < 0) {
		apply_fail(p, "check of record %" PRIu64 ": %s", h->seq, why);
		p->env.needs_check = true;
	}
	for (size_t i = 0; i < p->vres.nmoved; i++) {
		char *where = xasprintf("%s/%s", p->verify_folder, p->vres.moved[i]);

		log_warnx("check: %s was only on this node: moved to %s", p->vres.moved[i], where);
		note_quarantine(p, where);
		free(where);
	}
	p->quarantined += p->vres.nmoved;
	send_wants(p, &p->vres);
	check_result_clear(&p->vres);
	return true;
}

/*
 * A new quarantine folder for one config comparison or one folder set
 * aside: QUARANTINE/DATE-config-XXXXXX, made here, so no two share one
 * (a symlink kept by one must not lead another's copies elsewhere).
 * NULL (logged) when it cannot be made.
 */
static char *
quarantine_folder(struct plane *p)
{
	char *dated = dated_path(p->quarantine, "config"), *q = xasprintf("%s-XXXXXX", dated);

	free(dated);
	if (mkdir_p(p->quarantine, 0700) == -1 || mkdtemp(q) == NULL) {
		log_warn("config: cannot make a quarantine folder under %s", p->quarantine);
		free(q);
		return NULL;
	}
	return q;
}

/*
 * Ask the active for config entry root whole (it sends it again as it is).
 * Outside a check, at most once per CONFIG_WANT_MS for an entry: a copy that cannot take it
 * (a folder holding excluded files where the active has a file) would
 * otherwise ask again for every record the answer brings.
 */
static void
want_config_entry(struct plane *p, uint16_t root, bool from_check)
{
	const struct confroot *r = confroots_at(&p->confroots, root);
	struct check_want w = { .root = root, .kind = CHECK_WANT_ENTRY };
	struct check_result res = { .wants = &w, .nwants = 1 };
	uint64_t now = now_mono_ms(), *last;

	if (r == NULL)
		return;
	last = &p->config_wanted_ms[root - p->confroots.first];
	if (!from_check) {
		if (*last != 0 && now - *last < CONFIG_WANT_MS) {
			log_warnx("config entry %s still differs here; asked for it again less than "
			    "%d s ago: the next check compares it", r->entry, CONFIG_WANT_MS / 1000);
			return;
		}
		*last = now;
	}
	w.path = r->name;
	w.path_len = (uint16_t)r->name_len;
	send_wants(p, &res);
}

#define DRIFT_LOGGED  20          /* drifts of one manifest logged one by one; then a count */

/*
 * A config entry's manifest, the applier having applied everything before
 * it: what differs here is drift. This node's version is kept in the
 * quarantine, the drift is logged and counted (lifelined makes it an
 * event), and the entry is asked for whole.
 */
static void
manifest_record(struct plane *p, const struct record_hdr *h, const struct op *op)
{
	const struct confroot *r = confroots_at(&p->confroots, op->root);
	char why[512], *q;
	int fd;

	if (r == NULL)
		return;                 /* refused by the applier next */
	if (h->seq <= p->replay_until) {
		/* Applied again after a restart: the copy may hold records after it already. */
		log_info("config check of %s (record %" PRIu64 ") skipped: replayed after a restart; "
		    "the next check compares it", r->entry, h->seq);
		return;
	}
	if (p->changed_unsynced && !apply_sync(p))
		return;
	if ((q = quarantine_folder(p)) == NULL)
		return;
	if ((fd = applier_config_fd(p->applier, op->root)) == -1)
		log_warn("config check of %s: its folder %s", r->entry, r->parent);
	else if (confcheck_compare(&p->confroots, fd, op, q, &p->cres, why, sizeof(why)) < 0)
		log_warnx("config check of %s (record %" PRIu64 "): %s", r->entry, h->seq, why);
	for (size_t i = 0; i < p->cres.ndrift; i++) {
		const struct confdrift *d = &p->cres.drift[i];
		char msg[sizeof(p->drift_last)];

		snprintf(msg, sizeof(msg), "config drift: %s on this node %s the active's (%s); "
		    "the active's copy wins%s%s; to keep this node's instead, make the same change "
		    "on the active node", d->path, strcmp(d->what, "only here") == 0 ? "is not in" :
		    strcmp(d->what, "missing here") == 0 ? "is missing from" : "differs from",
		    d->what, d->kept != NULL ? ", this node's version is kept in " : "",
		    d->kept != NULL ? d->kept : "");
		if (i < DRIFT_LOGGED)
			log_warnx("%s", msg);
		pthread_mutex_lock(&p->q_mu);
		p->drift_count++;
		snprintf(p->drift_last, sizeof(p->drift_last), "%s", msg);
		pthread_mutex_unlock(&p->q_mu);
	}
	if (p->cres.ndrift > DRIFT_LOGGED)
		log_warnx("config drift: %zu more entries of %s differ", p->cres.ndrift - DRIFT_LOGGED,
		    r->entry);
	if (p->cres.want)
		want_config_entry(p, op->root, true);
	confcheck_result_clear(&p->cres);
	free(q);
}

/* Apply one record; false when the reader must start again from the position. */
static bool
apply_record(struct plane *p, const struct record_hdr *h, const uint8_t *rec)
{
	struct op op;
	char why[512];

	if (op_decode(h->type, rec + RECORD_HDR_SIZE, h->length, &op, why, sizeof(why)) < 0) {
		p->refused++;
		apply_fail(p, "record %" PRIu64 " refused: %s", h->seq, why);
		apply_skip(p, h->seq);
		return true;
	}
	if (h->type == RECORD_VERIFY && !verify_record(p, h, &op))
		return false;
	if (h->type == RECORD_CONFIG_MANIFEST)
		manifest_record(p, h, &op);
	if (h->type != RECORD_VERIFY)
		p->changed_unsynced = true;
	switch (applier_apply(p->applier, h, &op, why, sizeof(why))) {
	case APPLY_OK:
		p->applied_records++;
		return true;
	case APPLY_DIVERGED:
		/*
		 * The copy differs here: go on, the check repairs it. After a
		 * skip the records that made it differ were skipped, and named
		 * the file in the touched list: the targeted check covers it.
		 */
		if (confroots_at(&p->confroots, op.root) != NULL) {
			/* A config entry: asked for whole again, no check of the data needed. */
			log_warnx("apply: %s (config entry asked for again)", why);
			p->diverged++;
			want_config_entry(p, op.root, false);
			return true;
		}
		if (p->diverged++ % 1000 == 0)
			log_warnx("apply: %s (the copy needs a check)", why);
		if (!p->env.needs_touched)
			need_full_check(p);
		return true;
	case APPLY_REFUSED:
		p->refused++;
		apply_fail(p, "%s", why);
		if (applier_pos(p->applier).seq + 1 != h->seq)
			return false;          /* out of step with the reader */
		apply_skip(p, h->seq);
		return true;
	case APPLY_FAILED:
		apply_fail(p, "%s; trying again", why);
		return false;
	}
	return false;
}

/*
 * On a passive node, apply every durable record in order, syncing the
 * position in batches; idle otherwise. mu is held except while waiting
 * for new records, so the loop, holding mu, knows the thread is between
 * two records.
 */
static void *
apply_main(void *arg)
{
	struct plane *p = arg;
	struct journal_reader *r = NULL;
	uint64_t synced_ms = now_mono_ms();
	unsigned unsynced = 0;

	/* Before any record changes the copy (and its ctimes), or the capture starts. */
	if (p->crash_walk)
		crash_walk(p);
	while (!p->apply_quit) {
		uint64_t req = p->pause_req;
		struct record_hdr h;
		const uint8_t *rec;
		size_t len;
		char err[256];
		int rc;

		if (take_cut(p)) {
			journal_reader_free(r);
			r = NULL;
		}
		if (!p->apply_run) {
			if (unsynced > 0 && apply_sync(p))
				unsynced = 0;
			journal_reader_free(r);
			r = NULL;
			if (unsynced == 0)
				p->pause_ack = req;
			apply_pause(p, 200);
			continue;
		}
		if (r == NULL && (r = apply_reader(p)) == NULL) {
			apply_pause(p, 1000);
			continue;
		}
		rc = journal_reader_next(r, &h, &rec, &len, err, sizeof(err));
		if (rc < 0)
			apply_fail(p, "journal: %s", err);
		if (rc == 1 && apply_record(p, &h, rec))
			unsynced++;
		else if (rc != 0) {
			journal_reader_free(r);
			r = NULL;
			apply_pause(p, 1000);
			continue;
		}
		if (unsynced > 0 && (rc == 0 || unsynced >= APPLY_SYNC_RECORDS ||
		    now_mono_ms() - synced_ms >= APPLY_SYNC_MS)) {
			if (apply_sync(p))
				p->apply_error[0] = '\0';
			unsynced = 0;
			synced_ms = now_mono_ms();
		}
		if (p->checked_seq != 0 && p->env.applied_seq >= p->checked_seq)
			check_passed(p);
		if (rc == 0)
			journal_wait_append(p->journal, applier_pos(p->applier).seq, true, 100);
	}
	if (unsynced > 0)
		apply_sync(p);
	journal_reader_free(r);
	return NULL;
}

/* ---- downstream ---- */

static bool
is_dr_hop(const struct plane *p, enum node_id peer)
{
	return p->conf->mode == MODE_DR || p->self == NODE_TERTIARY || peer == NODE_TERTIARY;
}

static struct sender *
new_sender(struct plane *p, enum node_id peer, int consumer)
{
	bool dr = is_dr_hop(p, peer);
	enum stream_codec codec = STREAM_CODEC_NONE;

	if (p->compress == COMPRESS_ZSTD || (p->compress == COMPRESS_AUTO && dr))
		codec = STREAM_CODEC_ZSTD;
	return sender_new(&p->env, peer, consumer, codec, dr ? p->bandwidth : 0);
}

/*
 * Ship to exactly the nodes of down[]: senders for new ones (their
 * journal consumer holds every record until the node says where it
 * stands), none for those gone. Called with no capture running.
 */
static void
set_downstream(struct plane *p, const int *down, size_t ndown)
{
	struct downstream next[NODE_COUNT];
	size_t n = 0;

	if (p->server_ctx == NULL)
		ndown = 0;            /* no TLS: this node runs alone */
	for (size_t i = 0; i < ndown && n < NODE_COUNT; i++) {
		struct downstream *d = NULL;

		for (size_t k = 0; k < p->ndown; k++)
			if (p->down[k].sender != NULL && (int)p->down[k].peer == down[i])
				d = &p->down[k];
		if (d != NULL) {
			next[n] = *d;
			d->sender = NULL;
		} else {
			uint64_t first = journal_first_seq(p->journal);
			uint64_t from = first != 0 ? first - 1 : journal_last_seq(p->journal);
			int consumer = journal_consumer_add(p->journal, node_name(down[i]), from);

			if (consumer < 0) {
				log_warnx("stream to %s: no journal consumer left", node_name(down[i]));
				continue;
			}
			next[n] = (struct downstream){ .peer = down[i], .consumer = consumer,
			    .down_since_ms = now_mono_ms() };
			next[n].sender = new_sender(p, down[i], consumer);
		}
		n++;
	}
	pthread_mutex_lock(&p->down_mu);
	for (size_t k = 0; k < p->ndown; k++)
		if (p->down[k].sender != NULL) {
			sender_free(p->down[k].sender);
			journal_consumer_remove(p->journal, p->down[k].consumer);
		}
	memcpy(p->down, next, sizeof(next[0]) * n);
	p->ndown = n;
	pthread_mutex_unlock(&p->down_mu);
}

/* ---- role changes ---- */

/* Called only while the applier thread is stopped (active, or leaving it). */
static void
set_apply_consumer(struct plane *p, bool on, uint64_t done)
{
	if (on && p->apply_consumer < 0)
		p->apply_consumer = journal_consumer_add(p->journal, "apply", done);
	else if (!on && p->apply_consumer >= 0) {
		journal_consumer_remove(p->journal, p->apply_consumer);
		p->apply_consumer = -1;
	}
}

/*
 * Leave the active role: no more capture, and the copy holds every record
 * this node journaled, so the applier's position moves to the last one.
 */
static int
leave_active(struct plane *p, char *err, size_t errlen)
{
	struct apply_pos pos;
	int rc;

	stop_captures(p);
	check_cancel(p, "this node is no longer active");
	if (journal_sync(p->journal, err, errlen) < 0)
		return -1;
	pos.seq = journal_last_seq(p->journal);
	pos.epoch = journal_last_epoch(p->journal);
	/* The applier thread is stopped while the node is active. */
	rc = pos.seq == 0 ? 0 : applier_set_pos(p->applier, pos, err, errlen);
	if (rc == 0)
		p->env.applied_seq = pos.seq;
	if (rc < 0)
		return -1;
	if (unlink(p->capturing_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s", p->capturing_path);
	set_apply_consumer(p, true, pos.seq);
	marks_reset(p);
	p->role = PL_PASSIVE;
	return 0;
}

int
plane_passive(struct plane *p, uint64_t epoch, int upstream, const int *down, size_t ndown,
    char *err, size_t errlen)
{
	if (epoch < p->env.epoch) {
		snprintf(err, errlen, "epoch %" PRIu64 " is below this node's %" PRIu64, epoch,
		    (uint64_t)p->env.epoch);
		return -1;
	}
	if (p->pending != PEND_NONE)
		finish_pending(p, -1, 0, "superseded: the node is now passive in epoch %" PRIu64, epoch);
	if (p->role == PL_ACTIVE && leave_active(p, err, errlen) < 0)
		return -1;
	/* A check under way was the old upstream's: its end will not come from the new one. */
	if (epoch != p->env.epoch || upstream != p->upstream)
		p->checking = false;
	p->env.epoch = epoch;
	p->role = PL_PASSIVE;
	set_downstream(p, down, ndown);
	p->upstream = upstream;
	if (p->receiver != NULL)
		receiver_set_upstream(p->receiver, upstream);
	p->apply_run = true;
	apply_wake(p);
	return 0;
}

/* The journal's records from here on are epoch's: say where it begins, durably. */
static int
begin_epoch(struct plane *p, uint64_t epoch, char *err, size_t errlen)
{
	uint64_t last = history_last_epoch(&p->history);

	if (last == epoch)
		return 0;
	if (last > epoch) {
		snprintf(err, errlen, "the journal already holds epoch %" PRIu64 ", above %" PRIu64,
		    last, epoch);
		return -1;
	}
	if (history_begin(&p->history, epoch, journal_last_seq(p->journal) + 1, err, errlen) < 0)
		return -1;
	if (history_save(p->history_path, &p->history) < 0) {
		snprintf(err, errlen, "cannot save the epoch history %s", p->history_path);
		return -1;
	}
	return 0;
}

static void
finish_pending(struct plane *p, int rc, uint64_t last, const char *fmt, ...)
{
	plane_done_fn *done = p->done;
	void *arg = p->done_arg;
	char why[512] = "";
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	event_del(p->poll_ev);
	p->pending = PEND_NONE;
	p->pending_pause = 0;
	p->done = NULL;
	p->done_arg = NULL;
	if (done != NULL)
		done(arg, rc, last, rc < 0 ? why : NULL);
}

/* The applier has done every record this node received: capture from here on. */
static void
become_active(struct plane *p)
{
	char err[512];

	/* poll_activate saw the applier thread stopped. */
	/* The verifier's memory is of the copy the applier wrote; the capture writes it now. */
	hashcache_clear(p->verify_cache);
	if (begin_epoch(p, p->pending_epoch, err, sizeof(err)) < 0)
		goto fail;
	set_apply_consumer(p, false, 0);
	set_downstream(p, p->pending_down, p->pending_ndown);
	/* The stamp first: a crash from here on finds one no older than the capture. */
	stamp_open(p);
	/* From here the copy is written by the capture: a restart must not apply to it again. */
	if (write_file_atomic(p->capturing_path, "1\n", 2, 0600) < 0) {
		snprintf(err, sizeof(err), "cannot write %s: %s", p->capturing_path, strerror(errno));
		set_apply_consumer(p, true, journal_last_seq(p->journal));
		stamp_close(p);
		goto fail;
	}
	if (start_captures(p, err, sizeof(err)) < 0) {
		stamp_close(p);
		unlink(p->capturing_path);
		set_apply_consumer(p, true, journal_last_seq(p->journal));
		goto fail;
	}
	p->role = PL_ACTIVE;
	marks_reset(p);
	if (p->crashed_active)
		p->check_next = NEED_FULL;      /* on_tick starts it */
	else if (p->own_pending)
		own_to_touched(p);
	log_info("active in epoch %" PRIu64 ": capturing %zu folder%s from seq %" PRIu64,
	    p->pending_epoch, p->ncaptures, p->ncaptures == 1 ? "" : "s",
	    journal_last_seq(p->journal) + 1);
	finish_pending(p, 0, journal_last_seq(p->journal), NULL);
	return;
fail:
	p->apply_run = true;
	apply_wake(p);
	p->role = PL_PASSIVE;
	finish_pending(p, -1, 0, "%s", err);
}

static void
poll_activate(struct plane *p)
{
	uint64_t last = journal_last_seq(p->journal), durable = journal_durable_seq(p->journal);
	uint64_t applied = p->env.applied_seq;

	if (durable >= last && applied >= last) {
		/* Stop the applier thread, and go on once it says it stopped. */
		if (p->pending_pause == 0)
			p->pending_pause = apply_stop(p);
		if (apply_paused(p, p->pending_pause)) {
			p->pending_pause = 0;
			become_active(p);
		}
		return;
	}
	if (now_mono_ms() < p->pending_deadline)
		return;
	finish_pending(p, -1, 0, "records up to %" PRIu64 " received, %" PRIu64 " durable, %" PRIu64
	    " applied after %d s%s%s", last, durable, applied, ACTIVATE_MAX_MS / 1000,
	    p->apply_error[0] != '\0' ? ": " : "", p->apply_error);
}

static void
poll_drain(struct plane *p)
{
	uint64_t last = journal_last_seq(p->journal);
	char lagging[256] = "";

	for (size_t i = 0; i < p->ndown; i++) {
		uint64_t acked = journal_consumer_seq(p->journal, p->down[i].consumer);

		if (acked < last)
			snprintf(lagging + strlen(lagging), sizeof(lagging) - strlen(lagging),
			    "%s%s acknowledged up to %" PRIu64 " of %" PRIu64, lagging[0] ? ", " : "",
			    node_name(p->down[i].peer), acked, last);
	}
	if (lagging[0] == '\0')
		finish_pending(p, 0, last, NULL);
	else if (now_mono_ms() >= p->pending_deadline)
		finish_pending(p, -1, 0, "queue not drained: %s", lagging);
}

static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct plane *p = arg;
	struct timeval tv = { 0, POLL_MS * 1000 };

	if (p->pending == PEND_ACTIVATE)
		poll_activate(p);
	else if (p->pending == PEND_DRAIN)
		poll_drain(p);
	if (p->pending != PEND_NONE)
		evtimer_add(p->poll_ev, &tv);
}

void
plane_activate(struct plane *p, uint64_t epoch, const int *down, size_t ndown, plane_done_fn *done,
    void *arg)
{
	char err[256];

	if (p->pending != PEND_NONE) {
		done(arg, -1, 0, "a role change is already under way");
		return;
	}
	if (epoch < p->env.epoch) {
		snprintf(err, sizeof(err), "epoch %" PRIu64 " is below this node's %" PRIu64, epoch,
		    (uint64_t)p->env.epoch);
		done(arg, -1, 0, err);
		return;
	}
	p->pending = PEND_ACTIVATE;
	p->pending_epoch = epoch;
	p->pending_deadline = now_mono_ms() + ACTIVATE_MAX_MS;
	p->pending_ndown = ndown < NODE_COUNT ? ndown : NODE_COUNT;
	memcpy(p->pending_down, down, sizeof(down[0]) * p->pending_ndown);
	p->done = done;
	p->done_arg = arg;
	if (p->role == PL_ACTIVE) {
		/* Already capturing (the engine restarted, or a forced epoch): only the epoch moves. */
		if (begin_epoch(p, epoch, err, sizeof(err)) < 0) {
			finish_pending(p, -1, 0, "%s", err);
			return;
		}
		p->env.epoch = epoch;
		set_downstream(p, p->pending_down, p->pending_ndown);
		/* Drained for a switchover that was then aborted: capture again. */
		if (!capturing(p) && start_captures(p, err, sizeof(err)) < 0) {
			finish_pending(p, -1, 0, "%s", err);
			return;
		}
		finish_pending(p, 0, journal_last_seq(p->journal), NULL);
		return;
	}
	/* No more records from the old upstream; what came is applied first. */
	p->env.epoch = epoch;
	p->upstream = -1;
	if (p->receiver != NULL)
		receiver_set_upstream(p->receiver, -1);
	p->apply_run = true;
	apply_wake(p);
	on_poll(-1, 0, p);
}

void
plane_drain(struct plane *p, const int *down, size_t ndown, int timeout_ms, plane_done_fn *done,
    void *arg)
{
	char err[256];

	if (p->pending != PEND_NONE) {
		done(arg, -1, 0, "a role change is already under way");
		return;
	}
	if (p->role == PL_PASSIVE) {
		done(arg, -1, 0, "this node is passive: it has nothing of its own to drain");
		return;
	}
	if (p->role == PL_IDLE)
		set_downstream(p, down, ndown);
	stop_captures(p);
	check_cancel(p, "a switchover drains the queue");
	if (journal_sync(p->journal, err, sizeof(err)) < 0) {
		done(arg, -1, 0, err);
		return;
	}
	p->pending = PEND_DRAIN;
	p->pending_deadline = now_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	p->done = done;
	p->done_arg = arg;
	on_poll(-1, 0, p);
}

/* ---- stream callbacks and the tick ---- */

static void
on_durable(void *arg, uint64_t durable_seq)
{
	struct plane *p = arg;

	mark(p, durable_seq, 0);
	for (size_t i = 0; i < p->ndown; i++)
		sender_wake(p->down[i].sender);
	/* A relay's own quota: a node downstream that lags is cut loose, never the applier. */
	if (p->ndown > 0 && p->apply_consumer >= 0 && journal_bytes(p->journal) > p->queue_bytes)
		journal_enforce_quota(p->journal, p->apply_consumer, on_lost, p);
}

/*
 * The upstream no longer holds records this journal lacks (stream.h,
 * on_skip). Only once the applier has applied every durable record: the
 * records then dropped were never acknowledged, so the active's touched
 * list names their files. The need of a targeted check is on disk before
 * the journal moves on, so a crash cannot forget it.
 */
static int
on_skip(void *arg, uint64_t next_seq, char *why, size_t whylen)
{
	struct plane *p = arg;
	uint64_t durable = journal_durable_seq(p->journal);

	if (p->role != PL_PASSIVE) {
		snprintf(why, whylen, "this node is %s", plane_role_names[p->role]);
		return -1;
	}
	if (p->env.applied_seq < durable) {
		snprintf(why, whylen, "the applier is at seq %" PRIu64 " of %" PRIu64 " durable here; "
		    "it applies them first", (uint64_t)p->env.applied_seq, durable);
		return -1;
	}
	p->env.needs_touched = true;
	if (save_needs_check(p) < 0) {
		snprintf(why, whylen, "cannot note that the copy needs a check in %s",
		    p->needs_check_path);
		return -1;
	}
	p->skipped_to = next_seq - 1;
	if (journal_skip_to(p->journal, next_seq, on_lost, p, why, whylen) < 0) {
		p->env.needs_check = true;
		return -1;
	}
	marks_reset(p);
	apply_wake(p);
	return 0;
}

/*
 * A divergent tail was cut (the loop): the applier thread saves its files
 * and lists the entries it changed for a targeted check (cut_list). Until
 * then the copy is out of sync and the disk says a full check is due, so
 * a crash before the list is written still gets one. A second cut before
 * the thread took the first: a full check.
 */
static bool
on_cut(void *arg, uint64_t keep_seq, const char *saved)
{
	struct plane *p = arg;
	bool again;

	pthread_mutex_lock(&p->cut_mu);
	again = p->cut_pending;
	p->cut_pending = true;
	p->cut_to = keep_seq;
	free(p->cut_saved);
	p->cut_saved = xstrdup(saved);
	if (!again)
		p->cut_listing = true;
	pthread_mutex_unlock(&p->cut_mu);
	save_needs_check(p);
	apply_wake(p);
	marks_reset(p);
	return !again;
}

/*
 * Wants for config entries go to the watcher, which sends each entry again
 * whole; the rest are left at the front of wants for the responder.
 * Returns how many are left.
 */
static size_t
config_wants(struct plane *p, struct check_want *wants, size_t n)
{
	size_t kept = 0;
	bool any = false;

	journal_lock(p->journal);
	for (size_t i = 0; i < n; i++) {
		if (confroots_at(&p->confroots, wants[i].root) == NULL) {
			wants[kept++] = wants[i];
			continue;
		}
		if (p->confwatch != NULL)
			confwatch_want_locked(p->confwatch, wants[i].root, wants[i].path);
		any = true;
	}
	journal_unlock(p->journal);
	if (any && p->confwatch != NULL) {
		sink_lock(p);
		if (p->confwatch != NULL)
			confwatch_sync_locked(p->confwatch);
		sink_unlock(p);
	}
	return kept;
}

/*
 * What a node downstream sends up. The active answers wants and starts a
 * check a copy asks for; a passive relays it to its own upstream.
 */
static void
on_up(void *arg, enum node_id from, unsigned kind, const uint8_t *body, size_t len)
{
	struct plane *p = arg;
	static struct check_want wants[CHECK_WANTS_MAX];
	char why[256];
	size_t n;

	if (p->role == PL_PASSIVE && p->receiver != NULL) {
		/* What this relay lost of a node's records is not in the active's list. */
		if ((kind == STREAM_UP_TOUCHED || kind == STREAM_UP_TARGETS) &&
		    access(p->down_check_path, F_OK) == 0) {
			kind = STREAM_UP_CHECK;
			len = 0;
		}
		receiver_send_up(p->receiver, kind, body, len);
		return;
	}
	if (p->role != PL_ACTIVE)
		return;
	if (kind == STREAM_UP_CHECK || kind == STREAM_UP_TOUCHED) {
		check_request(p, kind == STREAM_UP_CHECK ? NEED_FULL : NEED_TOUCHED, from);
		return;
	}
	if (kind == STREAM_UP_TARGETS) {
		on_targets(p, from, body, len);
		return;
	}
	if (check_wants_decode(body, len, wants, CHECK_WANTS_MAX, &n, why, sizeof(why)) < 0) {
		log_warnx("check: wants from %s refused: %s", node_name(from), why);
		return;
	}
	n = config_wants(p, wants, n);
	check_lock(p);
	for (size_t i = 0; i < n; i++)
		check_responder_add(p->responder, &wants[i]);
	p->wants_added += n;
	pthread_cond_broadcast(&p->check_cv);
	pthread_mutex_unlock(&p->check_mu);
}

/* The active says a check of this copy ended at seq: pass it down, and wait to apply up to it. */
static void
on_checked(void *arg, uint64_t seq, const uint64_t *tokens, size_t ntokens)
{
	struct plane *p = arg;
	bool mine = false;

	for (size_t i = 0; i < p->ndown; i++)
		sender_send_checked(p->down[i].sender, seq, tokens, ntokens);
	pthread_mutex_lock(&p->own_mu);
	for (size_t i = 0; i < ntokens; i++)
		mine |= p->own_pending && tokens[i] == p->own_token;
	p->checked_mine = mine;
	pthread_mutex_unlock(&p->own_mu);
	p->checked_seq = seq;
	apply_wake(p);
}

/* The copy needs a check: say so on disk, so a restart does not forget it. */
static int
save_needs_check(struct plane *p)
{
	int need = p->env.needs_check || p->cut_listing ? NEED_FULL :
	    p->env.needs_touched ? NEED_TOUCHED : NEED_NONE;

	if (need == p->needs_saved)
		return 0;
	if (need == NEED_NONE ? unlink(p->needs_check_path) < 0 && errno != ENOENT :
	    write_file_atomic(p->needs_check_path, need == NEED_FULL ? "full\n" : "touched\n",
	    need == NEED_FULL ? 5 : 8, 0600) < 0) {
		log_warn("cannot update %s", p->needs_check_path);
		return -1;
	}
	p->needs_saved = need;
	return 0;
}

/* What the copy needed when lifeline-repl last stopped. */
static void
load_needs_check(struct plane *p)
{
	size_t len;
	char *v = read_file(p->needs_check_path, 64, &len);

	if (v == NULL) {
		p->needs_saved = NEED_NONE;
		return;
	}
	if (strncmp(v, "touched", 7) == 0) {
		p->env.needs_touched = true;
		p->needs_saved = NEED_TOUCHED;
	} else {
		p->env.needs_check = true;      /* "full", or anything older */
		p->needs_saved = NEED_FULL;
	}
	free(v);
}

/* Which streams are down, and for how long: fsync-mode waits end past failover.timeout. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct plane *p = arg;
	uint64_t now = now_mono_ms();

	save_needs_check(p);
	check_progress(p);
	own_send(p);
	config_refresh(p, now);
	if (p->check_next != NEED_NONE && !p->check_running && p->role == PL_ACTIVE) {
		enum need next = (enum need)p->check_next;

		p->check_next = NEED_NONE;
		check_request(p, next, -1);      /* asked for while one ran, or after a crash */
	}
	for (size_t i = 0; i < p->ndown; i++) {
		struct downstream *d = &p->down[i];
		struct stream_status st;
		bool degraded;

		sender_status(d->sender, &st);
		if (st.connected)
			d->down_since_ms = 0;
		else if (d->down_since_ms == 0)
			d->down_since_ms = now;
		degraded = d->down_since_ms != 0 && now - d->down_since_ms >= p->degrade_ms;
		if (degraded != d->degraded)
			log_warnx("stream to %s: %s", node_name(d->peer), degraded ?
			    "down past twice failover.timeout; fsync-mode writes no longer wait for it" :
			    "back; fsync-mode writes wait for it again");
		d->degraded = degraded;
	}
}

/* ---- settings ---- */

/*
 * Twice the failover timeout: a stand-by stops counting itself in sync
 * once its stream has been down for one timeout, so by the time fsyncs
 * stop waiting for it no failover can go to it.
 */
void
plane_tune(struct plane *p, const struct config *conf)
{
	if (p->conf != conf && p->ncaptures > 0 &&
	    (conf->repl_mode == REPL_SYNC) != (p->repl_mode == REPL_SYNC))
		log_warnx("replication mode %s: the capture's write cache changes at the next "
		    "activation; until then writes wait as in %s mode",
		    repl_mode_name(conf->repl_mode), repl_mode_name((enum repl_mode)p->repl_mode));
	p->repl_mode = conf->repl_mode;
	p->queue_bytes = conf->queue_bytes;
	p->degrade_ms = 2 * conf->timeout_ms;
	p->compress = conf->compress;
	p->bandwidth = conf->bandwidth;
	/* Segments of an eighth of the quota, so the quota frees space in steps. */
	if (p->journal != NULL)
		journal_tune(p->journal, conf->queue_bytes, conf->queue_bytes / 8 < JOURNAL_SEGMENT_DEFAULT ?
		    conf->queue_bytes / 8 : JOURNAL_SEGMENT_DEFAULT);
}

/* ---- status ---- */

static json_t *
stream_json(const struct stream_status *st, int peer)
{
	return json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:s?}",
	    "peer", node_name(peer), "state", st->state, "connected", st->connected,
	    "sent_seq", (json_int_t)st->sent_seq, "acked_seq", (json_int_t)st->durable_seq,
	    "applied_seq", (json_int_t)st->applied_seq, "raw_bytes", (json_int_t)st->raw_bytes,
	    "wire_bytes", (json_int_t)st->wire_bytes,
	    "last_error", st->last_error[0] != '\0' ? st->last_error : NULL);
}

/* Bytes and age of what is not yet done past done_seq (acknowledged, or applied). */
static void
backlog(struct plane *p, uint64_t done_seq, uint64_t last, uint64_t *bytes, double *lag_ms)
{
	struct lag_mark m;
	uint64_t before;

	*bytes = 0;
	*lag_ms = 0;
	if (done_seq >= last)
		return;
	pthread_mutex_lock(&p->ring_mu);
	if (mark_after(p, done_seq, &m, &before)) {
		*bytes = p->appended_bytes - before;
		*lag_ms = (double)(now_mono_ms() - m.ms);
	}
	pthread_mutex_unlock(&p->ring_mu);
}

static const char *
active_state(struct plane *p, struct stream_status *first, uint64_t acked, double lag_ms)
{
	if (!capturing(p))
		return "paused";
	if (p->ndown == 0)
		return "disconnected";
	if (p->check_running)
		return "checking";
	if (journal_consumer_overflowed(p->journal, p->down[0].consumer))
		return "out-of-sync";
	if (!first->connected)
		return "disconnected";
	if (acked < journal_last_seq(p->journal) && lag_ms >= IN_SYNC_LAG_MS)
		return "syncing";
	return "in-sync";
}

static const char *
passive_state(struct plane *p, uint64_t applied, uint64_t durable, double lag_ms)
{
	struct stream_status st;

	if (p->receiver == NULL)
		return "disconnected";
	receiver_status(p->receiver, &st);
	if (!st.connected)
		return "disconnected";
	if (p->checking)
		return "checking";
	if (p->env.needs_check || p->env.needs_touched || p->own_pending || p->crash_walk ||
	    p->cut_listing)
		return "out-of-sync";
	if (applied < durable && lag_ms >= IN_SYNC_LAG_MS)
		return "syncing";
	return "in-sync";
}

/* The check as the active runs it, or as a passive sees it. */
static json_t *
check_json(struct plane *p)
{
	struct check_respond_stats rs;
	json_t *o;

	check_lock(p);
	check_responder_stats(p->responder, &rs);
	if (p->scanner != NULL)
		check_scanner_stats(p->scanner, &p->scan_stats);
	o = json_pack("{s:I, s:s, s:s?, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "id", (json_int_t)p->check_id, "state", p->check_running ? "running" : p->checking ? "verifying" :
	    p->check_result[0] != '\0' ? "done" : "none",
	    "result", p->check_result[0] != '\0' ? p->check_result : NULL,
	    "entries", (json_int_t)p->scan_stats.entries, "bytes", (json_int_t)p->scan_stats.bytes,
	    "wants", (json_int_t)(p->wants_added - p->wants_at_begin),
	    "repairs", (json_int_t)(rs.ops - p->repairs_at_begin),
	    "quarantined", (json_int_t)p->quarantined,
	    "ms", (json_int_t)(p->check_started_ms == 0 ? 0 :
	    (p->check_running ? now_mono_ms() : p->check_ended_ms) - p->check_started_ms));
	if (p->check_id > 0) {
		json_object_set_new(o, "kind", json_string(p->check_full ? "full" : "targeted"));
		json_object_set_new(o, "targets", json_integer((json_int_t)p->check_targets));
		json_object_set_new(o, "rehash", json_boolean(p->check_rehash));
		json_object_set_new(o, "cached", json_integer((json_int_t)p->scan_stats.cached));
		/* Of "ms", the scan's part: the rest is the passive and its repairs. */
		json_object_set_new(o, "scan_ms", json_integer((json_int_t)(p->scanner != NULL ||
		    p->scan_ended_ms < p->check_started_ms ? 0 :
		    p->scan_ended_ms - p->check_started_ms)));
	}
	pthread_mutex_unlock(&p->check_mu);
	return o;
}

json_t *
plane_status(struct plane *p)
{
	uint64_t last = journal_last_seq(p->journal), durable = journal_durable_seq(p->journal);
	uint64_t applied = p->env.applied_seq, acked = durable, queue = 0;
	struct stream_status first = { 0 }, up;
	json_t *o, *down = json_array(), *mounts = json_array();
	const char *state = "paused";
	double lag = 0;

	for (size_t i = 0; i < p->ndown; i++) {
		struct stream_status st;

		sender_status(p->down[i].sender, &st);
		if (i == 0)
			first = st;
		json_array_append_new(down, stream_json(&st, p->down[i].peer));
	}
	for (size_t i = 0; i < p->ncaptures; i++)
		json_array_append_new(mounts, json_string(p->conf->protect_data.v[i]));
	if (p->role == PL_ACTIVE) {
		acked = p->ndown > 0 ? journal_consumer_seq(p->journal, p->down[0].consumer) : last;
		backlog(p, acked, last, &queue, &lag);
		state = active_state(p, &first, acked, lag);
	} else if (p->role == PL_PASSIVE) {
		backlog(p, applied, durable, &queue, &lag);
		queue = 0;      /* the marks of a passive carry no sizes */
		state = passive_state(p, applied, durable, lag);
	}
	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:b, s:o, s:o, s:i,"
	    " s:{s:I, s:I, s:I, s:s?}, s:I}",
	    "mode", repl_mode_name((enum repl_mode)p->repl_mode), "state", state,
	    "role", plane_role_names[p->role], "epoch", (json_int_t)p->env.epoch,
	    "queue_bytes", (json_int_t)queue, "lag_ms", lag,
	    "last_seq", (json_int_t)last, "acked_seq", (json_int_t)acked,
	    "durable_seq", (json_int_t)durable, "applied_seq", (json_int_t)applied,
	    "needs_check", (int)p->env.needs_check, "downstream", down, "mounts", mounts,
	    "pid", (int)getpid(),
	    "apply", "records", (json_int_t)p->applied_records, "diverged", (json_int_t)p->diverged,
	    "refused", (json_int_t)p->refused,
	    "error", p->apply_error[0] != '\0' ? p->apply_error : NULL,
	    "queue_overflows", (json_int_t)p->overflows);
	json_object_set_new(o, "needs_touched", json_boolean(p->env.needs_touched));
	json_object_set_new(o, "crash_list", json_boolean(p->own_pending || p->crash_walk));
	json_object_set_new(o, "check", check_json(p));
	pthread_mutex_lock(&p->q_mu);
	json_object_set_new(o, "quarantine", json_pack("{s:I, s:s?}", "count", (json_int_t)p->q_count,
	    "last", p->q_last[0] != '\0' ? p->q_last : NULL));
	pthread_mutex_unlock(&p->q_mu);
	json_object_set_new(o, "config", config_json(p));
	if (p->receiver != NULL && p->upstream >= 0) {
		receiver_status(p->receiver, &up);
		json_object_set_new(o, "upstream", stream_json(&up, p->upstream));
	} else
		json_object_set_new(o, "upstream", json_null());
	return o;
}

/* ---- open and close ---- */

/*
 * On the applier thread: a config folder the active removed or replaced
 * still holds entries here that no record named (made by hand on this
 * node): they go to the quarantine first, never just deleted.
 */
static int
config_aside(void *arg, unsigned root, const char *path)
{
	struct plane *p = arg;
	char *q = quarantine_folder(p), *kept = NULL, why[512];
	int rc;

	if (q == NULL)
		return -1;
	rc = confcheck_keep_tree(&p->confroots, applier_config_fd(p->applier, root), (uint16_t)root,
	    path, q, &kept, why, sizeof(why));
	if (rc < 0)
		log_warnx("config: %s cannot be set aside, so it is left: %s", path, why);
	else if (kept != NULL) {
		log_warnx("config: the active removed, replaced or moved away %s, which still held "
		    "entries here: they are kept in %s (what moved is sent under its new name)",
		    path, kept);
		note_quarantine(p, kept);
		p->quarantined++;
	}
	free(kept);
	free(q);
	return rc;
}

/*
 * The folders holding the config entries, made where missing, opened as
 * the roots after the data ones.
 */
static int
open_config_roots(struct plane *p, char *err, size_t errlen)
{
	const struct confroots *cr = &p->confroots;

	if (confroots_make_parents(cr, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < cr->n; i++)
		if ((p->rootfds[cr->first + i] = open(cr->v[i].parent,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "the folder %s of config entry %s: %s", cr->v[i].parent,
			    cr->v[i].entry, strerror(errno));
			return -1;
		}
	return 0;
}

static int
open_roots(struct plane *p, char *err, size_t errlen)
{
	const struct strlist *data = &p->conf->protect_data;
	const char **roots;
	struct apply_pos pos;
	char *marker;
	size_t len, nroots;

	confroots_init(&p->confroots, p->conf);
	p->config_wanted_ms = xcalloc(p->confroots.n + 1, sizeof(*p->config_wanted_ms));
	nroots = data->n + p->confroots.n;
	p->rootfds = xcalloc(nroots + 1, sizeof(int));
	roots = xcalloc(nroots + 1, sizeof(*roots));
	for (size_t i = 0; i < nroots; i++)
		p->rootfds[i] = -1;
	for (size_t i = 0; i < data->n; i++)
		roots[i] = data->v[i];
	for (size_t i = 0; i < p->confroots.n; i++)
		roots[data->n + i] = p->confroots.v[i].parent;
	for (size_t i = 0; i < data->n; i++) {
		/* Opened before any capture is mounted over it: the check reads underneath. */
		if (capture_clear_stale(data->v[i]) < 0 || mkdir_p(data->v[i], 0755) < 0 ||
		    (p->rootfds[i] = open(data->v[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "protected folder %s: %s", data->v[i], strerror(errno));
			free(roots);
			return -1;
		}
	}
	if (open_config_roots(p, err, errlen) < 0) {
		free(roots);
		return -1;
	}
	p->applier = applier_open((const char *const *)roots, data->n + p->confroots.n, p->pos_path,
	    err, errlen);
	free(roots);
	if (p->applier == NULL)
		return -1;
	applier_config_roots(p->applier, &p->confroots, config_aside, p);
	pos = applier_pos(p->applier);
	if ((marker = read_file(p->capturing_path, 64, &len)) != NULL &&
	    strncmp(marker, "stopped", 7) != 0) {
		/*
		 * It ended while capturing, not through a clean stop (a crash, a
		 * kill, a power loss): a change made underneath may never have
		 * reached the journal, or the journal's tail may be lost while
		 * the file kept the change. The crashed marker outlives the
		 * capturing one until crash_walk listed what to check.
		 */
		log_warnx("lifeline-repl ended while capturing, without a clean stop: the files may "
		    "hold changes the journal lost");
		if (write_file_atomic(p->crashed_path, "walk\n", 5, 0600) < 0) {
			snprintf(err, errlen, "cannot write %s: %s", p->crashed_path, strerror(errno));
			free(marker);
			return -1;
		}
	}
	free(marker);
	if (access(p->capturing_path, F_OK) == 0 && journal_last_seq(p->journal) > pos.seq) {
		/* This node was capturing when lifeline-repl ended: its files hold every record. */
		pos.seq = journal_last_seq(p->journal);
		pos.epoch = journal_last_epoch(p->journal);
		if (applier_set_pos(p->applier, pos, err, errlen) < 0)
			return -1;
		log_info("journal: this node was capturing when lifeline-repl ended: its copy holds "
		    "every record up to %" PRIu64, pos.seq);
	}
	unlink(p->capturing_path);
	p->env.applied_seq = pos.seq;
	p->apply_consumer = journal_consumer_add(p->journal, "apply", pos.seq);
	p->replay_until = journal_last_seq(p->journal);
	return 0;
}

/* TLS and the receiver; without TLS material the node replicates nothing, and says so. */
static void
open_streams(struct plane *p)
{
	char err[512];

	p->server_ctx = tls_server_ctx(p->conf->tls_dir, p->conf->name, p->self, err, sizeof(err));
	if (p->server_ctx != NULL)
		p->client_ctx = tls_client_ctx(p->conf->tls_dir, p->conf->name, p->self, err,
		    sizeof(err));
	if (p->client_ctx == NULL) {
		log_warnx("no streams: %s", err);
		SSL_CTX_free(p->server_ctx);
		p->server_ctx = NULL;
		return;
	}
	p->env.server_ctx = p->server_ctx;
	p->env.client_ctx = p->client_ctx;
	if ((p->receiver = receiver_new(&p->env, err, sizeof(err))) == NULL)
		log_warnx("no stream from upstream: %s", err);
}

struct plane *
plane_open(struct event_base *base, const struct config *conf, enum node_id self, char *err,
    size_t errlen)
{
	struct plane *p = xcalloc(1, sizeof(*p));
	struct journal_opts jo = { .quota_bytes = 0, .write_ahead = true };
	struct journal_recovery rec;
	struct timeval tick = { 0, TICK_MS * 1000 };
	char *jdir;

	p->base = base;
	p->conf = conf;
	p->self = self;
	plane_tune(p, conf);
	p->upstream = -1;
	p->apply_consumer = -1;
	p->dir = xasprintf("%s/repl", conf->state_dir);
	p->history_path = xasprintf("%s/%s", p->dir, HISTORY_FILE_NAME);
	p->pos_path = xasprintf("%s/apply.pos", p->dir);
	p->touched_path = xasprintf("%s/touched", p->dir);
	p->needs_check_path = xasprintf("%s/needs-check", p->dir);
	p->down_check_path = xasprintf("%s/downstream-needs-check", p->dir);
	p->checking_path = xasprintf("%s/touched.checking", p->dir);
	p->capturing_path = xasprintf("%s/capturing", p->dir);
	p->stamp_path = xasprintf("%s/synced", p->dir);
	p->crashed_path = xasprintf("%s/crashed", p->dir);
	p->own_path = xasprintf("%s/crash-list", p->dir);
	p->stamp_fd = -1;
	p->wants_buf = xmalloc(STREAM_MAX_PAYLOAD);
	p->quarantine = xasprintf("%s/quarantine", conf->state_dir);
	p->enc = xmalloc(ENC_MAX);
	p->manifest_buf = xmalloc(OP_MAX_DATA);
	p->ring = xcalloc(LAG_MARKS, sizeof(*p->ring));
	p->captures = xcalloc(conf->protect_data.n + 1, sizeof(*p->captures));
	pthread_mutex_init(&p->down_mu, NULL);
	pthread_mutex_init(&p->ring_mu, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_mutex_init(&p->cut_mu, NULL);
	pthread_mutex_init(&p->own_mu, NULL);
	pthread_mutex_init(&p->check_mu, NULL);
	pthread_mutex_init(&p->q_mu, NULL);
	pthread_cond_init(&p->check_cv, NULL);
	jdir = xasprintf("%s/journal", p->dir);
	jo.dir = jdir;
	/* The quota (plane_tune) is enforced by the sink, which knows what a cut consumer needs. */
	if (mkdir_p(p->dir, 0700) < 0) {
		snprintf(err, errlen, "cannot make %s: %s", p->dir, strerror(errno));
		goto fail;
	}
	if ((p->journal = journal_open(&jo, &rec, err, errlen)) == NULL)
		goto fail;
	plane_tune(p, conf);
	if (rec.cut)
		log_warnx("journal: a torn tail of %" PRIu64 " bytes was cut from %s (%s); every "
		    "record before it is kept", rec.cut_bytes, rec.cut_path, rec.cut_why);
	if (history_load(p->history_path, &p->history, err, errlen) < 0)
		goto fail;
	if (open_roots(p, err, errlen) < 0)
		goto fail;
	p->env = (struct stream_env){ .base = base, .conf = conf, .self = self,
	    .journal = p->journal, .history = &p->history, .history_path = p->history_path,
	    .quarantine_dir = p->quarantine, .on_durable = on_durable, .on_cut = on_cut,
	    .on_up = on_up, .on_checked = on_checked, .on_skip = on_skip, .arg = p };
	p->env.epoch = history_last_epoch(&p->history);
	p->env.applied_seq = applier_pos(p->applier).seq;
	load_needs_check(p);
	own_load(p);
	crash_plan(p);
	p->responder = check_responder_new(p->rootfds, conf->protect_data.n,
	    &(struct check_emitter){ p, sink_lock, sink_unlock, check_emit });
	p->scan_cache = hashcache_new(HASHCACHE_MAX_ENTRIES, HASHCACHE_MAX_BLOCKS);
	p->verify_cache = hashcache_new(HASHCACHE_MAX_ENTRIES, HASHCACHE_MAX_BLOCKS);
	open_streams(p);
	p->poll_ev = evtimer_new(base, on_poll, p);
	p->check_ev = evtimer_new(base, on_check_poll, p);
	p->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, p);
	evtimer_add(p->tick_ev, &tick);
	if (pthread_create(&p->apply_thread, NULL, apply_main, p) != 0) {
		snprintf(err, errlen, "cannot start the applier thread");
		goto fail;
	}
	if (pthread_create(&p->check_thread, NULL, check_main, p) != 0) {
		snprintf(err, errlen, "cannot start the check thread");
		goto fail;
	}
	free(jdir);
	log_info("journal %s/journal: seq %" PRIu64 "..%" PRIu64 ", applied up to %" PRIu64,
	    p->dir, journal_first_seq(p->journal), journal_last_seq(p->journal),
	    (uint64_t)p->env.applied_seq);
	return p;
fail:
	free(jdir);
	plane_close(p);
	return NULL;
}

void
plane_close(struct plane *p)
{
	if (p == NULL)
		return;
	if (capturing(p)) {
		char err[256];

		/* Every op is journaled once the capture is down: a clean stop, said so. */
		stop_captures(p);
		if (journal_sync(p->journal, err, sizeof(err)) < 0)
			log_warnx("journal: %s", err);
		else if (write_file_atomic(p->capturing_path, "stopped\n", 8, 0600) < 0)
			log_warn("cannot write %s", p->capturing_path);
	}
	if (p->pending != PEND_NONE)
		finish_pending(p, -1, 0, "lifeline-repl is stopping");
	waiters_answer(p, true);
	if (p->check_thread != 0) {
		check_lock(p);
		p->check_quit = true;
		pthread_cond_broadcast(&p->check_cv);
		pthread_mutex_unlock(&p->check_mu);
		pthread_join(p->check_thread, NULL);
	}
	if (p->apply_thread != 0) {
		p->apply_quit = true;
		apply_wake(p);
		pthread_join(p->apply_thread, NULL);
	}
	set_downstream(p, NULL, 0);
	receiver_free(p->receiver);
	if (p->poll_ev != NULL)
		event_free(p->poll_ev);
	if (p->tick_ev != NULL)
		event_free(p->tick_ev);
	if (p->check_ev != NULL)
		event_free(p->check_ev);
	free(p->waiters);
	check_scanner_free(p->scanner);
	check_responder_free(p->responder);
	check_verifier_free(p->verifier);
	hashcache_free(p->scan_cache);
	hashcache_free(p->verify_cache);
	free(p->verify_folder);
	check_result_clear(&p->vres);
	applier_close(p->applier);
	for (size_t i = 0; p->rootfds != NULL && i < p->conf->protect_data.n + p->confroots.n; i++)
		if (p->rootfds[i] >= 0)
			close(p->rootfds[i]);
	free(p->rootfds);
	confroots_free(&p->confroots);
	free(p->config_wanted_ms);
	confcheck_result_clear(&p->cres);
	free(p->manifest_buf);
	if (p->journal != NULL)
		journal_close(p->journal);
	if (p->touched != NULL)
		fclose(p->touched);
	SSL_CTX_free(p->server_ctx);
	SSL_CTX_free(p->client_ctx);
	pthread_mutex_destroy(&p->down_mu);
	pthread_mutex_destroy(&p->ring_mu);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->cut_mu);
	pthread_mutex_destroy(&p->own_mu);
	pthread_mutex_destroy(&p->check_mu);
	pthread_mutex_destroy(&p->q_mu);
	free(p->cut_saved);
	pthread_cond_destroy(&p->check_cv);
	free(p->wants_buf);
	free(p->needs_check_path);
	free(p->down_check_path);
	free(p->checking_path);
	free(p->capturing_path);
	free(p->stamp_path);
	free(p->crashed_path);
	free(p->own_path);
	free(p->own_list);
	free(p->captures);
	free(p->ring);
	free(p->enc);
	free(p->dir);
	free(p->history_path);
	free(p->pos_path);
	free(p->touched_path);
	free(p->quarantine);
	free(p);
}
