// SPDX-License-Identifier: Apache-2.0
// netdev-vhost-keeper: holds the vhost-user connections of an ovs-vswitchd
// that exits for a planned restart until the next one takes them
// (device/keeper_link.h).  Started by the exiting process:
//
//     netdev-vhost-keeper SOCKET HOLD_MS      (fd 3: the exiting process)
//
// Reads the records from fd 3 until END, binds SOCKET (mode 0600, owned by
// the owner of its directory, the switch's run directory), answers HELD,
// then serves TAKE requests from processes of its own user, root or the run
// directory's owner until every record is taken, the next process says it
// will take no more (RELEASE: it has created all its ports) or HOLD_MS have
// passed.  A record whose frontend hangs up or sends a request meanwhile is
// dropped (closed: the frontend reconnects as after any disconnect).  Records
// nobody took are closed when it exits: their frontends see the connection
// close and reconnect as after any disconnect.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "device/keeper_link.h"

namespace {

using nvh::UniqueFd;
using nvh::keeper::Frame;
using nvh::keeper::Op;
using Clock = std::chrono::steady_clock;

constexpr int kParentFd = 3;

void say(const char* fmt, const char* arg) {
    std::fprintf(stderr, "netdev-vhost-keeper: ");
    std::fprintf(stderr, fmt, arg);
    std::fprintf(stderr, "\n");
}

// Closes every fd above the parent's: the exiting process's other fds are
// close-on-exec, but a keeper must never hold a connection it was not given.
void close_inherited_fds() {
    if (syscall(SYS_close_range, kParentFd + 1, ~0U, 0) == 0) {
        return;
    }
    for (int fd = kParentFd + 1; fd < 65536; fd++) {
        ::close(fd);
    }
}

// The owner of the directory `path` is in: the switch's run directory
// belongs to the user ovs-vswitchd runs as ("ovs-ctl --ovs-user" chowns it),
// which the next ovs-vswitchd may be even when this one ran as root.
uid_t directory_owner(const char* path, gid_t* gid) {
    std::string dir(path);
    size_t slash = dir.rfind('/');
    dir = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) {
        *gid = ::getegid();
        return ::geteuid();
    }
    *gid = st.st_gid;
    return st.st_uid;
}

UniqueFd listen_at(const char* path, ino_t* inode) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof addr.sun_path) {
        say("socket path too long: %s", path);
        return UniqueFd();
    }
    std::strcpy(addr.sun_path, path);
    UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    mode_t old_mask = ::umask(077);
    ::unlink(path);   // A keeper of an earlier restart gives its path up.
    bool ok = sock.valid() &&
              ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              ::listen(sock.get(), 64) == 0;
    ::umask(old_mask);
    struct stat st{};
    if (!ok || ::lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        say("cannot listen: %s", std::strerror(errno));
        return UniqueFd();
    }
    *inode = st.st_ino;
    // The next ovs-vswitchd may run as the run directory's owner.
    gid_t gid;
    uid_t owner = directory_owner(path, &gid);
    // Not following a symlink: the directory's owner could swap the socket
    // for one after the bind.
    if (owner != ::geteuid() &&
        ::fchownat(AT_FDCWD, path, owner, gid, AT_SYMLINK_NOFOLLOW) != 0) {
        say("cannot give the socket to the run directory's owner: %s", std::strerror(errno));
    }
    return sock;
}

// Whether the peer runs as root, this process's user or the run
// directory's owner (`dir_owner`).
bool trusted_peer(int conn, uid_t dir_owner) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return false;
    }
    return cred.uid == 0 || cred.uid == ::geteuid() || cred.uid == dir_owner;
}

using Records = std::map<std::string, nvh::vhost_user::StateRecord>;

// Reads the exiting process's records from fd 3 until END.
bool read_records(Records* records) {
    for (;;) {
        nvh::Result<Frame> frame = nvh::keeper::recv_frame(kParentFd, nvh::keeper::kAnswerTimeoutMs);
        if (!frame) {
            say("no records: %s", frame.error().what);
            return false;
        }
        if (frame->op == Op::kEnd) {
            return true;
        }
        if (frame->op == Op::kPut && !frame->record.fds.empty()) {
            (*records)[frame->key] = std::move(frame->record);
        }
    }
}

// Answers one connection on the listener: the record it asks for, or NONE.
void answer(int listener, uid_t dir_owner, Records* records) {
    UniqueFd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid() || !trusted_peer(conn.get(), dir_owner)) {
        return;
    }
    nvh::Result<Frame> request = nvh::keeper::recv_frame(conn.get(), nvh::keeper::kAnswerTimeoutMs);
    if (request && request->op == Op::kRelease) {
        for (const auto& [key, record] : *records) {
            say("the next process did not take the connection of %s: closing it",
                key.c_str());
        }
        records->clear();
        return;
    }
    if (!request || request->op != Op::kTake) {
        return;
    }
    auto it = records->find(request->key);
    if (it == records->end()) {
        (void)nvh::keeper::send_frame(conn.get(), Op::kNone, request->key, nullptr);
        return;
    }
    if (nvh::keeper::send_frame(conn.get(), Op::kRecord, it->first, &it->second)) {
        records->erase(it);
    }
}

// Serves TAKE requests until every record is taken or `deadline`.
void serve(int listener, uid_t dir_owner, Records* records, Clock::time_point deadline) {
    while (!records->empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            return;
        }
        // The listener, and each held connection's socket: a frontend that
        // went away (its guest stopped) has nothing to resume, and one that
        // sends a request waits for an answer the keeper cannot give (QEMU
        // stopping a guest waits for GET_VRING_BASE's): it gets the
        // disconnect it would have got without a handover.
        std::vector<pollfd> polled{{listener, POLLIN, 0}};
        std::vector<std::string> keys;
        for (const auto& [key, record] : *records) {
            polled.push_back({record.fds[0].get(), POLLIN | POLLRDHUP, 0});
            keys.push_back(key);
        }
        if (::poll(polled.data(), polled.size(), static_cast<int>(left.count())) <= 0) {
            continue;
        }
        for (size_t i = 1; i < polled.size(); i++) {
            if (polled[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
                say("the frontend of %s hung up: dropping its connection", keys[i - 1].c_str());
                records->erase(keys[i - 1]);
            } else if (polled[i].revents & POLLIN) {
                say("the frontend of %s sent a request while held: closing its connection",
                    keys[i - 1].c_str());
                records->erase(keys[i - 1]);
            }
        }
        if (polled[0].revents & POLLIN) {
            answer(listener, dir_owner, records);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s SOCKET HOLD_MS (fd 3 from the exiting process)\n",
                     argv[0]);
        return 2;
    }
    const char* path = argv[1];
    const long hold_ms = std::strtol(argv[2], nullptr, 10);
    close_inherited_fds();
    ::setsid();
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);

    Records records;
    if (!read_records(&records)) {
        return 1;
    }
    ino_t inode = 0;
    UniqueFd listener = listen_at(path, &inode);
    if (!listener.valid()) {
        return 1;   // The records close: their frontends reconnect.
    }
    (void)nvh::keeper::send_frame(kParentFd, Op::kHeld, {}, nullptr);
    ::close(kParentFd);

    gid_t gid;
    const uid_t dir_owner = directory_owner(path, &gid);
    serve(listener.get(), dir_owner, &records, Clock::now() + std::chrono::milliseconds(hold_ms));
    for (const auto& [key, record] : records) {
        say("nobody took the connection of %s: closing it", key.c_str());
    }
    struct stat st{};
    if (::lstat(path, &st) == 0 && st.st_ino == inode) {
        ::unlink(path);
    }
    return 0;
}
