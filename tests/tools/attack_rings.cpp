// SPDX-License-Identifier: Apache-2.0
// attack_rings.cpp: the ring-level attacks of vhost_user_attack: chains,
// descriptors and ring indexes a hostile guest writes, each checked against
// what the port must do with them (drop and count, or stop the queue).
#include <cstdio>
#include <cstring>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "attack_common.h"

namespace nvh::attack {

using vhost_user::Request;
using Seg = SplitRingDriver::Segment;

namespace {

// ---- Transmit chains (the port's receive side) ---------------------------

// A transmit chain of raw descriptors `descs` (next fields as given, the
// indexes taken from the free list in order: descs[i] goes to index
// base + i).  Returns the head.
uint16_t raw_chain(SplitGuest& g, std::vector<virtio::SplitDesc> descs) {
    std::vector<uint16_t> idx;
    for (size_t i = 0; i < descs.size(); i++) {
        int d = g.txq->alloc_desc();
        if (d < 0) {
            fail("no descriptor free");
        }
        idx.push_back(static_cast<uint16_t>(d));
    }
    for (size_t i = 0; i < descs.size(); i++) {
        virtio::SplitDesc d = descs[i];
        if ((d.flags & virtio::kDescFNext) && d.next < descs.size()) {
            d.next = idx[d.next];   // Relative to the chain; else as given.
        }
        g.txq->write_desc(idx[i], d);
    }
    return idx[0];
}

// A buffer in region 0 holding header + frame.
uint64_t frame_buffer(SplitGuest& g,
                      const std::vector<uint8_t>& hdr = std::vector<uint8_t>(kHeaderLen, 0)) {
    std::vector<uint8_t> bytes = hdr;
    std::vector<uint8_t> f = make_frame(7);
    bytes.insert(bytes.end(), f.begin(), f.end());
    uint64_t gpa = g.mem.alloc_in(0, bytes.size());
    g.mem.write(gpa, bytes);
    return gpa;
}

// The common shape of a transmit attack that the port drops and counts:
// valid frames first, the bad chain (it must come back with length 0:
// virtio 1.2, 2.7.8.2, nothing written), valid frames after it.
Attack tx_drop(std::function<uint16_t(SplitGuest&)> place, bool offloads = false) {
    return [=](Context& c) {
        SplitGuest g;
        g.set_up(c, true, offloads);
        g.exchange(2, 1);
        uint16_t head = place(g);
        g.publish(head);
        SplitRingDriver::Used u = g.wait_tx_used("the bad chain was not returned");
        if (u.id != head || u.len != 0) {
            fail("the bad chain came back with the wrong id or a length");
        }
        g.exchange(2, 2);
        note("bad chain returned empty; frames pass before and after");
        hold(c.fe);
    };
}

std::vector<uint8_t> header(uint8_t flags, uint8_t gso, uint16_t gso_size,
                            uint16_t csum_start, uint16_t csum_offset) {
    std::vector<uint8_t> h(kHeaderLen, 0);
    h[0] = flags;
    h[1] = gso;
    std::memcpy(&h[4], &gso_size, 2);
    std::memcpy(&h[6], &csum_start, 2);
    std::memcpy(&h[8], &csum_offset, 2);
    return h;
}

uint16_t header_chain(SplitGuest& g, std::vector<uint8_t> hdr) {
    uint64_t buf = frame_buffer(g, hdr);
    return raw_chain(g, {{buf, uint32_t(kHeaderLen + kFrameLen), 0, 0}});
}

uint16_t indirect_to(SplitGuest& g, uint64_t table, uint32_t len) {
    return raw_chain(g, {{table, len, virtio::kDescFIndirect, 0}});
}

// Stops the queue: nothing comes back; the counter shows it.
Attack tx_break(std::function<void(SplitGuest&)> place) {
    return [=](Context& c) {
        SplitGuest g;
        g.set_up(c);
        g.exchange(2, 1);
        place(g);
        g.kick_tx();
        note("placed; the ring is unusable now");
        hold(c.fe);
    };
}

// ---- Receive chains (the port's transmit side) ----------------------------

// A bad receive chain first, a valid one after it; one frame transmitted,
// which the bridge sends back: the bad chain comes back empty and the frame
// lands in the valid one.
Attack rx_drop(std::function<void(SplitGuest&)> place) {
    return [=](Context& c) {
        SplitGuest g;
        g.set_up(c);
        g.exchange(2, 1);
        place(g);
        if (g.rxq->add_rx({kBufferSize}) < 0 ||
            g.txq->add_tx(std::vector<uint8_t>(kHeaderLen, 0), make_frame(3)) < 0) {
            fail("no descriptor free");
        }
        g.kick_tx();
        SplitRingDriver::Used bad = g.wait_rx_used("the bad receive chain was not returned");
        if (bad.len != 0) {
            fail("the port wrote into a bad receive chain");
        }
        // The bad chain ended the port's receive burst (bounded work,
        // net/virtio_net.h): the frame it was meant for is dropped, the next
        // frame takes the next chain.
        if (g.txq->add_tx(std::vector<uint8_t>(kHeaderLen, 0), make_frame(4)) < 0) {
            fail("no descriptor free");
        }
        g.kick_tx();
        SplitRingDriver::Used u = g.wait_rx_used("the next frame was not delivered");
        if (!holds_frame(g.rxq->read_used(u), make_frame(4))) {
            fail("the frame after the bad receive chain came back changed");
        }
        note("bad receive chain returned empty and ended the burst; the next frame "
             "landed in the next chain");
        hold(c.fe);
    };
}

void race(Context& c) {
    SplitGuest g;
    g.set_up(c);
    g.exchange(2, 1);
    // One transmit descriptor, rewritten while the port reads it: its len
    // flips between a valid frame, a runt and a length past the region.
    int d = g.txq->alloc_desc();
    uint64_t buf = frame_buffer(g);
    const uint64_t desc_gpa =
        g.txq->addresses().desc_user_addr - GuestMemoryFixture::kUvaOffset;
    auto* len = reinterpret_cast<uint32_t*>(g.mem.host(desc_gpa + 16 * uint64_t(d) + 8));
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
        const uint32_t lens[3] = {uint32_t(kHeaderLen + kFrameLen), 4, 0x7fffffff};
        for (unsigned i = 0; !stop.load(std::memory_order_relaxed); i++) {
            std::atomic_ref<uint32_t>(*len).store(lens[i % 3], std::memory_order_relaxed);
        }
    });
    const int kFrames = 5000;
    for (int n = 0; n < kFrames; n++) {
        g.txq->write_desc(static_cast<uint16_t>(d),
                          {buf, uint32_t(kHeaderLen + kFrameLen), 0, 0});
        g.publish(static_cast<uint16_t>(d));
        SplitRingDriver::Used u = g.wait_tx_used("a raced chain was not returned");
        if (u.id != uint32_t(d)) {
            stop = true;
            flipper.join();
            fail("a raced chain came back with the wrong id");
        }
        // Frames that crossed come back on the receive ring: drain it.
        while (g.rxq->pop_used()) {
        }
    }
    stop = true;
    flipper.join();
    note("raced=%d", kFrames);
    g.exchange(2, 2);
    note("frames pass after the race");
    hold(c.fe);
}

// ---- Packed rings ---------------------------------------------------------

void packed_bad_id(Context& c) {
    PackedGuest g;
    g.set_up(c);
    g.exchange(2, 1);
    uint16_t slot = g.txq->next_avail();
    std::vector<uint8_t> bytes(kHeaderLen, 0);
    std::vector<uint8_t> f = make_frame(9);
    bytes.insert(bytes.end(), f.begin(), f.end());
    g.mem.write(g.txq->pool_buffer(slot), bytes);
    // virtio 1.2, 2.8.6: the buffer id is the driver's; 2.8 bounds ids by
    // the queue size.
    virtio::PackedDesc d{g.txq->pool_buffer(slot), uint32_t(bytes.size()), 1000, 0};
    if (!g.txq->add_raw(std::span<const virtio::PackedDesc>(&d, 1))) {
        fail("no room for the chain");
    }
    note("placed; the ring is unusable now");
    hold(c.fe);
}

void packed_wrap_confusion(Context& c) {
    PackedGuest g;
    g.set_up(c);
    g.exchange(2, 1);
    // The next slot with AVAIL and USED both set while the wrap counter is
    // 1: a used descriptor (virtio 1.2, 2.8.1), never available.
    uint16_t slot = g.txq->next_avail();
    virtio::PackedDesc d{g.txq->pool_buffer(slot), uint32_t(kHeaderLen + kFrameLen),
                         0, uint16_t((1u << 7) | (1u << 15))};
    std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(g.tx_desc(slot))).store(d.addr);
    std::memcpy(g.tx_desc(slot) + 8, &d.len, 4);
    std::memcpy(g.tx_desc(slot) + 12, &d.id, 2);
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(g.tx_desc(slot) + 14))
        .store(d.flags, std::memory_order_release);
    // Frames written properly into that slot afterwards still pass.
    g.exchange(2, 2);
    note("a descriptor of the wrong phase was ignored; frames pass");
    hold(c.fe);
}

// ---- The catalogue, in groups -------------------------------------------

// One cycle through all but a few descriptors (kept for the frames after
// it): the walk must end at the queue-size bound.
uint16_t chain_of_all_descriptors(SplitGuest& g) {
    uint64_t b = frame_buffer(g);
    std::vector<virtio::SplitDesc> d;
    size_t n = g.txq->free_descriptors() - 8;
    for (size_t i = 0; i < n; i++) {
        d.push_back({b, 1, virtio::kDescFNext, uint16_t((i + 1) % n)});
    }
    return raw_chain(g, d);
}

// Transmit chains of a bad shape, each dropped and counted.
std::vector<Entry> tx_chain_attacks() {
    return {
        // virtio 1.2, 2.7.5.2: no loops (DPDK CVE class: chain loops).
        {"chain_loop", tx_drop([](SplitGuest& g) {
             uint64_t b = frame_buffer(g);
             return raw_chain(g, {{b, 40, virtio::kDescFNext, 1},
                                  {b + 40, 36, virtio::kDescFNext, 0}});
         })},
        // virtio 1.2, 2.7.5: next indexes the table.
        {"next_out_of_range", tx_drop([](SplitGuest& g) {
             return raw_chain(g, {{frame_buffer(g), 76, virtio::kDescFNext, 300}});
         })},
        // virtio 1.2, 2.7.5.3.1: a chain is at most Queue Size long.
        {"chain_longer_than_ring", tx_drop(chain_of_all_descriptors)},
        // virtio 1.2, 2.7.5: addr/len name mapped guest memory (DPDK CVE
        // class: descriptor ranges only partly mapped).
        {"buffer_partly_unmapped", tx_drop([](SplitGuest& g) {
             return raw_chain(g, {{kRegionSize - 32, 76, 0, 0}});
         })},
        // virtio 1.2, 5.1.6.2: transmit buffers are device-readable (DPDK
        // does not check the direction).
        {"tx_writable_buffer", tx_drop([](SplitGuest& g) {
             return raw_chain(g, {{frame_buffer(g), 76, virtio::kDescFWrite, 0}});
         })},
        // virtio 1.2, 5.1.6.2: a chain of no more than the header.
        {"tx_runt", tx_drop([](SplitGuest& g) {
             return raw_chain(g, {{frame_buffer(g), kHeaderLen, 0, 0}});
         })},
    };
}

// virtio 1.2, 2.7.5.3: indirect tables (DPDK CVE class).
std::vector<Entry> indirect_attacks() {
    return {
        {"indirect_len_not_16", tx_drop([](SplitGuest& g) {
             return indirect_to(g, g.mem.alloc_in(0, 64), 40);
         })},
        {"indirect_nested", tx_drop([](SplitGuest& g) {
             uint64_t inner = g.mem.alloc_in(0, 16);
             uint64_t t = g.mem.alloc_in(0, 16);
             virtio::SplitDesc d{inner, 16, virtio::kDescFIndirect, 0};
             g.mem.write(t, std::span(reinterpret_cast<const uint8_t*>(&d), 16));
             return indirect_to(g, t, 16);
         })},
        {"indirect_too_long", tx_drop([](SplitGuest& g) {
             uint64_t t = g.mem.alloc_in(0, 16 * 2 * kRingSize);
             return indirect_to(g, t, 16 * 2 * kRingSize);
         })},
    };
}

// virtio 1.2, 2.7.4: the header may be split over descriptors (valid: 8
// frames with a header split 4+5+3 must pass).
void header_split_valid(Context& c) {
    SplitGuest g;
    g.set_up(c);
    const std::vector<uint8_t> hdr(kHeaderLen, 0);
    const uint32_t split[2] = {4, 5};
    for (int n = 0; n < 8; n++) {
        if (g.rxq->add_rx({kBufferSize}) < 0 ||
            g.txq->add_tx(hdr, make_frame(n), split) < 0) {
            fail("no descriptor free");
        }
    }
    g.kick_tx();
    for (int n = 0; n < 8; n++) {
        SplitRingDriver::Used u = g.wait_rx_used("split-header frame lost");
        if (!holds_frame(g.rxq->read_used(u), make_frame(n))) {
            fail("a split-header frame came back changed");
        }
    }
    note("8 frames with a header split 4+5+3 passed");
    hold(c.fe);
}

// virtio 1.2, 5.1.6.2.1: transmit header fields (DPDK CVE class: offload
// fields trusted).
std::vector<Entry> tx_header_attacks() {
    return {
        {"hdr_gso_not_negotiated", tx_drop([](SplitGuest& g) {
             return header_chain(g, header(0, virtio::kNetHdrGsoTcpv6, 1400, 0, 0));
         }, true)},
        {"hdr_gso_size_zero", tx_drop([](SplitGuest& g) {
             return header_chain(g, header(virtio::kNetHdrFNeedsCsum,
                                           virtio::kNetHdrGsoTcpv4, 0, 34, 16));
         }, true)},
        {"hdr_csum_past_frame", tx_drop([](SplitGuest& g) {
             return header_chain(g, header(virtio::kNetHdrFNeedsCsum, 0, 0, 60, 16));
         }, true)},
        {"hdr_data_valid", tx_drop([](SplitGuest& g) {
             return header_chain(g, header(virtio::kNetHdrFDataValid, 0, 0, 0, 0));
         }, true)},
        {"hdr_split_valid", header_split_valid},
    };
}

// virtio 1.2, 2.7.6: the available ring; each stops the queue.
std::vector<Entry> avail_ring_attacks() {
    return {
        // avail->idx runs at most Queue Size ahead.
        {"avail_jump", tx_break([](SplitGuest& g) {
             g.txq->set_avail_idx(static_cast<uint16_t>(g.txq->avail_idx() + kRingSize + 1));
         })},
        // ring[] holds heads below Queue Size.
        {"head_out_of_range", tx_break([](SplitGuest& g) {
             g.txq->make_available(static_cast<uint16_t>(kRingSize + 44));
         })},
    };
}

// virtio 1.2, 5.1.6.3.1: without MRG_RXBUF one chain must hold header and
// frame; 8 bytes cannot even hold the header.
void rx_too_small_for_header(Context& c) {
    SplitGuest g;
    g.set_up(c, false);
    g.exchange(2, 1);
    if (g.rxq->add_rx({8}) < 0 ||
        g.txq->add_tx(std::vector<uint8_t>(kHeaderLen, 0), make_frame(5)) < 0) {
        fail("no descriptor free");
    }
    g.kick_tx();
    g.wait_tx_used("the frame was not taken");
    note("frame sent towards an 8-byte receive buffer");
    hold(c.fe);
}

// virtio 1.2, 5.1.6.3: receive buffers are device-writable.
std::vector<Entry> rx_chain_attacks() {
    return {
        {"rx_readonly_buffer", rx_drop([](SplitGuest& g) {
             const Seg s{g.mem.alloc_in(0, kBufferSize), kBufferSize, false};
             g.rxq->add_chain(std::span(&s, 1));
         })},
        {"rx_partly_unmapped", rx_drop([](SplitGuest& g) {
             const Seg s{kRegionSize - 32, kBufferSize, true};
             g.rxq->add_chain(std::span(&s, 1));
         })},
        {"rx_too_small_for_header", rx_too_small_for_header},
    };
}

}  // namespace

const std::vector<Entry>& ring_attacks() {
    static const std::vector<Entry> list = joined({
        tx_chain_attacks(),
        indirect_attacks(),
        tx_header_attacks(),
        avail_ring_attacks(),
        rx_chain_attacks(),
        {
            // A descriptor rewritten while the port reads it (DPDK CVE
            // class: lengths read twice).
            {"race_len_flip", race},
            // virtio 1.2, 2.8: packed ring buffer ids and wrap counters.
            {"packed_bad_id", packed_bad_id},
            {"packed_wrap_confusion", packed_wrap_confusion},
        },
    });
    return list;
}

}  // namespace nvh::attack
