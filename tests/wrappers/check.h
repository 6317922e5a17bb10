/* Where a wrapper's object landed: each check asks pm_ptr_info for the
 * object's partition and compares it with the typed-mode group its type
 * belongs to (pm_get_config's groups): the pointer group for a type that
 * holds pointers, the known pointer-free group for one that does not. A
 * wrapper whose callers' types are lost gives every object the wrapper's
 * own token (no type: the unknown group), so the check fails. The program
 * prints one line per object and "wrappers: R right, W wrong". */
#ifndef PM_TEST_WRAPPERS_CHECK_H
#define PM_TEST_WRAPPERS_CHECK_H

#include <partmalloc.h>
#include <stdio.h>

struct tree {
    struct tree *left, *right;
    void *payload;
};

struct sample {
    double values[6];
};

static int check_right, check_wrong;

static void check(const char *what, const void *p, int holds_pointers) {
    static struct pm_config config;
    if (config.partitions == 0)
        pm_get_config(&config);
    struct pm_ptr_info info;
    if (!p || !pm_ptr_info(p, &info)) {
        printf("%-40s no object\n", what);
        check_wrong++;
        return;
    }
    struct pm_group_range r = config.groups[holds_pointers ? PM_GROUP_POINTERS : PM_GROUP_NO_POINTERS];
    int ok = info.partition >= r.first && info.partition < r.first + r.count;
    if (ok)
        check_right++;
    else
        check_wrong++;
    printf("%-40s partition %2u %s\n", what, info.partition, ok ? "ok" : "WRONG");
}

static int check_summary(void) {
    printf("wrappers: %d right, %d wrong\n", check_right, check_wrong);
    return 0;
}

#endif
