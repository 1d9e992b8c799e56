// SPDX-License-Identifier: Apache-2.0
// guest_race_test.cpp: a guest vCPU rewrites its ring words while the PMD
// runs transmit and receive bursts on the same queue (docs/security.md,
// threat model: "a guest vCPU rewrites ring words while the PMD reads
// them"), on both ring types.  The guest thread stores with atomic_ref, as
// the device loads, so ThreadSanitizer sees no race of the test's own.
//
// Every burst must return (a watchdog aborts the test if one takes more
// than a second), hand back at most the packets asked for, read at most
// kBurstDescriptorBudget + kMaxChainDescriptorReads descriptors
// (net/virtio_net.h, "Bounded work") and, on a split ring, publish at most
// a queue size of used entries.  A broken ring is restarted, as the control
// thread would after the driver reset it, so the attack goes on.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

#include "ring_harness.h"

namespace nvh::test {
namespace {

constexpr uint16_t kNum = 256;
constexpr uint64_t kFeatures = kMrg | kIndirect | kEventIdx;
constexpr auto kCaseTime = std::chrono::seconds(2);
constexpr uint64_t kMaxBursts = 1'000'000;
constexpr auto kBurstLimit = std::chrono::seconds(1);
constexpr uint64_t kMaxBurstReads = kBurstDescriptorBudget + kMaxChainDescriptorReads;

constexpr uint64_t kAreaBytes = 4 * kMiB;      // Buffers the chains point at.
constexpr uint32_t kTables = 4;                // Indirect tables...
constexpr uint32_t kTableEntries = 256;        // ...of this many descriptors.
constexpr uint64_t kTableBytes = 16 * kTableEntries;
constexpr uint64_t kUnmapped = uint64_t{1} << 40;

template <typename T>
void store(uint8_t* p, T v, std::memory_order order = std::memory_order_relaxed) {
    std::atomic_ref<T>(*reinterpret_cast<T*>(p)).store(v, order);
}

template <typename T>
T load(const uint8_t* p, std::memory_order order) {
    return std::atomic_ref<T>(*reinterpret_cast<T*>(const_cast<uint8_t*>(p))).load(order);
}

// The guest's dice.
class Dice {
public:
    explicit Dice(uint32_t seed) : rng_(seed) {}
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
    bool chance(uint32_t percent) { return below(100) < percent; }

private:
    std::mt19937 rng_;
};

// Where the guest's descriptors may point: the buffer area, the indirect
// tables, and the ends of the two memory regions (ring_harness.h: region 0
// of QueueConfig::memory bytes, region 1 of 1 MiB right after it).  The
// guest never points a descriptor at its rings: the device would then copy
// frames into words the guest thread stores to, a race between two threads
// of this process rather than one the device can avoid.
struct GuestLayout {
    uint64_t area = 0;
    uint64_t tables = 0;
    uint64_t region0_end = 0;
    uint64_t region1_end = 0;
};

// A buffer for a descriptor: mostly inside the area, sometimes across the
// two regions, past the end of memory, unmapped, huge, empty or wrapping
// the address space.
DescBuffer pick_buffer(Dice& d, const GuestLayout& l) {
    const uint32_t r = d.below(100);
    if (r < 70) {
        return {l.area + (d.below(kAreaBytes - 8192) & ~63u), 1 + d.below(4096), false};
    }
    if (r < 78) {
        return {l.region0_end - 1 - d.below(2048), 64 + d.below(4096), false};
    }
    if (r < 86) {
        return {l.region1_end - 1 - d.below(2048), 4096, false};
    }
    if (r < 92) {
        return {kUnmapped + d.below(1 << 20), 64 + d.below(2048), false};
    }
    if (r < 96) {
        return {l.area, 0x80000000u + d.below(1 << 30), false};
    }
    return d.chance(50) ? DescBuffer{l.area, 0, false}
                        : DescBuffer{~uint64_t{0} - d.below(4096), 4096, false};
}

// An indirect table for a descriptor: usually a whole or partial table,
// sometimes a length that is no multiple of 16, zero, or an unaligned start.
DescBuffer pick_table(Dice& d, const GuestLayout& l) {
    uint64_t addr = l.tables + kTableBytes * d.below(kTables);
    uint32_t len = 16 * (1 + d.below(kTableEntries));
    if (d.chance(10)) {
        len = d.chance(50) ? 0 : len + 1 + d.below(15);
    }
    if (d.chance(5)) {
        addr += 8;   // read_desc_words's unaligned path.
    }
    return {addr, len, false};
}

// Writes the indirect tables once, before the guest thread starts (nobody
// writes them afterwards): buffers from pick_buffer(), split entries linked
// by NEXT to the following one, table 1 ending in a loop.
void fill_tables(GuestMemoryFixture& mem, const GuestLayout& l, bool split, Dice& d) {
    for (uint32_t t = 0; t < kTables; t++) {
        for (uint32_t i = 0; i < kTableEntries; i++) {
            const DescBuffer b = pick_buffer(d, l);
            const uint16_t write = d.chance(50) ? virtio::kDescFWrite : 0;
            const bool last = i + 1 == kTableEntries;
            uint8_t bytes[16];
            if (split) {
                const uint16_t next = last ? (t == 1 ? 0 : 0xffff) : static_cast<uint16_t>(i + 1);
                const uint16_t flags = write | ((last && t != 1) ? 0 : virtio::kDescFNext);
                const virtio::SplitDesc desc{b.addr, b.len, flags, next};
                std::memcpy(bytes, &desc, 16);
            } else {
                const virtio::PackedDesc desc{b.addr, b.len, 0, write};
                std::memcpy(bytes, &desc, 16);
            }
            mem.write(l.tables + kTableBytes * t + 16 * i, bytes);
        }
    }
}

// ---- The guest of a split ring (virtio 1.2, 2.7) ---------------------------

class SplitGuest {
public:
    SplitGuest(Virtqueue& vq, const GuestLayout& l)
        : desc_(vq.split_ring().desc_host()), avail_(vq.split_ring().avail_host()),
          used_(vq.split_ring().used_host()), layout_(l) {}

    // Before the bursts: one-buffer chains in every descriptor and avail
    // entry, the whole ring available.
    void fill(Dice& d) {
        for (uint16_t i = 0; i < kNum; i++) {
            const DescBuffer b = pick_buffer(d, layout_);
            write_desc(i, {b.addr, b.len, d.chance(50) ? virtio::kDescFWrite : uint16_t{0}, 0});
            store<uint16_t>(avail_ + 4 + 2 * i, i);
        }
        rearm();
    }

    // One hostile rewrite of descriptors, avail entries or avail->idx.
    void attack(Dice& d) {
        switch (d.below(16)) {
        case 0: case 1: case 2: case 3: case 4: case 5:
            write_desc(static_cast<uint16_t>(d.below(kNum)), hostile_desc(d));
            break;
        case 6: case 7: case 8: {
            // Heads in and out of range (virtio 1.2, 2.7.6).
            const uint32_t head = d.chance(1) ? kNum + d.below(0x10000 - kNum) : d.below(kNum);
            store<uint16_t>(avail_ + 4 + 2 * d.below(kNum), static_cast<uint16_t>(head));
            break;
        }
        case 9: case 10:
            move_avail_idx(d);
            break;
        case 11:
            long_chain(d);
            break;
        case 12:
            reset_heads();
            break;
        default:
            rearm();
        }
    }

    // The re-arming driver: every entry the device used is available again
    // at once (avail->idx a whole ring past used->idx).
    void rearm() {
        const uint16_t used = load<uint16_t>(used_ + 2, std::memory_order_acquire);
        store<uint16_t>(avail_ + 2, static_cast<uint16_t>(used + kNum), std::memory_order_release);
    }

private:
    // Every avail entry a head in range again, as a driver that reset its
    // ring (a head out of range breaks the ring at every restart until the
    // entry is rewritten).
    void reset_heads() {
        for (uint16_t i = 0; i < kNum; i++) {
            store<uint16_t>(avail_ + 4 + 2 * i, i);
        }
    }

    void write_desc(uint16_t i, const virtio::SplitDesc& s) {
        uint8_t* p = desc_ + 16 * size_t{i};
        store<uint64_t>(p, s.addr);
        store<uint64_t>(p + 8, uint64_t{s.len} | uint64_t{s.flags} << 32 | uint64_t{s.next} << 48,
                        std::memory_order_release);
    }

    // Any flags (NEXT, WRITE, INDIRECT), next in range, to itself or out of
    // range (virtio 1.2, 2.7.5).
    virtio::SplitDesc hostile_desc(Dice& d) {
        uint16_t flags = 0;
        flags |= d.chance(50) ? virtio::kDescFNext : 0;
        flags |= d.chance(50) ? virtio::kDescFWrite : 0;
        DescBuffer b = pick_buffer(d, layout_);
        if (d.chance(10)) {
            flags |= virtio::kDescFIndirect;
            b = pick_table(d, layout_);
        }
        const uint32_t r = d.below(10);
        const uint32_t next = r < 7 ? d.below(kNum) : r < 9 ? 0 : kNum + d.below(0x10000 - kNum);
        return {b.addr, b.len, flags, static_cast<uint16_t>(next)};
    }

    // avail->idx running ahead by up to a ring, going back, or jumping.
    void move_avail_idx(Dice& d) {
        const uint16_t used = load<uint16_t>(used_ + 2, std::memory_order_acquire);
        const uint32_t r = d.below(20);
        const uint32_t idx = r < 17   ? used + d.below(kNum + 1)
                             : r < 18 ? used - 1 - d.below(16)
                             : r < 19 ? used + kNum + 1 + d.below(4096)
                                      : d.below(0x10000);
        store<uint16_t>(avail_ + 2, static_cast<uint16_t>(idx), std::memory_order_release);
    }

    // Up to 300 descriptors linked by NEXT, the last back to the first (a
    // loop) or out of the ring.
    void long_chain(Dice& d) {
        const uint32_t start = d.below(kNum);
        const uint32_t len = 1 + d.below(300);
        for (uint32_t j = 0; j < len; j++) {
            const DescBuffer b = pick_buffer(d, layout_);
            const bool last = j + 1 == len;
            const uint32_t next = last ? (d.chance(50) ? start : kNum + 7) : (start + j + 1) % kNum;
            write_desc(static_cast<uint16_t>((start + j) % kNum),
                       {b.addr, b.len, static_cast<uint16_t>(virtio::kDescFNext | virtio::kDescFWrite),
                        static_cast<uint16_t>(next)});
        }
    }

    uint8_t* desc_;
    uint8_t* avail_;
    uint8_t* used_;
    GuestLayout layout_;
};

// ---- The guest of a packed ring (virtio 1.2, 2.8) --------------------------

class PackedGuest {
public:
    PackedGuest(Virtqueue& vq, const GuestLayout& l) : desc_(vq.packed_ring().desc_host()), layout_(l) {}

    // Before the bursts: a one-slot chain in every slot, id = slot,
    // available for wrap counter 1.
    void fill(Dice& d) {
        for (uint16_t i = 0; i < kNum; i++) {
            const DescBuffer b = pick_buffer(d, layout_);
            write_slot(i, {b.addr, b.len, i, static_cast<uint16_t>(avail_bits(true) | virtio::kDescFWrite)});
        }
    }

    // One hostile rewrite of a slot or a long chain, or a re-arming pass.
    void attack(Dice& d) {
        switch (d.below(8)) {
        case 0: case 1: case 2:
            write_slot(static_cast<uint16_t>(d.below(kNum)), hostile_desc(d));
            break;
        case 3:
            long_chain(d);
            break;
        default:
            rearm(d);
        }
    }

    // The re-arming driver: every slot the device wrote used (AVAIL ==
    // USED, virtio 1.2, 2.8.4) is made available again for the device's next
    // lap (AVAIL flipped), as a one-slot chain, right away.
    void rearm(Dice& d) {
        for (uint32_t k = 0; k < 16; k++) {
            uint8_t* p = desc_ + 16 * size_t{cursor_};
            cursor_ = static_cast<uint16_t>((cursor_ + 1) % kNum);
            const uint16_t flags = load<uint16_t>(p + 14, std::memory_order_acquire);
            if (((flags & virtio::kPackedDescFAvail) != 0) != ((flags & virtio::kPackedDescFUsed) != 0)) {
                continue;
            }
            const DescBuffer b = pick_buffer(d, layout_);
            store<uint64_t>(p, b.addr);
            store<uint32_t>(p + 8, b.len);
            const uint16_t write = d.chance(50) ? virtio::kDescFWrite : 0;
            const uint16_t bits = flags & (virtio::kPackedDescFAvail | virtio::kPackedDescFUsed);
            store<uint16_t>(p + 14, static_cast<uint16_t>((bits ^ virtio::kPackedDescFAvail) | write),
                            std::memory_order_release);
        }
    }

private:
    // AVAIL and USED for a chain available to a device whose wrap counter
    // is `wrap` (virtio 1.2, 2.8.1).
    static uint16_t avail_bits(bool wrap) {
        return wrap ? virtio::kPackedDescFAvail : virtio::kPackedDescFUsed;
    }

    void write_slot(uint16_t i, const virtio::PackedDesc& s) {
        uint8_t* p = desc_ + 16 * size_t{i};
        store<uint64_t>(p, s.addr);
        store<uint64_t>(p + 8, uint64_t{s.len} | uint64_t{s.id} << 32 | uint64_t{s.flags} << 48,
                        std::memory_order_release);
    }

    // Any AVAIL/USED bits, NEXT, WRITE, INDIRECT, ids in and out of range.
    virtio::PackedDesc hostile_desc(Dice& d) {
        uint16_t flags = 0;
        flags |= d.chance(50) ? virtio::kPackedDescFAvail : 0;
        flags |= d.chance(50) ? virtio::kPackedDescFUsed : 0;
        flags |= d.chance(40) ? virtio::kDescFNext : 0;
        flags |= d.chance(50) ? virtio::kDescFWrite : 0;
        DescBuffer b = pick_buffer(d, layout_);
        if (d.chance(10)) {
            flags |= virtio::kDescFIndirect;
            b = pick_table(d, layout_);
        }
        const uint32_t id = d.chance(90) ? d.below(kNum) : kNum + d.below(0x10000 - kNum);
        return {b.addr, b.len, static_cast<uint16_t>(id), flags};
    }

    // Up to 300 consecutive slots linked by NEXT, available for a guessed
    // wrap counter (flipping where the ring wraps), the head written last;
    // the last one's id sometimes out of range.
    void long_chain(Dice& d) {
        const uint32_t start = d.below(kNum);
        const uint32_t len = 1 + d.below(300);
        const bool wrap = d.chance(50);
        for (uint32_t j = len; j-- > 0;) {
            const DescBuffer b = pick_buffer(d, layout_);
            const bool last = j + 1 == len;
            uint16_t flags = avail_bits(start + j < kNum ? wrap : !wrap);
            flags |= virtio::kDescFWrite | (last ? 0 : virtio::kDescFNext);
            const uint32_t id = !last ? 0 : d.chance(80) ? d.below(kNum) : kNum;
            write_slot(static_cast<uint16_t>((start + j) % kNum),
                       {b.addr, b.len, static_cast<uint16_t>(id), flags});
        }
    }

    uint8_t* desc_;
    GuestLayout layout_;
    uint16_t cursor_ = 0;
};

template <typename R>
using GuestOf = std::conditional_t<std::is_same_v<R, Split>, SplitGuest, PackedGuest>;

// ---- The PMD side -------------------------------------------------------------

// Counts the core's log lines instead of printing them: each restart of a
// ring the guest broke logs one (the control thread's path, not the PMD's).
std::atomic<uint64_t> g_log_lines{0};
void count_log_line(nvh_log_level, const char*) {
    g_log_lines.fetch_add(1, std::memory_order_relaxed);
}

// Aborts the test binary if a burst runs longer than kBurstLimit: a burst
// that never returns would otherwise hang the test instead of failing it.
class Watchdog {
public:
    Watchdog() : thread_([this] { watch(); }) {}
    ~Watchdog() {
        stop_.store(true, std::memory_order_relaxed);
        thread_.join();
    }
    void begin() { started_.store(now(), std::memory_order_relaxed); }
    void end() { started_.store(0, std::memory_order_relaxed); }

private:
    static int64_t now() { return std::chrono::steady_clock::now().time_since_epoch().count(); }
    void watch() {
        const int64_t limit = std::chrono::steady_clock::duration(kBurstLimit).count();
        while (!stop_.load(std::memory_order_relaxed)) {
            const int64_t t = started_.load(std::memory_order_relaxed);
            if (t != 0 && now() - t > limit) {
                std::fprintf(stderr, "FAILED: a burst ran for more than %lld s: unbounded work\n",
                             static_cast<long long>(kBurstLimit.count()));
                std::abort();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    std::atomic<bool> stop_{false};
    std::atomic<int64_t> started_{0};
    std::thread thread_;
};

// What the PMD saw over one race.
struct RaceStats {
    uint64_t bursts = 0;
    uint64_t restarts = 0;
    uint64_t max_reads = 0;
    uint32_t max_used = 0;
};

// Runs bursts on `q`, transmit and receive in turn, checking each one,
// until kCaseTime or kMaxBursts; restarts the queue when the guest broke it.
template <typename R>
RaceStats run_bursts(RingQueue<R>& q) {
    Watchdog dog;
    RaceStats s;
    TxBuffers tx;
    std::vector<std::vector<uint8_t>> frames;
    for (uint32_t i = 0; i < NVH_MAX_BURST; i++) {
        frames.push_back(frame(i % 8 == 7 ? 9000 : 60 + 97 * (i % 16), static_cast<uint8_t>(i)));
    }
    std::vector<nvh_packet> rx = rx_packets(frames);
    const auto deadline = std::chrono::steady_clock::now() + kCaseTime;
    while (s.bursts < kMaxBursts && std::chrono::steady_clock::now() < deadline) {
        if (q.vq.broken()) {
            q.vq.stop();
            if (!q.start()) {
                ADD_FAILURE() << "the queue did not start again";
                break;
            }
            s.restarts++;
        }
        const uint64_t reads_before = q.c().descriptors_read.load(std::memory_order_relaxed);
        const uint16_t used_before = q.vq.split_ring().last_used_idx();
        const bool transmit = s.bursts % 2 == 0;
        dog.begin();
        const uint32_t got = transmit ? q.dequeue(tx) : q.enqueue(rx);
        dog.end();
        q.vq.count_if_broken();
        const uint64_t reads = q.c().descriptors_read.load(std::memory_order_relaxed) - reads_before;
        // Split only: a packed ring's used entries are not visible from here.
        const uint16_t used = static_cast<uint16_t>(q.vq.split_ring().last_used_idx() - used_before);
        s.bursts++;
        s.max_reads = std::max(s.max_reads, reads);
        s.max_used = std::max<uint32_t>(s.max_used, used);
        if (got > NVH_MAX_BURST || reads > kMaxBurstReads || used > kNum) {
            ADD_FAILURE() << (transmit ? "transmit" : "receive") << " burst " << s.bursts
                          << ": returned " << got << " of " << NVH_MAX_BURST << ", read " << reads
                          << " descriptors (bound " << kMaxBurstReads << "), published "
                          << (std::is_same_v<R, Split> ? std::to_string(used) : "n/a")
                          << " used entries (queue size " << kNum << ")";
            break;
        }
    }
    return s;
}

template <typename R>
class GuestRaceTest : public ::testing::Test {
protected:
    GuestRaceTest() : q_(QueueConfig{.num = kNum, .features = kFeatures, .buffer_size = 2048}) {
        layout_.tables = q_.mem.alloc(kTables * kTableBytes, 4096);
        layout_.area = q_.mem.alloc(kAreaBytes, 4096);
        layout_.region0_end = QueueConfig{}.memory;
        layout_.region1_end = layout_.region0_end + kMiB;
        q_.mem.alloc_in(1, kMiB);   // Region 1 holds nothing else either.
        Dice d(1);
        fill_tables(q_.mem, layout_, std::is_same_v<R, Split>, d);
    }

    // The guest thread runs `step` until the PMD (this thread) is done.
    template <typename Step>
    RaceStats race(Step step) {
        GuestOf<R> guest(q_.vq, layout_);
        Dice setup(2);
        guest.fill(setup);
        std::atomic<bool> stop{false};
        std::thread vcpu([&] {
            Dice d(3);
            while (!stop.load(std::memory_order_relaxed)) {
                step(guest, d);
            }
        });
        nvh_set_log_handler(count_log_line);
        const RaceStats s = run_bursts(q_);
        nvh_set_log_handler(nullptr);
        stop.store(true, std::memory_order_relaxed);
        vcpu.join();
        const VringCounters& c = q_.c();
        std::printf("[ race     ] %llu bursts, %llu restarts, max %llu descriptors read "
                    "(bound %llu), max %s used entries, %llu packets, %llu invalid chains, "
                    "%llu broken rings\n",
                    ull(s.bursts), ull(s.restarts), ull(s.max_reads), ull(kMaxBurstReads),
                    std::is_same_v<R, Split> ? std::to_string(s.max_used).c_str() : "n/a",
                    ull(c.packets.load()), ull(c.invalid_descriptors.load()),
                    ull(c.broken_rings.load()));
        return s;
    }

    static unsigned long long ull(uint64_t v) { return v; }

    RingQueue<R> q_;
    GuestLayout layout_;
};

TYPED_TEST_SUITE(GuestRaceTest, RingTypes, RingTypeNames);

// Every kind of rewrite at once: descriptors, heads, indexes, ids, flags,
// long chains, loops, indirect tables, and re-arming.
TYPED_TEST(GuestRaceTest, HostileRewritesDuringBurstsStayBounded) {
    ASSERT_TRUE(this->q_.vq.ready());
    const RaceStats s = this->race([](auto& guest, Dice& d) { guest.attack(d); });
    EXPECT_GT(s.bursts, 0u);
    const VringCounters& c = this->q_.c();
    // The attacks landed: the device saw broken chains or rings.
    EXPECT_GT(c.invalid_descriptors.load() + c.broken_rings.load(), 0u);
}

// A driver that makes every consumed entry or slot available again at
// once, half of them chains a receive burst cannot use: each burst still
// ends, within its bounds.
TYPED_TEST(GuestRaceTest, ReArmingDriverCannotKeepABurstGoing) {
    ASSERT_TRUE(this->q_.vq.ready());
    const RaceStats s = this->race([](auto& guest, Dice& d) {
        if constexpr (std::is_same_v<std::decay_t<decltype(guest)>, SplitGuest>) {
            (void)d;
            guest.rearm();
        } else {
            guest.rearm(d);
        }
    });
    EXPECT_GT(s.bursts, 0u);
    const VringCounters& c = this->q_.c();
    EXPECT_GT(c.packets.load(), 0u) << "no chain was ever used";
    EXPECT_GT(c.invalid_descriptors.load(), 0u);
}

}  // namespace
}  // namespace nvh::test
