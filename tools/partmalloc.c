/* partmalloc: run programs on partmalloc and look at their partitions.
 *
 *   partmalloc run [--mode M] [--partitions N] [--stats FORMAT] -- PROGRAM ARGS...
 *   partmalloc cc|c++ [clang args...]
 *   partmalloc report [BUILD LOG | -- BUILD COMMAND...]
 *   partmalloc stat [--format FORMAT] PID|DUMP-FILE
 */
#define _GNU_SOURCE
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "partmalloc.h"

static const char usage_text[] =
    "usage: partmalloc COMMAND [ARGS...]\n"
    "  run [--mode typed|random|none] [--partitions N] [--stats histogram|slabinfo|json] -- PROGRAM ARGS...\n"
    "      run PROGRAM with partmalloc preloaded; print its partitions when it exits\n"
    "  cc [CLANG ARGS...], c++ [CLANG ARGS...]\n"
    "      clang-22 with allocation tokens and partmalloc's flags added\n"
    "  report [BUILD LOG | -- BUILD COMMAND...]\n"
    "      allocation sites that got no type token, by file and function\n"
    "  stat [--format histogram|slabinfo|json] PID|DUMP-FILE\n"
    "      the partitions of a running process or of a saved JSON dump\n"
    "  version\n";

static void vreport(const char *sub, const char *fmt, va_list ap) {
    fprintf(stderr, "partmalloc %s: ", sub);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int usage_error(const char *sub, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(sub, fmt, ap);
    va_end(ap);
    return 2;
}

int fail(const char *sub, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(sub, fmt, ap);
    va_end(ap);
    return 1;
}

int next_option(int argc, char **argv, const char *shortopts, const struct option *longopts, const char **arg) {
    int at = optind;
    opterr = 0;
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    *arg = at < argc ? argv[at] : NULL;
    if (c == -1 && *arg && strcmp(*arg, "--") != 0)
        *arg = NULL;
    return c;
}

/* The build tree keeps the command beside the library (build/partmalloc,
 * build/libpartmalloc.so); an installed one finds LIBDIR and INCLUDEDIR
 * relative to its own folder (BINDIR), as the build computed them. */
#ifndef PM_REL_LIBDIR
#define PM_REL_LIBDIR "../lib"
#endif
#ifndef PM_REL_INCLUDEDIR
#define PM_REL_INCLUDEDIR "../include"
#endif
static char exe_dir[PATH_MAX];
static char lib_dir[PATH_MAX + sizeof PM_REL_LIBDIR + 1];
static char include_dir[PATH_MAX + sizeof PM_REL_INCLUDEDIR + 16];

static void find_dirs(void) {
    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    if (n <= 0) {
        strcpy(exe_dir, ".");
        n = 1;
    }
    exe_dir[n] = '\0';
    char *slash = strrchr(exe_dir, '/');
    if (slash)
        *slash = '\0';
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/libpartmalloc.so", exe_dir);
    if (access(probe, R_OK) == 0) {
        snprintf(lib_dir, sizeof lib_dir, "%s", exe_dir);
        snprintf(include_dir, sizeof include_dir, "%s/../include", exe_dir);
        return;
    }
    snprintf(lib_dir, sizeof lib_dir, "%s/" PM_REL_LIBDIR, exe_dir);
    snprintf(include_dir, sizeof include_dir, "%s/" PM_REL_INCLUDEDIR, exe_dir);
}

const char *tool_lib_dir(void) { return lib_dir; }
const char *tool_include_dir(void) { return include_dir; }

int main(int argc, char **argv) {
    find_dirs();
    if (cc_link_shim_called(argv[0]))
        return cmd_cc_link(argc, argv);
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(sub, "cc") == 0 || strcmp(sub, "c++") == 0)
        return cmd_cc(argc - 1, argv + 1);
    if (strcmp(sub, "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(sub, "stat") == 0)
        return cmd_stat(argc - 1, argv + 1);
    if (strcmp(sub, "version") == 0 || strcmp(sub, "--version") == 0) {
        printf("partmalloc %s\n", PARTMALLOC_VERSION);
        return 0;
    }
    if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    fprintf(stderr, "partmalloc: unknown command '%s' (accepted: run, cc, c++, report, stat, version, help)\n", sub);
    return 2;
}
