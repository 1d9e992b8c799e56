// SPDX-License-Identifier: Apache-2.0
// attack_fds.cpp: the vring fd attacks of vhost_user_attack: kick and call
// fds that are not eventfds, or eventfds the frontend drains, fills and
// flips between blocking and non-blocking while the port uses them
// (docs/security.md, "Fault policy" and "Call eventfds").
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "attack_common.h"

namespace nvh::attack {
namespace {

using vhost_user::Request;

// The fullest an eventfd counter gets: a write of 1 blocks on it (eventfd(2)).
constexpr uint64_t kCounterFull = 0xfffffffffffffffe;

// SET_VRING_KICK or _CALL for vring 0 with `fd`, which is no eventfd: the
// port must close the connection before it ever waits on it
// (vhost-user.rst: vring kick/call/err fds are eventfds).
void send_vring_fd_expect_close(Context& c, Request request, int fd) {
    negotiate(c);
    if (!c.fe.set_vring_fd(request, 0, fd)) {
        note("the port refused the vring fd at once");
    }
    expect_closed(c.fe, "the port accepted a vring fd that is not an eventfd");
}

// A socket as kick fd, SO_RCVLOWAT 8 and one byte queued: poll() says
// readable, a read() would block until 8 bytes are there.
void kick_socket_rcvlowat(Context& c) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        fail("socketpair failed");
    }
    UniqueFd ours(sv[0]), sent(sv[1]);
    int lowat = 8;
    if (::setsockopt(sent.get(), SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) != 0 ||
        ::write(ours.get(), "k", 1) != 1) {
        fail("preparing the socket failed");
    }
    send_vring_fd_expect_close(c, Request::kSetVringKick, sent.get());
}

// A pipe as call fd, nobody reading it: a write blocks once it is full.
void call_pipe(Context& c) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        fail("pipe failed");
    }
    UniqueFd read_end(p[0]), write_end(p[1]);
    send_vring_fd_expect_close(c, Request::kSetVringCall, write_end.get());
}

void set_blocking(int fd, bool blocking) {
    int fl = ::fcntl(fd, F_GETFL);
    (void)::fcntl(fd, F_SETFL, blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK));
}

// A blocking kick eventfd that a second thread drains between the port's
// poll and read, flipping O_NONBLOCK on the shared file description all
// the time, while the main thread kicks: the port's control thread must
// never block on it (it reads kicks with RWF_NOWAIT).
void kick_eventfd_drained(Context& c) {
    SplitGuest g;
    g.kick[1] = make_eventfd(0);
    g.set_up(c);
    g.exchange(2, 1);
    const int fd = g.kick[1].get();
    std::atomic<bool> stop{false}, done{false};
    std::thread drainer([&] {
        uint64_t v;
        while (!stop.load(std::memory_order_relaxed)) {
            set_blocking(fd, true);
            (void)!::read(fd, &v, sizeof v);   // Waits for the next kick.
            set_blocking(fd, false);
            (void)!::read(fd, &v, sizeof v);
        }
        done = true;
    });
    g.exchange(2, 2);
    note("frames pass while the kick eventfd is drained");
    hold_while(c.fe, [&] { g.kick_tx(); });
    stop = true;
    while (!done.load()) {   // The drainer may wait in a blocking read.
        g.kick_tx();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    drainer.join();
}

bool counter_full(int fd) {
    pollfd p{fd, POLLOUT, 0};
    return ::poll(&p, 1, 0) == 0;
}

// The receive ring's call eventfd blocking and its counter preloaded full:
// a write of 1 by the port would block.  Frames must pass, the interrupts
// count as pending (nothing written, the counter still full) and no call
// fd stalls.
void call_eventfd_full(Context& c) {
    SplitGuest g;
    g.call[0] = make_eventfd(0);
    const uint64_t full = kCounterFull;
    if (::write(g.call[0].get(), &full, sizeof full) != sizeof full) {
        fail("filling the call eventfd failed");
    }
    g.set_up(c);
    for (int round = 1; round <= 8; round++) {
        g.exchange(16, round);
    }
    if (!counter_full(g.call[0].get())) {
        fail("the call eventfd's counter changed");
    }
    note("128 frames passed; the full call eventfd is still full");
    hold(c.fe);
}

}  // namespace

const std::vector<Entry>& fd_attacks() {
    static const std::vector<Entry> list = {
        {"kick_socket_rcvlowat", kick_socket_rcvlowat},
        {"kick_eventfd_drained", kick_eventfd_drained},
        {"call_pipe", call_pipe},
        {"call_eventfd_full", call_eventfd_full},
    };
    return list;
}

}  // namespace nvh::attack
