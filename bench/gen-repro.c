/*
 * gen-repro: writes turn T of the large-artifact repro (or of a monorepo-shaped
 * tree) into a worktree, deterministically and fast.
 *
 * Shapes:
 *   rewrite   build/CMakeFiles/CMakeConfigureLog.yaml (exactly BIG MiB),
 *             build/build.ninja (NINJA MiB), build/.ninja_log (LOG KiB): every
 *             line holds the turn and line number, so every line differs
 *             between turns (the seed repro).
 *   regen     the same files as a realistic regeneration: CMake/ninja-like
 *             lines (with duplicates), of which about 1% change per turn
 *             (the line keeps its length, its tail gets a new value) and a
 *             few are inserted or removed, scattered; a function of
 *             (seed, turn) only, so any turn can be written directly.
 *   Both also write src/main.txt: "hello" plus one line per turn 1..T.
 *
 *   monorepo  FILES small files in DIRS directories with nested .gitignore
 *             files (negations included), ignored build output, a few
 *             executables and symlinks. Turn 1 writes the whole tree; turn
 *             T > 1 rewrites only the CHANGES files that turn T edits (apply
 *             turns in order).
 *
 * Output is a function of the options only. Files are rewritten in place
 * (O_TRUNC), as a build tool or an agent's script would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_SIZE (1u << 20)
#define LINE_MAX_LEN 512

static const char *usage_text =
    "usage: gen-repro [options] DIR\n"
    "  --shape rewrite|regen|monorepo  (default rewrite)\n"
    "  --turn T        turn to write, 1-based (default 1)\n"
    "  --big MIB       CMakeConfigureLog.yaml size in MiB (default 128)\n"
    "  --ninja MIB     build.ninja size in MiB (default 96)\n"
    "  --log KIB       .ninja_log size in KiB (default 512)\n"
    "  --seed S        (default 1)\n"
    "  --files N       monorepo: tracked source files (default 100000)\n"
    "  --dirs D        monorepo: leaf directories (default 5000)\n"
    "  --changes K     monorepo: files edited per turn (default 10)\n";

struct opts {
	const char *shape;
	const char *dir;
	unsigned turn;
	uint64_t big, ninja, log; /* bytes */
	uint64_t seed;
	unsigned files, dirs, changes;
};

static void die(const char *what, const char *path)
{
	fprintf(stderr, "gen-repro: %s '%s': %s\n", what, path,
	        strerror(errno));
	exit(1);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t h4(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return mix(mix(mix(mix(a) ^ b) ^ c) ^ d);
}

/* ---- buffered writer ---- */

struct out {
	int fd;
	const char *path;
	char *buf;
	size_t len;
};

static void out_flush(struct out *o)
{
	size_t off = 0;

	while (off < o->len) {
		ssize_t n = write(o->fd, o->buf + off, o->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("cannot write", o->path);
		off += (size_t)n;
	}
	o->len = 0;
}

static void mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			die("cannot create directory", path);
		*p = '/';
	}
}

static void out_open(struct out *o, const char *dir, const char *rel, int mode)
{
	static char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		die("path too long", rel);
	}
	mkdirs(path);
	o->path = path;
	o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (o->fd < 0)
		die("cannot open", path);
	if (fchmod(o->fd, (mode_t)mode) < 0)
		die("cannot chmod", path);
	o->len = 0;
}

static void out_close(struct out *o)
{
	out_flush(o);
	if (close(o->fd) < 0)
		die("cannot close", o->path);
}

/* ---- line formatting without printf (it is the hot path) ---- */

static char *put_s(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *put_u(char *p, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width--)
		*p++ = '0';
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_x(char *p, uint64_t v, int width)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = width - 1; i >= 0; i--)
		p[i] = hex[v & 15], v >>= 4;
	return p + width;
}

/* Appends one whole line (or its head, cut to fit the size, ending in '\n').
 * Returns 0 once the file is full. */
static int emit(struct out *o, uint64_t *left, const char *line, size_t n)
{
	if (*left == 0)
		return 0;
	if (n > *left) {
		n = (size_t)*left;
		memcpy(o->buf + o->len, line, n - 1);
		o->buf[o->len + n - 1] = '\n';
	} else {
		memcpy(o->buf + o->len, line, n);
	}
	o->len += n;
	*left -= n;
	if (o->len > BUF_SIZE - LINE_MAX_LEN)
		out_flush(o);
	return *left != 0;
}

/* ---- rewrite shape: every line holds turn and line number (48 bytes) ---- */

static void write_rewrite(struct out *o, const struct opts *op, uint64_t size,
                          uint64_t file_id)
{
	char line[LINE_MAX_LEN], *p;
	uint64_t left = size;

	for (uint64_t i = 1;; i++) {
		p = put_s(line, "turn ");
		p = put_u(p, op->turn, 6);
		p = put_s(p, " line ");
		p = put_u(p, i, 10);
		*p++ = ' ';
		p = put_x(p, h4(op->seed, file_id, op->turn, i), 16);
		p = put_s(p, "...\n");
		if (!emit(o, &left, line, (size_t)(p - line)))
			break;
	}
}

/* ---- regen shape ---- */

enum { KIND_YAML, KIND_NINJA, KIND_LOG };

/* Line i of the base sequence, at version v (0: as in turn 1). */
static size_t regen_line(char *line, int kind, uint64_t seed, uint64_t i,
                         unsigned v)
{
	char *p = line;
	uint64_t r, j, id;

	switch (kind) {
	case KIND_YAML:
		r = i / 16, j = i % 16, id = h4(seed, 1, r, 0) & 0xfffff;
		switch (j) {
		case 0:
			p = put_s(p, "  -");
			break;
		case 1:
			p = put_s(p, "    kind: \"try_compile-v1\"");
			break;
		case 2:
			p = put_s(p, "    backtrace:");
			break;
		case 3:
			p = put_s(p, "      - \"/usr/share/cmake-3.25/Modules/"
			             "CMakeDetermineCompilerABI.cmake:57 "
			             "(try_compile)\"");
			break;
		case 4:
			p = put_s(p, "      - \"CMakeLists.txt:");
			p = put_u(p, r % 400 + 1, 0);
			p = put_s(p, " (project)\"");
			break;
		case 5:
			p = put_s(p, "    checks:");
			break;
		case 6:
			p = put_s(p,
			          "      - \"Detecting C compiler ABI info\"");
			break;
		case 7:
			p = put_s(p, "    directories:");
			break;
		case 8:
		case 9:
			p = put_s(p,
			          j == 8 ? "      source: " : "      binary: ");
			p = put_s(p, "\"/work/build/CMakeFiles/CMakeScratch/"
			             "TryCompile-");
			p = put_x(p, id, 5);
			*p++ = '"';
			break;
		case 10:
			p = put_s(p, "    buildResult:");
			break;
		case 11:
			p = put_s(p,
			          "      variable: \"CMAKE_C_ABI_COMPILED\"");
			break;
		case 12:
			p = put_s(p, "      cached: true");
			break;
		case 13:
			p = put_s(p, "      stdout: |");
			break;
		case 14:
			p = put_s(p, "        Run Build Command(s): "
			             "/usr/bin/ninja -v cmTC_");
			p = put_x(p, id, 5);
			break;
		default:
			p = put_s(p, "        [1/2] /usr/bin/cc -O2 -o "
			             "CMakeFiles/cmTC_");
			p = put_x(p, id, 5);
			p = put_s(p, ".dir/CMakeCCompilerABI.c.o -c /usr/share/"
			             "cmake-3.25/Modules/CMakeCCompilerABI.c");
			break;
		}
		break;
	case KIND_NINJA:
		r = i / 5, j = i % 5, id = h4(seed, 2, r, 0) & 0xfffff;
		switch (j) {
		case 0:
			p = put_s(p, "build CMakeFiles/t");
			p = put_u(p, r / 50, 0);
			p = put_s(p, ".dir/src/f");
			p = put_x(p, id, 5);
			p = put_s(p, ".c.o: C_COMPILER__t");
			p = put_u(p, r / 50, 0);
			p = put_s(p, "_RelWithDebInfo /work/src/f");
			p = put_x(p, id, 5);
			p = put_s(p,
			          ".c || cmake_object_order_depends_target_t");
			p = put_u(p, r / 50, 0);
			break;
		case 1:
			p = put_s(p, "  DEP_FILE = CMakeFiles/t");
			p = put_u(p, r / 50, 0);
			p = put_s(p, ".dir/src/f");
			p = put_x(p, id, 5);
			p = put_s(p, ".c.o.d");
			break;
		case 2:
			p = put_s(
			    p, "  FLAGS = -O2 -g -DNDEBUG -fPIC -Wall -Wextra");
			break;
		case 3:
			p = put_s(p, "  OBJECT_DIR = CMakeFiles/t");
			p = put_u(p, r / 50, 0);
			p = put_s(p, ".dir");
			break;
		default:
			break; /* blank line */
		}
		break;
	default:
		if (i == 0) {
			p = put_s(p, "# ninja log v5");
			break;
		}
		id = h4(seed, 3, i, 0);
		p = put_u(p, (id >> 8) % 90000, 0);
		*p++ = '\t';
		p = put_u(p, (id >> 8) % 90000 + (id & 0xff) + 1, 0);
		*p++ = '\t';
		p = put_u(p, 1763900000000000000ull + (id >> 20), 0);
		p = put_s(p, "\tCMakeFiles/t");
		p = put_u(p, i / 50, 0);
		p = put_s(p, ".dir/src/f");
		p = put_x(p, id >> 40, 5);
		p = put_s(p, ".c.o\t");
		p = put_x(p, mix(id), 16);
		break;
	}
	if (v) { /* a regenerated line: same length, a new trailing value */
		char hex[16];
		size_t k = (size_t)(p - line) < 8 ? (size_t)(p - line) : 8;

		put_x(hex, h4(seed, 4, i, v), 16);
		memcpy(p - k, hex, k);
	}
	*p++ = '\n';
	return (size_t)(p - line);
}

#define REGEN_CHANGE 100   /* 1 line in 100 changes per turn */
#define REGEN_INSDEL 50000 /* 1 line in 50000 gets an insert or a delete */

static void write_regen(struct out *o, const struct opts *op, uint64_t size,
                        int kind)
{
	char line[LINE_MAX_LEN];
	uint64_t left = size, seed = op->seed * 8 + (uint64_t)kind;

	for (uint64_t i = 0;; i++) {
		unsigned v = 0, deleted = 0;
		size_t n;

		for (unsigned t = 2; t <= op->turn; t++) {
			if (h4(seed, t, i, 10) % REGEN_CHANGE == 0)
				v++;
			if (i > 0 && h4(seed, t, i, 11) % REGEN_INSDEL == 0)
				deleted = 1;
		}
		if (!deleted) {
			n = regen_line(line, kind, seed, i, v);
			if (!emit(o, &left, line, n))
				return;
		}
		for (unsigned t = 2; t <= op->turn; t++) {
			uint64_t h = h4(seed, t, i, 12);
			if (h % REGEN_INSDEL)
				continue;
			for (unsigned k = 0; k <= (h >> 32) % 3; k++) {
				char *p = put_s(line, "# inserted by turn ");
				p = put_u(p, t, 0);
				*p++ = ' ';
				p = put_x(p, h4(seed, t, i, 13 + k), 12);
				*p++ = '\n';
				if (!emit(o, &left, line, (size_t)(p - line)))
					return;
			}
		}
	}
}

static void write_main_txt(struct out *o, const struct opts *op)
{
	char line[64], *p;

	out_open(o, op->dir, "src/main.txt", 0644);
	memcpy(o->buf, "hello\n", 6);
	o->len = 6;
	for (unsigned t = 1; t <= op->turn; t++) {
		p = put_s(line, "turn ");
		p = put_u(p, t, 0);
		p = put_s(p, ": one more line\n");
		memcpy(o->buf + o->len, line, (size_t)(p - line));
		o->len += (size_t)(p - line);
		if (o->len > BUF_SIZE - LINE_MAX_LEN)
			out_flush(o);
	}
	out_close(o);
}

static void gen_artifacts(struct out *o, const struct opts *op)
{
	static const char *paths[] = {
	    "build/CMakeFiles/CMakeConfigureLog.yaml",
	    "build/build.ninja",
	    "build/.ninja_log",
	};
	uint64_t sizes[] = {op->big, op->ninja, op->log};
	int regen = !strcmp(op->shape, "regen");

	for (int f = 0; f < 3; f++) {
		out_open(o, op->dir, paths[f], 0644);
		if (regen)
			write_regen(o, op, sizes[f], f);
		else
			write_rewrite(o, op, sizes[f], (uint64_t)f);
		out_close(o);
	}
	write_main_txt(o, op);
}

/* ---- monorepo shape ---- */

static void put_file(struct out *o, const char *dir, const char *rel,
                     const char *text, int mode)
{
	size_t n = strlen(text);

	out_open(o, dir, rel, mode);
	memcpy(o->buf, text, n);
	o->len = n;
	out_close(o);
}

static void leaf_path(char *buf, size_t len, const struct opts *op, unsigned d)
{
	unsigned pkgs = op->dirs / 100 ? op->dirs / 100 : 1;

	snprintf(buf, len, "pkg%03u/mod%03u", d % pkgs, d / pkgs);
}

static void source_file(struct out *o, const struct opts *op, unsigned k)
{
	char rel[256], leaf[64], line[LINE_MAX_LEN], *p;
	uint64_t h = h4(op->seed, 20, k, 0);
	unsigned lines = 4 + (unsigned)(h % 40);
	int exec = k % 997 == 0;

	leaf_path(leaf, sizeof(leaf), op, k % op->dirs);
	snprintf(rel, sizeof(rel), "%s/%s%06u.%s", leaf, exec ? "run" : "f", k,
	         exec ? "sh" : "c");
	out_open(o, op->dir, rel, exec ? 0755 : 0644);
	p = put_s(o->buf, exec ? "#!/bin/sh\n# " : "/* ");
	p = put_s(p, rel);
	p = put_s(p, exec ? "\n" : " */\n#include <stdio.h>\n\n");
	o->len = (size_t)(p - o->buf);
	for (unsigned n = 0; n < lines; n++) {
		p = put_s(line, exec ? "echo step " : "int f");
		p = put_u(p, k, 0);
		p = put_s(p, "_");
		p = put_u(p, n, 0);
		p = put_s(p, exec ? "\n" : "(int x) { return x * ");
		if (!exec) {
			p = put_u(p, h4(op->seed, 21, k, n) % 1000, 0);
			p = put_s(p, " + 1; }\n");
		}
		memcpy(o->buf + o->len, line, (size_t)(p - line));
		o->len += (size_t)(p - line);
	}
	/* the edits of turns 2..T that picked this file */
	for (unsigned t = 2; t <= op->turn; t++)
		for (unsigned j = 0; j < op->changes; j++)
			if (h4(op->seed, 22, t, j) % op->files == k) {
				p = put_s(line, exec ? "# edited in turn "
				                     : "/* edited in turn ");
				p = put_u(p, t, 0);
				p = put_s(p, exec ? "\n" : " */\n");
				memcpy(o->buf + o->len, line,
				       (size_t)(p - line));
				o->len += (size_t)(p - line);
			}
	out_close(o);
}

static void gen_monorepo(struct out *o, const struct opts *op)
{
	char rel[256], leaf[64], target[64];
	unsigned pkgs = op->dirs / 100 ? op->dirs / 100 : 1;

	if (op->turn > 1) { /* only the files this turn edits */
		for (unsigned j = 0; j < op->changes; j++)
			source_file(o, op,
			            (unsigned)(h4(op->seed, 22, op->turn, j) %
			                       op->files));
		return;
	}
	put_file(o, op->dir, ".gitignore",
	         "# build output\nbuild/\n*.o\n*.log\n/dist/\n", 0644);
	put_file(o, op->dir, "README.md", "# a monorepo-shaped tree\n", 0644);
	put_file(o, op->dir, "dist/bundle.js", "ignored();\n", 0644);
	for (unsigned p = 0; p < pkgs; p++) {
		snprintf(rel, sizeof(rel), "pkg%03u/.gitignore", p);
		put_file(o, op->dir, rel, "*.tmp\n!keep.tmp\ngen/\n", 0644);
		snprintf(rel, sizeof(rel), "%s/pkg%03u/current", op->dir, p);
		snprintf(target, sizeof(target), "mod%03u", 0u);
		if (unlink(rel) < 0 && errno != ENOENT)
			die("cannot unlink", rel);
		if (symlink(target, rel) < 0)
			die("cannot create symlink", rel);
	}
	for (unsigned d = 0; d < op->dirs; d++) {
		leaf_path(leaf, sizeof(leaf), op, d);
		if (d % 7 == 0) {
			snprintf(rel, sizeof(rel), "%s/.gitignore", leaf);
			put_file(o, op->dir, rel, "*.cache\n!important.cache\n",
			         0644);
			snprintf(rel, sizeof(rel), "%s/x.cache", leaf);
			put_file(o, op->dir, rel, "ignored\n", 0644);
			snprintf(rel, sizeof(rel), "%s/important.cache", leaf);
			put_file(o, op->dir, rel, "kept\n", 0644);
		}
		if (d % 10 == 0) { /* ignored build output, one kept file */
			static const char *ignored[] = {
			    "build/out0.bin",
			    "build/out1.bin",
			    "build/sub/out2.bin",
			    "a.o",
			    "x.tmp",
			    "gen/g.c",
			    "make.log",
			};
			for (size_t i = 0;
			     i < sizeof(ignored) / sizeof(*ignored); i++) {
				snprintf(rel, sizeof(rel), "%s/%s", leaf,
				         ignored[i]);
				put_file(o, op->dir, rel, "build output\n",
				         0644);
			}
			snprintf(rel, sizeof(rel), "%s/keep.tmp", leaf);
			put_file(o, op->dir, rel, "negated: tracked\n", 0644);
		}
	}
	for (unsigned k = 0; k < op->files; k++)
		source_file(o, op, k);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || s[0] == '-' ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct opts op = {"rewrite", NULL, 1,      128,  96,
	                  512,       1,    100000, 5000, 10};
	struct out o = {0};
	uint64_t v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (a[0] != '-') {
			if (op.dir)
				goto usage;
			op.dir = a;
			continue;
		}
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(a, "--shape")) {
			op.shape = argv[++i];
			continue;
		}
		if (parse_u64(argv[++i], &v) < 0)
			goto usage;
		if (!strcmp(a, "--turn") && v >= 1 && v < 1000000)
			op.turn = (unsigned)v;
		else if (!strcmp(a, "--big") && v < (1u << 20))
			op.big = v;
		else if (!strcmp(a, "--ninja") && v < (1u << 20))
			op.ninja = v;
		else if (!strcmp(a, "--log") && v < (1u << 30))
			op.log = v;
		else if (!strcmp(a, "--seed"))
			op.seed = v;
		else if (!strcmp(a, "--files") && v >= 1 && v < 1000000)
			op.files = (unsigned)v;
		else if (!strcmp(a, "--dirs") && v >= 1 && v < 100000)
			op.dirs = (unsigned)v;
		else if (!strcmp(a, "--changes") && v < 100000)
			op.changes = (unsigned)v;
		else
			goto usage;
	}
	if (!op.dir ||
	    (strcmp(op.shape, "rewrite") && strcmp(op.shape, "regen") &&
	     strcmp(op.shape, "monorepo")))
		goto usage;
	op.big <<= 20, op.ninja <<= 20, op.log <<= 10;
	if (!(o.buf = malloc(BUF_SIZE))) {
		fputs("gen-repro: out of memory\n", stderr);
		return 1;
	}
	if (mkdir(op.dir, 0755) < 0 && errno != EEXIST)
		die("cannot create directory", op.dir);
	if (!strcmp(op.shape, "monorepo"))
		gen_monorepo(&o, &op);
	else
		gen_artifacts(&o, &op);
	free(o.buf);
	return 0;
usage:
	fputs(usage_text, stderr);
	return 2;
}
