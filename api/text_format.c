/*
 * `git diff --no-renames --numstat | --name-status | --stat`, byte for byte.
 *
 * Written from git's documented formats and its observed output (git 2.39;
 * tests/api/test_git_text.c compares against real repositories). The --stat
 * layout, as observed:
 *
 *   " " NAME PAD " | " COUNT [" " GRAPH]      text files
 *   " " NAME PAD " | " "Bin" [" OLD -> NEW bytes"]   binary files
 *   " N files changed, X insertions(+), Y deletions(-)"
 *
 * - The count column is as wide as the largest change (added + deleted) of
 *   a text file, and at least 3 ("Bin") when a binary file is listed.
 * - The graph wants max_change columns (or the width of the binary
 *   "OLD -> NEW bytes" text, less 4), the name column the longest quoted
 *   name. When name + count + 6 + graph exceeds the total width (which is
 *   never taken below 22 + count), the graph gets at most 3/8 of it (less
 *   count + 6, at least 6) and the name what is left; a name that still
 *   does not fit loses characters at the front, becomes "..." plus the
 *   rest from its first '/' on.
 * - When the graph is narrower than max_change, bars are scaled: a nonzero
 *   count n becomes 1 + n * (graph - 1) / max_change, the smaller side is
 *   scaled alone and the larger one gets the rest of the scaled total (at
 *   least 2 when both are nonzero).
 */
#include "api_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int sdf_api_check_text_files(const sdf_file_summary *files, size_t n)
{
	if (n && !files)
		return sdf_error_set(SDF_EINVAL, "no file summaries");
	for (size_t i = 0; i < n; i++) {
		const sdf_file_summary *f = &files[i];

		if (!f->path)
			return sdf_error_set(SDF_EINVAL, "file %zu has no path",
			                     i);
		switch (f->status) {
		case SDF_FILE_ADDED:
		case SDF_FILE_DELETED:
		case SDF_FILE_MODIFIED:
		case SDF_FILE_TYPE_CHANGED:
			break;
		case SDF_FILE_RENAMED:
			return sdf_error_set(SDF_EINVAL,
			                     "%s: a rename in --no-renames "
			                     "output",
			                     f->path);
		default:
			return sdf_error_set(SDF_EINVAL,
			                     "%s: unknown status %d", f->path,
			                     (int)f->status);
		}
	}
	return 0;
}

static int finish(FILE *out)
{
	if (fflush(out) != 0 || ferror(out))
		return sdf_error_set(SDF_EIO,
		                     "writing the diff summary failed");
	return 0;
}

int sdf_api_write_numstat(FILE *out, const sdf_file_summary *files, size_t n)
{
	int rc;

	if (!out)
		return sdf_error_set(SDF_EINVAL, "no output stream");
	if ((rc = sdf_api_check_text_files(files, n)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const sdf_file_summary *f = &files[i];

		if (f->binary)
			fputs("-\t-\t", out);
		else
			fprintf(out, "%" PRIu64 "\t%" PRIu64 "\t", f->additions,
			        f->deletions);
		sdf_api_fput_path(out, f->path);
		fputc('\n', out);
	}
	return finish(out);
}

static char status_letter(sdf_file_status s)
{
	switch (s) {
	case SDF_FILE_ADDED:
		return 'A';
	case SDF_FILE_DELETED:
		return 'D';
	case SDF_FILE_TYPE_CHANGED:
		return 'T';
	default:
		return 'M';
	}
}

int sdf_api_write_name_status(FILE *out, const sdf_file_summary *files,
                              size_t n)
{
	int rc;

	if (!out)
		return sdf_error_set(SDF_EINVAL, "no output stream");
	if ((rc = sdf_api_check_text_files(files, n)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		fputc(status_letter(files[i].status), out);
		fputc('\t', out);
		sdf_api_fput_path(out, files[i].path);
		fputc('\n', out);
	}
	return finish(out);
}

/* --- --stat ------------------------------------------------------------ */

static int decimal_width(uint64_t v)
{
	int w = 1;

	while (v >= 10) {
		v /= 10;
		w++;
	}
	return w;
}

/* Both sides present with the same content: git prints a bare "Bin". */
static int same_content(const sdf_file_summary *f)
{
	if (!f->old_mode || !f->new_mode)
		return 0;
	if (f->old_oid[0] && f->new_oid[0])
		return strncmp(f->old_oid, f->new_oid, sizeof(f->old_oid)) == 0;
	if (f->old_hash[0] && f->new_hash[0])
		return strncmp(f->old_hash, f->new_hash, sizeof(f->old_hash)) ==
		       0;
	return 0;
}

/* What git does when no width is given: $COLUMNS as atoi() reads it (an
 * int from strtol, so "100x" is 100 and 2^32 + 80 is 80) if positive, else
 * the terminal's width, else 80. */
static int64_t default_width(FILE *out)
{
	const char *s = getenv("COLUMNS");
	int fd;

	if (s) {
		int v = (int)(uint32_t)(unsigned long)strtol(s, NULL, 10);

		if (v > 0)
			return v;
	}
	fd = fileno(out);
	if (fd >= 0 && isatty(fd)) {
		struct winsize ws;

		if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col)
			return ws.ws_col;
	}
	return 80;
}

/* floor(n * (width - 1) / max) + 1 for nonzero n, without overflow. */
static uint64_t scale_linear(uint64_t n, int64_t width, uint64_t max)
{
	unsigned __int128 x;

	if (!n || !max)
		return 0;
	x = (unsigned __int128)n * (uint64_t)(width - 1) / max;
	return 1 + (uint64_t)x;
}

static void put_repeat(FILE *out, int c, uint64_t count)
{
	while (count--)
		fputc(c, out);
}

static void put_summary(FILE *out, size_t files, uint64_t ins, uint64_t del)
{
	fprintf(out, " %zu %s changed", files, files == 1 ? "file" : "files");
	/* git omits a zero part unless both are zero */
	if (ins || !del)
		fprintf(out, ", %" PRIu64 " %s(+)", ins,
		        ins == 1 ? "insertion" : "insertions");
	if (del || !ins)
		fprintf(out, ", %" PRIu64 " %s(-)", del,
		        del == 1 ? "deletion" : "deletions");
	fputc('\n', out);
}

int sdf_api_write_stat(FILE *out, const sdf_file_summary *files, size_t n,
                       const sdf_api_stat_options *opts)
{
	sdf_api_stat_options o = SDF_API_STAT_OPTIONS_INIT;
	uint64_t max_change = 0, ins = 0, del = 0;
	size_t max_len = 0;
	int64_t width, name_width, graph_width, number_width, bin_width = 0;
	int any_binary = 0;
	char *name = NULL;
	int rc;

	if (!out)
		return sdf_error_set(SDF_EINVAL, "no output stream");
	if ((rc = sdf_api_check_text_files(files, n)) < 0)
		return rc;
	if (n == 0)
		return 0;
	if (opts)
		o = *opts;

	for (size_t i = 0; i < n; i++) {
		const sdf_file_summary *f = &files[i];
		size_t len = sdf_api_quote_path(NULL, 0, f->path);

		if (len > max_len)
			max_len = len;
		if (f->binary) {
			/* "Bin OLD -> NEW bytes" */
			int64_t w = 16; /* same content: sized as "0 -> 0" */

			if (!same_content(f))
				w = 14 + decimal_width(f->old_size) +
				    decimal_width(f->new_size);
			if (w > bin_width)
				bin_width = w;
			any_binary = 1;
			continue;
		}
		if (f->additions + f->deletions > max_change)
			max_change = f->additions + f->deletions;
		ins += f->additions;
		del += f->deletions;
	}
	if (max_len > (size_t)INT32_MAX)
		return sdf_error_set(SDF_ETOOBIG, "path too long for --stat");
	if (!(name = sdf_malloc(max_len + 1)))
		return sdf_error_set(SDF_EBUDGET, "no budget for --stat names");

	width = o.width > 0 ? o.width : default_width(out);
	number_width = decimal_width(max_change);
	if (any_binary && number_width < 3)
		number_width = 3;
	if (width < 16 + 6 + number_width)
		width = 16 + 6 + number_width;

	/* What each column wants, then fit them into width. */
	if (max_change + 4 > (uint64_t)bin_width)
		graph_width =
		    max_change > INT32_MAX ? INT32_MAX : (int64_t)max_change;
	else
		graph_width = bin_width - 4;
	if (o.graph_width > 0 && o.graph_width < graph_width)
		graph_width = o.graph_width;
	name_width = (o.name_width > 0 && (size_t)o.name_width < max_len)
	                 ? o.name_width
	                 : (int64_t)max_len;
	if (name_width + number_width + 6 + graph_width > width) {
		if (graph_width > width * 3 / 8 - number_width - 6) {
			graph_width = width * 3 / 8 - number_width - 6;
			if (graph_width < 6)
				graph_width = 6;
		}
		if (o.graph_width > 0 && graph_width > o.graph_width)
			graph_width = o.graph_width;
		if (name_width > width - number_width - 6 - graph_width)
			name_width = width - number_width - 6 - graph_width;
		else
			graph_width = width - number_width - 6 - name_width;
	}

	for (size_t i = 0; i < n; i++) {
		const sdf_file_summary *f = &files[i];
		size_t qlen = sdf_api_quote_path(name, max_len + 1, f->path);
		const char *shown = name, *prefix = "";
		int64_t len = name_width, padding;

		if (name_width < (int64_t)qlen) {
			/* quoted names are ASCII: one byte, one column */
			const char *slash;

			prefix = "...";
			len = name_width - 3 < 0 ? 0 : name_width - 3;
			shown = name + (qlen - (size_t)len);
			if ((slash = strchr(shown, '/')) != NULL)
				shown = slash;
		}
		padding = len - (int64_t)strlen(shown);
		if (padding < 0)
			padding = 0;
		fprintf(out, " %s%s%*s | ", prefix, shown, (int)padding, "");

		if (f->binary) {
			fprintf(out, "%*s", (int)number_width, "Bin");
			if (!same_content(f))
				fprintf(out,
				        " %" PRIu64 " -> %" PRIu64 " bytes",
				        f->old_size, f->new_size);
			fputc('\n', out);
			continue;
		}

		uint64_t total = f->additions + f->deletions;
		uint64_t a = f->additions, d = f->deletions;

		if ((uint64_t)graph_width <= max_change) {
			uint64_t t =
			    scale_linear(total, graph_width, max_change);

			if (t < 2 && a && d)
				t = 2;
			if (a < d) {
				a = scale_linear(a, graph_width, max_change);
				d = t - a;
			} else {
				d = scale_linear(d, graph_width, max_change);
				a = t - d;
			}
		}
		fprintf(out, "%*" PRIu64 "%s", (int)number_width, total,
		        total ? " " : "");
		put_repeat(out, '+', a);
		put_repeat(out, '-', d);
		fputc('\n', out);
	}
	put_summary(out, n, ins, del);
	sdf_free(name);
	return finish(out);
}
