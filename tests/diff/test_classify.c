/* Generated/vendored and binary classification: tables of verdicts. */
#include "sdf_classify.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE NULL

typedef struct {
	const char *path;
	const char *head; /* NUL-terminated; bytes and lines derived */
	const char *want; /* reason, or NULL: not generated */
} row;

static const char *classify(const char *path, const char *head, int ag, int av)
{
	sdf_classify_input in = SDF_CLASSIFY_INPUT_INIT;

	in.path = path;
	in.head = head;
	in.head_len = head ? strlen(head) : 0;
	in.attr_generated = ag;
	in.attr_vendored = av;
	return sdf_classify_generated(&in);
}

static void check_rows(const row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *got = classify(rows[i].path, rows[i].head, 0, 0);

		if (!rows[i].want)
			cr_expect_null(got, "%s: want not generated, got %s",
			               rows[i].path, got);
		else
			cr_expect(got && strcmp(got, rows[i].want) == 0,
			          "%s: want %s, got %s", rows[i].path,
			          rows[i].want, got ? got : "(null)");
	}
}

#define CHECK(rows) check_rows(rows, sizeof(rows) / sizeof(rows[0]))

Test(classify, the_repro)
{
	static const row rows[] = {
	    {"build/CMakeFiles/CMakeConfigureLog.yaml",
	     "---\nevents:\n  - kind: x\n", "path:CMakeFiles"},
	    {"build/build.ninja", "turn 1 line 0000001 abcdefgh\n",
	     "path:build"},
	    {"build/.ninja_log", "# ninja log v5\n", "path:ninja"},
	    {"src/main.txt", "hello\nturn 1\n", NONE},
	};

	CHECK(rows);
}

Test(classify, path_rules)
{
	static const row rows[] = {
	    /* CMake and ninja outputs, at any depth. */
	    {"CMakeFiles/x.dir/a.o.d", NULL, "path:CMakeFiles"},
	    {"src/sub/CMakeFiles/foo", NULL, "path:CMakeFiles"},
	    {"b/CMakeCache.txt", NULL, "path:CMakeCache.txt"},
	    {"x/cmake_install.cmake", NULL, "path:cmake-output"},
	    {"compile_commands.json", NULL, "path:compile_commands.json"},
	    {".ninja_deps", NULL, "path:ninja"},
	    {"cmake-build-debug/app", NULL, "path:cmake-build"},
	    {"config.status", NULL, "path:autotools"},
	    /* Output directories. */
	    {"dist/index.js", NULL, "path:dist"},
	    {"out/Default/args.gn", NULL, "path:out"},
	    {"target/debug/foo.d", NULL, "path:target"},
	    {"_build/html/index.html", NULL, "path:_build"},
	    {"app/build/outputs/x.json", NULL, "path:build"},
	    {"packages/ui/dist/ui.js", NULL, "path:dist"},
	    {"crates/a/target/x", NULL, "path:target"},
	    {"build/src/lib/x.c", NULL, "path:build"},
	    {"a/b/dist/x.js", NULL, "path:dist"},
	    {"docs/_build/html/index.html", NULL, "path:_build"},
	    /* Minified, source maps, lock files. */
	    {"static/jquery.min.js", NULL, "path:minified"},
	    {"css/site.min.css", NULL, "path:minified"},
	    {"app.js.map", NULL, "path:sourcemap"},
	    {"types/index.d.ts.map", NULL, "path:sourcemap"},
	    {"package-lock.json", NULL, "path:lockfile"},
	    {"web/yarn.lock", NULL, "path:lockfile"},
	    {"pnpm-lock.yaml", NULL, "path:lockfile"},
	    {"Cargo.lock", NULL, "path:lockfile"},
	    {"Gemfile.lock", NULL, "path:lockfile"},
	    {"composer.lock", NULL, "path:lockfile"},
	    {"poetry.lock", NULL, "path:lockfile"},
	    {"go.sum", NULL, "path:lockfile"},
	    {"uv.lock", NULL, "path:lockfile"},
	    /* Code generators by file name. */
	    {"api/v1/user.pb.go", NULL, "path:protobuf"},
	    {"api/v1/user_grpc.pb.go", NULL, "path:protobuf"},
	    {"proto/user.pb.cc", NULL, "path:protobuf"},
	    {"proto/user.pb.h", NULL, "path:protobuf"},
	    {"py/user_pb2.py", NULL, "path:protobuf"},
	    {"py/user_pb2_grpc.py", NULL, "path:protobuf"},
	    {"js/user_pb.js", NULL, "path:protobuf"},
	    {"apis/v1/zz_generated.deepcopy.go", NULL, "path:go-zz_generated"},
	    {"Forms/Main.Designer.cs", NULL, "path:dotnet"},
	    {"Forms/Main.designer.cs", NULL, "path:dotnet"},
	    {"src/__generated__/Query.graphql.ts", NULL, "path:generated-name"},
	    {"src/api.generated.ts", NULL, "path:generated-name"},
	    {".idea/workspace.xml", NULL, "path:idea"},
	    {"pkg/__pycache__/m.cpython-311.pyc", NULL, "path:python-cache"},
	    {"mypkg.egg-info/PKG-INFO", NULL, "path:python-cache"},
	    {"web/.next/server/app.js", NULL, "path:build-cache"},
	    {".pnp.cjs", NULL, "path:yarn-pnp"},
	    {"ext/exception.zep.c", NULL, "path:zephir"},
	};

	CHECK(rows);
}

Test(classify, dotnet_g_cs)
{
	cr_expect_str_eq(classify("obj/App.g.cs", NULL, 0, 0), "path:dotnet");
	cr_expect_str_eq(classify("Views/Main.g.i.cs", NULL, 0, 0),
	                 "path:dotnet");
}

Test(classify, vendored)
{
	static const row rows[] = {
	    {"node_modules/left-pad/index.js", NULL, "vendored:node_modules"},
	    {"web/node_modules/a/dist/a.min.js", NULL, "vendored:node_modules"},
	    {"vendor/github.com/x/y/y.pb.go", NULL, "vendored:vendor"},
	    {"third_party/zlib/inflate.c", NULL, "vendored:third_party"},
	    {"src/3rdparty/stb.h", NULL, "vendored:third_party"},
	    {"bower_components/x/x.js", NULL, "vendored:bower_components"},
	    {"ios/Pods/AFNetworking/x.m", NULL, "vendored:Pods"},
	    {"Carthage/Build/iOS/x", NULL, "vendored:Carthage"},
	    {".yarn/releases/yarn-4.1.0.cjs", NULL, "vendored:yarn"},
	    {".venv/lib/python3.12/site.py", NULL, "vendored:virtualenv"},
	    {"venv/bin/activate", NULL, "vendored:virtualenv"},
	    {"x/site-packages/six.py", NULL, "vendored:virtualenv"},
	    {"gradle/wrapper/gradle-wrapper.properties", NULL,
	     "vendored:gradle-wrapper"},
	    {"android/gradlew", NULL, "vendored:gradle-wrapper"},
	    {"mvnw.cmd", NULL, "vendored:maven-wrapper"},
	    {"Godeps/_workspace/src/github.com/kr/s3/sign.go", NULL,
	     "vendored:Godeps"},
	};

	CHECK(rows);
	cr_expect(sdf_classify_is_vendored("vendored:vendor"));
	cr_expect(sdf_classify_is_vendored("attribute:linguist-vendored"));
	cr_expect_not(sdf_classify_is_vendored("path:build"));
	cr_expect_not(sdf_classify_is_vendored(NULL));
}

Test(classify, look_alikes_are_source)
{
	static const row rows[] = {
	    {"src/build.c", "int main(void) { return 0; }\n", NONE},
	    {"docs/distribution.md", "# Distribution\n\nHow we ship.\n", NONE},
	    {"lib/vendor.go", "package lib\n", NONE},
	    {"scripts/build", "#!/bin/sh\nmake\n", NONE},
	    {"build.sh", "#!/bin/sh\n", NONE},
	    {"buildtools/x.py", NULL, NONE},
	    {"build-aux/ltmain.sh", NULL, NONE},
	    {"rebuild/a.c", NULL, NONE},
	    {"distro/a.c", NULL, NONE},
	    {"output/a.c", NULL, NONE},
	    {"targets/a.c", NULL, NONE},
	    {"vendors/a.c", NULL, NONE},
	    {"src/go/build/build.go", NULL, NONE},
	    {"src/main/java/org/x/target/Target.java", NULL, NONE},
	    {"internal/build/build.go", NULL, NONE},
	    {"tests/fixtures/out/expected.txt", NULL, NONE},
	    {"lib/dist/a.rb", NULL, NONE},
	    {"pip/_internal/operations/build/wheel.py", NULL, NONE},
	    {"a/b/c/dist/x.js", NULL, NONE},
	    {"build.ninja", "rule cc\n  command = cc $in\n", NONE},
	    {"src/lock.c", NULL, NONE},
	    {"package.json", "{\n  \"name\": \"x\"\n}\n", NONE},
	    {"Cargo.toml", "[package]\n", NONE},
	    {"go.mod", "module x\n", NONE},
	    {"src/min.js", "export const min = 1;\n", NONE},
	    {"src/map.c", NULL, NONE},
	    {"maps/level1.map", "entity {\n}\n", NONE},
	    {".min.js", NULL, NONE},
	    {"src/generator.py", NULL, NONE},
	    {"src/is_generated.c", NULL, NONE},
	    {"gradle/libs.versions.toml", NULL, NONE},
	    {"Lib/venv/__init__.py", NULL, NONE},
	    {"", NULL, NONE},
	    {"/", NULL, NONE},
	};

	CHECK(rows);
	cr_expect_null(classify(NULL, NULL, 0, 0));
	cr_expect_null(sdf_classify_generated(NULL));
}

Test(classify, content_banners)
{
	static const row rows[] = {
	    /* Go's convention, with a license above it. */
	    {"api/types_string.go",
	     "// Code generated by \"stringer -type=T\"; DO NOT EDIT.\n\n"
	     "package api\n",
	     "content:go-generated"},
	    {"apis/v1/deepcopy.go",
	     "//go:build !ignore_autogenerated\n\n"
	     "/*\nCopyright 2024 The Kubernetes Authors.\n\n"
	     "Licensed under the Apache License, Version 2.0.\n*/\n\n"
	     "// Code generated by deepcopy-gen. DO NOT EDIT.\n\n"
	     "package v1\n",
	     "content:go-generated"},
	    {"bom.go", "\xEF\xBB\xBF// Code generated by x. DO NOT EDIT.\n",
	     "content:go-generated"},
	    {"crlf.js", "/**\r\n * @generated\r\n */\r\n",
	     "content:@generated"},
	    {"db/query.sql.go",
	     "// Code generated by sqlc. DO NOT EDIT.\r\n// versions:\r\n",
	     "content:go-generated"},
	    /* protoc, in C++, Python and Java. */
	    {"gen/a.cc",
	     "// Generated by the protocol buffer compiler.  DO NOT "
	     "EDIT!\n// source: a.proto\n",
	     "content:protoc"},
	    {"gen/a.py",
	     "# -*- coding: utf-8 -*-\n# Generated by the protocol buffer "
	     "compiler.  DO NOT EDIT!\n# source: a.proto\n\"\"\"Generated "
	     "protocol buffer code.\"\"\"\n",
	     "content:protoc"},
	    /* @generated in a docblock, and Cargo's wording. */
	    {"src/__gen/Foo.js",
	     "/**\n * Copyright (c) Meta.\n *\n * @generated "
	     "SignedSource<<0123abcd>>\n */\n'use strict';\n",
	     "content:@generated"},
	    {"x/lockish.toml",
	     "# This file is automatically @generated by Cargo.\n"
	     "# It is not intended for manual editing.\nversion = 3\n",
	     "content:@generated"},
	    /* Tools' banners. */
	    {"gen/parser.c",
	     "/* A Bison parser, made by GNU Bison 3.8.2.  */\n",
	     "content:bison"},
	    {"gen/lexer.c",
	     "#line 2 \"lexer.c\"\n\n#define  YY_INT_ALIGNED short int\n\n"
	     "/* A lexical scanner generated by flex */\n",
	     "content:generated-banner"},
	    {"ext/mod.c", "/* Generated by Cython 3.0.8 */\n\n#include <x>\n",
	     "content:generated-banner"},
	    {"swig/wrap.c",
	     "/* ------------------------------------------------------\n"
	     " * This file was automatically generated by SWIG "
	     "(https://www.swig.org).\n * Version 4.1.1\n",
	     "content:generated-banner"},
	    {"Service.cs",
	     "//------------------------------------------------------\n"
	     "// <auto-generated>\n//     This code was generated by a "
	     "tool.\n// </auto-generated>\n",
	     "content:generated-banner"},
	    {"gen/Thrift.java",
	     "/**\n * Autogenerated by Thrift Compiler (0.19.0)\n *\n"
	     " * DO NOT EDIT UNLESS YOU ARE SURE THAT YOU KNOW WHAT YOU "
	     "ARE DOING\n",
	     "content:generated-banner"},
	    {"ninja/rules.ninja",
	     "# CMAKE generated file: DO NOT EDIT!\n# Generated by "
	     "\"Ninja\" Generator, CMake Version 3.28\n",
	     "content:generated-banner"},
	    {"meson/build.ninja",
	     "# This is the build file for project \"x\"\n# It is "
	     "autogenerated by the Meson build system.\n# Do not edit by "
	     "hand.\n\nninja_required_version = 1.8.2\n",
	     "content:do-not-edit"},
	    {"client/api.ts",
	     "/* tslint:disable */\n/* eslint-disable */\n/**\n"
	     " * Petstore\n"
	     " * NOTE: This class is auto generated by OpenAPI Generator.\n"
	     " * Do not edit the class manually.\n */\n",
	     "content:generated-banner"},
	    {"web/graphql.ts",
	     "/* eslint-disable */\n// This file was automatically "
	     "generated and should not be edited.\n",
	     "content:generated-banner"},
	    {"app/migrations/0002_x.py",
	     "# Generated by Django 4.2.1 on 2023-05-01 12:00\n\nfrom "
	     "django.db import migrations\n",
	     "content:generated-banner"},
	    {"docs/cli.md",
	     "<!-- This file is generated by gen-docs. DO NOT EDIT. -->\n"
	     "# CLI\n",
	     "content:generated-banner"},
	    {"php/Model.php",
	     "<?php\n/**\n * This file is auto-generated.\n */\n",
	     "content:generated-banner"},
	    {"conf/x.conf", "# DO NOT EDIT\nkey = 1\n", "content:do-not-edit"},
	    {"conf/y.conf",
	     "; WARNING: DO NOT EDIT THIS FILE, edit y.in instead\n",
	     "content:do-not-edit"},
	    {"gen/z.h", "/*\n * DO NOT EDIT.\n */\n#pragma once\n",
	     "content:do-not-edit"},
	    {"gen/w.h", "// DO NOT EDIT: generated by mkw from w.in\n",
	     "content:generated-banner"},
	    {"gen/after_copyright.c",
	     "// Copyright 2024 The Authors\n// Generated by mkx.\n",
	     "content:generated-banner"},
	    {"gen/after_shebang.py",
	     "#!/usr/bin/env python3\n# auto-generated by mkx\n",
	     "content:generated-banner"},
	    {"gen/after_mode.py",
	     "# -*- coding: utf-8 -*-\n# autogenerated by mkx\n",
	     "content:generated-banner"},
	    {"z3_version.h", "// automatically generated file.\n",
	     "content:generated-banner"},
	    {"gen/v.h", "// Do not edit, this file was generated.\n",
	     "content:generated-banner"},
	    {"man/f.Rd",
	     "% Generated by roxygen2: do not edit by hand\n\\name{f}\n",
	     "content:generated-banner"},
	    {"sorbet/rbi/x.rbi",
	     "# typed: true\n\n# DO NOT EDIT MANUALLY\n# This is an "
	     "autogenerated file for types exported from the `x` gem.\n",
	     "content:do-not-edit"},
	    {"gen/Lexer.java",
	     "/* The following code was generated by JFlex 1.4.3 on "
	     "1/1/24 */\n",
	     "content:generated-banner"},
	    {"gen/parser.js",
	     "/* parser generated by jison 0.4.18 */\nvar parser = 1;\n",
	     "content:generated-banner"},
	    {"gen/Parser.java",
	     "// This is a generated file. Not intended for manual "
	     "editing.\npackage x;\n",
	     "content:generated-banner"},
	    {"gen/Jni.h",
	     "/* DO NOT EDIT THIS FILE - it is machine generated */\n",
	     "content:do-not-edit"},
	    {"lib/a.dart", "// GENERATED CODE - DO NOT MODIFY BY HAND\n",
	     "content:generated-banner"},
	    {"dist2/index.js",
	     "\"use strict\";\nexports.x = 1;\n"
	     "//# sourceMappingURL=index.js.map\n",
	     "content:sourcemap-url"},
	    {"x/site.css",
	     "a{color:red}\n/*# sourceMappingURL=site.css.map */\n",
	     "content:sourcemap-url"},
	    {"x.js.txt",
	     "{-\n  Autogenerated module, do not touch\n-}\nmodule X\n",
	     "content:generated-banner"},
	    {"bundle.map",
	     "{\"version\":3,\"sources\":[\"a.ts\"],\"mappings\":\"AAAA\"}",
	     "content:sourcemap"},
	    {"bundle2.map", " {\n  \"version\": 3,\n  \"file\": \"x\"\n}",
	     "content:sourcemap"},
	};

	CHECK(rows);
}

Test(classify, content_look_alikes)
{
	static const row rows[] = {
	    /* Comments that mention generation without being banners. */
	    {"src/id.c",
	     "/* Returns the autogenerated id of a row. */\nint id;\n", NONE},
	    {"src/db.sql",
	     "-- id is autogenerated by the database\nCREATE TABLE t;\n", NONE},
	    {"src/cols.py", "# Generated columns are computed on read.\n",
	     NONE},
	    {"src/cfg.sh", "# DO NOT EDIT below this line by accident\n", NONE},
	    {"src/q.c", "// This file is used by generated code.\n", NONE},
	    {"src/pickle.py",
	     "# This module maps the old names for the pickle module.  "
	     "Streams\n# generated with Python 2 stay loadable.\n",
	     NONE},
	    {"src/psa.h",
	     "/*\n *  Warning: This file will be auto-generated in the "
	     "future.\n */\n",
	     NONE},
	    {"Makefile",
	     "# Do not edit the generated files in api/: run make gen.\n"
	     "all:\n",
	     NONE},
	    {"src/doc.c", "/* Files marked `@generated` are skipped. */\n",
	     NONE},
	    {"src/mail.c", "/* Mail admin@generated.example */\n", NONE},
	    /* A generator: its banner is in a string, below code. */
	    {"tools/gen.py",
	     "#!/usr/bin/env python3\n\"\"\"Writes foo.go.\"\"\"\nimport "
	     "sys\nHEADER = \"\"\"\\\n# Code generated by gen.py. DO NOT "
	     "EDIT.\n\"\"\"\n",
	     NONE},
	    {"tools/gen.go",
	     "package main\n\nconst header = `\n// Generated by the "
	     "protocol buffer compiler.  DO NOT EDIT!\n`\n",
	     NONE},
	    /* Go's rule is strict about its line. */
	    {"a.go", "// code generated by x. DO NOT EDIT.\npackage a\n",
	     "content:generated-banner"},
	    {"b.go", "  x := 1 // Code generated by x DO NOT EDIT.\n", NONE},
	    /* A banner past the marker lines does not count. */
	    {"late.c",
	     "//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n"
	     "//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n"
	     "//\n//\n//\n//\n//\n//\n//\n//\n//\n//\n"
	     "// Code generated by x. DO NOT EDIT.\n",
	     NONE},
	    /* Markdown headings are not comments. */
	    {"README.md", "# Generated code\n\nWe generate it.\n", NONE},
	    {"NOTES.txt", "Generated by hand, lovingly.\n", NONE},
	    {"level.map", "{\"version\":30}", NONE},
	    /* sourceMappingURL: its own line, in a script or style sheet */
	    {"src/sm.js", "const s = '//# sourceMappingURL=x';\n", NONE},
	    {"docs/sm.md", "//# sourceMappingURL=x.map\n", NONE},
	};

	CHECK(rows);
}

Test(classify, markers_only_in_text_heads)
{
	static const char bin[] = "// Code generated by x. DO NOT EDIT.\n\0\1";
	sdf_classify_input in = SDF_CLASSIFY_INPUT_INIT;

	in.path = "a.go";
	in.head = bin;
	in.head_len = sizeof(bin);
	cr_expect_null(sdf_classify_generated(&in));
	in.head_len = strlen(bin);
	cr_expect_str_eq(sdf_classify_generated(&in), "content:go-generated");
}

Test(classify, marker_past_head_max_is_ignored)
{
	static char head[SDF_CLASSIFY_HEAD_MAX + 64];
	const char *tail = "\n// Code generated by x. DO NOT EDIT.\n";
	sdf_classify_input in = SDF_CLASSIFY_INPUT_INIT;

	/* One long comment line fills the head, the banner comes after. */
	memset(head, 'x', sizeof(head));
	head[0] = '/';
	head[1] = '/';
	memcpy(head + SDF_CLASSIFY_HEAD_MAX - 10, tail, strlen(tail));
	in.path = "a.go";
	in.head = head;
	in.head_len = sizeof(head);
	in.bytes = sizeof(head);
	in.lines = 3;
	cr_expect_null(sdf_classify_generated(&in));
}

/* A JS body of n bytes whose lines are line_len long (newline included). */
static char *js_body(size_t n, size_t line_len)
{
	char *s = malloc(n + 1);

	cr_assert_not_null(s);

	for (size_t i = 0; i < n; i++)
		s[i] = (i + 1) % line_len == 0 ? '\n' : "var a=1;"[i % 8];
	s[n] = '\0';
	return s;
}

static const char *classify_sized(const char *path, const char *head,
                                  uint64_t bytes, uint64_t lines)
{
	sdf_classify_input in = SDF_CLASSIFY_INPUT_INIT;

	in.path = path;
	in.head = head;
	in.head_len = head ? strlen(head) : 0;
	if (in.head_len > SDF_CLASSIFY_HEAD_MAX)
		in.head_len = SDF_CLASSIFY_HEAD_MAX;
	in.bytes = bytes;
	in.lines = lines;
	return sdf_classify_generated(&in);
}

Test(classify, minified)
{
	char *one_line = js_body(50000, 100000);
	char *normal = js_body(50000, 40);
	char *wide = js_body(50000, 111);

	/* The caller's counts of the whole file decide. */
	cr_expect_str_eq(classify_sized("public/app.js", one_line, 200000, 1),
	                 "minified");
	cr_expect_null(classify_sized("public/app.js", normal, 50000, 1250));
	/* The threshold: more than 110 bytes a line on average. */
	cr_expect_null(classify_sized("public/app.js", normal, 110 * 100, 100));
	cr_expect_str_eq(classify_sized("public/app.js", wide, 111 * 100, 100),
	                 "minified");
	cr_expect_str_eq(classify_sized("x/theme.css", one_line, 4096, 1),
	                 "minified");
	cr_expect_str_eq(classify_sized("data/dump.json", one_line, 4096, 2),
	                 "minified");
	/* Too small to say. */
	cr_expect_null(classify_sized("public/app.js", one_line, 1000, 1));
	/* Without counts, the head is the file. */
	cr_expect_str_eq(classify_sized("public/app.js", one_line, 0, 0),
	                 "minified");
	cr_expect_null(classify_sized("public/app.js", normal, 0, 0));
	/* Another extension needs much longer lines. */
	cr_expect_null(classify_sized("docs/guide.md", wide, 111 * 1000, 1000));
	cr_expect_null(classify_sized("notes/para.txt", one_line, 8000, 1));
	cr_expect_str_eq(
	    classify_sized("notes/blob.txt", one_line, 1 << 20, 100),
	    "minified:long-lines");
	/* Binary heads are not minified text. */
	{
		sdf_classify_input in = SDF_CLASSIFY_INPUT_INIT;
		static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

		in.path = "img/logo.png";
		in.head = png;
		in.head_len = sizeof(png) - 1;
		in.bytes = 1 << 20;
		in.lines = 3;
		cr_expect_null(sdf_classify_generated(&in));
	}
	/* No head: only the extension rule, on the caller's counts. */
	cr_expect_str_eq(classify_sized("a.mjs", NULL, 5000, 1), "minified");
	cr_expect_null(classify_sized("a.bin", NULL, 1 << 20, 1));
	/* Counts so large the product would overflow. */
	cr_expect_null(classify_sized("a.js", "x\n", UINT64_MAX, UINT64_MAX));
	free(one_line);
	free(normal);
	free(wide);
}

Test(classify, attributes_override_both_ways)
{
	const char *go = "// Code generated by x. DO NOT EDIT.\n";

	/* linguist-generated set: anything is generated. */
	cr_expect_str_eq(classify("src/main.c", "int x;\n", 1, 0),
	                 "attribute:linguist-generated");
	/* Unset: nothing is, not even a lock file or a vendored tree. */
	cr_expect_null(classify("build/build.ninja", "x\n", -1, 0));
	cr_expect_null(classify("package-lock.json", "{}\n", -1, 0));
	cr_expect_null(classify("a.go", go, -1, 0));
	cr_expect_null(classify("node_modules/a/b.js", NULL, -1, 1));
	/* linguist-vendored set, and generated wins over vendored. */
	cr_expect_str_eq(classify("src/x.c", NULL, 0, 1),
	                 "attribute:linguist-vendored");
	cr_expect_str_eq(classify("src/x.c", NULL, 1, 1),
	                 "attribute:linguist-generated");
	/* linguist-vendored unset: only the vendored path rules go. */
	cr_expect_null(classify("vendor/x/y.go", NULL, 0, -1));
	cr_expect_str_eq(classify("vendor/x/y.pb.go", NULL, 0, -1),
	                 "path:protobuf");
	cr_expect_str_eq(classify("vendor/x/y.go", go, 0, -1),
	                 "content:go-generated");
	cr_expect_str_eq(classify("vendor/x/y.go", NULL, 0, 0),
	                 "vendored:vendor");
}

Test(classify, binary_attribute_precedence)
{
	/* Unspecified: git's NUL rule. */
	cr_expect_eq(sdf_classify_binary(0, SDF_CLASSIFY_ATTR_UNSPECIFIED), 0);
	cr_expect_eq(sdf_classify_binary(1, SDF_CLASSIFY_ATTR_UNSPECIFIED), 1);
	/* -diff or binary: binary whatever the content. */
	cr_expect_eq(sdf_classify_binary(0, SDF_CLASSIFY_ATTR_UNSET), 1);
	cr_expect_eq(sdf_classify_binary(1, SDF_CLASSIFY_ATTR_UNSET), 1);
	/* diff: text whatever the content. */
	cr_expect_eq(sdf_classify_binary(1, SDF_CLASSIFY_ATTR_SET), 0);
	cr_expect_eq(sdf_classify_binary(0, SDF_CLASSIFY_ATTR_SET), 0);
	/* Out-of-range values by sign; any non-zero NUL flag is true. */
	cr_expect_eq(sdf_classify_binary(0, -7), 1);
	cr_expect_eq(sdf_classify_binary(1, 7), 0);
	cr_expect_eq(sdf_classify_binary(42, 0), 1);
}

/* Our own sources talk about banners; they must not look generated. */
Test(classify, own_sources_are_not_generated)
{
	static const char *const files[] = {"diff/classify.c",
	                                    "diff/sdf_classify.h",
	                                    "tests/diff/test_classify.c"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096], head[SDF_CLASSIFY_HEAD_MAX];
		sdf_classify_input in = SDF_CLASSIFY_INPUT_INIT;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", SDF_SOURCE_DIR, files[i]);
		f = fopen(path, "rb");
		cr_assert_not_null(f, "%s", path);
		in.path = files[i];
		in.head = head;
		in.head_len = fread(head, 1, sizeof(head), f);
		fclose(f);
		cr_expect_null(sdf_classify_generated(&in), "%s: %s", files[i],
		               sdf_classify_generated(&in));
	}
}

/* Every reason the header documents; nothing else may come out. */
static const char *const vocabulary[] = {
    "attribute:linguist-generated",
    "attribute:linguist-vendored",
    "vendored:node_modules",
    "vendored:vendor",
    "vendored:third_party",
    "vendored:bower_components",
    "vendored:Pods",
    "vendored:Carthage",
    "vendored:yarn",
    "vendored:virtualenv",
    "vendored:gradle-wrapper",
    "vendored:maven-wrapper",
    "path:CMakeFiles",
    "path:CMakeCache.txt",
    "path:cmake-output",
    "path:compile_commands.json",
    "path:ninja",
    "path:autotools",
    "path:generated-name",
    "path:minified",
    "path:sourcemap",
    "path:lockfile",
    "path:protobuf",
    "path:go-zz_generated",
    "path:dotnet",
    "path:xcode",
    "path:idea",
    "path:python-cache",
    "path:build-cache",
    "path:coverage",
    "path:yarn-pnp",
    "path:cmake-build",
    "path:build",
    "path:dist",
    "path:out",
    "path:target",
    "path:_build",
    "content:go-generated",
    "content:@generated",
    "content:protoc",
    "content:bison",
    "content:generated-banner",
    "content:do-not-edit",
    "content:sourcemap",
    "minified",
    "minified:long-lines",
    "vendored:Godeps",
    "path:zephir",
    "content:sourcemap-url",
};

static int in_vocabulary(const char *r)
{
	for (size_t i = 0; i < sizeof(vocabulary) / sizeof(vocabulary[0]); i++)
		if (strcmp(r, vocabulary[i]) == 0)
			return 1;
	return 0;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random paths and heads from the pieces the rules look for, in heap
 * buffers of exactly their length (no NUL after them), so that the
 * sanitizer build catches any read past head_len or a path's end.
 */
Test(classify, random_inputs_stay_in_bounds)
{
	static const char *const comps[] = {"build",
	                                    "src",
	                                    "CMakeFiles",
	                                    "node_modules",
	                                    "vendor",
	                                    "a.c",
	                                    "x.min.js",
	                                    "go.sum",
	                                    ".ninja_log",
	                                    "",
	                                    ".",
	                                    "gradle",
	                                    "wrapper",
	                                    "cmake-build-",
	                                    "y.pb.go",
	                                    "target",
	                                    "lib",
	                                    ".map",
	                                    "zz_generated",
	                                    "q.generated.",
	                                    "Carthage",
	                                    "Build",
	                                    "z.js"};
	static const char *const bits[] = {"//",
	                                   "/*",
	                                   "*/",
	                                   "#",
	                                   "<!--",
	                                   "-->",
	                                   "\"\"\"",
	                                   "(*",
	                                   "{-",
	                                   "\n",
	                                   "\r\n",
	                                   " ",
	                                   "\t",
	                                   "@generated",
	                                   "DO NOT EDIT",
	                                   "do not edit",
	                                   "Code generated ",
	                                   " DO NOT EDIT.",
	                                   "this file",
	                                   "is",
	                                   "auto",
	                                   "generated",
	                                   "by",
	                                   "Generated by the protocol "
	                                   "buffer compiler",
	                                   "A Bison parser, made by GNU Bison",
	                                   "x",
	                                   "<?php",
	                                   "package a",
	                                   "NOTE:",
	                                   "{\"version\":3",
	                                   "\xEF\xBB\xBF",
	                                   "auto-generated",
	                                   "`",
	                                   "'",
	                                   "a lexical scanner generated by"};
	uint64_t seed = 0x9E3779B97F4A7C15u;
	char path[512], head[1024];

	size_t ncomps = sizeof(comps) / sizeof(comps[0]);
	size_t nbit_kinds = sizeof(bits) / sizeof(bits[0]);

	for (int round = 0; round < 20000; round++) {
		size_t plen = 0, hlen = 0;
		int ncomp = (int)(rng_next(&seed) % 5);
		int nbits = (int)(rng_next(&seed) % 40);
		sdf_classify_input in = SDF_CLASSIFY_INPUT_INIT;
		char *p, *h;
		const char *r;

		path[0] = '\0';
		for (int i = 0; i < ncomp; i++) {
			const char *c = comps[rng_next(&seed) % ncomps];

			plen +=
			    (size_t)snprintf(path + plen, sizeof(path) - plen,
			                     "%s%s", i ? "/" : "", c);
		}
		for (int i = 0; i < nbits; i++) {
			const char *b = bits[rng_next(&seed) % nbit_kinds];
			size_t n = strlen(b);

			if (hlen + n > sizeof(head))
				break;
			memcpy(head + hlen, b, n);
			hlen += n;
		}
		p = malloc(plen + 1);
		h = malloc(hlen ? hlen : 1);
		cr_assert(p && h);
		memcpy(p, path, plen + 1);
		memcpy(h, head, hlen);
		in.path = p;
		in.head = h;
		in.head_len = hlen;
		in.bytes = rng_next(&seed) % 3 ? 0 : rng_next(&seed) % 100000;
		in.lines = rng_next(&seed) % 50;
		/* Mostly unspecified, so that the other rules get their turn.
		 */
		if (rng_next(&seed) % 8 == 0)
			in.attr_generated = (int)(rng_next(&seed) % 7) - 3;
		if (rng_next(&seed) % 8 == 0)
			in.attr_vendored = (int)(rng_next(&seed) % 3) - 1;
		r = sdf_classify_generated(&in);
		if (r)
			cr_assert(in_vocabulary(r), "unknown reason %s", r);
		/* The same input gives the same verdict. */
		cr_assert_eq(sdf_classify_generated(&in), r);
		free(p);
		free(h);
	}
}
