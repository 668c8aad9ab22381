#define _GNU_SOURCE
#include "api_util.h"

#include "sdf_error.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void at_git_env(void)
{
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_AUTHOR_NAME", "t", 1);
	setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "t", 1);
	setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);
	unsetenv("COLUMNS");
}

char *at_sh(size_t *len, const char *repo, const char *fmt, ...)
{
	tu_result res;
	char *cmd, *out;
	va_list ap;

	va_start(ap, fmt);
	cr_assert(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	tu_sh(&res, "cd '%s' && %s", repo, cmd);
	cr_assert_eq(res.status, 0, "%s: exit %d: %s", cmd, res.status,
	             res.err);
	free(cmd);
	out = res.out;
	if (len)
		*len = res.out_len;
	res.out = NULL;
	tu_result_dispose(&res);
	return out;
}

char *at_repo_new(const char *tag)
{
	char *dir = tu_mkdtemp(tag);

	at_git_env();
	free(at_sh(NULL, dir, "git init -q ."));
	return dir;
}

void at_commit(const char *repo, const char *msg)
{
	free(at_sh(NULL, repo,
	           "git add -A && git commit -q --allow-empty -m '%s'", msg));
}

static sdf_file_status status_of(char c)
{
	switch (c) {
	case 'A':
		return SDF_FILE_ADDED;
	case 'D':
		return SDF_FILE_DELETED;
	case 'T':
		return SDF_FILE_TYPE_CHANGED;
	case 'M':
		return SDF_FILE_MODIFIED;
	}
	cr_assert_fail("unexpected raw status %c", c);
	return SDF_FILE_MODIFIED;
}

static uint64_t blob_size(const char *repo, const char *oid)
{
	char *s = at_sh(NULL, repo, "git cat-file -s %s", oid);
	uint64_t v = strtoull(s, NULL, 10);

	free(s);
	return v;
}

static int is_null_oid(const char *oid)
{
	return strspn(oid, "0") == strlen(oid);
}

void at_load(at_diff *d, const char *repo, const char *from, const char *to)
{
	size_t rlen, nlen, cap = 0;
	char *raw =
	    at_sh(&rlen, repo,
	          "git diff --no-renames --raw -z --abbrev=40 %s %s", from, to);
	char *num = at_sh(&nlen, repo,
	                  "git diff --no-renames --numstat -z %s %s", from, to);
	char *p = raw, *end = raw + rlen, *q = num, *qend = num + nlen;

	memset(d, 0, sizeof(*d));
	while (p < end) {
		sdf_file_summary *f;
		unsigned om, nm;
		char ooid[41], noid[41], st;

		cr_assert(sscanf(p, ":%o %o %40s %40s %c", &om, &nm, ooid, noid,
		                 &st) == 5,
		          "raw: %s", p);
		p += strlen(p) + 1;
		if (d->n == cap) {
			cap = cap ? 2 * cap : 16;
			d->files = realloc(d->files, cap * sizeof(*d->files));
		}
		f = &d->files[d->n++];
		memset(f, 0, sizeof(*f));
		f->path = strdup(p);
		p += strlen(p) + 1;
		f->status = status_of(st);
		f->old_mode = om;
		f->new_mode = nm;
		if (om && !is_null_oid(ooid))
			strcpy(f->old_oid, ooid);
		if (nm && !is_null_oid(noid))
			strcpy(f->new_oid, noid);
		f->exact = 1;

		/* the matching numstat record: "ADD\tDEL\tPATH\0" */
		cr_assert(q < qend, "numstat ran out at %s", f->path);
		if (!strncmp(q, "-\t-\t", 4)) {
			f->binary = 1;
			q += 4;
		} else {
			char *t;

			f->additions = strtoull(q, &t, 10);
			cr_assert(*t == '\t');
			f->deletions = strtoull(t + 1, &t, 10);
			cr_assert(*t == '\t');
			q = t + 1;
		}
		cr_assert_str_eq(q, f->path);
		q += strlen(q) + 1;
		if (f->binary) {
			if (f->old_oid[0])
				f->old_size = blob_size(repo, f->old_oid);
			if (f->new_oid[0])
				f->new_size = blob_size(repo, f->new_oid);
		}
	}
	cr_assert(q == qend, "numstat has more records than raw");
	free(raw);
	free(num);
}

void at_dispose(at_diff *d)
{
	for (size_t i = 0; i < d->n; i++)
		free((char *)d->files[i].path);
	free(d->files);
	memset(d, 0, sizeof(*d));
}

char *at_capture(at_writer w, const at_diff *d, const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	cr_assert_not_null(f);
	rc = w(f, d, arg);
	cr_assert_eq(rc, 0, "writer failed: %d %s", rc, sdf_error_last());
	fclose(f);
	return buf;
}
