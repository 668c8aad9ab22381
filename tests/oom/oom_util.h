/*
 * Allocation-failure loops, SQLite's way: an operation runs with its n-th
 * allocation failing, n = 1, 2, ..., each in a child process (libgit2 1.5.1
 * crashes on some of its out-of-memory paths, and a crash must not take the
 * test with it), until it runs without reaching the failure.
 */
#ifndef OOM_UTIL_H
#define OOM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * What a child reports (its exit code, away from the small codes a
 * sanitizer's report exits with); anything else is a crash.
 */
enum oom_outcome {
	OOM_DONE = 10,     /* succeeded without reaching the failure */
	OOM_ABSORBED = 11, /* reached it, recovered, the result is right */
	OOM_FAILED = 12,   /* a clean error: expected code, no leak */
	OOM_BAD = 13,      /* a broken rule: the message says which */
	OOM_LEAK = 14,     /* a clean error that left live bytes */
	OOM_CRASHED = 15   /* (oom_judge) a crash inside libgit2 */
};

typedef struct {
	int status; /* an oom_outcome, or 128 + signal */
	char msg[8192];
} oom_child;

/*
 * 1 when the child crashed inside a call into libgit2 (its crash report,
 * in msg, has a libgit2 frame: libgit2 1.5.1 dereferences NULL or frees
 * twice on some out-of-memory paths), with site set to that frame; 0 for
 * any other crash, a crash of ours.
 */
int oom_libgit2_crash(const oom_child *c, char *site, size_t cap);

/*
 * Runs fn(n, arg, msg, cap) in a child and returns what it returned (or
 * 128 + the signal that killed it); msg gets what fn wrote there.
 */
typedef int (*oom_fn)(uint64_t n, void *arg, char *msg, size_t cap);
int oom_fork(oom_child *out, oom_fn fn, uint64_t n, void *arg);

/* What a loop's children came to. */
typedef struct {
	uint64_t failed, absorbed, crashes, leaks;
} oom_tally;

/* The failure points a tally counted. */
uint64_t oom_points(const oom_tally *t);

/*
 * Judges c, the child for n (what names the case in the log): a crash
 * inside libgit2 is counted, logged and returned as OOM_CRASHED; a leak
 * that leak_ok (may be NULL) says is libgit2's is counted, logged and
 * returned as OOM_FAILED; any other outcome but done, failed or absorbed
 * fails the test. Returns the outcome.
 */
int oom_judge(oom_tally *t, const oom_child *c, uint64_t n, const char *what,
              int (*leak_ok)(const oom_child *c));

/*
 * Makes libgit2 allocate this thread's state and error buffer now (as
 * snapdiffd's workers do), so that live bytes measure the operation.
 */
void oom_warm_thread(void);

/*
 * In a child: sends s to the parent now (it ends up before msg), so that a
 * crash after this point still tells what came before it.
 */
void oom_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fills msg and returns OOM_BAD. */
int oom_bad(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The step between two N: 1 in the plain build, which runs every N; more
 * in sanitizer builds, which are several times slower; or $OOM_STRIDE.
 */
uint64_t oom_stride(void);

/* The first N: 1, or $OOM_FROM to look at one failure point. */
uint64_t oom_first(void);

/*
 * A suite's directories: *root a new temporary directory (tag in its name),
 * *wt and *store paths in it (not made); libgit2 and the JSON encoder set
 * up, umask 022. oom_dirs_free removes root and frees the three.
 */
void oom_dirs_make(const char *tag, char **root, char **wt, char **store);
void oom_dirs_free(char *root, char *wt, char *store);

/* Copies the directory tree from into to (which must not exist). */
void oom_copy_tree(const char *from, const char *to);

/*
 * The first file named *.lock* under dir whose path ends in none of
 * allowed (a NULL-terminated list; the store's own flock file snapdiff.lock
 * is always allowed), malloc'd; NULL when none.
 */
char *oom_find_lock(const char *dir, const char *const *allowed);

/* The tree of a revision in a git directory (40 hex), or "" when none. */
void oom_rev_tree(char out[41], const char *git_dir, const char *rev);

/*
 * 1 when the error message err (of a clean SDF_EBUDGET failure that left
 * live bytes) names a call where libgit2 1.5.1 itself leaks when one of
 * its allocations fails, and that snapdiff cannot keep from failing (their
 * allocations grow with the input):
 *  - git_index_write_tree: part of the tree being built, a few hundred
 *    bytes that no free reaches;
 *  - git_diff_tree_to_tree: part of the diff it was building (80 bytes);
 *  - git_patch_from_buffers: part of the patch it was building (about
 *    600 bytes; it returns no patch for us to free).
 * The others (opening a repository, writing the index, creating a ref) run
 * never refused (snapshot/git_glue.c, store.c).
 */
int oom_libgit2_leak_site(const char *err);

#endif
