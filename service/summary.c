#include "summary.h"
#include "sdf_alloc.h"
#include "sdf_classify.h"
#include "sdf_diff.h"
#include "sdf_error.h"
#include "sdf_tree.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CHUNK (256 * 1024)
#define HEAD_BYTES SDF_CLASSIFY_HEAD_MAX
/* Below this, a second thread costs more than it saves. */
#define PARALLEL_MIN ((uint64_t)1 << 20)

struct side_read {
	sdf_store *st;
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
	char *buf = NULL;
	size_t n;
	int err;

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
	} else if ((err = sdf_blob_reader_open(&r, s->st, s->oid)) == 0) {
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

/* Reads both present sides, in parallel when both are large. */
static int read_sides(struct side_read *old, struct side_read *new,
		      sdf_store *reader2, uint64_t old_size, uint64_t new_size)
{
	pthread_t th;
	int threaded = 0, err = 0;

	if (old->oid[0] && new->oid[0] && reader2 &&
	    old_size >= PARALLEL_MIN && new_size >= PARALLEL_MIN) {
		old->st = reader2;
		threaded = pthread_create(&th, NULL, read_side_thread, old) == 0;
		if (!threaded)
			old->st = new->st;
	}
	if (!threaded && old->oid[0] && (err = read_side(old)) < 0)
		return err;
	if (new->oid[0])
		err = read_side(new);
	if (threaded) {
		pthread_join(th, NULL);
		if (old->err < 0 && !err)
			err = sdf_error_set(old->err, "%s", old->msg);
	}
	return err;
}

static int attr(sdf_store *st, const char *path, const char *name)
{
	int v = 0;

	if (sdf_store_attr(&v, st, path, name) < 0)
		sdf_error_clear(); /* unreadable attributes: as unspecified */
	return v;
}

static void side_dispose(struct side_read *s)
{
	sdf_diff_side_free(s->side);
	s->side = NULL;
}

static int summarize_one(sdf_file_summary *f, const sdf_tree_change *c,
			 sdf_store *st, sdf_store *reader2,
			 const sdf_summary_options *opts,
			 uint64_t *patch_budget, char **patch_out)
{
	struct side_read old = {0}, new = {0};
	sdf_diff_lines_options lo = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result lr;
	sdf_classify_input ci = {0};
	int err, diff_attr, text;

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
	if ((c->old_oid[0] && c->old_mode != SDF_MODE_GITLINK &&
	     (err = sdf_store_object_size(&f->old_size, st, c->old_oid)) < 0) ||
	    (c->new_oid[0] && c->new_mode != SDF_MODE_GITLINK &&
	     (err = sdf_store_object_size(&f->new_size, st, c->new_oid)) < 0))
		goto done;
	f->oversized = f->old_size > opts->max_file_bytes ||
		       f->new_size > opts->max_file_bytes;
	err = read_sides(&old, &new, reader2, f->old_size, f->new_size);
	if (err == SDF_ETOOBIG) {
		/* a packed blob too large to read whole: sizes only, flagged */
		sdf_error_clear();
		f->exact = 0;
		err = 0;
		goto done;
	}
	if (err < 0)
		goto done;
	if (old.side) {
		f->old_lines = old.stats.lines;
		hash_hex(f->old_hash, &old.stats.content);
	}
	if (new.side) {
		f->new_lines = new.stats.lines;
		hash_hex(f->new_hash, &new.stats.content);
	}
	diff_attr = attr(st, c->path, "diff");
	f->binary = sdf_classify_binary(old.stats.binary || new.stats.binary,
					diff_attr);
	ci.path = c->path;
	ci.head = new.side ? new.head : old.head;
	ci.head_len = new.side ? new.head_len : old.head_len;
	ci.bytes = new.side ? new.stats.bytes : old.stats.bytes;
	ci.lines = new.side ? new.stats.lines : old.stats.lines;
	ci.attr_generated = attr(st, c->path, "linguist-generated");
	ci.attr_vendored = attr(st, c->path, "linguist-vendored");
	f->generated_reason = sdf_classify_generated(&ci);
	f->generated = f->generated_reason != NULL;
	if (f->binary)
		goto patch;
	if (!old.side) {
		f->additions = new.stats.lines;
	} else if (!new.side) {
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
	size_t n = 0;
	uint64_t patch_budget;
	int err;

	memset(totals, 0, sizeof(*totals));
	if (opts_in)
		opts = *opts_in;
	patch_budget = opts.max_total_patch_bytes;
	if ((err = sdf_tree_changes(&changes, &n, st, old_tree, new_tree)) < 0)
		return err;
	for (size_t i = 0; i < n; i++) {
		sdf_file_summary f;
		char *patch = NULL;

		if (opts.max_files && totals->files >= opts.max_files) {
			totals->truncated = 1;
			totals->omitted_files = n - i;
			break;
		}
		err = summarize_one(&f, &changes[i], st, reader2, &opts,
				    &patch_budget, &patch);
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
	sdf_tree_changes_free(changes, n);
	return err;
}
