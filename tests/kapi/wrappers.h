#include <stddef.h>
void *xmalloc(size_t n) __attribute__((malloc, alloc_size(1)));
void *xcalloc(size_t n, size_t size) __attribute__((malloc, alloc_size(1, 2)));
void *xrealloc(void *p, size_t n) __attribute__((alloc_size(2)));
void *hmalloc(size_t n) __attribute__((malloc, alloc_size(1)));
void *hmalloc_base(void *p);
void hfree(void *p);
