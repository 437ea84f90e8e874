# SPDX-License-Identifier: GPL-2.0-or-later
# Two "hosts" on one machine: network namespaces joined by a veth pair.
# Source this file; it defines:
#   vrc_netns_up NAME      create ${NAME}-vm and ${NAME}-ep, joined by veth
#                          vrc-vm <-> vrc-ep, up, MTU $VRC_MTU (default 1500);
#                          sets VM_NS, EP_NS, VM_IF, EP_IF, VM_MAC, EP_MAC
#   vrc_netns_up_relay NAME
#                          the same two ends with a third namespace between
#                          them: ${NAME}-vm (vrc-vm) <-> (m-vm) ${NAME}-mid
#                          (m-ep) <-> (vrc-ep) ${NAME}-ep.  Nothing crosses
#                          the middle until something relays it there
#                          (tools/vrc-relay).  Sets the same variables as
#                          vrc_netns_up plus MID_NS, MID_VM_IF, MID_EP_IF
#   vrc_netns_down         delete them (idempotent; safe from a trap)
#   vrc_netns_probe [NAME] fail loudly if namespaces cannot be made here
#                          (tries one named NAME, default vrcprobe<pid>)
# Only these namespaces ever carry the project's test traffic.

vrc_netns_probe() {
    if [ "$(id -u)" != 0 ]; then
        echo "netns: root is needed to create network namespaces" >&2
        return 1
    fi
    local probe=${1:-vrcprobe$$}
    if ! ip netns add "$probe" 2>/dev/null; then
        echo "netns: 'ip netns add' does not work on this machine" >&2
        return 1
    fi
    ip netns del "$probe"
}

vrc_netns_up() {
    local name=${1:?name}
    VM_NS="${name}-vm"
    EP_NS="${name}-ep"
    VM_IF=vrc-vm
    EP_IF=vrc-ep
    vrc_netns_down
    ip netns add "$VM_NS"
    ip netns add "$EP_NS"
    ip link add "$VM_IF" netns "$VM_NS" type veth peer name "$EP_IF" netns "$EP_NS"
    for ns in "$VM_NS" "$EP_NS"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$VM_NS" link set "$VM_IF" mtu "${VRC_MTU:-1500}" up
    ip -n "$EP_NS" link set "$EP_IF" mtu "${VRC_MTU:-1500}" up
    VM_MAC=$(ip netns exec "$VM_NS" cat /sys/class/net/"$VM_IF"/address)
    EP_MAC=$(ip netns exec "$EP_NS" cat /sys/class/net/"$EP_IF"/address)
    export VM_NS EP_NS VM_IF EP_IF VM_MAC EP_MAC
}

vrc_netns_up_relay() {
    local name=${1:?name} mtu=${VRC_MTU:-1500} ns
    VM_NS="${name}-vm"
    EP_NS="${name}-ep"
    MID_NS="${name}-mid"
    VM_IF=vrc-vm
    EP_IF=vrc-ep
    MID_VM_IF=m-vm
    MID_EP_IF=m-ep
    vrc_netns_down
    ip netns add "$VM_NS" &&
    ip netns add "$MID_NS" &&
    ip netns add "$EP_NS" &&
    ip link add "$VM_IF" netns "$VM_NS" type veth peer name "$MID_VM_IF" netns "$MID_NS" &&
    ip link add "$EP_IF" netns "$EP_NS" type veth peer name "$MID_EP_IF" netns "$MID_NS" ||
        return 1
    for ns in "$VM_NS" "$MID_NS" "$EP_NS"; do
        ip -n "$ns" link set lo up || return 1
    done
    ip -n "$VM_NS" link set "$VM_IF" mtu "$mtu" up &&
    ip -n "$MID_NS" link set "$MID_VM_IF" mtu "$mtu" up &&
    ip -n "$MID_NS" link set "$MID_EP_IF" mtu "$mtu" up &&
    ip -n "$EP_NS" link set "$EP_IF" mtu "$mtu" up || return 1
    VM_MAC=$(ip netns exec "$VM_NS" cat /sys/class/net/"$VM_IF"/address)
    EP_MAC=$(ip netns exec "$EP_NS" cat /sys/class/net/"$EP_IF"/address)
    export VM_NS EP_NS MID_NS VM_IF EP_IF MID_VM_IF MID_EP_IF VM_MAC EP_MAC
}

vrc_netns_down() {
    local ns
    for ns in "${VM_NS:-}" "${MID_NS:-}" "${EP_NS:-}"; do
        if [ -n "$ns" ] && [ -e "/run/netns/$ns" ]; then
            ip netns del "$ns"
        fi
    done
    return 0
}
