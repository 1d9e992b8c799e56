// SPDX-License-Identifier: Apache-2.0
/*
 * nvh.h: the C ABI of the netdev-vhost core.
 *
 * The core is a vhost-user backend (the device side of virtio-net).  It
 * connects as a client to a frontend's (QEMU's, DPDK virtio_user's) unix
 * socket, handles the vhost-user control messages on its own control thread,
 * maps the guest's memory and moves packets between the guest's virtqueues
 * and buffers that the caller owns.  It knows nothing of Open vSwitch.
 *
 * Threads:
 *   - nvh_device_create/destroy/get_info/reconnect and nvh_set_log_handler
 *     may be called from any thread (the datapath glue calls them from the main
 *     thread).
 *   - nvh_dequeue_burst/nvh_enqueue_burst are the data path.  A given
 *     virtqueue must not be used by two threads at once: serialising callers
 *     of one queue is the caller's job.  They never block, never allocate and
 *     make no system call except, when the guest asked to be interrupted, a
 *     write to the notifier's private doorbell eventfd.
 *   - The state_changed callback runs on the core's control thread.
 *   - The core's notifier thread (one per process) writes the guests' call
 *     eventfds, each write bounded in time.
 *
 * Signals: the core does not rely on SIGPIPE being ignored (ovs-vswitchd
 * ignores it, other hosts need not).  Its one send on the vhost-user socket
 * uses MSG_NOSIGNAL, and the only other fds it writes are eventfds (vring
 * call fds are refused unless they are eventfds), which cannot raise it.
 * The core installs a SIGBUS handler with the first guest memory mapping, to
 * survive faults in guest memory (a SIGBUS elsewhere goes to the action
 * installed before it), and claims for the notifier thread the highest
 * real-time signal whose disposition was SIG_DFL, to bound its writes.
 *
 * Virtqueue numbering follows virtio-net (virtio 1.2, 5.1.2): queue pair N
 * is receiveqN = vring 2N (device -> guest) and transmitqN = vring 2N+1
 * (guest -> device).
 */
#ifndef NETDEV_VHOST_NVH_H
#define NETDEV_VHOST_NVH_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest burst moved by one call. */
#define NVH_MAX_BURST 32

/* Most queue pairs one device offers (VIRTIO_NET_F_MQ). */
#define NVH_MAX_QUEUE_PAIRS 16
#define NVH_MAX_VRINGS (2 * NVH_MAX_QUEUE_PAIRS)

/* Longest unix socket path, without the terminating NUL
 * (sizeof(struct sockaddr_un.sun_path) - 1). */
#define NVH_MAX_SOCKET_PATH 107

struct nvh_device;

/* ---- Logging ---------------------------------------------------------- */

enum nvh_log_level {
    NVH_LOG_ERR,
    NVH_LOG_WARN,
    NVH_LOG_INFO,
    NVH_LOG_DBG,
};

/* Receives every log line of the core (no trailing newline).  May be called
 * from any thread, including the control thread.  NULL restores the default
 * (lines go to stderr). */
typedef void nvh_log_fn(enum nvh_log_level, const char *message);
void nvh_set_log_handler(nvh_log_fn *);

/* Receives the log lines about one device (nvh_device_config.log), with the
 * device's 'aux'.  Called on the control thread.  The call-stall line about a
 * device goes to the process-wide handler instead, from the notifier
 * thread. */
typedef void nvh_device_log_fn(void *aux, enum nvh_log_level,
                               const char *message);

/* ---- Device lifecycle ------------------------------------------------- */

/* Called on the control thread whenever the device's state changes
 * (connected, negotiated, queue enabled or disabled, ready, disconnected),
 * after nvh_device_get_info already shows the change: a reader may see the
 * new state before the call.  It must be cheap, thread-safe, and must not
 * call back into the core.  In particular, calling nvh_device_destroy from
 * it aborts the process: the control thread is still using the device when
 * the callback returns. */
typedef void nvh_state_changed_fn(void *aux);

struct nvh_packet;

/* Called by nvh_dequeue_burst, on the thread that polls queue pair 'qp', for
 * a guest frame of 'len' bytes that does not fit pkt->capacity.  It may
 * point pkt->data at a buffer of at least 'len' writable bytes, set
 * pkt->capacity (and pkt->opaque) to match and return true: the frame is
 * copied there.  Or it returns false, leaving *pkt as it was: the frame is
 * dropped and counted in oversized_frames.  It must not block, must not call
 * into the core and is called at most once per frame.
 *
 * The buffer stays the caller's.  A frame copied into it can still be
 * dropped (a virtio-net header that breaks an offload rule, counted in
 * invalid_descriptors); then the same pkts[] slot, with the buffer the hook
 * gave it, takes the burst's next frame or is left unfilled: after a burst
 * the caller finds such a buffer in a slot at or past the count returned. */
typedef bool nvh_large_buffer_fn(void *aux, uint32_t qp,
                                 struct nvh_packet *pkt, uint32_t len);

struct nvh_device_config {
    const char *socket_path;      /* Frontend's server socket. */
    uint32_t max_queue_pairs;     /* 1..NVH_MAX_QUEUE_PAIRS; 0 means 1. */
    nvh_state_changed_fn *state_changed;   /* May be NULL. */
    void *aux;                    /* Passed to state_changed. */
    /* Offer checksum and TCP segmentation offload (VIRTIO_NET_F_CSUM,
     * GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6) and carry them in
     * nvh_packet.offload.  Fixed for the device's lifetime: a frontend
     * refuses to reconnect to a backend that offers fewer features.  false
     * (zero): none of them is offered. */
    bool offloads;
    /* The most guest memory, in bytes, the device maps for one memory table
     * (the sum of its regions); a larger table is refused and the
     * connection closed.  The dirty log is bounded by what such a guest
     * needs.  A frontend may otherwise ask for any amount of address space
     * (a sparse file maps without error) and leave the process none.  0:
     * NVH_DEFAULT_MAX_GUEST_MEMORY.  nvh_device_set_max_guest_memory()
     * changes it later. */
    uint64_t max_guest_memory;
    /* Receives, with 'aux', every line the core logs while it serves this
     * device (its connection, its frontend's requests, its rings) instead of
     * the nvh_set_log_handler() handler, which keeps the lines about no one
     * device.  A frontend can make its device log at will: a host that
     * rate-limits log lines should do so per device here.  May be NULL
     * (the device's lines go to the process-wide handler). */
    nvh_device_log_fn *log;
    /* Gives a frame larger than its pkts[] slot a buffer of the caller's,
     * with 'aux' (see nvh_large_buffer_fn).  May be NULL: such frames are
     * dropped and counted in oversized_frames. */
    nvh_large_buffer_fn *large_buffer;
    /* The socket of a handover keeper (nvh_handover_finish): if one listens
     * there and holds a connection handed over for this socket_path by the
     * previous process, the device resumes it instead of connecting: the
     * frontend never sees a disconnect.  NULL or "": always connect. */
    const char *handover_socket;
};

/* 1 TiB. */
#define NVH_DEFAULT_MAX_GUEST_MEMORY (UINT64_C(1) << 40)

/* Creates a device and starts connecting to config->socket_path (the socket
 * need not exist yet: the core keeps trying until it appears, and again after
 * each disconnect).  On success returns 0 and stores the device in *devp.
 * On failure returns a positive errno value and writes a message (one line,
 * NUL-terminated) into err[errlen]; nothing is left behind. */
int nvh_device_create(const struct nvh_device_config *config,
                      struct nvh_device **devp, char *err, size_t errlen);

/* Disconnects, unmaps guest memory, closes every fd.  When it returns the
 * control thread no longer touches the device and state_changed will not be
 * called again.  The caller must have stopped the data path on it. */
void nvh_device_destroy(struct nvh_device *);

/* Sets the device's max_guest_memory (0: the default); it applies from the
 * frontend's next memory table or dirty log on.  Any thread. */
void nvh_device_set_max_guest_memory(struct nvh_device *, uint64_t bytes);

/* ---- State, for status and reconfiguration ----------------------------- */

enum nvh_connection_state {
    NVH_STATE_WAITING,      /* No connection: waiting for the socket. */
    NVH_STATE_CONNECTED,    /* Connected, frontend still configuring. */
    NVH_STATE_READY,        /* At least queue pair 0 can carry packets. */
};

struct nvh_device_info {
    enum nvh_connection_state state;
    char socket_path[NVH_MAX_SOCKET_PATH + 1];
    uint64_t features;             /* Negotiated virtio feature bits. */
    uint64_t protocol_features;    /* Negotiated vhost-user protocol bits. */
    uint32_t n_vrings;             /* Vrings the frontend has set up. */
    uint32_t n_queue_pairs;        /* Queue pairs the data path may poll:
                                    * the highest enabled pair + 1. */
    uint16_t vring_size[NVH_MAX_VRINGS];
    bool vring_enabled[NVH_MAX_VRINGS];
    uint32_t mtu;                  /* 0 if the frontend set none. */
    int numa_node;                 /* Of the ring memory; -1 if unknown. */
    uint64_t n_connects;           /* Successful connections so far
                                    * (kept across a handover). */
    uint64_t n_resumes;            /* Connections this device took over
                                    * from a previous process. */
    uint64_t connected_ms;         /* Milliseconds since the current
                                    * connection was made (computed when the
                                    * snapshot is taken); 0 while waiting. */
    char last_error[128];          /* Why the last connection ended, or "". */
    char warning[128];             /* A problem of the current (or last)
                                    * connection that does not end it, or "":
                                    * "guest memory not shared ..." when the
                                    * guest kicks but its rings never change
                                    * in the core's mapping of its memory.
                                    * Cleared by the next connection. */
    uint64_t memory_faults;        /* Connections closed because the guest
                                    * memory or dirty log the frontend shared
                                    * faulted (SIGBUS: its file truncated, a
                                    * hole punched in it, or its filesystem
                                    * out of space).  The switch survives the
                                    * fault; last_error says "guest memory
                                    * faulted (SIGBUS): ...". */
};

/* Fills *info with a consistent snapshot.  Never blocks on the frontend. */
void nvh_device_get_info(struct nvh_device *, struct nvh_device_info *info);

/* Drops the connection to the frontend, if there is one (last_error becomes
 * "reconnect requested"; state_changed is called as for any disconnect),
 * and tries to connect again at once, then as after any disconnect.  Runs
 * on the control thread; returns once the connection has been dropped.
 * Returns true if a connection was dropped, false if there was none. */
bool nvh_device_reconnect(struct nvh_device *);

/* ---- Planned restart: handing connections to the next process ---------- */

/* A process that exits for a planned restart hands its devices'
 * connections to a keeper process (netdev-vhost-keeper), which holds their
 * fds until the next process creates the same devices with
 * nvh_device_config.handover_socket set: those resume the rings where the
 * old process stopped, and the frontends never see a disconnect.  What is
 * not taken within the hold time is closed (the frontends reconnect as
 * after any disconnect). */
struct nvh_handover;

struct nvh_handover *nvh_handover_create(void);

/* Stops the device's data path (its bursts return 0 from now on) and its
 * control, and adds its connection to 'h'.  The device must still be
 * destroyed; that leaves the connection open.  Returns 0, or a positive
 * errno value with a message in err (no connection, in the middle of a
 * message, a migration logging dirty pages): then the device is unchanged. */
int nvh_device_hand_over(struct nvh_device *, struct nvh_handover *h,
                         char *err, size_t errlen);

/* Starts 'keeper_program' with the connections in 'h' (if any), listening
 * at 'keeper_socket' for 'hold_ms', waits until it holds them and frees
 * 'h'.  Returns how many connections the keeper holds, or a negative errno
 * value with a message in err (then the connections close when this
 * process exits).  With 'keeper_program' NULL, closes the connections in
 * 'h' (their frontends see a disconnect) and returns 0. */
int nvh_handover_finish(struct nvh_handover *h, const char *keeper_program,
                        const char *keeper_socket, uint32_t hold_ms,
                        char *err, size_t errlen);

/* Tells the keeper listening at 'keeper_socket', if any, that this process
 * has created every device it will resume: the keeper closes the
 * connections nobody took (their frontends reconnect, to this process's
 * devices or to another backend) and exits.  Returns at once if there is
 * no keeper. */
void nvh_handover_release(const char *keeper_socket);

/* ---- Data path ----------------------------------------------------------- */

/* Offload metadata carried in the virtio-net header (virtio 1.2, 5.1.6).
 * Zero when no offload feature is negotiated. */
struct nvh_offload {
    uint8_t flags;          /* VIRTIO_NET_HDR_F_* */
    uint8_t gso_type;       /* VIRTIO_NET_HDR_GSO_* */
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
};

/* One packet in a buffer that the caller owns. */
struct nvh_packet {
    uint8_t *data;          /* First byte of the Ethernet frame. */
    uint32_t len;           /* Frame length in bytes.  Set by the core on
                             * dequeue, by the caller on enqueue. */
    uint32_t capacity;      /* Dequeue: bytes writable at data. */
    struct nvh_offload offload;
    void *opaque;           /* The caller's, never touched by the core. */
};

/* Guest -> host: takes up to n (<= NVH_MAX_BURST) frames from the transmit
 * virtqueue of queue pair qp and copies each into pkts[i].data (at most
 * pkts[i].capacity bytes), setting len and offload.  Returns how many of
 * pkts[0..n) were filled.  A frame larger than its slot's capacity gets a
 * buffer from the device's large_buffer hook, if it has one and the hook
 * gives one; frames that are malformed or find no buffer large enough are
 * dropped and counted, never returned.  Returns 0 when the queue is not
 * ready. */
uint32_t nvh_dequeue_burst(struct nvh_device *, uint32_t qp,
                           struct nvh_packet *pkts, uint32_t n);

/* Host -> guest: copies pkts[0..n) (n <= NVH_MAX_BURST) into the receive
 * virtqueue of queue pair qp, in order.  Returns how many, from the front,
 * were placed; the rest found no room (the caller may retry or drop them).
 * The core keeps no reference to any packet after it returns. */
uint32_t nvh_enqueue_burst(struct nvh_device *, uint32_t qp,
                           const struct nvh_packet *pkts, uint32_t n);

/* ---- Statistics ------------------------------------------------------- */

/* Counters of one virtqueue.  Updated once per burst by the thread that
 * polls the queue (guest_notifications and call_stalls by the notifier
 * thread); read here without locks (each value is atomic on its own,
 * the set is not a snapshot).  They are kept across reconnections.
 * packets/bytes count only frames that crossed: on a receiveq, frames
 * placed in the guest's buffers (not those dropped and counted in
 * rx_buffer_too_small, although nvh_enqueue_burst reports them handled); on
 * a transmitq, frames handed to the caller.  Bytes exclude the virtio-net
 * header. */
#define NVH_SIZE_BINS 8
struct nvh_vring_stats {
    uint64_t packets;
    uint64_t bytes;
    uint64_t ring_full;             /* Receive: bursts that stopped early
                                     * because the guest had no buffers. */
    uint64_t invalid_descriptors;   /* Chains that broke a ring rule, and
                                     * transmit headers that broke an
                                     * offload rule (virtio 1.2, 5.1.6.2). */
    uint64_t undersized_frames;     /* Transmit: shorter than a header. */
    uint64_t oversized_frames;      /* Transmit: larger than the buffer. */
    uint64_t rx_buffer_too_small;   /* Receive: buffers cannot hold frame. */
    uint64_t guest_notifications;   /* Interrupts sent (call eventfd), or
                                     * found pending (its counter full). */
    /* Of the frames counted in 'packets', by destination MAC (first byte's
     * group bit; broadcast is all ones and not counted as multicast) and by
     * frame length without the virtio-net header, in the bins of DPDK's
     * vhost statistics: < 64, 64, 65-127, 128-255, 256-511, 512-1023,
     * 1024-1518, >= 1519 bytes. */
    uint64_t multicast;
    uint64_t broadcast;
    uint64_t size_bins[NVH_SIZE_BINS];
    /* Times the driver broke a rule that makes the ring unusable (an avail
     * index jump, a head out of range, a packed buffer id out of range, a
     * packed chain longer than min(queue size, 256) ring descriptors): the
     * vring is not served until the frontend sets it up again. */
    uint64_t broken_rings;
    /* Writes of the call eventfd that blocked (the frontend filled its
     * counter or made it blocking) and were cut short: the vring gets no
     * interrupts until the frontend sends a new VHOST_USER_SET_VRING_CALL. */
    uint64_t call_stalls;
};

/* Fills *stats for vring (0..NVH_MAX_VRINGS-1).  Returns false (and zeroes
 * *stats) for a vring out of range. */
bool nvh_vring_get_stats(struct nvh_device *, uint32_t vring,
                         struct nvh_vring_stats *stats);

/* ---- Diagnostics (ovs-appctl) ------------------------------------------- */

/* Where one vring stands.  Split ring: the next avail entry the device
 * reads, the device's used index, and avail->idx as guest memory holds it.
 * Packed ring: avail and used positions with their wrap counters in bit 15
 * (vhost-user.rst, packed ring base encoding); driver_avail_idx is 0. */
struct nvh_vring_position {
    bool started;        /* Set up and attached to guest memory. */
    bool packed;
    bool broken;         /* The driver broke a ring rule: not served until
                          * the frontend sets the ring up again. */
    uint16_t last_avail_idx;
    uint16_t used_idx;
    uint16_t driver_avail_idx;
};

/* Fills *pos for vring (0..NVH_MAX_VRINGS-1).  Takes the vring's lock, so it
 * waits for a burst in progress (and the burst that follows skips the
 * queue): for occasional diagnostics only, never on the data path.  Returns
 * false (and zeroes *pos) for a vring out of range. */
bool nvh_vring_get_position(struct nvh_device *, uint32_t vring,
                            struct nvh_vring_position *pos);

/* One region of the guest memory table the frontend shared
 * (VHOST_USER_SET_MEM_TABLE). */
struct nvh_memory_region {
    uint64_t guest_phys_addr;
    uint64_t size;
    uint64_t userspace_addr;    /* In the frontend's address space. */
};

/* Copies up to n regions of the current memory table into regions[];
 * returns how many the table has (0 when none is mapped).  Runs on the
 * control thread. */
uint32_t nvh_device_get_memory(struct nvh_device *,
                               struct nvh_memory_region *regions, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* NETDEV_VHOST_NVH_H */
