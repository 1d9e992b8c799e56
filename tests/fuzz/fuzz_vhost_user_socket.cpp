// SPDX-License-Identifier: Apache-2.0
// fuzz_vhost_user_socket.cpp: a hostile frontend at the socket.  The
// device's end is a real Session, connected to a unix socket the way a
// device connects to its frontend; the frontend's end writes the fuzzer's
// bytes in chunks split anywhere (mid-header, mid-payload, several
// messages at once), each sendmsg carrying fds of any kind
// (hostile_fds.h): eventfds blocking or not or with a full counter, pipe
// ends, sockets, memfds, regular and sparse files, /dev/null.  The frontend
// closes every fd it sent, keeping copies of some (a socket's peer, the
// other end of a pipe, a blocking eventfd).
//
// The device side does what the control thread does for a connection
// (Device::on_fd_event, Device::on_message, Device::disconnect): it reads
// until the socket would block, decodes and applies each complete message
// with a MessageHandler, sends the reply, and after every message runs one
// burst on each started queue (fuzz_queues.h), as a PMD would.  At the end
// of an input it disconnects, and the input fails if any fd the device
// received is still open or any file it mapped is still mapped.
//
// Two behaviours of an older core hung on such fds; each is behind a
// switch (CMake options, both on by default):
//   NVH_FUZZ_KICK_DRAIN (on by default): run a KickMonitor on the real
//     ControlThread, which drains each started ring's kick fd as the
//     product does.  An older core blocked there on a socket with
//     SO_RCVLOWAT (seed hang-kick-socket-rcvlowat).
//   NVH_FUZZ_CALL_BACKPRESSURE (on by default): the frontend never empties
//     its copies of the call fds; an older core's data path blocked on a
//     full blocking eventfd or pipe (seeds hang-call-full-*).  Off, the
//     frontend reads them before every burst, as QEMU serves a guest's
//     interrupts.  This harness creates no Notifier, so nothing writes the
//     call fds either way; tests/unit/notifier_test.cpp covers the bound on
//     that write.
//
// Input (fuzz_input.h; make_corpus.py writes seeds in it): writes, each
//   u8  bits 0-3 fd count, bit 4 the device does not read after this
//       write, bit 5 the frontend does not read its replies after it
//   u16 n, then n bytes (the chunk; an empty chunk carries no fds)
//   per fd: its kind and parameters (hostile_fds.h)
// At most kMaxWrites writes, kMaxBytes bytes and kMaxMessages messages.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "device/control_thread.h"
#include "device/kick_monitor.h"
#include "fuzz_input.h"
#include "fuzz_queues.h"
#include "hostile_fds.h"
#include "vhost_user/message_handler.h"
#include "vhost_user/session.h"
#include "vhost_user/vhost_user_message.h"

#ifndef NVH_FUZZ_KICK_DRAIN
#define NVH_FUZZ_KICK_DRAIN 0
#endif
#ifndef NVH_FUZZ_CALL_BACKPRESSURE
#define NVH_FUZZ_CALL_BACKPRESSURE 0
#endif

namespace {

using nvh::Status;
using nvh::UniqueFd;
using nvh::fuzz::FuzzInput;
namespace vhost_user = nvh::vhost_user;

constexpr uint32_t kQueuePairs = 2;
constexpr int kMaxWrites = 256;
constexpr size_t kMaxBytes = 64 * 1024;
constexpr int kMaxMessages = 64;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_vhost_user_socket: %s\n", what);
    __builtin_trap();
}

// The frontend's listening socket, one per process; every input is one
// connection to it.
struct Listener {
    std::string path;
    UniqueFd fd;
};

const Listener& listener() {
    static Listener l = [] {
        Listener made;
        const char* dir = std::getenv("TMPDIR");
        made.path = std::string(dir && *dir ? dir : "/tmp") + "/nvh-fuzz-" +
                    std::to_string(::getpid()) + ".sock";
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (made.path.size() >= sizeof addr.sun_path) {
            fail("socket path too long");
        }
        std::memcpy(addr.sun_path, made.path.c_str(), made.path.size());
        ::unlink(made.path.c_str());
        made.fd = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (::bind(made.fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                   sizeof addr) != 0 ||
            ::listen(made.fd.get(), 4) != 0) {
            fail("cannot listen");
        }
        // The handler runs after `made`'s copy is destroyed (it is
        // registered while the static is being built), so it unlinks a
        // copy of the path of its own.
        static char path_at_exit[sizeof addr.sun_path];
        std::memcpy(path_at_exit, made.path.c_str(), made.path.size() + 1);
        std::atexit([] { ::unlink(path_at_exit); });
        return made;
    }();
    return l;
}

nvh::ControlThread* control_thread() {
    static nvh::ControlThread* control = [] {
        nvh::Result<nvh::ControlThread*> acquired = nvh::ControlThread::acquire();
        if (!acquired) {
            fail("no control thread");
        }
        return acquired.value();
    }();
    return control;
}

// Runs `fn` where the product runs the device's control work: on the
// control thread when the kick monitor is in, else right here.
template <typename Fn>
void on_control_thread(Fn&& fn) {
    if (NVH_FUZZ_KICK_DRAIN) {
        control_thread()->run_sync(fn);
    } else {
        fn();
    }
}

// One connection: the device's end and the frontend's.
class Connection final : public nvh::MessageSink, public nvh::KickListener {
public:
    Connection();
    ~Connection() { disconnect(); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool connected() const { return session_.connected(); }
    nvh::fuzz::FrontendFds& frontend_fds() { return fds_; }

    // ---- The frontend. ------------------------------------------------------
    // Writes `bytes`, the fds with the first one; false if the device stops
    // reading (the socket stays full) or is gone.
    bool send(std::span<const uint8_t> bytes, std::span<UniqueFd> fds);
    void read_replies();

    // ---- The device (the control thread and a PMD). -------------------------
    // Device::on_fd_event: reads until the socket would block.
    void serve();
    // Device::disconnect.
    void disconnect();

    Status on_message(const vhost_user::Header& header,
                      std::span<const uint8_t> payload,
                      std::span<UniqueFd> fds) override;
    void on_memory_not_shared(uint32_t, uint32_t) override {}

private:
    bool send_once(std::span<const uint8_t> bytes, std::span<UniqueFd> fds,
                   size_t* sent);
    Status apply(vhost_user::Message& message);

    nvh::MessageHandler::QueueArray queues_;
    nvh::MessageHandler handler_{queues_, kQueuePairs,
                                 nvh::kOfferedFeatures | nvh::kOffloadFeatures};
    nvh::KickMonitor kicks_{queues_, *this};
    const nvh::DeviceLog log_{};   // The process-wide handler.
    nvh::Session session_;
    UniqueFd frontend_;
    nvh::fuzz::FrontendFds fds_;
    int messages_ = 0;
};

Connection::Connection() {
    if (NVH_FUZZ_KICK_DRAIN) {
        kicks_.attach(control_thread(), log_);
    }
    if (!session_.connect(listener().path.c_str())) {
        fail("cannot connect");
    }
    frontend_ = UniqueFd(::accept4(listener().fd.get(), nullptr, nullptr,
                                   SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!frontend_) {
        fail("cannot accept");
    }
}

bool Connection::send_once(std::span<const uint8_t> bytes,
                           std::span<UniqueFd> fds, size_t* sent) {
    iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        for (size_t i = 0; i < fds.size(); i++) {
            const int raw = fds[i].get();
            std::memcpy(CMSG_DATA(c) + i * sizeof(int), &raw, sizeof raw);
        }
    }
    const ssize_t n = ::sendmsg(frontend_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) {
        return false;
    }
    *sent = static_cast<size_t>(n);
    return true;
}

bool Connection::send(std::span<const uint8_t> bytes, std::span<UniqueFd> fds) {
    bool retried = false;
    while (!bytes.empty()) {
        size_t sent = 0;
        if (send_once(bytes, fds, &sent)) {
            bytes = bytes.subspan(sent);
            fds = {};   // They went with the first byte.
            retried = false;
            continue;
        }
        if (errno != EAGAIN || retried || !connected()) {
            return false;
        }
        // The socket is full: let the device read, then try once more.
        serve();
        read_replies();
        retried = true;
    }
    return true;
}

void Connection::read_replies() {
    static std::array<uint8_t, 65536> replies;
    for (int reads = 0; reads < 16; reads++) {
        if (::recv(frontend_.get(), replies.data(), replies.size(), MSG_DONTWAIT) <= 0) {
            return;
        }
    }
}

void Connection::serve() {
    on_control_thread([this] {
        // Level-triggered: the control thread comes back while the socket
        // is readable.  Bounded here by kMaxMessages.
        for (int rounds = 0; rounds < kMaxMessages && connected(); rounds++) {
            if (!session_.receive(*this)) {
                disconnect();
                return;
            }
            pollfd p{session_.fd(), POLLIN, 0};
            if (::poll(&p, 1, 0) != 1) {
                return;
            }
        }
    });
}

void Connection::disconnect() {
    on_control_thread([this] {
        kicks_.unwatch_all();
        handler_.reset();
        session_.close();
    });
}

Status Connection::on_message(const vhost_user::Header& header,
                              std::span<const uint8_t> payload,
                              std::span<UniqueFd> fds) {
    if (++messages_ > kMaxMessages) {
        return nvh::Error{E2BIG, "input's message bound reached"};
    }
    vhost_user::Message message;
    Status decoded = vhost_user::decode(header, payload, fds,
                                        handler_.decode_limits(), &message);
    if (!decoded) {
        return decoded;
    }
    Status applied = apply(message);
    // The data path between two messages.
    if (!NVH_FUZZ_CALL_BACKPRESSURE) {
        fds_.drain_kept();
    }
    nvh::fuzz::poll_queues(queues_, handler_.vring_count(), handler_.take_announce());
    return applied;
}

// Device::on_message after decoding.
Status Connection::apply(vhost_user::Message& message) {
    kicks_.unwatch_all();
    nvh::HandleOutcome outcome = handler_.handle(message);
    kicks_.watch_started(handler_.vring_count(), handler_.features());
    if (outcome.reply) {
        Status sent = session_.send(outcome.reply->span());
        if (!sent) {
            return sent;
        }
    }
    if (outcome.verdict == nvh::HandleOutcome::Verdict::kFatal) {
        return nvh::Error{EPROTO, outcome.reason};
    }
    return Status::Ok();
}

// The frontend's writes, from the input.
void run_writes(Connection& connection, FuzzInput& in) {
    size_t total = 0;
    for (int w = 0; w < kMaxWrites && !in.empty() && total < kMaxBytes; w++) {
        const uint8_t op = in.u8();
        const size_t want = std::min<size_t>(in.u16(), kMaxBytes - total);
        std::span<const uint8_t> chunk = in.bytes(want);
        total += chunk.size();
        std::vector<UniqueFd> fds;
        for (int i = 0; i < (op & 0xf); i++) {
            fds.push_back(connection.frontend_fds().make(in));
        }
        if (!connection.connected() || !connection.send(chunk, fds)) {
            return;
        }
        fds.clear();   // The frontend closes what it sent, as QEMU does.
        if (!(op & 0x10)) {
            connection.serve();
        }
        if (!(op & 0x20)) {
            connection.read_replies();
        }
    }
    connection.serve();
}

size_t count_open_fds() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) {
        fail("no /proc/self/fd");
    }
    size_t n = 0;
    while (::readdir(dir)) {
        n++;
    }
    ::closedir(dir);
    return n;
}

// Mappings of files that no longer have a name: memfds and O_TMPFILE files,
// which only the device maps.
size_t count_deleted_mappings() {
    FILE* maps = std::fopen("/proc/self/maps", "re");
    if (!maps) {
        fail("no /proc/self/maps");
    }
    char line[512];
    size_t n = 0;
    while (std::fgets(line, sizeof line, maps)) {
        n += std::strstr(line, "(deleted)") != nullptr;
    }
    std::fclose(maps);
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // ovs-vswitchd ignores SIGPIPE (fatal_ignore_sigpipe()): a write to a
    // pipe whose reader is gone fails with EPIPE there, as here.
    ::signal(SIGPIPE, SIG_IGN);
    (void)listener();
    if (NVH_FUZZ_KICK_DRAIN) {
        (void)control_thread();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const size_t mappings_before = count_deleted_mappings();
    const size_t fds_before = count_open_fds();
    {
        FuzzInput in(data, size);
        Connection connection;
        run_writes(connection, in);
    }
    if (count_open_fds() != fds_before) {
        fail("an fd the device received outlived the connection");
    }
    if (count_deleted_mappings() != mappings_before) {
        fail("a mapping of the frontend's outlived the connection");
    }
    return 0;
}
