#!/usr/bin/env python3
"""The full-body approach of OpenCode's Snapshot.diffFull, for comparison.

usage: fullbody.py GIT_DIR FROM TO

Runs `git diff --no-ext-diff --no-renames --numstat FROM TO`, then, for every
changed text file, reads its whole old and new bodies (`git show REV:PATH`)
into memory as text and keeps them all, as diffFull keeps `before` and `after`
for every file of the summary. Prints the numstat lines it got, so bench/ can
check that the counts agree. Its peak RSS is what holding the bodies costs.
"""
import resource
import subprocess
import sys


def git(gitdir, *args):
    return subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "core.quotepath=false",
         "--git-dir", gitdir, *args],
        check=True, stdout=subprocess.PIPE).stdout


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: fullbody.py GIT_DIR FROM TO")
    gitdir, old, new = sys.argv[1:]
    numstat = git(gitdir, "diff", "--no-ext-diff", "--no-renames",
                  "--numstat", old, new, "--").decode()
    files = []
    for line in numstat.splitlines():
        if not line:
            continue
        added, deleted, path = line.split("\t", 2)
        binary = added == "-" and deleted == "-"
        before = after = ""
        if not binary:
            # a deleted or added side does not exist: diffFull reads "" then
            before = show(gitdir, old, path)
            after = show(gitdir, new, path)
        files.append({"file": path, "before": before, "after": after,
                      "additions": 0 if binary else int(added),
                      "deletions": 0 if binary else int(deleted)})
    total = sum(len(f["before"]) + len(f["after"]) for f in files)
    sys.stdout.write(numstat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"fullbody: {len(files)} files, {total} body bytes held, "
          f"self_maxrss_kib={peak}", file=sys.stderr)


def show(gitdir, rev, path):
    r = subprocess.run(["git", "--git-dir", gitdir, "show", f"{rev}:{path}"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.stdout.decode("utf-8", "replace") if r.returncode == 0 else ""


if __name__ == "__main__":
    main()
