/* The streaming blob reader against objects written by track and by git. */
#define _GNU_SOURCE
#include "sdf_alloc.h"
#include "sdf_error.h"
#include "sdf_snapshot.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char *wt, *stdir, *stpath;
static sdf_store *st;

static void setup(void)
{
	cr_assert_eq(sdf_snapshot_global_init(), 0, "%s", sdf_error_last());
	wt = tu_mkdtemp("br-wt");
	stdir = tu_mkdtemp("br-st");
	stpath = tu_path(stdir, "store");
}

static void teardown(void)
{
	sdf_store_free(st);
	st = NULL;
	tu_rm_rf(wt);
	tu_rm_rf(stdir);
	free(wt);
	free(stdir);
	free(stpath);
}

TestSuite(blob_reader, .init = setup, .fini = teardown);

static void track(char tree[SDF_OID_HEXSZ + 1])
{
	sdf_track_result res;

	if (!st)
		cr_assert_eq(sdf_store_open(&st, stpath, wt, SDF_STORE_CREATE),
		             0, "%s", sdf_error_last());
	cr_assert_eq(sdf_snapshot_track(&res, st, NULL), 0, "%s",
	             sdf_error_last());
	memcpy(tree, res.tree, SDF_OID_HEXSZ + 1);
}

/* The id of TREE:path, through git. */
static char *blob_id(const char *tree, const char *path)
{
	tu_result r;
	char *id;

	cr_assert_eq(tu_sh(&r, "git --git-dir='%s' rev-parse '%s:%s'", stpath,
	                   tree, path),
	             0, "%s", r.err);
	id = tu_last_line(r.out);
	tu_result_dispose(&r);
	cr_assert_eq(strlen(id), 40);
	return id;
}

/* What `git cat-file -p` prints for id. */
static char *cat_file(const char *id, size_t *len)
{
	tu_result r;
	char *out;

	cr_assert_eq(tu_sh(&r, "git --git-dir='%s' cat-file -p %s", stpath, id),
	             0, "%s", r.err);
	out = r.out;
	*len = r.out_len;
	r.out = NULL;
	tu_result_dispose(&r);
	return out;
}

/* Reads the whole blob in chunks of cap bytes. */
static int read_all(char **out, size_t *len, const char *id, size_t cap,
                    const sdf_blob_reader_options *opts)
{
	sdf_blob_reader *r = NULL;
	char *buf = malloc(cap), *all = NULL;
	size_t n, total = 0;
	int err;

	if ((err = sdf_blob_reader_open_ext(&r, st, id, opts)) < 0)
		goto done;
	all = malloc(sdf_blob_reader_size(r) + 1);
	cr_assert_not_null(all);
	while ((err = sdf_blob_reader_read(&n, r, buf, cap)) == 0 && n > 0) {
		cr_assert_leq(total + n, sdf_blob_reader_size(r));
		memcpy(all + total, buf, n);
		total += n;
	}
done:
	sdf_blob_reader_free(r);
	free(buf);
	if (err < 0) {
		free(all);
		all = NULL;
	}
	*out = all;
	*len = total;
	return err;
}

static void fill_pseudo_random(char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* half text, half noise: compressible but not trivially */
		p[i] = (i / 4096) % 2 ? (char)x : (char)('a' + x % 26);
	}
}

static char *loose_path(const char *id)
{
	char *p;

	cr_assert(asprintf(&p, "%s/objects/%.2s/%s", stpath, id, id + 2) > 0);
	return p;
}

/* Replaces the loose object id with raw (inflated) content, deflated. */
static void plant_loose(const char *id, const void *raw, size_t len)
{
	char *p = loose_path(id);
	uLongf clen = compressBound(len);
	unsigned char *z = malloc(clen);
	FILE *f;

	cr_assert_eq(compress(z, &clen, raw, len), Z_OK);
	unlink(p);
	f = fopen(p, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(z, 1, clen, f), clen);
	fclose(f);
	free(z);
	free(p);
}

Test(blob_reader, loose_streams_what_git_cat_file_prints)
{
	size_t big = (3u << 20) + 12345, len, glen;
	char tree[SDF_OID_HEXSZ + 1], *data = malloc(big), *got, *git;
	static const size_t caps[] = {1, 7777, 65536, 1 << 20};

	fill_pseudo_random(data, big, 42);
	tu_write(wt, "big.bin", data, big, 0);
	tu_write_str(wt, "small.txt", "hello, world\n");
	tu_write_str(wt, "empty", "");
	track(tree);

	char *id = blob_id(tree, "big.bin");
	struct stat sb;
	char *lp = loose_path(id);
	cr_assert_eq(stat(lp, &sb), 0, "track should store loose objects");
	free(lp);
	git = cat_file(id, &glen);
	cr_assert_eq(glen, big);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (caps[i] == 1 && i == 0) {
			/* byte by byte on the small one only */
			char *sid = blob_id(tree, "small.txt");
			cr_assert_eq(read_all(&got, &len, sid, 1, NULL), 0,
			             "%s", sdf_error_last());
			cr_assert_eq(len, 13);
			cr_assert_eq(memcmp(got, "hello, world\n", 13), 0);
			free(got);
			free(sid);
			continue;
		}
		cr_assert_eq(read_all(&got, &len, id, caps[i], NULL), 0, "%s",
		             sdf_error_last());
		cr_assert_eq(len, big);
		cr_assert_eq(memcmp(got, git, big), 0, "cap %zu", caps[i]);
		cr_assert_eq(memcmp(got, data, big), 0);
		free(got);
	}
	free(git);
	free(id);

	id = blob_id(tree, "empty");
	cr_assert_eq(read_all(&got, &len, id, 100, NULL), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(len, 0);
	free(got);
	free(id);
	free(data);
}

Test(blob_reader, size_and_end_of_stream)
{
	char tree[SDF_OID_HEXSZ + 1], buf[64];
	sdf_blob_reader *r;
	size_t n;

	tu_write_str(wt, "f", "0123456789");
	track(tree);
	char *id = blob_id(tree, "f");
	cr_assert_eq(sdf_blob_reader_open(&r, st, id), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(sdf_blob_reader_size(r), 10);
	cr_assert_eq(sdf_blob_reader_read(&n, r, buf, 4), 0);
	cr_assert_eq(n, 4);
	cr_assert_eq(sdf_blob_reader_read(&n, r, buf, sizeof(buf)), 0);
	cr_assert_eq(n, 6);
	cr_assert_eq(memcmp(buf, "456789", 6), 0);
	cr_assert_eq(sdf_blob_reader_read(&n, r, buf, sizeof(buf)), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(sdf_blob_reader_read(&n, r, buf, sizeof(buf)), 0);
	cr_assert_eq(n, 0);
	sdf_blob_reader_free(r);
	sdf_blob_reader_free(NULL);
	free(id);
}

Test(blob_reader, missing_bad_and_non_blob_ids)
{
	char tree[SDF_OID_HEXSZ + 1];
	sdf_blob_reader *r = NULL;

	tu_write_str(wt, "f", "x");
	track(tree);
	cr_assert_eq(sdf_blob_reader_open(
	                 &r, st, "0123456789abcdef0123456789abcdef01234567"),
	             SDF_ENOTFOUND);
	cr_assert_null(r);
	cr_assert_eq(sdf_blob_reader_open(&r, st, "xyz"), SDF_EINVAL);
	cr_assert_eq(sdf_blob_reader_open(&r, st, tree), SDF_EINVAL);
	cr_assert(strstr(sdf_error_last(), "not a blob"), "%s",
	          sdf_error_last());
}

static void expect_corrupt(const char *id, size_t cap)
{
	char *got;
	size_t len;
	int err = read_all(&got, &len, id, cap, NULL);

	cr_assert_eq(err, SDF_ECORRUPT, "got %d: %s", err, sdf_error_last());
	cr_assert(strstr(sdf_error_last(), id), "%s", sdf_error_last());
}

Test(blob_reader, damaged_loose_objects_are_corrupt)
{
	char tree[SDF_OID_HEXSZ + 1];
	size_t big = 300000;
	char *data = malloc(big + 64);

	fill_pseudo_random(data + 64, big, 7);
	tu_write(wt, "f", data + 64, big, 0);
	track(tree);
	char *id = blob_id(tree, "f");

	/* same length, one byte different: only the hash can tell */
	int h = sprintf(data, "blob %zu", big) + 1;
	memmove(data + h, data + 64, big);
	data[h + big / 2] ^= 1;
	plant_loose(id, data, (size_t)h + big);
	expect_corrupt(id, 65536);
	expect_corrupt(id, big + 10);

	/* shorter than the header says */
	data[h + big / 2] ^= 1;
	plant_loose(id, data, (size_t)h + big - 1);
	expect_corrupt(id, 4096);

	/* longer than the header says */
	data[h + big] = 'x';
	plant_loose(id, data, (size_t)h + big + 1);
	expect_corrupt(id, 4096);

	/* a bad header */
	plant_loose(id, "blob 12x\0abc", 12);
	expect_corrupt(id, 4096);

	/* the compressed file cut short, or with a flipped byte */
	plant_loose(id, data, (size_t)h + big);
	char *lp = loose_path(id);
	cr_assert_eq(truncate(lp, 1000), 0);
	expect_corrupt(id, 4096);
	plant_loose(id, data, (size_t)h + big);
	int fd = open(lp, O_RDWR);
	unsigned char c;
	cr_assert_eq(pread(fd, &c, 1, 5000), 1);
	c ^= 0x55;
	cr_assert_eq(pwrite(fd, &c, 1, 5000), 1);
	close(fd);
	expect_corrupt(id, 4096);

	/* and intact again, it reads */
	plant_loose(id, data, (size_t)h + big);
	char *got;
	size_t len;
	cr_assert_eq(read_all(&got, &len, id, 4096, NULL), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(len, big);
	free(got);
	free(lp);
	free(id);
	free(data);
}

Test(blob_reader, packed_objects_up_to_the_cap)
{
	char tree[SDF_OID_HEXSZ + 1], *got, *lp;
	size_t len, n = 200000;
	char *data = malloc(n);
	sdf_blob_reader_options tiny = SDF_BLOB_READER_OPTIONS_INIT;
	tu_result r;
	struct stat sb;

	fill_pseudo_random(data, n, 3);
	tu_write(wt, "f", data, n, 0);
	track(tree);
	char *id = blob_id(tree, "f");
	cr_assert_eq(tu_sh(&r, "git --git-dir='%s' gc -q", stpath), 0, "%s",
	             r.err);
	tu_result_dispose(&r);
	lp = loose_path(id);
	cr_assert_neq(stat(lp, &sb), 0, "gc should have packed %s", id);

	cr_assert_eq(read_all(&got, &len, id, 4096, NULL), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(len, n);
	cr_assert_eq(memcmp(got, data, n), 0);
	free(got);

	tiny.packed_max = 1000;
	cr_assert_eq(read_all(&got, &len, id, 4096, &tiny), SDF_ETOOBIG);
	cr_assert(strstr(sdf_error_last(), "packed"), "%s", sdf_error_last());

	/* the memory budget caps it too */
	sdf_alloc_set_limit(sdf_alloc_live() + 100000);
	cr_assert_eq(read_all(&got, &len, id, 4096, NULL), SDF_ETOOBIG);
	sdf_alloc_set_limit(0);
	free(lp);
	free(id);
	free(data);
}

Test(blob_reader, objects_of_an_alternate)
{
	char tree[SDF_OID_HEXSZ + 1], *other, *got;
	size_t len;
	tu_result r;

	tu_write_str(wt, "f", "in the alternate\n");
	track(tree);
	char *id = blob_id(tree, "f");
	other = tu_path(stdir, "other.git");
	cr_assert_eq(tu_sh(&r,
	                   "git init -q --bare '%s' && echo '%s/objects' > "
	                   "'%s/objects/info/alternates'",
	                   other, stpath, other),
	             0, "%s", r.err);
	tu_result_dispose(&r);
	sdf_store *mine = st;
	cr_assert_eq(sdf_store_open(&st, other, wt, 0), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(read_all(&got, &len, id, 5, NULL), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(len, 17);
	cr_assert_eq(memcmp(got, "in the alternate\n", 17), 0);
	free(got);
	sdf_store_free(st);
	st = mine;
	free(other);
	free(id);
}

/* Each allocation of open + read failing in turn: clean error, no leak. */
Test(blob_reader, allocation_failures_leak_nothing)
{
	char tree[SDF_OID_HEXSZ + 1], *got;
	size_t len, n = 100000;
	char *data = malloc(n);
	uint64_t i, reached = 0;
	int err = -1;

	fill_pseudo_random(data, n, 5);
	tu_write(wt, "f", data, n, 0);
	track(tree);
	char *id = blob_id(tree, "f");
	for (i = 1; i < 1000; i++) {
		size_t base = sdf_alloc_live();
		sdf_alloc_fail_at(i);
		err = read_all(&got, &len, id, 4096, NULL);
		reached = sdf_alloc_count_since_arm();
		sdf_alloc_fail_at(0);
		cr_assert_eq(sdf_alloc_live(), base, "leak at %llu",
		             (unsigned long long)i);
		if (err == 0) {
			cr_assert_eq(len, n);
			cr_assert_eq(memcmp(got, data, n), 0);
			free(got);
			if (reached < i)
				break;
			continue;
		}
		cr_assert_eq(err, SDF_EBUDGET, "%d %s", err, sdf_error_last());
	}
	cr_assert_eq(err, 0);
	cr_assert_gt(i, 2);
	free(id);
	free(data);
}

/* Lengths around SHA-1's 64-byte blocks and its padding boundary. */
Test(blob_reader, every_small_length_verifies)
{
	char tree[SDF_OID_HEXSZ + 1], name[32], data[200], *got, *id;
	size_t len;

	for (size_t n = 0; n < sizeof(data); n++)
		data[n] = (char)('a' + n % 26);
	for (size_t n = 0; n < 150; n++) {
		snprintf(name, sizeof(name), "f%03zu", n);
		tu_write(wt, name, data, n, 0);
	}
	track(tree);
	for (size_t n = 0; n < 150; n++) {
		snprintf(name, sizeof(name), "f%03zu", n);
		id = blob_id(tree, name);
		cr_assert_eq(read_all(&got, &len, id, 7, NULL), 0, "%zu: %s", n,
		             sdf_error_last());
		cr_assert_eq(len, n);
		cr_assert_eq(memcmp(got, data, n), 0);
		free(got);
		free(id);
	}
}
