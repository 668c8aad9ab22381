#!/usr/bin/env python3
"""snapdiff's benchmark harness: the engine behind bench/run.

Runs each scenario side by side with git (and libgit2, and the full-body
approach) in one invocation, several runs each, and writes the median and
spread as Markdown, JSON and a gnuplot PNG. Every process is measured by
bench/measure (wall clock, and peak RSS from wait4). See bench/README.md.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MIB = 1024 * 1024


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------
# running and measuring


class Bench:
    def __init__(self, args):
        self.args = args
        self.records = []  # one per measured process
        self.pending = []  # (scenario, what, why): hooks not yet filled
        self.failures = []  # checks that failed but let the run go on
        self.notes = []
        b = args.build_dir
        self.gen = os.path.join(b, "bench", "gen-repro")
        self.measure_bin = os.path.join(b, "bench", "measure")
        self.lg2 = os.path.join(b, "bench", "libgit2-numstat")
        self.sdf = os.path.join(b, "service", "snapdiff")
        self.sdfd = os.path.join(b, "service", "snapdiffd")
        self.fullbody = os.path.join(HERE, "fullbody.py")
        for p in (self.gen, self.measure_bin, self.lg2, self.sdf):
            if not os.access(p, os.X_OK):
                raise BenchError(f"{p} is not built (run scripts/build)")
        self.scratch = tempfile.mkdtemp(prefix="snapdiff-bench.",
                                        dir=args.scratch)
        home = os.path.join(self.scratch, "home")
        os.makedirs(home)
        # The same clean environment for every system: no user or system git
        # config (core.excludesFile and the like would change the trees).
        self.env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home,
                        XDG_DATA_HOME=home, GIT_CONFIG_NOSYSTEM="1",
                        LC_ALL="C")
        for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            self.env.pop(k, None)
        self._diff_state = None  # None: unknown, True, or the reason not
        self.daemon = None  # scenario 6's figures

    def path(self, *parts):
        return os.path.join(self.scratch, *parts)

    def run(self, cmd, check=True):
        r = subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if check and r.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed ({r.returncode}): "
                             f"{r.stderr.decode(errors='replace').strip()}")
        return r

    def measure(self, cmd, env=None):
        """Runs cmd under bench/measure; returns (report, stdout, stderr)."""
        rep = self.path("measure.json")
        if os.path.exists(rep):
            os.unlink(rep)
        r = subprocess.run([self.measure_bin, "-o", rep, "--"] + cmd,
                           env=env or self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        with open(rep) as f:
            m = json.loads(f.read().strip().splitlines()[-1])
        return m, r.stdout.decode(errors="replace"), \
            r.stderr.decode(errors="replace")

    def record(self, scenario, case, system, m, size=None, run=0):
        self.records.append(dict(scenario=scenario, case=case, system=system,
                                 size=size, run=run, wall_s=m["wall_s"],
                                 user_s=m["user_s"], sys_s=m["sys_s"],
                                 maxrss_kib=m["maxrss_kib"]))

    def checked(self, what, m, out, err):
        if m["exit"] != 0:
            raise BenchError(f"{what} failed (exit {m['exit']}): "
                             f"{err.strip()[-2000:]}")
        return out

    # ---- the systems ----------------------------------------------------

    def generate(self, wt, shape, turn, big=None, ninja=None, extra=()):
        cmd = [self.gen, "--shape", shape, "--turn", str(turn)]
        if big is not None:
            cmd += ["--big", str(big), "--ninja", str(ninja)]
        self.run(cmd + list(extra) + [wt])

    def git_init(self, gdir):
        """A fresh GIT_DIR whose attributes make blobs byte-exact."""
        self.run(["git", "init", "-q", "--bare", gdir])
        with open(os.path.join(gdir, "info", "attributes"), "w") as f:
            f.write("* -text -ident\n")

    def track_sdf(self, wt, store):
        m, out, err = self.measure([self.sdf, "track", "--worktree", wt,
                                    "--store", store])
        out = self.checked("snapdiff track", m, out, err)
        return m, out.strip().splitlines()[-1]

    def track_git(self, wt, gdir):
        env = dict(self.env, GIT_DIR=gdir, GIT_WORK_TREE=wt)
        m, out, err = self.measure(
            ["sh", "-c", "git add -A && git write-tree"], env=env)
        out = self.checked("git add -A && git write-tree", m, out, err)
        return m, out.strip().splitlines()[-1]

    def track_both(self, scenario, case, wt, store, gdir, run, size=None):
        """Tracks wt with both systems (order alternating with the run) and
        fails loudly unless both give the same tree id."""
        trees = {}
        order = ["snapdiff", "git"] if run % 2 == 0 else ["git", "snapdiff"]
        for system in order:
            if system == "snapdiff":
                m, trees[system] = self.track_sdf(wt, store)
            else:
                m, trees[system] = self.track_git(wt, gdir)
            self.record(scenario, case, system, m, size, run)
        if trees["snapdiff"] != trees["git"]:
            raise BenchError(
                f"TREE IDS DIFFER ({scenario}, {case}, run {run}): snapdiff "
                f"{trees['snapdiff']} vs git {trees['git']} on {wt}")
        return trees["git"]

    # ---- diff: the systems compared, and the hooks for snapdiff diff -----

    def diff_git(self, gdir, a, b):
        return self.measure(["git", "--git-dir", gdir, "diff", "--no-ext-diff",
                             "--no-renames", "--numstat", a, b])

    def diff_sdf(self, store, a, b):
        return self.measure([self.sdf, "diff", "--store", store, "--numstat",
                             a, b])

    def sdf_diff_ready(self, store, a, b):
        """HOOK (scenarios 2, 3): true once `snapdiff diff` is built; until
        then its rows are reported as pending."""
        if self._diff_state is None:
            # a probe that cannot warm any cache: a store that is not there
            r = self.run([self.sdf, "diff", "--store",
                          self.path("no-such-store"), "--numstat", a, b],
                         check=False)
            err = r.stderr.decode(errors="replace")
            if r.returncode != 0 and "not available" in err:
                self._diff_state = err.strip().replace("snapdiff: error: ", "")
            else:
                self._diff_state = True
        return self._diff_state is True

    def diff_all(self, scenario, case, gdir, store, a, b, run, size=None,
                 systems=("git", "libgit2", "fullbody", "snapdiff")):
        """Diffs trees a..b with each system, side by side; checks that every
        system's numstat is git's, byte for byte."""
        outs = {}
        order = list(systems)
        k = run % len(order)
        order = order[k:] + order[:k]
        for system in order:
            if system == "git":
                m, out, err = self.diff_git(gdir, a, b)
            elif system == "libgit2":
                m, out, err = self.measure([self.lg2, gdir, a, b])
            elif system == "fullbody":
                m, out, err = self.measure([sys.executable, self.fullbody,
                                            gdir, a, b])
                # its own process, holding the bodies (the tree's peak above
                # is the larger of it and its `git diff` child)
                for word in err.split():
                    if word.startswith("self_maxrss_kib="):
                        self.record(scenario, case, "fullbody-self",
                                    dict(m, maxrss_kib=int(word[16:])),
                                    size, run)
            else:
                if not self.sdf_diff_ready(store, a, b):
                    self.pend(scenario, "snapdiff diff", self._diff_state)
                    continue
                # cold: first diff after the track; warm (HOOK, scenario 3):
                # the same diff again, its blobs now seen before; and on
                # git's repository (--git-dir), where snapdiff keeps no cache
                for temp in ("cold", "warm", "git-dir"):
                    if temp == "git-dir":
                        m, out, err = self.measure(
                            [self.sdf, "diff", "--git-dir", gdir,
                             "--numstat", a, b])
                    else:
                        m, out, err = self.diff_sdf(store, a, b)
                    if m["exit"] != 0:
                        self.fail(f"snapdiff diff ({temp}) failed in "
                                  f"{scenario}, {case}, run {run} (exit "
                                  f"{m['exit']}): {err.strip()[-1000:]}")
                        break
                    self.record(scenario, f"{case}, {temp}", system, m, size,
                                run)
                    outs[f"snapdiff ({temp})"] = out
                continue
            outs[system] = self.checked(system + " diff", m, out, err)
            self.record(scenario, case, system, m, size, run)
        ref = outs.get("git")
        for system, out in outs.items():
            if out != ref:
                self.fail(f"NUMSTAT DIFFERS ({scenario}, {case}, run {run}): "
                          f"{system} vs git\n--- git\n{ref[:2000]}\n--- "
                          f"{system}\n{out[:2000]}")

    def fail(self, msg):
        """A failed check that need not stop the run: reported at the end,
        and bench/run exits 1."""
        log("FAILED: " + msg)
        self.failures.append(msg)

    def pend(self, scenario, what, why):
        if (scenario, what, why) not in self.pending:
            self.pending.append((scenario, what, why))

    # ---- scenarios ------------------------------------------------------

    def scenario_repro(self):
        """1 and 2 (and the hook of 3): the seed repro, per turn."""
        a = self.args
        for shape in a.shapes:
            sc = f"repro-{shape}"
            for run in range(a.runs):
                log(f"{sc}: run {run + 1}/{a.runs}")
                wt, st, g = (self.path(f"{sc}-{x}") for x in ("wt", "st", "g"))
                self.git_init(g)
                trees = []
                for turn in range(1, a.turns + 1):
                    self.generate(wt, shape, turn, a.big, a.ninja)
                    case = "new" if turn == 1 else (
                        "rewritten" if shape == "rewrite" else "regenerated")
                    trees.append(self.track_both(sc, "track " + case, wt, st,
                                                 g, run))
                    if turn > 1:
                        # libgit2 and full bodies behave the same on every
                        # pair: the first pair only, to keep runs short
                        self.diff_all(sc, "diff", g, st, trees[-2],
                                      trees[-1], run, systems=(
                                          ("git", "libgit2", "fullbody",
                                           "snapdiff") if turn == 2 else
                                          ("git", "snapdiff")))
                for p in (wt, st, g):
                    shutil.rmtree(p)

    def scenario_sweep(self):
        """4: track (and diff) over artifact sizes; two turns per size."""
        a = self.args
        for size in a.sizes:
            ninja = size * 3 // 4
            for run in range(a.runs):
                log(f"sweep: {size} + {ninja} MiB, run {run + 1}/{a.runs}")
                wt, st, g = (self.path(f"sweep-{x}") for x in ("wt", "st", "g"))
                self.git_init(g)
                self.generate(wt, "rewrite", 1, size, ninja)
                t1 = self.track_both("sweep", "track new", wt, st, g, run,
                                     size)
                self.generate(wt, "rewrite", 2, size, ninja)
                t2 = self.track_both("sweep", "track rewritten", wt, st, g,
                                     run, size)
                if a.sweep_diff:
                    self.diff_all("sweep", "diff", g, st, t1, t2, run, size,
                                  systems=("git", "snapdiff"))
                for p in (wt, st, g):
                    shutil.rmtree(p)

    def scenario_monorepo(self):
        """5: a monorepo-shaped tree: first, unchanged and 10-file re-tracks."""
        a = self.args
        wt = self.path("mono-wt")
        extra = ["--files", str(a.mono_files), "--dirs", str(a.mono_dirs)]
        log(f"monorepo: generating {a.mono_files} files in {a.mono_dirs} "
            "directories")
        self.generate(wt, "monorepo", 1, extra=extra)
        for run in range(a.runs):
            log(f"monorepo: run {run + 1}/{a.runs}")
            st, g = self.path("mono-st"), self.path("mono-g")
            self.git_init(g)
            t1 = self.track_both("monorepo", "first track", wt, st, g, run)
            self.track_both("monorepo", "unchanged re-track", wt, st, g, run)
            # turn run+2 edits 10 files (turns are applied in order)
            self.generate(wt, "monorepo", run + 2, extra=extra)
            t2 = self.track_both("monorepo", "re-track, 10 files changed", wt,
                                 st, g, run)
            self.diff_all("monorepo", "diff of the 10 files", g, st, t1, t2,
                          run, systems=("git", "libgit2", "snapdiff"))
            for p in (st, g):
                shutil.rmtree(p)
        shutil.rmtree(wt)

    def scenario_daemon(self):
        """6: `clients` concurrent clients diffing the repro's turns 1..2
        through snapdiffd (JSON-RPC over its Unix socket): latency
        percentiles per pass (cold: cache off; warm: blobs cached), the
        daemon's peak RSS over the whole scenario (wait4, via measure) and
        its allocator's peak (service.stats). Each answer's counts are
        checked against `git diff --numstat`."""
        a = self.args
        if not os.access(self.sdfd, os.X_OK):
            self.pend("daemon", f"snapdiffd, {a.clients} concurrent clients",
                      "snapdiffd is not built yet")
            return
        import signal
        import socket
        import threading
        import time
        wt, st, g = (self.path(f"daemon-{x}") for x in ("wt", "st", "g"))
        self.git_init(g)
        trees = []
        for turn in (1, 2):
            self.generate(wt, "rewrite", turn, a.big, a.ninja)
            self.run([self.sdf, "track", "--worktree", wt, "--store", st])
            env = dict(self.env, GIT_DIR=g, GIT_WORK_TREE=wt)
            r = subprocess.run(["sh", "-c", "git add -A && git write-tree"],
                               env=env, stdout=subprocess.PIPE, check=True)
            trees.append(r.stdout.decode().split()[-1])
        ref = {}
        for line in self.run(["git", "--git-dir", g, "diff", "--no-renames",
                              "--numstat", trees[0], trees[1]]
                             ).stdout.decode().splitlines():
            add, dele, path = line.split("\t", 2)
            ref[path] = (add, dele)
        sock, rep = self.path("d.sock"), self.path("daemon.json")
        errlog = open(self.path("daemon.log"), "w")
        proc = subprocess.Popen([self.measure_bin, "-o", rep, "--", self.sdfd,
                                 "--foreground", "--socket", sock],
                                env=self.env, stdout=errlog, stderr=errlog)
        ids = iter(range(1, 1 << 30))
        pid = None
        lock = threading.Lock()

        def call(method, params=None):
            with lock:
                rid = next(ids)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            t0 = time.monotonic()
            c.connect(sock)
            c.sendall((json.dumps({"jsonrpc": "2.0", "id": rid,
                                   "method": method,
                                   "params": params or {}}) + "\n").encode())
            f = c.makefile("rb")
            for line in f:
                msg = json.loads(line)
                if msg.get("id") == rid:
                    break
            else:
                raise BenchError(f"snapdiffd hung up on {method}")
            dt = time.monotonic() - t0
            c.close()
            if "error" in msg:
                raise BenchError(f"snapdiffd {method}: {msg['error']}")
            return msg["result"], dt

        try:
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            pid = call("service.ping")[0]["pid"]
            params = {"store": st, "from": trees[0], "to": trees[1],
                      "stream": False}
            try:  # a daemon that takes `cache` (false: no cache at all)
                call("snapshot.diff", dict(params, cache=False))
                passes = (("cold (cache off)", False, a.daemon_rounds),
                          ("warm (blobs cached)", True, a.daemon_rounds))
            except BenchError as e:
                if "cache" not in str(e):
                    raise
                # older daemon: the first round finds the cache empty
                passes = (("first round (cache empty)", None, 1),
                          ("later rounds (blobs cached)", None,
                           a.daemon_rounds))
            lat = {}
            for name, cache, rounds in passes:
                if cache:
                    call("snapshot.diff", dict(params, cache=True))
                lat[name] = []
                for rnd in range(rounds):
                    log(f"daemon: {name}, round {rnd + 1}/{rounds}, "
                        f"{a.clients} clients")
                    errs = []

                    def client():
                        try:
                            res, dt = call("snapshot.diff", params
                                           if cache is None else
                                           dict(params, cache=cache))
                            got = {f["path"]: (str(f["additions"]),
                                               str(f["deletions"]))
                                   for f in res["files"]}
                            if got != ref:
                                errs.append(f"counts differ: {got} vs {ref}")
                            with lock:
                                lat[name].append(dt)
                        except (BenchError, OSError, ValueError,
                                KeyError) as e:
                            errs.append(str(e))
                    th = [threading.Thread(target=client)
                          for _ in range(a.clients)]
                    for t in th:
                        t.start()
                    for t in th:
                        t.join()
                    for e in errs:
                        self.fail(f"daemon {name}: {e}")
            stats = call("service.stats")[0]
            os.kill(pid, signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:  # stop the daemon itself, then measure
                if pid:
                    os.kill(pid, signal.SIGKILL)
                else:
                    proc.kill()
                proc.wait()
            errlog.close()
        with open(rep) as f:
            m = json.loads(f.read().strip().splitlines()[-1])
        self.daemon = dict(clients=a.clients,
                           rounds="+".join(str(r) for _, _, r in passes),
                           maxrss_mib=m["maxrss_kib"] / 1024,
                           cpu_s=m["user_s"] + m["sys_s"],
                           alloc_peak_mib=stats.get("peak_bytes", 0) / MIB,
                           memory_limit_mib=stats.get("memory_limit", 0) / MIB,
                           latency={k: sorted(v) for k, v in lat.items()})
        for p in (wt, st, g):
            shutil.rmtree(p)

    def cleanup(self):
        if not self.args.keep:
            shutil.rmtree(self.scratch, ignore_errors=True)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# reporting


def machine(scratch, commit=None):
    def cmd(*c):
        try:
            return subprocess.run(c, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL,
                                  check=True).stdout.decode().strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = f"{kib / MIB:.1f} GiB"
    except OSError:
        pass
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    os_name = "unknown"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    commit = commit or cmd("git", "-C", ROOT, "rev-parse", "--short",
                           "HEAD")
    scratch_fs = cmd("stat", "-f", "-c", "%T", scratch)
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "unknown"
    return {
        "cpu": cpu, "nproc": os.cpu_count(), "memory": mem, "load": load,
        "kernel": platform.release(), "os": os_name,
        "git": cmd("git", "--version").replace("git version ", ""),
        "libgit2": cmd("pkg-config", "--modversion", "libgit2"),
        "commit": commit, "scratch": f"{scratch} ({scratch_fs})",
        "date": datetime.datetime.now(datetime.timezone.utc)
                .strftime("%Y-%m-%d %H:%M UTC"),
    }


def summarize(records):
    """Groups by (scenario, case, size, system): median and min..max."""
    groups = {}
    for r in records:
        groups.setdefault((r["scenario"], r["case"], r["size"], r["system"]),
                          []).append(r)
    out = {}
    for key, rs in groups.items():
        w = [r["wall_s"] for r in rs]
        cpu = [r["user_s"] + r["sys_s"] for r in rs]
        m = [r["maxrss_kib"] / 1024 for r in rs]
        out[key] = dict(n=len(rs), cpu=statistics.median(cpu),
                        wall=statistics.median(w), wall_min=min(w),
                        wall_max=max(w), rss=statistics.median(m),
                        rss_min=min(m), rss_max=max(m))
    return out


def fmt_s(x):
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def fmt_mib(x):
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


SYSTEM_NAMES = {
    "snapdiff": "snapdiff", "git": "git",
    "libgit2": "libgit2 (git_patch_from_diff)",
    "fullbody": "full bodies (OpenCode diffFull)",
    "fullbody-self": "full bodies: the summarizer's own process",
}
TRACK_CMD = {"snapdiff": "`snapdiff track`",
             "git": "`git add -A && git write-tree`"}
DIFF_CMD = {"snapdiff": "`snapdiff diff --numstat`",
            "git": "`git diff --numstat`",
            "libgit2": "libgit2 `git_patch_from_diff` per file",
            "fullbody": "numstat + both bodies in memory (OpenCode `diffFull`)",
            "fullbody-self": "... of which the process holding the bodies"}


def table(summary, scenario, sizes=(None,)):
    rows = ["| case | size | system | runs | wall s: median (min-max) | "
            "peak RSS MiB: median (min-max) | time x git | RSS x git | "
            "CPU s (user+sys) | CPU x git |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    keys = [k for k in summary if k[0] == scenario]
    cases = []
    for k in keys:
        if k[1] not in cases:
            cases.append(k[1])
    order = ["snapdiff", "git", "libgit2", "fullbody", "fullbody-self"]
    for size in sorted({k[2] for k in keys}, key=lambda s: s or 0):
        for case in cases:
            base = case
            for t in (", cold", ", warm", ", git-dir"):
                base = base.replace(t, "")
            git = summary.get((scenario, base, size, "git"))
            for system in order:
                s = summary.get((scenario, case, size, system))
                if not s:
                    continue
                if system == "git" and case != base:
                    continue
                name = DIFF_CMD[system] if "diff" in case else TRACK_CMD.get(
                    system, system)
                tx = rx = cx = ""
                if git and system not in ("git", "fullbody-self"):
                    tx = f"**{s['wall'] / git['wall']:.2f}x**"
                    rx = f"**{s['rss'] / git['rss']:.3f}x**"
                    if git["cpu"] > 0:
                        cx = f"{s['cpu'] / git['cpu']:.2f}x"
                sz = "" if size is None else f"{size} + {size * 3 // 4} MiB"
                rows.append(
                    f"| {case} | {sz} | {name} | {s['n']} | "
                    f"{fmt_s(s['wall'])} ({fmt_s(s['wall_min'])}-"
                    f"{fmt_s(s['wall_max'])}) | {fmt_mib(s['rss'])} "
                    f"({fmt_mib(s['rss_min'])}-{fmt_mib(s['rss_max'])}) | "
                    f"{tx} | {rx} | {fmt_s(s['cpu'])} | {cx} |")
    return "\n".join(rows) if len(rows) > 2 else None


def plot(summary, outdir, gnuplot):
    """sweep.dat and sweep.png: peak RSS and wall time vs artifact size."""
    series = []  # (case, system, title)
    for case, label in (("track new", "track, new files"),
                        ("track rewritten", "track, every line rewritten"),
                        ("diff", "diff turn 1..2"),
                        ("diff, cold", "diff turn 1..2, cold"),
                        ("diff, git-dir", "diff turn 1..2 on the git repo"),
                        ("diff, warm", "diff turn 1..2, warm")):
        for system in ("snapdiff", "git"):
            if any(k[0] == "sweep" and k[1] == case and k[3] == system
                   for k in summary):
                cmd = "git add -A" if system == "git" and "track" in case \
                    else ("git diff --numstat" if system == "git"
                          else "snapdiff")
                series.append((case, system, f"{cmd}: {label}"))
    sizes = sorted({k[2] for k in summary if k[0] == "sweep"})
    if not sizes or not series:
        return None
    dat = "sweep.dat"  # gnuplot runs in outdir: the script stays portable
    with open(os.path.join(outdir, dat), "w") as f:
        f.write("# size_mib " + " ".join(
            f"[{c}|{s}]_rss_mib [{c}|{s}]_wall_s" for c, s, _ in series)
            + "\n")
        for size in sizes:
            cols = [str(size)]
            for case, system, _ in series:
                s = summary.get(("sweep", case, size, system))
                cols += [f"{s['rss']:.2f}", f"{s['wall']:.4f}"] if s \
                    else ["NaN", "NaN"]
            f.write(" ".join(cols) + "\n")
    if not gnuplot:
        log("gnuplot not found: no sweep.png (scripts/setup --bench)")
        return None
    png = "sweep.png"
    styles = []
    for i, (case, system, title) in enumerate(series):
        color = {"track new": "#1b9e77", "track rewritten": "#d95f02",
                 "diff": "#7570b3", "diff, cold": "#7570b3",
                 "diff, git-dir": "#66a61e", "diff, warm": "#e7298a"}[case]
        dash = 1 if system == "snapdiff" else 2
        pt = 7 if system == "snapdiff" else 6
        styles.append((i, title, color, dash, pt))

    def plots(col):
        return ", \\\n  ".join(
            f"'{dat}' using 1:{2 + 2 * i + col} with linespoints lw 2 "
            f"lc rgb '{color}' dt {dash} pt {pt} title '{title}'"
            for i, title, color, dash, pt in styles)
    script = f"""
set terminal pngcairo size 1400,640 font 'sans,11'
set output '{png}'
set multiplot layout 1,2 title "snapdiff vs git on the large-artifact repro \
(N MiB + 0.75N MiB files; median of runs)"
set logscale xy 2
set grid
set bmargin {6 + (len(styles) + 1) // 2}
set key at screen 0.5, screen 0.02 center bottom horizontal maxcols 2 \
  samplen 3 width 2 font 'sans,10' box
set offsets graph 0.06, graph 0.06, graph 0.12, graph 0.06
set xrange [{sizes[0] / 1.25}:{sizes[-1] * 1.25}]
set xlabel 'artifact size N (MiB)'
set xtics ({", ".join(f'"{s}" {s}' for s in sizes)})
set ylabel 'peak RSS (MiB)'
set title 'peak RSS (solid: snapdiff, dashed: git)'
set ytics (1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,16384)
plot {plots(0)}
set ylabel 'wall time (s)'
set title 'wall time'
unset key
set logscale y 10
set ytics auto
set format y '%g'
plot {plots(1)}
unset multiplot
"""
    gp = os.path.join(outdir, "sweep.gp")
    with open(gp, "w") as f:
        f.write(script)
    if subprocess.run([gnuplot, "sweep.gp"], cwd=outdir).returncode != 0:
        log("gnuplot failed: no sweep.png")
        return None
    return png


def report(bench, args, outdir, started, elapsed, m=None):
    summary = summarize(bench.records)
    m = m or machine(args.scratch, args.commit)
    os.makedirs(outdir, exist_ok=True)
    gnuplot = shutil.which("gnuplot")
    png = plot(summary, outdir, gnuplot) if "sweep" in args.scenarios \
        else None
    L = []
    L.append("# snapdiff benchmark results\n")
    L.append(f"Generated by `bench/run {' '.join(args.argv)}` on "
             f"{m['date']} in {elapsed / 60:.1f} min (commit {m['commit']}).\n")
    L.append(f"Machine: {m['cpu']}, {m['nproc']} CPUs (`nproc`), "
             f"{m['memory']} RAM, {m['os']}, Linux {m['kernel']}; "
             f"git {m['git']}, libgit2 {m['libgit2']}; worktrees and stores "
             f"in {m.get('scratch', 'unknown')}; load average at the end "
             f"{m.get('load', 'not recorded')}.\n")
    L.append(f"Each figure is the median of {args.runs} runs (of "
             f"{args.runs * (args.turns - 1)} turn pairs where turns 2.. are "
             "pooled), with min-max; systems run side by side, alternating "
             "which goes first. Wall time is the process's; peak RSS is the "
             "kernel's `ru_maxrss` (wait4) of the process tree's largest "
             "process. `x git` is the ratio of medians to git's. Files are "
             "in the page cache (just written), as in an agent's session.\n")
    L.append("Git side: a fresh bare `GIT_DIR` with `* -text -ident` in "
             "`info/attributes`, `GIT_WORK_TREE` = the worktree, kept across "
             "turns (as an agent's snapshot repository is), no user or "
             "system config. Every track checks that snapdiff's tree id "
             "equals git's, every diff that each numstat equals git's.\n")
    for shape in args.shapes:
        sc = f"repro-{shape}"
        t = table(summary, sc)
        if t:
            what = ("every line rewritten each turn (the seed repro)"
                    if shape == "rewrite" else
                    "a realistic regeneration: ~1% of lines changed, a few "
                    "inserted and removed")
            L.append(f"## 1-3. The seed repro, shape `{shape}`: {what}\n")
            L.append(f"Worktree: `build/CMakeFiles/CMakeConfigureLog.yaml` "
                     f"{args.big} MiB, `build/build.ninja` {args.ninja} MiB, "
                     "`build/.ninja_log` 512 KiB, `src/main.txt` (one line "
                     f"more per turn); {args.turns} turns.\n")
            L.append(t + "\n")
    if "sweep" in args.scenarios:
        L.append("## 4. Size sweep: track (and diff) vs artifact size\n")
        L.append("Worktree as the repro with `CMakeConfigureLog.yaml` of N "
                 "MiB and `build.ninja` of 0.75N MiB, shape `rewrite`; "
                 f"sizes run: {', '.join(map(str, args.sizes))} MiB.\n")
        if png:
            L.append(f"![peak RSS and wall time vs size]"
                     f"({os.path.basename(png)})\n")
        t = table(summary, "sweep")
        if t:
            L.append(t + "\n")
    if "monorepo" in args.scenarios:
        L.append("## 5. Monorepo-shaped worktree\n")
        L.append(f"{args.mono_files} small files in {args.mono_dirs} "
                 "directories, nested `.gitignore` files with negations, "
                 "ignored build output, executables and symlinks; the 10-file "
                 "change edits 10 of them.\n")
        t = table(summary, "monorepo")
        if t:
            L.append(t + "\n")
    d = getattr(bench, "daemon", None)
    if d:
        L.append("## 6. Daemon: concurrent clients through snapdiffd\n")
        L.append(f"{d['clients']} clients at once, {d['rounds']} rounds per "
                 f"pass, each `snapshot.diff` of the repro's turns 1..2 "
                 f"({args.big} + {args.ninja} MiB, every line rewritten), "
                 "from connect to the last byte of the answer. The daemon's "
                 f"peak RSS over the whole scenario: **{d['maxrss_mib']:.1f} "
                 f"MiB** (wait4); its allocator's peak "
                 f"{d['alloc_peak_mib']:.1f} MiB of a "
                 f"{d['memory_limit_mib']:.0f} MiB budget; CPU "
                 f"{d['cpu_s']:.1f} s.\n")
        L.append("| pass | requests | p50 s | p90 s | p99 s | max s |")
        L.append("|---|---|---|---|---|---|")
        for name, v in d["latency"].items():
            if not v:
                continue

            def pct(q):
                return v[min(len(v) - 1, int(q * len(v)))]
            L.append(f"| {name} | {len(v)} | {pct(0.5):.3f} | "
                     f"{pct(0.9):.3f} | {pct(0.99):.3f} | {v[-1]:.3f} |")
        L.append("")
    if bench.failures:
        L.append("## FAILED CHECKS\n")
        for f in bench.failures:
            L.append("```\n" + f + "\n```")
        L.append("")
    L.append("## Pending\n")
    if bench.pending:
        for sc, what, why in bench.pending:
            L.append(f"- {sc}: {what}: {why}")
        L.append("")
    else:
        L.append("Nothing.\n")
    md = "\n".join(L)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"machine": m, "argv": args.argv, "started": started,
                   "elapsed_s": elapsed, "records": bench.records,
                   "pending": bench.pending, "failures": bench.failures,
                   "daemon": getattr(bench, "daemon", None)},
                  f, indent=1)
    return md


# --------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="1 run, 2 turns, sweep 16/64 MiB, a 20,000-file "
                        "monorepo (~1-2 min); results to bench/results/tmp/")
    p.add_argument("--runs", type=int, help="runs per scenario (default 3)")
    p.add_argument("--turns", type=int,
                   help="turns of the repro scenario (default 3)")
    p.add_argument("--big", type=int, default=128,
                   help="CMakeConfigureLog.yaml MiB (default 128)")
    p.add_argument("--ninja", type=int, default=96,
                   help="build.ninja MiB (default 96)")
    p.add_argument("--shapes", default="rewrite,regen",
                   help="repro shapes (default rewrite,regen)")
    p.add_argument("--sizes", help="sweep sizes in MiB (default "
                   "16,64,128,256; --full adds 1024)")
    p.add_argument("--full", action="store_true",
                   help="include the 1 GiB point of the sweep (+~5 min)")
    p.add_argument("--no-sweep-diff", dest="sweep_diff",
                   action="store_false",
                   help="sweep tracks only (no git diff per size)")
    p.add_argument("--clients", type=int, default=8,
                   help="daemon scenario: concurrent clients (default 8)")
    p.add_argument("--daemon-rounds", type=int,
                   help="daemon scenario: rounds of concurrent requests per "
                        "pass (default 3, 1 with --quick)")
    p.add_argument("--mono-files", type=int, help="default 100000")
    p.add_argument("--mono-dirs", type=int, help="default 5000")
    p.add_argument("--scenarios", default="repro,sweep,monorepo,daemon",
                   help="default repro,sweep,monorepo,daemon")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"),
                   help="plain (non-sanitizer) build to measure "
                        "(default build/)")
    p.add_argument("--out", help="results directory (default bench/results, "
                   "bench/results/tmp with --quick)")
    p.add_argument("--scratch", default=os.environ.get("TMPDIR", "/tmp"),
                   help="where worktrees and stores go (default $TMPDIR or "
                        "/tmp); removed at the end")
    p.add_argument("--keep", action="store_true", help="keep the scratch area")
    p.add_argument("--from-json", metavar="FILE",
                   help="no runs: write the report again from FILE "
                        "(a results.json)")
    p.add_argument("--commit", help="the commit the build is of, for the "
                   "report (default: this checkout's HEAD)")
    a = p.parse_args(argv)
    a.argv = argv
    q = a.quick
    a.runs = a.runs or (1 if q else 3)
    a.turns = a.turns or (2 if q else 3)
    a.sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else (
        [16, 64] if q else [16, 64, 128, 256])
    if a.full and 1024 not in a.sizes:
        a.sizes.append(1024)
    a.mono_files = a.mono_files or (20000 if q else 100000)
    a.daemon_rounds = a.daemon_rounds or (1 if q else 3)
    a.mono_dirs = a.mono_dirs or (1000 if q else 5000)
    a.shapes = [s for s in a.shapes.split(",") if s]
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    a.out = a.out or os.path.join(HERE, "results", "tmp" if q else "")
    if a.runs < 1 or a.turns < 2:
        p.error("--runs must be >= 1 and --turns >= 2")
    return a


def rerender(args):
    """--from-json: the tables and plot again from a results.json."""
    with open(args.from_json) as f:
        d = json.load(f)

    class Saved:
        records = d["records"]
        pending = [tuple(p) for p in d["pending"]]
        failures = d.get("failures", [])
        daemon = d.get("daemon")
    args.argv = d["argv"]
    old = parse_args(d["argv"])
    for k in ("runs", "turns", "big", "ninja", "shapes", "sizes",
              "mono_files", "mono_dirs", "scenarios"):
        setattr(args, k, getattr(old, k))
    md = report(Saved, args, args.out, d["started"], d["elapsed_s"],
                d["machine"])
    print(md)
    return 0


def main(argv):
    args = parse_args(argv)
    if args.from_json:
        return rerender(args)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat()
    t0 = datetime.datetime.now().timestamp()
    try:
        bench = Bench(args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1
    try:
        for sc in args.scenarios:
            fn = getattr(bench, f"scenario_{sc}", None)
            if not fn:
                raise BenchError(f"unknown scenario '{sc}'")
            fn()
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        print(f"bench: scratch area kept for inspection: {bench.scratch}",
              file=sys.stderr)
        return 1
    except BaseException:
        bench.cleanup()
        raise
    elapsed = datetime.datetime.now().timestamp() - t0
    md = report(bench, args, args.out, started, elapsed)
    print(md)
    log(f"results in {args.out} ({elapsed / 60:.1f} min); removing the "
        "scratch area")
    bench.cleanup()
    if bench.failures:
        log(f"{len(bench.failures)} FAILED CHECKS (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
