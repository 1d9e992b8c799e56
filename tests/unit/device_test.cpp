// SPDX-License-Identifier: Apache-2.0
// Tests of a device over a real unix socket, through the C ABI, driven by the
// in-tree frontend: connection state machine, negotiation, ring setup,
// disconnects, reconnects, fd hygiene, destroy, and frames end to end.
#include <dirent.h>
#include <fcntl.h>
#include <numaif.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "device/device.h"
#include "frontend/guest_memory_fixture.h"
#include "frontend/split_ring_driver.h"
#include "frontend/vhost_user_frontend.h"
#include "vhost_user/message_handler.h"
#include "netdev-vhost/nvh.h"
#include "base/virtio_spec.h"

namespace nvh::test {
namespace {

using vhost_user::Request;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 5000;
constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kProtocolFeatures =
    virtio::bit(vhost_user::kProtocolFMq) | virtio::bit(vhost_user::kProtocolFReplyAck);

size_t count_open_fds() {
    size_t n = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    ::closedir(dir);
    return n - 1;   // The directory's own fd.
}

std::string unique_socket_path() {
    static std::atomic<int> counter{0};
    std::string dir = ::testing::TempDir();
    return dir + "nvh-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1)) + ".sock";
}

// Removes a socket path when the test that made it ends, however it ends.
struct UnlinkAtExit {
    std::string path;
    ~UnlinkAtExit() { ::unlink(path.c_str()); }
};

bool wait_until(const std::function<bool()>& condition, int timeout_ms = kTimeoutMs) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

struct Callbacks {
    std::atomic<int> calls{0};
};

void count_call(void* aux) {
    static_cast<Callbacks*>(aux)->calls.fetch_add(1, std::memory_order_relaxed);
}

// One device created through the C ABI plus a frontend at its socket path.
class DeviceTest : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = unique_socket_path();
        frontend_ = std::make_unique<VhostUserFrontend>(path_);
    }
    void TearDown() override {
        if (dev_) {
            nvh_device_destroy(dev_);
        }
        frontend_.reset();
        ::unlink(path_.c_str());
    }

    void create(uint32_t max_queue_pairs = 1) {
        nvh_device_config config{path_.c_str(), max_queue_pairs, count_call, &callbacks_};
        char err[128] = "x";
        ASSERT_EQ(nvh_device_create(&config, &dev_, err, sizeof err), 0) << err;
        ASSERT_NE(dev_, nullptr);
    }
    nvh_device_info info() {
        nvh_device_info i;
        nvh_device_get_info(dev_, &i);
        return i;
    }
    bool wait_state(nvh_connection_state s) {
        return wait_until([&] { return info().state == s; });
    }
    void connect() {
        ASSERT_TRUE(frontend_->listen());
        ASSERT_TRUE(frontend_->accept(kTimeoutMs));
        ASSERT_TRUE(wait_state(NVH_STATE_CONNECTED));
    }
    // Memory, both rings of queue pair 0, kick/call eventfds.
    void set_up_queue_pair(uint64_t features = kFeatures,
                           uint64_t protocol = kProtocolFeatures) {
        ASSERT_TRUE(frontend_->negotiate(features, protocol));
        mem_->add_region(0, 4 << 20);
        rxq_ = std::make_unique<SplitRingDriver>(*mem_, 256, 2048);
        txq_ = std::make_unique<SplitRingDriver>(*mem_, 256, 2048);
        ASSERT_TRUE(frontend_->send_mem_table(*mem_));
        for (int i = 0; i < 2; i++) {
            kick_[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            call_[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        }
        ASSERT_TRUE(frontend_->setup_vring(0, *rxq_, kick_[0].get(), call_[0].get()));
        ASSERT_TRUE(frontend_->setup_vring(1, *txq_, kick_[1].get(), call_[1].get()));
    }

    std::string path_;
    std::unique_ptr<VhostUserFrontend> frontend_;
    nvh_device* dev_ = nullptr;
    Callbacks callbacks_;
    std::unique_ptr<GuestMemoryFixture> mem_ = std::make_unique<GuestMemoryFixture>();
    std::unique_ptr<SplitRingDriver> rxq_, txq_;
    UniqueFd kick_[2], call_[2];
};

TEST(DeviceCreate, RejectsBadSocketPath) {
    nvh_device* dev = reinterpret_cast<nvh_device*>(0x1);
    char err[128];
    std::string too_long(NVH_MAX_SOCKET_PATH + 1, 'a');
    std::string longest = "/" + std::string(NVH_MAX_SOCKET_PATH - 1, 'a');
    for (const char* path : {static_cast<const char*>(nullptr), "", too_long.c_str()}) {
        nvh_device_config config{path, 1, nullptr, nullptr};
        err[0] = '\0';
        EXPECT_EQ(nvh_device_create(&config, &dev, err, sizeof err), EINVAL);
        EXPECT_NE(std::strlen(err), 0u);
        EXPECT_EQ(dev, nullptr);
    }
    nvh_device_config config{longest.c_str(), 1, nullptr, nullptr};
    ASSERT_EQ(nvh_device_create(&config, &dev, err, sizeof err), 0) << err;
    nvh_device_destroy(dev);
    nvh_device_config too_many{"/nonexistent", NVH_MAX_QUEUE_PAIRS + 1, nullptr, nullptr};
    EXPECT_EQ(nvh_device_create(&too_many, &dev, err, sizeof err), EINVAL);
}

TEST(DeviceFeatures, MultiqueueIsOffered) {
    // A guest can use more than one queue pair only when VIRTIO_NET_F_MQ
    // is offered (virtio 1.2, 5.1.5) along with VHOST_USER_PROTOCOL_F_MQ
    // (GET_QUEUE_NUM).
    EXPECT_TRUE(virtio::has(kOfferedFeatures, virtio::kNetFMq));
    EXPECT_TRUE(virtio::has(kOfferedProtocolFeatures, vhost_user::kProtocolFMq));
}

TEST(DeviceState, NumaNodeChangeIsObservable) {
    // The glue takes its mempool's and queues' NUMA node from numa_node, so
    // a change of numa_node alone must call state_changed.
    nvh_device_info a{};
    a.state = NVH_STATE_READY;
    a.numa_node = 0;
    nvh_device_info b = a;
    EXPECT_TRUE(same_observable_state(a, b));
    b.numa_node = 1;
    EXPECT_FALSE(same_observable_state(a, b));
    b = a;
    b.n_connects = 7;   // a counter, not state
    EXPECT_TRUE(same_observable_state(a, b));
}

TEST_F(DeviceTest, WaitsForSocketThenConnects) {
    create();
    nvh_device_info i = info();
    EXPECT_EQ(i.state, NVH_STATE_WAITING);
    EXPECT_EQ(i.n_connects, 0u);
    EXPECT_STREQ(i.socket_path, path_.c_str());
    EXPECT_EQ(i.n_queue_pairs, 0u);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));   // retries
    EXPECT_EQ(info().state, NVH_STATE_WAITING);
    EXPECT_EQ(callbacks_.calls.load(), 0);

    connect();
    EXPECT_EQ(info().n_connects, 1u);
    EXPECT_TRUE(wait_until([&] { return callbacks_.calls.load() >= 1; }));
}

TEST(DeviceConnect, AnErrorOtherThanWaitingShowsInLastError) {
    // A socket path under a regular file: connect() fails with ENOTDIR, as
    // it would with EACCES for a socket this process may not open.  Not a
    // way of waiting for the frontend, so the reason shows in last_error.
    std::string file = ::testing::TempDir() + "nvh-notdir-" + std::to_string(::getpid());
    UniqueFd f(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_TRUE(f.valid());
    std::string path = file + "/vhu.sock";
    nvh_device_config config{path.c_str(), 1, nullptr, nullptr};
    nvh_device* dev = nullptr;
    char err[128] = "";
    ASSERT_EQ(nvh_device_create(&config, &dev, err, sizeof err), 0) << err;
    nvh_device_info i;
    ASSERT_TRUE(wait_until([&] {
        nvh_device_get_info(dev, &i);
        return i.last_error[0] != '\0';
    }));
    EXPECT_EQ(i.state, NVH_STATE_WAITING);
    EXPECT_NE(std::string(i.last_error).find("cannot connect: Not a directory"),
              std::string::npos) << i.last_error;
    nvh_device_destroy(dev);
    ::unlink(file.c_str());
}

TEST_F(DeviceTest, NegotiatesAndBecomesReady) {
    create(2);
    connect();
    set_up_queue_pair();
    EXPECT_EQ(frontend_->offered_features(), device_offered_features(false));
    EXPECT_EQ(frontend_->offered_protocol_features(), kOfferedProtocolFeatures);
    EXPECT_EQ(frontend_->queue_num(), 2u);
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    nvh_device_info i = info();
    EXPECT_EQ(i.features, kFeatures);
    EXPECT_EQ(i.protocol_features, kProtocolFeatures);
    EXPECT_EQ(i.n_vrings, 2u);
    EXPECT_EQ(i.n_queue_pairs, 1u);
    EXPECT_EQ(i.vring_size[0], 256);
    EXPECT_EQ(i.vring_size[1], 256);
    EXPECT_EQ(i.vring_size[2], 0);
    EXPECT_TRUE(i.vring_enabled[0]);
    EXPECT_TRUE(i.vring_enabled[1]);
    EXPECT_FALSE(i.vring_enabled[2]);
    EXPECT_EQ(i.last_error[0], '\0');
    int node = -1;
    bool numa = get_mempolicy(&node, nullptr, 0, mem_->host(0), MPOL_F_NODE | MPOL_F_ADDR) == 0;
    EXPECT_EQ(i.numa_node, numa ? node : -1);
}

TEST_F(DeviceTest, RingsWaitForEnableWithProtocolFeatures) {
    create();
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocolFeatures));
    mem_->add_region(0, 4 << 20);
    SplitRingDriver rxq(*mem_, 64), txq(*mem_, 64);
    ASSERT_TRUE(frontend_->send_mem_table(*mem_));
    for (uint32_t q = 0; q < 2; q++) {
        const SplitRingDriver& ring = q ? txq : rxq;
        ASSERT_TRUE(frontend_->set_vring_state(Request::kSetVringNum, q, ring.num()));
        ASSERT_TRUE(frontend_->set_vring_addr(q, ring.addresses()));
        ASSERT_TRUE(frontend_->set_vring_fd(Request::kSetVringKick, q, -1));
    }
    nvh_device_info i = info();
    EXPECT_EQ(i.state, NVH_STATE_CONNECTED);
    EXPECT_EQ(i.n_vrings, 2u);           // Started...
    EXPECT_FALSE(i.vring_enabled[0]);    // ...but disabled.
    ASSERT_TRUE(frontend_->set_vring_state(Request::kSetVringEnable, 0, 1));
    ASSERT_TRUE(frontend_->set_vring_state(Request::kSetVringEnable, 1, 1));
    EXPECT_EQ(info().state, NVH_STATE_READY);
    ASSERT_TRUE(frontend_->set_vring_state(Request::kSetVringEnable, 1, 0));
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
    EXPECT_EQ(info().n_queue_pairs, 0u);
}

TEST_F(DeviceTest, QemuOrderObeysVringEnableWithoutTheBitInSetFeatures) {
    // QEMU 7.x negotiates protocol features with GET/SET_PROTOCOL_FEATURES
    // and sends SET_VRING_ENABLE, but leaves VHOST_USER_F_PROTOCOL_FEATURES
    // out of SET_FEATURES.  The rings must follow SET_VRING_ENABLE anyway.
    create();
    connect();
    ASSERT_TRUE(frontend_->set_owner());
    ASSERT_TRUE(frontend_->get_u64(Request::kGetFeatures).has_value());
    ASSERT_TRUE(frontend_->get_u64(Request::kGetProtocolFeatures).has_value());
    ASSERT_TRUE(frontend_->set_u64(Request::kSetProtocolFeatures, kProtocolFeatures));
    const uint64_t features = kFeatures & ~virtio::bit(virtio::kFProtocolFeatures);
    ASSERT_TRUE(frontend_->set_u64(Request::kSetFeatures, features));
    mem_->add_region(0, 4 << 20);
    SplitRingDriver rxq(*mem_, 64), txq(*mem_, 64);
    ASSERT_TRUE(frontend_->send_mem_table(*mem_));
    for (uint32_t q = 0; q < 2; q++) {
        const SplitRingDriver& ring = q ? txq : rxq;
        ASSERT_TRUE(frontend_->set_vring_state(Request::kSetVringNum, q, ring.num()));
        ASSERT_TRUE(frontend_->set_vring_addr(q, ring.addresses()));
        ASSERT_TRUE(frontend_->set_vring_fd(Request::kSetVringKick, q, -1));
    }
    // A request with a reply: everything before it has been handled.
    ASSERT_TRUE(frontend_->get_u64(Request::kGetFeatures).has_value());
    nvh_device_info i = info();
    EXPECT_EQ(i.state, NVH_STATE_CONNECTED);
    EXPECT_EQ(i.n_vrings, 2u);
    EXPECT_FALSE(i.vring_enabled[0]);
    EXPECT_FALSE(i.vring_enabled[1]);
    ASSERT_TRUE(frontend_->set_vring_state(Request::kSetVringEnable, 0, 1));
    ASSERT_TRUE(frontend_->set_vring_state(Request::kSetVringEnable, 1, 1));
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    EXPECT_EQ(info().n_queue_pairs, 1u);
    EXPECT_STREQ(info().last_error, "");
}

TEST_F(DeviceTest, RingsStartEnabledWithoutProtocolFeatures) {
    create();
    connect();
    uint64_t legacy = virtio::bit(virtio::kFVersion1) | virtio::bit(virtio::kNetFMrgRxbuf);
    set_up_queue_pair(legacy, 0);
    // No reply-ack to synchronise on: wait for the state.
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    EXPECT_EQ(info().protocol_features, 0u);
    EXPECT_TRUE(info().vring_enabled[1]);
}

TEST_F(DeviceTest, GetVringBaseStopsTheRing) {
    create();
    connect();
    set_up_queue_pair();
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    std::optional<uint32_t> base = frontend_->get_vring_base(1);
    ASSERT_TRUE(base.has_value());
    EXPECT_EQ(*base, 0u);
    ASSERT_TRUE(wait_state(NVH_STATE_CONNECTED));
    EXPECT_EQ(info().n_queue_pairs, 0u);
    // Restarted by a new kick.
    ASSERT_TRUE(frontend_->set_vring_fd(Request::kSetVringKick, 1, kick_[1].get()));
    EXPECT_EQ(info().state, NVH_STATE_READY);
}

TEST_F(DeviceTest, ReplacesMemTableWhileRunning) {
    create();
    connect();
    set_up_queue_pair();
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    ASSERT_TRUE(frontend_->send_mem_table(*mem_));   // Same layout, new fds.
    EXPECT_EQ(info().state, NVH_STATE_READY);

    GuestMemoryFixture elsewhere;                   // Rings not in it.
    elsewhere.add_region(64 << 20, 1 << 20);
    EXPECT_FALSE(frontend_->send_mem_table(elsewhere));
    EXPECT_TRUE(frontend_->last_ack_failed());
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
    EXPECT_NE(std::string(info().last_error).find("SET_MEM_TABLE"), std::string::npos);
}

TEST_F(DeviceTest, RefusesUnsupportedRequestAndStaysConnected) {
    create();
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocolFeatures));
    // VHOST_USER_SET_INFLIGHT_FD (32): INFLIGHT_SHMFD is not offered.
    std::vector<uint8_t> payload(8, 0);
    ASSERT_TRUE(frontend_->send(32, payload, {}, vhost_user::kFlagNeedReply));
    auto ack = frontend_->receive();
    ASSERT_TRUE(ack.has_value());
    ASSERT_EQ(ack->payload.size(), 8u);
    uint64_t status;
    std::memcpy(&status, ack->payload.data(), 8);
    EXPECT_NE(status, 0u);
    EXPECT_EQ(frontend_->get_u64(Request::kGetQueueNum), 1u);
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
}

TEST_F(DeviceTest, RefusesFeaturesThatWereNotOffered) {
    create();
    connect();
    ASSERT_TRUE(frontend_->set_owner());
    ASSERT_TRUE(frontend_->set_u64(Request::kSetFeatures,
                                   kFeatures | virtio::bit(virtio::kNetFCsum)));
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
    EXPECT_NE(std::string(info().last_error).find("SET_FEATURES"), std::string::npos);
}

TEST_F(DeviceTest, ReconnectsAfterFrontendCloses) {
    create();
    connect();
    set_up_queue_pair();
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    int calls_before = callbacks_.calls.load();
    frontend_->close_connection();
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
    nvh_device_info i = info();
    EXPECT_NE(std::string(i.last_error).find("closed"), std::string::npos) << i.last_error;
    EXPECT_EQ(i.n_queue_pairs, 0u);
    EXPECT_EQ(i.features, 0u);
    EXPECT_TRUE(wait_until([&] { return callbacks_.calls.load() > calls_before; }));
    // Still listening: the device comes back by itself.
    ASSERT_TRUE(frontend_->accept(kTimeoutMs));
    ASSERT_TRUE(wait_state(NVH_STATE_CONNECTED));
    EXPECT_EQ(info().n_connects, 2u);
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocolFeatures));
}

TEST_F(DeviceTest, MalformedMessageDisconnectsAndLeaksNoFd) {
    create();
    size_t baseline = count_open_fds();
    {
        connect();
        set_up_queue_pair();
        ASSERT_TRUE(wait_state(NVH_STATE_READY));
        frontend_->stop_listening();   // No reconnect after the disconnect.
        // SET_VRING_NUM carrying two fds it must not have.
        UniqueFd extra1(::eventfd(0, EFD_CLOEXEC)), extra2(::eventfd(0, EFD_CLOEXEC));
        int fds[2] = {extra1.get(), extra2.get()};
        std::vector<uint8_t> payload(8, 0);
        ASSERT_TRUE(frontend_->send(static_cast<uint32_t>(Request::kSetVringNum), payload,
                                    fds));
        ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
        EXPECT_TRUE(frontend_->wait_peer_closed(kTimeoutMs));
        EXPECT_NE(std::string(info().last_error).find("SET_VRING_NUM"), std::string::npos)
            << info().last_error;
        frontend_->close_connection();
        rxq_.reset();
        txq_.reset();
        for (auto& fd : kick_) fd.reset();
        for (auto& fd : call_) fd.reset();
    }
    mem_.reset();
    EXPECT_EQ(count_open_fds(), baseline);
}

// A frontend that floods requests and never reads the replies fills its
// socket: the device drops the connection (it never waits on a frontend)
// and says why.
TEST_F(DeviceTest, FrontendThatReadsNoRepliesIsDisconnectedWithTheReason) {
    create();
    connect();
    frontend_->stop_listening();   // No reconnect after the disconnect.
    std::vector<uint8_t> burst;
    for (int i = 0; i < 64; i++) {
        const uint32_t header[3] = {static_cast<uint32_t>(Request::kGetFeatures),
                                    vhost_user::kVersion, 0};
        const auto* p = reinterpret_cast<const uint8_t*>(header);
        burst.insert(burst.end(), p, p + sizeof header);
    }
    // Blocking sends: they fail once the device closed the connection.
    while (frontend_->send_raw(burst)) {
    }
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
    EXPECT_NE(std::string(info().last_error).find("not reading its replies"),
              std::string::npos)
        << info().last_error;
}

TEST_F(DeviceTest, BadVersionFlagsDisconnect) {
    create();
    connect();
    std::vector<uint8_t> none;
    ASSERT_TRUE(frontend_->send(static_cast<uint32_t>(Request::kGetFeatures), none, {}, 2));
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
    EXPECT_NE(info().last_error[0], '\0');
}

TEST_F(DeviceTest, DestroyWhileConnected) {
    create();
    connect();
    set_up_queue_pair();
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    nvh_device_destroy(dev_);
    dev_ = nullptr;
    int calls = callbacks_.calls.load();
    EXPECT_TRUE(frontend_->wait_peer_closed(kTimeoutMs));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(callbacks_.calls.load(), calls);
}

// state_changed that lingers, so destroy runs while it is in progress.
struct SlowCallback {
    std::atomic<int> inside{0};
    std::atomic<int> calls{0};
};
void slow_call(void* aux) {
    auto* s = static_cast<SlowCallback*>(aux);
    s->inside.store(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s->calls.fetch_add(1);
    s->inside.store(0);
}

TEST(DeviceDestroy, WaitsForACallbackInProgress) {
    std::string path = unique_socket_path();
    UnlinkAtExit unlink_path{path};
    VhostUserFrontend frontend(path);
    ASSERT_TRUE(frontend.listen());
    SlowCallback slow;
    nvh_device_config config{path.c_str(), 1, slow_call, &slow};
    nvh_device* dev = nullptr;
    char err[128];
    ASSERT_EQ(nvh_device_create(&config, &dev, err, sizeof err), 0) << err;
    ASSERT_TRUE(frontend.accept(kTimeoutMs));
    ASSERT_TRUE(wait_until([&] { return slow.calls.load() == 1; }));   // CONNECTED
    frontend.close_connection();   // The disconnect calls it again.
    ASSERT_TRUE(wait_until([&] { return slow.inside.load() == 1; }));
    nvh_device_destroy(dev);
    EXPECT_EQ(slow.inside.load(), 0);   // Returned only after the callback.
    int calls = slow.calls.load();
    EXPECT_EQ(calls, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(slow.calls.load(), calls);
}

// nvh.h forbids calling back into the core from state_changed; destroying
// the device there would free it under the control thread, so it aborts.
void destroy_from_callback(void* aux) {
    nvh_device* dev = static_cast<std::atomic<nvh_device*>*>(aux)->load();
    if (dev) {
        nvh_device_destroy(dev);
    }
}

// Runs in the death test's child: a device whose callback destroys it.
[[noreturn]] void run_device_that_destroys_itself(const std::string& path) {
    VhostUserFrontend frontend(path);
    std::atomic<nvh_device*> dev{nullptr};
    nvh_device_config config{path.c_str(), 1, destroy_from_callback, &dev};
    nvh_device* created = nullptr;
    char err[128];
    if (nvh_device_create(&config, &created, err, sizeof err) != 0) {
        std::exit(1);
    }
    dev.store(created);
    // The device connects on its next retry; the callback runs then.
    if (!frontend.listen() || !frontend.accept(kTimeoutMs)) {
        std::exit(2);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kTimeoutMs));
    std::exit(0);
}

TEST(DeviceDestroyDeathTest, FromItsOwnCallbackAborts) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    // The child runs this test again from the start and dies holding the
    // socket: it takes the path from the environment, and the parent
    // removes it.
    const char* inherited = ::getenv("NVH_TEST_DEATH_SOCKET");
    std::string path = inherited ? inherited : unique_socket_path();
    ::setenv("NVH_TEST_DEATH_SOCKET", path.c_str(), 1);
    UnlinkAtExit unlink_path{path};
    EXPECT_EXIT(run_device_that_destroys_itself(path),
                ::testing::KilledBySignal(SIGABRT),
                "state_changed callback, which nvh.h forbids");
}

TEST_F(DeviceTest, FramesFlowBothWays) {
    create();
    connect();
    set_up_queue_pair();
    ASSERT_TRUE(wait_state(NVH_STATE_READY));

    // Guest -> host.
    std::vector<uint8_t> frame(60);
    for (size_t i = 0; i < frame.size(); i++) {
        frame[i] = static_cast<uint8_t>(i * 7 + 1);
    }
    ASSERT_GE(txq_->add_tx(SplitRingDriver::net_header(12), frame), 0);
    std::vector<uint8_t> buffer(2048);
    nvh_packet pkt{};
    pkt.data = buffer.data();
    pkt.capacity = static_cast<uint32_t>(buffer.size());
    ASSERT_EQ(nvh_dequeue_burst(dev_, 0, &pkt, 1), 1u);
    ASSERT_EQ(pkt.len, frame.size());
    EXPECT_EQ(std::memcmp(buffer.data(), frame.data(), frame.size()), 0);
    EXPECT_TRUE(txq_->pop_used().has_value());
    EXPECT_EQ(nvh_dequeue_burst(dev_, 1, &pkt, 1), 0u);   // No such queue pair.

    // Host -> guest.
    ASSERT_GE(rxq_->add_rx({2048}), 0);
    nvh_packet out{};
    out.data = frame.data();
    out.len = static_cast<uint32_t>(frame.size());
    ASSERT_EQ(nvh_enqueue_burst(dev_, 0, &out, 1), 1u);
    auto used = rxq_->pop_used();
    ASSERT_TRUE(used.has_value());
    std::vector<uint8_t> written = rxq_->read_used(*used);
    ASSERT_EQ(written.size(), 12 + frame.size());
    virtio::NetHdrMrgRxbuf hdr;
    std::memcpy(&hdr, written.data(), sizeof hdr);
    EXPECT_EQ(hdr.num_buffers, 1);
    EXPECT_EQ(hdr.hdr.flags, 0);
    EXPECT_EQ(hdr.hdr.gso_type, virtio::kNetHdrGsoNone);
    EXPECT_EQ(std::memcmp(written.data() + 12, frame.data(), frame.size()), 0);

    nvh_vring_stats stats;
    ASSERT_TRUE(nvh_vring_get_stats(dev_, 0, &stats));
    EXPECT_EQ(stats.packets, 1u);
    EXPECT_EQ(stats.bytes, frame.size());
    EXPECT_FALSE(nvh_vring_get_stats(dev_, NVH_MAX_VRINGS, &stats));
}

}  // namespace
}  // namespace nvh::test
