// The misuse suite's C++ cases (test_misuse.c has the rest): deletes that
// disagree with their new. One misuse per child process; each case asserts
// the child's signal and the exact one-line diagnosis
//     partmalloc: <what> at <pointer> (cache <name>)
// with the pointer and cache name computed here from the object. Linked
// with the static library, so the operators are partmalloc's (src/new.cc).
#include "testutil.h"

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>

namespace {

// The compiler may elide a new/delete pair, and knows what the operators
// do: hide the pointers and sizes of the misuses from it.
template <class T> T *hide(T *p) {
    asm volatile("" : "+r"(p));
    return p;
}

std::size_t opaque(std::size_t n) {
    asm volatile("" : "+r"(n));
    return n;
}

char expected[256];

const char *diag(const char *what, const void *p, const char *cache) {
    std::snprintf(expected, sizeof expected, "partmalloc: %s at %p (cache %s)\n", what, p, cache);
    return expected;
}

struct pm_ptr_info info_of(void *p) {
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1, "%p: not a partmalloc pointer", p);
    return info;
}

void expect_survives(void (*fn)(void *), void *arg) {
    death o = run_in_child(fn, arg);
    cr_expect(o.signal == 0 && o.exit_code == 0, "expected exit 0, got signal %d exit %d", o.signal, o.exit_code);
    cr_expect_str_empty(o.stderr_text);
}

struct sized_delete {
    void *p;
    std::size_t size;
    std::size_t alignment; // 0: no alignment argument
};

void do_sized_delete(void *arg) {
    auto *d = static_cast<sized_delete *>(arg);
    if (d->alignment)
        ::operator delete(hide(d->p), opaque(d->size), std::align_val_t{opaque(d->alignment)});
    else
        ::operator delete(hide(d->p), opaque(d->size));
}

void do_aligned_delete(void *arg) {
    auto *d = static_cast<sized_delete *>(arg);
    ::operator delete(hide(d->p), std::align_val_t{opaque(d->alignment)});
}

struct s64 {
    char bytes[64];
};

void delete_twice(void *arg) {
    s64 *s = static_cast<s64 *>(arg);
    delete hide(s); // sized delete: operator delete(void *, 64)
    delete hide(s);
}

} // namespace

// `delete` of a type whose size is not the allocation's: the sized delete
// gets a size of another class.
static void expect_sized_delete_aborts(void *p, std::size_t wrong, const char *cache) {
    sized_delete d = {p, wrong, 0};
    death o = run_in_child(do_sized_delete, &d);
    cr_expect_eq(o.signal, SIGABRT, "operator delete(p, %zu): signal %d", wrong, o.signal);
    cr_expect_str_eq(o.stderr_text, diag("free_sized with a size the object was not allocated with", p, cache),
                     "operator delete(p, %zu)", wrong);
}

Test(misuse_cxx, sized_delete_with_the_size_of_another_class) {
    void *p = hide(::operator new(64));
    struct pm_ptr_info info = info_of(p);
    const std::size_t wrong[] = {8, 48, 100, 256, 100000};
    for (std::size_t w : wrong)
        expect_sized_delete_aborts(p, w, info.cache_name);
    ::operator delete(p, 64);
}

// An object of a class above 32 KiB: sized delete checks the class, as
// for the small classes (any size of the class is the same class).
Test(misuse_cxx, sized_delete_of_an_object_of_a_class_above_32k) {
    struct pm_config c;
    pm_get_config(&c);
    if (c.max_small_size < 100000)
        cr_skip_test("the classes above 32 KiB are not served here");
    void *p = hide(::operator new(100000));
    struct pm_ptr_info info = info_of(p);
    cr_assert_eq(info.object_size, 114688);
    for (std::size_t w : {std::size_t(98304), std::size_t(114689), std::size_t(32768)})
        expect_sized_delete_aborts(p, w, info.cache_name);
    ::operator delete(p, 114688);
}

// `new char` released as if it were a 32-byte struct.
Test(misuse_cxx, new_char_deleted_as_a_32_byte_struct) {
    char *c = hide(new char('x'));
    struct pm_ptr_info info = info_of(c);
    sized_delete d = {c, 32, 0};
    tu_expect_abort(do_sized_delete, &d,
                    diag("free_sized with a size the object was not allocated with", c, info.cache_name));
    delete c;
}

Test(misuse_cxx, sized_delete_of_a_large_block_with_another_size) {
    std::size_t n = TU_LARGE_BLOCK;
    void *p = hide(::operator new(n));
    for (std::size_t w : {n - 1, n + 1, std::size_t(0)}) {
        sized_delete d = {p, w, 0};
        death o = run_in_child(do_sized_delete, &d);
        cr_expect_eq(o.signal, SIGABRT, "operator delete(p, %zu): signal %d", w, o.signal);
        cr_expect_str_eq(o.stderr_text, diag("free_sized with a size the block was not allocated with", p, "large"),
                         "operator delete(p, %zu)", w);
    }
    ::operator delete(p, n);
}

// Sized aligned delete: the (size, alignment) must give the object's class.
Test(misuse_cxx, sized_aligned_delete_with_another_alignment) {
    void *p = hide(::operator new(64, std::align_val_t{128}));
    struct pm_ptr_info info = info_of(p);
    const char *what = "free_aligned_sized with a size or alignment the object was not allocated with";
    sized_delete cases[] = {{p, 64, 64}, {p, 64, 16}, {p, 64, 256}};
    for (auto &c : cases) {
        death o = run_in_child(do_sized_delete, &c);
        cr_expect_eq(o.signal, SIGABRT, "operator delete(p, 64, align %zu): signal %d", c.alignment, o.signal);
        cr_expect_str_eq(o.stderr_text, diag(what, p, info.cache_name), "operator delete(p, 64, align %zu)",
                         c.alignment);
    }
    sized_delete right = {p, 64, 128};
    expect_survives(do_sized_delete, &right);
    ::operator delete(p, std::align_val_t{128});
}

Test(misuse_cxx, sized_aligned_delete_of_a_large_block_with_another_alignment) {
    std::size_t n = TU_LARGE_BLOCK;
    void *p = hide(::operator new(n, std::align_val_t{4096}));
    // twice the largest alignment the pointer happens to have
    std::size_t wrong = (reinterpret_cast<std::uintptr_t>(p) & -reinterpret_cast<std::uintptr_t>(p)) * 2;
    sized_delete d = {p, n, wrong};
    tu_expect_abort(do_sized_delete, &d,
                    diag("free_aligned_sized with an alignment the block does not have", p, "large"));
    ::operator delete(p, std::align_val_t{4096});
}

// The unsized aligned delete does not look at its alignment argument.
Test(misuse_cxx, unsized_aligned_delete_does_not_check_the_alignment) {
    void *p = hide(::operator new(64));
    sized_delete d = {p, 0, 4096};
    expect_survives(do_aligned_delete, &d);
    ::operator delete(p);
}

// A double `delete` of a class object goes through the sized delete.
Test(misuse_cxx, double_delete_of_a_struct) {
    s64 *s = hide(new s64());
    struct pm_ptr_info info = info_of(s);
    tu_expect_abort(delete_twice, s, diag("free_sized of a freed pointer", s, info.cache_name));
    delete s;
}
