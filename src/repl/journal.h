/*
 * The journal: the ordered, persistent log of every change to protected
 * data, as a folder of fixed-size segment files. One writer appends (the
 * capture on the active, the receiver on a passive); consumers (a sender per
 * downstream node, the applier on a passive) read it in order and say how
 * far they are; a segment goes only when every consumer is past it.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * inside orders appends, and journal_lock lets the capture hold it across
 * "apply to the file, then append" (the ordering lock of ARCHITECTURE).
 */
#ifndef LIFELINE_JOURNAL_H
#define LIFELINE_JOURNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repl/record.h"

#define JOURNAL_SEGMENT_HDR_SIZE  64
#define JOURNAL_SEGMENT_DEFAULT   (64u * 1024 * 1024)
#define JOURNAL_MAX_CONSUMERS     4

struct journal;
struct journal_reader;

struct journal_opts {
	const char	*dir;            /* STATE_DIR/journal; made if missing */
	uint64_t	 segment_bytes;  /* 0 = JOURNAL_SEGMENT_DEFAULT; at least 1 MiB */
	uint64_t	 quota_bytes;    /* 0 = no quota */
	bool		 write_ahead;    /* zeros ahead of small records (journal.c) */
};

/* What journal_open found and did. */
struct journal_recovery {
	uint64_t	 first_seq;      /* oldest record kept, 0 if empty */
	uint64_t	 last_seq;       /* newest record kept, 0 if empty */
	uint64_t	 last_epoch;     /* epoch of the newest record, 0 if empty */
	size_t		 segments;
	bool		 cut;            /* a torn or corrupt tail was cut */
	uint64_t	 cut_bytes;      /* bytes removed from the tail */
	char		 cut_path[PATH_MAX];  /* segment it was cut in */
	char		 cut_why[256];   /* what record_scan said */
};

/*
 * Open (or create) the journal in o->dir. Every segment is scanned; a torn
 * or corrupt tail of the last one is cut (truncated, fsynced) and reported
 * in rec, never hidden; a corrupt record before the last segment's tail, a
 * gap of seq between segments, or a segment of another version is an error,
 * not something to cut, since records after it would be lost. NULL and err
 * on failure.
 */
struct journal	*journal_open(const struct journal_opts *o, struct journal_recovery *rec,
		    char *err, size_t errlen);
void		 journal_close(struct journal *j);   /* every reader freed first */

/* The ordering lock. journal_append_locked needs it held; the others take it. */
void		 journal_lock(struct journal *j);
void		 journal_unlock(struct journal *j);

/*
 * Append one record with the next seq and the given epoch (never lower than
 * the last record's). Written to the segment file (not yet fsynced); a new
 * segment is started when this one is full. The seq given is returned in
 * *seq. 0, or -1 with err (disk full, I/O error: the record is not in the
 * journal and the caller must fail the operation it journals). A write that
 * fails is cut back; if even that fails, or an fsync ever fails, every later
 * append and sync fails until the journal is reopened (and rescanned).
 */
int		 journal_append_locked(struct journal *j, uint64_t epoch, unsigned type,
		    const void *payload, size_t len, uint64_t *seq, char *err, size_t errlen);
int		 journal_append(struct journal *j, uint64_t epoch, unsigned type,
		    const void *payload, size_t len, uint64_t *seq, char *err, size_t errlen);

/*
 * Append a whole encoded record received from upstream, as it came (its
 * own epoch and seq). It must decode, be exactly len bytes, not lower the
 * epoch, and its seq must be last_seq + 1 (or anything but 0 when the
 * journal holds no record): otherwise -1 with err.
 */
int		 journal_append_record(struct journal *j, const uint8_t *rec, size_t len,
		    char *err, size_t errlen);

/*
 * Make every record appended so far durable. Callers that arrive while an
 * fsync runs wait for it and share the next one (group commit). 0, or -1.
 * Call it without holding journal_lock.
 */
int		 journal_sync(struct journal *j, char *err, size_t errlen);

uint64_t	 journal_first_seq(struct journal *j);    /* 0 if empty */
/* The oldest seq a reader can start at: the first record's, or the next to come if none. */
uint64_t	 journal_oldest_seq(struct journal *j);
uint64_t	 journal_last_seq(struct journal *j);     /* 0 if new; after a cut of
							    every record, the seq kept */
uint64_t	 journal_last_epoch(struct journal *j);
uint64_t	 journal_durable_seq(struct journal *j);  /* fsynced up to here */
uint64_t	 journal_bytes(struct journal *j);        /* on disk, all segments */

/*
 * Consumers. Each has a name ("secondary", "apply") and the seq up to which
 * it is done (acked by that node, or applied). Segments whose records are
 * all done by every consumer are deleted. Without consumers nothing is
 * deleted. Returns the consumer's index, or -1 when the table is full.
 */
int		 journal_consumer_add(struct journal *j, const char *name, uint64_t done_seq);
void		 journal_consumer_remove(struct journal *j, int consumer);
void		 journal_consumer_done(struct journal *j, int consumer, uint64_t seq);
uint64_t	 journal_consumer_seq(struct journal *j, int consumer);

/*
 * Wait until the consumer is done with seq (fsync mode: an application's
 * fsync returns when the passive acknowledged it). 0 when done, 1 on
 * timeout (timeout_ms < 0: forever), -1 when the consumer was removed or is
 * overflowed (cut loose by the quota: nothing was acknowledged).
 */
int		 journal_wait_done(struct journal *j, int consumer, uint64_t seq, int timeout_ms);

/*
 * Past the quota, consumers other than keep (the applier, which must see
 * everything; -1 for none) that hold back the oldest segment are cut loose:
 * each record they had not done is handed to fn (to note the files touched,
 * for a targeted check), then the consumer is moved to the last seq and
 * marked overflowed, and segments are deleted. Called by the appender;
 * returns how many consumers were cut. fn runs with the journal lock held
 * and must not call the journal.
 */
typedef void journal_overflow_fn(void *arg, int consumer, const struct record_hdr *h,
    const uint8_t *payload);
int		 journal_enforce_quota(struct journal *j, int keep, journal_overflow_fn *fn,
		    void *arg);
bool		 journal_consumer_overflowed(struct journal *j, int consumer);
/* Change the quota (0 = none) and the size of segments started from now on. */
void		 journal_tune(struct journal *j, uint64_t quota_bytes, uint64_t segment_bytes);

/*
 * Upstream no longer holds the records before next_seq that this journal
 * lacks (SKIP): drop every record here and go on at next_seq. Each
 * consumer not done with them all hears of the records it had not done
 * through fn (their files need a check), is marked overflowed and moved
 * to next_seq - 1; readers behind next_seq fail, so their owners start
 * again from where the journal is. The empty segment named next_seq is
 * made durable, so a restart knows where the journal stands. next_seq
 * not above the last seq + 1: nothing to do, 0. 0, or -1 with err.
 */
int		 journal_skip_to(struct journal *j, uint64_t next_seq, journal_overflow_fn *fn,
		    void *arg, char *err, size_t errlen);
void		 journal_consumer_clear_overflow(struct journal *j, int consumer);

/*
 * Cut the journal after keep_seq (a divergent tail of an old active). The
 * records removed are first copied, as encoded, to save_path (fsynced) when
 * save_path is not NULL. 0, or -1 with err. Nothing after keep_seq: 0 and
 * no file. keep_seq below the oldest record kept - 1: -1. Consumers past
 * keep_seq are moved back to it; readers past it fail from then on.
 */
int		 journal_truncate_after(struct journal *j, uint64_t keep_seq, const char *save_path,
		    char *err, size_t errlen);

/*
 * A reader returns records in order from after_seq + 1. With durable_only
 * it stops at the durable seq (the applier: never apply what a crash could
 * take back); otherwise at the last appended one (a sender).
 */
struct journal_reader *journal_reader_new(struct journal *j, uint64_t after_seq,
		    bool durable_only, char *err, size_t errlen);
void		 journal_reader_free(struct journal_reader *r);

/*
 * The next record: 1 with *rec pointing at its encoded bytes (header and
 * payload, valid until the next call) and h decoded; 0 when there is none
 * yet; -1 with err when the record is gone (deleted by quota) or corrupt.
 */
int		 journal_reader_next(struct journal_reader *r, struct record_hdr *h,
		    const uint8_t **rec, size_t *reclen, char *err, size_t errlen);

/* Block until a record after seq is appended (or durable), or timeout. 1, 0 on timeout. */
int		 journal_wait_append(struct journal *j, uint64_t seq, bool durable, int timeout_ms);

#endif
