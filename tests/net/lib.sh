# SPDX-License-Identifier: GPL-2.0-or-later
# What the tests in tests/net share: TAP output, a scratch directory, and
# clean-up of background jobs (pongs, relays) and of the namespaces on exit.
# Source it with $top set to the project's top directory.  It sets tmp, n
# and failed, and defines:
#   bail MSG            "Bail out!" and exit 1 (a test that cannot run fails)
#   ok MSG / not_ok MSG one TAP line each, counted
#   diag FILE           a file as TAP comments
#   json FILE EXPR      a Python expression over the JSON object j in FILE
#   net_require TOOL... the tools exist, python3 too, namespaces can be made

# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"

tmp=$(mktemp -d)
n=0
failed=0

net_cleanup() {
    # Background jobs first (they hold the interfaces), then the namespaces.
    local pid
    for pid in $(jobs -p); do
        kill "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    vrc_netns_down
    rm -rf "$tmp"
}
trap net_cleanup EXIT
trap 'exit 130' INT TERM

bail() {
    echo "Bail out! $*"
    exit 1
}

ok() {
    n=$((n + 1))
    echo "ok $n - $*"
}

not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $*"
}

diag() {
    sed 's/^/# /' "$1"
}

json() {
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

net_require() {
    local f
    for f in "$@"; do
        [ -x "$f" ] || bail "no $f (build it: ninja -C build/host)"
    done
    command -v python3 >/dev/null || bail "python3 is needed to read the results"
    vrc_netns_probe || bail "cannot create network namespaces here: this test needs root and 'ip netns'"
}
