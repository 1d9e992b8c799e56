// SPDX-License-Identifier: Apache-2.0
// Guest memory: region validation, mapping and bounds-checked translation.
#include "memory/guest_memory.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <vector>

#include "frontend/guest_memory_fixture.h"

namespace nvh {
namespace {

using test::GuestMemoryFixture;

constexpr uint64_t kMiB = 1 << 20;

// Builds a table from explicit specs, each with its own memfd of the size the
// spec needs (mmap_offset + memory_size).
Result<GuestMemory> create_from(std::vector<MemoryRegionSpec> specs) {
    std::vector<UniqueFd> fds;
    for (const MemoryRegionSpec& s : specs) {
        fds.push_back(GuestMemoryFixture::make_memfd(
            s.memory_size < 64 * kMiB ? s.mmap_offset + s.memory_size : 4096));
    }
    return GuestMemory::create(specs.data(), fds.data(), specs.size());
}

TEST(GuestMemoryTest, TranslatesBothEndsOfARegionAndRefusesOnePast) {
    GuestMemoryFixture mem;
    mem.add_region(0x100000, kMiB);
    auto gm = mem.create_memory();
    ASSERT_TRUE(gm.ok()) << gm.error().what;

    EXPECT_EQ(gm->gpa_to_host(0x100000, 1), gm->region(0).host_base());
    EXPECT_NE(gm->gpa_to_host(0x100000, kMiB), nullptr);   // whole region
    EXPECT_NE(gm->gpa_to_host(0x100000 + kMiB - 1, 1), nullptr);   // last byte
    EXPECT_EQ(gm->gpa_to_host(0x100000 + kMiB, 1), nullptr);       // one past
    EXPECT_EQ(gm->gpa_to_host(0x100000 + kMiB - 1, 2), nullptr);   // straddles end
    EXPECT_EQ(gm->gpa_to_host(0x100000 - 1, 1), nullptr);          // one before
    EXPECT_EQ(gm->gpa_to_host(0x100000 - 1, 2), nullptr);          // straddles start
    EXPECT_EQ(gm->gpa_to_host(0x100000, kMiB + 1), nullptr);
    // An address + length that wraps around 2^64 is not "inside".
    EXPECT_EQ(gm->gpa_to_host(0x100000 + 16, UINT64_MAX), nullptr);
    EXPECT_EQ(gm->gpa_to_host(UINT64_MAX, 2), nullptr);

    const uint64_t uva = 0x100000 + GuestMemoryFixture::kUvaOffset;
    EXPECT_EQ(gm->uva_to_host(uva, kMiB), gm->region(0).host_base());
    EXPECT_EQ(gm->uva_to_host(uva + kMiB, 1), nullptr);
    EXPECT_EQ(gm->uva_to_host(uva + kMiB - 4, 8), nullptr);
    EXPECT_EQ(gm->uva_to_host(0x100000, 1), nullptr);   // a gpa is not a uva
    uint64_t gpa = 0;
    EXPECT_TRUE(gm->uva_to_gpa(uva + 0x1234, &gpa));
    EXPECT_EQ(gpa, 0x101234u);
    EXPECT_FALSE(gm->uva_to_gpa(uva + kMiB, &gpa));
}

TEST(GuestMemoryTest, RefusesLengthZero) {
    GuestMemoryFixture mem;
    mem.add_region(0, kMiB);
    auto gm = mem.create_memory();
    ASSERT_TRUE(gm.ok());
    EXPECT_EQ(gm->gpa_to_host(0x10, 0), nullptr);
    EXPECT_EQ(gm->uva_to_host(GuestMemoryFixture::kUvaOffset, 0), nullptr);
    EXPECT_EQ(gm->gpa_piece(0x10, 0).ptr, nullptr);
}

TEST(GuestMemoryTest, SharesMemoryWithTheFrontend) {
    GuestMemoryFixture mem;
    mem.add_region(0, kMiB, 0x40000000, /*fd_offset=*/0x3000);
    auto gm = mem.create_memory();
    ASSERT_TRUE(gm.ok());
    const uint8_t pattern[4] = {1, 2, 3, 4};
    mem.write(0x2000, pattern);
    uint8_t* p = gm->gpa_to_host(0x2000, 4);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(std::memcmp(p, pattern, 4), 0);
    p[0] = 9;
    EXPECT_EQ(mem.read(0x2000, 1)[0], 9);
    EXPECT_EQ(gm->uva_to_host(0x40002000, 4), p);
}

TEST(GuestMemoryTest, MapsAnOffsetThatIsNotPageAligned) {
    // mmap_offset 0x1800: mapped from 0x1000, host base 0x800 further on.
    GuestMemoryFixture mem;
    mem.add_region(0x200000, 0x10000, 0x90000000, /*fd_offset=*/0x1800);
    auto gm = mem.create_memory();
    ASSERT_TRUE(gm.ok()) << gm.error().what;
    const uint8_t b[2] = {0xab, 0xcd};
    mem.write(0x200000, b);
    mem.write(0x20ffff, std::span<const uint8_t>(b, 1));
    EXPECT_EQ(gm->gpa_to_host(0x200000, 1)[0], 0xab);
    EXPECT_EQ(gm->gpa_to_host(0x20ffff, 1)[0], 0xab);
}

TEST(GuestMemoryTest, PieceSplitsAtTheEndOfARegion) {
    GuestMemoryFixture mem;
    mem.add_region(0, kMiB);
    mem.add_region(kMiB, kMiB);   // adjacent in guest-physical space
    auto gm = mem.create_memory();
    ASSERT_TRUE(gm.ok());
    // Not inside one region as a whole...
    EXPECT_EQ(gm->gpa_to_host(kMiB - 100, 200), nullptr);
    // ...but in two pieces.
    HostPiece a = gm->gpa_piece(kMiB - 100, 200);
    ASSERT_NE(a.ptr, nullptr);
    EXPECT_EQ(a.len, 100u);
    HostPiece b = gm->gpa_piece(kMiB, 100);
    EXPECT_EQ(b.ptr, gm->region(1).host_base());
    EXPECT_EQ(b.len, 100u);
    // Shorter than the rest of the region: all of it.
    EXPECT_EQ(gm->gpa_piece(0, 10).len, 10u);
    EXPECT_EQ(gm->gpa_piece(2 * kMiB, 1).ptr, nullptr);
}

TEST(GuestMemoryTest, RejectsRegionCountOutOfRange) {
    EXPECT_FALSE(create_from({}).ok());
    std::vector<MemoryRegionSpec> nine;
    for (uint64_t i = 0; i < 9; i++) {
        nine.push_back({i * 0x10000, 0x10000, 0x1000000 + i * 0x10000, 0});
    }
    EXPECT_FALSE(create_from(nine).ok());
    nine.pop_back();
    EXPECT_TRUE(create_from(nine).ok());   // 8 is the maximum
}

TEST(GuestMemoryTest, RejectsSizeZeroAndOverflow) {
    EXPECT_FALSE(create_from({{0, 0, 0x1000, 0}}).ok());
    // guest_phys_addr + memory_size overflows.
    EXPECT_FALSE(create_from({{UINT64_MAX - 0xfff, 0x2000, 0x1000, 0}}).ok());
    // userspace_addr + memory_size overflows.
    EXPECT_FALSE(create_from({{0, 0x2000, UINT64_MAX - 0xfff, 0}}).ok());
    // mmap_offset + memory_size overflows.
    EXPECT_FALSE(create_from({{0, 0x2000, 0x1000, UINT64_MAX - 0xfff}}).ok());
    // Ending exactly at 2^64 - 1 is fine in guest-physical space.
    auto top = create_from({{UINT64_MAX - 0x1fff, 0x1000, 0x1000, 0}});
    EXPECT_TRUE(top.ok());
}

TEST(GuestMemoryTest, RejectsOverlap) {
    // Guest-physical overlap by one byte.
    EXPECT_FALSE(create_from({{0, 0x2000, 0x100000, 0},
                              {0x1fff, 0x1000, 0x200000, 0}}).ok());
    // Frontend-virtual overlap by one byte.
    EXPECT_FALSE(create_from({{0, 0x2000, 0x100000, 0},
                              {0x10000, 0x1000, 0x101fff, 0}}).ok());
    // The later region's last byte is the earlier region's first.
    EXPECT_FALSE(create_from({{0x10000, 0x1000, 0x100000, 0},
                              {0xf001, 0x1000, 0x200000, 0}}).ok());
    EXPECT_FALSE(create_from({{0x10000, 0x1000, 0x100000, 0},
                              {0x20000, 0x1000, 0xff001, 0}}).ok());
    // One contains the other.
    EXPECT_FALSE(create_from({{0, 0x10000, 0x100000, 0},
                              {0x1000, 0x1000, 0x200000, 0}}).ok());
    // Adjacent in both spaces is fine.
    EXPECT_TRUE(create_from({{0, 0x2000, 0x100000, 0},
                             {0x2000, 0x1000, 0x102000, 0}}).ok());
}

TEST(GuestMemoryTest, RejectsAnFdSmallerThanTheRegion) {
    MemoryRegionSpec s{0, 0x4000, 0x100000, 0x1000};
    UniqueFd fd = GuestMemoryFixture::make_memfd(0x4fff);   // one byte short
    auto gm = GuestMemory::create(&s, &fd, 1);
    EXPECT_FALSE(gm.ok());
    EXPECT_FALSE(fd.valid());   // closed on failure
    UniqueFd fd2 = GuestMemoryFixture::make_memfd(0x5000);
    EXPECT_TRUE(GuestMemory::create(&s, &fd2, 1).ok());
    UniqueFd none;
    EXPECT_FALSE(GuestMemory::create(&s, &none, 1).ok());
}

TEST(GuestMemoryTest, RejectsAnEmptyFd) {
    // An empty memfd maps without error, but touching the mapping would raise
    // SIGBUS: the size check must not be skipped when st_size is 0.
    MemoryRegionSpec s{0, kMiB, 0x100000, 0};
    UniqueFd fd = GuestMemoryFixture::make_memfd(0);
    struct stat st;
    ASSERT_EQ(::fstat(fd.get(), &st), 0);
    ASSERT_EQ(st.st_size, 0);
    auto gm = GuestMemory::create(&s, &fd, 1);
    EXPECT_FALSE(gm.ok());
    EXPECT_FALSE(fd.valid());   // closed on failure
}

TEST(GuestMemoryTest, FailureClosesEveryFd) {
    MemoryRegionSpec specs[2] = {{0, 0x1000, 0x100000, 0},
                                 {0x800, 0x1000, 0x200000, 0}};   // overlap
    UniqueFd fds[2] = {GuestMemoryFixture::make_memfd(0x1000),
                       GuestMemoryFixture::make_memfd(0x1000)};
    EXPECT_FALSE(GuestMemory::create(specs, fds, 2).ok());
    EXPECT_FALSE(fds[0].valid());
    EXPECT_FALSE(fds[1].valid());
}

TEST(GuestMemoryTest, MovedFromTableTranslatesNothing) {
    GuestMemoryFixture mem;
    mem.add_region(0, kMiB);
    auto gm = mem.create_memory();
    ASSERT_TRUE(gm.ok());
    GuestMemory moved = std::move(gm.value());
    EXPECT_NE(moved.gpa_to_host(0, 1), nullptr);
    EXPECT_EQ(gm->gpa_to_host(0, 1), nullptr);   // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace nvh
