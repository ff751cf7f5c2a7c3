#!/usr/bin/python3
"""The repository is self-contained: no git-tracked file refers to a path that
only exists on one particular machine. TAP output.

    /usr/bin/python3 tests/e2e/test_selfcontained.py [BUILD_DIR [SOURCE_DIR]]

The repository root is found from this file's own location (two levels up),
so the arguments meson passes are not needed. The files checked are those
`git ls-files` lists at run time (tracked or staged), read from the working
tree, so files other people add are covered as soon as git knows them.

The rule. A tracked file must not contain

  * `../shared`        a sibling directory of the checkout (where a
                       specification or note lived before it moved into
                       docs/);
  * `/work/`           the workspace of the development machines;
  * `/home/NAME/`, `/Users/NAME/`, `/root/`
                       somebody's home directory;
  * `/tmp/bash_jobs`   a tool's scratch directory;
  * the absolute path of this checkout and the home directory of the user
    running the test (when either has at least two path components), which
    catches the same mistake on any other machine.

A path counts only where it starts: the pattern must not be preceded by a
letter, digit, `_`, `.`, `-`, `~`, `$` or `}`. So `docs/work/`, a URL such
as `https://example.org/root/x`, `$HOME/work/` and `${ROOT}/work/` (paths
relative to something the reader supplies) are fine; `../shared` is matched
wherever it occurs.

Allowed, because they are the same on every machine or are placeholders:
standard system paths (`/usr/bin/python3`, `/usr/share/...`, `/etc/...`,
`/dev/...`, `/proc/...`), temporary directories (`/tmp/...` other than the
scratch directory above, as scripts and examples create them), and the
placeholder home directories `/home/me`, `/home/user`, `/home/username`,
`/home/you`, `/home/USER`, `/home/$USER`, `/home/${USER}`, `/home/<name>`
(the same names under `/Users/`) used in documented example output.

Skipped: this file (it has to spell the patterns out), files listed by git
but missing from the working tree, and binary files (a NUL byte in the first
8 KiB). A symbolic link is checked through its target path: a link that
points to, say, `/work/...` fails like a file that names it.

One TAP line per pattern (ok when no tracked file contains it, otherwise
`not ok` with every `path:line: text` in the diagnostics). Without git or
outside a checkout (a release tarball) the test is skipped.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from kps_testlib import Tap  # noqa: E402

HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))

# Start of a path: not inside a longer word, relative path, URL or variable.
START = r"(?<![A-Za-z0-9_.~$}-])"
PLACEHOLDER = r"(?:me|user|username|you|USER|\$USER|\$\{USER\}|<[^>/\s]+>)(?![A-Za-z0-9_.-])"

STATIC = [
    ("../shared (a sibling directory of the checkout)", re.compile(r"\.\./shared(?![A-Za-z0-9_-])")),
    ("/work/ (the development workspace)", re.compile(START + r"/work/")),
    ("/home/NAME/ (a personal home directory)",
     re.compile(START + r"/home/(?!" + PLACEHOLDER + r")[^/\s`'\"]+")),
    ("/Users/NAME/ (a personal home directory)",
     re.compile(START + r"/Users/(?!" + PLACEHOLDER + r")[^/\s`'\"]+")),
    ("/root/ (the superuser's home directory)", re.compile(START + r"/root/")),
    ("/tmp/bash_jobs (a tool's scratch directory)", re.compile(r"/tmp/bash_jobs")),
]


def deep_enough(path):
    """True for an absolute path with at least two components (/a/b)."""
    parts = [p for p in os.path.normpath(path).split(os.sep) if p]
    return os.path.isabs(path) and len(parts) >= 2


def dynamic_patterns():
    """This checkout's absolute path and the user's home, when specific."""
    out = []
    seen = set()
    for what, path in (("this checkout's absolute path", ROOT),
                       ("this checkout's absolute path", os.path.realpath(ROOT)),
                       ("the current user's home directory", os.path.expanduser("~"))):
        path = os.path.normpath(path)
        if not deep_enough(path) or path in seen:
            continue
        seen.add(path)
        rx = re.compile(START + re.escape(path) + r"(?![A-Za-z0-9_.-])")
        out.append((f"{path} ({what})", rx))
    return out


def tracked_files():
    """Paths relative to ROOT, or None when this is not a git checkout."""
    try:
        r = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return [p for p in r.stdout.decode("utf-8", "replace").split("\0") if p]


def text_of(rel):
    """The text to check for one tracked path, or None to skip it."""
    full = os.path.join(ROOT, rel)
    if os.path.abspath(full) == HERE:
        return None
    if os.path.islink(full):
        return os.readlink(full)
    if not os.path.isfile(full):
        return None
    with open(full, "rb") as f:
        data = f.read()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


def main():
    files = tracked_files()
    if files is None:
        print("1..0 # SKIP not a git checkout (or git is missing)")
        return 0
    tap = Tap()
    texts = {}
    for rel in files:
        t = text_of(rel)
        if t is not None:
            texts[rel] = t
    tap.ok(len(texts) > 0, f"git ls-files lists {len(files)} tracked files, {len(texts)} of them text")
    for name, rx in STATIC + dynamic_patterns():
        hits = []
        for rel, text in texts.items():
            for no, line in enumerate(text.splitlines(), 1):
                if rx.search(line):
                    hits.append(f"{rel}:{no}: {line.strip()[:160]}")
        files_hit = sorted({h.split(":", 1)[0] for h in hits})
        tap.ok(not hits,
               f"no tracked file refers to {name}"
               + (f" (found in {len(files_hit)} file(s): {', '.join(files_hit)})" if hits else ""),
               "\n".join(hits))
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
