/*
 * The JSON encoders: exact bytes and key order, null handling, OpenCode's
 * mapping, hostile input and allocation failures.
 */
#define _GNU_SOURCE
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	sdf_api_global_init();
}

TestSuite(json, .init = setup);

/* Dumps and frees j; the caller frees the result with free(). */
static char *dump(json_t *j)
{
	char *s, *copy;

	cr_assert_not_null(j, "encoder failed: %s", sdf_error_last());
	s = json_dumps(j, SDF_API_JSON_FLAGS);
	cr_assert_not_null(s);
	copy = strdup(s);
	sdf_free(s);
	json_decref(j);
	return copy;
}

#define OLD_OID "1111111111111111111111111111111111111111"
#define NEW_OID "2222222222222222222222222222222222222222"
#define OLD_HASH "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NEW_HASH "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static sdf_file_summary modified(void)
{
	sdf_file_summary f = {
	    .path = "src/main.c",
	    .status = SDF_FILE_MODIFIED,
	    .old_oid = OLD_OID,
	    .new_oid = NEW_OID,
	    .old_mode = 0100644,
	    .new_mode = 0100755,
	    .old_size = 120,
	    .new_size = 150,
	    .old_lines = 10,
	    .new_lines = 12,
	    .additions = 3,
	    .deletions = 1,
	    .old_hash = OLD_HASH,
	    .new_hash = NEW_HASH,
	    .exact = 1,
	    .patch = "@@ -1 +1 @@\n-a\n+b\n",
	    .patch_len = 18,
	};
	return f;
}

Test(json, modified_file_exact_bytes)
{
	sdf_file_summary f = modified();
	char *s = dump(sdf_api_file_json(&f));

	cr_expect_str_eq(
	    s, "{\"path\":\"src/main.c\",\"status\":\"modified\","
	       "\"old_oid\":\"" OLD_OID "\",\"new_oid\":\"" NEW_OID "\","
	       "\"old_mode\":\"100644\",\"new_mode\":\"100755\","
	       "\"old_size\":120,\"new_size\":150,\"old_lines\":10,"
	       "\"new_lines\":12,\"additions\":3,\"deletions\":1,"
	       "\"exact\":true,\"binary\":false,\"generated\":false,"
	       "\"generated_reason\":null,\"oversized\":false,"
	       "\"patch\":\"@@ -1 +1 @@\\n-a\\n+b\\n\","
	       "\"patch_truncated\":false,\"old_hash\":\"" OLD_HASH "\","
	       "\"new_hash\":\"" NEW_HASH "\"}");
	free(s);
}

Test(json, added_side_absent_is_null_and_no_patch_key)
{
	sdf_file_summary f = {
	    .path = "new.txt",
	    .status = SDF_FILE_ADDED,
	    .new_oid = NEW_OID,
	    .new_mode = 0100644,
	    .new_size = 4,
	    .new_lines = 1,
	    .additions = 1,
	    .new_hash = NEW_HASH,
	    .exact = 1,
	    .oversized = 1,
	    .patch_truncated = 1,
	};
	/* an absent side's leftovers are ignored */
	strcpy(f.old_oid, OLD_OID);
	char *s = dump(sdf_api_file_json(&f));

	cr_expect_str_eq(s,
	                 "{\"path\":\"new.txt\",\"status\":\"added\","
	                 "\"old_oid\":null,\"new_oid\":\"" NEW_OID "\","
	                 "\"old_mode\":null,\"new_mode\":\"100644\","
	                 "\"old_size\":0,\"new_size\":4,\"old_lines\":0,"
	                 "\"new_lines\":1,\"additions\":1,\"deletions\":0,"
	                 "\"exact\":true,\"binary\":false,\"generated\":false,"
	                 "\"generated_reason\":null,\"oversized\":true,"
	                 "\"patch_truncated\":true,\"old_hash\":null,"
	                 "\"new_hash\":\"" NEW_HASH "\"}");
	free(s);
}

Test(json, deleted_binary_generated_renamed)
{
	sdf_file_summary f = modified();
	json_t *j;

	f.status = SDF_FILE_DELETED;
	f.new_mode = 0;
	f.binary = 1;
	f.additions = f.deletions = 0;
	f.generated = 1;
	f.generated_reason = "path:*.min.js";
	f.patch = NULL;
	f.patch_len = 0;
	j = sdf_api_file_json(&f);
	cr_assert_not_null(j);
	cr_expect(json_is_null(json_object_get(j, "new_oid")));
	cr_expect(json_is_null(json_object_get(j, "new_mode")));
	cr_expect(json_is_null(json_object_get(j, "new_hash")));
	cr_expect_str_eq(json_string_value(json_object_get(j, "old_oid")),
	                 OLD_OID);
	cr_expect(json_is_true(json_object_get(j, "binary")));
	cr_expect_eq(json_integer_value(json_object_get(j, "additions")), 0);
	cr_expect_str_eq(json_string_value(json_object_get(j, "status")),
	                 "deleted");
	cr_expect_str_eq(
	    json_string_value(json_object_get(j, "generated_reason")),
	    "path:*.min.js");
	cr_expect_null(json_object_get(j, "patch"));
	cr_expect_null(json_object_get(j, "old_path"));
	json_decref(j);

	/* generated without a reason: null, not a crash */
	f.generated_reason = NULL;
	j = sdf_api_file_json(&f);
	cr_expect(json_is_null(json_object_get(j, "generated_reason")));
	json_decref(j);

	/* a reason while not generated is not reported */
	f.generated = 0;
	f.generated_reason = "stale";
	j = sdf_api_file_json(&f);
	cr_expect(json_is_null(json_object_get(j, "generated_reason")));
	json_decref(j);

	f = modified();
	f.status = SDF_FILE_RENAMED;
	f.old_path = "src/old.c";
	char *s = dump(sdf_api_file_json(&f));
	cr_expect(strncmp(s,
	                  "{\"path\":\"src/main.c\",\"old_path\":\"src/old.c\","
	                  "\"status\":\"renamed\",",
	                  60) == 0,
	          "%s", s);
	free(s);

	f = modified();
	f.status = SDF_FILE_TYPE_CHANGED;
	f.new_mode = 0120000;
	j = sdf_api_file_json(&f);
	cr_expect_str_eq(json_string_value(json_object_get(j, "status")),
	                 "type_changed");
	cr_expect_str_eq(json_string_value(json_object_get(j, "new_mode")),
	                 "120000");
	json_decref(j);
}

Test(json, empty_ids_are_null_modes_are_octal)
{
	sdf_file_summary f = modified();
	json_t *j;

	f.old_oid[0] = '\0';
	f.new_hash[0] = '\0';
	f.new_mode = 0160000;
	f.old_mode = 040000;
	j = sdf_api_file_json(&f);
	cr_expect(json_is_null(json_object_get(j, "old_oid")));
	cr_expect(json_is_null(json_object_get(j, "new_hash")));
	cr_expect_str_eq(json_string_value(json_object_get(j, "new_mode")),
	                 "160000");
	cr_expect_str_eq(json_string_value(json_object_get(j, "old_mode")),
	                 "040000");
	json_decref(j);
}

Test(json, paths_and_patches_that_are_not_utf8)
{
	sdf_file_summary f = modified();
	json_t *j;

	/* UTF-8 with a tab: a plain JSON string */
	f.path = "caf\xc3\xa9\tx";
	j = sdf_api_file_json(&f);
	cr_expect_str_eq(json_string_value(json_object_get(j, "path")),
	                 "caf\xc3\xa9\tx");
	json_decref(j);

	/* Latin-1: git's quoted form, nothing lost */
	f.path = "caf\xe9";
	f.status = SDF_FILE_RENAMED;
	f.old_path = "\xff\xfe/\"q\"";
	f.patch = "-caf\xe9\n+caf\xc3\xa9\n";
	f.patch_len = 0; /* NUL-terminated */
	j = sdf_api_file_json(&f);
	cr_assert_not_null(j, "%s", sdf_error_last());
	cr_expect_str_eq(json_string_value(json_object_get(j, "path")),
	                 "\"caf\\351\"");
	cr_expect_str_eq(json_string_value(json_object_get(j, "old_path")),
	                 "\"\\377\\376/\\\"q\\\"\"");
	cr_expect_str_eq(json_string_value(json_object_get(j, "patch")),
	                 "-caf\xef\xbf\xbd\n+caf\xc3\xa9\n");
	json_decref(j);

	/* overlong, surrogate and truncated sequences are invalid too */
	static const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x82",
	                            "\xf4\x90\x80\x80", "\x80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = modified();
		f.path = bad[i];
		f.patch = bad[i];
		f.patch_len = strlen(bad[i]);
		j = sdf_api_file_json(&f);
		cr_assert_not_null(j, "%zu: %s", i, sdf_error_last());
		cr_expect_eq(json_string_value(json_object_get(j, "path"))[0],
		             '"');
		cr_expect_null(strchr(
		    json_string_value(json_object_get(j, "patch")), '\x80'));
		json_decref(j);
	}

	/* a patch with a NUL inside, given by length */
	f = modified();
	f.patch = "a\0b";
	f.patch_len = 3;
	char *s = dump(sdf_api_file_json(&f));
	cr_expect_not_null(strstr(s, "\"patch\":\"a\\u0000b\""), "%s", s);
	free(s);
}

Test(json, totals)
{
	sdf_diff_totals t = {.files = 3,
	                     .additions = 10,
	                     .deletions = 2,
	                     .binary_files = 1,
	                     .generated_files = 1,
	                     .oversized_files = 1,
	                     .estimated_files = 1,
	                     .patch_bytes = 4096,
	                     .omitted_files = 7,
	                     .peak_bytes = UINT64_MAX};
	char *s = dump(sdf_api_totals_json(&t));

	cr_expect_str_eq(s, "{\"files\":3,\"additions\":10,\"deletions\":2,"
	                    "\"binary_files\":1,\"generated_files\":1,"
	                    "\"oversized_files\":1,\"estimated_files\":1,"
	                    "\"patch_bytes\":4096,\"truncated\":false,"
	                    "\"omitted_files\":0,"
	                    "\"peak_bytes\":9223372036854775807}");
	free(s);
	t.truncated = 1;
	s = dump(sdf_api_totals_json(&t));
	cr_expect_not_null(strstr(s, "\"truncated\":true,\"omitted_files\":7,"),
	                   "%s", s);
	free(s);
	cr_expect_null(sdf_api_totals_json(NULL));
	cr_expect_eq(sdf_error_last_code(), SDF_EINVAL);
}

Test(json, opencode_mapping)
{
	static const struct {
		sdf_file_status st;
		const char *want;
	} map[] = {{SDF_FILE_ADDED, "added"},
	           {SDF_FILE_DELETED, "deleted"},
	           {SDF_FILE_MODIFIED, "modified"},
	           {SDF_FILE_RENAMED, "modified"},
	           {SDF_FILE_TYPE_CHANGED, "modified"}};
	sdf_file_summary f = modified();
	char *s = dump(sdf_api_file_opencode_json(&f));

	cr_expect_str_eq(s, "{\"file\":\"src/main.c\","
	                    "\"patch\":\"@@ -1 +1 @@\\n-a\\n+b\\n\","
	                    "\"additions\":3,\"deletions\":1,"
	                    "\"status\":\"modified\"}");
	free(s);
	f.old_path = "src/old.c";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		json_t *j;

		f.status = map[i].st;
		j = sdf_api_file_opencode_json(&f);
		cr_assert_not_null(j);
		cr_expect_str_eq(
		    json_string_value(json_object_get(j, "status")),
		    map[i].want);
		cr_expect_str_eq(json_string_value(json_object_get(j, "file")),
		                 "src/main.c");
		json_decref(j);
	}
	/* no patch (binary, oversized): "", never absent */
	f = modified();
	f.patch = NULL;
	f.patch_len = 0;
	f.binary = 1;
	f.additions = f.deletions = 0;
	s = dump(sdf_api_file_opencode_json(&f));
	cr_expect_str_eq(s, "{\"file\":\"src/main.c\",\"patch\":\"\","
	                    "\"additions\":0,\"deletions\":0,"
	                    "\"status\":\"modified\"}");
	free(s);
}

static char *capture_opencode(const sdf_file_summary *files, size_t n, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	*rc = sdf_api_write_opencode(out, files, n);
	fclose(out);
	return buf;
}

Test(json, opencode_array)
{
	sdf_file_summary f[2] = {modified(), modified()};
	char *s;
	int rc;

	f[1].path = "b";
	f[1].status = SDF_FILE_ADDED;
	f[1].patch = NULL;
	f[1].patch_len = 0;
	s = capture_opencode(f, 2, &rc);
	cr_expect_eq(rc, 0);
	cr_expect_str_eq(s, "[{\"file\":\"src/main.c\","
	                    "\"patch\":\"@@ -1 +1 @@\\n-a\\n+b\\n\","
	                    "\"additions\":3,\"deletions\":1,"
	                    "\"status\":\"modified\"},"
	                    "{\"file\":\"b\",\"patch\":\"\",\"additions\":3,"
	                    "\"deletions\":1,\"status\":\"added\"}]\n");
	free(s);
	s = capture_opencode(NULL, 0, &rc);
	cr_expect_eq(rc, 0);
	cr_expect_str_eq(s, "[]\n");
	free(s);
	/* a bad second entry: nothing at all is written */
	f[1].path = NULL;
	s = capture_opencode(f, 2, &rc);
	cr_expect_eq(rc, SDF_EINVAL);
	cr_expect_str_eq(s, "");
	free(s);
	cr_expect_eq(sdf_api_write_opencode(NULL, f, 1), SDF_EINVAL);
	s = capture_opencode(NULL, 3, &rc);
	cr_expect_eq(rc, SDF_EINVAL);
	free(s);
}

Test(json, malformed_input_never_crashes)
{
	sdf_file_summary f = modified();
	char *huge;

	cr_expect_null(sdf_api_file_json(NULL));
	cr_expect_eq(sdf_error_last_code(), SDF_EINVAL);
	cr_expect_null(sdf_api_file_opencode_json(NULL));

	f.path = NULL;
	cr_expect_null(sdf_api_file_json(&f));
	cr_expect_null(sdf_api_file_opencode_json(&f));

	f = modified();
	f.status = (sdf_file_status)-1;
	cr_expect_null(sdf_api_file_json(&f));
	cr_expect_eq(sdf_error_last_code(), SDF_EINVAL);
	cr_expect_str_eq(sdf_file_status_name((sdf_file_status)99), "unknown");

	f = modified();
	f.status = SDF_FILE_RENAMED; /* without old_path */
	cr_expect_null(sdf_api_file_json(&f));

	f = modified();
	f.patch = NULL; /* a length without a patch */
	cr_expect_null(sdf_api_file_json(&f));

	/* ids that fill their arrays with no NUL, and garbage bytes */
	f = modified();
	memset(f.old_oid, 'x', sizeof(f.old_oid));
	memset(f.new_hash, 0xff, sizeof(f.new_hash));
	json_t *j = sdf_api_file_json(&f);
	cr_assert_not_null(j, "%s", sdf_error_last());
	cr_expect_eq(strlen(json_string_value(json_object_get(j, "old_oid"))),
	             41);
	json_decref(j);

	/* counts past INT64_MAX clamp instead of going negative */
	f = modified();
	f.additions = UINT64_MAX;
	j = sdf_api_file_json(&f);
	cr_expect_eq(json_integer_value(json_object_get(j, "additions")),
	             INT64_MAX);
	json_decref(j);

	/* a path over the cap is refused, not encoded */
	huge = malloc(70000);
	memset(huge, 'a', 69999);
	huge[69999] = '\0';
	f = modified();
	f.path = huge;
	cr_expect_null(sdf_api_file_json(&f));
	cr_expect_eq(sdf_error_last_code(), SDF_EINVAL);
	free(huge);
}

/* Fail allocation 1, 2, ... until the encoder succeeds: each failure is a
 * clean NULL with SDF_EBUDGET and leaks nothing. */
static void oom_loop(json_t *(*enc)(const void *), const void *arg)
{
	size_t base = sdf_alloc_live();
	uint64_t n;

	for (n = 1;; n++) {
		json_t *j;

		cr_assert_lt(n, 1000, "never succeeded");
		sdf_alloc_fail_at(n);
		j = enc(arg);
		if (sdf_alloc_count_since_arm() < n) {
			sdf_alloc_fail_at(0);
			cr_assert_not_null(j, "%s", sdf_error_last());
			json_decref(j);
			break;
		}
		sdf_alloc_fail_at(0);
		cr_expect_null(j, "allocation %llu failed unnoticed",
		               (unsigned long long)n);
		json_decref(j);
		cr_expect_eq(sdf_error_last_code(), SDF_EBUDGET, "%llu: %s",
		             (unsigned long long)n, sdf_error_last());
		cr_expect_eq(sdf_alloc_live(), base, "leak at %llu",
		             (unsigned long long)n);
	}
	cr_expect_eq(sdf_alloc_live(), base);
	/* every object needs a few allocations: they were all failed once */
	cr_expect_gt(n, 3, "only %llu allocations", (unsigned long long)n);
}

static json_t *enc_file(const void *arg)
{
	return sdf_api_file_json(arg);
}

static json_t *enc_opencode(const void *arg)
{
	return sdf_api_file_opencode_json(arg);
}

static json_t *enc_totals(const void *arg)
{
	return sdf_api_totals_json(arg);
}

Test(json, allocation_failures)
{
	sdf_file_summary f = modified();
	sdf_diff_totals t = {.files = 1};

	f.path = "caf\xe9"; /* the quoting path allocates too */
	f.patch = "x\xff\n";
	f.patch_len = 3;
	f.generated = 1;
	f.generated_reason = "marker:@generated";
	oom_loop(enc_file, &f);
	oom_loop(enc_opencode, &f);
	oom_loop(enc_totals, &t);
}

/* Random bytes everywhere a caller can put them: every encoder returns
 * either NULL with an error or JSON that parses back. */
Test(json, random_summaries)
{
	uint64_t s = 88172645463325252ULL;
	char path[64], old_path[64], patch[256], reason[16];

	for (int iter = 0; iter < 20000; iter++) {
		sdf_file_summary f;
		unsigned char *raw = (unsigned char *)&f;
		json_t *j, *back;
		char *text;

		for (size_t i = 0; i < sizeof(f); i++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			raw[i] = (unsigned char)s;
		}
		/* pointers must point somewhere: random strings or NULL */
		for (size_t i = 0; i < sizeof(path) - 1; i++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			path[i] =
			    (char)(s % 7 ? 'a' + s % 26 : (s >> 8) & 0xff);
			old_path[i] = (char)(s >> 16);
			reason[i % sizeof(reason)] = (char)(s >> 24);
		}
		path[s % sizeof(path)] = '\0';
		old_path[(s >> 8) % sizeof(old_path)] = '\0';
		reason[sizeof(reason) - 1] = '\0';
		for (size_t i = 0; i < sizeof(patch); i++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			patch[i] = (char)(s % 5 ? ' ' + s % 90 : s >> 8);
		}
		f.path = s % 11 ? path : NULL;
		f.old_path = (s >> 4) % 3 ? old_path : NULL;
		f.generated_reason = (s >> 6) % 3 ? reason : NULL;
		f.patch = (s >> 8) % 3 ? patch : NULL;
		f.patch_len = (s >> 10) % 4 ? (s >> 12) % sizeof(patch) : 0;
		if (f.patch && !f.patch_len)
			patch[sizeof(patch) - 1] = '\0';
		f.status = (sdf_file_status)((s >> 20) % 7);

		json_t *(*enc[])(const sdf_file_summary *) = {
		    sdf_api_file_json, sdf_api_file_opencode_json};
		for (size_t e = 0; e < 2; e++) {
			if (!(j = enc[e](&f))) {
				cr_expect_lt(sdf_error_last_code(), 0);
				continue;
			}
			text = json_dumps(j, SDF_API_JSON_FLAGS);
			cr_assert_not_null(text);
			back = json_loads(text, JSON_ALLOW_NUL, NULL);
			cr_expect_not_null(back, "does not parse: %s", text);
			cr_expect(json_equal(j, back));
			json_decref(back);
			sdf_free(text);
			json_decref(j);
		}
	}
}
