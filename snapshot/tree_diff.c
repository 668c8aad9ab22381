/* Tree-to-tree listing, sizes, attributes and small patches (sdf_tree.h). */
#include "sdf_tree.h"
#include "store_int.h"
#include <git2/sys/repository.h>
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <string.h>

static int parse_tree(git_tree **out, sdf_store *st, const char *hex)
{
	git_oid id;
	int err;

	if ((err = git_oid_fromstr(&id, hex)) < 0)
		return sdf_error_set(SDF_EINVAL, "'%s' is not a tree id", hex);
	if ((err = git_tree_lookup(out, st->repo, &id)) < 0)
		return sdf_git_error(err, "cannot read tree %s", hex);
	return 0;
}

struct collect {
	sdf_tree_change *v;
	size_t n, cap;
	int err;
};

static char status_of(git_delta_t s)
{
	switch (s) {
	case GIT_DELTA_ADDED:
		return 'A';
	case GIT_DELTA_DELETED:
		return 'D';
	case GIT_DELTA_TYPECHANGE:
		return 'T';
	default:
		return 'M';
	}
}

static int add_delta(struct collect *c, const git_diff_delta *d)
{
	sdf_tree_change *ch;
	int has_old = d->status != GIT_DELTA_ADDED,
	    has_new = d->status != GIT_DELTA_DELETED;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		sdf_tree_change *v = sdf_reallocarray(c->v, cap, sizeof(*v));
		if (!v)
			return c->err = SDF_EBUDGET;
		c->v = v;
		c->cap = cap;
	}
	ch = &c->v[c->n];
	memset(ch, 0, sizeof(*ch));
	ch->status = status_of(d->status);
	if (!(ch->path =
	          sdf_strdup(has_new ? d->new_file.path : d->old_file.path)))
		return c->err = SDF_EBUDGET;
	if (has_old) {
		git_oid_tostr(ch->old_oid, sizeof(ch->old_oid),
		              &d->old_file.id);
		ch->old_mode = d->old_file.mode;
	}
	if (has_new) {
		git_oid_tostr(ch->new_oid, sizeof(ch->new_oid),
		              &d->new_file.id);
		ch->new_mode = d->new_file.mode;
	}
	c->n++;
	return 0;
}

/*
 * git_diff_tree_to_tree with an empty config in place of the store's.
 * libgit2 1.5.1 takes a snapshot of the repository's config for every diff
 * and frees it twice when an allocation fails while it copies it (heap
 * corruption, a crash later); none of what it reads there matters to a
 * tree diff without patches (the core.* settings are for worktrees, the
 * diff.* ones for patches; submodules are set in opts), and a snapshot of
 * an empty config copies nothing.
 */
static int diff_trees(git_diff **out, git_repository *repo, git_tree *a,
                      git_tree *b, const git_diff_options *opts)
{
	git_config *saved = NULL, *empty = NULL;
	int err;

	if ((err = git_repository_config(&saved, repo)) < 0 ||
	    (err = git_config_new(&empty)) < 0) {
		err = sdf_git_error(err, "cannot compare the trees");
		goto done;
	}
	git_repository_set_config(repo, empty);
	err = git_diff_tree_to_tree(out, repo, a, b, opts);
	git_repository_set_config(repo, saved);
	if (err < 0)
		err = sdf_git_error(err, "cannot compare the trees");
done:
	git_config_free(empty);
	git_config_free(saved);
	return err;
}

int sdf_tree_changes(sdf_tree_change **out, size_t *count, sdf_store *st,
                     const char *old_tree, const char *new_tree)
{
	git_tree *a = NULL, *b = NULL;
	git_diff *diff = NULL;
	git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
	struct collect c = {0};
	int err;

	*out = NULL;
	*count = 0;
	if ((err = parse_tree(&a, st, old_tree)) < 0 ||
	    (err = parse_tree(&b, st, new_tree)) < 0)
		goto done;
	/* no content is read: no binary check, no rename detection */
	opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_SKIP_BINARY_CHECK;
	opts.ignore_submodules = GIT_SUBMODULE_IGNORE_NONE;
	sdf_alloc_clear_failed();
	if ((err = diff_trees(&diff, st->repo, a, b, &opts)) < 0)
		goto done;
	/* a subtree libgit2 could not read would show as deleted */
	if ((err = sdf_git_swallowed("cannot compare the trees")) < 0)
		goto done;
	/* not git_diff_foreach: it would load blobs to classify them */
	for (size_t i = 0; i < git_diff_num_deltas(diff); i++)
		if ((err = add_delta(&c, git_diff_get_delta(diff, i))) < 0)
			goto done;
	*out = c.v;
	*count = c.n;
	c.v = NULL;
	c.n = 0;
done:
	sdf_tree_changes_free(c.v, c.n);
	git_diff_free(diff);
	git_tree_free(a);
	git_tree_free(b);
	return err;
}

void sdf_tree_changes_free(sdf_tree_change *list, size_t count)
{
	for (size_t i = 0; list && i < count; i++)
		sdf_free(list[i].path);
	sdf_free(list);
}

int sdf_store_object_size(uint64_t *out, sdf_store *st, const char *oid_hex)
{
	git_odb *odb = NULL;
	git_oid id;
	git_object_t type;
	size_t len = 0;
	int err;

	*out = 0;
	if (git_oid_fromstr(&id, oid_hex) < 0)
		return sdf_error_set(SDF_EINVAL, "'%s' is not an object id",
		                     oid_hex);
	if ((err = git_repository_odb(&odb, st->repo)) < 0)
		return sdf_git_error(err, "cannot open the object database");
	err = git_odb_read_header(&len, &type, odb, &id);
	git_odb_free(odb);
	if (err < 0)
		return sdf_git_error(err, "cannot read object %s", oid_hex);
	*out = len;
	return 0;
}

/*
 * git_attr_get falls back to .gitattributes blobs in the index, and so
 * reads the whole index (tens of MiB for a large worktree) to answer about
 * one path. The store's index is only our stat cache: look attributes up
 * in a second handle whose index is empty and in memory.
 */
static int attr_repo(git_repository **out, sdf_store *st)
{
	git_repository *repo = NULL;
	git_index *empty = NULL;
	int err;

	if (st->attr_repo) {
		*out = st->attr_repo;
		return 0;
	}
	/*
	 * A few KiB, never refused: libgit2 1.5.1 swallows a refusal while
	 * it loads the handle's config and keeps what it had read (3 KiB).
	 */
	sdf_alloc_unrefused_begin();
	if ((err = sdf_store_open_repo(&repo, st)) < 0)
		goto done;
	if ((err = git_index_new(&empty)) < 0) {
		err = sdf_git_error(err, "cannot make an empty index");
		goto done;
	}
	git_repository_set_index(repo, empty);
	*out = st->attr_repo = repo;
	repo = NULL;
done:
	sdf_alloc_unrefused_end();
	git_index_free(empty);
	git_repository_free(repo);
	return err;
}

int sdf_store_attr(int *out, sdf_store *st, const char *path, const char *name)
{
	git_repository *repo = NULL;
	const char *value = NULL;
	int err;

	*out = 0;
	if ((err = attr_repo(&repo, st)) < 0)
		return err;
	/*
	 * libgit2 1.5.1 cannot survive a refused allocation in an attribute
	 * lookup: it crashes (building its config snapshot), or leaves the
	 * attribute-cache lock held and waits forever on it, in that same
	 * lookup or the next one. Its allocations here (the attribute files
	 * of one path) are small: never refused.
	 */
	sdf_alloc_clear_failed();
	err = SDF_UNREFUSED(git_attr_get(
	    &value, repo, GIT_ATTR_CHECK_FILE_THEN_INDEX, path, name));
	if (err < 0)
		err =
		    sdf_git_error(err, "cannot read attributes of '%s'", path);
	else /* a failure swallowed: the answer may be wrong */
		err = sdf_git_swallowed("cannot read attributes of '%s'", path);
	if (err < 0) {
		/* whatever state the failure left the handle's attribute
		 * cache (and its lock) in goes with it; the next lookup opens
		 * a fresh one */
		git_repository_free(st->attr_repo);
		st->attr_repo = NULL;
		return err;
	}
	switch (git_attr_value(value)) {
	case GIT_ATTR_VALUE_TRUE:
		*out = 1;
		break;
	case GIT_ATTR_VALUE_FALSE:
		*out = -1;
		break;
	case GIT_ATTR_VALUE_STRING:
		*out = 2;
		break;
	default:
		*out = 0;
	}
	return 0;
}

static int blob_of(git_blob **out, sdf_store *st, const char *hex)
{
	git_oid id;
	int err;

	*out = NULL;
	if (!hex[0])
		return 0;
	if (git_oid_fromstr(&id, hex) < 0)
		return sdf_error_set(SDF_EINVAL, "'%s' is not an object id",
		                     hex);
	if ((err = git_blob_lookup(out, st->repo, &id)) < 0)
		return sdf_git_error(err, "cannot read blob %s", hex);
	return 0;
}

int sdf_store_patch(char **out, size_t *len, int *truncated, sdf_store *st,
                    const sdf_tree_change *c, size_t max_bytes)
{
	git_blob *a = NULL, *b = NULL;
	git_patch *patch = NULL;
	git_buf buf = GIT_BUF_INIT;
	git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
	int err;

	*out = NULL;
	*len = 0;
	*truncated = 0;
	if ((err = blob_of(&a, st, c->old_oid)) < 0 ||
	    (err = blob_of(&b, st, c->new_oid)) < 0)
		goto done;
	sdf_alloc_clear_failed();
	opts.context_lines = 3;
	opts.flags = GIT_DIFF_FORCE_TEXT;
	/*
	 * From the blobs' bytes, not the blobs: libgit2 would look up the
	 * path's diff driver in the store's attributes, and 1.5.1 crashes or
	 * waits forever on a lock when an allocation fails there. The bytes
	 * are already in memory (a blob is read whole).
	 */
	if ((err = git_patch_from_buffers(
	         &patch, a ? git_blob_rawcontent(a) : NULL,
	         a ? (size_t)git_blob_rawsize(a) : 0, c->path,
	         b ? git_blob_rawcontent(b) : NULL,
	         b ? (size_t)git_blob_rawsize(b) : 0, c->path, &opts)) < 0 ||
	    (err = git_patch_to_buf(&buf, patch)) < 0) {
		err = sdf_git_error(err, "cannot render the patch of '%s'",
		                    c->path);
		goto done;
	}
	/* a refusal libgit2 swallowed: the patch may lack its hunks */
	if ((err = sdf_git_swallowed("cannot render the patch of '%s'",
	                             c->path)) < 0)
		goto done;
	if (buf.size > max_bytes) {
		*truncated = 1;
		goto done;
	}
	if (!(*out = sdf_malloc(buf.size + 1))) {
		err = SDF_EBUDGET;
		goto done;
	}
	memcpy(*out, buf.ptr, buf.size);
	(*out)[buf.size] = '\0';
	*len = buf.size;
done:
	git_buf_dispose(&buf);
	git_patch_free(patch);
	git_blob_free(a);
	git_blob_free(b);
	return err;
}
