/* partmalloc cc|c++ [CLANG ARGS...]: clang-22 (clang++-22) with allocation
 * tokens and partmalloc's flags added to the user's arguments:
 *
 *   -fsanitize=alloc-token                        tokens unbounded: no -falloc-token-max
 *   -fsanitize-alloc-token-extended               calls of the program's own allocation
 *                                                 wrappers (declared malloc or alloc_size)
 *                                                 carry their callers' tokens too
 *   -Rpass=alloc-token                            when PARTMALLOC_REMARKS=1
 *   -I<include dir>
 * and, when the invocation links,
 *   -x c <tmp>/token_max.c -x none                defines partmalloc_token_max (0, or the
 *                                                 user's -falloc-token-max)
 *                                                 (-x c++ token_max.cc for C++)
 *   -L<lib dir> -Wl,-rpath,<lib dir> -lpartmalloc
 *   -fpass-plugin=<plugin>                        partmalloc's clang plugin (tools/plugin/):
 *                                                 wrappers stay out of line, static ones get
 *                                                 their companions in their own file
 *   -fplugin=<plugin> -fplugin-arg-partmalloc-names=LIST
 *                                                 with --wrapper=LIST: the named functions
 *                                                 are declared malloc, as if the program said so;
 *                                                 calls through named variables holding function
 *                                                 pointers go to forwarders declared malloc
 *   -fplugin=<plugin> -fplugin-arg-partmalloc-remarks [-fplugin-arg-partmalloc-skip=<tmp>/token_max.c]
 *                                                 when PARTMALLOC_REMARKS=1 (with or without
 *                                                 --wrapper): remarks for the sites typed void
 *                                                 or by a char-like cast, and for the wrappers found
 *   -B<tmp>/                                      clang's linker is this command (tmp/ld,
 *                                                 ld.lld, ... link to it): it adds the
 *                                                 wrappers' companions (cc_link.c)
 *
 * The tokens are left unbounded so that the library can tell the ones that
 * name no type (0, void's) from every real type's: with a small max, a
 * quarter of the pointer-free types at N = 16 would share those values
 * (typed_map.h). The library reduces tokens to partitions itself, so
 * PARTMALLOC_PARTITIONS at build time is only checked, not built in.
 *
 * Nothing the user already gave is added twice; -fno-sanitize=alloc-token
 * turns the tokens (and the definition) off. Every argument is clang's,
 * except a lone --help or -h, which prints partmalloc cc's usage, and
 * --wrapper=NAME[,NAME...] or --wrapper=@FILE (one name a line; # comments),
 * which name the program's allocation wrappers. A compile that does not link
 * execs clang; one that links runs it as a child so the temporary file can
 * be removed afterwards, whatever happens to clang.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "numparse.h"
#include "spawn.h"

enum { DEFAULT_PARTITIONS = 16, MAX_PARTITIONS = 64, MAX_RSP_DEPTH = 8 };

/* What the user's arguments already say. */
struct cc_args {
    bool no_link;             /* -c, -S, -E, -M, -MM, -fsyntax-only, ... */
    bool has_input;           /* a source, object or library to work on */
    int std_lang;             /* last -std=: 1 C++, -1 C, 0 none */
    int tokens;               /* last -f(no-)sanitize= naming alloc-token: 1 on, -1 off, 0 none */
    bool max_given, max_ok;   /* -falloc-token-max=K */
    uint64_t max;
    bool has_rpass, has_include, has_libdir, has_rpath, has_lib;
    bool extended_given;      /* -f(no-)sanitize-alloc-token-extended */
    int end_of_options;       /* index of the user's "--" in argv, or argc */
};

/* Options after which clang does not link, or links only part of a program
 * (-r: the final link defines partmalloc_token_max and the companions). */
static const char *const no_link_opts[] = {
    "-c", "--compile", "-S", "--assemble", "-E", "--preprocess", "-M", "--dependencies",
    "-MM", "--user-dependencies", "-fsyntax-only", "--precompile", "--analyze", "-emit-ast",
    "-r", "--relocatable",
    NULL,
};

/* Options whose value is the next argument (the common ones of clang's). */
static const char *const separate_opts[] = {
    "-o", "-x", "-I", "-D", "-U", "-L", "-l", "-include", "-imacros", "-include-pch",
    "-isystem", "-idirafter", "-iquote", "-iprefix", "-iwithprefix", "-iwithprefixbefore",
    "-isysroot", "-iframework", "-imultilib", "-cxx-isystem", "-ivfsoverlay", "-MF", "-MT",
    "-MQ", "-MJ", "-Xclang", "-Xlinker", "-Xassembler", "-Xpreprocessor", "-Xanalyzer",
    "-Xopenmp-target", "-target", "-arch", "-mllvm", "-u", "-T", "-z", "-e", "-F", "-B", "-A",
    "--sysroot", "--param", "-resource-dir", "-working-directory", "-serialize-diagnostics",
    "-dependency-file", "-dependency-dot", "--output", "--include-directory",
    "--define-macro", "--undefine-macro", "--include", "--language", "--library-directory",
    "--for-linker", "--force-link", "--prefix", "--std", "--assert",
    NULL,
};

static bool in_list(const char *const *list, const char *s) {
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* PARTMALLOC_PARTITIONS: a power of two from 1 to 64, default 16. */
static int read_partitions(const char *sub, unsigned *n) {
    *n = DEFAULT_PARTITIONS;
    const char *v = getenv("PARTMALLOC_PARTITIONS");
    if (!v)
        return 0;
    uint64_t x;
    if (!pm_parse_u64(v, &x) || x < 1 || x > MAX_PARTITIONS || (x & (x - 1)) != 0)
        return usage_error(sub, "invalid PARTMALLOC_PARTITIONS='%s' (accepted: 1, 2, 4, 8, 16, 32, 64)", v);
    *n = (unsigned)x;
    return 0;
}

/* -fsanitize=LIST / -fno-sanitize=LIST: does LIST name alloc-token (or, for
 * -fno-, all)? */
static bool names_alloc_token(const char *list, bool negative) {
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        if ((len == 11 && strncmp(p, "alloc-token", 11) == 0) ||
            (negative && len == 3 && strncmp(p, "all", 3) == 0))
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

/* -std=X, --std=X, --std X: the language X is a dialect of. */
static void note_std(struct cc_args *a, const char *value) {
    if (value)
        a->std_lang = strstr(value, "++") ? 1 : -1;
}

/* Matches "NAME VALUE" (separate) and "NAMEVALUE" (joined); returns how many
 * arguments it took (0: no match) and sets *value. */
static int opt_value(const char *arg, const char *next, const char *name, const char **value) {
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0)
        return 0;
    if (arg[len] != '\0') {
        *value = arg + len;
        return 1;
    }
    *value = next;
    return 2;
}

static void scan_rsp(struct cc_args *a, const char *path, int depth);

/* Records what the flags partmalloc adds would duplicate. */
static void note_duplicates(struct cc_args *a, const char *arg, const char *next) {
    const char *v = NULL;
    if (strcmp(arg, "-Rpass=alloc-token") == 0)
        a->has_rpass = true;
    else if (strcmp(arg, "-fsanitize-alloc-token-extended") == 0 ||
             strcmp(arg, "-fno-sanitize-alloc-token-extended") == 0)
        a->extended_given = true;
    else if (opt_value(arg, next, "-I", &v) && v && strcmp(v, tool_include_dir()) == 0)
        a->has_include = true;
    else if (opt_value(arg, next, "-L", &v) && v && strcmp(v, tool_lib_dir()) == 0)
        a->has_libdir = true;
    else if (opt_value(arg, next, "-l", &v) && v && strcmp(v, "partmalloc") == 0)
        a->has_lib = true;
    else if (strncmp(arg, "-Wl,-rpath,", 11) == 0 && strcmp(arg + 11, tool_lib_dir()) == 0)
        a->has_rpath = true;
}

/* Looks at one option; returns how many arguments it used (1 or 2). */
static int scan_option(struct cc_args *a, const char *arg, const char *next, int depth) {
    note_duplicates(a, arg, next);
    if (in_list(no_link_opts, arg))
        a->no_link = true;
    else if (strncmp(arg, "-std=", 5) == 0)
        note_std(a, arg + 5);
    else if (strncmp(arg, "--std=", 6) == 0)
        note_std(a, arg + 6);
    else if (strcmp(arg, "--std") == 0)
        note_std(a, next);
    else if (strncmp(arg, "-fsanitize=", 11) == 0 && names_alloc_token(arg + 11, false))
        a->tokens = 1;
    else if (strncmp(arg, "-fno-sanitize=", 14) == 0 && names_alloc_token(arg + 14, true))
        a->tokens = -1;
    else if (strncmp(arg, "-falloc-token-max=", 18) == 0) {
        a->max_given = true;
        a->max_ok = pm_parse_u64(arg + 18, &a->max);
    }
    if (arg[0] == '@') {
        scan_rsp(a, arg + 1, depth + 1);
        return 1;
    }
    bool separate = in_list(separate_opts, arg) || strncmp(arg, "-Xarch_", 7) == 0;
    return separate && next ? 2 : 1;
}

/* Looks at args[0 .. n); "--" ends the options (its index goes to *dashdash). */
static void scan_args(struct cc_args *a, char *const *args, int n, int depth, int *dashdash) {
    for (int i = 0; i < n;) {
        const char *arg = args[i];
        if (strcmp(arg, "--") == 0) {
            if (dashdash)
                *dashdash = i;
            a->has_input |= i + 1 < n;
            return;
        }
        if (arg[0] == '-' && arg[1] != '\0') {
            i += scan_option(a, arg, i + 1 < n ? args[i + 1] : NULL, depth);
        } else {
            a->has_input = true;
            i++;
        }
    }
}

/* Splits a response file GNU-style: blanks separate, quotes group, a
 * backslash escapes the next character. Returns the number of words. */
static int split_words(char *text, char **words, int max) {
    int n = 0;
    char *in = text, *out = text;
    while (*in) {
        while (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
            in++;
        if (!*in || n == max)
            break;
        words[n++] = out;
        char quote = 0;
        for (; *in; in++) {
            if (quote ? *in == quote : (*in == '\'' || *in == '"'))
                quote = quote ? 0 : *in;
            else if (*in == '\\' && in[1])
                *out++ = *++in;
            else if (!quote && (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r'))
                break;
            else
                *out++ = *in;
        }
        if (*in)
            in++;
        *out++ = '\0';
    }
    return n;
}

/* @FILE: clang reads more arguments from FILE. An unreadable one is clang's
 * to report; assume it names inputs. */
static void scan_rsp(struct cc_args *a, const char *path, int depth) {
    FILE *f = depth <= MAX_RSP_DEPTH ? fopen(path, "r") : NULL;
    if (!f) {
        a->has_input = true;
        return;
    }
    char *text = NULL;
    size_t cap = 0;
    ssize_t len = getdelim(&text, &cap, '\0', f);
    fclose(f);
    if (len > 0) {
        int max = (int)(len / 2 + 1);
        char **words = malloc(sizeof *words * (size_t)max);
        if (words)
            scan_args(a, words, split_words(text, words, max), depth, NULL);
        else
            a->has_input = true;
        free(words);
    }
    free(text);
}

/* The temporary file that defines the program's partmalloc_token_max. */
struct token_file {
    char dir[PATH_MAX];
    char path[PATH_MAX + 32];
};

static const char c_definition[] =
    "/* Written by partmalloc cc: the -falloc-token-max this program was built with. */\n"
    "#pragma clang diagnostic ignored \"-Weverything\"\n"
    "__attribute__((visibility(\"default\"), used)) extern const unsigned long long partmalloc_token_max;\n"
    "__attribute__((visibility(\"default\"), used)) const unsigned long long partmalloc_token_max = %lluULL;\n";
static const char cxx_definition[] =
    "// Written by partmalloc c++: the -falloc-token-max this program was built with.\n"
    "#pragma clang diagnostic ignored \"-Weverything\"\n"
    "extern \"C\" __attribute__((visibility(\"default\"), used)) const unsigned long long\n"
    "    partmalloc_token_max = %lluULL;\n";

static int write_token_file(const char *sub, struct token_file *t, bool cxx, uint64_t max) {
    const char *tmp = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/partmalloc-cc.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(t->dir))
        return fail(sub, "cannot create a temporary directory in %s: %s", tmp && *tmp ? tmp : "/tmp",
                    strerror(errno));
    snprintf(t->path, sizeof t->path, "%s/token_max.%s", t->dir, cxx ? "cc" : "c");
    FILE *f = fopen(t->path, "w");
    bool ok = f && fprintf(f, cxx ? cxx_definition : c_definition, (unsigned long long)max) > 0;
    if (f)
        ok &= fclose(f) == 0;
    if (!ok) {
        int err = errno;
        unlink(t->path);
        rmdir(t->dir);
        return fail(sub, "cannot write %s: %s", t->path, strerror(err));
    }
    return 0;
}

/* The names clang looks for its linker under, in the -B directory. */
static const char *const linker_names[] = {"ld", "ld.bfd", "ld.gold", "ld.lld", "ld.mold", NULL};

/* Makes t->dir the directory clang finds its linker in: links to this
 * command, which adds the wrappers' companions and runs the real one. */
static int add_linker_links(const char *sub, const struct token_file *t, const char *compiler) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return fail(sub, "cannot read /proc/self/exe: %s", strerror(errno));
    self[n] = '\0';
    for (const char *const *name = linker_names; *name; name++) {
        char link[PATH_MAX + 32];
        snprintf(link, sizeof link, "%s/%s", t->dir, *name);
        if (symlink(self, link) != 0)
            return fail(sub, "cannot create %s: %s", link, strerror(errno));
    }
    if (setenv(PM_CC_LINK_DIR_ENV, t->dir, 1) != 0 || setenv(PM_CC_CLANG_ENV, compiler, 1) != 0)
        return fail(sub, "cannot set the environment: %s", strerror(errno));
    return 0;
}

/* Removes the directory and what partmalloc cc and its link step wrote. */
static void remove_token_file(const struct token_file *t) {
    static const char *const others[] = {"companions.c", "companions.o", "prog-name", "member.o", NULL};
    unlink(t->path);
    char path[PATH_MAX + 32];
    for (const char *const *name = linker_names; *name; name++) {
        snprintf(path, sizeof path, "%s/%s", t->dir, *name);
        unlink(path);
    }
    for (const char *const *name = others; *name; name++) {
        snprintf(path, sizeof path, "%s/%s", t->dir, *name);
        unlink(path);
    }
    rmdir(t->dir);
}

/* Termination signals are passed on to clang while it runs, so that we
 * outlive it and clean up. A signal the caller ignores (nohup) stays
 * ignored, for us and for clang. */
static const int passed_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, 0};

/* Runs clang, waits for it and returns its exit status (128 + signal if it
 * was killed). *killed_by: the termination signal that killed it, or 0. */
static int run_clang(const char *sub, char **args, int *killed_by) {
    struct spawn child = {.argv = args, .sub = sub, .forward = passed_signals};
    if (spawn_start(&child) != 0) {
        *killed_by = 0;
        return fail(sub, "cannot fork: %s", strerror(errno));
    }
    int sig;
    int status = spawn_wait(&child, &sig);
    *killed_by = 0;
    for (const int *p = passed_signals; *p; p++)
        if (sig == *p)
            *killed_by = sig;
    return status;
}

/* The argument vector handed to clang, and the flags made for it. */
struct clang_argv {
    char **v;
    int n;
    char include_flag[PATH_MAX + 32];
    char libdir_flag[PATH_MAX + 32];
    char rpath_flag[PATH_MAX + 32];
    char linker_flag[PATH_MAX + 32];
    char skip_flag[PATH_MAX + 64];
};

static void push(struct clang_argv *b, const char *s) { b->v[b->n++] = (char *)s; }

/* The flags that go after the user's options (before a "--" of theirs). */
static void push_tail(struct clang_argv *b, const struct cc_args *a, bool links) {
    if (!a->has_include) {
        snprintf(b->include_flag, sizeof b->include_flag, "-I%s", tool_include_dir());
        push(b, b->include_flag);
    }
    if (!links)
        return;
    if (!a->has_libdir) {
        snprintf(b->libdir_flag, sizeof b->libdir_flag, "-L%s", tool_lib_dir());
        push(b, b->libdir_flag);
    }
    if (!a->has_rpath) {
        snprintf(b->rpath_flag, sizeof b->rpath_flag, "-Wl,-rpath,%s", tool_lib_dir());
        push(b, b->rpath_flag);
    }
    if (!a->has_lib)
        push(b, "-lpartmalloc");
}

/* What to add, from the user's arguments and the environment. */
struct cc_plan {
    bool links, tokens, remarks, define_max, cxx_file;
    bool plugin_remarks; /* PARTMALLOC_REMARKS=1, even with the user's own -Rpass */
    uint64_t max;
    const char *pass_plugin, *frontend_plugin, *names_flag; /* flags, or NULL */
};

static struct cc_plan make_plan(const struct cc_args *a, bool cxx_driver) {
    const char *remarks = getenv("PARTMALLOC_REMARKS");
    struct cc_plan p = {
        .links = a->has_input && !a->no_link,
        .tokens = a->tokens >= 0,
        .max = a->max_given ? a->max : 0,
        .cxx_file = a->std_lang ? a->std_lang > 0 : cxx_driver,
    };
    p.plugin_remarks = p.tokens && remarks && strcmp(remarks, "1") == 0;
    p.remarks = p.plugin_remarks && !a->has_rpass;
    p.define_max = p.links && p.tokens && (!a->max_given || a->max_ok);
    return p;
}

/* Fills b: clang, our leading flags, the user's options, our trailing
 * flags, then the user's "--" and what follows it. */
static void build_argv(struct clang_argv *b, const char *compiler, const struct cc_plan *p,
                       const struct cc_args *a, const char *token_file, int argc, char **argv) {
    push(b, compiler);
    if (p->tokens && a->tokens == 0)
        push(b, "-fsanitize=alloc-token");
    if (p->tokens && !a->extended_given)
        push(b, "-fsanitize-alloc-token-extended");
    if (p->pass_plugin)
        push(b, p->pass_plugin);
    if (p->frontend_plugin) {
        push(b, p->frontend_plugin);
        if (p->names_flag)
            push(b, p->names_flag);
        if (p->plugin_remarks)
            push(b, "-fplugin-arg-partmalloc-remarks");
        if (p->plugin_remarks && token_file) {
            /* ours, not the program's: not a file the build compiled */
            snprintf(b->skip_flag, sizeof b->skip_flag, "-fplugin-arg-partmalloc-skip=%s", token_file);
            push(b, b->skip_flag);
        }
    }
    if (p->remarks)
        push(b, "-Rpass=alloc-token");
    if (token_file) {
        /* the directory of token_file holds the links clang takes for its linker */
        snprintf(b->linker_flag, sizeof b->linker_flag, "-B%.*s/", (int)(strrchr(token_file, '/') - token_file),
                 token_file);
        push(b, b->linker_flag);
        push(b, "-x");
        push(b, p->cxx_file ? "c++" : "c");
        push(b, token_file);
        push(b, "-x");
        push(b, "none");
    }
    for (int i = 1; i < a->end_of_options; i++)
        push(b, argv[i]);
    push_tail(b, a, p->links);
    for (int i = a->end_of_options; i < argc; i++)
        push(b, argv[i]);
    b->v[b->n] = NULL;
}

/* The clang plugin: beside the library in the build tree, in
 * PREFIX/lib/partmalloc once installed. */
static bool find_plugin(char *out, size_t size) {
    snprintf(out, size, "%s/plugin/partmalloc-clang.so", tool_lib_dir());
    if (access(out, R_OK) == 0)
        return true;
    snprintf(out, size, "%s/partmalloc/partmalloc-clang.so", tool_lib_dir());
    return access(out, R_OK) == 0;
}

/* The names --wrapper gave, as "-fplugin-arg-partmalloc-names=A,B,...". */
struct wrapper_names {
    char *flag;
    size_t len, cap;
    int count;
};

static bool is_identifier(const char *s, size_t n) {
    if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

static int add_wrapper(const char *sub, struct wrapper_names *w, const char *name, size_t n, const char *from) {
    if (!is_identifier(name, n))
        return usage_error(sub, "invalid wrapper name '%.*s'%s%s (accepted: C identifiers: --wrapper=NAME[,NAME...] "
                           "or --wrapper=@FILE, one name a line)", (int)n, name, from ? " in " : "", from ? from : "");
    static const char head[] = "-fplugin-arg-partmalloc-names=";
    if (w->len + n + sizeof head + 2 > w->cap) {
        size_t cap = (w->cap + n + sizeof head + 2) * 2;
        char *p = realloc(w->flag, cap);
        if (!p)
            return fail(sub, "out of memory");
        if (!w->flag)
            p[0] = '\0';
        w->flag = p;
        w->cap = cap;
    }
    if (w->len == 0)
        w->len = (size_t)sprintf(w->flag, "%s", head);
    else
        w->flag[w->len++] = ',';
    memcpy(w->flag + w->len, name, n);
    w->len += n;
    w->flag[w->len] = '\0';
    w->count++;
    return 0;
}

/* One --wrapper= value: names separated by commas, or @FILE. */
static int add_wrappers(const char *sub, struct wrapper_names *w, const char *value) {
    if (value[0] == '@') {
        FILE *f = fopen(value + 1, "r");
        if (!f)
            return fail(sub, "cannot read the wrapper names in %s: %s", value + 1, strerror(errno));
        char *line = NULL;
        size_t cap = 0;
        int rc = 0;
        while (rc == 0 && getline(&line, &cap, f) >= 0) {
            char *p = line + strspn(line, " \t");
            size_t n = strcspn(p, " \t\r\n");
            if (n > 0 && p[0] != '#')
                rc = add_wrapper(sub, w, p, n, value + 1);
        }
        free(line);
        fclose(f);
        return rc;
    }
    for (const char *p = value;;) {
        size_t n = strcspn(p, ",");
        int rc = add_wrapper(sub, w, p, n, NULL);
        if (rc)
            return rc;
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

/* Takes the --wrapper options out of argv (before a "--"); returns the new argc. */
static int take_wrappers(const char *sub, int argc, char **argv, struct wrapper_names *w, int *rc) {
    int out = 1;
    bool options = true;
    *rc = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            options = false;
        if (options && strncmp(argv[i], "--wrapper=", 10) == 0) {
            if (*rc == 0)
                *rc = add_wrappers(sub, w, argv[i] + 10);
            continue;
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

static const char cc_usage[] =
    "usage: partmalloc cc [--wrapper=NAME[,NAME...]|--wrapper=@FILE] [CLANG ARGS...]\n"
    "       partmalloc c++ [--wrapper=...] [CLANG ARGS...]\n"
    "clang-22 (clang++-22) with allocation tokens: -fsanitize=alloc-token (tokens unbounded, so\n"
    "that those naming no type stand apart) and -fsanitize-alloc-token-extended (calls of the\n"
    "program's wrappers declared malloc or alloc_size carry their callers' tokens),\n"
    "-Rpass=alloc-token when PARTMALLOC_REMARKS=1, partmalloc's include directory and, when it\n"
    "links, -lpartmalloc with an rpath, the program's partmalloc_token_max and a companion for\n"
    "each such wrapper (generated at the link). --wrapper names wrappers declared without those\n"
    "attributes, to be treated as declared malloc, or variables holding pointers to allocating\n"
    "functions, whose calls are typed the same way (a file: one name a line). Every other argument\n"
    "goes to clang; what the user gave is not\n"
    "added again, and -fno-sanitize=alloc-token turns the tokens off. clang's own options:\n"
    "clang-22 --help.\n";

int cmd_cc(int argc, char **argv) {
    const char *sub = strcmp(argv[0], "c++") == 0 ? "c++" : "cc";
    /* all other arguments are clang's: only a lone --help or -h is ours */
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(cc_usage, stdout);
        return 0;
    }
    bool cxx_driver = strcmp(sub, "c++") == 0;
    const char *compiler = cxx_driver ? "clang++-22" : "clang-22";
    unsigned partitions;
    if (read_partitions(sub, &partitions))
        return 2;
    char compiler_path[PATH_MAX + 16];
    if (!spawn_find_program(compiler, NULL, compiler_path, sizeof compiler_path))
        return fail(sub, "%s not found (install it with: apt-get install -y clang-22)", compiler);

    struct wrapper_names wrappers = {0};
    int rc;
    argc = take_wrappers(sub, argc, argv, &wrappers, &rc);
    if (rc)
        return rc;
    char plugin[PATH_MAX + 64];
    bool have_plugin = find_plugin(plugin, sizeof plugin);
    if (wrappers.count && !have_plugin)
        return fail(sub, "--wrapper needs partmalloc's clang plugin, which is not installed (%s)", plugin);

    struct cc_args a = {0};
    int dashdash = -1; /* index in argv + 1 */
    scan_args(&a, argv + 1, argc - 1, 0, &dashdash);
    a.end_of_options = dashdash >= 0 ? dashdash + 1 : argc;
    struct cc_plan plan = make_plan(&a, cxx_driver);
    char pass_flag[PATH_MAX + 96], plugin_flag[PATH_MAX + 96];
    plan.pass_plugin = plan.tokens && have_plugin ? pass_flag : NULL;
    plan.frontend_plugin = plan.tokens && (wrappers.count || (plan.plugin_remarks && have_plugin)) ? plugin_flag : NULL;
    plan.names_flag = wrappers.flag;
    snprintf(pass_flag, sizeof pass_flag, "-fpass-plugin=%s", plugin);
    snprintf(plugin_flag, sizeof plugin_flag, "-fplugin=%s", plugin);

    static struct clang_argv b;
    b.v = calloc((size_t)argc + 20, sizeof(char *));
    if (!b.v)
        return fail(sub, "out of memory");
    struct token_file tf;
    if (plan.define_max && write_token_file(sub, &tf, plan.cxx_file, plan.max))
        return 1;
    if (plan.define_max && add_linker_links(sub, &tf, compiler_path)) {
        remove_token_file(&tf);
        return 1;
    }
    build_argv(&b, compiler_path, &plan, &a, plan.define_max ? tf.path : NULL, argc, argv);
    if (!plan.define_max) {
        execv(compiler_path, b.v);
        return fail(sub, "cannot run %s: %s", compiler_path, strerror(errno));
    }
    int killed_by;
    int status = run_clang(sub, b.v, &killed_by);
    remove_token_file(&tf);
    free(b.v);
    if (killed_by) {
        signal(killed_by, SIG_DFL);
        raise(killed_by);
    }
    return status;
}
