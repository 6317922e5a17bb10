/* OS pages, randomness and fatal reports: the only layer that makes system
 * calls for memory. Nothing here may call malloc. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void *pm_os_reserve(size_t size) {
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

bool pm_os_commit(void *addr, size_t size) {
    return mprotect(addr, size, PROT_READ | PROT_WRITE) == 0;
}

/* The range stays mapped read-write and stays this cache's: the next touch
 * faults in a zero page. */
void pm_os_decommit(void *addr, size_t size) {
    int saved = errno;
    madvise(addr, size, MADV_DONTNEED);
    errno = saved;
}

void *pm_os_alloc(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dull;
    x ^= x >> 33;
    return x;
}

void pm_os_random(void *buf, size_t len) {
    int saved = errno;
    char *out = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom(out + got, len - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    errno = saved;
    if (got == len)
        return;
    /* No entropy source (very early boot, seccomp): mix what varies per process. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&ts ^
                 ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&pm_os_random;
    for (size_t i = got; i < len; i++) {
        s = mix64(s + 0x9e3779b97f4a7c15ull);
        out[i] = (char)s;
    }
}

void pm_write_stderr(const char *s, size_t len) {
    int saved = errno;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        s += w;
        len -= (size_t)w;
    }
    errno = saved;
}

size_t pm_fmt_hex(char *out, uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++)
        out[2 + i] = tmp[n - 1 - i];
    return n + 2;
}

static size_t append(char *buf, size_t at, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (at + n > cap)
        n = cap - at;
    memcpy(buf + at, s, n);
    return at + n;
}

__attribute__((noreturn)) static void die(void) {
    /* abort() may flush stdio, which may call into the allocator we just
     * found corrupt: raise SIGABRT directly, then make sure we end. */
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
    _exit(134);
}

void pm_fatal_ptr(const char *what, const void *ptr, const char *cache) {
    char buf[256];
    size_t at = append(buf, 0, sizeof buf - 1, "partmalloc: ");
    at = append(buf, at, sizeof buf - 1, what);
    at = append(buf, at, sizeof buf - 1, " at ");
    if (at + 18 < sizeof buf - 1)
        at += pm_fmt_hex(buf + at, (uint64_t)(uintptr_t)ptr);
    at = append(buf, at, sizeof buf - 1, " (cache ");
    at = append(buf, at, sizeof buf - 1, cache);
    at = append(buf, at, sizeof buf - 1, ")");
    buf[at++] = '\n';
    pm_write_stderr(buf, at);
    die();
}

void pm_fatal(const char *msg) {
    pm_write_stderr("partmalloc: ", 12);
    pm_write_stderr(msg, strlen(msg));
    pm_write_stderr("\n", 1);
    die();
}
