#!/usr/bin/env bash
# Bar: the proxy's keep-alive and new-connection figures on one host with the etcd store within
# 5 % of the SQLite store, same run (issue 15; docs/benchmarks.md "Several hosts on etcd").
#
#   sudo bench/cluster/store_compare.sh [BUILD_DIR] [PAIRS]      (default build, 2 pairs)
#
# Runs bench/e2e/daemon_path.py (privcastd beside HAProxy in the same run; --long 0) PAIRS
# times on SQLite then on etcd (a one-member etcd in a fabric netns: --etcd), interleaved, and
# prints each run's privcastd and HAProxy rows. Compare privcastd's CPU µs/request as a fraction
# of HAProxy's in the same run (which cancels most of a loaded machine's noise) between stores.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; PAIRS=${2:-2}
for i in $(seq "$PAIRS"); do
  for store in sqlite etcd; do
    flag=(); [ "$store" = etcd ] && flag=(--etcd)
    echo "## pair $i, store $store ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg))"
    python3 bench/e2e/daemon_path.py --build-dir "$BUILD" --runs 3 --dur 5 --long 0 "${flag[@]}" | grep -E '^\| (keep-alive|`Connection: close`|close)' || true
  done
done
