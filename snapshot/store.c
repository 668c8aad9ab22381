/* Opening, creating and locking a store; resolving tree-ishes. */
#include "store_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define STORE_ATTRIBUTES "* -text -ident\n"

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = sdf_malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

/* realpath() into the counting allocator. */
static int real_path(char **out, const char *path, const char *what)
{
	char buf[PATH_MAX];
	struct stat st;

	if (!realpath(path, buf))
		return sdf_error_set_errno(errno == ENOENT ? SDF_ENOTFOUND
		                                           : SDF_EIO,
		                           errno, "%s '%s'", what, path);
	if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
		return sdf_error_set(SDF_EINVAL, "%s '%s' is not a directory",
		                     what, path);
	if (!(*out = sdf_strdup(buf)))
		return SDF_EBUDGET;
	return 0;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return sdf_error_set(SDF_EINVAL, "path too long: %s", path);
	memcpy(buf, path, len + 1);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot create '%s'", buf);
		*s = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return sdf_error_set_errno(SDF_EIO, errno, "cannot create '%s'",
		                           buf);
	return 0;
}

int sdf_store_default_path(char **out, const char *worktree)
{
	char *real = NULL, *base = NULL;
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	const char *name;
	int err, n;
	size_t len;

	*out = NULL;
	if ((err = real_path(&real, worktree, "worktree")) < 0)
		return err;
	name = strrchr(real, '/');
	name = (name && name[1]) ? name + 1 : "root";
	if (xdg && xdg[0] == '/')
		n = snprintf(NULL, 0, "%s/snapdiff", xdg);
	else if (home && home[0] == '/')
		n = snprintf(NULL, 0, "%s/.local/share/snapdiff", home);
	else {
		sdf_free(real);
		return sdf_error_set(SDF_EINVAL,
		                     "neither XDG_DATA_HOME nor HOME is set; "
		                     "give --store");
	}
	len = (size_t)n + strlen(name) + 20;
	if (!(base = sdf_malloc(len))) {
		sdf_free(real);
		return SDF_EBUDGET;
	}
	if (xdg && xdg[0] == '/')
		n = snprintf(base, len, "%s/snapdiff/", xdg);
	else
		n = snprintf(base, len, "%s/.local/share/snapdiff/", home);
	/* a readable name plus a hash of the full path keeps ids unique */
	snprintf(base + n, len - (size_t)n, "%.*s-%016llx",
	         (int)(len - (size_t)n - 18), name,
	         (unsigned long long)XXH3_64bits(real, strlen(real)));
	sdf_free(real);
	*out = base;
	return 0;
}

static int write_file(const char *dir, const char *rel, const char *data)
{
	char *p = join(dir, rel);
	FILE *f;
	int err = 0;

	if (!p)
		return SDF_EBUDGET;
	if (!(f = fopen(p, "w")))
		err =
		    sdf_error_set_errno(SDF_EIO, errno, "cannot write '%s'", p);
	else {
		if (fputs(data, f) == EOF)
			err = sdf_error_set_errno(SDF_EIO, errno,
			                          "cannot write '%s'", p);
		if (fclose(f) != 0 && !err)
			err = sdf_error_set_errno(SDF_EIO, errno,
			                          "cannot write '%s'", p);
	}
	sdf_free(p);
	return err;
}

static int remove_one(const char *p, const struct stat *st, int flag,
                      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Creates the store in a temporary sibling and renames it into place, so a
 * crash never leaves a half-made store behind.
 */
static int create_store(const char *path, const char *worktree)
{
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	git_repository_init_options io = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	char *tmp = NULL, *parent = NULL, *slash;
	int err, made = 0;
	static const struct {
		const char *key, *value;
	} settings[] = {
	    {"core.filemode", "true"},
	    {"core.symlinks", "true"},
	    {"core.ignorecase", "false"},
	    {"core.autocrlf", "false"},
	    {"core.precomposeunicode", "false"},
	    {"core.logallrefupdates", "false"},
	    {"gc.auto", "0"},
	    {"gc.autoDetach", "false"},
	    {"receive.autogc", "false"},
	};

	if (!(parent = sdf_strdup(path)) ||
	    !(tmp = sdf_malloc(strlen(path) + 16))) {
		err = SDF_EBUDGET;
		goto done;
	}
	if ((slash = strrchr(parent, '/')) && slash != parent) {
		*slash = '\0';
		if ((err = mkdir_p(parent)) < 0)
			goto done;
	}
	snprintf(tmp, strlen(path) + 16, "%s.tmp-XXXXXX", path);
	if (!mkdtemp(tmp)) {
		err = sdf_error_set_errno(SDF_EIO, errno,
		                          "cannot create store '%s'", path);
		goto done;
	}
	made = 1;
	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
	io.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
	io.description = "snapdiff snapshot store";
	if ((err = git_repository_init_ext(&repo, tmp, &io)) < 0) {
		err = sdf_git_error(err, "cannot create store '%s'", path);
		goto done;
	}
	if ((err = git_repository_config(&cfg, repo)) < 0) {
		err = sdf_git_error(err, "cannot configure store '%s'", path);
		goto done;
	}
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if ((err = git_config_set_string(cfg, settings[i].key,
		                                 settings[i].value)) < 0) {
			err = sdf_git_error(err, "cannot configure store");
			goto done;
		}
	if (worktree && (err = git_config_set_string(cfg, "snapdiff.worktree",
	                                             worktree)) < 0) {
		err = sdf_git_error(err, "cannot configure store");
		goto done;
	}
	{
		char *info = join(tmp, "info");
		if (!info) {
			err = SDF_EBUDGET;
			goto done;
		}
		mkdir(info, 0700);
		sdf_free(info);
	}
	if ((err = write_file(tmp, "info/attributes", STORE_ATTRIBUTES)) < 0)
		goto done;
	if (rename(tmp, path) < 0) {
		/* someone else created it first: theirs is as good */
		if (errno == ENOTEMPTY || errno == EEXIST)
			err = 0;
		else
			err = sdf_error_set_errno(
			    SDF_EIO, errno, "cannot create store '%s'", path);
	} else {
		sdf_free(tmp);
		tmp = NULL;
	}
done:
	git_config_free(cfg);
	git_repository_free(repo);
	if (tmp && made)
		remove_tree(tmp);
	sdf_free(tmp);
	sdf_free(parent);
	return err;
}

/* 1: path is a store, 0: it is not, SDF_EBUDGET: cannot tell. */
static int is_store(const char *path)
{
	struct stat st;
	char *head = join(path, "HEAD");
	int ok;

	if (!head)
		return SDF_EBUDGET; /* not "no store": that would be a lie */
	ok = stat(head, &st) == 0 && S_ISREG(st.st_mode);
	sdf_free(head);
	return ok;
}

/* Sets repo's worktree to wt (none when NULL). */
static int use_worktree(git_repository *repo, const char *wt)
{
	int err;

	if (wt && (err = git_repository_set_workdir(repo, wt, 0)) < 0)
		return sdf_git_error(err, "cannot use worktree '%s'", wt);
	return 0;
}

/*
 * A handle on st's store: its object database guarded, its worktree set
 * when st has one. Callers run it never refused (a refusal leaks in
 * libgit2 1.5.1: see load_repo).
 */
static int open_handle(git_repository **out, const sdf_store *st)
{
	git_repository *repo = NULL;
	int err;

	*out = NULL;
	if ((err = git_repository_open_bare(&repo, st->path)) < 0)
		return sdf_git_error(err, "cannot open store '%s'", st->path);
	if ((err = sdf_store_guard_odb(repo, st->path)) < 0 ||
	    (err = use_worktree(repo, st->worktree)) < 0) {
		git_repository_free(repo);
		return err;
	}
	*out = repo;
	return 0;
}

int sdf_store_open_repo(git_repository **out, const sdf_store *st)
{
	return SDF_UNREFUSED(open_handle(out, st));
}

/*
 * Loads the parts of a repository that libgit2 loads on first use (its
 * config, object database and ref database), so that they are loaded here,
 * once: libgit2 1.5.1 leaks what it allocated when an allocation fails
 * while it loads the object database (git_odb_new), and crashes when one
 * fails while it loads the ref database (in git_reference_lookup) or
 * snapshots a config (as every ref update did to find the reflog's
 * identity); every later call then finds them loaded.
 */
static int load_lazy_parts(git_repository *repo)
{
	git_config *cfg = NULL;
	git_odb *odb = NULL;
	git_refdb *refdb = NULL;
	int err;

	/*
	 * The identity of reflog entries is snapdiff's, as the commits' is:
	 * without it, every ref update would look up the user's in a new
	 * config snapshot (git_signature_default).
	 */
	if ((err = git_repository_config(&cfg, repo)) < 0 ||
	    (err = git_repository_odb(&odb, repo)) < 0 ||
	    (err = git_repository_refdb(&refdb, repo)) < 0 ||
	    (err = git_repository_set_ident(repo, "snapdiff",
	                                    "snapdiff@localhost")) < 0)
		err = sdf_git_error(err, "cannot load the store");
	git_config_free(cfg);
	git_odb_free(odb);
	git_refdb_free(refdb);
	return err;
}

static int recorded_worktree(char **out, git_repository *repo)
{
	git_config *cfg = NULL;
	git_buf buf = GIT_BUF_INIT;
	int err;

	*out = NULL;
	if ((err = git_repository_config_snapshot(&cfg, repo)) < 0)
		return sdf_git_error(err, "cannot read store config");
	err = git_config_get_string_buf(&buf, cfg, "snapdiff.worktree");
	if (err == 0 && !(*out = sdf_strdup(buf.ptr)))
		err = SDF_EBUDGET;
	else if (err == GIT_ENOTFOUND)
		err = 0;
	else if (err < 0)
		err = sdf_git_error(err, "cannot read store config");
	git_buf_dispose(&buf);
	git_config_free(cfg);
	return err;
}

/*
 * Opens st->repo (the worktree, when none was given, as recorded in the
 * store) and loads its lazy parts. Called never refused: it allocates a few
 * KiB (the config files, the database handles), and libgit2 1.5.1 leaks
 * when one of those allocations is refused (git_repository_open_bare 64
 * bytes, git_config_add_file_ondisk its whole file backend, ~3 KiB): a
 * daemon that opens a store per request would lose that every time its
 * budget ran out.
 */
static int load_repo(sdf_store *st)
{
	git_repository *repo = NULL;
	int err;

	if ((err = open_handle(&repo, st)) < 0)
		return err;
	if (!st->worktree &&
	    ((err = recorded_worktree(&st->worktree, repo)) < 0 ||
	     (err = use_worktree(repo, st->worktree)) < 0))
		goto done;
	if ((err = load_lazy_parts(repo)) < 0)
		goto done;
	st->repo = repo;
	repo = NULL;
done:
	git_repository_free(repo);
	return err;
}

int sdf_store_open(sdf_store **out, const char *path, const char *worktree,
                   unsigned flags)
{
	sdf_store *st = NULL;
	char *def = NULL;
	int err;

	*out = NULL;
	if (!(st = sdf_calloc(1, sizeof(*st))))
		return SDF_EBUDGET;
	st->lock_fd = -1;
	if (worktree &&
	    (err = real_path(&st->worktree, worktree, "worktree")) < 0)
		goto done;
	if (!path) {
		if (!st->worktree) {
			err = sdf_error_set(SDF_EINVAL,
			                    "no store given and no worktree "
			                    "to derive it from");
			goto done;
		}
		if ((err = sdf_store_default_path(&def, st->worktree)) < 0)
			goto done;
		path = def;
	}
	if ((err = is_store(path)) < 0)
		goto done;
	if (!err) {
		struct stat sb;
		if (!(flags & SDF_STORE_CREATE)) {
			err = sdf_error_set(SDF_ENOTFOUND,
			                    "no snapdiff store at '%s'", path);
			goto done;
		}
		if (stat(path, &sb) == 0 &&
		    (!S_ISDIR(sb.st_mode) || rmdir(path) < 0)) {
			err = sdf_error_set(
			    SDF_EINVAL, "'%s' exists and is not a store", path);
			goto done;
		}
		if ((err = create_store(path, st->worktree)) < 0)
			goto done;
	}
	if ((err = real_path(&st->path, path, "store")) < 0)
		goto done;
	if ((err = SDF_UNREFUSED(load_repo(st))) < 0)
		goto done;
	*out = st;
	st = NULL;
done:
	sdf_free(def);
	sdf_store_free(st);
	return err;
}

void sdf_store_free(sdf_store *st)
{
	if (!st)
		return;
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	git_repository_free(st->attr_repo);
	git_repository_free(st->repo);
	sdf_free(st->path);
	sdf_free(st->worktree);
	sdf_free(st);
}

const char *sdf_store_path(const sdf_store *st)
{
	return st->path;
}

const char *sdf_store_worktree(const sdf_store *st)
{
	return st->worktree;
}

int sdf_store_lock(sdf_store *st, int exclusive)
{
	char *p;
	int rc;

	if (st->lock_depth++ > 0)
		return 0;
	if (st->lock_fd < 0) {
		if (!(p = join(st->path, "snapdiff.lock"))) {
			st->lock_depth--;
			return SDF_EBUDGET;
		}
		st->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (st->lock_fd < 0) {
			rc = sdf_error_set_errno(SDF_EIO, errno,
			                         "cannot open lock '%s'", p);
			sdf_free(p);
			st->lock_depth--;
			return rc;
		}
		sdf_free(p);
	}
	while ((rc = flock(st->lock_fd, exclusive ? LOCK_EX : LOCK_SH)) < 0 &&
	       errno == EINTR)
		;
	if (rc < 0) {
		st->lock_depth--;
		return sdf_error_set_errno(SDF_ELOCKED, errno,
		                           "cannot lock store '%s'", st->path);
	}
	return 0;
}

void sdf_store_unlock(sdf_store *st)
{
	if (st->lock_depth > 0 && --st->lock_depth == 0 && st->lock_fd >= 0)
		flock(st->lock_fd, LOCK_UN);
}

static int tree_of(char out[SDF_OID_HEXSZ + 1], git_object *obj)
{
	git_object *tree = NULL;
	int err;

	if ((err = git_object_peel(&tree, obj, GIT_OBJECT_TREE)) < 0)
		return sdf_git_error(err, "'%s' is not a tree-ish",
		                     git_oid_tostr_s(git_object_id(obj)));
	git_oid_tostr(out, SDF_OID_HEXSZ + 1, git_object_id(tree));
	git_object_free(tree);
	return 0;
}

/*
 * In a store, HEAD is unborn (snapshots are refs of their own, with no
 * parents): "HEAD" means the newest snapshot, "HEAD~N" (or "HEAD^", "HEAD~")
 * the N-th before it. -1 when spec is not of that form.
 */
static long snapshots_back(const char *spec)
{
	const char *p = spec + 4;
	long back = 0;
	char *end;

	if (strncmp(spec, "HEAD", 4) != 0)
		return -1;
	while (*p) {
		if (*p == '^' || *p == '~') {
			char op = *p++;
			long k = 1;
			if (op == '~' && *p >= '0' && *p <= '9') {
				k = strtol(p, &end, 10);
				p = end;
			}
			back += k;
		} else {
			return -1;
		}
	}
	return back;
}

int sdf_store_resolve_tree(char out[SDF_OID_HEXSZ + 1], sdf_store *st,
                           const char *spec)
{
	git_object *obj = NULL;
	sdf_snapshot_info *list = NULL;
	size_t n = 0;
	long back;
	int err;

	if (!spec || !*spec || strlen(spec) > 1024)
		return sdf_error_set(SDF_EINVAL, "empty or over-long tree-ish");
	sdf_alloc_clear_failed();
	err = sdf_revparse(&obj, st->repo, spec);
	if (err < 0 && sdf_alloc_failed())
		return sdf_git_error(err, "cannot resolve '%s'", spec);
	if (err == 0) {
		err = tree_of(out, obj);
		git_object_free(obj);
		return err;
	}
	if (err != GIT_ENOTFOUND && err != GIT_EINVALIDSPEC &&
	    err != GIT_EAMBIGUOUS)
		return sdf_git_error(err, "cannot resolve '%s'", spec);
	/* a snapshot id or label, newest first */
	if ((err = sdf_snapshot_log(&list, &n, st)) < 0)
		return err;
	err = sdf_error_set(SDF_ENOTFOUND,
	                    "unknown tree-ish '%s' (not an object, ref, "
	                    "snapshot id or label in '%s')",
	                    spec, st->path);
	back = snapshots_back(spec);
	if (back >= 0 && (size_t)back < n) {
		/* HEAD, HEAD~N, HEAD^: the newest snapshot, N before it */
		memcpy(out, list[n - 1 - (size_t)back].tree, SDF_OID_HEXSZ + 1);
		err = 0;
	}
	for (size_t i = n; err && i-- > 0;) {
		if (!strcmp(list[i].id, spec) ||
		    (list[i].label && !strcmp(list[i].label, spec))) {
			memcpy(out, list[i].tree, SDF_OID_HEXSZ + 1);
			err = 0;
			break;
		}
	}
	sdf_snapshot_log_free(list, n);
	if (err == 0)
		sdf_error_clear();
	return err;
}

int sdf_store_entry_at(git_tree_entry **out, git_repository *repo,
                       const git_tree *root, const char *path)
{
	const git_tree *t = root;
	const git_tree_entry *e;
	git_tree *sub = NULL, *next;
	const char *p = path, *slash;
	char name[NAME_MAX + 1];
	size_t len;
	int err;

	*out = NULL;
	for (;;) {
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		err = 0;
		if (len >= sizeof(name))
			goto done; /* no such name in any tree */
		memcpy(name, p, len);
		name[len] = '\0';
		if (!(e = git_tree_entry_byname(t, name)))
			goto done;
		if (!slash) {
			if ((err = git_tree_entry_dup(out, e)) < 0)
				err = sdf_git_error(err, "cannot read '%s'",
				                    path);
			else
				err = 1;
			goto done;
		}
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
			goto done; /* a file where path needs a directory */
		if ((err = git_tree_lookup(&next, repo, git_tree_entry_id(e))) <
		    0) {
			err = sdf_git_error(err,
			                    "cannot read '%.*s' of the "
			                    "snapshot",
			                    (int)(slash - path), path);
			goto done;
		}
		git_tree_free(sub);
		t = sub = next;
		p = slash + 1;
	}
done:
	git_tree_free(sub);
	return err;
}

int sdf_store_blob_at(char out[SDF_OID_HEXSZ + 1], sdf_store *st,
                      const char *tree_hex, const char *path)
{
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	git_oid id;
	int err;

	if (git_oid_fromstr(&id, tree_hex) < 0) {
		git_error_clear();
		return sdf_error_set(SDF_EINVAL, "'%s' is not a tree id",
		                     tree_hex);
	}
	if ((err = git_tree_lookup(&tree, st->repo, &id)) < 0) {
		err = sdf_git_error(err, "cannot read tree %s", tree_hex);
		goto done;
	}
	if ((err = sdf_store_entry_at(&e, st->repo, tree, path)) < 0)
		goto done;
	if (!err) {
		err = sdf_error_set(SDF_ENOTFOUND, "no '%s' in tree %s", path,
		                    tree_hex);
		goto done;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		err = sdf_error_set(
		    SDF_EINVAL, "'%s' is a %s in tree %s, not a file", path,
		    git_object_type2string(git_tree_entry_type(e)), tree_hex);
		goto done;
	}
	git_oid_tostr(out, SDF_OID_HEXSZ + 1, git_tree_entry_id(e));
	err = 0;
done:
	git_tree_entry_free(e);
	git_tree_free(tree);
	return err;
}
