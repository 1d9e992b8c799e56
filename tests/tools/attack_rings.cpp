// attack_rings.cpp: the guest of vhost_user_attack (valid rings, frames
// through the bridge's hairpin flow) and its ring-level attacks.
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "attack_common.h"

namespace nvh::attack {

using vhost_user::Request;
using Seg = SplitRingDriver::Segment;

void fail(const char* what) {
    std::fprintf(stderr, "vhost_user_attack: %s\n", what);
    std::exit(1);
}

void note(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::vprintf(fmt, ap);
    va_end(ap);
    std::printf("\n");
    std::fflush(stdout);
}

std::vector<uint8_t> make_frame(int n) {
    std::vector<uint8_t> f(kFrameLen, 0);
    const uint8_t head[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5};
    std::memcpy(f.data(), head, sizeof head);
    std::memcpy(f.data() + 14, &n, sizeof n);
    for (size_t i = 18; i < f.size(); i++) {
        f[i] = static_cast<uint8_t>(i + n);
    }
    return f;
}

namespace {

using Clock = std::chrono::steady_clock;

bool past(Clock::time_point deadline) { return Clock::now() > deadline; }
Clock::time_point deadline() {
    return Clock::now() + std::chrono::milliseconds(kTimeoutMs);
}
void pause() { std::this_thread::sleep_for(std::chrono::microseconds(200)); }

template <typename Ring>
void set_up_rings(Context& c, GuestMemoryFixture& mem, Ring& rxq, Ring& txq,
                  UniqueFd* kick, UniqueFd* call, uint64_t features,
                  uint32_t base) {
    if (!c.fe.negotiate(features, virtio::bit(vhost_user::kProtocolFReplyAck)) ||
        !c.fe.send_mem_table(mem)) {
        fail("negotiation failed");
    }
    Ring* rings[2] = {&rxq, &txq};
    for (uint32_t i = 0; i < 2; i++) {
        if (!c.fe.set_vring_state(Request::kSetVringNum, i, rings[i]->num()) ||
            !c.fe.set_vring_state(Request::kSetVringBase, i, base) ||
            !c.fe.set_vring_addr(i, rings[i]->addresses()) ||
            !c.fe.set_vring_fd(Request::kSetVringCall, i, call[i].get()) ||
            !c.fe.set_vring_fd(Request::kSetVringKick, i, kick[i].get()) ||
            !c.fe.set_vring_state(Request::kSetVringEnable, i, 1)) {
            fail("vring set-up failed");
        }
    }
}

void make_fds(UniqueFd* kick, UniqueFd* call) {
    for (int i = 0; i < 2; i++) {
        kick[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        call[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!kick[i] || !call[i]) {
            fail("eventfd failed");
        }
    }
}

// Waits for `n` frames back on the receive ring, each intact.
template <typename Ring>
void exchange_on(Ring& rxq, Ring& txq, const UniqueFd& kick, int frames, int tag) {
    const std::vector<uint8_t> header(kHeaderLen, 0);
    std::vector<std::vector<uint8_t>> sent;
    for (int n = 0; n < frames; n++) {
        if (rxq.add_rx({kBufferSize}) < 0) {
            fail("no receive descriptor free");
        }
    }
    for (int n = 0; n < frames; n++) {
        sent.push_back(make_frame(tag * 100 + n));
        if (txq.add_tx(header, sent.back()) < 0) {
            fail("no transmit descriptor free");
        }
    }
    uint64_t one = 1;
    (void)!::write(kick.get(), &one, sizeof one);
    int got_tx = 0, got_rx = 0;
    auto end = deadline();
    while (got_tx < frames || got_rx < frames) {
        if (txq.pop_used()) {
            got_tx++;
        } else if (auto u = rxq.pop_used()) {
            std::vector<uint8_t> bytes = rxq.read_used(*u);
            if (got_rx >= frames || bytes.size() != kHeaderLen + kFrameLen ||
                std::memcmp(bytes.data() + kHeaderLen, sent[got_rx].data(),
                            kFrameLen) != 0) {
                fail("a received frame is not the one sent");
            }
            got_rx++;
        } else if (past(end)) {
            fail(got_tx < frames ? "transmitted frames not taken"
                                 : "frames not returned");
        } else {
            pause();
        }
    }
}

}  // namespace

uint64_t guest_features(bool mrg_rxbuf, bool packed, bool offloads, uint64_t offered) {
    uint64_t f = virtio::bit(virtio::kFVersion1) |
                 virtio::bit(virtio::kFProtocolFeatures) |
                 virtio::bit(virtio::kFIndirectDesc);
    if (mrg_rxbuf) {
        f |= virtio::bit(virtio::kNetFMrgRxbuf);
    }
    if (packed) {
        f |= virtio::bit(virtio::kFRingPacked);
    }
    if (offloads) {
        // VIRTIO_NET_F_CSUM and HOST_TSO4 when offered; never HOST_TSO6.
        // Without CSUM this guest takes HOST_TSO4 anyway, against virtio
        // 1.2, 5.1.3.1: with no transmit offload at all the port does not
        // read transmit headers, and the header attacks are meant to reach
        // the port's header rules.
        f |= offered & (virtio::bit(virtio::kNetFCsum) |
                        virtio::bit(virtio::kNetFHostTso4));
    }
    return f;
}

SplitGuest::SplitGuest() {
    mem.add_region(0, kRegionSize);
    mem.add_region(4 * kRegionSize, kRegionSize);
    rxq = std::make_unique<SplitRingDriver>(mem, kRingSize, kBufferSize);
    txq = std::make_unique<SplitRingDriver>(mem, kRingSize, kBufferSize);
    make_fds(kick, call);
}

void SplitGuest::set_up(Context& c, bool mrg_rxbuf, bool offloads) {
    // The offered set is only known after GET_FEATURES: with offloads, the
    // port's fixed offer (docs/features.md) decides.
    // (HOST_TSO4 is offered either way, usable only with TSO's CSUM.)
    uint64_t offered = virtio::bit(virtio::kNetFHostTso4);
    if (offloads && c.tso) {
        offered |= virtio::bit(virtio::kNetFCsum);
    }
    features = guest_features(mrg_rxbuf, false, offloads, offered);
    set_up_rings(c, mem, *rxq, *txq, kick, call, features, 0);
}

void SplitGuest::kick_tx() {
    uint64_t one = 1;
    (void)!::write(kick[1].get(), &one, sizeof one);
}

void SplitGuest::exchange(int frames, int tag) {
    exchange_on(*rxq, *txq, kick[1], frames, tag);
}

SplitRingDriver::Used SplitGuest::wait_tx_used(const char* what) {
    auto end = deadline();
    for (;;) {
        if (auto u = txq->pop_used()) {
            return *u;
        }
        if (past(end)) {
            fail(what);
        }
        pause();
    }
}

SplitRingDriver::Used SplitGuest::wait_rx_used(const char* what) {
    auto end = deadline();
    for (;;) {
        if (auto u = rxq->pop_used()) {
            return *u;
        }
        if (past(end)) {
            fail(what);
        }
        pause();
    }
}

void SplitGuest::publish(uint16_t head) {
    txq->make_available(head);
    kick_tx();
}

PackedGuest::PackedGuest() {
    mem.add_region(0, kRegionSize);
    mem.add_region(4 * kRegionSize, kRegionSize);
    rxq = std::make_unique<PackedRingDriver>(mem, kRingSize, kBufferSize);
    txq = std::make_unique<PackedRingDriver>(mem, kRingSize, kBufferSize);
    make_fds(kick, call);
}

void PackedGuest::set_up(Context& c) {
    // vhost-user.rst, SET_VRING_BASE for packed rings: bit 15 is the wrap
    // counter, which starts at 1 (virtio 1.2, 2.8.1).
    set_up_rings(c, mem, *rxq, *txq, kick, call,
                 guest_features(true, true, false, 0), 0x8000);
}

void PackedGuest::exchange(int frames, int tag) {
    exchange_on(*rxq, *txq, kick[1], frames, tag);
}

uint8_t* PackedGuest::tx_desc(uint16_t slot) const {
    uint64_t gpa = txq->addresses().desc_user_addr - GuestMemoryFixture::kUvaOffset;
    return mem.host(gpa + 16 * uint64_t{slot});
}

void hold(VhostUserFrontend& fe) {
    note("holding the connection until the port closes it");
    // No bound: the test ends it ("vhostuserclient/reconnect"), or kills us.
    while (!fe.wait_peer_closed(kTimeoutMs)) {
    }
    note("the port closed the connection");
}

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
uint64_t frame_buffer(SplitGuest& g, const std::vector<uint8_t>& hdr) {
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
        SplitRingDriver::Used u = g.wait_rx_used("the frame was not delivered");
        std::vector<uint8_t> bytes = g.rxq->read_used(u);
        std::vector<uint8_t> f = make_frame(3);
        if (bytes.size() != kHeaderLen + kFrameLen ||
            std::memcmp(bytes.data() + kHeaderLen, f.data(), kFrameLen) != 0) {
            fail("the frame after the bad receive chain came back changed");
        }
        note("bad receive chain returned empty; the frame landed in the next one");
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
    uint64_t buf = frame_buffer(g, std::vector<uint8_t>(kHeaderLen, 0));
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

}  // namespace

const std::vector<Entry>& ring_attacks() {
    static const std::vector<Entry> list = {
        // virtio 1.2, 2.7.5.2: no loops (DPDK CVE class: chain loops).
        {"chain_loop", tx_drop([](SplitGuest& g) {
             uint64_t b = frame_buffer(g, std::vector<uint8_t>(kHeaderLen, 0));
             return raw_chain(g, {{b, 40, virtio::kDescFNext, 1},
                                  {b + 40, 36, virtio::kDescFNext, 0}});
         })},
        // virtio 1.2, 2.7.5: next indexes the table.
        {"next_out_of_range", tx_drop([](SplitGuest& g) {
             uint64_t b = frame_buffer(g, std::vector<uint8_t>(kHeaderLen, 0));
             return raw_chain(g, {{b, 76, virtio::kDescFNext, 300}});
         })},
        // virtio 1.2, 2.7.5.3.1: a chain is at most Queue Size long.
        {"chain_longer_than_ring", tx_drop([](SplitGuest& g) {
             uint64_t b = frame_buffer(g, std::vector<uint8_t>(kHeaderLen, 0));
             std::vector<virtio::SplitDesc> d;
             // All but a few descriptors (kept for the frames after it) in
             // one cycle: the walk ends at the queue-size bound.
             size_t n = g.txq->free_descriptors() - 8;
             for (size_t i = 0; i < n; i++) {
                 d.push_back({b, 1, virtio::kDescFNext, uint16_t((i + 1) % n)});
             }
             return raw_chain(g, d);
         })},
        // virtio 1.2, 2.7.5: addr/len name mapped guest memory (DPDK CVE
        // class: descriptor ranges only partly mapped).
        {"buffer_partly_unmapped", tx_drop([](SplitGuest& g) {
             uint64_t b = kRegionSize - 32;
             return raw_chain(g, {{b, 76, 0, 0}});
         })},
        // virtio 1.2, 2.7.5.3: indirect tables (DPDK CVE class).
        {"indirect_len_not_16", tx_drop([](SplitGuest& g) {
             uint64_t t = g.mem.alloc_in(0, 64);
             return indirect_to(g, t, 40);
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
        // virtio 1.2, 5.1.6.2: transmit buffers are device-readable (DPDK
        // does not check the direction).
        {"tx_writable_buffer", tx_drop([](SplitGuest& g) {
             uint64_t b = frame_buffer(g, std::vector<uint8_t>(kHeaderLen, 0));
             return raw_chain(g, {{b, 76, virtio::kDescFWrite, 0}});
         })},
        // virtio 1.2, 5.1.6.2.1: header fields (DPDK CVE class: offload
        // fields trusted).
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
        // virtio 1.2, 5.1.6.2: a chain of no more than the header.
        {"tx_runt", tx_drop([](SplitGuest& g) {
             uint64_t b = frame_buffer(g, std::vector<uint8_t>(kHeaderLen, 0));
             return raw_chain(g, {{b, kHeaderLen, 0, 0}});
         })},
        // virtio 1.2, 2.7.4: the header may be split over descriptors
        // (valid: must pass).
        {"hdr_split_valid", [](Context& c) {
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
                 std::vector<uint8_t> bytes = g.rxq->read_used(u);
                 std::vector<uint8_t> f = make_frame(n);
                 if (bytes.size() != kHeaderLen + kFrameLen ||
                     std::memcmp(bytes.data() + kHeaderLen, f.data(), kFrameLen) != 0) {
                     fail("a split-header frame came back changed");
                 }
             }
             note("8 frames with a header split 4+5+3 passed");
             hold(c.fe);
         }},
        // virtio 1.2, 2.7.6: avail->idx runs at most Queue Size ahead
        // (queue stopped).
        {"avail_jump", tx_break([](SplitGuest& g) {
             g.txq->set_avail_idx(static_cast<uint16_t>(g.txq->avail_idx() + kRingSize + 1));
         })},
        // virtio 1.2, 2.7.6: ring[] holds heads below Queue Size (stopped).
        {"head_out_of_range", tx_break([](SplitGuest& g) {
             g.txq->make_available(static_cast<uint16_t>(kRingSize + 44));
         })},
        // virtio 1.2, 5.1.6.3: receive buffers are device-writable.
        {"rx_readonly_buffer", rx_drop([](SplitGuest& g) {
             uint64_t b = g.mem.alloc_in(0, kBufferSize);
             const Seg s{b, kBufferSize, false};
             g.rxq->add_chain(std::span(&s, 1));
         })},
        {"rx_partly_unmapped", rx_drop([](SplitGuest& g) {
             const Seg s{kRegionSize - 32, kBufferSize, true};
             g.rxq->add_chain(std::span(&s, 1));
         })},
        // virtio 1.2, 5.1.6.3.1: without MRG_RXBUF one chain must hold
        // header and frame; 8 bytes cannot even hold the header.
        {"rx_too_small_for_header", [](Context& c) {
             SplitGuest g;
             g.set_up(c, false);
             g.exchange(2, 1);
             if (g.rxq->add_rx({8}) < 0) {
                 fail("no descriptor free");
             }
             const std::vector<uint8_t> hdr(kHeaderLen, 0);
             if (g.txq->add_tx(hdr, make_frame(5)) < 0) {
                 fail("no descriptor free");
             }
             g.kick_tx();
             g.wait_tx_used("the frame was not taken");
             note("frame sent towards an 8-byte receive buffer");
             hold(c.fe);
         }},
        // A descriptor rewritten while the port reads it (DPDK CVE class:
        // lengths read twice).
        {"race_len_flip", race},
        // virtio 1.2, 2.8: packed ring buffer ids and wrap counters.
        {"packed_bad_id", packed_bad_id},
        {"packed_wrap_confusion", packed_wrap_confusion},
    };
    return list;
}

}  // namespace nvh::attack
