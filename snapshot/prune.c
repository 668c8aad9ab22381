/*
 * prune: expire snapshots by the retention policy, then delete the loose
 * objects that nothing keeps.
 *
 * Roots: every ref (those under refs/snapdiff/ and any other), a detached HEAD,
 * every reflog entry, and the store's index: the blob of each entry and each
 * tree of its cache-tree extension, because the next track reuses both without
 * writing them again.
 *
 * Bounded memory: trees, commits and tags seen go into an exact open-address
 * set (a tree met again is skipped, so shared trees are read once); blobs
 * are never read, only their ids from the trees, and go into a Bloom filter
 * sized from the count of loose objects (10 bits each, at most
 * BLOOM_MAX_BYTES). The sweep keeps every loose object that is in either; a
 * Bloom false positive keeps an unreachable blob, never the reverse, and the
 * seed changes every run, so a later prune frees it. The index is streamed
 * through a fixed buffer.
 */
#include "prune_int.h"
#include "sdf_alloc.h"
#include "sdf_cache.h"
#include "sdf_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define BLOOM_MAX_BYTES ((size_t)32 << 20)
#define BLOOM_BITS_PER_OBJECT 10
#define BLOOM_HASHES 7
#define MAX_ROUNDS 4
#define INDEX_BUF (64 * 1024)

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	                              : -1;
}

/* ---- the exact set of trees, commits and tags -------------------------- */

typedef struct {
	unsigned char (*slots)[GIT_OID_RAWSZ]; /* all-zero: empty */
	size_t cap, used;                      /* cap: a power of two */
} oidset;

static int is_zero(const unsigned char *id)
{
	for (size_t i = 0; i < GIT_OID_RAWSZ; i++)
		if (id[i])
			return 0;
	return 1;
}

static size_t slot_of(const unsigned char *id, size_t cap)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h)); /* SHA-1 bytes are uniform enough */
	return (size_t)h & (cap - 1);
}

static int oidset_has(const oidset *s, const unsigned char *id)
{
	if (!s->cap)
		return 0;
	for (size_t i = slot_of(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (is_zero(s->slots[i]))
			return 0;
		if (!memcmp(s->slots[i], id, GIT_OID_RAWSZ))
			return 1;
	}
}

static void oidset_put(oidset *s, const unsigned char *id)
{
	size_t i = slot_of(id, s->cap);

	while (!is_zero(s->slots[i])) {
		if (!memcmp(s->slots[i], id, GIT_OID_RAWSZ))
			return;
		i = (i + 1) & (s->cap - 1);
	}
	memcpy(s->slots[i], id, GIT_OID_RAWSZ);
	s->used++;
}

/* Adds id (never the zero id); kept at most half full. */
static int oidset_add(oidset *s, const unsigned char *id)
{
	if (is_zero(id))
		return 0;
	if ((s->used + 1) * 2 > s->cap) {
		oidset bigger = {NULL, s->cap ? s->cap * 2 : 1024, 0};
		if (bigger.cap < s->cap ||
		    !(bigger.slots = sdf_calloc(bigger.cap, GIT_OID_RAWSZ)))
			return sdf_error_set(SDF_EBUDGET,
			                     "prune: no memory for %zu trees",
			                     s->used);
		for (size_t i = 0; i < s->cap; i++)
			if (!is_zero(s->slots[i]))
				oidset_put(&bigger, s->slots[i]);
		sdf_free(s->slots);
		*s = bigger;
	}
	oidset_put(s, id);
	return 0;
}

static void oidset_dispose(oidset *s)
{
	sdf_free(s->slots);
	memset(s, 0, sizeof(*s));
}

/* ---- the Bloom filter of blobs ----------------------------------------- */

typedef struct {
	uint8_t *bits;
	uint64_t nbits;
	uint64_t seed;
} bloom;

static int bloom_init(bloom *b, uint64_t expected, uint64_t seed)
{
	size_t avail = sdf_alloc_available() / 4;
	uint64_t bytes = (expected + 1024) * BLOOM_BITS_PER_OBJECT / 8;

	if (bytes > BLOOM_MAX_BYTES)
		bytes = BLOOM_MAX_BYTES;
	if (bytes > avail)
		bytes = avail < 4096 ? 4096 : avail;
	b->seed = seed;
	b->nbits = bytes * 8;
	if (!(b->bits = sdf_calloc((size_t)bytes, 1)))
		return sdf_error_set(SDF_EBUDGET,
		                     "prune: no memory for the blob filter");
	return 0;
}

/* Sets id's bits; returns 1 when some bit was clear (id surely new). */
static int bloom_add(bloom *b, const unsigned char *id)
{
	XXH128_hash_t h = XXH3_128bits_withSeed(id, GIT_OID_RAWSZ, b->seed);
	uint64_t step = h.high64 | 1;
	int fresh = 0;

	for (unsigned i = 0; i < BLOOM_HASHES; i++) {
		uint64_t bit = (h.low64 + i * step) % b->nbits;
		uint8_t mask = (uint8_t)(1u << (bit & 7));
		if (!(b->bits[bit >> 3] & mask)) {
			b->bits[bit >> 3] |= mask;
			fresh = 1;
		}
	}
	return fresh;
}

static int bloom_has(const bloom *b, const unsigned char *id)
{
	XXH128_hash_t h = XXH3_128bits_withSeed(id, GIT_OID_RAWSZ, b->seed);
	uint64_t step = h.high64 | 1;

	for (unsigned i = 0; i < BLOOM_HASHES; i++) {
		uint64_t bit = (h.low64 + i * step) % b->nbits;
		if (!(b->bits[bit >> 3] & (1u << (bit & 7))))
			return 0;
	}
	return 1;
}

static void bloom_dispose(bloom *b)
{
	sdf_free(b->bits);
	memset(b, 0, sizeof(*b));
}

/* ---- marking what is reachable ------------------------------------------ */

struct mark {
	git_repository *repo;
	git_odb *odb;
	oidset seen; /* trees, commits, tags */
	bloom blobs;
	git_oid *stack;
	size_t depth, cap;
	size_t mem_peak;
	uint64_t blob_refs;
	/* sizing: the old loose bytes of objects reached for the first time */
	int sizing;
	char objdir[PATH_MAX];
	uint64_t bytes;
};

static void note_mem(struct mark *m)
{
	size_t mem = m->seen.cap * GIT_OID_RAWSZ +
	             (size_t)(m->blobs.nbits / 8) + m->cap * sizeof(git_oid);
	if (mem > m->mem_peak)
		m->mem_peak = mem;
}

static int push(struct mark *m, const git_oid *id)
{
	if (oidset_has(&m->seen, id->id))
		return 0;
	if (m->depth == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		git_oid *s = sdf_reallocarray(m->stack, cap, sizeof(*s));
		if (!s)
			return sdf_error_set(SDF_EBUDGET,
			                     "prune: no memory for the walk");
		m->stack = s;
		m->cap = cap;
		note_mem(m);
	}
	m->stack[m->depth++] = *id;
	return 0;
}

/* Adds the loose object's size to m->bytes (sizing passes only). */
static void size_of(struct mark *m, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1], p[PATH_MAX];
	struct stat sb;

	if (!m->sizing)
		return;
	git_oid_tostr(hex, sizeof(hex), id);
	if ((size_t)snprintf(p, sizeof(p), "%s/%.2s/%s", m->objdir, hex,
	                     hex + 2) >= sizeof(p) ||
	    lstat(p, &sb) < 0 || !S_ISREG(sb.st_mode))
		return; /* packed, or elsewhere: counted as fixed */
	m->bytes += (uint64_t)sb.st_blocks * 512;
}

static void mark_blob(struct mark *m, const git_oid *id)
{
	m->blob_refs++;
	if (bloom_add(&m->blobs, id->id))
		size_of(m, id);
}

static int walk_tree(struct mark *m, const git_tree *tree)
{
	size_t n = git_tree_entrycount(tree);
	int err;

	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		git_filemode_t mode = git_tree_entry_filemode(e);

		if (mode == GIT_FILEMODE_COMMIT)
			continue; /* a submodule's commit: not in the store */
		if (mode == GIT_FILEMODE_TREE) {
			if ((err = push(m, git_tree_entry_id(e))) < 0)
				return err;
		} else {
			mark_blob(m, git_tree_entry_id(e));
		}
	}
	return 0;
}

/*
 * Stacks an object of unknown type (a ref's, a tag's target): a blob is
 * marked from its header alone, never read.
 */
static int push_any(struct mark *m, const git_oid *id, int tolerant)
{
	git_object_t type;
	size_t len;
	int err;

	if (oidset_has(&m->seen, id->id))
		return 0;
	err = git_odb_read_header(&len, &type, m->odb, id);
	if (err == GIT_ENOTFOUND && tolerant)
		return 0;
	if (err == GIT_ENOTFOUND)
		return sdf_error_set(SDF_ECORRUPT,
		                     "prune: %s is reachable but missing; "
		                     "nothing deleted",
		                     git_oid_tostr_s(id));
	if (err < 0)
		return sdf_git_error(err, "prune: cannot read %s",
		                     git_oid_tostr_s(id));
	if (type == GIT_OBJECT_BLOB) {
		mark_blob(m, id);
		return 0;
	}
	return push(m, id);
}

/*
 * Walks everything reachable from the stacked ids. A missing object is an
 * error (nothing will be deleted) unless tolerant.
 */
static int drain(struct mark *m, int tolerant)
{
	git_object *obj = NULL;
	int err = 0;

	while (m->depth > 0) {
		git_oid id = m->stack[--m->depth];

		if (oidset_has(&m->seen, id.id))
			continue;
		err = git_object_lookup(&obj, m->repo, &id, GIT_OBJECT_ANY);
		if (err == GIT_ENOTFOUND && tolerant) {
			err = 0;
			continue;
		}
		if (err < 0) {
			err = sdf_git_error(err, "prune: cannot read %s",
			                    git_oid_tostr_s(&id));
			if (err == SDF_ENOTFOUND)
				err =
				    sdf_error_set(SDF_ECORRUPT,
				                  "prune: %s is reachable but "
				                  "missing; nothing deleted",
				                  git_oid_tostr_s(&id));
			break;
		}
		switch (git_object_type(obj)) {
		case GIT_OBJECT_BLOB:
			mark_blob(m, &id);
			break;
		case GIT_OBJECT_TREE:
			if ((err = oidset_add(&m->seen, id.id)) < 0)
				break;
			size_of(m, &id);
			err = walk_tree(m, (git_tree *)obj);
			break;
		case GIT_OBJECT_COMMIT: {
			git_commit *c = (git_commit *)obj;
			if ((err = oidset_add(&m->seen, id.id)) < 0)
				break;
			size_of(m, &id);
			err = push(m, git_commit_tree_id(c));
			for (unsigned i = 0;
			     !err && i < git_commit_parentcount(c); i++)
				err = push(m, git_commit_parent_id(c, i));
			break;
		}
		case GIT_OBJECT_TAG:
			if ((err = oidset_add(&m->seen, id.id)) < 0)
				break;
			size_of(m, &id);
			err = push_any(m, git_tag_target_id((git_tag *)obj),
			               tolerant);
			break;
		default:
			break;
		}
		git_object_free(obj);
		obj = NULL;
		note_mem(m);
		if (err < 0)
			break;
	}
	m->depth = 0;
	return err;
}

static int mark_root(struct mark *m, const git_oid *id, int tolerant)
{
	int err;

	if ((err = push_any(m, id, tolerant)) < 0)
		return err;
	return drain(m, tolerant);
}

/* ---- the index: its entries' blobs and its cached trees ---------------- */

typedef struct {
	int fd;
	unsigned char *buf;
	size_t pos, len;
	uint64_t off, size; /* bytes consumed; file size */
} reader;

static int rd_fill(reader *r)
{
	ssize_t n;

	if (r->pos < r->len)
		return 0;
	do
		n = read(r->fd, r->buf, INDEX_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return sdf_error_set_errno(SDF_EIO, errno,
		                           "prune: cannot read the index");
	if (n == 0)
		return sdf_error_set(SDF_ECORRUPT,
		                     "prune: the store's index is truncated");
	r->pos = 0;
	r->len = (size_t)n;
	return 0;
}

static int rd_byte(reader *r, unsigned char *c)
{
	int err;

	if ((err = rd_fill(r)) < 0)
		return err;
	*c = r->buf[r->pos++];
	r->off++;
	return 0;
}

static int rd_get(reader *r, void *dst, size_t n)
{
	unsigned char *d = dst;
	int err;

	while (n) {
		size_t k;
		if ((err = rd_fill(r)) < 0)
			return err;
		k = r->len - r->pos < n ? r->len - r->pos : n;
		if (d) {
			memcpy(d, r->buf + r->pos, k);
			d += k;
		}
		r->pos += k;
		r->off += k;
		n -= k;
	}
	return 0;
}

/* Skips up to and including a NUL; *len: bytes before it. */
static int rd_skip_str(reader *r, size_t *len)
{
	unsigned char c;
	size_t l = 0;
	int err;

	for (;;) {
		if ((err = rd_byte(r, &c)) < 0)
			return err;
		if (!c)
			break;
		l++;
	}
	if (len)
		*len = l;
	return 0;
}

static uint32_t be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static int index_entries(struct mark *m, reader *r, uint32_t version,
                         uint32_t count)
{
	unsigned char e[62], ext[2], c;
	int err;

	for (uint32_t i = 0; i < count; i++) {
		size_t fixed = 62, plen, namelen, consumed;
		uint16_t flags;
		git_oid id;

		if ((err = rd_get(r, e, sizeof(e))) < 0)
			return err;
		flags = (uint16_t)((e[60] << 8) | e[61]);
		if (version >= 3 && (flags & 0x4000)) {
			if ((err = rd_get(r, ext, 2)) < 0)
				return err;
			fixed += 2;
		}
		if ((be32(e + 24) & 0170000) != 0160000) {
			git_oid_fromraw(&id, e + 40);
			mark_blob(m, &id);
		}
		namelen = flags & 0xfff;
		if (version == 4) {
			do /* the prefix length to strip: a varint */
				if ((err = rd_byte(r, &c)) < 0)
					return err;
			while (c & 0x80);
			if ((err = rd_skip_str(r, NULL)) < 0)
				return err;
			continue;
		}
		if (namelen < 0xfff) {
			if ((err = rd_get(r, NULL, namelen)) < 0)
				return err;
			plen = namelen;
			consumed = fixed + plen;
		} else {
			/* a long name: its NUL is the first padding byte */
			if ((err = rd_skip_str(r, &plen)) < 0)
				return err;
			consumed = fixed + plen + 1;
		}
		/* NUL padding up to a multiple of 8, at least one byte */
		if ((err = rd_get(r, NULL,
		                  ((fixed + plen + 8) & ~(size_t)7) -
		                      consumed)) < 0)
			return err;
	}
	return 0;
}

/* The cache-tree extension: "path\0count subtrees\n" [oid if count >= 0]. */
static int index_trees(struct mark *m, reader *r, uint64_t size)
{
	uint64_t end = r->off + size;
	unsigned char c, raw[GIT_OID_RAWSZ];
	int err;

	while (r->off < end) {
		char num[32];
		size_t n = 0;
		git_oid id;

		if ((err = rd_skip_str(r, NULL)) < 0)
			return err;
		for (;;) {
			if ((err = rd_byte(r, &c)) < 0)
				return err;
			if (c == '\n')
				break;
			if (n + 1 < sizeof(num))
				num[n++] = (char)c;
		}
		num[n] = '\0';
		if (num[0] == '-')
			continue; /* invalidated: no id */
		if ((err = rd_get(r, raw, sizeof(raw))) < 0)
			return err;
		git_oid_fromraw(&id, raw);
		/* the next track writes these ids without checking them */
		if ((err = mark_root(m, &id, 1)) < 0)
			return err;
	}
	return r->off == end
	           ? 0
	           : sdf_error_set(SDF_ECORRUPT,
	                           "prune: bad cache tree in the index");
}

static int mark_index(struct mark *m, const char *store)
{
	reader r = {-1, NULL, 0, 0, 0, 0};
	unsigned char hdr[12], ext[8];
	char p[PATH_MAX];
	struct stat sb;
	uint32_t version;
	int err;

	snprintf(p, sizeof(p), "%s/index", store);
	if ((r.fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		return sdf_error_set_errno(SDF_EIO, errno, "cannot open '%s'",
		                           p);
	}
	if (fstat(r.fd, &sb) < 0) {
		err =
		    sdf_error_set_errno(SDF_EIO, errno, "cannot stat '%s'", p);
		goto done;
	}
	r.size = (uint64_t)sb.st_size;
	if (!(r.buf = sdf_malloc(INDEX_BUF))) {
		err = SDF_EBUDGET;
		goto done;
	}
	if ((err = rd_get(&r, hdr, sizeof(hdr))) < 0)
		goto done;
	version = be32(hdr + 4);
	if (memcmp(hdr, "DIRC", 4) || version < 2 || version > 4) {
		err = sdf_error_set(SDF_ECORRUPT,
		                    "prune: '%s' is not an index git knows", p);
		goto done;
	}
	if ((err = index_entries(m, &r, version, be32(hdr + 8))) < 0)
		goto done;
	/* extensions, then the 20-byte checksum */
	while (r.off + 8 + GIT_OID_RAWSZ <= r.size) {
		uint32_t len;
		if ((err = rd_get(&r, ext, sizeof(ext))) < 0)
			goto done;
		len = be32(ext + 4);
		if (r.off + len + GIT_OID_RAWSZ > r.size) {
			err = sdf_error_set(SDF_ECORRUPT,
			                    "prune: bad extension in '%s'", p);
			goto done;
		}
		if (!memcmp(ext, "TREE", 4))
			err = index_trees(m, &r, len);
		else
			err = rd_get(&r, NULL, len);
		if (err < 0)
			goto done;
	}
done:
	sdf_free(r.buf);
	close(r.fd);
	if (err < 0)
		sdf_error_prefix("the store's index");
	return err;
}

/* ---- the plan: which snapshots expire ----------------------------------- */

enum {
	KEEP = 0,
	PROTECTED, /* pinned or newest */
	EXPIRED
};

struct plan {
	sdf_snapshot_info *list; /* oldest first (by id) */
	size_t n;
	unsigned char *state;
	const char **reason;
	char **pins;
	size_t npins;
};

static void plan_dispose(struct plan *p)
{
	sdf_snapshot_log_free(p->list, p->n);
	sdf_free(p->state);
	sdf_free((void *)p->reason);
	sdf_pinned_ids_free(p->pins, p->npins);
	memset(p, 0, sizeof(*p));
}

static int cmp_id(const void *key, const void *elem)
{
	return strcmp(key, ((const sdf_snapshot_info *)elem)->id);
}

/* The plan entry of a snapshot ref's id, or -1. */
static long plan_find(const struct plan *p, const char *id)
{
	const sdf_snapshot_info *s;

	if (!p->n)
		return -1;
	s = bsearch(id, p->list, p->n, sizeof(*p->list), cmp_id);
	return s ? (long)(s - p->list) : -1;
}

static int plan_make(struct plan *p, sdf_store *st, git_repository *repo,
                     const sdf_retention *pol, int64_t now)
{
	git_reference *head = NULL;
	char headc[GIT_OID_HEXSZ + 1] = "";
	size_t kept = 0;
	int err;

	if ((err = sdf_snapshot_log(&p->list, &p->n, st)) < 0 ||
	    (err = sdf_pinned_ids(&p->pins, &p->npins, repo)) < 0)
		return err;
	if (!(p->state = sdf_calloc(p->n + 1, 1)) ||
	    !(p->reason = sdf_calloc(p->n + 1, sizeof(*p->reason))))
		return SDF_EBUDGET;
	if (sdf_ref_lookup(&head, repo, SDF_HEAD_REF) == 0 &&
	    git_reference_target(head))
		git_oid_tostr(headc, sizeof(headc), git_reference_target(head));
	git_reference_free(head);
	for (size_t i = p->n; i-- > 0;) {
		sdf_snapshot_info *s = &p->list[i];

		if (i == p->n - 1 || !strcmp(s->commit, headc) ||
		    sdf_pinned_has(p->pins, p->npins, s->id)) {
			p->state[i] = PROTECTED;
			if (!sdf_pinned_has(p->pins, p->npins, s->id))
				kept++; /* the newest counts; pins do not */
			continue;
		}
		if (pol->keep_days &&
		    s->time < now - (int64_t)pol->keep_days * 86400) {
			p->state[i] = EXPIRED;
			p->reason[i] = "keep-days";
		} else if (pol->keep_count && kept >= pol->keep_count) {
			p->state[i] = EXPIRED;
			p->reason[i] = "keep-count";
		} else {
			kept++;
		}
	}
	return 0;
}

/* ---- roots -------------------------------------------------------------- */

static int is_snapshot_ref(const char *name)
{
	return !strncmp(name, SDF_SNAPSHOT_REF_PREFIX,
	                strlen(SDF_SNAPSHOT_REF_PREFIX));
}

/* An expired snapshot's ref (still there on a dry run): not a root. */
static int expired_ref(const struct plan *p, const char *name)
{
	long i;

	if (!is_snapshot_ref(name))
		return 0;
	i = plan_find(p, name + strlen(SDF_SNAPSHOT_REF_PREFIX));
	return i >= 0 && p->state[i] == EXPIRED;
}

/* A snapshot ref left for the sizing pass to weigh. */
static int candidate_ref(const struct plan *p, const char *name)
{
	long i;

	if (!is_snapshot_ref(name))
		return 0;
	i = plan_find(p, name + strlen(SDF_SNAPSHOT_REF_PREFIX));
	return i >= 0 && p->state[i] == KEEP;
}

/* 40 hex digits at s -> id; 0 on success. */
static int parse_hex(git_oid *id, const char *s, size_t len)
{
	if (len < GIT_OID_HEXSZ)
		return -1;
	for (size_t i = 0; i < GIT_OID_HEXSZ; i++)
		if (hexval(s[i]) < 0)
			return -1;
	return git_oid_fromstrn(id, s, GIT_OID_HEXSZ) < 0 ? -1 : 0;
}

/* Reads up to cap-1 bytes of a small file; -1 when it cannot. */
static ssize_t read_small(int dfd, const char *name, char *buf, size_t cap)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

struct roots {
	struct mark *m;
	const struct plan *p;
	int skip_candidates;
	char name[PATH_MAX]; /* the ref's name while walking refs/, logs/ */
};

/* One ref named r->name with value id. */
static int mark_ref(struct roots *r, const git_oid *id)
{
	int err;

	if (expired_ref(r->p, r->name) ||
	    (r->skip_candidates && candidate_ref(r->p, r->name)))
		return 0;
	if ((err = mark_root(r->m, id, 0)) < 0)
		sdf_error_prefix("ref %s", r->name);
	return err;
}

/*
 * Every loose ref file under refs/, read directly: libgit2's iterator
 * silently skips a ref it fails to read (even for want of memory), and a
 * skipped root would be deleted.
 */
static int walk_ref_dir(struct roots *r, int dfd, size_t namelen,
                        unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int err = 0;

	if (depth > 64 || !(d = fdopendir(dfd))) {
		close(dfd);
		return sdf_error_set_errno(SDF_EIO, errno,
		                           "prune: cannot read %s", r->name);
	}
	while (!err && (errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		size_t l = strlen(n);
		struct stat sb;
		char buf[256];
		git_oid id;
		ssize_t got;

		if (n[0] == '.' || (l > 5 && !strcmp(n + l - 5, ".lock")))
			continue;
		if (namelen + 1 + l >= sizeof(r->name))
			continue; /* longer than a path may be */
		r->name[namelen] = '/';
		memcpy(r->name + namelen + 1, n, l + 1);
		if (fstatat(dirfd(d), n, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			int fd = openat(dirfd(d), n,
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                    O_CLOEXEC);
			err = fd < 0 ? sdf_error_set_errno(SDF_EIO, errno,
			                                   "prune: cannot "
			                                   "open %s",
			                                   r->name)
			             : walk_ref_dir(r, fd, namelen + 1 + l,
			                            depth + 1);
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		got = read_small(dirfd(d), n, buf, sizeof(buf));
		if (got >= 5 && !strncmp(buf, "ref: ", 5))
			continue; /* symbolic: its target is a ref too */
		if (got < 0 || parse_hex(&id, buf, (size_t)got) < 0) {
			err = sdf_error_set(SDF_ECORRUPT,
			                    "prune: cannot read ref %s; "
			                    "nothing deleted",
			                    r->name);
			break;
		}
		err = mark_ref(r, &id);
	}
	if (!err && errno)
		err = sdf_error_set_errno(SDF_EIO, errno,
		                          "prune: cannot read refs");
	closedir(d);
	r->name[namelen] = '\0';
	return err;
}

/* packed-refs: "<hex> <name>" lines, "^<hex>" for a peeled tag. */
static int walk_packed_refs(struct roots *r, const char *store)
{
	char p[PATH_MAX], line[PATH_MAX + 64];
	FILE *f;
	int err = 0;

	snprintf(p, sizeof(p), "%s/packed-refs", store);
	if (!(f = fopen(p, "re")))
		return errno == ENOENT ? 0
		                       : sdf_error_set_errno(SDF_EIO, errno,
		                                             "prune: cannot "
		                                             "read '%s'",
		                                             p);
	while (!err && fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);
		git_oid id;

		if (l && line[l - 1] == '\n')
			line[--l] = '\0';
		if (!l || line[0] == '#')
			continue;
		if (line[0] == '^') {
			if (parse_hex(&id, line + 1, l - 1) == 0)
				err = mark_root(r->m, &id, 0);
			continue;
		}
		if (l < GIT_OID_HEXSZ + 2 || line[GIT_OID_HEXSZ] != ' ' ||
		    parse_hex(&id, line, l) < 0) {
			err = sdf_error_set(SDF_ECORRUPT,
			                    "prune: bad line in packed-refs; "
			                    "nothing deleted");
			break;
		}
		if ((size_t)snprintf(r->name, sizeof(r->name), "%s",
		                     line + GIT_OID_HEXSZ + 1) >=
		    sizeof(r->name))
			r->name[0] = '\0'; /* too long to be ours: a root */
		err = mark_ref(r, &id);
	}
	if (!err && ferror(f))
		err = sdf_error_set_errno(SDF_EIO, errno,
		                          "prune: cannot read '%s'", p);
	fclose(f);
	return err;
}

/* HEAD when detached, and git's other pseudo-refs if any are left. */
static int mark_pseudo_refs(struct roots *r, const char *store)
{
	static const char *const names[] = {"HEAD", "ORIG_HEAD", "FETCH_HEAD",
	                                    "MERGE_HEAD", "CHERRY_PICK_HEAD"};
	int dfd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (dfd < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "cannot open '%s'",
		                           store);
	for (size_t i = 0; !err && i < sizeof(names) / sizeof(names[0]); i++) {
		char buf[256];
		ssize_t got = read_small(dfd, names[i], buf, sizeof(buf));
		git_oid id;

		if (got >= GIT_OID_HEXSZ &&
		    parse_hex(&id, buf, (size_t)got) == 0)
			err = mark_root(r->m, &id, i > 0);
	}
	close(dfd);
	return err;
}

/* Every entry of every reflog under logs/ (expired snapshots' excepted). */
static int walk_logs(struct roots *r, const char *dir, size_t namelen,
                     unsigned depth)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int err = 0;

	if (depth > 64 ||
	    (size_t)snprintf(p, sizeof(p), "%s/%s", dir, r->name) >= sizeof(p))
		return 0;
	if (!(d = opendir(p)))
		return errno == ENOENT || errno == ENOTDIR
		           ? 0
		           : sdf_error_set_errno(SDF_EIO, errno,
		                                 "prune: cannot read '%s'", p);
	while (!err && (de = readdir(d))) {
		const char *n = de->d_name;
		size_t l = strlen(n);
		struct stat sb;

		if (n[0] == '.' || namelen + 1 + l >= sizeof(r->name) ||
		    fstatat(dirfd(d), n, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (namelen)
			r->name[namelen] = '/';
		memcpy(r->name + namelen + (namelen ? 1 : 0), n, l + 1);
		if (S_ISDIR(sb.st_mode)) {
			err = walk_logs(r, dir, namelen + (namelen ? 1 : 0) + l,
			                depth + 1);
		} else if (S_ISREG(sb.st_mode) && !expired_ref(r->p, r->name)) {
			git_reflog *log = NULL;
			int gerr = git_reflog_read(&log, r->m->repo, r->name);
			if (gerr < 0 && sdf_alloc_failed())
				err = sdf_git_error(gerr,
				                    "prune: cannot read the "
				                    "log of %s",
				                    r->name);
			for (size_t i = 0;
			     !err && log && i < git_reflog_entrycount(log);
			     i++) {
				const git_reflog_entry *e =
				    git_reflog_entry_byindex(log, i);
				const git_oid *ids[2] = {
				    git_reflog_entry_id_old(e),
				    git_reflog_entry_id_new(e)};
				for (int k = 0; !err && k < 2; k++)
					if (!is_zero(ids[k]->id))
						err =
						    mark_root(r->m, ids[k], 1);
			}
			git_reflog_free(log);
		}
	}
	closedir(d);
	r->name[namelen] = '\0';
	return err;
}

/*
 * Marks every root except expired snapshots' refs; with skip_candidates,
 * also leaves out the snapshots the sizing pass weighs one by one.
 */
static int mark_fixed_roots(struct mark *m, const struct plan *p,
                            const char *store, int skip_candidates)
{
	struct roots r;
	char dir[PATH_MAX];
	int fd, err;

	memset(&r, 0, sizeof(r));
	r.m = m;
	r.p = p;
	r.skip_candidates = skip_candidates;
	snprintf(dir, sizeof(dir), "%s/refs", store);
	memcpy(r.name, "refs", 5);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if ((err = walk_ref_dir(&r, fd, 4, 0)) < 0)
			return err;
	} else if (errno != ENOENT) {
		return sdf_error_set_errno(SDF_EIO, errno, "cannot open '%s'",
		                           dir);
	}
	if ((err = walk_packed_refs(&r, store)) < 0 ||
	    (err = mark_pseudo_refs(&r, store)) < 0)
		return err;
	snprintf(dir, sizeof(dir), "%s/logs", store);
	r.name[0] = '\0';
	if ((err = walk_logs(&r, dir, 0, 0)) < 0)
		return err;
	return mark_index(m, store);
}

/* ---- sweeping ------------------------------------------------------------ */

struct sweep {
	struct timespec cutoff;
	int dry_run;
	uint64_t deleted, deleted_bytes, kept, young, young_bytes, temp;
};

static int old_enough(const struct stat *sb, const struct timespec *cutoff)
{
	return sb->st_mtim.tv_sec < cutoff->tv_sec ||
	       (sb->st_mtim.tv_sec == cutoff->tv_sec &&
	        sb->st_mtim.tv_nsec <= cutoff->tv_nsec);
}

/* "xx" + 38 hex -> raw id; 0 when name is a loose object's. */
static int loose_id(unsigned char *raw, const char *dir, const char *name)
{
	char hex[GIT_OID_HEXSZ];

	if (strlen(name) != GIT_OID_HEXSZ - 2)
		return -1;
	memcpy(hex, dir, 2);
	memcpy(hex + 2, name, GIT_OID_HEXSZ - 2);
	for (size_t i = 0; i < GIT_OID_RAWSZ; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int is_temp_name(const char *name)
{
	return !strncmp(name, "tmp_", 4) || strstr(name, "_git2_") != NULL;
}

/* Deletes dir/name when it is a regular file older than the cutoff. */
static void drop_stale(struct sweep *s, int dfd, const char *name)
{
	struct stat sb;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode) || !old_enough(&sb, &s->cutoff))
		return;
	if (s->dry_run || unlinkat(dfd, name, 0) == 0)
		s->temp++;
}

static int sweep_fanout(struct sweep *s, const struct mark *m, int objfd,
                        const char *dir)
{
	int fd =
	    openat(objfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	uint64_t deleted_before = s->deleted;
	int err = 0;

	if (fd < 0)
		return errno == ENOENT ? 0
		                       : sdf_error_set_errno(SDF_EIO, errno,
		                                             "cannot open "
		                                             "objects/%s",
		                                             dir);
	if (!(d = fdopendir(fd))) {
		close(fd);
		return sdf_error_set_errno(SDF_EIO, errno,
		                           "cannot read objects/%s", dir);
	}
	while ((errno = 0, de = readdir(d))) {
		unsigned char raw[GIT_OID_RAWSZ];
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		if (loose_id(raw, dir, de->d_name) < 0) {
			if (is_temp_name(de->d_name))
				drop_stale(s, dirfd(d), de->d_name);
			continue;
		}
		if (oidset_has(&m->seen, raw) || bloom_has(&m->blobs, raw)) {
			s->kept++;
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) <
		        0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (!old_enough(&sb, &s->cutoff)) {
			s->young++;
			s->young_bytes += (uint64_t)sb.st_blocks * 512;
			continue;
		}
		if (!s->dry_run && unlinkat(dirfd(d), de->d_name, 0) < 0) {
			if (errno == ENOENT)
				continue;
			err = sdf_error_set_errno(SDF_EIO, errno,
			                          "cannot delete objects/%s/%s",
			                          dir, de->d_name);
			break;
		}
		s->deleted++;
		s->deleted_bytes += (uint64_t)sb.st_blocks * 512;
	}
	if (!err && errno)
		err = sdf_error_set_errno(SDF_EIO, errno,
		                          "cannot read objects/%s", dir);
	closedir(d);
	/* as git prune does: fails, harmlessly, unless it is empty */
	if (!err && !s->dry_run && s->deleted > deleted_before)
		unlinkat(objfd, dir, AT_REMOVEDIR);
	return err;
}

/* Stale files in one directory whose names match; not recursive. */
static void sweep_names(struct sweep *s, const char *path,
                        int (*match)(const char *))
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && match(de->d_name))
			drop_stale(s, dirfd(d), de->d_name);
	closedir(d);
}

static int ends_lock(const char *name)
{
	size_t l = strlen(name);
	return l > 5 && !strcmp(name + l - 5, ".lock");
}

static int our_temp(const char *name)
{
	return strstr(name, ".snapdiff-tmp") != NULL ||
	       strstr(name, ".tmp-") != NULL;
}

static int top_temp(const char *name)
{
	/* the store lock is flock()ed, never stale; index.lock is below */
	return strcmp(name, "snapdiff.lock") && strcmp(name, "index.lock") &&
	       (ends_lock(name) || our_temp(name));
}

/* *.lock files left under refs/ by a process that died. */
static void sweep_ref_locks(struct sweep *s, int fd0, unsigned depth)
{
	DIR *d;
	struct dirent *de;

	if (depth > 32 || !(d = fdopendir(fd0))) {
		close(fd0);
		return;
	}
	while ((de = readdir(d))) {
		struct stat sb;
		int fd;

		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			fd = openat(dirfd(d), de->d_name,
			            O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                O_CLOEXEC);
			if (fd >= 0)
				sweep_ref_locks(s, fd, depth + 1);
		} else if (ends_lock(de->d_name)) {
			drop_stale(s, dirfd(d), de->d_name);
		}
	}
	closedir(d);
}

static void sweep_temps(struct sweep *s, const char *store)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/objects", store);
	sweep_names(s, p, is_temp_name);
	snprintf(p, sizeof(p), "%s/objects/pack", store);
	sweep_names(s, p, is_temp_name);
	snprintf(p, sizeof(p), "%s/info", store);
	sweep_names(s, p, our_temp);
	sweep_names(s, store, top_temp);
	snprintf(p, sizeof(p), "%s/refs", store);
	if ((fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		sweep_ref_locks(s, fd, 0);
	/* only track writes the index, and it waits for our lock */
	snprintf(p, sizeof(p), "%s/index.lock", store);
	if (access(p, F_OK) == 0 && (s->dry_run || unlink(p) == 0))
		s->temp++;
}

static int sweep_objects(struct sweep *s, const struct mark *m,
                         const char *store)
{
	char p[PATH_MAX], dir[3];
	int objfd, err = 0;

	snprintf(p, sizeof(p), "%s/objects", store);
	if ((objfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "cannot open '%s'",
		                           p);
	for (unsigned i = 0; i < 256 && !err; i++) {
		snprintf(dir, sizeof(dir), "%02x", i);
		err = sweep_fanout(s, m, objfd, dir);
	}
	close(objfd);
	return err;
}

/* ---- prune -------------------------------------------------------------- */

static int mark_init(struct mark *m, git_repository *repo, const char *store,
                     uint64_t loose)
{
	struct timespec now;
	uint64_t seed;
	int err;

	memset(m, 0, sizeof(*m));
	m->repo = repo;
	if ((err = git_repository_odb(&m->odb, repo)) < 0)
		return sdf_git_error(err, "prune: cannot open the objects");
	snprintf(m->objdir, sizeof(m->objdir), "%s/objects", store);
	clock_gettime(CLOCK_REALTIME, &now);
	seed = (uint64_t)now.tv_nsec * 0x9e3779b97f4a7c15ull ^
	       (uint64_t)now.tv_sec ^ ((uint64_t)getpid() << 32);
	return bloom_init(&m->blobs, loose, seed);
}

static void mark_dispose(struct mark *m)
{
	git_odb_free(m->odb);
	m->odb = NULL;
	oidset_dispose(&m->seen);
	bloom_dispose(&m->blobs);
	sdf_free(m->stack);
	m->stack = NULL;
	m->cap = m->depth = 0;
}

static void expire(struct plan *p, size_t i, const char *reason,
                   const sdf_prune_options *opts)
{
	p->state[i] = EXPIRED;
	p->reason[i] = reason;
	if (opts->expired)
		opts->expired(&p->list[i], reason, opts->payload);
}

/*
 * Weighs the store as it will be once the grace period is over: what stays
 * whatever happens (files that are not loose objects, everything the fixed
 * roots reach), then each candidate snapshot newest first. The first one
 * that takes the store over max_bytes expires with all older candidates.
 *
 * Young objects are weighed like the others, so which snapshots expire does
 * not depend on when prune runs: the grace only delays deleting them. (Were
 * they fixed, a store that grew past its quota within the grace would lose
 * every snapshot and free nothing.)
 */
static int size_candidates(struct plan *p, git_repository *repo,
                           const char *store, const sdf_store_scan *scan,
                           const sdf_retention *pol,
                           const sdf_prune_options *opts, size_t *mem_peak)
{
	struct mark m;
	uint64_t fixed = scan->bytes - scan->loose_bytes;
	int err, over = 0;

	if ((err = mark_init(&m, repo, store, scan->loose_objects)) < 0)
		goto done;
	m.sizing = 1;
	if ((err = mark_fixed_roots(&m, p, store, 1)) < 0)
		goto done;
	for (size_t i = p->n; i-- > 0;) {
		git_oid id;

		if (p->state[i] != KEEP)
			continue;
		if (!over) {
			git_oid_fromstr(&id, p->list[i].commit);
			if ((err = mark_root(&m, &id, 0)) < 0)
				goto done;
			if (fixed + m.bytes <= pol->max_bytes)
				continue;
			over = 1;
		}
		expire(p, i, "max-bytes", opts);
	}
done:
	if (m.mem_peak > *mem_peak)
		*mem_peak = m.mem_peak;
	mark_dispose(&m);
	return err;
}

static int drop_refs(struct plan *p, git_repository *repo, unsigned char *done)
{
	char refname[128];
	int err;

	for (size_t i = 0; i < p->n; i++) {
		if (p->state[i] != EXPIRED || done[i])
			continue;
		snprintf(refname, sizeof(refname), "%s%s",
		         SDF_SNAPSHOT_REF_PREFIX, p->list[i].id);
		if ((err = git_reference_remove(repo, refname)) < 0 &&
		    err != GIT_ENOTFOUND)
			return sdf_git_error(err, "prune: cannot drop %s",
			                     refname);
		done[i] = 1;
	}
	return 0;
}

/*
 * libgit2 swallows some failed allocations (its ref iterator skips a ref it
 * could not read): if one failed on this thread, the plan or the marks may
 * be short, and nothing is dropped or deleted.
 */
static int no_swallowed_failure(void)
{
	if (!sdf_alloc_failed())
		return 0;
	sdf_alloc_clear_failed();
	return sdf_error_set(SDF_EBUDGET,
	                     "prune: an allocation failed on the way (memory "
	                     "budget %zu bytes); nothing deleted",
	                     sdf_alloc_limit());
}

static size_t count_state(const struct plan *p, int state)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->state[i] == state;
	return n;
}

int sdf_store_prune(sdf_prune_result *out, sdf_store *st,
                    const sdf_prune_options *opts_in)
{
	sdf_prune_options opts = SDF_PRUNE_OPTIONS_INIT;
	git_repository *repo = NULL;
	struct plan plan;
	struct mark m;
	struct timespec now;
	unsigned char *dropped = NULL;
	int err, locked = 0, dry;

	memset(out, 0, sizeof(*out));
	memset(&plan, 0, sizeof(plan));
	memset(&m, 0, sizeof(m));
	if (opts_in)
		opts = *opts_in;
	dry = !!(opts.flags & SDF_PRUNE_DRY_RUN);
	if (opts.policy)
		out->policy = *opts.policy;
	else if ((err = sdf_retention_get(&out->policy, st)) < 0)
		goto done;
	if (out->policy.grace_seconds < 0) {
		err = sdf_error_set(SDF_EINVAL, "prune: negative grace period");
		goto done;
	}
	if ((err = sdf_store_lock(st, 1)) < 0)
		goto done;
	locked = 1;
	sdf_alloc_clear_failed();
	/*
	 * The store's own handle (opening another one crashes libgit2 1.5 when
	 * an allocation fails inside it). Its object cache only ever holds
	 * objects read through it, and a snapshot is read only while a ref
	 * keeps it.
	 */
	repo = st->repo;
	clock_gettime(CLOCK_REALTIME, &now);
	if ((err = plan_make(&plan, st, repo, &out->policy,
	                     (int64_t)now.tv_sec)) < 0)
		goto done;
	out->snapshots = plan.n;
	out->pinned = plan.npins;
	for (size_t i = 0; i < plan.n; i++)
		if (plan.state[i] == EXPIRED && opts.expired)
			opts.expired(&plan.list[i], plan.reason[i],
			             opts.payload);
	if (!(dropped = sdf_calloc(plan.n + 1, 1))) {
		err = SDF_EBUDGET;
		goto done;
	}
	for (;;) {
		sdf_store_scan scan;
		struct sweep sw;
		size_t expired_before = count_state(&plan, EXPIRED);

		memset(&scan, 0, sizeof(scan));
		scan.cutoff = now;
		scan.cutoff.tv_sec -= (time_t)out->policy.grace_seconds;
		if ((err = sdf_store_scan_run(&scan, st->path)) < 0)
			goto done;
		if (!out->rounds)
			out->bytes_before = scan.bytes;
		if (!out->rounds && !dry && out->policy.max_bytes &&
		    scan.bytes > out->policy.max_bytes) {
			/* the diff cache is derived data: it goes first */
			uint64_t freed = 0;
			if ((err = sdf_cache_clear(st, &freed)) < 0)
				goto done;
			out->bytes_deleted += freed;
			if (freed) {
				memset(&scan, 0, sizeof(scan));
				scan.cutoff = now;
				scan.cutoff.tv_sec -=
				    (time_t)out->policy.grace_seconds;
				if ((err = sdf_store_scan_run(&scan,
				                              st->path)) < 0)
					goto done;
			}
		}
		out->rounds++;
		if (out->policy.max_bytes &&
		    scan.bytes > out->policy.max_bytes &&
		    count_state(&plan, KEEP) > 0 &&
		    (err = size_candidates(&plan, repo, st->path, &scan,
		                           &out->policy, &opts,
		                           &out->mem_bytes)) < 0)
			goto done;
		if ((err = no_swallowed_failure()) < 0 ||
		    (!dry && (err = drop_refs(&plan, repo, dropped)) < 0))
			goto done;
		mark_dispose(&m);
		if ((err = mark_init(&m, repo, st->path, scan.loose_objects)) <
		        0 ||
		    (err = mark_fixed_roots(&m, &plan, st->path, 0)) < 0)
			goto done;
		if (m.mem_peak > out->mem_bytes)
			out->mem_bytes = m.mem_peak;
		out->trees_seen = m.seen.used;
		out->blobs_seen = m.blob_refs;
		if ((err = no_swallowed_failure()) < 0)
			goto done;
		memset(&sw, 0, sizeof(sw));
		sw.cutoff = scan.cutoff;
		sw.dry_run = dry;
		if ((err = sweep_objects(&sw, &m, st->path)) < 0)
			goto done;
		sweep_temps(&sw, st->path);
		out->objects_deleted += sw.deleted;
		out->bytes_deleted += sw.deleted_bytes;
		out->objects_kept = sw.kept;
		out->objects_young = sw.young;
		out->bytes_young = sw.young_bytes;
		out->temp_deleted += sw.temp;
		if (dry) {
			out->bytes_after = scan.bytes - sw.deleted_bytes;
			break;
		}
		memset(&scan, 0, sizeof(scan));
		if ((err = sdf_store_scan_run(&scan, st->path)) < 0)
			goto done;
		out->bytes_after = scan.bytes;
		/* a Bloom false positive can leave it over: weigh again */
		if (!out->policy.max_bytes ||
		    scan.bytes <= out->policy.max_bytes ||
		    out->rounds >= MAX_ROUNDS ||
		    (out->rounds > 1 &&
		     count_state(&plan, EXPIRED) == expired_before) ||
		    count_state(&plan, KEEP) == 0)
			break;
	}
	out->expired = count_state(&plan, EXPIRED);
	out->over_quota =
	    out->policy.max_bytes && out->bytes_after > out->policy.max_bytes;
done:
	mark_dispose(&m);
	sdf_free(dropped);
	plan_dispose(&plan);
	if (locked)
		sdf_store_unlock(st);
	return err;
}
