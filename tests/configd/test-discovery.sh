#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# configd discovers every simulated endpoint function, shows an endpoint
# that stops heartbeating as gone, and refuses to run with neither a key
# nor --insecure;
# vrcctl says when there is no configd (exit 2).
. "$(dirname "$0")/lib.sh"
cd_setup vrccd-disc

# Before anything runs: the daemon's refusals and the CLI's.
out=$("$CONFIGD" -i lo --socket "$tmp/x.sock" --db "$tmp/x.db" 2>&1); rc=$?
check "configd without --insecure exits 2" [ $rc -eq 2 ]
check "...and says to give --key-file or --insecure" \
    grep -q "give --key-file FILE .* or --insecure" <<<"$out"
out=$(vrcctl list 2>&1); rc=$?
check "vrcctl without configd exits 2" [ $rc -eq 2 ]
check "...saying configd is not running at the socket" \
    grep -q "configd is not running at $SOCK" <<<"$out"

cd_configd --miss 3
# 150 endpoint MACs with 2 functions each, and one more endpoint that will
# go silent.
cd_epsim many -n 150 -f 2 --interval 200 --quiet
many=$EPSIM_PID
cd_epsim lone -n 1 --base 5000 --interval 200
lone=$EPSIM_PID
start=$(date +%s%N)
check "all 301 functions are discovered and up" wait_for 10 count_is up 301
echo "# discovery took $(( ($(date +%s%N) - start) / 1000000 )) ms"
check "functions are listed by MAC.function" \
    [ "$(vrcctl list --json | jq -r '.endpoints[0].id')" = "02:76:72:00:00:01.0" ]
check "an ANNOUNCE's IDs are kept" \
    [ "$(ep_field 02:76:72:00:00:01.1 '.vendor + ":" + .device + " " + .class')" = "1af4:1041 020000" ]
check "function count and BARs are kept" \
    [ "$(ep_field 02:76:72:00:00:01 '"\(.functions) \(.bars[0].size) \(.bars[2].type)"')" = "2 131072 io" ]
check "the table names the device from pci.ids" \
    grep -q "Intel Corporation 82574L" <(vrcctl list)

kill -STOP "$lone"
check "an endpoint that stops heartbeating is shown gone" \
    wait_for 5 field_is 02:76:72:00:13:89 .state gone
check "...and only that one" [ "$(count_state up)" = 300 ]
kill -CONT "$lone"
check "it is up again with its next ANNOUNCE" \
    wait_for 5 field_is 02:76:72:00:13:89 .state up

# SIGHUP: configd solicits again; every simulated function answers.
kill -HUP "$CONFIGD_PID"
kill -USR1 "$many"
check "SIGHUP sends a SOLICIT that the endpoints see" \
    wait_for 5 bash -c "kill -USR1 $many; grep -q 'solicit=[1-9]' '$tmp/epsim-many.log'"
check "no DISC frame was dropped" \
    [ "$(vrcctl status | jq '.disc_drops | length')" = 0 ]
check "vrcctl show of an unknown endpoint exits 1" \
    bash -c "\"$VRCCTL\" --socket $SOCK show 02:00:00:00:00:99 2>/dev/null; [ \$? -eq 1 ]"
check "vrcctl with a bad verb exits 2" \
    bash -c "\"$VRCCTL\" --socket $SOCK frobnicate 2>/dev/null; [ \$? -eq 2 ]"
cd_done
