"""Runs one libFuzzer target for a bounded time as a meson test (suite fuzz).

usage: run_fuzz.py FUZZER SEED_DIR DICT SECONDS

The seeds are copied to a temporary corpus (the repository's corpus is never
written), crash artifacts go to a temporary directory, and libFuzzer runs for
SECONDS (KPS_FUZZ_SECONDS in the environment overrides it). The test passes
when libFuzzer exits 0; it prints the execution count either way ("fuzz_X: N
executions in S s"). On a failure it prints each reproducer with the command
that replays it, and keeps the temporary directory.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

# libFuzzer's per-input lines of new coverage: thousands; kept in the log file.
NOISY = re.compile(r"^#\d+\t(NEW|REDUCE) ")


def sanitizer_env():
    """The test environment, with two changes to the sanitizer options.

    The reports go back to stderr: the sanitize test setup's wrapper
    (tests/sanitize/run_checked.sh) sends every process's reports to files
    (log_path); a fuzzer's belong next to libFuzzer's crash report and the
    reproducer's name.

    Allocation stacks come from the fast (frame-pointer) unwinder, about ten
    times faster than the full one the rest of the lane needs: a fuzzer never
    finalizes MPI, so no Open MPI plugin is unloaded before a leak report, and
    it starts MPI with LeakSanitizer disabled (see the targets), so the
    complete stacks that tests/sanitize/lsan.supp needs for kpsweep's own
    processes are not needed here. A reproducer replayed with
    fast_unwind_on_malloc=0 shows a leak's whole allocation stack."""
    env = dict(os.environ)
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        opts = [o for o in env.get(var, "").split(":") if o and not o.startswith("log_path=")]
        if var == "ASAN_OPTIONS":
            opts.append("fast_unwind_on_malloc=1")
        env[var] = ":".join(opts)
    return env


def main():
    fuzzer, seeds, dictionary, seconds = sys.argv[1:5]
    name = os.path.basename(fuzzer)
    seconds = int(os.environ.get("KPS_FUZZ_SECONDS", seconds))
    tmp = tempfile.mkdtemp(prefix=f"kps-{name}-")
    corpus = os.path.join(tmp, "corpus")
    artifacts = os.path.join(tmp, "artifacts")
    log_path = os.path.join(tmp, "fuzz.log")
    shutil.copytree(seeds, corpus)
    os.mkdir(artifacts)
    cmd = [fuzzer, f"-max_total_time={seconds}", f"-artifact_prefix={artifacts}/",
           "-print_final_stats=1", "-timeout=30", "-rss_limit_mb=3072",
           # The targets' own output (inspect's report, error messages) goes
           # to /dev/null; libFuzzer and the sanitizers keep a copy of stderr.
           "-close_fd_mask=3"]
    if os.path.exists(dictionary):
        cmd.append(f"-dict={dictionary}")
    cmd.append(corpus)
    print("# " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    env = sanitizer_env()
    # fuzz_results rewrites its HDF5 files for every input: on tmpfs when
    # there is one. A crashing target leaves them behind; removed below.
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    workdir = tempfile.mkdtemp(prefix=f"kps-{name}-work-", dir=shm)
    env["KPS_FUZZ_WORKDIR"] = workdir
    try:
        return run(cmd, env, name, fuzzer, tmp, artifacts, log_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(cmd, env, name, fuzzer, tmp, artifacts, log_path):
    runs = secs = None
    done_line = ""
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             errors="replace", env=env, cwd=tmp)
        for line in p.stderr:
            log.write(line)
            if not NOISY.match(line):
                print(line, end="", flush=True)
            m = re.match(r"^Done (\d+) runs in (\d+) second", line)
            if m:
                runs, secs = int(m.group(1)), int(m.group(2))
            # After a crash there is no "Done" line, but the final stats.
            m = re.match(r"^stat::number_of_executed_units: (\d+)", line)
            if m and runs is None:
                runs = int(m.group(1))
            if "\tDONE " in line:
                done_line = line.strip()
        rc = p.wait()
    found = sorted(os.listdir(artifacts))
    summary = f"{name}: {runs if runs is not None else 'no'} executions"
    if runs is not None and secs is not None:
        summary += f" in {secs} s ({runs // max(secs, 1)} exec/s)"
    if done_line:
        summary += f"; {done_line}"
    print(summary, flush=True)
    if rc == 0 and runs is not None and not found:
        shutil.rmtree(tmp)
        return 0
    print(f"{name}: FAILED (libFuzzer exit status {rc}); log {log_path}", flush=True)
    keep = [f"{k}={shlex.quote(env[k])}" for k in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
                                                     "ASAN_SYMBOLIZER_PATH") if env.get(k)]
    for a in found:
        path = os.path.join(artifacts, a)
        print(f"{name}: reproducer {path}")
        print(f"{name}: replay with: {' '.join(keep)} {fuzzer} {path}", flush=True)
    if found:
        print(f"{name}: (a leak's full allocation stack: replace fast_unwind_on_malloc=1 by 0)")
    if not found:
        print(f"{name}: no reproducer was written (a failure at start-up or exit: see the log)")
    return rc or 1


if __name__ == "__main__":
    sys.exit(main())
