#!/usr/bin/python3
# The in-node packet delayer of splitbrain's packet fault.
#
# The kernel this project runs on may lack sch_netem (the usual `tc qdisc
# add ... netem delay`), so delay and reordering are done here instead:
# iptables sends the packets bound for the chosen peers to NFQUEUE, and this
# program holds each one for the delay before accepting it. It only ever
# accepts: loss and duplication are iptables rules (statistic, TEE), so if
# this program dies the rule's --queue-bypass lets traffic through and the
# fault fades rather than turning into a partition.
#
# Usage: delayer.py QUEUE DELAY_MS JITTER_MS REORDER_PCT SEED PIDFILE
# Speaks the nfnetlink_queue protocol directly (python3-minimal has no
# binding), with the kernel's structures spelled out below.
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQA_CFG_F_FAIL_OPEN = 1
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NF_ACCEPT = 1
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5


def attr(kind, payload):
    length = 4 + len(payload)
    pad = (4 - length % 4) % 4
    return struct.pack("=HH", length, kind) + payload + b"\0" * pad


def message(kind, flags, seq, queue, attrs):
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack(">H", queue) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0) + body


def messages(data):
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            return
        yield kind, data[offset + 16 : offset + length]
        offset += (length + 3) & ~3


def attrs(payload):
    offset = 4  # past nfgenmsg
    while offset + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, offset)
        if length < 4:
            return
        yield kind & 0x3FFF, payload[offset + 4 : offset + length]
        offset += (length + 3) & ~3


def configure(sock, queue, seq, attributes):
    sock.send(message(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, queue, attributes))
    for kind, payload in messages(sock.recv(65536)):
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", payload, 0)
            if error != 0:
                raise OSError(-error, "nfqueue config refused: " + os.strerror(-error))


def main():
    queue, delay_ms, jitter_ms, reorder_pct, seed = (int(a) for a in sys.argv[1:6])
    pidfile = sys.argv[6]
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
    configure(sock, queue, 1, attr(NFQA_CFG_CMD, struct.pack(">BxH", NFQNL_CFG_CMD_BIND, 0)))
    configure(
        sock,
        queue,
        2,
        attr(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META))
        + attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", 65536))
        # Fail open: when our socket buffer is full the kernel accepts the
        # packet instead of dropping it, so overload adds no hidden loss.
        + attr(NFQA_CFG_FLAGS, struct.pack(">I", NFQA_CFG_F_FAIL_OPEN))
        + attr(NFQA_CFG_MASK, struct.pack(">I", NFQA_CFG_F_FAIL_OPEN)),
    )
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(pidfile + ".tmp", pidfile)
    print(f"bound queue {queue}: delay {delay_ms} ms +- {jitter_ms} ms, reorder {reorder_pct}%", flush=True)

    pending = []  # (release_at, arrival order, packet id)
    order = 0
    seen = 0

    def accept(packet_id):
        verdict = attr(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, packet_id))
        sock.send(message(NFQNL_MSG_VERDICT, NLM_F_REQUEST, 0, queue, verdict))

    stopping = False
    while not stopping:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else 1.0
        readable, _, _ = select.select([sock, wake_r], [], [], timeout)
        if wake_r in readable:
            stopping = True
        if sock in readable:
            try:
                data = sock.recv(1 << 20)
            except OSError:
                data = b""
            now = time.monotonic()
            for kind, payload in messages(data):
                if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    continue
                for akind, value in attrs(payload):
                    if akind == NFQA_PACKET_HDR:
                        (packet_id,) = struct.unpack_from(">I", value, 0)
                        seen += 1
                        if reorder_pct and rng.random() * 100 < reorder_pct:
                            accept(packet_id)
                        else:
                            delay = delay_ms + rng.uniform(-jitter_ms, jitter_ms)
                            order += 1
                            heapq.heappush(pending, (now + max(0.0, delay) / 1000, order, packet_id))
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            accept(heapq.heappop(pending)[2])
    # Healing must not drop what we hold: release it all before leaving.
    while pending:
        accept(heapq.heappop(pending)[2])
    print(f"stopped after {seen} packets", flush=True)
    os.unlink(pidfile)


if __name__ == "__main__":
    main()
