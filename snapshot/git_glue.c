/* libgit2 set-up and error translation. */
#include "store_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <git2/sys/alloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void *g_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return sdf_malloc(n);
}

static void *g_calloc(size_t nelem, size_t elsize, const char *file, int line)
{
	(void)file;
	(void)line;
	return sdf_calloc(nelem, elsize);
}

static char *g_strdup(const char *s, const char *file, int line)
{
	(void)file;
	(void)line;
	return sdf_strdup(s);
}

static char *g_strndup(const char *s, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return sdf_strndup(s, n);
}

static char *g_substrdup(const char *s, size_t n, const char *file, int line)
{
	char *p;

	(void)file;
	(void)line;
	if (n == SIZE_MAX || !(p = sdf_malloc(n + 1)))
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void *g_realloc(void *ptr, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return sdf_realloc(ptr, n);
}

static void *g_reallocarray(void *ptr, size_t nelem, size_t elsize,
                            const char *file, int line)
{
	(void)file;
	(void)line;
	return sdf_reallocarray(ptr, nelem, elsize);
}

static void *g_mallocarray(size_t nelem, size_t elsize, const char *file,
                           int line)
{
	(void)file;
	(void)line;
	return sdf_reallocarray(NULL, nelem, elsize);
}

static git_allocator counting_allocator = {
    g_malloc,  g_calloc,       g_strdup,      g_strndup, g_substrdup,
    g_realloc, g_reallocarray, g_mallocarray, sdf_free};

int sdf_snapshot_global_init(void)
{
	int err;

	if ((err = git_libgit2_opts(GIT_OPT_SET_ALLOCATOR,
	                            &counting_allocator)) < 0)
		return sdf_git_error(err, "cannot install the allocator");
	if ((err = git_libgit2_init()) < 0)
		return sdf_git_error(err, "cannot initialise libgit2");
	/*
	 * No object cache: we stream, not cache, and libgit2 1.5.1's cache
	 * hands back the raw object in place of the parsed one when an
	 * allocation fails as it swaps one for the other (cache_store): a
	 * tree lookup then returns a git_odb_object, and its reader crashes.
	 * Pack windows are bounded.
	 */
	git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 0);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)(1 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)(8 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, (size_t)64);
	/* Refs and objects are written atomically; fsync is the caller's. */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
	return 0;
}

void sdf_snapshot_global_shutdown(void)
{
	git_libgit2_shutdown();
}

int sdf_git_swallowed(const char *fmt, ...)
{
	char ctx[256];
	va_list ap;

	if (!sdf_alloc_failed())
		return 0;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	return sdf_error_set(SDF_EBUDGET, "%s: memory budget exceeded", ctx);
}

int sdf_git_error(int giterr, const char *fmt, ...)
{
	int saved_errno = errno; /* the failed system call's, if any */
	const git_error *ge = git_error_last();
	char ctx[256];
	int code;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (sdf_alloc_failed()) {
		sdf_alloc_clear_failed();
		return sdf_error_set(SDF_EBUDGET,
		                     "%s: memory budget exceeded (%zu bytes)",
		                     ctx, sdf_alloc_limit());
	}
	if ((!ge || !ge->message || !ge->message[0]) && saved_errno)
		return sdf_error_set_errno(SDF_EIO, saved_errno, "%s", ctx);
	switch (giterr) {
	case GIT_ENOTFOUND:
		code = SDF_ENOTFOUND;
		break;
	case GIT_ELOCKED:
		code = SDF_ELOCKED;
		break;
	case GIT_EAMBIGUOUS:
	case GIT_EINVALIDSPEC:
	case GIT_EINVALID:
		code = SDF_EINVAL;
		break;
	default:
		code = SDF_ERROR;
		if (ge && ge->klass == GIT_ERROR_OS &&
		    strstr(ge->message, "No space left"))
			code = SDF_ENOSPC;
		else if (ge && (ge->klass == GIT_ERROR_ZLIB ||
		                ge->klass == GIT_ERROR_ODB ||
		                ge->klass == GIT_ERROR_OBJECT))
			code = SDF_ECORRUPT;
	}
	return sdf_error_set(code, "%s: %s", ctx,
	                     ge && ge->message ? ge->message : "libgit2 error");
}

/*
 * Reading refs, never refused: libgit2 1.5.1 (refdb_fs.c, loose_lookup)
 * returns success with no reference when an allocation fails while it
 * reads a loose ref, then dereferences it (git_reference_lookup,
 * git_reference_next, rev-parsing). A ref is a few dozen bytes; a listing
 * holds the names of one glob's refs.
 */
int sdf_ref_lookup(git_reference **out, git_repository *repo, const char *name)
{
	return SDF_UNREFUSED(git_reference_lookup(out, repo, name));
}

int sdf_ref_iterator(git_reference_iterator **out, git_repository *repo,
                     const char *glob)
{
	return SDF_UNREFUSED(git_reference_iterator_glob_new(out, repo, glob));
}

int sdf_ref_next(git_reference **out, git_reference_iterator *it)
{
	return SDF_UNREFUSED(git_reference_next(out, it));
}

int sdf_revparse(git_object **out, git_repository *repo, const char *spec)
{
	return SDF_UNREFUSED(git_revparse_single(out, repo, spec));
}

int sdf_ref_create(git_reference **out, git_repository *repo, const char *name,
                   const git_oid *id, int force, const char *log_message)
{
	return SDF_UNREFUSED(
	    git_reference_create(out, repo, name, id, force, log_message));
}

int sdf_index_add(git_index *index, const git_index_entry *entry)
{
	return SDF_UNREFUSED(git_index_add(index, entry));
}

int sdf_index_write(git_index *index)
{
	return SDF_UNREFUSED(git_index_write(index));
}
