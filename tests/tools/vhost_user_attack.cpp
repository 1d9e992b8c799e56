// SPDX-License-Identifier: Apache-2.0
// vhost_user_attack: a hostile vhost-user frontend for the catalogue test
// (tests/integration/hostile_frontend.sh).  It listens at SOCKET as the
// vhost-user server a vhostuserclient port connects to, accepts one
// connection, removes the socket (so the port does not connect again until
// the next run), and carries out one attack:
//
//     vhost_user_attack SOCKET ATTACK
//     vhost_user_attack --list
//
// Message-level attacks send one broken request (or stop mid-message, or
// flood) and expect the port to close the connection; ring-level attacks
// set up valid rings first, check that frames pass, then place crafted
// descriptors, check in the rings what can be seen there (the bad chain
// comes back with length 0, a valid frame after it still passes) and keep
// the connection until the port closes it, so the test can read the port's
// counters first.  The attack "good" is a well-behaved frontend: it sets up
// the rings, exchanges frames and stops the device as QEMU does.
//
// Exit status 0: the attack went as the catalogue expects, as far as the
// frontend can see; 1: it did not (a message on stderr); 2: usage.
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "attack_common.h"
#include "frontend/failure.h"

namespace nvh::attack {

// The port must close the connection (vhost-user.rst: a back-end that
// cannot handle a request may close the connection; ours always does for
// a malformed one).
// wait_peer_closed() is false for a byte of data (a reply) and for a reset
// (the port closed with requests unread); EOF follows both.
void expect_closed(VhostUserFrontend& fe, const char* what) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (!fe.wait_peer_closed(kTimeoutMs)) {
        if (std::chrono::steady_clock::now() > end) {
            fail(what);
        }
    }
    note("the port closed the connection");
}

void negotiate(Context& c, uint64_t protocol) {
    uint64_t f = virtio::bit(virtio::kFVersion1) |
                 virtio::bit(virtio::kNetFMrgRxbuf) |
                 virtio::bit(virtio::kFProtocolFeatures);
    if (!c.fe.negotiate(f, protocol)) {
        fail("negotiation failed");
    }
}

bool send_acked(VhostUserFrontend& fe, vhost_user::Request request,
                std::span<const uint8_t> payload, std::span<const int> fds) {
    if (!fe.send(code(request), payload, fds, vhost_user::kFlagNeedReply)) {
        return false;
    }
    std::optional<VhostUserFrontend::Reply> reply = fe.receive();
    uint64_t status = 1;
    if (reply && reply->payload.size() == sizeof status) {
        std::memcpy(&status, reply->payload.data(), sizeof status);
    }
    return reply && reply->request == code(request) && status == 0;
}

namespace {

using vhost_user::Request;

std::vector<uint8_t> vring_state(uint32_t index, uint32_t num) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, index);
    put<uint32_t>(b, num);
    return b;
}

// A message as it goes on the wire: the header (request, flags with the
// version, the payload size it claims) and `payload`.
std::vector<uint8_t> wire_message(Request request, uint32_t size,
                                  const std::vector<uint8_t>& payload = {}) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, code(request));
    put<uint32_t>(b, vhost_user::kVersion);
    put<uint32_t>(b, size);
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}

// Sends `msg` in bursts of 64 as fast as the socket takes them, until it
// takes no more (the port closed the connection); returns how many went.
long send_until_refused(VhostUserFrontend& fe, const std::vector<uint8_t>& msg) {
    std::vector<uint8_t> burst;
    for (int i = 0; i < 64; i++) {
        burst.insert(burst.end(), msg.begin(), msg.end());
    }
    long sent = 0;
    while (fe.send_raw(burst)) {
        sent += 64;
    }
    return sent;
}

// `n` memfds of `size` bytes, to send with a request; closed with this.
struct MemFds {
    std::vector<UniqueFd> owned;
    std::vector<int> fds;

    MemFds(size_t n, uint64_t size) {
        for (size_t i = 0; i < n; i++) {
            owned.push_back(GuestMemoryFixture::make_memfd(size));
            fds.push_back(owned.back().get());
        }
    }
};

// Sends a broken request and expects the connection to end.
Attack send_bad(uint32_t request, std::function<std::vector<uint8_t>()> payload,
                int n_fds = 0, bool negotiate_first = true, uint64_t protocol = 0) {
    return [=](Context& c) {
        if (negotiate_first) {
            negotiate(c, protocol);
        }
        MemFds fds(size_t(n_fds), kRegionSize);
        if (!c.fe.send(request, payload(), fds.fds)) {
            fail("sending the request failed");
        }
        expect_closed(c.fe, "the port kept the connection after a broken request");
    };
}

Attack bad_mem_table(std::vector<Region> regions, uint64_t fd_size,
                     int n_fds = -1) {
    return [=](Context& c) {
        negotiate(c);
        MemFds fds(n_fds < 0 ? regions.size() : size_t(n_fds), fd_size);
        if (!c.fe.send(code(Request::kSetMemTable), mem_table(regions), fds.fds)) {
            fail("sending SET_MEM_TABLE failed");
        }
        expect_closed(c.fe, "the port kept the connection after a bad memory table");
    };
}

Attack bad_log(uint64_t size, uint64_t offset, uint64_t fd_size) {
    return [=](Context& c) {
        negotiate(c, virtio::bit(vhost_user::kProtocolFLogShmfd));
        MemFds fd(1, fd_size);
        std::vector<uint8_t> b;
        put<uint64_t>(b, size);
        put<uint64_t>(b, offset);
        if (!c.fe.send(code(Request::kSetLogBase), b, fd.fds)) {
            fail("sending SET_LOG_BASE failed");
        }
        expect_closed(c.fe, "the port kept the connection after a bad log");
    };
}

// SET_VRING_ADDR whose descriptor table starts inside region 0 and ends
// past it (vhost-user.rst: ring addresses are frontend-virtual addresses in
// the memory table).
void ring_outside(Context& c) {
    negotiate(c);
    GuestMemoryFixture mem;
    mem.add_region(0, kRegionSize);
    if (!c.fe.send_mem_table(mem) ||
        !c.fe.set_vring_state(Request::kSetVringNum, 0, kRingSize) ||
        !c.fe.set_vring_state(Request::kSetVringBase, 0, 0)) {
        fail("set-up failed");
    }
    VringAddresses a;
    a.desc_user_addr = mem.gpa_to_uva(kRegionSize - 2048);   // 4 KiB table
    a.avail_user_addr = mem.gpa_to_uva(0x1000);
    a.used_user_addr = mem.gpa_to_uva(0x2000);
    // The port may refuse the address at once or when the ring starts.
    if (c.fe.set_vring_addr(0, a)) {
        UniqueFd kick(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        c.fe.set_vring_fd(Request::kSetVringKick, 0, kick.get());
    }
    expect_closed(c.fe, "the port accepted a ring outside guest memory");
}

// Half a header, then silence: the port must not wait for the rest on any
// thread another port needs.
void half_header(Context& c) {
    const uint8_t half[6] = {1, 0, 0, 0, 1, 0};
    if (!c.fe.send_raw(half)) {
        fail("sending half a header failed");
    }
    note("half a header sent; holding the connection");
    hold(c.fe);
}

// Requests as fast as the socket takes them, replies never read: the port
// must not wait for this frontend to read (vhost-user.rst leaves it to the
// back-end; ours closes the connection).
void flood_unread_replies(Context& c) {
    long sent = send_until_refused(c.fe, wire_message(Request::kGetFeatures, 0));
    note("flooded %ld requests", sent);
    expect_closed(c.fe, "the port never closed a frontend that reads no replies");
}

// Valid requests that need no reply, as fast as the port takes them, until
// the port closes the connection (the test asks for that): other ports and
// ovs-vswitchd's main thread must not notice.
void flood(Context& c) {
    negotiate(c);
    note("flooding");
    long sent = send_until_refused(
        c.fe, wire_message(Request::kSetVringNum, 8, vring_state(0, 256)));
    note("flooded %ld requests until the port closed the connection", sent);
}

// 200 SEND_RARP requests, each valid (a unicast MAC) and each logged by
// the port: its per-port rate limits must hold them back (the test counts
// the lines).
void log_flood(Context& c) {
    negotiate(c, virtio::bit(vhost_user::kProtocolFRarp) |
                     virtio::bit(vhost_user::kProtocolFReplyAck));
    std::vector<uint8_t> mac;
    put<uint64_t>(mac, 0x010000000002);   // 02:00:00:00:00:01
    for (int i = 0; i < 200; i++) {
        if (!send_acked(c.fe, Request::kSendRarp, mac)) {
            fail("SEND_RARP refused");
        }
    }
    note("200 SEND_RARP applied");
    hold(c.fe);
}

void good(Context& c) {
    SplitGuest g;
    g.set_up(c);
    g.exchange(8, 1);
    // GET_VRING_BASE stops the rings (vhost-user.rst, "Ring states").
    if (!c.fe.get_vring_base(0) || !c.fe.get_vring_base(1)) {
        fail("GET_VRING_BASE failed");
    }
    note("8 frames exchanged");
}

std::vector<Region> nine() {
    std::vector<Region> r;
    for (uint64_t i = 0; i < 9; i++) {
        r.push_back({i * 4 * kRegionSize, kRegionSize, 0x10000000 + i * 4 * kRegionSize, 0});
    }
    return r;
}

const uint64_t kOverflowGpa = ~uint64_t{0} - 0xfff;

// A header that claims a 256 MiB payload: the port must not wait for it.
void oversized_header_size(Context& c) {
    if (!c.fe.send_raw(wire_message(Request::kSetOwner, 0x10000000))) {
        fail("sending failed");
    }
    expect_closed(c.fe, "the port waited for a 256 MiB payload");
}

// Wrong fd counts (DPDK CVE class: fds not checked per request), and
// payload size vs request (DPDK CVE class: payload size not checked).
std::vector<Entry> framing_attacks() {
    return {
        {"extra_fds", send_bad(code(Request::kGetFeatures),
                               [] { return std::vector<uint8_t>{}; }, 3, false)},
        {"missing_fd", send_bad(code(Request::kSetVringKick), [] {
             std::vector<uint8_t> b;
             put<uint64_t>(b, 0);   // index 0, no "no fd" flag, no fd
             return b;
         })},
        {"mem_table_missing_fd",
         bad_mem_table({{0, kRegionSize, 0x10000000, 0},
                        {4 * kRegionSize, kRegionSize, 0x20000000, 0}},
                       kRegionSize, 1)},
        {"payload_size", send_bad(code(Request::kSetVringNum),
                                  [] { return std::vector<uint8_t>(4, 0); })},
        {"oversized_header_size", oversized_header_size},
    };
}

// SET_VRING_NUM with a bad vring index (DPDK CVE class: index truncated or
// not bounded) or ring size (virtio 1.2, 2.7: a power of two, at most
// 32768).
std::vector<Entry> vring_num_attacks() {
    auto set_vring_num = [](uint32_t index, uint32_t num) {
        return send_bad(code(Request::kSetVringNum),
                        [=] { return vring_state(index, num); });
    };
    return {
        {"vring_index_32", set_vring_num(32, 256)},
        {"vring_index_255", set_vring_num(255, 256)},
        {"vring_index_65536", set_vring_num(65536, 256)},
        {"ring_size_100", set_vring_num(0, 100)},
        {"ring_size_65536", set_vring_num(0, 65536)},
    };
}

// Memory table (DPDK CVE classes: region count, overflow, overlap) and
// dirty log (DPDK CVE class: log size and offset not checked).
std::vector<Entry> memory_attacks() {
    return {
        // 9 regions with 8 fds (the region count rule), and with 9 fds
        // (more than any request carries: the port's receive truncates).
        {"mem_9_regions", bad_mem_table(nine(), kRegionSize, 8)},
        {"mem_9_fds", bad_mem_table(nine(), kRegionSize, 9)},
        {"mem_gpa_overflow",
         bad_mem_table({{kOverflowGpa, kRegionSize, 0x10000000, 0}}, kRegionSize)},
        {"mem_offset_overflow",
         bad_mem_table({{0, kRegionSize, 0x10000000, ~uint64_t{0} - 0xfff}},
                       kRegionSize)},
        {"mem_overlap",
         bad_mem_table({{0, 2 * kRegionSize, 0x10000000, 0},
                        {kRegionSize, 2 * kRegionSize, 0x30000000, 0}},
                       2 * kRegionSize)},
        {"mem_fd_too_small",
         bad_mem_table({{0, 4 * kRegionSize, 0x10000000, 0}}, kRegionSize)},
        {"ring_outside_memory", ring_outside},
        {"log_size_overflow", bad_log(~uint64_t{0} - 0xfff, 0x2000, 0x4000)},
        {"log_offset_overflow", bad_log(0x1000, ~uint64_t{0} - 0x7ff, 0x4000)},
        {"log_fd_too_small", bad_log(1 << 20, 0, 0x1000)},
    };
}

// Availability of the control thread.
std::vector<Entry> availability_attacks() {
    return {
        {"half_header", half_header},
        {"flood_unread_replies", flood_unread_replies},
        {"flood", flood},
        {"log_flood", log_flood},
    };
}

// Every group of attacks, in the order --list shows them.
std::array<const std::vector<Entry>*, 5> catalogues() {
    return {&message_attacks(), &fd_attacks(), &memory_fault_attacks(),
            &ring_attacks(), &burst_attacks()};
}

// The attack called `name`, or nullptr.
const Attack* find_attack(const char* name) {
    for (const auto* l : catalogues()) {
        for (const Entry& e : *l) {
            if (e.name == std::string(name)) {
                return &e.run;
            }
        }
    }
    return nullptr;
}

void list_attacks() {
    for (const auto* l : catalogues()) {
        for (const Entry& e : *l) {
            std::printf("%s\n", e.name);
        }
    }
}

}  // namespace

const std::vector<Entry>& message_attacks() {
    static const std::vector<Entry> list = joined({
        {{"good", good}},
        framing_attacks(),
        vring_num_attacks(),
        memory_attacks(),
        availability_attacks(),
    });
    return list;
}

}  // namespace nvh::attack

int main(int argc, char** argv) {
    using namespace nvh::attack;
    // A misuse of the in-tree frontend ends the run, as any failed step.
    nvh::test::set_failure_handler([](const char* where, const char* what) {
        std::fprintf(stderr, "vhost_user_attack: %s: %s\n", where, what);
        std::exit(1);
    });
    if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
        list_attacks();
        return 0;
    }
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: %s SOCKET ATTACK [--tso] | --list\n", argv[0]);
        return 2;
    }
    const Attack* attack = find_attack(argv[2]);
    if (attack == nullptr) {
        std::fprintf(stderr, "unknown attack %s (see --list)\n", argv[2]);
        return 2;
    }
    VhostUserFrontend fe(argv[1]);
    if (!fe.listen()) {
        fail("cannot listen at the socket path");
    }
    if (!fe.accept(kTimeoutMs)) {
        fail("the port did not connect");
    }
    // One connection per run: the port finds no socket until the next run.
    fe.stop_listening();
    Context c{fe, argc == 4 && std::strcmp(argv[3], "--tso") == 0};
    (*attack)(c);
    std::printf("%s: done\n", argv[2]);
    return 0;
}
