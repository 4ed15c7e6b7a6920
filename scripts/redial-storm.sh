#!/usr/bin/env bash
# The redial storm, with and without radcare: N subscribers whose accounts are in
# arrears dial in through routers that redial every few seconds after a failure.
#
#   without radcare: router -> FreeRADIUS, which rejects; the router redials, forever;
#   with radcare:    router -> radcare -> FreeRADIUS; radcare turns the Reject into a
#                    walled-garden Accept, and the router stays up for the garden's
#                    Session-Timeout (5 minutes by default) before it dials again.
#
# Both storms run at the same time for DURATION seconds against one FreeRADIUS (the
# test fixture plus N generated users in arrears), each through `radcare storm`, and
# the script prints the AAA requests per failing subscriber: in the run, per hour
# extrapolated linearly, and per hour on the routers' own schedule.
#
#   scripts/redial-storm.sh             200 subscribers, 60 s, redial 5 s +/- 1 s
#   SUBSCRIBERS=50 DURATION=20 scripts/redial-storm.sh
#
# Environment: SUBSCRIBERS, DURATION, REDIAL, JITTER, RADCARE (a prebuilt binary
# instead of cargo build). Every process the script starts is stopped on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
subscribers=${SUBSCRIBERS:-200}
duration=${DURATION:-60}
redial=${REDIAL:-5}
jitter=${JITTER:-1}

case ":$PATH:" in
*:/usr/sbin:*) ;;
*) export PATH="$PATH:/usr/sbin:/sbin" ;;
esac
step() { printf '==> %s\n' "$*" >&2; }

if ! command -v freeradius >/dev/null || ! command -v radclient >/dev/null; then
	step "installing peers"
	scripts/install-peers.sh
fi
if [[ -n "${RADCARE:-}" ]]; then
	radcare=$RADCARE
else
	step "cargo build --release"
	cargo build --release -j "${CARGO_BUILD_JOBS:-2}" --bin radcare
	radcare=$root/target/release/radcare
fi

dir=$(mktemp -d /tmp/radcare-storm.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_use() { ss -Haun "sport = :$1" | grep -q . || ss -Hatn "sport = :$1" | grep -q .; }
for _ in 1 2 3 4 5 6 7 8 9 10; do
	base=$((20000 + RANDOM % 30000))
	ok=1
	for i in 0 1 2 3 4; do if in_use $((base + i)); then ok=0; fi; done
	((ok)) && break
done
((ok)) || {
	echo "redial-storm.sh: no free block of ports found" >&2
	exit 1
}
fr_port=$base # + 1: accounting
rc_port=$((base + 2)) # + 3: accounting
rc_http=$((base + 4))
aaa_secret=aaa-secret
nas_secret=testing123

step "FreeRADIUS (test fixture + $subscribers subscribers in arrears), radcare serve"
mkdir -p "$dir/fr/run" "$dir/fr/log" "$dir/fr/radacct" "$dir/fr/var"
for f in "$root"/tests/fixtures/freeradius/*; do
	[[ -f "$f" ]] || continue
	sed -e "s|@AUTH_PORT@|$fr_port|g; s|@ACCT_PORT@|$((fr_port + 1))|g" \
		-e "s|@SECRET@|$aaa_secret|g" "$f" >"$dir/fr/$(basename "$f")"
done
rm -f "$dir/fr/listen-v6.conf"
# The generated subscribers go first: the fixture's DEFAULT entry rejects the rest.
{
	for i in $(seq 1 "$subscribers"); do
		printf 'sub-%04d\tAuth-Type := Reject\n\tReply-Message = "欠费停机: account in arrears, balance -%d.00"\n\n' "$i" "$i"
	done
	cat "$root/tests/fixtures/freeradius/users"
} >"$dir/fr/users"
# The subscribers' Access-Requests (radclient's format), one per router.
for i in $(seq 1 "$subscribers"); do
	printf 'User-Name = "sub-%04d"\nUser-Password = "forgot-to-pay"\nNAS-IP-Address = 127.0.0.1\nNAS-Port = %d\nService-Type = Framed-User\nFramed-Protocol = PPP\nCalling-Station-Id = "02-00-00-00-%02x-%02x"\n\n' \
		"$i" "$i" $((i / 256)) $((i % 256))
done >"$dir/subscribers.txt"

freeradius -f -d "$dir/fr" -l stdout >"$dir/fr/out.log" 2>&1 &
pids+=($!)
cat >"$dir/radcare.toml" <<EOF
[radius]
auth_listen = "127.0.0.1:$rc_port"
acct_listen = "127.0.0.1:$((rc_port + 1))"

[[radius.client]]
name = "bras"
address = "127.0.0.0/8"
secret = "$nas_secret"

[[radius.upstream]]
name = "freeradius"
auth = "127.0.0.1:$fr_port"
acct = "127.0.0.1:$((fr_port + 1))"
secret = "$aaa_secret"

[portal]
listen = "127.0.0.1:$rc_http"

[admin]
listen = "127.0.0.1:0"

[terminal]
listen = "127.0.0.1:0"
state_dir = "$dir/state"

[store]
url = "sqlite://$dir/radcare.db"
EOF
RUST_LOG=warn "$radcare" serve --config "$dir/radcare.toml" >"$dir/radcare.out" 2>&1 &
pids+=($!)

wait_up() { # name addr secret
	local i
	for i in $(seq 1 100); do
		if echo "Message-Authenticator = 0x00" | radclient -q -r 1 -t 1 \
			-d "$root/tests/fixtures/freeradius" "$2" status "$3" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	echo "redial-storm.sh: $1 did not answer on $2" >&2
	tail -20 "$4" >&2 || true
	exit 1
}
wait_up freeradius "127.0.0.1:$fr_port" "$aaa_secret" "$dir/fr/out.log"
wait_up radcare "127.0.0.1:$rc_port" "$nas_secret" "$dir/radcare.out"

step "two storms at once for ${duration}s: straight to FreeRADIUS, and through radcare"
storm() { # server secret out
	timeout $((duration + 30)) "$radcare" storm -f "$dir/subscribers.txt" \
		--redial "$redial" --jitter "$jitter" --duration "$duration" "$1" "$2" >"$3"
}
storm "127.0.0.1:$fr_port" "$aaa_secret" "$dir/direct.out" &
pid_direct=$!
storm "127.0.0.1:$rc_port" "$nas_secret" "$dir/radcare.storm.out" &
pid_via=$!
pids+=("$pid_direct" "$pid_via")
wait "$pid_direct"
wait "$pid_via"

kv() { tail -1 "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
echo
echo "radcare redial storm: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs" \
	"($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo "$subscribers subscribers in arrears, ${duration} s, routers redial ${redial} s +/- ${jitter} s" \
	"after a failure and at the end of a session; FreeRADIUS $(freeradius -v | sed -n 's/.*Version \([0-9.]*\).*/\1/p' | head -1)"
echo
printf '%-22s %9s %9s %9s %12s %14s %14s\n' "" requests rejects garden "per sub/run" \
	"per sub/h run" "per sub/h sched"
for case in direct radcare; do
	f=$dir/direct.out
	label="FreeRADIUS alone"
	if [[ $case == radcare ]]; then
		f=$dir/radcare.storm.out
		label="radcare in front"
	fi
	printf '%-22s %9s %9s %9s %12s %14s %14s\n' "$label" "$(kv "$f" requests)" "$(kv "$f" rejects)" \
		"$(kv "$f" garden)" "$(kv "$f" per_failing_sub)" "$(kv "$f" per_hour_measured)" \
		"$(kv "$f" per_hour_schedule)"
done
d_run=$(kv "$dir/direct.out" per_hour_measured)
v_run=$(kv "$dir/radcare.storm.out" per_hour_measured)
d_sched=$(kv "$dir/direct.out" per_hour_schedule)
v_sched=$(kv "$dir/radcare.storm.out" per_hour_schedule)
echo
awk -v a="$d_run" -v b="$v_run" -v c="$d_sched" -v d="$v_sched" -v t="$(kv "$dir/radcare.storm.out" max_session_timeout_s)" 'BEGIN {
	printf "reduction of AAA requests per failing subscriber: x%.1f over the run (linear), x%.1f on the routers'"'"' schedule (garden Session-Timeout %s s)\n", (b > 0 ? a / b : 0), (d > 0 ? c / d : 0), t
}'
echo
echo "per sub/h run: the run's count scaled to an hour; it overstates the radcare case when"
echo "the run is shorter than the garden session (every router's first dial is in the run)."
echo "per sub/h sched: 3600 s over the mean time from one dial to the next the answer set"
echo "(redial interval after a Reject, Session-Timeout after an Accept): the steady state."
