#include "summary.h"
#include "sdf_alloc.h"
#include "sdf_cache.h"
#include "sdf_classify.h"
#include "sdf_diff.h"
#include "sdf_error.h"
#include "sdf_tree.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (256 * 1024)
#define HEAD_BYTES SDF_CLASSIFY_HEAD_MAX
/* Below this, a second thread costs more than it saves. */
#define PARALLEL_MIN ((uint64_t)1 << 20)
/* Sides of blobs this large are cached (their line hashes); smaller ones
 * are cheaper to read again than to keep. */
#define SIDE_CACHE_MIN ((uint64_t)256 << 10)
/* Cache record kinds; the digit is the format's version. */
#define KIND_PAIR "pair1"
#define KIND_SIDE "side1"
#define KIND_HEAD "head1"

/* What a diff of two blobs found, kept in the cache (then the head). */
struct pair_rec {
	uint32_t version;
	uint32_t head_len;
	uint64_t old_size, new_size, old_lines, new_lines;
	uint64_t additions, deletions;
	sdf_diff_hash old_hash, new_hash;
	uint8_t exact, nul_old, nul_new, pad[5];
};

struct side_read {
	sdf_store *st;
	int cached; /* opened from the cache: nothing to stream */
	const char *oid;
	uint32_t mode;
	sdf_diff_side *side;
	sdf_diff_stats stats;
	unsigned char head[HEAD_BYTES];
	size_t head_len;
	int err;
	char msg[SDF_ERROR_MSG_MAX];
};

static int feed(struct side_read *s, const void *buf, size_t n)
{
	if (s->head_len < HEAD_BYTES) {
		size_t take = HEAD_BYTES - s->head_len;
		if (take > n)
			take = n;
		memcpy(s->head + s->head_len, buf, take);
		s->head_len += take;
	}
	return sdf_diff_side_feed(s->side, buf, n);
}

/* Streams one side into the engine. Runs on either thread. */
static int read_side(struct side_read *s)
{
	sdf_blob_reader *r = NULL;
	sdf_blob_reader_options verify_opts = SDF_BLOB_READER_OPTIONS_INIT;
	char *buf = NULL;
	size_t n;
	int err;

	/* zlib's checksum and the length still catch a damaged object */
	verify_opts.no_verify = 1;
	if ((err = sdf_diff_side_new(&s->side, NULL)) < 0)
		return err;
	if (s->mode == SDF_MODE_GITLINK) {
		/* git diffs a submodule as one line naming its commit */
		char line[64];
		int len = snprintf(line, sizeof(line), "Subproject commit %s\n",
		                   s->oid);
		err = feed(s, line, (size_t)len);
	} else if (!(buf = sdf_malloc(CHUNK))) {
		err = SDF_EBUDGET;
	} else if ((err = sdf_blob_reader_open_ext(&r, s->st, s->oid,
	                                           &verify_opts)) == 0) {
		while ((err = sdf_blob_reader_read(&n, r, buf, CHUNK)) == 0 &&
		       n > 0)
			if ((err = feed(s, buf, n)) < 0)
				break;
	}
	if (!err)
		err = sdf_diff_side_finish(s->side);
	if (!err)
		err = sdf_diff_side_stats(&s->stats, s->side);
	sdf_blob_reader_free(r);
	sdf_free(buf);
	return err;
}

static void *read_side_thread(void *arg)
{
	struct side_read *s = arg;

	if ((s->err = read_side(s)) < 0)
		snprintf(s->msg, sizeof(s->msg), "%s", sdf_error_last());
	return NULL;
}

static void hash_hex(char out[33], const sdf_diff_hash *h)
{
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, h->hi, h->lo);
}

/* A side from the cache, if it is there: its line hashes and head. */
static void load_side(struct side_read *s, sdf_cache *cache, uint64_t size)
{
	void *head = NULL;
	size_t len = 0;
	int fd = -1;

	if (!cache || !s->oid[0] || s->mode == SDF_MODE_GITLINK ||
	    size < SIDE_CACHE_MIN)
		return;
	if (sdf_cache_get(&head, &len, cache, KIND_HEAD, s->oid) == 0 &&
	    len <= sizeof(s->head) &&
	    sdf_cache_open_file(&fd, cache, KIND_SIDE, s->oid) == 0 &&
	    sdf_diff_side_open_saved(&s->side, fd, 0) == 0 &&
	    sdf_diff_side_stats(&s->stats, s->side) == 0) {
		memcpy(s->head, head, len);
		s->head_len = len;
		s->cached = 1;
	} else {
		sdf_diff_side_free(s->side);
		s->side = NULL;
	}
	if (fd >= 0)
		close(fd);
	sdf_free(head);
	sdf_error_clear(); /* a miss or a damaged record: read the blob */
}

/* Keeps a streamed side for the next diff; failures only cost a miss. */
static void save_side(struct side_read *s, sdf_cache *cache, uint64_t size)
{
	sdf_cache_file f;

	if (!cache || !s->side || s->cached || s->mode == SDF_MODE_GITLINK ||
	    size < SIDE_CACHE_MIN)
		return;
	if (sdf_cache_create_file(&f, cache, KIND_SIDE, s->oid) == 0) {
		if (sdf_diff_side_save(s->side, f.fd) == 0)
			sdf_cache_commit_file(cache, &f);
		else
			sdf_cache_abort_file(&f);
	}
	sdf_cache_put(cache, KIND_HEAD, s->oid, s->head, s->head_len);
	sdf_error_clear();
}

/* Reads both present sides, in parallel when both are large. */
static int read_sides(struct side_read *old, struct side_read *new,
                      sdf_store *reader2, sdf_cache *cache, uint64_t old_size,
                      uint64_t new_size)
{
	pthread_t th;
	int threaded = 0, err = 0;
	int read_old, read_new;

	load_side(old, cache, old_size);
	load_side(new, cache, new_size);
	read_old = old->oid[0] && !old->cached;
	read_new = new->oid[0] && !new->cached;
	if (read_old && read_new && reader2 && old_size >= PARALLEL_MIN &&
	    new_size >= PARALLEL_MIN) {
		old->st = reader2;
		threaded =
		    pthread_create(&th, NULL, read_side_thread, old) == 0;
		if (!threaded)
			old->st = new->st;
	}
	if (!threaded && read_old && (err = read_side(old)) < 0)
		return err;
	if (read_new)
		err = read_side(new);
	if (threaded) {
		pthread_join(th, NULL);
		if (old->err < 0 && !err)
			err = sdf_error_set(old->err, "%s", old->msg);
	}
	if (err < 0)
		return err;
	/* the next turn's diff starts from this one's new side */
	save_side(new, cache, new_size);
	(void)old_size;
	return 0;
}

static void pair_key(char key[81], const sdf_tree_change *c)
{
	snprintf(key, 81, "%s%s",
	         c->old_oid[0] ? c->old_oid
	                       : "0000000000000000000000000000000000000000",
	         c->new_oid[0] ? c->new_oid
	                       : "0000000000000000000000000000000000000000");
}

/* A pair diffed before: counts, stats and the head, without any body. */
static int load_pair(sdf_file_summary *f, struct side_read *old,
                     struct side_read *new, int *nul, sdf_cache *cache,
                     const sdf_tree_change *c)
{
	struct pair_rec rec;
	void *data = NULL;
	size_t len = 0;
	char key[81];
	struct side_read *head_side = c->new_oid[0] ? new : old;

	if (!cache || c->old_mode == SDF_MODE_GITLINK ||
	    c->new_mode == SDF_MODE_GITLINK)
		return 0;
	pair_key(key, c);
	if (sdf_cache_get(&data, &len, cache, KIND_PAIR, key) < 0) {
		sdf_error_clear();
		return 0;
	}
	memcpy(&rec, data, len < sizeof(rec) ? len : sizeof(rec));
	if (len < sizeof(rec) || rec.version != 1 ||
	    rec.head_len > sizeof(head_side->head) ||
	    len != sizeof(rec) + rec.head_len) {
		sdf_free(data);
		return 0;
	}
	f->old_size = rec.old_size;
	f->new_size = rec.new_size;
	f->old_lines = rec.old_lines;
	f->new_lines = rec.new_lines;
	f->additions = rec.additions;
	f->deletions = rec.deletions;
	f->exact = rec.exact;
	old->stats.content = rec.old_hash;
	new->stats.content = rec.new_hash;
	old->stats.bytes = rec.old_size;
	new->stats.bytes = rec.new_size;
	old->stats.lines = rec.old_lines;
	new->stats.lines = rec.new_lines;
	*nul = rec.nul_old || rec.nul_new;
	memcpy(head_side->head, (char *)data + sizeof(rec), rec.head_len);
	head_side->head_len = rec.head_len;
	sdf_free(data);
	return 1;
}

static void save_pair(const sdf_file_summary *f, const struct side_read *old,
                      const struct side_read *new, sdf_cache *cache,
                      const sdf_tree_change *c)
{
	const struct side_read *head_side = c->new_oid[0] ? new : old;
	struct pair_rec rec;
	char key[81], *buf;

	if (!cache || c->old_mode == SDF_MODE_GITLINK ||
	    c->new_mode == SDF_MODE_GITLINK)
		return;
	memset(&rec, 0, sizeof(rec));
	rec.version = 1;
	rec.head_len = (uint32_t)head_side->head_len;
	rec.old_size = f->old_size;
	rec.new_size = f->new_size;
	rec.old_lines = f->old_lines;
	rec.new_lines = f->new_lines;
	rec.additions = f->additions;
	rec.deletions = f->deletions;
	rec.old_hash = old->stats.content;
	rec.new_hash = new->stats.content;
	rec.exact = (uint8_t)f->exact;
	rec.nul_old = (uint8_t)old->stats.binary;
	rec.nul_new = (uint8_t) new->stats.binary;
	if (!(buf = sdf_malloc(sizeof(rec) + rec.head_len)))
		return;
	memcpy(buf, &rec, sizeof(rec));
	memcpy(buf + sizeof(rec), head_side->head, rec.head_len);
	pair_key(key, c);
	sdf_cache_put(cache, KIND_PAIR, key, buf, sizeof(rec) + rec.head_len);
	sdf_free(buf);
	sdf_error_clear();
}

/*
 * An attribute of path: unreadable attributes read as unspecified, but not
 * when the budget ran out (SDF_EBUDGET): the file would then be classified
 * as if it had none, and the diff would be wrong without saying so.
 */
static int attr(int *v, sdf_store *st, const char *path, const char *name)
{
	int err = sdf_store_attr(v, st, path, name);

	if (err == SDF_EBUDGET)
		return err;
	if (err < 0) {
		*v = 0;
		sdf_error_clear();
	}
	return 0;
}

static void side_dispose(struct side_read *s)
{
	sdf_diff_side_free(s->side);
	s->side = NULL;
}

static int summarize_one(sdf_file_summary *f, const sdf_tree_change *c,
                         sdf_store *st, sdf_store *reader2, sdf_cache *cache,
                         const sdf_summary_options *opts,
                         uint64_t *patch_budget, char **patch_out,
                         uint64_t *hits)
{
	struct side_read old = {0}, new = {0};
	sdf_diff_lines_options lo = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result lr;
	sdf_classify_input ci = {0};
	int err = 0, text, nul = 0, cached, attr_diff = 0;
	int has_old = c->old_oid[0] != '\0', has_new = c->new_oid[0] != '\0';
	struct side_read *main_side = has_new ? &new : &old;

	memset(f, 0, sizeof(*f));
	f->path = c->path;
	f->status = c->status == 'A'   ? SDF_FILE_ADDED
	            : c->status == 'D' ? SDF_FILE_DELETED
	            : c->status == 'T' ? SDF_FILE_TYPE_CHANGED
	                               : SDF_FILE_MODIFIED;
	memcpy(f->old_oid, c->old_oid, sizeof(f->old_oid));
	memcpy(f->new_oid, c->new_oid, sizeof(f->new_oid));
	f->old_mode = c->old_mode;
	f->new_mode = c->new_mode;
	f->exact = 1;
	old.st = new.st = st;
	old.oid = c->old_oid;
	old.mode = c->old_mode;
	new.oid = c->new_oid;
	new.mode = c->new_mode;
	/* a pair seen before costs one small read and no body at all */
	cached = load_pair(f, &old, &new, &nul, cache, c);
	*hits += (uint64_t)cached;
	if (!cached) {
		if ((has_old && c->old_mode != SDF_MODE_GITLINK &&
		     (err = sdf_store_object_size(&f->old_size, st,
		                                  c->old_oid)) < 0) ||
		    (has_new && c->new_mode != SDF_MODE_GITLINK &&
		     (err = sdf_store_object_size(&f->new_size, st,
		                                  c->new_oid)) < 0))
			goto done;
		err = read_sides(&old, &new, reader2, cache, f->old_size,
		                 f->new_size);
		if (err == SDF_ETOOBIG) {
			/* a packed blob too large to read whole: sizes only */
			sdf_error_clear();
			f->exact = 0;
			f->oversized = 1;
			err = 0;
			goto done;
		}
		if (err < 0)
			goto done;
		nul = old.stats.binary || new.stats.binary;
		f->old_lines = old.stats.lines;
		f->new_lines = new.stats.lines;
	}
	f->oversized = f->old_size > opts->max_file_bytes ||
	               f->new_size > opts->max_file_bytes;
	if (has_old)
		hash_hex(f->old_hash, &old.stats.content);
	if (has_new)
		hash_hex(f->new_hash, &new.stats.content);
	if ((err = attr(&attr_diff, st, c->path, "diff")) < 0 ||
	    (err = attr(&ci.attr_generated, st, c->path,
	                "linguist-generated")) < 0 ||
	    (err = attr(&ci.attr_vendored, st, c->path, "linguist-vendored")) <
	        0)
		goto done;
	f->binary = sdf_classify_binary(nul, attr_diff);
	ci.path = c->path;
	ci.head = main_side->head;
	ci.head_len = main_side->head_len;
	ci.bytes = main_side->stats.bytes;
	ci.lines = main_side->stats.lines;
	f->generated_reason = sdf_classify_generated(&ci);
	f->generated = f->generated_reason != NULL;
	if (f->binary) {
		f->additions = f->deletions = 0;
		goto patch;
	}
	if (cached)
		goto patch;
	if (!has_old) {
		f->additions = new.stats.lines;
	} else if (!has_new) {
		f->deletions = old.stats.lines;
	} else if (old.stats.bytes != new.stats.bytes ||
	           memcmp(&old.stats.content, &new.stats.content,
	                  sizeof(old.stats.content)) != 0) {
		lo.work_budget = opts->work_budget;
		if ((err = sdf_diff_lines(&lr, old.side, new.side, &lo)) < 0)
			goto done;
		f->additions = lr.additions;
		f->deletions = lr.deletions;
		f->exact = lr.exact;
	}
	save_pair(f, &old, &new, cache, c);
patch:
	text = !f->binary && !f->oversized && !f->generated &&
	       c->old_mode != SDF_MODE_GITLINK &&
	       c->new_mode != SDF_MODE_GITLINK;
	if (opts->patches && text && (f->additions || f->deletions)) {
		uint64_t cap = opts->max_patch_bytes < *patch_budget
		                   ? opts->max_patch_bytes
		                   : *patch_budget;
		int truncated = 0;
		if (cap == 0)
			truncated = 1;
		else if ((err = sdf_store_patch(patch_out, &f->patch_len,
		                                &truncated, st, c,
		                                (size_t)cap)) < 0)
			goto done;
		f->patch = *patch_out;
		f->patch_truncated = truncated;
		*patch_budget -= f->patch_len;
	}
done:
	side_dispose(&old);
	side_dispose(&new);
	if (err < 0)
		sdf_error_prefix("'%s'", c->path);
	return err;
}

int sdf_summarize(sdf_diff_totals *totals, sdf_store *st, sdf_store *reader2,
                  const char *old_tree, const char *new_tree,
                  const sdf_summary_options *opts_in)
{
	sdf_summary_options opts = SDF_SUMMARY_OPTIONS_INIT;
	sdf_tree_change *changes = NULL;
	sdf_cache *cache = NULL;
	size_t n = 0;
	uint64_t patch_budget;
	int err;

	memset(totals, 0, sizeof(*totals));
	if (opts_in)
		opts = *opts_in;
	patch_budget = opts.max_total_patch_bytes;
	if ((err = sdf_tree_changes(&changes, &n, st, old_tree, new_tree)) < 0)
		return err;
	if (!opts.no_cache && (err = sdf_cache_open(&cache, st)) < 0) {
		sdf_tree_changes_free(changes, n);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		sdf_file_summary f;
		char *patch = NULL;

		if (opts.max_files && totals->files >= opts.max_files) {
			totals->truncated = 1;
			totals->omitted_files = n - i;
			break;
		}
		err = summarize_one(&f, &changes[i], st, reader2, cache, &opts,
		                    &patch_budget, &patch, &totals->cache_hits);
		if (err == 0) {
			totals->files++;
			totals->additions += f.additions;
			totals->deletions += f.deletions;
			totals->binary_files += (uint64_t)f.binary;
			totals->generated_files += (uint64_t)f.generated;
			totals->oversized_files += (uint64_t)f.oversized;
			totals->estimated_files += (uint64_t)!f.exact;
			totals->patch_bytes += f.patch_len;
			if (opts.on_file && opts.on_file(&f, opts.payload) < 0)
				err = sdf_error_last_code() < 0
				          ? sdf_error_last_code()
				          : SDF_ECANCELED;
		}
		sdf_free(patch);
		if (err < 0)
			break;
	}
	totals->peak_bytes = sdf_alloc_peak();
	sdf_cache_free(cache);
	sdf_tree_changes_free(changes, n);
	return err;
}
