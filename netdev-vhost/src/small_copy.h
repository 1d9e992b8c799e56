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
// One move of N bytes (N a constant: inlined).
template <size_t N>
inline void move_fixed(uint8_t* dst, const uint8_t* src) {
    __builtin_memcpy(dst, src, N);
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
