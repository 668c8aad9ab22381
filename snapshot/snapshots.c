/*
 * Snapshot records: each snapshot is a parentless commit of its tree, named
 * by a ref refs/snapdiff/snapshots/<id>, so stock git keeps every one and
 * pruning one is dropping its ref. refs/snapdiff/head names the newest.
 */
#include "snapshots_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG_TITLE "snapdiff snapshot"

int sdf_label_check(const char *label)
{
	size_t len;

	if (!label)
		return 0;
	len = strlen(label);
	if (len == 0 || len > 200)
		return sdf_error_set(SDF_EINVAL,
		                     "a label is 1 to 200 bytes long");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			return sdf_error_set(
			    SDF_EINVAL, "a label has no control characters");
	return 0;
}

/* "key: value" line of a snapshot commit message, or NULL. */
static const char *field(const char *msg, const char *key, size_t *len)
{
	size_t klen = strlen(key);

	for (const char *line = msg; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t l = end ? (size_t)(end - line) : strlen(line);
		if (l > klen + 1 && !strncmp(line, key, klen) &&
		    line[klen] == ':' && line[klen + 1] == ' ') {
			*len = l - klen - 2;
			return line + klen + 2;
		}
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

static uint64_t field_u64(const char *msg, const char *key)
{
	size_t len;
	const char *v = field(msg, key, &len);

	return v ? strtoull(v, NULL, 10) : 0;
}

static int fill_info(sdf_snapshot_info *info, git_commit *commit,
                     const char *refname)
{
	const char *msg = git_commit_message(commit), *v;
	size_t len;

	memset(info, 0, sizeof(*info));
	snprintf(info->id, sizeof(info->id), "%s",
	         refname + strlen(SDF_SNAPSHOT_REF_PREFIX));
	git_oid_tostr(info->tree, sizeof(info->tree),
	              git_commit_tree_id(commit));
	git_oid_tostr(info->commit, sizeof(info->commit),
	              git_commit_id(commit));
	info->time = (int64_t)git_commit_time(commit);
	info->files = field_u64(msg, "files");
	info->bytes = field_u64(msg, "bytes");
	if ((v = field(msg, "label", &len)) &&
	    !(info->label = sdf_strndup(v, len)))
		return SDF_EBUDGET;
	return 0;
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const sdf_snapshot_info *)a)->id,
	              ((const sdf_snapshot_info *)b)->id);
}

int sdf_snapshot_log(sdf_snapshot_info **out, size_t *count, sdf_store *st)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	git_commit *commit = NULL;
	sdf_snapshot_info *list = NULL, *grown;
	size_t n = 0, cap = 0;
	int err;

	*out = NULL;
	*count = 0;
	sdf_alloc_clear_failed();
	/* (libgit2 1.5.1 also leaks the iterator when refused) */
	if ((err = sdf_ref_iterator(&it, st->repo,
	                            SDF_SNAPSHOT_REF_PREFIX "*")) < 0) {
		err = sdf_git_error(err, "cannot list snapshots");
		goto done;
	}
	while ((err = sdf_ref_next(&ref, it)) == 0) {
		const git_oid *target = git_reference_target(ref);
		if (!target ||
		    git_commit_lookup(&commit, st->repo, target) < 0) {
			/* not ours (a ref someone made by hand): skip it */
			git_reference_free(ref);
			ref = NULL;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if (!(grown =
			          sdf_reallocarray(list, cap, sizeof(*list)))) {
				err = SDF_EBUDGET;
				goto done;
			}
			list = grown;
		}
		if ((err = fill_info(&list[n], commit,
		                     git_reference_name(ref))) < 0)
			goto done;
		n++;
		git_commit_free(commit);
		commit = NULL;
		git_reference_free(ref);
		ref = NULL;
	}
	if (err != GIT_ITEROVER) {
		err = sdf_git_error(err, "cannot list snapshots");
		goto done;
	}
	/* libgit2 skipped a ref, or a commit looked missing */
	if ((err = sdf_git_swallowed("cannot list snapshots")) < 0)
		goto done;
	if (n)
		qsort(list, n, sizeof(*list), cmp_info);
	*out = list;
	*count = n;
	list = NULL;
	n = 0;
done:
	sdf_snapshot_log_free(list, n);
	git_commit_free(commit);
	git_reference_free(ref);
	git_reference_iterator_free(it);
	return err;
}

void sdf_snapshot_log_free(sdf_snapshot_info *list, size_t count)
{
	for (size_t i = 0; list && i < count; i++)
		sdf_free(list[i].label);
	sdf_free(list);
}

/* The newest snapshot, if any: its commit and id. */
static int newest(git_commit **out, git_repository *repo)
{
	git_reference *head = NULL;
	int err;

	*out = NULL;
	sdf_alloc_clear_failed();
	err = sdf_ref_lookup(&head, repo, SDF_HEAD_REF);
	if (err == GIT_ENOTFOUND)
		goto none;
	if (err < 0)
		return sdf_git_error(err, "cannot read %s", SDF_HEAD_REF);
	if (git_reference_target(head))
		err = git_commit_lookup(out, repo, git_reference_target(head));
	git_reference_free(head);
	if (err == GIT_ENOTFOUND)
		goto none;
	return err < 0 ? sdf_git_error(err, "cannot read the newest snapshot")
	               : 0;
none:
	/*
	 * libgit2 says "not found" when an allocation failed while it read
	 * the ref or its commit: then a snapshot of an unchanged tree would
	 * be recorded twice.
	 */
	return sdf_git_swallowed("cannot read the newest snapshot");
}

static void make_id(char *buf, size_t len, const struct timespec *ts,
                    unsigned attempt)
{
	struct tm tm;
	int n;

	gmtime_r(&ts->tv_sec, &tm);
	n = snprintf(buf, len, "%04d%02d%02dT%02d%02d%02d.%09ldZ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, ts->tv_nsec);
	if (attempt && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "-%u", attempt);
}

int sdf_snapshot_record(sdf_track_result *res, git_repository *repo,
                        const git_oid *tree_id, const char *label)
{
	git_commit *head = NULL;
	git_tree *tree = NULL;
	/*
	 * Built here rather than by git_signature_new, which allocates (and,
	 * in libgit2 1.5.1, leaks the half-built signature when an
	 * allocation fails); the name and address are valid as they are.
	 */
	git_signature sig = {
	    (char *)"snapdiff", (char *)"snapdiff@localhost", {0, 0, '+'}};
	git_reference *ref = NULL, *href = NULL;
	git_oid commit_id;
	struct timespec ts;
	char msg[512], refname[128];
	size_t len;
	const char *v;
	int err;

	git_oid_tostr(res->tree, sizeof(res->tree), tree_id);
	if ((err = newest(&head, repo)) < 0)
		goto done;
	if (head && !label &&
	    git_oid_equal(git_commit_tree_id(head), tree_id) &&
	    (v = field(git_commit_message(head), "id", &len)) &&
	    len < sizeof(res->id)) {
		memcpy(res->id, v, len);
		res->id[len] = '\0';
		res->created = 0;
		goto done;
	}
	if ((err = git_tree_lookup(&tree, repo, tree_id)) < 0) {
		err = sdf_git_error(err, "cannot read the new tree");
		goto done;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	sig.when.time = (git_time_t)ts.tv_sec;
	for (unsigned attempt = 0;; attempt++) {
		make_id(res->id, sizeof(res->id), &ts, attempt);
		snprintf(msg, sizeof(msg),
		         MSG_TITLE "\n\nid: %s\n%s%s%sfiles: %" PRIu64
		                   "\nbytes: %" PRIu64 "\n",
		         res->id, label ? "label: " : "", label ? label : "",
		         label ? "\n" : "", res->files, res->bytes);
		if ((err = git_commit_create(&commit_id, repo, NULL, &sig, &sig,
		                             NULL, msg, tree, 0, NULL)) < 0) {
			err = sdf_git_error(err, "cannot record the snapshot");
			goto done;
		}
		snprintf(refname, sizeof(refname), "%s%s",
		         SDF_SNAPSHOT_REF_PREFIX, res->id);
		err = sdf_ref_create(&ref, repo, refname, &commit_id, 0,
		                     "snapdiff track");
		if (err != GIT_EEXISTS || attempt > 100)
			break;
	}
	if (err < 0) {
		err = sdf_git_error(err, "cannot record the snapshot");
		goto done;
	}
	if ((err = sdf_ref_create(&href, repo, SDF_HEAD_REF, &commit_id, 1,
	                          "snapdiff track")) < 0) {
		err = sdf_git_error(err, "cannot update %s", SDF_HEAD_REF);
		goto done;
	}
	res->created = 1;
done:
	git_reference_free(href);
	git_reference_free(ref);
	git_tree_free(tree);
	git_commit_free(head);
	return err;
}
