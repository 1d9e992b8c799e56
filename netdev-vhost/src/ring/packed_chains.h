// SPDX-License-Identifier: Apache-2.0
// packed_chains.h: the chains of a packed virtqueue (virtio 1.2, 2.8) as a
// virtio-net burst takes and returns them; the same interface as
// SplitChains (split_chains.h, which lists it).  Availability is read per
// slot (the descriptor's flags against the driver's wrap counter), chains
// sit in consecutive slots, a used descriptor carries the buffer id and
// skips the chain's slots, and giving chains back restores the avail
// cursor.
//
// Single-threaded: the caller holds the queue's AccessLock.
#pragma once

#include <cstdint>

#include "base/virtio_spec.h"
#include "ring/chain.h"
#include "ring/packed_ring.h"

namespace nvh {

class PackedChains {
public:
    using Mark = PackedRing::Cursor;

    // `features`: the negotiated ones (VIRTIO_F_IN_ORDER, put_read()).
    PackedChains(PackedRing& ring, uint64_t features)
        : ring_(ring), in_order_(virtio::has(features, virtio::kFInOrder)) {}

    bool usable() const { return ring_.attached() && !ring_.broken(); }
    const GuestMemory& memory() const { return ring_.memory(); }
    uint32_t num() const { return ring_.num(); }

    // A burst's chains sit in consecutive slots: hinted once the first is
    // available.  No index to read, so the ring cannot break here.
    bool begin_transmit(uint32_t max) {
        if (ring_.head_available()) {
            ring_.prefetch_descs(max, false);
        }
        return true;
    }
    // Each chain a receive burst takes is written back in its slot (len,
    // id, flags): its lines are hinted for writing.  Measured: about 8 %
    // fewer cycles per packet on a 64 B packed chain (docs/performance.md).
    bool begin_receive(uint32_t max) {
        if (ring_.head_available()) {
            ring_.prefetch_descs(max, true);
        }
        return true;
    }

    bool has_chain() const { return ring_.head_available(); }

    bool take_batch(ChainBatch* batch) {
        batch_start_ = ring_.avail_cursor();
        return ring_.take_batch(batch);
    }
    void untake_batch(uint32_t placed) {
        if (placed < ChainBatch::kSize) {
            Mark back = batch_start_;
            back.idx = static_cast<uint16_t>(back.idx + placed);   // No wrap in a batch.
            ring_.restore_avail(back);
        }
    }

    // Walks the chain at the avail cursor with fn(walker), which returns
    // how the walk ended (WalkEnd); a chain the walk stopped in is read to
    // its end to learn its id and extent.  Adds the descriptors read to
    // *descs.
    template <typename Fn>
    Take take(TakenChain* chain, uint64_t* descs, Fn&& fn) {
        PackedChainWalker walker(ring_);
        const WalkEnd end = fn(walker);
        if (end == WalkEnd::kLeave) {
            *descs += walker.descriptors_read();
            return Take::kLeft;
        }
        const bool extent_known = end == WalkEnd::kComplete || walker.skip_rest();
        *descs += walker.descriptors_read();
        // virtio 1.2, 2.8.6: a chain longer than the queue, or a buffer id
        // out of range, cannot be returned: the ring is unusable.
        if (!extent_known) {
            ring_.mark_broken();
            return Take::kRingBroken;
        }
        walker.commit();
        *chain = {walker.id(), walker.ring_descs()};
        return Take::kTaken;
    }

    Mark mark() const { return ring_.avail_cursor(); }
    void rewind(Mark m) { ring_.restore_avail(m); }

    // virtio 1.2, 2.8.4: len is the number of bytes written.
    void put_used(const TakenChain& chain, uint32_t len) {
        ring_.put_used(chain.id, len, chain.ring_descs);
    }
    // A chain the device only read: with IN_ORDER, the burst's one used
    // descriptor names it (PackedRing::put_used_in_order).
    void put_read(const TakenChain& chain) {
        if (in_order_) {
            ring_.put_used_in_order(chain.id, chain.ring_descs);
        } else {
            ring_.put_used(chain.id, 0, chain.ring_descs);
        }
    }

private:
    PackedRing& ring_;
    const bool in_order_;
    Mark batch_start_;   // The avail cursor before the last take_batch().
};

}  // namespace nvh
