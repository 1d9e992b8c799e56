// SPDX-License-Identifier: Apache-2.0
// dirty_log.cpp: see dirty_log.h.
#include "memory/dirty_log.h"

#include <atomic>
#include <cerrno>
#include <utility>

namespace nvh {

Result<DirtyLog> DirtyLog::map(UniqueFd fd, uint64_t size, uint64_t offset,
                               uint64_t max_size, FaultFlag* fault_flag) {
    if (!fd.valid()) {
        return Error{EBADF, "dirty log without a file descriptor"};
    }
    if (size == 0 || size > max_size) {
        return Error{E2BIG, "dirty log size 0 or larger than the device's max-guest-memory needs"};
    }
    // The same rule as for memory regions: the bitmap must lie inside the
    // file, or the first write to it raises SIGBUS (and if the frontend
    // truncates it later, the SIGBUS guard takes the fault).  Only the
    // bitmap's own range is mapped, whatever the offset (QEMU sends 0).
    Result<FileMapping> m =
        FileMapping::map(fd.get(), offset, size, MappedFile::kDirtyLog, fault_flag);
    if (!m) {
        return m.error();
    }
    DirtyLog log;
    log.mapping_ = std::move(m).value();
    log.bitmap_ = log.mapping_.data();
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
