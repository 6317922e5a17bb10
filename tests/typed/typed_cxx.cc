// Typed placement of C++ allocations: built by tests.mk with clang++-22
// -fsanitize=alloc-token -falloc-token-max=16, so each new expression calls
// __alloc_token__Znwm(size, token) and its nothrow, array and aligned
// siblings, which partmalloc defines.
//
// Run with PARTMALLOC_TOKEN_MAX=16. In typed mode every object of a type
// holding pointers must sit in partitions [N/2, N) and every other object in
// [N/4, N/2), or in the unknown group [0, N/4) when its token names no type
// (N >= 4; for N = 2 pointers and unknowns in 0, the others in 1; all in 0
// for N = 1), in the partition
// pm_token_partition(token) for the token Clang infers for the type, which
// must also be the documented mapping recomputed here. Mode none: all in 0.
// Mode random: tokens ignored; 64 call sites of one type scatter, each site
// keeping its partition. Prints one line per check and a closing
// "typed_cxx: ..." line; exits 1 on any mismatch.
#include <cstdint>
#include <cstdio>
#include <new>
#include <string>

#include "partmalloc.h"

namespace {

// ---- types that hold pointers ----
struct Node {
    Node *next = nullptr;
    long value = 0;
};
struct Named {
    std::string name; // holds a pointer to its characters
    int id = 0;
};
struct Polymorphic { // the vtable pointer
    virtual ~Polymorphic() = default;
    int x = 0;
};
struct alignas(64) AlignedNode {
    AlignedNode *next = nullptr;
    char pad[8] = {};
};

// ---- types that do not ----
struct Plain {
    int a[4] = {};
};
struct alignas(64) AlignedPlain {
    double d[4] = {};
};
struct Pixels {
    unsigned char rgba[256];
};

pm_config cfg;
unsigned n_checked, n_bad;

const char *mode_name(pm_mode m) {
    return m == PM_MODE_TYPED ? "typed" : m == PM_MODE_RANDOM ? "random" : m == PM_MODE_NONE ? "none" : "?";
}

// The documented mapping, written out independently of the library: -1
// for "the unknown group, by call site" (token 0, at or above the max, or
// void's: SipHash-2-4 of "void" modulo max/2).
bool token_is_unknown(std::uint64_t token) {
    std::uint64_t max = cfg.token_max ? cfg.token_max : UINT64_MAX, half = max / 2;
    return token == 0 || token >= max || token == 0xca2f84459ea703e5ull % half;
}

int documented_partition(std::uint64_t token) {
    std::uint64_t max = cfg.token_max ? cfg.token_max : UINT64_MAX, half = max / 2;
    unsigned n = cfg.partitions, q = n / 4;
    bool unknown = token_is_unknown(token), pointers = !unknown && token >= half;
    if (n == 1)
        return 0;
    if (n == 2)
        return unknown || pointers ? 0 : 1;
    if (unknown)
        return -1;
    return pointers ? static_cast<int>(2 * q + (token - half) % (2 * q)) : static_cast<int>(q + token % q);
}

// The group's partitions: unknown [0, N/4), no pointers [N/4, N/2),
// pointers [N/2, N); N = 2: pointers and unknowns 0, the rest 1.
bool in_group(unsigned part, bool holds_ptr, bool unknown) {
    unsigned n = cfg.partitions;
    if (n == 1)
        return part == 0;
    if (n == 2)
        return part == (holds_ptr || unknown ? 0u : 1u);
    if (unknown)
        return part < n / 4;
    return holds_ptr ? part >= n / 2 : part >= n / 4 && part < n / 2;
}

// `cookie`: bytes the array new put before the first element.
void check(const char *label, const void *p, bool holds_ptr, std::size_t token, std::size_t cookie = 0) {
    n_checked++;
    struct pm_ptr_info info;
    char detail[160];
    bool ok = p && pm_ptr_info(p, &info) && info.is_small && info.live &&
              static_cast<const char *>(info.start) + cookie == p;
    unsigned part = ok ? info.partition : 0, n = cfg.partitions;
    if (!ok) {
        std::snprintf(detail, sizeof detail, "not a live small object");
    } else if (cfg.mode == PM_MODE_NONE) {
        ok = part == 0;
        std::snprintf(detail, sizeof detail, "(mode none: want 0)");
    } else if (cfg.mode == PM_MODE_RANDOM) {
        ok = part < n;
        std::snprintf(detail, sizeof detail, "(mode random: from the call site)");
    } else {
        unsigned want = pm_token_partition(token);
        int doc = documented_partition(token);
        bool unknown = token_is_unknown(token), group_ok = part < n && in_group(part, holds_ptr, unknown);
        ok = group_ok && (doc < 0 ? want == 0 : part == want && want == static_cast<unsigned>(doc));
        std::snprintf(detail, sizeof detail, "want=%u (documented %d) in the %s group%s", want, doc,
                      unknown ? "unknown" : holds_ptr ? "pointer" : "plain", group_ok ? "" : ": WRONG GROUP");
    }
    if (!ok)
        n_bad++;
    std::printf("%-4s %-40s token=%zu partition=%u %s\n", ok ? "ok" : "BAD", label, token, part, detail);
}

#define TOKEN(T) __builtin_infer_alloc_token(sizeof(T))

volatile std::size_t one = 1;

void placement() {
    std::size_t n = one * 3;

    Node *a = new Node;
    check("new Node", a, true, TOKEN(Node));
    delete a;
    Named *b = new Named{"named", 1};
    check("new Named (std::string member)", b, true, TOKEN(Named));
    delete b;
    Polymorphic *c = new Polymorphic;
    check("new Polymorphic (vtable pointer)", c, true, TOKEN(Polymorphic));
    delete c;
    std::string *s = new std::string("a string");
    check("new std::string", s, true, TOKEN(std::string));
    delete s;
    Plain *d = new Plain;
    check("new Plain", d, false, TOKEN(Plain));
    delete d;
    double *e = new double(1.5);
    check("new double", e, false, TOKEN(double));
    delete e;

    Node *an = new Node[n];
    check("new Node[n]", an, true, TOKEN(Node));
    delete[] an;
    char **ap = new char *[n];
    check("new char *[n]", ap, true, TOKEN(char *));
    delete[] ap;
    Polymorphic *apo = new Polymorphic[n]; // with an array cookie
    check("new Polymorphic[n] (array cookie)", apo, true, TOKEN(Polymorphic), sizeof(std::size_t));
    delete[] apo;
    int *ai = new int[n * 10];
    check("new int[n]", ai, false, TOKEN(int));
    delete[] ai;
    Pixels *apx = new Pixels[n];
    check("new Pixels[n]", apx, false, TOKEN(Pixels));
    delete[] apx;

    Node *tn = new (std::nothrow) Node;
    check("new (std::nothrow) Node", tn, true, TOKEN(Node));
    delete tn;
    Plain *tp = new (std::nothrow) Plain[n];
    check("new (std::nothrow) Plain[n]", tp, false, TOKEN(Plain));
    delete[] tp;
    void **tv = new (std::nothrow) void *[n];
    check("new (std::nothrow) void *[n]", tv, true, TOKEN(void *));
    delete[] tv;

    AlignedNode *gn = new AlignedNode;
    check("new AlignedNode (alignas 64)", gn, true, TOKEN(AlignedNode));
    delete gn;
    AlignedNode *ga = new AlignedNode[n];
    check("new AlignedNode[n]", ga, true, TOKEN(AlignedNode));
    delete[] ga;
    AlignedPlain *gp = new AlignedPlain;
    check("new AlignedPlain (alignas 64)", gp, false, TOKEN(AlignedPlain));
    delete gp;
    AlignedPlain *gq = new AlignedPlain[n];
    check("new AlignedPlain[n]", gq, false, TOKEN(AlignedPlain));
    delete[] gq;
    AlignedNode *gtn = new (std::nothrow) AlignedNode;
    check("new (std::nothrow) AlignedNode", gtn, true, TOKEN(AlignedNode));
    delete gtn;
    AlignedPlain *gtp = new (std::nothrow) AlignedPlain[n];
    check("new (std::nothrow) AlignedPlain[n]", gtp, false, TOKEN(AlignedPlain));
    delete[] gtp;
}

// 64 distinct call sites of one pointer-holding type, each called twice.
#define SITE(k) out[k] = new Node;
#define SITE4(k) SITE(k) SITE(k + 1) SITE(k + 2) SITE(k + 3)
#define SITE16(k) SITE4(k) SITE4(k + 4) SITE4(k + 8) SITE4(k + 12)
constexpr int kSites = 64;

__attribute__((noinline)) void spread_sites(Node **out) {
    SITE16(0) SITE16(16) SITE16(32) SITE16(48)
}

void spread() {
    Node *first[kSites], *second[kSites];
    spread_sites(first);
    spread_sites(second);
    unsigned n = cfg.partitions, lower = 0, distinct = 0, part0 = 0;
    unsigned long long used = 0;
    bool ok = true, stable = true;
    for (int i = 0; i < kSites; i++) {
        struct pm_ptr_info a, b;
        if (!pm_ptr_info(first[i], &a) || !pm_ptr_info(second[i], &b)) {
            ok = false;
            break;
        }
        if (i == 0)
            part0 = a.partition;
        stable &= a.partition == b.partition;
        used |= 1ull << a.partition;
        lower += n >= 2 && a.partition < n / 2;
        if (cfg.mode == PM_MODE_TYPED)
            ok &= a.partition == pm_token_partition(TOKEN(Node));
    }
    for (unsigned p = 0; p < 64; p++)
        distinct += (used >> p) & 1;
    ok &= stable;
    if (cfg.mode == PM_MODE_TYPED)
        ok &= in_group(part0, true, token_is_unknown(TOKEN(Node)));
    else if (cfg.mode == PM_MODE_NONE)
        ok &= used == 1;
    else if (n >= 2)
        ok &= distinct >= (n >= 8 ? 4u : 2u) && lower > 0 && lower < kSites;
    n_checked++;
    if (!ok)
        n_bad++;
    std::printf("%-4s %-40s token=%zu partition=%u distinct=%u in-lower-half=%u same-site-same-partition=%s\n",
                ok ? "ok" : "BAD", "spread: 64 sites of new Node, twice", TOKEN(Node), part0, distinct, lower,
                stable ? "yes" : "NO");
    for (int i = 0; i < kSites; i++) {
        delete first[i];
        delete second[i];
    }
}

} // namespace

int main() {
    pm_get_config(&cfg);
    placement();
    spread();
    std::printf("typed_cxx: mode=%s partitions=%u token_max=%llu: %u checks, %u mismatches\n", mode_name(cfg.mode),
                cfg.partitions, static_cast<unsigned long long>(cfg.token_max), n_checked, n_bad);
    return n_bad ? 1 : 0;
}
