/* What the C++ operators (new.cc) call in the C library (new_bridge.c). */
#ifndef PM_NEW_BRIDGE_H
#define PM_NEW_BRIDGE_H

#include <stddef.h>

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NULL on failure; `alignment` 0 is the default alignment. */
void *pm_cxx_alloc(size_t size, size_t alignment, pm_part_t part);
pm_part_t pm_cxx_site_part(const void *return_address);
pm_part_t pm_cxx_token_part(size_t token, const void *return_address);
void pm_dealloc(void *ptr);
void pm_dealloc_checked(void *ptr, size_t size, size_t alignment);
/* Prints "partmalloc: <msg>" and aborts. */
__attribute__((noreturn)) void pm_cxx_fatal(const char *msg);

#ifdef __cplusplus
}
#endif
#endif /* PM_NEW_BRIDGE_H */
