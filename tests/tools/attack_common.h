// SPDX-License-Identifier: Apache-2.0
// attack_common.h: what the attacks of vhost_user_attack share: the
// connection, a guest with valid rings, and the waits for the port.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "frontend/packed_ring_driver.h"
#include "frontend/split_ring_driver.h"
#include "frontend/vhost_user_frontend.h"
#include "base/unique_fd.h"
#include "vhost_user/vhost_user_message.h"
#include "base/virtio_spec.h"

namespace nvh::attack {

using test::GuestMemoryFixture;
using test::PackedRingDriver;
using test::SplitRingDriver;
using test::VhostUserFrontend;
namespace virtio = nvh::virtio;
namespace vhost_user = nvh::vhost_user;

inline constexpr uint32_t kHeaderLen = 12;     // VERSION_1 (virtio 1.2, 5.1.6)
inline constexpr uint16_t kRingSize = 256;
inline constexpr uint32_t kBufferSize = 2048;
inline constexpr uint64_t kRegionSize = 1 << 20;
inline constexpr size_t kFrameLen = 64;
inline constexpr int kTimeoutMs = 20000;       // Only a failure bound.

// What every attack gets.  An attack returns when what the catalogue
// expects was seen (or, for effects only the port's counters show, once the
// attack was placed and the port closed the connection); it calls fail()
// (exit status 1, a message on stderr) otherwise.
struct Context {
    VhostUserFrontend& fe;
    bool tso;   // The port offers VIRTIO_NET_F_CSUM (userspace TSO on).
};

[[noreturn]] void fail(const char* what);
void note(const char* fmt, ...);

constexpr uint32_t code(vhost_user::Request r) { return static_cast<uint32_t>(r); }

template <typename T>
void put(std::vector<uint8_t>& b, T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof v);
}

// A memory region as SET_MEM_TABLE describes it (vhost-user.rst, "Memory
// region description"), and the payload of a table of them.
struct Region {
    uint64_t gpa, size, uva, offset;
};
inline std::vector<uint8_t> mem_table(const std::vector<Region>& regions) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, static_cast<uint32_t>(regions.size()));
    put<uint32_t>(b, 0);
    for (const Region& r : regions) {
        put<uint64_t>(b, r.gpa);
        put<uint64_t>(b, r.size);
        put<uint64_t>(b, r.uva);
        put<uint64_t>(b, r.offset);
    }
    return b;
}

// Features VERSION_1, MRG_RXBUF and PROTOCOL_FEATURES, with `protocol`.
void negotiate(Context& c, uint64_t protocol = 0);
// Waits until the port closes the connection; fail(what) after kTimeoutMs.
void expect_closed(VhostUserFrontend& fe, const char* what);
// Sends a request with need_reply set (REPLY_ACK negotiated) and waits for
// its ack; whether the port applied it.
bool send_acked(VhostUserFrontend& fe, vhost_user::Request request,
                std::span<const uint8_t> payload, std::span<const int> fds = {});

// A test frame: broadcast-free, locally administered MACs, ethertype 0x88b5.
std::vector<uint8_t> make_frame(int n);
// Whether `bytes`, read from a used receive chain, are a zero header and
// `frame`, unchanged.
bool holds_frame(const std::vector<uint8_t>& bytes, const std::vector<uint8_t>& frame);

uint64_t guest_features(bool mrg_rxbuf, bool packed, bool offloads,
                      uint64_t offered);

// A guest with one queue pair of valid split rings in two memfd regions
// (region 0 at 0, region 1 at 4 MiB: a hole in between).
struct SplitGuest {
    GuestMemoryFixture mem;
    std::unique_ptr<SplitRingDriver> rxq, txq;
    UniqueFd kick[2], call[2];   // Replace them before set_up() to attack.
    uint64_t features = 0;
    // Added to what set_up() negotiates (e.g. VHOST_F_LOG_ALL, LOG_SHMFD).
    uint64_t extra_features = 0, extra_protocol = 0;

    SplitGuest();
    // SET_OWNER ... SET_FEATURES, SET_MEM_TABLE, both vrings.
    void set_up(Context& c, bool mrg_rxbuf = true, bool offloads = false);
    void kick_tx();
    // Transmits `frames` valid frames and waits until each came back
    // intact (the bridge returns the victim's frames: actions=in_port).
    void exchange(int frames, int tag);
    // Waits for the next used element of the transmit ring; returns its id.
    SplitRingDriver::Used wait_tx_used(const char* what);
    SplitRingDriver::Used wait_rx_used(const char* what);
    // Makes the transmit chain at `head` available and kicks.
    void publish(uint16_t head);
};

struct PackedGuest {
    GuestMemoryFixture mem;
    std::unique_ptr<PackedRingDriver> rxq, txq;
    UniqueFd kick[2], call[2];

    PackedGuest();
    void set_up(Context& c);
    void exchange(int frames, int tag);
    // Host pointer of the transmit (receive) ring's descriptor `slot`.
    uint8_t* tx_desc(uint16_t slot) const;
    uint8_t* rx_desc(uint16_t slot) const;
};

// After the attack: keeps the connection until the port closes it (the
// test asks for that with "ovs-appctl vhostuserclient/reconnect").
void hold(VhostUserFrontend& fe);
// The same, calling `step` about every millisecond meanwhile (the attack
// goes on while the test checks the other ports).
void hold_while(VhostUserFrontend& fe, const std::function<void()>& step);
// A new eventfd (EFD_CLOEXEC plus `flags`), or fail().
UniqueFd make_eventfd(int flags);

using Attack = std::function<void(Context&)>;
struct Entry {
    const char* name;
    Attack run;
};
const std::vector<Entry>& message_attacks();      // vhost_user_attack.cpp
const std::vector<Entry>& fd_attacks();           // attack_fds.cpp
const std::vector<Entry>& memory_fault_attacks(); // attack_memory.cpp
const std::vector<Entry>& ring_attacks();         // attack_rings.cpp
const std::vector<Entry>& burst_attacks();        // attack_bursts.cpp

// The catalogue of a kind, from its groups of attacks.
inline std::vector<Entry> joined(std::initializer_list<std::vector<Entry>> groups) {
    std::vector<Entry> all;
    for (const std::vector<Entry>& group : groups) {
        all.insert(all.end(), group.begin(), group.end());
    }
    return all;
}

}  // namespace nvh::attack
