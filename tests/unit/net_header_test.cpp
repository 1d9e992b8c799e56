// SPDX-License-Identifier: Apache-2.0
// The virtio-net header's offload fields: parsing, the transmit rules
// (virtio 1.2, 5.1.6.2.1 / 5.1.6.2.2), the receive header (5.1.6.4.1), and
// the same through driver-built split and packed rings.
#include "net/net_header.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

using virtio::bit;

constexpr uint64_t kCsum = bit(virtio::kNetFCsum);
constexpr uint64_t kTso4 = bit(virtio::kNetFHostTso4);
constexpr uint64_t kTso6 = bit(virtio::kNetFHostTso6);
constexpr uint64_t kGuestCsum = bit(virtio::kNetFGuestCsum);
constexpr uint64_t kGuestTso4 = bit(virtio::kNetFGuestTso4);
constexpr uint64_t kGuestTso6 = bit(virtio::kNetFGuestTso6);
constexpr uint8_t kNeedsCsum = virtio::kNetHdrFNeedsCsum;
constexpr uint8_t kDataValid = virtio::kNetHdrFDataValid;

nvh_offload csum(uint16_t start, uint16_t offset) {
    nvh_offload o{};
    o.flags = kNeedsCsum;
    o.csum_start = start;
    o.csum_offset = offset;
    return o;
}

nvh_offload tso(uint8_t type, uint16_t mss) {
    nvh_offload o = csum(34, 16);
    o.gso_type = type;
    o.gso_size = mss;
    o.hdr_len = 66;
    return o;
}

// ---- Parsing ----------------------------------------------------------

TEST(NetHeaderParse, LittleEndianFields) {
    const uint8_t hdr[12] = {1, 4, 0x34, 0x12, 0x78, 0x56, 0x22, 0x00, 0x10, 0x00, 9, 9};
    nvh_offload o = parse_net_header(hdr);
    EXPECT_EQ(o.flags, 1);
    EXPECT_EQ(o.gso_type, 4);
    EXPECT_EQ(o.hdr_len, 0x1234);
    EXPECT_EQ(o.gso_size, 0x5678);
    EXPECT_EQ(o.csum_start, 0x22);
    EXPECT_EQ(o.csum_offset, 0x10);
}

// ---- Transmit rules ----------------------------------------------------

TEST(NetHeaderTx, ZeroHeaderAlwaysAccepted) {
    nvh_offload o{};
    EXPECT_TRUE(accept_tx_header(kV1, 60, &o));
    EXPECT_TRUE(accept_tx_header(kV1 | kCsum | kTso4 | kTso6, 60, &o));
}

TEST(NetHeaderTx, NeedsCsumOnlyWithCsum) {
    nvh_offload o = csum(34, 16);
    EXPECT_FALSE(accept_tx_header(kV1, 100, &o));
    o = csum(34, 16);
    EXPECT_TRUE(accept_tx_header(kV1 | kCsum, 100, &o));
    EXPECT_EQ(o.flags, kNeedsCsum);
    EXPECT_EQ(o.csum_start, 34);
    EXPECT_EQ(o.csum_offset, 16);
}

TEST(NetHeaderTx, ChecksumFieldInsideFrame) {
    nvh_offload o = csum(34, 16);
    EXPECT_TRUE(accept_tx_header(kV1 | kCsum, 52, &o));   // 34 + 16 + 2
    o = csum(34, 16);
    EXPECT_FALSE(accept_tx_header(kV1 | kCsum, 51, &o));
    o = csum(0xffff, 0xffff);   // No 16-bit wrap-around.
    EXPECT_FALSE(accept_tx_header(kV1 | kCsum, 60, &o));
}

TEST(NetHeaderTx, DataValidAndRscInfoRefused) {
    nvh_offload o{};
    o.flags = kDataValid;
    EXPECT_FALSE(accept_tx_header(kV1 | kCsum, 60, &o));
    o.flags = 4;   // VIRTIO_NET_HDR_F_RSC_INFO
    EXPECT_FALSE(accept_tx_header(kV1 | kCsum, 60, &o));
}

TEST(NetHeaderTx, UnknownFlagBitsIgnored) {
    nvh_offload o{};
    o.flags = 0x80;
    EXPECT_TRUE(accept_tx_header(kV1, 60, &o));
    EXPECT_EQ(o.flags, 0);
}

TEST(NetHeaderTx, ChecksumFieldsZeroedWithoutNeedsCsum) {
    nvh_offload o{};
    o.csum_start = 5000;
    o.csum_offset = 7;
    EXPECT_TRUE(accept_tx_header(kV1 | kCsum, 60, &o));
    EXPECT_EQ(o.csum_start, 0);
    EXPECT_EQ(o.csum_offset, 0);
}

TEST(NetHeaderTx, GsoTypeNeedsItsFeature) {
    nvh_offload o = tso(virtio::kNetHdrGsoTcpv4, 1448);
    EXPECT_FALSE(accept_tx_header(kV1 | kCsum, 9000, &o));
    o = tso(virtio::kNetHdrGsoTcpv4, 1448);
    EXPECT_FALSE(accept_tx_header(kV1 | kCsum | kTso6, 9000, &o));
    o = tso(virtio::kNetHdrGsoTcpv4, 1448);
    EXPECT_TRUE(accept_tx_header(kV1 | kCsum | kTso4, 9000, &o));
    EXPECT_EQ(o.gso_type, virtio::kNetHdrGsoTcpv4);
    EXPECT_EQ(o.gso_size, 1448);
    EXPECT_EQ(o.hdr_len, 66);

    o = tso(virtio::kNetHdrGsoTcpv6, 1428);
    EXPECT_FALSE(accept_tx_header(kV1 | kCsum | kTso4, 9000, &o));
    o = tso(virtio::kNetHdrGsoTcpv6, 1428);
    EXPECT_TRUE(accept_tx_header(kV1 | kCsum | kTso6, 9000, &o));
}

TEST(NetHeaderTx, UdpUnknownAndEcnGsoRefused) {
    const uint64_t all = kV1 | kCsum | kTso4 | kTso6;
    nvh_offload o = tso(virtio::kNetHdrGsoUdp, 1000);   // HOST_UFO not offered
    EXPECT_FALSE(accept_tx_header(all, 9000, &o));
    o = tso(2, 1000);   // No such GSO type.
    EXPECT_FALSE(accept_tx_header(all, 9000, &o));
    o = tso(virtio::kNetHdrGsoTcpv4 | virtio::kNetHdrGsoEcn, 1000);
    EXPECT_FALSE(accept_tx_header(all, 9000, &o));
    o = tso(virtio::kNetHdrGsoTcpv4 | virtio::kNetHdrGsoEcn, 1000);
    EXPECT_TRUE(accept_tx_header(all | bit(virtio::kNetFHostEcn), 9000, &o));
}

TEST(NetHeaderTx, GsoNeedsCsumFlagAndSize) {
    const uint64_t f = kV1 | kCsum | kTso4;
    nvh_offload o = tso(virtio::kNetHdrGsoTcpv4, 0);
    EXPECT_FALSE(accept_tx_header(f, 9000, &o));
    o = tso(virtio::kNetHdrGsoTcpv4, 1448);
    o.flags = 0;
    EXPECT_FALSE(accept_tx_header(f, 9000, &o));
}

TEST(NetHeaderTx, GsoFieldsZeroedWithoutGso) {
    nvh_offload o = csum(34, 16);
    o.gso_size = 1448;
    o.hdr_len = 66;
    EXPECT_TRUE(accept_tx_header(kV1 | kCsum, 100, &o));
    EXPECT_EQ(o.gso_size, 0);
    EXPECT_EQ(o.hdr_len, 0);
}

TEST(NetHeaderTx, SegmentationFeaturesWithoutCsumCannotBeUsed) {
    // Offered without userspace TSO, as dpdkvhostuserclient does, but a
    // segmented frame needs NEEDS_CSUM, which needs CSUM (virtio 1.2,
    // 5.1.6.2.1): such frames are dropped.
    const uint64_t f = kV1 | kTso4 | kTso6 | bit(virtio::kNetFHostEcn) |
                       bit(virtio::kNetFHostUfo);
    for (uint8_t type : {virtio::kNetHdrGsoTcpv4, virtio::kNetHdrGsoTcpv6,
                         virtio::kNetHdrGsoUdp,
                         uint8_t(virtio::kNetHdrGsoTcpv4 | virtio::kNetHdrGsoEcn)}) {
        nvh_offload o = tso(type, 1448);
        EXPECT_FALSE(accept_tx_header(f, 9000, &o)) << int(type);
    }
    // The ECN bit alone qualifies nothing: the frame goes as it is.
    nvh_offload o{};
    o.gso_type = virtio::kNetHdrGsoEcn;
    ASSERT_TRUE(accept_tx_header(f, 100, &o));
    EXPECT_EQ(o.gso_type, virtio::kNetHdrGsoNone);
}

// ---- Receive header --------------------------------------------------

std::array<uint8_t, 10> build(uint64_t features, const nvh_offload& o) {
    std::array<uint8_t, 10> h;
    h.fill(0xaa);
    build_rx_header(features, o, h.data());
    return h;
}

TEST(NetHeaderRx, NothingWithoutGuestCsum) {
    auto h = build(kV1 | kGuestTso4, tso(virtio::kNetHdrGsoTcpv4, 1448));
    EXPECT_EQ(h, (std::array<uint8_t, 10>{}));
    nvh_offload dv{};
    dv.flags = kDataValid;
    EXPECT_EQ(build(kV1, dv), (std::array<uint8_t, 10>{}));
}

TEST(NetHeaderRx, PartialChecksum) {
    auto h = build(kV1 | kGuestCsum, csum(0x122, 16));
    EXPECT_EQ(h, (std::array<uint8_t, 10>{kNeedsCsum, 0, 0, 0, 0, 0, 0x22, 0x01, 16, 0}));
}

TEST(NetHeaderRx, DataValid) {
    nvh_offload o{};
    o.flags = kDataValid;
    o.csum_start = 34;   // Not written without NEEDS_CSUM.
    auto h = build(kV1 | kGuestCsum, o);
    EXPECT_EQ(h, (std::array<uint8_t, 10>{kDataValid}));
}

TEST(NetHeaderRx, TsoOnlyWithItsFeatureAndPartialChecksum) {
    const uint64_t c = kV1 | kGuestCsum;
    auto h = build(c, tso(virtio::kNetHdrGsoTcpv4, 1448));
    EXPECT_EQ(h[1], virtio::kNetHdrGsoNone);
    EXPECT_EQ(h[4] | (h[5] << 8), 0);
    h = build(c | kGuestTso6, tso(virtio::kNetHdrGsoTcpv4, 1448));
    EXPECT_EQ(h[1], virtio::kNetHdrGsoNone);

    h = build(c | kGuestTso4, tso(virtio::kNetHdrGsoTcpv4, 1448));
    EXPECT_EQ(h, (std::array<uint8_t, 10>{kNeedsCsum, virtio::kNetHdrGsoTcpv4, 66, 0,
                                          0xa8, 0x05, 34, 0, 16, 0}));
    h = build(c | kGuestTso6, tso(virtio::kNetHdrGsoTcpv6, 1428));
    EXPECT_EQ(h[1], virtio::kNetHdrGsoTcpv6);

    nvh_offload no_csum = tso(virtio::kNetHdrGsoTcpv4, 1448);
    no_csum.flags = 0;
    h = build(c | kGuestTso4, no_csum);
    EXPECT_EQ(h, (std::array<uint8_t, 10>{}));
    h = build(c | kGuestTso4, tso(virtio::kNetHdrGsoTcpv4, 0));
    EXPECT_EQ(h[1], virtio::kNetHdrGsoNone);
}

TEST(NetHeaderRx, NoEcnOrUdp) {
    const uint64_t f = kV1 | kGuestCsum | kGuestTso4 | kGuestTso6 |
                       bit(virtio::kNetFGuestEcn) | bit(virtio::kNetFGuestUfo);
    auto h = build(f, tso(virtio::kNetHdrGsoTcpv4 | virtio::kNetHdrGsoEcn, 1448));
    EXPECT_EQ(h[1], virtio::kNetHdrGsoNone);
    h = build(f, tso(virtio::kNetHdrGsoUdp, 1448));
    EXPECT_EQ(h[1], virtio::kNetHdrGsoNone);
}

// ---- Through split and packed rings ------------------------------------

template <typename R>
class NetHeaderRing : public RingTest<R> {};
TYPED_TEST_SUITE(NetHeaderRing, RingTypes, RingTypeNames);

std::vector<uint8_t> header(uint8_t flags, uint8_t gso_type, uint16_t gso_size,
                            uint16_t csum_start, uint16_t csum_offset) {
    std::vector<uint8_t> h(12, 0);
    h[0] = flags;
    h[1] = gso_type;
    h[4] = static_cast<uint8_t>(gso_size);
    h[5] = static_cast<uint8_t>(gso_size >> 8);
    h[6] = static_cast<uint8_t>(csum_start);
    h[7] = static_cast<uint8_t>(csum_start >> 8);
    h[8] = static_cast<uint8_t>(csum_offset);
    h[9] = static_cast<uint8_t>(csum_offset >> 8);
    return h;
}

TYPED_TEST(NetHeaderRing, TransmitChecksumAndTsoDeliveredOrDropped) {
    RingQueue<TypeParam> ring(64, kV1 | kCsum | kTso4);
    std::vector<uint8_t> f(4000, 0x5a);
    ring.drv->add_tx(header(kNeedsCsum, virtio::kNetHdrGsoTcpv4, 1448, 34, 16), f);
    ring.drv->add_tx(header(kNeedsCsum, virtio::kNetHdrGsoTcpv6, 1448, 54, 16), f);
    ring.drv->add_tx(header(kNeedsCsum, 0, 0, 3990, 16), f);   // Past the end.
    ring.drv->add_tx(header(kNeedsCsum, 0, 0, 34, 6), f);
    TxBuffers b(9000);
    ASSERT_EQ(net_dequeue_burst(ring.vq, b.pkts.data(), NVH_MAX_BURST), 2u);
    EXPECT_EQ(b.pkts[0].len, 4000u);
    EXPECT_EQ(b.pkts[0].offload.flags, kNeedsCsum);
    EXPECT_EQ(b.pkts[0].offload.gso_type, virtio::kNetHdrGsoTcpv4);
    EXPECT_EQ(b.pkts[0].offload.gso_size, 1448);
    EXPECT_EQ(b.pkts[0].offload.csum_start, 34);
    EXPECT_EQ(b.pkts[1].offload.gso_type, virtio::kNetHdrGsoNone);
    EXPECT_EQ(b.pkts[1].offload.csum_offset, 6);
    EXPECT_EQ(ring.vq.counters().invalid_descriptors.load(), 2u);
    // Every chain, dropped or not, went back to the driver.
    EXPECT_EQ(ring.pop_all().size(), 4u);
}

TYPED_TEST(NetHeaderRing, TransmitOffloadRefusedWhenNotNegotiated) {
    // HOST_TSO4 without CSUM (a driver that breaks virtio 1.2, 5.1.3.1):
    // headers are read, and NEEDS_CSUM without CSUM is refused.
    RingQueue<TypeParam> ring(64, kV1 | kTso4);
    std::vector<uint8_t> f(100, 0x11);
    ring.drv->add_tx(header(kNeedsCsum, 0, 0, 34, 16), f);
    ring.drv->add_tx(header(0, 0, 0, 0, 0), f);
    TxBuffers b(9000);
    ASSERT_EQ(net_dequeue_burst(ring.vq, b.pkts.data(), NVH_MAX_BURST), 1u);
    EXPECT_EQ(b.pkts[0].offload.flags, 0);
    EXPECT_EQ(ring.vq.counters().invalid_descriptors.load(), 1u);
}

TYPED_TEST(NetHeaderRing, TransmitHeaderIgnoredWithoutTransmitOffloads) {
    // No CSUM and no HOST_* segmentation feature: the header can carry
    // nothing (virtio 1.2, 5.1.6.2.1), so it is not read at all; whatever
    // the driver put there, the frame goes through without offload fields.
    RingQueue<TypeParam> ring(64, kV1);
    std::vector<uint8_t> f(100, 0x11);
    ring.drv->add_tx(header(kNeedsCsum | virtio::kNetHdrFDataValid, virtio::kNetHdrGsoTcpv6,
                            1400, 34, 16),
                     f);
    ring.drv->add_tx(header(0, 0, 0, 0, 0), f);
    TxBuffers b(9000);
    ASSERT_EQ(net_dequeue_burst(ring.vq, b.pkts.data(), NVH_MAX_BURST), 2u);
    for (int i = 0; i < 2; i++) {
        EXPECT_EQ(b.pkts[i].len, f.size());
        EXPECT_EQ(b.pkts[i].offload.flags, 0);
        EXPECT_EQ(b.pkts[i].offload.gso_type, virtio::kNetHdrGsoNone);
        EXPECT_EQ(b.pkts[i].offload.csum_start, 0);
        EXPECT_EQ(b.pkts[i].data[0], 0x11);
    }
    EXPECT_EQ(ring.vq.counters().invalid_descriptors.load(), 0u);
}

template <typename R>
std::vector<uint8_t> receive(uint64_t features, const nvh_offload& o) {
    RingQueue<R> ring(64, features);
    ring.drv->add_rx({2048});
    std::vector<uint8_t> f(200, 0x33);
    nvh_packet p{};
    p.data = f.data();
    p.len = 200;
    p.offload = o;
    if (net_enqueue_burst(ring.vq, &p, 1) != 1) {
        return {};
    }
    auto u = ring.pop();
    return u ? u->bytes : std::vector<uint8_t>{};
}

TYPED_TEST(NetHeaderRing, ReceiveHeaderAsNegotiated) {
    nvh_offload o = tso(virtio::kNetHdrGsoTcpv4, 1448);
    auto with = receive<TypeParam>(kV1 | kGuestCsum | kGuestTso4, o);
    ASSERT_EQ(with.size(), 212u);
    EXPECT_EQ(std::vector<uint8_t>(with.begin(), with.begin() + 12),
              (std::vector<uint8_t>{kNeedsCsum, virtio::kNetHdrGsoTcpv4, 66, 0, 0xa8,
                                    0x05, 34, 0, 16, 0, 1, 0}));
    auto without = receive<TypeParam>(kV1, o);
    ASSERT_EQ(without.size(), 212u);
    EXPECT_EQ(std::vector<uint8_t>(without.begin(), without.begin() + 12),
              (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}));
    EXPECT_EQ(without[12], 0x33);
}

}  // namespace
}  // namespace nvh::test
