#!/bin/sh
# fetch-analytics-next.sh [DIR] installs the stock Segment browser SDK,
# @segment/analytics-next, with npm into DIR (default: .cache/npm under the
# repository root) and prints the absolute path of its dist/umd directory.
# Nothing is fetched when the right version is already there, so CI may call
# it on every run:
#
#   export KITH_TEST_ANALYTICS_NEXT_DIR=$(scripts/fetch-analytics-next.sh)
#   go test ./cmd/kith -run Browser
#
# The browser test (cmd/kith/browser_test.go) serves that directory to
# headless Chromium. Everything but the path goes to stderr.
set -eu

VERSION=1.84.3

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-"$root/.cache/npm"}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pkg="$dir/node_modules/@segment/analytics-next"
umd="$pkg/dist/umd"

installed() {
	[ -f "$umd/index.js" ] && [ -f "$pkg/package.json" ] &&
		grep -q "\"version\": *\"$VERSION\"" "$pkg/package.json"
}

if ! installed; then
	command -v npm >/dev/null 2>&1 || {
		echo "fetch-analytics-next.sh: npm not found; install Node.js and npm (apt-get install -y npm)" >&2
		exit 1
	}
	# --prefix keeps the install out of any package.json above DIR.
	npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
		"@segment/analytics-next@$VERSION" >&2
	installed || {
		echo "fetch-analytics-next.sh: npm did not install @segment/analytics-next@$VERSION into $dir" >&2
		exit 1
	}
fi
echo "$umd"
