// The C++ operators new and delete (src/new.cc), linked with the static
// library: every standard form, alignment, failure (std::bad_alloc, null
// from the nothrow forms, the new-handler protocol) and sized delete with
// the right size. Wrong-size deletes abort: they are in the death suite.
#include <criterion/criterion.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "partmalloc.h"

namespace {

// Keeps the compiler from eliding an allocation whose result looks unused
// (new-expressions may be elided since C++14).
template <class T> void escape(T *p) {
    asm volatile("" : : "g"(p) : "memory");
}

// A size the optimizer cannot see.
std::size_t opaque(std::size_t n) {
    volatile std::size_t v = n;
    return v;
}

bool ours_and_live(const void *p) {
    struct pm_ptr_info info;
    return pm_ptr_info(p, &info) == 1 && info.live == 1;
}

const std::size_t sizes[] = {0, 1, 7, 8, 24, 100, 1000, 4096, 5000, 32768, 40000, 100000, 1 << 20};

} // namespace

Test(cxx, every_form_of_new_and_delete) {
    for (std::size_t n : sizes) {
        void *p;
        p = ::operator new(n);
        cr_assert(ours_and_live(p), "operator new(%zu)", n);
        std::memset(p, 0x11, n);
        ::operator delete(p);

        p = ::operator new[](n);
        cr_assert(ours_and_live(p), "operator new[](%zu)", n);
        std::memset(p, 0x22, n);
        ::operator delete[](p);

        p = ::operator new(n, std::nothrow);
        cr_assert(ours_and_live(p), "operator new(%zu, nothrow)", n);
        ::operator delete(p, std::nothrow);

        p = ::operator new[](n, std::nothrow);
        cr_assert(ours_and_live(p), "operator new[](%zu, nothrow)", n);
        ::operator delete[](p, std::nothrow);

        p = ::operator new(n);
        ::operator delete(p, n);
        p = ::operator new[](n);
        ::operator delete[](p, n);

        for (std::size_t a : {std::size_t(16), std::size_t(64), std::size_t(4096)}) {
            std::align_val_t al{a};
            p = ::operator new(n, al);
            cr_assert(ours_and_live(p), "operator new(%zu, align %zu)", n, a);
            ::operator delete(p, al);
            p = ::operator new[](n, al);
            cr_assert(ours_and_live(p));
            ::operator delete[](p, al);
            p = ::operator new(n, al, std::nothrow);
            cr_assert(ours_and_live(p));
            ::operator delete(p, al, std::nothrow);
            p = ::operator new[](n, al, std::nothrow);
            cr_assert(ours_and_live(p));
            ::operator delete[](p, al, std::nothrow);
            p = ::operator new(n, al);
            ::operator delete(p, n, al);
            p = ::operator new[](n, al);
            ::operator delete[](p, n, al);
        }
    }
}

Test(cxx, delete_of_null_is_a_no_op) {
    std::align_val_t al{64};
    ::operator delete(nullptr);
    ::operator delete[](nullptr);
    ::operator delete(nullptr, std::nothrow);
    ::operator delete[](nullptr, std::nothrow);
    ::operator delete(nullptr, std::size_t(10));
    ::operator delete[](nullptr, std::size_t(10));
    ::operator delete(nullptr, al);
    ::operator delete[](nullptr, al);
    ::operator delete(nullptr, al, std::nothrow);
    ::operator delete[](nullptr, al, std::nothrow);
    ::operator delete(nullptr, std::size_t(10), al);
    ::operator delete[](nullptr, std::size_t(10), al);
    int *none = nullptr;
    delete none;
    delete[] none;
}

Test(cxx, new_of_zero_bytes_gives_distinct_pointers) {
    void *a = ::operator new(0), *b = ::operator new(0);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_neq(a, b);
    ::operator delete(a, std::size_t(0));
    ::operator delete(b);
    char *c = new char[opaque(0)], *d = new char[opaque(0)];
    escape(c);
    escape(d);
    cr_expect_neq(c, d);
    delete[] c;
    delete[] d;
}

Test(cxx, aligned_new_is_aligned) {
    for (std::size_t a = 1; a <= (std::size_t(1) << 22); a <<= 1) {
        for (std::size_t n : {std::size_t(1), std::size_t(8), a, a + 1, 3 * a, std::size_t(40000)}) {
            std::align_val_t al{a};
            void *p = ::operator new(n, al);
            cr_assert_eq(reinterpret_cast<std::uintptr_t>(p) % a, 0, "new(%zu, align %zu) = %p", n, a, p);
            cr_expect_geq(pm_usable_size(p), n);
            std::memset(p, 0x33, n);
            ::operator delete(p, n, al);
            void *q = ::operator new[](n, al, std::nothrow);
            cr_assert_not_null(q);
            cr_assert_eq(reinterpret_cast<std::uintptr_t>(q) % a, 0, "new[](%zu, align %zu, nothrow) = %p", n, a, q);
            ::operator delete[](q, al);
        }
    }
}

namespace {
struct alignas(64) Line {
    unsigned char bytes[64];
};
struct alignas(256) Block {
    int value;
    ~Block() { value = -1; }
};
struct alignas(4096) Page {
    char data[100];
};
} // namespace

Test(cxx, over_aligned_types_use_aligned_new) {
    for (int i = 0; i < 100; i++) {
        Line *l = new Line();
        Block *b = new Block[opaque(i + 1)];
        Page *pg = new Page;
        escape(l);
        escape(b);
        escape(pg);
        cr_assert_eq(reinterpret_cast<std::uintptr_t>(l) % 64, 0);
        cr_assert_eq(reinterpret_cast<std::uintptr_t>(b) % 256, 0);
        cr_assert_eq(reinterpret_cast<std::uintptr_t>(pg) % 4096, 0);
        cr_assert(ours_and_live(l));
        cr_assert(ours_and_live(pg));
        for (int k = 0; k <= i; k++)
            b[k].value = k;
        delete l;
        delete[] b; // sized, aligned, with an array cookie
        delete pg;
    }
    auto sp = std::make_shared<Page>();
    cr_expect_eq(reinterpret_cast<std::uintptr_t>(sp.get()) % 4096, 0);
    std::vector<Line> v(1000);
    cr_expect_eq(reinterpret_cast<std::uintptr_t>(v.data()) % 64, 0);
}

Test(cxx, huge_new_throws_bad_alloc) {
    bool thrown = false;
    try {
        char *p = new char[opaque(SIZE_MAX / 2)];
        escape(p);
        delete[] p;
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    cr_expect(thrown, "new char[SIZE_MAX / 2] did not throw");

    // The operators themselves, without the compiler's array checks.
    std::size_t huge[] = {SIZE_MAX, SIZE_MAX / 2, std::size_t(1) << 50};
    for (std::size_t n : huge) {
        int caught = 0;
        try { escape(::operator new(opaque(n))); } catch (const std::bad_alloc &) { caught++; }
        try { escape(::operator new[](opaque(n))); } catch (const std::bad_alloc &) { caught++; }
        try { escape(::operator new(opaque(n), std::align_val_t{64})); } catch (const std::bad_alloc &) { caught++; }
        try { escape(::operator new[](opaque(n), std::align_val_t{8192})); } catch (const std::bad_alloc &) { caught++; }
        cr_expect_eq(caught, 4, "size %zu: %d of 4 forms threw", n, caught);
    }
}

Test(cxx, huge_nothrow_new_returns_null) {
    char *p = new (std::nothrow) char[opaque(SIZE_MAX / 2)];
    escape(p);
    cr_expect_null(p);
    std::size_t huge[] = {SIZE_MAX, SIZE_MAX / 2, std::size_t(1) << 50};
    for (std::size_t n : huge) {
        cr_expect_null(::operator new(opaque(n), std::nothrow), "size %zu", n);
        cr_expect_null(::operator new[](opaque(n), std::nothrow), "size %zu", n);
        cr_expect_null(::operator new(opaque(n), std::align_val_t{64}, std::nothrow), "size %zu", n);
        cr_expect_null(::operator new[](opaque(n), std::align_val_t{1 << 20}, std::nothrow), "size %zu", n);
    }
    // The failure leaves the allocator usable.
    int *ok = new (std::nothrow) int(5);
    cr_assert_not_null(ok);
    cr_expect_eq(*ok, 5);
    delete ok;
}

// The OS layer's fault injection (src/os.h, a C header): the next `count`
// mappings fail with `err`.
extern "C" void pm_os_fail(unsigned kinds, uint64_t nth, uint64_t count, int err);
static const unsigned os_fail_map = 1u << 0; // PM_OS_FAIL_MAP

// An mmap that fails (not a size no one could have): new throws, the
// nothrow forms return null, and once the system gives memory again new
// succeeds. 1 MiB: a large block, one mapping each.
Test(cxx, failing_mmap_throws_bad_alloc_then_recovers) {
    delete new int(1); // set up before the injection
    const std::size_t size = std::size_t(2) << 20; // above the largest class: a mapping of its own
    int thrown = 0;
    pm_os_fail(os_fail_map, 1, 1000, ENOMEM); // every mapping until turned off
    try { escape(::operator new(opaque(size))); } catch (const std::bad_alloc &) { thrown++; }
    try { escape(new char[opaque(size)]); } catch (const std::bad_alloc &) { thrown++; }
    cr_expect_eq(thrown, 2, "%d of 2 forms threw", thrown);
    cr_expect_null(::operator new(opaque(size), std::nothrow));
    cr_expect_null(::operator new[](opaque(size), std::align_val_t{4096}, std::nothrow));
    pm_os_fail(0, 0, 0, 0);
    char *p = new char[opaque(size)]; // the control: the same call succeeds now
    std::memset(p, 0x5a, size);
    cr_expect_eq(p[size - 1], 0x5a);
    delete[] p;
}

// ---- the new-handler ----

namespace {

void *reserve;
int handler_calls;

void free_reserve_handler() {
    handler_calls++;
    if (reserve) {
        ::operator delete(reserve);
        reserve = nullptr;
    } else {
        std::set_new_handler(nullptr); // nothing left to give: let new fail
    }
}

std::size_t vm_bytes() {
    std::FILE *f = std::fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (std::fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        std::fclose(f);
    }
    return static_cast<std::size_t>(pages) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

} // namespace

// A real shortage of memory: the address-space limit leaves room for one
// 64 MiB block but not two. The handler frees the reserve and the retry
// succeeds. (Criterion runs each test in its own process; the limit is
// restored before the test ends.)
Test(cxx, new_handler_frees_a_reserve_and_the_retry_succeeds) {
    const std::size_t block = std::size_t(64) << 20;
    reserve = ::operator new(block);
    std::memset(reserve, 1, 4096);
    struct rlimit old;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    struct rlimit lim = old;
    lim.rlim_cur = vm_bytes() + block / 2; // the reserve is already counted
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0, "setrlimit: %s", std::strerror(errno));

    // Without a handler the shortage is real: nothrow new gives null.
    void *probe = ::operator new(block, std::nothrow);
    bool short_of_memory = probe == nullptr;
    ::operator delete(probe);

    handler_calls = 0;
    std::set_new_handler(free_reserve_handler);
    char *p = nullptr;
    bool threw = false;
    try {
        p = new char[opaque(block)];
        escape(p);
        p[0] = 1;
        p[block - 1] = 2;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    std::set_new_handler(nullptr);
    setrlimit(RLIMIT_AS, &old);

    cr_assert(short_of_memory, "the address-space limit did not make a 64 MiB allocation fail");
    cr_expect_not(threw, "new threw although the handler freed the reserve");
    cr_expect_eq(handler_calls, 1);
    cr_expect_null(reserve);
    cr_expect(p && ours_and_live(p));
    delete[] p;
}

Test(cxx, new_handler_called_until_it_uninstalls_itself) {
    reserve = nullptr;
    handler_calls = 0;
    std::set_new_handler([] {
        if (++handler_calls == 3)
            std::set_new_handler(nullptr);
    });
    bool thrown = false;
    try {
        escape(::operator new(opaque(SIZE_MAX / 2)));
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    cr_expect(thrown);
    cr_expect_eq(handler_calls, 3, "the handler ran %d times", handler_calls);
    cr_expect_null(std::get_new_handler());
}

namespace {
struct handler_gave_up : std::bad_alloc {
    const char *what() const noexcept override { return "handler gave up"; }
};
int throwing_calls;
void throwing_handler() {
    throwing_calls++;
    throw handler_gave_up();
}
} // namespace

Test(cxx, throwing_handler_makes_nothrow_new_return_null) {
    std::set_new_handler(throwing_handler);
    throwing_calls = 0;
    char *p = new (std::nothrow) char[opaque(SIZE_MAX / 2)];
    escape(p); // else Clang may elide the new-expression and assume success
    cr_expect_null(p);
    cr_expect_eq(throwing_calls, 1);
    cr_expect_null(::operator new(opaque(SIZE_MAX / 2), std::nothrow));
    cr_expect_null(::operator new[](opaque(SIZE_MAX / 2), std::nothrow));
    cr_expect_null(::operator new(opaque(SIZE_MAX / 2), std::align_val_t{128}, std::nothrow));
    cr_expect_null(::operator new[](opaque(SIZE_MAX / 2), std::align_val_t{128}, std::nothrow));
    cr_expect_eq(throwing_calls, 5);

    // The throwing forms let the handler's own exception through.
    bool got_it = false;
    try {
        escape(::operator new(opaque(SIZE_MAX / 2)));
    } catch (const handler_gave_up &e) {
        got_it = std::strcmp(e.what(), "handler gave up") == 0;
    } catch (...) {
    }
    cr_expect(got_it, "the handler's exception did not reach the caller");
    cr_expect_eq(throwing_calls, 6);
    std::set_new_handler(nullptr);
    // Normal allocations never call the handler.
    std::set_new_handler(throwing_handler);
    for (int i = 0; i < 1000; i++)
        delete new std::string(static_cast<std::size_t>(i), 'x');
    std::set_new_handler(nullptr);
    cr_expect_eq(throwing_calls, 6);
}

// ---- sized delete ----

namespace {
struct Counted {
    static int live;
    std::uint64_t payload[3];
    Counted() { live++; }
    ~Counted() { live--; }
};
int Counted::live;

struct Base {
    virtual ~Base() = default;
    int tag = 1;
};
struct Big : Base {
    char data[5000];
};
struct alignas(128) AlignedBig : Base {
    char data[300];
};
} // namespace

Test(cxx, sized_delete_with_the_right_size_is_accepted) {
    for (std::size_t n = 1; n <= 300000; n = n < 64 ? n + 1 : n + n / 5) {
        void *p = ::operator new(n);
        ::operator delete(p, n);
        p = ::operator new[](n);
        ::operator delete[](p, n);
        p = ::operator new(n, std::align_val_t{32});
        ::operator delete(p, n, std::align_val_t{32});
        p = ::operator new[](n, std::align_val_t{512});
        ::operator delete[](p, n, std::align_val_t{512});
    }
    // new-expressions: the compiler passes the sizes (with -fsized-deallocation,
    // the default since C++14), including array cookies and the dynamic
    // type's size through a virtual destructor.
    for (int i = 0; i < 200; i++) {
        Counted *one = new Counted;
        Counted *many = new Counted[opaque(static_cast<std::size_t>(i) + 1)];
        escape(one);
        escape(many);
        cr_assert_eq(Counted::live, i + 2);
        delete one;
        delete[] many;
        cr_assert_eq(Counted::live, 0);
        Base *b = new Big;
        Base *c = new AlignedBig;
        Base *d = new Base;
        escape(b);
        escape(c);
        escape(d);
        cr_assert_eq(reinterpret_cast<std::uintptr_t>(c) % 128, 0);
        delete b; // 5016 bytes, not sizeof(Base)
        delete c;
        delete d;
    }
}

// ---- the library through the standard library ----

Test(cxx, standard_containers_and_exceptions) {
    std::vector<std::string> words;
    std::map<std::string, int> counts;
    std::unordered_map<int, std::vector<int>> buckets;
    for (int i = 0; i < 20000; i++) {
        words.push_back("word-" + std::to_string(i % 977) + std::string(static_cast<std::size_t>(i % 977 % 50), 'z'));
        counts[words.back()]++;
        buckets[i % 101].push_back(i);
    }
    cr_assert(ours_and_live(words.data()));
    cr_expect_eq(counts.size(), 977u);
    long total = 0;
    for (auto &kv : counts)
        total += kv.second;
    cr_expect_eq(total, 20000);
    for (auto &kv : buckets)
        for (int v : kv.second)
            cr_assert_eq(v % 101, kv.first);
    int caught = 0;
    for (int i = 0; i < 1000; i++) {
        try {
            throw std::runtime_error(std::string(static_cast<std::size_t>(i), 'e'));
        } catch (const std::runtime_error &e) {
            caught += std::strlen(e.what()) == static_cast<std::size_t>(i);
        }
    }
    cr_expect_eq(caught, 1000);
    auto u = std::make_unique<std::vector<std::unique_ptr<int>>>();
    for (int i = 0; i < 1000; i++)
        u->push_back(std::make_unique<int>(i));
    cr_expect_eq(*(*u)[999], 999);
}

Test(cxx, objects_deleted_by_another_thread) {
    std::vector<std::string *> made;
    std::thread producer([&] {
        for (int i = 0; i < 10000; i++)
            made.push_back(new std::string(static_cast<std::size_t>(i % 300), static_cast<char>('a' + i % 26)));
    });
    producer.join();
    std::thread consumer([&] {
        for (std::size_t i = 0; i < made.size(); i++) {
            if (made[i]->size() != i % 300 || (!made[i]->empty() && (*made[i])[0] != static_cast<char>('a' + i % 26)))
                std::abort();
            delete made[i];
        }
    });
    consumer.join();
    void *p = std::malloc(10); // malloc is partmalloc's too
    cr_expect(ours_and_live(p));
    std::free(p);
}
