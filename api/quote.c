/*
 * Git's C-style path quoting with core.quotePath=true, as observed in
 * `git diff --numstat/--name-status/--stat` output.
 */
#include "api_int.h"

#include <string.h>

/* The letter of a named escape, 0 when the byte is written in octal. */
static char named_escape(unsigned char c)
{
	switch (c) {
	case '\a':
		return 'a';
	case '\b':
		return 'b';
	case '\t':
		return 't';
	case '\n':
		return 'n';
	case '\v':
		return 'v';
	case '\f':
		return 'f';
	case '\r':
		return 'r';
	case '"':
		return '"';
	case '\\':
		return '\\';
	default:
		return 0;
	}
}

static int needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\' || c >= 0x7f;
}

int sdf_api_path_needs_quote(const char *path)
{
	if (!path)
		return 0;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if (needs_escape(*p))
			return 1;
	return 0;
}

/* Appends c at *len when it fits (leaving room for the NUL). */
static void put(char *dst, size_t cap, size_t *len, char c)
{
	if (*len + 1 < cap)
		dst[*len] = c;
	(*len)++;
}

size_t sdf_api_quote_path(char *dst, size_t cap, const char *path)
{
	size_t len = 0;

	if (!path)
		path = "";
	if (!dst)
		cap = 0;
	if (!sdf_api_path_needs_quote(path)) {
		len = strlen(path);
		if (cap) {
			size_t k = len < cap - 1 ? len : cap - 1;

			memcpy(dst, path, k);
			dst[k] = '\0';
		}
		return len;
	}
	put(dst, cap, &len, '"');
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		char e;

		if (!needs_escape(*p)) {
			put(dst, cap, &len, (char)*p);
			continue;
		}
		put(dst, cap, &len, '\\');
		if ((e = named_escape(*p)) != 0) {
			put(dst, cap, &len, e);
			continue;
		}
		put(dst, cap, &len, (char)('0' + ((*p >> 6) & 7)));
		put(dst, cap, &len, (char)('0' + ((*p >> 3) & 7)));
		put(dst, cap, &len, (char)('0' + (*p & 7)));
	}
	put(dst, cap, &len, '"');
	if (cap)
		dst[len < cap ? len : cap - 1] = '\0';
	return len;
}

void sdf_api_fput_path(FILE *out, const char *path)
{
	char buf[256];
	size_t need;

	if (!path)
		path = "";
	if (!sdf_api_path_needs_quote(path)) {
		fputs(path, out);
		return;
	}
	need = sdf_api_quote_path(buf, sizeof(buf), path);
	if (need < sizeof(buf)) {
		fputs(buf, out);
		return;
	}
	/* Long: quote one piece at a time (cut at a byte, never mid-escape). */
	fputc('"', out);
	for (const char *p = path; *p;) {
		char piece[64];
		size_t k = 0;

		while (p[k] && k < sizeof(piece) - 1) {
			piece[k] = p[k];
			k++;
		}
		piece[k] = '\0';
		p += k;
		if (!sdf_api_path_needs_quote(piece)) {
			fputs(piece, out);
			continue;
		}
		need = sdf_api_quote_path(buf, sizeof(buf), piece);
		/* strip the piece's own quotes: 63 bytes quote to <= 254 */
		fwrite(buf + 1, 1, need - 2, out);
	}
	fputc('"', out);
}
