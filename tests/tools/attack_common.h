// SPDX-License-Identifier: Apache-2.0
// attack_common.h: what the attacks of vhost_user_attack share: the
// connection, a guest with valid rings, and the waits for the port.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
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
    UniqueFd kick[2], call[2];
    uint64_t features = 0;

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
    // Host pointer of the transmit ring's descriptor `slot`.
    uint8_t* tx_desc(uint16_t slot) const;
};

// After the attack: keeps the connection until the port closes it (the
// test asks for that with "ovs-appctl vhostuserclient/reconnect").
void hold(VhostUserFrontend& fe);

using Attack = std::function<void(Context&)>;
struct Entry {
    const char* name;
    Attack run;
};
const std::vector<Entry>& message_attacks();
const std::vector<Entry>& ring_attacks();

// The catalogue of a kind, from its groups of attacks.
inline std::vector<Entry> joined(std::initializer_list<std::vector<Entry>> groups) {
    std::vector<Entry> all;
    for (const std::vector<Entry>& group : groups) {
        all.insert(all.end(), group.begin(), group.end());
    }
    return all;
}

}  // namespace nvh::attack
