// A C++ library that a C program loads with dlopen after start (a plugin,
// a Python extension): its operators new are partmalloc's, and the C++
// runtime arrived with it. Each call reports what the C++ side saw.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

namespace {
int handler_calls;
struct gave_up : std::bad_alloc {
    const char *what() const noexcept override { return "handler gave up"; }
};
void *volatile sink;
std::size_t opaque(std::size_t n) { // a size the compiler cannot see
    volatile std::size_t v = n;
    return v;
}
} // namespace

extern "C" {

// 1 when ::operator new(n) (alignment 0) or its aligned form threw a
// std::bad_alloc whose what() is the standard one, 0 when it returned,
// 2 for any other exception.
int late_new_throws(std::size_t n, std::size_t alignment) {
    try {
        sink = alignment ? ::operator new(opaque(n), std::align_val_t{alignment}) : ::operator new(opaque(n));
        return 0;
    } catch (const std::bad_alloc &e) {
        return std::strcmp(e.what(), "std::bad_alloc") == 0 ? 1 : 3;
    } catch (...) {
        return 2;
    }
}

// 1 when the nothrow form returned null.
int late_nothrow_is_null(std::size_t n, std::size_t alignment) {
    void *p = alignment ? ::operator new(opaque(n), std::align_val_t{alignment}, std::nothrow)
                        : ::operator new(opaque(n), std::nothrow);
    sink = p;
    return p == nullptr;
}

// A handler that uninstalls itself at its third call: the throwing form
// calls it three times, then throws. Returns the calls, negated if nothing
// was thrown.
int late_handler_calls(std::size_t n) {
    handler_calls = 0;
    std::set_new_handler([] {
        if (++handler_calls == 3)
            std::set_new_handler(nullptr);
    });
    bool thrown = false;
    try {
        sink = ::operator new(opaque(n));
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    std::set_new_handler(nullptr);
    return thrown ? handler_calls : -handler_calls;
}

// A handler that throws its own bad_alloc: the nothrow forms (plain and
// aligned) return null, the throwing form lets the handler's exception
// through. Returns 1 when all of that held.
int late_throwing_handler(std::size_t n) {
    handler_calls = 0;
    std::set_new_handler([] {
        handler_calls++;
        throw gave_up();
    });
    bool ok = ::operator new(opaque(n), std::nothrow) == nullptr;
    ok = ok && ::operator new[](opaque(n), std::align_val_t{256}, std::nothrow) == nullptr;
    bool got_it = false;
    try {
        sink = ::operator new(opaque(n));
    } catch (const gave_up &e) {
        got_it = std::strcmp(e.what(), "handler gave up") == 0;
    } catch (...) {
    }
    std::set_new_handler(nullptr);
    return ok && got_it && handler_calls == 3;
}

// An ordinary allocation through new, for the caller to check who owns it.
void *late_new_string(void) {
    return new std::string(100, 'x');
}
}
