// SPDX-License-Identifier: Apache-2.0
// dirty_log.h: dirty-page logging for live migration (vhost-user.rst,
// "Migration"; VHOST_F_LOG_ALL, VHOST_USER_SET_LOG_BASE with
// VHOST_USER_PROTOCOL_F_LOG_SHMFD).
//
// While the frontend migrates the guest it copies guest memory in passes and
// needs to know which pages the backend wrote since the last pass.  It
// shares a bitmap (the log): one bit per 4 KiB page of guest-physical
// memory, bit (page % 8) of byte (page / 8).  Every write the device makes
// into guest memory (receive buffers, used ring entries and indexes, packed
// descriptors, event suppression areas) sets the bits of its pages, after
// the write, so that a pass that clears a bit and then copies the page never
// misses the data.
//
// DirtyLog owns the mapping of the shared bitmap (control thread);
// WriteLog is the data path's view of it (see Virtqueue).
#pragma once

#include <cstddef>
#include <cstdint>

#include "memory/file_mapping.h"
#include "memory/guest_memory.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace nvh {

class DirtyLog {
public:
    // VHOST_LOG_PAGE (vhost-user.rst, "Migration"): the log's granularity.
    static constexpr uint64_t kPageSize = 0x1000;
    // Largest log accepted: 2^37 bytes covers 2^52 bytes of guest memory,
    // more than any x86-64 guest-physical address space.
    static constexpr uint64_t kMaxSize = uint64_t{1} << 37;

    // Maps the log of VHOST_USER_SET_LOG_BASE: `size` bytes at `offset` in
    // `fd` (closed once mapped).  Fails if size is 0 or above kMaxSize, if
    // offset + size overflows, or if the fd is shorter than offset + size
    // (mapping past the end of a file would raise SIGBUS on first write).
    // Only [offset, offset + size) is mapped (memory/file_mapping.h).  A
    // later SIGBUS in the log (the frontend truncated it) sets *fault_flag
    // (if not null; memory/fault_guard.h), which must outlive the log.
    static Result<DirtyLog> map(UniqueFd fd, uint64_t size, uint64_t offset,
                                uint64_t max_size = kMaxSize, FaultFlag* fault_flag = nullptr);
    // The largest log a guest of at most `max_guest_memory` bytes needs: a
    // bit per page, twice over for the holes of a guest-physical layout,
    // and never less than 1 MiB or more than kMaxSize.
    static uint64_t max_size_for(uint64_t max_guest_memory) {
        const uint64_t bytes = max_guest_memory / (kPageSize * 8) * 2;
        return bytes < (uint64_t{1} << 20) ? uint64_t{1} << 20 : bytes > kMaxSize ? kMaxSize : bytes;
    }

    uint64_t size() const { return size_; }
    // Sets the bits of every page of guest-physical [gpa, gpa + len).
    // Pages past the end of the log are not recorded: the frontend sized it
    // for the guest's memory, so only a frontend that lied about one or the
    // other gets them, and nothing is written outside the mapping.
    void mark(uint64_t gpa, uint64_t len) const;
    // Bytes of address space the log's mapping takes.
    size_t mapped_bytes() const { return mapping_.mapped_bytes(); }

private:
    FileMapping mapping_;
    uint8_t* bitmap_ = nullptr;
    uint64_t size_ = 0;
};

// The data path's view: while the frontend asks for logging, the log and the
// memory table that turns host addresses back into guest-physical ones.
// Changed by the control thread only under the queue's AccessLock.
class WriteLog {
public:
    void set_log(const DirtyLog* log) { log_ = log; }
    void set_memory(const GuestMemory* memory) { memory_ = memory; }
    bool active() const { return log_ != nullptr && memory_ != nullptr; }

    // Records a write the device just made to host [p, p + len), which lies
    // inside one region of the memory table.  One predictable branch when
    // logging is off.
    void note(const uint8_t* p, uint64_t len) const {
        if (__builtin_expect(log_ != nullptr, 0)) {
            note_slow(p, len);
        }
    }

private:
    void note_slow(const uint8_t* p, uint64_t len) const;

    const DirtyLog* log_ = nullptr;
    const GuestMemory* memory_ = nullptr;
};

}  // namespace nvh
