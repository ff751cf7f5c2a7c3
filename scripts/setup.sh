#!/usr/bin/env bash
# Installs what kpsweep needs (Debian packages; fast when already present)
# and configures + builds it in ./build. Sourced by run-example.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${KPS_BUILD_DIR:-$ROOT/build}"

# Installs the Debian packages given that are not installed yet (also used
# by scripts/test.sh --sanitize for clang).
kps_ensure_packages() {
  local p missing=() SUDO=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "[setup] installing: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# What building kpsweep and running and plotting a job need
# (scripts/run-example.sh).
packages=(libopenmpi-dev openmpi-bin libsundials-dev libhdf5-openmpi-dev libyaml-dev libsbml5-dev
          zlib1g-dev
          meson ninja-build pkg-config python3-h5py python3-numpy python3-matplotlib)
# What the tests and benchmarks need besides (they set KPS_SETUP_TESTS=1):
# HDF5's tools, the independent references (scipy, mpmath), xarray, a real
# SLURM with munge, GNU time, JUBE (the scaling harness), Fashion-MNIST (the
# defence networks, docs/defence.md).
test_packages=(hdf5-tools python3-sbml5 python3-scipy python3-xarray python3-h5netcdf python3-mpmath
               slurm-wlm munge time jube dataset-fashion-mnist)
if [ "${KPS_SETUP_TESTS:-0}" = 1 ]; then packages+=("${test_packages[@]}"); fi
kps_ensure_packages "${packages[@]}"

if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" >/dev/null
echo "[setup] built $BUILD/src/kpsweep ($("$BUILD/src/kpsweep" --version))"

# mpirun as root needs these; more ranks than cores need oversubscription.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
export PYTHON="${PYTHON:-/usr/bin/python3}"
export KPS_BUILD_DIR="$BUILD"
