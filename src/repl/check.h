/*
 * The full system check, as records in the journal: the scanner on the
 * active emits VERIFY ops in the order of the data, the verifier on a
 * passive compares its copy with each as the applier reaches it and moves
 * aside what only it has, and the responder on the active answers the
 * verifier's wants with repair ops, again in the order of the data.
 *
 * What a VERIFY holds is laid out in op.h. This module adds the wants,
 * which travel upstream from the verifier to the responder.
 */
#ifndef LIFELINE_CHECK_H
#define LIFELINE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "repl/apply.h"
#include "repl/hashcache.h"
#include "repl/op.h"

#define CHECK_VERIFY_BLOCKS  128      /* blocks hashed by one file VERIFY (8 MiB) */
#define CHECK_WANTS_MAX      256      /* wants in one encoded message */
#define CHECK_XNAMES_MAX     65536    /* bytes of xattr names in one want (XATTR_LIST_MAX) */
#define CHECK_WANT_HEAD      12       /* bytes before a want's path on the wire */
#define CHECK_WANTS_HEAD     4        /* bytes before the first want of a message */

/*
 * Where the scanner and the responder put their ops: the journal on the
 * active node, under the same ordering lock as the capture. lock/unlock
 * bracket "read the data, then emit": each op describes the data at its
 * own place in the order, because the application's writes wait for the
 * same lock. emit runs with the lock held; the op and what it points to
 * are valid only during the call. It returns 0, or -1 when the op could
 * not be journaled.
 */
struct check_emitter {
	void	*arg;
	void	(*lock)(void *arg);
	void	(*unlock)(void *arg);
	int	(*emit)(void *arg, const struct op *op);
};

/* ---- scanner (active) ---- */

struct check_scanner;

/*
 * One path to check (a targeted check): that entry, and below it if a
 * directory, or with shallow only a directory's own listing and
 * attributes (what a name removed or renamed away from it left behind).
 */
struct check_target {
	uint16_t	 root;
	const char	*path;        /* rules of op.h; "" is the root itself */
	bool		 shallow;
};

struct check_scan_stats {
	uint64_t	entries;      /* files, directories and symlinks checked */
	uint64_t	bytes;        /* file bytes hashed */
	uint64_t	records;      /* VERIFY ops emitted */
	uint64_t	skipped_type; /* devices, fifos, sockets: nothing replicates them */
	uint64_t	skipped_gone; /* gone (or changed type) between the listing and the visit */
	uint64_t	errors;       /* an entry that could not be read (logged) */
	uint64_t	cached;       /* file VERIFYs whose hashes the cache gave, unread */
};

/*
 * A scanner over the protected directories (roots[i] is root number i, a
 * directory descriptor the caller opened before the capture was mounted
 * over it, and keeps open while the scanner lives). With no targets it
 * walks every root from the top; else only the targets, in the order
 * given. Directories are listed before their entries and walked in name
 * order; the first VERIFY is marked OP_VERIFY_BEGIN, and OP_VERIFY_FULL
 * too without targets. Within a directory being walked, runs of small
 * entries (regular files of one block at most without xattrs, symlinks)
 * go several to a VERIFY (OP_VERIFY_ENTRIES), read in one hold of the
 * lock; the rest one entry at a time. One scanner at a
 * time per journal: the verifier follows one walk. Targets are copied; one
 * that breaks the path rules or names no root is refused: NULL, logged.
 */
struct check_scanner *check_scanner_new(const int *roots, size_t nroots,
		    const struct check_emitter *em, const struct check_target *targets,
		    size_t ntargets);
void		 check_scanner_free(struct check_scanner *s);

/*
 * Let the scanner take the hashes of unchanged files from cache (borrowed:
 * it must outlive the scanner) and remember the ones it reads there:
 * a file whose lstat under the lock matches what the cache recorded
 * (hashcache.h) costs that lstat, not a read. With rehash it reads every
 * file (still remembering them) and marks the first VERIFY
 * OP_VERIFY_REHASH, so the passives read theirs too. Call it before the
 * first step.
 */
void		 check_scanner_use_cache(struct check_scanner *s, struct hashcache *cache,
		    bool rehash);

/*
 * Do one bounded step: emit (at most) one VERIFY, reading and hashing
 * what it covers while holding the lock; an entry found gone or of a type
 * not checked costs a look, and a step looks at a few of them at most.
 * Call it until it returns 0 (done); stop between two steps at will.
 * 1: a step was done, call again; 0: done; -1: emit failed (logged), the
 * scan is over.
 */
int		 check_scanner_step(struct check_scanner *s);
void		 check_scanner_stats(const struct check_scanner *s, struct check_scan_stats *st);

/* ---- wants (passive to active) ---- */

enum check_want_kind {
	CHECK_WANT_BLOCKS = 1,        /* these blocks of a regular file, then its mtime */
	CHECK_WANT_ATTRS  = 2,        /* size, owner, mode, xattrs and times */
	CHECK_WANT_ENTRY  = 3,        /* the whole entry (a directory with all below it) */
};

/*
 * What a passive asks the active for. Pointers point into the decoded
 * message (check_wants_decode) or into a check_result; nothing here is
 * owned.
 */
struct check_want {
	uint16_t	 root;
	uint8_t		 kind;        /* enum check_want_kind */
	uint16_t	 path_len;
	const char	*path;        /* NUL-terminated; not "" for BLOCKS and ENTRY */
	uint16_t	 nblocks;     /* BLOCKS: 1 to CHECK_VERIFY_BLOCKS, 0 otherwise */
	uint64_t	 blocks[CHECK_VERIFY_BLOCKS];  /* offsets, ascending, of whole blocks */
	uint32_t	 xnames_len;  /* ATTRS: */
	const char	*xnames;      /* xattr names only the passive has, each followed by a NUL */
};

/*
 * A message of wants, big-endian: u8 version (1), u8 reserved (0), u16
 * count (at most CHECK_WANTS_MAX); then each want: u16 root, u8 kind, u8
 * reserved (0), u16 path_len, u16 nblocks, u32 xnames_len, the path and a
 * NUL, nblocks u64 offsets, the xnames. check_wants_encode takes as many
 * of the n wants as fit in buflen (and the bound), says how many in
 * *taken, and returns the bytes written (no wants: an empty message); 0
 * when not even the first fits or a want breaks the rules below.
 * check_wants_decode takes a message from the network: every length is
 * checked against len, every path with op_path_valid, offsets must be
 * ascending multiples of OP_VERIFY_BLOCK, names 1 to OP_NAME_MAX bytes,
 * reserved bytes zero, and nothing may follow the last want. It fills
 * out[0..*n) (max at least the count, at most CHECK_WANTS_MAX needed) with
 * pointers into buf. 0, or -1 with why.
 */
size_t		 check_want_size(const struct check_want *w);
size_t		 check_wants_encode(uint8_t *buf, size_t buflen, const struct check_want *w,
		    size_t n, size_t *taken);
int		 check_wants_decode(const uint8_t *buf, size_t len, struct check_want *out,
		    size_t max, size_t *n, char *why, size_t whylen);

/* ---- verifier (passive) ---- */

struct check_verifier;

/*
 * What verifying one or more VERIFY ops found: the wants to send upstream,
 * in order (a directory's ATTRS after the ENTRY wants of its entries, since
 * making them moves its mtime), and the entries moved into quarantine, as
 * "root<N>/<path>" under the quarantine folder (a ".<k>" suffix when that
 * name was taken). Owned by the caller: zero it to start, check_result_clear
 * to empty it (it may be reused).
 */
struct check_result {
	struct check_want	*wants;
	size_t			 nwants;
	size_t			 wants_cap;
	char			**moved;
	size_t			 nmoved;
	size_t			 moved_cap;
};
void		 check_result_clear(struct check_result *r);

struct check_verify_stats {
	uint64_t	verified;     /* VERIFY ops compared */
	uint64_t	covered;      /* skipped: beneath an entry already wanted whole */
	uint64_t	blocks_differ;
	uint64_t	wants;
	uint64_t	quarantined;
	uint64_t	cached;       /* file VERIFYs compared with remembered hashes, unread */
};

/*
 * A verifier over the applier's copy (it opens every path beneath the
 * roots with applier_openat), moving what only this node has into
 * quarantine/root<N>/... (quarantine: the dated folder of this check,
 * made if missing). Within one check (from a VERIFY marked
 * OP_VERIFY_BEGIN) it remembers which directories' listings it saw and
 * the last entry it wanted whole, so an entry missing here is wanted once,
 * by its directory's listing or, in a targeted check, by itself or its
 * nearest missing directory. The applier must outlive it.
 */
struct check_verifier *check_verifier_new(struct applier *a, const char *quarantine);
void		 check_verifier_free(struct check_verifier *v);

/*
 * Let the verifier compare unchanged files of this node's copy by the
 * hashes cache remembers (borrowed: it must outlive the verifier), and
 * remember the ones it reads, as the scanner does; a check whose first
 * VERIFY says OP_VERIFY_REHASH reads every file.
 */
void		 check_verifier_use_cache(struct check_verifier *v, struct hashcache *cache);

/*
 * Compare this node's copy with one decoded VERIFY (op_decode checked its
 * layout), when the applier has applied every record before it and none
 * after, and made that durable (applier_sync): a crash must not replay
 * records from before a quarantine onto what it moved. Then apply the
 * VERIFY itself. Differences become wants appended to res; entries only
 * here, or of another type or symlink target, are moved into quarantine
 * first (renamed, or copied with mode, owner, times and xattrs and then
 * removed when the quarantine is on another file system), never deleted
 * (invariant 5). 0, or -1 with why: a root this node does not protect, an
 * I/O error, a quarantine that failed (what was done is in res).
 */
int		 check_verify(struct check_verifier *v, const struct op *op,
		    struct check_result *res, char *why, size_t whylen);
void		 check_verifier_stats(const struct check_verifier *v,
		    struct check_verify_stats *st);

/* ---- responder (active) ---- */

struct check_responder;

struct check_respond_stats {
	uint64_t	wants;        /* wants answered */
	uint64_t	ops;          /* repair ops emitted */
	uint64_t	gone;         /* wants for an entry no longer here: nothing emitted */
	uint64_t	lost;         /* an entry renamed or removed while being sent, or
				         that could not be read: the passive's copy of it
				         may be partial (logged); a targeted check is due */
	uint64_t	skipped_type; /* devices, fifos, sockets below a wanted directory */
};

/*
 * A responder over the same roots as the scanner (the caller's directory
 * descriptors) and emitter. Wants are queued (copied) and answered in the
 * order they came.
 */
struct check_responder *check_responder_new(const int *roots, size_t nroots,
		    const struct check_emitter *em);
void		 check_responder_free(struct check_responder *r);

/* Queue a copy of a want (from check_wants_decode: valid, any root). */
void		 check_responder_add(struct check_responder *r, const struct check_want *w);

/*
 * Do one bounded step: under the lock, read the current state of what the
 * first queued want names and emit the ops that bring any copy to it when
 * applied in order: for BLOCKS, a DATA op per block still within the file
 * (a TRUNCATE when none is) and a UTIMENS (the DATA moved the passive's
 * mtime); for ATTRS, TRUNCATE, CHOWN, CHMOD, a SETXATTR per xattr,
 * a REMOVEXATTR per name only the passive has that the active still lacks,
 * and UTIMENS last; for ENTRY, CREATE (OP_CREATE_TRUNC) with its first
 * CHECK_VERIFY_BLOCKS blocks as DATA and the rest over the next steps then
 * its attributes, or SYMLINK, or MKDIR then each entry below it, one per
 * step, then the directory's attributes (after its entries, which move its
 * mtime). What is gone from the active emits nothing: the records that
 * removed it reach the passive too. 1: a step was done, call again; 0:
 * the queue is empty; -1: emit failed (logged), the want is dropped.
 */
int		 check_responder_step(struct check_responder *r);
void		 check_responder_stats(const struct check_responder *r,
		    struct check_respond_stats *st);

/* ---- after a crash of the active (the node's own copy) ---- */

/*
 * A list of entries to check, as a node that crashed while active sends it
 * up (STREAM_UP_TARGETS) and keeps it on disk until a check covered it:
 * u64 token (not 0: the CHECKED that covers the list echoes it), then
 * entries back to back: u16 root, u16 path length with CHECK_LIST_DEEP set
 * for an entry to check with all below it, the path (rules of op.h, not
 * NUL-terminated; empty for the root). check_list_put appends one entry to
 * buf at *len (cap bytes in all); false when it does not fit or breaks the
 * rules. check_list_decode takes a list from the network: the token, and
 * each entry for each(arg, ...), which returns 0 to go on; every length
 * is checked against len, every path with op_path_valid, and nothing may
 * follow the last entry. 0, or -1 with why (each may have seen some).
 */
#define CHECK_LIST_HEAD  8
#define CHECK_LIST_DEEP  0x8000u

typedef int	 check_list_fn(void *arg, uint16_t root, const char *path, size_t len,
		    bool deep);
bool		 check_list_put(uint8_t *buf, size_t cap, size_t *len, uint16_t root,
		    const char *path, size_t plen, bool deep);
int		 check_list_decode(const uint8_t *buf, size_t len, uint64_t *token,
		    check_list_fn *each, void *arg, char *why, size_t whylen);

struct check_recent_stats {
	uint64_t	entries;      /* files, directories and symlinks looked at */
	uint64_t	picked;       /* entries given to pick */
};

/*
 * The entries of the protected directories changed at or after since, by
 * their ctime, for a node whose capture ended in a crash: a change it made
 * underneath after its journal's last sync may be in no record. ctime, not
 * mtime: every change a check compares (content, size, mode, owner,
 * xattrs, times, links, a rename) moves it, and no application can set it
 * back, while utimensat sets any mtime and chmod, chown, setxattr, link
 * and rename leave the mtime alone. A root is picked shallow (its own
 * listing and attributes; it is never moved) and always walked; a file or
 * symlink is picked as itself; a directory below a root is picked deep
 * (a rename or an exchange may have put another tree under its name, whose
 * entries keep their old ctimes) and then not walked. Devices, fifos and
 * sockets are not looked at (nothing replicates them). The roots are the
 * caller's directory descriptors; nothing else should write below them
 * while the walk runs. 0, or -1 with why when a directory cannot be listed
 * or an entry cannot be looked at: then the picks so far cannot be said to
 * be all of them. An entry gone under the walk is not an error.
 */
int		 check_recent(const int *roots, size_t nroots, const struct timespec *since,
		    check_list_fn *pick, void *arg, struct check_recent_stats *st, char *why,
		    size_t whylen);

#endif
