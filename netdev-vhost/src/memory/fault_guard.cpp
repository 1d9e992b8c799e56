// SPDX-License-Identifier: Apache-2.0
// fault_guard.cpp: see fault_guard.h.
//
// The registry is a fixed array of slots that the signal handler reads
// without locks.  Each slot is a small seqlock: the writer (under
// g_registry_mutex, never taken by the handler) makes `seq` odd, writes the
// fields, then makes it even again; the handler ignores a slot whose `seq`
// is odd or changed while it read it.  That can only be a slot being
// registered (not yet used) or released (no longer used): a mapping is
// released only once no thread can reach it (queues stopped under their
// locks), so the mapping a thread faults in is never in flux.  A slot is
// free while its length is 0 and is reused only after it was cleared.
//
// Chaining, for a SIGBUS that is not in a registered mapping (or whose page
// cannot be replaced), to the action installed before ours:
//   - an SA_SIGINFO handler is called with the same arguments;
//   - a plain handler is called with the signal number (DPDK's EAL installs
//     one, briefly, around hugepage allocation in eal_memalloc.c, and puts
//     back what it found afterwards);
//   - SIG_DFL, and SIG_IGN (ignoring a fault would repeat it forever): the
//     default action is restored and the handler returns, so the faulting
//     access runs again and the process dies with a core dump as it would
//     have without us.  A SIGBUS that was sent rather than raised by a fault
//     (si_code <= 0: kill, raise, sigqueue) is sent again; it stays blocked
//     until the handler returns, then kills.
// The previous action is the one found when ours was installed.  If
// something replaced ours (e.g. DPDK put back an older action it saved
// while ours was being installed), the next registration installs ours
// again and takes the action it finds as the previous one.
#include "memory/fault_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <utility>

#include "base/log.h"

namespace nvh {
namespace {

struct Slot {
    std::atomic<uint32_t> seq{0};         // Odd while being written.
    std::atomic<uintptr_t> start{0};
    std::atomic<size_t> length{0};        // 0: free.
    std::atomic<size_t> page_size{0};
    std::atomic<FaultFlag*> owner{nullptr};
};

Slot g_slots[FaultGuard::kMaxMappings];
// Slots ever used: the handler scans [0, g_slots_used).  Release on growth,
// after the new slot was written.
std::atomic<size_t> g_slots_used{0};
std::mutex g_registry_mutex;   // Registration only; never in the handler.
bool g_handler_installed_before = false;   // Guarded by g_registry_mutex.

// The action found when ours was installed.  Two buffers: the one not
// published is written, then published (release), so the handler never
// reads a half-written action.  nullptr: none found yet (SIG_DFL).
struct sigaction g_previous_buffers[2];
std::atomic<const struct sigaction*> g_previous{nullptr};

std::atomic<uint64_t> g_faults{0};

static_assert(std::atomic<uintptr_t>::is_always_lock_free &&
                  std::atomic<size_t>::is_always_lock_free &&
                  std::atomic<FaultFlag*>::is_always_lock_free &&
                  std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<const struct sigaction*>::is_always_lock_free,
              "read and written in a signal handler");

void write_slot(Slot& slot, uintptr_t start, size_t length, size_t page_size,
                FaultFlag* owner) {
    const uint32_t seq = slot.seq.load(std::memory_order_relaxed);
    slot.seq.store(seq + 1, std::memory_order_relaxed);
    // Release: a reader that sees a new field value (acquire) also sees the
    // odd seq, and so a changed seq when it reads it again.
    slot.start.store(start, std::memory_order_release);
    slot.length.store(length, std::memory_order_release);
    slot.page_size.store(page_size, std::memory_order_release);
    slot.owner.store(owner, std::memory_order_release);
    // Release: the fields are visible before the even seq.
    slot.seq.store(seq + 2, std::memory_order_release);
}

// ---- In the signal handler: async-signal-safe only. ----------------------

// Replaces the page of a registered mapping that holds `addr` with
// anonymous zero memory and tells its owner.  False if `addr` is in no
// registered mapping or the page cannot be replaced.
bool replace_faulting_page(uintptr_t addr) {
    const size_t used = g_slots_used.load(std::memory_order_acquire);
    for (size_t i = 0; i < used; i++) {
        Slot& slot = g_slots[i];
        // Acquire on every load: the fields match the seq read before them,
        // and the second seq load cannot move before the field loads.
        const uint32_t seq = slot.seq.load(std::memory_order_acquire);
        const uintptr_t start = slot.start.load(std::memory_order_acquire);
        const size_t length = slot.length.load(std::memory_order_acquire);
        const size_t page = slot.page_size.load(std::memory_order_acquire);
        FaultFlag* owner = slot.owner.load(std::memory_order_acquire);
        if ((seq & 1) != 0 || slot.seq.load(std::memory_order_relaxed) != seq ||
            length == 0 || addr - start >= length) {
            continue;   // In flux, free, or not this one (addr < start wraps).
        }
        // The whole page of the mapping's page size: a hugetlbfs mapping can
        // only be split at huge page boundaries.  The raw system call, not
        // an interceptor of mmap that a sanitizer may have put in front.
        const uintptr_t page_start = start + ((addr - start) & ~(page - 1));
        // MAP_NORESERVE: a 1 GiB page must not fail under strict overcommit.
        const long mapped =
            ::syscall(SYS_mmap, page_start, page, PROT_READ | PROT_WRITE,
                      MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (mapped != static_cast<long>(page_start)) {
            return false;
        }
        if (owner != nullptr) {
            // Release: whoever sees the flag (acquire) sees the page replaced.
            owner->store(true, std::memory_order_release);
        }
        g_faults.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    return false;
}

void chain_to_previous(int sig, siginfo_t* info, void* context) {
    const struct sigaction* previous = g_previous.load(std::memory_order_acquire);
    if (previous != nullptr) {
        if ((previous->sa_flags & SA_SIGINFO) != 0) {
            if (previous->sa_sigaction != nullptr) {
                previous->sa_sigaction(sig, info, context);
                return;
            }
        } else if (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN) {
            previous->sa_handler(sig);
            return;
        }
    }
    struct sigaction default_action{};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    ::sigaction(sig, &default_action, nullptr);
    if (info->si_code <= 0) {
        ::raise(sig);
    }
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
    const int saved_errno = errno;
    // si_code > 0: raised by the kernel for an access (BUS_ADRERR, ...), so
    // si_addr is the faulting address.
    const bool survived =
        info->si_code > 0 && replace_faulting_page(reinterpret_cast<uintptr_t>(info->si_addr));
    if (!survived) {
        chain_to_previous(sig, info, context);
    }
    errno = saved_errno;
}

// ---- Installation (registry mutex held). ----------------------------------

bool handler_is_ours(const struct sigaction& action) {
    return (action.sa_flags & SA_SIGINFO) != 0 && action.sa_sigaction == on_sigbus;
}

Status install_handler() {
    struct sigaction current;
    if (::sigaction(SIGBUS, nullptr, &current) != 0) {
        return Error{errno, "cannot read the SIGBUS action"};
    }
    if (handler_is_ours(current)) {
        return Status::Ok();
    }
    struct sigaction ours{};
    ours.sa_sigaction = on_sigbus;
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&ours.sa_mask);
    const struct sigaction* published = g_previous.load(std::memory_order_relaxed);
    struct sigaction* next =
        published == &g_previous_buffers[0] ? &g_previous_buffers[1] : &g_previous_buffers[0];
    // Exchanged in one call, so nothing installed in between is lost.
    if (::sigaction(SIGBUS, &ours, next) != 0) {
        return Error{errno, "cannot install the SIGBUS handler for guest memory"};
    }
    g_previous.store(next, std::memory_order_release);
    if (g_handler_installed_before) {
        log_message(NVH_LOG_WARN, "the SIGBUS handler that guards guest memory "
                    "had been replaced; installed it again");
    }
    g_handler_installed_before = true;
    return Status::Ok();
}

}  // namespace

Result<FaultGuard> FaultGuard::watch(const void* start, size_t length, size_t page_size,
                                     FaultFlag* owner) {
    if (length == 0 || page_size == 0 || (page_size & (page_size - 1)) != 0) {
        return Error{EINVAL, "guest mapping of size 0 or with an odd page size"};
    }
    std::lock_guard<std::mutex> guard(g_registry_mutex);
    Status installed = install_handler();
    if (!installed) {
        return installed.error();
    }
    const size_t used = g_slots_used.load(std::memory_order_relaxed);
    size_t slot = 0;
    while (slot < used && g_slots[slot].length.load(std::memory_order_relaxed) != 0) {
        slot++;
    }
    if (slot == kMaxMappings) {
        return Error{ENOSPC, "too many guest memory mappings to guard against SIGBUS"};
    }
    write_slot(g_slots[slot], reinterpret_cast<uintptr_t>(start), length, page_size, owner);
    if (slot == used) {
        g_slots_used.store(used + 1, std::memory_order_release);
    }
    return FaultGuard(slot);
}

FaultGuard::FaultGuard(FaultGuard&& other) noexcept
    : slot_(std::exchange(other.slot_, kNoSlot)) {}

FaultGuard& FaultGuard::operator=(FaultGuard&& other) noexcept {
    if (this != &other) {
        release();
        slot_ = std::exchange(other.slot_, kNoSlot);
    }
    return *this;
}

void FaultGuard::release() {
    if (slot_ == kNoSlot) {
        return;
    }
    std::lock_guard<std::mutex> guard(g_registry_mutex);
    write_slot(g_slots[slot_], 0, 0, 0, nullptr);
    slot_ = kNoSlot;
}

uint64_t guest_memory_faults() { return g_faults.load(std::memory_order_relaxed); }

}  // namespace nvh
