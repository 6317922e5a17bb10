/* The C side of the C++ operators (new.cc): what they call in the C
 * library, with the C allocation family's rules (new_bridge.h). */
#include "frontend.h"
#include "new_bridge.h"
#include "os.h"

void *pm_cxx_alloc(size_t size, size_t alignment, pm_part_t part) {
    if (alignment == 0)
        return pm_alloc_inline(size, part);
    if (!pm_is_pow2(alignment))
        return NULL;
    return pm_alloc_aligned(alignment, size, part);
}

pm_part_t pm_cxx_site_part(const void *return_address) {
    PM_STAT_PLAIN(return_address);
    return pm_site_part(return_address);
}
pm_part_t pm_cxx_token_part(size_t token, const void *return_address) {
    PM_STAT_TOKEN(token, return_address);
    return pm_token_part_at(token, return_address);
}

void pm_cxx_fatal(const char *msg) {
    pm_fatal(msg);
}
