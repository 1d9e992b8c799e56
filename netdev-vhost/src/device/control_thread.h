// SPDX-License-Identifier: Apache-2.0
// control_thread.h: the one process-wide thread that serves every device's
// vhost-user socket and reconnect timer.  Started by the first device,
// stopped when the last one is gone.  Its handlers never block on a
// frontend, so one slow or hostile frontend cannot stall the others.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/shared_instance.h"
#include "base/unique_fd.h"

namespace nvh {

class PathWatcher;

// Something the control thread serves (a device).  Called on the control
// thread only.
class ControlClient {
public:
    virtual void on_fd_event(uint32_t epoll_events) = 0;
    virtual void on_timer() = 0;

protected:
    ~ControlClient() = default;
};

class ControlThread {
public:
    using Clock = std::chrono::steady_clock;

    // Returns the running thread, starting it for the first user.  Each
    // successful acquire() is paired with one release().
    static Result<ControlThread*> acquire();
    // Stops and joins the thread when the last user releases it.  Must not
    // be called on the control thread.
    static void release();

    // Runs `fn` on the control thread between two events and returns once it
    // has run (at once, inline, if called on the control thread).  While `fn`
    // runs no client callback is running.
    void run_sync(const std::function<void()>& fn);

    bool on_control_thread() const {
        return std::this_thread::get_id() == thread_.get_id();
    }

    // ---- Control thread only. --------------------------------------------
    // Level-triggered readiness of `fd` goes to client->on_fd_event.
    Status watch(int fd, ControlClient* client);
    void unwatch(int fd);
    // client->on_timer runs once, `delay` from now (replacing any earlier
    // timer of the client).
    void arm_timer(ControlClient* client, std::chrono::milliseconds delay);
    void cancel_timer(ControlClient* client);
    // The process-wide watcher of socket paths (path_watcher.h).
    PathWatcher& paths();

    ControlThread(const ControlThread&) = delete;
    ControlThread& operator=(const ControlThread&) = delete;
    ~ControlThread();

private:
    struct Command {
        const std::function<void()>* fn;
        bool done = false;
    };
    struct Timer {
        ControlClient* client;
        Clock::time_point deadline;
    };

    friend class SharedInstance<ControlThread>;   // start() and the destructor.
    ControlThread() = default;
    Status start();
    void run();
    void run_commands();
    void run_due_timers();
    int ms_until_next_timer() const;
    void wake();

    UniqueFd epoll_;
    UniqueFd wake_event_;   // eventfd: commands are waiting.
    std::thread thread_;

    std::mutex command_mutex_;
    std::condition_variable command_done_;
    std::deque<Command*> commands_;   // Guarded by command_mutex_.
    bool stopping_ = false;           // Control thread only.

    std::vector<Timer> timers_;       // Control thread only.
    // Control thread only; created on first use, destroyed before epoll_.
    std::unique_ptr<PathWatcher> paths_;
};

}  // namespace nvh
