// SPDX-License-Identifier: Apache-2.0
// Dirty-page logging (vhost-user.rst, "Migration"): the shared bitmap
// itself, and the pages the data path marks for its writes on split and
// packed rings.
#include "memory/dirty_log.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <vector>

#include "base/virtio_spec.h"
#include "frontend/shared_log.h"
#include "net/virtio_net.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

constexpr uint64_t kPage = DirtyLog::kPageSize;
constexpr uint64_t kSplit = virtio::bit(virtio::kFVersion1) | virtio::bit(virtio::kFLogAll);
constexpr uint64_t kPacked = kSplit | virtio::bit(virtio::kFRingPacked);

// The device's mapping of `shared`; nullopt (a test failure) if refused.
std::optional<DirtyLog> map_log(const SharedLog& shared) {
    auto log = DirtyLog::map(shared.dup_fd(), shared.size(), shared.offset());
    if (!log.ok()) {
        ADD_FAILURE() << "DirtyLog::map: " << log.error().what;
        return std::nullopt;
    }
    return std::move(log).value();
}

std::set<uint64_t> join(std::set<uint64_t> a, const std::set<uint64_t>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

// ---- The bitmap ---------------------------------------------------------------

TEST(DirtyLog, RefusesLogsThatCannotBeWritten) {
    SharedLog shared(64);
    EXPECT_FALSE(DirtyLog::map(UniqueFd(), 64, 0).ok());
    EXPECT_FALSE(DirtyLog::map(shared.dup_fd(), 0, 0).ok());
    EXPECT_FALSE(DirtyLog::map(shared.dup_fd(), DirtyLog::kMaxSize + 1, 0).ok());
    EXPECT_FALSE(DirtyLog::map(shared.dup_fd(), 64, UINT64_MAX - 8).ok());
    // Past the end of the file: the first write would raise SIGBUS.
    EXPECT_FALSE(DirtyLog::map(shared.dup_fd(), 65, 0).ok());
    EXPECT_FALSE(DirtyLog::map(shared.dup_fd(), 64, 1).ok());
    EXPECT_TRUE(DirtyLog::map(shared.dup_fd(), 64, 0).ok());
}

TEST(DirtyLog, MarksEveryPageOfARangeAndNothingElse) {
    SharedLog shared(16);
    auto log = map_log(shared);
    ASSERT_TRUE(log);
    log->mark(2 * kPage - 1, 2);   // Straddles pages 1 and 2.
    log->mark(5 * kPage, kPage);   // Exactly page 5.
    log->mark(9 * kPage + 100, 0); // Nothing.
    EXPECT_EQ(shared.marked(), (std::set<uint64_t>{1, 2, 5}));
}

TEST(DirtyLog, UsesTheOffsetInItsFile) {
    SharedLog shared(8, /*offset=*/100);
    auto log = map_log(shared);
    ASSERT_TRUE(log);
    log->mark(0, 1);
    EXPECT_EQ(shared.raw(100), 1);
    for (uint64_t i = 0; i < 100; i++) {
        ASSERT_EQ(shared.raw(i), 0) << i;
    }
}

TEST(DirtyLog, IgnoresPagesPastItsEnd) {
    SharedLog shared(1, 0, /*slack=*/8);   // Covers pages 0..7.
    auto log = map_log(shared);
    ASSERT_TRUE(log);
    log->mark(7 * kPage, 3 * kPage);
    log->mark(UINT64_MAX - 10, 100);       // Wraps past 2^64.
    EXPECT_EQ(shared.marked(), (std::set<uint64_t>{7}));
    for (uint64_t i = 1; i < 9; i++) {
        EXPECT_EQ(shared.raw(i), 0) << i;
    }
}

TEST(DirtyLog, HostAddressesMapBackToGuestPhysical) {
    GuestMemoryFixture mem;
    mem.add_region(0, kMiB);
    mem.add_region(4 * kMiB, kMiB, 0x500000000);
    auto memory = mem.create_memory();
    ASSERT_TRUE(memory.ok());
    for (uint64_t gpa : {uint64_t{0}, kMiB - 1, 4 * kMiB, 5 * kMiB - 1}) {
        uint64_t back = 0;
        ASSERT_TRUE(memory.value().host_to_gpa(memory.value().gpa_to_host(gpa, 1), &back));
        EXPECT_EQ(back, gpa);
    }
    uint8_t outside = 0;
    uint64_t back = 0;
    EXPECT_FALSE(memory.value().host_to_gpa(&outside, &back));
}

// ---- The data path ------------------------------------------------------------

// A started queue on a driver-built ring in 16 MiB of guest memory, and a log
// covering it, attached only when asked.
template <typename R>
struct Logged : RingQueue<R> {
    explicit Logged(uint64_t features)
        : RingQueue<R>(QueueConfig{.num = 64, .features = features, .buffer_size = 2048,
                                   .adjacent_region = false}),
          shared(16 * kMiB / kPage / 8), log(map_log(shared)) {}
    void attach() {
        ASSERT_TRUE(log);
        this->vq.set_dirty_log(&*log);
    }
    // The guest-physical range of a ring part given by its frontend address.
    std::set<uint64_t> pages_at_uva(uint64_t uva, uint64_t len) const {
        uint64_t gpa = 0;
        if (!this->memory.uva_to_gpa(uva, &gpa)) {
            ADD_FAILURE() << "ring address " << uva << " not in guest memory";
            return {};
        }
        return SharedLog::pages_of(gpa, len);
    }
    uint32_t receive(size_t len) {
        std::vector<uint8_t> f(len, 0x5a);
        return this->enqueue({rx_packet(f)});
    }
    uint32_t transmit() {
        TxBuffers b;
        return this->dequeue(b, 1);
    }

    SharedLog shared;
    std::optional<DirtyLog> log;
};

using SplitLogged = Logged<Split>;
using PackedLogged = Logged<Packed>;

TEST(DirtyLogSplit, ReceiveMarksTheBufferAndTheUsedRing) {
    SplitLogged q(kSplit);
    q.attach();
    EXPECT_TRUE(q.vq.dirty_logging());
    // A buffer that straddles a page boundary in the pool.
    q.drv->add_chain(std::vector<SplitRingDriver::Segment>{
        {q.drv->pool_buffer(1) + 2048 - 700, 1500, true}});
    ASSERT_EQ(q.receive(1400), 1u);
    auto used = q.drv->pop_used();
    ASSERT_TRUE(used.has_value());
    const uint64_t buf = used->segments[0].gpa;
    const auto ring = q.pages_at_uva(q.drv->addresses().used_user_addr,
                                     virtio::split_used_bytes(64));
    const auto marked = q.shared.marked();
    // Every page the frame was written to (12-byte header + 1400 bytes).
    for (uint64_t p : SharedLog::pages_of(buf, 12 + 1400)) {
        EXPECT_TRUE(marked.count(p)) << "buffer page " << p;
    }
    EXPECT_EQ(SharedLog::pages_of(buf, 12 + 1400).size(), 2u);
    // The used element and index, and nothing outside buffer and ring.
    for (uint64_t p : ring) {
        EXPECT_TRUE(marked.count(p)) << "used ring page " << p;
    }
    EXPECT_EQ(marked, join(SharedLog::pages_of(buf, 12 + 1400), ring));
}

TEST(DirtyLogSplit, TransmitMarksOnlyTheUsedRing) {
    SplitLogged q(kSplit);
    q.attach();
    std::vector<uint8_t> f(200, 0x11);
    ASSERT_GE(q.drv->add_tx(SplitRingDriver::net_header(12), f), 0);
    ASSERT_EQ(q.transmit(), 1u);
    EXPECT_EQ(q.shared.marked(), q.pages_at_uva(q.drv->addresses().used_user_addr,
                                                virtio::split_used_bytes(64)));
}

TEST(DirtyLogSplit, NothingIsMarkedWhenLoggingStops) {
    SplitLogged q(kSplit);
    q.attach();
    q.vq.set_dirty_log(nullptr);
    EXPECT_FALSE(q.vq.dirty_logging());
    q.drv->add_rx({2048});
    ASSERT_EQ(q.receive(1000), 1u);
    EXPECT_TRUE(q.shared.marked().empty());
}

TEST(DirtyLogSplit, RestartingTheRingLogsItsUsedFlags) {
    // A ring (re)started while logging writes used->flags: logged too.
    SplitLogged q(kSplit);
    q.attach();
    q.vq.stop();
    ASSERT_TRUE(q.vq.start(q.memory, kSplit).ok());
    EXPECT_EQ(q.shared.marked(), q.pages_at_uva(q.drv->addresses().used_user_addr, 2));
}

TEST(DirtyLogPacked, ReceiveMarksTheBufferAndItsDescriptor) {
    PackedLogged q(kPacked);
    q.attach();
    q.drv->add_rx({2048});
    ASSERT_EQ(q.receive(1500), 1u);
    auto used = q.drv->pop_used();
    ASSERT_TRUE(used.has_value());
    const uint64_t buf = used->segments[0].gpa;
    // The used descriptor went to slot 0 of the descriptor ring.
    const auto desc = q.pages_at_uva(q.drv->addresses().desc_user_addr, 16);
    EXPECT_EQ(q.shared.marked(), join(SharedLog::pages_of(buf, 12 + 1500), desc));
}

TEST(DirtyLogPacked, TransmitMarksOnlyTheDescriptorRing) {
    PackedLogged q(kPacked);
    q.attach();
    std::vector<uint8_t> f(300, 0x22);
    ASSERT_GE(q.drv->add_tx(PackedRingDriver::net_header(12), f), 0);
    ASSERT_EQ(q.transmit(), 1u);
    EXPECT_EQ(q.shared.marked(), q.pages_at_uva(q.drv->addresses().desc_user_addr, 16));
}

}  // namespace
}  // namespace nvh::test
