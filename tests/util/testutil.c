#define _GNU_SOURCE
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *tu_mkdtemp(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	cr_assert(asprintf(&path, "%s/sdf-%s-XXXXXX", base, tag) > 0);
	cr_assert_not_null(mkdtemp(path), "mkdtemp: %s", strerror(errno));
	return path;
}

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		chmod(p, 0700), rmdir(p);
	else
		unlink(p);
	return 0;
}

void tu_rm_rf(const char *path)
{
	if (path)
		nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *rel)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", dir, rel) > 0);
	return p;
}

static void mkparents(char *p)
{
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			cr_assert_fail("mkdir %s: %s", p, strerror(errno));
		*s = '/';
	}
}

void tu_write(const char *dir, const char *rel, const void *data, size_t len,
              mode_t mode)
{
	char *p = tu_path(dir, rel);
	int fd;

	mkparents(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode ? mode : 0644);
	cr_assert(fd >= 0, "open %s: %s", p, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	if (mode)
		fchmod(fd, mode);
	close(fd);
	free(p);
}

void tu_write_str(const char *dir, const char *rel, const char *s)
{
	tu_write(dir, rel, s, strlen(s), 0);
}

char *tu_read(const char *dir, const char *rel, size_t *len)
{
	char *p = tu_path(dir, rel), *buf = NULL;
	FILE *f = fopen(p, "rb");
	size_t cap = 0, n = 0, r;

	free(p);
	if (!f)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			buf = realloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void drain(int fd, char **buf, size_t *len, size_t *cap)
{
	char tmp[65536];
	ssize_t r = read(fd, tmp, sizeof(tmp));

	if (r <= 0)
		return;
	if (*len + (size_t)r + 1 > *cap) {
		*cap = (*len + (size_t)r + 1) * 2;
		*buf = realloc(*buf, *cap);
	}
	memcpy(*buf + *len, tmp, (size_t)r);
	*len += (size_t)r;
	(*buf)[*len] = '\0';
}

int tu_run(tu_result *res, const char *cwd, char *const argv[])
{
	int op[2], ep[2], wst = 0;
	size_t olen = 0, ocap = 1, elen = 0, ecap = 1;
	struct rusage ru;
	struct timespec t0, t1;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->out = calloc(1, 1);
	res->err = calloc(1, 1);
	cr_assert(pipe(op) == 0 && pipe(ep) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(op[1], 1);
		dup2(ep[1], 2);
		close(op[0]);
		close(ep[0]);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(op[1]);
	close(ep[1]);
	struct pollfd pf[2] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}};
	int open_fds = 2;
	while (open_fds > 0) {
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			size_t before = i ? elen : olen;
			if (i)
				drain(ep[0], &res->err, &elen, &ecap);
			else
				drain(op[0], &res->out, &olen, &ocap);
			if ((i ? elen : olen) == before) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open_fds--;
			}
		}
	}
	while (wait4(pid, &wst, 0, &ru) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->out_len = olen;
	res->maxrss_kb = ru.ru_maxrss;
	res->seconds = (double)(t1.tv_sec - t0.tv_sec) +
	               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	res->status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	return res->status;
}

int tu_sh(tu_result *res, const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	cr_assert(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	rc = tu_run(res, NULL, argv);
	free(cmd);
	return rc;
}

char *tu_vformat(const char *fmt, va_list ap)
{
	char *s;

	cr_assert(vasprintf(&s, fmt, ap) > 0);
	return s;
}

char *tu_sh_okv(const char *fmt, va_list ap)
{
	tu_result r;
	char *cmd = tu_vformat(fmt, ap), *out;

	cr_assert_eq(tu_sh(&r, "%s", cmd), 0, "%s: %s", cmd, r.err);
	out = r.out;
	r.out = NULL;
	tu_result_dispose(&r);
	free(cmd);
	return out;
}

char *tu_sh_ok(const char *fmt, ...)
{
	va_list ap;
	char *out;

	va_start(ap, fmt);
	out = tu_sh_okv(fmt, ap);
	va_end(ap);
	return out;
}

char *tu_sh_ok_last(const char *fmt, ...)
{
	va_list ap;
	char *out, *line;

	va_start(ap, fmt);
	out = tu_sh_okv(fmt, ap);
	va_end(ap);
	line = tu_last_line(out);
	free(out);
	return line;
}

void tu_result_dispose(tu_result *res)
{
	free(res->out);
	free(res->err);
	memset(res, 0, sizeof(*res));
}

char *tu_last_line(const char *s)
{
	size_t len = strlen(s);
	const char *start;

	while (len && s[len - 1] == '\n')
		len--;
	start = s + len;
	while (start > s && start[-1] != '\n')
		start--;
	return strndup(start, (size_t)(s + len - start));
}

char *tu_git_tree(const char *wt)
{
	tu_result r;
	char *gd = tu_mkdtemp("gitdir"), *tree;

	tu_sh(&r,
	      "set -e; git init -q --bare '%s/g'; "
	      "echo '* -text -ident' > '%s/g/info/attributes'; "
	      "if [ -f '%s/.git/info/exclude' ]; then "
	      "cp '%s/.git/info/exclude' '%s/g/info/exclude'; fi; "
	      "GIT_DIR='%s/g' GIT_WORK_TREE='%s' git add -A 2>/dev/null; "
	      "GIT_DIR='%s/g' GIT_WORK_TREE='%s' git write-tree",
	      gd, gd, wt, wt, gd, gd, wt, gd, wt);
	cr_assert_eq(r.status, 0, "git failed: %s", r.err);
	tree = tu_last_line(r.out);
	tu_result_dispose(&r);
	tu_rm_rf(gd);
	free(gd);
	return tree;
}

void tu_expect_restores_like_git(const char *cli, const char *store,
                                 const char *tree, const char *what)
{
	char *ours = tu_mkdtemp("restored"), *theirs = tu_mkdtemp("archived");
	tu_result r;

	tu_sh(&r,
	      "'%s' restore %s --worktree '%s' --store '%s' >/dev/null && "
	      "git --git-dir='%s' archive %s | tar -x -C '%s' && "
	      "diff -r --no-dereference '%s' '%s'",
	      cli, tree, ours, store, store, tree, theirs, ours, theirs);
	cr_assert_eq(r.status, 0, "%s: %s restores wrong: %s%s", what, tree,
	             r.out, r.err);
	tu_result_dispose(&r);
	tu_rm_rf(ours);
	tu_rm_rf(theirs);
	free(ours);
	free(theirs);
}
