#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The house's rule: a module includes only its own headers and those of the
# layers below it (docs/decisions.md, "The house").  Ranks, top to bottom:
#   shim 0 > uapi 1 > vm 2 > vcpu 3 > gmem object 4 > peers 5 >
#   view, content 6 > uffd, procs 7 > rangemap 8 > layout 9 > model 10 >
#   base 11
set -u
cd "$(dirname "$0")/.."
rank() { # path of a source or header file under src/
	case "$1" in
	src/shim/*) echo 0 ;;
	src/uapi/*) echo 1 ;;
	src/vm/*) echo 2 ;;
	src/vcpu/*) echo 3 ;;
	src/gmem/peers.*) echo 5 ;;
	src/gmem/view.*|src/gmem/content.*) echo 6 ;;
	src/gmem/procs.*|src/gmem/uffd.*) echo 7 ;;
	src/gmem/rangemap.*) echo 8 ;;
	src/gmem/layout.h) echo 9 ;;
	src/gmem/*) echo 4 ;;
	src/model/*) echo 10 ;;
	src/base/*) echo 11 ;;
	*) echo -1 ;;
	esac
}
bad=0
for f in $(find src -name '*.[ch]' | sort); do
	fr=$(rank "$f")
	dir=$(dirname "$f")
	while read -r inc; do
		target=$(realpath -m --relative-to=. "$dir/$inc")
		tr=$(rank "$target")
		if [ "$tr" -lt 0 ]; then
			echo "layers: $f includes $inc, outside src/"; bad=1
		elif [ "$tr" -lt "$fr" ]; then
			echo "layers: $f (rank $fr) includes $target (rank $tr): a higher layer"; bad=1
		fi
	done < <(sed -n 's/^#include "\(.*\)"/\1/p' "$f" | grep -v '^gmemu.h$')
done
if [ $bad -eq 0 ]; then echo "layers: every include points down"; fi
exit $bad
