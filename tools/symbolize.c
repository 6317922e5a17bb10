/* Code addresses to function names and source lines, with libdwfl. */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"

/* abi::__cxa_demangle, which libstdc++ exports with C linkage. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *n, int *status);

/* The address the byte at file offset `offset` has in the file's own
 * layout (its PT_LOAD segments' p_vaddr), or false. */
static bool file_offset_to_vaddr(const char *path, uint64_t offset, uint64_t *vaddr) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool found = false;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    size_t n = 0;
    if (elf && elf_getphdrnum(elf, &n) == 0)
        for (size_t i = 0; i < n && !found; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && offset >= ph.p_offset &&
                offset < ph.p_offset + ph.p_filesz) {
                *vaddr = ph.p_vaddr + (offset - ph.p_offset);
                found = true;
            }
        }
    if (elf)
        elf_end(elf);
    close(fd);
    return found;
}

static void set_function(struct code_place *out, const char *name) {
    int status = -1;
    char *d = name[0] == '_' && name[1] == 'Z' ? __cxa_demangle(name, NULL, NULL, &status) : NULL;
    snprintf(out->function, sizeof out->function, "%s", status == 0 && d ? d : name);
    free(d);
}

/* The CU that holds `pc`, by walking every CU: libdw finds it only
 * through .debug_aranges, which clang does not emit. */
static bool cu_of(Dwarf *dw, Dwarf_Addr pc, Dwarf_Die *cu) {
    Dwarf_Off off = 0, next;
    size_t header;
    while (dwarf_nextcu(dw, off, &next, &header, NULL, NULL, NULL) == 0) {
        if (dwarf_offdie(dw, off + header, cu) && dwarf_haspc(cu, pc) == 1)
            return true;
        off = next;
    }
    return false;
}

static void set_source(struct code_place *out, const char *file, int lineno) {
    const char *base = strrchr(file, '/');
    if (lineno > 0)
        snprintf(out->source, sizeof out->source, "%s:%d", base ? base + 1 : file, lineno);
    else /* code the compiler merged from several lines */
        snprintf(out->source, sizeof out->source, "%s", base ? base + 1 : file);
}

/* The name of the function of `cu` (a top-level one) whose code holds
 * `pc`: dwarf_getscopes skips it when the innermost scope is inlined. */
static const char *outer_function(Dwarf_Die *cu, Dwarf_Addr pc) {
    Dwarf_Die child;
    if (dwarf_child(cu, &child) != 0)
        return NULL;
    do
        if (dwarf_tag(&child) == DW_TAG_subprogram && dwarf_haspc(&child, pc) == 1)
            return dwarf_diename(&child);
    while (dwarf_siblingof(&child, &child) == 0);
    return NULL;
}

/* From the DWARF: the innermost function at `pc` (an inlined wrapper's
 * own name, with the function it was inlined into) and the line. */
static void place_from_dwarf(Dwarf *dw, Dwarf_Addr pc, struct code_place *out) {
    Dwarf_Die cu;
    if (!dw || !cu_of(dw, pc, &cu))
        return;
    Dwarf_Line *line = dwarf_getsrc_die(&cu, pc);
    int lineno = 0;
    const char *file = line && dwarf_lineno(line, &lineno) == 0 ? dwarf_linesrc(line, NULL, NULL) : NULL;
    if (file)
        set_source(out, file, lineno);
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(&cu, pc, &scopes);
    const char *inner = NULL, *outer = outer_function(&cu, pc);
    for (int i = 0; i < n && !inner; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine)
            inner = dwarf_diename(&scopes[i]);
    }
    if (inner)
        set_function(out, inner);
    if (inner && outer && strcmp(inner, outer) != 0) {
        size_t len = strlen(out->source);
        snprintf(out->source + len, sizeof out->source - len, "%sinlined into %s", len ? ", " : "", outer);
    }
    free(scopes);
}

bool symbolize_return_address(const char *path, uint64_t offset, struct code_place *out) {
    out->function[0] = out->source[0] = '\0';
    uint64_t vaddr;
    if (offset == 0 || !file_offset_to_vaddr(path, offset, &vaddr))
        return false;
    static char *debuginfo_path;
    const Dwfl_Callbacks callbacks = {
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = &debuginfo_path,
    };
    Dwfl *dwfl = dwfl_begin(&callbacks);
    if (!dwfl)
        return false;
    dwfl_report_begin(dwfl);
    /* at base 0, an address in the module is its address in the file */
    Dwfl_Module *mod = dwfl_report_elf(dwfl, path, path, -1, 0, false);
    dwfl_report_end(dwfl, NULL, NULL);
    if (mod) {
        Dwarf_Addr call = vaddr - 1; /* inside the call instruction */
        Dwarf_Addr bias = 0;
        place_from_dwarf(dwfl_module_getdwarf(mod, &bias), call - bias, out);
        const char *name = out->function[0] ? NULL : dwfl_module_addrname(mod, call);
        if (name) /* no DWARF there: the symbol table's name */
            set_function(out, name);
    }
    dwfl_end(dwfl);
    return mod != NULL;
}
