// SPDX-License-Identifier: Apache-2.0
// ring_harness.h: one queue harness for split and packed rings.  A started,
// enabled Virtqueue on a ring the in-tree driver builds in memfd guest
// memory, with the helpers every burst test uses: frames, packet buffers,
// posting transmit chains and receive buffers, and reading used entries back
// the same way for both ring types.  TYPED_TEST_SUITE(..., RingTypes,
// RingTypeNames) runs a test on both.
#pragma once

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/virtio_spec.h"
#include "frontend/guest_memory_fixture.h"
#include "frontend/packed_ring_driver.h"
#include "frontend/split_ring_driver.h"
#include "net/virtio_net.h"
#include "ring/virtqueue.h"

namespace nvh::test {

inline constexpr uint64_t kMiB = 1 << 20;
inline constexpr uint64_t kV1 = virtio::bit(virtio::kFVersion1);
inline constexpr uint64_t kMrg = kV1 | virtio::bit(virtio::kNetFMrgRxbuf);
inline constexpr uint64_t kIndirect = virtio::bit(virtio::kFIndirectDesc);
inline constexpr uint64_t kEventIdx = virtio::bit(virtio::kFEventIdx);
inline constexpr uint64_t kInOrder = virtio::bit(virtio::kFInOrder);
inline constexpr uint64_t kRingPacked = virtio::bit(virtio::kFRingPacked);

// ---- Frames and packets ------------------------------------------------------

// `len` bytes of a pattern that differs with `seed` and along the frame.
inline std::vector<uint8_t> frame(size_t len, uint8_t seed = 1) {
    std::vector<uint8_t> f(len);
    for (size_t i = 0; i < len; i++) {
        f[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
    }
    return f;
}

// A packet for net_enqueue_burst that points at `f`.
inline nvh_packet rx_packet(std::vector<uint8_t>& f, const nvh_offload& offload = {}) {
    nvh_packet p{};
    p.data = f.data();
    p.len = static_cast<uint32_t>(f.size());
    p.offload = offload;
    return p;
}

// One packet for each frame of `frames` (which must outlive them).
inline std::vector<nvh_packet> rx_packets(std::vector<std::vector<uint8_t>>& frames) {
    std::vector<nvh_packet> out;
    for (auto& f : frames) {
        out.push_back(rx_packet(f));
    }
    return out;
}

// The frame after a receive header of `hdr` bytes.
inline std::vector<uint8_t> payload(const std::vector<uint8_t>& bytes, uint32_t hdr = 12) {
    if (bytes.size() < hdr) {
        ADD_FAILURE() << "used buffer of " << bytes.size() << " bytes has no header";
        return {};
    }
    return {bytes.begin() + hdr, bytes.end()};
}

// num_buffers of a 12-byte receive header (virtio 1.2, 5.1.6.4).
inline uint16_t num_buffers(const std::vector<uint8_t>& bytes) {
    if (bytes.size() < 12) {
        ADD_FAILURE() << "used buffer of " << bytes.size() << " bytes has no num_buffers";
        return 0;
    }
    return static_cast<uint16_t>(bytes[10] | (bytes[11] << 8));
}

// Caller-owned packet buffers for net_dequeue_burst.
struct TxBuffers {
    explicit TxBuffers(uint32_t capacity = 2048) {
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

// ---- Ring types --------------------------------------------------------------

// virtio 1.2, 2.7: the split ring; indexes start at 0.
struct Split {
    using Driver = SplitRingDriver;
    static constexpr uint64_t kFeatures = 0;
    static constexpr uint32_t kBase = 0;
};

// virtio 1.2, 2.8: the packed ring; index 0 with wrap counter 1, as DPDK's
// virtio_user sends it in SET_VRING_BASE (vhost-user.rst).
struct Packed {
    using Driver = PackedRingDriver;
    static constexpr uint64_t kFeatures = kRingPacked;
    static constexpr uint32_t kBase = 0x8000;
};

using RingTypes = ::testing::Types<Split, Packed>;

struct RingTypeNames {
    template <typename R>
    static std::string GetName(int) {
        return std::is_same_v<R, Split> ? "Split" : "Packed";
    }
};

// A used entry as both ring types return it: the buffer id (split: the
// head), the length the device wrote, and those bytes.
struct UsedChain {
    uint32_t id;
    uint32_t len;
    std::vector<uint8_t> bytes;
};

// How a queue is made: ring size, features (without the ring type's bit),
// pool buffer size, ring base (the ring type's fresh base if unset) and
// guest memory (`memory` bytes at gpa 0; with `adjacent_region`, 1 MiB more
// right after it at an unrelated frontend address).
struct QueueConfig {
    uint16_t num = 64;
    uint64_t features = kV1;
    uint32_t buffer_size = 16384;
    std::optional<uint32_t> base;
    uint64_t memory = 16 * kMiB;
    bool adjacent_region = true;
};

// One started, enabled queue of ring type R, with a call eventfd.  Setup
// failures are GoogleTest failures; the queue is then left stopped, so the
// test fails on its own assertions too and nothing is touched.
template <typename R>
class RingQueue {
public:
    using Driver = typename R::Driver;
    using Segment = typename Driver::Segment;

    explicit RingQueue(const QueueConfig& config) : config_(config) {
        mem.add_region(0, config.memory);
        if (config.adjacent_region) {
            mem.add_region(config.memory, kMiB, 0x500000000);
        }
        drv.emplace(mem, config.num, config.buffer_size);
        auto g = mem.create_memory();
        if (!g.ok()) {
            ADD_FAILURE() << "guest memory: " << g.error().what;
            return;
        }
        memory = std::move(g.value());
        call = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        vq.set_call_fd(UniqueFd(::dup(call)));
        const uint32_t base = config.base.value_or(R::kBase);
        if constexpr (std::is_same_v<R, Split>) {
            drv->rebase(static_cast<uint16_t>(base));
        }
        if (!drv->configure(vq, base)) {
            ADD_FAILURE() << "ring of " << config.num << " entries refused";
            return;
        }
        EXPECT_TRUE(start()) << "the queue did not start";
    }
    RingQueue(uint16_t num, uint64_t features, uint32_t buffer_size = 16384)
        : RingQueue(QueueConfig{.num = num, .features = features, .buffer_size = buffer_size}) {}
    ~RingQueue() {
        if (call >= 0) {
            ::close(call);
        }
    }
    RingQueue(const RingQueue&) = delete;
    RingQueue& operator=(const RingQueue&) = delete;

    // Starts (again) with the configured features and enables the queue.
    [[nodiscard]] bool start() {
        if (!vq.start(memory, features()).ok()) {
            return false;
        }
        vq.set_enabled(true);
        return true;
    }
    uint64_t features() const { return config_.features | R::kFeatures; }

    // Interrupts signalled since the last call.  The queue has no notifier
    // thread: its outstanding request is delivered here, as the notifier
    // would (which also counts guest_notifications).
    uint64_t interrupts() {
        vq.guest_call().deliver(nullptr);
        uint64_t v = 0;
        return ::read(call, &v, sizeof v) == sizeof v ? v : 0;
    }
    const VringCounters& c() const { return vq.counters(); }

    // ---- The driver's side -------------------------------------------------

    // A transmit chain: a zero header of the negotiated length, then `f`;
    // `split` gives the first descriptors' sizes (see SplitRingDriver).
    int post_tx(std::span<const uint8_t> f, std::span<const uint32_t> split = {}) {
        return drv->add_tx(Driver::net_header(vq.header_len()), f, split);
    }
    int post_tx(std::span<const uint8_t> f, std::initializer_list<uint32_t> split) {
        return post_tx(f, std::span<const uint32_t>(split.begin(), split.size()));
    }
    // A receive chain of device-writable buffers of these sizes.
    int post_rx(std::initializer_list<uint32_t> sizes) { return drv->add_rx(sizes); }
    int post_rx(std::span<const uint32_t> sizes) { return drv->add_rx(sizes); }
    // A chain of one buffer of `len` bytes in fresh guest memory holding
    // `bytes` (zeros after them), device-writable or not.
    int post_buffer(uint32_t len, bool writable, std::span<const uint8_t> bytes = {}) {
        uint64_t gpa = mem.alloc(len);
        mem.write(gpa, bytes);
        const Segment seg[] = {{gpa, len, writable}};
        return drv->add_chain(seg);
    }
    // Header and frame in fresh guest memory: their guest-physical address.
    uint64_t place_tx_bytes(std::span<const uint8_t> f) {
        std::vector<uint8_t> bytes(vq.header_len(), 0);
        bytes.insert(bytes.end(), f.begin(), f.end());
        uint64_t gpa = mem.alloc(bytes.size());
        mem.write(gpa, bytes);
        return gpa;
    }

    // Descriptors (split) or ring slots (packed) the device has not given
    // back, of the chains the driver tracks.
    size_t outstanding() const {
        if constexpr (std::is_same_v<R, Split>) {
            return drv->num() - drv->free_descriptors();
        } else {
            return drv->num() - drv->free_slots();
        }
    }

    // ---- Used entries ------------------------------------------------------

    std::optional<UsedChain> pop() {
        auto u = drv->pop_used();
        if (!u) {
            return std::nullopt;
        }
        return UsedChain{u->id, u->len, drv->read_used(*u)};
    }
    std::vector<UsedChain> pop_all() {
        std::vector<UsedChain> out;
        while (auto u = pop()) {
            out.push_back(std::move(*u));
        }
        return out;
    }
    // The frame of every used entry in turn (one per packet without
    // MRG_RXBUF, the header of the first entry of each packet removed).
    std::vector<uint8_t> pop_merged(size_t entries) {
        std::vector<uint8_t> all;
        for (size_t i = 0; i < entries; i++) {
            auto u = pop();
            if (!u) {
                ADD_FAILURE() << "used entry " << i << " of " << entries << " missing";
                return {};
            }
            all.insert(all.end(), u->bytes.begin(), u->bytes.end());
        }
        return all;
    }

    // ---- Bursts ------------------------------------------------------------

    uint32_t dequeue(TxBuffers& b, uint32_t n = NVH_MAX_BURST) {
        return net_dequeue_burst(vq, b.pkts.data(), n);
    }
    uint32_t dequeue(TxBuffers& b, const LargeBufferHook& large) {
        return net_dequeue_burst(vq, b.pkts.data(), NVH_MAX_BURST, large);
    }
    uint32_t enqueue(std::vector<nvh_packet> pkts) {
        return net_enqueue_burst(vq, pkts.data(), static_cast<uint32_t>(pkts.size()));
    }
    uint32_t enqueue(std::vector<std::vector<uint8_t>>& frames) {
        return enqueue(rx_packets(frames));
    }

    GuestMemoryFixture mem;
    std::optional<Driver> drv;
    GuestMemory memory;
    Virtqueue vq;
    int call = -1;

private:
    QueueConfig config_;
};

// The fixture of the typed ring tests: TYPED_TEST(X, ...) with
// `using Q = RingQueue<TypeParam>` inside.
template <typename R>
class RingTest : public ::testing::Test {};

}  // namespace nvh::test
