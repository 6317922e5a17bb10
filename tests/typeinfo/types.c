/* Types with known allocation-token names, for
 * tests/integration/test_typeinfo.c.
 * Built with clang-22 -g -fsanitize=alloc-token [-falloc-token-max=M]; prints
 * one line per type: the name clang gives it, whether it holds pointers (by
 * clang's rule, as expected), and __builtin_infer_alloc_token(sizeof(T)).
 * The program allocates nothing, so it needs no allocation-token runtime. */
#include <stdint.h>
#include <stdio.h>

struct node { struct node *next; int value; };
struct blob { char data[40]; };
typedef struct { int a, b; } pair_t;
typedef struct { int *p; } anon_ptr_t;
union num { int i; float f; };
union ptr_or_int { int i; char *p; };
enum color { RED, GREEN };
typedef enum { E_A, E_B } anon_enum_t;
typedef struct node node_t;   /* clang names the struct: "node" */
typedef int myint;            /* "int" */
typedef char *str_t;          /* "char *" */
typedef char buf_t[16];       /* "char[16]" */
struct with_fn { void (*fn)(void); };
struct with_uintptr { uintptr_t bits; };
struct uintptr_array { uintptr_t words[4]; };    /* array elements are canonical: no */
struct const_uintptr { const uintptr_t bits; };  /* qualifiers are looked through: yes */
struct atomic_ptr { _Atomic(int *) p; };         /* clang-22 does not look into _Atomic */
struct ptr_array { char *items[4]; };
struct flexible { int n; char *items[]; };
struct nested { struct node head; };
struct nested_plain { pair_t pair; };
struct in_union { union ptr_or_int u; };
struct bits { unsigned a : 3, b : 5; };
struct array_ptr { int (*rows)[3]; };

#define TYPES(X)                                                                 \
    X(struct node, "node", 1)                                                    \
    X(struct blob, "blob", 0)                                                    \
    X(pair_t, "pair_t", 0)                                                       \
    X(anon_ptr_t, "anon_ptr_t", 1)                                               \
    X(union num, "num", 0)                                                       \
    X(union ptr_or_int, "ptr_or_int", 1)                                         \
    X(enum color, "color", 0)                                                    \
    X(anon_enum_t, "anon_enum_t", 0)                                             \
    X(node_t, "node", 1)                                                         \
    X(myint, "int", 0)                                                           \
    X(str_t, "char *", 1)                                                        \
    X(buf_t, "char[16]", 0)                                                      \
    X(struct with_fn, "with_fn", 1)                                              \
    X(struct with_uintptr, "with_uintptr", 1)                                    \
    X(struct uintptr_array, "uintptr_array", 0)                                  \
    X(struct const_uintptr, "const_uintptr", 1)                                  \
    X(struct atomic_ptr, "atomic_ptr", 0)                                        \
    X(struct ptr_array, "ptr_array", 1)                                          \
    X(struct flexible, "flexible", 1)                                            \
    X(struct nested, "nested", 1)                                                \
    X(struct nested_plain, "nested_plain", 0)                                    \
    X(struct in_union, "in_union", 1)                                            \
    X(struct bits, "bits", 0)                                                    \
    X(struct array_ptr, "array_ptr", 1)                                          \
    X(uintptr_t, "unsigned long", 1)                                             \
    X(unsigned long, "unsigned long", 0)                                         \
    X(char, "char", 0)                                                           \
    X(signed char, "signed char", 0)                                             \
    X(unsigned char, "unsigned char", 0)                                         \
    X(short, "short", 0)                                                         \
    X(unsigned short, "unsigned short", 0)                                       \
    X(int, "int", 0)                                                             \
    X(unsigned, "unsigned int", 0)                                               \
    X(long, "long", 0)                                                           \
    X(long long, "long long", 0)                                                 \
    X(unsigned long long, "unsigned long long", 0)                               \
    X(__int128, "__int128", 0)                                                   \
    X(unsigned __int128, "unsigned __int128", 0)                                 \
    X(_Bool, "_Bool", 0)                                                         \
    X(float, "float", 0)                                                         \
    X(double, "double", 0)                                                       \
    X(long double, "long double", 0)                                             \
    X(_Complex double, "_Complex double", 0)                                     \
    X(char *, "char *", 1)                                                       \
    X(const char *, "const char *", 1)                                           \
    X(char *const *, "char *const *", 1)                                         \
    X(struct node *, "node *", 1)                                                \
    X(void *, "void *", 1)                                                       \
    X(void (*)(void), "void (*)(void)", 1)                                       \
    X(void (*)(), "void (*)()", 1)                                               \
    X(int (*)(const char *, ...), "int (*)(const char *, ...)", 1)               \
    X(int (*)[3], "int (*)[3]", 1)

const void *volatile sink;

/* A static of each type puts its definition in the DWARF. */
#define PRINT(type, name, holds)                                                                   \
    {                                                                                              \
        static __typeof__(type) keep;                                                              \
        sink = &keep;                                                                              \
        printf("%s\t%d\t%llu\n", name, holds, (unsigned long long)__builtin_infer_alloc_token(sizeof(type))); \
    }

int main(void) {
    TYPES(PRINT)
    return 0;
}
