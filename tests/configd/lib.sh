# SPDX-License-Identifier: GPL-2.0-or-later
# Shell functions for the configd tests: a configd in one network namespace and
# simulated endpoints (vrc-epsim) in another, joined by a veth pair
# (scripts/netns.sh).  Source it, then call cd_setup NAME.  TAP output.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${VRC_HOST_BUILD:-$top/build/host}
CONFIGD=$B/configd/configd
VRCCTL=$B/configd/vrcctl
EPSIM=$B/tools/vrc-epsim
VRCDISC=$B/tools/vrc-disc
. "$top/scripts/netns.sh"

tap_n=0
tap_fail=0
pids=()

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_fail=$((tap_fail + 1)); echo "not ok $tap_n - $*"; }
quiet() { "$@" >/dev/null; }
bail() { echo "Bail out! $*"; exit 1; }
# check DESC CMD...: one TAP line from a command's success
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

cd_cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    vrc_netns_down
    if [ -n "${tmp:-}" ]; then
        if [ $tap_fail -gt 0 ]; then
            for f in "$tmp"/*.log; do echo "# --- $f"; tail -n 20 "$f" | sed 's/^/# /'; done
        fi
        rm -rf "$tmp"
    fi
}

cd_setup() {
    for f in "$CONFIGD" "$VRCCTL" "$EPSIM" "$VRCDISC"; do
        [ -x "$f" ] || bail "$f is not built (meson setup build/host && ninja -C build/host)"
    done
    vrc_netns_probe || bail "network namespaces cannot be made here"
    tmp=$(mktemp -d /tmp/vrc-configd-test.XXXXXX)
    SOCK=$tmp/configd.sock
    DB=$tmp/configd.db
    trap cd_cleanup EXIT
    vrc_netns_up "$1" || bail "cannot create the namespaces"
}

vrcctl() { "$VRCCTL" --socket "$SOCK" "$@"; }

# wait_for SECONDS CMD...: until CMD succeeds; 1 at the deadline.
wait_for() {
    local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
    shift
    until "$@"; do
        [ $(( $(date +%s%N) / 1000000 )) -lt $deadline ] || return 1
        sleep 0.05
    done
}

# cd_configd [ARGS]: start configd on the VM side; CONFIGD_PID.  Without a
# --key-file in ARGS it runs --insecure.
cd_configd() {
    local mode=--insecure a
    for a in "$@"; do
        [ "$a" = --key-file ] && mode=
    done
    ip netns exec "$VM_NS" "$CONFIGD" $mode -i "$VM_IF" --socket "$SOCK" \
        --db "$DB" "$@" >> "$tmp/configd.log" 2>&1 &
    CONFIGD_PID=$!
    pids+=("$CONFIGD_PID")
    wait_for 10 vrcctl status >/dev/null 2>&1 || bail "configd did not start"
}

# cd_epsim TAG ARGS: simulated endpoints on the endpoint side; EPSIM_PID.
cd_epsim() {
    local tag=$1
    shift
    ip netns exec "$EP_NS" "$EPSIM" -i "$EP_IF" "$@" > "$tmp/epsim-$tag.log" 2>&1 &
    EPSIM_PID=$!
    pids+=("$EPSIM_PID")
    # Its banner comes after its signal handlers are in place.
    wait_for 5 grep -qs "^epsim: .* on $EP_IF" "$tmp/epsim-$tag.log" ||
        bail "vrc-epsim $tag did not start"
}

# cd_vm NAME RC_ID MAC SLOTS: a registered VM (vrcctl standing in for QEMU).
cd_vm() {
    "$VRCCTL" --socket "$SOCK" --json vm-register "$1" --rc-id "$2" \
        --mac "$3" --slots "$4" > "$tmp/vm-$1.log" 2>&1 &
    VM_PID=$!
    pids+=("$VM_PID")
    wait_for 5 grep -qs '"ok":true' "$tmp/vm-$1.log" || bail "VM $1 did not register"
}

# How many endpoints `vrcctl list --json` shows in state $1.
count_state() {
    vrcctl list --json | jq "[.endpoints[] | select(.state == \"$1\")] | length"
}
count_is() { [ "$(count_state "$1")" = "$2" ]; }

# Field $2 (jq path) of endpoint $1 in `vrcctl show --json`.
ep_field() { vrcctl show "$1" --json | jq -r "$2"; }
# field_is EP JQ VALUE: for wait_for (evaluated on every try).
field_is() { [ "$(ep_field "$1" "$2")" = "$3" ]; }
# vm_state_is NAME STATE
vm_state_is() {
    [ "$(vrcctl vms --json | jq -r ".vms[] | select(.name == \"$1\") | .state")" = "$2" ]
}

cd_done() {
    local rc
    # configd stops cleanly on SIGTERM, and nothing reported a memory error
    # (sanitizer builds: VRC_HOST_BUILD=build/asan).
    if [ -n "${CONFIGD_PID:-}" ] && kill -0 "$CONFIGD_PID" 2>/dev/null; then
        kill -TERM "$CONFIGD_PID"
        wait "$CONFIGD_PID"
        rc=$?
        check "configd exits 0 on SIGTERM" [ $rc -eq 0 ]
    fi
    check "no sanitizer report in any log" \
        bash -c "! grep -l 'Sanitizer\|runtime error' '$tmp'/*.log"
    echo "1..$tap_n"
    [ $tap_fail -eq 0 ]
}
