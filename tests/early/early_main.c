/* Checks that memory allocated in a constructor, by the dynamic loader
 * (dlopen/dlclose) and by thread start-up comes from partmalloc and can be
 * freed through it. Exits 0 on success. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partmalloc.h"

extern void *early_pointer;
extern char *early_copy;

static void *thread_main(void *arg) {
    char *p = malloc(100);
    strcpy(p, arg);
    return p;
}

int main(void) {
    int (*info_fn)(const void *, struct pm_ptr_info *) =
        (int (*)(const void *, struct pm_ptr_info *))dlsym(RTLD_DEFAULT, "pm_ptr_info");
    if (!info_fn) {
        puts("partmalloc is not loaded");
        return 1;
    }
    struct pm_ptr_info info;
    if (!info_fn(early_pointer, &info) || !info.live || !info_fn(early_copy, &info) || !info.live) {
        puts("constructor allocations did not come from partmalloc");
        return 1;
    }
    if (strcmp(early_copy, "allocated in a constructor") != 0)
        return 1;
    free(early_pointer);
    free(early_copy);
    for (int i = 0; i < 20; i++) { /* the loader allocates and frees link maps */
        void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_GLOBAL);
        if (!h)
            return 1;
        dlclose(h);
        if (z)
            dlclose(z);
    }
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, thread_main, "thread");
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        if (!info_fn(r, &info) || !info.live || strcmp(r, "thread") != 0)
            return 1;
        free(r);
    }
    puts("ok");
    return 0;
}
