/*
 * One change to protected data, as the payload of a journal record: what
 * the capture saw, what the applier redoes. A fixed 64-byte big-endian head,
 * then path, path2 and name each followed by a NUL, then the data, which is
 * the rest of the payload (its length is not in the head).
 */
#ifndef LIFELINE_OP_H
#define LIFELINE_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OP_HEAD_SIZE   64
#define OP_PATH_MAX    4095          /* bytes of a relative path, without the NUL */
#define OP_NAME_MAX    255           /* bytes of an xattr name */
#define OP_MAX_DATA    (1u << 20)    /* data bytes in one record: writes are split */

/*
 * Sentinels of op.atime/op.mtime nsec, as on disk. They differ from the
 * kernel's UTIME_NOW/UTIME_OMIT so the wire never depends on libc values:
 * op_encode also takes UTIME_NOW/UTIME_OMIT and writes these, op_decode
 * gives these, and the applier translates them back.
 */
#define OP_TIME_OMIT   0xfffffffeu
#define OP_TIME_NOW    0xffffffffu

/* op.flags of CREATE. */
#define OP_CREATE_EXCL   0x1         /* O_EXCL: the file did not exist */
#define OP_CREATE_TRUNC  0x2         /* O_TRUNC: an existing file was emptied */

/* op.flags of FSYNC_BARRIER. */
#define OP_FSYNC_DATA    0x1         /* fdatasync */

/* op.flags of VERIFY (see "VERIFY, by the type in its mode" below). */
#define OP_VERIFY_XATTRS    0x1      /* data: the entry's xattrs, not its content */
#define OP_VERIFY_NOXATTRS  0x2      /* the entry had no xattrs: no XATTRS verify follows */
#define OP_VERIFY_AFTER     0x4      /* directory chunk: the first name is a lower bound */
#define OP_VERIFY_BEGIN     0x8      /* the first VERIFY of a check */
#define OP_VERIFY_FULL      0x10     /* with BEGIN: the check covers every entry */
#define OP_VERIFY_ENTRIES   0x20     /* directory: several small entries of it, each whole */
#define OP_VERIFY_REHASH    0x40     /* with BEGIN: read every file, trust no hash cache */

/* The block of VERIFY hashes and of DATA repairs. */
#define OP_VERIFY_BLOCK     65536u

/*
 * The decoded op. Pointers point into the record's payload (op_decode) or
 * into the caller's memory (op_encode); nothing here is owned.
 *
 * Fields by type (others are written as zero by op_encode, and op_decode
 * refuses them unless zero, so a payload has one encoding):
 *   WRITE          root path offset data mtime
 *   TRUNCATE       root path size mtime
 *   CREATE         root path mode uid gid flags(OP_CREATE_*) mtime dir_mtime
 *   MKDIR          root path mode uid gid mtime dir_mtime
 *   UNLINK, RMDIR  root path dir_mtime
 *   RENAME         root path path2 flags(RENAME_NOREPLACE|RENAME_EXCHANGE)
 *                  dir_mtime dir2_mtime
 *   LINK           root path(existing) path2(new name) dir_mtime
 *   SYMLINK        root path(new link) path2(target text, any bytes) uid gid
 *                  mtime dir_mtime
 *   CHMOD          root path mode
 *   CHOWN          root path uid gid (UINT32_MAX = leave as is)
 *   UTIMENS        root path atime mtime
 *   SETXATTR       root path name data flags(XATTR_CREATE|XATTR_REPLACE)
 *   REMOVEXATTR    root path name
 *   FALLOCATE      root path offset size flags(FALLOC_FL_* mode) mtime
 *   FSYNC_BARRIER  root path flags(OP_FSYNC_*)
 *   VERIFY         root path offset size mode(st_mode) uid gid mtime
 *                  flags(OP_VERIFY_*) data: by the type in mode, below
 *   DATA           root path offset size(file size) data(the block's bytes)
 *   CONFIG_FILE    root path mode uid gid mtime dir_mtime size(content bytes)
 *                  data(an xattr block, then the content: size bytes)
 *   CONFIG_DIR     root path mode uid gid mtime dir_mtime data(an xattr block)
 *   CONFIG_SYMLINK root path path2(target) uid gid mtime dir_mtime
 *   CONFIG_REMOVE  root path dir_mtime
 *   CONFIG_MANIFEST root path(the config entry's name) size(entries)
 *                  data(the entries, repl/confcheck.h)
 *
 * The CONFIG types serve [protect] config entries (repl/confroot.h): their
 * root is the folder holding the entry, and every path starts with the
 * entry's own name. Each says what the entry is now, whole, so applying it
 * twice leaves the same copy. dir_mtime there is the mtime of the folder
 * holding path, 0.0 when path is the entry itself (its folder is not
 * protected). An xattr block is the entry's xattrs back to back, in
 * byte order of their names: u16 name_len (1 to OP_NAME_MAX), u32
 * value_len, the name (no NUL inside), the value; op_decode checks it,
 * op_xattr_next walks it.
 *
 * Times a change leaves behind (the stand-by's copy is to have the active's
 * mtimes, not the applier's clock): mtime of the entry ops above is the
 * entry's mtime right after the change (the file written, truncated or
 * made); dir_mtime is the mtime the change left on the directory holding
 * path (for LINK, the one holding path2, the new name), dir2_mtime the one
 * of the directory holding path2 (RENAME). On the wire dir_mtime takes the
 * atime slot and dir2_mtime the mtime slot (no type carries both). 0.0
 * means not known: the applier leaves that time as its change made it (a
 * change always leaves a later time, so no real one is 0.0). These times
 * are never the OP_TIME sentinels.
 *
 * mode of CREATE, MKDIR and CHMOD is the permission bits (07777); the file
 * type bits may come along as FUSE gives them (S_IFREG for CREATE, S_IFDIR
 * for MKDIR, any for CHMOD) and are ignored. VERIFY's mode is the st_mode,
 * of a regular file, a directory or a symlink (the only types checked).
 * Entry types (all but CHMOD, CHOWN, UTIMENS, the xattrs, FSYNC_BARRIER and
 * VERIFY) need a non-empty path.
 *
 * VERIFY, by the type in its mode (what the active had at the record's
 * place in the order; the passive compares its copy when it reaches it):
 *   S_IFREG  offset: a multiple of OP_VERIFY_BLOCK; size: the file size;
 *            data: big-endian XXH3-64 of each block from offset, 8 bytes
 *            each, none past size (the last block may be short). An empty
 *            file has one VERIFY with no data; a big one several.
 *   S_IFDIR  one chunk of the directory's sorted (byte order) entry names,
 *            each followed by a NUL: regular files, directories, symlinks.
 *            size: how many such entries it had; offset: the index of the
 *            chunk's first entry. With OP_VERIFY_AFTER (every chunk but the
 *            first), the first name is not an entry of the chunk but the
 *            last name of the chunk before: the chunk covers the names after
 *            it. The chunk covers the names up to its last one, or all the
 *            rest when it is the final chunk (offset + its entries == size).
 *            So at its moment the active had exactly these names in that
 *            range, whatever changed between chunks.
 *   S_IFLNK  data: the target, not empty, no NUL; size: its length; offset 0.
 *   flags OP_VERIFY_XATTRS (regular files and directories, after their
 *            content): data: the xattrs, sorted by name, each as its name,
 *            a NUL and the big-endian XXH3-64 of its value; size: how many;
 *            offset 0. OP_VERIFY_NOXATTRS, on the first record of a regular
 *            file or directory, says it had none, so no XATTRS record
 *            follows; a symlink's xattrs are not checked.
 *   flag OP_VERIFY_BEGIN marks the first VERIFY of a check (any type but
 *            an xattr list): what the passive remembers of the checks
 *            before (which listings it saw, what it wanted whole) ends.
 *            OP_VERIFY_FULL, only with BEGIN, says the check walks every
 *            entry (not a targeted one): a copy that needed a full check
 *            is in sync once it ends. OP_VERIFY_REHASH, only with BEGIN,
 *            says the check trusts no remembered hashes (hashcache.h): the
 *            passive reads every file it compares, as the active did. Nodes
 *            built before this flag refuse such a record (their copy is
 *            then marked for a check): upgrade the passives first.
 *   flag OP_VERIFY_ENTRIES (no other flag; never the first VERIFY of a
 *            check): several entries of the directory path, in one record,
 *            each as its own VERIFY would say it (struct op_entry below):
 *            regular files of at most one block (OP_VERIFY_BLOCK) with no
 *            xattrs, and symlinks. mode: S_IFDIR alone; uid, gid, mtime
 *            and offset 0; size: how many entries (1 or more); data: the
 *            entries back to back, in byte order of their names. The
 *            passive verifies them in that order, as it would the same
 *            VERIFYs one after the other with nothing between: one record
 *            where a check of many small files had one per file. Nodes
 *            built before this flag refuse such a record (it is skipped and
 *            their copy marked for a check): upgrade the passives first.
 *
 * path is relative to the protected directory number root ("" names that
 * directory itself), made of components that are neither empty, ".", nor
 * "..", with no leading or trailing '/' and no NUL: op_decode refuses any
 * other, so a record can name nothing outside its directory even before
 * the applier's openat2(RESOLVE_BENEATH) refuses it again.
 */
struct op {
	uint16_t	 type;        /* enum record_type */
	uint16_t	 root;        /* index in [protect] data */
	uint32_t	 mode;
	uint32_t	 uid;
	uint32_t	 gid;
	uint32_t	 flags;
	uint64_t	 offset;
	uint64_t	 size;
	int64_t		 atime_sec;
	uint32_t	 atime_nsec;  /* or OP_TIME_OMIT / OP_TIME_NOW */
	int64_t		 mtime_sec;
	uint32_t	 mtime_nsec;
	int64_t		 dir_mtime_sec;   /* see "Times a change leaves behind" */
	uint32_t	 dir_mtime_nsec;
	int64_t		 dir2_mtime_sec;
	uint32_t	 dir2_mtime_nsec;
	const char	*path;        /* NUL-terminated, length path_len */
	uint16_t	 path_len;
	const char	*path2;       /* RENAME/LINK: a path as above; SYMLINK: the target */
	uint16_t	 path2_len;
	const char	*name;        /* xattr name */
	uint16_t	 name_len;
	const uint8_t	*data;
	uint32_t	 data_len;
};

/*
 * One entry of a VERIFY with OP_VERIFY_ENTRIES, big-endian: u16 name_len
 * (1 to OP_NAME_MAX), u16 reserved (0), u32 mode (st_mode: a regular file
 * or a symlink), u32 uid, u32 gid, u32 mtime_nsec (below 10^9), i64
 * mtime_sec, u64 size; then the name (one path component, so dir/name
 * follows the path rules, within OP_PATH_MAX) and a NUL; then for a
 * regular file (size at most OP_VERIFY_BLOCK) the XXH3-64 of its content,
 * none when it is empty, and for a symlink its target (size bytes, 1 to
 * OP_PATH_MAX, no NUL). op_decode checks every entry; op_entry_next then
 * walks them from *off (0 to start): false after the last. op_entry_put
 * writes one into buf; the bytes, or 0 when it does not fit or breaks
 * these rules (data_len must be what the mode and size say).
 */
#define OP_ENTRY_HEAD  36

struct op_entry {
	const char	*name;        /* NUL-terminated */
	uint16_t	 name_len;
	uint32_t	 mode;
	uint32_t	 uid;
	uint32_t	 gid;
	int64_t		 mtime_sec;
	uint32_t	 mtime_nsec;
	uint64_t	 size;
	const uint8_t	*data;        /* the 8-byte hash, or the symlink's target */
	uint32_t	 data_len;
};

size_t	op_entry_size(const struct op_entry *e);

/* One xattr of an xattr block; name is not NUL-terminated. */
#define OP_XATTR_HEAD  6

struct op_xattr {
	const char	*name;
	uint16_t	 name_len;
	const uint8_t	*value;
	uint32_t	 value_len;
};

/*
 * The xattr block of a CONFIG_FILE or CONFIG_DIR op: its bytes (the data
 * before the content). op_xattr_next walks it from *off (0 to start):
 * false after the last. op_xattr_put appends one at *len of buf (cap
 * bytes): false when it does not fit or breaks the rules.
 */
void	op_xattr_block(const struct op *op, const uint8_t **block, size_t *len);
bool	op_xattr_next(const uint8_t *block, size_t len, size_t *off, struct op_xattr *x);
bool	op_xattr_put(uint8_t *buf, size_t cap, size_t *len, const char *name, size_t name_len,
	    const void *value, size_t value_len);
size_t	op_entry_put(uint8_t *buf, size_t buflen, const struct op_entry *e);
bool	op_entry_next(const struct op *op, size_t *off, struct op_entry *e);

/* Bytes op_encode writes for op. */
size_t	op_size(const struct op *op);

/*
 * Encode op into buf (at least op_size bytes). Paths are taken as they are
 * (the capture builds them); returns the bytes written, or 0 when buflen is
 * too small or a length is over its limit.
 */
size_t	op_encode(uint8_t *buf, size_t buflen, const struct op *op);

/*
 * Decode a payload of a record of the given type. Every length is checked
 * against the payload, every path against the rules above. On the wire each
 * string is followed by a NUL (its length does not count it), so the op's
 * strings point into the payload itself. 0, or -1 with why.
 */
int	op_decode(unsigned type, const uint8_t *payload, size_t len, struct op *op,
	    char *why, size_t whylen);

/* A path for a message: at most 64 bytes, unprintable ones as '?'; returns out. */
#define OP_QUOTE_SIZE  68
const char *op_quote(const char *s, size_t len, char out[OP_QUOTE_SIZE]);

/* Whether path follows the rules above (path_len bytes, no NUL inside). */
bool	op_path_valid(const char *path, size_t path_len);

#endif
