/*
 * track: bring the store's index up to date with the worktree and write its
 * tree. libgit2's index-to-workdir diff finds what changed (honouring every
 * ignore rule and the index's stat cache); the changed files are then
 * streamed into loose objects by a few worker threads, each with its own
 * repository handle, and entered into the index with the stat data they
 * were read under.
 */
#include "snapshots_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define READ_CHUNK (256 * 1024)
#define TRIES 3
#define BATCH 4096
#define MAX_WORKERS 8
#define MAX_EXCLUDE_BYTES (4 << 20)

enum job_state { JOB_STORED, JOB_VANISHED, JOB_SKIPPED };

struct job {
	const char *path; /* owned by the diff */
	git_oid id;
	struct stat st;
	uint32_t mode;
	int state;
	int code;  /* why it was skipped */
	char *msg; /* idem */
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
	if ((err = git_odb_open_wstream(&ws, odb, (git_object_size_t)st->st_size,
					GIT_OBJECT_BLOB)) < 0)
		return sdf_git_error(err, "cannot store");
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

	if ((err = git_repository_open_ext(&sub, full,
					   GIT_REPOSITORY_OPEN_NO_SEARCH,
					   NULL)) < 0)
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

static void *worker(void *arg)
{
	struct pool *p = arg;
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	char *buf = NULL;
	int err;

	if ((err = sdf_store_open_repo(&repo, p->st)) < 0 ||
	    (err = git_repository_odb(&odb, repo)) < 0 ||
	    !(buf = sdf_malloc(READ_CHUNK))) {
		if (err > -1 && !buf)
			err = SDF_EBUDGET;
		else if (err < 0 && repo)
			err = sdf_git_error(err, "cannot open the object store");
		fail_pool(p, err < 0 ? err : SDF_EBUDGET);
	} else {
		run_jobs(p, odb, buf);
	}
	sdf_free(buf);
	git_odb_free(odb);
	git_repository_free(repo);
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
	for (; started < workers; started++)
		if (pthread_create(&th[started], NULL, worker, p) != 0)
			break;
	if (started == 0)
		worker(p); /* no thread could start: do the work here */
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
			if ((err = git_index_add(index, &e)) < 0)
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

static void reset_pool(struct pool *p)
{
	for (size_t i = 0; i < p->njobs; i++)
		sdf_free(p->jobs[i].msg);
	memset(p->jobs, 0, sizeof(*p->jobs) * p->njobs);
	p->njobs = 0;
	atomic_store(&p->next, 0);
}

static int flush_batch(git_index *index, struct pool *p, unsigned workers,
		       const sdf_track_options *opts, sdf_track_result *res)
{
	int err;

	if (!p->njobs)
		return 0;
	if ((err = run_pool(p, workers)) == 0)
		err = apply_batch(index, p, opts, res);
	reset_pool(p);
	return err;
}

/* ---- ignore sources -------------------------------------------------- */

static int read_small(char **out, size_t *len, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR
			       ? 0
			       : sdf_error_set_errno(SDF_EIO, errno,
						     "cannot read '%s'", path);
	if (fstat(fd, &st) < 0 || st.st_size > MAX_EXCLUDE_BYTES) {
		close(fd);
		return sdf_error_set(SDF_ETOOBIG, "'%s' is over %d bytes",
				     path, MAX_EXCLUDE_BYTES);
	}
	if (!(buf = sdf_malloc((size_t)st.st_size + 1))) {
		close(fd);
		return SDF_EBUDGET;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		sdf_free(buf);
		return sdf_error_set_errno(SDF_EIO, errno, "cannot read '%s'",
					   path);
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

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
	if ((err = read_small(&want, &wlen, src)) < 0 ||
	    (err = read_small(&have, &hlen, dst)) < 0)
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
 * A fingerprint of the ignore sources that live outside the worktree (the
 * store's copy of info/exclude and core.excludesFile). When it changes, or a
 * .gitignore changes, files already in the index may have become ignored.
 */
static int ignore_stamp(char out[17], git_repository *repo, const sdf_store *st)
{
	git_config *cfg = NULL;
	git_buf path = GIT_BUF_INIT;
	char p[PATH_MAX];
	char *data = NULL;
	size_t len;
	XXH3_state_t h;
	int err;

	XXH3_64bits_reset(&h);
	snprintf(p, sizeof(p), "%s/info/exclude", st->path);
	if ((err = read_small(&data, &len, p)) < 0)
		return err;
	XXH3_64bits_update(&h, data ? data : "", len);
	XXH3_64bits_update(&h, "\0", 1);
	sdf_free(data);
	data = NULL;
	if ((err = git_repository_config_snapshot(&cfg, repo)) < 0)
		return sdf_git_error(err, "cannot read config");
	if (git_config_get_path(&path, cfg, "core.excludesfile") == 0) {
		snprintf(p, sizeof(p), "%s", path.ptr);
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME"),
			   *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(p, sizeof(p), "%s/git/ignore", xdg);
		else
			snprintf(p, sizeof(p), "%s/.config/git/ignore",
				 home ? home : "");
	}
	git_error_clear();
	git_buf_dispose(&path);
	git_config_free(cfg);
	XXH3_64bits_update(&h, p, strlen(p));
	if ((err = read_small(&data, &len, p)) < 0 && err != SDF_ETOOBIG)
		return err;
	XXH3_64bits_update(&h, data ? data : "", len);
	sdf_free(data);
	snprintf(out, 17, "%016llx", (unsigned long long)XXH3_64bits_digest(&h));
	return 0;
}

static int stamp_changed(git_repository *repo, const char *stamp)
{
	git_config *cfg = NULL;
	git_buf old = GIT_BUF_INIT;
	int changed = 1;

	if (git_repository_config_snapshot(&cfg, repo) == 0 &&
	    git_config_get_string_buf(&old, cfg, "snapdiff.ignorestamp") == 0)
		changed = strcmp(old.ptr, stamp) != 0;
	git_error_clear();
	git_buf_dispose(&old);
	git_config_free(cfg);
	return changed;
}

static int save_stamp(git_repository *repo, const char *stamp)
{
	git_config *cfg = NULL;
	int err;

	if ((err = git_repository_config(&cfg, repo)) == 0)
		err = git_config_set_string(cfg, "snapdiff.ignorestamp", stamp);
	git_config_free(cfg);
	return err < 0 ? sdf_git_error(err, "cannot save the ignore stamp") : 0;
}

static int is_gitignore(const char *path)
{
	const char *base = strrchr(path, '/');

	return !strcmp(base ? base + 1 : path, ".gitignore");
}

/* Drops index entries that the ignore rules now exclude. */
static int drop_ignored(git_index *index, git_repository *repo,
			sdf_track_result *res)
{
	size_t i = 0;
	int err;

	while (i < git_index_entrycount(index)) {
		const git_index_entry *e = git_index_get_byindex(index, i);
		int ignored = 0;

		if ((err = git_ignore_path_is_ignored(&ignored, repo,
						      e->path)) < 0)
			return sdf_git_error(err, "cannot check '%s'", e->path);
		if (!ignored) {
			i++;
			continue;
		}
		if ((err = git_index_remove(index, e->path, 0)) < 0)
			return sdf_git_error(err, "cannot unindex");
		res->removed++;
	}
	return 0;
}

/* A lock file left by a process that died (we hold the store lock). */
static void clear_stale_index_lock(const sdf_store *st)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/index.lock", st->path);
	unlink(p);
}

static int collect(git_index *index, git_diff *diff, struct pool *p,
		   unsigned workers, const sdf_track_options *opts,
		   sdf_track_result *res, int *gitignore_changed)
{
	size_t n = git_diff_num_deltas(diff);
	int err;

	/* removals first, so a path can turn from directory to file */
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if (is_gitignore(d->old_file.path) ||
		    is_gitignore(d->new_file.path))
			*gitignore_changed = 1;
		if (d->status != GIT_DELTA_DELETED)
			continue;
		if ((err = git_index_remove_bypath(index, d->old_file.path)) <
		    0)
			return sdf_git_error(err, "cannot unindex '%s'",
					     d->old_file.path);
		res->removed++;
	}
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if (d->status == GIT_DELTA_DELETED ||
		    d->status == GIT_DELTA_IGNORED ||
		    d->status == GIT_DELTA_UNMODIFIED)
			continue;
		p->jobs[p->njobs++].path = d->new_file.path;
		if (p->njobs == BATCH &&
		    (err = flush_batch(index, p, workers, opts, res)) < 0)
			return err;
	}
	return flush_batch(index, p, workers, opts, res);
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
	git_diff_options dopts = GIT_DIFF_OPTIONS_INIT;
	git_index *index = NULL;
	git_diff *diff = NULL;
	git_oid tree;
	struct pool pool;
	char stamp[17];
	int err, locked = 0, gitignore_changed = 0, excl;

	memset(out, 0, sizeof(*out));
	memset(&pool, 0, sizeof(pool));
	pthread_mutex_init(&pool.lock, NULL);
	pool.st = st;
	if (opts_in)
		opts = *opts_in;
	if (!opts.workers)
		opts.workers = default_workers();
	if ((err = sdf_label_check(opts.label)) < 0)
		goto done;
	if (!st->worktree) {
		err = sdf_error_set(SDF_EINVAL, "the store '%s' has no worktree",
				    st->path);
		goto done;
	}
	if (!(pool.jobs = sdf_calloc(BATCH, sizeof(*pool.jobs)))) {
		err = SDF_EBUDGET;
		goto done;
	}
	if ((err = sdf_store_lock(st, 1)) < 0)
		goto done;
	locked = 1;
	clear_stale_index_lock(st);
	if ((excl = sync_exclude(st)) < 0) {
		err = excl;
		goto done;
	}
	if ((err = ignore_stamp(stamp, st->repo, st)) < 0)
		goto done;
	if ((err = git_repository_index(&index, st->repo)) < 0 ||
	    (err = git_index_read(index, 1)) < 0) {
		err = sdf_git_error(err, "cannot read the store's index");
		goto done;
	}
	dopts.flags = GIT_DIFF_INCLUDE_UNTRACKED |
		      GIT_DIFF_RECURSE_UNTRACKED_DIRS |
		      GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_UPDATE_INDEX |
		      GIT_DIFF_SKIP_BINARY_CHECK | GIT_DIFF_INCLUDE_UNREADABLE |
		      GIT_DIFF_DISABLE_PATHSPEC_MATCH;
	if ((err = git_diff_index_to_workdir(&diff, st->repo, index, &dopts)) <
	    0) {
		err = sdf_git_error(err, "cannot scan the worktree '%s'",
				    st->worktree);
		goto done;
	}
	if ((err = collect(index, diff, &pool, opts.workers, &opts, out,
			   &gitignore_changed)) < 0)
		goto done;
	if ((gitignore_changed || excl || stamp_changed(st->repo, stamp)) &&
	    (err = drop_ignored(index, st->repo, out)) < 0)
		goto done;
	if ((err = git_index_write_tree(&tree, index)) < 0) {
		err = sdf_git_error(err, "cannot write the tree");
		goto done;
	}
	if ((err = git_index_write(index)) < 0) {
		err = sdf_git_error(err, "cannot write the store's index");
		goto done;
	}
	if (stamp_changed(st->repo, stamp) &&
	    (err = save_stamp(st->repo, stamp)) < 0)
		goto done;
	for (size_t i = 0; i < git_index_entrycount(index); i++) {
		const git_index_entry *e = git_index_get_byindex(index, i);
		out->files++;
		out->bytes += e->file_size;
	}
	err = sdf_snapshot_record(out, st->repo, &tree, opts.label);
done:
	if (pool.jobs) {
		reset_pool(&pool);
		sdf_free(pool.jobs);
	}
	pthread_mutex_destroy(&pool.lock);
	git_diff_free(diff);
	git_index_free(index);
	if (locked)
		sdf_store_unlock(st);
	return err;
}
