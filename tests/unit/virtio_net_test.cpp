// virtio-net transmit and receive bursts against a driver-built split ring.
#include "net/virtio_net.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "frontend/split_ring_driver.h"
#include "base/virtio_spec.h"

namespace nvh {
namespace {

using test::GuestMemoryFixture;
using test::SplitRingDriver;
using Segment = SplitRingDriver::Segment;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kV1 = virtio::bit(virtio::kFVersion1);
constexpr uint64_t kMrg = kV1 | virtio::bit(virtio::kNetFMrgRxbuf);

std::vector<uint8_t> frame(size_t len, uint8_t seed = 1) {
    std::vector<uint8_t> f(len);
    for (size_t i = 0; i < len; i++) {
        f[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
    }
    return f;
}

// One started, enabled queue on a ring built by the driver in a memfd guest
// (16 MiB at gpa 0, then 1 MiB adjacent at gpa 16 MiB), with a call eventfd.
class Net {
public:
    explicit Net(uint16_t num, uint64_t features, uint32_t buffer_size = 16384) {
        mem.add_region(0, 16 * kMiB);
        mem.add_region(16 * kMiB, kMiB, 0x500000000);
        drv.emplace(mem, num, buffer_size);
        auto g = mem.create_memory();
        if (!g.ok()) {
            std::abort();
        }
        memory = std::move(g.value());
        if (!drv->configure(vq)) {
            std::abort();
        }
        call = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        vq.set_call_fd(UniqueFd(::dup(call)));
        if (!vq.start(memory, features).ok()) {
            std::abort();
        }
        vq.set_enabled(true);
    }
    ~Net() { ::close(call); }

    // Interrupts signalled since the last call.
    uint64_t interrupts() {
        uint64_t v = 0;
        return ::read(call, &v, sizeof v) == sizeof v ? v : 0;
    }
    const VringCounters& c() const { return vq.counters(); }

    GuestMemoryFixture mem;
    std::optional<SplitRingDriver> drv;
    GuestMemory memory;
    Virtqueue vq;
    int call = -1;
};

// Caller-owned packet buffers for dequeue.
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

nvh_packet rx_packet(std::vector<uint8_t>& f) {
    nvh_packet p{};
    p.data = f.data();
    p.len = static_cast<uint32_t>(f.size());
    return p;
}

uint16_t num_buffers(const std::vector<uint8_t>& bytes) {
    return static_cast<uint16_t>(bytes[10] | (bytes[11] << 8));
}

// ---- Transmit -----------------------------------------------------------

TEST(VirtioNetTx, SmallAndFullSizeFrames) {
    Net net(64, kV1);
    auto f64 = frame(64, 3), f1518 = frame(1518, 5);
    int h0 = net.drv->add_tx(SplitRingDriver::net_header(12), f64);
    int h1 = net.drv->add_tx(SplitRingDriver::net_header(12), f1518);
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 2u);
    EXPECT_EQ(b.got(0), f64);
    EXPECT_EQ(b.got(1), f1518);
    EXPECT_EQ(net.c().packets.load(), 2u);
    EXPECT_EQ(net.c().bytes.load(), 64u + 1518u);   // without headers
    auto u0 = net.drv->pop_used(), u1 = net.drv->pop_used();
    ASSERT_TRUE(u0 && u1);
    EXPECT_EQ(u0->id, uint32_t(h0));
    EXPECT_EQ(u1->id, uint32_t(h1));
    EXPECT_EQ(u0->len, 0u);   // the device wrote nothing
    EXPECT_EQ(u1->len, 0u);
    EXPECT_FALSE(net.drv->pop_used());
    // Nothing more to take.
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
}

TEST(VirtioNetTx, ANewBackendResumesWhereTheUsedIndexStands) {
    // A frontend that outlived its backend (DPDK's virtio_user) sends
    // SET_VRING_BASE 0 to the new one: the used index says 5 chains were
    // returned, so only the chain made available after them is new.
    Net net(64, kV1);
    for (int i = 0; i < 5; i++) {
        net.drv->add_tx(SplitRingDriver::net_header(12), frame(60, uint8_t(i)));
    }
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 5u);
    net.vq.stop();
    net.vq.set_base(0);
    ASSERT_TRUE(net.vq.start(net.memory, kV1).ok());
    EXPECT_EQ(net.vq.base(), 5u);
    net.drv->add_tx(SplitRingDriver::net_header(12), frame(60, 9));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.got(0), frame(60, 9));
    EXPECT_EQ(net.drv->used_idx(), 6);
}

TEST(VirtioNetTx, BurstTakesAtMostNChains) {
    Net net(64, kV1);
    for (int i = 0; i < 5; i++) {
        net.drv->add_tx(SplitRingDriver::net_header(12), frame(60, uint8_t(i)));
    }
    TxBuffers b;
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 3), 3u);
    EXPECT_EQ(net.drv->used_idx(), 3);
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 3), 2u);
    EXPECT_EQ(b.got(1), frame(60, 4));
}

TEST(VirtioNetTx, HeaderSplitAcrossDescriptorsAndOffloadFields) {
    // The offload fields are accepted only with CSUM and HOST_TSO4.
    Net net(64, kV1 | virtio::bit(virtio::kNetFCsum) |
                    virtio::bit(virtio::kNetFHostTso4));
    std::vector<uint8_t> hdr(12, 0);
    hdr[0] = virtio::kNetHdrFNeedsCsum;
    hdr[1] = virtio::kNetHdrGsoTcpv4;
    hdr[2] = 54;            // hdr_len
    hdr[4] = 0xa8;          // gso_size 1448
    hdr[5] = 0x05;
    hdr[6] = 34;            // csum_start
    hdr[8] = 16;            // csum_offset
    auto f = frame(1000, 9);
    const uint32_t split[] = {4, 5, 3, 100};   // header over 3 descriptors
    net.drv->add_tx(hdr, f, split);
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 1), 1u);
    EXPECT_EQ(b.got(0), f);
    EXPECT_EQ(b.pkts[0].offload.flags, virtio::kNetHdrFNeedsCsum);
    EXPECT_EQ(b.pkts[0].offload.gso_type, virtio::kNetHdrGsoTcpv4);
    EXPECT_EQ(b.pkts[0].offload.hdr_len, 54);
    EXPECT_EQ(b.pkts[0].offload.gso_size, 1448);
    EXPECT_EQ(b.pkts[0].offload.csum_start, 34);
    EXPECT_EQ(b.pkts[0].offload.csum_offset, 16);
}

TEST(VirtioNetTx, HeaderAndFrameSharingADescriptor) {
    Net net(64, kV1);
    auto f = frame(300, 2);
    const uint32_t split[] = {20};   // 12 header + 8 frame bytes, then 292
    net.drv->add_tx(SplitRingDriver::net_header(12), f, split);
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 1), 1u);
    EXPECT_EQ(b.got(0), f);
}

TEST(VirtioNetTx, LegacyTenByteHeader) {
    Net net(64, 0);   // neither VERSION_1 nor MRG_RXBUF
    EXPECT_EQ(net.vq.header_len(), 10u);
    auto f = frame(64);
    net.drv->add_tx(SplitRingDriver::net_header(10), f);
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 1), 1u);
    EXPECT_EQ(b.got(0), f);
}

TEST(VirtioNetTx, FrameOverCapacityDroppedAndReturned) {
    Net net(64, kV1);
    int big = net.drv->add_tx(SplitRingDriver::net_header(12), frame(1519));
    auto ok = frame(1518, 4);
    net.drv->add_tx(SplitRingDriver::net_header(12), ok);
    TxBuffers b(1518);
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.got(0), ok);   // the next frame took pkts[0]
    EXPECT_EQ(net.c().oversized_frames.load(), 1u);
    EXPECT_EQ(net.c().packets.load(), 1u);
    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(big));   // dropped chain given back
    EXPECT_EQ(u->len, 0u);
    EXPECT_TRUE(net.drv->pop_used());
}

TEST(VirtioNetTx, ChainNotLongerThanTheHeaderIsUndersized) {
    Net net(64, kV1);
    std::vector<uint8_t> short_hdr(8, 0);
    net.drv->add_tx(short_hdr, {});
    net.drv->add_tx(SplitRingDriver::net_header(12), {});   // header only
    TxBuffers b;
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
    EXPECT_EQ(net.c().undersized_frames.load(), 2u);
    EXPECT_EQ(net.drv->used_idx(), 2);
}

TEST(VirtioNetTx, InvalidChainsAreDroppedCountedAndReturned) {
    Net net(64, kV1);
    SplitRingDriver& d = *net.drv;
    // Loop: a -> b -> a.
    int a = d.alloc_desc(), c = d.alloc_desc();
    d.write_desc(a, {d.pool_buffer(a), 40, virtio::kDescFNext, uint16_t(c)});
    d.write_desc(c, {d.pool_buffer(c), 40, virtio::kDescFNext, uint16_t(a)});
    d.make_available(a);
    // next out of range.
    int e = d.alloc_desc();
    d.write_desc(e, {d.pool_buffer(e), 40, virtio::kDescFNext, 64});
    d.make_available(e);
    // Device-writable buffer in a transmit chain.
    const Segment wrong[] = {{d.pool_buffer(10), 12, false}, {d.pool_buffer(11), 60, true}};
    d.add_chain(wrong);
    // Buffer outside guest memory.
    const Segment unmapped[] = {{64 * kMiB, 80, false}};
    d.add_chain(unmapped);
    auto good = frame(64);
    d.add_tx(SplitRingDriver::net_header(12), good);
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.got(0), good);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 4u);
    EXPECT_EQ(d.used_idx(), 5);   // all chains returned
    auto u = d.pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(a));
    EXPECT_EQ(u->len, 0u);
    EXPECT_FALSE(net.vq.broken());
}

TEST(VirtioNetTx, IndirectTable) {
    Net net(64, kV1 | virtio::bit(virtio::kFIndirectDesc));
    SplitRingDriver& d = *net.drv;
    auto f = frame(700, 6);
    uint64_t buf = net.mem.alloc(1024);
    std::vector<uint8_t> bytes = SplitRingDriver::net_header(12);
    bytes.insert(bytes.end(), f.begin(), f.end());
    net.mem.write(buf, bytes);
    const Segment segs[] = {{buf, 6, false}, {buf + 6, 300, false}, {buf + 306, 406, false}};
    d.add_indirect(segs);
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.got(0), f);
}

TEST(VirtioNetTx, FrameSpanningTwoAdjacentRegions) {
    Net net(64, kV1);
    auto f = frame(1500, 8);
    std::vector<uint8_t> bytes = SplitRingDriver::net_header(12);
    bytes.insert(bytes.end(), f.begin(), f.end());
    uint64_t gpa = 16 * kMiB - 700;   // 700 bytes in region 0, rest in 1
    net.mem.write(gpa, bytes);
    const Segment seg[] = {{gpa, uint32_t(bytes.size()), false}};
    net.drv->add_chain(seg);
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(b.got(0), f);
}

TEST(VirtioNetTx, AvailIndexJumpBreaksTheQueue) {
    Net net(16, kV1);
    net.drv->add_tx(SplitRingDriver::net_header(12), frame(64));
    net.drv->set_avail_idx(17);   // 17 chains "available" in a ring of 16
    TxBuffers b;
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
    EXPECT_TRUE(net.vq.broken());
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    net.drv->set_avail_idx(1);    // even once "repaired", not served
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(net.drv->used_idx(), 0);
    // A restart (new SET_VRING_BASE / start) serves it again.
    net.vq.stop();
    ASSERT_TRUE(net.vq.start(net.memory, kV1).ok());
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
}

TEST(VirtioNetTx, StoppedOrDisabledQueueMovesNothing) {
    Net net(16, kV1);
    net.drv->add_tx(SplitRingDriver::net_header(12), frame(64));
    TxBuffers b;
    net.vq.set_enabled(false);
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
    net.vq.set_enabled(true);
    net.vq.stop();
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 0u);
    EXPECT_EQ(net.vq.base(), 0u);
    ASSERT_TRUE(net.vq.start(net.memory, kV1).ok());
    EXPECT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(net.vq.base(), 1u);
}

// ---- Receive ------------------------------------------------------------

TEST(VirtioNetRx, FullSizeFrameWithoutMrgRxbuf) {
    Net net(64, kV1);
    int h = net.drv->add_rx({2048});
    auto f = frame(1518, 3);
    nvh_packet p = rx_packet(f);
    ASSERT_EQ(net_enqueue_burst(net.vq, &p, 1), 1u);
    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(h));
    EXPECT_EQ(u->len, 12u + 1518u);
    auto bytes = net.drv->read_used(*u);
    EXPECT_EQ(num_buffers(bytes), 1);   // virtio 1.2, 5.1.6.4.1
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 10),
              std::vector<uint8_t>(10, 0));
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 12, bytes.end()), f);
    EXPECT_EQ(net.c().packets.load(), 1u);
    EXPECT_EQ(net.c().bytes.load(), 1518u);
}

TEST(VirtioNetRx, LegacyHeaderHasNoNumBuffers) {
    Net net(64, 0);
    net.drv->add_rx({2048});
    auto f = frame(100, 3);
    nvh_packet p = rx_packet(f);
    ASSERT_EQ(net_enqueue_burst(net.vq, &p, 1), 1u);
    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->len, 110u);
    auto bytes = net.drv->read_used(*u);
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 10, bytes.end()), f);
}

TEST(VirtioNetRx, ChainOfSeveralBuffersWithoutMrgRxbuf) {
    Net net(64, kV1);
    net.drv->add_rx({8, 100, 2000});   // header split over two buffers
    auto f = frame(1518, 1);
    nvh_packet p = rx_packet(f);
    ASSERT_EQ(net_enqueue_burst(net.vq, &p, 1), 1u);
    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    auto bytes = net.drv->read_used(*u);
    EXPECT_EQ(num_buffers(bytes), 1);
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 12, bytes.end()), f);
}

TEST(VirtioNetRx, JumboFrameTooLargeWithoutMrgRxbufKeepsTheBuffer) {
    Net net(64, kV1);
    int h = net.drv->add_rx({2048});
    auto jumbo = frame(9000), small = frame(64, 7);
    nvh_packet p[2] = {rx_packet(jumbo), rx_packet(small)};
    // The jumbo frame is dropped (counted as handled); the small one takes
    // the buffer the jumbo frame could not use.
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 2), 2u);
    EXPECT_EQ(net.c().rx_buffer_too_small.load(), 1u);
    EXPECT_EQ(net.c().packets.load(), 1u);
    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(h));
    EXPECT_EQ(u->len, 12u + 64u);
    EXPECT_FALSE(net.drv->pop_used());
}

TEST(VirtioNetRx, MergeableBuffersFor1518And9000) {
    Net net(64, kMrg);
    for (int i = 0; i < 8; i++) {
        net.drv->add_rx({2048});
    }
    auto f1 = frame(1518, 1), f2 = frame(9000, 2);
    nvh_packet p[2] = {rx_packet(f1), rx_packet(f2)};
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 2), 2u);

    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    auto bytes = net.drv->read_used(*u);
    EXPECT_EQ(num_buffers(bytes), 1);
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 12, bytes.end()), f1);

    // 12 + 9000 = 9012 bytes: 4 full buffers and 820 bytes in a fifth.
    std::vector<uint8_t> all;
    for (int i = 0; i < 5; i++) {
        auto ui = net.drv->pop_used();
        ASSERT_TRUE(ui);
        EXPECT_EQ(ui->len, i < 4 ? 2048u : 820u);
        auto b = net.drv->read_used(*ui);
        all.insert(all.end(), b.begin(), b.end());
    }
    EXPECT_EQ(num_buffers(all), 5);
    EXPECT_EQ(std::vector<uint8_t>(all.begin() + 12, all.end()), f2);
    EXPECT_FALSE(net.drv->pop_used());
    EXPECT_EQ(net.c().bytes.load(), 1518u + 9000u);
}

TEST(VirtioNetRx, FullRingReturnsPartialCount) {
    Net net(64, kV1);
    for (int i = 0; i < 4; i++) {
        net.drv->add_rx({2048});
    }
    std::vector<std::vector<uint8_t>> frames;
    std::vector<nvh_packet> p;
    for (int i = 0; i < 8; i++) {
        frames.push_back(frame(1518, uint8_t(i)));
    }
    for (auto& f : frames) {
        p.push_back(rx_packet(f));
    }
    EXPECT_EQ(net_enqueue_burst(net.vq, p.data(), 8), 4u);
    EXPECT_EQ(net.c().ring_full.load(), 1u);
    EXPECT_EQ(net.drv->used_idx(), 4);
    EXPECT_EQ(net_enqueue_burst(net.vq, p.data() + 4, 4), 0u);
    EXPECT_EQ(net.c().ring_full.load(), 2u);
    EXPECT_EQ(net.c().packets.load(), 4u);
}

TEST(VirtioNetRx, IncompleteMergeablePacketIsRolledBack) {
    Net net(64, kMrg);
    net.drv->add_rx({2048});
    net.drv->add_rx({2048});
    auto f = frame(9000, 4);
    nvh_packet p = rx_packet(f);
    EXPECT_EQ(net_enqueue_burst(net.vq, &p, 1), 0u);   // needs 5 buffers
    EXPECT_EQ(net.drv->used_idx(), 0);                  // nothing visible
    EXPECT_EQ(net.vq.base(), 0u);                       // chains given back
    EXPECT_EQ(net.c().ring_full.load(), 1u);
    for (int i = 0; i < 3; i++) {
        net.drv->add_rx({2048});
    }
    ASSERT_EQ(net_enqueue_burst(net.vq, &p, 1), 1u);
    EXPECT_EQ(net.drv->used_idx(), 5);
    auto u = net.drv->pop_used();
    ASSERT_TRUE(u);
    EXPECT_EQ(num_buffers(net.drv->read_used(*u)), 5);
}

TEST(VirtioNetRx, MergeablePacketLargerThanTheWholeRingIsDropped) {
    Net net(4, kMrg);
    for (int i = 0; i < 4; i++) {
        net.drv->add_rx({2048});   // 8192 bytes in all
    }
    auto big = frame(9000), small = frame(64);
    nvh_packet p[2] = {rx_packet(big), rx_packet(small)};
    EXPECT_EQ(net_enqueue_burst(net.vq, p, 2), 2u);
    EXPECT_EQ(net.c().rx_buffer_too_small.load(), 1u);
    EXPECT_EQ(net.c().ring_full.load(), 0u);
    EXPECT_EQ(net.drv->used_idx(), 1);
}

TEST(VirtioNetRx, BufferSpanningTwoAdjacentRegions) {
    Net net(64, kV1);
    uint64_t gpa = 16 * kMiB - 1000;
    const Segment seg[] = {{gpa, 2048, true}};
    net.drv->add_chain(seg);
    auto f = frame(1518, 6);
    nvh_packet p = rx_packet(f);
    ASSERT_EQ(net_enqueue_burst(net.vq, &p, 1), 1u);
    auto bytes = net.mem.read(gpa, 12 + 1518);
    EXPECT_EQ(num_buffers(bytes), 1);
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 12, bytes.end()), f);
}

TEST(VirtioNetRx, InvalidChainReturnedEmptyAndNextOneUsed) {
    Net net(64, kMrg);
    SplitRingDriver& d = *net.drv;
    const Segment readable[] = {{d.pool_buffer(40), 2048, false}};
    int bad = d.add_chain(readable);   // device-readable in a receiveq
    int good = d.add_rx({2048});
    auto f = frame(100);
    nvh_packet p = rx_packet(f);
    ASSERT_EQ(net_enqueue_burst(net.vq, &p, 1), 1u);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    auto u0 = d.pop_used(), u1 = d.pop_used();
    ASSERT_TRUE(u0 && u1);
    EXPECT_EQ(u0->id, uint32_t(bad));
    EXPECT_EQ(u0->len, 0u);
    EXPECT_EQ(u1->id, uint32_t(good));
    EXPECT_EQ(u1->len, 112u);
}

TEST(VirtioNetRx, ChainsOfADroppedPacketReturnInTheOrderTheyCame) {
    // virtio 1.2, 2.7.9 (VIRTIO_F_IN_ORDER is offered): a frame spread over
    // two mergeable chains, the second of them invalid: both go back empty,
    // first the one made available first.
    Net net(64, kMrg | virtio::bit(virtio::kFInOrder));
    SplitRingDriver& d = *net.drv;
    int first = d.add_rx({100});
    const Segment readable[] = {{d.pool_buffer(40), 2048, false}};
    int bad = d.add_chain(readable);
    auto f = frame(1000);
    nvh_packet p = rx_packet(f);
    net_enqueue_burst(net.vq, &p, 1);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    auto u0 = d.pop_used(), u1 = d.pop_used();
    ASSERT_TRUE(u0 && u1);
    EXPECT_EQ(u0->id, uint32_t(first));
    EXPECT_EQ(u1->id, uint32_t(bad));
    EXPECT_EQ(u0->len, 0u);
    EXPECT_EQ(u1->len, 0u);
}

TEST(VirtioNetRx, WrapAroundOf16BitIndexes) {
    // 70000 packets through an 8-entry ring: avail and used idx wrap.
    Net net(8, kMrg, 2048);
    uint64_t sent = 0;
    auto f = frame(200);
    for (int round = 0; round < 70000 / 4; round++) {
        for (int i = 0; i < 4; i++) {
            ASSERT_GE(net.drv->add_rx({2048}), 0);
        }
        f[0] = static_cast<uint8_t>(round);
        nvh_packet p[4] = {rx_packet(f), rx_packet(f), rx_packet(f), rx_packet(f)};
        ASSERT_EQ(net_enqueue_burst(net.vq, p, 4), 4u) << "round " << round;
        for (int i = 0; i < 4; i++) {
            auto u = net.drv->pop_used();
            ASSERT_TRUE(u);
            ASSERT_EQ(u->len, 212u);
            if (i == 3) {
                ASSERT_EQ(net.drv->read_used(*u)[12], f[0]);
            }
        }
        sent += 4;
    }
    EXPECT_EQ(sent, 70000u);
    EXPECT_EQ(net.c().packets.load(), 70000u);
    EXPECT_EQ(net.drv->used_idx(), uint16_t(70000));
    EXPECT_EQ(net.vq.base(), uint32_t(uint16_t(70000)));
}

TEST(VirtioNetTx, WrapAroundOf16BitIndexes) {
    Net net(8, kV1, 2048);
    TxBuffers b;
    for (uint32_t i = 0; i < 70000; i++) {
        auto f = frame(64, uint8_t(i));
        ASSERT_GE(net.drv->add_tx(SplitRingDriver::net_header(12), f), 0);
        ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
        ASSERT_EQ(b.got(0), f);
        ASSERT_TRUE(net.drv->pop_used());
    }
    EXPECT_EQ(net.drv->used_idx(), uint16_t(70000));
}

// ---- Notifications --------------------------------------------------------

TEST(VirtioNetNotify, InterruptUnlessNoInterrupt) {
    Net net(64, kV1);
    net.drv->add_tx(SplitRingDriver::net_header(12), frame(64));
    TxBuffers b;
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);
    EXPECT_EQ(net.interrupts(), 1u);
    EXPECT_EQ(net.c().guest_notifications.load(), 1u);

    net.drv->set_avail_flags(virtio::kAvailFNoInterrupt);
    net.drv->add_tx(SplitRingDriver::net_header(12), frame(64));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 1), 1u);
    EXPECT_EQ(net.interrupts(), 0u);
    EXPECT_EQ(net.c().guest_notifications.load(), 1u);

    // No used element, no interrupt, even with interrupts wanted.
    net.drv->set_avail_flags(0);
    Net idle(64, kV1);
    EXPECT_EQ(net_dequeue_burst(idle.vq, b.pkts.data(), 32), 0u);
    EXPECT_EQ(idle.interrupts(), 0u);
}

TEST(VirtioNetNotify, ReceiveInterruptsOncePerBurst) {
    Net net(64, kV1);
    for (int i = 0; i < 3; i++) {
        net.drv->add_rx({2048});
    }
    auto f = frame(64);
    nvh_packet p[3] = {rx_packet(f), rx_packet(f), rx_packet(f)};
    ASSERT_EQ(net_enqueue_burst(net.vq, p, 3), 3u);
    EXPECT_EQ(net.interrupts(), 1u);
    EXPECT_EQ(net.c().guest_notifications.load(), 1u);
}

TEST(VirtioNetNotify, EventIdxInterruptsWhenUsedEventIsPassed) {
    Net net(64, kV1 | virtio::bit(virtio::kFEventIdx));
    TxBuffers b;
    net.drv->set_used_event(1);   // interrupt once used idx passes 1
    net.drv->add_tx(SplitRingDriver::net_header(12), frame(64));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);   // 0 -> 1
    EXPECT_EQ(net.interrupts(), 0u);
    net.drv->add_tx(SplitRingDriver::net_header(12), frame(64));
    ASSERT_EQ(net_dequeue_burst(net.vq, b.pkts.data(), 32), 1u);   // 1 -> 2
    EXPECT_EQ(net.interrupts(), 1u);
}

}  // namespace
}  // namespace nvh
