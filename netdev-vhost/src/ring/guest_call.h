// SPDX-License-Identifier: Apache-2.0
// guest_call.h: the interrupt path of one vring, split so that the data path
// never makes a system call on an fd the frontend controls.
//
// The data path only marks the vring "interrupt wanted" (request()) and, when
// the mark goes from clear to set, rings a doorbell: a private non-blocking
// eventfd of the notifier thread (device/notifier.h), which nobody outside
// this process holds.  The notifier thread then calls deliver(), which writes
// the guest's call eventfd.  That write can block (a hostile frontend fills
// the counter or clears O_NONBLOCK on the file description it shares with
// us); the caller bounds it (CallWriteBracket) and a write cut short marks
// the call fd stalled until the frontend sends a new one.
//
// The call fd is shared as a std::shared_ptr: set_fd() (control thread)
// swaps it under a small mutex the data path never takes, and deliver()
// writes through its own reference, so a replaced or reset fd stays open
// (its number not reused) until the write in progress on it returns.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "base/unique_fd.h"

namespace nvh {

// What one deliver() did.
enum class CallOutcome {
    kNone,        // Nothing requested, no call fd, or the fd is stalled.
    kDelivered,   // Wrote 1 to the call eventfd.
    kPending,     // The counter was full: an interrupt is already pending.
    kFailed,      // The fd refused the write (not a writable eventfd).
    kStalled,     // The write blocked and was cut short (EINTR).
};

// Brackets the one write of deliver() that may block: before_write() arms
// the bound that interrupts it, after_write() disarms it.
class CallWriteBracket {
public:
    virtual void before_write(int fd) = 0;
    virtual void after_write() = 0;

protected:
    ~CallWriteBracket() = default;
};

class GuestCall {
public:
    // `delivered` counts kDelivered and kPending, `stalls` kStalled; both
    // are written by the one thread that calls deliver().
    GuestCall(std::atomic<uint64_t>& delivered, std::atomic<uint64_t>& stalls)
        : delivered_(delivered), stalls_(stalls) {}
    GuestCall(const GuestCall&) = delete;
    GuestCall& operator=(const GuestCall&) = delete;

    // ---- Control thread, with the queue's AccessLock held. --------------
    // VHOST_USER_SET_VRING_CALL (or a reset): a new fd, which is not
    // stalled.  Waits at most for deliver() to copy the old reference.
    void set_fd(UniqueFd fd);
    // The notifier's doorbell eventfd; set before the data path can run,
    // never changed afterwards.  Without one, request() only marks.
    void set_doorbell(int fd) { doorbell_ = fd; }
    // The call fd, or -1 (none set).  Control thread.
    int fd() const {
        std::lock_guard<std::mutex> guard(fd_mutex_);
        return fd_ ? fd_->get() : -1;
    }

    // ---- Data path, with the queue's AccessLock held. ------------------
    // Whether an interrupt can be delivered: a call fd is set and has not
    // stalled.  The stall flag is a hint (relaxed): a request that races
    // with a stall is dropped by deliver().
    bool armed() const {
        return fd_set_ && !stalled_.load(std::memory_order_relaxed);
    }
    // Asks for one interrupt.  No allocation, no lock; one system call (the
    // doorbell) only when no request was outstanding.
    void request() {
        // Release: the used index published before this becomes visible to
        // the notifier's acquire in deliver(), so the guest it interrupts
        // finds the new entries.  An exchange (not a load first) so that a
        // request seen as outstanding is one deliver() has not yet taken.
        if (!wanted_.exchange(true, std::memory_order_release) && doorbell_ >= 0) {
            uint64_t one = 1;
            // Our own non-blocking eventfd: EAGAIN (a full counter, 2^64-2
            // rings unread) still wakes the notifier.
            ssize_t n = ::write(doorbell_, &one, sizeof one);
            (void)n;
        }
    }

    // ---- The notifier thread (or a test standing in for it). ------------
    // Whether a request is outstanding (a hint for a scan).
    bool requested() const { return wanted_.load(std::memory_order_relaxed); }
    // Takes the outstanding request, if any, and writes the call eventfd
    // unless poll() says its counter is full.  `bracket` (may be nullptr)
    // bounds the write.  Counts the outcome.
    CallOutcome deliver(CallWriteBracket* bracket);

private:
    CallOutcome write_call(int fd, CallWriteBracket* bracket);
    void mark_stalled(uint64_t generation);

    std::atomic<uint64_t>& delivered_;
    std::atomic<uint64_t>& stalls_;
    int doorbell_ = -1;
    bool fd_set_ = false;   // Changed and read under the AccessLock.
    std::atomic<bool> wanted_{false};
    std::atomic<bool> stalled_{false};

    mutable std::mutex fd_mutex_;             // Never taken by the data path.
    std::shared_ptr<const UniqueFd> fd_;      // Guarded by fd_mutex_.
    uint64_t generation_ = 0;                 // Guarded by fd_mutex_.
};

}  // namespace nvh
