/* Helpers for the Criterion suites: sandboxes, files, child processes. */
#ifndef SDF_TESTUTIL_H
#define SDF_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * SDF_VALGRIND runs the programs under memcheck, tens of times slower: a
 * large input shrinks to 1/16 (still many buffers' worth), a long loop to
 * fewer rounds, and peak RSS is not checked (valgrind's own memory counts in
 * it), as with sanitizers.
 */
#ifdef SDF_VALGRIND
#define TU_BIG(bytes) ((bytes) / 16)
#define TU_ROUNDS(n, under_valgrind) (under_valgrind)
#else
#define TU_BIG(bytes) (bytes)
#define TU_ROUNDS(n, under_valgrind) (n)
#endif
#if defined(SDF_SANITIZED) || defined(SDF_VALGRIND)
#define TU_CHECK_RSS 0
#else
#define TU_CHECK_RSS 1
#endif

typedef struct {
	char *out; /* NUL-terminated stdout */
	size_t out_len;
	char *err;      /* NUL-terminated stderr */
	int status;     /* exit code, or 128+signal */
	long maxrss_kb; /* the child's peak RSS from wait4() */
	double seconds; /* wall time */
} tu_result;

/* A fresh directory under $TMPDIR (or /tmp); free() the result. */
char *tu_mkdtemp(const char *tag);
void tu_rm_rf(const char *path);
/* dir/rel := data, creating parent directories. Aborts the test on error. */
void tu_write(const char *dir, const char *rel, const void *data, size_t len,
              mode_t mode);
void tu_write_str(const char *dir, const char *rel, const char *s);
/* Returns a malloc'd copy of dir/rel's content, or NULL. */
char *tu_read(const char *dir, const char *rel, size_t *len);
char *tu_path(const char *dir, const char *rel);

/* Runs argv (argv[0] looked up in PATH) in cwd with stdin from /dev/null. */
int tu_run(tu_result *res, const char *cwd, char *const argv[]);
/* Runs "/bin/sh -c CMD" after formatting; returns the exit status. */
int tu_sh(tu_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tu_result_dispose(tu_result *res);
/* Runs "/bin/sh -c CMD" after formatting; asserts it exits 0 (the failure
 * names the command and its stderr); returns its stdout, malloc'd. */
char *tu_sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *tu_sh_okv(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
/* tu_sh_ok, returning only the last line of stdout (malloc'd). */
char *tu_sh_ok_last(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* vasprintf that asserts; malloc'd. */
char *tu_vformat(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Last line of s (without its newline), malloc'd. */
char *tu_last_line(const char *s);

/* The tree `git add -A && git write-tree` gives for wt (its info/exclude
 * honoured, no attributes applied) with a fresh GIT_DIR; malloc'd. */
char *tu_git_tree(const char *wt);
/* Asserts `CLI restore TREE` into an empty directory writes what git
 * checks out of that tree, byte for byte (modes and links included). */
void tu_expect_restores_like_git(const char *cli, const char *store,
                                 const char *tree, const char *what);

#endif
