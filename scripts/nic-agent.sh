# SPDX-License-Identifier: GPL-2.0-or-later
# Runs inside a test guest (busybox sh, via guest-run.sh): every NIC that
# appears gets 10.0.K.15/24, K being the last byte of its MAC (so the
# endpoint it came from: the endpoints' NICs have MAC 52:54:00:00:00:0K
# and a user network 10.0.K.0/24), and moves a file from 10.0.K.2:5555
# again and again.  It prints VRC-AGENT when it starts, VRC-NIC-UP epK /
# VRC-NIC-GONE epK when a NIC comes and goes, and VRC-XFER epK SHA256 per
# transfer (VRC-NOXFER and why, when one fails).  It never ends.
echo VRC-AGENT
seen=
while :; do
 now=
 for n in $(ls /sys/class/net); do
  [ $n = lo ] && continue
  i=$(cat /sys/class/net/$n/ifindex 2>/dev/null) || continue
  a=$(cut -d: -f6 /sys/class/net/$n/address 2>/dev/null) || continue
  [ -n "$i" ] && [ -n "$a" ] || continue; k=$((0x$a))
  now="$now $i"
  case " $seen " in *" $i "*) ;; *)
   echo $k > /tmp/k$i; ip link set $n up; ip addr add 10.0.$k.15/24 dev $n
   echo "VRC-NIC-UP ep$k";; esac
  nc 10.0.$k.2 5555 > /tmp/f$k 2>/dev/null & p=$!
  ( sleep 30; kill $p 2>/dev/null ) & w=$!
  if wait $p; then echo "VRC-XFER ep$k $(sha256sum < /tmp/f$k | cut -c1-64)"
  else echo "VRC-NOXFER ep$k $n carrier=$(cat /sys/class/net/$n/carrier) $(ip -4 addr show dev $n | grep -o "inet [0-9./]*") $(ping -c1 -W1 10.0.$k.2 | grep -o "[0-9]* packets received")"; fi
  kill $w 2>/dev/null
 done
 for i in $seen; do case " $now " in *" $i "*) ;; *) echo "VRC-NIC-GONE ep$(cat /tmp/k$i)";; esac; done
 seen=$now; sleep 0.3
done
