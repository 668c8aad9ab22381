/*
 * Generated, vendored and binary classification (see sdf_classify.h for
 * the rules and the reason strings). Tables and a few small scanners over
 * the path and the head; no allocation, no state.
 */
#include "sdf_classify.h"

#include <string.h>

typedef struct {
	const char *p;
	size_t len;
} span;

/* Names with their lengths, so that matching a name is one memcmp. */
struct name_rule {
	const char *name;
	size_t len;
	const char *reason;
};

#define N(lit) lit, sizeof(lit) - 1

/* ASCII only: classification must not depend on the locale. */
static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static int is_space(int c)
{
	return c == ' ' || c == '\t';
}

static int span_eq(span s, const char *lit, size_t n)
{
	return s.len == n && memcmp(s.p, lit, n) == 0;
}

static int span_is(span s, const char *lit)
{
	return span_eq(s, lit, strlen(lit));
}

static int starts(span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len >= n && memcmp(s.p, lit, n) == 0;
}

static int starts_ci(span s, const char *lit)
{
	size_t n = strlen(lit);

	if (s.len < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.p[i]) !=
		    lower((unsigned char)lit[i]))
			return 0;
	return 1;
}

static int ends(span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len >= n && memcmp(s.p + s.len - n, lit, n) == 0;
}

static int ends_ci(span s, const char *lit)
{
	size_t n = strlen(lit);
	span tail;

	if (s.len < n)
		return 0;
	tail.p = s.p + s.len - n;
	tail.len = n;
	return starts_ci(tail, lit);
}

/* Offset of the first lit in s (ci: ignoring ASCII case), or s.len. */
static size_t find(span s, const char *lit, int ci)
{
	size_t n = strlen(lit);
	int first = lower((unsigned char)lit[0]);

	if (n == 0 || n > s.len)
		return n == 0 ? 0 : s.len;
	for (size_t i = 0; i <= s.len - n; i++) {
		int c = (unsigned char)s.p[i];
		span at = {s.p + i, n};

		if (ci ? lower(c) != first : c != (unsigned char)lit[0])
			continue;
		if (ci ? starts_ci(at, lit) : memcmp(at.p, lit, n) == 0)
			return i;
	}
	return s.len;
}

static span drop(span s, size_t n)
{
	s.p += n;
	s.len -= n;
	return s;
}

static const char *lookup(const struct name_rule *t, size_t n, span name)
{
	for (size_t i = 0; i < n; i++)
		if (span_eq(name, t[i].name, t[i].len))
			return t[i].reason;
	return NULL;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- 2. vendored trees ---- */

static const struct name_rule vendored_dirs[] = {
    {N("node_modules"), "vendored:node_modules"},
    {N("vendor"), "vendored:vendor"},
    {N("third_party"), "vendored:third_party"},
    {N("third-party"), "vendored:third_party"},
    {N("thirdparty"), "vendored:third_party"},
    {N("3rdparty"), "vendored:third_party"},
    {N("3rd_party"), "vendored:third_party"},
    {N("3rd-party"), "vendored:third_party"},
    {N("bower_components"), "vendored:bower_components"},
    {N("Pods"), "vendored:Pods"},
    {N(".venv"), "vendored:virtualenv"},
    {N("site-packages"), "vendored:virtualenv"},
    {N("Godeps"), "vendored:Godeps"},
};

/* A directory named child directly below one named parent. */
static const struct {
	const char *parent, *child, *reason;
} vendored_pairs[] = {
    {"Carthage", "Build", "vendored:Carthage"},
    {".yarn", "releases", "vendored:yarn"},
    {".yarn", "plugins", "vendored:yarn"},
    {".yarn", "sdks", "vendored:yarn"},
    {".yarn", "cache", "vendored:yarn"},
    {".yarn", "unplugged", "vendored:yarn"},
    {"gradle", "wrapper", "vendored:gradle-wrapper"},
    {".mvn", "wrapper", "vendored:maven-wrapper"},
};

static const struct name_rule vendored_files[] = {
    {N("gradlew"), "vendored:gradle-wrapper"},
    {N("gradlew.bat"), "vendored:gradle-wrapper"},
    {N("mvnw"), "vendored:maven-wrapper"},
    {N("mvnw.cmd"), "vendored:maven-wrapper"},
};

/* ---- 3. tool outputs named by path ---- */

static const struct name_rule generated_dirs[] = {
    {N("CMakeFiles"), "path:CMakeFiles"},
    {N("generated"), "path:generated-name"},
    {N("__generated__"), "path:generated-name"},
    {N("xcuserdata"), "path:xcode"},
    {N(".idea"), "path:idea"},
    {N("__pycache__"), "path:python-cache"},
    {N(".next"), "path:build-cache"},
    {N(".nuxt"), "path:build-cache"},
    {N(".svelte-kit"), "path:build-cache"},
    {N(".angular"), "path:build-cache"},
    {N(".turbo"), "path:build-cache"},
    {N(".parcel-cache"), "path:build-cache"},
    {N(".docusaurus"), "path:build-cache"},
    {N(".gradle"), "path:build-cache"},
    {N("htmlcov"), "path:coverage"},
    {N(".nyc_output"), "path:coverage"},
};

static const struct name_rule generated_files[] = {
    {N("CMakeCache.txt"), "path:CMakeCache.txt"},
    {N("cmake_install.cmake"), "path:cmake-output"},
    {N("CTestTestfile.cmake"), "path:cmake-output"},
    {N("compile_commands.json"), "path:compile_commands.json"},
    {N(".ninja_log"), "path:ninja"},
    {N(".ninja_deps"), "path:ninja"},
    {N("config.status"), "path:autotools"},
    {N("config.log"), "path:autotools"},
    {N(".pnp.js"), "path:yarn-pnp"},
    {N(".pnp.cjs"), "path:yarn-pnp"},
    {N(".pnp.loader.mjs"), "path:yarn-pnp"},
    /* Lock files, by ecosystem. */
    {N("package-lock.json"), "path:lockfile"},
    {N("npm-shrinkwrap.json"), "path:lockfile"},
    {N("yarn.lock"), "path:lockfile"},
    {N("pnpm-lock.yaml"), "path:lockfile"},
    {N("bun.lock"), "path:lockfile"},
    {N("bun.lockb"), "path:lockfile"},
    {N("deno.lock"), "path:lockfile"},
    {N("Cargo.lock"), "path:lockfile"},
    {N("Gemfile.lock"), "path:lockfile"},
    {N("composer.lock"), "path:lockfile"},
    {N("poetry.lock"), "path:lockfile"},
    {N("Pipfile.lock"), "path:lockfile"},
    {N("pdm.lock"), "path:lockfile"},
    {N("uv.lock"), "path:lockfile"},
    {N("pixi.lock"), "path:lockfile"},
    {N("go.sum"), "path:lockfile"},
    {N("go.work.sum"), "path:lockfile"},
    {N("Gopkg.lock"), "path:lockfile"},
    {N("glide.lock"), "path:lockfile"},
    {N("flake.lock"), "path:lockfile"},
    {N("Package.resolved"), "path:lockfile"},
    {N("Podfile.lock"), "path:lockfile"},
    {N("Cartfile.resolved"), "path:lockfile"},
    {N("pubspec.lock"), "path:lockfile"},
    {N("mix.lock"), "path:lockfile"},
    {N("packages.lock.json"), "path:lockfile"},
    {N("paket.lock"), "path:lockfile"},
    {N("gradle.lockfile"), "path:lockfile"},
    {N("MODULE.bazel.lock"), "path:lockfile"},
    {N("conan.lock"), "path:lockfile"},
    {N("shard.lock"), "path:lockfile"},
    {N("Manifest.toml"), "path:lockfile"},
    {N("renv.lock"), "path:lockfile"},
};

static const struct {
	const char *suffix;
	size_t len;
	const char *reason;
	int ci;
} generated_suffixes[] = {
    {N(".min.js"), "path:minified", 0},
    {N(".min.mjs"), "path:minified", 0},
    {N(".min.cjs"), "path:minified", 0},
    {N(".min.css"), "path:minified", 0},
    {N(".js.map"), "path:sourcemap", 0},
    {N(".mjs.map"), "path:sourcemap", 0},
    {N(".cjs.map"), "path:sourcemap", 0},
    {N(".css.map"), "path:sourcemap", 0},
    {N(".ts.map"), "path:sourcemap", 0},
    {N(".pb.go"), "path:protobuf", 0},
    {N(".pb.gw.go"), "path:protobuf", 0},
    {N(".pb.validate.go"), "path:protobuf", 0},
    {N(".pb.cc"), "path:protobuf", 0},
    {N(".pb.h"), "path:protobuf", 0},
    {N(".pb.c"), "path:protobuf", 0},
    {N(".pb-c.c"), "path:protobuf", 0},
    {N(".pb-c.h"), "path:protobuf", 0},
    {N("_pb2.py"), "path:protobuf", 0},
    {N("_pb2.pyi"), "path:protobuf", 0},
    {N("_pb2_grpc.py"), "path:protobuf", 0},
    {N("_pb.js"), "path:protobuf", 0},
    {N("_pb.d.ts"), "path:protobuf", 0},
    {N("_pb.ts"), "path:protobuf", 0},
    {N("_pb.rb"), "path:protobuf", 0},
    {N(".pb.swift"), "path:protobuf", 0},
    {N(".grpc.swift"), "path:protobuf", 0},
    {N(".pb.dart"), "path:protobuf", 0},
    {N(".pbenum.dart"), "path:protobuf", 0},
    {N(".pbjson.dart"), "path:protobuf", 0},
    {N(".pbgrpc.dart"), "path:protobuf", 0},
    {N(".pbserver.dart"), "path:protobuf", 0},
    {N(".pb.ex"), "path:protobuf", 0},
    {N(".zep.c"), "path:zephir", 0},
    {N(".zep.h"), "path:zephir", 0},
    {N(".zep.php"), "path:zephir", 0},
    {N(".designer.cs"), "path:dotnet", 1},
    {N(".designer.vb"), "path:dotnet", 1},
    {N(".feature.cs"), "path:dotnet", 0},
    {N(".g.cs"), "path:dotnet", 0},
    {N(".g.i.cs"), "path:dotnet", 0},
    {N(".xcworkspacedata"), "path:xcode", 0},
    {N(".xcuserstate"), "path:xcode", 0},
};

/* ---- 4. build and dist output directories ---- */

static const struct name_rule output_dirs[] = {
    {N("build"), "path:build"},   {N("dist"), "path:dist"},
    {N("out"), "path:out"},       {N("target"), "path:target"},
    {N("_build"), "path:_build"},
};

/*
 * An output directory is one of the first three: build/, app/build/,
 * packages/ui/dist/. Deeper, it is a package: pip/_internal/operations/build/.
 */
#define OUTPUT_DIR_DEPTH 3

/* Below these an output directory name is a package, not an output. */
static const struct name_rule source_roots[] = {
    {N("src"), NULL},       {N("source"), NULL},   {N("sources"), NULL},
    {N("lib"), NULL},       {N("pkg"), NULL},      {N("internal"), NULL},
    {N("cmd"), NULL},       {N("include"), NULL},  {N("test"), NULL},
    {N("tests"), NULL},     {N("testdata"), NULL}, {N("spec"), NULL},
    {N("__tests__"), NULL}, {N("fixtures"), NULL},
};

static int is_source_root(span dir)
{
	for (size_t i = 0; i < COUNT(source_roots); i++)
		if (span_eq(dir, source_roots[i].name, source_roots[i].len))
			return 1;
	return 0;
}

static const char *generated_dir(span dir)
{
	const char *r = lookup(generated_dirs, COUNT(generated_dirs), dir);

	if (r)
		return r;
	if (starts(dir, "cmake-build-") && dir.len > strlen("cmake-build-"))
		return "path:cmake-build";
	if (ends(dir, ".egg-info"))
		return "path:python-cache";
	return NULL;
}

static const char *generated_file(span base)
{
	const char *r = lookup(generated_files, COUNT(generated_files), base);

	if (r)
		return r;
	for (size_t i = 0; i < COUNT(generated_suffixes); i++) {
		const char *sfx = generated_suffixes[i].suffix;
		size_t n = generated_suffixes[i].len;
		span tail;

		/* The suffix must leave a name: ".min.js" alone is not. */
		if (base.len <= n)
			continue;
		tail.p = base.p + base.len - n;
		tail.len = n;
		if (generated_suffixes[i].ci ? starts_ci(tail, sfx)
		                             : memcmp(tail.p, sfx, n) == 0)
			return generated_suffixes[i].reason;
	}
	if (starts(base, "zz_generated") && ends(base, ".go"))
		return "path:go-zz_generated";
	if (find(base, ".generated.", 0) < base.len)
		return "path:generated-name";
	return NULL;
}

/*
 * One pass over the components. Vendored wins over a named tool output,
 * which wins over an output directory; within each, the outermost.
 */
static const char *classify_path(const char *path, int vendored_rules)
{
	const char *vendored = NULL, *named = NULL, *output = NULL;
	span prev = {"", 0};
	int below_source_root = 0, depth = 0;

	while (*path) {
		const char *slash = strchr(path, '/');
		span c = {path, slash ? (size_t)(slash - path) : strlen(path)};

		path += c.len + (slash != NULL);
		if (c.len == 0 || span_is(c, "."))
			continue;
		if (!slash) {
			if (!vendored && vendored_rules)
				vendored = lookup(vendored_files,
				                  COUNT(vendored_files), c);
			if (!named)
				named = generated_file(c);
			break;
		}
		if (!vendored && vendored_rules) {
			vendored =
			    lookup(vendored_dirs, COUNT(vendored_dirs), c);
			/* python -m venv venv; deeper, Lib/venv/ is a module */
			if (!vendored && depth == 0 && span_is(c, "venv"))
				vendored = "vendored:virtualenv";
			for (size_t i = 0;
			     !vendored && i < COUNT(vendored_pairs); i++)
				if (span_is(prev, vendored_pairs[i].parent) &&
				    span_is(c, vendored_pairs[i].child))
					vendored = vendored_pairs[i].reason;
		}
		if (!named)
			named = generated_dir(c);
		if (!output && !below_source_root && depth < OUTPUT_DIR_DEPTH)
			output = lookup(output_dirs, COUNT(output_dirs), c);
		depth++;
		if (is_source_root(c))
			below_source_root = 1;
		prev = c;
	}
	return vendored ? vendored : named ? named : output;
}

/* ---- 5. content markers ---- */

/* A cursor over one comment's text, for matching phrases word by word. */
typedef struct {
	const char *p, *end;
} cursor;

/*
 * Skips blanks, then eats w (case-insensitive, single spaces inside) if it
 * is a whole word there. Leaves c alone and returns 0 otherwise.
 */
static int eat(cursor *c, const char *w)
{
	const char *p = c->p;
	size_t n = strlen(w);

	while (p < c->end && is_space(*p))
		p++;
	if ((size_t)(c->end - p) < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)p[i]) != lower((unsigned char)w[i]))
			return 0;
	if (p + n < c->end && is_alnum((unsigned char)p[n]))
		return 0;
	c->p = p + n;
	return 1;
}

static int eat_any(cursor *c, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (eat(c, words[i]))
			return 1;
	return 0;
}

static const char *const adverbs[] = {"automatically", "auto", "machine",
                                      "mechanically"};
static const char *const generated_words[] = {
    "generated", "autogenerated", "auto-generated", "machine-generated"};
/* What may follow a bare "generated" at the start of a comment. */
static const char *const generated_by[] = {
    "by",   "from", "with", "using", "automatically",
    "file", "code", "on",   "for",   "at"};
static const char *const things[] = {
    "file",   "code",    "source", "header",   "module",   "class",
    "script", "package", "page",   "document", "directory"};
/* What may come before "generated by": "Parser generated by jison". */
static const char *const makers[] = {
    "code", "file", "parser", "lexer", "lexical scanner", "scanner"};

/* "(automatically) generated", "autogenerated", "auto-generated", ... */
static int eat_generated(cursor *c)
{
	cursor s = *c;

	/* "auto" would eat the start of "auto-generated": try that first. */
	if (!eat_any(&s, generated_words, COUNT(generated_words)) &&
	    !(eat_any(&s, adverbs, COUNT(adverbs)) &&
	      eat_any(&s, generated_words, COUNT(generated_words))))
		return 0;
	*c = s;
	return 1;
}

/* A comment that opens by saying the file is generated. */
static int banner_phrase(span text)
{
	const cursor start = {text.p, text.p + text.len};
	cursor s = start;

	/* "The following code was generated by JFlex 1.4.3" */
	if (eat(&s, "this") || eat(&s, "the following")) {
		if (eat(&s, "is")) {
			/* "This is an autogenerated file." */
			(void)(eat(&s, "an") || eat(&s, "a"));
			return eat_generated(&s);
		}
		/* "This file was automatically generated by SWIG." */
		if (!eat_any(&s, things, COUNT(things)))
			return 0;
		(void)(eat(&s, "file") || eat(&s, "code"));
		if (!(eat(&s, "is") || eat(&s, "was") || eat(&s, "has been") ||
		      eat(&s, "is being")))
			return 0;
		return eat_generated(&s);
	}
	s = start;
	if (eat(&s, "autogenerated") || eat(&s, "auto-generated") ||
	    eat(&s, "machine-generated"))
		return 1;
	s = start;
	if (eat_any(&s, adverbs, COUNT(adverbs)) && eat(&s, "generated"))
		return 1;
	/*
	 * "Generated by Cython", "Code generated by sqlc", "File generated
	 * on", "A lexical scanner generated by flex", "parser generated by
	 * jison".
	 */
	s = start;
	(void)(eat(&s, "a") || eat(&s, "an"));
	(void)eat_any(&s, makers, COUNT(makers));
	return eat(&s, "generated") &&
	       eat_any(&s, generated_by, COUNT(generated_by));
}

/* "@generated" as a token of its own (not `quoted`, not part of a word). */
static int has_at_generated(span t)
{
	span rest = t;
	size_t at;

	while ((at = find(rest, "@generated", 0)) < rest.len) {
		size_t after = at + strlen("@generated");
		int before = at ? (unsigned char)rest.p[at - 1] : ' ';
		int next =
		    after < rest.len ? (unsigned char)rest.p[after] : ' ';

		if (!is_alnum(before) && !strchr("`'\"_@", before) &&
		    !is_alnum(next) && !strchr("`'\"_-", next))
			return 1;
		rest = drop(rest, after);
	}
	return 0;
}

/* Leading decoration of a comment line: "* ", "// ", "## ", "<", "-- ". */
static span strip_decoration(span t)
{
	while (t.len && strchr(" \t*/#-!=<[(;%+|>", t.p[0]) && t.p[0])
		t = drop(t, 1);
	return t;
}

/* Punctuation and comment closers between or after words. */
static span strip_punct(span t)
{
	while (t.len && strchr(" \t.,!:-*/#>;=)", t.p[0]) && t.p[0])
		t = drop(t, 1);
	return t;
}

/* The "do not edit" rules, on the text of one comment. */
static const char *do_not_edit(span t)
{
	size_t at = find(t, "do not edit", 1);
	span before = {t.p, at}, rest;
	int shout;
	cursor c;

	if (at == t.len)
		return NULL;
	rest = drop(t, at + strlen("do not edit"));
	shout = memcmp(t.p + at, "DO NOT EDIT", strlen("DO NOT EDIT")) == 0;
	/*
	 * "CMAKE generated file: DO NOT EDIT!", "DO NOT EDIT: generated by
	 * x", but not "do not edit the generated files (run make gen)".
	 */
	if (find(before, "generated", 1) < before.len ||
	    banner_phrase(strip_decoration(strip_punct(rest))))
		return "content:generated-banner";
	c.p = rest.p;
	c.end = rest.p + rest.len;
	if (eat(&c, "this file"))
		return "content:do-not-edit";
	/* "Do not edit the class manually." */
	if (eat(&c, "the") || eat(&c, "this")) {
		while (c.p < c.end && is_space(*c.p))
			c.p++;
		while (c.p < c.end && is_alnum((unsigned char)*c.p))
			c.p++;
	}
	if (eat(&c, "manually") || eat(&c, "by hand") || eat(&c, "directly"))
		return "content:do-not-edit";
	/* An upper-case banner that ends the line: "// DO NOT EDIT." */
	if (!shout)
		return NULL;
	return strip_punct(rest).len == 0 ? "content:do-not-edit" : NULL;
}

/*
 * Whether a comment's text ends mid-sentence, so that a next line in
 * lower case goes on with it: "...make pickle streams\n# generated with
 * Python 2 loadable" is no banner. A "#!" line and an editor's "-*-" mode
 * line are no sentences.
 */
static int continues(span t)
{
	if (starts(t, "!") || find(t, "-*-", 0) < t.len)
		return 0;
	while (t.len && strchr(" \t*/#-=<>;%|", t.p[t.len - 1]))
		t.len--;
	return t.len && !strchr(".!?:", t.p[t.len - 1]);
}

/* The rules of one comment line; in_sentence: it goes on from the last. */
static const char *comment_rules(span t, int in_sentence)
{
	span u;
	cursor c;

	if (find(t, "Generated by the protocol buffer compiler", 0) < t.len)
		return "content:protoc";
	if (has_at_generated(t))
		return "content:@generated";
	u = strip_decoration(t);
	/* Labels in front of the banner: "NOTE: This file is generated." */
	c.p = u.p;
	c.end = u.p + u.len;
	if ((eat(&c, "note") || eat(&c, "warning") || eat(&c, "important") ||
	     eat(&c, "attention")) &&
	    c.p < c.end && *c.p == ':')
		u = strip_decoration(drop(u, (size_t)(c.p + 1 - u.p)));
	if (starts_ci(u, "A Bison parser, made by GNU Bison"))
		return "content:bison";
	if (!(in_sentence && u.len && u.p[0] >= 'a' && u.p[0] <= 'z') &&
	    banner_phrase(u))
		return "content:generated-banner";
	return do_not_edit(t);
}

/* Comment syntaxes; a block with close == NULL is a line comment. */
static const struct {
	const char *open, *close;
} comments[] = {
    {"/*", "*/"},         {"<!--", "-->"}, {"{-", "-}"},    {"(*", "*)"},
    {"\"\"\"", "\"\"\""}, {"'''", "'''"},  {"//", NULL},    {"#", NULL},
    {"--", NULL},         {";", NULL},     {"%", NULL},     {"::", NULL},
    {"rem ", NULL},       {"REM ", NULL},  {"@rem ", NULL}, {"dnl ", NULL},
};

/* Go's rule, exactly: ^// Code generated .* DO NOT EDIT\.$ */
static int go_generated(span line)
{
	static const char head[] = "// Code generated ";
	static const char tail[] = " DO NOT EDIT.";

	return line.len >= sizeof(head) - 1 + sizeof(tail) - 1 &&
	       starts(line, head) && ends(line, tail);
}

/*
 * Lines that may come before a header comment without ending it. Anything
 * else that is not blank or a comment ends the scan: a code generator's own
 * source has its banner text in strings, below the code that writes it.
 */
static const char *const preambles[] = {
    "<?php",          "<?xml",    "<!DOCTYPE", "'use strict'",
    "\"use strict\"", "package ", "@file:",    "---"};

static int preamble(span t)
{
	for (size_t i = 0; i < COUNT(preambles); i++)
		if (starts_ci(t, preambles[i]))
			return 1;
	return 0;
}

/*
 * The markers of rule 5 in the leading comments of head. In markdown, "#"
 * starts a heading, not a comment: headings are skipped.
 */
static const char *scan_markers(span head, int markdown)
{
	const char *closer = NULL; /* of the block comment we are in */
	int in_sentence = 0;       /* the last comment line ended mid-way */

	if (starts(head, "\xEF\xBB\xBF"))
		head = drop(head, 3);
	for (int n = 0; head.len && n < SDF_CLASSIFY_MARKER_LINES; n++) {
		const char *nl = memchr(head.p, '\n', head.len);
		span line = {head.p, nl ? (size_t)(nl - head.p) : head.len};
		span t;
		const char *r;

		head = drop(head, line.len + (nl != NULL));
		if (line.len && line.p[line.len - 1] == '\r')
			line.len--;
		if (go_generated(line))
			return "content:go-generated";
		t = line;
		if (!closer) {
			size_t i;

			while (t.len && is_space(t.p[0]))
				t = drop(t, 1);
			if (t.len == 0 || (markdown && t.p[0] == '#')) {
				in_sentence = 0;
				continue;
			}
			for (i = 0; i < COUNT(comments); i++)
				if (starts(t, comments[i].open))
					break;
			if (i == COUNT(comments)) {
				if (preamble(t))
					continue;
				return NULL; /* code: the header is over */
			}
			t = drop(t, strlen(comments[i].open));
			closer = comments[i].close;
		}
		if (closer) {
			size_t end = find(t, closer, 0);

			if (end < t.len)
				closer = NULL;
			t.len = end;
		}
		if ((r = comment_rules(t, in_sentence)))
			return r;
		in_sentence = continues(t);
	}
	return NULL;
}

/* A source map: {"version":3 at the start, blanks allowed. */
static int sourcemap_head(span h)
{
	const char *steps[] = {"{", "\"version\"", ":", "3"};

	for (size_t i = 0; i < COUNT(steps); i++) {
		while (h.len && strchr(" \t\r\n", h.p[0]) && h.p[0])
			h = drop(h, 1);
		if (!starts(h, steps[i]))
			return 0;
		h = drop(h, strlen(steps[i]));
	}
	return h.len == 0 || !is_alnum((unsigned char)h.p[0]);
}

/*
 * Compiled script or style sheet: a "//# sourceMappingURL=" line (or its
 * block-comment form, or the older //@) in the head. Compilers put it
 * last, so the head sees it in small files only.
 */
static int sourcemap_url(span h)
{
	static const char key[] = "sourceMappingURL=";
	size_t at;

	while ((at = find(h, key, 0)) < h.len) {
		size_t i = at;

		while (i && is_space(h.p[i - 1]))
			i--;
		if (i >= 3 && (h.p[i - 1] == '#' || h.p[i - 1] == '@') &&
		    (memcmp(h.p + i - 3, "//", 2) == 0 ||
		     memcmp(h.p + i - 3, "/*", 2) == 0)) {
			i -= 3;
			while (i && is_space(h.p[i - 1]))
				i--;
			if (i == 0 || h.p[i - 1] == '\n')
				return 1;
		}
		h = drop(h, at + sizeof(key) - 1);
	}
	return 0;
}

/* ---- 6. minified text ---- */

static const char *const minifiable[] = {".js", ".mjs", ".cjs", ".css",
                                         ".json"};

static int avg_over(uint64_t bytes, uint64_t lines, uint64_t avg)
{
	if (lines == 0)
		lines = 1;
	return lines <= UINT64_MAX / avg && bytes > avg * lines;
}

static const char *minified(span base, uint64_t bytes, uint64_t lines,
                            int text_head)
{
	for (size_t i = 0; i < COUNT(minifiable); i++)
		if (base.len > strlen(minifiable[i]) &&
		    ends_ci(base, minifiable[i])) {
			if (bytes >= SDF_CLASSIFY_MINIFIED_MIN_BYTES &&
			    avg_over(bytes, lines, SDF_CLASSIFY_MINIFIED_AVG))
				return "minified";
			return NULL;
		}
	if (text_head && bytes >= SDF_CLASSIFY_LONG_LINES_MIN_BYTES &&
	    avg_over(bytes, lines, SDF_CLASSIFY_LONG_LINES_AVG))
		return "minified:long-lines";
	return NULL;
}

static span basename_of(const char *path)
{
	span b = {"", 0};
	const char *slash;

	if (!path)
		return b;
	slash = strrchr(path, '/');
	b.p = slash ? slash + 1 : path;
	b.len = strlen(b.p);
	return b;
}

const char *sdf_classify_generated(const sdf_classify_input *in)
{
	span head = {"", 0}, base;
	uint64_t bytes, lines;
	int text_head;
	const char *r;

	if (!in || in->attr_generated < 0)
		return NULL;
	if (in->attr_generated > 0)
		return "attribute:linguist-generated";
	if (in->attr_vendored > 0)
		return "attribute:linguist-vendored";
	if (in->path && (r = classify_path(in->path, in->attr_vendored == 0)))
		return r;

	if (in->head) {
		head.p = in->head;
		head.len = in->head_len < SDF_CLASSIFY_HEAD_MAX
		               ? in->head_len
		               : SDF_CLASSIFY_HEAD_MAX;
	}
	text_head = head.len && !memchr(head.p, 0, head.len);
	base = basename_of(in->path);
	if (text_head) {
		int md = ends_ci(base, ".md") || ends_ci(base, ".markdown") ||
		         ends_ci(base, ".mdx");

		if ((r = scan_markers(head, md)))
			return r;
		if (ends(base, ".map") && sourcemap_head(head))
			return "content:sourcemap";
		if ((ends_ci(base, ".js") || ends_ci(base, ".mjs") ||
		     ends_ci(base, ".cjs") || ends_ci(base, ".css")) &&
		    sourcemap_url(head))
			return "content:sourcemap-url";
	}

	bytes = in->bytes;
	lines = in->lines;
	if (bytes == 0 && lines == 0) {
		const char *p = head.p, *end = head.p + head.len;

		bytes = head.len;
		while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
			lines++;
			p++;
		}
		if (head.len && head.p[head.len - 1] != '\n')
			lines++;
	}
	if (head.len && !text_head)
		return NULL; /* binary: minified makes no sense */
	return minified(base, bytes, lines, text_head);
}

int sdf_classify_is_vendored(const char *reason)
{
	return reason && (strncmp(reason, "vendored:", 9) == 0 ||
	                  strcmp(reason, "attribute:linguist-vendored") == 0);
}

int sdf_classify_binary(int nul_in_head, int attr_diff)
{
	if (attr_diff < 0)
		return 1;
	if (attr_diff > 0)
		return 0;
	return nul_in_head != 0;
}
