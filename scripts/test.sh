#!/usr/bin/env bash
# radcare's whole check: peers installed, formatting, lints, then every test
# against the real peers (FreeRADIUS, radclient, tshark, Chromium, SQLite,
# PostgreSQL). Extra arguments go to `cargo nextest run`, e.g.
#
#   scripts/test.sh                      everything
#   scripts/test.sh -E 'test(wire)'      a filterset
#
# CI runs it through .ci/run with CI=true: there a missing peer fails the
# tests (tests/support/mod.rs: require_peer), and so does a missing nextest.
#
# Budget: the 2-core machine; the whole run should stay well under 20 minutes.
# Builds use 2 jobs; the test run itself is bounded (RADCARE_TEST_TIMEOUT
# seconds, default 900) and every test is killed after 5 minutes.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs="${CARGO_BUILD_JOBS:-2}"
export CARGO_BUILD_JOBS="$jobs"
export RADCARE_TEST_ARTIFACTS="$PWD/test-artifacts"
mkdir -p "$RADCARE_TEST_ARTIFACTS"
# Debian keeps freeradius (and radsecproxy) in /usr/sbin.
case ":$PATH:" in
*:/usr/sbin:*) ;;
*) export PATH="$PATH:/usr/sbin:/sbin" ;;
esac

step() { printf '\n==> %s\n' "$*"; }
start=$SECONDS

step "peers"
scripts/install-peers.sh

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -j "$jobs" -- -D warnings

run_timeout="${RADCARE_TEST_TIMEOUT:-900}"

if cargo nextest --version >/dev/null 2>&1; then
	# The repository's .config/nextest.toml wins when there is one; otherwise
	# a per-test limit: "slow" after 60 s, killed after 5 periods.
	config_args=()
	if [[ ! -f .config/nextest.toml ]]; then
		nextest_config="$(mktemp)"
		trap 'rm -f "$nextest_config"' EXIT
		cat >"$nextest_config" <<-'EOF'
			[profile.default]
			slow-timeout = { period = "60s", terminate-after = 5 }
			failure-output = "immediate-final"
			fail-fast = false
		EOF
		config_args=(--config-file "$nextest_config")
	fi

	step "build tests"
	cargo test --no-run -j "$jobs"

	step "cargo nextest run (at most ${run_timeout}s)"
	timeout --kill-after=30 "$run_timeout" \
		cargo nextest run "${config_args[@]}" --no-fail-fast \
		--build-jobs "$jobs" --test-threads "${NEXTEST_TEST_THREADS:-2}" "$@"
elif [[ "${CI:-}" == true ]]; then
	echo "test.sh: cargo-nextest is missing (CI=true: no fallback)" >&2
	exit 1
else
	echo "test.sh: note: cargo-nextest missing, falling back to cargo test" >&2
	step "build tests"
	cargo test --no-run -j "$jobs"
	step "cargo test (at most ${run_timeout}s)"
	timeout --kill-after=30 "$run_timeout" \
		cargo test --no-fail-fast -j "$jobs" "$@"
fi

step "done in $((SECONDS - start))s"
