/* A library's allocators reached through global variables that hold
 * function pointers, as libxml2's xmlMalloc, xmlMallocAtomic, xmlRealloc
 * and xmlMemStrdup: the library's callers and the library itself call
 * through the variables, and a program may point them at its own
 * allocator. `partmalloc cc --wrapper=fp_malloc,...` names the variables. */
#include <stddef.h>

typedef void *(*fp_malloc_fn)(size_t n);
typedef void *(*fp_calloc_fn)(size_t n, size_t size);
typedef void *(*fp_realloc_fn)(void *p, size_t n);
typedef char *(*fp_strdup_fn)(const char *s);

extern fp_malloc_fn fp_malloc;   /* malloc at start */
extern fp_calloc_fn fp_calloc;   /* calloc */
extern fp_realloc_fn fp_realloc; /* realloc */
extern fp_strdup_fn fp_strdup;   /* fp_own_strdup: the library's own */

/* The library's strdup: copies through fp_malloc. */
char *fp_own_strdup(const char *s);

/* A program's own allocators, which count their calls. */
extern int fp_counted;
void *fp_counting_malloc(size_t n);
void *fp_counting_realloc(void *p, size_t n);
