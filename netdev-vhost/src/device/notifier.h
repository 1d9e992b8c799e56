// SPDX-License-Identifier: Apache-2.0
// notifier.h: the one process-wide thread that writes the guests' call
// eventfds, so that no PMD thread ever makes a system call on an fd the
// frontend controls (docs/security.md, "call fd that blocks").
//
// Scheme:
// * The data path (GuestCall::request, ring/guest_call.h) sets the vring's
//   "interrupt wanted" flag and, only when it goes from clear to set, rings
//   the notifier's doorbell: a non-blocking eventfd created here and never
//   shared, so nobody else can fill it or flip its flags.
// * The notifier thread waits on the doorbell, then takes every registered
//   vring's flag and writes 1 to its call eventfd (GuestCall::deliver):
//   skipped when poll() says the counter is full (an interrupt is pending).
// * The frontend shares the call fd's file description: between that poll
//   and the write it can fill the counter or clear O_NONBLOCK, and the write
//   blocks.  Every write is bounded: a POSIX timer of this thread
//   (SIGEV_THREAD_ID), armed for kCallWriteBound around the write and
//   re-firing every kCallWriteBound, sends a real-time signal whose handler
//   does nothing and is installed without SA_RESTART, so the write returns
//   EINTR.  The call fd is then marked stalled (no more writes until a new
//   VHOST_USER_SET_VRING_CALL), counted in call_stalls and logged.  The
//   signal is the highest real-time signal whose disposition was SIG_DFL
//   when the first notifier started (DPDK's tap driver takes the lowest free
//   one; OVS's fatal-signal module uses SIGTERM, SIGINT, SIGHUP, SIGALRM);
//   its handler stays installed for the life of the process.  The thread
//   blocks every other signal, so EINTR means the bound expired.
// * Lifetime: GuestCall holds the call fd as a shared reference and the
//   write goes through the notifier's own copy, so SET_VRING_CALL, a ring
//   stop, a disconnect or a reset can replace or drop the fd at any time
//   without waiting: the old file stays open until that write returns.  A
//   device's vrings are registered here; remove() returns once the notifier
//   no longer touches them, waiting at most for the one write in progress on
//   one of them, which the bound ends.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/shared_instance.h"
#include "base/unique_fd.h"
#include "ring/guest_call.h"

namespace nvh {

// How long a write of a call eventfd may block before it is cut short.  An
// eventfd write sleeps only while the counter is full, which only the
// frontend's own writes cause (no well-behaved frontend writes a call fd);
// the timer can interrupt nothing but a sleeping write, so this bounds how
// long a hostile frontend can hold the notifier (every port's interrupts
// wait meanwhile) and a device's destruction.
inline constexpr std::chrono::milliseconds kCallWriteBound{20};

class Notifier {
public:
    // Returns the running notifier, starting it for the first user.  Each
    // successful acquire() is paired with one release().
    static Result<Notifier*> acquire();
    // Stops and joins the thread when the last user releases it (within the
    // bound if a write is stuck).
    static void release();

    // The doorbell eventfd to hand to GuestCall::set_doorbell.
    int doorbell() const { return doorbell_.get(); }

    // Serves `call` (vring `vring` of the device at `port`, a string that
    // outlives the registration) for `owner` until remove(owner).
    void add(const void* owner, GuestCall* call, const char* port, uint32_t vring);
    // Stops serving every vring of `owner`.  Returns once the notifier no
    // longer touches them: waits at most for a write in progress on one of
    // them (kCallWriteBound).
    void remove(const void* owner);

    // The real-time signal that cuts a stuck write short (0 before the
    // first start).
    static int interrupt_signal();

    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;
    ~Notifier();

private:
    struct Entry {
        const void* owner;
        GuestCall* call;
        const char* port;
        uint32_t vring;
    };

    friend class SharedInstance<Notifier>;   // start() and the destructor.
    Notifier() = default;
    Status start();
    void run();
    bool wait_for_doorbell();
    void deliver_requested(CallWriteBracket& bracket);
    void report_stall(const char* port, uint32_t vring);

    UniqueFd doorbell_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};

    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Entry> entries_;          // Guarded by mutex_.
    uint64_t entries_generation_ = 0;     // Guarded by mutex_.
    const void* busy_owner_ = nullptr;    // Guarded by mutex_: being written.
    // The thread's start: 1 ready, -errno failed, 0 not yet.  Guarded by
    // mutex_.
    int started_ = 0;

    // Notifier thread only: rate limit of the stall log line.
    std::chrono::steady_clock::time_point last_stall_log_{};
    uint64_t unlogged_stalls_ = 0;
};

// For tests: runs on the notifier thread between the poll of a call fd and
// the write (nullptr: none).
using CallWriteHook = void (*)(int fd);
void set_call_write_hook(CallWriteHook hook);

}  // namespace nvh
