// SPDX-License-Identifier: Apache-2.0
// file_mapping_test.cpp: mappings of frontend files (memory/file_mapping.h)
// cover exactly what the kernel maps and are fully unmapped, on plain
// memfds and on hugetlbfs (MFD_HUGETLB), and only the range asked for; under
// mlockall they are neither populated nor locked.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "memory/dirty_log.h"
#include "memory/file_mapping.h"
#include "memory/guest_memory.h"

namespace nvh {
namespace {

constexpr uint64_t kHugePage = 2 << 20;

// Whether some mapping of this process starts at `p` (/proc/self/maps).
bool is_mapped(const void* p) {
    std::ifstream maps("/proc/self/maps");
    const uintptr_t want = reinterpret_cast<uintptr_t>(p);
    for (std::string line; std::getline(maps, line);) {
        if (std::stoull(line.substr(0, line.find('-')), nullptr, 16) == want) {
            return true;
        }
    }
    return false;
}

UniqueFd memfd(unsigned flags, uint64_t size) {
    UniqueFd fd(::memfd_create("nvh-file-mapping-test", flags));
    if (fd.valid() && ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        fd.reset();
    }
    return fd;
}

TEST(FileMapping, HugetlbfsRegionOfOnePageIsMappedAndUnmappedWhole) {
    UniqueFd fd = memfd(MFD_HUGETLB, kHugePage);
    ASSERT_TRUE(fd.valid()) << "no 2 MB huge page free (scripts/setup.sh reserves them)";
    void* start = nullptr;
    {
        // A 4 KiB region in a hugetlbfs file: the kernel maps a whole huge
        // page, and munmap must be given that length.
        Result<FileMapping> m = FileMapping::map(fd.get(), 4096, 4096, MappedFile::kMemoryRegion);
        ASSERT_TRUE(m.ok()) << m.error().what;
        EXPECT_EQ(m->mapped_bytes(), kHugePage);
        m->data()[0] = 1;   // Inside the mapping, at offset 4096.
        start = m->data() - 4096;
        EXPECT_TRUE(is_mapped(start));
    }
    EXPECT_FALSE(is_mapped(start)) << "the huge page mapping leaked";
}

TEST(FileMapping, PlainMemfdRegionIsRoundedToBasePages) {
    UniqueFd fd = memfd(0, 3 * 4096);
    ASSERT_TRUE(fd.valid());
    Result<FileMapping> m = FileMapping::map(fd.get(), 100, 5000, MappedFile::kMemoryRegion);
    ASSERT_TRUE(m.ok()) << m.error().what;
    EXPECT_EQ(m->mapped_bytes(), 2u * 4096);   // [0, 8192) holds [100, 5100).
}

TEST(FileMapping, RangePastTheEndOfTheFileIsRefused) {
    UniqueFd fd = memfd(0, 4096);
    ASSERT_TRUE(fd.valid());
    Result<FileMapping> m = FileMapping::map(fd.get(), 4000, 200, MappedFile::kDirtyLog);
    ASSERT_FALSE(m.ok());
    EXPECT_STREQ(m.error().what, "dirty log beyond the end of its fd");
    EXPECT_FALSE(FileMapping::map(fd.get(), UINT64_MAX - 10, 20, MappedFile::kDirtyLog).ok());
}

TEST(FileMapping, DirtyLogMapsOnlyItsOwnRange) {
    // A log at offset 64 MiB of a sparse file: the mapping takes one page,
    // not the 64 MiB before it.
    const uint64_t offset = 64 << 20;
    UniqueFd fd = memfd(0, offset + 4096);
    ASSERT_TRUE(fd.valid());
    Result<DirtyLog> log = DirtyLog::map(std::move(fd), 4096, offset);
    ASSERT_TRUE(log.ok()) << log.error().what;
    EXPECT_EQ(log->mapped_bytes(), 4096u);
    log->mark(0, 1);   // Writes inside the mapped page.
}

TEST(FileMapping, HugetlbfsMemoryTableIsUnmappedWhenReplaced) {
    // Every SET_MEM_TABLE with a small region in a hugetlbfs file maps a
    // whole huge page, which must be gone with the table.
    for (int i = 0; i < 8; i++) {
        UniqueFd fd = memfd(MFD_HUGETLB, kHugePage);
        ASSERT_TRUE(fd.valid()) << "round " << i << ": no 2 MB huge page free";
        const void* start = nullptr;
        {
            MemoryRegionSpec spec{0, 4096, 0x7f0000000000, 0};
            Result<MappedRegion> r = MappedRegion::map(spec, std::move(fd));
            ASSERT_TRUE(r.ok()) << r.error().what;
            EXPECT_EQ(r->mapped_bytes(), kHugePage);
            start = r->host_base();
            ASSERT_TRUE(is_mapped(start));
        }
        EXPECT_FALSE(is_mapped(start)) << "round " << i << ": the huge page mapping leaked";
    }
}

// Pages of [p, p + len) resident in this process's page tables (mincore).
size_t resident_pages(const void* p, size_t len) {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> vec((len + page - 1) / page);
    if (::mincore(const_cast<void*>(p), len, vec.data()) != 0) {
        return SIZE_MAX;
    }
    size_t n = 0;
    for (unsigned char v : vec) {
        n += v & 1;
    }
    return n;
}

// ovs-ctl starts ovs-vswitchd with --mlockall: mlockall(MCL_CURRENT |
// MCL_FUTURE).  A guest's memory mapped then must not be faulted in (nor
// allocated, for a sparse file) or locked: only the pages touched come in.
TEST(FileMapping, GuestMemoryIsNeitherPopulatedNorLockedUnderMlockall) {
    const uint64_t size = 256ull << 20;   // Sparse: nothing allocated yet.
    UniqueFd fd = memfd(0, size);
    ASSERT_TRUE(fd.valid());
    // MCL_FUTURE alone: the mappings made from now on, as under --mlockall,
    // without locking what the test process already has.
    ASSERT_EQ(::mlockall(MCL_FUTURE), 0)
        << "mlockall: " << std::strerror(errno) << " (needs root or RLIMIT_MEMLOCK)";
    Result<FileMapping> m = FileMapping::map(fd.get(), 0, size, MappedFile::kMemoryRegion);
    const int mapped_errno = errno;
    ::munlockall();
    ASSERT_TRUE(m.ok()) << m.error().what << ": " << std::strerror(mapped_errno);
    EXPECT_EQ(resident_pages(m->data(), size), 0u) << "the mapping was populated";
    m->data()[4096] = 1;
    m->data()[size - 1] = 2;
    EXPECT_EQ(resident_pages(m->data(), size), 2u);
    // Not locked: the VmLck of the process does not include it.
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmLck:", 0) == 0) {
            EXPECT_LT(std::stoull(line.substr(6)), size / 1024) << line;
        }
    }
}

}  // namespace
}  // namespace nvh
