/*
 * The one JSON encoder of a diff result: per-file objects, totals, and
 * OpenCode's SnapshotFileDiff. The daemon and `snapdiff diff --json` send
 * these same bytes (dump with SDF_API_JSON_FLAGS).
 */
#include "api_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <stdint.h>
#include <string.h>

/* Longest path we encode; longer ones are malformed input. */
#define SDF_API_PATH_MAX (64 * 1024)

const char *sdf_file_status_name(sdf_file_status s)
{
	switch (s) {
	case SDF_FILE_ADDED:
		return "added";
	case SDF_FILE_DELETED:
		return "deleted";
	case SDF_FILE_MODIFIED:
		return "modified";
	case SDF_FILE_RENAMED:
		return "renamed";
	case SDF_FILE_TYPE_CHANGED:
		return "type_changed";
	}
	return "unknown";
}

static int status_valid(sdf_file_status s)
{
	return s == SDF_FILE_ADDED || s == SDF_FILE_DELETED ||
	       s == SDF_FILE_MODIFIED || s == SDF_FILE_RENAMED ||
	       s == SDF_FILE_TYPE_CHANGED;
}

/*
 * Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are invalid,
 * as jansson and RFC 3629 have it).
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);

		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

/* A JSON string of s[0..n), invalid UTF-8 replaced by U+FFFD. */
static json_t *text_json(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	json_t *j;
	char *buf;
	size_t len = 0;

	if (utf8_valid(s, n))
		return json_stringn(s, n);
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	/* each invalid byte (1) becomes 3: U+FFFD is EF BF BD */
	if (!(buf = sdf_malloc(n * 3 + 1)))
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);

		if (k) {
			memcpy(buf + len, s + i, k);
			len += k;
			i += k;
		} else {
			memcpy(buf + len, "\xef\xbf\xbd", 3);
			len += 3;
			i++;
		}
	}
	j = json_stringn(buf, len);
	sdf_free(buf);
	return j;
}

/* A path as a JSON string: itself when UTF-8, else git's quoted form. */
static json_t *path_json(const char *path)
{
	size_t n = strlen(path), q;
	json_t *j;
	char *buf;

	if (utf8_valid(path, n))
		return json_stringn(path, n);
	q = sdf_api_quote_path(NULL, 0, path);
	if (!(buf = sdf_malloc(q + 1)))
		return NULL;
	sdf_api_quote_path(buf, q + 1, path);
	j = json_stringn(buf, q);
	sdf_free(buf);
	return j;
}

static json_t *uint_json(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* A fixed-size id or hash field: null when absent or empty. */
static json_t *id_json(int present, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (!present || n == 0)
		return json_null();
	return text_json(s, n);
}

static json_t *mode_json(uint32_t mode)
{
	char buf[16];

	if (!mode)
		return json_null();
	snprintf(buf, sizeof(buf), "%06o", (unsigned)mode);
	return json_string(buf);
}

/*
 * Adds key: v to obj, taking v. A NULL v (a failed constructor) or a failed
 * insertion marks *bad, so one check at the end covers every field.
 */
static void set(json_t *obj, const char *key, json_t *v, int *bad)
{
	if (!v || json_object_set_new(obj, key, v) != 0)
		*bad = 1;
}

static int check_file(const sdf_file_summary *f)
{
	if (!f)
		return sdf_error_set(SDF_EINVAL, "no file summary");
	if (!f->path)
		return sdf_error_set(SDF_EINVAL, "file summary without a path");
	if (strnlen(f->path, SDF_API_PATH_MAX + 1) > SDF_API_PATH_MAX)
		return sdf_error_set(SDF_EINVAL, "path longer than %d bytes",
		                     SDF_API_PATH_MAX);
	if (!status_valid(f->status))
		return sdf_error_set(SDF_EINVAL, "%s: unknown status %d",
		                     f->path, (int)f->status);
	if (f->status == SDF_FILE_RENAMED && !f->old_path)
		return sdf_error_set(SDF_EINVAL,
		                     "%s: a rename without old_path", f->path);
	if (f->old_path &&
	    strnlen(f->old_path, SDF_API_PATH_MAX + 1) > SDF_API_PATH_MAX)
		return sdf_error_set(SDF_EINVAL,
		                     "old path longer than %d bytes",
		                     SDF_API_PATH_MAX);
	if (f->patch_len && !f->patch)
		return sdf_error_set(SDF_EINVAL,
		                     "%s: patch_len without a patch", f->path);
	return 0;
}

/* The patch as a JSON string; patch_len 0 means NUL-terminated. */
static json_t *patch_json(const sdf_file_summary *f)
{
	if (!f->patch)
		return json_string("");
	return text_json(f->patch,
	                 f->patch_len ? f->patch_len : strlen(f->patch));
}

/* NULL with the error set: budget when an allocation failed. */
static json_t *fail(json_t *obj, const char *what)
{
	json_decref(obj);
	if (sdf_alloc_failed())
		sdf_error_set(SDF_EBUDGET, "no budget to encode %s", what);
	else
		sdf_error_set(SDF_ERROR, "could not encode %s", what);
	return NULL;
}

json_t *sdf_api_file_json(const sdf_file_summary *f)
{
	json_t *o;
	int bad = 0, has_old, has_new;

	if (check_file(f) < 0)
		return NULL;
	sdf_alloc_clear_failed();
	if (!(o = json_object()))
		return fail(NULL, "a file");
	has_old = f->old_mode != 0;
	has_new = f->new_mode != 0;

	set(o, "path", path_json(f->path), &bad);
	if (f->status == SDF_FILE_RENAMED)
		set(o, "old_path", path_json(f->old_path), &bad);
	set(o, "status", json_string(sdf_file_status_name(f->status)), &bad);
	set(o, "old_oid", id_json(has_old, f->old_oid, sizeof(f->old_oid)),
	    &bad);
	set(o, "new_oid", id_json(has_new, f->new_oid, sizeof(f->new_oid)),
	    &bad);
	set(o, "old_mode", mode_json(f->old_mode), &bad);
	set(o, "new_mode", mode_json(f->new_mode), &bad);
	set(o, "old_size", uint_json(f->old_size), &bad);
	set(o, "new_size", uint_json(f->new_size), &bad);
	set(o, "old_lines", uint_json(f->old_lines), &bad);
	set(o, "new_lines", uint_json(f->new_lines), &bad);
	set(o, "additions", uint_json(f->additions), &bad);
	set(o, "deletions", uint_json(f->deletions), &bad);
	set(o, "exact", json_boolean(f->exact), &bad);
	set(o, "binary", json_boolean(f->binary), &bad);
	set(o, "generated", json_boolean(f->generated), &bad);
	set(o, "generated_reason",
	    f->generated && f->generated_reason
	        ? text_json(f->generated_reason, strlen(f->generated_reason))
	        : json_null(),
	    &bad);
	set(o, "oversized", json_boolean(f->oversized), &bad);
	if (f->patch)
		set(o, "patch", patch_json(f), &bad);
	set(o, "patch_truncated", json_boolean(f->patch_truncated), &bad);
	set(o, "old_hash", id_json(has_old, f->old_hash, sizeof(f->old_hash)),
	    &bad);
	set(o, "new_hash", id_json(has_new, f->new_hash, sizeof(f->new_hash)),
	    &bad);
	if (bad)
		return fail(o, f->path);
	return o;
}

json_t *sdf_api_totals_json(const sdf_diff_totals *t)
{
	json_t *o;
	int bad = 0;

	if (!t) {
		sdf_error_set(SDF_EINVAL, "no totals");
		return NULL;
	}
	sdf_alloc_clear_failed();
	if (!(o = json_object()))
		return fail(NULL, "the totals");
	set(o, "files", uint_json(t->files), &bad);
	set(o, "additions", uint_json(t->additions), &bad);
	set(o, "deletions", uint_json(t->deletions), &bad);
	set(o, "binary_files", uint_json(t->binary_files), &bad);
	set(o, "generated_files", uint_json(t->generated_files), &bad);
	set(o, "oversized_files", uint_json(t->oversized_files), &bad);
	set(o, "estimated_files", uint_json(t->estimated_files), &bad);
	set(o, "patch_bytes", uint_json(t->patch_bytes), &bad);
	set(o, "truncated", json_boolean(t->truncated), &bad);
	set(o, "omitted_files", uint_json(t->truncated ? t->omitted_files : 0),
	    &bad);
	set(o, "peak_bytes", uint_json(t->peak_bytes), &bad);
	if (bad)
		return fail(o, "the totals");
	return o;
}

static const char *opencode_status(sdf_file_status s)
{
	switch (s) {
	case SDF_FILE_ADDED:
		return "added";
	case SDF_FILE_DELETED:
		return "deleted";
	default:
		return "modified";
	}
}

json_t *sdf_api_file_opencode_json(const sdf_file_summary *f)
{
	json_t *o;
	int bad = 0;

	if (check_file(f) < 0)
		return NULL;
	sdf_alloc_clear_failed();
	if (!(o = json_object()))
		return fail(NULL, "a file");
	set(o, "file", path_json(f->path), &bad);
	set(o, "patch", patch_json(f), &bad);
	set(o, "additions", uint_json(f->additions), &bad);
	set(o, "deletions", uint_json(f->deletions), &bad);
	set(o, "status", json_string(opencode_status(f->status)), &bad);
	if (bad)
		return fail(o, f->path);
	return o;
}

int sdf_api_write_opencode(FILE *out, const sdf_file_summary *files, size_t n)
{
	int rc;

	if (!out)
		return sdf_error_set(SDF_EINVAL, "no output stream");
	if (n && !files)
		return sdf_error_set(SDF_EINVAL, "no file summaries");
	/* Malformed entries are refused before the first byte. */
	for (size_t i = 0; i < n; i++)
		if ((rc = check_file(&files[i])) < 0)
			return rc;
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		json_t *j = sdf_api_file_opencode_json(&files[i]);

		if (!j)
			return sdf_error_last_code();
		if (i)
			fputc(',', out);
		rc = json_dumpf(j, out, SDF_API_JSON_FLAGS);
		json_decref(j);
		if (rc != 0)
			return sdf_error_set(SDF_EIO,
			                     "writing the diff failed");
	}
	fputs("]\n", out);
	if (fflush(out) != 0 || ferror(out))
		return sdf_error_set(SDF_EIO, "writing the diff failed");
	return 0;
}

char *sdf_api_dumps(const json_t *j)
{
	char *text;

	sdf_alloc_clear_failed();
	text = json_dumps(j, SDF_API_JSON_FLAGS);
	if (text && sdf_alloc_failed()) {
		sdf_free(text); /* a key may be missing from it */
		text = NULL;
	}
	if (!text)
		sdf_error_set(SDF_EBUDGET, "no budget to write JSON text");
	return text;
}
