#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Draw bench/results/*.svg from the curves b_views wrote, with gnuplot
# (Debian's gnuplot-nox, installed here when missing and we are root).
set -u
cd "$(dirname "$0")/.."
if ! command -v gnuplot >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "plots: installing gnuplot-nox"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1; }
	fi
fi
if ! command -v gnuplot >/dev/null; then
	echo "plots: skipped (no gnuplot; install it with: sudo apt-get install gnuplot-nox)"
	exit 0
fi
for f in range extents processes; do
	case $f in processes) dat=procs ;; *) dat=$f ;; esac
	if [ ! -s "bench/results/views-$dat-uffd.dat" ] && [ ! -s "bench/results/views-$dat-mapfixed.dat" ]; then
		echo "plots: skipped (no curves: run build/bench/b_views)"
		exit 0
	fi
done
gnuplot bench/plot.gp 2>&1 | grep -v 'warning: Skipping data file' || true
ls bench/results/views-*.svg | sed 's/^/plots: /'
