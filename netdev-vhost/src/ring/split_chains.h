// SPDX-License-Identifier: Apache-2.0
// split_chains.h: the chains of a split virtqueue (virtio 1.2, 2.7) as a
// virtio-net burst takes and returns them.  The bursts (net/) are written
// once over this interface and PackedChains (packed_chains.h):
//
//   usable()                  the ring can be served
//   begin_transmit(max) / begin_receive(max)
//                             reads the driver's index once (and hints the
//                             burst's lines); false if that broke the ring
//   has_chain()               a chain is available
//   take_batch(&b) / untake_batch(placed)
//                             four one-buffer chains at once, and giving
//                             back the ones from `placed` on
//   take(&chain, &descs, fn)  walks the next chain with fn(walker)
//   mark() / rewind(mark)     gives back every chain taken since mark()
//   put_used(chain, len) / put_read(chain)
//                             returns a chain (bytes written / only read)
//
// Single-threaded: the caller holds the queue's AccessLock.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ring/chain.h"
#include "ring/split_ring.h"

namespace nvh {

class SplitChains {
public:
    using Mark = uint16_t;   // last_avail_idx

    explicit SplitChains(SplitRing& ring) : ring_(ring) {}

    bool usable() const { return ring_.attached() && !ring_.broken(); }
    const GuestMemory& memory() const { return ring_.memory(); }
    uint32_t num() const { return ring_.num(); }

    // The lines of as many chains as the last transmit burst took are
    // hinted before the index is read (SplitRing::prefetch_next_burst), the
    // rest after.
    bool begin_transmit(uint32_t max) {
        const uint16_t guessed =
            static_cast<uint16_t>(std::min<uint32_t>(ring_.last_burst(), max));
        ring_.prefetch_next_burst(guessed);
        if (!read_avail_index()) {
            return false;
        }
        const uint16_t chains = static_cast<uint16_t>(std::min<uint32_t>(max, available()));
        if (chains > guessed) {
            ring_.prefetch_burst(guessed, static_cast<uint16_t>(chains - guessed));
        }
        ring_.set_last_burst(chains);
        return true;
    }
    // Most packets take one chain: as many are hinted before the index is
    // read.
    bool begin_receive(uint32_t max) {
        ring_.prefetch_next_burst(static_cast<uint16_t>(max));
        return read_avail_index();
    }

    bool has_chain() const { return ring_.last_avail_idx() != avail_end_; }

    bool take_batch(ChainBatch* batch) {
        return available() >= ChainBatch::kSize && ring_.take_batch(batch);
    }
    void untake_batch(uint32_t placed) {
        ring_.untake_heads(static_cast<uint16_t>(ChainBatch::kSize - placed));
    }

    // Takes the next available chain and walks it with fn(walker), which
    // returns how the walk ended (WalkEnd).  Adds the descriptors read to
    // *descs.
    template <typename Fn>
    Take take(TakenChain* chain, uint64_t* descs, Fn&& fn) {
        const uint16_t head = ring_.take_head();
        // virtio 1.2, 2.7.6: a head out of range cannot be returned in the
        // used ring (2.7.8: id is a head index), so the ring is unusable.
        if (head >= ring_.num()) {
            UnreadableChainWalker walker;
            fn(walker);
            ring_.mark_broken();
            return Take::kRingBroken;
        }
        if (walk(head, descs, fn) == WalkEnd::kLeave) {
            ring_.untake_heads(1);
            return Take::kLeft;
        }
        *chain = {head, 1};
        return Take::kTaken;
    }

    Mark mark() const { return ring_.last_avail_idx(); }
    void rewind(Mark m) { ring_.rewind_avail(m); }

    // virtio 1.2, 2.7.8.2: len is the number of bytes written.
    void put_used(const TakenChain& chain, uint32_t len) { ring_.put_used(chain.id, len); }
    void put_read(const TakenChain& chain) { ring_.put_used(chain.id, 0); }

private:
    // One snapshot of avail->idx; false if it jumped (the ring is broken).
    bool read_avail_index() {
        const uint16_t count = ring_.avail_count();
        avail_end_ = static_cast<uint16_t>(ring_.last_avail_idx() + count);
        return !ring_.broken();
    }
    uint16_t available() const {
        return static_cast<uint16_t>(avail_end_ - ring_.last_avail_idx());
    }

    // fn(walker) on the chain at `head` (< the queue size): a
    // SingleBufferWalker when the chain is one direct descriptor, else a
    // ChainWalker that starts from the head already read.
    template <typename Fn>
    WalkEnd walk(uint16_t head, uint64_t* descs, Fn&& fn) {
        const virtio::SplitDesc first = ring_.head_desc(head);
        if (SplitRing::is_single_buffer(first)) {
            SingleBufferWalker walker(SplitRing::buffer_of(first));
            *descs += walker.descriptors_read();
            return fn(walker);
        }
        ChainWalker walker(ring_, head, first);
        const WalkEnd end = fn(walker);
        *descs += walker.descriptors_read();
        return end;
    }

    SplitRing& ring_;
    uint16_t avail_end_ = 0;   // avail->idx as read by begin_*().
};

}  // namespace nvh
