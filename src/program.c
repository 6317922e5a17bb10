/* What the program was built with: whether the main executable refers to
 * the allocation-token ABI, so that calls without a token (an uninstrumented
 * library's, libc's strdup) can be told apart from a program that has no
 * tokens at all (partition.h's unknown group).
 *
 * The executable's program headers come from the auxiliary vector; its
 * dynamic section gives the dynamic symbol table and string table, and the
 * symbol count comes from the ELF hash table (DT_HASH: nchain) or, when only
 * the GNU hash table is present, from walking its last chain. The dynamic
 * loader may already have relocated the section's addresses (glibc does on
 * x86-64), so an address below the load bias is taken as unrelocated.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>

#include "program.h"

struct dynamic_tables {
    const ElfW(Sym) *symtab;
    const char *strtab;
    const uint32_t *hash;     /* DT_HASH */
    const uint32_t *gnu_hash; /* DT_GNU_HASH */
};

static const void *relocated(ElfW(Addr) addr, ElfW(Addr) bias) {
    return (const void *)(addr < bias ? addr + bias : addr);
}

static bool read_dynamic(const ElfW(Dyn) *dyn, ElfW(Addr) bias, struct dynamic_tables *t) {
    memset(t, 0, sizeof *t);
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB)
            t->symtab = relocated(dyn->d_un.d_ptr, bias);
        else if (dyn->d_tag == DT_STRTAB)
            t->strtab = relocated(dyn->d_un.d_ptr, bias);
        else if (dyn->d_tag == DT_HASH)
            t->hash = relocated(dyn->d_un.d_ptr, bias);
        else if (dyn->d_tag == DT_GNU_HASH)
            t->gnu_hash = relocated(dyn->d_un.d_ptr, bias);
    }
    return t->symtab && t->strtab && (t->hash || t->gnu_hash);
}

/* Symbols in the table. GNU hash: header (nbuckets, symoffset, bloom
 * size, shift), the bloom words, the buckets, then one chain word per
 * symbol from symoffset, the last of each chain with its low bit set. The
 * highest bucket start's chain ends at the last symbol. */
static size_t symbol_count(const struct dynamic_tables *t) {
    if (t->hash)
        return t->hash[1];
    const uint32_t *h = t->gnu_hash;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_words = h[2];
    const uint32_t *buckets = h + 4 + bloom_words * (sizeof(ElfW(Addr)) / 4);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t b = 0; b < nbuckets; b++)
        if (buckets[b] > last)
            last = buckets[b];
    if (last < symoffset)
        return symoffset;
    while (!(chain[last - symoffset] & 1))
        last++;
    return (size_t)last + 1;
}

bool pm_program_has_tokens(void) {
    const ElfW(Phdr) *phdr = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t phnum = getauxval(AT_PHNUM);
    if (!phdr || !phnum)
        return false;
    ElfW(Addr) bias = 0;
    const ElfW(Phdr) *dynamic = NULL;
    for (size_t i = 0; i < phnum; i++) {
        if (phdr[i].p_type == PT_PHDR)
            bias = (ElfW(Addr))phdr - phdr[i].p_vaddr;
        else if (phdr[i].p_type == PT_DYNAMIC)
            dynamic = &phdr[i];
    }
    struct dynamic_tables t;
    if (!dynamic || !read_dynamic((const ElfW(Dyn) *)(dynamic->p_vaddr + bias), bias, &t))
        return false;
    static const char prefix[] = "__alloc_token_";
    size_t count = symbol_count(&t);
    for (size_t i = 1; i < count; i++) {
        const ElfW(Sym) *s = &t.symtab[i];
        if (s->st_shndx == SHN_UNDEF && strncmp(t.strtab + s->st_name, prefix, sizeof prefix - 1) == 0)
            return true;
    }
    return false;
}
