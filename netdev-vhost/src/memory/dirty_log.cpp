// dirty_log.cpp: see dirty_log.h.
#include "memory/dirty_log.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <utility>

namespace nvh {

DirtyLog::~DirtyLog() {
    if (mapping_) {
        ::munmap(mapping_, mapping_len_);
    }
}

DirtyLog::DirtyLog(DirtyLog&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      mapping_len_(std::exchange(other.mapping_len_, 0)),
      bitmap_(std::exchange(other.bitmap_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

DirtyLog& DirtyLog::operator=(DirtyLog&& other) noexcept {
    if (this != &other) {
        if (mapping_) {
            ::munmap(mapping_, mapping_len_);
        }
        mapping_ = std::exchange(other.mapping_, nullptr);
        mapping_len_ = std::exchange(other.mapping_len_, 0);
        bitmap_ = std::exchange(other.bitmap_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

Result<DirtyLog> DirtyLog::map(UniqueFd fd, uint64_t size, uint64_t offset) {
    if (!fd.valid()) {
        return Error{EBADF, "dirty log without a file descriptor"};
    }
    if (size == 0 || size > kMaxSize) {
        return Error{EINVAL, "dirty log size outside 1..2^37 bytes"};
    }
    uint64_t end;
    if (__builtin_add_overflow(offset, size, &end) ||
        end > static_cast<uint64_t>(INT64_MAX)) {
        return Error{EINVAL, "dirty log offset + size overflows"};
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) {
        return Error{errno, "fstat of dirty log fd failed"};
    }
    // The same rule as for memory regions: the bitmap must lie inside the
    // file, or the first write to it raises SIGBUS.
    if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) < end) {
        return Error{EINVAL, "dirty log beyond the end of its fd"};
    }
    // Mapped from 0 so that any offset works, as QEMU and DPDK do
    // (QEMU sends 0).
    void* p = ::mmap(nullptr, static_cast<size_t>(end), PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) {
        return Error{errno, "mmap of dirty log failed"};
    }
    DirtyLog log;
    log.mapping_ = p;
    log.mapping_len_ = static_cast<size_t>(end);
    log.bitmap_ = static_cast<uint8_t*>(p) + offset;
    log.size_ = size;
    return log;
}

void DirtyLog::mark(uint64_t gpa, uint64_t len) const {
    if (len == 0) {
        return;
    }
    uint64_t last_byte;
    if (__builtin_add_overflow(gpa, len - 1, &last_byte)) {
        last_byte = UINT64_MAX;
    }
    const uint64_t last = last_byte / kPageSize;
    for (uint64_t page = gpa / kPageSize; page <= last; page++) {
        if (page / 8 >= size_) {
            return;
        }
        // The frontend clears bits with atomic exchanges while the guest
        // runs, so setting one is an atomic OR.  Release: the data written
        // before is visible to whoever sees the bit.
        std::atomic_ref<uint8_t>(bitmap_[page / 8])
            .fetch_or(static_cast<uint8_t>(1u << (page % 8)), std::memory_order_release);
    }
}

void WriteLog::note_slow(const uint8_t* p, uint64_t len) const {
    uint64_t gpa;
    if (memory_ != nullptr && memory_->host_to_gpa(p, &gpa)) {
        log_->mark(gpa, len);
    }
}

}  // namespace nvh
