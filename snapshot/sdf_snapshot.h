/*
 * snapshot/: worktree snapshots kept as git trees in a separate, bare git
 * directory (the store), through libgit2. Every file is streamed; no body is
 * ever held whole in memory.
 */
#ifndef SDF_SNAPSHOT_H
#define SDF_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define SDF_OID_HEXSZ 40

typedef struct sdf_store sdf_store;

/*
 * Routes libgit2's allocations through the counting allocator and caps its
 * caches. Call once per process, before any thread uses libgit2.
 */
int sdf_snapshot_global_init(void);
void sdf_snapshot_global_shutdown(void);

/* $XDG_DATA_HOME/snapdiff/<name>-<hash of the worktree's real path>. */
int sdf_store_default_path(char **out, const char *worktree);

#define SDF_STORE_CREATE 1u /* create the store if it does not exist */

/*
 * Opens the store at path (NULL: the worktree's default store). worktree may
 * be NULL for a store that already records one. Caller frees with
 * sdf_store_free().
 */
int sdf_store_open(sdf_store **out, const char *path, const char *worktree,
                   unsigned flags);
void sdf_store_free(sdf_store *st);
const char *sdf_store_path(const sdf_store *st);
/* The worktree's real path, or NULL when the store has none. */
const char *sdf_store_worktree(const sdf_store *st);

/*
 * Whole-store lock shared between processes (flock on STORE/snapdiff.lock):
 * track, restore, revert and prune take it exclusive, readers shared. Blocks
 * until granted.
 */
int sdf_store_lock(sdf_store *st, int exclusive);
void sdf_store_unlock(sdf_store *st);

/*
 * Resolves a tree-ish (tree id, commit, ref, "HEAD~1", a snapshot id or a
 * snapshot label) to a tree id.
 */
int sdf_store_resolve_tree(char out[SDF_OID_HEXSZ + 1], sdf_store *st,
                           const char *spec);

/*
 * The blob id of the file at path (relative to the worktree's top, '/'
 * separated) in tree tree_hex: SDF_ENOTFOUND when the tree has no such
 * path, SDF_EINVAL when it is not a file there.
 */
int sdf_store_blob_at(char out[SDF_OID_HEXSZ + 1], sdf_store *st,
                      const char *tree_hex, const char *path);

/* Called for each file that could not be taken or written as asked. */
typedef void (*sdf_notice_cb)(const char *path, int code, const char *message,
                              void *payload);

typedef struct {
	const char *label; /* optional; stored with the snapshot */
	int strict;        /* fail on an unreadable or changing file */
	unsigned workers;  /* threads that hash and store; 0 = cores */
	sdf_notice_cb notice;
	void *payload;
} sdf_track_options;
#define SDF_TRACK_OPTIONS_INIT                                                 \
	{                                                                      \
		NULL, 0, 0, NULL, NULL                                         \
	}

typedef struct {
	char tree[SDF_OID_HEXSZ + 1];
	char id[64];      /* the snapshot's id (its ref's last part) */
	int created;      /* 0 when the newest snapshot already had it */
	uint64_t files;   /* entries in the tree (all levels) */
	uint64_t bytes;   /* their sizes added up */
	uint64_t written; /* files read and stored by this track */
	uint64_t written_bytes;
	uint64_t skipped; /* files kept at their previous state */
	uint64_t removed; /* files gone since the previous track */
} sdf_track_result;

/*
 * Snapshots the worktree: the tree id is the one `git add -A && git
 * write-tree` gives with a fresh GIT_DIR whose info/attributes holds
 * "* -text -ident". Takes the store lock itself.
 *
 * An unreadable file, or one that keeps changing while it is read (three
 * tries), is reported through opts->notice and kept at its previous state
 * (left out if it had none); with opts->strict the track fails instead.
 */
int sdf_snapshot_track(sdf_track_result *out, sdf_store *st,
                       const sdf_track_options *opts);

typedef struct {
	char id[64];
	char tree[SDF_OID_HEXSZ + 1];
	char commit[SDF_OID_HEXSZ + 1];
	int64_t time; /* seconds since the epoch */
	char *label;  /* NULL when none */
	uint64_t files;
	uint64_t bytes;
} sdf_snapshot_info;

/* Every snapshot, oldest first. Free with sdf_snapshot_log_free(). */
int sdf_snapshot_log(sdf_snapshot_info **out, size_t *count, sdf_store *st);
void sdf_snapshot_log_free(sdf_snapshot_info *list, size_t count);

/* ---- restore, revert, blob reader ---- */

/*
 * A streaming reader of one blob of the store: never holds the whole blob.
 * A loose object is inflated chunk by chunk (its length, zlib's end of
 * stream and its SHA-1 are checked at the end: SDF_ECORRUPT when they do not
 * match); a packed one is read whole, but only up to a cap (SDF_ETOOBIG over
 * it). SDF_ENOTFOUND when the store (or its alternates) lacks the object.
 */
typedef struct sdf_blob_reader sdf_blob_reader;

typedef struct {
	/* largest packed blob read whole; 0 = SDF_BLOB_PACKED_MAX */
	uint64_t packed_max;
	/*
	 * Skip the SHA-1 check of a loose object (its length, zlib's checksum
	 * and end of stream are still checked), as git skips it when it
	 * reads objects for a diff. Restore always verifies.
	 */
	int no_verify;
} sdf_blob_reader_options;
#define SDF_BLOB_READER_OPTIONS_INIT                                           \
	{                                                                      \
		0, 0                                                           \
	}
#define SDF_BLOB_PACKED_MAX ((uint64_t)8 << 20)

int sdf_blob_reader_open(sdf_blob_reader **out, sdf_store *st,
                         const char *oid_hex);
int sdf_blob_reader_open_ext(sdf_blob_reader **out, sdf_store *st,
                             const char *oid_hex,
                             const sdf_blob_reader_options *opts);
/* The blob's length in bytes, as its header says. */
uint64_t sdf_blob_reader_size(const sdf_blob_reader *r);
/*
 * Reads up to cap bytes into buf. *nread == 0 with 0 returned: the end (the
 * object was verified by the read that returned its last bytes).
 */
int sdf_blob_reader_read(size_t *nread, sdf_blob_reader *r, void *buf,
                         size_t cap);
void sdf_blob_reader_free(sdf_blob_reader *r);

/* What restore and revert did to one path (for listing them). */
enum sdf_restore_action {
	SDF_RESTORE_ADDED = 1,    /* the path did not exist */
	SDF_RESTORE_MODIFIED = 2, /* rewritten or replaced */
	SDF_RESTORE_DELETED = 3   /* revert removed it */
};
typedef void (*sdf_restore_cb)(const char *path, int action, void *payload);

typedef struct {
	sdf_notice_cb notice;   /* each path that failed; may be NULL */
	sdf_restore_cb changed; /* each path written or deleted; may be NULL */
	void *payload;          /* passed to both */
	uint64_t packed_max;    /* see sdf_blob_reader_options */
} sdf_restore_options;
#define SDF_RESTORE_OPTIONS_INIT                                               \
	{                                                                      \
		NULL, NULL, NULL, 0                                            \
	}

typedef struct {
	char tree[SDF_OID_HEXSZ + 1];
	uint64_t written; /* files and symlinks written */
	uint64_t written_bytes;
	uint64_t unchanged; /* already as in the snapshot: not rewritten */
	uint64_t removed;   /* files and symlinks deleted (by revert, or
	                       replaced by a directory) */
	uint64_t errors;    /* paths reported through opts->notice */
} sdf_restore_result;

/*
 * 1 when restore and revert may write a tree entry (or a path component)
 * called name[0..len), 0 when they refuse it as unsafe: empty, "." or "..",
 * holding a '/', a backslash or a NUL, or naming the repository directory
 * where a file system may take it for ".git": ".git" in any case, alone or
 * followed by dots and spaces (which NTFS and vfat drop) or by ':' (an
 * NTFS stream), and its 8.3 short name "git~1" likewise. git refuses the
 * same names (core.protectNTFS is on by default).
 */
int sdf_restore_name_ok(const char *name, size_t len);

/*
 * Writes every file of the tree (anything sdf_store_resolve_tree accepts)
 * into the store's worktree under the store's exclusive lock. Each file is
 * streamed into a temporary file beside it and renamed into place; exec bits
 * and symlinks are restored, gitlinks become empty directories. Nothing is
 * ever deleted except what stands where the snapshot has something else: a
 * file or symlink where it has a directory, an empty directory where it has a
 * file. Never writes through a symlink.
 *
 * Before writing anything, fails with SDF_EUNSAFE when a tree entry's name
 * is one sdf_restore_name_ok() refuses.
 *
 * A path that cannot be written (a non-empty directory where the snapshot
 * has a file, a missing or damaged object, a refused write) is reported
 * through opts->notice and counted in out->errors; the others are still
 * written and the call returns the first such error's code at the end.
 * Running out of budget or disk space stops at once.
 */
int sdf_snapshot_restore(sdf_restore_result *out, sdf_store *st,
                         const char *tree_spec,
                         const sdf_restore_options *opts);

/*
 * Puts the given worktree-relative paths back as they are in the tree. A
 * path that the tree has is written as restore writes it (a directory: all
 * of it, and the files under it that the store's index tracks but the tree
 * lacks are deleted). A path the tree lacks is deleted when it is a file or
 * symlink; when it is a directory, only the files under it that the index
 * tracks are deleted (never ignored or unknown ones), then the directories
 * that became empty. A path the tree lacks that is ignored and untracked is
 * kept and reported. Paths are made canonical ("./", "." parts and doubled
 * slashes dropped); absolute ones, and ones with a ".." part or a part
 * sdf_restore_name_ok() refuses, are refused (SDF_EUNSAFE) before anything
 * is written.
 */
int sdf_snapshot_revert(sdf_restore_result *out, sdf_store *st,
                        const char *tree_spec, const char *const *paths,
                        size_t npaths, const sdf_restore_options *opts);

/* ---- retention, prune, du ---- */

/*
 * Retention policy of a store, kept in its git config (stock `git config`
 * reads and writes it too):
 *   snapdiff.keepDays    expire snapshots older than N days (0: no limit)
 *   snapdiff.keepCount   keep only the N newest unpinned snapshots (0: none)
 *   snapdiff.maxBytes    keep the store under N bytes on disk, expiring the
 *                        oldest snapshots first (k, m, g suffixes; 0: none)
 *   snapdiff.pruneGrace  never delete an object or temporary file modified
 *                        less than this long ago: seconds, or a number with
 *                        s, m, h or d (default 1h; 0: none)
 * A snapshot survives only inside every limit that is set. Pinned snapshots
 * (refs/snapdiff/pinned/<id>) and the newest snapshot are never expired and
 * do not count against keepCount.
 */
typedef struct {
	uint32_t keep_days;    /* 0 = no limit */
	uint32_t keep_count;   /* 0 = no limit */
	uint64_t max_bytes;    /* 0 = no limit */
	int64_t grace_seconds; /* >= 0 */
} sdf_retention;
#define SDF_PRUNE_GRACE_DEFAULT 3600

/* The store's policy; unset keys read as no limit and the default grace. */
int sdf_retention_get(sdf_retention *out, sdf_store *st);
/* Writes every field of policy to the store's config (0 limits unset it). */
int sdf_retention_set(sdf_store *st, const sdf_retention *policy);
/* "3600", "90s", "30m", "1h", "7d" -> seconds. 0 on success. */
int sdf_parse_duration(const char *s, int64_t *out);

/*
 * Pins (pin != 0) or unpins every snapshot that spec names: a snapshot id,
 * a label (all snapshots carrying it), or a tree or commit id. A pinned
 * snapshot has a ref refs/snapdiff/pinned/<id> on its commit, so stock git
 * keeps it too. *count: how many changed state. SDF_ENOTFOUND when spec
 * names no snapshot. Takes the store lock.
 */
int sdf_snapshot_pin(size_t *count, sdf_store *st, const char *spec, int pin);
/* 1 when the snapshot with this id is pinned, 0 when not, < 0 on error. */
int sdf_snapshot_is_pinned(sdf_store *st, const char *id);

/*
 * What the store holds on disk. bytes is the sum of st_blocks * 512 over
 * every file and directory under the store (what `du -s -B1 -l STORE`
 * prints: hard links counted each time); apparent_bytes the sum of the
 * regular files' st_size.
 */
typedef struct {
	uint64_t bytes;
	uint64_t apparent_bytes;
	uint64_t files;   /* regular files */
	uint64_t objects; /* loose + packed */
	uint64_t loose_objects;
	uint64_t loose_bytes; /* their st_blocks * 512 */
	uint64_t packs;
	uint64_t packed_objects;
	uint64_t pack_bytes; /* .pack, .idx and the rest of objects/pack */
	size_t snapshots;
	size_t pinned;
	char oldest[64]; /* id of the oldest snapshot, "" when none */
	char newest[64];
	int64_t oldest_time; /* seconds since the epoch */
	int64_t newest_time;
} sdf_store_usage;

/* Measures the store under its shared lock. */
int sdf_store_du(sdf_store_usage *out, sdf_store *st);

#define SDF_PRUNE_DRY_RUN 1u /* decide and report, change nothing */

/* Called for each snapshot prune expires (before its ref is dropped). */
typedef void (*sdf_prune_expired_cb)(const sdf_snapshot_info *snap,
                                     const char *reason, void *payload);

typedef struct {
	const sdf_retention *policy; /* NULL: the store's config */
	unsigned flags;
	sdf_prune_expired_cb expired;
	void *payload;
} sdf_prune_options;
#define SDF_PRUNE_OPTIONS_INIT                                                 \
	{                                                                      \
		NULL, 0, NULL, NULL                                            \
	}

typedef struct {
	sdf_retention policy; /* the one applied */
	size_t snapshots;     /* before */
	size_t expired;       /* refs dropped (dry run: that would be) */
	size_t pinned;
	uint64_t objects_deleted; /* loose objects removed */
	uint64_t bytes_deleted;   /* their st_blocks * 512 */
	uint64_t objects_kept;    /* loose objects reachable (or possibly) */
	uint64_t objects_young;   /* unreachable but inside the grace */
	uint64_t bytes_young;
	uint64_t temp_deleted; /* stale temporary and lock files */
	uint64_t bytes_before; /* sdf_store_usage.bytes */
	uint64_t bytes_after;  /* measured; estimated on a dry run */
	int over_quota;        /* still over policy.max_bytes */
	unsigned rounds;       /* expire-and-sweep rounds made */
	uint64_t trees_seen;   /* trees, commits and tags walked (last pass) */
	uint64_t blobs_seen;   /* blob references met (last pass) */
	size_t mem_bytes;      /* visited set + Bloom filter + stack, peak */
} sdf_prune_result;

/*
 * Applies the retention policy and deletes what no ref keeps. Under the
 * store's exclusive lock: expires snapshots (oldest first; by keepDays and
 * keepCount, then by maxBytes while the store would stay over it), drops
 * their refs, then deletes every loose object reachable from no ref (any
 * ref, HEAD, reflogs) nor from the store's index (its entries' blobs and its
 * cached trees: the next track trusts them), unless it was modified inside
 * the grace period; stale temporary and lock files likewise.
 *
 * Safe beside other processes: track, restore and revert wait for the lock,
 * and the grace period covers writers that do not take it. Any error while
 * finding what is reachable deletes no object.
 *
 * Under maxBytes, young objects weigh like old ones: which snapshots expire
 * does not depend on the grace, which only delays deleting their objects
 * (until then over_quota may stay set, with bytes_young saying why).
 *
 * Memory: an exact set of the reachable trees, commits and tags (20 bytes
 * a slot, at most half full: 40 to 80 bytes each), a Bloom filter of the
 * reachable blobs (10 bits per loose object, at most 32 MiB or a quarter
 * of the budget left; a false positive only keeps an unreachable blob until
 * a later prune, as each run hashes with a new seed), a stack of tree ids
 * to visit and a 64 KiB buffer to stream the index. Blobs are never read;
 * trees are read once each. Like every call on st, not to be made on one
 * handle from two threads at once.
 */
int sdf_store_prune(sdf_prune_result *out, sdf_store *st,
                    const sdf_prune_options *opts);

#endif
