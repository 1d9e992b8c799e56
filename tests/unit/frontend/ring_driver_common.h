// SPDX-License-Identifier: Apache-2.0
// ring_driver_common.h: what the split and packed ring drivers share: the
// driver's ordered accesses to ring fields, cutting a transmit chain into
// descriptor pieces, and reading back what the device wrote.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "frontend/failure.h"
#include "frontend/guest_memory_fixture.h"
#include "ring/virtqueue.h"

namespace nvh::test::ring_driver {

template <typename T>
void store_release(uint8_t* p, T v) {
    std::atomic_ref<T>(*reinterpret_cast<T*>(p)).store(v, std::memory_order_release);
}

template <typename T>
T load_acquire(const uint8_t* p) {
    return std::atomic_ref<T>(*reinterpret_cast<T*>(const_cast<uint8_t*>(p)))
        .load(std::memory_order_acquire);
}

// SET_VRING_ADDR's fields for ring parts at these guest-physical addresses
// (split: descriptor table, avail and used rings; packed: descriptor ring,
// driver and device event areas).
inline VringAddresses ring_addresses(const GuestMemoryFixture& mem, uint64_t desc,
                                     uint64_t avail, uint64_t used) {
    VringAddresses a;
    a.desc_user_addr = mem.gpa_to_uva(desc);
    a.avail_user_addr = mem.gpa_to_uva(avail);
    a.used_user_addr = mem.gpa_to_uva(used);
    return a;
}

// vq.set_num(num), vq.set_addresses(addresses), vq.set_base(base); false if
// the size is refused.
inline bool configure(Virtqueue& vq, uint16_t num, const VringAddresses& addresses,
                      uint32_t base) {
    if (!vq.set_num(num).ok()) {
        return false;
    }
    vq.set_addresses(addresses);
    vq.set_base(base);
    return true;
}

// Header and frame as one byte string.
inline std::vector<uint8_t> join(std::span<const uint8_t> header, std::span<const uint8_t> frame) {
    std::vector<uint8_t> bytes(header.begin(), header.end());
    bytes.insert(bytes.end(), frame.begin(), frame.end());
    return bytes;
}

// The descriptor sizes of a transmit chain of `total` bytes: the sizes of
// `split` that fit, then one piece with the rest (or all of it).
inline std::vector<uint32_t> piece_sizes(size_t total, std::span<const uint32_t> split) {
    std::vector<uint32_t> sizes;
    size_t used = 0;
    for (uint32_t s : split) {
        if (used + s > total) {
            break;
        }
        sizes.push_back(s);
        used += s;
    }
    if (used < total || sizes.empty()) {
        sizes.push_back(static_cast<uint32_t>(total - used));
    }
    return sizes;
}

// Whether every size fits a pool buffer of `buffer_size`; reports
// `where`/`what` if not.
inline bool fit_pool(std::span<const uint32_t> sizes, uint32_t buffer_size, const char* where,
                     const char* what) {
    for (uint32_t s : sizes) {
        if (s > buffer_size) {
            report_failure(where, what);
            return false;
        }
    }
    return true;
}

// The first `len` bytes of the buffers `segments` (gpa, len) name.
template <typename Segment>
std::vector<uint8_t> read_written(const GuestMemoryFixture& mem,
                                  std::span<const Segment> segments, uint32_t len) {
    std::vector<uint8_t> out;
    uint32_t left = len;
    for (const Segment& s : segments) {
        if (left == 0) {
            break;
        }
        uint32_t n = std::min(left, s.len);
        std::vector<uint8_t> part = mem.read(s.gpa, n);
        out.insert(out.end(), part.begin(), part.end());
        left -= n;
    }
    return out;
}

}  // namespace nvh::test::ring_driver
