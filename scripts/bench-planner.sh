#!/usr/bin/env bash
# The upgrade planner at a country's scale (`radcare plan simulate`), in one run:
#
#   in memory   1,000,000 terminals over a map of eastern China, 1,000 nodes in 50
#               clusters, 96 slots a day, cap 12 downloads per node per slot; pinned to
#               one core (taskset); the in-memory Board, and the service's own core
#               (`candidates`) for 2 s; the plan's load per node against its cap beside
#               "everyone at once" and fixed rollout groups, and the distance to the
#               cluster each terminal got against its nearest.
#   SQLite      20,000 terminals per batch size (1, 10, 100, 1000 bookings per
#               transaction), then 200 one-by-one check-ins as the device API makes them.
#   PostgreSQL  the same, on a private server (initdb in a temp dir, loopback).
#
#   scripts/bench-planner.sh            the figures for docs/performance.md
#   scripts/bench-planner.sh --quick    100,000 terminals, 2,000 through each store
#
# Environment: RADCARE (a prebuilt binary instead of cargo build), BENCH_OUT (where the
# results go; target/bench-planner). Every run is bounded (timeout) and the PostgreSQL
# server it starts is stopped on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
terminals=1000000
store_terminals=20000
for arg in "$@"; do
	case "$arg" in
	--quick)
		terminals=100000
		store_terminals=2000
		;;
	*)
		echo "usage: $0 [--quick]" >&2
		exit 2
		;;
	esac
done
out=${BENCH_OUT:-target/bench-planner}
mkdir -p "$out"
if [[ -n "${RADCARE:-}" ]]; then
	radcare=$RADCARE
else
	cargo build --release -j "${CARGO_BUILD_JOBS:-2}" --bin radcare
	radcare=${CARGO_TARGET_DIR:-target}/release/radcare
fi
tmp=$(mktemp -d)
pg_ctl=
as_pg=()
cleanup() {
	if [[ -n "$pg_ctl" ]]; then
		"${as_pg[@]}" "$pg_ctl" -D "$tmp/pg" -m fast stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sim=("$radcare" plan simulate --nodes 1000 --clusters 50 --slots 96 --cap 12)
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

{
	echo "## $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "### in memory"
	timeout 600 "${pin[@]}" "${sim[@]}" --terminals "$terminals"
	echo "### SQLite"
	timeout 600 "${sim[@]}" --terminals "$store_terminals" --store "sqlite://$tmp/plan.db" \
		--store-terminals "$store_terminals" | sed -n '/^store/,$p'
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	if [[ -x "$bin/initdb" ]]; then
		if [[ $(id -u) == 0 ]]; then
			as_pg=(runuser -u postgres --)
			chown postgres "$tmp"
		fi
		port=$((20000 + RANDOM % 20000))
		"${as_pg[@]}" "$bin/initdb" -D "$tmp/pg" -A trust -U radcare >/dev/null
		pg_ctl=$bin/pg_ctl
		"${as_pg[@]}" "$pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w \
			-o "-p $port -k $tmp -c listen_addresses=127.0.0.1" start >/dev/null
		echo "### PostgreSQL $("$bin/postgres" --version | awk '{print $3}')"
		timeout 600 "${sim[@]}" --terminals "$store_terminals" \
			--store "postgres://radcare@127.0.0.1:$port/postgres" \
			--store-terminals "$store_terminals" | sed -n '/^store/,$p'
	else
		echo "### PostgreSQL: not installed (scripts/install-peers.sh), skipped"
	fi
} | tee "$out/results.txt"
