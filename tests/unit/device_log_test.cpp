// SPDX-License-Identifier: Apache-2.0
// Tests of the per-device log routing (nvh_device_config.log, base/log.h):
// the lines the core logs while serving one device reach that device's
// handler, with its aux, and no other; a device without a handler of its
// own logs through the process-wide one.  And the level of the line that
// ends a connection: INFO when the frontend closed it, WARN when it broke a
// rule.
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/virtio_spec.h"
#include "frontend/vhost_user_frontend.h"
#include "netdev-vhost/nvh.h"

namespace nvh::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 5000;
constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kProtocolFeatures = virtio::bit(vhost_user::kProtocolFReplyAck);

bool wait_until(const std::function<bool()>& condition) {
    auto deadline = Clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (Clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

// The lines one handler received, with their levels.
struct LogLines {
    bool contains(const std::string& text) { return level_of(text).has_value(); }
    // The level of the first line that contains `text`.
    std::optional<nvh_log_level> level_of(const std::string& text) {
        std::lock_guard<std::mutex> guard(mutex);
        for (size_t i = 0; i < lines.size(); i++) {
            if (lines[i].find(text) != std::string::npos) {
                return levels[i];
            }
        }
        return std::nullopt;
    }
    void add(nvh_log_level level, const char* message) {
        std::lock_guard<std::mutex> guard(mutex);
        lines.emplace_back(message);
        levels.push_back(level);
    }

    std::mutex mutex;
    std::vector<std::string> lines;
    std::vector<nvh_log_level> levels;
};

LogLines g_process_lines;

void process_log(nvh_log_level level, const char* message) {
    g_process_lines.add(level, message);
}

void device_log(void* aux, nvh_log_level level, const char* message) {
    static_cast<LogLines*>(aux)->add(level, message);
}

// A device, with its own log handler or none, and its frontend.
struct LoggedPort {
    explicit LoggedPort(bool own_handler) {
        static std::atomic<int> counter{0};
        path = ::testing::TempDir() + "nvh-log-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter.fetch_add(1)) + ".sock";
        frontend = std::make_unique<VhostUserFrontend>(path);
        nvh_device_config config{};
        config.socket_path = path.c_str();
        config.aux = &lines;
        config.log = own_handler ? device_log : nullptr;
        char err[128] = "";
        EXPECT_EQ(nvh_device_create(&config, &dev, err, sizeof err), 0) << err;
    }
    ~LoggedPort() {
        nvh_device_destroy(dev);
        frontend.reset();
        ::unlink(path.c_str());
    }
    bool connect() {
        return frontend->listen() && frontend->accept(kTimeoutMs) &&
               frontend->negotiate(kFeatures, kProtocolFeatures);
    }
    // An unknown request: refused with a warning, the connection stays.
    bool send_unknown(uint32_t request) {
        return frontend->send(request, {}) &&
               frontend->get_u64(vhost_user::Request::kGetFeatures).has_value();
    }

    LogLines lines;
    std::string path;
    std::unique_ptr<VhostUserFrontend> frontend;
    nvh_device* dev = nullptr;
};

class DeviceLogTest : public ::testing::Test {
protected:
    void SetUp() override { nvh_set_log_handler(process_log); }
    void TearDown() override { nvh_set_log_handler(nullptr); }
};

TEST_F(DeviceLogTest, LinesOfADeviceGoToItsOwnHandler) {
    LoggedPort a(true), b(true);
    ASSERT_TRUE(a.connect());
    ASSERT_TRUE(b.connect());
    ASSERT_TRUE(a.send_unknown(51));
    ASSERT_TRUE(b.send_unknown(52));
    // The message handler's lines name no device: only the routing can
    // tell whose they are.
    EXPECT_TRUE(a.lines.contains("unsupported vhost-user request 51"));
    EXPECT_TRUE(b.lines.contains("unsupported vhost-user request 52"));
    EXPECT_FALSE(a.lines.contains("request 52"));
    EXPECT_FALSE(b.lines.contains("request 51"));
    EXPECT_TRUE(wait_until([&] { return a.lines.contains(a.path + ": connected"); }));
    EXPECT_FALSE(b.lines.contains(a.path));
    EXPECT_FALSE(g_process_lines.contains("unsupported vhost-user request"));
    EXPECT_FALSE(g_process_lines.contains(a.path));
}

// A frontend that goes away in order (QEMU quitting, testpmd exiting) is
// normal operation and logged at INFO, as dpdkvhostuserclient logs it; OVS's
// own tests (tests/ovs-system-dpdk) fail on any WARN they do not expect.  A
// frontend that breaks a rule still gets a WARN.
TEST_F(DeviceLogTest, ClosedByTheFrontendIsInfoBrokenRuleIsWarn) {
    LoggedPort port(true);
    ASSERT_TRUE(port.connect());
    port.frontend->close_connection();
    const std::string closed = port.path + ": disconnected: frontend closed the connection";
    ASSERT_TRUE(wait_until([&] { return port.lines.contains(closed); }));
    EXPECT_EQ(port.lines.level_of(closed), NVH_LOG_INFO);

    // The port connects again to the frontend that still listens; this time
    // a header announces a payload larger than any request.
    ASSERT_TRUE(port.frontend->accept(kTimeoutMs));
    const uint32_t header[3] = {static_cast<uint32_t>(vhost_user::Request::kSetFeatures),
                                vhost_user::kVersion, 0x100000};
    std::array<uint8_t, sizeof header> bytes{};
    std::memcpy(bytes.data(), header, sizeof header);
    ASSERT_TRUE(port.frontend->send_raw(bytes));
    EXPECT_TRUE(port.frontend->wait_peer_closed(kTimeoutMs));
    const std::string broken = port.path + ": disconnected: payload size larger than any request";
    ASSERT_TRUE(wait_until([&] { return port.lines.contains(broken); }));
    EXPECT_EQ(port.lines.level_of(broken), NVH_LOG_WARN);

    // A close in the middle of a message is no orderly close either.
    ASSERT_TRUE(port.frontend->accept(kTimeoutMs));
    ASSERT_TRUE(port.frontend->send_raw(std::span<const uint8_t>(bytes.data(), 6)));
    port.frontend->close_connection();
    const std::string cut = port.path + ": disconnected: frontend closed the connection in "
                                        "the middle of a message";
    ASSERT_TRUE(wait_until([&] { return port.lines.contains(cut); }));
    EXPECT_EQ(port.lines.level_of(cut), NVH_LOG_WARN);
}

TEST_F(DeviceLogTest, DeviceWithoutAHandlerLogsThroughTheProcessHandler) {
    LoggedPort plain(false);
    ASSERT_TRUE(plain.connect());
    ASSERT_TRUE(plain.send_unknown(53));
    EXPECT_TRUE(g_process_lines.contains("unsupported vhost-user request 53"));
    EXPECT_TRUE(plain.lines.lines.empty());
}

}  // namespace
}  // namespace nvh::test
