/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc-dma-bench: a PCI function whose only job is to move blocks of guest
 * memory, so that `make bench` can time DMA by itself.  Hosted on the
 * endpoint, its DMA crosses the link as MRd/MWr TLPs; plugged into a VM
 * directly, the same device gives the local figure to compare with.
 *
 * BAR0, 4 KiB of 32-bit little-endian registers:
 *   0x00 ID      RO  0x76726364 ("vrcd")
 *   0x04 STATUS  RO  bit 0: a run is in progress; bit 1: the last run failed
 *   0x08 ADDR    RW  guest address of the buffer, low 32 bits
 *   0x0c ADDR_HI RW  high 32 bits
 *   0x10 SIZE    RW  bytes per transfer, 1 .. 1 MiB
 *   0x14 COUNT   RW  transfers per run, at least 1
 *   0x18 CMD     WO  1: read the buffer COUNT times, 2: write it COUNT times
 *                    with the byte in FILL; 3: walk it in small reads: COUNT
 *                    reads of SIZE bytes one after the other from ADDR, all
 *                    in the write itself, as a device reads its ring at a
 *                    doorbell; 4: read
 *                    SIZE bytes, write them with FILL and read them back, in
 *                    one bottom half; starts a run
 *   0x1c SUM     RO  sum of the bytes the last transfer of a read run got
 *                    (walk: of all the reads; 4: of the read back)
 *   0x20 NS      RO  length of the last run in ns on the host clock, low
 *   0x24 NS_HI   RO  high 32 bits
 *   0x28 FILL    RW  byte that write runs store
 *   0x2c TAIL    WO  a transmit ring's doorbell, as a NIC's: writing v
 *                    reads descriptor (v - 1) mod COUNT of the ring at
 *                    ADDR, 16 bytes { buffer address (8), length (2) },
 *                    then its buffer (at most 4 KiB), in the write itself;
 *                    SUM then holds the sum of the buffer's bytes
 *   0x100..0x1fc SCRATCH  RW  64 registers that hold what is written, also
 *                    during a run: for tests that several CPUs write and
 *                    read back at once, each its own
 *
 * One transfer is one pci_dma_read()/pci_dma_write() of SIZE bytes.  A run
 * does one transfer per bottom half, so the device answers register reads
 * (STATUS polls) between transfers.  A write run ends with a one-DW read of
 * the buffer, as drivers flush posted writes: its completion cannot pass
 * them, so the time includes their delivery.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qemu/units.h"
#include "hw/pci/pci_device.h"
#include "trace.h"

#define TYPE_VRC_DMA_BENCH "vrc-dma-bench"
OBJECT_DECLARE_SIMPLE_TYPE(VRCDmaBench, VRC_DMA_BENCH)

#define DB_ID           0x76726364
#define DB_MAX_SIZE     (1 * MiB)
#define DB_SCRATCH      0x100
#define DB_NR_SCRATCH   64

enum {
    DB_REG_ID = 0x00, DB_REG_STATUS = 0x04, DB_REG_ADDR = 0x08,
    DB_REG_ADDR_HI = 0x0c, DB_REG_SIZE = 0x10, DB_REG_COUNT = 0x14,
    DB_REG_CMD = 0x18, DB_REG_SUM = 0x1c, DB_REG_NS = 0x20,
    DB_REG_NS_HI = 0x24, DB_REG_FILL = 0x28, DB_REG_TAIL = 0x2c,
};
#define DB_TX_MAX       (4 * KiB)

enum {
    DB_CMD_READ = 1, DB_CMD_WRITE = 2, DB_CMD_WALK = 3, DB_CMD_WRITE_READ = 4,
};
enum { DB_STATUS_BUSY = 1, DB_STATUS_FAILED = 2 };

struct VRCDmaBench {
    PCIDevice parent_obj;
    MemoryRegion bar;
    QEMUBH *bh;
    uint8_t *buf;

    uint64_t addr;
    uint32_t size, count, fill, status, sum;
    uint32_t cmd, done;         /* the run in progress */
    int64_t start_ns, ns;
    uint32_t scratch[DB_NR_SCRATCH];
};

static bool db_is_scratch(hwaddr addr)
{
    return addr >= DB_SCRATCH && addr < DB_SCRATCH + DB_NR_SCRATCH * 4;
}

/* Stop the clock.  The run is done (STATUS) once db_step returns. */
static void db_finish(VRCDmaBench *s, bool ok)
{
    s->ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - s->start_ns;
    s->status = ok ? 0 : DB_STATUS_FAILED;
    trace_vrc_dma_bench_done(s->cmd, s->size, s->done, s->ns);
}

/*
 * The sum of @len bytes at @p, eight at a time (the check must not weigh
 * in the CPU per GB the benchmark reports): each word adds its bytes in
 * pairs into four 16-bit lanes, at most 510 a word, so 128 words fit
 * before the lanes are folded.
 */
static uint32_t byte_sum(const uint8_t *p, uint32_t len)
{
    const uint64_t m = 0x00ff00ff00ff00ffull;
    uint32_t sum = 0, i = 0;

    while (len - i >= 8) {
        uint64_t acc = 0;

        for (unsigned n = 0; n < 128 && len - i >= 8; n++, i += 8) {
            uint64_t w;

            memcpy(&w, p + i, sizeof(w));
            acc += (w & m) + ((w >> 8) & m);
        }
        sum += (acc & 0xffff) + ((acc >> 16) & 0xffff) +
               ((acc >> 32) & 0xffff) + (acc >> 48);
    }
    for (; i < len; i++) {
        sum += p[i];
    }
    return sum;
}

static void db_step(void *opaque)
{
    VRCDmaBench *s = opaque;
    PCIDevice *pdev = PCI_DEVICE(s);
    MemTxResult r;

    if (!(s->status & DB_STATUS_BUSY)) {
        return;
    }
    if (s->cmd == DB_CMD_WALK) {
        for (uint32_t i = 0; i < s->count; i++) {
            if (pci_dma_read(pdev, s->addr + (uint64_t)i * s->size, s->buf,
                             s->size) != MEMTX_OK) {
                db_finish(s, false);
                return;
            }
            s->sum += byte_sum(s->buf, s->size);
        }
        db_finish(s, true);
        return;
    }
    if (s->cmd == DB_CMD_WRITE_READ) {
        bool ok = pci_dma_read(pdev, s->addr, s->buf, s->size) == MEMTX_OK;

        memset(s->buf, s->fill, s->size);
        ok = ok && pci_dma_write(pdev, s->addr, s->buf, s->size) == MEMTX_OK;
        memset(s->buf, 0, s->size);
        ok = ok && pci_dma_read(pdev, s->addr, s->buf, s->size) == MEMTX_OK;
        s->sum += ok ? byte_sum(s->buf, s->size) : 0;
        db_finish(s, ok);
        return;
    }
    if (s->cmd == DB_CMD_READ) {
        r = pci_dma_read(pdev, s->addr, s->buf, s->size);
    } else {
        r = pci_dma_write(pdev, s->addr, s->buf, s->size);
    }
    if (r != MEMTX_OK) {
        db_finish(s, false);
        return;
    }
    if (++s->done < s->count) {
        qemu_bh_schedule(s->bh);
        return;
    }
    if (s->cmd == DB_CMD_WRITE) {
        uint32_t flush;

        if (pci_dma_read(pdev, s->addr, &flush, sizeof(flush)) != MEMTX_OK) {
            db_finish(s, false);
            return;
        }
    }
    db_finish(s, true);
    if (s->cmd == DB_CMD_READ) {
        /* Off the clock: what the last transfer got, for checking. */
        s->sum += byte_sum(s->buf, s->size);
    }
}

/* A transmit doorbell: the descriptor before @tail, then its buffer. */
static void db_tail(VRCDmaBench *s, uint32_t tail)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t desc[16];
    uint64_t buf;
    uint32_t len;

    if (!s->count) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: no ring (COUNT 0)\n", __func__);
        s->status = DB_STATUS_FAILED;
        return;
    }
    s->sum = 0;
    s->status = DB_STATUS_FAILED;
    if (pci_dma_read(pdev, s->addr + 16ull * ((tail + s->count - 1) % s->count),
                     desc, sizeof(desc)) != MEMTX_OK) {
        return;
    }
    buf = ldq_le_p(desc);
    len = lduw_le_p(desc + 8);
    if (len > DB_TX_MAX) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: buffer of %u bytes\n", __func__,
                      len);
        return;
    }
    if (pci_dma_read(pdev, buf, s->buf, len) != MEMTX_OK) {
        return;
    }
    s->sum = byte_sum(s->buf, len);
    s->status = 0;
}

static void db_start(VRCDmaBench *s, uint32_t cmd)
{
    if (s->status & DB_STATUS_BUSY) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: command while busy\n", __func__);
        return;
    }
    if (cmd < DB_CMD_READ || cmd > DB_CMD_WRITE_READ || !s->size ||
        s->size > DB_MAX_SIZE || !s->count ||
        (cmd == DB_CMD_WALK && (uint64_t)s->size * s->count > DB_MAX_SIZE)) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: bad command %u size %u count %u\n",
                      __func__, cmd, s->size, s->count);
        s->status = DB_STATUS_FAILED;
        return;
    }
    s->cmd = cmd;
    s->done = 0;
    s->sum = 0;
    if (cmd == DB_CMD_WRITE) {
        memset(s->buf, s->fill, s->size);
    }
    s->status = DB_STATUS_BUSY;
    s->start_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (cmd == DB_CMD_WALK) {
        db_step(s);
        return;
    }
    qemu_bh_schedule(s->bh);
}

static uint64_t db_read(void *opaque, hwaddr addr, unsigned size)
{
    VRCDmaBench *s = opaque;

    if (db_is_scratch(addr)) {
        return s->scratch[(addr - DB_SCRATCH) / 4];
    }
    switch (addr) {
    case DB_REG_ID:      return DB_ID;
    case DB_REG_STATUS:  return s->status;
    case DB_REG_ADDR:    return (uint32_t)s->addr;
    case DB_REG_ADDR_HI: return s->addr >> 32;
    case DB_REG_SIZE:    return s->size;
    case DB_REG_COUNT:   return s->count;
    case DB_REG_SUM:     return s->sum;
    case DB_REG_NS:      return (uint32_t)s->ns;
    case DB_REG_NS_HI:   return (uint64_t)s->ns >> 32;
    case DB_REG_FILL:    return s->fill;
    default:             return 0;
    }
}

static void db_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    VRCDmaBench *s = opaque;

    if (db_is_scratch(addr)) {
        s->scratch[(addr - DB_SCRATCH) / 4] = val;
        return;
    }
    if (s->status & DB_STATUS_BUSY && addr != DB_REG_CMD) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: register 0x%" HWADDR_PRIx
                      " written during a run\n", __func__, addr);
        return;
    }
    switch (addr) {
    case DB_REG_ADDR:    s->addr = deposit64(s->addr, 0, 32, val); break;
    case DB_REG_ADDR_HI: s->addr = deposit64(s->addr, 32, 32, val); break;
    case DB_REG_SIZE:    s->size = val; break;
    case DB_REG_COUNT:   s->count = val; break;
    case DB_REG_CMD:     db_start(s, val); break;
    case DB_REG_FILL:    s->fill = val & 0xff; break;
    case DB_REG_TAIL:    db_tail(s, val); break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "%s: write to read-only 0x%" HWADDR_PRIx
                      "\n", __func__, addr);
        break;
    }
}

static const MemoryRegionOps db_ops = {
    .read = db_read,
    .write = db_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

static void db_realize(PCIDevice *pdev, Error **errp)
{
    VRCDmaBench *s = VRC_DMA_BENCH(pdev);

    s->buf = g_malloc0(DB_MAX_SIZE);
    s->bh = qemu_bh_new_guarded(db_step, s,
                                &DEVICE(pdev)->mem_reentrancy_guard);
    memory_region_init_io(&s->bar, OBJECT(s), &db_ops, s, "vrc-dma-bench",
                          4 * KiB);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY, &s->bar);
}

static void db_exit(PCIDevice *pdev)
{
    VRCDmaBench *s = VRC_DMA_BENCH(pdev);

    qemu_bh_delete(s->bh);
    g_free(s->buf);
}

static void db_reset(DeviceState *dev)
{
    VRCDmaBench *s = VRC_DMA_BENCH(dev);

    s->addr = 0;
    s->size = s->count = s->fill = s->status = s->sum = 0;
    s->ns = 0;
    memset(s->scratch, 0, sizeof(s->scratch));
}

static void db_class_init(ObjectClass *oc, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(oc);

    k->realize = db_realize;
    k->exit = db_exit;
    k->vendor_id = PCI_VENDOR_ID_QEMU;
    k->device_id = 0x11f0;
    k->class_id = PCI_CLASS_OTHERS;
    device_class_set_legacy_reset(dc, db_reset);
    dc->desc = "DMA engine that moves blocks of guest memory, "
               "for vrc benchmarks";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo db_info = {
    .name = TYPE_VRC_DMA_BENCH,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(VRCDmaBench),
    .class_init = db_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { }
    },
};

static void db_register_types(void)
{
    type_register_static(&db_info);
}

type_init(db_register_types)
