// C++ types with known allocation-token names, for
// tests/integration/test_typeinfo.c
// (see types.c). Built with clang++-22 -std=c++20 -g -fsanitize=alloc-token.
#include <cstdint>
#include <cstdio>

namespace ns {
struct Foo { int a; };
namespace inner { class Bar { public: char *p = nullptr; }; }
template <class T> struct Box { T v; };
enum class Col { R, G };
enum Un { UA, UB };
enum class Sc : long { SA = -2 };
inline namespace v1 { struct Versioned { int a; }; }  // inline namespaces are not printed
}  // namespace ns
namespace nn { template <class T> struct TT {}; }
namespace { struct Anon { int x; }; }
struct Outer { struct Inner { int y; }; };
struct Virt { virtual ~Virt() {} int z = 0; };         // a vtable pointer
struct Derived : Virt { int w = 0; };                   // inherited
struct VirtBase : virtual ns::Foo { int q = 0; };       // a virtual base
struct Ref { int &r; };                                  // references are not pointers
struct MemPtr { int Outer::Inner::*mp; };               // nor are member pointers
struct MemFnPtr { void (Virt::*mf)(); };
struct PtrBase : ns::inner::Bar { int k; };              // a base holding pointers
template <int N> struct Arr { char c[N]; };
template <bool B, char C, ns::Col E> struct Vals { int x; };
template <class T, class U = int> struct Def { T t; U u; };  // trailing defaults are dropped
enum Plain { PA, PB = 7 };
template <unsigned N> struct U1 { int a; };
template <long N> struct L1 { int a; };
template <char C> struct Ch { int a; };
template <unsigned char C> struct UCh { int a; };
template <Plain P> struct PE { int a; };
template <ns::Un P> struct UE { int a; };
template <ns::Sc P> struct SE { int a; };
template <class T> struct Tm { struct In { T x; }; };
template <class... Ts> struct Pack { int a; };
template <template <class> class X> struct TTp { int a; };
typedef struct { int a; } anon_t;
struct UintptrArray { std::uintptr_t a[4]; };
struct ConstUintptr { const std::uintptr_t a = 0; };

// Each type is in parentheses: template arguments have commas.
#define TYPES(X)                                                            \
    X((ns::Foo), "ns::Foo", 0)                                                \
    X((ns::inner::Bar), "ns::inner::Bar", 1)                                  \
    X((ns::Box<int>), "ns::Box<int>", 0)                                      \
    X((ns::Box<char *>), "ns::Box<char *>", 1)                                \
    X((ns::Box<const char *>), "ns::Box<const char *>", 1)                    \
    X((ns::Box<ns::Foo>), "ns::Box<ns::Foo>", 0)                              \
    X((ns::Box<ns::Box<long>>), "ns::Box<ns::Box<long>>", 0)                  \
    X((ns::Box<int (*)(int)>), "ns::Box<int (*)(int)>", 1)                    \
    X((ns::Box<unsigned long long>), "ns::Box<unsigned long long>", 0)        \
    X((ns::Col), "ns::Col", 0)                                                \
    X((ns::Versioned), "ns::Versioned", 0)                                    \
    X((Anon), "(anonymous namespace)::Anon", 0)                               \
    X((Outer::Inner), "Outer::Inner", 0)                                      \
    X((Virt), "Virt", 1)                                                      \
    X((Derived), "Derived", 1)                                                \
    X((VirtBase), "VirtBase", 1)                                              \
    X((MemPtr), "MemPtr", 0)                                                  \
    X((MemFnPtr), "MemFnPtr", 0)                                              \
    X((PtrBase), "PtrBase", 1)                                                \
    X((Arr<5>), "Arr<5>", 0)                                                  \
    X((Vals<true, 'a', ns::Col::R>), "Vals<true, 'a', ns::Col::R>", 0)        \
    X((Def<char>), "Def<char>", 0)                                            \
    X((Def<char, long>), "Def<char, long>", 0)                                \
    X((U1<5>), "U1<5>", 0)                                                    \
    X((L1<-5>), "L1<-5>", 0)                                                  \
    X((Ch<'\n'>), "Ch<'\\n'>", 0)                                             \
    X((Ch<'\0'>), "Ch<'\\x00'>", 0)                                           \
    X((Ch<'\''>), "Ch<'\\''>", 0)                                             \
    X((UCh<200>), "UCh<'\\xc8'>", 0)                                          \
    X((PE<PB>), "PE<PB>", 0)                                                  \
    X((PE<(Plain)3>), "PE<3>", 0)                                             \
    X((UE<ns::UB>), "UE<ns::UB>", 0)                                          \
    X((SE<ns::Sc::SA>), "SE<ns::Sc::SA>", 0)                                  \
    X((Tm<int>::In), "Tm<int>::In", 0)                                        \
    X((Tm<char *>::In), "Tm<char *>::In", 1)                                  \
    X((Pack<int, char *>), "Pack<int, char *>", 0)                            \
    X((Pack<>), "Pack<>", 0)                                                  \
    X((TTp<nn::TT>), "TTp<nn::TT>", 0)                                        \
    X((anon_t), "anon_t", 0)                                                  \
    X((UintptrArray), "UintptrArray", 0)                                      \
    X((ConstUintptr), "ConstUintptr", 1)                                      \
    X((std::uintptr_t), "unsigned long", 1)                                   \
    X((bool), "bool", 0)                                                      \
    X((wchar_t), "wchar_t", 0)                                                \
    X((char16_t), "char16_t", 0)                                              \
    X((Virt *), "Virt *", 1)

int some_int;
Ref global_ref{some_int};
const void *volatile sink;

// A static of each type puts its definition in the DWARF.
#define PRINT(type, name, holds)                                                                   \
    {                                                                                              \
        static __typeof__ type keep{};                                                             \
        sink = &keep;                                                                              \
        std::printf("%s\t%d\t%llu\n", name, holds,                                                 \
                    (unsigned long long)__builtin_infer_alloc_token(sizeof type));                 \
    }

// Classes local to a function are named bare; one nested in a local class
// is named with the function and its parameters as written.
namespace nn {
void local(int, char *) {
    struct Local { int a; struct Nested { char *p; }; };
    PRINT((Local), "Local", 0)
    PRINT((Local::Nested), "nn::local(int, char *)::Local::Nested", 1)
}
}  // namespace nn

int main() {
    std::printf("%s\t%d\t%llu\n", "Ref", 0, (unsigned long long)__builtin_infer_alloc_token(sizeof(Ref)));
    TYPES(PRINT)
    nn::local(0, nullptr);
    return 0;
}
