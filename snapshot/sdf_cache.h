/*
 * The store's result cache: per-blob and per-pair records the diff
 * composition keeps so that a blob seen before is not inflated again.
 * Records live under STORE/snapdiff-cache/<kind>/<key[0..1]>/<key>, are
 * written to a temporary file and renamed into place (a crash leaves no
 * half record), and are evicted oldest-used first when the cache passes
 * its byte bound. Small records are zstd-compressed; large ones (a side's
 * line hashes) are written by the caller through a file descriptor.
 */
#ifndef SDF_CACHE_H
#define SDF_CACHE_H

#include "sdf_snapshot.h"

typedef struct sdf_cache sdf_cache;

/* Default bound: store config snapdiff.cacheMaxBytes overrides it. */
#define SDF_CACHE_MAX_BYTES_DEFAULT ((uint64_t)512 << 20)

/*
 * Opens the cache of a snapdiff store (NULL *out, and 0, for a store that
 * is an ordinary git directory: we never write into a user's .git).
 */
int sdf_cache_open(sdf_cache **out, sdf_store *st);
void sdf_cache_free(sdf_cache *c);

/*
 * Drops every record of the store's cache (derived data: a prune that must
 * bring the store under its quota frees it before any snapshot). Adds the
 * bytes freed to *freed.
 */
int sdf_cache_clear(sdf_store *st, uint64_t *freed);

/* A small record: SDF_ENOTFOUND when absent. Free *data with sdf_free(). */
int sdf_cache_get(void **data, size_t *len, sdf_cache *c, const char *kind,
                  const char *key);
int sdf_cache_put(sdf_cache *c, const char *kind, const char *key,
                  const void *data, size_t len);

/* A large record, read-only fd (SDF_ENOTFOUND when absent). */
int sdf_cache_open_file(int *fd, sdf_cache *c, const char *kind,
                        const char *key);
/*
 * Writing a large record: create gives a writable fd of a temporary file;
 * commit names it (and enforces the bound), abort drops it. Both close fd.
 */
typedef struct {
	int fd;
	char tmp[512];
	char final[512];
} sdf_cache_file;
int sdf_cache_create_file(sdf_cache_file *f, sdf_cache *c, const char *kind,
                          const char *key);
int sdf_cache_commit_file(sdf_cache *c, sdf_cache_file *f);
void sdf_cache_abort_file(sdf_cache_file *f);

#endif
