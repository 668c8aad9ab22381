/*
 * The streaming blob reader. libgit2 only reads whole objects
 * (git_blob_lookup and git_odb_read inflate all of it; git_odb_open_rstream
 * maps the whole compressed file), so loose objects are read here with
 * read() and inflated chunk by chunk: a few hundred KiB whatever the blob's
 * size. The inflated bytes are hashed as they pass, and at the end the
 * length, zlib's end of stream and the SHA-1 must all match.
 *
 * A packed object (after `git gc` on the store) has no cheap streaming path
 * here, so it is read whole through libgit2, but only up to a cap.
 */
#include "blob_reader_int.h"
#include "fsutil_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <nettle/sha1.h>
#include <zlib.h>

#define IN_CHUNK (64 * 1024)
#define HEADER_MAX 32 /* "blob " + 20 digits + NUL, with room to spare */
#define ALTERNATES_MAX (64 * 1024)
#define EMPTY_BLOB "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"

/* ---- SHA-1 of loose objects as they stream: nettle (SHA-NI where the
 * processor has it) ---- */

typedef struct sha1_ctx sha1_ctx;

static void hash_update(sha1_ctx *c, const void *data, size_t n)
{
	sha1_update(c, n, data);
}

static void hash_final(sha1_ctx *c, unsigned char out[20])
{
	sha1_digest(c, SHA1_DIGEST_SIZE, out);
}

static void blob_header(sha1_ctx *c, uint64_t size)
{
	char hdr[32];
	int n =
	    snprintf(hdr, sizeof(hdr), "blob %llu", (unsigned long long)size);

	sha1_init(c);
	hash_update(c, hdr, (size_t)n + 1);
}

int sdf_blob_id_of_fd(git_oid *out, int fd, uint64_t size, void *buf,
                      size_t cap)
{
	sha1_ctx c;
	uint64_t total = 0;
	ssize_t n;

	blob_header(&c, size);
	for (;;) {
		n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sdf_error_set_errno(SDF_EIO, errno, "read");
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > size)
			break;
		hash_update(&c, buf, (size_t)n);
	}
	if (total != size)
		return sdf_error_set(SDF_ECHANGED, "changed while read");
	hash_final(&c, out->id);
	return 0;
}

void sdf_blob_id_of_buf(git_oid *out, const void *data, size_t len)
{
	sha1_ctx c;

	blob_header(&c, len);
	hash_update(&c, data, len);
	hash_final(&c, out->id);
}

/* ---- the reader ------------------------------------------------------- */

struct sdf_blob_reader {
	git_oid id;
	char hex[GIT_OID_HEXSZ + 1];
	uint64_t size; /* content bytes, as the header says */
	uint64_t done; /* content bytes handed out */
	int error;     /* sticky: once damaged, always damaged */
	int finished;
	/* loose */
	int fd;
	int in_eof;
	int stream_end;
	int zs_live;
	z_stream zs;
	unsigned char *in;
	unsigned char pending[HEADER_MAX];
	size_t pending_len, pending_pos;
	sha1_ctx sha;
	int verify; /* check the SHA-1 at the end */
	/* packed */
	git_odb_object *packed;
};

static int corrupt(sdf_blob_reader *r, const char *why)
{
	r->error = sdf_error_set(SDF_ECORRUPT, "object %s is damaged: %s",
	                         r->hex, why);
	return r->error;
}

/* One inflate() call, reading more input first when it is all used. */
static int inflate_step(sdf_blob_reader *r)
{
	int rc;

	if (r->zs.avail_in == 0 && !r->in_eof) {
		ssize_t n;
		while ((n = read(r->fd, r->in, IN_CHUNK)) < 0 && errno == EINTR)
			;
		if (n < 0)
			return r->error = sdf_error_set_errno(
			           SDF_EIO, errno, "cannot read object %s",
			           r->hex);
		if (n == 0)
			r->in_eof = 1;
		r->zs.next_in = r->in;
		r->zs.avail_in = (uInt)n;
	}
	rc = inflate(&r->zs, Z_NO_FLUSH);
	switch (rc) {
	case Z_OK:
		return 0;
	case Z_STREAM_END:
		r->stream_end = 1;
		return 0;
	case Z_BUF_ERROR:
		if (r->zs.avail_in == 0 && r->in_eof)
			return corrupt(r, "truncated");
		return 0;
	case Z_MEM_ERROR:
		return r->error = sdf_error_set(SDF_EBUDGET,
		                                "inflating object %s: memory "
		                                "budget exceeded",
		                                r->hex);
	default:
		return corrupt(r, r->zs.msg ? r->zs.msg : "bad zlib data");
	}
}

/* Inflates into buf[0..cap) until it is full or the stream ends. */
static int inflate_into(size_t *got, sdf_blob_reader *r, unsigned char *buf,
                        size_t cap)
{
	int err;

	r->zs.next_out = buf;
	r->zs.avail_out = (uInt)cap;
	while (r->zs.avail_out > 0 && !r->stream_end)
		if ((err = inflate_step(r)) < 0)
			return err;
	*got = cap - r->zs.avail_out;
	return 0;
}

static int parse_header(sdf_blob_reader *r)
{
	unsigned char *nul, *p;
	size_t got, hlen;
	uint64_t size = 0;
	int err;

	r->zs.next_out = r->pending;
	r->zs.avail_out = HEADER_MAX;
	while (
	    !(nul = memchr(r->pending, '\0', HEADER_MAX - r->zs.avail_out))) {
		if (r->zs.avail_out == 0 || r->stream_end)
			return corrupt(r, "no object header");
		if ((err = inflate_step(r)) < 0)
			return err;
	}
	got = HEADER_MAX - r->zs.avail_out;
	hlen = (size_t)(nul - r->pending) + 1;
	if (memcmp(r->pending, "blob ", 5) != 0) {
		p = memchr(r->pending, ' ', hlen);
		return r->error = sdf_error_set(
		           SDF_EINVAL, "object %s is a %.*s, not a blob",
		           r->hex, p ? (int)(p - r->pending) : 0,
		           (const char *)r->pending);
	}
	p = r->pending + 5;
	if (p == nul || (*p == '0' && p + 1 != nul))
		return corrupt(r, "bad size in header");
	for (; p < nul; p++) {
		if (*p < '0' || *p > '9' || size > (UINT64_MAX - 9) / 10)
			return corrupt(r, "bad size in header");
		size = size * 10 + (uint64_t)(*p - '0');
	}
	r->size = size;
	if (r->verify)
		hash_update(&r->sha, r->pending, hlen);
	r->pending_pos = hlen;
	r->pending_len = got;
	if (got - hlen > size)
		return corrupt(r, "longer than its header says");
	return 0;
}

/* After the last content byte: the stream must end here, hash must match. */
static int finish(sdf_blob_reader *r)
{
	unsigned char extra, digest[20];
	size_t got;
	int err;

	if (r->fd >= 0) {
		if ((err = inflate_into(&got, r, &extra, 1)) < 0)
			return err;
		if (got)
			return corrupt(r, "longer than its header says");
		if (r->verify) {
			hash_final(&r->sha, digest);
			if (memcmp(digest, r->id.id, 20) != 0)
				return corrupt(r, "its content does not "
				                  "match its id");
		}
		close(r->fd);
		r->fd = -1;
	}
	r->finished = 1;
	return 0;
}

static int read_loose(size_t *nread, sdf_blob_reader *r, unsigned char *buf,
                      size_t want)
{
	size_t n = 0, got;
	int err;

	if (r->pending_pos < r->pending_len) {
		n = r->pending_len - r->pending_pos;
		if (n > want)
			n = want;
		memcpy(buf, r->pending + r->pending_pos, n);
		r->pending_pos += n;
	}
	while (n < want) {
		size_t chunk = want - n > UINT_MAX ? UINT_MAX : want - n;
		if ((err = inflate_into(&got, r, buf + n, chunk)) < 0)
			return err;
		n += got;
		if (r->stream_end && n < want)
			return corrupt(r, "shorter than its header says");
	}
	if (r->verify)
		hash_update(&r->sha, buf, n);
	*nread = n;
	return 0;
}

int sdf_blob_reader_read(size_t *nread, sdf_blob_reader *r, void *buf,
                         size_t cap)
{
	uint64_t left;
	size_t want;
	int err;

	*nread = 0;
	if (r->error)
		return r->error;
	if (cap == 0)
		return sdf_error_set(SDF_EINVAL, "blob reader: empty buffer");
	if (r->finished)
		return 0;
	left = r->size - r->done;
	want = left < cap ? (size_t)left : cap;
	if (want == 0)
		return left ? 0 : finish(r);
	if (r->packed) {
		memcpy(buf,
		       (const char *)git_odb_object_data(r->packed) + r->done,
		       want);
	} else if ((err = read_loose(&want, r, buf, want)) < 0) {
		return err;
	}
	r->done += want;
	/* verify before handing out the last bytes */
	if (r->done == r->size && (err = finish(r)) < 0)
		return err;
	*nread = want;
	return 0;
}

uint64_t sdf_blob_reader_size(const sdf_blob_reader *r)
{
	return r->size;
}

void sdf_blob_reader_free(sdf_blob_reader *r)
{
	if (!r)
		return;
	if (r->zs_live)
		inflateEnd(&r->zs);
	if (r->fd >= 0)
		close(r->fd);
	sdf_free(r->in);
	git_odb_object_free(r->packed);
	sdf_free(r);
}

/* Opens dir/xx/yyyy...; -1 with errno ENOENT when it is not there. */
static int open_loose_in(const char *dir, size_t dlen, const char *hex)
{
	char p[PATH_MAX];

	while (dlen && dir[dlen - 1] == '/')
		dlen--;
	if (dlen + GIT_OID_HEXSZ + 3 >= sizeof(p)) {
		errno = ENOENT;
		return -1;
	}
	snprintf(p, sizeof(p), "%.*s/%.2s/%s", (int)dlen, dir, hex, hex + 2);
	return open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

/*
 * The loose object in the repository's objects directory or one of its
 * alternates (one level, as listed in objects/info/alternates).
 */
static int open_loose(int *fd, git_repository *repo, const char *hex)
{
	char objects[PATH_MAX], alt[PATH_MAX];
	char *list = NULL, *line, *save = NULL;
	ssize_t n;
	int afd, err = 0;

	*fd = -1;
	if ((size_t)snprintf(objects, sizeof(objects), "%sobjects",
	                     git_repository_commondir(repo)) >= sizeof(objects))
		return sdf_error_set(SDF_EINVAL, "store path too long");
	if ((*fd = open_loose_in(objects, strlen(objects), hex)) >= 0)
		return 0;
	if (errno != ENOENT)
		return sdf_error_set_errno(SDF_EIO, errno,
		                           "cannot open object %s", hex);
	snprintf(alt, sizeof(alt), "%s/info/alternates", objects);
	if ((afd = open(alt, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (!(list = sdf_malloc(ALTERNATES_MAX + 1))) {
		close(afd);
		return SDF_EBUDGET;
	}
	n = read(afd, list, ALTERNATES_MAX);
	close(afd);
	list[n > 0 ? n : 0] = '\0';
	for (line = strtok_r(list, "\n", &save); line && *fd < 0;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!*line || *line == '#')
			continue;
		if (*line == '/')
			snprintf(alt, sizeof(alt), "%s", line);
		else
			snprintf(alt, sizeof(alt), "%s/%s", objects, line);
		*fd = open_loose_in(alt, strlen(alt), hex);
		if (*fd < 0 && errno != ENOENT) {
			err = sdf_error_set_errno(SDF_EIO, errno,
			                          "cannot open object %s", hex);
			break;
		}
	}
	sdf_free(list);
	return err;
}

static int open_packed(sdf_blob_reader *r, git_repository *repo, uint64_t cap)
{
	git_odb *odb = NULL;
	git_object_t type;
	size_t len;
	int err;

	if ((err = git_repository_odb(&odb, repo)) < 0)
		return sdf_git_error(err, "cannot open the object store");
	err = git_odb_read_header(&len, &type, odb, &r->id);
	if (err == GIT_ENOTFOUND) {
		git_error_clear();
		git_odb_free(odb);
		if (!strcmp(r->hex, EMPTY_BLOB)) {
			r->finished = 1; /* git knows it without storing it */
			return 0;
		}
		return sdf_error_set(SDF_ENOTFOUND, "no object %s in the store",
		                     r->hex);
	}
	if (err < 0) {
		err = sdf_git_error(err, "cannot read object %s", r->hex);
		goto done;
	}
	if (type != GIT_OBJECT_BLOB) {
		err = sdf_error_set(SDF_EINVAL, "object %s is a %s, not a blob",
		                    r->hex, git_object_type2string(type));
		goto done;
	}
	if ((uint64_t)len > cap || len > sdf_alloc_available() / 2) {
		err = sdf_error_set(SDF_ETOOBIG,
		                    "blob %s is packed and %zu bytes; packed "
		                    "blobs are read whole, so only up to %llu "
		                    "bytes (and half the free memory budget) "
		                    "(unpack the store's objects to stream it)",
		                    r->hex, len, (unsigned long long)cap);
		goto done;
	}
	if ((err = git_odb_read(&r->packed, odb, &r->id)) < 0) {
		err = sdf_git_error(err, "cannot read object %s", r->hex);
		goto done;
	}
	r->size = git_odb_object_size(r->packed);
	if (r->size == 0)
		r->finished = 1;
done:
	git_odb_free(odb);
	return err;
}

int sdf_blob_reader_open_oid(sdf_blob_reader **out, git_repository *repo,
                             const git_oid *id,
                             const sdf_blob_reader_options *opts)
{
	sdf_blob_reader *r;
	uint64_t cap =
	    opts && opts->packed_max ? opts->packed_max : SDF_BLOB_PACKED_MAX;
	int err;

	*out = NULL;
	if (!(r = sdf_calloc(1, sizeof(*r))))
		return SDF_EBUDGET;
	r->fd = -1;
	r->verify = !(opts && opts->no_verify);
	git_oid_cpy(&r->id, id);
	git_oid_tostr(r->hex, sizeof(r->hex), id);
	if ((err = open_loose(&r->fd, repo, r->hex)) < 0)
		goto done;
	if (r->fd < 0) {
		err = open_packed(r, repo, cap);
		goto done;
	}
	if (!(r->in = sdf_malloc(IN_CHUNK))) {
		err = SDF_EBUDGET;
		goto done;
	}
	sdf_zstream_use_budget(&r->zs);
	if (inflateInit(&r->zs) != Z_OK) {
		err = sdf_error_set(SDF_EBUDGET,
		                    "cannot start inflating object %s: "
		                    "memory budget exceeded",
		                    r->hex);
		goto done;
	}
	r->zs_live = 1;
	sha1_init(&r->sha);
	err = parse_header(r);
done:
	if (err < 0) {
		sdf_blob_reader_free(r);
		return err;
	}
	*out = r;
	return 0;
}

int sdf_blob_reader_open_ext(sdf_blob_reader **out, sdf_store *st,
                             const char *oid_hex,
                             const sdf_blob_reader_options *opts)
{
	git_oid id;

	*out = NULL;
	if (!oid_hex || strlen(oid_hex) != GIT_OID_HEXSZ ||
	    git_oid_fromstr(&id, oid_hex) < 0) {
		git_error_clear();
		return sdf_error_set(SDF_EINVAL,
		                     "'%s' is not a 40-digit object id",
		                     oid_hex ? oid_hex : "");
	}
	return sdf_blob_reader_open_oid(out, st->repo, &id, opts);
}

int sdf_blob_reader_open(sdf_blob_reader **out, sdf_store *st,
                         const char *oid_hex)
{
	return sdf_blob_reader_open_ext(out, st, oid_hex, NULL);
}
