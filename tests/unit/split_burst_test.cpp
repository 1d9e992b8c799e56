// SPDX-License-Identifier: Apache-2.0
// Burst rules of the split ring only (virtio 1.2, 2.7): the 16-bit avail
// and used indexes, the avail ring's flags, loops through `next`, the
// legacy 10-byte header and a backend that resumes a used ring.
#include <gtest/gtest.h>

#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

using Net = RingQueue<Split>;

TEST(SplitTx, ANewBackendResumesWhereTheUsedIndexStands) {
    // A frontend that outlived its backend (DPDK's virtio_user) sends
    // SET_VRING_BASE 0 to the new one: the used index says 5 chains were
    // returned, so only the chain made available after them is new.
    Net net(64, kV1);
    for (int i = 0; i < 5; i++) {
        net.post_tx(frame(60, uint8_t(i)));
    }
    TxBuffers b;
    ASSERT_EQ(net.dequeue(b), 5u);
    net.vq.stop();
    net.vq.set_base(0);
    ASSERT_TRUE(net.start());
    EXPECT_EQ(net.vq.base(), 5u);
    net.post_tx(frame(60, 9));
    ASSERT_EQ(net.dequeue(b), 1u);
    EXPECT_EQ(b.got(0), frame(60, 9));
    EXPECT_EQ(net.drv->used_idx(), 6);
}

TEST(SplitTx, StoppedQueueKeepsItsBase) {
    Net net(16, kV1);
    net.post_tx(frame(64));
    net.vq.stop();
    TxBuffers b;
    EXPECT_EQ(net.dequeue(b), 0u);
    EXPECT_EQ(net.vq.base(), 0u);
    ASSERT_TRUE(net.start());
    EXPECT_EQ(net.dequeue(b), 1u);
    EXPECT_EQ(net.vq.base(), 1u);
}

TEST(SplitTx, LegacyTenByteHeader) {
    Net net(64, 0);   // neither VERSION_1 nor MRG_RXBUF
    EXPECT_EQ(net.vq.header_len(), 10u);
    auto f = frame(64);
    net.drv->add_tx(SplitRingDriver::net_header(10), f);
    TxBuffers b;
    ASSERT_EQ(net.dequeue(b, 1), 1u);
    EXPECT_EQ(b.got(0), f);
}

TEST(SplitRx, LegacyHeaderHasNoNumBuffers) {
    Net net(64, 0);
    net.post_rx({2048});
    auto f = frame(100, 3);
    ASSERT_EQ(net.enqueue({rx_packet(f)}), 1u);
    auto u = net.pop();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->len, 110u);
    EXPECT_EQ(payload(u->bytes, 10), f);
}

// virtio 1.2, 2.7.5.2: a `next` loop or a `next` past the table makes the
// chain invalid: dropped, counted, returned with length 0.
TEST(SplitTx, LoopsAndNextOutOfRangeAreDroppedAndReturned) {
    Net net(64, kV1);
    SplitRingDriver& d = *net.drv;
    int a = d.alloc_desc(), c = d.alloc_desc();   // a -> c -> a
    d.write_desc(uint16_t(a), {d.pool_buffer(uint16_t(a)), 40, virtio::kDescFNext, uint16_t(c)});
    d.write_desc(uint16_t(c), {d.pool_buffer(uint16_t(c)), 40, virtio::kDescFNext, uint16_t(a)});
    d.make_available(uint16_t(a));
    int e = d.alloc_desc();
    d.write_desc(uint16_t(e), {d.pool_buffer(uint16_t(e)), 40, virtio::kDescFNext, 64});
    d.make_available(uint16_t(e));
    auto good = frame(64);
    net.post_tx(good);
    TxBuffers b;
    ASSERT_EQ(net.dequeue(b), 1u);
    EXPECT_EQ(b.got(0), good);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 2u);
    EXPECT_EQ(d.used_idx(), 3);   // all chains returned
    auto u = net.pop();
    ASSERT_TRUE(u);
    EXPECT_EQ(u->id, uint32_t(a));
    EXPECT_EQ(u->len, 0u);
    EXPECT_FALSE(net.vq.broken());
}

// virtio 1.2, 2.7.13.3: avail->idx never runs more than the queue size
// ahead; a jump breaks the queue until it is started again.
TEST(SplitTx, AvailIndexJumpBreaksTheQueue) {
    Net net(16, kV1);
    net.post_tx(frame(64));
    net.drv->set_avail_idx(17);   // 17 chains "available" in a ring of 16
    TxBuffers b;
    EXPECT_EQ(net.dequeue(b), 0u);
    EXPECT_TRUE(net.vq.broken());
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    net.drv->set_avail_idx(1);    // even once "repaired", not served
    EXPECT_EQ(net.dequeue(b), 0u);
    EXPECT_EQ(net.c().invalid_descriptors.load(), 1u);
    EXPECT_EQ(net.drv->used_idx(), 0);
    // A restart (new SET_VRING_BASE / start) serves it again.
    net.vq.stop();
    ASSERT_TRUE(net.start());
    EXPECT_EQ(net.dequeue(b), 1u);
}

// 70000 packets through an 8-entry ring: avail and used idx wrap at 2^16.
TEST(SplitRx, WrapAroundOf16BitIndexes) {
    Net net(8, kMrg, 2048);
    auto f = frame(200);
    for (int round = 0; round < 70000 / 4; round++) {
        for (int i = 0; i < 4; i++) {
            ASSERT_GE(net.post_rx({2048}), 0);
        }
        f[0] = static_cast<uint8_t>(round);
        ASSERT_EQ(net.enqueue({rx_packet(f), rx_packet(f), rx_packet(f), rx_packet(f)}), 4u)
            << "round " << round;
        auto used = net.pop_all();
        ASSERT_EQ(used.size(), 4u);
        ASSERT_EQ(used[3].len, 212u);
        ASSERT_EQ(used[3].bytes[12], f[0]);
    }
    EXPECT_EQ(net.c().packets.load(), 70000u);
    EXPECT_EQ(net.drv->used_idx(), uint16_t(70000));
    EXPECT_EQ(net.vq.base(), uint32_t(uint16_t(70000)));
}

TEST(SplitTx, WrapAroundOf16BitIndexes) {
    Net net(8, kV1, 2048);
    TxBuffers b;
    for (uint32_t i = 0; i < 70000; i++) {
        auto f = frame(64, uint8_t(i));
        ASSERT_GE(net.post_tx(f), 0);
        ASSERT_EQ(net.dequeue(b), 1u);
        ASSERT_EQ(b.got(0), f);
        ASSERT_TRUE(net.pop());
    }
    EXPECT_EQ(net.drv->used_idx(), uint16_t(70000));
}

// virtio 1.2, 2.7.7: VIRTQ_AVAIL_F_NO_INTERRUPT suppresses the interrupt.
TEST(SplitNotify, InterruptUnlessNoInterrupt) {
    Net net(64, kV1);
    net.post_tx(frame(64));
    TxBuffers b;
    ASSERT_EQ(net.dequeue(b), 1u);
    EXPECT_EQ(net.interrupts(), 1u);
    EXPECT_EQ(net.c().guest_notifications.load(), 1u);
    net.drv->set_avail_flags(virtio::kAvailFNoInterrupt);
    net.post_tx(frame(64));
    ASSERT_EQ(net.dequeue(b, 1), 1u);
    EXPECT_EQ(net.interrupts(), 0u);
    EXPECT_EQ(net.c().guest_notifications.load(), 1u);
}

// virtio 1.2, 2.7.10: with EVENT_IDX, an interrupt once used->idx passes
// used_event.
TEST(SplitNotify, EventIdxInterruptsWhenUsedEventIsPassed) {
    Net net(64, kV1 | kEventIdx);
    TxBuffers b;
    net.drv->set_used_event(1);
    net.post_tx(frame(64));
    ASSERT_EQ(net.dequeue(b), 1u);   // 0 -> 1
    EXPECT_EQ(net.interrupts(), 0u);
    net.post_tx(frame(64));
    ASSERT_EQ(net.dequeue(b), 1u);   // 1 -> 2
    EXPECT_EQ(net.interrupts(), 1u);
}

}  // namespace
}  // namespace nvh::test
