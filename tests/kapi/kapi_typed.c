/* The kernel-style API's typed placement: built with clang-22 (tokens come
 * from __builtin_infer_alloc_token at each call, no -fsanitize flag) and
 * with gcc (no inference: calls are placed by call site). Exits 0 when every
 * check holds; prints each failure. */
#include <partmalloc/slab.h>
#include <stdio.h>
#include <string.h>

struct with_ptrs {
    struct with_ptrs *next;
    char *name;
    long value;
};

struct plain {
    long a, b, c;
    double d;
};

struct flex_ptrs {
    size_t count;
    int kind;
    char *items[] __counted_by(count);
};

struct flex_plain {
    unsigned short len;
    unsigned char bytes[] __counted_by(len);
};

static int failures;
static struct pm_config config;

/* Whether `partition` is one of the typed-mode group's partitions: the
 * types with pointers' for `holds_pointers`, else the known pointer-free
 * types'. */
static __attribute__((unused)) int in_group(unsigned partition, int holds_pointers) {
    struct pm_group_range r = config.groups[holds_pointers ? PM_GROUP_POINTERS : PM_GROUP_NO_POINTERS];
    return partition >= r.first && partition < r.first + r.count;
}

static void expect_half(const char *what, const void *p, int holds_pointers) {
    struct pm_ptr_info info;
    if (!p || !pm_ptr_info(p, &info)) {
        printf("FAIL %s: no object\n", what);
        failures++;
        return;
    }
#if defined(__has_builtin) && __has_builtin(__builtin_infer_alloc_token)
    if (config.partitions > 1 && !in_group(info.partition, holds_pointers)) {
        printf("FAIL %s: partition %u of %u\n", what, info.partition, config.partitions);
        failures++;
        return;
    }
#else
    (void)holds_pointers;
#endif
    printf("ok   %-40s %s\n", what, info.cache_name);
}

int main(void) {
    pm_get_config(&config);

    struct with_ptrs *a = kmalloc_obj(*a);
    struct plain *b = kmalloc_obj(struct plain, GFP_KERNEL);
    struct with_ptrs *arr = kmalloc_objs(*arr, 10);
    struct plain *parr = kzalloc_objs(struct plain, 10, GFP_KERNEL);
    struct flex_ptrs *fp = kmalloc_flex(*fp, items, 7);
    struct flex_plain *fq = kzalloc_flex(struct flex_plain, bytes, 100);
    struct with_ptrs *k = kmalloc(sizeof(struct with_ptrs), GFP_KERNEL);
    struct plain *kz = kzalloc(sizeof(*kz), GFP_KERNEL);
    struct with_ptrs *kc = kcalloc(4, sizeof(struct with_ptrs), GFP_KERNEL);
    expect_half("kmalloc_obj(*ptr-holding)", a, 1);
    expect_half("kmalloc_obj(struct plain)", b, 0);
    expect_half("kmalloc_objs(ptr-holding, 10)", arr, 1);
    expect_half("kzalloc_objs(struct plain, 10)", parr, 0);
    expect_half("kmalloc_flex(ptr-holding, items, 7)", fp, 1);
    expect_half("kzalloc_flex(plain, bytes, 100)", fq, 0);
    expect_half("kmalloc(sizeof(ptr-holding))", k, 1);
    expect_half("kzalloc(sizeof(*plain))", kz, 0);
    expect_half("kcalloc(4, sizeof(ptr-holding))", kc, 1);
    for (int i = 0; i < 10; i++)
        if (parr[i].a || parr[i].d != 0.0) {
            printf("FAIL kzalloc_objs did not zero\n");
            failures++;
        }
#if defined(__has_builtin) && __has_builtin(__builtin_counted_by_ref)
    if (fp->count != 7 || fq->len != 100) {
        printf("FAIL counted_by counters not set: %zu %u\n", fp->count, fq->len);
        failures++;
    } else {
        printf("ok   counted_by counters set (7, 100)\n");
    }
#endif
    for (int i = 0; i < 100; i++)
        if (fq->bytes[i]) {
            printf("FAIL kzalloc_flex did not zero\n");
            failures++;
            break;
        }
    kfree(a), kfree(b), kfree(arr), kfree(parr), kfree(fp), kfree(fq), kfree(k), kfree(kz), kfree(kc);
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures != 0;
}
