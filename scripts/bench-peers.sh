#!/usr/bin/env bash
# Measures RADIUS proxies side by side on loopback, in one run, with `radcare replay`:
#
#   direct        replay -> radcare aaa-sim
#   forward       replay -> radcare udp-forward -> aaa-sim   (no parsing: the limit)
#   freeradius    replay -> FreeRADIUS 3.2 (pure proxy)      -> aaa-sim
#   radsecproxy   replay -> radsecproxy 1.9 (UDP)            -> aaa-sim
#   radcare       replay -> radcare serve                    -> aaa-sim
#   radcare-new   the same with 50,000 distinct subscribers: each rejected one is a new
#                 walled-garden entry written to the SQLite store
#
# Closed loop (window 64) and fixed rate (10k req/s), in interleaved rounds (the VM's
# noise is about +/-10 %: the median and the spread over the rounds are reported), then
# radclient's wall time for the same requests through each. 10 % of the requests are
# rejected by the simulator as "in arrears", which radcare rewrites.
#
#   scripts/bench-peers.sh              3 rounds of 3 s per peer and mode
#   scripts/bench-peers.sh --quick      1 round of 1 s (a smoke test of the script)
#
# Environment: ROUNDS, SECS (per measurement), RATE (default 10000), WINDOW (64),
# RADCLIENT_REQUESTS (20000), RADCARE (a prebuilt binary instead of cargo build),
# BENCH_OUT (where the raw results go; target/bench-peers).
#
# Installs FreeRADIUS and radsecproxy from Debian if missing (scripts/install-peers.sh
# --bench), builds radcare in release mode, then measures; the measuring part is
# bounded to 5 minutes and every process the script starts is stopped on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

rounds=${ROUNDS:-3}
secs=${SECS:-3}
rate=${RATE:-10000}
window=${WINDOW:-64}
radclient_requests=${RADCLIENT_REQUESTS:-20000}
for arg in "$@"; do
	case "$arg" in
	--quick)
		rounds=1
		secs=1
		radclient_requests=2000
		;;
	-h | --help)
		sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench-peers.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

case ":$PATH:" in
*:/usr/sbin:*) ;;
*) export PATH="$PATH:/usr/sbin:/sbin" ;;
esac

step() { printf '==> %s\n' "$*" >&2; }

if ! command -v freeradius >/dev/null || ! command -v radsecproxy >/dev/null ||
	! command -v radclient >/dev/null; then
	step "installing peers"
	scripts/install-peers.sh --bench
fi

if [[ -n "${RADCARE:-}" ]]; then
	radcare=$RADCARE
else
	step "cargo build --release"
	cargo build --release -j "${CARGO_BUILD_JOBS:-2}" --bin radcare
	radcare=$root/target/release/radcare
fi

started=$SECONDS
deadline=$((SECONDS + 300))
dir=$(mktemp -d /tmp/radcare-bench.XXXXXX)
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

# Ports: a random block of 12 on 127.0.0.1, checked free (UDP and TCP).
in_use() { ss -Haun "sport = :$1" | grep -q . || ss -Hatn "sport = :$1" | grep -q .; }
for _ in 1 2 3 4 5 6 7 8 9 10; do
	base=$((20000 + RANDOM % 30000))
	ok=1
	for i in $(seq 0 11); do
		if in_use $((base + i)); then ok=0; fi
	done
	((ok)) && break
done
((ok)) || {
	echo "bench-peers.sh: no free block of ports found" >&2
	exit 1
}
sim_port=$base                   # + 1: its accounting
fwd_port=$((base + 2))
fr_port=$((base + 3))            # + 4: accounting
rsp_port=$((base + 5))
rc_port=$((base + 6))            # + 7: accounting
rc_http=$((base + 8))
nas_secret=testing123
sim_secret=aaa-secret
input=$root/bench/requests.txt

fill() { # template -> stdout, with the placeholders replaced
	sed -e "s|@AUTH_PORT@|$fr_port|g; s|@ACCT_PORT@|$((fr_port + 1))|g" \
		-e "s|@SIM_PORT@|$sim_port|g; s|@NAS_SECRET@|$nas_secret|g" \
		-e "s|@SIM_SECRET@|$sim_secret|g; s|@DIR@|$dir|g" \
		-e "s|@LISTEN@|127.0.0.1:$rsp_port|g" \
		-e "s|@AUTH@|127.0.0.1:$rc_port|g; s|@ACCT@|127.0.0.1:$((rc_port + 1))|g" \
		-e "s|@SIM_AUTH@|127.0.0.1:$sim_port|g; s|@SIM_ACCT@|127.0.0.1:$((sim_port + 1))|g" \
		-e "s|@HTTP@|127.0.0.1:$rc_http|g" "$1"
}

# A Status-Server answered? (radclient, 1 try, 1 s)
answers() { # addr secret
	echo "Message-Authenticator = 0x00" |
		radclient -q -r 1 -t 1 -d "$root/bench/freeradius-proxy" "$1" status "$2" >/dev/null 2>&1
}
wait_up() { # name addr secret
	local i
	for i in $(seq 1 100); do
		answers "$2" "$3" && return 0
		sleep 0.1
	done
	echo "bench-peers.sh: $1 did not answer a Status-Server on $2" >&2
	return 1
}

step "starting aaa-sim, udp-forward, FreeRADIUS, radsecproxy, radcare serve"
"$radcare" aaa-sim --listen "127.0.0.1:$sim_port" --secret "$sim_secret" \
	--reject-percent 10 >"$dir/sim.out" 2>&1 &
pid_sim=$!
pids+=("$pid_sim")
"$radcare" udp-forward --listen "127.0.0.1:$fwd_port" --to "127.0.0.1:$sim_port" \
	>"$dir/forward.out" 2>&1 &
pid_forward=$!
pids+=("$pid_forward")

mkdir -p "$dir/fr/run" "$dir/fr/log" "$dir/fr/var"
for f in "$root"/bench/freeradius-proxy/*; do
	fill "$f" >"$dir/fr/$(basename "$f")"
done
freeradius -f -d "$dir/fr" -l stdout >"$dir/fr/out.log" 2>&1 &
pid_freeradius=$!
pids+=("$pid_freeradius")

fill "$root/bench/radsecproxy.conf" >"$dir/radsecproxy.conf"
radsecproxy -f -c "$dir/radsecproxy.conf" >"$dir/radsecproxy.out" 2>&1 &
pid_radsecproxy=$!
pids+=("$pid_radsecproxy")

fill "$root/bench/radcare.toml" >"$dir/radcare.toml"
RUST_LOG=warn "$radcare" serve --config "$dir/radcare.toml" >"$dir/radcare.out" 2>&1 &
pid_radcare=$!
pids+=("$pid_radcare")

wait_up aaa-sim "127.0.0.1:$sim_port" "$sim_secret"
wait_up udp-forward "127.0.0.1:$fwd_port" "$sim_secret"
wait_up freeradius "127.0.0.1:$fr_port" "$nas_secret" || { tail -20 "$dir/fr/out.log" "$dir/fr/log/radius.log" >&2 || true; exit 1; }
# radsecproxy answers Status-Server itself only when configured to; probe with a request.
for i in $(seq 1 100); do
	if "$radcare" replay -f "$input" --count 1 --timeout 0.2 "127.0.0.1:$rsp_port" auth \
		"$nas_secret" >/dev/null 2>&1; then break; fi
	if ((i == 100)); then
		echo "bench-peers.sh: radsecproxy did not answer" >&2
		tail -20 "$dir/radsecproxy.out" "$dir/radsecproxy.log" >&2 || true
		exit 1
	fi
	sleep 0.1
done
wait_up "radcare serve" "127.0.0.1:$rc_port" "$nas_secret" || { tail -20 "$dir/radcare.out" >&2; exit 1; }

# Distinct subscribers (User-Name, Calling-Station-Id): the Rejects among them make new
# garden entries, where bench/requests.txt's two users only update theirs.
distinct=$dir/distinct.txt
awk 'BEGIN {
	for (i = 0; i < 50000; i++) {
		printf "User-Name = \"sub%05d@isp.example\"\nUser-Password = \"pass\"\n", i
		printf "NAS-IP-Address = 127.0.0.1\nNAS-Identifier = \"bras-bench\"\n"
		printf "NAS-Port = %d\nNAS-Port-Type = Ethernet\nService-Type = Framed-User\n", i
		printf "Calling-Station-Id = \"02-00-00-%02x-%02x-%02x\"\n", int(i / 65536), int(i / 256) % 256, i % 256
		printf "Message-Authenticator = 0x00\n\n"
	}
}' >"$distinct"

peers=(direct forward freeradius radsecproxy radcare radcare-new)
input_of() { case $1 in radcare-new) echo "$distinct" ;; *) echo "$input" ;; esac; }
addr_of() {
	case $1 in
	direct) echo "127.0.0.1:$sim_port" ;;
	forward) echo "127.0.0.1:$fwd_port" ;;
	freeradius) echo "127.0.0.1:$fr_port" ;;
	radsecproxy) echo "127.0.0.1:$rsp_port" ;;
	radcare | radcare-new) echo "127.0.0.1:$rc_port" ;;
	esac
}
secret_of() { case $1 in direct | forward) echo "$sim_secret" ;; *) echo "$nas_secret" ;; esac; }
pid_of() {
	case $1 in
	direct) echo "$pid_sim" ;;
	forward) echo "$pid_forward" ;;
	freeradius) echo "$pid_freeradius" ;;
	radsecproxy) echo "$pid_radsecproxy" ;;
	radcare | radcare-new) echo "$pid_radcare" ;;
	esac
}
# CPU time of a process (all threads), in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# One measurement: appends "peer mode round key=value..." to $dir/results.
measure() { # peer mode round
	local peer=$1 mode=$2 round=$3 args t0 t1 line
	if ((SECONDS > deadline)); then
		echo "bench-peers.sh: over the 5-minute budget, stopping" >&2
		exit 1
	fi
	case $mode in
	closed) args=(--window "$window") ;;
	rate) args=(--rate "$rate") ;;
	esac
	t0=$(ticks "$(pid_of "$peer")")
	line=$(timeout $((secs + 20)) "$radcare" replay -f "$(input_of "$peer")" "${args[@]}" \
		--duration "$secs" --timeout 1 "$(addr_of "$peer")" auth "$(secret_of "$peer")" |
		tail -1) || true
	t1=$(ticks "$(pid_of "$peer")")
	echo "$peer $mode $round $line cpu_ticks=$((t1 - t0))" >>"$dir/results"
	printf '   %-11s %-6s round %s: %s\n' "$peer" "$mode" "$round" \
		"$(sed -E 's/.*(req_per_s=[0-9]+).*(p50_us=[0-9]+ p99_us=[0-9]+).*/\1 \2/' <<<"$line")" >&2
}

step "warm-up (1 s each)"
for p in "${peers[@]}"; do
	timeout 20 "$radcare" replay -f "$(input_of "$p")" --window "$window" --duration 1 --timeout 1 \
		"$(addr_of "$p")" auth "$(secret_of "$p")" >/dev/null || true
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$rounds"); do
	step "round $r of $rounds: closed loop (window $window), then $rate req/s, ${secs} s each"
	for p in "${peers[@]}"; do measure "$p" closed "$r"; done
	for p in "${peers[@]}"; do measure "$p" rate "$r"; done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

step "radclient: $radclient_requests requests through each (-p $window)"
# bench/requests.txt holds 2 packets, each sent N/2 times; the distinct subscribers'
# first N packets are each sent once.
per_packet=$((radclient_requests / 2))
distinct_head=$dir/distinct.head.txt
awk -v n="$radclient_requests" '/^$/ { k++ } k < n' "$distinct" >"$distinct_head"
for p in "${peers[@]}"; do
	t0=$(date +%s.%N)
	status=0
	file=$input count=$per_packet
	if [[ $p == radcare-new ]]; then file=$distinct_head count=1; fi
	timeout 60 radclient -q -s -c "$count" -p "$window" -r 1 -t 2 \
		-d "$root/bench/freeradius-proxy" -f "$file" \
		"$(addr_of "$p")" auth "$(secret_of "$p")" >"$dir/radclient.$p" 2>&1 || status=$?
	t1=$(date +%s.%N)
	answered=$(awk -F: '/Accepted|Rejected/ {gsub(/[ \t]/, "", $2); s += $2} END {print s + 0}' \
		"$dir/radclient.$p")
	echo "$p $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') $status $answered" \
		>>"$dir/radclient"
done

# --- the table -------------------------------------------------------------------
stat() { # peer mode key -> "median min max" over the rounds
	awk -v peer="$1" -v mode="$2" -v key="$3" '
		$1 == peer && $2 == mode {
			for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) v[n++] = kv[2] + 0 }
		}
		END {
			if (n == 0) { print "0 0 0"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
			print m, v[0], v[n - 1]
		}' "$dir/results"
}
sum() { # peer mode key -> sum over the rounds
	awk -v peer="$1" -v mode="$2" -v key="$3" '
		$1 == peer && $2 == mode {
			for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) s += kv[2] }
		}
		END { print s + 0 }' "$dir/results"
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "radcare bench-peers: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu), $(uname -r), radcare $commit"
echo "rounds=$rounds x ${secs}s per peer and mode, interleaved; window $window; rate $rate req/s;" \
	"10 % arrears rejects; load average before/after: $load_before / $load_after"
echo
printf '%-12s %-26s %9s %9s %9s %9s %9s %11s %11s\n' peer "closed req/s med (min-max)" \
	"spread" "p50@64" "p50@rate" "p99@rate" "cpu/req" "lost" "radclient"
declare -A med
for p in "${peers[@]}"; do
	read -r m lo hi < <(stat "$p" closed req_per_s)
	med[$p]=$m
	spread=$(awk -v m="$m" -v lo="$lo" -v hi="$hi" 'BEGIN { if (m > 0) printf "+/-%.0f%%", 50 * (hi - lo) / m; else print "-" }')
	read -r p50c _ _ < <(stat "$p" closed p50_us)
	read -r p50r _ _ < <(stat "$p" rate p50_us)
	read -r p99r _ _ < <(stat "$p" rate p99_us)
	recv=$(sum "$p" closed received)
	ticks_used=$(sum "$p" closed cpu_ticks)
	cpu_us=$(awk -v t="$ticks_used" -v hz="$hz" -v n="$recv" 'BEGIN { if (n > 0) printf "%.1f us", t * 1e6 / hz / n; else print "-" }')
	lost=$(($(sum "$p" closed timeouts) + $(sum "$p" rate timeouts) + $(sum "$p" closed invalid) + $(sum "$p" rate invalid)))
	rc=$(awk -v peer="$p" -v n="$radclient_requests" '$1 == peer {
		if ($4 + 0 >= n) printf "%ss", $2; else printf "%ss (%d/%d)", $2, $4, n }' "$dir/radclient")
	printf '%-12s %-26s %9s %9s %9s %9s %9s %11s %11s\n' "$p" \
		"$(printf '%.0f (%.0f-%.0f)' "$m" "$lo" "$hi")" "$spread" "${p50c}us" "${p50r}us" \
		"${p99r}us" "$cpu_us" "$lost" "$rc"
done
echo
ratio() { awk -v a="${med[$1]}" -v b="${med[$2]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
read -r p50_rc _ _ < <(stat radcare rate p50_us)
read -r p50_fw _ _ < <(stat forward rate p50_us)
echo "radcare/forward $(ratio radcare forward)   radcare/radsecproxy $(ratio radcare radsecproxy)" \
	"  radcare/FreeRADIUS $(ratio radcare freeradius)   p50 at $rate req/s: radcare - forward =" \
	"$(awk -v a="$p50_rc" -v b="$p50_fw" 'BEGIN { printf "%+.0f us", a - b }')"
read -r ceiling _ _ < <(stat direct closed ceiling_req_per_s)
read -r replay_cpu _ _ < <(stat direct closed cpu_us_per_req)
echo "radcare replay itself: ${replay_cpu} us CPU per request in the direct closed loop," \
	"a ceiling of $(printf '%.0f' "$ceiling") req/s on one core"
echo
echo "p50@64: median latency in the closed loop; p50/p99@rate: at the fixed rate."
echo "cpu/req: CPU time of the peer process alone (all threads) per answered request in"
echo "the closed loop (for 'direct': the simulator's). lost: timeouts + invalid replies,"
echo "all runs. radclient: wall time for $radclient_requests requests (-p $window); (n/N) when"
echo "fewer were answered within its 60 s limit. Measuring took $((SECONDS - started)) s."
out_dir=${BENCH_OUT:-$root/target/bench-peers}
mkdir -p "$out_dir"
cp "$dir/results" "$out_dir/results.txt"
cp "$dir/radclient" "$out_dir/radclient.txt"
echo "(every run's key=value line: $out_dir/results.txt)"
