// SPDX-License-Identifier: Apache-2.0
// fault_guard.h: survives SIGBUS in guest memory.
//
// Guest memory regions (VHOST_USER_SET_MEM_TABLE) and the dirty log
// (VHOST_USER_SET_LOG_BASE) are shared mappings of files the frontend sent.
// FileMapping checks their size when it maps them, but the frontend keeps
// the files: it can truncate one afterwards, hand a sparse file on a full
// tmpfs (a write into a hole then finds no page to allocate), or punch a
// hole in a hugetlbfs file whose pool is exhausted.  The next access to such
// a page, by a PMD thread or the control thread, raises SIGBUS, which by
// default kills the whole switch (docs/security.md, "Guest memory may
// vanish or fault at any time").
//
// Every FileMapping is therefore registered here.  A process-wide SIGBUS
// handler looks the faulting address up; inside a registered mapping it
// replaces the faulting page (a whole page of the mapping's page size) with
// anonymous zero memory, so that the access completes harmlessly when the
// handler returns, sets the owner's FaultFlag and counts the fault.  The
// owner (the device) stops serving the memory when it sees the flag and
// closes the connection; the mapping, zero page included, is unmapped with
// the memory table as usual.  A SIGBUS anywhere else goes to the action that
// was installed before, or kills the process as it would have without this
// handler (fault_guard.cpp documents the chaining).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/result.h"

namespace nvh {

// Set (release) by the SIGBUS handler when a mapping registered with it
// faulted.  Owned by whoever owns the mappings, and outlives them.
using FaultFlag = std::atomic<bool>;
static_assert(FaultFlag::is_always_lock_free, "set from a signal handler");

// The registration of one mapping, owned: released (before the munmap) by
// its destructor.  Control thread (or whichever thread maps and unmaps);
// registration takes a mutex that the signal handler never takes.
class FaultGuard {
public:
    // Most mappings registered at once, process-wide: a device holds up to
    // 8 regions and a dirty log, twice while a table is being replaced.
    static constexpr size_t kMaxMappings = 4096;

    FaultGuard() = default;
    ~FaultGuard() { release(); }
    FaultGuard(FaultGuard&& other) noexcept;
    FaultGuard& operator=(FaultGuard&& other) noexcept;
    FaultGuard(const FaultGuard&) = delete;
    FaultGuard& operator=(const FaultGuard&) = delete;

    // Registers [start, start + length), mapped in pages of `page_size` (a
    // power of two; start is aligned to it), installing the SIGBUS handler
    // on first use (and again if something replaced it).  A fault inside
    // sets *owner if owner is not null.  Fails if every slot is taken or
    // the handler cannot be installed: then the mapping must not be used.
    static Result<FaultGuard> watch(const void* start, size_t length, size_t page_size,
                                    FaultFlag* owner);

    bool watching() const { return slot_ != kNoSlot; }
    // Stops watching; the mapping may be unmapped afterwards.
    void release();

private:
    static constexpr size_t kNoSlot = ~size_t{0};
    explicit FaultGuard(size_t slot) : slot_(slot) {}
    size_t slot_ = kNoSlot;
};

// Pages of guest memory replaced after a SIGBUS, process-wide, ever.
uint64_t guest_memory_faults();

}  // namespace nvh
