/*
 * restore and revert: write a snapshot's files back into the worktree.
 *
 * Every path is reached with openat() from a descriptor of the worktree's
 * root, each directory opened with O_DIRECTORY|O_NOFOLLOW, so nothing is
 * ever written through a symlink. Each file is streamed from the store into
 * a new file beside it, then renamed into place. Where the system allows,
 * that file is made unnamed (O_TMPFILE) and given its temporary name only
 * once complete, so a process killed mid-write leaves nothing behind.
 * Trees are small and loaded one at a time; blobs are never held whole.
 *
 * The store's index (what the last track saw) serves twice: its stat data
 * tells which files are already as in the snapshot, and revert deletes only
 * the files it lists. Entries it already has are refreshed with the stat
 * data of what was written, so the next track need not read them again; no
 * entry is ever added (an added entry would keep a file that has become
 * ignored in later snapshots).
 */
#define _GNU_SOURCE /* O_TMPFILE */
#include "blob_reader_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_CHUNK (256 * 1024)
#define MAX_DEPTH 256
#define LINK_MAX_BYTES 4095
#define TRIES 3

struct ctx {
	sdf_store *st;
	git_repository *repo;
	git_index *index; /* NULL when the store has none we can read */
	struct timespec index_stamp;
	int index_dirty;
	sdf_restore_options opts;
	sdf_restore_result *res;
	sdf_blob_reader_options ropts;
	unsigned char *buf;
	int root;
	int locked;
	int tmpfile_ok; /* unnamed files can be named via /proc/self/fd */
	unsigned tmp_seq;
	int first_err;
	char first_msg[SDF_ERROR_MSG_MAX];
	char path[PATH_MAX]; /* worktree-relative path being worked on */
};

static int fatal(int code)
{
	return code == SDF_EBUDGET || code == SDF_ENOSPC;
}

/*
 * A path that could not be done: report it and go on, unless the failure
 * is one that every later path would hit too.
 */
static int report(struct ctx *c, int err)
{
	if (err >= 0)
		return 0;
	if (fatal(err))
		return sdf_error_prefix("'%s'", c->path);
	c->res->errors++;
	if (!c->first_err) {
		c->first_err = err;
		snprintf(c->first_msg, sizeof(c->first_msg), "'%.200s': %.300s",
		         c->path, sdf_error_last());
	}
	if (c->opts.notice)
		c->opts.notice(c->path, err, sdf_error_last(), c->opts.payload);
	sdf_error_clear();
	return 0;
}

static void changed(struct ctx *c, int action)
{
	if (c->opts.changed)
		c->opts.changed(c->path, action, c->opts.payload);
}

/* Sets c->path to its first plen bytes plus "/name"; SDF_ETOOBIG if long. */
static int push(struct ctx *c, size_t plen, const char *name, size_t *out)
{
	size_t n = strlen(name);

	if (plen + 1 + n >= sizeof(c->path))
		return sdf_error_set(SDF_ETOOBIG, "path too long: '%.*s/%s'",
		                     (int)plen, c->path, name);
	if (plen)
		c->path[plen++] = '/';
	memcpy(c->path + plen, name, n + 1);
	*out = plen + n;
	return 0;
}

/*
 * Whether name[0..n) starts with word (case-insensitively) followed only by
 * dots and spaces, or by a ':' and anything (NTFS drops trailing dots and
 * spaces, and "name:stream" is a stream of name).
 */
static int same_dir_as(const char *name, size_t n, const char *word)
{
	size_t w = strlen(word), i;

	if (n < w || strncasecmp(name, word, w) != 0)
		return 0;
	for (i = w; i < n && (name[i] == '.' || name[i] == ' '); i++)
		;
	return i == n || (i == w && name[i] == ':');
}

int sdf_restore_name_ok(const char *name, size_t len)
{
	if (len == 0 || (len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	if (memchr(name, '/', len) || memchr(name, '\\', len) ||
	    memchr(name, '\0', len))
		return 0;
	return !same_dir_as(name, len, ".git") &&
	       !same_dir_as(name, len, "git~1");
}

static int bad_name(const char *name)
{
	return !sdf_restore_name_ok(name, strlen(name));
}

/* ---- checking a tree before writing anything ------------------------- */

/* git's order of tree entries: a directory sorts as if its name ended in
 * '/'. */
static int entry_cmp(const char *a, int a_dir, const char *b, int b_dir)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
	int c = memcmp(a, b, n);
	unsigned char ca, cb;

	if (c)
		return c;
	ca = la > n ? (unsigned char)a[n] : a_dir ? '/' : 0;
	cb = lb > n ? (unsigned char)b[n] : b_dir ? '/' : 0;
	return (int)ca - (int)cb;
}

static int is_dir_entry(const git_tree *tree, size_t i)
{
	return git_tree_entry_filemode(git_tree_entry_byindex(tree, i)) ==
	       GIT_FILEMODE_TREE;
}

static const char *entry_name(const git_tree *tree, size_t i)
{
	return git_tree_entry_name(git_tree_entry_byindex(tree, i));
}

/*
 * Entry i comes after entry i - 1 in git's order, and no earlier entry has
 * its name: a crafted tree may hold "x" twice, or a file and a directory
 * both named "x" (sorted apart, as "x" and "x/", with at most names that
 * start with "x" and a byte below '/' between them).
 */
static int in_order(const git_tree *tree, size_t i)
{
	const char *name = entry_name(tree, i);
	size_t n = strlen(name);

	if (i == 0)
		return 1;
	if (entry_cmp(entry_name(tree, i - 1), is_dir_entry(tree, i - 1), name,
	              is_dir_entry(tree, i)) >= 0)
		return 0;
	for (size_t j = i; is_dir_entry(tree, i) && j-- > 0;) {
		const char *prev = entry_name(tree, j);
		if (strncmp(prev, name, n) || (unsigned char)prev[n] >= '/')
			break;
		if (!prev[n])
			return 0;
	}
	return 1;
}

static int check_tree(struct ctx *c, const git_tree *tree, size_t plen,
                      int depth)
{
	size_t n = git_tree_entrycount(tree), len;
	int err;

	if (depth > MAX_DEPTH)
		return sdf_error_set(SDF_ETOOBIG,
		                     "the snapshot nests directories more "
		                     "than %d deep at '%s'",
		                     MAX_DEPTH, c->path);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_tree *sub = NULL;

		if (bad_name(name))
			return sdf_error_set(SDF_EUNSAFE,
			                     "the snapshot has an unsafe path "
			                     "'%s%s%s'; nothing was written",
			                     c->path, plen ? "/" : "", name);
		if (!in_order(tree, i))
			return sdf_error_set(
			    SDF_ECORRUPT,
			    "the snapshot has a damaged tree: "
			    "'%s%s%s' is a duplicate or out of "
			    "order; nothing was written",
			    c->path, plen ? "/" : "", name);
		if ((err = push(c, plen, name, &len)) < 0)
			return err;
		switch (git_tree_entry_filemode(e)) {
		case GIT_FILEMODE_TREE:
			if ((err = git_tree_lookup(&sub, c->repo,
			                           git_tree_entry_id(e))) < 0)
				return sdf_git_error(err, "cannot read '%s'",
				                     c->path);
			err = check_tree(c, sub, len, depth + 1);
			git_tree_free(sub);
			if (err < 0)
				return err;
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
		case GIT_FILEMODE_LINK:
		case GIT_FILEMODE_COMMIT:
			break;
		default:
			return sdf_error_set(
			    SDF_ECORRUPT, "'%s' has an unknown mode %o",
			    c->path, git_tree_entry_filemode_raw(e));
		}
		c->path[plen] = '\0';
	}
	return 0;
}

/* ---- directories ------------------------------------------------------ */

static int open_dir(int dirfd, const char *name)
{
	return openat(dirfd, name,
	              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Opens dirfd/name as a real directory, creating it, or replacing a file or
 * symlink that stands there.
 */
static int ensure_dir(struct ctx *c, int dirfd, const char *name, int *out)
{
	struct stat sb;
	int fd;

	*out = -1;
	for (int attempt = 0; attempt < TRIES; attempt++) {
		if ((fd = open_dir(dirfd, name)) >= 0) {
			*out = fd;
			return 0;
		}
		if (errno == ENOENT) {
			if (mkdirat(dirfd, name, 0777) < 0 && errno != EEXIST)
				return sdf_error_set_errno(
				    SDF_EIO, errno, "cannot create directory");
			continue;
		}
		if (errno != ENOTDIR && errno != ELOOP)
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot open directory");
		if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(sb.st_mode))
			continue; /* changed meanwhile: look again */
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot replace by a "
			                           "directory");
		c->res->removed++;
		changed(c, SDF_RESTORE_DELETED);
	}
	return sdf_error_set(SDF_ECHANGED, "kept changing while it was made "
	                                   "a directory");
}

/*
 * Opens the directory holding path (relative to the root) and points *base
 * at its last component. With create, missing directories are made and
 * files or symlinks in their place replaced; without, 1 is returned when
 * the parent is not a real directory (nothing of ours is there).
 */
static int open_parent(struct ctx *c, const char *path, int create, int *out,
                       const char **base)
{
	const char *p = path, *slash;
	char name[NAME_MAX + 1];
	int fd = -1, next, err;

	*out = -1;
	if ((fd = dup(c->root)) < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "dup");
	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		if (n > NAME_MAX) {
			close(fd);
			return sdf_error_set(SDF_ETOOBIG, "name too long");
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (create) {
			snprintf(c->path, sizeof(c->path), "%.*s",
			         (int)(slash - path), path);
			err = ensure_dir(c, fd, name, &next);
			snprintf(c->path, sizeof(c->path), "%s", path);
			if (err < 0) {
				close(fd);
				return err;
			}
		} else if ((next = open_dir(fd, name)) < 0) {
			err = errno;
			close(fd);
			if (err == ENOENT || err == ENOTDIR || err == ELOOP)
				return 1;
			return sdf_error_set_errno(SDF_EIO, err,
			                           "cannot open directory");
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*out = fd;
	*base = p;
	return 0;
}

/* ---- files ------------------------------------------------------------ */

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot write");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void tmp_name(struct ctx *c, char *out, size_t len)
{
	snprintf(out, len, ".snapdiff-%ld-%u.tmp", (long)getpid(),
	         c->tmp_seq++);
}

/*
 * A new file in dirfd (mode as git gives it, less the umask): unnamed when
 * the system can name it later (*named = 0), else under a temporary name.
 */
static int create_file(struct ctx *c, int dirfd, char *tmp, size_t tmplen,
                       int exec, int *fd, int *named)
{
	mode_t mode = exec ? 0777 : 0666;

#ifdef O_TMPFILE
	if (c->tmpfile_ok) {
		*fd =
		    openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
		if (*fd >= 0) {
			*named = 0;
			return 0;
		}
		/* not on this file system: a named one then */
	}
#endif
	*named = 1;
	for (int attempt = 0; attempt < 100; attempt++) {
		tmp_name(c, tmp, tmplen);
		*fd = openat(
		    dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (*fd >= 0)
			return 0;
		if (errno != EEXIST)
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot create a file");
	}
	return sdf_error_set(SDF_EIO, "cannot find a temporary name");
}

/* Gives the unnamed file fd a temporary name in dirfd. */
static int name_file(struct ctx *c, int fd, int dirfd, char *tmp, size_t tmplen)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int attempt = 0; attempt < 100; attempt++) {
		tmp_name(c, tmp, tmplen);
		if (linkat(AT_FDCWD, proc, dirfd, tmp, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != EEXIST)
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot name the new file");
	}
	return sdf_error_set(SDF_EIO, "cannot find a temporary name");
}

/* Streams the blob into a new file dirfd/tmp; its stat data in *sb. */
static int write_regular(struct ctx *c, int dirfd, char *tmp, size_t tmplen,
                         const git_oid *id, int exec, struct stat *sb)
{
	sdf_blob_reader *r = NULL;
	size_t n;
	int fd = -1, named = 1, err;

	if ((err = sdf_blob_reader_open_oid(&r, c->repo, id, &c->ropts)) < 0)
		return err;
	if ((err = create_file(c, dirfd, tmp, tmplen, exec, &fd, &named)) < 0)
		goto done;
	for (;;) {
		if ((err = sdf_blob_reader_read(&n, r, c->buf, WRITE_CHUNK)) <
		        0 ||
		    n == 0)
			break;
		if ((err = write_all(fd, c->buf, n)) < 0)
			break;
		c->res->written_bytes += n;
	}
	if (err == 0 && !named &&
	    (err = name_file(c, fd, dirfd, tmp, tmplen)) == 0)
		named = 1;
	if (err == 0 && fstat(fd, sb) < 0)
		err = sdf_error_set_errno(SDF_EIO, errno, "stat");
	if (close(fd) < 0 && err == 0)
		err = sdf_error_set_errno(SDF_EIO, errno, "cannot write");
	if (err < 0 && named)
		unlinkat(dirfd, tmp, 0);
done:
	sdf_blob_reader_free(r);
	return err;
}

static int write_link(struct ctx *c, int dirfd, char *tmp, size_t tmplen,
                      const git_oid *id, struct stat *sb)
{
	sdf_blob_reader *r = NULL;
	char target[LINK_MAX_BYTES + 1];
	size_t n, len = 0;
	int err, made = 0;

	if ((err = sdf_blob_reader_open_oid(&r, c->repo, id, &c->ropts)) < 0)
		return err;
	if (sdf_blob_reader_size(r) > LINK_MAX_BYTES ||
	    sdf_blob_reader_size(r) == 0) {
		err =
		    sdf_error_set(SDF_EINVAL,
		                  "symlink target of %llu bytes cannot be "
		                  "made",
		                  (unsigned long long)sdf_blob_reader_size(r));
		goto done;
	}
	do {
		if ((err = sdf_blob_reader_read(&n, r, target + len,
		                                sizeof(target) - len)) < 0)
			goto done;
		len += n;
	} while (n > 0 && len < sizeof(target));
	target[len] = '\0';
	if (strlen(target) != len) {
		err = sdf_error_set(SDF_EINVAL, "symlink target holds a NUL");
		goto done;
	}
	for (int attempt = 0; !made && attempt < 100; attempt++) {
		tmp_name(c, tmp, tmplen);
		if (symlinkat(target, dirfd, tmp) == 0)
			made = 1;
		else if (errno != EEXIST) {
			err = sdf_error_set_errno(SDF_EIO, errno,
			                          "cannot create a symlink");
			goto done;
		}
	}
	if (!made) {
		err = sdf_error_set(SDF_EIO, "cannot find a temporary name");
		goto done;
	}
	if (fstatat(dirfd, tmp, sb, AT_SYMLINK_NOFOLLOW) < 0) {
		err = sdf_error_set_errno(SDF_EIO, errno, "stat");
		unlinkat(dirfd, tmp, 0);
		goto done;
	}
	c->res->written_bytes += len;
done:
	sdf_blob_reader_free(r);
	return err;
}

static int is_exec(uint32_t mode)
{
	return mode == GIT_FILEMODE_BLOB_EXECUTABLE;
}

static int same_time(const git_index_time *t, const struct timespec *ts)
{
	return t->seconds == (int32_t)ts->tv_sec &&
	       t->nanoseconds == (uint32_t)ts->tv_nsec;
}

/*
 * The worktree file already holds the snapshot's content: the index has the
 * path with the same id and mode, and lstat gives the stat data the index
 * recorded, and that record is older than the index itself (not racy).
 */
/*
 * Whether dirfd/name, whose lstat is sb, holds the blob id: it is read and
 * hashed (a symlink's target, a file's content).
 */
static int same_content(struct ctx *c, int dirfd, const char *name,
                        const struct stat *sb, const git_oid *id)
{
	struct stat now;
	git_oid got;
	int fd, ok;

	if (S_ISLNK(sb->st_mode)) {
		char target[LINK_MAX_BYTES + 1];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));

		if (n < 0 || n != sb->st_size)
			return 0;
		sdf_blob_id_of_buf(&got, target, (size_t)n);
		return git_oid_equal(&got, id);
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	ok = fstat(fd, &now) == 0 && now.st_ino == sb->st_ino &&
	     now.st_dev == sb->st_dev &&
	     sdf_blob_id_of_fd(&got, fd, (uint64_t)sb->st_size, c->buf,
	                       WRITE_CHUNK) == 0 &&
	     git_oid_equal(&got, id);
	close(fd);
	sdf_error_clear();
	return ok;
}

static int up_to_date(struct ctx *c, int dirfd, const char *name,
                      const struct stat *sb, const git_oid *id, uint32_t mode)
{
	const git_index_entry *e;

	if (!c->index || !(e = git_index_get_bypath(c->index, c->path, 0)) ||
	    !git_oid_equal(&e->id, id) || e->mode != mode)
		return 0;
	if (mode == GIT_FILEMODE_LINK) {
		if (!S_ISLNK(sb->st_mode))
			return 0;
	} else if (!S_ISREG(sb->st_mode) ||
	           !(sb->st_mode & S_IXUSR) != !is_exec(mode)) {
		return 0;
	}
	if (e->file_size != (uint32_t)sb->st_size ||
	    e->ino != (uint32_t)sb->st_ino || e->dev != (uint32_t)sb->st_dev ||
	    !same_time(&e->mtime, &sb->st_mtim) ||
	    !same_time(&e->ctime, &sb->st_ctim))
		return 0;
	/*
	 * A change within the tick the index was written in would not show
	 * in the stat data: such a racy entry is checked by content, as git
	 * does.
	 */
	if (e->mtime.seconds > (int32_t)c->index_stamp.tv_sec ||
	    (e->mtime.seconds == (int32_t)c->index_stamp.tv_sec &&
	     e->mtime.nanoseconds >= (uint32_t)c->index_stamp.tv_nsec))
		return same_content(c, dirfd, name, sb, id);
	return 1;
}

/* The index already lists the path: record what was just written. */
static void refresh_index(struct ctx *c, const git_oid *id, uint32_t mode,
                          const struct stat *sb)
{
	git_index_entry e;

	if (!c->index || !git_index_get_bypath(c->index, c->path, 0))
		return;
	memset(&e, 0, sizeof(e));
	e.ctime.seconds = (int32_t)sb->st_ctim.tv_sec;
	e.ctime.nanoseconds = (uint32_t)sb->st_ctim.tv_nsec;
	e.mtime.seconds = (int32_t)sb->st_mtim.tv_sec;
	e.mtime.nanoseconds = (uint32_t)sb->st_mtim.tv_nsec;
	e.dev = (uint32_t)sb->st_dev;
	e.ino = (uint32_t)sb->st_ino;
	e.uid = (uint32_t)sb->st_uid;
	e.gid = (uint32_t)sb->st_gid;
	e.mode = mode;
	e.file_size = (uint32_t)sb->st_size;
	e.id = *id;
	e.path = c->path;
	if (sdf_index_add(c->index, &e) == 0)
		c->index_dirty = 1;
	else
		git_error_clear(); /* only a cache: the next track reads it */
}

/* Writes one blob, executable or symlink entry as dirfd/name (c->path). */
static int write_entry(struct ctx *c, int dirfd, const char *name,
                       const git_oid *id, uint32_t mode)
{
	char tmp[64];
	struct stat sb, now;
	int err, existed;

	existed = fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
	if (!existed && errno != ENOENT)
		return sdf_error_set_errno(SDF_EIO, errno, "stat");
	if (existed && S_ISDIR(sb.st_mode)) {
		if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
			return errno == ENOTEMPTY || errno == EEXIST
			           ? sdf_error_set(SDF_ERROR,
			                           "a directory that is not "
			                           "empty stands where the "
			                           "snapshot has a %s; left as "
			                           "it is",
			                           mode == GIT_FILEMODE_LINK
			                               ? "symlink"
			                               : "file")
			           : sdf_error_set_errno(
			                 SDF_EIO, errno,
			                 "cannot remove the empty "
			                 "directory in the way");
	} else if (existed && up_to_date(c, dirfd, name, &sb, id, mode)) {
		c->res->unchanged++;
		return 0;
	}
	if (mode == GIT_FILEMODE_LINK)
		err = write_link(c, dirfd, tmp, sizeof(tmp), id, &sb);
	else
		err = write_regular(c, dirfd, tmp, sizeof(tmp), id,
		                    is_exec(mode), &sb);
	if (err < 0)
		return err;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		err = errno;
		unlinkat(dirfd, tmp, 0);
		if (err == EISDIR || err == ENOTEMPTY || err == EEXIST)
			return sdf_error_set(SDF_ERROR,
			                     "a directory appeared in the way; "
			                     "left as it is");
		return sdf_error_set_errno(SDF_EIO, err,
		                           "cannot rename into "
		                           "place");
	}
	c->res->written++;
	changed(c, existed ? SDF_RESTORE_MODIFIED : SDF_RESTORE_ADDED);
	/* rename may touch ctime: take the stat data anew, if still ours */
	if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    now.st_ino == sb.st_ino && now.st_dev == sb.st_dev)
		refresh_index(c, id, mode, &now);
	return 0;
}

/* ---- trees ------------------------------------------------------------ */

static int restore_tree(struct ctx *c, int dirfd, const git_tree *tree,
                        size_t plen);

/* One entry of a tree: c->path is its path already. */
static int restore_entry(struct ctx *c, int dirfd, const char *name,
                         const git_tree_entry *e, size_t len)
{
	uint32_t mode = git_tree_entry_filemode(e);
	git_tree *sub = NULL;
	int fd = -1, err;

	switch (mode) {
	case GIT_FILEMODE_TREE:
		if ((err = git_tree_lookup(&sub, c->repo,
		                           git_tree_entry_id(e))) < 0)
			return report(c,
			              sdf_git_error(err, "cannot read tree"));
		if ((err = ensure_dir(c, dirfd, name, &fd)) < 0)
			err = report(c, err);
		else
			err = restore_tree(c, fd, sub, len);
		git_tree_free(sub);
		break;
	case GIT_FILEMODE_COMMIT:
		/* a gitlink: the directory only, never its content */
		err = report(c, ensure_dir(c, dirfd, name, &fd));
		break;
	default:
		err = report(
		    c, write_entry(c, dirfd, name, git_tree_entry_id(e), mode));
	}
	if (fd >= 0)
		close(fd);
	return err;
}

static int restore_tree(struct ctx *c, int dirfd, const git_tree *tree,
                        size_t plen)
{
	size_t n = git_tree_entrycount(tree), len;
	int err;

	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);

		if ((err = push(c, plen, name, &len)) < 0 ||
		    (err = restore_entry(c, dirfd, name, e, len)) < 0)
			return err;
		c->path[plen] = '\0';
	}
	return 0;
}

/* ---- set-up and tear-down ---------------------------------------------- */

static int begin(struct ctx *c, git_tree **root, sdf_restore_result *out,
                 sdf_store *st, const char *spec,
                 const sdf_restore_options *opts)
{
	git_oid id;
	struct stat sb;
	char p[PATH_MAX];
	int err;

	memset(c, 0, sizeof(*c));
	memset(out, 0, sizeof(*out));
	*root = NULL;
	c->root = -1;
	c->st = st;
	c->repo = st->repo;
	c->res = out;
	if (opts)
		c->opts = *opts;
	c->ropts.packed_max = c->opts.packed_max;
	if (!st->worktree)
		return sdf_error_set(
		    SDF_EINVAL, "the store '%s' has no worktree", st->path);
	sdf_alloc_clear_failed();
	if ((err = sdf_store_resolve_tree(out->tree, st, spec)) < 0) {
		/* libgit2 reports some failed allocations as "not found" */
		if (sdf_alloc_failed())
			err = sdf_error_set(SDF_EBUDGET,
			                    "cannot resolve '%s': memory "
			                    "budget exceeded",
			                    spec);
		return err;
	}
	if ((err = sdf_store_lock(st, 1)) < 0)
		return err;
	c->locked = 1;
	if ((err = git_oid_fromstr(&id, out->tree)) < 0 ||
	    (err = git_tree_lookup(root, c->repo, &id)) < 0)
		return sdf_git_error(err, "cannot read tree %s", out->tree);
	if (!(c->buf = sdf_malloc(WRITE_CHUNK)))
		return SDF_EBUDGET;
	c->tmpfile_ok = access("/proc/self/fd", X_OK) == 0;
	c->root = open(st->worktree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->root < 0)
		return sdf_error_set_errno(
		    errno == ENOENT ? SDF_ENOTFOUND : SDF_EIO, errno,
		    "cannot open worktree '%s'", st->worktree);
	snprintf(p, sizeof(p), "%s/index", st->path);
	if (stat(p, &sb) == 0 &&
	    git_repository_index(&c->index, c->repo) == 0 &&
	    git_index_read(c->index, 1) == 0) {
		c->index_stamp = sb.st_mtim;
	} else {
		git_error_clear();
		git_index_free(c->index);
		c->index = NULL;
	}
	return 0;
}

static int end(struct ctx *c, git_tree *root, int err)
{
	if (c->index && c->index_dirty) {
		if (err == 0 || !fatal(err)) {
			if (sdf_index_write(c->index) < 0)
				git_index_read(c->index, 1);
			git_error_clear();
		} else {
			git_index_read(c->index, 1);
			git_error_clear();
		}
	}
	if (err == 0 && c->first_err)
		err =
		    sdf_error_set(c->first_err,
		                  "%llu path%s could not be restored; the "
		                  "first: %s",
		                  (unsigned long long)c->res->errors,
		                  c->res->errors == 1 ? "" : "s", c->first_msg);
	git_index_free(c->index);
	git_tree_free(root);
	if (c->root >= 0)
		close(c->root);
	sdf_free(c->buf);
	if (c->locked)
		sdf_store_unlock(c->st);
	return err;
}

int sdf_snapshot_restore(sdf_restore_result *out, sdf_store *st,
                         const char *tree_spec, const sdf_restore_options *opts)
{
	struct ctx c;
	git_tree *root = NULL;
	int err;

	if ((err = begin(&c, &root, out, st, tree_spec, opts)) == 0 &&
	    (err = check_tree(&c, root, 0, 0)) == 0)
		err = restore_tree(&c, c.root, root, 0);
	return end(&c, root, err);
}

/* ---- revert ------------------------------------------------------------ */

/*
 * A worktree-relative path as typed, made canonical: "./" and "." parts and
 * doubled or trailing slashes go; absolute paths and "..", ".git" or
 * backslash parts are refused.
 */
static int normalize(char *out, size_t len, const char *in)
{
	const char *p = in;
	size_t o = 0;

	if (!in || !*in)
		return sdf_error_set(SDF_EINVAL, "empty path");
	if (*in == '/')
		return sdf_error_set(SDF_EUNSAFE,
		                     "'%s' is absolute; give paths relative "
		                     "to the worktree",
		                     in);
	if (strchr(in, '\\'))
		return sdf_error_set(SDF_EUNSAFE, "'%s' holds a backslash", in);
	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 2 && !memcmp(p, "..", 2))
			return sdf_error_set(SDF_EUNSAFE,
			                     "'%s' has a '..' part; paths must "
			                     "stay inside the worktree",
			                     in);
		if (n && !(n == 1 && *p == '.') && !sdf_restore_name_ok(p, n))
			return sdf_error_set(SDF_EUNSAFE,
			                     "'%s' has a '.git' part", in);
		if (n && !(n == 1 && *p == '.')) {
			if (o + n + 2 > len)
				return sdf_error_set(SDF_ETOOBIG,
				                     "path too long: '%s'", in);
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	if (!o)
		return sdf_error_set(SDF_EINVAL,
		                     "'%s' names the whole worktree; use "
		                     "restore for that",
		                     in);
	out[o] = '\0';
	return 0;
}

/*
 * Whether the tree has path as something other than a directory: 1, 0, or
 * a negative SDF_E code.
 */
static int tree_has_file(struct ctx *c, const git_tree *root, const char *path)
{
	git_tree_entry *e = NULL;
	int has;

	if ((has = sdf_store_entry_at(&e, c->repo, root, path)) <= 0)
		return has;
	has = git_tree_entry_type(e) != GIT_OBJECT_TREE;
	git_tree_entry_free(e);
	return has;
}

/*
 * Removes the directories holding c->path that became empty, deepest
 * first, as long as their path is longer than stop bytes.
 */
static void prune_dirs(struct ctx *c, size_t stop)
{
	char dir[PATH_MAX];
	const char *base;
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", c->path);
	while ((slash = strrchr(dir, '/')) && (size_t)(slash - dir) > stop) {
		*slash = '\0';
		if (open_parent(c, dir, 0, &fd, &base) != 0)
			break;
		if (unlinkat(fd, base, AT_REMOVEDIR) < 0) {
			close(fd);
			break;
		}
		close(fd);
	}
}

/*
 * Deletes c->path when it is a file or symlink (never through a symlink).
 * Returns 1 when something was deleted.
 */
static int delete_file(struct ctx *c)
{
	struct stat sb;
	const char *base;
	int fd, err;

	if ((err = open_parent(c, c->path, 0, &fd, &base)) != 0)
		return err < 0 ? err : 0;
	if (fstatat(fd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    S_ISDIR(sb.st_mode)) {
		close(fd);
		return 0;
	}
	if (unlinkat(fd, base, 0) < 0) {
		err = errno;
		close(fd);
		return err == ENOENT
		           ? 0
		           : sdf_error_set_errno(SDF_EIO, err, "cannot delete");
	}
	close(fd);
	c->res->removed++;
	changed(c, SDF_RESTORE_DELETED);
	if (c->index && git_index_remove(c->index, c->path, 0) == 0)
		c->index_dirty = 1;
	git_error_clear();
	return 1;
}

/*
 * Deletes the files under path/ that the index tracks and the tree lacks,
 * and the directories they leave empty (path itself only when keep_top is
 * not set).
 */
static int delete_tracked_under(struct ctx *c, const git_tree *root,
                                const char *path, int keep_top)
{
	size_t plen = strlen(path), pos = 0;
	char prefix[PATH_MAX];
	int err;

	if (!c->index)
		return 0;
	snprintf(prefix, sizeof(prefix), "%s/", path);
	if (git_index_find_prefix(&pos, c->index, prefix) < 0) {
		git_error_clear();
		return 0;
	}
	while (pos < git_index_entrycount(c->index)) {
		const git_index_entry *e = git_index_get_byindex(c->index, pos);
		size_t before = git_index_entrycount(c->index);

		if (strncmp(e->path, prefix, plen + 1) != 0)
			break;
		if ((err = tree_has_file(c, root, e->path)) < 0) {
			snprintf(c->path, sizeof(c->path), "%s", e->path);
			/* nothing more deleted under path */
			return report(c, err);
		}
		if (err) {
			pos++;
			continue;
		}
		snprintf(c->path, sizeof(c->path), "%s", e->path);
		if ((err = delete_file(c)) < 0) {
			if ((err = report(c, err)) < 0)
				return err;
		} else if (err > 0) {
			prune_dirs(c, keep_top ? plen : plen - 1);
		}
		if (git_index_entrycount(c->index) == before)
			pos++;
	}
	return 0;
}

/*
 * Whether path (no parent symlinks followed) is ignored and not tracked: 1,
 * 0, or a negative SDF_E code when that cannot be told.
 */
static int ignored_untracked(struct ctx *c, const char *path)
{
	int ignored = 0, err;

	if (c->index && git_index_get_bypath(c->index, path, 0))
		return 0;
	/*
	 * Never refused (the ignore files of one path are small): libgit2
	 * 1.5.1 may wait forever on its attribute-cache lock after a refusal
	 * there, or swallow one and answer "not ignored".
	 */
	err =
	    SDF_UNREFUSED(git_ignore_path_is_ignored(&ignored, c->repo, path));
	if (err < 0)
		return sdf_git_error(err, "cannot tell whether it is ignored");
	return ignored;
}

static int revert_one(struct ctx *c, const git_tree *root, const char *path)
{
	git_tree_entry *e = NULL;
	const char *base;
	struct stat sb;
	int fd = -1, err, found;

	snprintf(c->path, sizeof(c->path), "%s", path);
	if ((found = sdf_store_entry_at(&e, c->repo, root, path)) < 0) {
		err = report(c, found);
		goto done;
	}
	if ((err = delete_tracked_under(c, root, path,
	                                found && git_tree_entry_type(e) ==
	                                             GIT_OBJECT_TREE)) < 0)
		goto done;
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (found) {
		if ((err = open_parent(c, path, 1, &fd, &base)) < 0) {
			err = report(c, err);
			goto done;
		}
		err = restore_entry(c, fd, base, e, strlen(path));
		goto done;
	}
	/* not in the snapshot: a file or symlink goes */
	if ((err = open_parent(c, path, 0, &fd, &base)) != 0) {
		err = err < 0 ? report(c, err) : 0;
		goto done;
	}
	if (fstatat(fd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    S_ISDIR(sb.st_mode))
		goto done;
	if ((err = ignored_untracked(c, path)) > 0)
		err = sdf_error_set(SDF_EINVAL, "not in the snapshot, but an "
		                                "ignored file: not deleted");
	if (err < 0) {
		err = report(c, err);
		goto done;
	}
	if ((err = delete_file(c)) < 0)
		err = report(c, err);
	else
		err = 0;
done:
	if (fd >= 0)
		close(fd);
	git_tree_entry_free(e);
	return err;
}

int sdf_snapshot_revert(sdf_restore_result *out, sdf_store *st,
                        const char *tree_spec, const char *const *paths,
                        size_t npaths, const sdf_restore_options *opts)
{
	struct ctx c;
	git_tree *root = NULL;
	char **norm = NULL;
	int err;

	if (!npaths) {
		memset(out, 0, sizeof(*out));
		return sdf_error_set(SDF_EINVAL, "no path to revert");
	}
	if (!(norm = sdf_calloc(npaths, sizeof(*norm))))
		return SDF_EBUDGET;
	for (size_t i = 0; i < npaths; i++) {
		char buf[PATH_MAX];
		if ((err = normalize(buf, sizeof(buf), paths[i])) < 0)
			goto fail;
		if (!(norm[i] = sdf_strdup(buf))) {
			err = SDF_EBUDGET;
			goto fail;
		}
	}
	if ((err = begin(&c, &root, out, st, tree_spec, opts)) < 0)
		goto done;
	/* every subtree to be written is checked before anything is */
	for (size_t i = 0; i < npaths && !err; i++) {
		git_tree_entry *e = NULL;
		git_tree *sub = NULL;

		snprintf(c.path, sizeof(c.path), "%s", norm[i]);
		if ((err = sdf_store_entry_at(&e, c.repo, root, norm[i])) <= 0)
			continue; /* absent (0), or err ends the loop */
		err = 0;
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			if ((err = git_tree_lookup(&sub, c.repo,
			                           git_tree_entry_id(e))) < 0)
				err = sdf_git_error(err, "cannot read '%s'",
				                    norm[i]);
			else
				err = check_tree(&c, sub, strlen(norm[i]), 1);
			git_tree_free(sub);
		} else if (git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB &&
		           git_tree_entry_filemode(e) !=
		               GIT_FILEMODE_BLOB_EXECUTABLE &&
		           git_tree_entry_filemode(e) != GIT_FILEMODE_LINK &&
		           git_tree_entry_filemode(e) != GIT_FILEMODE_COMMIT) {
			err = sdf_error_set(
			    SDF_ECORRUPT, "'%s' has an unknown mode", norm[i]);
		}
		git_tree_entry_free(e);
	}
	for (size_t i = 0; i < npaths && !err; i++)
		err = revert_one(&c, root, norm[i]);
done:
	err = end(&c, root, err);
	goto out;
fail:
	memset(out, 0, sizeof(*out));
out:
	for (size_t i = 0; i < npaths; i++)
		sdf_free(norm[i]);
	sdf_free(norm);
	return err;
}
