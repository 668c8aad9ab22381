/* Private to snapshot/. */
#ifndef SDF_STORE_INT_H
#define SDF_STORE_INT_H

#include "sdf_snapshot.h"

#include <git2.h>

#define SDF_SNAPSHOT_REF_PREFIX "refs/snapdiff/snapshots/"
#define SDF_HEAD_REF "refs/snapdiff/head"

struct sdf_store {
	git_repository *repo;
	char *path;	/* absolute path of the bare git directory */
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

/* Puts a guard before libgit2's reader of repo's loose objects: a damaged
 * one is an error, never a hang (odb_guard.c). */
int sdf_store_guard_odb(git_repository *repo, const char *store_path);

/* Opens another handle on the same store (one git_repository per thread). */
int sdf_store_open_repo(git_repository **out, const sdf_store *st);

#endif
