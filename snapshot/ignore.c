/* gitignore rules, from the documented semantics (see ignore_int.h). */
#include "ignore_int.h"
#include "fsutil_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IGNORE_FILE (8 << 20)

enum {
	PAT_NEGATIVE = 1, /* "!pattern" */
	PAT_DIRONLY = 2,  /* "pattern/" */
	PAT_BASENAME = 4  /* no '/' inside: matches a name at any depth */
};

struct pattern {
	char *text;
	unsigned flags;
};

struct plist {
	struct pattern *v;
	size_t n, cap;
	char *base; /* "" or "dir/sub/" */
	size_t baselen;
};

struct sdf_ignore {
	struct plist *dirs; /* one per entered directory, root first */
	size_t ndirs, capdirs;
	struct plist exclude;  /* info/exclude */
	struct plist excludes; /* core.excludesFile */
};

/* ---- matching ---------------------------------------------------------- */

static int class_match(const char *name, size_t len, unsigned char c)
{
	static const struct {
		const char *name;
		int (*fn)(int);
	} classes[] = {
	    {"alnum", isalnum}, {"alpha", isalpha}, {"blank", isblank},
	    {"cntrl", iscntrl}, {"digit", isdigit}, {"graph", isgraph},
	    {"lower", islower}, {"print", isprint}, {"punct", ispunct},
	    {"space", isspace}, {"upper", isupper}, {"xdigit", isxdigit},
	};

	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strlen(classes[i].name) == len &&
		    !strncmp(classes[i].name, name, len))
			return classes[i].fn(c) != 0;
	return -1; /* unknown class: the whole pattern fails */
}

/*
 * Matches the bracket expression at *pp (just past '[') against c. Returns
 * 1/0, or -1 for a malformed expression; advances *pp past the ']'.
 */
static int bracket(const char **pp, unsigned char c)
{
	const char *p = *pp;
	int negate = 0, hit = 0;
	unsigned char prev = 0;
	int have_prev = 0;

	if (*p == '!' || *p == '^') {
		negate = 1;
		p++;
	}
	for (int first = 1;; first = 0) {
		unsigned char pc = (unsigned char)*p;
		if (!pc)
			return -1;
		if (pc == ']' && !first)
			break;
		if (pc == '[' && p[1] == ':') {
			const char *end = strstr(p + 2, ":]");
			int r;
			if (!end)
				return -1;
			r = class_match(p + 2, (size_t)(end - p - 2), c);
			if (r < 0)
				return -1;
			hit |= r;
			p = end + 2;
			have_prev = 0;
			continue;
		}
		if (pc == '\\' && p[1])
			pc = (unsigned char)*++p;
		if (pc == '-' && have_prev && p[1] && p[1] != ']') {
			unsigned char hi = (unsigned char)*++p;
			if (hi == '\\' && p[1])
				hi = (unsigned char)*++p;
			if (c >= prev && c <= hi)
				hit = 1;
			have_prev = 0;
			p++;
			continue;
		}
		if (pc == c)
			hit = 1;
		prev = pc;
		have_prev = 1;
		p++;
	}
	*pp = p + 1;
	return hit != negate;
}

static int match_at(const char *pat, const char *pstart, const char *t,
                    int pathname)
{
	for (const char *p = pat;; p++) {
		unsigned char c = (unsigned char)*p;

		switch (c) {
		case '\0':
			return *t == '\0';
		case '?':
			if (!*t || (pathname && *t == '/'))
				return 0;
			t++;
			break;
		case '[': {
			int r;
			if (!*t || (pathname && *t == '/'))
				return 0;
			p++;
			r = bracket(&p, (unsigned char)*t);
			if (r <= 0)
				return 0;
			t++;
			p--; /* the loop's p++ steps past ']' */
			break;
		}
		case '*': {
			int dbl = p[1] == '*';
			if (dbl && pathname && (p == pstart || p[-1] == '/') &&
			    (p[2] == '\0' || p[2] == '/')) {
				if (p[2] == '\0')
					return 1; /* "x/" "**": everything */
				/* "**" "/": zero or more directories */
				for (const char *s = t;;) {
					if (match_at(p + 3, pstart, s,
					             pathname))
						return 1;
					s = strchr(s, '/');
					if (!s)
						return 0;
					s++;
				}
			}
			while (*p == '*')
				p++;
			if (!*p)
				return !pathname || !strchr(t, '/');
			for (const char *s = t;; s++) {
				if (match_at(p, pstart, s, pathname))
					return 1;
				if (!*s || (pathname && *s == '/'))
					return 0;
			}
		}
		case '\\':
			if (p[1])
				c = (unsigned char)*++p;
			/* fall through */
		default:
			if ((unsigned char)*t != c)
				return 0;
			t++;
		}
	}
}

int sdf_wildmatch(const char *pattern, const char *text, int pathname)
{
	return match_at(pattern, pattern, text, pathname);
}

/* ---- pattern files ------------------------------------------------------ */

static void plist_dispose(struct plist *l)
{
	for (size_t i = 0; i < l->n; i++)
		sdf_free(l->v[i].text);
	sdf_free(l->v);
	sdf_free(l->base);
	memset(l, 0, sizeof(*l));
}

static int add_line(struct plist *l, const char *line, size_t len)
{
	struct pattern pat = {0};
	const char *slash;

	/* trailing spaces go unless escaped */
	while (len && line[len - 1] == ' ' &&
	       !(len >= 2 && line[len - 2] == '\\'))
		len--;
	if (!len || line[0] == '#')
		return 0;
	if (line[0] == '!') {
		pat.flags |= PAT_NEGATIVE;
		line++;
		len--;
	}
	if (len && line[len - 1] == '/') {
		pat.flags |= PAT_DIRONLY;
		len--;
	}
	if (!len)
		return 0;
	slash = memchr(line, '/', len);
	if (!slash)
		pat.flags |= PAT_BASENAME;
	else if (line[0] == '/') {
		line++;
		len--;
	}
	if (!(pat.text = sdf_strndup(line, len)))
		return SDF_EBUDGET;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct pattern *v = sdf_reallocarray(l->v, cap, sizeof(*v));
		if (!v) {
			sdf_free(pat.text);
			return SDF_EBUDGET;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = pat;
	return 0;
}

static int parse(struct plist *l, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	int err;

	/* a UTF-8 byte order mark is skipped, as git does */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if ((err = add_line(l, p, n)) < 0)
			return err;
		p += n + 1;
	}
	return 0;
}

/* Reads a pattern file (never through a symlink). Missing is not an error. */
static int load(struct plist *l, int dirfd, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int err = sdf_read_small_file(&buf, &len, dirfd, path, MAX_IGNORE_FILE);

	if (err == SDF_EBUDGET)
		return err;
	if (err < 0 || !buf) {
		/* unreadable or oversized: git skips it too */
		sdf_error_clear();
		return 0;
	}
	err = parse(l, buf, len);
	sdf_free(buf);
	return err;
}

int sdf_ignore_new(sdf_ignore **out, const char *info_exclude,
                   const char *excludes_file)
{
	sdf_ignore *ig = sdf_calloc(1, sizeof(*ig));
	int err = 0;

	*out = NULL;
	if (!ig)
		return SDF_EBUDGET;
	if ((info_exclude &&
	     (err = load(&ig->exclude, AT_FDCWD, info_exclude)) < 0) ||
	    (excludes_file &&
	     (err = load(&ig->excludes, AT_FDCWD, excludes_file)) < 0)) {
		sdf_ignore_free(ig);
		return err;
	}
	*out = ig;
	return 0;
}

void sdf_ignore_free(sdf_ignore *ig)
{
	if (!ig)
		return;
	while (ig->ndirs)
		sdf_ignore_pop_dir(ig);
	sdf_free(ig->dirs);
	plist_dispose(&ig->exclude);
	plist_dispose(&ig->excludes);
	sdf_free(ig);
}

int sdf_ignore_push_dir(sdf_ignore *ig, int dirfd, const char *reldir)
{
	struct plist *l;
	int err;

	if (ig->ndirs == ig->capdirs) {
		size_t cap = ig->capdirs ? ig->capdirs * 2 : 16;
		struct plist *v = sdf_reallocarray(ig->dirs, cap, sizeof(*v));
		if (!v)
			return SDF_EBUDGET;
		ig->dirs = v;
		ig->capdirs = cap;
	}
	l = &ig->dirs[ig->ndirs];
	memset(l, 0, sizeof(*l));
	if (!(l->base = sdf_strdup(reldir)))
		return SDF_EBUDGET;
	l->baselen = strlen(reldir);
	ig->ndirs++;
	if ((err = load(l, dirfd, ".gitignore")) < 0) {
		sdf_ignore_pop_dir(ig);
		return err;
	}
	return 0;
}

void sdf_ignore_pop_dir(sdf_ignore *ig)
{
	if (ig->ndirs)
		plist_dispose(&ig->dirs[--ig->ndirs]);
}

/* -1: no line matches; 0: a negative line matches last; 1: ignored. */
static int check_list(const struct plist *l, const char *path, const char *name,
                      int is_dir)
{
	const char *rel;

	if (l->baselen && strncmp(path, l->base, l->baselen) != 0)
		return -1;
	rel = path + l->baselen;
	for (size_t i = l->n; i-- > 0;) {
		const struct pattern *p = &l->v[i];
		int hit;

		if ((p->flags & PAT_DIRONLY) && !is_dir)
			continue;
		if (p->flags & PAT_BASENAME)
			hit = sdf_wildmatch(p->text, name, 0);
		else
			hit = sdf_wildmatch(p->text, rel, 1);
		if (hit)
			return !(p->flags & PAT_NEGATIVE);
	}
	return -1;
}

int sdf_ignore_check(const sdf_ignore *ig, const char *path, int is_dir)
{
	const char *name = strrchr(path, '/');
	int r;

	name = name ? name + 1 : path;
	for (size_t i = ig->ndirs; i-- > 0;)
		if ((r = check_list(&ig->dirs[i], path, name, is_dir)) >= 0)
			return r;
	if ((r = check_list(&ig->exclude, path, name, is_dir)) >= 0)
		return r;
	if ((r = check_list(&ig->excludes, path, name, is_dir)) >= 0)
		return r;
	return 0;
}
