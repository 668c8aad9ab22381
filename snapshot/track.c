/*
 * track: bring the store's index up to date with the worktree and write its
 * tree. libgit2's index-to-workdir diff finds what changed (honouring every
 * ignore rule and the index's stat cache); the changed files are then
 * streamed into loose objects by a few worker threads, each with its own
 * repository handle, and entered into the index with the stat data they
 * were read under.
 */
#include "snapshots_int.h"
#include "fsutil_int.h"
#include "ignore_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (256 * 1024)
#define TRIES 3
#define BATCH 4096
#define MAX_WORKERS 8
#define MAX_EXCLUDE_BYTES (4 << 20)

enum job_state { JOB_STORED, JOB_VANISHED, JOB_SKIPPED };

struct job {
	char *path; /* owned */
	git_oid id;
	struct stat st;
	uint32_t mode;
	int state;
	int refused; /* a name restore would refuse: never read */
	int code;    /* why it was skipped */
	char *msg;   /* idem */
};

struct pool {
	const sdf_store *st;
	struct job *jobs;
	size_t njobs;
	atomic_size_t next;
	atomic_int stop;
	pthread_mutex_t lock;
	int fatal;
	char fatal_msg[SDF_ERROR_MSG_MAX];
};

static int same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino &&
	       a->st_dev == b->st_dev &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Streams one regular file into a loose blob. SDF_ECHANGED: try again. */
static int store_regular(git_oid *id, struct stat *st, git_odb *odb, int fd,
                         char *buf)
{
	git_odb_stream *ws = NULL;
	struct stat after;
	uint64_t total = 0;
	ssize_t n;
	int err;

	if (fstat(fd, st) < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "stat");
	if (!S_ISREG(st->st_mode))
		return sdf_error_set(SDF_ECHANGED, "changed type while read");
	if ((err =
	         git_odb_open_wstream(&ws, odb, (git_object_size_t)st->st_size,
	                              GIT_OBJECT_BLOB)) < 0) {
		err = sdf_git_error(err, "cannot store");
		/*
		 * libgit2 1.5.1 fails with *ws already set when it cannot
		 * allocate the stream's hash context, which it never sets:
		 * free the backend's stream itself, or it leaks.
		 */
		if (ws)
			ws->free(ws);
		return err;
	}
	for (;;) {
		n = read(fd, buf, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sdf_error_set_errno(SDF_EIO, errno, "read");
			goto done;
		}
		if (n == 0)
			break;
		if (total + (uint64_t)n > (uint64_t)st->st_size) {
			err = sdf_error_set(SDF_ECHANGED, "grew while read");
			goto done;
		}
		if ((err = git_odb_stream_write(ws, buf, (size_t)n)) < 0) {
			err = sdf_git_error(err, "cannot store");
			goto done;
		}
		total += (uint64_t)n;
	}
	if (total != (uint64_t)st->st_size) {
		err = sdf_error_set(SDF_ECHANGED, "shrank while read");
		goto done;
	}
	if (fstat(fd, &after) < 0) {
		err = sdf_error_set_errno(SDF_EIO, errno, "stat");
		goto done;
	}
	if (!same_stat(st, &after)) {
		err = sdf_error_set(SDF_ECHANGED, "changed while read");
		goto done;
	}
	if ((err = git_odb_stream_finalize_write(id, ws)) < 0)
		err = sdf_git_error(err, "cannot store");
done:
	git_odb_stream_free(ws);
	return err;
}

/* A directory holding a repository of its own is entered as a gitlink. */
static int store_gitlink(git_oid *id, const char *full)
{
	git_repository *sub = NULL;
	int err;

	if ((err = git_repository_open_ext(
	         &sub, full, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) < 0)
		return sdf_git_error(err, "not a repository");
	err = git_reference_name_to_id(id, sub, "HEAD");
	git_repository_free(sub);
	if (err < 0)
		return sdf_error_set(SDF_EINVAL,
		                     "embedded repository has no commit "
		                     "checked out");
	return 0;
}

static int store_one(struct job *j, git_odb *odb, const char *worktree,
                     char *buf)
{
	char full[PATH_MAX];
	size_t plen = strlen(j->path);
	int err = 0, fd;

	if (j->refused)
		return sdf_error_set(SDF_EUNSAFE,
		                     "a name git refuses (it means "
		                     ".git on NTFS or vfat)");
	if ((size_t)snprintf(full, sizeof(full), "%s/%s", worktree, j->path) >=
	    sizeof(full))
		return sdf_error_set(SDF_EINVAL, "path too long");
	for (int attempt = 0; attempt < TRIES; attempt++) {
		if (lstat(full, &j->st) < 0) {
			if (errno == ENOENT || errno == ENOTDIR) {
				j->state = JOB_VANISHED;
				return 0;
			}
			return sdf_error_set_errno(SDF_EIO, errno, "stat");
		}
		if (S_ISLNK(j->st.st_mode)) {
			ssize_t n = readlink(full, buf, READ_CHUNK);
			if (n < 0)
				return sdf_error_set_errno(SDF_EIO, errno,
				                           "readlink");
			if (n != j->st.st_size) {
				err = sdf_error_set(SDF_ECHANGED,
				                    "link changed while read");
				continue;
			}
			if ((err = git_odb_write(&j->id, odb, buf, (size_t)n,
			                         GIT_OBJECT_BLOB)) < 0)
				return sdf_git_error(err, "cannot store");
			j->mode = GIT_FILEMODE_LINK;
			return 0;
		}
		if (S_ISDIR(j->st.st_mode)) {
			if (plen && j->path[plen - 1] == '/' &&
			    (err = store_gitlink(&j->id, full)) == 0)
				j->mode = GIT_FILEMODE_COMMIT;
			else if (!err)
				j->state = JOB_VANISHED;
			return err;
		}
		if (!S_ISREG(j->st.st_mode))
			return sdf_error_set(SDF_EINVAL,
			                     "not a regular file, symlink or "
			                     "directory");
		fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			if (errno == ENOENT) {
				j->state = JOB_VANISHED;
				return 0;
			}
			if (errno == ELOOP)
				continue; /* became a symlink: look again */
			return sdf_error_set_errno(SDF_EIO, errno, "open");
		}
		err = store_regular(&j->id, &j->st, odb, fd, buf);
		close(fd);
		if (err == 0) {
			j->mode = (j->st.st_mode & S_IXUSR)
			              ? GIT_FILEMODE_BLOB_EXECUTABLE
			              : GIT_FILEMODE_BLOB;
			return 0;
		}
		if (err != SDF_ECHANGED)
			return err;
	}
	return err;
}

static int fatal_code(int code)
{
	return code == SDF_EBUDGET || code == SDF_ENOSPC ||
	       code == SDF_ECORRUPT || code == SDF_ERROR;
}

static void run_jobs(struct pool *p, git_odb *odb, char *buf)
{
	size_t i;

	while (!atomic_load(&p->stop) &&
	       (i = atomic_fetch_add(&p->next, 1)) < p->njobs) {
		struct job *j = &p->jobs[i];
		int err = store_one(j, odb, p->st->worktree, buf);

		if (err == 0)
			continue;
		j->state = JOB_SKIPPED;
		j->code = err;
		if (fatal_code(err)) {
			pthread_mutex_lock(&p->lock);
			if (!p->fatal) {
				p->fatal = err;
				snprintf(p->fatal_msg, sizeof(p->fatal_msg),
				         "'%s': %s", j->path, sdf_error_last());
			}
			pthread_mutex_unlock(&p->lock);
			atomic_store(&p->stop, 1);
			return;
		}
		j->msg = sdf_strdup(sdf_error_last());
	}
}

static void fail_pool(struct pool *p, int code)
{
	pthread_mutex_lock(&p->lock);
	if (!p->fatal) {
		p->fatal = code;
		snprintf(p->fatal_msg, sizeof(p->fatal_msg), "%s",
		         sdf_error_last());
	}
	pthread_mutex_unlock(&p->lock);
	atomic_store(&p->stop, 1);
}

/* shared: use the store's own repository (the caller's thread waits). */
static void work(struct pool *p, int shared)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	char *buf = NULL;
	int err = 0;

	if (shared)
		repo = p->st->repo;
	if ((!shared && (err = sdf_store_open_repo(&repo, p->st)) < 0) ||
	    (err = git_repository_odb(&odb, repo)) < 0 ||
	    !(buf = sdf_malloc(READ_CHUNK))) {
		if (err > -1 && !buf)
			err = SDF_EBUDGET;
		else if (err < 0 && repo)
			err =
			    sdf_git_error(err, "cannot open the object store");
		fail_pool(p, err < 0 ? err : SDF_EBUDGET);
	} else {
		run_jobs(p, odb, buf);
	}
	sdf_free(buf);
	git_odb_free(odb);
	if (!shared)
		git_repository_free(repo);
}

static void *worker(void *arg)
{
	work(arg, 0);
	return NULL;
}

static int run_pool(struct pool *p, unsigned workers)
{
	pthread_t th[MAX_WORKERS];
	unsigned started = 0;

	if (workers > MAX_WORKERS)
		workers = MAX_WORKERS;
	if (workers > p->njobs)
		workers = (unsigned)p->njobs;
	/*
	 * One worker works on this thread with the store's repository:
	 * opening another costs time and, in libgit2 1.5.1, leaks when an
	 * allocation fails inside git_repository_open_ext.
	 */
	for (; workers > 1 && started < workers; started++)
		if (pthread_create(&th[started], NULL, worker, p) != 0)
			break;
	if (started == 0)
		work(p, 1); /* one worker, or no thread could start */
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (p->fatal)
		return sdf_error_set(p->fatal, "%s", p->fatal_msg);
	return 0;
}

static void entry_from(git_index_entry *e, const struct job *j)
{
	memset(e, 0, sizeof(*e));
	e->ctime.seconds = (int32_t)j->st.st_ctim.tv_sec;
	e->ctime.nanoseconds = (uint32_t)j->st.st_ctim.tv_nsec;
	e->mtime.seconds = (int32_t)j->st.st_mtim.tv_sec;
	e->mtime.nanoseconds = (uint32_t)j->st.st_mtim.tv_nsec;
	e->dev = (uint32_t)j->st.st_dev;
	e->ino = (uint32_t)j->st.st_ino;
	e->uid = (uint32_t)j->st.st_uid;
	e->gid = (uint32_t)j->st.st_gid;
	e->mode = j->mode;
	e->file_size = (uint32_t)j->st.st_size;
	if (j->mode == GIT_FILEMODE_COMMIT)
		e->file_size = 0;
	e->id = j->id;
	e->path = j->path;
}

/* Removes a trailing '/' (gitlinks are reported as directories). */
static const char *index_path(const char *path, char *buf, size_t len)
{
	size_t n = strlen(path);

	if (!n || path[n - 1] != '/' || n >= len)
		return path;
	memcpy(buf, path, n - 1);
	buf[n - 1] = '\0';
	return buf;
}

static int apply_batch(git_index *index, struct pool *p,
                       const sdf_track_options *opts, sdf_track_result *res)
{
	char pbuf[PATH_MAX];
	int err = 0;

	for (size_t i = 0; i < p->njobs && !err; i++) {
		struct job *j = &p->jobs[i];
		const char *path = index_path(j->path, pbuf, sizeof(pbuf));
		git_index_entry e;

		switch (j->state) {
		case JOB_STORED:
			entry_from(&e, j);
			e.path = path;
			if ((err = sdf_index_add(index, &e)) < 0)
				err = sdf_git_error(err, "cannot index '%s'",
				                    path);
			res->written++;
			res->written_bytes += (uint64_t)j->st.st_size;
			break;
		case JOB_VANISHED:
			if ((err = git_index_remove_bypath(index, path)) < 0)
				err = sdf_git_error(err, "cannot unindex '%s'",
				                    path);
			break;
		default:
			if (opts->strict) {
				err = sdf_error_set(j->code, "'%s': %s", path,
				                    j->msg ? j->msg
				                           : "cannot read");
				break;
			}
			res->skipped++;
			if (opts->notice)
				opts->notice(path, j->code,
				             j->msg ? j->msg : "cannot read",
				             opts->payload);
		}
	}
	return err;
}

/* ---- ignore sources -------------------------------------------------- */

/*
 * The project's .git/info/exclude applies to the worktree; git reads it from
 * its own git directory, so the store keeps a copy in its info/exclude.
 * Returns 1 when the copy changed.
 */
static int sync_exclude(const sdf_store *st)
{
	char src[PATH_MAX], dst[PATH_MAX], tmp[PATH_MAX];
	char *want = NULL, *have = NULL;
	size_t wlen, hlen;
	int err, changed = 0;

	snprintf(src, sizeof(src), "%s/.git/info/exclude", st->worktree);
	snprintf(dst, sizeof(dst), "%s/info/exclude", st->path);
	if ((err = sdf_read_small_file(&want, &wlen, AT_FDCWD, src,
	                               MAX_EXCLUDE_BYTES)) < 0 ||
	    (err = sdf_read_small_file(&have, &hlen, AT_FDCWD, dst,
	                               MAX_EXCLUDE_BYTES)) < 0)
		goto done;
	if (wlen == hlen && (!wlen || !memcmp(want, have, wlen)))
		goto done;
	changed = 1;
	snprintf(tmp, sizeof(tmp), "%s/info/exclude.snapdiff-tmp", st->path);
	{
		FILE *f = fopen(tmp, "w");
		if (!f || (wlen && fwrite(want, 1, wlen, f) != wlen) ||
		    fclose(f) != 0) {
			err = sdf_error_set_errno(SDF_EIO, errno,
			                          "cannot write '%s'", tmp);
			goto done;
		}
	}
	if (rename(tmp, dst) < 0)
		err = sdf_error_set_errno(SDF_EIO, errno, "cannot write '%s'",
		                          dst);
done:
	sdf_free(want);
	sdf_free(have);
	return err < 0 ? err : changed;
}

/*
 * Lock files left by a process that died, or by libgit2 1.5.1 when an
 * allocation failed while it wrote the index or a ref (its lock file
 * stays); we hold the store lock, so nobody else is writing them. A stale
 * refs/snapdiff/head.lock would fail every later track.
 */
static void clear_stale_locks(const sdf_store *st)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/index.lock", st->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s.lock", st->path, SDF_HEAD_REF);
	unlink(p);
}

/* ---- the worktree walk --------------------------------------------- */

struct walk {
	const sdf_store *st;
	git_index *index;
	sdf_ignore *ig;
	uint8_t *seen; /* per index entry: still in the worktree */
	struct job *jobs;
	size_t njobs, capjobs;
	struct timespec index_mtime;
	char path[PATH_MAX];
};

static uint32_t mode_of(const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return GIT_FILEMODE_LINK;
	return (st->st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE
	                               : GIT_FILEMODE_BLOB;
}

/*
 * The index's stat data still describes the file, and the entry is not
 * "racily clean" (written in the same instant as the index itself).
 */
static int unchanged(const git_index_entry *e, const struct stat *st,
                     const struct timespec *index_mtime)
{
	if (e->mode != mode_of(st) || e->file_size != (uint32_t)st->st_size ||
	    e->mtime.seconds != (int32_t)st->st_mtim.tv_sec ||
	    e->mtime.nanoseconds != (uint32_t)st->st_mtim.tv_nsec ||
	    e->ctime.seconds != (int32_t)st->st_ctim.tv_sec ||
	    e->ctime.nanoseconds != (uint32_t)st->st_ctim.tv_nsec ||
	    e->ino != (uint32_t)st->st_ino || e->dev != (uint32_t)st->st_dev ||
	    e->uid != (uint32_t)st->st_uid || e->gid != (uint32_t)st->st_gid)
		return 0;
	if (e->mtime.seconds > (int32_t)index_mtime->tv_sec)
		return 0;
	if (e->mtime.seconds == (int32_t)index_mtime->tv_sec &&
	    e->mtime.nanoseconds >= (uint32_t)index_mtime->tv_nsec)
		return 0;
	return 1;
}

static int push_job(struct walk *w, const char *path)
{
	if (w->njobs == w->capjobs) {
		size_t cap = w->capjobs ? w->capjobs * 2 : 64;
		struct job *v = sdf_reallocarray(w->jobs, cap, sizeof(*v));
		if (!v)
			return SDF_EBUDGET;
		w->jobs = v;
		w->capjobs = cap;
	}
	memset(&w->jobs[w->njobs], 0, sizeof(*w->jobs));
	if (!(w->jobs[w->njobs].path = sdf_strdup(path)))
		return SDF_EBUDGET;
	w->njobs++;
	return 0;
}

/* Marks path's index entry as present; returns it when it exists. */
static const git_index_entry *see(struct walk *w, const char *path)
{
	size_t pos;

	if (git_index_find(&pos, w->index, path) < 0) {
		git_error_clear();
		return NULL;
	}
	w->seen[pos] = 1;
	return git_index_get_byindex(w->index, pos);
}

/* A directory with a repository of its own (a .git inside) is a gitlink. */
static int is_nested_repo(int dirfd, const char *name)
{
	struct stat st;
	char rel[PATH_MAX];

	if ((size_t)snprintf(rel, sizeof(rel), "%s/.git", name) >= sizeof(rel))
		return 0;
	if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return S_ISDIR(st.st_mode) || S_ISREG(st.st_mode);
}

static int walk_dir(struct walk *w, int dirfd, size_t plen, unsigned depth);

/* A job that only reports the path (and anything under it) as left out. */
static int push_refused(struct walk *w, size_t plen, const char *name)
{
	int err;

	if (plen + strlen(name) + 1 >= sizeof(w->path))
		return sdf_error_set(SDF_EINVAL, "path too long under '%.*s'",
		                     (int)plen, w->path);
	memcpy(w->path + plen, name, strlen(name) + 1);
	if ((err = push_job(w, w->path)) == 0)
		w->jobs[w->njobs - 1].refused = 1;
	return err;
}

static int walk_entry(struct walk *w, int dirfd, const char *name, size_t plen,
                      unsigned depth)
{
	size_t nlen = strlen(name);
	struct stat st;
	const git_index_entry *e;
	int fd;

	if (plen + nlen + 2 >= sizeof(w->path))
		return sdf_error_set(SDF_EINVAL, "path too long under '%.*s'",
		                     (int)plen, w->path);
	memcpy(w->path + plen, name, nlen + 1);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : push_job(w, w->path);
	if (S_ISDIR(st.st_mode)) {
		if (sdf_ignore_check(w->ig, w->path, 1))
			return 0;
		if (is_nested_repo(dirfd, name)) {
			see(w, w->path);
			w->path[plen + nlen] = '/';
			w->path[plen + nlen + 1] = '\0';
			return push_job(w, w->path);
		}
		fd = openat(dirfd, name,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT || errno == ENOTDIR
			           ? 0
			           : sdf_error_set_errno(SDF_EIO, errno,
			                                 "cannot open '%s'",
			                                 w->path);
		w->path[plen + nlen] = '/';
		w->path[plen + nlen + 1] = '\0';
		return walk_dir(w, fd, plen + nlen + 1, depth + 1);
	}
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return 0; /* fifos, sockets, devices: git skips them too */
	if (sdf_ignore_check(w->ig, w->path, 0))
		return 0;
	e = see(w, w->path);
	if (e && unchanged(e, &st, &w->index_mtime))
		return 0;
	return push_job(w, w->path);
}

/* Walks the directory open at dirfd (consumed), whose path is w->path[0..plen).
 */
static int walk_dir(struct walk *w, int dirfd, size_t plen, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int err;

	if (depth > 512) {
		close(dirfd);
		return sdf_error_set(SDF_EINVAL, "directories nested too deep");
	}
	if (!(d = fdopendir(dirfd))) {
		err = sdf_error_set_errno(SDF_EIO, errno, "cannot read '%s'",
		                          plen ? w->path : ".");
		close(dirfd);
		return err;
	}
	w->path[plen] = '\0';
	if ((err = sdf_ignore_push_dir(w->ig, dirfd, w->path)) < 0) {
		closedir(d);
		return err;
	}
	for (errno = 0; (de = readdir(d)); errno = 0) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, "..") ||
		    !strcasecmp(name, ".git"))
			continue;
		if (!sdf_restore_name_ok(name, strlen(name)))
			/* git refuses to add it, restore to write it */
			err = push_refused(w, plen, name);
		else
			err = walk_entry(w, dirfd, name, plen, depth);
		if (err < 0)
			break;
	}
	if (!err && errno)
		err = sdf_error_set_errno(SDF_EIO, errno, "cannot read '%s'",
		                          plen ? w->path : ".");
	sdf_ignore_pop_dir(w->ig);
	closedir(d);
	return err;
}

static int excludes_file(char **out, git_repository *repo)
{
	git_config *cfg = NULL;
	git_buf path = GIT_BUF_INIT;
	char buf[PATH_MAX];
	int err;

	*out = NULL;
	/*
	 * The repository's own config object, not a snapshot of it: libgit2
	 * 1.5.1 dereferences NULL when an allocation fails while it builds
	 * a snapshot (git_config_snapshot -> git_config_add_backend), and
	 * sdf_store_open loaded the live one, so getting it allocates
	 * nothing.
	 */
	if ((err = git_repository_config(&cfg, repo)) < 0)
		return sdf_git_error(err, "cannot read the configuration");
	if (git_config_get_path(&path, cfg, "core.excludesfile") == 0) {
		snprintf(buf, sizeof(buf), "%s", path.ptr);
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME"),
		           *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(buf, sizeof(buf), "%s/git/ignore", xdg);
		else
			snprintf(buf, sizeof(buf), "%s/.config/git/ignore",
			         home ? home : "");
	}
	git_error_clear();
	git_buf_dispose(&path);
	git_config_free(cfg);
	return (*out = sdf_strdup(buf)) ? 0 : SDF_EBUDGET;
}

static int walk_worktree(struct walk *w, git_repository *repo)
{
	char exclude[PATH_MAX];
	char *global = NULL;
	int fd, err;

	snprintf(exclude, sizeof(exclude), "%s/info/exclude", w->st->path);
	if ((err = excludes_file(&global, repo)) < 0)
		return err;
	err = sdf_ignore_new(&w->ig, exclude, global);
	sdf_free(global);
	if (err < 0)
		return err;
	fd = open(w->st->worktree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sdf_error_set_errno(
		    errno == ENOENT ? SDF_ENOTFOUND : SDF_EIO, errno,
		    "cannot open worktree '%s'", w->st->worktree);
	w->path[0] = '\0';
	return walk_dir(w, fd, 0, 0);
}

/* Drops the entries whose files the walk did not see (gone or ignored). */
static int drop_unseen(struct walk *w, sdf_track_result *res)
{
	size_t n = git_index_entrycount(w->index);
	int err;

	for (size_t i = n; i-- > 0;) {
		const git_index_entry *e;
		if (w->seen[i])
			continue;
		e = git_index_get_byindex(w->index, i);
		if ((err = git_index_remove(w->index, e->path,
		                            git_index_entry_stage(e))) < 0)
			return sdf_git_error(err, "cannot drop an entry");
		res->removed++;
	}
	return 0;
}

static int cmp_job(const void *a, const void *b)
{
	return strcmp(((const struct job *)a)->path,
	              ((const struct job *)b)->path);
}

/* Stores the jobs' files a batch at a time and enters them in the index. */
static int store_jobs(git_index *index, struct walk *w, unsigned workers,
                      const sdf_track_options *opts, sdf_track_result *res)
{
	struct pool p;
	int err = 0;

	/* sorted, new entries are appended to the index, not inserted */
	if (w->njobs > 1)
		qsort(w->jobs, w->njobs, sizeof(*w->jobs), cmp_job);
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lock, NULL);
	p.st = w->st;
	for (size_t off = 0; off < w->njobs && !err; off += BATCH) {
		p.jobs = w->jobs + off;
		p.njobs = w->njobs - off < BATCH ? w->njobs - off : BATCH;
		atomic_store(&p.next, 0);
		if ((err = run_pool(&p, workers)) == 0)
			err = apply_batch(index, &p, opts, res);
	}
	pthread_mutex_destroy(&p.lock);
	return err;
}

static void walk_dispose(struct walk *w)
{
	for (size_t i = 0; i < w->njobs; i++) {
		sdf_free(w->jobs[i].path);
		sdf_free(w->jobs[i].msg);
	}
	sdf_free(w->jobs);
	sdf_free(w->seen);
	sdf_ignore_free(w->ig);
}
static unsigned default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

int sdf_snapshot_track(sdf_track_result *out, sdf_store *st,
                       const sdf_track_options *opts_in)
{
	sdf_track_options opts = SDF_TRACK_OPTIONS_INIT;
	git_index *index = NULL;
	git_oid tree;
	struct walk w;
	struct stat ist;
	char ipath[PATH_MAX];
	int err, locked = 0;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.st = st;
	if (opts_in)
		opts = *opts_in;
	if (!opts.workers)
		opts.workers = default_workers();
	if ((err = sdf_label_check(opts.label)) < 0)
		goto done;
	if (!st->worktree) {
		err = sdf_error_set(SDF_EINVAL,
		                    "the store '%s' has no worktree", st->path);
		goto done;
	}
	if ((err = sdf_store_lock(st, 1)) < 0)
		goto done;
	locked = 1;
	clear_stale_locks(st);
	if ((err = sync_exclude(st)) < 0)
		goto done;
	snprintf(ipath, sizeof(ipath), "%s/index", st->path);
	if (stat(ipath, &ist) == 0)
		w.index_mtime = ist.st_mtim;
	if ((err = git_repository_index(&index, st->repo)) < 0 ||
	    (err = git_index_read(index, 1)) < 0) {
		err = sdf_git_error(err, "cannot read the store's index");
		goto done;
	}
	w.index = index;
	if (!(w.seen = sdf_calloc(git_index_entrycount(index) + 1, 1))) {
		err = SDF_EBUDGET;
		goto done;
	}
	if ((err = walk_worktree(&w, st->repo)) < 0 ||
	    (err = drop_unseen(&w, out)) < 0 ||
	    (err = store_jobs(index, &w, opts.workers, &opts, out)) < 0)
		goto done;
	if ((err = git_index_write_tree(&tree, index)) < 0) {
		err = sdf_git_error(err, "cannot write the tree");
		goto done;
	}
	/* an index that nothing changed need not be written again */
	if ((w.njobs || out->removed) && (err = sdf_index_write(index)) < 0) {
		err = sdf_git_error(err, "cannot write the store's index");
		goto done;
	}
	for (size_t i = 0; i < git_index_entrycount(index); i++) {
		const git_index_entry *e = git_index_get_byindex(index, i);
		out->files++;
		out->bytes += e->file_size;
	}
	err = sdf_snapshot_record(out, st->repo, &tree, opts.label);
done:
	walk_dispose(&w);
	git_index_free(index);
	if (locked)
		sdf_store_unlock(st);
	return err;
}
