#!/bin/sh
# Runs one snapdiff program under valgrind memcheck, for the SDF_VALGRIND
# build's tests: usage: run.sh VALGRIND LOGDIR SUPPRESSIONS PROGRAM [ARG...]
#
# exec keeps the pid: the test's signals (SIGTERM, kill -9) reach valgrind,
# which passes them on to the program. A leak (definite, indirect or possible)
# or a memory error makes the program exit 99 instead of its own status; its
# report stays in LOGDIR/NAME.PID.N.log, which check-logs.sh reads at the end.
vg=$1 logdir=$2 supp=$3 prog=$4
shift 4
name=${prog##*/}
# shared: some tests run the programs as another user (nobody)
[ -d "$logdir" ] || mkdir -p -m 1777 "$logdir" || exit 125
# pids wrap around in a long run: N keeps every log
n=0
while [ -e "$logdir/$name.$$.$n.log" ]; do
	n=$((n + 1))
done
# %p: a forked child that does not exec writes a log of its own
exec "$vg" --tool=memcheck --leak-check=full \
	--show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible \
	--error-exitcode=99 --track-fds=no --num-callers=40 \
	--suppressions="$supp" --log-file="$logdir/$name.%p.$n.log" \
	"$prog" "$@"
