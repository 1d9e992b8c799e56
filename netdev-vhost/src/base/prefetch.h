// SPDX-License-Identifier: Apache-2.0
// prefetch.h: cache hints of the data path.
//
// The guest's buffers were last written by the driver on another CPU, so the
// first touch of each one is a cache miss.  The bursts walk every chain of a
// burst first and copy afterwards; the walk hints the buffers it found, so
// that the misses of all packets overlap instead of being taken one by one
// during the copies.  A hint never faults and changes no value: hinting an
// address the driver rewrote meanwhile only wastes the hint.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace nvh {

inline constexpr size_t kCacheLine = 64;

// Lines of a buffer hinted when a burst's chains are walked: enough for a
// small frame with its header.
inline constexpr size_t kPrefetchLines = 2;
// Lines of the next packet's buffer hinted while a packet is copied: a
// whole 1518-byte frame.
inline constexpr size_t kPrefetchAheadLines = 24;

inline void prefetch_for_read(const void* p) { __builtin_prefetch(p, 0, 3); }

// Asks for the line in a state that allows writing, invalidating the copy
// the driver's CPU holds; a read hint would leave that copy in place and
// the store would still have to wait for it.  PREFETCHW (CPUID
// 80000001h:ECX.PRFCHW) where the CPU has it, else a read hint.
#if defined(__x86_64__)
inline bool cpu_has_prefetchw() {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 8)) != 0;
}
inline const bool kCpuHasPrefetchw = cpu_has_prefetchw();

inline void prefetch_for_write(const void* p) {
    if (kCpuHasPrefetchw) {
        asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
    } else {
        __builtin_prefetch(p, 0, 3);
    }
}
#else
inline void prefetch_for_write(const void* p) { __builtin_prefetch(p, 1, 3); }
#endif

// Hints the lines of [p, p + len), at most max_lines of them.
inline void prefetch_buffer(const uint8_t* p, size_t len, bool write,
                            size_t max_lines = kPrefetchLines) {
    if (len == 0) {
        return;
    }
    const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{kCacheLine - 1};
    const uintptr_t last = (reinterpret_cast<uintptr_t>(p) + len - 1) & ~uintptr_t{kCacheLine - 1};
    uintptr_t line = first;
    for (size_t i = 0; i < max_lines && line <= last; i++, line += kCacheLine) {
        const void* a = reinterpret_cast<const void*>(line);
        if (write) {
            prefetch_for_write(a);
        } else {
            prefetch_for_read(a);
        }
    }
}

}  // namespace nvh
