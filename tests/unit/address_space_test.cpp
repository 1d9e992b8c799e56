// SPDX-License-Identifier: Apache-2.0
// address_space_test.cpp: a frontend may ask for any amount of address
// space (a sparse file of terabytes maps without error and leaves the
// process none); the device maps at most max_guest_memory per memory table
// (nvh.h) and refuses a larger table before mapping anything.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "device_fixture.h"

namespace nvh::test {
namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;
constexpr const char* kRefused = "SET_MEM_TABLE: memory table larger than max-guest-memory-mb";

// A sparse memfd of `size` bytes: nothing behind it, any size accepted.
UniqueFd sparse_memfd(uint64_t size) {
    UniqueFd fd(::memfd_create("nvh-sparse", MFD_CLOEXEC));
    if (fd.valid() && ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        fd.reset();
    }
    return fd;
}

// VHOST_USER_SET_MEM_TABLE (vhost-user.rst, "Memory regions description")
// with one region of `size` bytes at guest-physical 0, built by hand: the
// test process itself never maps it.
std::vector<uint8_t> mem_table_message(uint64_t size) {
    std::vector<uint8_t> m(vhost_user::kHeaderSize + 8 + 32, 0);
    const uint32_t header[3] = {static_cast<uint32_t>(vhost_user::Request::kSetMemTable),
                                vhost_user::kVersion, 8 + 32};
    std::memcpy(m.data(), header, sizeof header);
    const uint32_t count = 1;
    std::memcpy(m.data() + vhost_user::kHeaderSize, &count, sizeof count);
    const uint64_t region[4] = {0, size, 0x7f0000000000, 0};
    std::memcpy(m.data() + vhost_user::kHeaderSize + 8, region, sizeof region);
    return m;
}

// VmSize of this process, in kB (/proc/self/status).
uint64_t vm_size_kb() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmSize:", 0) == 0) {
            return std::stoull(line.substr(7));
        }
    }
    return 0;
}

class AddressSpaceTest : public DeviceFixture {
protected:
    // Sends a one-region table of `size` bytes; true if the device then
    // closed the connection.
    bool table_closes_connection(uint64_t size) {
        UniqueFd fd = sparse_memfd(size);
        if (!fd.valid()) {
            ADD_FAILURE() << "memfd of " << size << " bytes";
            return false;
        }
        const int fds[] = {fd.get()};
        return frontend_->send_raw(mem_table_message(size), fds) &&
               frontend_->wait_peer_closed(kFixtureTimeoutMs);
    }
    std::string last_error() { return info().last_error; }
};

TEST_F(AddressSpaceTest, TableOfTwoTebibytesIsRefusedBeforeMapping) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(virtio::bit(virtio::kFVersion1), 0));
    const uint64_t before = vm_size_kb();
    ASSERT_TRUE(table_closes_connection(2 * kTiB));
    EXPECT_LT(vm_size_kb(), before + (1u << 20)) << "the table was mapped";
    ASSERT_TRUE(wait_for([&] { return !last_error().empty(); }));
    EXPECT_EQ(last_error(), kRefused);
}

TEST_F(AddressSpaceTest, TheBoundCanBeLoweredAndRaised) {
    create(1);
    nvh_device_set_max_guest_memory(dev_, 8 << 20);
    connect();
    ASSERT_TRUE(frontend_->negotiate(virtio::bit(virtio::kFVersion1), 0));
    ASSERT_TRUE(table_closes_connection(16 << 20));
    EXPECT_TRUE(wait_for([&] { return last_error() == kRefused; })) << last_error();

    // Raised: the same table is taken on the next connection, and the
    // rings on it carry frames.
    nvh_device_set_max_guest_memory(dev_, 32 << 20);
    ASSERT_TRUE(frontend_->accept(kFixtureTimeoutMs));
    ASSERT_TRUE(wait_state(NVH_STATE_CONNECTED));
    ASSERT_TRUE(frontend_->negotiate(virtio::bit(virtio::kFVersion1), 0));
    set_up_and_enable_rings(1);
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    std::vector<uint8_t> frame(60, 0x5a), buffer(2048);
    ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
    nvh_packet pkt{};
    pkt.data = buffer.data();
    pkt.capacity = 2048;
    EXPECT_EQ(nvh_dequeue_burst(dev_, 0, &pkt, 1), 1u);
}

TEST(AddressSpace, GuestMemoryCreateChecksTheTotalBeforeMapping) {
    MemoryRegionSpec specs[2] = {{0, 3 << 20, 0x10000000, 0}, {4 << 20, 3 << 20, 0x20000000, 0}};
    UniqueFd fds[2] = {sparse_memfd(3 << 20), sparse_memfd(3 << 20)};
    Result<GuestMemory> refused = GuestMemory::create(specs, fds, 2, 5 << 20);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().errno_value, E2BIG);
    UniqueFd again[2] = {sparse_memfd(3 << 20), sparse_memfd(3 << 20)};
    EXPECT_TRUE(GuestMemory::create(specs, again, 2, 6 << 20).ok());
}

TEST(AddressSpace, DirtyLogIsBoundedByWhatTheGuestNeeds) {
    // A bit per 4 KiB page, twice over: 1 GiB of guest needs 64 KiB; the
    // bound never goes below 1 MiB.
    EXPECT_EQ(DirtyLog::max_size_for(uint64_t{1} << 30), uint64_t{1} << 20);
    EXPECT_EQ(DirtyLog::max_size_for(kTiB), uint64_t{64} << 20);
    const uint64_t max = DirtyLog::max_size_for(kTiB);
    Result<DirtyLog> refused = DirtyLog::map(sparse_memfd(max + 4096), max + 4096, 0, max);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().errno_value, E2BIG);
    EXPECT_TRUE(DirtyLog::map(sparse_memfd(max), max, 0, max).ok());
}

}  // namespace
}  // namespace nvh::test
