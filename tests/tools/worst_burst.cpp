// SPDX-License-Identifier: Apache-2.0
// nvh_worst_burst: what the most expensive bursts a hostile guest can build
// cost, against a normal burst on the same ring (docs/security.md, "Bounded
// work per burst").  Not a test: it prints numbers and asserts nothing
// about time.
//
//     nvh_worst_burst [--reps N]        (default 2000)
//
// For each ring type (split, packed) and direction (transmit =
// net_dequeue_burst, receive = net_enqueue_burst), each case lays out its
// chains in a queue of 8192 entries (so that 32 chains of 256 ring
// descriptors fit a packed ring), restarts the queue and times one burst,
// N times: the ring is re-armed identically before every burst, outside
// the timed region.  It prints, per case, the descriptors the burst read
// (the vring's descriptors_read counter), the packets it returned, the
// median and 99th percentile of the burst's cost (TSC ticks on x86-64,
// nanoseconds elsewhere) and the median's ratio to the normal burst of the
// same ring type and direction: 32 packets of 64-byte frames in chains of
// one descriptor.  The ring and buffers are in the cache when a burst
// starts (the re-arming wrote them), for the normal burst as for the
// others, so the ratio compares the work, not the misses on lines a guest
// CPU has just written.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "base/virtio_spec.h"
#include "frontend/guest_memory_fixture.h"
#include "frontend/packed_ring_driver.h"
#include "frontend/split_ring_driver.h"
#include "net/buffer_piece.h"
#include "net/virtio_net.h"
#include "ring/virtqueue.h"

namespace nvh::test {
namespace {

constexpr uint16_t kNum = 8192;
constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFIndirectDesc);
constexpr uint64_t kMemory = uint64_t{64} << 20;
constexpr uint64_t kUnmapped = uint64_t{1} << 40;
constexpr uint32_t kHeader = 12;             // With MRG_RXBUF (virtio 1.2, 5.1.6).
constexpr uint32_t kPiece = 8;               // Bytes per descriptor of the long chains.
constexpr uint32_t kLong = kMaxChainBuffers; // 256 descriptors.
constexpr uint32_t kTxCapacity = 65536;

// One descriptor of a chain as the guest writes it.
struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;   // kDescFWrite, kDescFIndirect.
};
using Chain = std::vector<Desc>;

struct Case {
    std::string name;
    bool transmit;
    std::vector<Chain> chains;
    uint32_t rx_len = 0;   // Receive: 32 packets of this many bytes.
};

uint64_t ticks() {
#if defined(__x86_64__)
    _mm_lfence();
    const uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#else
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
#endif
}

template <typename T>
void put(uint8_t* p, T v) {
    std::memcpy(p, &v, sizeof v);
}

// One queue of kNum entries in memfd guest memory, restarted and re-armed
// with a case's chains before each burst.
class BenchQueue {
public:
    explicit BenchQueue(bool packed) : packed_(packed) {
        mem.add_region(0, kMemory);
        bool configured = false;
        if (packed) {
            configured = packed_drv_.emplace(mem, kNum, 64).configure(vq, kBase);
        } else {
            configured = split_drv_.emplace(mem, kNum, 64).configure(vq, 0);
        }
        auto g = mem.create_memory();
        if (!configured || !g.ok()) {
            std::fprintf(stderr, "nvh_worst_burst: the queue could not be set up\n");
            std::exit(1);
        }
        memory_ = std::move(g.value());
        restart();
        area = mem.alloc(1 << 20, 4096);
    }

    // A fresh start at index 0 (wrap counter 1 on a packed ring) and the
    // chains laid out from there, all available.
    void arm(const std::vector<Chain>& chains) {
        restart();
        uint32_t slot = 0;
        for (uint32_t c = 0; c < chains.size(); c++) {
            if (packed_) {
                lay_packed(chains[c], slot, static_cast<uint16_t>(c));
            } else {
                lay_split(chains[c], slot, c);
            }
            slot += static_cast<uint32_t>(chains[c].size());
        }
        if (!packed_) {
            put<uint16_t>(vq.split_ring().avail_host() + 2, static_cast<uint16_t>(chains.size()));
        }
    }

    // An indirect table of `entries` descriptors of kPiece bytes each in
    // the buffer area; split entries linked by NEXT (virtio 1.2, 2.7.5.3).
    Desc table(uint32_t entries, bool writable) {
        const uint64_t gpa = mem.alloc(16 * entries, 16);
        for (uint32_t i = 0; i < entries; i++) {
            uint8_t* p = mem.host(gpa + 16 * i);
            const uint16_t write = writable ? virtio::kDescFWrite : 0;
            put<uint64_t>(p, area + kPiece * i);
            put<uint32_t>(p + 8, kPiece);
            if (packed_) {
                put<uint16_t>(p + 14, write);
            } else {
                const bool last = i + 1 == entries;
                put<uint16_t>(p + 12, static_cast<uint16_t>(write | (last ? 0 : virtio::kDescFNext)));
                put<uint16_t>(p + 14, static_cast<uint16_t>(i + 1));
            }
        }
        return {gpa, 16 * entries, virtio::kDescFIndirect};
    }

    GuestMemoryFixture mem;
    Virtqueue vq;
    uint64_t area = 0;

private:
    static constexpr uint32_t kBase = 0x8000;   // Index 0, wrap counter 1.

    void restart() {
        vq.stop();
        if (used_ != nullptr) {
            put<uint16_t>(used_ + 2, 0);   // used->idx back to the base.
        }
        vq.set_base(packed_ ? kBase : 0);
        if (!vq.start(memory_, kFeatures | (packed_ ? virtio::bit(virtio::kFRingPacked) : 0))
                 .ok()) {
            std::fprintf(stderr, "nvh_worst_burst: the queue did not start\n");
            std::exit(1);
        }
        vq.set_enabled(true);
        if (!packed_) {
            used_ = vq.split_ring().used_host();
        }
    }

    // Descriptors [slot, slot + n) linked by NEXT; avail entry c = slot.
    void lay_split(const Chain& chain, uint32_t slot, uint32_t c) {
        uint8_t* desc = vq.split_ring().desc_host();
        for (uint32_t i = 0; i < chain.size(); i++) {
            uint8_t* p = desc + 16 * size_t{slot + i};
            const bool last = i + 1 == chain.size();
            put<uint64_t>(p, chain[i].addr);
            put<uint32_t>(p + 8, chain[i].len);
            put<uint16_t>(p + 12, static_cast<uint16_t>(chain[i].flags | (last ? 0 : virtio::kDescFNext)));
            put<uint16_t>(p + 14, static_cast<uint16_t>(slot + i + 1));
        }
        put<uint16_t>(vq.split_ring().avail_host() + 4 + 2 * c, static_cast<uint16_t>(slot));
    }

    // Ring slots [slot, slot + n), available for wrap counter 1 (virtio
    // 1.2, 2.8.1), linked by NEXT, buffer id `id` in the last one.
    void lay_packed(const Chain& chain, uint32_t slot, uint16_t id) {
        uint8_t* desc = vq.packed_ring().desc_host();
        for (uint32_t i = 0; i < chain.size(); i++) {
            uint8_t* p = desc + 16 * size_t{slot + i};
            const bool last = i + 1 == chain.size();
            put<uint64_t>(p, chain[i].addr);
            put<uint32_t>(p + 8, chain[i].len);
            put<uint16_t>(p + 12, id);
            put<uint16_t>(p + 14, static_cast<uint16_t>(chain[i].flags | virtio::kPackedDescFAvail |
                                                        (last ? 0 : virtio::kDescFNext)));
        }
    }

    bool packed_;
    std::optional<SplitRingDriver> split_drv_;
    std::optional<PackedRingDriver> packed_drv_;
    GuestMemory memory_;
    uint8_t* used_ = nullptr;
};

// A chain of `n` descriptors of kPiece bytes, the one at `bad` (if any)
// pointing at unmapped memory.
Chain long_chain(const BenchQueue& q, uint32_t n, bool writable, std::optional<uint32_t> bad) {
    Chain c;
    for (uint32_t i = 0; i < n; i++) {
        const uint64_t addr = bad && *bad == i ? kUnmapped : q.area + kPiece * i;
        c.push_back({addr, kPiece, writable ? virtio::kDescFWrite : uint16_t{0}});
    }
    return c;
}

// The burst's 32 chains, all alike.
std::vector<Chain> burst_of(const Chain& c) { return std::vector<Chain>(NVH_MAX_BURST, c); }

std::vector<Case> transmit_cases(BenchQueue& q) {
    const Chain one{{q.area, kHeader + 64, 0}};
    const Desc tbl = q.table(kLong, false);
    return {
        {"tx normal: 32 chains of 1 descriptor, 64-byte frames", true, burst_of(one)},
        {"tx 32 chains of 256 descriptors, invalid at the last", true,
         burst_of(long_chain(q, kLong, false, kLong - 1))},
        {"tx 32 chains of 256 descriptors, valid (2036-byte frames)", true,
         burst_of(long_chain(q, kLong, false, std::nullopt))},
        {"tx 32 chains of 256 descriptors, invalid at the first", true,
         burst_of(long_chain(q, kLong, false, 0))},
        {"tx 32 indirect tables of 256 descriptors", true, burst_of(Chain{tbl})},
    };
}

std::vector<Case> receive_cases(BenchQueue& q) {
    const uint32_t long_len = kLong * kPiece - kHeader;   // Fills 256 pieces.
    Case pieces{"rx 1 packet over 256 one-descriptor chains, then an invalid chain of 256",
                false, {}, long_len};
    for (uint32_t i = 0; i < net::kMaxPacketPieces; i++) {
        pieces.chains.push_back({{q.area + kPiece * i, kPiece, virtio::kDescFWrite}});
    }
    pieces.chains.push_back(long_chain(q, kLong, true, kLong - 1));
    const Desc tbl = q.table(kLong, true);
    return {
        {"rx normal: 32 chains of 1 descriptor, 64-byte frames", false,
         burst_of(Chain{{q.area, 2048, virtio::kDescFWrite}}), 64},
        pieces,
        {"rx 32 packets into chains of 256 descriptors", false,
         burst_of(long_chain(q, kLong, true, std::nullopt)), long_len},
        {"rx 32 chains of 256 descriptors, invalid at the last", false,
         burst_of(long_chain(q, kLong, true, kLong - 1)), long_len},
        {"rx 32 packets into indirect tables of 256 descriptors", false,
         burst_of(Chain{tbl}), long_len},
    };
}

struct Measured {
    uint64_t descs = 0;
    uint32_t returned = 0;
    uint64_t median = 0;
    uint64_t p99 = 0;
};

// Times `reps` bursts of case `c`, each on a freshly armed ring.
Measured measure(BenchQueue& q, const Case& c, uint32_t reps) {
    static std::vector<uint8_t> tx_storage(size_t{NVH_MAX_BURST} * kTxCapacity);
    std::vector<nvh_packet> pkts(NVH_MAX_BURST);
    std::vector<uint8_t> frame(std::max<uint32_t>(c.rx_len, 1), 0x5a);
    std::vector<uint64_t> cost;
    Measured m;
    for (uint32_t r = 0; r < reps; r++) {
        for (uint32_t i = 0; i < NVH_MAX_BURST; i++) {
            pkts[i] = nvh_packet{};
            pkts[i].data = c.transmit ? tx_storage.data() + size_t{i} * kTxCapacity : frame.data();
            pkts[i].capacity = c.transmit ? kTxCapacity : 0;
            pkts[i].len = c.transmit ? 0 : c.rx_len;
        }
        q.arm(c.chains);
        const uint64_t before = q.vq.counters().descriptors_read.load(std::memory_order_relaxed);
        const uint64_t t0 = ticks();
        m.returned = c.transmit ? net_dequeue_burst(q.vq, pkts.data(), NVH_MAX_BURST)
                                : net_enqueue_burst(q.vq, pkts.data(), NVH_MAX_BURST);
        const uint64_t t1 = ticks();
        m.descs = q.vq.counters().descriptors_read.load(std::memory_order_relaxed) - before;
        cost.push_back(t1 - t0);
    }
    std::sort(cost.begin(), cost.end());
    m.median = cost[cost.size() / 2];
    m.p99 = cost[std::min(cost.size() - 1, cost.size() * 99 / 100)];
    return m;
}

// Prints one table row per case; the first case of each list is the normal
// burst the others are compared with.
void run_ring(bool packed, uint32_t reps) {
    BenchQueue q(packed);
    const char* ring = packed ? "packed" : "split";
    for (const auto& list : {transmit_cases(q), receive_cases(q)}) {
        uint64_t normal = 0;
        for (const Case& c : list) {
            const Measured m = measure(q, c, reps);
            if (normal == 0) {
                normal = std::max<uint64_t>(m.median, 1);
            }
            std::printf("| %-6s | %-74s | %5llu | %3u | %8llu | %8llu | %6.1f |\n", ring,
                        c.name.c_str(), static_cast<unsigned long long>(m.descs), m.returned,
                        static_cast<unsigned long long>(m.median),
                        static_cast<unsigned long long>(m.p99),
                        static_cast<double>(m.median) / static_cast<double>(normal));
        }
    }
}

}  // namespace
}  // namespace nvh::test

int main(int argc, char** argv) {
    uint32_t reps = 2000;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = static_cast<uint32_t>(std::max(1L, std::strtol(argv[++i], nullptr, 10)));
        } else {
            std::fprintf(stderr, "usage: %s [--reps N]\n", argv[0]);
            return 2;
        }
    }
    std::printf("bound per burst: %llu descriptors (kBurstDescriptorBudget %llu + "
                "kMaxChainDescriptorReads %llu); %u repetitions; cost in %s\n\n",
                static_cast<unsigned long long>(nvh::kBurstDescriptorBudget +
                                                nvh::kMaxChainDescriptorReads),
                static_cast<unsigned long long>(nvh::kBurstDescriptorBudget),
                static_cast<unsigned long long>(nvh::kMaxChainDescriptorReads), reps,
#if defined(__x86_64__)
                "TSC ticks"
#else
                "ns"
#endif
    );
    std::printf("| ring   | %-74s | descs | pkts | median | p99 | x normal |\n", "case");
    std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
    nvh::test::run_ring(false, reps);
    nvh::test::run_ring(true, reps);
    return 0;
}
