// SPDX-License-Identifier: Apache-2.0
// split_ring_driver.h: the DRIVER side of a split virtqueue (virtio 1.2,
// 2.7), written into a GuestMemoryFixture, for testing the device side.
//
//     GuestMemoryFixture mem;
//     mem.add_region(0, 8 << 20);
//     SplitRingDriver txq(mem, 256);          // desc/avail/used + buffers
//     txq.configure(vq);                      // set_num, set_addresses, set_base(0)
//     vq.start(memory, features); vq.set_enabled(true);
//     txq.add_tx(SplitRingDriver::net_header(12), frame);   // guest sends
//     ... net_dequeue_burst(vq, ...) ...
//     auto u = txq.pop_used();                // guest reaps
//
//     rxq.add_rx({2048});                     // guest posts a receive buffer
//     ... net_enqueue_burst(vq, ...) ...
//     auto u = rxq.pop_used();
//     auto bytes = rxq.read_used(*u);         // header + frame as written
//
// Every chain gets descriptors from a free list and, for add_tx/add_rx,
// buffers from a per-descriptor pool (buffer_size bytes per descriptor), so a
// small ring can carry any number of packets.  Chains are made available at
// once (avail->idx is published with a release store).  The raw helpers
// (write_desc, make_available, set_avail_idx) build broken rings.  A misuse
// (a piece larger than buffer_size, no room for the ring) is reported
// through frontend/failure.h and the call returns its error value.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "base/virtio_spec.h"
#include "ring/virtqueue.h"

namespace nvh::test {

class SplitRingDriver {
public:
    // One buffer of a chain: guest-physical address, length, device-writable.
    struct Segment {
        uint64_t gpa;
        uint32_t len;
        bool writable;
    };
    // One used element as the device returned it, with the chain's segments.
    struct Used {
        uint32_t id;
        uint32_t len;
        std::vector<Segment> segments;
    };

    // Lays out a ring of `num` entries (a power of two) in `mem`: descriptor
    // table, avail and used rings (zeroed), and num * buffer_size bytes of
    // buffers.  `mem` must outlive the driver.
    SplitRingDriver(GuestMemoryFixture& mem, uint16_t num,
                    uint32_t buffer_size = 16384);

    uint16_t num() const { return num_; }
    // Frontend-virtual ring addresses, as SET_VRING_ADDR carries them.
    VringAddresses addresses() const;
    // vq.set_num(num), vq.set_addresses(addresses()), vq.set_base(base).
    // Returns false if set_num fails.
    bool configure(Virtqueue& vq, uint16_t base = 0) const;

    // A virtio-net header of hdr_len (10 or 12) bytes, all zero.
    static std::vector<uint8_t> net_header(uint32_t hdr_len);

    // ---- Adding chains (return the head, or -1 if descriptors ran out) ----

    // Transmit: header followed by frame, device-readable.  `split` gives the
    // sizes of the first descriptors (e.g. {4, 8} puts 4 bytes, then 8, then
    // the rest in a third); empty = one descriptor.  Each piece must fit in
    // buffer_size.
    int add_tx(std::span<const uint8_t> header, std::span<const uint8_t> frame,
               std::span<const uint32_t> split = {});
    // Receive: one chain of device-writable buffers of the given sizes
    // (each <= buffer_size).
    int add_rx(std::span<const uint32_t> sizes);
    int add_rx(std::initializer_list<uint32_t> sizes) {
        return add_rx(std::span<const uint32_t>(sizes.begin(), sizes.size()));
    }
    // Any chain of segments the caller placed in guest memory.
    int add_chain(std::span<const Segment> segments);
    // One descriptor with VIRTQ_DESC_F_INDIRECT pointing at a table (in
    // fresh guest memory) holding `segments`.
    int add_indirect(std::span<const Segment> segments);

    // ---- Reaping -----------------------------------------------------------

    // The next used element if the device published one (used->idx read with
    // acquire); frees the chain's descriptors.
    std::optional<Used> pop_used();
    // The first `used.len` bytes the device wrote into the chain.
    std::vector<uint8_t> read_used(const Used& used) const;

    // ---- Ring fields -------------------------------------------------------

    void set_avail_flags(uint16_t flags);     // e.g. VIRTQ_AVAIL_F_NO_INTERRUPT
    void set_used_event(uint16_t idx);        // avail->ring[num] (EVENT_IDX)
    uint16_t used_flags() const;
    uint16_t avail_event() const;             // used->ring[num] (EVENT_IDX)
    uint16_t used_idx() const;
    uint16_t avail_idx() const { return avail_idx_; }
    size_t free_descriptors() const { return free_.size(); }

    // ---- Raw helpers for broken rings ---------------------------------------

    // Chains built with these are not tracked: pop_used() returns their used
    // elements (with no segments) but does not free their descriptors.

    // Takes a descriptor index from the free list (-1 if none).
    int alloc_desc();
    void write_desc(uint16_t index, const virtio::SplitDesc& desc);
    // Puts `head` in the next avail slot and publishes avail->idx + 1.
    void make_available(uint16_t head);
    // Stores avail->idx directly (e.g. a jump past the queue size).
    void set_avail_idx(uint16_t idx);
    // Before the device starts: the driver's avail and used indexes begin
    // at `base` (as after a VHOST_USER_SET_VRING_BASE of `base`).
    void rebase(uint16_t base);
    // Guest-physical address of descriptor i's pool buffer.
    uint64_t pool_buffer(uint16_t i) const { return pool_ + uint64_t{i} * buffer_size_; }
    uint32_t buffer_size() const { return buffer_size_; }

private:
    // Host address of a ring part (scratch memory if the ring has none).
    uint8_t* host(uint64_t gpa, size_t off) const;
    uint8_t* avail_host(size_t off) const;
    uint8_t* used_host(size_t off) const;
    int link_chain(std::span<const Segment> segments, std::vector<uint16_t>* descs);
    // Whether every size fits a pool buffer; reports `what` if not.
    bool fits_pool(std::span<const uint32_t> sizes, const char* what) const;

    GuestMemoryFixture& mem_;
    uint16_t num_;
    uint32_t buffer_size_;
    uint64_t desc_gpa_, avail_gpa_, used_gpa_, pool_;
    uint16_t avail_idx_ = 0;
    uint16_t last_used_ = 0;
    std::vector<uint16_t> free_;                       // Free descriptors.
    std::vector<std::vector<uint16_t>> chain_descs_;   // By head.
    std::vector<std::vector<Segment>> chain_segs_;     // By head.
    std::vector<uint8_t> scratch_;   // The ring, when guest memory had no room.
};

}  // namespace nvh::test
