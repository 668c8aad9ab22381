/*
 * snapdiffd's server: one thread polls the listening socket and the
 * connections, cuts requests into lines and parses them; worker threads
 * run the methods and write the replies themselves.
 *
 * - A connection has at most one request in flight; the next line is not
 *   read until it is done. Its input buffer is bounded by the line cap.
 * - A worker writes a reply straight to the socket. When the client does
 *   not read, the worker blocks (so a streamed diff stops producing) for at
 *   most the write timeout, then the connection is dropped and the work
 *   canceled. At most one outgoing message per connection is held.
 * - While a request runs, the poll thread still watches its connection for
 *   a hang-up and flags the call canceled; the streamed diff stops at the
 *   next file.
 * - Memory admission: every method but ping and stats reserves an estimate
 *   of its peak from a ledger sized from the allocator's limit. A request
 *   that does not fit waits (up to the admission timeout), then is answered
 *   "busy". The allocator's hard limit stays the backstop: a request that
 *   still runs out gets an error, and the daemon keeps serving.
 * - Two lanes: heavy methods on --workers threads; ping, stats and the
 *   replies to malformed requests on a light thread, so a busy daemon still
 *   answers them at once.
 */
#define _GNU_SOURCE
#include "daemon_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"
#include "sdf_log.h"

#include <errno.h>
#include <git2.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define POLL_SLICE_MS 250
#define ACCEPT_PAUSE_MS 1000
/*
 * Descriptors kept for the requests themselves (a store's files, libgit2's
 * packs: up to 64 of those process-wide, a few per worker): connections
 * never take the last ones, so a flood of clients cannot make every
 * request fail with EMFILE. At most a quarter of the limit.
 */
#define FD_RESERVE_SHARED 64
#define FD_RESERVE_PER_WORKER 8
/*
 * Request lines being read: each connection's first LINE_FREE bytes are
 * its own; beyond them, all connections share the line pool (a sixteenth
 * of the budget, at least one full line), so clients holding long
 * unfinished lines cannot take the memory requests need. A buffer over
 * LINE_KEEP is given back once its line is read.
 */
#define LINE_FREE 4096
#define LINE_KEEP (64 * 1024)
#define STATIC_LINE 1024
/*
 * The light lane serves everyone's pings: a client that lets its small
 * replies pile up unread may hold it this long at most, then is dropped.
 */
#define LIGHT_WRITE_TIMEOUT_MS 1000

static _Thread_local int on_light_lane;

struct conn;

struct job {
	struct job *next;
	struct conn *c;
	const daemon_method *m;
	sdf_rpc_request req;  /* when m is set */
	sdf_rpc_failure fail; /* when m is NULL: the error to send */
	int fail_sdf;         /* and its SDF_E code when it has one */
	int close_after;
	int64_t started_ms;
};

struct conn {
	int fd;
	uint64_t serial;
	sdf_rpc_framer in;
	int busy;            /* a worker owns the job (poll thread's view) */
	int eof;             /* nothing more will be read */
	int close_now;       /* drop when the job is done */
	int64_t last_ms;     /* last activity, for the idle timeout */
	atomic_int hangup;   /* the client hung up while busy */
	atomic_int dead;     /* a write failed or timed out */
	size_t line_counted; /* of the line pool (poll thread) */
	struct job job;      /* the one request in flight */
	struct conn *next_done;
};

static struct {
	const daemon_config *cfg;
	int wake[2];
	atomic_int stopping;
	volatile sig_atomic_t signaled;

	pthread_mutex_t mu; /* queues, done list */
	pthread_cond_t heavy_cv, light_cv;
	struct job *heavy, **heavy_tail, *light, **light_tail;
	struct conn *done;

	/* admission */
	pthread_mutex_t adm_mu;
	pthread_cond_t adm_cv;
	size_t capacity, reserved;
	size_t line_pool, line_bytes; /* poll thread only */

	/* counters */
	atomic_uint_fast64_t requests, errors, busy_replies, waits, canceled;
	atomic_uint_fast64_t connections_total, refused, cache_hits;
	atomic_uint nconns, inflight, warmed;
	int64_t started_ms;
} srv;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake_poller(void)
{
	char b = 1;
	ssize_t r;

	do
		r = write(srv.wake[1], &b, 1);
	while (r < 0 && errno == EINTR);
}

static void on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	srv.signaled = 1;
	wake_poller();
	errno = saved;
}

/* ---- writing ---- */

/*
 * Writes all of buf, waiting for the client to read at most the write
 * timeout in all. 0, or SDF_ECANCELED with the connection marked dead.
 */
static int send_all(struct conn *c, const char *buf, size_t len)
{
	int64_t waited = 0;
	int limit = srv.cfg->write_timeout_ms;

	if (on_light_lane && limit > LIGHT_WRITE_TIMEOUT_MS)
		limit = LIGHT_WRITE_TIMEOUT_MS;

	while (len) {
		ssize_t n;
		struct pollfd p;

		if (atomic_load(&c->dead))
			return SDF_ECANCELED;
		n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			waited = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			log_debug("connection %llu: %s",
			          (unsigned long long)c->serial,
			          strerror(errno));
			atomic_store(&c->dead, 1);
			return SDF_ECANCELED;
		}
		if (atomic_load(&srv.stopping) && limit > 2000)
			limit = 2000;
		if (waited >= limit) {
			log_warn("connection %llu: the client stopped reading "
			         "for %d ms; dropping it",
			         (unsigned long long)c->serial, limit);
			atomic_store(&c->dead, 1);
			return SDF_ECANCELED;
		}
		p.fd = c->fd;
		p.events = POLLOUT;
		p.revents = 0;
		if (poll(&p, 1, POLL_SLICE_MS) < 0 && errno != EINTR) {
			atomic_store(&c->dead, 1);
			return SDF_ECANCELED;
		}
		if (p.revents & (POLLERR | POLLHUP)) {
			atomic_store(&c->dead, 1);
			return SDF_ECANCELED;
		}
		if (!(p.revents & POLLOUT))
			waited += POLL_SLICE_MS;
	}
	return 0;
}

/* Sends a line a daemon_*_reply call made (freed when owned). */
static void send_reply(struct conn *c, char *line, size_t len, int owned)
{
	if (line)
		send_all(c, line, len);
	if (owned)
		sdf_free(line);
}

/*
 * Sends the error of an SDF code (or a JSON-RPC code when rpc_code, with
 * the SDF code's data when both are given).
 */
static void send_error(struct conn *c, json_t *id, int rpc_code,
                       const char *message, int sdf_code)
{
	char fallback[STATIC_LINE];
	size_t len;
	int owned;
	char *line =
	    daemon_error_reply(&len, &owned, fallback, sizeof(fallback), id,
	                       rpc_code, message, sdf_code);

	send_reply(c, line, len, owned);
}

int daemon_notify(daemon_call *call, const char *method, json_t *params)
{
	struct conn *c = call->conn;
	size_t len;
	char *line;
	int err;

	if (!call->id) {
		json_decref(params);
		return daemon_canceled(call) ? SDF_ECANCELED : 0;
	}
	if (daemon_canceled(call)) {
		json_decref(params);
		return sdf_error_set(SDF_ECANCELED,
		                     "the client hung up or stopped reading");
	}
	if (!(line = sdf_rpc_notification_line(&len, method, params)))
		return sdf_error_set(SDF_EBUDGET,
		                     "over the memory budget while encoding a "
		                     "notification");
	err = send_all(c, line, len);
	sdf_free(line);
	if (err < 0)
		return sdf_error_set(SDF_ECANCELED,
		                     "the client hung up or stopped reading");
	return 0;
}

int daemon_canceled(daemon_call *call)
{
	struct conn *c;

	if (!call) /* the pruner's own admission */
		return atomic_load(&srv.stopping);
	c = call->conn;

	return atomic_load(&c->hangup) || atomic_load(&c->dead) ||
	       atomic_load(&srv.stopping);
}

/* ---- admission ---- */

static int admit(size_t *bytes, daemon_call *call)
{
	int64_t deadline = now_ms() + srv.cfg->admit_timeout_ms;
	int counted = 0, err = 0;

	if (*bytes > srv.capacity)
		*bytes = srv.capacity; /* runs alone; the allocator decides */
	pthread_mutex_lock(&srv.adm_mu);
	while (srv.reserved + *bytes > srv.capacity) {
		struct timespec ts;
		int64_t left = deadline - now_ms();

		if (!counted++)
			atomic_fetch_add(&srv.waits, 1);
		if (daemon_canceled(call)) {
			err = sdf_error_set(
			    SDF_ECANCELED, "canceled while waiting for memory");
			break;
		}
		if (left <= 0) {
			err = sdf_error_set(
			    SDF_EBUSY,
			    "busy: %zu of %zu budget bytes are reserved by "
			    "running requests and this one needs %zu (waited "
			    "%d ms)",
			    srv.reserved, srv.capacity, *bytes,
			    srv.cfg->admit_timeout_ms);
			break;
		}
		if (left > POLL_SLICE_MS)
			left = POLL_SLICE_MS;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (long)(left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&srv.adm_cv, &srv.adm_mu, &ts);
	}
	if (!err)
		srv.reserved += *bytes;
	pthread_mutex_unlock(&srv.adm_mu);
	return err;
}

static void release(size_t bytes)
{
	pthread_mutex_lock(&srv.adm_mu);
	srv.reserved -= bytes;
	pthread_cond_broadcast(&srv.adm_cv);
	pthread_mutex_unlock(&srv.adm_mu);
}

json_t *daemon_server_stats(void)
{
	size_t reserved;

	pthread_mutex_lock(&srv.adm_mu);
	reserved = srv.reserved;
	pthread_mutex_unlock(&srv.adm_mu);
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I}",
	    "memory_limit", (json_int_t)sdf_alloc_limit(), "live_bytes",
	    (json_int_t)sdf_alloc_live(), "peak_bytes",
	    (json_int_t)sdf_alloc_peak(), "admission_capacity",
	    (json_int_t)srv.capacity, "reserved_bytes", (json_int_t)reserved,
	    "requests", (json_int_t)atomic_load(&srv.requests), "errors",
	    (json_int_t)atomic_load(&srv.errors), "busy",
	    (json_int_t)atomic_load(&srv.busy_replies), "waits",
	    (json_int_t)atomic_load(&srv.waits), "canceled",
	    (json_int_t)atomic_load(&srv.canceled), "in_flight",
	    (json_int_t)atomic_load(&srv.inflight), "connections",
	    (json_int_t)atomic_load(&srv.nconns), "connections_total",
	    (json_int_t)atomic_load(&srv.connections_total),
	    "connections_refused", (json_int_t)atomic_load(&srv.refused),
	    "cache_hits", (json_int_t)atomic_load(&srv.cache_hits), "workers",
	    (json_int_t)srv.cfg->workers, "uptime_ms",
	    (json_int_t)(now_ms() - srv.started_ms));
}

void daemon_count_cache_hits(uint64_t n)
{
	atomic_fetch_add(&srv.cache_hits, n);
}

int daemon_admit(size_t *bytes)
{
	return admit(bytes, NULL);
}

void daemon_release(size_t bytes)
{
	release(bytes);
}

/* ---- running a job (worker threads) ---- */

static void run_job(struct job *j)
{
	struct conn *c = j->c;
	daemon_call call = {srv.cfg, j->req.id, j->req.params, c};
	char fallback[STATIC_LINE], *line;
	size_t reserve = 0, len;
	int rc, owned;

	if (!j->m) {
		/* a malformed request: answer it */
		atomic_fetch_add(&srv.errors, 1);
		send_error(c, j->fail.id, j->fail.code, j->fail.message,
		           j->fail_sdf);
		return;
	}
	atomic_fetch_add(&srv.requests, 1);
	sdf_error_clear();
	if (atomic_load(&srv.stopping)) {
		rc = sdf_error_set(SDF_ECANCELED, "snapdiffd is shutting down");
		goto fail;
	}
	if (j->m->estimate && (reserve = j->m->estimate(&call)) > 0 &&
	    (rc = admit(&reserve, &call)) < 0) {
		reserve = 0;
		goto fail;
	}
	rc = daemon_request_run(&line, &len, j->m, &call);
	if (reserve)
		release(reserve);
	if (rc < 0)
		goto fail;
	if (!line)
		return; /* a notification */
	send_all(c, line, len);
	sdf_free(line);
	log_debug("connection %llu: %s done in %lld ms",
	          (unsigned long long)c->serial, j->m->name,
	          (long long)(now_ms() - j->started_ms));
	return;
fail:
	atomic_fetch_add(&srv.errors, 1);
	if (rc == SDF_EBUSY)
		atomic_fetch_add(&srv.busy_replies, 1);
	if (rc == SDF_ECANCELED)
		atomic_fetch_add(&srv.canceled, 1);
	log_info("connection %llu: %s failed: %s",
	         (unsigned long long)c->serial, j->m->name, sdf_error_last());
	if (!call.id || atomic_load(&c->dead))
		return;
	line = daemon_failure_reply(&len, &owned, fallback, sizeof(fallback),
	                            call.id, rc);
	send_reply(c, line, len, owned);
}

static void *worker_main(void *arg)
{
	int light = arg != NULL;
	struct job **head = light ? &srv.light : &srv.heavy;
	struct job ***tail = light ? &srv.light_tail : &srv.heavy_tail;
	pthread_cond_t *cv = light ? &srv.light_cv : &srv.heavy_cv;

	/*
	 * libgit2 allocates a thread's state, and a buffer for its error
	 * messages, on their first use there; do it now, so that live bytes
	 * measure requests, not which thread got one first.
	 */
	{
		char msg[512];
		memset(msg, '.', sizeof(msg) - 1);
		msg[sizeof(msg) - 1] = '\0';
		git_error_set_str(GIT_ERROR_NONE, msg);
		git_error_clear();
	}
	on_light_lane = light;
	atomic_fetch_add(&srv.warmed, 1);
	for (;;) {
		struct job *j;

		pthread_mutex_lock(&srv.mu);
		while (!*head && !atomic_load(&srv.stopping))
			pthread_cond_wait(cv, &srv.mu);
		if (!*head) {
			pthread_mutex_unlock(&srv.mu);
			return NULL;
		}
		j = *head;
		if (!(*head = j->next))
			*tail = head;
		pthread_mutex_unlock(&srv.mu);

		atomic_fetch_add(&srv.inflight, 1);
		run_job(j);
		if (j->m)
			sdf_rpc_request_dispose(&j->req);
		else
			sdf_rpc_failure_dispose(&j->fail);
		atomic_fetch_sub(&srv.inflight, 1);

		pthread_mutex_lock(&srv.mu);
		j->c->next_done = srv.done;
		srv.done = j->c;
		pthread_mutex_unlock(&srv.mu);
		wake_poller();
	}
}

/* ---- the poll thread ---- */

static void enqueue(struct conn *c, int light)
{
	struct job *j = &c->job;

	j->next = NULL;
	j->c = c;
	j->started_ms = now_ms();
	c->busy = 1;
	pthread_mutex_lock(&srv.mu);
	if (light) {
		*srv.light_tail = j;
		srv.light_tail = &j->next;
		pthread_cond_signal(&srv.light_cv);
	} else {
		*srv.heavy_tail = j;
		srv.heavy_tail = &j->next;
		pthread_cond_signal(&srv.heavy_cv);
	}
	pthread_mutex_unlock(&srv.mu);
}

/* Queues the answer to a request that cannot be run. */
static void enqueue_failure(struct conn *c, int code, int sdf_code, json_t *id,
                            const char *message)
{
	struct job *j = &c->job;

	memset(j, 0, sizeof(*j));
	j->fail.code = code;
	j->fail_sdf = sdf_code;
	j->fail.id = id ? json_incref(id) : json_null();
	snprintf(j->fail.message, sizeof(j->fail.message), "%s", message);
	enqueue(c, 1);
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
	struct job *j = &c->job;

	memset(j, 0, sizeof(*j));
	daemon_request_parse(&j->m, &j->req, &j->fail, line, len,
	                     srv.cfg->max_depth);
	if (j->m) {
		enqueue(c, j->m->light);
		return;
	}
	if (j->fail.notification) {
		/* a notification's errors are not answered */
		atomic_fetch_add(&srv.errors, 1);
		sdf_rpc_failure_dispose(&j->fail);
		return;
	}
	enqueue(c, 1); /* j->m == NULL: answer j->fail */
}

static void line_release(struct conn *c)
{
	srv.line_bytes -= c->line_counted;
	c->line_counted = 0;
}

/* Counts what the framer's next read may grow to against the line pool. */
static int line_room(struct conn *c)
{
	size_t want = sdf_rpc_framer_want(&c->in);
	size_t counted = want > LINE_FREE ? want - LINE_FREE : 0;

	if (counted <= c->line_counted)
		return 0;
	if (srv.line_bytes - c->line_counted + counted > srv.line_pool) {
		log_info("connection %llu: request lines being read hold %zu "
		         "of %zu bytes; refusing this one's %zu",
		         (unsigned long long)c->serial, srv.line_bytes,
		         srv.line_pool, want);
		return sdf_error_set(SDF_EBUDGET,
		                     "over the memory for request lines");
	}
	srv.line_bytes += counted - c->line_counted;
	c->line_counted = counted;
	return 0;
}

/* Reads and dispatches until the connection is busy or has nothing. */
static void serve_input(struct conn *c)
{
	char msg[160];

	while (!c->busy && !c->close_now) {
		const char *line;
		size_t len, room;
		char *dst;
		ssize_t n;
		int r = sdf_rpc_framer_next(&c->in, &line, &len);

		if (r == 1) {
			/* a blank line is skipped: not activity either */
			if (!blank(line, len)) {
				c->last_ms = now_ms();
				handle_line(c, line, len);
			}
			continue;
		}
		if (r == 0 && c->eof) {
			if (!sdf_rpc_framer_pending(&c->in))
				return;
			/* a last line without its newline */
			if ((r = line_room(c)) == 0 &&
			    (r = sdf_rpc_framer_space(&c->in, &dst, &room)) ==
			        0) {
				*dst = '\n';
				sdf_rpc_framer_commit(&c->in, 1);
				continue;
			}
		}
		if (r == 0 && !sdf_rpc_framer_pending(&c->in) &&
		    c->in.cap > LINE_KEEP) {
			/* the long line is done: give its buffer back */
			sdf_rpc_framer_dispose(&c->in);
			sdf_rpc_framer_init(&c->in, srv.cfg->max_line);
			line_release(c);
		}
		if (r == 0 && (r = line_room(c)) == 0) {
			r = sdf_rpc_framer_space(&c->in, &dst, &room);
			if (r == 0) {
				n = recv(c->fd, dst, room, MSG_DONTWAIT);
				if (n > 0) {
					sdf_rpc_framer_commit(&c->in,
					                      (size_t)n);
					continue;
				}
				if (n == 0) {
					c->eof = 1;
					continue;
				}
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return;
				c->eof = 1;
				c->close_now = 1;
				return;
			}
		}
		/* over the line cap or out of budget: answer, then close */
		c->eof = 1;
		c->close_now = 1;
		if (r == SDF_ETOOBIG) {
			snprintf(msg, sizeof(msg),
			         "request line over %zu bytes; the connection "
			         "is closed (snapdiffd --max-request-bytes)",
			         srv.cfg->max_line);
			log_warn("connection %llu: %s",
			         (unsigned long long)c->serial, msg);
			enqueue_failure(c, SDF_RPC_ETOOBIG, SDF_ETOOBIG, NULL,
			                msg);
		} else {
			enqueue_failure(
			    c, SDF_RPC_EBUDGET, SDF_EBUDGET, NULL,
			    "over the memory budget while reading "
			    "the request; the connection is closed; "
			    "retry");
		}
		return;
	}
}

static void conn_free(struct conn *c)
{
	log_debug("connection %llu closed", (unsigned long long)c->serial);
	close(c->fd);
	sdf_rpc_framer_dispose(&c->in);
	line_release(c);
	sdf_free(c);
	atomic_fetch_sub(&srv.nconns, 1);
}

static int peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("SO_PEERCRED: %s", strerror(errno));
		return 0;
	}
	if (cred.uid != getuid()) {
		log_warn("refused a client of uid %u (pid %d): only uid %u may "
		         "connect",
		         (unsigned)cred.uid, (int)cred.pid, (unsigned)getuid());
		return 0;
	}
	return 1;
}

/* The lowest descriptor a connection may not have. */
static long fd_ceiling(void)
{
	struct rlimit r;
	long limit, reserve;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur == RLIM_INFINITY ||
	    r.rlim_cur > (rlim_t)1 << 30)
		return (long)1 << 30;
	limit = (long)r.rlim_cur;
	reserve = FD_RESERVE_SHARED + FD_RESERVE_PER_WORKER * srv.cfg->workers;
	if (reserve > limit / 4)
		reserve = limit / 4;
	return limit - reserve;
}

/*
 * Accepts what is pending. Returns -1 on EMFILE/ENFILE, or when the
 * descriptors kept for requests would be taken (pause).
 */
static int accept_all(int lfd, struct conn **conns, unsigned *n,
                      uint64_t *serial)
{
	long ceiling = fd_ceiling();

	while (*n < srv.cfg->max_connections) {
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= ceiling) {
			/* the lowest free descriptor: the ones below are
			 * taken, and what is left is for requests */
			log_warn("accept: descriptor %d of %ld reached (the "
			         "rest is kept for requests); refusing the "
			         "connection and pausing for %d ms",
			         fd, ceiling, ACCEPT_PAUSE_MS);
			atomic_fetch_add(&srv.refused, 1);
			close(fd);
			return -1;
		}
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept: %s; pausing for %d ms",
				         strerror(errno), ACCEPT_PAUSE_MS);
				return -1;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept: %s", strerror(errno));
			return 0;
		}
		if (!peer_ok(fd)) {
			atomic_fetch_add(&srv.refused, 1);
			close(fd);
			continue;
		}
		if (!(c = sdf_calloc(1, sizeof(*c)))) {
			log_warn(
			    "refused a connection: over the memory budget");
			atomic_fetch_add(&srv.refused, 1);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->serial = ++*serial;
		c->last_ms = now_ms();
		sdf_rpc_framer_init(&c->in, srv.cfg->max_line);
		conns[(*n)++] = c;
		atomic_fetch_add(&srv.nconns, 1);
		atomic_fetch_add(&srv.connections_total, 1);
		log_debug("connection %llu accepted",
		          (unsigned long long)c->serial);
	}
	return 0;
}

static void drain_wake(void)
{
	char buf[256];

	while (read(srv.wake[0], buf, sizeof(buf)) > 0)
		;
}

static void collect_done(void)
{
	struct conn *c;

	pthread_mutex_lock(&srv.mu);
	c = srv.done;
	srv.done = NULL;
	pthread_mutex_unlock(&srv.mu);
	while (c) {
		struct conn *next = c->next_done;
		c->busy = 0;
		c->last_ms = now_ms();
		if (atomic_load(&c->dead) || atomic_load(&c->hangup))
			c->close_now = 1;
		atomic_store(&c->hangup, 0);
		c = next;
	}
}

/* Closes the listening socket and removes its file (unless inherited). */
static void stop_listening(const daemon_config *cfg)
{
	struct stat a;

	if (cfg->owns_socket && cfg->socket_path &&
	    lstat(cfg->socket_path, &a) == 0 && S_ISSOCK(a.st_mode) &&
	    a.st_ino == cfg->socket_ino && a.st_dev == cfg->socket_dev) {
		/* only our own socket: not one a successor bound since */
		unlink(cfg->socket_path);
	}
	close(cfg->listen_fd);
}

int daemon_server_run(const daemon_config *cfg)
{
	struct conn **conns = NULL;
	struct pollfd *pfd = NULL;
	pthread_t *threads = NULL;
	unsigned n = 0, nthreads = 0;
	uint64_t serial = 0;
	int64_t accept_paused_until = 0;
	size_t headroom;
	sigset_t block;
	struct sigaction sa;
	int rc = 1;

	srv.cfg = cfg;
	srv.started_ms = now_ms();
	srv.heavy_tail = &srv.heavy;
	srv.light_tail = &srv.light;
	pthread_mutex_init(&srv.mu, NULL);
	pthread_cond_init(&srv.heavy_cv, NULL);
	pthread_cond_init(&srv.light_cv, NULL);
	pthread_mutex_init(&srv.adm_mu, NULL);
	pthread_cond_init(&srv.adm_cv, NULL);
	/*
	 * What requests may reserve: the limit less what is live now and a
	 * headroom for connections, the light lane and what libgit2 is never
	 * refused (repository handles, refs, index updates: snapshot/).
	 */
	headroom = ((size_t)8 << 20) + cfg->memory_limit / 16;
	if (cfg->memory_limit > sdf_alloc_live() + headroom + ((size_t)1 << 20))
		srv.capacity = cfg->memory_limit - sdf_alloc_live() - headroom;
	else
		srv.capacity = cfg->memory_limit / 2;

	srv.line_pool = cfg->memory_limit / 16;
	if (srv.line_pool < cfg->max_line + 1)
		srv.line_pool = cfg->max_line + 1;

	if (pipe2(srv.wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	conns = calloc(cfg->max_connections, sizeof(*conns));
	pfd = calloc(cfg->max_connections + 2, sizeof(*pfd));
	threads = calloc(cfg->workers + 1, sizeof(*threads));
	if (!conns || !pfd || !threads) {
		log_error("out of memory");
		goto done;
	}
	/* workers never take the signals (main() blocked them early, so
	 * that one sent before the handlers were in place waits for them) */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	for (unsigned i = 0; i <= cfg->workers; i++) {
		void *light = i == cfg->workers ? (void *)1 : NULL;
		if (pthread_create(&threads[i], NULL, worker_main, light) !=
		    0) {
			log_error("cannot start a worker thread");
			break;
		}
		nthreads++;
	}
	/* every worker has its per-thread state before the first request */
	while (atomic_load(&srv.warmed) < nthreads)
		usleep(1000);
	if (daemon_pruner_start(cfg->prune_interval_s) < 0)
		log_warn("%s: stores are not pruned", sdf_error_last());
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	if (nthreads != cfg->workers + 1) {
		atomic_store(&srv.stopping, 1);
		goto join;
	}
	log_info("snapdiffd %s: %u workers, memory limit %zu bytes (%zu for "
	         "requests), at most %u connections",
	         SDF_VERSION, cfg->workers, cfg->memory_limit, srv.capacity,
	         cfg->max_connections);

	for (;;) {
		int64_t now = now_ms();
		int timeout = 1000, accepting, k = 0;
		unsigned busy = 0;

		if (srv.signaled && !atomic_load(&srv.stopping)) {
			log_info("stopping: no new connections; finishing "
			         "the requests in flight");
			atomic_store(&srv.stopping, 1);
			stop_listening(cfg);
			pthread_mutex_lock(&srv.adm_mu);
			pthread_cond_broadcast(&srv.adm_cv);
			pthread_mutex_unlock(&srv.adm_mu);
		}
		for (unsigned i = 0; i < n; i++)
			busy += conns[i]->busy;
		if (atomic_load(&srv.stopping) && !busy)
			break;
		accepting = !atomic_load(&srv.stopping) &&
		            n < cfg->max_connections &&
		            now >= accept_paused_until;
		pfd[k].fd = srv.wake[0];
		pfd[k++].events = POLLIN;
		pfd[k].fd = accepting ? cfg->listen_fd : -1;
		pfd[k++].events = POLLIN;
		for (unsigned i = 0; i < n; i++) {
			struct conn *c = conns[i];
			pfd[k].fd = c->fd;
			/* busy: only hang-ups (POLLHUP is always reported) */
			pfd[k++].events = c->busy || c->eof ? 0 : POLLIN;
			if (!c->busy) {
				int64_t left =
				    c->last_ms + cfg->idle_timeout_ms - now;
				if (left < timeout)
					timeout = left < 0 ? 0 : (int)left;
			}
		}
		if (!accepting && now < accept_paused_until &&
		    accept_paused_until - now < timeout)
			timeout = (int)(accept_paused_until - now);
		if (poll(pfd, (nfds_t)k, timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			drain_wake();
		collect_done();
		if (accepting && (pfd[1].revents & POLLIN) &&
		    accept_all(cfg->listen_fd, conns, &n, &serial) < 0)
			accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
		now = now_ms();
		for (unsigned i = 0; i < n; i++) {
			struct conn *c = conns[i];
			short re = i + 2 < (unsigned)k && pfd[i + 2].fd == c->fd
			               ? pfd[i + 2].revents
			               : 0;
			if (c->busy) {
				if (re & (POLLHUP | POLLERR)) {
					if (!atomic_exchange(&c->hangup, 1))
						log_debug(
						    "connection %llu: the "
						    "client hung up; "
						    "canceling",
						    (unsigned long long)
						        c->serial);
				}
				continue;
			}
			(void)re; /* not busy: read what is there, or EAGAIN */
			if (atomic_load(&srv.stopping))
				c->close_now = 1; /* take no new requests */
			else if (!c->close_now)
				serve_input(c);
			if (!c->busy && !c->close_now &&
			    now - c->last_ms >= cfg->idle_timeout_ms) {
				log_info("connection %llu: idle for %d ms; "
				         "closing",
				         (unsigned long long)c->serial,
				         cfg->idle_timeout_ms);
				c->close_now = 1;
			}
			if (!c->busy &&
			    (c->close_now ||
			     (c->eof && !sdf_rpc_framer_pending(&c->in)))) {
				conn_free(c);
				conns[i] = conns[--n];
				/* the moved one is served next round */
				pfd[i + 2].fd = -1;
				i--;
			}
		}
	}
	rc = 0;
join:
	if (!atomic_load(&srv.stopping))
		stop_listening(cfg);
	atomic_store(&srv.stopping, 1);
	pthread_mutex_lock(&srv.adm_mu);
	pthread_cond_broadcast(&srv.adm_cv);
	pthread_mutex_unlock(&srv.adm_mu);
	daemon_pruner_stop();
	pthread_mutex_lock(&srv.mu);
	pthread_cond_broadcast(&srv.heavy_cv);
	pthread_cond_broadcast(&srv.light_cv);
	pthread_mutex_unlock(&srv.mu);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	collect_done();
done:
	for (unsigned i = 0; i < n; i++)
		conn_free(conns[i]);
	free(conns);
	free(pfd);
	free(threads);
	close(srv.wake[0]);
	close(srv.wake[1]);
	return rc;
}
