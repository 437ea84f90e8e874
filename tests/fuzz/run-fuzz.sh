#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run the decode fuzz target for a bounded number of executions, seeded with
# the frames of vrc-pcapgen and the inputs of past findings (regress/, each
# named for the bug it found). Fails on any crash, sanitizer report or leak.
# Usage: run-fuzz.sh FUZZER PCAPGEN CORPUS_DIR [RUNS]
set -euo pipefail

fuzzer=${1:?fuzzer}
pcapgen=${2:?pcapgen}
corpus=${3:?corpus dir}
runs=${4:-${VRC_FUZZ_RUNS:-2000000}}

mkdir -p "$corpus" "$corpus.seeds" "$corpus.findings"
"$pcapgen" "$corpus.seeds/frames.pcap" >/dev/null
# Split the pcap into one seed per frame, mode byte 0 (as received) and 1 (CRC fixed up).
python3 - "$corpus.seeds/frames.pcap" "$corpus.seeds" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
off, i = 24, 0
while off + 16 <= len(data):
    incl = struct.unpack_from('<I', data, off + 8)[0]
    frame = data[off + 16: off + 16 + incl]
    for mode in (0, 1):
        open(f"{sys.argv[2]}/seed-{i:03d}-{mode}", 'wb').write(bytes([mode]) + frame)
    off += 16 + incl
    i += 1
PY
exec "$fuzzer" -runs="$runs" -max_len=9100 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$corpus.findings/" \
    -print_final_stats=1 "$corpus" "$corpus.seeds" "$(dirname "$0")/regress"
