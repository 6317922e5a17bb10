/* Names a code address of a program from its file: the function and, where
 * there is debug info, the source file and line (libdwfl). */
#ifndef PM_TOOLS_SYMBOLIZE_H
#define PM_TOOLS_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct code_place {
    char function[256];  /* demangled; "" when the file has no symbol there */
    char source[512];    /* "file.c:58", or "" without line info */
};

/* The place of the byte at `offset` in the ELF file `path` (an offset into
 * the file, as /proc/PID/maps gives it). A return address names the call
 * before it: pass the call's return address, the place is that of the call.
 * false if the file cannot be read or the offset is in no loaded segment. */
bool symbolize_return_address(const char *path, uint64_t offset, struct code_place *out);

#endif
