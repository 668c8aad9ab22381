/*
 * A guard in front of libgit2's reader of loose objects.
 *
 * libgit2 1.5 loops forever inflating a loose object whose zlib stream is
 * cut short after the part it has read (zlib answers Z_BUF_ERROR, no
 * progress, and it asks again): one truncated tree in a store hangs a diff,
 * a restore or a daemon worker at full CPU. This backend is asked first:
 * it inflates the loose file itself, with a bounded buffer, and reports a
 * damaged object as an error; a sound one (or one that is not loose) is
 * passed on to libgit2's own backends.
 */
#include "fsutil_int.h"
#include "store_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define GUARD_PRIORITY 100 /* before the loose (1) and packed (2) ones */
#define CHUNK (16 * 1024)
#define HEADER_MAX 64

struct guard {
	git_odb_backend parent;
	char *objects; /* STORE/objects */
};

static int damaged(const char *hex, const char *why)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "object %s is damaged: %s", hex, why);
	git_error_set_str(GIT_ERROR_ODB, msg);
	return GIT_ERROR;
}

/* Parses "TYPE SIZE\0" at the start of head; returns its length, 0 while
 * incomplete, -1 when it cannot be a header. */
static long parse_header(const char *head, size_t n, unsigned long long *size)
{
	const char *nul = memchr(head, '\0', n), *sp;
	char *end;

	if (!nul)
		return n >= HEADER_MAX ? -1 : 0;
	sp = memchr(head, ' ', (size_t)(nul - head));
	if (!sp || sp[1] < '0' || sp[1] > '9')
		return -1;
	errno = 0;
	*size = strtoull(sp + 1, &end, 10);
	if (errno || end != nul)
		return -1;
	return (long)(nul - head) + 1;
}

/*
 * GIT_PASSTHROUGH when id is not loose here, or its loose file is sound up
 * to the header (whole: to the end of the stream, of the stated length);
 * else an error.
 */
static int check_loose(struct guard *g, const git_oid *id, int whole)
{
	char path[PATH_MAX], hex[GIT_OID_HEXSZ + 1], head[HEADER_MAX];
	unsigned char *in = NULL, *out = NULL;
	unsigned long long size = 0, total = 0;
	size_t hn = 0;
	long hlen = 0;
	z_stream zs;
	int fd, zr = Z_OK, err = GIT_PASSTHROUGH, zinit = 0;

	git_oid_tostr(hex, sizeof(hex), id);
	if ((size_t)snprintf(path, sizeof(path), "%s/%.2s/%s", g->objects, hex,
	                     hex + 2) >= sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return GIT_PASSTHROUGH; /* packed, absent or unreadable */
	memset(&zs, 0, sizeof(zs));
	sdf_zstream_use_budget(&zs);
	if (!(in = sdf_malloc(CHUNK)) || !(out = sdf_malloc(CHUNK)) ||
	    inflateInit(&zs) != Z_OK) {
		git_error_set_str(GIT_ERROR_NOMEMORY, "out of memory");
		err = GIT_ERROR;
		goto done;
	}
	zinit = 1;
	for (;;) {
		if (zs.avail_in == 0) {
			ssize_t n = read(fd, in, CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				err = damaged(hex, strerror(errno));
				goto done;
			}
			if (n == 0)
				break; /* the file ends before the stream */
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		zs.next_out = out;
		zs.avail_out = CHUNK;
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			err = damaged(hex, zs.msg ? zs.msg : "bad zlib data");
			goto done;
		}
		size_t got = CHUNK - zs.avail_out;
		if (hlen == 0 && got) {
			size_t take =
			    got < HEADER_MAX - hn ? got : HEADER_MAX - hn;
			memcpy(head + hn, out, take);
			hn += take;
			if ((hlen = parse_header(head, hn, &size)) < 0) {
				err = damaged(hex, "bad header");
				goto done;
			}
			if (hlen > 0 && !whole)
				goto done; /* the header is all that is read */
		}
		total += got;
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_BUF_ERROR && zs.avail_in) {
			err = damaged(hex, "bad zlib data");
			goto done;
		}
	}
	if (hlen <= 0 || zr != Z_STREAM_END)
		err = damaged(hex, "truncated");
	else if (total != (unsigned long long)hlen + size)
		err = damaged(hex, "wrong length");
done:
	if (zinit)
		inflateEnd(&zs);
	sdf_free(in);
	sdf_free(out);
	close(fd);
	return err;
}

static int guard_read(void **data, size_t *len, git_object_t *type,
                      git_odb_backend *b, const git_oid *id)
{
	(void)data;
	(void)len;
	(void)type;
	return check_loose((struct guard *)b, id, 1);
}

static int guard_read_header(size_t *len, git_object_t *type,
                             git_odb_backend *b, const git_oid *id)
{
	(void)len;
	(void)type;
	return check_loose((struct guard *)b, id, 0);
}

static int guard_read_prefix(git_oid *out, void **data, size_t *len,
                             git_object_t *type, git_odb_backend *b,
                             const git_oid *short_id, size_t n)
{
	(void)out;
	(void)data;
	(void)len;
	(void)type;
	/* a full id is read as such; abbreviations go to libgit2 */
	return n >= GIT_OID_HEXSZ ? check_loose((struct guard *)b, short_id, 1)
	                          : GIT_PASSTHROUGH;
}

static void guard_free(git_odb_backend *b)
{
	struct guard *g = (struct guard *)b;

	sdf_free(g->objects);
	sdf_free(g);
}

int sdf_store_guard_odb(git_repository *repo, const char *store_path)
{
	git_odb *odb = NULL;
	struct guard *g;
	size_t len = strlen(store_path) + sizeof("/objects");
	int err;

	if (!(g = sdf_calloc(1, sizeof(*g))) ||
	    !(g->objects = sdf_malloc(len))) {
		sdf_free(g);
		return SDF_EBUDGET;
	}
	snprintf(g->objects, len, "%s/objects", store_path);
	git_odb_init_backend(&g->parent, GIT_ODB_BACKEND_VERSION);
	g->parent.read = guard_read;
	g->parent.read_header = guard_read_header;
	g->parent.read_prefix = guard_read_prefix;
	g->parent.free = guard_free;
	/*
	 * The object database is opened here and handed to the repository,
	 * not made by git_repository_odb(): libgit2 1.5.1 leaks the one it
	 * makes when loading it fails half way (a store deleted meanwhile).
	 */
	if ((err = git_odb_open(&odb, g->objects)) < 0) {
		guard_free(&g->parent);
		return sdf_git_error(err, "cannot open the store's objects");
	}
	if ((err = git_odb_add_backend(odb, &g->parent, GUARD_PRIORITY)) < 0) {
		guard_free(&g->parent);
		git_odb_free(odb);
		return sdf_git_error(err, "cannot open the store's objects");
	}
	err = git_repository_set_odb(repo, odb);
	git_odb_free(odb);
	if (err < 0)
		return sdf_git_error(err, "cannot open the store's objects");
	return 0;
}
