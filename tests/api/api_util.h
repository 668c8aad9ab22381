/* Helpers for the api/ suites: git repositories and their diffs as
 * sdf_file_summary arrays, filled from git's own plumbing output. */
#ifndef SDF_API_TEST_UTIL_H
#define SDF_API_TEST_UTIL_H

#include "sdf_api.h"

#include <stddef.h>

typedef struct {
	sdf_file_summary *files;
	size_t n;
} at_diff;

/* Git with only its defaults (no one's ~/.gitconfig), for this process. */
void at_git_env(void);
/* A new repository in a fresh temp dir; free() the result. */
char *at_repo_new(const char *tag);
/* Runs "cd REPO && CMD" and returns its stdout (malloc'd); asserts exit 0.
 * len may be NULL. */
char *at_sh(size_t *len, const char *repo, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* git add -A && git commit, returns nothing; asserts success. */
void at_commit(const char *repo, const char *msg);

/*
 * The summaries of `git diff --no-renames FROM TO` as the service would fill
 * them: statuses, modes and ids from --raw, counts from --numstat, binary
 * sizes from cat-file.
 */
void at_load(at_diff *d, const char *repo, const char *from, const char *to);
void at_dispose(at_diff *d);

/* Runs a writer into memory; returns the bytes (malloc'd, NUL-terminated)
 * and asserts it returned 0. */
typedef int (*at_writer)(FILE *out, const at_diff *d, const void *arg);
char *at_capture(at_writer w, const at_diff *d, const void *arg);

#endif
