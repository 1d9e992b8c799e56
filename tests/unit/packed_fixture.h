// packed_fixture.h: a packed virtqueue on a PackedRingDriver, with the
// helpers of the packed-ring burst tests (packed_ring_test.cpp,
// packed_batch_test.cpp).
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <optional>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "frontend/packed_ring_driver.h"
#include "net/virtio_net.h"
#include "base/virtio_spec.h"

namespace nvh::test {

inline constexpr uint64_t kMiB = 1 << 20;
inline constexpr uint64_t kPacked = virtio::bit(virtio::kFVersion1) | virtio::bit(virtio::kFRingPacked);
inline constexpr uint64_t kMrg = kPacked | virtio::bit(virtio::kNetFMrgRxbuf);
inline constexpr uint64_t kIndirect = virtio::bit(virtio::kFIndirectDesc);
inline constexpr uint64_t kEventIdx = virtio::bit(virtio::kFEventIdx);

inline std::vector<uint8_t> frame(size_t len, uint8_t seed = 1) {
    std::vector<uint8_t> f(len);
    for (size_t i = 0; i < len; i++) {
        f[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
    }
    return f;
}

struct PNet {
    PNet(uint16_t num, uint64_t features, uint32_t buffer_size = 16384,
         uint32_t base = 0x8000) {
        mem.add_region(0, 64 * kMiB);
        drv.emplace(mem, num, buffer_size);
        auto g = mem.create_memory();
        if (!g.ok()) {
            std::abort();
        }
        memory = std::move(g.value());
        call = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        vq.set_call_fd(UniqueFd(::dup(call)));
        if (!drv->configure(vq, base) || !vq.start(memory, features).ok()) {
            std::abort();
        }
        vq.set_enabled(true);
    }
    ~PNet() { ::close(call); }
    uint64_t interrupts() {
        uint64_t v = 0;
        return ::read(call, &v, sizeof v) == sizeof v ? v : 0;
    }
    const VringCounters& c() const { return vq.counters(); }

    GuestMemoryFixture mem;
    std::optional<PackedRingDriver> drv;
    GuestMemory memory;
    Virtqueue vq;
    int call = -1;
};

struct TxBuffers {
    explicit TxBuffers(uint32_t capacity = 9216) {
        for (size_t i = 0; i < NVH_MAX_BURST; i++) {
            storage[i].resize(capacity);
            pkts[i] = {};
            pkts[i].data = storage[i].data();
            pkts[i].capacity = capacity;
        }
    }
    std::vector<uint8_t> got(size_t i) const {
        return {pkts[i].data, pkts[i].data + pkts[i].len};
    }
    std::array<std::vector<uint8_t>, NVH_MAX_BURST> storage;
    std::array<nvh_packet, NVH_MAX_BURST> pkts;
};

inline nvh_packet rx_packet(std::vector<uint8_t>& f) {
    nvh_packet p{};
    p.data = f.data();
    p.len = static_cast<uint32_t>(f.size());
    return p;
}

inline std::vector<uint8_t> payload(const std::vector<uint8_t>& bytes, uint32_t hdr = 12) {
    return {bytes.begin() + hdr, bytes.end()};
}

inline uint16_t num_buffers(const std::vector<uint8_t>& bytes) {
    return static_cast<uint16_t>(bytes[10] | (bytes[11] << 8));
}

}  // namespace nvh::test
