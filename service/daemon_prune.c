/*
 * The daemon's pruner: one thread, off the request path, that applies each
 * store's retention policy (snapdiff.keepDays, keepCount, maxBytes; see
 * sdf_store_prune) on a timer, and soon after a track that may have put a
 * store over its quota. Its memory is admitted against the budget like a
 * request's.
 */
#include "daemon_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"
#include "sdf_log.h"
#include "sdf_snapshot.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define PRUNER_STORES 64
/* prune's own structures stay well under this (see sdf_store_prune) */
#define PRUNE_RESERVE ((size_t)16 << 20)

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *paths[PRUNER_STORES];
	int pending[PRUNER_STORES]; /* a track wrote to it since */
	size_t n;
	int stop, running, interval_s;
	pthread_t th;
} pr = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

void daemon_pruner_note(const char *store_path, int tracked)
{
	size_t i;

	if (!pr.running)
		return;
	pthread_mutex_lock(&pr.mu);
	for (i = 0; i < pr.n && strcmp(pr.paths[i], store_path); i++)
		;
	if (i == pr.n && pr.n < PRUNER_STORES &&
	    (pr.paths[i] = sdf_strdup(store_path)))
		pr.n++;
	if (i < pr.n && tracked) {
		pr.pending[i] = 1;
		pthread_cond_signal(&pr.cv);
	}
	pthread_mutex_unlock(&pr.mu);
}

/* tick: the timer's round (apply the whole policy); else after a track:
 * prune only when the store is over its maxBytes. */
static void prune_one(const char *path, int tick)
{
	sdf_store *st = NULL;
	sdf_retention pol;
	sdf_store_usage use;
	sdf_prune_result res;
	size_t need = PRUNE_RESERVE;

	if (daemon_admit(&need) < 0) {
		log_warn("prune %s: %s", path, sdf_error_last());
		return;
	}
	if (sdf_store_open(&st, path, NULL, 0) < 0 ||
	    sdf_retention_get(&pol, st) < 0)
		goto fail;
	if (!pol.keep_days && !pol.keep_count && !pol.max_bytes)
		goto done; /* no policy: keep everything */
	if (!tick) {
		if (!pol.max_bytes)
			goto done;
		if (sdf_store_du(&use, st) < 0)
			goto fail;
		if (use.bytes <= pol.max_bytes)
			goto done;
	}
	if (sdf_store_prune(&res, st, NULL) < 0)
		goto fail;
	log_info("pruned %s: %zu of %zu snapshots expired, %llu objects "
	         "(%llu bytes) deleted, %llu bytes now%s",
	         path, res.expired, res.snapshots,
	         (unsigned long long)res.objects_deleted,
	         (unsigned long long)res.bytes_deleted,
	         (unsigned long long)res.bytes_after,
	         res.over_quota ? " (still over quota: young objects)" : "");
	goto done;
fail:
	log_warn("prune %s: %s", path, sdf_error_last());
done:
	sdf_store_free(st);
	daemon_release(need);
}

static void *pruner_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pr.mu);
	while (!pr.stop) {
		struct timespec until;
		char *todo[PRUNER_STORES];
		size_t n = 0;
		int tick = 0, any = 0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += pr.interval_s;
		while (!pr.stop && !tick) {
			for (size_t i = 0; i < pr.n; i++)
				any |= pr.pending[i];
			if (any)
				break;
			tick =
			    pthread_cond_timedwait(&pr.cv, &pr.mu, &until) != 0;
		}
		if (pr.stop)
			break;
		for (size_t i = 0; i < pr.n; i++) {
			if (!tick && !pr.pending[i])
				continue;
			pr.pending[i] = 0;
			if ((todo[n] = sdf_strdup(pr.paths[i])))
				n++;
		}
		pthread_mutex_unlock(&pr.mu);
		for (size_t i = 0; i < n; i++) {
			prune_one(todo[i], tick);
			sdf_free(todo[i]);
		}
		pthread_mutex_lock(&pr.mu);
	}
	pthread_mutex_unlock(&pr.mu);
	return NULL;
}

int daemon_pruner_start(int interval_s)
{
	if (interval_s <= 0)
		return 0; /* pruning is off */
	pr.interval_s = interval_s;
	pr.stop = 0;
	if (pthread_create(&pr.th, NULL, pruner_main, NULL) != 0)
		return sdf_error_set(SDF_ERROR, "cannot start the pruner");
	pr.running = 1;
	return 0;
}

void daemon_pruner_stop(void)
{
	if (!pr.running)
		return;
	pthread_mutex_lock(&pr.mu);
	pr.stop = 1;
	pthread_cond_signal(&pr.cv);
	pthread_mutex_unlock(&pr.mu);
	pthread_join(pr.th, NULL);
	pr.running = 0;
	for (size_t i = 0; i < pr.n; i++)
		sdf_free(pr.paths[i]);
	pr.n = 0;
}
