// SPDX-License-Identifier: Apache-2.0
// Guest memory that faults after it was mapped (docs/security.md, "Guest
// memory may vanish or fault at any time"): a region truncated under a
// running device, a dirty log truncated during a migration, a sparse file
// on a full tmpfs.  The process survives, the fault is counted, the
// connection closes with the named error, and the port recovers with fresh
// memory.  A SIGBUS outside guest memory still kills the process.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "device_fixture.h"
#include "frontend/shared_log.h"
#include "memory/fault_guard.h"
#include "memory/guest_memory.h"

namespace nvh::test {
namespace {

using vhost_user::Request;

constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kLogAll = virtio::bit(virtio::kFLogAll);
constexpr uint64_t kProtocol = virtio::bit(vhost_user::kProtocolFReplyAck) |
                               virtio::bit(vhost_user::kProtocolFLogShmfd);
constexpr uint64_t kLogBytes = (16 << 20) / SharedLog::kPage / 8;
constexpr const char kReason[] =
    "guest memory faulted (SIGBUS): region truncated, hole punched or out of space";

nvh_packet packet_of(std::vector<uint8_t>& bytes, uint32_t len) {
    nvh_packet p{};
    p.data = bytes.data();
    p.len = len;
    p.capacity = static_cast<uint32_t>(bytes.size());
    return p;
}

class MemoryFaultTest : public DeviceFixture {
protected:
    void start() {
        create(1);
        connect();
        ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocol));
        set_up_and_enable_rings(1);
        ASSERT_TRUE(wait_state(NVH_STATE_READY));
    }
    // The connection closed because of the fault, which was counted.
    void expect_closed_for_the_fault(uint64_t faults) {
        ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
        nvh_device_info i = info();
        EXPECT_STREQ(i.last_error, kReason);
        EXPECT_EQ(i.memory_faults, faults);
    }
    // Bursts in both directions on pair 0; they must return.
    void burst_both_ways() {
        std::vector<uint8_t> buffer(2048);
        nvh_packet p = packet_of(buffer, 60);
        nvh_dequeue_burst(dev_, 0, &p, 1);
        nvh_enqueue_burst(dev_, 0, &p, 1);
    }
    // SET_LOG_BASE (vhost-user.rst, "Log description"), waiting for the
    // reply QEMU expects.
    void set_log_base(const SharedLog& log) {
        std::vector<uint8_t> payload(16);
        uint64_t size = log.size(), offset = log.offset();
        std::memcpy(payload.data(), &size, 8);
        std::memcpy(payload.data() + 8, &offset, 8);
        int fd = log.fd();
        ASSERT_TRUE(frontend_->send(static_cast<uint32_t>(Request::kSetLogBase), payload,
                                    std::span<const int>(&fd, 1)));
        ASSERT_TRUE(frontend_->receive().has_value());
    }
};

TEST_F(MemoryFaultTest, RegionTruncatedUnderARunningDeviceIsSurvived) {
    start();
    const uint64_t faults_before = guest_memory_faults();
    // The guest posts a frame and a receive buffer, then the frontend
    // truncates the region's file: every page the device touches now
    // raises SIGBUS.  From here on the test leaves the old memory alone.
    std::vector<uint8_t> frame(60, 0x5a);
    ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
    ASSERT_GE(rxq(0).add_rx({2048}), 0);
    ASSERT_EQ(::ftruncate(mem_.fd(0), 0), 0);

    burst_both_ways();
    EXPECT_GT(guest_memory_faults(), faults_before);
    // The data path stops serving the faulted memory at once.
    std::vector<uint8_t> buffer(2048);
    nvh_packet p = packet_of(buffer, 60);
    EXPECT_EQ(nvh_dequeue_burst(dev_, 0, &p, 1), 0u);
    EXPECT_EQ(nvh_enqueue_burst(dev_, 0, &p, 1), 0u);
    expect_closed_for_the_fault(1);

    // The frontend comes back with fresh memory: traffic flows again.
    ASSERT_TRUE(frontend_->accept(kFixtureTimeoutMs));
    ASSERT_TRUE(wait_state(NVH_STATE_CONNECTED));
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocol));
    GuestMemoryFixture fresh;
    fresh.add_region(0, 16 << 20);
    ASSERT_TRUE(frontend_->send_mem_table(fresh));
    SplitRingDriver rx(fresh, 64, 2048), tx(fresh, 64, 2048);
    ASSERT_TRUE(frontend_->setup_vring(0, rx, kicks_[0].get(), calls_[0].get()));
    ASSERT_TRUE(frontend_->setup_vring(1, tx, kicks_[1].get(), calls_[1].get()));
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    ASSERT_GE(tx.add_tx(SplitRingDriver::net_header(12), frame), 0);
    ASSERT_EQ(nvh_dequeue_burst(dev_, 0, &p, 1), 1u);
    EXPECT_EQ(p.len, frame.size());
    ASSERT_GE(rx.add_rx({2048}), 0);
    ASSERT_EQ(nvh_enqueue_burst(dev_, 0, &p, 1), 1u);
    EXPECT_TRUE(rx.pop_used().has_value());
    EXPECT_EQ(info().memory_faults, 1u);
}

TEST_F(MemoryFaultTest, DirtyLogTruncatedDuringMigrationIsSurvived) {
    start();
    SharedLog log(kLogBytes);
    set_log_base(log);
    ASSERT_TRUE(frontend_->set_u64(Request::kSetFeatures, kFeatures | kLogAll));
    for (uint32_t v = 0; v < 2; v++) {
        VringAddresses a = rings_[v]->addresses();
        a.flags = 1;   // VHOST_VRING_F_LOG
        ASSERT_TRUE(frontend_->set_vring_addr(v, a));
    }
    ASSERT_EQ(info().state, NVH_STATE_READY);
    const uint64_t faults_before = guest_memory_faults();
    // The frontend truncates the log; the next receive burst logs its
    // writes into it.  (The test no longer reads its own mapping of it.)
    ASSERT_EQ(::ftruncate(log.fd(), 0), 0);
    ASSERT_GE(rxq(0).add_rx({2048}), 0);
    std::vector<uint8_t> frame(100, 0x42);
    nvh_packet p = packet_of(frame, 100);
    nvh_enqueue_burst(dev_, 0, &p, 1);
    EXPECT_GT(guest_memory_faults(), faults_before);
    EXPECT_EQ(nvh_enqueue_burst(dev_, 0, &p, 1), 0u);
    expect_closed_for_the_fault(1);
}

// A private tmpfs of 64 KiB, mounted over the test's temporary directory in
// a mount namespace of this (forked) process only: nothing is created
// outside it, so nothing is left behind whatever happens.
std::string mount_tiny_tmpfs() {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        std::exit(10);
    }
    std::string dir = ::testing::TempDir();
    if (dir.size() > 1 && dir.back() == '/') {
        dir.pop_back();
    }
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64k") != 0) {
        std::exit(11);
    }
    return dir;
}

// Fills the filesystem of `dir` until it reports ENOSPC.
void fill_filesystem(const std::string& dir) {
    UniqueFd filler(::open((dir + "/filler").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    std::vector<char> chunk(4096, 'x');
    while (filler && ::write(filler.get(), chunk.data(), chunk.size()) > 0) {
    }
}

// Maps a sparse 1 MiB file of a full tmpfs as guest memory and writes into
// a hole, as the receive path writes a frame.  Exits 0 if that was
// survived, counted, and the page reads as zeros.
[[noreturn]] void write_into_a_hole_of_a_full_tmpfs() {
    const std::string dir = mount_tiny_tmpfs();
    UniqueFd fd(::open((dir + "/guest").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    constexpr uint64_t kSize = 1 << 20;
    if (!fd || ::ftruncate(fd.get(), kSize) != 0) {
        std::exit(12);
    }
    fill_filesystem(dir);
    MemoryRegionSpec spec{0, kSize, 0x10000000, 0};
    FaultFlag faulted{false};
    Result<GuestMemory> memory = GuestMemory::create(&spec, &fd, 1, kDefaultMaxGuestMemory, &faulted);
    if (!memory) {
        std::exit(13);
    }
    uint8_t* hole = memory.value().gpa_to_host(kSize / 2, 64);
    const uint64_t before = guest_memory_faults();
    std::atomic_ref<uint8_t>(hole[0]).store(0x42, std::memory_order_relaxed);
    const bool survived = faulted.load(std::memory_order_acquire) &&
                          guest_memory_faults() == before + 1 &&
                          std::atomic_ref<uint8_t>(hole[1]).load(std::memory_order_relaxed) == 0;
    std::exit(survived ? 0 : 14);
}

TEST(MemoryFaultDeathTest, WriteIntoAHoleOfAFullTmpfsIsSurvived) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "mounting a tmpfs needs root";
    }
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(write_into_a_hole_of_a_full_tmpfs(), ::testing::ExitedWithCode(0), "");
}

// Registers a guest mapping, so that the SIGBUS handler is installed.
GuestMemory guarded_memory(FaultFlag* faulted) {
    UniqueFd fd = GuestMemoryFixture::make_memfd(1 << 20);
    MemoryRegionSpec spec{0, 1 << 20, 0x10000000, 0};
    Result<GuestMemory> memory = GuestMemory::create(&spec, &fd, 1, kDefaultMaxGuestMemory, faulted);
    if (!memory) {
        std::exit(20);
    }
    return std::move(memory).value();
}

[[noreturn]] void raise_sigbus_with_guest_memory_mapped() {
    FaultFlag faulted{false};
    GuestMemory memory = guarded_memory(&faulted);
    ::raise(SIGBUS);
    std::exit(0);   // Not reached if the signal kills.
}

// A file mapped by the process itself, not guest memory, truncated and then
// read: the SIGBUS is a genuine bug and must kill.
[[noreturn]] void read_own_truncated_mapping_with_guest_memory_mapped() {
    FaultFlag faulted{false};
    GuestMemory memory = guarded_memory(&faulted);
    UniqueFd own = GuestMemoryFixture::make_memfd(1 << 16);
    void* p = ::mmap(nullptr, 1 << 16, PROT_READ, MAP_SHARED, own.get(), 0);
    if (p == MAP_FAILED || ::ftruncate(own.get(), 0) != 0) {
        std::exit(21);
    }
    volatile uint8_t byte = static_cast<volatile uint8_t*>(p)[100];
    (void)byte;
    std::exit(faulted.load() ? 22 : 0);   // Not reached if the fault kills.
}

// A handler installed before the first guest mapping (an SA_SIGINFO one, as
// a sanitizer's) gets the SIGBUS that is not in guest memory.
[[noreturn]] void raise_sigbus_with_a_previous_handler() {
    struct sigaction previous{};
    previous.sa_sigaction = [](int, siginfo_t*, void*) { ::_exit(42); };
    previous.sa_flags = SA_SIGINFO;
    sigemptyset(&previous.sa_mask);
    if (::sigaction(SIGBUS, &previous, nullptr) != 0) {
        std::exit(23);
    }
    FaultFlag faulted{false};
    GuestMemory memory = guarded_memory(&faulted);
    ::raise(SIGBUS);
    std::exit(0);
}

TEST(MemoryFaultDeathTest, SigbusOutsideGuestMemoryGoesToThePreviousHandler) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(raise_sigbus_with_a_previous_handler(), ::testing::ExitedWithCode(42), "");
}

TEST(MemoryFaultDeathTest, RaisedSigbusStillKills) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(raise_sigbus_with_guest_memory_mapped(), ::testing::KilledBySignal(SIGBUS),
                "");
}

TEST(MemoryFaultDeathTest, FaultOutsideGuestMemoryStillKills) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(read_own_truncated_mapping_with_guest_memory_mapped(),
                ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace nvh::test
