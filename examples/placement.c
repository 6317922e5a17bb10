/* Where do my objects live? Build with allocation tokens and run:
 *
 *   make example
 *
 * Each allocation below is an ordinary malloc/calloc/new-style call; the
 * compiler (clang-22 -fsanitize=alloc-token) passes the type's token, and
 * partmalloc places pointer-holding types in the upper half of the
 * partitions and plain data in the lower half. */
#include <partmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tells partmalloc the -falloc-token-max this program was built with (the
 * Makefile passes -DTOKEN_MAX=16), so it can tell pointer types from data.
 * PARTMALLOC_TOKEN_MAX in the environment does the same without a rebuild. */
const unsigned long long partmalloc_token_max = TOKEN_MAX;

struct session {            /* holds pointers */
    char *user;
    struct session *next;
    int fd;
};

struct packet_header {      /* plain data */
    unsigned short length, type;
    unsigned int sequence;
    unsigned char flags[8];
};

struct node {               /* holds pointers */
    struct node *left, *right;
    long key;
};

struct rgb {                /* plain data */
    unsigned char r, g, b;
};

static void show(const char *what, const void *p) {
    struct pm_ptr_info info;
    if (!pm_ptr_info(p, &info)) {
        printf("%-38s not a partmalloc pointer\n", what);
        return;
    }
    struct pm_config c;
    pm_get_config(&c);
    printf("%-38s %-22s partition %2u", what, info.cache_name, info.partition);
    if (c.mode == PM_MODE_TYPED && c.partitions > 1)
        printf("  (%s half)", info.partition >= c.partitions / 2 ? "pointer" : "data");
    printf("\n");
}

int main(void) {
    struct pm_config c;
    pm_get_config(&c);
    printf("partmalloc %s: mode %s, %u partitions\n\n", PARTMALLOC_VERSION,
           c.mode == PM_MODE_TYPED ? "typed" : c.mode == PM_MODE_RANDOM ? "random" : "none", c.partitions);

    struct session *s = malloc(sizeof(struct session));
    struct packet_header *h = malloc(sizeof(struct packet_header));
    struct node *tree = calloc(4, sizeof(struct node));
    struct rgb *image = calloc(10, sizeof(struct rgb));
    char *text = malloc(24);
    show("malloc(sizeof(struct session))", s);
    show("malloc(sizeof(struct packet_header))", h);
    show("calloc(4, sizeof(struct node))", tree);
    show("calloc(10, sizeof(struct rgb))", image);
    show("malloc(24) (no type)", text);
    free(s);
    free(h);
    free(tree);
    free(image);
    free(text);
    return 0;
}
