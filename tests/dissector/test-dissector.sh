#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Wireshark dissector (tools/wireshark/vrc.lua) decodes the frames our
# encoder writes (tools/vrc-pcapgen) to the field values the generator was
# given. TAP output; fails on any mismatch or if tshark fails.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
pcapgen=${1:-$top/build/host/tools/vrc-pcapgen}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v tshark >/dev/null || { echo "Bail out! tshark is not installed"; exit 1; }
"$pcapgen" "$tmp/frames.pcap" >/dev/null || { echo "Bail out! vrc-pcapgen failed"; exit 1; }

fields=(frame.number vrc.type vrc.seq vrc.crc_ok vrc.tlp.name vrc.tlp.tag
        vrc.tlp.requester vrc.tlp.addr vrc.tlp.length vrc.tlp.first_be
        vrc.tlp.last_be vrc.tlp.bus vrc.tlp.dev vrc.tlp.fn vrc.tlp.reg
        vrc.tlp.status vrc.tlp.byte_count vrc.tlp.lower_addr vrc.tlp.msg_code
        vrc.tlp.tc vrc.tlp.ep vrc.ctrl.op vrc.ctrl.mps vrc.ctrl.cookie
        vrc.disc.op vrc.disc.vendor vrc.disc.device vrc.disc.bdf
        vrc.disc.generation vrc.disc.interval
        vrc.ctrl.sack_bits vrc.ctrl.sack
        vrc.keyed vrc.seal.counter vrc.hello.nonce
        vrc.disc.auth vrc.disc.tag_len vrc.disc.time vrc.disc.mac
        vrc.ctrl.features.credit vrc.ctrl.credit vrc.ctrl.limit
        vrc.flags.dup
        vrc.vdm.message vrc.push.key vrc.push.writes vrc.push.reads
        vrc.push.range_addr vrc.push.range_len
        vrc.chase.base vrc.chase.stride vrc.chase.len_at)
args=()
for f in "${fields[@]}"; do args+=(-e "$f"); done
if ! tshark -r "$tmp/frames.pcap" -X lua_script:"$top/tools/wireshark/vrc.lua" \
        -T fields -E separator='|' -E occurrence=a -E aggregator=, "${args[@]}" \
        > "$tmp/actual" 2> "$tmp/stderr"; then
    echo "Bail out! tshark failed: $(cat "$tmp/stderr")"
    exit 1
fi
if grep -qi "lua.*error" "$tmp/stderr"; then
    echo "Bail out! the dissector raised an error: $(cat "$tmp/stderr")"
    exit 1
fi

# One line per frame, the values given to vrc-pcapgen (see its source).
cat > "$tmp/expected" <<'EXP'
1|1|0|1|MRd|0x02a5|0x0100|0x00000000febc0010|1|0x0f|0x00|||||||||0|0||||||||||||||||||||||0
2|1|1|1|MRd|0x0105|0x0300|0x123456789abcde00|32|0x0f|0x0f|||||||||3|0||||||||||||||||||||||0
3|1|2|1|MWr|0x0000|0x0300|0x00000000fee00000|1|0x0f|0x00|||||||||0|0||||||||||||||||||||||0
4|1|3|1|MWr|0x0009|0x0300|0x0000000100000040|4|0x0e|0x07|||||||||0|1||||||||||||||||||||||0
5|1|4|1|IORd|0x0001|0x0010|0x000000000000c010|1|0x03|0x00|||||||||0|0||||||||||||||||||||||0
6|1|5|1|IOWr|0x0002|0x0010|0x000000000000c014|1|0x0f|0x00|||||||||0|0||||||||||||||||||||||0
7|1|6|1|CfgRd0|0x0003|0x0010||1|0x0f|0x00|2|0|0|0x0010|||||0|0||||||||||||||||||||||0
8|1|7|1|CfgWr0|0x0004|0x0010||1|0x03|0x00|2|0|1|0x0104|||||0|0||||||||||||||||||||||0
9|1|8|1|CfgRd1|0x0005|0x0010||1|0x0f|0x00|5|31|7|0x0ffc|||||0|0||||||||||||||||||||||0
10|1|9|1|CfgWr1|0x0006|0x0010||1|0x0f|0x00|3|0|0|0x0000|||||0|0||||||||||||||||||||||0
11|1|10|1|Cpl|0x03ff|0x0010||0|||||||1|4|0x00||0|0||||||||||||||||||||||0
12|1|11|1|CplD|0x02a5|0x0008||2|||||||0|291|0x44||0|0||||||||||||||||||||||0
13|1|12|1|Msg|0x0000|0x0300||0||||||||||0x20|0|0||||||||||||||||||||||0
14|1|13|1|MRd,MRd,MWr|0x02a5,0x0105,0x0000|0x0100,0x0300,0x0300|0x00000000febc0010,0x123456789abcde00,0x00000000fee00000|1,32,1|0x0f,0x0f,0x0f|0x00,0x0f,0x00|||||||||0,3,0|0,0,0||||||||||||||||||||||0
15|1|14|0|CfgRd0|0x0003|0x0010||1|0x0f|0x00|2|0|0|0x0010|||||0|0||||||||||||||||||||||0
16|2|0|1||||||||||||||||||1|1024|0x00000000||||||||||||||||0|||0
17|2|0|1||||||||||||||||||6|0|0xcafef00d||||||||||||||||||0|0
18|3|0|1|||||||||||||||||||||2|0x8086|0x10d3|0x0000|0|1000||||||0|0||||||0
19|3|0|1|||||||||||||||||||||3|0x0000|0x0000|0x0300|1|0||||||0|0||||||0
20|2|0|1||||||||||||||||||4|1024|0x00000000|||||||16|276,278,287||||||||||0|0
21|2|0|1||||||||||||||||||1|1024|0x00000000|||||||||1||000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f|||||0|||0
22|1|21|1|||||||||||||||||||||||||||||1|5|||||||||0
23|3|0|1|||||||||||||||||||||3|0x0000|0x0000|0x0100|5|0||||||1|24|1700000000000000|d757123d63f582c70d6fb7866a275098||||0
24|2|0|1||||||||||||||||||2|1024|||||||||||||||||1|64||0
25|2|0|1||||||||||||||||||3|1024|0x00000000|||||||0|||||||||||2147483664|0
26|2|1234|1||||||||||||||||||3|1024|0x00000000|||||||0|||||||||||0|1
27|1|26|1|MsgD,MWr|0x0000,0x0000|0x0000,0x0000|0x00000000fe403818|84,1|0x0f|0x00||||||||0x7f|0,0|0,0||||||||||||||||||||||0|PUSH|0x00000000fe403818|42|7|0x000000001aec3100,0x000000001ff60110|256,16|||
28|1|27|1|MsgD|0x0000|0x0100||20||||||||||0x7f|0|0||||||||||||||||||||||0|HINT|0x00000000fe403818|0|0|0x000000001aec3100,0x000000001aec3200|256,256|0x000000001aec30f0|16|8
EXP

n=0
fails=0
while IFS= read -r exp; do
    n=$((n + 1))
    act=$(sed -n "${n}p" "$tmp/actual")
    IFS='|' read -r -a e <<<"$exp"
    IFS='|' read -r -a a <<<"$act"
    bad=""
    for i in "${!fields[@]}"; do
        if [ "${e[$i]:-}" != "${a[$i]:-}" ]; then
            bad+=" ${fields[$i]}=${a[$i]:-<none>} (want ${e[$i]:-<none>})"
        fi
    done
    if [ -z "$bad" ]; then
        echo "ok $n - frame $n"
    else
        fails=$((fails + 1))
        echo "not ok $n - frame $n:$bad"
    fi
done < "$tmp/expected"
got=$(wc -l < "$tmp/actual")
n=$((n + 1))
if [ "$got" -eq $((n - 1)) ]; then
    echo "ok $n - $got frames decoded"
else
    fails=$((fails + 1))
    echo "not ok $n - $got frames decoded, want $((n - 1))"
fi
echo "1..$n"
[ $fails -eq 0 ]
