// Calls through function-pointer variables in C++: one in a namespace
// (its symbol mangled), one with C linkage, and calls in a template, each
// instantiated for a type with pointers and one without (check.h).
#include <cstdlib>

#include "check.h"

namespace pool {
void *(*allocate)(size_t n) = malloc;
}
extern "C" {
void *(*c_allocate)(size_t n) = malloc;
}

template <class T> T *make() { return static_cast<T *>(pool::allocate(sizeof(T))); }
template <class T> T *make_c() { return static_cast<T *>(c_allocate(sizeof(T))); }

int main() {
    for (int i = 0; i < 3; i++) {
        tree *t = make<tree>();
        sample *s = make<sample>();
        tree *tc = make_c<tree>();
        sample *sc = make_c<sample>();
        check("pool::allocate(sizeof(tree))", t, 1);
        check("pool::allocate(sizeof(sample))", s, 0);
        check("c_allocate(sizeof(tree))", tc, 1);
        check("c_allocate(sizeof(sample))", sc, 0);
        free(t), free(s), free(tc), free(sc);
    }
    return check_summary();
}
