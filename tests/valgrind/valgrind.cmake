# SDF_VALGRIND: the integration suites (cli, daemon) run snapdiff and
# snapdiffd under valgrind memcheck. SDF_TEST_CLI, which the tests see as
# SDF_CLI, is a wrapper script; snapdiffd's wrapper sits next to it, where
# dm_binary() looks. Every program's report goes to SDF_VALGRIND_LOGS; a leak
# or an error makes the program exit 99, and valgrind_logs (run after the
# suites) fails on any report that has one.
if(CMAKE_VERSION VERSION_LESS 3.20)
	message(FATAL_ERROR "SDF_VALGRIND needs CMake 3.20 or later")
endif()
find_program(SDF_VALGRIND_EXE valgrind REQUIRED)
set(SDF_VALGRIND_DIR ${CMAKE_CURRENT_SOURCE_DIR}/valgrind)
set(SDF_VALGRIND_LOGS ${PROJECT_BINARY_DIR}/valgrind-logs)
set(SDF_VALGRIND_BIN ${PROJECT_BINARY_DIR}/valgrind-bin)
foreach(prog snapdiff snapdiffd)
	# (CMake 3.25 throws bad_alloc if FILE_PERMISSIONS precedes CONTENT)
	file(GENERATE OUTPUT ${SDF_VALGRIND_BIN}/${prog} CONTENT "#!/bin/sh
exec '${SDF_VALGRIND_DIR}/run.sh' '${SDF_VALGRIND_EXE}' \\
	'${SDF_VALGRIND_LOGS}' '${SDF_VALGRIND_DIR}/snapdiff.supp' \\
	'$<TARGET_FILE:${prog}>' \"$@\"
"
		FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
		GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(SDF_TEST_CLI ${SDF_VALGRIND_BIN}/snapdiff)
# The suites that run the programs; the library suites run in the other
# builds only.
set(SDF_VALGRIND_SUITES cli daemon)

# Called after the suites are defined.
function(sdf_valgrind_tests)
	# 1777: some tests run the programs as another user (nobody)
	add_test(NAME valgrind_reset COMMAND sh -c
		"rm -rf \"$1\" && mkdir -m 1777 \"$1\"" sh ${SDF_VALGRIND_LOGS})
	add_test(NAME valgrind_logs COMMAND ${SDF_VALGRIND_DIR}/check-logs.sh
		${SDF_VALGRIND_LOGS})
	set_tests_properties(valgrind_reset PROPERTIES FIXTURES_SETUP valgrind)
	set_tests_properties(valgrind_logs PROPERTIES FIXTURES_CLEANUP valgrind)
	set_tests_properties(cli daemon PROPERTIES FIXTURES_REQUIRED valgrind)
endfunction()
