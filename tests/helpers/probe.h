/* What the probes (harden_probe, smc_probe) share: output that survives an
 * abort, barriers that keep the compiler from folding a misuse, the two
 * call sites objects come from, the announcement of an object before it is
 * misused, and the SIGSEGV report. Included by one program each, after
 * _GNU_SOURCE and the system headers. */
#ifndef PM_PROBE_H
#define PM_PROBE_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h" /* the library's own number formatting: no stdio in a signal handler */
#include "partmalloc.h"

/* ---- output ---- */

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(1, buf + done, len - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
}

static inline __attribute__((noreturn)) void give_up(const char *why) {
    say("precondition: %s\n", why);
    exit(2);
}

/* ---- keeping the compiler out of the way ---- */

/* The compiler knows what malloc and free do: it would fold or warn about
 * the misuses below. */
static inline void *hide(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

static inline size_t opaque(size_t n) {
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* Plain malloc is placed by its call site: every allocation a command
 * compares goes through this one (the barrier after the call keeps it from
 * being a tail call, which would make each caller the site). */
static __attribute__((noinline, unused)) void *alloc_here(size_t n) {
    return hide(malloc(opaque(n)));
}

/* A second site, for objects that must not come from alloc_here's caches
 * (the store keeps the two functions from being folded into one). */
static void *volatile elsewhere_last;
static __attribute__((noinline, unused)) void *alloc_elsewhere(size_t n) {
    void *p = hide(malloc(opaque(n)));
    elsewhere_last = p;
    return p;
}

static inline size_t arg_size(const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || end == s)
        give_up("a size argument is not a number");
    return (size_t)v;
}

static inline struct pm_ptr_info info_of(const void *p) {
    struct pm_ptr_info info;
    if (!p || !pm_ptr_info(p, &info))
        give_up("an allocation failed or pm_ptr_info does not know it");
    return info;
}

/* "object <p> cache <name> size <n> slot <object size>" */
static inline void announce(const void *p, size_t size) {
    struct pm_ptr_info info = info_of(p);
    say("object %p cache %s size %zu slot %zu\n", p, info.cache_name, size, info.object_size);
}

/* ---- the SIGSEGV report ---- */

static uintptr_t fault_base;


/* Prints "fault +<offset>" (or "fault -<offset>") from fault_base and
 * returns: SA_RESETHAND restored the default action, so the access faults
 * again and the process dies of SIGSEGV. */
static inline void on_segv(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    char buf[48] = "fault ";
    size_t at = 6;
    uintptr_t a = (uintptr_t)si->si_addr;
    buf[at++] = a >= fault_base ? '+' : '-';
    at += pm_fmt_u64(buf + at, a >= fault_base ? a - fault_base : fault_base - a);
    buf[at++] = '\n';
    ssize_t w = write(1, buf, at);
    (void)w;
}

static inline void report_faults_from(const void *base) {
    fault_base = (uintptr_t)base;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
}
#endif
