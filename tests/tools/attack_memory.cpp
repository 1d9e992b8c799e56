// SPDX-License-Identifier: Apache-2.0
// attack_memory.cpp: the guest memory attacks of vhost_user_attack: a
// table asking for more address space than the port allows, memory and a
// dirty log that fault after they were mapped, and hugetlbfs regions
// smaller than a huge page (docs/security.md, "Fault policy").
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>

#include "attack_common.h"

namespace nvh::attack {
namespace {

using vhost_user::Request;
using Clock = std::chrono::steady_clock;

// Calls `step` until the port closes the connection; fail(what) after
// kTimeoutMs.
void closed_while(VhostUserFrontend& fe, const std::function<void()>& step,
                  const char* what) {
    const auto end = Clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (!fe.wait_peer_closed(1)) {
        if (Clock::now() > end) {
            fail(what);
        }
        step();
    }
    note("the port closed the connection");
}

// One region of 100 TiB in a sparse memfd: the file is that long without
// a byte of memory behind it, and mapping it takes the address space of
// the process.  The port must refuse it before mapping anything
// (max-guest-memory-mb, default 1 TiB).
void mem_sparse_huge(Context& c) {
    const uint64_t size = uint64_t{100} << 40;
    negotiate(c);
    UniqueFd fd = GuestMemoryFixture::make_memfd(size);
    if (!fd) {
        fail("a 100 TiB memfd cannot be made");
    }
    const int fds[1] = {fd.get()};
    if (!c.fe.send(code(Request::kSetMemTable), mem_table({{0, size, 0x10000000, 0}}),
                   fds)) {
        fail("sending SET_MEM_TABLE failed");
    }
    expect_closed(c.fe, "the port kept a 100 TiB memory table");
}

void truncate_to_zero(int fd) {
    if (::ftruncate(fd, 0) != 0) {
        fail("ftruncate failed");
    }
}

// Valid rings, frames passing; then both regions' files truncated to 0
// while the tool keeps kicking: the port's next access to the rings faults
// (SIGBUS).  It must survive, count the fault and close the connection.
// This process no longer touches that memory either.
void mem_truncated(Context& c) {
    SplitGuest g;
    g.set_up(c);
    g.exchange(2, 1);
    truncate_to_zero(g.mem.fd(0));
    truncate_to_zero(g.mem.fd(1));
    note("guest memory truncated");
    closed_while(c.fe, [&] { g.kick_tx(); }, "the port kept memory that faults");
}

// One more frame each way if descriptors are free: used entries taken
// back first.
void keep_receiving(SplitGuest& g, int n) {
    while (g.txq->pop_used()) {
    }
    while (g.rxq->pop_used()) {
    }
    if (g.rxq->add_rx({kBufferSize}) >= 0) {
        (void)g.txq->add_tx(std::vector<uint8_t>(kHeaderLen, 0), make_frame(n));
    }
    g.kick_tx();
}

// SET_LOG_BASE (vhost-user.rst, "Log description": size, offset, one fd).
void set_log_base(Context& c, int fd, uint64_t size) {
    std::vector<uint8_t> b;
    put<uint64_t>(b, size);
    put<uint64_t>(b, 0);
    const int fds[1] = {fd};
    if (!c.fe.send(code(Request::kSetLogBase), b, fds) || !c.fe.receive()) {
        fail("SET_LOG_BASE failed");
    }
}

// VHOST_F_LOG_ALL and a shared dirty log, frames passing (the port sets
// bits in the log for every receive buffer it writes); then the log's file
// truncated to 0 while frames keep coming: the port's next log write faults.
void log_truncated(Context& c) {
    SplitGuest g;
    g.extra_features = virtio::bit(virtio::kFLogAll);
    g.extra_protocol = virtio::bit(vhost_user::kProtocolFLogShmfd);
    g.set_up(c);
    UniqueFd log = GuestMemoryFixture::make_memfd(0x1000);   // 128 MiB of guest
    set_log_base(c, log.get(), 0x1000);
    g.exchange(2, 1);
    truncate_to_zero(log.get());
    note("dirty log truncated");
    int n = 0;
    closed_while(c.fe, [&] { keep_receiving(g, n++); },
                 "the port kept a dirty log that faults");
}

// 50 memory tables, each one region of 4 KiB in a new MFD_HUGETLB memfd
// of one huge page: the port maps (and must unmap) a whole huge page each
// time; the tool closes its own fd after each table, so only the port's
// mapping holds the page.
void mem_hugetlb_small(Context& c) {
    negotiate(c, virtio::bit(vhost_user::kProtocolFReplyAck));
    const uint64_t huge_page = 2 << 20;
    for (int i = 0; i < 50; i++) {
        UniqueFd fd(::memfd_create("attack-hugetlb", MFD_HUGETLB | MFD_CLOEXEC));
        if (!fd || ::ftruncate(fd.get(), huge_page) != 0) {
            fail("no MFD_HUGETLB memfd of 2 MiB (hugetlbfs with 2 MiB pages?)");
        }
        const int fds[1] = {fd.get()};
        if (!send_acked(c.fe, Request::kSetMemTable,
                        mem_table({{0, 0x1000, 0x10000000, 0}}), fds)) {
            fail("the port refused a 4 KiB hugetlbfs region");
        }
    }
    note("50 tables of a 4 KiB hugetlbfs region applied");
    hold(c.fe);
}

}  // namespace

const std::vector<Entry>& memory_fault_attacks() {
    static const std::vector<Entry> list = {
        {"mem_sparse_huge", mem_sparse_huge},
        {"mem_truncated", mem_truncated},
        {"log_truncated", log_truncated},
        {"mem_hugetlb_small", mem_hugetlb_small},
    };
    return list;
}

}  // namespace nvh::attack
