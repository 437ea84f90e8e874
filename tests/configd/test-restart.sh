#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# configd killed with SIGKILL and started again keeps every assignment;
# a restarted endpoint (generation 0) is given its assignment again.
. "$(dirname "$0")/lib.sh"
cd_setup vrccd-rst

cd_configd
cd_epsim eps -n 3 -f 2 --interval 200
EPS=$EPSIM_PID
wait_for 10 count_is up 6 || bail "the endpoints were not discovered"
cd_vm vm1 1 52:54:00:00:00:01 4
vrcctl attach 02:76:72:00:00:01.0 vm1 >/dev/null || not_ok "attach 1"
vrcctl attach 02:76:72:00:00:02.1 vm1 2 >/dev/null || not_ok "attach 2"
before=$(vrcctl list --json | jq -c '[.endpoints[] | select(.assignment) | .assignment]')
check "two assignments before" [ "$(jq length <<<"$before")" = 2 ]

kill -9 "$CONFIGD_PID"
wait "$CONFIGD_PID" 2>/dev/null
check "configd is gone (kill -9)" bash -c "! \"$VRCCTL\" --socket $SOCK status >/dev/null 2>&1"
cd_configd
after=$(vrcctl list --json | jq -c '[.endpoints[] | select(.assignment) | .assignment]')
check "after kill -9 and a restart every assignment is still there" \
    [ "$after" = "$before" ]
check "the endpoints are rediscovered" wait_for 10 count_is up 6
check "the VM is known but gone until it registers again" \
    [ "$(vrcctl vms --json | jq -r '.vms[0].state')" = gone ]

# The endpoint host restarts: its functions forget (generation 0) and
# configd assigns them again with the stored generation.
kill -9 "$EPS"
wait "$EPS" 2>/dev/null
cd_epsim eps2 -n 3 -f 2 --interval 200
check "a restarted endpoint is given its assignment again" \
    wait_for 10 field_is 02:76:72:00:00:02.1 '"\(.owner.rc_id) \(.generation) \(.owner.bdf)"' "1 1 03:00.0"
check "...by an ASSIGN that the restarted endpoint took (2 functions)" \
    wait_for 5 bash -c "kill -USR1 $EPSIM_PID; grep -q 'assign=2 ' '$tmp/epsim-eps2.log'"
check "...both of them" \
    wait_for 5 field_is 02:76:72:00:00:01.0 '"\(.owner.rc_id) \(.generation)"' "1 1"
check "detach after the restarts works" quiet vrcctl detach 02:76:72:00:00:01.0
cd_done
