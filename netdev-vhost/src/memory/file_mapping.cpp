// SPDX-License-Identifier: Apache-2.0
// file_mapping.cpp: see file_mapping.h.
#include "memory/file_mapping.h"

#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <utility>

namespace nvh {
namespace {

// The unit the kernel maps `fd` in: the huge page size on hugetlbfs (a
// hugetlbfs file or an MFD_HUGETLB memfd), else the base page size.
uint64_t mapping_page_size(int fd) {
    struct statfs fs;
    if (::fstatfs(fd, &fs) == 0 && static_cast<uint64_t>(fs.f_type) == HUGETLBFS_MAGIC &&
        fs.f_bsize > 0) {
        return static_cast<uint64_t>(fs.f_bsize);
    }
    return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

enum class Failure { kOverflow, kFstat, kShortFile, kTooLarge, kMmap };

Error fail(int err, MappedFile what, Failure why) {
    static constexpr const char* kRegion[] = {
        "memory region offset + size overflows", "fstat of memory region fd failed",
        "memory region beyond the end of its fd", "memory region too large to map",
        "mmap of memory region failed"};
    static constexpr const char* kLog[] = {
        "dirty log offset + size overflows", "fstat of dirty log fd failed",
        "dirty log beyond the end of its fd", "dirty log too large to map",
        "mmap of dirty log failed"};
    const auto i = static_cast<size_t>(why);
    return Error{err, what == MappedFile::kMemoryRegion ? kRegion[i] : kLog[i]};
}

}  // namespace

FileMapping::FileMapping(FileMapping&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      mapping_len_(std::exchange(other.mapping_len_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      guard_(std::move(other.guard_)) {}

FileMapping& FileMapping::operator=(FileMapping&& other) noexcept {
    if (this != &other) {
        unmap();
        mapping_ = std::exchange(other.mapping_, nullptr);
        mapping_len_ = std::exchange(other.mapping_len_, 0);
        data_ = std::exchange(other.data_, nullptr);
        guard_ = std::move(other.guard_);
    }
    return *this;
}

void FileMapping::unmap() {
    if (mapping_ != nullptr) {
        guard_.release();   // Before the range can be mapped to anything else.
        ::munmap(mapping_, mapping_len_);
        mapping_ = nullptr;
        mapping_len_ = 0;
        data_ = nullptr;
    }
}

Result<FileMapping> FileMapping::map(int fd, uint64_t offset, uint64_t len, MappedFile what,
                                     FaultFlag* fault_flag) {
    uint64_t end;
    if (len == 0 || __builtin_add_overflow(offset, len, &end) ||
        end > static_cast<uint64_t>(INT64_MAX)) {
        return fail(EINVAL, what, Failure::kOverflow);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        return fail(errno, what, Failure::kFstat);
    }
    // vhost-user.rst, "Memory region description" and VHOST_USER_SET_LOG_BASE:
    // the range is mapped from the fd, so it must lie inside the file.  The
    // files QEMU and DPDK share (memfd, hugetlbfs, tmpfs) report their size,
    // so st_size 0 is refused like any other short file.
    if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) < end) {
        return fail(EINVAL, what, Failure::kShortFile);
    }
    const uint64_t page = mapping_page_size(fd);
    const uint64_t start = offset & ~(page - 1);
    const uint64_t map_end = (end + page - 1) & ~(page - 1);   // end <= INT64_MAX
    const uint64_t map_len = map_end - start;
    if (map_len > SIZE_MAX) {
        return fail(EINVAL, what, Failure::kTooLarge);
    }
    // ovs-vswitchd runs under mlockall(MCL_CURRENT | MCL_FUTURE) when started
    // with --mlockall (ovs-ctl's default): every new mapping is then locked,
    // and a locked mapping is populated as it is made.  Mapped that way, all
    // of a guest's memory would be faulted in here, allocated if the guest
    // never touched it (or if the file is sparse: a frontend could make this
    // process allocate whatever size it declares) and counted in our RSS.  So
    // the range is mapped inaccessible, which the kernel does not populate,
    // unlocked, and only then opened: pages come in as the data path touches
    // them, and stay unlocked (they are the guest's, shared, not ours to pin).
    // Without mlockall the munlock() is a no-op.  (RLIMIT_MEMLOCK still
    // applies to the mmap() itself under MCL_FUTURE: ovs-vswitchd keeps
    // CAP_IPC_LOCK, also with --ovs-user.)
    void* p = ::mmap(nullptr, static_cast<size_t>(map_len), PROT_NONE, MAP_SHARED, fd,
                     static_cast<off_t>(start));
    if (p == MAP_FAILED) {
        return fail(errno, what, Failure::kMmap);
    }
    FileMapping m;
    m.mapping_ = p;
    m.mapping_len_ = static_cast<size_t>(map_len);
    if (::munlock(p, m.mapping_len_) != 0 ||
        ::mprotect(p, m.mapping_len_, PROT_READ | PROT_WRITE) != 0) {
        return fail(errno, what, Failure::kMmap);   // `m` unmaps.
    }
    m.data_ = static_cast<uint8_t*>(p) + (offset - start);
    // The size checked above holds only until the frontend changes the file
    // (docs/security.md, "Guest memory may vanish or fault at any time").
    Result<FaultGuard> guard = FaultGuard::watch(p, m.mapping_len_, static_cast<size_t>(page),
                                                 fault_flag);
    if (!guard) {
        return guard.error();   // `m` unmaps.
    }
    m.guard_ = std::move(guard).value();
    return m;
}

}  // namespace nvh
