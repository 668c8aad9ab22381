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

/* Called for each file that could not be taken or written as asked. */
typedef void (*sdf_notice_cb)(const char *path, int code, const char *message,
			      void *payload);

typedef struct {
	const char *label;   /* optional; stored with the snapshot */
	int strict;	     /* fail on an unreadable or changing file */
	unsigned workers;    /* threads that hash and store; 0 = cores */
	sdf_notice_cb notice;
	void *payload;
} sdf_track_options;
#define SDF_TRACK_OPTIONS_INIT {NULL, 0, 0, NULL, NULL}

typedef struct {
	char tree[SDF_OID_HEXSZ + 1];
	char id[64];		/* the snapshot's id (its ref's last part) */
	int created;		/* 0 when the newest snapshot already had it */
	uint64_t files;		/* entries in the tree (all levels) */
	uint64_t bytes;		/* their sizes added up */
	uint64_t written;	/* files read and stored by this track */
	uint64_t written_bytes;
	uint64_t skipped;	/* files kept at their previous state */
	uint64_t removed;	/* files gone since the previous track */
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
	int64_t time;	/* seconds since the epoch */
	char *label;	/* NULL when none */
	uint64_t files;
	uint64_t bytes;
} sdf_snapshot_info;

/* Every snapshot, oldest first. Free with sdf_snapshot_log_free(). */
int sdf_snapshot_log(sdf_snapshot_info **out, size_t *count, sdf_store *st);
void sdf_snapshot_log_free(sdf_snapshot_info *list, size_t count);

#endif
