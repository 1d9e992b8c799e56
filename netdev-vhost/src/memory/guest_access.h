// SPDX-License-Identifier: Apache-2.0
// guest_access.h: reads and writes of ring memory shared with the driver,
// used by the split ring (virtio 1.2, 2.7) and the packed ring (2.8).
//
// The driver may rewrite guest memory at any time, so every access is a
// single atomic_ref load or store (explicit memory order), and a descriptor
// is read exactly once into local words before any field is looked at.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

namespace nvh {

template <typename T>
inline T guest_load(const uint8_t* p, std::memory_order order) {
    return std::atomic_ref<T>(*reinterpret_cast<T*>(const_cast<uint8_t*>(p)))
        .load(order);
}

template <typename T>
inline void guest_store(uint8_t* p, T v, std::memory_order order) {
    std::atomic_ref<T>(*reinterpret_cast<T*>(p)).store(v, order);
}

// The two little-endian 64-bit words of one 16-byte descriptor (split:
// virtio 1.2, 2.7.5, struct virtq_desc; packed: 2.8.13, struct pvirtq_desc;
// legacy x86 guests are LE too), read exactly once.  Ring slots are 16-byte
// aligned (checked when the ring starts); an indirect table may not be
// 8-byte aligned in host memory, then a byte copy followed by a compiler
// barrier keeps the compiler from reading guest memory again.
struct DescWords {
    uint64_t w0;   // addr
    uint64_t w1;   // len, then split: flags, next / packed: id, flags
};

inline DescWords read_desc_words(const uint8_t* p) {
    DescWords d;
    if ((reinterpret_cast<uintptr_t>(p) & 7) == 0) {
        d.w0 = guest_load<uint64_t>(p, std::memory_order_relaxed);
        d.w1 = guest_load<uint64_t>(p + 8, std::memory_order_relaxed);
    } else {
        std::memcpy(&d.w0, p, 8);
        std::memcpy(&d.w1, p + 8, 8);
        asm volatile("" ::: "memory");
    }
    return d;
}

// One 16-byte descriptor read once (read_desc_words) into `Desc`, whose
// fields are, in order, a 64-bit address, a 32-bit length and two 16-bit
// words: virtio::SplitDesc (flags, next) and virtio::PackedDesc (id, flags).
template <typename Desc>
inline Desc read_desc_as(const uint8_t* p) {
    const DescWords w = read_desc_words(p);
    return Desc{w.w0, static_cast<uint32_t>(w.w1), static_cast<uint16_t>(w.w1 >> 32),
                static_cast<uint16_t>(w.w1 >> 48)};
}

}  // namespace nvh
