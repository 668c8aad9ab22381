/*
 * Per-file classification for the diff summary: is a changed file
 * generated (or vendored), and is it binary.
 *
 * Pure functions of their arguments: no allocation, no globals, no I/O,
 * safe from any thread. The caller supplies what it already has while
 * streaming a side: the path, the first bytes, the byte and line counts,
 * and the verdicts of git attribute lookups (done by whoever holds the
 * repository; diff/ knows nothing of libgit2).
 *
 *	sdf_classify_input in = SDF_CLASSIFY_INPUT_INIT;
 *	in.path = "build/build.ninja";
 *	in.head = first; in.head_len = first_len;
 *	in.bytes = st.bytes; in.lines = st.lines;
 *	reason = sdf_classify_generated(&in);   (NULL: not generated)
 *
 * The rules are in the spirit of GitHub Linguist's generated and vendored
 * detection, written from its documented behaviour; the full list, and
 * every reason string, is at sdf_classify_generated() below.
 */
#ifndef SDF_CLASSIFY_H
#define SDF_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

/* The three states of a git attribute for one path. */
enum sdf_classify_attr {
	SDF_CLASSIFY_ATTR_UNSET = -1,      /* "-attr" (or attr=false) */
	SDF_CLASSIFY_ATTR_UNSPECIFIED = 0, /* no rule names it */
	SDF_CLASSIFY_ATTR_SET = 1          /* "attr" (or attr=true) */
};

/*
 * Bytes of the head that sdf_classify_generated() looks at: the same first
 * 8000 bytes in which git looks for a NUL, so one buffer serves both.
 * Longer heads are fine; the rest is ignored.
 */
#define SDF_CLASSIFY_HEAD_MAX 8000
/* Content markers count only in the first this many lines of the head. */
#define SDF_CLASSIFY_MARKER_LINES 40
/*
 * Minified script or style sheet (.js .mjs .cjs .css .json): at least
 * MIN_BYTES and more than AVG bytes per line on average (bytes / lines,
 * newlines included).
 */
#define SDF_CLASSIFY_MINIFIED_MIN_BYTES 1024
#define SDF_CLASSIFY_MINIFIED_AVG 110
/* Any other text file: at least MIN_BYTES and more than AVG per line. */
#define SDF_CLASSIFY_LONG_LINES_MIN_BYTES (16u << 10)
#define SDF_CLASSIFY_LONG_LINES_AVG 1000

typedef struct {
	/*
	 * Repository-relative path with '/' separators ("src/a.c"), NUL-
	 * terminated. NULL or "": only the attributes and content decide.
	 */
	const char *path;
	/*
	 * The first head_len bytes of the side being classified: the new
	 * side, or the old one for a deleted file. May be NULL (head_len 0):
	 * then no content rule fires.
	 */
	const void *head;
	size_t head_len;
	/*
	 * The whole side's size and line count as sdf_diff_stats gives them
	 * (a last line without '\n' counts). Both 0: the head (at most
	 * SDF_CLASSIFY_HEAD_MAX bytes of it) is taken as the whole file.
	 */
	uint64_t bytes;
	uint64_t lines;
	/*
	 * enum sdf_classify_attr: the "linguist-generated" and
	 * "linguist-vendored" attributes of path. A value "true" counts as
	 * set and "false" as unset, as Linguist reads them.
	 */
	int attr_generated;
	int attr_vendored;
} sdf_classify_input;

#define SDF_CLASSIFY_INPUT_INIT                                                \
	{                                                                      \
		NULL, NULL, 0, 0, 0, 0, 0                                      \
	}

/*
 * Whether a file is generated, and why: a static, stable reason string
 * (fit for JSON as is), or NULL for a file to be shown as source. Vendored
 * files (third-party code copied in) count as generated too, with a
 * reason that starts with "vendored:" or is "attribute:linguist-vendored"
 * (see sdf_classify_is_vendored()). The first rule that fires wins, in
 * this order:
 *
 * 1. Attributes, which override everything below both ways:
 *    linguist-generated set        "attribute:linguist-generated"
 *    linguist-generated unset      NULL, whatever the other rules say
 *    linguist-vendored set         "attribute:linguist-vendored"
 *    linguist-vendored unset       skips the vendored path rules (2)
 *
 * 2. Vendored trees (a directory anywhere in the path) and files:
 *    node_modules/                 "vendored:node_modules"
 *    vendor/                       "vendored:vendor"
 *    third_party/ third-party/ thirdparty/ 3rdparty/ 3rd_party/ 3rd-party/
 *                                  "vendored:third_party"
 *    bower_components/             "vendored:bower_components"
 *    Pods/                         "vendored:Pods"
 *    Carthage/Build/               "vendored:Carthage"
 *    .yarn/{releases,plugins,sdks,cache,unplugged}/  "vendored:yarn"
 *    .venv/ site-packages/, venv/ at the top  "vendored:virtualenv"
 *    gradle/wrapper/, gradlew, gradlew.bat  "vendored:gradle-wrapper"
 *    .mvn/wrapper/, mvnw, mvnw.cmd          "vendored:maven-wrapper"
 *    Godeps/                       "vendored:Godeps"
 *
 * 3. Tool outputs named by path, anywhere in the path:
 *    CMakeFiles/                   "path:CMakeFiles"
 *    CMakeCache.txt                "path:CMakeCache.txt"
 *    cmake_install.cmake CTestTestfile.cmake  "path:cmake-output"
 *    compile_commands.json         "path:compile_commands.json"
 *    .ninja_log .ninja_deps        "path:ninja"
 *    config.status config.log      "path:autotools"
 *    generated/ __generated__/, *.generated.*  "path:generated-name"
 *    *.min.js *.min.mjs *.min.cjs *.min.css    "path:minified"
 *    *.js.map *.mjs.map *.cjs.map *.css.map *.ts.map  "path:sourcemap"
 *    lock files (package-lock.json, npm-shrinkwrap.json, yarn.lock,
 *    pnpm-lock.yaml, bun.lock, bun.lockb, deno.lock, Cargo.lock,
 *    Gemfile.lock, composer.lock, poetry.lock, Pipfile.lock, pdm.lock,
 *    uv.lock, pixi.lock, go.sum, go.work.sum, Gopkg.lock, glide.lock,
 *    flake.lock, Package.resolved, Podfile.lock, Cartfile.resolved,
 *    pubspec.lock, mix.lock, packages.lock.json, paket.lock,
 *    gradle.lockfile, MODULE.bazel.lock, conan.lock, shard.lock,
 *    Manifest.toml, renv.lock)      "path:lockfile"
 *    *.pb.go *.pb.gw.go *.pb.validate.go *.pb.cc *.pb.h *.pb.c *.pb-c.c
 *    *.pb-c.h *_pb2.py *_pb2.pyi *_pb2_grpc.py *_pb.js *_pb.d.ts *_pb.ts
 *    *_pb.rb *.pb.swift *.grpc.swift *.pb.dart *.pbenum.dart
 *    *.pbjson.dart *.pbgrpc.dart *.pbserver.dart *.pb.ex  "path:protobuf"
 *    zz_generated*.go              "path:go-zz_generated"
 *    *.designer.cs *.designer.vb (any case), *.feature.cs, *.g.cs,
 *    *.g.i.cs                      "path:dotnet"
 *    *.zep.c *.zep.h *.zep.php     "path:zephir"
 *    xcuserdata/, *.xcworkspacedata, *.xcuserstate  "path:xcode"
 *    .idea/                        "path:idea"
 *    __pycache__/, *.egg-info/     "path:python-cache"
 *    .next/ .nuxt/ .svelte-kit/ .angular/ .turbo/ .parcel-cache/
 *    .docusaurus/ .gradle/         "path:build-cache"
 *    htmlcov/ .nyc_output/         "path:coverage"
 *    .pnp.js .pnp.cjs .pnp.loader.mjs  "path:yarn-pnp"
 *    cmake-build-<config>/ (CLion) "path:cmake-build"
 *
 * 4. Build and dist output directories: build/ dist/ out/ target/ _build/
 *    give "path:build", "path:dist", "path:out", "path:target",
 *    "path:_build" when they are one of the first three directories of
 *    the path and no directory above them is a source root (src/ source/
 *    sources/ lib/ pkg/ internal/ cmd/ include/ test/ tests/ testdata/
 *    spec/ __tests__/ fixtures/): build/, app/build/ and packages/ui/dist/
 *    are outputs; src/go/build/, src/main/java/org/x/target/ and
 *    pip/_internal/operations/build/ are packages. A project
 *    whose top-level build/ holds sources says so by unsetting
 *    linguist-generated for everything below build/ in .gitattributes.
 *
 * 5. Content, in the leading comments of a head with no NUL byte: the
 *    lines from the top that are blank, comments or a preamble (<?php,
 *    <?xml, <!DOCTYPE, "use strict", package, @file:, ---), at most
 *    SDF_CLASSIFY_MARKER_LINES of them; the first other line ends the
 *    scan, so a generator's own source, with the banner in a string, is
 *    not generated. Comments are line comments (//, #, --, ;, %, ::, rem,
 *    dnl; in markdown "#" is a heading and skipped) and the inside of
 *    block comments (/ * * /, <!-- -->, {- -}, (* *), triple quotes).
 *    The first of these rules to fire on a line wins:
 *    a whole line "// Code generated <anything> DO NOT EDIT." (Go's
 *    convention, which needs no other comment syntax)
 *                                  "content:go-generated"
 *    the token @generated          "content:@generated"
 *    "Generated by the protocol buffer compiler"  "content:protoc"
 *    "A Bison parser, made by GNU Bison"          "content:bison"
 *    a comment that starts by saying it is generated ("This file is
 *    automatically generated", "Auto-generated by", "Generated by",
 *    "Code generated by", "<auto-generated>", "This code was generated by
 *    a tool", "Autogenerated file", "Parser generated by", "The following
 *    code was generated by", ...; not in lower case when the comment line
 *    above ends mid-sentence), or "generated" before "do not edit", or
 *    such a phrase after it        "content:generated-banner"
 *    a "DO NOT EDIT" banner: upper-case DO NOT EDIT ending the line, or
 *    "do not edit this file / manually / by hand / directly"
 *                                  "content:do-not-edit"
 *    Then, on the whole head:
 *    a *.map file that starts {"version":3  "content:sourcemap"
 *    a .js .mjs .cjs .css head with a line "//# sourceMappingURL=" (or
 *    its //@ and block-comment forms; compilers write it last, so only
 *    small files show it)
 *                                  "content:sourcemap-url"
 *
 * 6. Minified text, from bytes and lines (a head with a NUL byte is
 *    binary and skips this):
 *    .js .mjs .cjs .css .json with at least SDF_CLASSIFY_MINIFIED_MIN_BYTES
 *    and bytes / lines > SDF_CLASSIFY_MINIFIED_AVG   "minified"
 *    any other file with a head, at least SDF_CLASSIFY_LONG_LINES_MIN_BYTES
 *    and bytes / lines > SDF_CLASSIFY_LONG_LINES_AVG "minified:long-lines"
 *
 * build.ninja is not generated by its name alone (small projects write it
 * by hand); inside a build directory rule 4 fires, and CMake's and Meson's
 * banners fire rule 5. in == NULL gives NULL. Path rules are checked
 * first and cost one pass over the path; the content rules read at most
 * SDF_CLASSIFY_HEAD_MAX bytes.
 */
const char *sdf_classify_generated(const sdf_classify_input *in);

/* 1 when reason (from sdf_classify_generated) marks a vendored file. */
int sdf_classify_is_vendored(const char *reason);

/*
 * Git's binary verdict for one side (1 binary, 0 text), folding the diff
 * attribute into the NUL rule (a NUL byte in the first 8000 bytes, as
 * sdf_diff_stats.binary). attr_diff, as git resolves it:
 *   SDF_CLASSIFY_ATTR_UNSET ("-diff", or "binary" which implies -diff):
 *       binary whatever the content;
 *   SDF_CLASSIFY_ATTR_SET ("diff"): text whatever the content;
 *   SDF_CLASSIFY_ATTR_UNSPECIFIED: the NUL rule.
 * For "diff=<driver>" pass what git's config diff.<driver>.binary says:
 * true as UNSET, false as SET, absent (or an unknown driver) as
 * UNSPECIFIED. Any other negative value counts as UNSET, any other
 * positive one as SET.
 */
int sdf_classify_binary(int nul_in_head, int attr_diff);

#endif
