// SPDX-License-Identifier: Apache-2.0
// control_thread.cpp: see control_thread.h.
#include "device/control_thread.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "base/log.h"
#include "base/shared_instance.h"
#include "device/path_watcher.h"

namespace nvh {
namespace {

SharedInstance<ControlThread> g_control;

constexpr int kMaxEventsPerWait = 32;

}  // namespace

Result<ControlThread*> ControlThread::acquire() {
    return g_control.acquire([]() -> Result<std::unique_ptr<ControlThread>> {
        return std::unique_ptr<ControlThread>(new ControlThread());
    });
}

void ControlThread::release() { g_control.release(); }

Status ControlThread::start() {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) {
        return Error{errno, "epoll_create1 failed"};
    }
    wake_event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_event_) {
        return Error{errno, "eventfd failed"};
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = nullptr;   // nullptr marks the wake eventfd.
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_event_.get(), &event) != 0) {
        return Error{errno, "epoll_ctl failed"};
    }
    thread_ = std::thread([this] { run(); });
    return Status::Ok();
}

ControlThread::~ControlThread() {
    if (thread_.joinable()) {
        std::function<void()> stop = [this] { stopping_ = true; };
        run_sync(stop);
        thread_.join();
    }
}

void ControlThread::wake() {
    uint64_t one = 1;
    ssize_t n = ::write(wake_event_.get(), &one, sizeof one);
    (void)n;   // A full counter still wakes the thread.
}

void ControlThread::run_sync(const std::function<void()>& fn) {
    if (on_control_thread()) {
        fn();
        return;
    }
    Command command{&fn};
    std::unique_lock<std::mutex> lock(command_mutex_);
    commands_.push_back(&command);
    wake();
    command_done_.wait(lock, [&] { return command.done; });
}

void ControlThread::run_commands() {
    uint64_t count;
    ssize_t n = ::read(wake_event_.get(), &count, sizeof count);
    (void)n;   // EAGAIN when already drained: nothing to do.
    std::unique_lock<std::mutex> lock(command_mutex_);
    while (!commands_.empty()) {
        Command* command = commands_.front();
        commands_.pop_front();
        lock.unlock();
        (*command->fn)();
        lock.lock();
        command->done = true;
    }
    command_done_.notify_all();
}

Status ControlThread::watch(int fd, ControlClient* client) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.ptr = client;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
        return Error{errno, "epoll_ctl(EPOLL_CTL_ADD) failed"};
    }
    return Status::Ok();
}

void ControlThread::unwatch(int fd) {
    if (fd >= 0) {
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    }
}

void ControlThread::arm_timer(ControlClient* client,
                              std::chrono::milliseconds delay) {
    cancel_timer(client);
    timers_.push_back({client, Clock::now() + delay});
}

void ControlThread::cancel_timer(ControlClient* client) {
    std::erase_if(timers_, [client](const Timer& t) { return t.client == client; });
}

PathWatcher& ControlThread::paths() {
    if (!paths_) {
        paths_ = std::make_unique<PathWatcher>(*this);
    }
    return *paths_;
}

int ControlThread::ms_until_next_timer() const {
    if (timers_.empty()) {
        return -1;
    }
    auto next = std::min_element(timers_.begin(), timers_.end(),
                                 [](const Timer& a, const Timer& b) {
                                     return a.deadline < b.deadline;
                                 })->deadline;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
}

void ControlThread::run_due_timers() {
    Clock::time_point now = Clock::now();
    std::vector<ControlClient*> due;
    for (const Timer& t : timers_) {
        if (t.deadline <= now) {
            due.push_back(t.client);
        }
    }
    std::erase_if(timers_, [now](const Timer& t) { return t.deadline <= now; });
    // A handler may arm a new timer for itself; removal of clients happens
    // only in commands, never during this loop.
    for (ControlClient* client : due) {
        client->on_timer();
    }
}

void ControlThread::run() {
    epoll_event events[kMaxEventsPerWait];
    while (!stopping_) {
        int n = ::epoll_wait(epoll_.get(), events, kMaxEventsPerWait,
                             ms_until_next_timer());
        if (n < 0) {
            if (errno != EINTR) {
                log_message(NVH_LOG_ERR, "control thread: epoll_wait failed: %d",
                            errno);
            }
            continue;
        }
        bool commands_waiting = false;
        for (int i = 0; i < n; i++) {
            auto* client = static_cast<ControlClient*>(events[i].data.ptr);
            if (!client) {
                commands_waiting = true;
            } else {
                client->on_fd_event(events[i].events);
            }
        }
        run_due_timers();
        if (commands_waiting) {
            run_commands();
        }
    }
}

}  // namespace nvh
