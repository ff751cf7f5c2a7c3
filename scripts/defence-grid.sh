#!/usr/bin/env bash
# Trains one defended network per (N, m, theta) of a grid, evaluates PGD at
# eps 0.1 on 2000 test images and ranks them (docs/defence.md). Two
# trainings run at a time (two cores); each kpsweep call is serial and
# deterministic, so the ranking is reproducible.
#   scripts/defence-grid.sh OUTDIR [BUILD]
set -euo pipefail
out=${1:?usage: scripts/defence-grid.sh OUTDIR [BUILD]}
kps=$(realpath "${2:-build}/src/kpsweep")
mkdir -p "$out"
start=$(date +%s)
for N in 2 4 6; do
  for m in 0 1 2 3; do
    [ "$m" -lt "$N" ] || continue
    for theta in 0.3 0.5 0.7; do echo "$N $m $theta"; done
  done
done | xargs -P 2 -L 1 bash -c '
  set -e
  n="$1/T$3_$4_$5"
  "$2" defence train -o "$n.h5" --force --layer "$3,$4,$5" > "$n.train"
  "$2" defence eval "$n.h5" --attack pgd --eps 0.1 --n-attack 2000 > "$n.eval"
' grid "$out" "$kps"
echo "N m theta clean pgd@0.1"
for f in "$out"/T*.eval; do
  IFS=_ read -r N m theta <<< "${b#T}"
  clean=$(awk '/^clean/ {print $2}' "$f"); pgd=$(awk '$1 == "pgd" {print $3}' "$f")
  echo "$N $m $theta $clean $pgd"
done | sort -k5 -g -r
echo "grid: $(( $(date +%s) - start )) s"
