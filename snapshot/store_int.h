/* Private to snapshot/. */
#ifndef SDF_STORE_INT_H
#define SDF_STORE_INT_H

#include "sdf_snapshot.h"

#include <git2.h>

#define SDF_SNAPSHOT_REF_PREFIX "refs/snapdiff/snapshots/"
#define SDF_HEAD_REF "refs/snapdiff/head"

struct sdf_store {
	git_repository *repo;
	char *path;     /* absolute path of the bare git directory */
	char *worktree; /* real path of the worktree, or NULL */
	int lock_fd;
	int lock_depth;
	/* attribute lookups: the same store with an empty in-memory index,
	 * so they never load the (large) stat cache; opened on first use */
	git_repository *attr_repo;
};

/*
 * Maps a failed libgit2 call to an SDF_E code and message "context: git's
 * message"; a failure caused by the memory budget becomes SDF_EBUDGET.
 */
int sdf_git_error(int giterr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * After a libgit2 call that succeeded: SDF_EBUDGET, "context: memory budget
 * exceeded", when an allocation failed on this thread since
 * sdf_alloc_clear_failed() (libgit2 swallows some refusals and answers as
 * if what it could not read were not there); else 0.
 */
int sdf_git_swallowed(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * git_reference_lookup, git_reference_iterator_glob_new,
 * git_reference_next and git_revparse_single, with their allocations never
 * refused (libgit2 1.5.1 crashes when one fails while it reads a loose
 * ref; git_glue.c).
 */
int sdf_ref_lookup(git_reference **out, git_repository *repo, const char *name);
int sdf_ref_iterator(git_reference_iterator **out, git_repository *repo,
                     const char *glob);
int sdf_ref_next(git_reference **out, git_reference_iterator *it);
int sdf_revparse(git_object **out, git_repository *repo, const char *spec);
/*
 * git_reference_create, never refused: libgit2 1.5.1 crashes when an
 * allocation fails while it checks the name is free (it reads the loose
 * ref) and leaks its lock file's buffer; a ref is a few dozen bytes.
 */
int sdf_ref_create(git_reference **out, git_repository *repo, const char *name,
                   const git_oid *id, int force, const char *log_message);
/*
 * git_index_add, never refused: when an allocation fails there, libgit2
 * 1.5.1 has freed the new entry but keeps it, and frees it again with the
 * index. It allocates the entry and at times grows the index's list and
 * map, in proportion to the index already held.
 */
int sdf_index_add(git_index *index, const git_index_entry *entry);
/*
 * git_index_write, never refused: libgit2 1.5.1 leaks its lock file's
 * buffer (4 KiB) when a later allocation fails. It writes the entries
 * through that buffer; its own allocations are the buffer and the
 * extensions, in proportion to the index already held.
 */
int sdf_index_write(git_index *index);

/* Puts a guard before libgit2's reader of repo's loose objects: a damaged
 * one is an error, never a hang (odb_guard.c). */
int sdf_store_guard_odb(git_repository *repo, const char *store_path);

/* Opens another handle on the same store (one git_repository per thread). */
int sdf_store_open_repo(git_repository **out, const sdf_store *st);

/*
 * The entry at path (normalized: no empty, "." or ".." component) in root:
 * 1 with *out (git_tree_entry_free it), 0 when the tree has none, or a
 * negative SDF_E code when a subtree on the way cannot be read (missing,
 * damaged, out of memory). Not git_tree_entry_bypath: it says "not found"
 * for a subtree whose object is missing too, and a path taken for absent
 * may be deleted (revert).
 */
int sdf_store_entry_at(git_tree_entry **out, git_repository *repo,
                       const git_tree *root, const char *path);

#endif
