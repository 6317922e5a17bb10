/* A program that tells partmalloc its -falloc-token-max by defining
 * partmalloc_token_max (here 16) instead of PARTMALLOC_TOKEN_MAX; the
 * environment, when set, wins. Allocates with explicit tokens and prints
 *   config mode=<mode> partitions=<N> token_max=<M>
 *   token <t> partition <p> expected <pm_token_partition(t)>     (per token)
 */
#include <stdint.h>
#include <stdio.h>

#include "partmalloc.h"
#include "print_config.h"

const unsigned long long partmalloc_token_max = 16;

int main(void) {
    print_config();
    static const uint64_t tokens[] = {0, 3, 7, 8, 12, 15, 16, 24, 40, 63, 64, UINT64_MAX};
    int bad = 0;
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        void *p = pm_malloc_token(48, tokens[i]);
        struct pm_ptr_info info;
        if (!p || !pm_ptr_info(p, &info) || !info.is_small) {
            bad = 1;
            continue;
        }
        printf("token %llu partition %u expected %u\n", (unsigned long long)tokens[i], info.partition,
               pm_token_partition(tokens[i]));
        pm_free(p);
    }
    return bad;
}
