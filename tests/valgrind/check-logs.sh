#!/bin/sh
# Reads the valgrind logs that run.sh left in LOGDIR once the tests are done:
# prints every report with a memory error or a leak, and fails if there is
# one. A log without a summary is a program that was killed (kill -9 tests).
# usage: check-logs.sh LOGDIR
logdir=$1
total=0 clean=0 killed=0 bad=0
for f in "$logdir"/*.log; do
	[ -e "$f" ] || continue
	total=$((total + 1))
	if grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
		clean=$((clean + 1))
	elif grep -q 'ERROR SUMMARY:' "$f"; then
		bad=$((bad + 1))
		echo "== $f" >&2
		cat "$f" >&2
	elif grep -q '^==[0-9]*== \(Invalid\|Conditional\|Use of\|Syscall\|Mismatched\|Source and\|Argument\)' "$f"; then
		# killed, but not before an error
		bad=$((bad + 1))
		echo "== $f" >&2
		cat "$f" >&2
	else
		killed=$((killed + 1))
	fi
done
echo "valgrind: $total processes: $clean clean, $bad with errors or" \
	"leaks, $killed killed before exit" >&2
[ "$total" -gt 0 ] && [ "$bad" -eq 0 ]
