#!/usr/bin/env python3
"""Writes the fuzzer's seed inputs to tests/fuzz/corpus/ and the inputs of
bugs found before the fuzzer to tests/fuzz/regressions/ (run from the
project root). Each seed is a short program in fuzz_api.c's operation
language: an opcode byte, a slot byte, then the operation's arguments."""
import os
import struct

def u16(v): return struct.pack('<H', v)
def u32(v): return struct.pack('<I', v)

# sizes (pick_size)
def zero(): return b'\x00'
def small(n): return bytes([1, n])          # 0..255
def med(n): return bytes([8]) + u16(n)      # 0..32768
def large(n): return bytes([11]) + u32(n)   # below 1 MiB
def big(n): return bytes([13]) + u32(n)     # below 4 MiB
def huge(k=0): return bytes([0x1d, k])      # SIZE_MAX - k
def pow2(k): return bytes([14, k])          # 1 << k
# alignments (pick_align): 1 << k
def al(k): return bytes([k])
def bad_align(): return bytes([203])        # a non-power of two
# tokens (pick_token)
def tok(t): return bytes([0, t])            # in range
TOK_LAST, TOK_MAX = b'\x03', b'\x04'
def tok_above(d): return bytes([5, d])
TOK_NONE = bytes([6, 0])                    # SIZE_MAX

def malloc(s, size, v=0): return bytes([0, s, 0]) + size + bytes([v])
def calloc(s, size, n): return bytes([2, s, 0]) + size + b'\x00' + n
def realloc(s, size, v=0): return bytes([3, s]) + size + bytes([v])
def reallocarray(s, size, n): return bytes([3, s]) + size + b'\x07' + n
def aligned(sub, s, a, size, v=0): return bytes([5 + 16 * sub, s, 0]) + a + size + bytes([v])
def free(s, which=0): return bytes([6, s, which])
def token(s, which, t, size, extra=b''): return bytes([7, s, which]) + t + size + extra
def kmalloc(s, which, size, gfp, t=b'', extra=b''): return bytes([9, s, 0, which]) + size + bytes([gfp]) + t + extra
def krealloc(s, size, gfp, t=None):
    return bytes([10, s]) + size + bytes([gfp]) + (b'\x01' if t is None else b'\x00' + t)
def cache_create(k, size, a, f): return bytes([11, 0, k]) + u16(size) + bytes([a, f])
def cache_alloc(s, k, v=0): return bytes([12, s, k, v])
def cache_destroy(k): return bytes([12, 0, k, 0x80])
def buckets_create(): return bytes([13, 0, 0x80])
def buckets_alloc(s, size, gfp, i): return bytes([13, s, 0]) + size + bytes([gfp, i])
def stats(v, extra=b''): return bytes([14, 0, v]) + extra
def check(s): return bytes([15, s])

seeds = {
    'malloc_realloc': malloc(0, small(24)) + malloc(1, med(3000), 1) + realloc(0, med(5000)) +
        realloc(1, small(10)) + realloc(0, large(200000)) + realloc(0, med(100)) + realloc(1, zero()) +
        realloc(2, small(40)) + free(0, 2) + free(2, 3) + check(1),
    'calloc_overflow': calloc(0, small(16), small(20)) + calloc(1, huge(), small(2)) +
        calloc(2, large(70000), small(3)) + reallocarray(0, small(8), small(9)) +
        reallocarray(0, huge(1), small(3)) + check(0) + free(0, 1) + free(2),
    'aligned': aligned(0, 0, al(6), small(100)) + aligned(0, 1, al(16), zero()) + realloc(1, large(40000)) +
        aligned(1, 2, al(12), med(5000), 1) + aligned(1, 3, bad_align(), small(8)) +
        aligned(2, 4, al(20), large(300000)) + aligned(3, 5, b'', small(1)) + aligned(4, 6, b'', med(4097)) +
        aligned(0, 7, bad_align(), small(8)) + free(0, 1) + free(2, 2) + free(4) + free(5, 1) + free(6, 2),
    'tokens': token(0, 0, tok(3), small(48)) + token(1, 0, TOK_LAST, small(48)) +
        token(2, 0, TOK_MAX, small(48)) + token(3, 0, tok_above(9), med(2000)) +
        token(4, 1, TOK_NONE, small(8)) + token(5, 5, tok(12), small(32), b'\x04') +
        token(0, 7, tok(9), med(700)) + token(1, 8, tok(2), small(16), b'\x05') +
        token(6, 9, tok(4), small(64), al(7)) + token(7, 10, tok(11), small(64), al(9)) +
        token(8, 11, tok(1), med(3000), al(13)) + token(9, 2, tok(0), small(5)) + token(10, 3, tok(0), small(5)) +
        stats(3, tok_above(100)),
    'kmalloc': kmalloc(0, 0, small(100), 1, tok(5)) + kmalloc(1, 0x80, med(9000), 0) +
        kmalloc(2, 1, small(24), 1, tok(14), b'\x0a') + kmalloc(3, 2, small(30), 0, TOK_MAX, b'\x00') +
        kmalloc(4, 3, small(12), 0, tok(1)) + kmalloc(5, 0x40 | 1, small(8), 0, tok(1), b'\x09') +
        krealloc(0, med(2000), 1, tok(9)) + krealloc(1, small(50), 0) + krealloc(2, zero(), 0) +
        krealloc(6, small(70), 1, TOK_LAST) + krealloc(3, huge(), 0),
    'caches': cache_create(0, 64, 0, 0) + cache_create(1, 200, 6, 4) + cache_create(2, 40, 3, 8) +
        cache_create(3, 1032, 0, 2) + cache_create(4, 70, 200, 0) + cache_create(5, 64, 0, 0x80) +
        cache_alloc(0, 0) + cache_alloc(1, 1, 1) + cache_alloc(2, 2) + cache_alloc(3, 2, 1) + cache_alloc(4, 3) +
        free(0, 0) + free(1, 1) + free(2, 2) + cache_destroy(3) + cache_alloc(5, 0) + realloc(5, small(90)) +
        cache_destroy(0),
    'buckets': buckets_create() + buckets_alloc(0, small(100), 0, 0) + buckets_alloc(1, med(20000), 1, 0) +
        buckets_alloc(2, large(50000), 0, 0) + buckets_alloc(3, small(8), 0, 8) + realloc(0, med(300)) +
        stats(0),
    'stats_collect': malloc(0, small(24)) + malloc(1, large(100000)) + aligned(0, 2, al(17), small(10)) +
        free(0) + stats(0) + stats(0x80) + stats(0xc0) + stats(2) + stats(0x12) + stats(0x22) +
        stats(4, b'\x01' + u16(5000)) + stats(5) + stats(1),
    'large_blocks': malloc(0, big(3000000)) + realloc(0, big(3500000)) + realloc(0, large(40000)) +
        realloc(0, med(32768)) + realloc(0, large(32769)) + aligned(0, 1, al(21), big(2000000)) +
        aligned(4, 2, b'', large(65536)) + realloc(1, big(2100000)) + malloc(3, pow2(20)) + check(0) + check(1),
}

# The bugs of docs/reliability.md that came before the fuzzer, as its inputs.
regressions = {
    # aligned_alloc(64 KiB, 0) was a mapping of no pages: realloc could not grow it
    'aligned_zero_realloc': aligned(0, 0, al(16), zero()) + realloc(0, large(40000)) +
        aligned(1, 1, al(17), zero()) + realloc(1, large(200000)) + aligned(2, 2, al(18), zero()) +
        realloc(2, small(100)),
    # free_aligned_sized(p, 64 KiB, 0) of aligned_alloc(64 KiB, 0) aborted
    'aligned_zero_free_sized': aligned(0, 0, al(16), zero()) + free(0, 1) + aligned(0, 1, al(19), zero()) +
        free(1, 2) + aligned(1, 2, al(16), zero()) + free(2, 1),
    # kmem_cache_create of an odd multiple of 8 above 128 bytes looped forever
    'cache_odd_multiple_of_8': cache_create(0, 136, 0, 0) + cache_alloc(0, 0) + cache_create(1, 4088, 0, 0) +
        cache_alloc(1, 1) + cache_create(2, 1000, 3, 2) + cache_alloc(2, 2),
}

for folder, inputs in (('tests/fuzz/corpus', seeds), ('tests/fuzz/regressions', regressions)):
    os.makedirs(folder, exist_ok=True)
    for name, data in inputs.items():
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(data)
