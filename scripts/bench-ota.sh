#!/usr/bin/env bash
# The OTA benchmark (issue 11), in one run on loopback:
#
#   polls      GET /DEFAULT/controller/v1/{id} (the hawkBit DDI poll), every request
#              another of DEVICES registered devices with its own TargetToken (wrk and
#              bench/ota-devices.lua), against
#                stub            examples/ddi_stub.rs: axum answering the same JSON,
#                                no token check, no store (the HTTP stack's ceiling)
#                radcare-sqlite  radcare serve, store on SQLite (WAL)
#                radcare-pg      radcare serve, store on PostgreSQL (local, TCP)
#                goosebit        goosebit (Python hawkBit DDI server, PyPI) on SQLite,
#                                device_auth strict: the token checked like radcare's
#   downloads  a DOWNLOAD_MIB artifact, DOWNLOAD_CONNS clients, whole and with
#              `Range: bytes=<half>-` (a resumed download), from radcare's DDI
#              download URL (token checked) and from nginx serving the same
#              content-addressed file (state_dir/artifacts/<sha256>)
#
#   RADCARE=target/release/radcare scripts/bench-ota.sh
#   scripts/bench-ota.sh --quick          2 s per measurement, 1,000 devices
#
# Environment: RADCARE (a prebuilt release binary; else cargo build --release),
# DDI_STUB (a prebuilt examples/ddi_stub; else cargo build), DEVICES (10000), SECS
# (10 per measurement), ROUNDS (3, interleaved), CONNS (32), THREADS (2),
# DOWNLOAD_MIB (64), DOWNLOAD_CONNS (4), GOOSEBIT_VENV (/tmp/radcare-bench-goosebit:
# made with pip on first use, for this benchmark only), BENCH_OUT (target/bench-ota).
#
# Devices are registered by writing their rows straight into each store (one
# `radcare device add` first makes the schema): 10,000 CLI processes would take
# minutes. goosebit's devices are made the same way from one it registered itself.
# Every process the script starts is stopped on exit; every measurement is bounded by
# SECS, the setup by timeouts.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

devices=${DEVICES:-10000}
secs=${SECS:-10}
rounds=${ROUNDS:-3}
conns=${CONNS:-32}
threads=${THREADS:-2}
dl_mib=${DOWNLOAD_MIB:-64}
dl_conns=${DOWNLOAD_CONNS:-4}
venv=${GOOSEBIT_VENV:-/tmp/radcare-bench-goosebit}
goosebit_version=0.2.12
for arg in "$@"; do
	case "$arg" in
	--quick)
		secs=2
		rounds=1
		devices=1000
		dl_mib=16
		;;
	-h | --help)
		sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench-ota.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

step() { printf '==> %s\n' "$*" >&2; }
die() {
	echo "bench-ota.sh: $*" >&2
	exit 1
}

for bin in wrk nginx python3 curl; do
	command -v "$bin" >/dev/null || die "$bin is missing (scripts/install-peers.sh --bench)"
done
pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
[[ -x $pg_bin/initdb ]] || die "PostgreSQL is missing (scripts/install-peers.sh)"

target=${CARGO_TARGET_DIR:-$root/target}
if [[ -n "${RADCARE:-}" ]]; then
	radcare=$RADCARE
else
	step "cargo build --release --bin radcare"
	cargo build --release -j "${CARGO_BUILD_JOBS:-2}" --bin radcare
	radcare=$target/release/radcare
fi
if [[ -n "${DDI_STUB:-}" ]]; then
	stub=$DDI_STUB
else
	step "cargo build --release --example ddi_stub"
	cargo build --release -j "${CARGO_BUILD_JOBS:-2}" --example ddi_stub
	stub=$target/release/examples/ddi_stub
fi

out=${BENCH_OUT:-$root/target/bench-ota}
mkdir -p "$out"
dir=$(mktemp -d /tmp/radcare-bench-ota.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # [udp]
	python3 -c 'import socket, sys
s = socket.socket(type=socket.SOCK_DGRAM if sys.argv[1:] == ["udp"] else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$@"
}
wait_http() { # name url [header]: until it answers 200 (20 s)
	local i
	for i in $(seq 1 200); do
		if [[ $(curl -s -o /dev/null -w '%{http_code}' -H "${3:-X-Bench: 1}" "$2") == 200 ]]; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench-ota.sh: $1 did not answer 200 on $2" >&2
	return 1
}

# --- devices: ids and tokens, and their rows for the stores --------------------------
step "$devices devices with their own tokens"
python3 - "$dir" "$devices" <<'EOF'
import hashlib, secrets, sys, time
d, n = sys.argv[1], int(sys.argv[2])
now = int(time.time() * 1000)
with open(f"{d}/devices.txt", "w") as t, open(f"{d}/devices.csv", "w") as c:
    for i in range(n):
        # 32 hex digits: goosebit keeps at most 32 (radcare's own are 48).
        dev, tok = f"bench-{i:06}", secrets.token_hex(16)
        t.write(f"{dev} {tok}\n")
        c.write(f"{dev},{hashlib.sha256(tok.encode()).hexdigest()},bench,,,,,{{}},{now},\n")
EOF
columns="id, token_sha256, model, tags, phone, latitude, longitude, attributes, created_at, last_seen"

# --- PostgreSQL ------------------------------------------------------------------------
step "PostgreSQL ($pg_bin)"
pg_port=$(free_port)
mkdir -p "$dir/pg"
as_pg=()
if [[ $(id -u) == 0 ]]; then
	chown postgres:postgres "$dir/pg"
	as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$pg_bin/initdb" --auth=trust --username=postgres --encoding=UTF8 -D "$dir/pg/data" >"$dir/initdb.log" 2>&1 ||
	die "initdb failed: $(tail -3 "$dir/initdb.log")"
# synchronous_commit=off: a commit is not flushed before the answer, as SQLite's WAL
# with synchronous=NORMAL (radcare's setting) does not flush either.
"${as_pg[@]}" "$pg_bin/postgres" -D "$dir/pg/data" -p "$pg_port" -k "$dir/pg" \
	-c listen_addresses=127.0.0.1 -c synchronous_commit=off >"$dir/postgres.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
	"$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
	sleep 0.1
done
"$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" || die "PostgreSQL did not start"

# --- radcare, twice ---------------------------------------------------------------------
declare -A terminal
for store in sqlite pg; do
	port=$(free_port)
	terminal[$store]=127.0.0.1:$port
	case $store in
	sqlite) url="sqlite://$dir/radcare-sqlite.db" ;;
	pg) url="postgres://postgres@127.0.0.1:$pg_port/postgres" ;;
	esac
	cat >"$dir/radcare-$store.toml" <<EOF
[radius]
auth_listen = "127.0.0.1:$(free_port udp)"
acct_listen = "127.0.0.1:$(free_port udp)"

[portal]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[terminal]
listen = "127.0.0.1:$port"
state_dir = "$dir/state-$store"

[store]
url = "$url"
EOF
	# Makes the schema; then the rows go in at once.
	timeout 60 "$radcare" device add bench-seed --model bench --config "$dir/radcare-$store.toml" \
		>/dev/null 2>"$dir/seed-$store.log" || die "$(tail -3 "$dir/seed-$store.log")"
done
python3 - "$dir" "$columns" <<'EOF'
import csv, sqlite3, sys
d, columns = sys.argv[1], sys.argv[2]
db = sqlite3.connect(f"{d}/radcare-sqlite.db")
rows = [(r[0], r[1], r[2], "", None, None, None, r[7], int(r[8]), None)
        for r in csv.reader(open(f"{d}/devices.csv"))]
db.executemany(f"INSERT INTO ota_device ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
EOF
timeout 60 "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
	-c "\\copy ota_device ($columns) FROM '$dir/devices.csv' WITH (FORMAT csv, FORCE_NOT_NULL (tags))" ||
	die "loading the devices into PostgreSQL failed"

step "a $dl_mib MiB release"
head -c $((dl_mib * 1048576)) /dev/urandom >"$dir/fw.bin"
published=$(timeout 120 "$radcare" release publish --name fw --version 1.0.0 --model bench \
	--config "$dir/radcare-sqlite.toml" "$dir/fw.bin" 2>"$dir/publish.log")
sha=$(sed -n 's/^artifact=.* sha256=\([0-9a-f]*\)$/\1/p' <<<"$published")
[[ -n $sha ]] || die "no sha256 in: $published"

for store in sqlite pg; do
	"$radcare" serve --config "$dir/radcare-$store.toml" >"$dir/radcare-$store.log" 2>&1 &
	pids+=($!)
done
first_token=$(awk 'NR == 1 { print $2 }' "$dir/devices.txt")
auth="Authorization: TargetToken $first_token"
for store in sqlite pg; do
	wait_http "radcare-$store" "http://${terminal[$store]}/DEFAULT/controller/v1/bench-000000" "$auth" ||
		die "$(tail -5 "$dir/radcare-$store.log")"
done

# --- the axum stub ----------------------------------------------------------------------
stub_addr=127.0.0.1:$(free_port)
"$stub" "$stub_addr" >"$dir/stub.log" 2>&1 &
pids+=($!)
wait_http stub "http://$stub_addr/DEFAULT/controller/v1/bench-000000" || die "$(tail -5 "$dir/stub.log")"

# --- goosebit ---------------------------------------------------------------------------
goosebit_addr=""
goosebit_why=""
start_goosebit() { # mode
	cat >"$dir/goosebit/goosebit.yaml" <<EOF
db_uri: sqlite:///$dir/goosebit/db.sqlite3
artifacts_dir: $dir/goosebit/artifacts
device_auth:
  enable: true
  mode: $1
# Per-request INFO lines would cost it; radcare does not log polls either.
logging:
  version: 1
  root: {level: WARNING}
EOF
	(cd "$dir/goosebit" && GOOSEBIT_SETTINGS="$dir/goosebit/goosebit.yaml" \
		exec "$venv/bin/uvicorn" goosebit:app --host 127.0.0.1 --port "${goosebit_addr##*:}" \
		--log-level warning --no-access-log >>"$dir/goosebit.log" 2>&1) &
	goosebit_pid=$!
	pids+=($goosebit_pid)
}
setup_goosebit() {
	if [[ ! -x $venv/bin/uvicorn ]]; then
		step "goosebit $goosebit_version into $venv (pip)"
		python3 -m venv "$venv" && timeout 300 "$venv/bin/pip" install -q "goosebit==$goosebit_version" ||
			{ goosebit_why="pip install goosebit==$goosebit_version failed"; return 1; }
	fi
	mkdir -p "$dir/goosebit"
	cat >"$dir/goosebit/pyproject.toml" <<EOF
[tool.aerich]
tortoise_orm = "goosebit.db.config.TORTOISE_CONF"
location = "$("$venv/bin/python" -c 'import goosebit, os; print(os.path.dirname(goosebit.__file__))')/db/migrations"
src_folder = "./."
EOF
	(cd "$dir/goosebit" && GOOSEBIT_DB_URI="sqlite:///$dir/goosebit/db.sqlite3" timeout 120 "$venv/bin/aerich" upgrade) \
		>"$dir/goosebit-aerich.log" 2>&1 || { goosebit_why="aerich upgrade failed"; return 1; }
	goosebit_addr=127.0.0.1:$(free_port)
	# Setup mode: the first device registers itself with its token ...
	start_goosebit setup
	wait_http goosebit "http://$goosebit_addr/DEFAULT/controller/v1/bench-000000" "$auth" ||
		{ goosebit_why="it did not start (setup mode)"; return 1; }
	kill "$goosebit_pid"
	wait "$goosebit_pid" 2>/dev/null || true
	# ... the others are copies of its row with their own id and token ...
	python3 - "$dir" <<'EOF' || { goosebit_why="seeding its devices failed"; return 1; }
import sqlite3, sys
d = sys.argv[1]
db = sqlite3.connect(f"{d}/goosebit/db.sqlite3")
cur = db.execute("SELECT * FROM device WHERE id = 'bench-000000'")
names = [c[0] for c in cur.description]
seed = cur.fetchone()
rows = []
for line in list(open(f"{d}/devices.txt"))[1:]:
    dev, tok = line.split()
    r = dict(zip(names, seed), id=dev, auth_token=tok)
    rows.append([r[n] for n in names])
db.executemany(f"INSERT INTO device ({','.join(names)}) VALUES ({','.join('?' * len(names))})", rows)
db.commit()
EOF
	# ... and from now on every token is checked (strict), as radcare does.
	start_goosebit strict
	wait_http goosebit "http://$goosebit_addr/DEFAULT/controller/v1/bench-000000" "$auth" ||
		{ goosebit_why="it did not start (strict mode)"; return 1; }
	local bad
	bad=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: TargetToken wrong" \
		"http://$goosebit_addr/DEFAULT/controller/v1/bench-000001")
	[[ $bad == 401 ]] || { goosebit_why="strict mode let a wrong token in ($bad)"; return 1; }
}
step "goosebit"
if ! setup_goosebit; then
	echo "bench-ota.sh: goosebit left out: $goosebit_why (see $out)" >&2
	cp "$dir"/goosebit*.log "$out/" 2>/dev/null || true
	goosebit_addr=""
fi

# --- nginx over the same content-addressed files ------------------------------------------
nginx_addr=127.0.0.1:$(free_port)
mkdir -p "$dir/nginx"
cat >"$dir/nginx/nginx.conf" <<EOF
$([[ $(id -u) == 0 ]] && echo "user root;")
daemon off;
worker_processes auto;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    default_type application/octet-stream;
    sendfile on;
    server {
        listen $nginx_addr;
        root $dir/state-sqlite/artifacts;
    }
}
EOF
nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx" >"$dir/nginx.log" 2>&1 &
pids+=($!)
wait_http nginx "http://$nginx_addr/$sha" || die "$(tail -5 "$dir/nginx/error.log")"

# Every answer checked once before measuring: the same artifact from both.
for url in "http://${terminal[sqlite]}/DEFAULT/controller/v1/bench-000000/artifacts/$sha/fw.bin" \
	"http://$nginx_addr/$sha"; do
	got=$(curl -s -H "$auth" "$url" | sha256sum | cut -d' ' -f1)
	[[ $got == "$sha" ]] || die "$url served another file ($got)"
done
bad=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: TargetToken wrong" \
	"http://${terminal[sqlite]}/DEFAULT/controller/v1/bench-000001")
[[ $bad == 401 ]] || die "radcare let a wrong token in ($bad)"

# --- measuring -------------------------------------------------------------------------
# wrk prints sizes in 1024-based units; MiB/s out.
mib() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1 / 1024 : 1 / 1048576
		printf "%.0f", n * f }'
}
run() { # name conns addr template [range]: one wrk run, its figure appended to $out/raw
	local name=$1 c=$2 addr=$3 tmpl=$4 range=${5:-} log
	log="$out/wrk-$name-r$round.txt"
	DEVICES="$dir/devices.txt" TEMPLATE="$tmpl" RANGE="$range" \
		timeout $((secs + 60)) wrk -t "$threads" -c "$c" -d "${secs}s" --timeout 30s \
		-s "$root/bench/ota-devices.lua" "http://$addr" >"$log" 2>&1 || die "wrk $name failed: $(cat "$log")"
	local rps mibs errors
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$log")
	mibs=$(mib "$(awk '/^Transfer\/sec:/ { print $2 }' "$log")")
	errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { n += 1 } END { print n + 0 }' "$log")
	printf '%s %s %s %s\n' "$name" "$rps" "$mibs" "$errors" >>"$out/raw"
	step "$name: $rps req/s, $mibs MiB/s, errors $errors"
}

: >"$out/raw"
poll=/DEFAULT/controller/v1/%s
artifact=/DEFAULT/controller/v1/%s/artifacts/$sha/fw.bin
half="bytes=$((dl_mib * 524288))-"
for round in $(seq 1 "$rounds"); do
	step "round $round of $rounds"
	run stub "$conns" "$stub_addr" "$poll"
	run radcare-sqlite "$conns" "${terminal[sqlite]}" "$poll"
	run radcare-pg "$conns" "${terminal[pg]}" "$poll"
	[[ -n $goosebit_addr ]] && run goosebit "$conns" "$goosebit_addr" "$poll"
	run download-radcare "$dl_conns" "${terminal[sqlite]}" "$artifact"
	run download-nginx "$dl_conns" "$nginx_addr" "/$sha"
	run range-radcare "$dl_conns" "${terminal[sqlite]}" "$artifact" "$half"
	run range-nginx "$dl_conns" "$nginx_addr" "/$sha" "$half"
done

# --- the table ---------------------------------------------------------------------------
python3 - "$out/raw" "$devices" "$secs" "$rounds" "$conns" "$threads" "$dl_mib" "$dl_conns" \
	"${goosebit_why:-}" >"$out/results.md" <<'EOF'
import statistics, sys
raw, devices, secs, rounds, conns, threads, dl_mib, dl_conns, why = sys.argv[1:]
runs = {}
for line in open(raw):
    name, rps, mibs, errors = line.split()
    runs.setdefault(name, []).append((int(rps), int(mibs), int(errors)))
def med(name, i):
    return statistics.median(r[i] for r in runs[name]) if name in runs else None
def errs(name):
    return sum(r[2] for r in runs.get(name, []))
print(f"Polls: {devices} devices in turn, each with its own TargetToken; wrk {threads} threads, "
      f"{conns} connections, {secs} s per run, median of {rounds} interleaved rounds.\n")
print("| server | polls/s | vs stub | vs goosebit | errors |")
print("|---|---:|---:|---:|---:|")
stub, goose = med("stub", 0), med("goosebit", 0)
for name in ["stub", "radcare-sqlite", "radcare-pg", "goosebit"]:
    v = med(name, 0)
    if v is None:
        print(f"| {name} | not run: {why} | | | |")
        continue
    vs_goose = f"{v / goose:.1f}x" if goose else "-"
    vs_stub = v / stub
    print(f"| {name} | {v:,.0f} | {vs_stub:.{2 if vs_stub >= 0.1 else 3}f} | {vs_goose} | {errs(name)} |")
print(f"\nDownloads: one {dl_mib} MiB artifact, {dl_conns} clients at once, whole or from the "
      f"middle (Range: bytes=<half>-), {secs} s per run, median of {rounds} rounds.\n")
print("| download | radcare MiB/s | nginx MiB/s | radcare / nginx | errors |")
print("|---|---:|---:|---:|---:|")
for kind, label in [("download", "whole file"), ("range", "second half (Range)")]:
    r, n = med(f"{kind}-radcare", 1), med(f"{kind}-nginx", 1)
    e = errs(f"{kind}-radcare") + errs(f"{kind}-nginx")
    print(f"| {label} | {r:,.0f} | {n:,.0f} | {r / n:.2f} | {e} |")
EOF
cat "$out/results.md"
