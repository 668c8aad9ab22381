/*
 * Retention policy (the store's git config), pinned snapshots
 * (refs/snapdiff/pinned/<id>) and measuring a store on disk.
 */
#include "prune_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_DAYS "snapdiff.keepDays"
#define KEY_COUNT "snapdiff.keepCount"
#define KEY_BYTES "snapdiff.maxBytes"
#define KEY_GRACE "snapdiff.pruneGrace"

/* ---- policy ---------------------------------------------------------- */

int sdf_parse_duration(const char *s, int64_t *out)
{
	char *end;
	unsigned long long v;
	int64_t mul = 1;

	if (!s || !*s || *s == '-' || *s == '+')
		return sdf_error_set(SDF_EINVAL, "not a duration: '%s'",
		                     s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return sdf_error_set(SDF_EINVAL, "not a duration: '%s'", s);
	if (*end) {
		switch (*end) {
		case 's':
			mul = 1;
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		default:
			return sdf_error_set(SDF_EINVAL,
			                     "not a duration: '%s' (use s, m, "
			                     "h or d)",
			                     s);
		}
		if (end[1])
			return sdf_error_set(SDF_EINVAL, "not a duration: '%s'",
			                     s);
	}
	if (v > (unsigned long long)(INT64_MAX / mul))
		return sdf_error_set(SDF_EINVAL, "duration too long: '%s'", s);
	*out = (int64_t)v * mul;
	return 0;
}

static int config_path(char *buf, size_t len, const sdf_store *st)
{
	if ((size_t)snprintf(buf, len, "%s/config", st->path) >= len)
		return sdf_error_set(SDF_EINVAL, "store path too long");
	return 0;
}

/* A fresh read of the config file: another process may have changed it. */
static int open_config(git_config **out, const sdf_store *st)
{
	char p[PATH_MAX];
	int err;

	*out = NULL;
	if ((err = config_path(p, sizeof(p), st)) < 0)
		return err;
	if ((err = git_config_open_ondisk(out, p)) < 0)
		return sdf_git_error(err, "cannot read the store's config");
	return 0;
}

static int get_u64(uint64_t *out, git_config *cfg, const char *key,
                   uint64_t max)
{
	int64_t v;
	int err = git_config_get_int64(&v, cfg, key);

	if (err == GIT_ENOTFOUND) {
		*out = 0;
		return 0;
	}
	if (err < 0)
		return sdf_git_error(err, "bad %s in the store's config", key);
	if (v < 0 || (uint64_t)v > max)
		return sdf_error_set(SDF_EINVAL,
		                     "%s in the store's config is out of range",
		                     key);
	*out = (uint64_t)v;
	return 0;
}

int sdf_retention_get(sdf_retention *out, sdf_store *st)
{
	git_config *cfg = NULL;
	git_buf buf = GIT_BUF_INIT;
	uint64_t v;
	int err;

	memset(out, 0, sizeof(*out));
	out->grace_seconds = SDF_PRUNE_GRACE_DEFAULT;
	if ((err = open_config(&cfg, st)) < 0)
		return err;
	if ((err = get_u64(&v, cfg, KEY_DAYS, UINT32_MAX)) < 0)
		goto done;
	out->keep_days = (uint32_t)v;
	if ((err = get_u64(&v, cfg, KEY_COUNT, UINT32_MAX)) < 0)
		goto done;
	out->keep_count = (uint32_t)v;
	if ((err = get_u64(&out->max_bytes, cfg, KEY_BYTES, INT64_MAX)) < 0)
		goto done;
	err = git_config_get_string_buf(&buf, cfg, KEY_GRACE);
	if (err == GIT_ENOTFOUND)
		err = 0;
	else if (err < 0)
		err = sdf_git_error(err, "cannot read %s", KEY_GRACE);
	else if ((err = sdf_parse_duration(buf.ptr, &out->grace_seconds)) < 0)
		sdf_error_prefix("%s in the store's config", KEY_GRACE);
done:
	git_buf_dispose(&buf);
	git_config_free(cfg);
	return err;
}

static int set_or_unset(git_config *cfg, const char *key, uint64_t v)
{
	int err;

	if (v)
		err = git_config_set_int64(cfg, key, (int64_t)v);
	else if ((err = git_config_delete_entry(cfg, key)) == GIT_ENOTFOUND)
		err = 0;
	return err < 0 ? sdf_git_error(err, "cannot write %s", key) : 0;
}

int sdf_retention_set(sdf_store *st, const sdf_retention *p)
{
	git_config *cfg = NULL;
	char grace[32];
	int err;

	if (p->grace_seconds < 0 || p->max_bytes > INT64_MAX)
		return sdf_error_set(SDF_EINVAL, "retention out of range");
	if ((err = sdf_store_lock(st, 1)) < 0)
		return err;
	if ((err = open_config(&cfg, st)) < 0)
		goto done;
	if ((err = set_or_unset(cfg, KEY_DAYS, p->keep_days)) < 0 ||
	    (err = set_or_unset(cfg, KEY_COUNT, p->keep_count)) < 0 ||
	    (err = set_or_unset(cfg, KEY_BYTES, p->max_bytes)) < 0)
		goto done;
	snprintf(grace, sizeof(grace), "%lld", (long long)p->grace_seconds);
	if (p->grace_seconds == SDF_PRUNE_GRACE_DEFAULT) {
		if ((err = git_config_delete_entry(cfg, KEY_GRACE)) ==
		    GIT_ENOTFOUND)
			err = 0;
	} else {
		err = git_config_set_string(cfg, KEY_GRACE, grace);
	}
	if (err < 0)
		err = sdf_git_error(err, "cannot write %s", KEY_GRACE);
done:
	git_config_free(cfg);
	sdf_store_unlock(st);
	return err;
}

/* ---- pins ------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sdf_pinned_ids_free(char **ids, size_t count)
{
	for (size_t i = 0; ids && i < count; i++)
		sdf_free(ids[i]);
	sdf_free(ids);
}

int sdf_pinned_ids(char ***out, size_t *count, git_repository *repo)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	char **ids = NULL, **grown;
	size_t n = 0, cap = 0;
	int err;

	*out = NULL;
	*count = 0;
	if ((err = sdf_ref_iterator(&it, repo, SDF_PINNED_REF_PREFIX "*")) <
	    0) {
		err = sdf_git_error(err, "cannot list pinned snapshots");
		goto done;
	}
	while ((err = sdf_ref_next(&ref, it)) == 0) {
		const char *id =
		    git_reference_name(ref) + strlen(SDF_PINNED_REF_PREFIX);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if (!(grown =
			          sdf_reallocarray(ids, cap, sizeof(*ids)))) {
				err = SDF_EBUDGET;
				goto done;
			}
			ids = grown;
		}
		if (!(ids[n] = sdf_strdup(id))) {
			err = SDF_EBUDGET;
			goto done;
		}
		n++;
		git_reference_free(ref);
		ref = NULL;
	}
	if (err != GIT_ITEROVER) {
		err = sdf_git_error(err, "cannot list pinned snapshots");
		goto done;
	}
	err = 0;
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_str);
	*out = ids;
	*count = n;
	ids = NULL;
	n = 0;
done:
	sdf_pinned_ids_free(ids, n);
	git_reference_free(ref);
	git_reference_iterator_free(it);
	return err;
}

int sdf_pinned_has(char *const *ids, size_t count, const char *id)
{
	return ids && count &&
	       bsearch(&id, ids, count, sizeof(*ids), cmp_str) != NULL;
}

static int names(const sdf_snapshot_info *s, const char *spec)
{
	return !strcmp(s->id, spec) || (s->label && !strcmp(s->label, spec)) ||
	       !strcmp(s->tree, spec) || !strcmp(s->commit, spec);
}

int sdf_snapshot_pin(size_t *count, sdf_store *st, const char *spec, int pin)
{
	sdf_snapshot_info *list = NULL;
	char **pins = NULL;
	size_t n = 0, npins = 0, matched = 0, changed = 0;
	char refname[128];
	int err;

	*count = 0;
	if (!spec || !*spec)
		return sdf_error_set(SDF_EINVAL, "pin: no snapshot named");
	if ((err = sdf_store_lock(st, 1)) < 0)
		return err;
	if ((err = sdf_snapshot_log(&list, &n, st)) < 0 ||
	    (err = sdf_pinned_ids(&pins, &npins, st->repo)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		git_oid commit;
		git_reference *ref = NULL;
		int was;

		if (!names(&list[i], spec))
			continue;
		matched++;
		was = sdf_pinned_has(pins, npins, list[i].id);
		if (!!was == !!pin)
			continue;
		snprintf(refname, sizeof(refname), "%s%s",
		         SDF_PINNED_REF_PREFIX, list[i].id);
		if (pin) {
			git_oid_fromstr(&commit, list[i].commit);
			err = sdf_ref_create(&ref, st->repo, refname, &commit,
			                     1, "snapdiff pin");
			git_reference_free(ref);
		} else {
			err = git_reference_remove(st->repo, refname);
		}
		if (err < 0) {
			err = sdf_git_error(err, "cannot %s '%s'",
			                    pin ? "pin" : "unpin", list[i].id);
			goto done;
		}
		changed++;
	}
	/* a pin whose snapshot ref is gone can still be dropped by its id */
	if (!pin && !matched && sdf_pinned_has(pins, npins, spec)) {
		snprintf(refname, sizeof(refname), "%s%s",
		         SDF_PINNED_REF_PREFIX, spec);
		if ((err = git_reference_remove(st->repo, refname)) < 0) {
			err = sdf_git_error(err, "cannot unpin '%s'", spec);
			goto done;
		}
		matched = changed = 1;
	}
	if (!matched)
		err = sdf_error_set(
		    SDF_ENOTFOUND, "no snapshot id, label or tree '%s' in '%s'",
		    spec, st->path);
	*count = changed;
done:
	sdf_pinned_ids_free(pins, npins);
	sdf_snapshot_log_free(list, n);
	sdf_store_unlock(st);
	return err;
}

int sdf_snapshot_is_pinned(sdf_store *st, const char *id)
{
	git_reference *ref = NULL;
	char refname[128];
	int err;

	if ((size_t)snprintf(refname, sizeof(refname), "%s%s",
	                     SDF_PINNED_REF_PREFIX, id) >= sizeof(refname))
		return 0;
	err = sdf_ref_lookup(&ref, st->repo, refname);
	git_reference_free(ref);
	if (err == GIT_ENOTFOUND || err == GIT_EINVALIDSPEC)
		return 0;
	return err < 0 ? sdf_git_error(err, "cannot read %s", refname) : 1;
}

/* ---- measuring ------------------------------------------------------- */

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

static int after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* Object count of a pack index (v1 or v2): the last fan-out entry. */
static uint64_t idx_objects(int dfd, const char *name)
{
	unsigned char b[8 + 256 * 4];
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t at;

	if (fd < 0)
		return 0;
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n < 256 * 4)
		return 0;
	at = (!memcmp(b, "\377tOc", 4) ? 8 : 0) + 255 * 4;
	if ((size_t)n < at + 4)
		return 0;
	return ((uint64_t)b[at] << 24) | ((uint64_t)b[at + 1] << 16) |
	       ((uint64_t)b[at + 2] << 8) | b[at + 3];
}

enum where { W_OTHER, W_OBJECTS, W_FANOUT, W_PACK };

static int scan_dir(sdf_store_scan *s, int fd0, enum where where,
                    unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int err = 0;

	if (depth > 64)
		return sdf_error_set(SDF_EINVAL, "store nested too deep");
	if (!(d = fdopendir(fd0))) {
		close(fd0);
		return sdf_error_set_errno(SDF_EIO, errno,
		                           "cannot read the store");
	}
	while (!err && (errno = 0, de = readdir(d))) {
		struct stat sb;
		const char *name = de->d_name;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) /* deleted meanwhile */
				continue;
			err = sdf_error_set_errno(SDF_EIO, errno,
			                          "cannot stat '%s'", name);
			break;
		}
		s->bytes += (uint64_t)sb.st_blocks * 512;
		if (S_ISDIR(sb.st_mode)) {
			enum where w = W_OTHER;
			int fd;

			if (where == W_OBJECTS)
				w = !strcmp(name, "pack") ? W_PACK
				    : strlen(name) == 2 && is_hex(name, 2)
				        ? W_FANOUT
				        : W_OTHER;
			else if (where == W_OTHER && depth == 0 &&
			         !strcmp(name, "objects"))
				w = W_OBJECTS;
			fd = openat(dirfd(d), name,
			            O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                O_CLOEXEC);
			if (fd < 0) {
				if (errno == ENOENT)
					continue;
				err = sdf_error_set_errno(
				    SDF_EIO, errno, "cannot open '%s'", name);
				break;
			}
			err = scan_dir(s, fd, w, depth + 1);
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		s->files++;
		s->apparent_bytes += (uint64_t)sb.st_size;
		if (where == W_FANOUT && strlen(name) == 38 &&
		    is_hex(name, 38)) {
			s->loose_objects++;
			s->loose_bytes += (uint64_t)sb.st_blocks * 512;
			if (after(&sb.st_mtim, &s->cutoff)) {
				s->young_objects++;
				s->young_bytes += (uint64_t)sb.st_blocks * 512;
			}
		} else if (where == W_PACK) {
			size_t l = strlen(name);
			s->pack_bytes += (uint64_t)sb.st_blocks * 512;
			if (l > 4 && !strcmp(name + l - 4, ".idx")) {
				s->packs++;
				s->packed_objects +=
				    idx_objects(dirfd(d), name);
			}
		}
	}
	if (!err && errno)
		err = sdf_error_set_errno(SDF_EIO, errno,
		                          "cannot read the store");
	closedir(d);
	return err;
}

int sdf_store_scan_run(sdf_store_scan *out, const char *path)
{
	struct timespec cutoff = out->cutoff;
	struct stat sb;
	int fd;

	memset(out, 0, sizeof(*out));
	out->cutoff = cutoff;
	if (lstat(path, &sb) < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "cannot stat '%s'",
		                           path);
	out->bytes = (uint64_t)sb.st_blocks * 512;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "cannot open '%s'",
		                           path);
	return scan_dir(out, fd, W_OTHER, 0);
}

int sdf_store_du(sdf_store_usage *out, sdf_store *st)
{
	sdf_store_scan s;
	sdf_snapshot_info *list = NULL;
	char **pins = NULL;
	size_t n = 0, npins = 0;
	int err;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	if ((err = sdf_store_lock(st, 0)) < 0)
		return err;
	if ((err = sdf_store_scan_run(&s, st->path)) < 0 ||
	    (err = sdf_snapshot_log(&list, &n, st)) < 0 ||
	    (err = sdf_pinned_ids(&pins, &npins, st->repo)) < 0)
		goto done;
	out->bytes = s.bytes;
	out->apparent_bytes = s.apparent_bytes;
	out->files = s.files;
	out->loose_objects = s.loose_objects;
	out->loose_bytes = s.loose_bytes;
	out->packs = s.packs;
	out->packed_objects = s.packed_objects;
	out->pack_bytes = s.pack_bytes;
	out->objects = s.loose_objects + s.packed_objects;
	out->snapshots = n;
	for (size_t i = 0; i < n; i++)
		out->pinned += sdf_pinned_has(pins, npins, list[i].id);
	if (n) {
		snprintf(out->oldest, sizeof(out->oldest), "%s", list[0].id);
		snprintf(out->newest, sizeof(out->newest), "%s",
		         list[n - 1].id);
		out->oldest_time = list[0].time;
		out->newest_time = list[n - 1].time;
	}
done:
	sdf_pinned_ids_free(pins, npins);
	sdf_snapshot_log_free(list, n);
	sdf_store_unlock(st);
	return err;
}
