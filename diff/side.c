/*
 * A side: streams a body, hashes each line (its bytes including '\n') with
 * XXH3-128 and spills the hash sequence; counts bytes and lines, detects
 * binary content as git does and hashes the whole content.
 */
#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "diff_int.h"

#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* git's buffer_is_binary(): a NUL in the first 8000 bytes. */
#define BINARY_PROBE_BYTES 8000
/* Up to 4096 lines stay in memory; past that, files and write buffers. */
#define SIDE_SPILL_BUF (64u << 10)
#define SIDE_INDENT_BUF (SIDE_SPILL_BUF / sizeof(sdf_diff_hash))
/* xdiff's indent measure stops here. */
#define MAX_INDENT 200

struct sdf_diff_side {
	/* XXH3 states must be 64-byte aligned: they come first. */
	XXH3_state_t line_state; /* the line that spans feeds */
	XXH3_state_t all_state;  /* every byte */
	void *raw;               /* what sdf_malloc returned */
	spill out;
	spill indents;    /* a byte per line: its indent, SDF_DIFF_BLANK_LINE */
	uint64_t spilled; /* records in out */
	int indent;       /* of the current line so far */
	int indent_done;
	uint64_t bytes;
	uint64_t records;
	int in_line;
	int finished;
	int binary;
	int failed;
	unsigned char last;
	sdf_diff_hash content;
};

int sdf_diff_side_new(sdf_diff_side **out, const sdf_diff_side_options *opts)
{
	sdf_diff_side *side;
	void *raw;
	uintptr_t p;
	int rc;

	*out = NULL;
	raw = sdf_malloc(sizeof(*side) + 64);
	if (!raw)
		return SDF_EBUDGET;
	p = ((uintptr_t)raw + 63) & ~(uintptr_t)63;
	side = (sdf_diff_side *)p;
	memset(side, 0, sizeof(*side));
	side->raw = raw;
	side->out.fd = -1;
	side->indents.fd = -1;
	XXH3_128bits_reset(&side->all_state);
	rc = spill_open(&side->out, opts ? opts->spill_dir : NULL,
	                SIDE_SPILL_BUF);
	if (rc == 0)
		rc = spill_open(&side->indents, opts ? opts->spill_dir : NULL,
		                SIDE_INDENT_BUF);
	if (rc < 0) {
		spill_close(&side->out);
		spill_close(&side->indents);
		sdf_free(raw);
		return rc;
	}
	*out = side;
	return 0;
}

/* git's isspace(): tab, newline, carriage return and space only. */
static inline int git_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Advances the indent of the current line over p[0..n): columns of leading
 * space, tabs to the next multiple of 8, other whitespace ignored, capped.
 */
static void measure_indent(sdf_diff_side *side, const unsigned char *p,
                           size_t n)
{
	for (size_t i = 0; i < n && !side->indent_done; i++) {
		if (!git_space(p[i]))
			side->indent_done = 1;
		else if (p[i] == ' ')
			side->indent += 1;
		else if (p[i] == '\t')
			side->indent += 8 - side->indent % 8;
		if (side->indent >= MAX_INDENT) {
			side->indent = MAX_INDENT;
			side->indent_done = 1;
		}
	}
}

static int emit(sdf_diff_side *side, XXH128_hash_t h)
{
	sdf_diff_hash rec;
	unsigned char ind;
	int rc;

	ind = side->indent_done ? (unsigned char)side->indent
	                        : SDF_DIFF_BLANK_LINE;
	side->indent = 0;
	side->indent_done = 0;
	side->records++;
	if (side->binary)
		return 0; /* a binary side is never diffed by lines */
	side->spilled++;
	rec.lo = h.low64;
	rec.hi = h.high64;
	if ((rc = spill_put(&side->out, &rec, sizeof(rec))) < 0)
		return rc;
	return spill_put(&side->indents, &ind, 1);
}

int sdf_diff_side_feed(sdf_diff_side *side, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	int rc;

	if (side->finished || side->failed)
		return sdf_error_set(SDF_EINVAL, "feeding a %s diff side",
		                     side->failed ? "failed" : "finished");
	if (len == 0)
		return 0;
	if (side->bytes < BINARY_PROBE_BYTES) {
		uint64_t probe = BINARY_PROBE_BYTES - side->bytes;

		if (memchr(p, 0, probe < len ? (size_t)probe : len))
			side->binary = 1;
	}
	XXH3_128bits_update(&side->all_state, p, len);
	side->bytes += len;
	side->last = p[len - 1];

	while (len) {
		const unsigned char *nl = memchr(p, '\n', len);
		XXH128_hash_t h;
		size_t n;

		if (!nl) {
			if (!side->in_line) {
				XXH3_128bits_reset(&side->line_state);
				side->in_line = 1;
			}
			XXH3_128bits_update(&side->line_state, p, len);
			measure_indent(side, p, len);
			break;
		}
		n = (size_t)(nl - p) + 1;
		measure_indent(side, p, n);
		if (side->in_line) {
			XXH3_128bits_update(&side->line_state, p, n);
			h = XXH3_128bits_digest(&side->line_state);
			side->in_line = 0;
		} else {
			h = XXH3_128bits(p, n);
		}
		if ((rc = emit(side, h)) < 0) {
			side->failed = 1;
			return rc;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int sdf_diff_side_finish(sdf_diff_side *side)
{
	XXH128_hash_t h;
	int rc;

	if (side->finished)
		return 0;
	if (side->failed)
		return sdf_error_set(SDF_EINVAL,
		                     "finishing a failed diff side");
	if (side->in_line) {
		h = XXH3_128bits_digest(&side->line_state);
		side->in_line = 0;
		if ((rc = emit(side, h)) < 0)
			goto fail;
	}
	if ((rc = spill_finish(&side->out)) < 0 ||
	    (rc = spill_finish(&side->indents)) < 0)
		goto fail;
	h = XXH3_128bits_digest(&side->all_state);
	side->content.lo = h.low64;
	side->content.hi = h.high64;
	side->finished = 1;
	return 0;
fail:
	side->failed = 1;
	return rc;
}

int sdf_diff_side_stats(sdf_diff_stats *out, const sdf_diff_side *side)
{
	memset(out, 0, sizeof(*out));
	if (!side->finished)
		return sdf_error_set(SDF_EINVAL, "diff side not finished");
	out->bytes = side->bytes;
	out->lines = side->records;
	out->binary = side->binary;
	out->ends_without_newline = side->bytes > 0 && side->last != '\n';
	out->content = side->content;
	return 0;
}

void sdf_diff_side_free(sdf_diff_side *side)
{
	if (!side)
		return;
	spill_close(&side->out);
	spill_close(&side->indents);
	sdf_free(side->raw);
}

const spill *side_hashes(const sdf_diff_side *side)
{
	return &side->out;
}

const spill *side_indents(const sdf_diff_side *side)
{
	return &side->indents;
}

/*
 * A saved side: this header, then the line hashes (16 bytes each), then the
 * indents (a byte each). Host byte order: a cache, not an exchange format.
 */
#define SAVED_MAGIC "SDFSIDE"
#define SAVED_VERSION 1u
#define SAVED_BINARY 1u
#define SAVED_NO_EOL 2u
#define SAVE_CHUNK (64u << 10)

typedef struct {
	char magic[8];
	uint32_t version;
	uint32_t flags;
	uint64_t bytes;
	uint64_t lines;
	uint64_t records; /* hashes stored: lines, or 0 for a binary side */
	uint64_t content_lo, content_hi;
	uint64_t reserved;
} saved_header;

static int write_all(int fd, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot save a diff side");
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies a spill's content to fd, a chunk at a time. */
static int copy_out(int fd, const spill *from, uint64_t n, unsigned char *buf)
{
	uint64_t off = 0;
	int rc = 0;

	while (rc == 0 && off < n) {
		size_t k =
		    n - off < SAVE_CHUNK ? (size_t)(n - off) : SAVE_CHUNK;

		rc = spill_read_at(from, buf, k, off);
		if (rc == 0)
			rc = write_all(fd, buf, k);
		off += k;
	}
	return rc;
}

int sdf_diff_side_save(const sdf_diff_side *side, int fd)
{
	saved_header h;
	unsigned char *buf;
	uint64_t recs;
	int rc;

	if (!side->finished)
		return sdf_error_set(SDF_EINVAL, "diff side not finished");
	recs = side->binary ? 0 : side->spilled;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SAVED_MAGIC, sizeof(SAVED_MAGIC));
	h.version = SAVED_VERSION;
	h.flags = (side->binary ? SAVED_BINARY : 0) |
	          (side->bytes && side->last != '\n' ? SAVED_NO_EOL : 0);
	h.bytes = side->bytes;
	h.lines = side->records;
	h.records = recs;
	h.content_lo = side->content.lo;
	h.content_hi = side->content.hi;
	buf = sdf_malloc(SAVE_CHUNK);
	if (!buf)
		return SDF_EBUDGET;
	rc = write_all(fd, &h, sizeof(h));
	if (rc == 0)
		rc =
		    copy_out(fd, &side->out, recs * sizeof(sdf_diff_hash), buf);
	if (rc == 0)
		rc = copy_out(fd, &side->indents, recs, buf);
	sdf_free(buf);
	return rc;
}

int sdf_diff_side_open_saved(sdf_diff_side **out, int fd, uint64_t offset)
{
	sdf_diff_side *side;
	saved_header h;
	struct stat st;
	void *raw;
	uint64_t need;
	int rc;

	*out = NULL;
	if ((rc = fd_pread(fd, &h, sizeof(h), offset)) < 0)
		return rc == SDF_ECORRUPT
		           ? sdf_error_set(SDF_ECORRUPT,
		                           "saved diff side truncated")
		           : rc;
	if (memcmp(h.magic, SAVED_MAGIC, sizeof(SAVED_MAGIC)) ||
	    h.version != SAVED_VERSION ||
	    (h.flags & ~(SAVED_BINARY | SAVED_NO_EOL)) || h.records > h.lines ||
	    (!(h.flags & SAVED_BINARY) && h.records != h.lines) ||
	    h.records > UINT64_MAX / 32)
		return sdf_error_set(SDF_ECORRUPT, "not a saved diff side");
	need = offset + sizeof(h) + h.records * (sizeof(sdf_diff_hash) + 1);
	if (fstat(fd, &st) < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "fstat");
	if ((uint64_t)st.st_size < need)
		return sdf_error_set(SDF_ECORRUPT, "saved diff side truncated");

	raw = sdf_malloc(sizeof(*side) + 64);
	if (!raw)
		return SDF_EBUDGET;
	side = (sdf_diff_side *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
	memset(side, 0, sizeof(*side));
	side->raw = raw;
	side->out.fd = side->indents.fd = -1;
	rc = spill_adopt(&side->out, fd, offset + sizeof(h),
	                 h.records * sizeof(sdf_diff_hash));
	if (rc == 0)
		rc = spill_adopt(&side->indents, fd,
		                 offset + sizeof(h) +
		                     h.records * sizeof(sdf_diff_hash),
		                 h.records);
	if (rc < 0) {
		sdf_diff_side_free(side);
		return rc;
	}
	side->bytes = h.bytes;
	side->records = h.lines;
	side->spilled = h.records;
	side->binary = (h.flags & SAVED_BINARY) != 0;
	side->last = (h.flags & SAVED_NO_EOL) ? 0 : '\n';
	side->content.lo = h.content_lo;
	side->content.hi = h.content_hi;
	side->finished = 1;
	*out = side;
	return 0;
}

uint64_t side_records(const sdf_diff_side *side)
{
	return side->records;
}

uint64_t side_bytes(const sdf_diff_side *side)
{
	return side->bytes;
}

int side_finished(const sdf_diff_side *side)
{
	return side->finished;
}

int side_binary(const sdf_diff_side *side)
{
	return side->binary;
}
