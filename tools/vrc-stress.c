/* SPDX-License-Identifier: MIT */
/*
 * vrc-stress: several CPUs of a guest drive one PCI function at once, with
 * values they can check, while the function does DMA.  Made for
 * vrc-dma-bench behind a vrc port: a lost write, a wrong read or a refused
 * access shows up as a mismatch.  Runs inside the guest, as root, with
 * nothing but sysfs and /proc; build it static:  gcc -O2 -static -pthread
 *
 * Each of --threads workers (default: one per online CPU), pinned to a CPU
 * of its own, owns some of the device's 64 scratch registers (BAR0 +
 * 0x100).  --iterations times it writes each of them a value made from its
 * number and the iteration, reads it back and compares, reads the ID
 * register, and every 8th iteration reads the vendor and device IDs of the
 * function and of another device (the host bridge, 0000:00:00.0) through
 * /sys/.../config: config reads through the kernel, which must not fail or
 * wait on one another.
 * Meanwhile one more thread keeps the device's DMA engine busy: write runs
 * that fill a page of guest memory with a byte (checked afterwards), and
 * read runs of a page of known content (the device's byte sum checked).
 *
 *   vrc-stress [--device=1234:11f0] [--threads=N] [--iterations=1000]
 *
 * Prints one JSON line and exits 0 only if every check held:
 *   {"threads":4,"iterations":1000,"mmio_writes":..,"mmio_reads":..,
 *    "cfg_reads":..,"dma_runs":..,"errors":0,"seconds":..}
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PROG            "vrc-stress"
#define SYSFS           "/sys/bus/pci/devices"

/* vrc-dma-bench's registers (hw/vrc/dma-bench.c). */
#define DB_ID           0x76726364u
#define REG_ID          0x00
#define REG_STATUS      0x04
#define REG_ADDR        0x08
#define REG_ADDR_HI     0x0c
#define REG_SIZE        0x10
#define REG_COUNT       0x14
#define REG_CMD         0x18
#define REG_SUM         0x1c
#define REG_FILL        0x28
#define REG_SCRATCH     0x100
#define NR_SCRATCH      64
#define CMD_READ        1
#define CMD_WRITE       2
#define STATUS_BUSY     1
#define STATUS_FAILED   2

#define PAGE            4096u
#define MAX_THREADS     64

static char bdf[256];
static const char other_bdf[] = "0000:00:00.0";
static uint32_t other_ids;
static unsigned vendor = 0x1234, device = 0x11f0;
static volatile uint32_t *bar;
static unsigned long errors;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile bool workers_done;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                     noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* Count a failed check; the first few are described on stderr. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&err_lock);
    if (errors++ < 10) {
        va_start(ap, fmt);
        fprintf(stderr, PROG ": mismatch: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    pthread_mutex_unlock(&err_lock);
}

static uint32_t rd(unsigned off)
{
    return bar[off / 4];
}

static void wr(unsigned off, uint32_t v)
{
    bar[off / 4] = v;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned read_hex_file(const char *dir, const char *file)
{
    char path[512], buf[32];
    FILE *f;
    unsigned v = 0;

    snprintf(path, sizeof(path), SYSFS "/%s/%s", dir, file);
    f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof(buf), f)) {
        die("cannot read %s: %s", path, strerror(errno));
    }
    fclose(f);
    sscanf(buf, "%x", &v);
    return v;
}

static void find_device(void)
{
    DIR *d = opendir(SYSFS);
    struct dirent *e;

    if (!d) {
        die("cannot open " SYSFS ": %s", strerror(errno));
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (read_hex_file(e->d_name, "vendor") == vendor &&
            read_hex_file(e->d_name, "device") == device) {
            snprintf(bdf, sizeof(bdf), "%s", e->d_name);
            break;
        }
    }
    closedir(d);
    if (!bdf[0]) {
        die("no device %04x:%04x", vendor, device);
    }
}

static int open_path(const char *dev, const char *file, int flags)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), SYSFS "/%s/%s", dev, file);
    fd = open(path, flags);
    if (fd < 0) {
        die("cannot open %s: %s", path, strerror(errno));
    }
    return fd;
}

static int open_dev(const char *file, int flags)
{
    return open_path(bdf, file, flags);
}

/* Memory decoding and Bus Master Enable on, through sysfs. */
static void enable_device(void)
{
    int fd = open_dev("enable", O_WRONLY);
    uint16_t cmd;

    if (write(fd, "1", 1) != 1 && errno != EBUSY) {
        die("cannot enable %s: %s", bdf, strerror(errno));
    }
    close(fd);
    fd = open_dev("config", O_RDWR);
    if (pread(fd, &cmd, 2, 4) != 2) {
        die("cannot read the command register: %s", strerror(errno));
    }
    cmd |= 0x6;
    if (pwrite(fd, &cmd, 2, 4) != 2) {
        die("cannot write the command register: %s", strerror(errno));
    }
    close(fd);
}

/* The physical address of the page at @p (locked), from /proc/self/pagemap. */
static uint64_t phys_addr(void *p)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t ent;

    if (fd < 0 || pread(fd, &ent, 8, (uintptr_t)p / PAGE * 8) != 8) {
        die("cannot read /proc/self/pagemap: %s", strerror(errno));
    }
    close(fd);
    if (!(ent & (1ull << 63)) || !(ent & ((1ull << 55) - 1))) {
        die("page not present, or no PFN in pagemap (not root?)");
    }
    return (ent & ((1ull << 55) - 1)) * PAGE;
}

struct worker {
    pthread_t th;
    unsigned id, nthreads, iterations, cpu;
    unsigned long writes, reads, cfg_reads;
};

static void pin(unsigned cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0) {
        die("cannot pin to CPU %u: %s", cpu, strerror(errno));
    }
}

static void *worker_main(void *opaque)
{
    struct worker *w = opaque;
    int cfg = open_dev("config", O_RDONLY);
    int other = open_path(other_bdf, "config", O_RDONLY);
    uint32_t want_ids = (uint32_t)device << 16 | vendor;

    pin(w->cpu);
    for (unsigned it = 0; it < w->iterations; it++) {
        for (unsigned r = w->id; r < NR_SCRATCH; r += w->nthreads) {
            uint32_t v = (w->id << 24) ^ (it * 2654435761u) ^ (r << 16) ^ r;
            uint32_t got;

            wr(REG_SCRATCH + r * 4, v);
            w->writes++;
            got = rd(REG_SCRATCH + r * 4);
            w->reads++;
            if (got != v) {
                fail("thread %u scratch %u: wrote 0x%08x, read 0x%08x",
                     w->id, r, v, got);
            }
        }
        if (rd(REG_ID) != DB_ID) {
            fail("thread %u: ID register wrong", w->id);
        }
        w->reads++;
        if (it % 8 == 0) {
            uint32_t ids = 0;

            if (pread(cfg, &ids, 4, 0) != 4 || ids != want_ids) {
                fail("thread %u: config IDs 0x%08x, want 0x%08x", w->id, ids,
                     want_ids);
            }
            if (pread(other, &ids, 4, 0) != 4 || ids != other_ids) {
                fail("thread %u: %s config IDs 0x%08x, want 0x%08x", w->id,
                     other_bdf, ids, other_ids);
            }
            w->cfg_reads += 2;
        }
    }
    close(cfg);
    close(other);
    return NULL;
}

/* Wait for the end of a DMA run; false if it failed or never ended. */
static bool dma_wait(void)
{
    double end = now_s() + 30;
    uint32_t st;

    while ((st = rd(REG_STATUS)) & STATUS_BUSY) {
        if (now_s() > end) {
            fail("DMA run did not end within 30 s");
            return false;
        }
    }
    if (st & STATUS_FAILED) {
        fail("DMA run failed (status 0x%x)", st);
        return false;
    }
    return true;
}

/* Keep the DMA engine busy until the workers are done. */
static unsigned long dma_loop(volatile uint8_t *buf, uint64_t pa)
{
    unsigned long runs = 0;

    wr(REG_ADDR, (uint32_t)pa);
    wr(REG_ADDR_HI, pa >> 32);
    wr(REG_SIZE, PAGE);
    wr(REG_COUNT, 16);
    while (!workers_done) {
        uint8_t fill = (uint8_t)(runs * 37 + 1);
        uint32_t sum = 0;

        /* Write run: the device fills the page. */
        wr(REG_FILL, fill);
        wr(REG_CMD, CMD_WRITE);
        if (!dma_wait()) {
            break;
        }
        for (unsigned i = 0; i < PAGE; i++) {
            if (buf[i] != fill) {
                fail("DMA write run %lu: byte %u is 0x%02x, want 0x%02x",
                     runs, i, buf[i], fill);
                break;
            }
        }
        /* Read run: the device reads a page we wrote. */
        for (unsigned i = 0; i < PAGE; i++) {
            buf[i] = (uint8_t)(i * 7 + runs);
            sum += (uint8_t)(i * 7 + runs);
        }
        __sync_synchronize();
        wr(REG_CMD, CMD_READ);
        if (!dma_wait()) {
            break;
        }
        if (rd(REG_SUM) != sum) {
            fail("DMA read run %lu: sum 0x%x, want 0x%x", runs,
                 rd(REG_SUM), sum);
        }
        runs++;
    }
    return runs;
}

struct join_arg {
    struct worker *w;
    unsigned n;
};

/* Wait for the workers, then stop the DMA loop. */
static void *join_workers(void *opaque)
{
    struct join_arg *a = opaque;

    for (unsigned i = 0; i < a->n; i++) {
        pthread_join(a->w[i].th, NULL);
    }
    workers_done = true;
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [--device=VVVV:DDDD] [--threads=N] "
            "[--iterations=N]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "device", required_argument, NULL, 'd' },
        { "threads", required_argument, NULL, 't' },
        { "iterations", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned nthreads = sysconf(_SC_NPROCESSORS_ONLN), iterations = 1000;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct worker w[MAX_THREADS];
    unsigned long writes = 0, reads = 0, cfg_reads = 0, runs;
    volatile uint8_t *buf;
    struct join_arg jw = { w, 0 };
    pthread_t joiner;
    double t0;
    int opt, fd;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            if (sscanf(optarg, "%x:%x", &vendor, &device) != 2) {
                die("--device takes VVVV:DDDD");
            }
            break;
        case 't':
            nthreads = strtoul(optarg, NULL, 0);
            break;
        case 'i':
            iterations = strtoul(optarg, NULL, 0);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (nthreads < 1 || nthreads > MAX_THREADS || !iterations) {
        die("--threads takes 1..%d, --iterations at least 1", MAX_THREADS);
    }
    find_device();
    enable_device();
    other_ids = read_hex_file(other_bdf, "device") << 16 |
                read_hex_file(other_bdf, "vendor");
    fd = open_dev("resource0", O_RDWR | O_SYNC);
    bar = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (bar == MAP_FAILED) {
        die("cannot map BAR0 of %s: %s", bdf, strerror(errno));
    }
    if (rd(REG_ID) != DB_ID) {
        die("%s is not a vrc-dma-bench (ID 0x%08x)", bdf, rd(REG_ID));
    }
    buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    if (buf == MAP_FAILED) {
        die("cannot allocate a locked page: %s", strerror(errno));
    }
    memset((void *)buf, 0, PAGE);

    t0 = now_s();
    for (unsigned i = 0; i < nthreads; i++) {
        w[i] = (struct worker) {
            .id = i, .nthreads = nthreads, .iterations = iterations,
            .cpu = i % ncpu,
        };
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i])) {
            die("cannot start thread %u", i);
        }
    }
    jw.n = nthreads;
    /* This thread drives the DMA engine until the joiner says the workers
     * are done; it is free to run on any CPU. */
    if (pthread_create(&joiner, NULL, join_workers, &jw)) {
        die("cannot start a thread");
    }
    runs = dma_loop(buf, phys_addr((void *)buf));
    pthread_join(joiner, NULL);
    for (unsigned i = 0; i < nthreads; i++) {
        writes += w[i].writes;
        reads += w[i].reads;
        cfg_reads += w[i].cfg_reads;
    }
    printf("{\"bdf\":\"%s\",\"threads\":%u,\"iterations\":%u,"
           "\"mmio_writes\":%lu,\"mmio_reads\":%lu,\"cfg_reads\":%lu,"
           "\"dma_runs\":%lu,\"errors\":%lu,\"seconds\":%.2f}\n",
           bdf, nthreads, iterations, writes, reads, cfg_reads, runs, errors,
           now_s() - t0);
    if (!runs) {
        fprintf(stderr, PROG ": no DMA run completed while the CPUs worked\n");
        return 1;
    }
    return errors ? 1 : 0;
}
