#!/usr/bin/env bash
# Builds radcare's Debian package with cargo-deb (installed with cargo when missing):
# the release binary, then the man page and shell completions generated from its clap
# tree, then the .deb (metadata: [package.metadata.deb] in Cargo.toml). Prints the
# package's path on its last line.
#
#   scripts/build-deb.sh          -> target/debian/radcare_<version>-1_<arch>.deb
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs="${CARGO_BUILD_JOBS:-2}"
target="${CARGO_TARGET_DIR:-target}"

if ! cargo deb --version >/dev/null 2>&1; then
	cargo install cargo-deb --locked -j "$jobs"
fi

cargo build --release -j "$jobs" >&2
bin="$target/release/radcare"
extra="$target/release/deb-extra"
mkdir -p "$extra"
"$bin" man | gzip -9n >"$extra/radcare.1.gz"
"$bin" completions bash >"$extra/radcare.bash"
"$bin" completions zsh >"$extra/_radcare"
"$bin" completions fish >"$extra/radcare.fish"
# Built above; cargo-deb only packs (and strips) it.
cargo deb --no-build | tail -n 1
