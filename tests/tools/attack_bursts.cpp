// SPDX-License-Identifier: Apache-2.0
// attack_bursts.cpp: the work-amplification attacks of vhost_user_attack:
// receive rings that would keep one burst of the PMD going for ever or make
// every packet cost a ring of descriptors (net/virtio_net.h, "Bounded
// work"; docs/security.md, "Bounded work per burst").
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "attack_common.h"

namespace nvh::attack {
namespace {

using Seg = SplitRingDriver::Segment;

constexpr int kLongChains = 7;
constexpr int kLongChainLen = 32;

// A receive chain of kLongChainLen device-writable buffers whose last one
// is device-readable (virtio 1.2, 5.1.6.3: receive buffers are
// device-writable): invalid only at its last descriptor.
void add_long_invalid_chain(SplitGuest& g) {
    const uint64_t buf = g.mem.alloc_in(0, 64);
    std::vector<Seg> segs(kLongChainLen, Seg{buf, 64, true});
    segs.back().writable = false;
    if (g.rxq->add_chain(segs) < 0) {
        fail("no receive descriptor free");
    }
}

// kLongChains such chains fill the receive ring; then one frame at a time
// comes back to the guest: each must end its burst at the first invalid
// chain (returned empty), never go on to the next one, so each frame costs
// one chain.
void rx_invalid_amplification(Context& c) {
    SplitGuest g;
    g.set_up(c);
    g.exchange(2, 1);
    for (int i = 0; i < kLongChains; i++) {
        add_long_invalid_chain(g);
    }
    for (int i = 0; i < kLongChains; i++) {
        if (g.txq->add_tx(std::vector<uint8_t>(kHeaderLen, 0), make_frame(10 + i)) < 0) {
            fail("no transmit descriptor free");
        }
        g.kick_tx();
        g.wait_tx_used("a frame was not taken");
        if (g.wait_rx_used("an invalid receive chain was not returned").len != 0) {
            fail("the port wrote into an invalid receive chain");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (g.rxq->pop_used()) {
            fail("one frame consumed more than one invalid receive chain");
        }
    }
    g.exchange(2, 2);
    note("%d frames each ended their burst at one invalid chain of %d descriptors; "
         "frames pass after them", kLongChains, kLongChainLen);
    hold(c.fe);
}

// The receive ring's descriptors as filled: restored on every re-arm.
struct Slot {
    uint64_t addr;
    uint32_t len;
    uint16_t id;
};

template <typename T>
std::atomic_ref<T> at(uint8_t* p) {
    return std::atomic_ref<T>(*reinterpret_cast<T*>(p));
}

// One pass of the re-arming driver over the receive ring: every slot the
// device made used (AVAIL == USED, virtio 1.2, 2.8.4) is available again
// for the device's next lap (AVAIL flipped), the same one-slot chain.
void rearm_pass(PackedGuest& g, const std::vector<Slot>& slots) {
    for (uint16_t i = 0; i < kRingSize; i++) {
        uint8_t* p = g.rx_desc(i);
        const uint16_t flags = at<uint16_t>(p + 14).load(std::memory_order_acquire);
        const uint16_t bits = flags & (virtio::kPackedDescFAvail | virtio::kPackedDescFUsed);
        if (bits != 0 && bits != (virtio::kPackedDescFAvail | virtio::kPackedDescFUsed)) {
            continue;   // Still available.
        }
        at<uint64_t>(p).store(slots[i].addr, std::memory_order_relaxed);
        at<uint32_t>(p + 8).store(slots[i].len, std::memory_order_relaxed);
        at<uint16_t>(p + 12).store(slots[i].id, std::memory_order_relaxed);
        at<uint16_t>(p + 14).store(
            static_cast<uint16_t>((bits ^ virtio::kPackedDescFAvail) | virtio::kDescFWrite),
            std::memory_order_release);
    }
}

// Fills the receive ring with one-slot chains; returns them.
std::vector<Slot> fill_rx(PackedGuest& g) {
    while (g.rxq->free_slots() > 0) {
        if (g.rxq->add_rx({kBufferSize}) < 0) {
            fail("no receive slot free");
        }
    }
    std::vector<Slot> slots(kRingSize);
    for (uint16_t i = 0; i < kRingSize; i++) {
        uint8_t* p = g.rx_desc(i);
        slots[i] = {at<uint64_t>(p).load(), at<uint32_t>(p + 8).load(),
                    at<uint16_t>(p + 12).load()};
    }
    return slots;
}

// Frames keep going out (the bridge returns them to the receive ring).
void keep_transmitting(PackedGuest& g, int& n) {
    while (g.txq->pop_used()) {
    }
    for (int i = 0; i < 8 && g.txq->free_slots() > 0; i++) {
        (void)g.txq->add_tx(std::vector<uint8_t>(kHeaderLen, 0), make_frame(n++));
    }
    uint64_t one = 1;
    (void)!::write(g.kick[1].get(), &one, sizeof one);
}

// A packed driver that re-arms every receive slot the device used, at
// once, while frames keep coming back: the receive ring never runs out,
// and each burst must still end within its bounds (the other ports on the
// same PMD keep their exact counts meanwhile).
void packed_rearm(Context& c) {
    PackedGuest g;
    g.set_up(c);
    g.exchange(2, 1);
    const std::vector<Slot> slots = fill_rx(g);
    std::atomic<bool> stop{false};
    std::thread rearmer([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            rearm_pass(g, slots);
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    });
    int n = 0;
    hold_while(c.fe, [&] { keep_transmitting(g, n); });
    stop = true;
    rearmer.join();
    note("%d frames sent while the receive ring was re-armed", n);
}

}  // namespace

const std::vector<Entry>& burst_attacks() {
    static const std::vector<Entry> list = {
        {"rx_invalid_amplification", rx_invalid_amplification},
        {"packed_rearm", packed_rearm},
    };
    return list;
}

}  // namespace nvh::attack
