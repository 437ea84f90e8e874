# SPDX-License-Identifier: GPL-2.0-or-later
# One Ethernet segment of our own for configd with real VMs and endpoints:
# three network namespaces, NAME-vm (VM host: an interface per VM and one
# for configd), NAME-ep (endpoint host: an interface per endpoint) and
# NAME-br (the bridge all of them plug into).  Source it (after
# scripts/netns.sh, whose vrc_netns_down removes the namespaces), then:
#   seg_up NAME "vm1 vm2 cd" "ep1 ep2"   sets VM_NS, EP_NS, MID_NS
#   seg_mac IF NS                        an interface's MAC
#   seg_file_server FILE                 serves FILE on 127.0.0.1:5555 in
#                                        EP_NS, where the endpoints' user
#                                        networks lead; prints its pid
#   seg_endpoint K WORK [OPTS] [QEMU ARGS...]
#       a vrc-endpoint on interface epK hosting an e1000e with MAC
#       52:54:00:00:00:0K and user network 10.0.K.0/24 (scripts/nic-agent.sh
#       in a guest finds it by that); QMP at WORK/epK.qmp, log WORK/epK.log;
#       OPTS go to -machine vrc-endpoint; sets SEG_PID
#   seg_vm NAME SLOTS WORK CONFIGD_SOCKET [QEMU ARGS...]
#       a guest running scripts/nic-agent.sh with SLOTS vrc slots on
#       interface NAME filled by configd; QMP at WORK/NAME.qmp, console in
#       WORK/NAME.log; sets SEG_PID
seg_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

seg_up() {
    local ifn ns
    VM_NS=$1-vm EP_NS=$1-ep MID_NS=$1-br
    ip netns add "$VM_NS" && ip netns add "$EP_NS" && ip netns add "$MID_NS" || return 1
    for ns in "$VM_NS" "$EP_NS" "$MID_NS"; do
        ip -n "$ns" link set lo up      # user networks reach servers there
    done
    ip -n "$MID_NS" link add br0 type bridge
    ip -n "$MID_NS" link set br0 up
    for ifn in $2; do seg_plug "$ifn" "$VM_NS"; done
    for ifn in $3; do seg_plug "$ifn" "$EP_NS"; done
    export VM_NS EP_NS MID_NS
}

seg_plug() {
    ip link add "$1" netns "$2" type veth peer name "b-$1" netns "$MID_NS"
    ip -n "$MID_NS" link set "b-$1" master br0 up
    ip -n "$2" link set "$1" up
    ip netns exec "$2" sysctl -qw net.ipv6.conf."$1".disable_ipv6=1
}

seg_mac() { ip netns exec "$2" cat /sys/class/net/"$1"/address; }

seg_file_server() {
    ip netns exec "$EP_NS" python3 -c '
import socket, sys, threading
data = open(sys.argv[1], "rb").read()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 5555)); s.listen(16)
def serve(c):
    try:
        c.sendall(data)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$1" > /dev/null 2>&1 &
    echo $!
}

seg_endpoint() {
    local k=$1 work=$2 opts=${3:-}
    shift 3 2>/dev/null || shift $#
    ip netns exec "$EP_NS" "$seg_top/build/qemu-system-x86_64" \
        -machine vrc-endpoint,ifname=ep$k$opts -nodefaults -display none \
        -monitor none -qmp unix:"$work/ep$k.qmp",server=on,wait=off "$@" \
        -device e1000e,netdev=n0,romfile=,mac=52:54:00:00:00:0$k \
        -netdev user,id=n0,net=10.0.$k.0/24 >> "$work/ep$k.log" 2>&1 &
    SEG_PID=$!
}

seg_vm() {
    local name=$1 slots=$2 work=$3 sock=$4 devs=() s
    shift 4
    for s in $(seq 0 $((slots - 1))); do
        devs+=(-device "vrc,id=s$s,ifname=$name,configd=$sock,chassis=$((s + 1))$SEG_VRC_OPTS")
    done
    VRC_NETNS=$VM_NS VRC_GUEST_TIMEOUT=${VRC_GUEST_TIMEOUT:-900} \
        bash "$seg_top/scripts/guest-run.sh" "$(grep -v '^#' "$seg_top/scripts/nic-agent.sh")" \
        -name "$name" -qmp unix:"$work/$name.qmp",server=on,wait=off "$@" "${devs[@]}" \
        > "$work/$name.log" 2>&1 &
    SEG_PID=$!
}
SEG_VRC_OPTS=${SEG_VRC_OPTS:-}
