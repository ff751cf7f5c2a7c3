"""Hostile output paths (issue "hostile files"): whatever -o names, run ends
with a clear message and its exit status, never a hang, a crash or a
changed file it refused. A pipe, a device, a socket; a symbolic link (to a
results file, dangling, to a device), where the lock, the .part and the
rename must act on the file the link leads to; paths longer than Open
MPI's MPI-IO can open; a directory left at OUT.part; an existing file the
user may not read or write (checked as an unprivileged user: needs root,
as CI has)."""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env, h5diff, kpsweep, write  # noqa: E402

# Lines of a few milliseconds: a run takes about a second.
JOB = """name: paths
model: adaptive_sorting
params: {{N: 5, m: 2}}
axes:
  phi: {{log: [0.01, 0.3, 6]}}
  delta: {{values: [0.5, 1, 2]}}
antagonist:
  tau: {{linear: [0.1, 2.9, {n_tau}]}}
  L: {{values: [1000, 6000]}}
solver: {{warm_start: false}}
run: {{checkpoint_every: 0.2, progress_every: 0.1}}
"""
TIMEOUT = 120  # seconds after which a run counts as hung
NOBODY = 65534


def run(build, cfg, out, extra=(), ranks=None, user=None):
    """Runs kpsweep run; returns (exit status or "hung", stdout + stderr)."""
    exe = os.path.join(build, "src", "kpsweep")
    cwd = None
    if user is not None:
        # The build tree may sit in a directory only root may enter (a
        # clean clone under mktemp -d): the other user runs a copy of the
        # program from the test's own directory, which is also its cwd
        # (mpirun needs to read it).
        cwd = os.path.dirname(cfg)
        copy = os.path.join(cwd, "kpsweep-for-user")
        if not os.path.exists(copy):
            shutil.copy2(exe, copy)
            os.chmod(copy, 0o755)
        exe = copy
    cmd = ([exe] if ranks is None else ["mpirun", "-n", str(ranks), exe])
    cmd += ["run", cfg, "-o", out, "--quiet"] + list(extra)
    e = env()
    reports = None
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + cmd
        reports = sanitizer_env_for_user(e, cwd)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=e, start_new_session=True, cwd=cwd)
    try:
        o, err = p.communicate(timeout=TIMEOUT)
        found = sanitizer_reports(reports)
        return (p.returncode if not found else "sanitizer report"), o + err + found
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        o, err = p.communicate()
        return "hung", o + err


def sanitizer_env_for_user(e, where):
    """Under the sanitize lane the reports go to a directory of root's and the
    suppressions sit in the (maybe root-only) source tree: the other user
    gets a report directory and a copy of the suppressions it can reach.
    Returns the report directory (None outside the lane)."""
    if "ASAN_OPTIONS" not in e and "UBSAN_OPTIONS" not in e:
        return None
    reports = tempfile.mkdtemp(prefix="reports-", dir=where)
    os.chmod(reports, 0o777)
    for key, name in (("ASAN_OPTIONS", "asan"), ("UBSAN_OPTIONS", "ubsan")):
        opts = [o for o in e.get(key, "").split(":") if o and not o.startswith("log_path=")]
        e[key] = ":".join(opts + [f"log_path={reports}/{name}"])
    lsan = []
    for o in e.get("LSAN_OPTIONS", "").split(":"):
        if o.startswith("suppressions="):
            copy = os.path.join(where, "lsan.supp")
            shutil.copy2(o.split("=", 1)[1], copy)
            os.chmod(copy, 0o644)
            o = f"suppressions={copy}"
        if o:
            lsan.append(o)
    if lsan:
        e["LSAN_OPTIONS"] = ":".join(lsan)
    return reports


def sanitizer_reports(reports):
    """The sanitizer reports the other user's processes wrote ('' if none)."""
    if not reports:
        return ""
    text = ""
    for name in sorted(os.listdir(reports)):
        with open(os.path.join(reports, name), errors="replace") as f:
            body = f.read()
        if "ERROR:" in body or "runtime error:" in body:
            text += f"\n--- {name}\n{body}"
    return text


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def identical(ref, out):
    return all(h5diff(ref, out, g)[0] for g in ("/points", "/lines", "/progress", "/axes"))


def non_regular(tap, build, cfg, tmp):
    """A pipe would block the check for ever; the rename of a new layout
    would replace a device node or a socket."""
    fifo = os.path.join(tmp, "fifo.h5")
    os.mkfifo(fifo)
    dev = os.path.join(tmp, "null.h5")
    os.mknod(dev, 0o644 | 0o020000, os.makedev(1, 3))  # a character device, like /dev/null
    sock_path = os.path.join(tmp, "sock.h5")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(sock_path)
    try:
        for path, what in ((fifo, "a pipe"), (dev, "a device"), (sock_path, "a socket")):
            for mode in ([], ["--resume"], ["--force"]):
                for ranks in ((None, 2) if not mode else (None,)):
                    rc, log = run(build, cfg, path, mode, ranks=ranks)
                    tap.ok(rc == 2 and "not a regular file" in log and "nothing was changed" in log,
                           f"-o {what} {' '.join(mode) or '(new)'} on {ranks or 1} rank(s): "
                           f"exit 2 with a message, no hang (got {rc})", log)
        tap.ok(os.path.exists(fifo) and not os.path.isfile(fifo)
               and os.stat(dev).st_rdev == os.makedev(1, 3)
               and not os.path.isfile(sock_path),
               "the pipe, the device and the socket are still there, unchanged")
        tap.ok(sorted(os.listdir(tmp)) == sorted(["job.yaml", "fifo.h5", "null.h5", "sock.h5"]),
               "no lock, part or results file left", os.listdir(tmp))
    finally:
        sock.close()
        for p in (fifo, dev, sock_path):
            os.unlink(p)


def start(build, cfg, out, extra=()):
    """Starts a 1-rank run; returns once it computes (it holds the lock)."""
    exe = os.path.join(build, "src", "kpsweep")
    p = subprocess.Popen([exe, "run", cfg, "-o", out] + list(extra), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True)
    for line in p.stderr:
        if "points (" in line:
            break
    return p


def symlinks(tap, build, cfg, slow, ref, tmp):
    """A link at -o leads to the file that holds the data: the lock, the
    .part and the rename act on that file."""
    d = os.path.join(tmp, "links")
    os.mkdir(d)
    real = os.path.join(d, "real.h5")
    link = os.path.join(d, "link.h5")
    os.symlink("real.h5", link)
    # A run through the link holds the lock of the file itself.
    p = start(build, slow, link)
    for other in (real, os.path.join(d, "second-link.h5")):
        if other != real:
            os.symlink(real, other)
        rc, log = run(build, slow, other, ["--resume"])
        tap.ok(rc == 2 and "being written by another kpsweep run" in log,
               f"while a run writes through a link, a run on {os.path.basename(other)} is "
               f"refused by the lock (exit {rc})", log)
    p.send_signal(signal.SIGUSR1)
    p.communicate()
    tap.ok(p.returncode == 3, "the run through the link saved and exited 3")
    rc, log = run(build, slow, link, ["--resume"], ranks=2)
    tap.ok(rc == 0 and os.path.islink(link) and os.path.isfile(real),
           "--resume through the link completes the file; the link stays a link", log)

    # --force through a link replaces the file it leads to, not the link.
    rc, log = run(build, cfg, link, ["--force"])
    tap.ok(rc == 0 and os.path.islink(link) and identical(ref, real),
           "--force through a link rewrites the file it leads to and keeps the link", log)
    tap.ok(not [f for f in os.listdir(d) if f.endswith((".part", ".lock"))],
           "no part or lock file left next to the link or the file", os.listdir(d))

    # A dangling link: the file it names is created.
    dangling = os.path.join(d, "dangling.h5")
    os.symlink(os.path.join("sub", "target.h5"), dangling)
    rc, log = run(build, cfg, dangling, ranks=2)
    target = os.path.join(d, "sub", "target.h5")
    tap.ok(rc == 0 and os.path.islink(dangling) and os.path.isfile(target)
           and identical(ref, target),
           "a dangling link: the file it names is created, the link kept", log)

    # A link to a device, a loop of links.
    devlink = os.path.join(d, "dev.h5")
    os.symlink("/dev/null", devlink)
    loop_a, loop_b = os.path.join(d, "loop-a.h5"), os.path.join(d, "loop-b.h5")
    os.symlink("loop-b.h5", loop_a)
    os.symlink("loop-a.h5", loop_b)
    for path, what, needle in ((devlink, "a link to /dev/null", "not a regular file"),
                               (loop_a, "a loop of links", "too many levels of symbolic links")):
        for mode in ([], ["--force"]):
            rc, log = run(build, cfg, path, mode)
            tap.ok(rc == 2 and needle in log,
                   f"-o {what} {' '.join(mode) or '(new)'}: exit 2 with a message (got {rc})", log)
    tap.ok(os.path.islink(loop_a) and os.path.islink(loop_b) and os.path.islink(devlink),
           "the links are left as they were")


def deep_path(root, length):
    """A path of exactly `length` characters under root (components of at
    most 116 characters)."""
    path = root
    while length - len(path) > 120:
        path = os.path.join(path, "d" * 100)
    return os.path.join(path, "f" * (length - len(path) - 4) + ".h5")


def long_paths(tap, build, cfg, ref, tmp):
    """Open MPI 4's MPI-IO aborts (a buffer overflow) on paths of more than
    about 240 characters: refused before anything is touched."""
    root = os.path.join(tmp, "long")
    os.mkdir(root)
    for length in (245, 300, 3000):
        path = deep_path(root, length)
        for ranks in (None, 2):
            rc, log = run(build, cfg, path, ranks=ranks)
            tap.ok(rc == 2 and "MPI-IO can open" in log and "nothing was changed" in log,
                   f"a {length}-character output path on {ranks or 1} rank(s): exit 2 with a "
                   f"message, no crash (got {rc})", log)
        r = kpsweep(build, ["validate", cfg, "-o", path])
        tap.ok(r.returncode == 2 and "MPI-IO can open" in r.stderr,
               f"validate -o with a {length}-character path: exit 2", r.stdout + r.stderr)
    tap.ok(os.listdir(root) == [], "no directory, lock or file was made for them",
           os.listdir(root))
    name = os.path.join(root, "n" * 252 + ".h5")
    rc, log = run(build, cfg, name)
    tap.ok(rc == 2 and "nothing was changed" in log and os.listdir(root) == [],
           f"a 255-character file name: exit 2, nothing made (got {rc})", log)
    # The longest path allowed works, on more ranks too.
    path = deep_path(root, 230)
    rc, log = run(build, cfg, path, ranks=3)
    tap.ok(rc == 0 and identical(ref, path), "a 230-character path works on 3 ranks", log)


def leftovers(tap, build, cfg, ref, tmp):
    """A directory where the .part goes blocks every creation: said so."""
    d = os.path.join(tmp, "part")
    os.mkdir(d)
    out = os.path.join(d, "out.h5")
    os.mkdir(out + ".part")
    rc, log = run(build, cfg, out)
    tap.ok(rc == 1 and "cannot remove" in log and "out.h5.part" in log
           and "Is a directory" in log and "full disk" not in log,
           f"a directory at OUT.part: exit 1 naming it and why (got {rc})", log)
    tap.ok(sorted(os.listdir(d)) == ["out.h5.part"], "nothing else left", os.listdir(d))
    os.rmdir(out + ".part")
    write(out + ".part", "left by a killed creation")
    rc, log = run(build, cfg, out)
    tap.ok(rc == 0 and identical(ref, out) and sorted(os.listdir(d)) == ["out.h5"],
           "a file left at OUT.part is replaced", log)
    # A creation killed under --force leaves a .part of the file's full size
    # next to the file it was to replace, which later runs resume.
    with open(out + ".part", "wb") as f:
        f.truncate(os.path.getsize(out))
    rc, log = run(build, cfg, out)
    tap.ok(rc == 2 and os.path.exists(out + ".part"), "a refused run leaves it", log)
    rc, log = run(build, cfg, out, ["--resume"], ranks=2)
    tap.ok(rc == 0 and sorted(os.listdir(d)) == ["out.h5"],
           "a resume removes the .part left next to the file it continues", log)


def permissions(tap, build, cfg, tmp):
    """An existing file the user may not read, or not write, given to
    --resume: refused with the system's reason, untouched."""
    d = os.path.join(tmp, "perm")
    os.mkdir(d)
    os.chmod(d, 0o777)
    out = os.path.join(d, "partial.h5")
    p = subprocess.Popen([os.path.join(build, "src", "kpsweep"), "run", cfg, "-o", out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    for line in p.stderr:
        if "points (" in line:
            break
    p.send_signal(signal.SIGUSR1)
    p.communicate()
    tap.ok(p.returncode == 3, "a partial file to resume")
    for mode, what, needle in ((0o000, "unreadable", "cannot be read: Permission denied"),
                               (0o444, "read-only", "cannot be written: Permission denied")):
        os.chmod(out, mode)
        before = os.stat(out)
        for ranks in (None, 2):
            rc, log = run(build, cfg, out, ["--resume"], ranks=ranks, user=NOBODY)
            tap.ok(rc == 2 and needle in log and "nothing was changed" in log
                   and "not an HDF5 file" not in log and "H5Fopen" not in log,
                   f"--resume of a {what} file as another user on {ranks or 1} rank(s): exit 2 "
                   f"with the reason (got {rc})", log)
        after = os.stat(out)
        tap.ok((before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns),
               f"the {what} file is untouched")
    # Root may read and write it whatever its mode.
    os.chmod(out, 0o000)
    rc, log = run(build, cfg, out, ["--resume"])
    tap.ok(rc == 0, "root resumes a chmod 000 file", log)


def lock_files(tap, build, cfg, ref, tmp):
    """The lock's holder text replaces the lock file's content: a lock file
    that is a link to the results file must not empty it."""
    d = os.path.join(tmp, "locks")
    os.mkdir(d)
    out = os.path.join(d, "out.h5")
    lock = out + ".lock"
    subprocess.run(["cp", ref, out], check=True)
    before = sha(out)
    makers = (("a symbolic link to the results file", lambda: os.symlink("out.h5", lock)),
              ("a hard link to the results file", lambda: os.link(out, lock)),
              ("a dangling symbolic link", lambda: os.symlink("nowhere", lock)))
    for what, make in makers:
        make()
        for mode in (["--resume"], ["--force"]):
            rc, log = run(build, cfg, out, mode)
            tap.ok(rc == 2 and "nothing was changed" in log and sha(out) == before,
                   f"OUT.lock {what}, {mode[0]}: exit 2, the results file untouched (got {rc})",
                   log)
        tap.ok(os.path.lexists(lock), f"OUT.lock {what} is left for the user")
        if os.path.lexists(lock):
            os.unlink(lock)
    write(lock, "pid 1 on a node that died, since 2026-01-01T00:00:00Z\n")
    rc, log = run(build, cfg, out, ["--force"])
    tap.ok(rc == 0 and identical(ref, out) and not os.path.exists(lock),
           "a stale lock file of a killed run is taken over and removed", log)


def main():
    build = sys.argv[1]
    tap = Tap()
    if os.geteuid() != 0:
        tap.ok(False, "this test makes device nodes and runs as another user: it must run as root")
        tap.done()
    tmp = tempfile.mkdtemp(prefix="kps-paths-")
    os.chmod(tmp, 0o755)
    cfg = write(os.path.join(tmp, "job.yaml"), JOB.format(n_tau=20))
    non_regular(tap, build, cfg, tmp)
    slow = write(os.path.join(tmp, "slow.yaml"), JOB.format(n_tau=600))
    ref = os.path.join(tmp, "ref.h5")
    rc, log = run(build, cfg, ref)
    tap.ok(rc == 0, "reference run", log)
    symlinks(tap, build, cfg, slow, ref, tmp)
    long_paths(tap, build, cfg, ref, tmp)
    leftovers(tap, build, cfg, ref, tmp)
    lock_files(tap, build, cfg, ref, tmp)
    permissions(tap, build, slow, tmp)
    tap.done()


if __name__ == "__main__":
    main()
