/*
 * Reading two trees of a store for the diff: which paths changed (no
 * content read), object sizes, gitattributes, and a bounded unified patch
 * of two small blobs. Works on a snapdiff store and on any git directory
 * opened with sdf_store_open().
 */
#ifndef SDF_TREE_H
#define SDF_TREE_H

#include "sdf_snapshot.h"

#define SDF_MODE_GITLINK 0160000u
#define SDF_MODE_LINK 0120000u

typedef struct {
	char *path;
	char status; /* 'A', 'D', 'M' or 'T' (type change) */
	char old_oid[SDF_OID_HEXSZ + 1]; /* "" when absent */
	char new_oid[SDF_OID_HEXSZ + 1];
	uint32_t old_mode, new_mode; /* 0 when absent */
} sdf_tree_change;

/*
 * The paths that differ between two trees (ids as from
 * sdf_store_resolve_tree), in git's order, as `git diff --no-renames` sees
 * them: a file that became a symlink is one 'T' change. Reads no blob.
 */
int sdf_tree_changes(sdf_tree_change **out, size_t *count, sdf_store *st,
                     const char *old_tree, const char *new_tree);
void sdf_tree_changes_free(sdf_tree_change *list, size_t count);

/* The size of an object, from its header only. */
int sdf_store_object_size(uint64_t *out, sdf_store *st, const char *oid_hex);

/*
 * An attribute of path as git would see it for this store (the worktree's
 * .gitattributes files and the store's info/attributes): 1 set, -1 unset
 * ("-attr", or a macro such as "binary" unsetting it), 2 set to a value,
 * 0 unspecified.
 */
int sdf_store_attr(int *out, sdf_store *st, const char *path, const char *name);

/*
 * A unified diff (git's format, 3 lines of context) of two blobs, each at
 * most a few MiB (the caller checks sizes first); either oid may be "" for
 * an absent side. When the patch would be over max_bytes, *out is NULL and
 * *truncated is 1. Free *out with sdf_free().
 */
int sdf_store_patch(char **out, size_t *len, int *truncated, sdf_store *st,
                    const sdf_tree_change *c, size_t max_bytes);

#endif
