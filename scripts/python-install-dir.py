"""Prints where `meson install` puts the Python package `kpsweep`: the
directory under PREFIX that the interpreter already searches (Debian's
dist-packages under /usr/local), else PREFIX/lib/pythonX.Y/site-packages
(then add it to PYTHONPATH). Usage: python3 python-install-dir.py PREFIX"""
import os
import sys

prefix = sys.argv[1]
version = f"python{sys.version_info.major}.{sys.version_info.minor}"
candidates = [os.path.join(prefix, "lib", version, "dist-packages"),
              os.path.join(prefix, "lib", "python3", "dist-packages"),
              os.path.join(prefix, "lib", version, "site-packages")]
searched = [c for c in candidates if os.path.normpath(c) in map(os.path.normpath, sys.path)]
print((searched or candidates[-1:])[0])
