/* The link step of partmalloc cc: the companions of a program's allocation
 * wrappers.
 *
 * With -fsanitize-alloc-token-extended, clang turns a call of a function
 * declared __attribute__((malloc)) or alloc_size(...) into a call of
 * __alloc_token_<name>(args..., token) (or, with the fast ABI,
 * __alloc_token_<token>_<name>(args...)). partmalloc cc runs clang with -B
 * naming a directory of its own, in which ld, ld.bfd, ld.gold, ld.lld and
 * ld.mold are links to this command: clang starts the "linker" as one of
 * them with PARTMALLOC_CC_LINK set, and main() comes here. We read the
 * objects, archives and shared libraries the link is given (libelf), and
 * for every __alloc_token_<wrapper> the objects leave undefined that no
 * input defines (a wrapper's file built with partmalloc cc defines its
 * companion itself: tools/plugin/; a shared library built so exports it)
 * and libpartmalloc does not, write a companion:
 *
 *   - the wrapper's definition is in the link with debug info (DWARF, read
 *     with libdwfl, which applies the objects' relocations), and its
 *     parameters are integers, pointers, float or double, and it returns a
 *     pointer: a C function that opens a token scope with the caller's token
 *     and return address (pm_token_scope_begin), calls the wrapper and
 *     closes the scope, so the wrapper's own allocation takes the caller's
 *     type;
 *   - otherwise (no debug info, a shared library's wrapper, a parameter
 *     passed by value in memory): a jump to the wrapper. The call then
 *     carries no type, but it works: on the ELF ABIs partmalloc runs on the
 *     token is one argument past the wrapper's own, which the wrapper never
 *     reads.
 *
 * The companions are compiled (clang, -fPIC, hidden) into one object that
 * goes into the link before its first input, and the real linker (the one
 * clang would have run: clang -print-prog-name=<our name>) runs with the
 * same arguments. A relocatable link (-r) is left alone: the final link
 * writes the companions. The temporary files live in partmalloc cc's own
 * directory, which it removes when clang is done.
 */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "spawn.h"

static const char sub[] = "cc";
static const char prefix[] = "__alloc_token_";
/* calls through a function-pointer variable named with --wrapper (tools/plugin/) */
static const char forwarder_prefix[] = "__partmalloc_call_";
enum { PREFIX_LEN = sizeof prefix - 1, MAX_PARAMS = 16 };

/* ---- a set of names ---- */

struct names {
    char **v;
    size_t n, cap;
};

static bool names_has(const struct names *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

static void names_add(struct names *s, const char *name) {
    if (names_has(s, name))
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (copy)
        s->v[s->n++] = copy;
}

/* ---- what the link's inputs define and leave undefined ---- */

struct link_syms {
    struct names undefined; /* __alloc_token_* referenced, undefined */
    struct names defined;   /* global or weak symbols defined by an object */
    struct names local;     /* static functions */
};

/* Calls `fn` for every named symbol of the section type `type` (SHT_SYMTAB:
 * an object's symbol table; SHT_DYNSYM: a shared library's dynamic one)
 * until it returns true; whether one did. */
typedef bool each_symbol_fn(const char *name, const GElf_Sym *sym, void *ctx);
static bool each_symbol(Elf *elf, Elf64_Word type, each_symbol_fn *fn, void *ctx) {
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || sh.sh_entsize == 0)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        size_t count = data ? sh.sh_size / sh.sh_entsize : 0;
        for (size_t i = 1; i < count; i++) {
            GElf_Sym sym;
            const char *name = gelf_getsym(data, (int)i, &sym) ? elf_strptr(elf, sh.sh_link, sym.st_name) : NULL;
            if (name && *name && fn(name, &sym, ctx))
                return true;
        }
    }
    return false;
}

struct symtab_scan {
    struct link_syms *ls;
    Elf64_Word type;
};

static bool note_link_symbol(const char *name, const GElf_Sym *sym, void *ctx) {
    struct symtab_scan *scan = ctx;
    int bind = GELF_ST_BIND(sym->st_info);
    if (bind == STB_LOCAL && GELF_ST_TYPE(sym->st_info) == STT_FUNC)
        names_add(&scan->ls->local, name);
    if (bind != STB_GLOBAL && bind != STB_WEAK)
        return false;
    if (sym->st_shndx != SHN_UNDEF)
        names_add(&scan->ls->defined, name);
    else if (scan->type == SHT_SYMTAB && strncmp(name, prefix, PREFIX_LEN) == 0)
        names_add(&scan->ls->undefined, name);
    return false;
}

/* An object's symbol table, or (type SHT_DYNSYM) a shared library's
 * dynamic one. */
static void scan_symtab(Elf *elf, struct link_syms *ls, Elf64_Word type) {
    struct symtab_scan scan = {ls, type};
    each_symbol(elf, type, note_link_symbol, &scan);
}

/* An ELF object, or an archive of them: 1 if it was one; 2 for a shared
 * library (what it defines: the companions a library built with
 * partmalloc cc exports); 0 if none of these. */
static int scan_input(const char *path, struct link_syms *ls) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf *top = elf_begin(fd, ELF_C_READ, NULL);
    int found = 0;
    if (top && elf_kind(top) == ELF_K_AR) {
        found = 1;
        Elf_Cmd cmd = ELF_C_READ;
        Elf *member;
        while ((member = elf_begin(fd, cmd, top))) {
            GElf_Ehdr eh;
            if (elf_kind(member) == ELF_K_ELF && gelf_getehdr(member, &eh) && eh.e_type == ET_REL)
                scan_symtab(member, ls, SHT_SYMTAB);
            cmd = elf_next(member);
            elf_end(member);
        }
    } else if (top && elf_kind(top) == ELF_K_ELF) {
        GElf_Ehdr eh;
        if (gelf_getehdr(top, &eh) && eh.e_type == ET_REL) {
            found = 1;
            scan_symtab(top, ls, SHT_SYMTAB);
        } else if (gelf_getehdr(top, &eh) && eh.e_type == ET_DYN) {
            found = 2;
            scan_symtab(top, ls, SHT_DYNSYM);
        }
    }
    if (top)
        elf_end(top);
    close(fd);
    return found;
}

static bool note_export(const char *name, const GElf_Sym *sym, void *ctx) {
    if (sym->st_shndx != SHN_UNDEF && strncmp(name, prefix, PREFIX_LEN) == 0)
        names_add(ctx, name);
    return false;
}

/* The __alloc_token_* names libpartmalloc exports (its dynamic symbols). */
static void library_exports(struct names *out) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/libpartmalloc.so", tool_lib_dir());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    if (elf) {
        each_symbol(elf, SHT_DYNSYM, note_export, out);
        elf_end(elf);
    }
    close(fd);
}

/* ---- the wrappers' signatures, from DWARF ---- */

enum pclass { P_INT, P_DOUBLE, P_FLOAT, P_OTHER };

struct wrapper {
    const char *symbol;   /* __alloc_token_... */
    const char *name;     /* the wrapper */
    bool fast;            /* __alloc_token_<token>_<name>: the token is in the name */
    unsigned long long token;
    bool typed;           /* signature known: a real companion */
    int nparams;
    enum pclass params[MAX_PARAMS];
};

static enum pclass class_of(Dwarf_Die *die) {
    Dwarf_Attribute attr;
    Dwarf_Die type, peeled;
    if (!dwarf_attr_integrate(die, DW_AT_type, &attr) || !dwarf_formref_die(&attr, &type))
        return P_OTHER;
    if (dwarf_peel_type(&type, &peeled) != 0)
        return P_OTHER;
    Dwarf_Word size = 0, enc = 0;
    switch (dwarf_tag(&peeled)) {
    case DW_TAG_pointer_type:
    case DW_TAG_reference_type:
    case DW_TAG_rvalue_reference_type:
    case DW_TAG_enumeration_type:
        return P_INT;
    case DW_TAG_base_type:
        if (dwarf_formudata(dwarf_attr(&peeled, DW_AT_byte_size, &attr), &size) != 0 ||
            dwarf_formudata(dwarf_attr(&peeled, DW_AT_encoding, &attr), &enc) != 0)
            return P_OTHER;
        if (enc == DW_ATE_float)
            return size == 8 ? P_DOUBLE : size == 4 ? P_FLOAT : P_OTHER;
        if (enc == DW_ATE_complex_float || size > 8)
            return P_OTHER;
        return P_INT;
    default:
        return P_OTHER;
    }
}

static bool returns_pointer(Dwarf_Die *fn) {
    Dwarf_Attribute attr;
    Dwarf_Die type, peeled;
    return dwarf_attr_integrate(fn, DW_AT_type, &attr) && dwarf_formref_die(&attr, &type) &&
           dwarf_peel_type(&type, &peeled) == 0 && dwarf_tag(&peeled) == DW_TAG_pointer_type;
}

/* Fills w from the definition `fn`; false if it cannot be called through
 * a C prototype of integer/pointer/floating parameters. */
static bool read_params(Dwarf_Die *fn, struct wrapper *w) {
    if (!returns_pointer(fn))
        return false;
    Dwarf_Die child;
    int n = 0;
    if (dwarf_child(fn, &child) == 0) {
        do {
            int tag = dwarf_tag(&child);
            if (tag == DW_TAG_unspecified_parameters)
                return false;
            if (tag != DW_TAG_formal_parameter)
                continue;
            if (n == MAX_PARAMS)
                return false;
            enum pclass c = class_of(&child);
            if (c == P_OTHER)
                return false;
            w->params[n++] = c;
        } while (dwarf_siblingof(&child, &child) == 0);
    }
    w->nparams = n;
    return true;
}

static const char *die_symbol(Dwarf_Die *die) {
    Dwarf_Attribute attr;
    const char *s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    return s ? s : dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
}

struct dwarf_search {
    struct wrapper *w;
    size_t n;
};

static void search_unit(Dwarf_Die *cu, struct dwarf_search *s) {
    Dwarf_Die die;
    if (dwarf_child(cu, &die) != 0)
        return;
    do {
        if (dwarf_tag(&die) != DW_TAG_subprogram || dwarf_hasattr(&die, DW_AT_declaration) ||
            !dwarf_hasattr_integrate(&die, DW_AT_external))
            continue;
        if (!dwarf_hasattr(&die, DW_AT_low_pc) && !dwarf_hasattr(&die, DW_AT_ranges))
            continue;
        const char *name = die_symbol(&die);
        for (size_t i = 0; name && i < s->n; i++)
            if (!s->w[i].typed && strcmp(s->w[i].name, name) == 0)
                s->w[i].typed = read_params(&die, &s->w[i]);
    } while (dwarf_siblingof(&die, &die) == 0);
}

static int each_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start, void *arg) {
    (void)userdata, (void)name, (void)start;
    Dwarf_Addr bias;
    Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
    if (!dw)
        return DWARF_CB_OK;
    Dwarf_Off off = 0, next;
    size_t hsize;
    while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        Dwarf_Die cu;
        if (dwarf_offdie(dw, off + hsize, &cu))
            search_unit(&cu, arg);
        off = next;
    }
    return DWARF_CB_OK;
}

/* Reads the definitions' parameters from one ELF file's debug info. */
static void read_file_signatures(const char *path, struct dwarf_search *s) {
    static char *debuginfo_path = NULL;
    static const Dwfl_Callbacks callbacks = {
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = &debuginfo_path,
    };
    Dwfl *dwfl = dwfl_begin(&callbacks);
    if (!dwfl)
        return;
    dwfl_report_begin(dwfl);
    bool ok = dwfl_report_offline(dwfl, path, path, -1) != NULL;
    dwfl_report_end(dwfl, NULL, NULL);
    if (ok)
        dwfl_getmodules(dwfl, each_module, s, 0);
    dwfl_end(dwfl);
}

static bool is_wanted_definition(const char *name, const GElf_Sym *sym, void *ctx) {
    const struct dwarf_search *s = ctx;
    if (sym->st_shndx == SHN_UNDEF || GELF_ST_BIND(sym->st_info) == STB_LOCAL)
        return false;
    for (size_t j = 0; j < s->n; j++)
        if (!s->w[j].typed && strcmp(s->w[j].name, name) == 0)
            return true;
    return false;
}

/* Whether an object defines one of the wrappers still without a signature. */
static bool defines_wanted(Elf *elf, const struct dwarf_search *s) {
    return each_symbol(elf, SHT_SYMTAB, is_wanted_definition, (void *)s);
}

/* The same for each input: an archive's members are copied out one at a
 * time into `dir` (libdwfl relocates a file, not a member). */
static void read_signatures(char **paths, size_t npaths, const char *dir, struct wrapper *w, size_t n) {
    struct dwarf_search s = {w, n};
    char member_path[PATH_MAX + 32];
    snprintf(member_path, sizeof member_path, "%s/member.o", dir);
    for (size_t i = 0; i < npaths; i++) {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        Elf *top = elf_begin(fd, ELF_C_READ, NULL);
        if (top && elf_kind(top) == ELF_K_AR) {
            Elf_Cmd cmd = ELF_C_READ;
            Elf *member;
            while ((member = elf_begin(fd, cmd, top))) {
                size_t size;
                char *bytes = elf_rawfile(member, &size);
                bool wanted = bytes && elf_kind(member) == ELF_K_ELF && defines_wanted(member, &s);
                FILE *f = wanted ? fopen(member_path, "w") : NULL;
                if (f) {
                    bool ok = fwrite(bytes, 1, size, f) == size;
                    if (fclose(f) == 0 && ok)
                        read_file_signatures(member_path, &s);
                    unlink(member_path);
                }
                cmd = elf_next(member);
                elf_end(member);
            }
        } else if (top && defines_wanted(top, &s)) {
            read_file_signatures(paths[i], &s);
        }
        if (top)
            elf_end(top);
        close(fd);
    }
}

/* ---- the companions' source ---- */

static const char *c_type(enum pclass c) {
    return c == P_DOUBLE ? "double" : c == P_FLOAT ? "float" : "unsigned long";
}

static void write_params(FILE *f, const struct wrapper *w, bool named) {
    for (int i = 0; i < w->nparams; i++) {
        fprintf(f, "%s%s", i ? ", " : "", c_type(w->params[i]));
        if (named)
            fprintf(f, " a%d", i);
    }
}

/* A name C can spell (not, say, a compiler's "name.cold" or "name.llvm.N"). */
static bool c_identifier(const char *s) {
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static void write_companion(FILE *f, const struct wrapper *w) {
    if (!w->typed || !c_identifier(w->name)) {
        /* a jump: the call works, its type is not carried */
        fprintf(f,
                "__asm__(\".text\\n.globl %s\\n.hidden %s\\n.type %s, %%function\\n%s:\\n\"\n"
                "        PM_JUMP(\"%s\") \"\\n.size %s, .-%s\\n\");\n",
                w->symbol, w->symbol, w->symbol, w->symbol, w->name, w->symbol, w->symbol);
        return;
    }
    fprintf(f, "extern void *%s(", w->name);
    if (w->nparams == 0)
        fputs("void", f);
    write_params(f, w, false);
    fputs(");\n", f);
    fprintf(f, "PM_COMPANION void *%s(", w->symbol);
    write_params(f, w, true);
    if (!w->fast)
        fprintf(f, "%spm_size_t token", w->nparams ? ", " : "");
    else if (w->nparams == 0)
        fputs("void", f);
    fputs(") {\n", f);
    if (w->fast)
        fprintf(f, "    pm_token_scope_begin(%lluULL, __builtin_return_address(0));\n", w->token);
    else
        fputs("    pm_token_scope_begin(token, __builtin_return_address(0));\n", f);
    fprintf(f, "    void *r = %s(", w->name);
    for (int i = 0; i < w->nparams; i++)
        fprintf(f, "%sa%d", i ? ", " : "", i);
    fputs(");\n    pm_token_scope_end();\n    return r;\n}\n", f);
}

static const char source_head[] =
    "/* Written by partmalloc cc: the companions of the program's allocation wrappers. */\n"
    "typedef __SIZE_TYPE__ pm_size_t;\n"
    "extern void pm_token_scope_begin(pm_size_t token, const void *call_site);\n"
    "extern void pm_token_scope_end(void);\n"
    "#define PM_COMPANION __attribute__((visibility(\"hidden\"), noinline))\n"
    "#if defined(__x86_64__) || defined(__i386__)\n"
    "#define PM_JUMP(name) \"jmp \" name \"@PLT\"\n"
    "#elif defined(__aarch64__)\n"
    "#define PM_JUMP(name) \"b \" name\n"
    "#else\n"
    "#error \"partmalloc cc: no jump companion for this architecture\"\n"
    "#endif\n";

/* ---- the link ---- */

static bool is_relocatable_link(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--relocatable") == 0 || strcmp(argv[i], "-i") == 0)
            return true;
    return false;
}

/* Runs argv to its end; returns its exit status. */
static int run_child(char **argv, int out_fd) {
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (out_fd >= 0)
            dup2(out_fd, STDOUT_FILENO);
        execv(argv[0], argv);
        fprintf(stderr, "partmalloc %s: cannot run %s: %s\n", sub, argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The linker clang would have run for `name` (ld, ld.lld, ...). */
static bool real_linker(const char *clang, const char *dir, const char *name, char *out, size_t size) {
    char tmpl[PATH_MAX + 32];
    snprintf(tmpl, sizeof tmpl, "%s/prog-name", dir);
    int fd = open(tmpl, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    char opt[128];
    snprintf(opt, sizeof opt, "-print-prog-name=%s", name);
    char *argv[] = {(char *)clang, opt, NULL};
    int status = run_child(argv, fd);
    ssize_t n = status == 0 ? pread(fd, out, size - 1, 0) : -1;
    close(fd);
    unlink(tmpl);
    if (n <= 0)
        return false;
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    /* a bare name: the first one in PATH that is not in our directory */
    if (!strchr(out, '/')) {
        char bare[NAME_MAX + 1];
        snprintf(bare, sizeof bare, "%.*s", (int)(sizeof bare - 1), out);
        return spawn_find_program(bare, dir, out, size);
    }
    return access(out, X_OK) == 0;
}

/* -lNAME as ld finds it in the -L directories: libNAME.so (unless
 * -Bstatic) then libNAME.a; -l:FILE names the file. */
static bool find_library(const struct names *dirs, const char *lib, bool static_only, char *out, size_t size) {
    for (size_t i = 0; i < dirs->n; i++) {
        if (lib[0] == ':') {
            snprintf(out, size, "%s/%s", dirs->v[i], lib + 1);
            if (access(out, R_OK) == 0)
                return true;
            continue;
        }
        snprintf(out, size, "%s/lib%s.so", dirs->v[i], lib);
        if (!static_only && access(out, R_OK) == 0)
            return true;
        snprintf(out, size, "%s/lib%s.a", dirs->v[i], lib);
        if (access(out, R_OK) == 0)
            return true;
    }
    return false;
}

bool cc_link_shim_called(const char *argv0) {
    const char *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    return getenv(PM_CC_LINK_DIR_ENV) && strncmp(base, "ld", 2) == 0;
}

/* Splits "__alloc_token_..." into the wrapper's name and, for the fast ABI,
 * the token. */
static void parse_symbol(const char *symbol, struct wrapper *w) {
    const char *rest = symbol + PREFIX_LEN;
    w->symbol = symbol;
    w->name = rest;
    if (*rest >= '0' && *rest <= '9') {
        char *end;
        unsigned long long t = strtoull(rest, &end, 10);
        if (*end == '_' && end[1]) {
            w->fast = true;
            w->token = t;
            w->name = end + 1;
        }
    }
}

/* Writes and compiles the companions; returns the object's path in `obj`. */
static int build_companions(const char *clang, const char *dir, struct wrapper *w, size_t n, char *obj,
                            size_t size) {
    char src[PATH_MAX + 32];
    snprintf(src, sizeof src, "%s/companions.c", dir);
    snprintf(obj, size, "%s/companions.o", dir);
    FILE *f = fopen(src, "w");
    if (!f)
        return fail(sub, "cannot write %s: %s", src, strerror(errno));
    fputs(source_head, f);
    for (size_t i = 0; i < n; i++)
        write_companion(f, &w[i]);
    if (fclose(f) != 0)
        return fail(sub, "cannot write %s: %s", src, strerror(errno));
    char *argv[] = {(char *)clang, "-c", "-O2", "-fPIC", "-w", "-fno-sanitize=all", "-x", "c", src, "-o", obj, NULL};
    int status = run_child(argv, -1);
    if (status != 0)
        return fail(sub, "cannot compile the wrappers' companions (%s): exit %d", src, status);
    return 0;
}

int cmd_cc_link(int argc, char **argv) {
    char dir[PATH_MAX], clang[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", getenv(PM_CC_LINK_DIR_ENV));
    const char *c = getenv(PM_CC_CLANG_ENV);
    snprintf(clang, sizeof clang, "%s", c ? c : "clang-22");
    unsetenv(PM_CC_LINK_DIR_ENV);
    unsetenv(PM_CC_CLANG_ENV);
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    char linker[PATH_MAX];
    if (!real_linker(clang, dir, base, linker, sizeof linker))
        return fail(sub, "cannot find the linker %s (%s -print-prog-name=%s)", base, clang, base);

    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args)
        return fail(sub, "out of memory");
    args[0] = linker;
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    if (is_relocatable_link(argc, argv)) {
        execv(linker, args);
        return fail(sub, "cannot run %s: %s", linker, strerror(errno));
    }

    elf_version(EV_CURRENT);
    struct link_syms ls = {0};
    int first_input = -1;
    char **inputs = calloc((size_t)argc, sizeof *inputs);
    size_t ninputs = 0;
    struct names libdirs = {0};
    bool static_libs = false;
    char libpath[PATH_MAX + NAME_MAX + 8];
    for (int i = 1; inputs && i < argc; i++) {
        const char *arg = argv[i], *input = NULL;
        if (strcmp(arg, "-o") == 0) {
            i++;
            continue;
        }
        if (strncmp(arg, "-L", 2) == 0) {
            const char *d = arg[2] ? arg + 2 : i + 1 < argc ? argv[++i] : NULL;
            if (d)
                names_add(&libdirs, d);
            continue;
        }
        if (strcmp(arg, "-Bstatic") == 0 || strcmp(arg, "-static") == 0 || strcmp(arg, "-dn") == 0 ||
            strcmp(arg, "-non_shared") == 0)
            static_libs = true;
        else if (strcmp(arg, "-Bdynamic") == 0 || strcmp(arg, "-dy") == 0 || strcmp(arg, "-call_shared") == 0)
            static_libs = false;
        if (strncmp(arg, "-l", 2) == 0) {
            const char *lib = arg[2] ? arg + 2 : i + 1 < argc ? argv[++i] : NULL;
            if (lib)
                input = find_library(&libdirs, lib, static_libs, libpath, sizeof libpath) ? libpath : NULL;
        } else if (arg[0] != '-') {
            input = arg;
        }
        if (input && scan_input(input, &ls) == 1) {
            if (first_input < 0)
                first_input = i;
            inputs[ninputs++] = strdup(input);
        }
    }
    struct names exports = {0};
    library_exports(&exports);
    struct wrapper *w = calloc(ls.undefined.n + 1, sizeof *w);
    size_t nw = 0;
    for (size_t i = 0; w && i < ls.undefined.n; i++) {
        const char *symbol = ls.undefined.v[i];
        if (names_has(&ls.defined, symbol) || names_has(&exports, symbol))
            continue;
        parse_symbol(symbol, &w[nw]);
        nw++;
    }
    char obj[PATH_MAX + 32];
    if (nw > 0) {
        read_signatures(inputs, ninputs, dir, w, nw);
        struct names noted = {0}; /* one line per wrapper, for the fast ABI's many names */
        for (size_t i = 0; i < nw; i++) {
            if (w[i].typed || names_has(&noted, w[i].name))
                continue;
            names_add(&noted, w[i].name);
            if (strncmp(w[i].name, forwarder_prefix, sizeof forwarder_prefix - 1) == 0)
                fprintf(stderr, "partmalloc %s: calls through the variable %s go to a forwarder of each file: "
                        "only that file can define %s%s\n", sub, w[i].name + sizeof forwarder_prefix - 1,
                        w[i].symbol, w[i].fast ? " (function-pointer variables do not work with the fast ABI)" : "");
            else if (!names_has(&ls.defined, w[i].name) && names_has(&ls.local, w[i].name))
                fprintf(stderr, "partmalloc %s: %s is static: only its own file can define %s%s\n", sub, w[i].name,
                        w[i].symbol, w[i].fast ? " (static wrappers do not work with the fast ABI)" : "");
            else if (names_has(&ls.defined, w[i].name))
                fprintf(stderr, "partmalloc %s: note: no debug info for the wrapper %s (build its file with -g): "
                        "its calls carry no type\n", sub, w[i].name);
        }
        if (build_companions(clang, dir, w, nw, obj, sizeof obj))
            return 1;
        /* the companions first, so that archives after them supply the wrappers */
        int at = first_input > 0 ? first_input : argc;
        memmove(args + at + 1, args + at, (size_t)(argc - at) * sizeof *args);
        args[at] = obj;
        argc++;
    }
    args[argc] = NULL;
    execv(linker, args);
    return fail(sub, "cannot run %s: %s", linker, strerror(errno));
}
