// C++ operators new and delete in every standard form, and their
// allocation-token forms (__alloc_token__Znwm and the fast ABI's
// __alloc_token_<T>__Znwm). Failure follows the standard: call the
// new-handler and retry, then throw std::bad_alloc, or return null for the
// nothrow forms. Sized and aligned deletes check the size and alignment.
#include <cstddef>
#include <cstdint>
#include <new>

#include "new_bridge.h"
#include "pm_fast_tokens.h"

namespace {

// Alignment 0 means the default (16 bytes from 16 up).
void *try_alloc(std::size_t size, std::size_t alignment, pm_part_t part) {
    return pm_cxx_alloc(size, alignment, part);
}

void *new_or_throw(std::size_t size, std::size_t alignment, pm_part_t part) {
    for (;;) {
        void *p = try_alloc(size, alignment, part);
        if (p)
            return p;
        std::new_handler handler = std::get_new_handler();
        if (!handler)
            throw std::bad_alloc();
        handler();
    }
}

void *new_or_null(std::size_t size, std::size_t alignment, pm_part_t part) noexcept {
    try {
        return new_or_throw(size, alignment, part);
    } catch (...) {
        return nullptr;
    }
}

inline std::size_t align_of(std::align_val_t a) {
    return static_cast<std::size_t>(a);
}

} // namespace

#define SITE pm_cxx_site_part(__builtin_return_address(0))
#define EXPORT __attribute__((visibility("default")))

EXPORT void *operator new(std::size_t n) { return new_or_throw(n, 0, SITE); }
EXPORT void *operator new[](std::size_t n) { return new_or_throw(n, 0, SITE); }
EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return new_or_null(n, 0, SITE); }
EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return new_or_null(n, 0, SITE); }
EXPORT void *operator new(std::size_t n, std::align_val_t a) { return new_or_throw(n, align_of(a), SITE); }
EXPORT void *operator new[](std::size_t n, std::align_val_t a) { return new_or_throw(n, align_of(a), SITE); }
EXPORT void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return new_or_null(n, align_of(a), SITE);
}
EXPORT void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return new_or_null(n, align_of(a), SITE);
}

EXPORT void operator delete(void *p) noexcept { pm_dealloc(p); }
EXPORT void operator delete[](void *p) noexcept { pm_dealloc(p); }
EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept { pm_dealloc(p); }
EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept { pm_dealloc(p); }
EXPORT void operator delete(void *p, std::size_t n) noexcept { pm_dealloc_checked(p, n, 0); }
EXPORT void operator delete[](void *p, std::size_t n) noexcept { pm_dealloc_checked(p, n, 0); }
EXPORT void operator delete(void *p, std::align_val_t) noexcept { pm_dealloc(p); }
EXPORT void operator delete[](void *p, std::align_val_t) noexcept { pm_dealloc(p); }
EXPORT void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { pm_dealloc(p); }
EXPORT void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { pm_dealloc(p); }
EXPORT void operator delete(void *p, std::size_t n, std::align_val_t a) noexcept {
    pm_dealloc_checked(p, n, align_of(a));
}
EXPORT void operator delete[](void *p, std::size_t n, std::align_val_t a) noexcept {
    pm_dealloc_checked(p, n, align_of(a));
}

// Token forms: the original parameters, then the token (default ABI), or
// the token in the name (fast ABI).
#define TOKEN(t) pm_cxx_token_part((t), __builtin_return_address(0))
using nothrow_ref = const std::nothrow_t &;

extern "C" {
EXPORT void *__alloc_token__Znwm(std::size_t n, std::size_t t) { return new_or_throw(n, 0, TOKEN(t)); }
EXPORT void *__alloc_token__Znam(std::size_t n, std::size_t t) { return new_or_throw(n, 0, TOKEN(t)); }
EXPORT void *__alloc_token__ZnwmRKSt9nothrow_t(std::size_t n, nothrow_ref, std::size_t t) noexcept {
    return new_or_null(n, 0, TOKEN(t));
}
EXPORT void *__alloc_token__ZnamRKSt9nothrow_t(std::size_t n, nothrow_ref, std::size_t t) noexcept {
    return new_or_null(n, 0, TOKEN(t));
}
EXPORT void *__alloc_token__ZnwmSt11align_val_t(std::size_t n, std::align_val_t a, std::size_t t) {
    return new_or_throw(n, align_of(a), TOKEN(t));
}
EXPORT void *__alloc_token__ZnamSt11align_val_t(std::size_t n, std::align_val_t a, std::size_t t) {
    return new_or_throw(n, align_of(a), TOKEN(t));
}
EXPORT void *__alloc_token__ZnwmSt11align_val_tRKSt9nothrow_t(std::size_t n, std::align_val_t a, nothrow_ref,
                                                              std::size_t t) noexcept {
    return new_or_null(n, align_of(a), TOKEN(t));
}
EXPORT void *__alloc_token__ZnamSt11align_val_tRKSt9nothrow_t(std::size_t n, std::align_val_t a, nothrow_ref,
                                                              std::size_t t) noexcept {
    return new_or_null(n, align_of(a), TOKEN(t));
}

#define FAST_NEW(T)                                                                                \
    EXPORT void *__alloc_token_##T##__Znwm(std::size_t n) { return new_or_throw(n, 0, TOKEN(T)); } \
    EXPORT void *__alloc_token_##T##__Znam(std::size_t n) { return new_or_throw(n, 0, TOKEN(T)); } \
    EXPORT void *__alloc_token_##T##__ZnwmRKSt9nothrow_t(std::size_t n, nothrow_ref) noexcept {    \
        return new_or_null(n, 0, TOKEN(T));                                                        \
    }                                                                                              \
    EXPORT void *__alloc_token_##T##__ZnamRKSt9nothrow_t(std::size_t n, nothrow_ref) noexcept {    \
        return new_or_null(n, 0, TOKEN(T));                                                        \
    }                                                                                              \
    EXPORT void *__alloc_token_##T##__ZnwmSt11align_val_t(std::size_t n, std::align_val_t a) {     \
        return new_or_throw(n, align_of(a), TOKEN(T));                                             \
    }                                                                                              \
    EXPORT void *__alloc_token_##T##__ZnamSt11align_val_t(std::size_t n, std::align_val_t a) {     \
        return new_or_throw(n, align_of(a), TOKEN(T));                                             \
    }                                                                                              \
    EXPORT void *__alloc_token_##T##__ZnwmSt11align_val_tRKSt9nothrow_t(std::size_t n, std::align_val_t a, \
                                                                        nothrow_ref) noexcept {    \
        return new_or_null(n, align_of(a), TOKEN(T));                                              \
    }                                                                                              \
    EXPORT void *__alloc_token_##T##__ZnamSt11align_val_tRKSt9nothrow_t(std::size_t n, std::align_val_t a, \
                                                                        nothrow_ref) noexcept {    \
        return new_or_null(n, align_of(a), TOKEN(T));                                              \
    }

PM_FOR_EACH_FAST_TOKEN(FAST_NEW)
}
