/*
 * Private to snapshot/: gitignore rules, evaluated as git does.
 *
 * libgit2 1.5 drops a negative pattern ("!x") that negates nothing earlier
 * in the same file, so a deeper .gitignore cannot re-include what a parent
 * one excluded; git can. The store therefore walks the worktree with this
 * engine, written from gitignore(5): per-directory .gitignore files (deeper
 * first, last matching line wins), then info/exclude, then core.excludesFile;
 * an excluded directory is not entered.
 */
#ifndef SDF_IGNORE_INT_H
#define SDF_IGNORE_INT_H

#include <stddef.h>

typedef struct sdf_ignore sdf_ignore;

/*
 * info_exclude and excludes_file are files (either may be NULL or missing).
 */
int sdf_ignore_new(sdf_ignore **out, const char *info_exclude,
                   const char *excludes_file);
void sdf_ignore_free(sdf_ignore *ig);

/*
 * Enters directory reldir ("" for the root, else "a/b/" with its trailing
 * slash) whose fd is dirfd: reads its .gitignore (never through a symlink).
 */
int sdf_ignore_push_dir(sdf_ignore *ig, int dirfd, const char *reldir);
void sdf_ignore_pop_dir(sdf_ignore *ig);

/* 1 when path (relative to the worktree, inside the current dir) is ignored. */
int sdf_ignore_check(const sdf_ignore *ig, const char *path, int is_dir);

/*
 * gitignore's wildcard matching: '*', '?', '[...]' (with '!'/'^', ranges and
 * [:classes:]), '\' escapes; with pathname set, wildcards never match '/' and
 * "**" spans directories ("**" + "/x", "x/" + "**", "/" + "**" + "/").
 * Returns 1 on a match.
 */
int sdf_wildmatch(const char *pattern, const char *text, int pathname);

#endif
