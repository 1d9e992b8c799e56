// SPDX-License-Identifier: Apache-2.0
// vhost_user_cycles: a stress frontend for the connect/disconnect cycles
// test (tests/integration/connect_cycles.sh).  It listens at a socket path as
// a vhost-user server (like QEMU's "server" chardev or virtio_user's
// server=1) and, for each of N cycles:
//
//   * accepts the port's connection and negotiates as QEMU does;
//   * sends SET_MEM_TABLE with fresh memfd guest memory (two regions);
//   * sets up one queue pair (vring 0 receive, vring 1 transmit) with fresh
//     kick and call eventfds, and enables it;
//   * exchanges --frames frames: the guest transmits them, the bridge sends
//     them back to the same port (flow "actions=in_port"), and every frame
//     must come back intact on the receive ring;
//   * transmits a further --burst frames and, without waiting for them,
//     closes the connection: abruptly on even cycles (like a QEMU killed
//     with SIGKILL), cleanly on odd ones (GET_VRING_BASE on both rings
//     first, like QEMU stopping the device).  Every fourth cycle the
//     listening socket is closed and re-created too, like a restarted QEMU.
//
// The rings stay readable here after the port let go of them, so the tool
// knows exactly how many frames the port took from the transmit ring and how
// many it delivered to the receive ring, and prints the totals at the end:
//
//     cycles=N taken=T delivered=D
//
// The port's rx_packets and tx_packets counters must equal T and D.  Exits 1
// with a message naming the cycle and step on any failure.
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "frontend/failure.h"
#include "frontend/guest_memory_fixture.h"
#include "frontend/split_ring_driver.h"
#include "frontend/vhost_user_frontend.h"
#include "base/unique_fd.h"
#include "vhost_user/vhost_user_message.h"
#include "base/virtio_spec.h"

namespace {

using nvh::UniqueFd;
using nvh::test::GuestMemoryFixture;
using nvh::test::SplitRingDriver;
using nvh::test::VhostUserFrontend;
using nvh::vhost_user::Request;
namespace virtio = nvh::virtio;
namespace vhost_user = nvh::vhost_user;

// VERSION_1 and MRG_RXBUF (12-byte header, virtio 1.2, 5.1.6), protocol
// features with REPLY_ACK so every set-type request is acknowledged.
constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kProtocolFeatures = virtio::bit(vhost_user::kProtocolFReplyAck);
constexpr uint32_t kHeaderLen = 12;
constexpr uint16_t kRingSize = 256;
constexpr uint32_t kBufferSize = 2048;
constexpr uint64_t kRegionSize = 1 << 20;
constexpr size_t kFrameLen = 64;

struct Options {
    std::string socket;
    int cycles = 1000;
    int frames = 4;
    int burst = 32;
    int timeout_ms = 30000;
};

struct Totals {
    uint64_t taken = 0;       // Frames the port took from transmit rings.
    uint64_t delivered = 0;   // Frames the port put in receive rings.
};

[[noreturn]] void fail(int cycle, const char* step) {
    std::fprintf(stderr, "vhost_user_cycles: cycle %d: %s\n", cycle, step);
    std::exit(1);
}

std::vector<uint8_t> make_frame(int cycle, int n) {
    std::vector<uint8_t> f(kFrameLen, 0);
    const uint8_t head[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5};
    std::memcpy(f.data(), head, sizeof head);
    std::memcpy(f.data() + 14, &cycle, sizeof cycle);
    std::memcpy(f.data() + 18, &n, sizeof n);
    for (size_t i = 22; i < f.size(); i++) {
        f[i] = static_cast<uint8_t>(i + cycle + n);
    }
    return f;
}

// One connection's guest: memory, rings and eventfds.  Kept alive until the
// port has let go of the rings, so their used indexes can be read.
struct Guest {
    GuestMemoryFixture mem;
    std::unique_ptr<SplitRingDriver> rxq, txq;
    UniqueFd kick[2], call[2];

    Guest() {
        // Two regions, as QEMU sends for a guest with memory below and
        // above a hole; the rings straddle them.
        mem.add_region(0, kRegionSize);
        mem.add_region(4 * kRegionSize, kRegionSize);
        rxq = std::make_unique<SplitRingDriver>(mem, kRingSize, kBufferSize);
        txq = std::make_unique<SplitRingDriver>(mem, kRingSize, kBufferSize);
        for (int i = 0; i < 2; i++) {
            kick[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            call[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        }
    }
    bool fds_ok() const {
        return kick[0] && kick[1] && call[0] && call[1];
    }
    // Used elements the port has published (used->idx, one per frame: each
    // fits one receive buffer); final once the port stopped using the rings.
    uint16_t rx_published() const { return rxq->used_idx(); }
    uint16_t tx_published() const { return txq->used_idx(); }
};

bool set_up(VhostUserFrontend& fe, Guest& g) {
    return fe.negotiate(kFeatures, kProtocolFeatures) &&
           fe.send_mem_table(g.mem) &&
           fe.setup_vring(0, *g.rxq, g.kick[0].get(), g.call[0].get()) &&
           fe.setup_vring(1, *g.txq, g.kick[1].get(), g.call[1].get());
}

// Transmits `frames` frames and waits until each came back on the receive
// ring, byte for byte.  Returns a failure step, or nullptr.
const char* exchange(Guest& g, int cycle, int frames, int timeout_ms) {
    const std::vector<uint8_t> header = SplitRingDriver::net_header(kHeaderLen);
    std::vector<std::vector<uint8_t>> sent;
    for (int n = 0; n < frames; n++) {
        if (g.rxq->add_rx({kBufferSize}) < 0) {
            return "no receive descriptor free";
        }
    }
    for (int n = 0; n < frames; n++) {
        sent.push_back(make_frame(cycle, n));
        if (g.txq->add_tx(header, sent.back()) < 0) {
            return "no transmit descriptor free";
        }
    }
    uint64_t one = 1;
    (void)!::write(g.kick[1].get(), &one, sizeof one);   // Polled anyway.

    int got_tx = 0, got_rx = 0;
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(timeout_ms);
    while (got_tx < frames || got_rx < frames) {
        if (auto u = g.txq->pop_used()) {
            got_tx++;
            continue;
        }
        if (auto u = g.rxq->pop_used()) {
            std::vector<uint8_t> bytes = g.rxq->read_used(*u);
            if (got_rx >= frames || bytes.size() != kHeaderLen + kFrameLen ||
                std::memcmp(bytes.data() + kHeaderLen, sent[got_rx].data(),
                            kFrameLen) != 0) {
                return "a received frame is not the one sent";
            }
            got_rx++;
            continue;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            return got_tx < frames ? "transmitted frames not taken in time"
                                   : "frames not returned in time";
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return nullptr;
}

// Frames left in flight when the connection goes away.
void start_burst(Guest& g, int cycle, int burst) {
    const std::vector<uint8_t> header = SplitRingDriver::net_header(kHeaderLen);
    for (int n = 0; n < burst; n++) {
        if (g.rxq->add_rx({kBufferSize}) < 0 ||
            g.txq->add_tx(header, make_frame(cycle, 1000 + n)) < 0) {
            break;
        }
    }
}

// Adds what the port did with a finished connection's rings to the totals.
void account(const Guest& g, Totals& totals) {
    totals.taken += g.tx_published();
    totals.delivered += g.rx_published();
}

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--socket") {
            o.socket = v;
        } else if (k == "--cycles") {
            o.cycles = std::atoi(v);
        } else if (k == "--frames") {
            o.frames = std::atoi(v);
        } else if (k == "--burst") {
            o.burst = std::atoi(v);
        } else if (k == "--timeout-ms") {
            o.timeout_ms = std::atoi(v);
        } else {
            return false;
        }
    }
    return argc % 2 == 1 && !o.socket.empty() && o.cycles > 0 &&
           o.frames >= 0 && o.frames <= kRingSize / 2 && o.burst >= 0 &&
           o.burst <= kRingSize / 2 && o.timeout_ms > 0;
}

// The cycles against one listening socket, and the totals of what the port
// did with the rings of the connections that ended.
class Cycles {
public:
    Cycles(VhostUserFrontend& fe, const Options& o)
        : fe_(fe), o_(o), started_(std::chrono::steady_clock::now()) {}

    void run_one(int cycle) {
        std::unique_ptr<Guest> guest = connect(cycle);
        if (const char* step = exchange(*guest, cycle, o_.frames, o_.timeout_ms)) {
            fail(cycle, step);
        }
        start_burst(*guest, cycle, o_.burst);
        // The listener is re-created while the port is still connected, so
        // the port cannot connect to the old one in between.
        if (cycle % 4 == 0 && cycle != o_.cycles && !fe_.listen()) {
            fail(cycle, "cannot listen again");
        }
        disconnect(cycle, std::move(guest));
        report_progress(cycle);
    }

    const Totals& totals() const { return totals_; }

private:
    // Accepts the port's connection and sets up a fresh guest on it.
    std::unique_ptr<Guest> connect(int cycle) {
        if (!fe_.accept(o_.timeout_ms)) {
            fail(cycle, "the port did not connect");
        }
        // The port connects again only after it has torn the previous
        // connection down: the old rings are final now.
        if (previous_) {
            account(*previous_, totals_);
            previous_.reset();
        }
        auto guest = std::make_unique<Guest>();
        if (!guest->fds_ok()) {
            fail(cycle, "eventfd failed");
        }
        if (!set_up(fe_, *guest)) {
            fail(cycle, "negotiation or ring set-up failed");
        }
        return guest;
    }

    // Closes the connection: cleanly on odd cycles and the last one, its
    // rings counted at once; abruptly on the others, its rings counted once
    // the port connects again.
    void disconnect(int cycle, std::unique_ptr<Guest> guest) {
        if (cycle % 2 == 0 && cycle != o_.cycles) {
            fe_.close_connection();
            previous_ = std::move(guest);
            return;
        }
        // GET_VRING_BASE stops the ring (vhost-user.rst, "Ring states");
        // once answered the port no longer touches it.
        if (!fe_.get_vring_base(0) || !fe_.get_vring_base(1)) {
            fail(cycle, "GET_VRING_BASE failed");
        }
        account(*guest, totals_);
        fe_.close_connection();
    }

    void report_progress(int cycle) const {
        if (cycle % 100 != 0 && cycle != o_.cycles) {
            return;
        }
        double s = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - started_).count();
        std::printf("%d/%d cycles (%.1f s)\n", cycle, o_.cycles, s);
        std::fflush(stdout);
    }

    VhostUserFrontend& fe_;
    const Options& o_;
    const std::chrono::steady_clock::time_point started_;
    Totals totals_;
    std::unique_ptr<Guest> previous_;   // Last abruptly closed connection's.
};

}  // namespace

int main(int argc, char** argv) {
    Options o;
    // A misuse of the in-tree frontend ends the run, as any failed step.
    nvh::test::set_failure_handler([](const char* where, const char* what) {
        std::fprintf(stderr, "vhost_user_cycles: %s: %s\n", where, what);
        std::exit(1);
    });
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr,
                     "usage: %s --socket PATH [--cycles N] [--frames K] "
                     "[--burst B] [--timeout-ms T]\n", argv[0]);
        return 2;
    }
    VhostUserFrontend fe(o.socket);
    if (!fe.listen()) {
        fail(0, "cannot listen at the socket path");
    }
    Cycles cycles(fe, o);
    for (int cycle = 1; cycle <= o.cycles; cycle++) {
        cycles.run_one(cycle);
    }
    std::printf("cycles=%d taken=%llu delivered=%llu\n", o.cycles,
                static_cast<unsigned long long>(cycles.totals().taken),
                static_cast<unsigned long long>(cycles.totals().delivered));
    return 0;
}
