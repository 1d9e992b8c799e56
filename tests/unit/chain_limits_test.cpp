// Bounds on descriptor walking: at most 256 buffers per chain, receive
// bursts that do not re-walk chains already found too small, bursts whose
// chains hold more pieces than one pass of the burst keeps, and the split
// ring's batch path (SplitRing::take_batch), whose every broken case must
// come out as the one-by-one walk has it.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <optional>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "frontend/split_ring_driver.h"
#include "ring/split_ring.h"
#include "net/virtio_net.h"
#include "base/virtio_spec.h"

namespace nvh {
namespace {

using test::GuestMemoryFixture;
using test::SplitRingDriver;
using Segment = SplitRingDriver::Segment;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kV1 = virtio::bit(virtio::kFVersion1);
constexpr uint64_t kMrg = kV1 | virtio::bit(virtio::kNetFMrgRxbuf);
constexpr uint32_t kLimit = ChainWalker::kMaxChainBuffers;
static_assert(kLimit == 256);

// A started, enabled queue of 1024 entries (room for chains longer than the
// limit) with 2 KiB pool buffers.
class Queue {
public:
    explicit Queue(uint64_t features) {
        mem.add_region(0, 16 * kMiB);
        drv.emplace(mem, 1024, 2048);
        auto g = mem.create_memory();
        if (!g.ok()) {
            std::abort();
        }
        memory = std::move(g.value());
        call = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        vq.set_call_fd(UniqueFd(::dup(call)));
        if (!drv->configure(vq) || !vq.start(memory, features).ok()) {
            std::abort();
        }
        vq.set_enabled(true);
    }
    ~Queue() { ::close(call); }
    const VringCounters& c() const { return vq.counters(); }

    // `count` device-readable segments of 8 bytes, back to back in fresh
    // memory starting at *base.
    std::vector<Segment> tx_segments(size_t count, uint64_t* base) {
        *base = mem.alloc(8 * count);
        std::vector<Segment> segs;
        for (size_t i = 0; i < count; i++) {
            segs.push_back({*base + 8 * i, 8, false});
        }
        return segs;
    }
    // A receive chain of `count` device-writable buffers of 8 bytes.
    int add_rx8(size_t count) {
        std::vector<uint32_t> sizes(count, 8);
        return drv->add_rx(sizes);
    }

    GuestMemoryFixture mem;
    std::optional<SplitRingDriver> drv;
    GuestMemory memory;
    Virtqueue vq;
    int call = -1;
};

std::vector<uint8_t> frame(size_t len, uint8_t seed = 1) {
    std::vector<uint8_t> f(len);
    for (size_t i = 0; i < len; i++) {
        f[i] = static_cast<uint8_t>(seed + i * 3);
    }
    return f;
}

nvh_packet rx_packet(std::vector<uint8_t>& f) {
    nvh_packet p{};
    p.data = f.data();
    p.len = static_cast<uint32_t>(f.size());
    return p;
}

// ---- ChainWalker -------------------------------------------------------------

std::pair<size_t, WalkStep> walk(const SplitRing& ring, uint16_t head) {
    ChainWalker w(ring, head);
    DescBuffer b;
    size_t n = 0;
    WalkStep s;
    while ((s = w.next(&b)) == WalkStep::kBuffer) {
        n++;
    }
    return {n, s};
}

TEST(ChainLimits, WalkerAcceptsTheLimitAndRefusesOneMore) {
    Queue q(kV1);
    uint64_t base;
    auto segs = q.tx_segments(kLimit + 1, &base);
    int longer = q.drv->add_chain(segs);
    segs.pop_back();
    int limit = q.drv->add_chain(segs);
    auto ok = walk(q.vq.split_ring(), uint16_t(limit));
    EXPECT_EQ(ok.second, WalkStep::kEnd);
    EXPECT_EQ(ok.first, kLimit);
    auto bad = walk(q.vq.split_ring(), uint16_t(longer));
    EXPECT_EQ(bad.second, WalkStep::kInvalid);
    EXPECT_EQ(bad.first, kLimit);   // nothing past the limit is yielded
}

TEST(ChainLimits, IndirectBuffersCountTowardsTheLimit) {
    Queue q(kV1 | virtio::bit(virtio::kFIndirectDesc));
    uint64_t base;
    auto segs = q.tx_segments(kLimit + 1, &base);
    int longer = q.drv->add_indirect(segs);
    segs.pop_back();
    int limit = q.drv->add_indirect(segs);
    EXPECT_EQ(walk(q.vq.split_ring(), uint16_t(limit)).second, WalkStep::kEnd);
    EXPECT_EQ(walk(q.vq.split_ring(), uint16_t(longer)).second, WalkStep::kInvalid);
}

// ---- Transmit ----------------------------------------------------------------

TEST(ChainLimits, TransmitChainOverTheLimitIsConsumedAsInvalid) {
    Queue q(kV1);
    // 256 x 8 bytes: a 12-byte header and a 2036-byte frame.
    uint64_t base;
    auto segs = q.tx_segments(kLimit, &base);
    auto f = frame(kLimit * 8 - 12, 9);
    q.mem.write(base + 12, f);
    uint64_t long_base;
    auto long_segs = q.tx_segments(kLimit + 1, &long_base);
    int longer = q.drv->add_chain(long_segs);
    int limit = q.drv->add_chain(segs);

    std::vector<uint8_t> buf(2048);
    std::array<nvh_packet, 2> pkts{};
    pkts[0].data = buf.data();
    pkts[0].capacity = 2048;
    ASSERT_EQ(net_dequeue_burst(q.vq, pkts.data(), 2), 1u);
    EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + pkts[0].len), f);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(q.c().packets.load(), 1u);
    // Both chains go back to the driver, the refused one with len 0.
    auto u0 = q.drv->pop_used(), u1 = q.drv->pop_used();
    ASSERT_TRUE(u0 && u1);
    EXPECT_EQ(u0->id, uint32_t(longer));
    EXPECT_EQ(u0->len, 0u);
    EXPECT_EQ(u1->id, uint32_t(limit));
}

// ---- Receive -----------------------------------------------------------------

TEST(ChainLimits, ReceiveChainOverTheLimitIsConsumedAsInvalid) {
    Queue q(kV1);
    int longer = q.add_rx8(kLimit + 1);
    int limit = q.add_rx8(kLimit);   // 2048 bytes
    auto f = frame(1518);
    nvh_packet p = rx_packet(f);
    ASSERT_EQ(net_enqueue_burst(q.vq, &p, 1), 1u);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(q.c().packets.load(), 1u);
    auto u0 = q.drv->pop_used(), u1 = q.drv->pop_used();
    ASSERT_TRUE(u0 && u1);
    EXPECT_EQ(u0->id, uint32_t(longer));
    EXPECT_EQ(u0->len, 0u);
    EXPECT_EQ(u1->id, uint32_t(limit));
    EXPECT_EQ(u1->len, 12u + 1518u);
}

TEST(ChainLimits, TooSmallReceiveChainIsWalkedOncePerBurst) {
    Queue q(kV1);
    int h = q.add_rx8(200);   // 1600 bytes
    // 31 frames too large for the chain, then one that fits.
    auto big = frame(2000), small = frame(64, 5);
    std::vector<nvh_packet> p(NVH_MAX_BURST, rx_packet(big));
    p.back() = rx_packet(small);
    ASSERT_EQ(net_enqueue_burst(q.vq, p.data(), NVH_MAX_BURST), NVH_MAX_BURST);
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), NVH_MAX_BURST - 1u);
    EXPECT_EQ(q.c().packets.load(), 1u);
    // Once for the first large frame, once more for the small one that
    // takes it; the other 30 large frames are dropped without a walk.
    EXPECT_EQ(q.c().descriptors_read.load(), 2 * 200u);
    auto u = q.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(h));
    EXPECT_EQ(u->len, 12u + 64u);

    // A new burst starts afresh: the next chain is walked for the first
    // frame that does not fit it, and not again.
    q.add_rx8(200);
    std::vector<nvh_packet> big_only(NVH_MAX_BURST, rx_packet(big));
    ASSERT_EQ(net_enqueue_burst(q.vq, big_only.data(), NVH_MAX_BURST), NVH_MAX_BURST);
    EXPECT_EQ(q.c().descriptors_read.load(), 3 * 200u);
    EXPECT_EQ(q.vq.base(), 1u);   // left in the ring
}

TEST(ChainLimits, MergeableWalkStopsAtThePieceLimit) {
    Queue q(kMrg);
    int a = q.add_rx8(200);
    q.add_rx8(kLimit);   // only 56 more buffers fit a packet's budget
    auto big = frame(9000), small = frame(64, 5);
    std::vector<nvh_packet> p(NVH_MAX_BURST, rx_packet(big));
    p.back() = rx_packet(small);
    ASSERT_EQ(net_enqueue_burst(q.vq, p.data(), NVH_MAX_BURST), NVH_MAX_BURST);
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), NVH_MAX_BURST - 1u);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 0u);
    // First large frame: 200 + 56 buffers and the one past the budget;
    // the small frame: the first chain only.
    EXPECT_EQ(q.c().descriptors_read.load(), 200u + 57u + 200u);
    auto u = q.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(a));
    EXPECT_EQ(u->len, 12u + 64u);
    EXPECT_FALSE(q.drv->pop_used());
}

// ---- Bursts longer than one pass ---------------------------------------------

// Chains of 200 pieces each: the pieces of two fill more than half of a
// pass (net::kBurstPieces), so the burst copies every two before it gathers
// the next (twice for five); every frame must still land whole, in order,
// in its own packet.
TEST(ChainLimits, TransmitBurstOverOnePassDeliversEveryFrame) {
    constexpr int kChains = 5;
    Queue q(kV1);
    std::vector<std::vector<uint8_t>> frames;
    std::vector<int> heads;
    for (int i = 0; i < kChains; i++) {
        uint64_t base;
        auto segs = q.tx_segments(200, &base);
        frames.push_back(frame(200 * 8 - 12, static_cast<uint8_t>(10 * i + 1)));
        q.mem.write(base + 12, frames.back());
        heads.push_back(q.drv->add_chain(segs));
    }
    std::array<std::vector<uint8_t>, kChains> bufs;
    std::array<nvh_packet, kChains> pkts{};
    for (int i = 0; i < kChains; i++) {
        bufs[i].assign(2048, 0);
        pkts[i].data = bufs[i].data();
        pkts[i].capacity = 2048;
    }
    ASSERT_EQ(net_dequeue_burst(q.vq, pkts.data(), kChains), uint32_t(kChains));
    for (int i = 0; i < kChains; i++) {
        ASSERT_EQ(pkts[i].len, frames[i].size());
        EXPECT_EQ(std::vector<uint8_t>(bufs[i].begin(), bufs[i].begin() + pkts[i].len),
                  frames[i]);
    }
    EXPECT_EQ(q.c().packets.load(), uint64_t(kChains));
    for (int i = 0; i < kChains; i++) {
        auto u = q.drv->pop_used();
        ASSERT_TRUE(u);
        EXPECT_EQ(u->id, uint32_t(heads[i]));
    }
}

TEST(ChainLimits, ReceiveBurstOverOnePassWritesEveryFrame) {
    Queue q(kV1);
    std::vector<int> heads;
    for (int i = 0; i < 3; i++) {
        heads.push_back(q.add_rx8(200));   // 1600 bytes: 189 pieces used
    }
    std::vector<std::vector<uint8_t>> frames;
    std::vector<nvh_packet> p;
    for (int i = 0; i < 3; i++) {
        frames.push_back(frame(1500, static_cast<uint8_t>(7 * i + 3)));
    }
    for (auto& f : frames) {
        p.push_back(rx_packet(f));
    }
    ASSERT_EQ(net_enqueue_burst(q.vq, p.data(), 3), 3u);
    EXPECT_EQ(q.c().packets.load(), 3u);
    for (int i = 0; i < 3; i++) {
        auto u = q.drv->pop_used();
        ASSERT_TRUE(u);
        EXPECT_EQ(u->id, uint32_t(heads[i]));
        ASSERT_EQ(u->len, 12u + 1500u);
        std::vector<uint8_t> bytes = q.drv->read_used(*u);
        ASSERT_EQ(bytes.size(), 12u + 1500u);
        EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 12, bytes.end()), frames[i]);
    }
}

// ---- Split ring batch path ---------------------------------------------------

struct TxOut {
    TxOut() {
        for (size_t i = 0; i < NVH_MAX_BURST; i++) {
            storage[i].resize(2048);
            pkts[i] = {};
            pkts[i].data = storage[i].data();
            pkts[i].capacity = 2048;
        }
    }
    std::vector<uint8_t> got(size_t i) const { return {pkts[i].data, pkts[i].data + pkts[i].len}; }
    std::array<std::vector<uint8_t>, NVH_MAX_BURST> storage;
    std::array<nvh_packet, NVH_MAX_BURST> pkts;
};

TEST(SplitBatch, TransmitOfSingleAndLongerChains) {
    Queue q(kV1);
    std::vector<int> heads;
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 32; i++) {
        frames.push_back(frame(60 + 40 * size_t(i), uint8_t(i)));
        // Every 7th chain is header + frame in two descriptors: it breaks
        // the batches around it.
        std::vector<uint32_t> split;
        if (i % 7 == 3) {
            split = {12};
        }
        heads.push_back(q.drv->add_tx(SplitRingDriver::net_header(12), frames.back(), split));
    }
    TxOut out;
    ASSERT_EQ(net_dequeue_burst(q.vq, out.pkts.data(), 32), 32u);
    for (int i = 0; i < 32; i++) {
        EXPECT_EQ(out.got(size_t(i)), frames[size_t(i)]) << i;
        auto u = q.drv->pop_used();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(u->id, uint32_t(heads[size_t(i)]));
        EXPECT_EQ(u->len, 0u);
    }
    EXPECT_FALSE(q.drv->pop_used());
}

// virtio 1.2, 5.1.6.2: a device-writable buffer in a transmit batch is
// dropped, counted and returned.
TEST(SplitBatch, WritableTransmitBufferIsDropped) {
    Queue q(kV1);
    for (int i = 0; i < 4; i++) {
        if (i == 1) {
            const Segment w[] = {{q.drv->pool_buffer(900), 100, true}};
            q.drv->add_chain(w);
        } else {
            q.drv->add_tx(SplitRingDriver::net_header(12), frame(90, uint8_t(i)));
        }
    }
    TxOut out;
    ASSERT_EQ(net_dequeue_burst(q.vq, out.pkts.data(), 32), 3u);
    EXPECT_EQ(out.got(0), frame(90, 0));
    EXPECT_EQ(out.got(1), frame(90, 2));
    EXPECT_EQ(out.got(2), frame(90, 3));
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
    for (int i = 0; i < 4; i++) {
        ASSERT_TRUE(q.drv->pop_used()) << i;
    }
}

// virtio 1.2, 2.7.6: a head out of range among four: the batch is refused
// and the one-by-one walk delivers the chains before it, then finds the
// ring unusable.
TEST(SplitBatch, HeadOutOfRangeBreaksTheQueue) {
    Queue q(kV1);
    q.drv->add_tx(SplitRingDriver::net_header(12), frame(70, 1));
    q.drv->add_tx(SplitRingDriver::net_header(12), frame(70, 2));
    q.drv->make_available(uint16_t(q.drv->num() + 5));
    q.drv->add_tx(SplitRingDriver::net_header(12), frame(70, 4));
    TxOut out;
    EXPECT_EQ(net_dequeue_burst(q.vq, out.pkts.data(), 32), 2u);
    EXPECT_EQ(out.got(0), frame(70, 1));
    EXPECT_EQ(out.got(1), frame(70, 2));
    EXPECT_TRUE(q.vq.broken());
}

TEST(SplitBatch, ReceiveIntoSingleBuffers) {
    Queue q(kMrg);
    std::vector<int> heads;
    for (int i = 0; i < 8; i++) {
        heads.push_back(q.drv->add_rx({2048}));
    }
    std::vector<std::vector<uint8_t>> frames;
    std::vector<nvh_packet> p;
    for (int i = 0; i < 8; i++) {
        frames.push_back(frame(64 + 150 * size_t(i), uint8_t(i)));
    }
    for (auto& f : frames) {
        p.push_back(rx_packet(f));
    }
    ASSERT_EQ(net_enqueue_burst(q.vq, p.data(), 8), 8u);
    for (int i = 0; i < 8; i++) {
        auto u = q.drv->pop_used();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(u->id, uint32_t(heads[size_t(i)]));
        ASSERT_EQ(u->len, 12 + frames[size_t(i)].size());
        std::vector<uint8_t> bytes = q.drv->read_used(*u);
        EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 12, bytes.end()), frames[size_t(i)]);
        EXPECT_EQ(bytes[10] | (bytes[11] << 8), 1);   // num_buffers
    }
    EXPECT_EQ(q.c().packets.load(), 8u);
}

// Without MRG_RXBUF: a buffer too small for its packet in a batch stops
// the batch; as one by one, that packet is dropped and the buffer stays for
// a later packet that fits it.
TEST(SplitBatch, SmallReceiveBufferStaysForASmallerPacket) {
    Queue q(kV1);
    const uint32_t sizes[] = {2048, 2048, 100, 2048};
    for (uint32_t size : sizes) {
        q.drv->add_rx({size});
    }
    auto f1 = frame(1000, 1), f2 = frame(1000, 2), f3 = frame(1000, 3), f4 = frame(50, 4);
    nvh_packet p[4] = {rx_packet(f1), rx_packet(f2), rx_packet(f3), rx_packet(f4)};
    ASSERT_EQ(net_enqueue_burst(q.vq, p, 4), 4u);
    auto u1 = q.drv->pop_used(), u2 = q.drv->pop_used(), u3 = q.drv->pop_used();
    ASSERT_TRUE(u1 && u2 && u3);
    auto payload = [&](const SplitRingDriver::Used& u) {
        auto b = q.drv->read_used(u);
        return std::vector<uint8_t>(b.begin() + 12, b.end());
    };
    EXPECT_EQ(payload(*u1), f1);
    EXPECT_EQ(payload(*u2), f2);
    EXPECT_EQ(payload(*u3), f4);
    EXPECT_EQ(u3->len, 62u);
    EXPECT_FALSE(q.drv->pop_used());
    EXPECT_EQ(q.c().rx_buffer_too_small.load(), 1u);
}

// virtio 1.2, 5.1.6.3: a read-only receive buffer in a batch goes back
// empty and counted; its packet takes the next buffer.
TEST(SplitBatch, ReadOnlyReceiveBufferIsInvalid) {
    Queue q(kMrg);
    for (int i = 0; i < 5; i++) {
        if (i == 2) {
            const Segment ro[] = {{q.drv->pool_buffer(900), 2048, false}};
            q.drv->add_chain(ro);
        } else {
            q.drv->add_rx({2048});
        }
    }
    std::vector<std::vector<uint8_t>> frames;
    std::vector<nvh_packet> p;
    for (int i = 0; i < 4; i++) {
        frames.push_back(frame(300, uint8_t(10 + i)));
    }
    for (auto& f : frames) {
        p.push_back(rx_packet(f));
    }
    ASSERT_EQ(net_enqueue_burst(q.vq, p.data(), 4), 4u);
    size_t got = 0;
    while (auto u = q.drv->pop_used()) {
        if (u->len == 0) {
            continue;   // the read-only buffer
        }
        auto b = q.drv->read_used(*u);
        ASSERT_LT(got, frames.size());
        EXPECT_EQ(std::vector<uint8_t>(b.begin() + 12, b.end()), frames[got]);
        got++;
    }
    EXPECT_EQ(got, 4u);
    EXPECT_EQ(q.c().invalid_descriptors.load(), 1u);
}

}  // namespace
}  // namespace nvh
