// SPDX-License-Identifier: Apache-2.0
// guest_call.cpp: see guest_call.h.
#include "ring/guest_call.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace nvh {
namespace {

// VringCounters::add's pattern: one writer, relaxed load + store.
void count_one(std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
}

}  // namespace

void GuestCall::set_fd(UniqueFd fd) {
    std::shared_ptr<const UniqueFd> next;
    if (fd.valid()) {
        next = std::make_shared<const UniqueFd>(std::move(fd));
    }
    std::shared_ptr<const UniqueFd> previous;
    {
        std::lock_guard<std::mutex> guard(fd_mutex_);
        previous = std::exchange(fd_, std::move(next));
        generation_++;
        fd_set_ = fd_ != nullptr;
        // Relaxed: the data path reads it as a hint (armed()); deliver()
        // reads it under fd_mutex_.
        stalled_.store(false, std::memory_order_relaxed);
    }
    // `previous` is closed here, or by deliver() once its write returns.
}

CallOutcome GuestCall::deliver(CallWriteBracket* bracket) {
    // Acquire: pairs with request()'s release (see there).
    if (!wanted_.exchange(false, std::memory_order_acquire)) {
        return CallOutcome::kNone;
    }
    std::shared_ptr<const UniqueFd> fd;
    uint64_t generation;
    {
        std::lock_guard<std::mutex> guard(fd_mutex_);
        if (!fd_ || stalled_.load(std::memory_order_relaxed)) {
            return CallOutcome::kNone;
        }
        fd = fd_;
        generation = generation_;
    }
    CallOutcome outcome = write_call(fd->get(), bracket);
    switch (outcome) {
    case CallOutcome::kDelivered:
    case CallOutcome::kPending:
        count_one(delivered_);
        break;
    case CallOutcome::kStalled:
        count_one(stalls_);
        mark_stalled(generation);
        break;
    default:
        break;
    }
    return outcome;
}

CallOutcome GuestCall::write_call(int fd, CallWriteBracket* bracket) {
    // eventfd(2): POLLOUT unless the counter is at its maximum (a write of 1
    // would block): the guest then has an interrupt pending already.  The
    // frontend shares the file and may fill the counter or clear O_NONBLOCK
    // after this poll; the bracket bounds the write for that case.
    pollfd writable{fd, POLLOUT, 0};
    int ready = ::poll(&writable, 1, 0);
    if (ready == 0) {
        return CallOutcome::kPending;
    }
    if (ready < 0 || (writable.revents & POLLOUT) == 0) {
        return CallOutcome::kFailed;
    }
    uint64_t one = 1;
    if (bracket) {
        bracket->before_write(fd);
    }
    ssize_t n = ::write(fd, &one, sizeof one);
    int err = errno;
    if (bracket) {
        bracket->after_write();
    }
    if (n == static_cast<ssize_t>(sizeof one)) {
        return CallOutcome::kDelivered;
    }
    if (n < 0 && err == EAGAIN) {
        return CallOutcome::kPending;   // Non-blocking and full.
    }
    if (n < 0 && err == EINTR) {
        return CallOutcome::kStalled;   // Only the bound's signal interrupts.
    }
    return CallOutcome::kFailed;
}

void GuestCall::mark_stalled(uint64_t generation) {
    std::lock_guard<std::mutex> guard(fd_mutex_);
    // A SET_VRING_CALL since the write brought a fresh fd: keep it armed.
    if (generation == generation_) {
        stalled_.store(true, std::memory_order_relaxed);
    }
}

}  // namespace nvh
