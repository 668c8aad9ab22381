#include "oom_util.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_snapshot.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <execinfo.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <signal.h>
#include <git2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int crash_fd = -1;

#ifdef SDF_SANITIZED
void __asan_set_error_report_callback(void (*cb)(const char *));
int __lsan_do_recoverable_leak_check(void);

/* A sanitizer's report (it dies after it): into the parent's message. */
static void on_report(const char *report)
{
	if (write(crash_fd, report, strlen(report)) < 0)
		_exit(OOM_BAD);
}
#endif

/* A crash: its stack into the report (addr2line turns it into lines). */
static void on_crash(int sig)
{
	void *frames[48];
	int k = backtrace(frames, 48);

	backtrace_symbols_fd(frames, k, crash_fd);
	signal(sig, SIG_DFL);
	raise(sig);
}

int oom_fork(oom_child *out, oom_fn fn, uint64_t n, void *arg)
{
	int fds[2], status;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	static int warmed;

	if (!warmed++) {
		/* backtrace() loads libgcc_s on first use, which allocates:
		 * never for the first time in a crash inside malloc */
		void *frames[4];
		backtrace(frames, 4);
	}
	memset(out, 0, sizeof(*out));
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char msg[sizeof(out->msg)] = "";
		int rc;

		close(fds[0]);
		crash_fd = fds[1];
		alarm(300); /* a child that hangs is a failure, not a hang */
		signal(SIGSEGV, on_crash);
		signal(SIGBUS, on_crash);
		signal(SIGABRT, on_crash);
#ifdef SDF_SANITIZED
		__asan_set_error_report_callback(on_report);
#endif
		rc = fn(n, arg, msg, sizeof(msg));
#ifdef SDF_SANITIZED
		/* to find a leak: OOM_FROM=n ASAN_OPTIONS=detect_leaks=1
		 * OOM_LSAN=1 (stacks on stderr) */
		if (getenv("OOM_LSAN"))
			__lsan_do_recoverable_leak_check();
#endif
		if (write(fds[1], msg, strlen(msg)) < 0)
			rc = OOM_BAD;
		/* _exit: no atexit handlers (and no leak report of what a
		 * libgit2 out-of-memory path kept: live bytes judge that) */
		_exit(rc);
	}
	close(fds[1]);
	while (got < sizeof(out->msg) - 1 &&
	       (r = read(fds[0], out->msg + got, sizeof(out->msg) - 1 - got)) >
	           0)
		got += (size_t)r;
	out->msg[got] = '\0';
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	out->status =
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return out->status;
}

int oom_libgit2_crash(const oom_child *c, char *site, size_t cap)
{
	const char *at, *eol;

	if (c->status >= OOM_DONE && c->status <= OOM_LEAK)
		return 0;
	if (!(at = strstr(c->msg, "libgit2.so")))
		return 0;
	while (at > c->msg && at[-1] != '\n')
		at--;
	eol = strchr(at, '\n');
	snprintf(site, cap, "%.*s", eol ? (int)(eol - at) : 200, at);
	return 1;
}

void oom_warm_thread(void)
{
	char msg[512];

	memset(msg, '.', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	git_error_set_str(GIT_ERROR_NONE, msg);
	git_error_clear();
}

void oom_note(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (k > 0 && crash_fd >= 0 && write(crash_fd, buf, strlen(buf)) < 0)
		_exit(OOM_BAD);
}

int oom_bad(char *msg, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
	return OOM_BAD;
}

uint64_t oom_stride(void)
{
	const char *s = getenv("OOM_STRIDE");

	if (s && strtoull(s, NULL, 10) > 0)
		return strtoull(s, NULL, 10);
#ifdef SDF_SANITIZED
	return 7;
#else
	return 1;
#endif
}

static const char *copy_from, *copy_to;

static int copy_one(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
	char dst[4096], buf[65536];
	ssize_t r;
	int in, out;

	(void)ftw;
	snprintf(dst, sizeof(dst), "%s%s", copy_to, path + strlen(copy_from));
	if (type == FTW_D) {
		cr_assert_eq(mkdir(dst, sb->st_mode & 07777), 0, "mkdir %s",
		             dst);
	} else if (type == FTW_SL) {
		r = readlink(path, buf, sizeof(buf) - 1);
		cr_assert_geq(r, 0);
		buf[r] = '\0';
		cr_assert_eq(symlink(buf, dst), 0);
	} else if (type == FTW_F) {
		in = open(path, O_RDONLY | O_CLOEXEC);
		out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		           sb->st_mode & 07777);
		cr_assert(in >= 0 && out >= 0, "copy %s", path);
		while ((r = read(in, buf, sizeof(buf))) > 0)
			cr_assert_eq(write(out, buf, (size_t)r), r);
		close(in);
		close(out);
	}
	return 0;
}

void oom_copy_tree(const char *from, const char *to)
{
	copy_from = from;
	copy_to = to;
	cr_assert_eq(nftw(from, copy_one, 32, FTW_PHYS), 0);
}

static char *lock_found;
static const char *const *lock_allowed;

static int find_lock(const char *path, const struct stat *sb, int type,
                     struct FTW *ftw)
{
	(void)sb;
	(void)type;
	/* snapdiff.lock is the store's flock: always there, never stale */
	if (!strstr(path + ftw->base, ".lock") ||
	    strcmp(path + ftw->base, "snapdiff.lock") == 0)
		return 0;
	for (size_t i = 0; lock_allowed && lock_allowed[i]; i++) {
		size_t n = strlen(path), k = strlen(lock_allowed[i]);
		if (n >= k && strcmp(path + n - k, lock_allowed[i]) == 0)
			return 0;
	}
	lock_found = strdup(path);
	return 1;
}

char *oom_find_lock(const char *dir, const char *const *allowed)
{
	lock_found = NULL;
	lock_allowed = allowed;
	nftw(dir, find_lock, 32, FTW_PHYS);
	return lock_found;
}

void oom_rev_tree(char out[41], const char *git_dir, const char *rev)
{
	git_repository *repo = NULL;
	git_object *obj = NULL;
	char spec[256];

	out[0] = '\0';
	snprintf(spec, sizeof(spec), "%s^{tree}", rev);
	if (git_repository_open_bare(&repo, git_dir) == 0 &&
	    git_revparse_single(&obj, repo, spec) == 0)
		git_oid_tostr(out, 41, git_object_id(obj));
	git_object_free(obj);
	git_repository_free(repo);
	git_error_clear();
}

uint64_t oom_first(void)
{
	const char *s = getenv("OOM_FROM");

	return s && *s ? strtoull(s, NULL, 10) : 1;
}

int oom_libgit2_leak_site(const char *err)
{
	static const char *const known[] = {
	    "cannot write the tree: ", "cannot compare the trees: ",
	    "cannot render the patch of '"};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strstr(err, known[i]))
			return 1;
	return 0;
}

void oom_dirs_make(const char *tag, char **root, char **wt, char **store)
{
	cr_assert_eq(sdf_snapshot_global_init(), 0, "%s", sdf_error_last());
	sdf_api_global_init();
	*root = tu_mkdtemp(tag);
	*wt = tu_path(*root, "wt");
	*store = tu_path(*root, "store");
	umask(022);
}

void oom_dirs_free(char *root, char *wt, char *store)
{
	tu_rm_rf(root);
	free(root);
	free(wt);
	free(store);
}

uint64_t oom_points(const oom_tally *t)
{
	return t->failed + t->absorbed + t->crashes + t->leaks;
}

int oom_judge(oom_tally *t, const oom_child *c, uint64_t n, const char *what,
              int (*leak_ok)(const oom_child *c))
{
	char site[256];
	int st = c->status;

	if (oom_libgit2_crash(c, site, sizeof(site))) {
		t->crashes++;
		cr_log_info("%s n=%llu: libgit2 crashed: %s\n%s", what,
		            (unsigned long long)n, site, c->msg);
		return OOM_CRASHED;
	}
	if (st == OOM_LEAK && leak_ok && leak_ok(c)) {
		t->leaks++;
		cr_log_info("%s n=%llu: libgit2 leak: %s", what,
		            (unsigned long long)n, c->msg);
		return OOM_FAILED;
	}
	cr_assert(st == OOM_DONE || st == OOM_FAILED || st == OOM_ABSORBED,
	          "%s\nn=%llu: exit %d: %s", what, (unsigned long long)n, st,
	          c->msg);
	t->failed += st == OOM_FAILED;
	t->absorbed += st == OOM_ABSORBED;
	return st;
}
