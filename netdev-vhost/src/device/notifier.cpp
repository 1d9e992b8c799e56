// SPDX-License-Identifier: Apache-2.0
// notifier.cpp: see notifier.h.
#include "device/notifier.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <utility>

#include "base/log.h"
#include "base/shared_instance.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

namespace nvh {
namespace {

SharedInstance<Notifier> g_notifier;
int g_signal = 0;                 // Chosen once, under g_notifier's lock.
std::atomic<int> g_signal_seen{0};   // g_signal, for interrupt_signal().
std::atomic<CallWriteHook> g_write_hook{nullptr};

// At most one stall log line per this interval (the rest are counted).
constexpr std::chrono::seconds kStallLogInterval{1};

// Does nothing: its only purpose is that the write it interrupts returns
// EINTR (installed without SA_RESTART).
void interrupt_write(int) {}

// Picks the highest real-time signal nobody handles and installs
// interrupt_write on it.  Returns the signal, or -errno.
int claim_signal() {
    for (int sig = SIGRTMAX; sig >= SIGRTMIN; sig--) {
        struct sigaction old {};
        if (::sigaction(sig, nullptr, &old) != 0) {
            continue;
        }
        if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) {
            continue;   // Someone else's: leave it alone.
        }
        struct sigaction action {};
        action.sa_handler = interrupt_write;
        sigfillset(&action.sa_mask);
        action.sa_flags = 0;   // No SA_RESTART: the write returns EINTR.
        if (::sigaction(sig, &action, nullptr) == 0) {
            return sig;
        }
    }
    return -EAGAIN;
}

// A POSIX timer that signals the thread that created it (SIGEV_THREAD_ID).
class ThreadTimer {
public:
    ThreadTimer() = default;
    ~ThreadTimer() {
        if (created_) {
            ::timer_delete(timer_);
        }
    }
    ThreadTimer(const ThreadTimer&) = delete;
    ThreadTimer& operator=(const ThreadTimer&) = delete;

    // Returns 0 or -errno.
    int create(int signal) {
        sigevent event{};
        event.sigev_notify = SIGEV_THREAD_ID;
        event.sigev_signo = signal;
        event.sigev_notify_thread_id = ::gettid();
        if (::timer_create(CLOCK_MONOTONIC, &event, &timer_) != 0) {
            return -errno;
        }
        created_ = true;
        return 0;
    }
    // Fires after `period`, then every `period` until disarmed: a signal
    // handled before the write started is followed by another.
    void arm(std::chrono::nanoseconds period) {
        itimerspec spec{};
        spec.it_value.tv_sec = static_cast<time_t>(period.count() / 1000000000);
        spec.it_value.tv_nsec = static_cast<long>(period.count() % 1000000000);
        spec.it_interval = spec.it_value;
        ::timer_settime(timer_, 0, &spec, nullptr);
    }
    // A signal already generated is handled when this call returns (the
    // thread does not block it), never in a later system call.
    void disarm() {
        itimerspec spec{};
        ::timer_settime(timer_, 0, &spec, nullptr);
    }

private:
    timer_t timer_{};
    bool created_ = false;
};

// Bounds the write of GuestCall::deliver with the thread's timer.
class BoundedWrite final : public CallWriteBracket {
public:
    explicit BoundedWrite(ThreadTimer& timer) : timer_(timer) {}
    void before_write(int fd) override {
        if (CallWriteHook hook = g_write_hook.load(std::memory_order_acquire)) {
            hook(fd);
        }
        timer_.arm(kCallWriteBound);
    }
    void after_write() override { timer_.disarm(); }

private:
    ThreadTimer& timer_;
};

// Blocks every signal but `signal` on the calling thread: process-directed
// signals go to other threads, and nothing but the bound interrupts a write.
void block_all_signals_but(int signal) {
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, signal);
    pthread_sigmask(SIG_SETMASK, &set, nullptr);
}

}  // namespace

void set_call_write_hook(CallWriteHook hook) {
    g_write_hook.store(hook, std::memory_order_release);
}

int Notifier::interrupt_signal() {
    return g_signal_seen.load(std::memory_order_relaxed);
}

Result<Notifier*> Notifier::acquire() {
    return g_notifier.acquire([]() -> Result<std::unique_ptr<Notifier>> {
        if (g_signal == 0) {
            int sig = claim_signal();
            if (sig < 0) {
                return Error{-sig, "no free real-time signal for the notifier"};
            }
            g_signal = sig;
            g_signal_seen.store(sig, std::memory_order_relaxed);
        }
        return std::unique_ptr<Notifier>(new Notifier());
    });
}

void Notifier::release() { g_notifier.release(); }

Status Notifier::start() {
    doorbell_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!doorbell_) {
        return Error{errno, "eventfd failed"};
    }
    thread_ = std::thread([this] { run(); });
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return started_ != 0; });
    if (started_ < 0) {
        int err = -started_;
        lock.unlock();
        thread_.join();
        return Error{err, "cannot create the notifier's timer"};
    }
    return Status::Ok();
}

Notifier::~Notifier() {
    if (thread_.joinable()) {
        stopping_.store(true, std::memory_order_release);
        uint64_t one = 1;
        ssize_t n = ::write(doorbell_.get(), &one, sizeof one);
        (void)n;
        thread_.join();
    }
}

void Notifier::add(const void* owner, GuestCall* call, const char* port,
                   uint32_t vring) {
    std::lock_guard<std::mutex> guard(mutex_);
    entries_.push_back({owner, call, port, vring});
    entries_generation_++;
}

void Notifier::remove(const void* owner) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::erase_if(entries_, [owner](const Entry& e) { return e.owner == owner; });
    entries_generation_++;
    changed_.wait(lock, [this, owner] { return busy_owner_ != owner; });
}

void Notifier::run() {
    block_all_signals_but(g_signal_seen.load(std::memory_order_relaxed));
    ThreadTimer timer;
    int created = timer.create(g_signal_seen.load(std::memory_order_relaxed));
    {
        std::lock_guard<std::mutex> guard(mutex_);
        started_ = created < 0 ? created : 1;
    }
    changed_.notify_all();
    if (created < 0) {
        return;
    }
    BoundedWrite bracket(timer);
    while (wait_for_doorbell()) {
        deliver_requested(bracket);
    }
}

bool Notifier::wait_for_doorbell() {
    for (;;) {
        if (stopping_.load(std::memory_order_acquire)) {
            return false;
        }
        pollfd ring{doorbell_.get(), POLLIN, 0};
        if (::poll(&ring, 1, -1) < 0) {
            continue;   // EINTR: nothing else can fail here.
        }
        uint64_t count;
        if (::read(doorbell_.get(), &count, sizeof count) == sizeof count) {
            return !stopping_.load(std::memory_order_acquire);
        }
    }
}

void Notifier::deliver_requested(CallWriteBracket& bracket) {
    std::unique_lock<std::mutex> lock(mutex_);
    uint64_t generation = entries_generation_;
    for (size_t i = 0; i < entries_.size(); i++) {
        Entry entry = entries_[i];
        if (!entry.call->requested()) {
            continue;
        }
        // Written without the lock, so that add(), remove() of other
        // devices and SET_VRING_CALL never wait for it; remove() of this
        // owner waits for busy_owner_.
        busy_owner_ = entry.owner;
        lock.unlock();
        CallOutcome outcome = entry.call->deliver(&bracket);
        if (outcome == CallOutcome::kStalled) {
            report_stall(entry.port, entry.vring);
        }
        lock.lock();
        busy_owner_ = nullptr;
        changed_.notify_all();
        if (generation != entries_generation_) {
            // Entries moved: scan again from the start, so that none whose
            // request is outstanding is skipped (its doorbell was consumed).
            generation = entries_generation_;
            i = static_cast<size_t>(-1);
        }
    }
}

void Notifier::report_stall(const char* port, uint32_t vring) {
    auto now = std::chrono::steady_clock::now();
    if (last_stall_log_ != std::chrono::steady_clock::time_point{} &&
        now - last_stall_log_ < kStallLogInterval) {
        unlogged_stalls_++;
        return;
    }
    last_stall_log_ = now;
    char unlogged[64] = "";
    if (uint64_t n = std::exchange(unlogged_stalls_, 0)) {
        std::snprintf(unlogged, sizeof unlogged, " (%llu earlier stalls not logged)",
                      static_cast<unsigned long long>(n));
    }
    log_message(NVH_LOG_WARN, "%s: vring %u: writing the call eventfd blocked "
                "for more than %lld ms (the frontend filled its counter or "
                "made it blocking): no interrupts on this vring until the "
                "frontend sends a new VHOST_USER_SET_VRING_CALL%s", port, vring,
                static_cast<long long>(kCallWriteBound.count()), unlogged);
}

}  // namespace nvh
