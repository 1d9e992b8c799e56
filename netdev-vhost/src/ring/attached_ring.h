// SPDX-License-Identifier: Apache-2.0
// attached_ring.h: what a ring of either layout (split_ring.h,
// packed_ring.h) holds while it is attached to guest memory: the memory and
// its dirty log, the queue size, the ring options negotiated, and whether
// the driver broke it.
//
// Single-threaded: the caller holds the queue's AccessLock.
#pragma once

#include <cstdint>

#include "base/virtio_spec.h"
#include "memory/dirty_log.h"
#include "memory/guest_memory.h"

namespace nvh {

class AttachedRing {
public:
    bool attached() const { return memory_ != nullptr; }
    bool broken() const { return broken_; }
    // The driver broke a ring rule that makes the queue unusable (an avail
    // index jump, a head or buffer id out of range, a chain whose extent
    // cannot be known): stop serving it until restarted.
    void mark_broken() { broken_ = true; }

    const GuestMemory& memory() const { return *memory_; }
    uint32_t num() const { return num_; }
    // VIRTIO_F_INDIRECT_DESC negotiated.
    bool indirect_allowed() const { return indirect_; }

protected:
    // `memory` and `log` outlive the attachment; `features` are the
    // negotiated ones.
    void attach_to(const GuestMemory* memory, uint32_t num, uint64_t features,
                   const WriteLog* log) {
        memory_ = memory;
        log_ = log;
        num_ = num;
        event_idx_ = virtio::has(features, virtio::kFEventIdx);
        indirect_ = virtio::has(features, virtio::kFIndirectDesc);
        broken_ = false;
    }
    void detach_from_memory() {
        memory_ = nullptr;
        log_ = nullptr;
    }

    const GuestMemory* memory_ = nullptr;
    const WriteLog* log_ = nullptr;   // Every write to the ring is noted here.
    uint32_t num_ = 0;
    bool event_idx_ = false;          // VIRTIO_F_EVENT_IDX negotiated.
    bool indirect_ = false;
    bool broken_ = false;
};

}  // namespace nvh
