// Types whose names hold characters HTML gives a meaning to (<, &, ") for
// the --html page's escaping (tests/scripts/html_page.sh). With "wait" it
// says "ready" once allocated and waits to be killed, for `partmalloc stat`;
// otherwise it exits with status 3, which `partmalloc run` must pass on.
#include <cstdio>
#include <cstring>
#include <unistd.h>

template <char C, char D> struct Odd {
    void *next;
    char c[24];
};
template <char C> struct Quote {
    char data[40];
};

void *volatile sink; // keeps the allocations from being optimized away

int main(int argc, char **argv) {
    for (int i = 0; i < 50; i++)
        sink = new Odd<'<', '&'>{};
    for (int i = 0; i < 30; i++)
        sink = new Quote<'"'>{};
    if (argc > 1 && std::strcmp(argv[1], "wait") == 0) {
        std::puts("ready");
        std::fflush(stdout);
        for (;;)
            pause();
    }
    return 3;
}
