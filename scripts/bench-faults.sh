#!/usr/bin/env bash
# Fault reports ingested per second, durable (each answered 200 only after the
# transaction holding it committed), on SQLite and on PostgreSQL, with and without
# group commit, in one run:
#
#   per-report   [terminal.faults] commit_batch = 1: one transaction per report (the peer)
#   group        the defaults: commit_batch = 64, commit_wait = 0 (a batch is what
#                arrived while the previous one committed), commit_writers = the
#                store's connections (SQLite 1, PostgreSQL 8 batches in flight)
#   group-1      the same with one batch in flight
#   group-wait   the defaults with commit_wait = 2ms: the first of a batch waits up
#                to 2 ms for more
#
# Load: wrk, closed loop, CONNS connections, anonymous HTTP reports
# (POST /DEFAULT/faults), every request a new report from a distinct IMSI and IMEI
# (so every one makes a new account), two faults each, codes spread over known
# (9015-9018, 01, 02: a fix from the knowledge base, its counter updated) and unknown
# (7001: queued). The rate limits are lifted for the run. After each run the rows in
# fault_report are counted and must equal wrk's 2xx answers.
#
#   scripts/bench-faults.sh           3 rounds of 5 s per store and mode
#   scripts/bench-faults.sh --quick   1 round of 2 s (a smoke test of the script)
#
# Environment: ROUNDS, SECS, CONNS (default 64), RADCARE (a prebuilt binary instead
# of cargo build --release), BENCH_OUT (raw results; target/bench-faults).
# PostgreSQL runs with its durable defaults (fsync=on, synchronous_commit=on); SQLite
# with radcare's store settings (WAL, synchronous=NORMAL: a commit survives a crash
# of radcare, not of the machine). Every process started here is stopped on exit;
# each measurement is bounded by SECS plus a timeout.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
rounds=${ROUNDS:-3}
secs=${SECS:-5}
conns=${CONNS:-64}
for arg in "$@"; do
	case "$arg" in
	--quick)
		rounds=1
		secs=2
		;;
	*)
		echo "usage: $0 [--quick]" >&2
		exit 2
		;;
	esac
done
for bin in wrk sqlite3 psql; do
	command -v "$bin" >/dev/null || {
		echo "$bin missing: scripts/install-peers.sh --bench" >&2
		exit 2
	}
done
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/postgres" ] || {
	echo "PostgreSQL missing: scripts/install-peers.sh" >&2
	exit 2
}

if [ -z "${RADCARE:-}" ]; then
	cargo build --release --bin radcare >&2
	RADCARE="${CARGO_TARGET_DIR:-$root/target}/release/radcare"
fi
out=${BENCH_OUT:-${CARGO_TARGET_DIR:-$root/target}/bench-faults}
mkdir -p "$out"
work=$(mktemp -d /tmp/bench-faults.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# PostgreSQL: a private cluster (as the postgres user under root, which initdb needs).
pgport=$(free_port)
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$work/pg"
run_pg "$pgbin/initdb" --auth=trust --username=postgres -D "$work/pg/data" >/dev/null
run_pg "$pgbin/postgres" -D "$work/pg/data" -p "$pgport" -k "$work/pg" \
	-c listen_addresses=127.0.0.1 >"$work/pg.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	psql -h 127.0.0.1 -p "$pgport" -U postgres -c 'select 1' >/dev/null 2>&1 && break
	sleep 0.2
done

cat >"$work/report.lua" <<'LUA'
-- Every request a new report from a new IMSI/IMEI (thread number, then a counter).
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end
local codes = { "9015", "9016", "9017", "9018", "01", "02", "7001" }
function init(args)
	n = 0
end
function request()
	n = n + 1
	local imsi = string.format("26201%02d%08d", tid, n)
	local imei = string.format("35%02d%011d", tid, n)
	local a, b = codes[n % #codes + 1], codes[(n + 3) % #codes + 1]
	local body = string.format(
		'{"id":"r%d","imsi":"%s","imei":"%s","model":"hg8245","version":"1.4.0",' ..
		'"faults":[{"code":"%s","item":"fw.bin","from":"http://cdn1.example/fw.bin",' ..
		'"at":1733350000,"detail":"bench"},{"code":"%s","item":"cfg.xml",' ..
		'"from":"http://cdn2.example/cfg.xml","skipped":["cfg.xml"]}]}',
		n, imsi, imei, a, b)
	return wrk.format("POST", "/DEFAULT/faults", { ["Content-Type"] = "application/json" }, body)
end
LUA

# One measurement: store, mode, round -> "rps ok rows" on stdout.
measure() {
	local store=$1 mode=$2 round=$3
	local d="$work/$store-$mode-$round"
	mkdir -p "$d/state"
	local url batch=64 wait=0ms writers=""
	case "$mode" in
	per-report) batch=1 ;;
	group-1) writers="commit_writers = 1" ;;
	group-wait) wait=2ms ;;
	esac
	if [ "$store" = sqlite ]; then
		url="sqlite://$d/radcare.db"
	else
		local db="bench_${mode//-/_}_$round"
		psql -h 127.0.0.1 -p "$pgport" -U postgres -qc "create database $db" >/dev/null
		url="postgres://postgres@127.0.0.1:$pgport/$db"
	fi
	local term
	term=$(free_port)
	cat >"$d/radcare.toml" <<TOML
[radius]
auth_listen = "127.0.0.1:$(free_port)"
acct_listen = "127.0.0.1:$(free_port)"

[[radius.client]]
name = "bench"
address = "127.0.0.1/32"
secret = "testing123"

[portal]
listen = "127.0.0.1:$(free_port)"

[admin]
listen = "127.0.0.1:$(free_port)"

[terminal]
listen = "127.0.0.1:$term"
state_dir = "$d/state"

[terminal.faults]
per_identity_per_minute = 1000
per_minute = 1000000000
commit_batch = $batch
commit_wait = "$wait"
$writers

[store]
url = "$url"
TOML
	RUST_LOG=warn "$RADCARE" serve --config "$d/radcare.toml" >"$d/radcare.log" 2>&1 &
	local pid=$!
	pids+=($pid)
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$term") 2>/dev/null && break
		sleep 0.1
	done
	timeout $((secs + 30)) wrk -t2 -c"$conns" -d"${secs}s" -s "$work/report.lua" \
		"http://127.0.0.1:$term" >"$out/$store-$mode-$round.txt" 2>&1
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	local rps total non2xx rows
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out/$store-$mode-$round.txt")
	total=$(awk '/requests in/ {print $1}' "$out/$store-$mode-$round.txt")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$out/$store-$mode-$round.txt")
	non2xx=${non2xx:-0}
	if [ "$store" = sqlite ]; then
		rows=$(sqlite3 "$d/radcare.db" 'select count(*) from fault_report')
	else
		rows=$(psql -h 127.0.0.1 -p "$pgport" -U postgres -d "$db" -tAc 'select count(*) from fault_report')
	fi
	echo "$rps $((total - non2xx)) $rows $non2xx"
}

modes=(per-report group group-1 group-wait)
declare -A results
for round in $(seq "$rounds"); do
	# Interleaved: the machine's noise spreads over every mode alike.
	for store in sqlite postgres; do
		for mode in "${modes[@]}"; do
			read -r rps ok rows bad < <(measure "$store" "$mode" "$round")
			echo "round $round $store $mode: $rps reports/s ($ok answered 2xx, $rows rows, $bad not 2xx)" >&2
			# wrk may count an answer it cut off at the end: rows >= 2xx answers.
			if [ "$rows" -lt "$ok" ]; then
				echo "FAIL: $store $mode: $ok answered 2xx but only $rows filed" >&2
				exit 1
			fi
			results[$store-$mode]+="$rps "
		done
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }
echo
echo "| store | mode | reports/s (median of $rounds x ${secs}s) | range | vs per-report |"
echo "|---|---|---|---|---|"
for store in sqlite postgres; do
	base=$(echo "${results[$store-per-report]}" | median)
	for mode in "${modes[@]}"; do
		m=$(echo "${results[$store-$mode]}" | median)
		s=$(echo "${results[$store-$mode]}" | spread)
		ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
		echo "| $store | $mode | $m | $s | ${ratio}x |"
	done
done
