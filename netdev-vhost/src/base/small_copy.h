// SPDX-License-Identifier: Apache-2.0
// small_copy.h: the byte copies of the data path.  Most are short (a 10- or
// 12-byte virtio-net header, a 64-byte frame), where a call into libc's
// memcpy costs more than the copy: lengths up to 256 bytes are copied inline
// with a few fixed-size moves (overlapping at the end), which the compiler
// turns into vector loads and stores; longer ones go to memcpy.
//
// The source may be guest memory that the driver rewrites at any time: like
// memcpy, this reads each byte once and the result is whatever the bytes
// were; nothing decided from the copied data is read again from the source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nvh {

namespace detail {
// One move of N bytes (N a constant: inlined).  16 and 32 bytes move as one
// vector of that size (GCC vector extension, unaligned): one load and one
// store where the function it is inlined into may use 32-byte registers,
// two of each otherwise.  (__builtin_memcpy would move 16 bytes at a time
// whatever the target.)
typedef uint8_t Bytes16 __attribute__((vector_size(16), aligned(1), may_alias));
typedef uint8_t Bytes32 __attribute__((vector_size(32), aligned(1), may_alias));

template <size_t N>
inline void move_fixed(uint8_t* dst, const uint8_t* src) {
    if constexpr (N == 16) {
        *reinterpret_cast<Bytes16*>(dst) = *reinterpret_cast<const Bytes16*>(src);
    } else if constexpr (N == 32) {
        *reinterpret_cast<Bytes32*>(dst) = *reinterpret_cast<const Bytes32*>(src);
    } else {
        __builtin_memcpy(dst, src, N);
    }
}
}  // namespace detail

// Copies n <= 16 bytes (a virtio-net header, or part of one) from src to
// dst, which do not overlap.
inline void copy_short(uint8_t* dst, const uint8_t* src, size_t n) {
    using detail::move_fixed;
    if (n >= 8) {
        move_fixed<8>(dst, src);
        move_fixed<8>(dst + n - 8, src + n - 8);
    } else if (n >= 4) {
        move_fixed<4>(dst, src);
        move_fixed<4>(dst + n - 4, src + n - 4);
    } else if (n >= 2) {
        move_fixed<2>(dst, src);
        move_fixed<2>(dst + n - 2, src + n - 2);
    } else if (n == 1) {
        *dst = *src;
    }
}

// Makes the n <= 16 bytes at dst (a virtio-net header in a guest buffer)
// equal to src, storing only where they differ.  The driver's CPU reads the
// header of every received buffer, and most headers repeat the previous
// one in that buffer: left unwritten, the line stays valid in both caches,
// where a store would take it away from the driver's CPU and make it fetch
// the line back.  A byte the driver changes meanwhile is its own header.
inline void store_short_if_changed(uint8_t* dst, const uint8_t* src, size_t n) {
    if (n < 8) {
        copy_short(dst, src, n);
        return;
    }
    uint64_t head, tail, want_head, want_tail;
    __builtin_memcpy(&head, dst, 8);
    __builtin_memcpy(&tail, dst + n - 8, 8);
    __builtin_memcpy(&want_head, src, 8);
    __builtin_memcpy(&want_tail, src + n - 8, 8);
    if (((head ^ want_head) | (tail ^ want_tail)) != 0) {
        __builtin_memcpy(dst, &want_head, 8);
        __builtin_memcpy(dst + n - 8, &want_tail, 8);
    }
}

// Copies n bytes from src to dst, which do not overlap.
inline void copy_bytes(uint8_t* dst, const uint8_t* src, size_t n) {
    using detail::move_fixed;
    if (n <= 16) {
        copy_short(dst, src, n);
        return;
    }
    if (n <= 32) {
        move_fixed<16>(dst, src);
        move_fixed<16>(dst + n - 16, src + n - 16);
        return;
    }
    if (n <= 64) {
        move_fixed<32>(dst, src);
        move_fixed<32>(dst + n - 32, src + n - 32);
        return;
    }
    if (n <= 256) {
        size_t i = 0;
        for (; i + 32 < n; i += 32) {
            move_fixed<32>(dst + i, src + i);
        }
        move_fixed<32>(dst + n - 32, src + n - 32);
        return;
    }
    std::memcpy(dst, src, n);
}

}  // namespace nvh
