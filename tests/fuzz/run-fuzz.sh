#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run a fuzz target for a bounded number of executions, starting from the
# inputs of past findings (regress/TARGET/, each named for the bug it found,
# or for the case it covers)
# and, for the decode target, the frames of vrc-pcapgen. Fails on any
# crash, sanitizer report, leak or broken invariant.
# Usage: run-fuzz.sh FUZZER CORPUS_DIR RUNS [PCAPGEN]   (VRC_FUZZ_RUNS overrides RUNS)
set -euo pipefail

fuzzer=${1:?fuzzer}
corpus=${2:?corpus dir}
runs=${VRC_FUZZ_RUNS:-${3:?runs}}
pcapgen=${4:-}
target=$(basename "$fuzzer")
target=${target#fuzz-}
target=${target%-keyed}         # link-keyed starts from link's findings
regress=$(cd "$(dirname "$0")" && pwd)/regress/$target

mkdir -p "$corpus" "$corpus.seeds" "$corpus.findings"
if [ -n "$pcapgen" ]; then
    "$pcapgen" "$corpus.seeds/frames.pcap" >/dev/null
    # One seed per frame, mode byte 0 (as received) and 1 (CRC fixed up),
# and 0x80/0x81 (keyed: seal and open again; open as received).
    python3 - "$corpus.seeds/frames.pcap" "$corpus.seeds" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
off, i = 24, 0
while off + 16 <= len(data):
    incl = struct.unpack_from('<I', data, off + 8)[0]
    frame = data[off + 16: off + 16 + incl]
    for mode in (0, 1):
        open(f"{sys.argv[2]}/seed-{i:03d}-{mode}", 'wb').write(bytes([mode]) + frame)
    for mode in (0x80, 0x81):
        open(f"{sys.argv[2]}/seed-{i:03d}-{mode:x}", 'wb').write(bytes([mode, i]) + frame)
    off += 16 + incl
    i += 1
PY
    rm -f "$corpus.seeds/frames.pcap"
fi
exec "$fuzzer" -runs="$runs" -max_len=9100 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$corpus.findings/" \
    -print_final_stats=1 "$corpus" "$corpus.seeds" "$regress"
