/*
 * fuzz_restore_tree: restore of hostile trees. The input is a small
 * program that plants symlinks in the worktree and builds raw tree objects
 * (nested trees, symlinks, gitlinks, odd modes, duplicate and unsafe
 * names, missing objects; entries in git's order unless bit 4 of the
 * first byte is set), written with git_odb_write into a scratch store
 * on /dev/shm; the tree is then restored into PARENT/wt, once or twice.
 * Checked on every input:
 *  - PARENT holds wt and outside/canary only, the canary unchanged: nothing
 *    was written outside the worktree (planted links point there);
 *  - every file in the worktree is a blob of the tree at that very path
 *    (nothing written through a symlink, no temporary file left), every
 *    directory a tree or gitlink entry, every symlink one of the tree's or
 *    a planted one, with its target;
 *  - a tree with a name restore_spec.h refuses fails before writing
 *    anything, and SDF_EUNSAFE means the tree had such a name.
 */
#define _GNU_SOURCE
#include "fuzz_util.h"
#include "restore_spec.h"
#include "sdf_error.h"
#include "sdf_snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ENTRIES 48
#define MAX_DEPTH 5
#define MAX_PLANTED 4

/* What the tree holds, flattened (duplicates and all). */
struct entry {
	char path[(MAX_DEPTH + 1) * 72];
	unsigned mode;
	char content[64]; /* blob bytes, or the link's target */
	size_t len;
	int missing; /* the object was not written */
};

struct planted {
	char path[64];
	char target[PATH_MAX];
};

static char base[PATH_MAX], parent[PATH_MAX], wt[PATH_MAX], outside[PATH_MAX];
static sdf_store *st;
static git_repository *repo;
static git_odb *odb;
static struct entry entries[MAX_ENTRIES];
static size_t nentries;
static struct planted planted[MAX_PLANTED];
static size_t nplanted;
static int unsafe;
static char tmp_names[4][64];

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	sdf_store_free(st);
	git_odb_free(odb);
	git_repository_free(repo);
	if (base[0])
		rm_rf(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char store[PATH_MAX + 16];

	(void)argc;
	(void)argv;
	FZ_CHECK(sdf_snapshot_global_init() == 0, "%s", sdf_error_last());
	snprintf(base, sizeof(base), "/dev/shm/sdf-fuzz-rt-XXXXXX");
	if (!mkdtemp(base)) {
		snprintf(base, sizeof(base), "/tmp/sdf-fuzz-rt-XXXXXX");
		FZ_CHECK(mkdtemp(base), "mkdtemp: %s", strerror(errno));
	}
	snprintf(parent, sizeof(parent), "%.4000s/p", base);
	snprintf(wt, sizeof(wt), "%.4000s/wt", parent);
	snprintf(outside, sizeof(outside), "%.4000s/outside", parent);
	snprintf(store, sizeof(store), "%.4000s/store", base);
	FZ_CHECK(mkdir(parent, 0700) == 0 && mkdir(wt, 0700) == 0, "mkdir");
	FZ_CHECK(sdf_store_open(&st, store, wt, SDF_STORE_CREATE) == 0,
	         "store: %s", sdf_error_last());
	FZ_CHECK(git_repository_open(&repo, store) == 0 &&
	             git_repository_odb(&odb, repo) == 0,
	         "libgit2 cannot open the store");
	for (int i = 0; i < 4; i++)
		snprintf(tmp_names[i], sizeof(tmp_names[i]),
		         ".snapdiff-%ld-%d.tmp", (long)getpid(), i);
	atexit(cleanup);
	return 0;
}

/* ---- building trees from the input ---- */

static const char *const names[] = {
    "a",     "b",     "d",       "x", "link", ".git",   ".GIT",
    "git~1", ".git.", "..",      ".", "",     "a/b",    "../x",
    "a\\b",  "wt",    "outside", "A", "d.",   ".git:x",
};
static const char *const targets[] = {
    "..", "../..",   "../outside",      "/",       ".",    "a", "d", "d/x", "x",
    "",   "../wt/d", "../../p/outside", "d/../..", "link",
};

/* A name or target: from a list, or up to 8 bytes of the input. */
static void pick(char *out, size_t cap, fz_in *in, const char *const *list,
                 size_t n, int tmpnames)
{
	uint8_t b = fz_byte(in);

	if (b < 128) {
		snprintf(out, cap, "%s", list[b % n]);
	} else if (tmpnames && b < 144) {
		snprintf(out, cap, "%s", tmp_names[b % 4]);
	} else if (b == 255) {
		snprintf(out, cap, "%s", outside); /* absolute, outside */
	} else {
		size_t len = 1 + b % 8, k = 0;

		for (size_t i = 0; i < len && in->len && k + 1 < cap; i++) {
			char c = (char)fz_byte(in);
			out[k++] = c ? c : 'z';
		}
		out[k] = '\0';
	}
}

static int write_obj(git_oid *id, const void *p, size_t n, git_object_t t)
{
	return git_odb_write(id, odb, p, n, t);
}

/* One entry of the raw tree being built. */
struct raw {
	char mode[8];
	char name[64];
	unsigned char oid[GIT_OID_RAWSZ];
};

static int sorting; /* entries in git's order, as valid trees have them */

/* git's order: a tree's name compares as if it ended in '/'. */
static int raw_cmp(const void *pa, const void *pb)
{
	const struct raw *a = pa, *b = pb;
	size_t la = strlen(a->name), lb = strlen(b->name);
	size_t n = la < lb ? la : lb;
	int c = memcmp(a->name, b->name, n);
	unsigned char ca, cb;

	if (c)
		return c;
	ca = la > n ? (unsigned char)a->name[n]
	            : (strcmp(a->mode, "40000") ? 0 : '/');
	cb = lb > n ? (unsigned char)b->name[n]
	            : (strcmp(b->mode, "40000") ? 0 : '/');
	return (int)ca - (int)cb;
}

/*
 * Builds a tree at prefix (depth levels down) from the input; 0 with *id,
 * or -1 when the object could not be written.
 */
static int build_tree(git_oid *id, fz_in *in, const char *prefix, int depth)
{
	static const char *const modes[] = {
	    "100644", "100755", "120000", "40000", "160000",
	    "100664", "040000", "0",      "644",   "100000",
	};
	char buf[8 * 300];
	struct raw raws[6];
	size_t len = 0, n = 1 + fz_byte(in) % 6, nraw = 0;

	for (size_t i = 0; i < n && in->len && nentries < MAX_ENTRIES; i++) {
		struct entry *e = &entries[nentries];
		uint8_t kind = fz_byte(in) % 8;
		char name[64];
		const char *mode;
		git_oid oid;

		pick(name, sizeof(name), in, names,
		     sizeof(names) / sizeof(names[0]), 1);
		if (!spec_name_ok(name, strlen(name)))
			unsafe = 1;
		memset(e, 0, sizeof(*e));
		snprintf(e->path, sizeof(e->path), "%s%s%s", prefix,
		         *prefix ? "/" : "", name);
		nentries++;
		if (kind <= 2 || (kind <= 4 && depth >= MAX_DEPTH)) {
			/* a file, executable or not */
			e->mode = kind == 1 ? 0100755 : 0100644;
			e->len = fz_byte(in) % 12;
			for (size_t k = 0; k < e->len; k++)
				e->content[k] = (char)fz_byte(in);
			if (write_obj(&oid, e->content, e->len,
			              GIT_OBJECT_BLOB) < 0)
				return -1;
			mode = kind == 1 ? "100755" : "100644";
		} else if (kind == 3 || kind == 4) {
			e->mode = 040000;
			if (build_tree(&oid, in, e->path, depth + 1) < 0)
				return -1;
			mode = "40000";
		} else if (kind == 5) {
			e->mode = 0120000;
			pick(e->content, sizeof(e->content), in, targets,
			     sizeof(targets) / sizeof(targets[0]), 0);
			e->len = strlen(e->content);
			if (write_obj(&oid, e->content, e->len,
			              GIT_OBJECT_BLOB) < 0)
				return -1;
			mode = "120000";
		} else if (kind == 6) {
			e->mode = 0160000;
			memset(&oid, fz_byte(in), sizeof(oid));
			mode = "160000";
		} else {
			/* an odd mode, or an object that is not there */
			uint8_t m = fz_byte(in);
			mode = modes[m % (sizeof(modes) / sizeof(modes[0]))];
			e->mode = (unsigned)strtoul(mode, NULL, 8);
			e->missing = 1;
			memset(&oid, m | 1, sizeof(oid));
		}
		snprintf(raws[nraw].mode, sizeof(raws[nraw].mode), "%s", mode);
		snprintf(raws[nraw].name, sizeof(raws[nraw].name), "%s", name);
		memcpy(raws[nraw].oid, oid.id, GIT_OID_RAWSZ);
		nraw++;
	}
	if (sorting)
		qsort(raws, nraw, sizeof(raws[0]), raw_cmp);
	for (size_t i = 0; i < nraw; i++) {
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s %s",
		                        raws[i].mode, raws[i].name) +
		       1;
		memcpy(buf + len, raws[i].oid, GIT_OID_RAWSZ);
		len += GIT_OID_RAWSZ;
	}
	return write_obj(id, buf, len, GIT_OBJECT_TREE) < 0 ? -1 : 0;
}

/* ---- checking the result ---- */

static const char *rel_of(const char *p)
{
	size_t n = strlen(wt);

	return p[n] == '/' ? p + n + 1 : p + n;
}

static int walk_failed;

static int check_one(const char *p, const struct stat *sb, int flag,
                     struct FTW *ftw)
{
	const char *rel = rel_of(p);
	char target[PATH_MAX];
	ssize_t n;
	int ok = 0;

	(void)ftw;
	if (!*rel)
		return 0; /* the worktree itself */
	if (flag == FTW_SL || S_ISLNK(sb->st_mode)) {
		n = readlink(p, target, sizeof(target) - 1);
		FZ_CHECK(n >= 0, "readlink %s", rel);
		target[n] = '\0';
		for (size_t i = 0; i < nplanted && !ok; i++)
			ok = !strcmp(planted[i].path, rel) &&
			     !strcmp(planted[i].target, target);
		for (size_t i = 0; i < nentries && !ok; i++)
			ok = entries[i].mode == 0120000 &&
			     !strcmp(entries[i].path, rel) &&
			     !strcmp(entries[i].content, target);
		FZ_CHECK(ok,
		         "symlink '%s' -> '%s' is neither planted nor "
		         "the tree's",
		         rel, target);
	} else if (S_ISDIR(sb->st_mode)) {
		for (size_t i = 0; i < nentries && !ok; i++)
			ok = (entries[i].mode == 040000 ||
			      entries[i].mode == 0160000) &&
			     !strcmp(entries[i].path, rel);
		FZ_CHECK(ok, "directory '%s' is not the tree's", rel);
	} else if (S_ISREG(sb->st_mode)) {
		char got[64];
		int fd = open(p, O_RDONLY | O_NOFOLLOW);

		FZ_CHECK(fd >= 0, "open %s", rel);
		n = read(fd, got, sizeof(got));
		close(fd);
		for (size_t i = 0; i < nentries && !ok; i++)
			ok = (entries[i].mode == 0100644 ||
			      entries[i].mode == 0100755) &&
			     !entries[i].missing &&
			     !strcmp(entries[i].path, rel) &&
			     (size_t)n == entries[i].len &&
			     !memcmp(got, entries[i].content, entries[i].len);
		FZ_CHECK(ok, "file '%s' (%zd bytes) is not a blob of the tree",
		         rel, n);
	} else {
		FZ_CHECK(0, "'%s' has type %o", rel, sb->st_mode & S_IFMT);
	}
	return 0;
}

static void check_parent(void)
{
	DIR *d = opendir(parent);
	struct dirent *e;
	struct stat sb;
	char canary[PATH_MAX + 16], got[32];
	int fd, n = 0;
	ssize_t len;

	FZ_CHECK(d, "opendir parent");
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		FZ_CHECK(!strcmp(e->d_name, "wt") ||
		             !strcmp(e->d_name, "outside"),
		         "'%s' appeared beside the worktree", e->d_name);
		n++;
	}
	closedir(d);
	FZ_CHECK(n == 2, "%d entries beside the worktree", n);
	FZ_CHECK(lstat(wt, &sb) == 0 && S_ISDIR(sb.st_mode),
	         "the worktree is no longer a directory");
	d = opendir(outside);
	FZ_CHECK(d, "opendir outside");
	n = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		FZ_CHECK(!strcmp(e->d_name, "canary"), "'%s' written outside",
		         e->d_name);
		n++;
	}
	closedir(d);
	FZ_CHECK(n == 1, "the canary is gone");
	snprintf(canary, sizeof(canary), "%s/canary", outside);
	fd = open(canary, O_RDONLY | O_NOFOLLOW);
	FZ_CHECK(fd >= 0, "open canary");
	len = read(fd, got, sizeof(got));
	close(fd);
	FZ_CHECK(len == 7 && !memcmp(got, "canary\n", 7),
	         "the canary was overwritten");
}

/* ---- the target ---- */

static void reset(void)
{
	char p[PATH_MAX + 16];
	int fd;

	rm_rf(wt);
	rm_rf(outside);
	FZ_CHECK(mkdir(wt, 0700) == 0 && mkdir(outside, 0700) == 0, "mkdir");
	snprintf(p, sizeof(p), "%s/canary", outside);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	FZ_CHECK(fd >= 0 && write(fd, "canary\n", 7) == 7, "canary");
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in in = {data, size};
	uint8_t mode = fz_byte(&in);
	sdf_restore_result res;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid root;
	int rc;

	if (size > 1024)
		return 0; /* keep executions cheap */
	reset();
	nentries = nplanted = 0;
	unsafe = 0;
	sorting = !(mode & 16);
	for (size_t i = 0; i < (size_t)(mode % (MAX_PLANTED + 1)); i++) {
		struct planted *pl = &planted[nplanted];
		char p[PATH_MAX + 80];

		pick(pl->path, sizeof(pl->path), &in, names,
		     sizeof(names) / sizeof(names[0]), 1);
		pick(pl->target, sizeof(pl->target), &in, targets,
		     sizeof(targets) / sizeof(targets[0]), 0);
		if (!*pl->path || !*pl->target || strchr(pl->path, '/') ||
		    !strcmp(pl->path, ".") || !strcmp(pl->path, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", wt, pl->path);
		if (symlink(pl->target, p) == 0)
			nplanted++;
	}
	if (build_tree(&root, &in, "", 0) < 0)
		return 0;
	git_oid_tostr(hex, sizeof(hex), &root);
	for (int pass = 0; pass < 1 + ((mode >> 3) & 1); pass++) {
		rc = sdf_snapshot_restore(&res, st, hex, NULL);
		FZ_CHECK(rc <= 0, "restore gave %d", rc);
		FZ_CHECK(rc != SDF_EBUDGET, "restore over budget");
		if (rc == SDF_EUNSAFE)
			FZ_CHECK(unsafe, "refused a safe tree: %s",
			         sdf_error_last());
		if (unsafe) {
			FZ_CHECK(rc < 0 && res.written == 0,
			         "wrote %llu files of an unsafe tree (%d)",
			         (unsigned long long)res.written, rc);
		}
		check_parent();
		FZ_CHECK(nftw(wt, check_one, 16, FTW_PHYS) == 0, "nftw");
		if (unsafe) {
			/* nothing but the planted links */
			DIR *d = opendir(wt);
			struct dirent *e;
			size_t n = 0;
			while (d && (e = readdir(d)))
				n += strcmp(e->d_name, ".") &&
				     strcmp(e->d_name, "..");
			if (d)
				closedir(d);
			FZ_CHECK(n == nplanted,
			         "%zu entries in the worktree, %zu planted", n,
			         nplanted);
		}
	}
	(void)walk_failed;
	return 0;
}
