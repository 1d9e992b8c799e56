// SPDX-License-Identifier: Apache-2.0
// PathWatcher: a listener hears of its socket file being created, renamed
// into place or changed, and of nothing else.
#include "device/path_watcher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "device_fixture.h"   // wait_for

namespace nvh::test {
namespace {

class CountingListener final : public PathListener {
public:
    void on_path_changed() override { calls.fetch_add(1); }
    std::atomic<int> calls{0};
};

class PathWatcherTest : public ::testing::Test {
protected:
    void SetUp() override {
        static std::atomic<int> counter{0};
        dir_ = ::testing::TempDir() + "nvh-pw-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter.fetch_add(1));
        ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
        auto control = ControlThread::acquire();
        ASSERT_TRUE(control.ok());
        control_ = control.value();
    }
    void TearDown() override {
        control_->run_sync([&] {
            control_->paths().remove(&a_);
            control_->paths().remove(&b_);
        });
        ControlThread::release();
        std::string cmd = "rm -rf '" + dir_ + "'";
        (void)std::system(cmd.c_str());
    }
    bool add(const std::string& path, PathListener* l) {
        bool ok = false;
        control_->run_sync([&] { ok = control_->paths().add(path, l); });
        return ok;
    }
    void touch(const std::string& path) {
        int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        ::close(fd);
    }

    std::string dir_;
    ControlThread* control_ = nullptr;
    CountingListener a_, b_;
};

TEST_F(PathWatcherTest, CreationOfTheWatchedNameIsReported) {
    ASSERT_TRUE(add(dir_ + "/a.sock", &a_));
    ASSERT_TRUE(add(dir_ + "/b.sock", &b_));   // Same directory, same watch.
    touch(dir_ + "/other");
    touch(dir_ + "/a.sock");
    ASSERT_TRUE(wait_for([&] { return a_.calls.load() == 1; }));
    touch(dir_ + "/b.sock");
    ASSERT_TRUE(wait_for([&] { return b_.calls.load() == 1; }));
    // Nothing for "other", nor for b.sock to a.
    EXPECT_EQ(a_.calls.load(), 1);
}

TEST_F(PathWatcherTest, RenameIntoPlaceAndModeChangeAreReported) {
    ASSERT_TRUE(add(dir_ + "/a.sock", &a_));
    touch(dir_ + "/tmp");
    ASSERT_EQ(::rename((dir_ + "/tmp").c_str(), (dir_ + "/a.sock").c_str()), 0);
    ASSERT_TRUE(wait_for([&] { return a_.calls.load() >= 1; }));
    int before = a_.calls.load();
    ASSERT_EQ(::chmod((dir_ + "/a.sock").c_str(), 0666), 0);
    ASSERT_TRUE(wait_for([&] { return a_.calls.load() > before; }));
}

TEST_F(PathWatcherTest, RemovedListenersHearNothing) {
    ASSERT_TRUE(add(dir_ + "/a.sock", &a_));
    ASSERT_TRUE(add(dir_ + "/b.sock", &b_));
    control_->run_sync([&] { control_->paths().remove(&a_); });
    touch(dir_ + "/a.sock");
    touch(dir_ + "/b.sock");
    // b's event comes after a's (one inotify queue, in order).
    ASSERT_TRUE(wait_for([&] { return b_.calls.load() == 1; }));
    EXPECT_EQ(a_.calls.load(), 0);
}

TEST_F(PathWatcherTest, AMissingDirectoryCannotBeWatched) {
    EXPECT_FALSE(add(dir_ + "/no-such-dir/a.sock", &a_));
    EXPECT_FALSE(add(dir_ + "/", &a_));
}

TEST_F(PathWatcherTest, AListenerWhoseDirectoryGoesAwayIsTold) {
    ASSERT_EQ(::mkdir((dir_ + "/sub").c_str(), 0700), 0);
    ASSERT_TRUE(add(dir_ + "/sub/a.sock", &a_));
    ASSERT_EQ(::rmdir((dir_ + "/sub").c_str()), 0);
    ASSERT_TRUE(wait_for([&] { return a_.calls.load() == 1; }));
    // And it can watch again once the directory is back.
    ASSERT_EQ(::mkdir((dir_ + "/sub").c_str(), 0700), 0);
    ASSERT_TRUE(add(dir_ + "/sub/a.sock", &a_));
    touch(dir_ + "/sub/a.sock");
    ASSERT_TRUE(wait_for([&] { return a_.calls.load() == 2; }));
}

}  // namespace
}  // namespace nvh::test
