/* Echo load generator in C: one process, epoll, CONNS connections each
   keeping DEPTH messages of SIZE bytes in flight. For every line "run MS"
   on stdin: connect, one priming round trip per connection (the server
   has accepted them all), then MS milliseconds of load; the replies
   received in that window are counted. Then it stops sending, waits for
   the replies still in flight, closes, and prints one JSON line
   {"requests", "elapsed_ns", "cpu_ns"} (or {"error"}). The window's start
   and end are announced as they happen: {"event": "start"} and
   {"event": "end"} lines (the server side reads its CPU clock on them).
   The round trip of every message sent in the window (from when it was
   queued for sending to when its reply was complete, replies coming back
   in order) goes into a histogram: {"rtt": {"p50", "p99", ...}} in ns.
   Usage: load PORT CONNS SIZE DEPTH STALL_MS */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"

/* sent: when each message in flight was queued (a ring of DEPTH + 1), 0
   for the ones sent outside the window (not recorded). */
typedef struct {
    int fd, want_out;
    size_t got, to_send;
    long inflight;
    long long *sent;
    long head, queued;
} conn_t;

static int port, nconns, ep = -1;
static long stall_ms;
static size_t size, depth, msg_len;
static char *msg;
static conn_t *conns;
static long long *sent_slots;
static char err[256];
static hist_t rtt;
/* Messages queued in [win_start, win_end) have their round trip recorded. */
static long long win_start, win_end;

static long long clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* k messages queued on c at `now`. */
static void queued(conn_t *c, long k, long long now) {
    long long stamp = now >= win_start && now < win_end ? now : 0;
    long cap = (long)depth + 1;
    for (long i = 0; i < k && c->queued < cap; i++) {
        c->sent[(c->head + c->queued) % cap] = stamp;
        c->queued++;
    }
}

/* k replies completed on c at `now`: the oldest k messages. */
static void answered(conn_t *c, long k, long long now) {
    long cap = (long)depth + 1;
    for (long i = 0; i < k && c->queued > 0; i++) {
        long long t = c->sent[c->head];
        if (t) hist_add(&rtt, now - t);
        c->head = (c->head + 1) % cap;
        c->queued--;
    }
}

/* Send what is owed; watch for writability while the kernel is full. */
static int pump(conn_t *c) {
    while (c->to_send) {
        size_t n = c->to_send < msg_len ? c->to_send : msg_len;
        ssize_t w = send(c->fd, msg, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            snprintf(err, sizeof err, "send: %s", strerror(errno));
            return -1;
        }
        c->to_send -= (size_t)w;
    }
    int want = c->to_send > 0;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                                 .data.u32 = (uint32_t)(c - conns)};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
    return 0;
}

/* Read what is there: completed replies, or -1. */
static long on_readable(conn_t *c) {
    static char sink[65536];
    ssize_t r = recv(c->fd, sink, sizeof sink, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        snprintf(err, sizeof err, "recv: %s", strerror(errno));
        return -1;
    }
    if (r == 0) { snprintf(err, sizeof err, "the server closed a connection"); return -1; }
    c->got += (size_t)r;
    long k = (long)(c->got / size);
    c->got %= size;
    c->inflight -= k;
    if (k) answered(c, k, clock_ns(CLOCK_MONOTONIC));
    return k;
}

/* One epoll_wait and its events (resending when `sending`): completed
   replies, or -1. */
static long step(int timeout_ms, int sending) {
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        snprintf(err, sizeof err, "epoll_wait: %s", strerror(errno));
        return -1;
    }
    long done = 0;
    for (int i = 0; i < n; i++) {
        conn_t *c = &conns[evs[i].data.u32];
        if ((evs[i].events & EPOLLOUT) && pump(c) < 0) return -1;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            long k = on_readable(c);
            if (k < 0) return -1;
            done += k;
            if (sending && k) {
                c->inflight += k;
                c->to_send += (size_t)k * size;
                queued(c, k, clock_ns(CLOCK_MONOTONIC));
                if (pump(c) < 0) return -1;
            }
        }
    }
    return done;
}

static long total_inflight(void) {
    long t = 0;
    for (int i = 0; i < nconns; i++) t += conns[i].inflight;
    return t;
}

/* Wait until nothing is in flight (no resending): 0, or -1. */
static int drain(void) {
    long long last = clock_ns(CLOCK_MONOTONIC);
    while (total_inflight() > 0) {
        long k = step(100, 0);
        if (k < 0) return -1;
        long long now = clock_ns(CLOCK_MONOTONIC);
        if (k > 0) last = now;
        else if (now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no reply for %ld ms", stall_ms);
            return -1;
        }
    }
    return 0;
}

static int run(long ms, long long *requests, long long *elapsed, long long *cpu) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            snprintf(err, sizeof err, "connect: %s", strerror(errno));
            return -1;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (ioctl(c->fd, FIONBIO, &one) < 0) {
            snprintf(err, sizeof err, "FIONBIO: %s", strerror(errno));
            return -1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            snprintf(err, sizeof err, "epoll_ctl: %s", strerror(errno));
            return -1;
        }
    }
    for (int i = 0; i < nconns; i++) {
        conns[i].inflight = 1;
        conns[i].to_send = size;
        queued(&conns[i], 1, 0);
        if (pump(&conns[i]) < 0) return -1;
    }
    if (drain() < 0) return -1;
    printf("{\"event\": \"start\"}\n");
    fflush(stdout);
    long long t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    long long deadline = t0 + ms * 1000000LL, last = t0;
    long long done = 0;
    win_start = t0;
    win_end = deadline;
    for (int i = 0; i < nconns; i++) {
        conns[i].inflight = (long)depth;
        conns[i].to_send = depth * size;
        queued(&conns[i], (long)depth, t0);
        if (pump(&conns[i]) < 0) return -1;
    }
    for (;;) {
        long long now = clock_ns(CLOCK_MONOTONIC);
        long long left_ms = (deadline - now + 999999) / 1000000;
        if (left_ms <= 0) break;
        long k = step((int)(left_ms < 100 ? left_ms : 100), 1);
        if (k < 0) return -1;
        now = clock_ns(CLOCK_MONOTONIC);
        if (now >= deadline) break;     /* this batch is past the window */
        if (k > 0) { done += k; last = now; }
        else if (now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no reply for %ld ms", stall_ms);
            return -1;
        }
    }
    *cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"event\": \"end\"}\n");
    fflush(stdout);
    *requests = done;
    *elapsed = last - t0;
    if (drain() < 0) return -1;
    if (done == 0) { snprintf(err, sizeof err, "no reply within the timed window"); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT CONNS SIZE DEPTH STALL_MS\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]); nconns = atoi(argv[2]);
    size = (size_t)atol(argv[3]); depth = (size_t)atol(argv[4]); stall_ms = atol(argv[5]);
    if (port <= 0 || nconns <= 0 || size == 0 || depth == 0 || stall_ms <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    msg_len = size * depth < 65536 ? 65536 : size * depth;
    msg = malloc(msg_len);
    conns = calloc((size_t)nconns, sizeof *conns);
    sent_slots = calloc((size_t)nconns * (depth + 1), sizeof *sent_slots);
    if (!msg || !conns || !sent_slots) return 1;
    memset(msg, 'x', msg_len);
    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        long ms;
        if (sscanf(line, "run %ld", &ms) != 1 || ms <= 0) {
            printf("{\"error\": \"bad command\"}\n");
            fflush(stdout);
            return 2;
        }
        memset(conns, 0, (size_t)nconns * sizeof *conns);
        for (int i = 0; i < nconns; i++) {
            conns[i].fd = -1;
            conns[i].sent = sent_slots + (size_t)i * (depth + 1);
        }
        hist_reset(&rtt);
        win_start = win_end = 0;
        long long requests = 0, elapsed = 0, cpu = 0;
        err[0] = 0;
        ep = epoll_create1(0);
        int rc = ep < 0 ? -1 : run(ms, &requests, &elapsed, &cpu);
        for (int i = 0; i < nconns; i++)
            if (conns[i].fd >= 0) close(conns[i].fd);
        if (ep >= 0) close(ep);
        if (rc < 0)
            printf("{\"error\": \"%s\"}\n", err[0] ? err : "failed");
        else {
            printf("{\"requests\": %lld, \"elapsed_ns\": %lld, \"cpu_ns\": %lld, \"rtt\": ",
                   requests, elapsed, cpu);
            hist_json(&rtt, stdout);
            printf("}\n");
        }
        fflush(stdout);
        if (rc < 0) return 1;
    }
    return 0;
}
