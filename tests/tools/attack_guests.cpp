// SPDX-License-Identifier: Apache-2.0
// attack_guests.cpp: the guest of vhost_user_attack: valid split and
// packed rings set up through the in-tree frontend, frames through the
// bridge's hairpin flow, and the helpers the attacks share.
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

// Whether `bytes`, read from a used receive chain, are a zero header and
// `frame`, unchanged.
bool holds_frame(const std::vector<uint8_t>& bytes, const std::vector<uint8_t>& frame) {
    return bytes.size() == kHeaderLen + kFrameLen &&
           std::memcmp(bytes.data() + kHeaderLen, frame.data(), kFrameLen) == 0;
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
                  uint32_t base, uint64_t protocol = 0) {
    if (!c.fe.negotiate(features, protocol | virtio::bit(vhost_user::kProtocolFReplyAck)) ||
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
        kick[i] = make_eventfd(EFD_NONBLOCK);
        call[i] = make_eventfd(EFD_NONBLOCK);
    }
}


// Waits for the next used element of `ring`; fails with `what` at the
// deadline.
template <typename Ring>
auto wait_used(Ring& ring, const char* what) {
    auto end = deadline();
    for (;;) {
        if (auto u = ring.pop_used()) {
            return *u;
        }
        if (past(end)) {
            fail(what);
        }
        pause();
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
            if (got_rx >= frames || !holds_frame(bytes, sent[got_rx])) {
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
        // Without them this guest takes HOST_ECN alone, against virtio 1.2,
        // 5.1.3.1: with no transmit offload at all the port does not read
        // transmit headers, and the header attacks are meant to reach the
        // port's header rules.
        f |= offered & (virtio::bit(virtio::kNetFCsum) |
                        virtio::bit(virtio::kNetFHostTso4) |
                        virtio::bit(virtio::kNetFHostEcn));
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
    // Without TSO: HOST_ECN alone (unusable without CSUM and TSO); with it
    // CSUM and HOST_TSO4, and no HOST_ECN.
    uint64_t offered = virtio::bit(virtio::kNetFHostEcn);
    if (offloads && c.tso) {
        offered = virtio::bit(virtio::kNetFCsum) | virtio::bit(virtio::kNetFHostTso4);
    }
    features = guest_features(mrg_rxbuf, false, offloads, offered) | extra_features;
    set_up_rings(c, mem, *rxq, *txq, kick, call, features, 0, extra_protocol);
}

void SplitGuest::kick_tx() {
    uint64_t one = 1;
    (void)!::write(kick[1].get(), &one, sizeof one);
}

void SplitGuest::exchange(int frames, int tag) {
    exchange_on(*rxq, *txq, kick[1], frames, tag);
}

SplitRingDriver::Used SplitGuest::wait_tx_used(const char* what) {
    return wait_used(*txq, what);
}

SplitRingDriver::Used SplitGuest::wait_rx_used(const char* what) {
    return wait_used(*rxq, what);
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

uint8_t* PackedGuest::rx_desc(uint16_t slot) const {
    uint64_t gpa = rxq->addresses().desc_user_addr - GuestMemoryFixture::kUvaOffset;
    return mem.host(gpa + 16 * uint64_t{slot});
}

UniqueFd make_eventfd(int flags) {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | flags));
    if (!fd) {
        fail("eventfd failed");
    }
    return fd;
}

void hold_while(VhostUserFrontend& fe, const std::function<void()>& step) {
    note("holding the connection until the port closes it");
    while (!fe.wait_peer_closed(1)) {
        step();
    }
    note("the port closed the connection");
}

void hold(VhostUserFrontend& fe) {
    note("holding the connection until the port closes it");
    // No bound: the test ends it ("vhostuserclient/reconnect"), or kills us.
    while (!fe.wait_peer_closed(kTimeoutMs)) {
    }
    note("the port closed the connection");
}

}  // namespace nvh::attack
