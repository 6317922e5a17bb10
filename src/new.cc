// C++ operators new and delete in every standard form, and their
// allocation-token forms (__alloc_token__Znwm and the fast ABI's
// __alloc_token_<T>__Znwm). Failure follows the standard: call the
// new-handler and retry, then throw std::bad_alloc, or return null for the
// nothrow forms. Sized and aligned deletes check the size and alignment.
//
// The C++ runtime is not a dependency of the library. Loading libstdc++
// into every process that preloads partmalloc, C programs and /bin/true
// alike, cost more start-up time than all the rest of the library. So
// every symbol these operators take from the runtime is weak: the loader
// binds them at start when the program has libstdc++, and leaves them null
// when it does not. Only the failure paths use them. A C program that
// dlopens a C++ library later (a Python extension, a plugin) reaches these
// operators with the symbols still null: then the failure paths look the
// runtime up by name (dlsym) at the moment they need it.
#include <cstddef>
#include <cstdint>
#include <new>

#include <dlfcn.h>
#include <link.h>

#include "new_bridge.h"
#include "pm_fast_tokens.h"

// What the compiler itself references for `throw std::bad_alloc()` and
// try/catch, made weak at the object's level.
asm(".weak __gxx_personality_v0\n"
    ".weak __cxa_allocate_exception\n"
    ".weak __cxa_throw\n"
    ".weak __cxa_begin_catch\n"
    ".weak __cxa_end_catch\n"
    ".weak _ZTISt9bad_alloc\n"
    ".weak _ZTVSt9bad_alloc\n"
    ".weak _ZNSt9bad_allocD1Ev\n"
    ".weak _ZSt15get_new_handlerv\n"
    ".weak _ZSt9terminatev\n"); // clang: a noexcept function's landing pad

// The same symbols as C++ sees them, declared weak so that a test of their
// address is not folded away.
extern "C" {
extern const char pm_rt_bad_alloc_typeinfo[] __asm__("_ZTISt9bad_alloc") __attribute__((weak));
std::new_handler pm_rt_get_new_handler() __asm__("_ZSt15get_new_handlerv") __attribute__((weak));
}

namespace {

// True when the loader found libstdc++ at start: `throw` and `catch` work.
// Read through a volatile: clang merges the weak name with the typeinfo it
// emits for `throw`, and would fold the test to true.
inline bool runtime_bound() {
    const char *volatile typeinfo = pm_rt_bad_alloc_typeinfo;
    return typeinfo != nullptr;
}

// Up to 256 names of loaded objects, for runtime_handle().
struct object_names {
    const char *name[256];
    unsigned count;
};

int add_object_name(struct dl_phdr_info *info, std::size_t, void *data) {
    auto *names = static_cast<object_names *>(data);
    if (info->dlpi_name && info->dlpi_name[0] && names->count < 256)
        names->name[names->count++] = info->dlpi_name;
    return 0;
}

// Where the runtime loaded after us lives: the global scope if the
// library that brought it was loaded RTLD_GLOBAL, else the loaded object
// that defines the ABI's __cxa_throw (libstdc++, or libc++abi) — Python
// and most plugin hosts load with RTLD_LOCAL, out of dlsym(RTLD_DEFAULT)'s
// sight. The handle's reference is kept: only a failing operator new asks,
// and what it finds is used as it throws. Null when there is no runtime.
void *runtime_handle() {
    if (dlsym(RTLD_DEFAULT, "__cxa_throw"))
        return RTLD_DEFAULT;
    object_names names;
    names.count = 0;
    dl_iterate_phdr(add_object_name, &names); // dlopen is not called under the loader's lock
    for (unsigned i = 0; i < names.count; i++) {
        void *handle = dlopen(names.name[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!handle)
            continue;
        if (dlsym(handle, "__cxa_throw"))
            return handle;
        dlclose(handle);
    }
    return nullptr;
}

template <typename T> T runtime_symbol(void *handle, const char *name) {
    return handle ? reinterpret_cast<T>(dlsym(handle, name)) : nullptr;
}

std::new_handler current_new_handler() {
    std::new_handler (*volatile bound)() = pm_rt_get_new_handler; // as above
    if (bound)
        return bound();
    auto get = runtime_symbol<std::new_handler (*)()>(runtime_handle(), "_ZSt15get_new_handlerv");
    return get ? get() : nullptr; // no runtime: nobody can have set one
}

// `throw std::bad_alloc()` spelled out in the Itanium C++ ABI, for a
// runtime loaded after us: the object is one vtable pointer, which points
// two words into std::bad_alloc's vtable.
[[noreturn]] void throw_bad_alloc_late() {
    void *runtime = runtime_handle();
    auto allocate = runtime_symbol<void *(*)(std::size_t)>(runtime, "__cxa_allocate_exception");
    auto raise = runtime_symbol<void (*)(void *, void *, void (*)(void *))>(runtime, "__cxa_throw");
    auto vtable = runtime_symbol<void **>(runtime, "_ZTVSt9bad_alloc");
    auto typeinfo = runtime_symbol<void *>(runtime, "_ZTISt9bad_alloc");
    auto destroy = runtime_symbol<void (*)(void *)>(runtime, "_ZNSt9bad_allocD1Ev");
    if (!allocate || !raise || !vtable || !typeinfo || !destroy)
        pm_cxx_fatal("operator new: out of memory, and no C++ runtime in the process to throw std::bad_alloc");
    void *exception = allocate(sizeof(void *)); // the runtime's emergency pool if malloc fails
    *static_cast<void **>(exception) = vtable + 2;
    raise(exception, typeinfo, destroy);
    __builtin_unreachable();
}

[[noreturn]] void throw_bad_alloc() {
    if (runtime_bound())
        throw std::bad_alloc();
    throw_bad_alloc_late();
}

// Alignment 0 means the default (16 bytes from 16 up).
void *try_alloc(std::size_t size, std::size_t alignment, pm_part_t part) {
    return pm_cxx_alloc(size, alignment, part);
}

void *new_or_throw(std::size_t size, std::size_t alignment, pm_part_t part) {
    for (;;) {
        void *p = try_alloc(size, alignment, part);
        if (p)
            return p;
        std::new_handler handler = current_new_handler();
        if (!handler)
            throw_bad_alloc();
        handler();
    }
}

// The nothrow forms with a new-handler, in a process whose runtime came
// after us: our own catch has no personality routine, so the runtime's
// nothrow operator does the catching around our throwing one (whose
// retries then take the runtime's call site as theirs).
void *new_or_null_late(std::size_t size, std::size_t alignment) noexcept {
    const std::nothrow_t tag{}; // not std::nothrow: that object lives in the runtime
    void *runtime = runtime_handle();
    if (alignment == 0) {
        auto nothrow_new =
            runtime_symbol<void *(*)(std::size_t, const std::nothrow_t &)>(runtime, "_ZnwmRKSt9nothrow_t");
        return nothrow_new ? nothrow_new(size, tag) : nullptr;
    }
    auto nothrow_new = runtime_symbol<void *(*)(std::size_t, std::align_val_t, const std::nothrow_t &)>(
        runtime, "_ZnwmSt11align_val_tRKSt9nothrow_t");
    return nothrow_new ? nothrow_new(size, std::align_val_t{alignment}, tag) : nullptr;
}

void *new_or_null(std::size_t size, std::size_t alignment, pm_part_t part) noexcept {
    void *p = try_alloc(size, alignment, part);
    if (p)
        return p;
    if (!runtime_bound())
        return current_new_handler() ? new_or_null_late(size, alignment) : nullptr;
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
