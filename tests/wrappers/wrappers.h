/* A program's allocation wrappers, in the shapes real programs use. With
 * PM_TEST_ATTRIBUTES they are declared as a careful program declares them
 * (malloc, alloc_size); without it, as most programs do: plain prototypes,
 * which `partmalloc cc --wrapper=...` has to make carry their callers'
 * types. */
#include <stddef.h>

#ifdef PM_TEST_ATTRIBUTES
#define PM_MALLOC_LIKE(...) __attribute__((malloc, alloc_size(__VA_ARGS__)))
#define PM_REALLOC_LIKE(n) __attribute__((alloc_size(n)))
#define PM_MALLOC_ONLY __attribute__((malloc))
#else
#define PM_MALLOC_LIKE(...)
#define PM_REALLOC_LIKE(n)
#define PM_MALLOC_ONLY
#endif

void *xmalloc(size_t n) PM_MALLOC_LIKE(1);                 /* checked malloc */
void *xcalloc(size_t n, size_t size) PM_MALLOC_LIKE(1, 2); /* calloc-style */
void *xrealloc(void *p, size_t n) PM_REALLOC_LIKE(2);      /* realloc-style */
void *hmalloc(size_t n) PM_MALLOC_LIKE(1);                 /* a 16-byte size header before the object */
void *umalloc(size_t n, size_t *usable) PM_MALLOC_ONLY;    /* and the usable size */
void *gmalloc(double growth, size_t n) PM_MALLOC_ONLY;     /* a floating parameter first */
void *hmalloc_base(void *p);
size_t hmalloc_size(void *p);
void hfree(void *p);
