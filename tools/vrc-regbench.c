/* SPDX-License-Identifier: MIT */
/*
 * vrc-regbench: measure the round trip of register reads of a PCI device,
 * as the guest sees them.  Runs inside the guest, as root, with nothing but
 * sysfs; build it static:  gcc -O2 -static -Wall -Wextra
 *
 * Two kinds of access are timed, one at a time, each with rdtsc fenced by
 * lfence on both sides:
 *
 *   MMIO read    a volatile 32-bit load from BAR --bar at byte --offset,
 *                through an mmap() of /sys/bus/pci/devices/BDF/resourceN
 *                (O_RDWR | O_SYNC, MAP_SHARED: uncached, every load goes
 *                to the device).
 *   config read  a 4-byte pread() of /sys/bus/pci/devices/BDF/config at
 *                --cfg-offset: a trip through the kernel's config accessors
 *                every time.
 *
 * --warmup untimed accesses come first, then --count timed ones.  TSC ticks
 * are turned into time by calibrating the TSC against CLOCK_MONOTONIC over
 * the whole measuring run (at least CALIB_MIN_NS long).  Under QEMU TCG the
 * guest reads the host's TSC, so this holds there too.
 *
 *   vrc-regbench --device=VVVV:DDDD [--bar=0] [--offset=0x8]
 *                [--cfg-offset=0x0] [--count=2000] [--warmup=100]
 *                [--label=TEXT]
 *   vrc-regbench --bdf=0000:01:00.0 [...]
 *
 * --device takes the first device (in name order) whose vendor and device
 * IDs match.  The result is one JSON line on stdout:
 *
 *   {"label":"remote","bdf":"0000:01:00.0","vendor":"8086","device":"10d3",
 *    "mmio_read_us":{"count":2000,"min":..,"median":..,"p99":..,"max":..,
 *    "mean":..},"cfg_read_us":{...},"tsc_mhz":...}
 *
 * Any error (no such device, open/mmap failure, an offset beyond the
 * resource, MMIO reads that all return 0xffffffff, i.e. the device is gone)
 * is reported on stderr and exits 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef __x86_64__
#error "vrc-regbench reads the TSC: x86_64 only"
#endif

#ifndef PCI_SYSFS_DIR
#define PCI_SYSFS_DIR "/sys/bus/pci/devices"
#endif

#define PROG           "vrc-regbench"
#define MAX_BAR        5
#define MAX_COUNT      10000000u
#define CALIB_MIN_NS   50000000ull      /* shortest calibration window */

struct opts {
    const char *label;
    bool by_id;
    unsigned vendor;
    unsigned device;
    char bdf[64];
    unsigned bar;
    unsigned offset;
    unsigned cfg_offset;
    unsigned count;
    unsigned warmup;
};

struct stats {
    double min, median, p99, max, mean;         /* microseconds */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                     noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/*
 * Read the TSC with lfence on both sides: the first waits for every earlier
 * load (the register read being timed) to complete, the second keeps later
 * instructions from starting before the TSC is read.  The memory clobber
 * keeps the compiler from moving accesses across it.
 */
static inline uint64_t tsc_read(void)
{
    uint32_t lo, hi;

    __asm__ __volatile__("lfence\n\trdtsc\n\tlfence"
                         : "=a"(lo), "=d"(hi) : : "memory");
    return (uint64_t)hi << 32 | lo;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
        die("clock_gettime: %s", strerror(errno));
    }
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* A (TSC, CLOCK_MONOTONIC) pair; the TSC is the midpoint of two reads. */
static void calib_point(uint64_t *tsc, uint64_t *ns)
{
    uint64_t t0, t1;

    t0 = tsc_read();
    *ns = now_ns();
    t1 = tsc_read();
    *tsc = t0 + (t1 - t0) / 2;
}

static bool parse_uint(const char *s, unsigned *v)
{
    char *end;
    unsigned long x;

    errno = 0;
    x = strtoul(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-' || x > UINT_MAX) {
        return false;
    }
    *v = x;
    return true;
}

static bool parse_hex16(const char *s, size_t len, unsigned *v)
{
    char buf[8];
    char *end;
    unsigned long x;

    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        len -= 2;
    }
    if (len == 0 || len > 4) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    x = strtoul(buf, &end, 16);
    if (errno || *end || x > 0xffff) {
        return false;
    }
    *v = x;
    return true;
}

/* VVVV:DDDD, hex, with or without 0x. */
static bool parse_ids(const char *s, unsigned *vendor, unsigned *device)
{
    const char *colon = strchr(s, ':');

    return colon && parse_hex16(s, colon - s, vendor) &&
           parse_hex16(colon + 1, strlen(colon + 1), device);
}

/* DDDD:BB:DD.F, or BB:DD.F meaning domain 0000; lower-cased into @out. */
static bool parse_bdf(const char *s, char *out, size_t outlen)
{
    unsigned dom = 0, bus, dev, fn;
    int n = -1;

    if (sscanf(s, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &n) != 4 ||
        s[n]) {
        n = -1;
        dom = 0;
        if (sscanf(s, "%x:%x.%x%n", &bus, &dev, &fn, &n) != 3 || s[n]) {
            return false;
        }
    }
    if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7) {
        return false;
    }
    return snprintf(out, outlen, "%04x:%02x:%02x.%x", dom, bus, dev, fn) <
           (int)outlen;
}

static void dev_path(char *buf, size_t len, const char *bdf, const char *file)
{
    if (snprintf(buf, len, "%s/%s/%s", PCI_SYSFS_DIR, bdf, file) >=
        (int)len) {
        die("path too long: %s/%s/%s", PCI_SYSFS_DIR, bdf, file);
    }
}

/* Read a sysfs ID file ("0x8086\n"); false if it cannot be read. */
static bool read_id(const char *bdf, const char *file, unsigned *v)
{
    char path[PATH_MAX], buf[32];
    ssize_t n;
    int fd;

    dev_path(path, sizeof(path), bdf, file);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (close(fd) < 0 || n <= 0) {
        return false;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        n--;
    }
    return parse_hex16(buf, n, v);
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* The first device, in name order, with IDs @o->vendor:@o->device. */
static void find_device(struct opts *o)
{
    struct dirent **names;
    unsigned v, d;
    bool found = false;
    int i, n;

    n = scandir(PCI_SYSFS_DIR, &names, skip_dots, name_cmp);
    if (n < 0) {
        die("no such device %04x:%04x: cannot list %s: %s", o->vendor,
            o->device, PCI_SYSFS_DIR, strerror(errno));
    }
    for (i = 0; i < n; i++) {
        if (!found && read_id(names[i]->d_name, "vendor", &v) &&
            read_id(names[i]->d_name, "device", &d) &&
            v == o->vendor && d == o->device &&
            strlen(names[i]->d_name) < sizeof(o->bdf)) {
            strcpy(o->bdf, names[i]->d_name);
            found = true;
        }
        free(names[i]);
    }
    free(names);
    if (!found) {
        die("no such device %04x:%04x in %s", o->vendor, o->device,
            PCI_SYSFS_DIR);
    }
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Sorts @t; @ticks_per_us from the calibration. */
static struct stats compute_stats(uint64_t *t, unsigned n,
                                  double ticks_per_us)
{
    struct stats s;
    double sum = 0;
    size_t p99 = ((size_t)n * 99 + 99) / 100 - 1;   /* ceil(0.99 n) - 1 */
    unsigned i;

    qsort(t, n, sizeof(*t), u64_cmp);
    for (i = 0; i < n; i++) {
        sum += (double)t[i];
    }
    s.min = t[0] / ticks_per_us;
    s.median = (n % 2 ? (double)t[n / 2]
                      : ((double)t[n / 2 - 1] + (double)t[n / 2]) / 2) /
               ticks_per_us;
    s.p99 = t[p99] / ticks_per_us;
    s.max = t[n - 1] / ticks_per_us;
    s.mean = sum / n / ticks_per_us;
    return s;
}

static void bench_mmio(const struct opts *o, uint64_t *t)
{
    char path[PATH_MAX], name[16];
    long page = sysconf(_SC_PAGESIZE);
    volatile const uint32_t *reg;
    struct stat st;
    off_t base;
    uint32_t val;
    bool alive = false;
    unsigned i;
    void *map;
    int fd;

    if (page <= 0) {
        die("sysconf(_SC_PAGESIZE) failed");
    }
    snprintf(name, sizeof(name), "resource%u", o->bar);
    dev_path(path, sizeof(path), o->bdf, name);
    fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
    if (fd < 0) {
        die("open %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        die("stat %s: %s", path, strerror(errno));
    }
    if ((off_t)o->offset + 4 > st.st_size) {
        die("--offset=0x%x is beyond BAR %u of %s (size 0x%jx)", o->offset,
            o->bar, o->bdf, (uintmax_t)st.st_size);
    }
    base = o->offset & ~(off_t)(page - 1);
    map = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, base);
    if (map == MAP_FAILED) {
        die("mmap %s: %s", path, strerror(errno));
    }
    reg = (volatile const uint32_t *)((char *)map + (o->offset - base));

    for (i = 0; i < o->warmup; i++) {
        val = *reg;
        alive |= val != 0xffffffffu;
    }
    for (i = 0; i < o->count; i++) {
        uint64_t t0, t1;

        t0 = tsc_read();
        val = *reg;
        t1 = tsc_read();
        t[i] = t1 - t0;
        alive |= val != 0xffffffffu;
    }
    if (!alive) {
        die("every MMIO read of BAR %u offset 0x%x of %s returned "
            "0xffffffff: the device is gone", o->bar, o->offset, o->bdf);
    }
    if (munmap(map, page) < 0) {
        die("munmap %s: %s", path, strerror(errno));
    }
    if (close(fd) < 0) {
        die("close %s: %s", path, strerror(errno));
    }
}

static void cfg_read(int fd, const char *path, unsigned off)
{
    uint32_t val;
    ssize_t n;

    n = pread(fd, &val, sizeof(val), off);
    if (n != (ssize_t)sizeof(val)) {
        die("pread %s at 0x%x: %s", path, off,
            n < 0 ? strerror(errno) : "short read");
    }
}

static void bench_cfg(const struct opts *o, uint64_t *t)
{
    char path[PATH_MAX];
    struct stat st;
    unsigned i;
    int fd;

    dev_path(path, sizeof(path), o->bdf, "config");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        die("open %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        die("stat %s: %s", path, strerror(errno));
    }
    if ((off_t)o->cfg_offset + 4 > st.st_size) {
        die("--cfg-offset=0x%x is beyond the config space of %s "
            "(size 0x%jx)", o->cfg_offset, o->bdf, (uintmax_t)st.st_size);
    }
    for (i = 0; i < o->warmup; i++) {
        cfg_read(fd, path, o->cfg_offset);
    }
    for (i = 0; i < o->count; i++) {
        uint64_t t0, t1;

        t0 = tsc_read();
        cfg_read(fd, path, o->cfg_offset);
        t1 = tsc_read();
        t[i] = t1 - t0;
    }
    if (close(fd) < 0) {
        die("close %s: %s", path, strerror(errno));
    }
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = *s;

        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void print_stats(const char *name, unsigned n, const struct stats *s)
{
    printf("\"%s\":{\"count\":%u,\"min\":%.3f,\"median\":%.3f,\"p99\":%.3f,"
           "\"max\":%.3f,\"mean\":%.3f}",
           name, n, s->min, s->median, s->p99, s->max, s->mean);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: " PROG " (--device=VVVV:DDDD | --bdf=DDDD:BB:DD.F) [options]\n"
"  --device=VVVV:DDDD  the first PCI device with these IDs (hex)\n"
"  --bdf=DDDD:BB:DD.F  this PCI device\n"
"  --bar=N             BAR to read for MMIO (0..%d, default 0)\n"
"  --offset=N          byte offset in the BAR, 4-aligned (default 0x8)\n"
"  --cfg-offset=N      config space offset, 4-aligned (default 0x0)\n"
"  --count=N           timed reads of each kind (default 2000)\n"
"  --warmup=N          untimed reads of each kind first (default 100)\n"
"  --label=TEXT        \"label\" of the JSON result (default \"\")\n",
            MAX_BAR);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "device", required_argument, NULL, 'd' },
        { "bdf", required_argument, NULL, 'B' },
        { "bar", required_argument, NULL, 'b' },
        { "offset", required_argument, NULL, 'o' },
        { "cfg-offset", required_argument, NULL, 'C' },
        { "count", required_argument, NULL, 'c' },
        { "warmup", required_argument, NULL, 'w' },
        { "label", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct opts o = { .label = "", .offset = 0x8, .count = 2000,
                      .warmup = 100 };
    bool have_dev = false;
    uint64_t tsc0, tsc1, ns0, ns1;
    uint64_t *mmio_t, *cfg_t;
    struct stats ms, cs;
    double ticks_per_us;
    unsigned v;
    int opt;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            if (!parse_ids(optarg, &o.vendor, &o.device)) {
                die("bad --device '%s' (want VVVV:DDDD, hex)", optarg);
            }
            o.by_id = true;
            have_dev = true;
            break;
        case 'B':
            if (!parse_bdf(optarg, o.bdf, sizeof(o.bdf))) {
                die("bad --bdf '%s' (want DDDD:BB:DD.F)", optarg);
            }
            o.by_id = false;
            have_dev = true;
            break;
        case 'b':
        case 'o':
        case 'C':
        case 'c':
        case 'w':
            if (!parse_uint(optarg, &v)) {
                die("bad number '%s'", optarg);
            }
            if (opt == 'b') {
                if (v > MAX_BAR) {
                    die("--bar must be 0..%d", MAX_BAR);
                }
                o.bar = v;
            } else if (opt == 'o' || opt == 'C') {
                if (v % 4) {
                    die("--%s=0x%x is not 4-byte aligned",
                        opt == 'o' ? "offset" : "cfg-offset", v);
                }
                *(opt == 'o' ? &o.offset : &o.cfg_offset) = v;
            } else if (opt == 'c') {
                if (v == 0 || v > MAX_COUNT) {
                    die("--count must be 1..%u", MAX_COUNT);
                }
                o.count = v;
            } else {
                if (v > MAX_COUNT) {
                    die("--warmup must be 0..%u", MAX_COUNT);
                }
                o.warmup = v;
            }
            break;
        case 'l':
            o.label = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind != argc || !have_dev) {
        usage(stderr);
        return 1;
    }

    if (o.by_id) {
        find_device(&o);
    } else if (!read_id(o.bdf, "vendor", &o.vendor) ||
               !read_id(o.bdf, "device", &o.device)) {
        die("no such device %s in %s", o.bdf, PCI_SYSFS_DIR);
    }

    mmio_t = calloc(o.count, sizeof(*mmio_t));
    cfg_t = calloc(o.count, sizeof(*cfg_t));
    if (!mmio_t || !cfg_t) {
        die("out of memory for %u samples", o.count);
    }

    calib_point(&tsc0, &ns0);
    bench_mmio(&o, mmio_t);
    bench_cfg(&o, cfg_t);
    do {
        calib_point(&tsc1, &ns1);
    } while (ns1 - ns0 < CALIB_MIN_NS);
    if (tsc1 <= tsc0) {
        die("the TSC did not advance (%" PRIu64 " -> %" PRIu64 ")",
            tsc0, tsc1);
    }
    ticks_per_us = (double)(tsc1 - tsc0) * 1000.0 / (double)(ns1 - ns0);

    ms = compute_stats(mmio_t, o.count, ticks_per_us);
    cs = compute_stats(cfg_t, o.count, ticks_per_us);

    printf("{\"label\":");
    print_json_string(o.label);
    printf(",\"bdf\":\"%s\",\"vendor\":\"%04x\",\"device\":\"%04x\",",
           o.bdf, o.vendor, o.device);
    print_stats("mmio_read_us", o.count, &ms);
    putchar(',');
    print_stats("cfg_read_us", o.count, &cs);
    printf(",\"tsc_mhz\":%.3f}\n", ticks_per_us);
    if (fflush(stdout) == EOF || ferror(stdout)) {
        die("write to stdout: %s", strerror(errno));
    }
    free(mmio_t);
    free(cfg_t);
    return 0;
}
