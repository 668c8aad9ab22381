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

#include <string.h>

/* git's buffer_is_binary(): a NUL in the first 8000 bytes. */
#define BINARY_PROBE_BYTES 8000
#define SIDE_SPILL_BUF (64u << 10)
#define SIDE_INDENT_BUF (8u << 10)
/* xdiff's indent measure stops here. */
#define MAX_INDENT 200

struct sdf_diff_side {
	/* XXH3 states must be 64-byte aligned: they come first. */
	XXH3_state_t line_state; /* the line that spans feeds */
	XXH3_state_t all_state;  /* every byte */
	void *raw;               /* what sdf_malloc returned */
	spill out;
	spill indents; /* a byte per line: its indent, SDF_DIFF_BLANK_LINE */
	int indent;    /* of the current line so far */
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
	rec.lo = h.low64;
	rec.hi = h.high64;
	if ((rc = spill_write(&side->out, &rec, sizeof(rec))) < 0)
		return rc;
	return spill_write(&side->indents, &ind, 1);
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
		return sdf_error_set(SDF_EINVAL, "finishing a failed diff side");
	if (side->in_line) {
		h = XXH3_128bits_digest(&side->line_state);
		side->in_line = 0;
		if ((rc = emit(side, h)) < 0)
			goto fail;
	}
	if ((rc = spill_flush(&side->out)) < 0 ||
	    (rc = spill_flush(&side->indents)) < 0)
		goto fail;
	/* The write buffers are not needed any more. */
	sdf_free(side->out.buf);
	side->out.buf = NULL;
	side->out.cap = side->out.len = 0;
	sdf_free(side->indents.buf);
	side->indents.buf = NULL;
	side->indents.cap = side->indents.len = 0;
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

int side_spill_fd(const sdf_diff_side *side)
{
	return side->out.fd;
}

int side_indent_fd(const sdf_diff_side *side)
{
	return side->indents.fd;
}

uint64_t side_records(const sdf_diff_side *side)
{
	return side->records;
}

int side_finished(const sdf_diff_side *side)
{
	return side->finished;
}

int side_binary(const sdf_diff_side *side)
{
	return side->binary;
}
