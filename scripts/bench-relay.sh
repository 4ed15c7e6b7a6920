#!/usr/bin/env bash
# Measures the resumable relay beside plain TCP relays on loopback, in one run, with the
# load of scripts/relay_load.rs (standard library only, built with rustc -O):
#
#   direct     load -> C                                       (no relay: the limit)
#   socat      load -> socat -> socat -> C                     (two plain hops, as the
#   haproxy    load -> haproxy -> haproxy -> C (mode tcp)       relay has two proxies)
#   radcare    load -> relay client -> relay server -> C        (link B in clear)
#   radcare-tls the same with TLS on link B
#
# Throughput: CONNS connections (distinct sessions) each sending MB MiB to a sink on C.
# Latency: RTT_CONNS connections each doing RTT_COUNT request/response echoes of 64
# octets (median and 99th percentile). Rounds are interleaved; the median round is
# reported. Then the time from link B restored to the first byte delivered at C: a
# forwarder on link B is cut and refuses connections for DOWN_MS while the application
# writes, then listens again (RESTORE_TRIALS new sessions).
#
#   scripts/bench-relay.sh            3 rounds
#   scripts/bench-relay.sh --quick    1 round, small volumes (a smoke test of the script)
#
# Environment: ROUNDS, CONNS (8), MB (64), RTT_CONNS (16), RTT_COUNT (400), DOWN_MS
# (2000), RESTORE_TRIALS (5), RADCARE (a prebuilt binary instead of cargo build),
# BENCH_OUT (where the raw results go; target/bench-relay). The measuring part is
# bounded to 10 minutes; every process the script starts is stopped on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

rounds=${ROUNDS:-3}
conns=${CONNS:-8}
mb=${MB:-64}
rtt_conns=${RTT_CONNS:-16}
rtt_count=${RTT_COUNT:-400}
down_ms=${DOWN_MS:-2000}
trials=${RESTORE_TRIALS:-5}
for arg in "$@"; do
	case "$arg" in
	--quick)
		rounds=1
		mb=8
		rtt_count=50
		trials=2
		;;
	-h | --help)
		sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench-relay.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

case ":$PATH:" in
*:/usr/sbin:*) ;;
*) export PATH="$PATH:/usr/sbin:/sbin" ;;
esac

step() { printf '==> %s\n' "$*" >&2; }

if ! command -v socat >/dev/null || ! command -v haproxy >/dev/null; then
	step "installing peers"
	scripts/install-peers.sh --bench
fi

if [[ -n "${RADCARE:-}" ]]; then
	radcare=$RADCARE
else
	step "cargo build --release"
	cargo build --release -j "${CARGO_BUILD_JOBS:-2}" --bin radcare
	radcare=${CARGO_TARGET_DIR:-$root/target}/release/radcare
fi

out=${BENCH_OUT:-$root/target/bench-relay}
mkdir -p "$out"
dir=$(mktemp -d /tmp/radcare-bench-relay.XXXXXX)
load=$dir/relay_load
step "rustc -O scripts/relay_load.rs"
rustc -O --edition 2024 scripts/relay_load.rs -o "$load"

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
deadline=$((SECONDS + 600))

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "nothing listens on $1" >&2
	exit 1
}
bg() {
	"$@" >>"$dir/peers.log" 2>&1 &
	pids+=($!)
}

head -c 32 /dev/urandom | base64 >"$dir/relay.key"
# A CA and a server certificate it signs (rustls takes no self-signed end entity).
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -days 1 -keyout "$dir/ca.key" -out "$dir/ca.pem" \
	-subj "/CN=bench CA" 2>/dev/null
openssl req "${ec[@]}" -keyout "$dir/tls.key" -out "$dir/tls.csr" -subj /CN=relay 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" >"$dir/ext"
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
	-days 1 -extfile "$dir/ext" -out "$dir/tls.pem" 2>/dev/null

c=$(port)
bg "$load" serve "127.0.0.1:$c"
wait_port "$c"

# Two plain hops each, like the relay's two proxies.
s1=$(port) s2=$(port)
bg socat "TCP-LISTEN:$s2,bind=127.0.0.1,reuseaddr,fork,nodelay" "TCP:127.0.0.1:$c,nodelay"
bg socat "TCP-LISTEN:$s1,bind=127.0.0.1,reuseaddr,fork,nodelay" "TCP:127.0.0.1:$s2,nodelay"
h1=$(port) h2=$(port)
cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend first
    bind 127.0.0.1:$h1
    default_backend second
backend second
    server s 127.0.0.1:$h2
frontend last
    bind 127.0.0.1:$h2
    default_backend c
backend c
    server c 127.0.0.1:$c
EOF
bg haproxy -f "$dir/haproxy.cfg"

key=(--key-file "$dir/relay.key")
rb=$(port) ra=$(port)
bg "$radcare" relay server --listen "127.0.0.1:$rb" --target "127.0.0.1:$c" "${key[@]}"
wait_port "$rb"
bg "$radcare" relay client --listen "127.0.0.1:$ra" --server "127.0.0.1:$rb" "${key[@]}"
tb=$(port) ta=$(port)
bg "$radcare" relay server --listen "127.0.0.1:$tb" --target "127.0.0.1:$c" "${key[@]}" \
	--tls-cert "$dir/tls.pem" --tls-key "$dir/tls.key"
wait_port "$tb"
bg "$radcare" relay client --listen "127.0.0.1:$ta" --server "127.0.0.1:$tb" "${key[@]}" \
	--tls-ca "$dir/ca.pem"
for p in "$s1" "$s2" "$h1" "$h2" "$ra" "$ta"; do wait_port "$p"; done

declare -A at=([direct]=$c [socat]=$s1 [haproxy]=$h1 [radcare]=$ra [radcare-tls]=$ta)
names=(direct socat haproxy radcare radcare-tls)
raw=$out/results.txt
: >"$raw"
for round in $(seq "$rounds"); do
	for n in "${names[@]}"; do
		((SECONDS < deadline)) || {
			echo "bench-relay.sh: over 10 minutes, stopping" >&2
			exit 1
		}
		step "round $round: $n"
		for what in "throughput $conns $mb" "rtt $rtt_conns $rtt_count 64"; do
			# shellcheck disable=SC2086 # the words of $what are the arguments
			r=$(timeout 60 "$load" ${what%% *} "127.0.0.1:${at[$n]}" ${what#* }) || {
				echo "bench-relay.sh: $n: $what failed ($?); peers' log:" >&2
				tail -20 "$dir/peers.log" >&2
				exit 1
			}
			echo "$n round=$round $r" >>"$raw"
		done
	done
done

step "link restored -> first byte at C ($trials trials, link down ${down_ms} ms)"
fb=$(port) fa=$(port) fc=$(port) ff=$(port)
bg "$radcare" relay server --listen "127.0.0.1:$fb" --target "127.0.0.1:$fc" "${key[@]}" --keepalive 1s
wait_port "$fb"
bg "$radcare" relay client --listen "127.0.0.1:$fa" --server "127.0.0.1:$ff" "${key[@]}" --keepalive 1s
wait_port "$fa"
restore=$("$load" restore "127.0.0.1:$fa" "127.0.0.1:$ff" "127.0.0.1:$fb" "127.0.0.1:$fc" "$trials" "$down_ms")
echo "radcare $restore" >>"$raw"

# The median round of each figure, and the ratio to direct.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { grep "^$1 " "$raw" | grep -o "$2=[0-9.]*" | cut -d= -f2 | median; }
d_tp=$(field direct mib_per_s)
d_p50=$(field direct p50_us)
printf '\n| path | throughput MiB/s | vs direct | RTT p50 µs | p99 µs | added p50 µs |\n'
printf '|---|---|---|---|---|---|\n'
for n in "${names[@]}"; do
	tp=$(field "$n" mib_per_s)
	p50=$(field "$n" p50_us)
	p99=$(field "$n" p99_us)
	printf '| %s | %s | %.2f | %s | %s | %s |\n' "$n" "$tp" "$(echo "$tp / $d_tp" | bc -l)" \
		"$p50" "$p99" "$(echo "$p50 - $d_p50" | bc)"
done
printf '\nload: throughput %s connections x %s MiB each; RTT %s connections x %s echoes of 64 octets; %s round(s), median\n' \
	"$conns" "$mb" "$rtt_conns" "$rtt_count" "$rounds"
printf 'link restored -> first byte at C: %s\n' "${restore#restore }"
printf 'raw results: %s\n' "$raw"
