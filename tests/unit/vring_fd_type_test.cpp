// SPDX-License-Identifier: Apache-2.0
// Tests of the rule that a vring's kick, call and err fds are eventfds
// (base/eventfd.h): a socket, a pipe, a regular file and a memfd are refused
// with the named error, the "no fd" flag is still accepted, and the one
// control thread keeps serving another device meanwhile.  And a blocking
// eventfd as kick, whose counter another thread empties while flipping its
// O_NONBLOCK, never blocks the control thread.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "base/virtio_spec.h"
#include "frontend/guest_memory_fixture.h"
#include "frontend/split_ring_driver.h"
#include "frontend/vhost_user_frontend.h"
#include "netdev-vhost/nvh.h"

namespace nvh::test {
namespace {

using vhost_user::Request;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kTimeoutMs = 5000;
// A handshake on an idle control thread takes about a millisecond; this is
// the bound a second device's handshake must meet while the first port
// misbehaves.
constexpr milliseconds kHandshakeBound{1000};
constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kProtocolFeatures =
    virtio::bit(vhost_user::kProtocolFMq) | virtio::bit(vhost_user::kProtocolFReplyAck);
constexpr char kNotEventfd[] = "vring fd is not an eventfd";

bool wait_until(const std::function<bool()>& condition) {
    auto deadline = Clock::now() + milliseconds(kTimeoutMs);
    while (Clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(milliseconds(2));
    }
    return condition();
}

// One device and the in-tree frontend at its socket.
struct Port {
    Port() {
        static std::atomic<int> counter{0};
        path = ::testing::TempDir() + "nvh-fdtype-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter.fetch_add(1)) + ".sock";
        frontend = std::make_unique<VhostUserFrontend>(path);
        nvh_device_config config{};
        config.socket_path = path.c_str();
        config.max_queue_pairs = 1;
        char err[128] = "";
        EXPECT_EQ(nvh_device_create(&config, &dev, err, sizeof err), 0) << err;
    }
    ~Port() {
        if (dev) {
            nvh_device_destroy(dev);
        }
        frontend.reset();
        ::unlink(path.c_str());
    }
    nvh_device_info info() const {
        nvh_device_info i;
        nvh_device_get_info(dev, &i);
        return i;
    }
    bool connect() {
        return frontend->listen() && frontend->accept(kTimeoutMs) &&
               frontend->negotiate(kFeatures, kProtocolFeatures);
    }
    // Memory, and vring 0 with everything but its kick fd.
    bool prepare_ring0() {
        mem.add_region(0, 4 << 20);
        ring = std::make_unique<SplitRingDriver>(mem, 256, 2048);
        call.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        return frontend->send_mem_table(mem) &&
               frontend->set_vring_state(Request::kSetVringNum, 0, ring->num()) &&
               frontend->set_vring_state(Request::kSetVringBase, 0, 0) &&
               frontend->set_vring_addr(0, ring->addresses()) &&
               frontend->set_vring_fd(Request::kSetVringCall, 0, call.get());
    }

    std::string path;
    std::unique_ptr<VhostUserFrontend> frontend;
    nvh_device* dev = nullptr;
    GuestMemoryFixture mem;
    std::unique_ptr<SplitRingDriver> ring;
    UniqueFd call;
};

// How long a fresh device takes to connect and negotiate.
milliseconds handshake_time() {
    Port other;
    auto start = Clock::now();
    EXPECT_TRUE(other.connect());
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

// The kinds of fd a frontend might pass instead of an eventfd.
enum class FdKind { kSocketWithLowat, kPipe, kRegularFile, kMemfd };

struct BadFd {
    UniqueFd fd;     // What the frontend passes.
    UniqueFd peer;   // The other end, if any.
};

BadFd make_bad_fd(FdKind kind) {
    BadFd bad;
    int pair[2] = {-1, -1};
    switch (kind) {
    case FdKind::kSocketWithLowat: {
        // Polls readable (one byte queued), but a blocking read waits for
        // SO_RCVLOWAT = 8 bytes: the fd that hung the control thread.
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        int lowat = 8;
        EXPECT_EQ(::setsockopt(pair[0], SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat), 0);
        EXPECT_EQ(::write(pair[1], "x", 1), 1);
        break;
    }
    case FdKind::kPipe:
        EXPECT_EQ(::pipe2(pair, O_CLOEXEC), 0);
        EXPECT_EQ(::write(pair[1], "x", 1), 1);
        break;
    case FdKind::kRegularFile: {
        std::string name = ::testing::TempDir() + "nvh-fdtype-XXXXXX";
        pair[0] = ::mkostemp(name.data(), O_CLOEXEC);
        ::unlink(name.c_str());
        EXPECT_EQ(::write(pair[0], "12345678", 8), 8);
        EXPECT_EQ(::lseek(pair[0], 0, SEEK_SET), 0);
        break;
    }
    case FdKind::kMemfd:
        pair[0] = ::memfd_create("nvh-kick", MFD_CLOEXEC);
        EXPECT_EQ(::write(pair[0], "12345678", 8), 8);
        EXPECT_EQ(::lseek(pair[0], 0, SEEK_SET), 0);
        break;
    }
    EXPECT_GE(pair[0], 0);
    bad.fd.reset(pair[0]);
    bad.peer.reset(pair[1]);
    return bad;
}

class VringFdTypeTest : public ::testing::TestWithParam<FdKind> {};

TEST_P(VringFdTypeTest, KickFdOfAnotherTypeIsRefusedAndOthersAreServed) {
    BadFd bad = make_bad_fd(GetParam());
    Port port;
    ASSERT_TRUE(port.connect());
    ASSERT_TRUE(port.prepare_ring0());
    // The ring would start with this kick: its fd would be read at once.
    EXPECT_FALSE(port.frontend->set_vring_fd(Request::kSetVringKick, 0, bad.fd.get()));
    bool refused = wait_until([&] {
        return std::strstr(port.info().last_error, kNotEventfd) != nullptr;
    });
    // Without the check the control thread may be stuck reading the
    // socket: the missing bytes free it, so the test fails, not hangs.
    if (!refused && bad.peer) {
        (void)!::write(bad.peer.get(), "1234567", 7);
    }
    ASSERT_TRUE(refused) << "last_error: " << port.info().last_error;
    EXPECT_STREQ(port.info().last_error,
                 "SET_VRING_KICK: vring fd is not an eventfd (vhost-user.rst: "
                 "vring kick/call/err fds are eventfds)");
    EXPECT_TRUE(port.frontend->wait_peer_closed(kTimeoutMs));
    // The control thread still serves every other device, at once.
    EXPECT_LT(handshake_time(), kHandshakeBound);
}

TEST_P(VringFdTypeTest, CallAndErrFdsOfAnotherTypeAreRefused) {
    for (Request request : {Request::kSetVringCall, Request::kSetVringErr}) {
        BadFd bad = make_bad_fd(GetParam());
        Port port;
        ASSERT_TRUE(port.connect());
        EXPECT_FALSE(port.frontend->set_vring_fd(request, 0, bad.fd.get()));
        ASSERT_TRUE(wait_until([&] {
            return std::strstr(port.info().last_error, kNotEventfd) != nullptr;
        })) << "last_error: " << port.info().last_error;
    }
}

INSTANTIATE_TEST_SUITE_P(Kinds, VringFdTypeTest,
                         ::testing::Values(FdKind::kSocketWithLowat, FdKind::kPipe,
                                           FdKind::kRegularFile, FdKind::kMemfd),
                         [](const ::testing::TestParamInfo<FdKind>& kind) {
                             switch (kind.param) {
                             case FdKind::kSocketWithLowat: return "SocketWithLowat";
                             case FdKind::kPipe: return "Pipe";
                             case FdKind::kRegularFile: return "RegularFile";
                             case FdKind::kMemfd: return "Memfd";
                             }
                             return "Unknown";
                         });

TEST(VringFdType, NoFdFlagAndEventfdsAreAccepted) {
    Port port;
    ASSERT_TRUE(port.connect());
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC));   // Blocking is allowed.
    EXPECT_TRUE(port.frontend->set_vring_fd(Request::kSetVringErr, 0, efd.get()));
    EXPECT_TRUE(port.frontend->set_vring_fd(Request::kSetVringCall, 0, -1));
    EXPECT_TRUE(port.frontend->set_vring_fd(Request::kSetVringErr, 0, -1));
    EXPECT_TRUE(port.frontend->set_vring_fd(Request::kSetVringKick, 0, -1));
    EXPECT_EQ(port.info().state, NVH_STATE_CONNECTED);
    EXPECT_STREQ(port.info().last_error, "");
}

// The frontend's side of a shared blocking kick eventfd: kicks written in a
// loop, and a thread that flips O_NONBLOCK and empties the counter itself.
class KickFdRace {
public:
    explicit KickFdRace(int fd) : fd_(fd) {
        kicker_ = std::thread([this] {
            uint64_t one = 1;
            while (!stop_kicks_.load(std::memory_order_relaxed)) {
                (void)!::write(fd_, &one, sizeof one);
            }
        });
        thief_ = std::thread([this] {
            int flags = ::fcntl(fd_, F_GETFL);
            for (bool nonblock = false; !stop_thief_.load(std::memory_order_relaxed);
                 nonblock = !nonblock) {
                ::fcntl(fd_, F_SETFL, nonblock ? (flags | O_NONBLOCK) : flags);
                uint64_t count;
                // Blocking half the time: the kicker keeps it from waiting.
                (void)!::read(fd_, &count, sizeof count);
            }
            ::fcntl(fd_, F_SETFL, flags);
        });
    }
    ~KickFdRace() {
        stop_thief_.store(true, std::memory_order_relaxed);
        thief_.join();   // The kicker still runs, so its last read returns.
        stop_kicks_.store(true, std::memory_order_relaxed);
        kicker_.join();
    }

private:
    int fd_;
    std::atomic<bool> stop_thief_{false}, stop_kicks_{false};
    std::thread kicker_, thief_;
};

TEST(VringFdType, SharedBlockingKickEventfdNeverBlocksTheControlThread) {
    Port port;
    ASSERT_TRUE(port.connect());
    ASSERT_TRUE(port.prepare_ring0());
    UniqueFd kick(::eventfd(0, EFD_CLOEXEC));   // Blocking.
    ASSERT_TRUE(port.frontend->set_vring_fd(Request::kSetVringKick, 0, kick.get()));
    // The avail index moves, so kicks never give the "not shared" verdict
    // and every message of this port drains the kick fd again (see
    // device/kick_monitor.h).
    ASSERT_GE(port.ring->add_rx({2048}), 0);

    Port other;
    ASSERT_TRUE(other.connect());
    milliseconds slowest{0};
    int rounds = 0;
    {
        KickFdRace race(kick.get());
        auto end = Clock::now() + milliseconds(1000);
        while (Clock::now() < end) {
            auto start = Clock::now();
            // A message of the racing port (its kick fd is drained after
            // it) and one of the other port, each acked by the control
            // thread.
            ASSERT_TRUE(port.frontend->set_vring_state(Request::kSetVringEnable, 0, 1));
            ASSERT_TRUE(other.frontend->get_u64(Request::kGetFeatures).has_value());
            slowest = std::max(slowest, std::chrono::duration_cast<milliseconds>(
                                            Clock::now() - start));
            rounds++;
        }
    }
    EXPECT_LT(slowest, kHandshakeBound) << rounds << " rounds";
    EXPECT_GT(rounds, 10);
    EXPECT_EQ(port.info().state, NVH_STATE_CONNECTED);
    EXPECT_LT(handshake_time(), kHandshakeBound);
}

}  // namespace
}  // namespace nvh::test
