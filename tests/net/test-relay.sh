#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vrc frames through a lossy wire: three network namespaces of our own,
# vm <-> mid <-> ep, with tools/vrc-relay in the middle one.  vrc-pingpong
# runs across it clean, with 1% loss, and with 5% loss + 5% duplicates +
# 10% reordered + 1% corrupted frames, then with a delay.  Checked for each:
#  - the relay's summary shows each impairment at its rate (within 5
#    standard deviations of the binomial), and its counters add up;
#  - every frame the relay sent arrived (transport counters of both ends);
#  - every corrupted frame was refused (mostly by CRC-32C; a flipped bit in
#    the version or payload length field is refused before the CRC is
#    checked), and none was taken;
#  - the round trips that should get through did.
# Prints the measured rates as TAP comments.  Needs root: if network
# namespaces cannot be made here, it fails (Bail out!), it never skips.
#
# usage: test-relay.sh [path/to/vrc-pingpong [path/to/vrc-relay]]
#   VRC_RELAY_COUNT  PINGs per lossy run (default 5000)
#   VRC_RELAY_SEED   first seed of the relay's decisions (default 1)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
pp=${1:-$top/build/host/tools/vrc-pingpong}
relay=${2:-$(dirname "$pp")/vrc-relay}
count=${VRC_RELAY_COUNT:-5000}
seed=${VRC_RELAY_SEED:-1}
relay_pid=
# shellcheck source=lib.sh
. "$top/tests/net/lib.sh"
net_require "$pp" "$relay"

echo "1..9"

# The relay explains itself and refuses what makes no sense.
if "$relay" --help | grep -q -- "--reorder"; then
    ok "vrc-relay --help"
else
    not_ok "vrc-relay --help"
fi
if "$relay" --loss 1.5 a b 2> "$tmp/rate.err"; then
    not_ok "a rate of 1.5 is refused"
elif grep -q "between 0 and 1" "$tmp/rate.err"; then
    ok "a rate of 1.5 is refused: $(cat "$tmp/rate.err")"
else
    not_ok "a rate of 1.5 is refused with a reason"; diag "$tmp/rate.err"
fi

VRC_MTU=1500 vrc_netns_up_relay "vrcrl$$-$RANDOM" 2> "$tmp/setup.err" ||
    { diag "$tmp/setup.err"; bail "cannot set up three namespaces joined by veth pairs"; }

if ip netns exec "$MID_NS" "$relay" "$MID_VM_IF" vrc-nosuch0 2> "$tmp/nosuch.err"; then
    not_ok "an interface that does not exist is refused"
elif grep -q "vrc-nosuch0" "$tmp/nosuch.err"; then
    ok "an interface that does not exist is refused: $(cat "$tmp/nosuch.err")"
else
    not_ok "an interface that does not exist is refused with a reason"; diag "$tmp/nosuch.err"
fi

# Without the relay nothing crosses the middle namespace.
ip netns exec "$EP_NS" timeout 30 "$pp" --mode=pong --ifname="$EP_IF" \
    --timeout-ms=100 > /dev/null 2>&1 &
alone_pid=$!
if ip netns exec "$VM_NS" timeout 30 "$pp" --mode=ping --ifname="$VM_IF" \
        --count=5 --timeout-ms=300 > /dev/null 2> "$tmp/alone.err"; then
    not_ok "nothing crosses $MID_NS without the relay"
elif grep -q "no answer from pong" "$tmp/alone.err"; then
    ok "nothing crosses $MID_NS without the relay"
else
    not_ok "nothing crosses $MID_NS without the relay: a reason"; diag "$tmp/alone.err"
fi
wait "$alone_pid"

# relay_start ARGS...: start the relay in the middle, wait until it listens.
relay_start() {
    ip netns exec "$MID_NS" "$relay" --duration=300 --ethertype=0x88b5 "$@" \
        "$MID_VM_IF" "$MID_EP_IF" > "$tmp/relay.json" 2> "$tmp/relay.err" &
    relay_pid=$!
    for _ in $(seq 50); do
        grep -q "relaying" "$tmp/relay.err" && return 0
        kill -0 "$relay_pid" 2>/dev/null || break
        sleep 0.1
    done
    diag "$tmp/relay.err"
    bail "vrc-relay did not start"
}

# relay_stop [SIGNAL]: end it; its exit status.
relay_stop() {
    kill "-${1:-TERM}" "$relay_pid"
    wait "$relay_pid"
}

# wait_pong: until pong listens (its two packet sockets exist in the
# endpoint namespace, and a moment for its filter): frames sent before that
# would be relayed but never counted at the far end.
wait_pong() {
    for _ in $(seq 100); do
        [ "$(ip netns exec "$EP_NS" awk 'NR > 1' /proc/net/packet | wc -l)" -ge 2 ] &&
            { sleep 0.1; return 0; }
        sleep 0.05
    done
    bail "vrc-pingpong --mode=pong did not start"
}

# check NAME LOSS DUP REORDER CORRUPT: the relay's, ping's and pong's JSON
# from a lossy run against each other.  Prints TAP comments; exit status.
check() {
    python3 - "$tmp" "$count" "$@" <<'EOF'
import json, math, sys
tmp, count, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = dict(zip(["loss", "dup", "reorder", "corrupt"], map(float, sys.argv[4:8])))
relay = json.load(open(tmp + "/relay.json"))
ping = json.load(open(tmp + "/ping.json"))
pong = json.load(open(tmp + "/pong.json"))
errors = []

def expect(what, cond):
    if not cond:
        errors.append(what)

def rate(what, k, n, q):
    """k of n within 5 standard deviations of binomial(n, q)."""
    sd = math.sqrt(n * q * (1 - q))
    expect(f"{what}: {k} of {n}, expected {q}", abs(k - n * q) <= 5 * sd + 1e-9)
    return f"{what} {100.0 * k / max(n, 1):.2f}%"

for d, rx, side in (("a2b", pong, "pong"), ("b2a", ping, "ping")):
    s = relay[d]
    copies = s["in"] - s["dropped"] + s["duplicated"]
    expect(f"{d}: sent {s['sent']} != in - dropped + duplicated {copies}",
           s["sent"] == copies)
    for k in ("pool_full", "send_errors", "oversize", "rx_errors", "kernel_drops"):
        expect(f"{d}: {k} {s[k]}", s[k] == 0)
    got = [rate("loss", s["dropped"], s["in"], p["loss"]),
           rate("dup", s["duplicated"], s["in"] - s["dropped"], p["dup"]),
           rate("reorder", s["held"], s["sent"], p["reorder"]),
           rate("corrupt", s["corrupted"], s["sent"], p["corrupt"])]
    if p["reorder"]:
        expect(f"{d}: no frame was overtaken", s["reordered"] > 0)
    print(f"# {name} {d}: {s['in']} frames in, {s['sent']} sent: " + ", ".join(got)
          + f", overtaken {s['reordered']}")
    # Everything the relay sent arrived; every damaged frame was refused.
    expect(f"{d}: relay sent {s['sent']}, {side} received {rx['frames_rx']}"
           f" (kernel drops {rx['kernel_drops']})",
           rx["frames_rx"] + (rx["kernel_drops"] or 0) == s["sent"])
    rej = rx["rejected"]
    expect(f"{d}: relay corrupted {s['corrupted']}, {side} refused {rej}",
           sum(rej.values()) == s["corrupted"])
    expect(f"{d}: refused for an unexpected reason: {rej}",
           set(rej) <= {"crc", "version", "length"})
    expect(f"{d}: CRC-32C refused only {rej.get('crc', 0)} of {s['corrupted']}",
           rej.get("crc", 0) >= 0.8 * s["corrupted"])
    print(f"# {name} {d}: {side} refused {sum(rej.values())} frames {rej}, "
          f"took {rx['received']} distinct and {rx['duplicates']} copies")

# Round trips: a PING and its PONG each get through intact at least with
# probability (1 - loss)(1 - corrupt); duplicates only help.
f = ((1 - p["loss"]) * (1 - p["corrupt"])) ** 2
low = count * f - 5 * math.sqrt(count * f * (1 - f))
expect(f"ping got {ping['received']} PONGs of {count}, expected at least {low:.0f}",
       ping["received"] >= low and ping["received"] <= count)
expect("pong saw no BYE", pong["bye"] and pong["expected"] == count)
if not any(p.values()):
    expect("clean: something lost, repeated or damaged",
           ping["received"] == count and pong["received"] == count and
           ping["duplicates"] == 0 and pong["duplicates"] == 0 and
           ping["bad"] == 0 and pong["bad"] == 0)
print(f"# {name}: {ping['received']} of {count} round trips in "
      f"{ping['seconds']:.2f} s, relay pool high water {relay['pool_max_used']}")
for e in errors:
    print("# FAILED: " + e)
sys.exit(1 if errors else 0)
EOF
}

# lossy NAME LOSS DUP REORDER CORRUPT: a stream of 58-byte frames (every
# bit past the Ethernet header under the CRC) through the relay.
lossy() {
    local name=$1 loss=$2 dup=$3 reorder=$4 corrupt=$5 pong_pid ping_rc pong_rc relay_rc
    relay_start --seed="$seed" --loss="$loss" --dup="$dup" --reorder="$reorder" \
        --corrupt="$corrupt"
    seed=$((seed + 1))
    ip netns exec "$EP_NS" timeout 120 "$pp" --mode=pong --ifname="$EP_IF" --stream \
        --lossy --timeout-ms=300 --json > "$tmp/pong.json" 2> "$tmp/pong.err" &
    pong_pid=$!
    wait_pong
    ip netns exec "$VM_NS" timeout 120 "$pp" --mode=ping --ifname="$VM_IF" --stream \
        --lossy --size=58 --count="$count" --warmup=0 --timeout-ms=300 --json \
        > "$tmp/ping.json" 2> "$tmp/ping.err"
    ping_rc=$?
    wait "$pong_pid"
    pong_rc=$?
    relay_stop TERM
    relay_rc=$?
    if [ $ping_rc -ne 0 ] || [ $pong_rc -ne 0 ] || [ $relay_rc -ne 0 ]; then
        not_ok "$name: ping exit $ping_rc, pong exit $pong_rc, relay exit $relay_rc"
        for f in ping.err ping.json pong.err pong.json relay.err relay.json; do
            diag "$tmp/$f"
        done
        return
    fi
    if check "$name" "$loss" "$dup" "$reorder" "$corrupt" > "$tmp/check.out"; then
        ok "$name: rates, delivery and CRC rejections check out"
        cat "$tmp/check.out"
    else
        not_ok "$name: $(grep -c FAILED "$tmp/check.out") checks failed"
        cat "$tmp/check.out"
        diag "$tmp/relay.json"; diag "$tmp/ping.json"; diag "$tmp/pong.json"
    fi
}

# strict NAME SIZE COUNT: the ordinary ping-pong (any loss or damage fails
# it) through the relay as it runs now; its JSON in $tmp/ping.json.
strict() {
    local name=$1 size=$2 cnt=$3 pong_pid ping_rc pong_rc
    ip netns exec "$EP_NS" timeout 120 "$pp" --mode=pong --ifname="$EP_IF" \
        --size="$size" --count="$cnt" --json > "$tmp/pong.json" 2> "$tmp/pong.err" &
    pong_pid=$!
    ip netns exec "$VM_NS" timeout 120 "$pp" --mode=ping --ifname="$VM_IF" \
        --size="$size" --count="$cnt" --json > "$tmp/ping.json" 2> "$tmp/ping.err"
    ping_rc=$?
    wait "$pong_pid"
    pong_rc=$?
    if [ $ping_rc -ne 0 ] || [ $pong_rc -ne 0 ]; then
        for f in ping.err ping.json pong.err pong.json; do
            diag "$tmp/$f"
        done
        return 1
    fi
}

json() {
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# A relay that does nothing to the frames: the strict ping-pong passes, and
# the relay counts every frame in and out.
relay_start --seed="$seed"
strict "clean relay" 1500 1000
strict_rc=$?
relay_stop INT
relay_rc=$?
if [ $strict_rc -eq 0 ] && [ $relay_rc -eq 0 ] &&
   [ "$(json "$tmp/relay.json" 'all(j[d]["in"] == j[d]["sent"] > 1000 and j[d]["dropped"] + j[d]["duplicated"] + j[d]["corrupted"] + j[d]["held"] == 0 for d in ("a2b", "b2a"))')" = True ]; then
    ok "clean relay: 1000 round trips of 1500-byte frames, content checked, every frame relayed (SIGINT ends the relay)"
    echo "# clean relay: RTT us $(json "$tmp/ping.json" '"min %(min).1f median %(median).1f p99 %(p99).1f" % j["rtt_us"]')"
else
    not_ok "clean relay: strict ping-pong"
    diag "$tmp/relay.err"; diag "$tmp/relay.json"
fi
seed=$((seed + 1))

lossy "clean" 0 0 0 0
lossy "1% loss" 0.01 0 0 0
lossy "5% loss, 5% dup, 10% reorder, 1% corrupt" 0.05 0.05 0.10 0.01

# A fixed delay with jitter: each round trip takes at least twice the
# smallest delay, and nothing is lost.
relay_start --seed="$seed" --delay=500 --jitter=100
strict "delay" 64 200
strict_rc=$?
relay_stop TERM
relay_rc=$?
if [ $strict_rc -eq 0 ] && [ $relay_rc -eq 0 ] &&
   [ "$(json "$tmp/ping.json" 'j["rtt_us"]["min"] >= 800')" = True ]; then
    ok "500 us +- 100 us delay each way: RTT us $(json "$tmp/ping.json" '"min %(min).1f median %(median).1f max %(max).1f" % j["rtt_us"]')"
else
    not_ok "500 us +- 100 us delay each way"
    diag "$tmp/ping.json"; diag "$tmp/relay.err"
fi

[ $failed -eq 0 ]
