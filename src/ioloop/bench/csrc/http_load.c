/* HTTP/1.1 load generator: one process, epoll, CONNS keep-alive connections
   to 127.0.0.1:PORT, each with at most one request in flight (no
   pipelining). Every response is read to its end (Content-Length: a
   response without one, or chunked, is an error) and checked: status 200
   and a body of BODY_LEN bytes, else it counts as an error.

   Usage: http_load PORT CONNS PATH BODY_LEN STALL_MS
   Then one command per line on stdin, each answered by one JSON line:

     sat MS WARM_MS        closed loop: each connection sends its next
                           request when the response to the previous one
                           has arrived. After WARM_MS of warm-up, the
                           responses completed in the next MS ms are
                           counted (requests/s), their latency (from the
                           send) recorded.
     rate RPS MS WARM_MS   open loop at RPS requests/s: request k is due at
                           start + k / RPS whatever the responses do, and
                           is sent then on an idle connection, or, when
                           every connection waits for a response, as soon
                           as one is free. Its latency runs from the time
                           it was due, not from its (possibly late) send:
                           a server that stalls is charged for every
                           request that waited behind the stall. The
                           requests due in the MS ms after the warm-up are
                           recorded; the run waits for all of them.
     count N               closed loop as for sat, for exactly N requests
                           (no warm-up, no time limit): a fixed amount of
                           work, for instruction counts under callgrind,
                           where a time window's request count would
                           follow the machine's load.

   Each command connects afresh and makes one priming request on every
   connection first (the server has accepted them all). The measured
   window's start and end are announced as they happen ({"event": "start"},
   {"event": "end"}); the result line is {"mode", "requests", "elapsed_ns",
   "cpu_ns", "errors", "responses" (all of the command's, priming and
   warm-up included), "lat": {...}, ...} or, when the run failed or any
   response was wrong, {"error", "errors"}. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"

#define HDR_MAX 8192
#define TIMER_TAG 0xffffffffu

typedef struct {
    int fd, busy, want_out, counted, in_headers;
    long long t0;               /* due (open loop) or sent (closed loop) */
    size_t sent, hlen;
    long long body_left;
    char hdr[HDR_MAX];
} conn_t;

static int port, nconns, ep = -1, tfd = -1;
static long stall_ms;
static long long body_len;
static char request[512];
static size_t request_len;
static conn_t *conns;
static char err[512];
static long long errors, bad_status, bad_length;
static hist_t hist;

/* Idle connections (a FIFO, so that every connection gets used) and the
   due times of requests waiting for one. */
static int *idle;
static int idle_head, idle_len;
typedef struct { long long due; int counted; } pending_t;
static pending_t *queue;
static long long queue_cap, queue_head, queue_len, queue_max;

/* Per run: recorded responses, and whether new requests are sent; the
   closed loop records the requests sent in [win_start, win_end). */
static long long done_counted, inflight, win_start, win_end;
/* Every response of the command, priming and warm-up included. */
static long long responses;
static int closed_loop, sending;
/* Closed loop: the requests still to send (count mode), or -1: no limit. */
static long long to_send = -1;

static long long clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void set_out(conn_t *c, int want) {
    if (want == c->want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

/* Send the rest of the request: 0, or -1. */
static int pump(conn_t *c) {
    while (c->sent < request_len) {
        ssize_t w = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            snprintf(err, sizeof err, "send: %s", strerror(errno));
            return -1;
        }
        c->sent += (size_t)w;
    }
    set_out(c, c->sent < request_len);
    return 0;
}

static int start_request(conn_t *c, long long t0, int counted) {
    c->busy = 1;
    c->t0 = t0;
    c->counted = counted;
    c->sent = 0;
    c->in_headers = 1;
    c->hlen = 0;
    inflight++;
    return pump(c);
}

/* A request is due (open loop): on an idle connection, or queued. */
static int dispatch(long long due, int counted) {
    if (idle_len) {
        int i = idle[idle_head];
        idle_head = (idle_head + 1) % nconns;
        idle_len--;
        return start_request(&conns[i], due, counted);
    }
    if (queue_len == queue_cap) {
        snprintf(err, sizeof err, "%lld requests waiting for a free connection: the server "
                 "is far behind the offered rate", queue_len);
        return -1;
    }
    queue[(queue_head + queue_len) % queue_cap] = (pending_t){due, counted};
    queue_len++;
    if (queue_len > queue_max) queue_max = queue_len;
    return 0;
}

static int header_value(const char *hdr, size_t len, const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    const char *p = memchr(hdr, '\n', len);
    while (p && (size_t)(p + 1 - hdr) < len) {
        const char *line = p + 1;
        const char *end = memchr(line, '\n', len - (size_t)(line - hdr));
        if (!end) break;
        if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            size_t vl = (size_t)(end - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) vl--;
            if (vl >= cap) vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return 1;
        }
        p = end;
    }
    return 0;
}

/* The headers of a response are complete in c->hdr: check them; set the
   body length. 0, or -1 when the end of the response cannot be found. */
static int on_headers(conn_t *c) {
    int status = 0;
    if (c->hlen < 12 || strncmp(c->hdr, "HTTP/1.", 7) != 0 ||
            sscanf(c->hdr + 9, "%3d", &status) != 1) {
        snprintf(err, sizeof err, "not an HTTP/1.x response: %.40s", c->hdr);
        return -1;
    }
    char value[64];
    if (header_value(c->hdr, c->hlen, "transfer-encoding", value, sizeof value)) {
        snprintf(err, sizeof err, "Transfer-Encoding: %s (the server must send Content-Length)",
                 value);
        return -1;
    }
    if (!header_value(c->hdr, c->hlen, "content-length", value, sizeof value)) {
        snprintf(err, sizeof err, "a response without Content-Length (status %d)", status);
        return -1;
    }
    char *endp;
    long long len = strtoll(value, &endp, 10);
    if (endp == value || len < 0) {
        snprintf(err, sizeof err, "bad Content-Length: %s", value);
        return -1;
    }
    if (status != 200) {
        bad_status++;
        errors++;
        if (!err[0]) snprintf(err, sizeof err, "status %d", status);
    } else if (len != body_len) {
        bad_length++;
        errors++;
        if (!err[0]) snprintf(err, sizeof err, "a %lld-byte body, expected %lld", len, body_len);
    }
    c->body_left = len;
    c->in_headers = 0;
    return 0;
}

/* The response on c is complete. */
static int on_response(conn_t *c, long long now) {
    c->busy = 0;
    inflight--;
    responses++;
    if (c->counted) {
        hist_add(&hist, now - c->t0);
        done_counted++;
    }
    if (!sending) return 0;
    if (closed_loop) {
        if (to_send == 0) return 0;
        if (to_send > 0) to_send--;
        return start_request(c, now, now >= win_start && now < win_end);
    }
    if (queue_len) {
        pending_t p = queue[queue_head];
        queue_head = (queue_head + 1) % queue_cap;
        queue_len--;
        return start_request(c, p.due, p.counted);
    }
    idle[(idle_head + idle_len) % nconns] = (int)(c - conns);
    idle_len++;
    return 0;
}

/* Read and parse what is there: completed responses, or -1. */
static long on_readable(conn_t *c) {
    static char buf[262144];
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        snprintf(err, sizeof err, "recv: %s", strerror(errno));
        return -1;
    }
    if (r == 0) {
        snprintf(err, sizeof err, "the server closed a connection");
        return -1;
    }
    if (!c->busy) {
        snprintf(err, sizeof err, "%zd bytes that no request asked for", r);
        return -1;
    }
    long done = 0;
    const char *p = buf;
    size_t left = (size_t)r;
    long long now = clock_ns(CLOCK_MONOTONIC);
    while (left) {
        if (!c->busy) {
            snprintf(err, sizeof err, "%zu bytes after the end of a response", left);
            return -1;
        }
        if (c->in_headers) {
            size_t before = c->hlen;
            size_t take = left < HDR_MAX - 1 - c->hlen ? left : HDR_MAX - 1 - c->hlen;
            memcpy(c->hdr + c->hlen, p, take);
            c->hlen += take;
            c->hdr[c->hlen] = 0;
            size_t from = before > 3 ? before - 3 : 0;
            char *end = memmem(c->hdr + from, c->hlen - from, "\r\n\r\n", 4);
            if (!end) {
                if (c->hlen >= HDR_MAX - 1) {
                    snprintf(err, sizeof err, "response headers longer than %d bytes", HDR_MAX);
                    return -1;
                }
                p += take;
                left -= take;
                continue;
            }
            size_t used = (size_t)(end + 4 - c->hdr) - before;
            c->hlen = (size_t)(end + 4 - c->hdr);
            p += used;
            left -= used;
            if (on_headers(c) < 0) return -1;
        }
        size_t take = (long long)left < c->body_left ? left : (size_t)c->body_left;
        c->body_left -= (long long)take;
        p += take;
        left -= take;
        if (c->body_left == 0) {
            if (left) {
                snprintf(err, sizeof err, "%zu bytes after the end of a response", left);
                return -1;
            }
            done++;
            if (on_response(c, now) < 0) return -1;
        }
    }
    return done;
}

/* One epoll_wait and its events: responses completed, or -1. */
static long step(int timeout_ms) {
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        snprintf(err, sizeof err, "epoll_wait: %s", strerror(errno));
        return -1;
    }
    long done = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u32 == TIMER_TAG) {
            uint64_t ticks;
            if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) {
                snprintf(err, sizeof err, "timerfd: %s", strerror(errno));
                return -1;
            }
            continue;
        }
        conn_t *c = &conns[evs[i].data.u32];
        if ((evs[i].events & EPOLLOUT) && c->busy && pump(c) < 0) return -1;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            long k = on_readable(c);
            if (k < 0) return -1;
            done += k;
        }
    }
    return done;
}

static int arm_timer(long long at_ns) {
    struct itimerspec its = {{0, 0}, {at_ns / 1000000000LL, at_ns % 1000000000LL}};
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        snprintf(err, sizeof err, "timerfd_settime: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Wait until nothing is in flight or queued: 0, or -1 after STALL_MS
   without a response. */
static int drain(void) {
    long long last = clock_ns(CLOCK_MONOTONIC);
    while (inflight > 0 || queue_len > 0) {
        long k = step(100);
        if (k < 0) return -1;
        long long now = clock_ns(CLOCK_MONOTONIC);
        if (k > 0) last = now;
        else if (now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no response for %ld ms", stall_ms);
            return -1;
        }
    }
    return 0;
}

static int connect_all(void) {
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
    return 0;
}

typedef struct {
    long long requests, elapsed, cpu, sent_due, late;
} result_t;

/* Closed loop. */
static int run_sat(long ms, long warm_ms, result_t *res) {
    closed_loop = 1;
    sending = 1;
    long long now = clock_ns(CLOCK_MONOTONIC);
    long long t_warm = now + warm_ms * 1000000LL;
    /* The requests sent in the window are recorded (their latency from
       the send), to the last one, answered after it. */
    win_start = t_warm;
    win_end = t_warm + ms * 1000000LL;
    hist_reset(&hist);
    done_counted = 0;
    for (int i = 0; i < nconns; i++)
        if (start_request(&conns[i], now, 0) < 0) return -1;
    long long last = now;
    while ((now = clock_ns(CLOCK_MONOTONIC)) < t_warm) {
        long k = step(10);
        if (k < 0) return -1;
        now = clock_ns(CLOCK_MONOTONIC);
        if (k > 0) last = now;
        else if (now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no response for %ld ms", stall_ms);
            return -1;
        }
    }
    printf("{\"event\": \"start\"}\n");
    fflush(stdout);
    /* The count: the responses completed within the window (the first
       ones answer requests sent before it). */
    long long t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    long long deadline = t0 + ms * 1000000LL, completed = 0;
    win_start = t0;
    win_end = deadline;
    last = t0;
    for (;;) {
        now = clock_ns(CLOCK_MONOTONIC);
        long long left_ms = (deadline - now + 999999) / 1000000;
        if (left_ms <= 0) break;
        long k = step((int)(left_ms < 100 ? left_ms : 100));
        if (k < 0) return -1;
        now = clock_ns(CLOCK_MONOTONIC);
        if (now >= deadline) break;     /* this batch is past the window */
        if (k > 0) { completed += k; last = now; }
        else if (now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no response for %ld ms", stall_ms);
            return -1;
        }
    }
    res->cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"event\": \"end\"}\n");
    fflush(stdout);
    res->requests = completed;
    res->elapsed = last - t0;
    sending = 0;
    return drain();
}

/* Closed loop, exactly n requests. */
static int run_count(long long n, result_t *res) {
    closed_loop = 1;
    sending = 1;
    hist_reset(&hist);
    done_counted = 0;
    printf("{\"event\": \"start\"}\n");
    fflush(stdout);
    long long t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    long long now = t0, last = t0;
    win_start = t0;
    win_end = LLONG_MAX;
    to_send = n;
    for (int i = 0; i < nconns && to_send > 0; i++, to_send--)
        if (start_request(&conns[i], now, 1) < 0) return -1;
    while (done_counted < n) {
        long k = step(100);
        if (k < 0) return -1;
        now = clock_ns(CLOCK_MONOTONIC);
        if (k > 0) last = now;
        else if (now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no response for %ld ms", stall_ms);
            return -1;
        }
    }
    res->cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"event\": \"end\"}\n");
    fflush(stdout);
    res->requests = done_counted;
    res->elapsed = last - t0;
    sending = 0;
    to_send = -1;
    return drain();
}

/* Open loop. */
static int run_rate(double rps, long ms, long warm_ms, result_t *res) {
    closed_loop = 0;
    sending = 1;
    idle_head = 0;
    idle_len = nconns;
    for (int i = 0; i < nconns; i++) idle[i] = i;
    queue_head = queue_len = queue_max = 0;
    long long start = clock_ns(CLOCK_MONOTONIC);
    long long t_measure = start + warm_ms * 1000000LL;
    long long t_end = t_measure + ms * 1000000LL;
    double interval = 1e9 / rps;
    long long k = 0, last = start, completed = 0, c0 = 0;
    int announced = 0;
    hist_reset(&hist);
    done_counted = 0;
    res->sent_due = res->late = 0;
    for (;;) {
        long long now = clock_ns(CLOCK_MONOTONIC);
        if (!announced && now >= t_measure) {
            printf("{\"event\": \"start\"}\n");
            fflush(stdout);
            c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
            announced = 1;
        }
        long long due;
        while ((due = start + (long long)((double)k * interval)) <= now && due < t_end) {
            int counted = due >= t_measure;
            if (counted) {
                res->sent_due++;
                if (now - due > 1000000LL) res->late++;
            }
            if (dispatch(due, counted) < 0) return -1;
            k++;
        }
        if (due >= t_end) break;
        if (arm_timer(due) < 0) return -1;
        long n = step(100);
        if (n < 0) return -1;
        now = clock_ns(CLOCK_MONOTONIC);
        if (n > 0) { completed += n; last = now; }
        else if (inflight > 0 && now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no response for %ld ms", stall_ms);
            return -1;
        }
    }
    if (!announced) {
        printf("{\"event\": \"start\"}\n");
        c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    }
    res->cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"event\": \"end\"}\n");
    fflush(stdout);
    arm_timer(0);
    /* Every request due in the window is answered before the figures are
       final: the ones still waiting are the slowest. */
    if (drain() < 0) return -1;
    sending = 0;
    res->requests = done_counted;
    res->elapsed = t_end - t_measure;
    (void)completed;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT CONNS PATH BODY_LEN STALL_MS\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    nconns = atoi(argv[2]);
    body_len = atoll(argv[4]);
    stall_ms = atol(argv[5]);
    if (port <= 0 || nconns <= 0 || body_len < 0 || stall_ms <= 0 || argv[3][0] != '/' ||
            strlen(argv[3]) > 200) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                   "User-Agent: ioloop-bench\r\n\r\n", argv[3], port);
    /* Wake-ups for the open loop's timetable as precise as the kernel
       allows. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    conns = calloc((size_t)nconns, sizeof *conns);
    idle = calloc((size_t)nconns, sizeof *idle);
    if (!conns || !idle) return 1;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        char mode[16];
        double rps = 0;
        long ms = 0, warm_ms = 0;
        long long count = 0;
        int ok = 0;
        if (sscanf(line, "%15s", mode) == 1) {
            if (strcmp(mode, "sat") == 0)
                ok = sscanf(line, "sat %ld %ld", &ms, &warm_ms) == 2;
            else if (strcmp(mode, "rate") == 0)
                ok = sscanf(line, "rate %lf %ld %ld", &rps, &ms, &warm_ms) == 3 && rps > 0;
            else if (strcmp(mode, "count") == 0) {
                ok = sscanf(line, "count %lld", &count) == 1 && count > 0;
                ms = 1;
            }
        }
        if (!ok || ms <= 0 || warm_ms < 0) {
            printf("{\"error\": \"bad command\", \"errors\": 0}\n");
            fflush(stdout);
            return 2;
        }
        memset(conns, 0, (size_t)nconns * sizeof *conns);
        for (int i = 0; i < nconns; i++) conns[i].fd = -1;
        err[0] = 0;
        errors = bad_status = bad_length = inflight = win_start = win_end = responses = 0;
        sending = 0;
        queue_cap = (long long)(rps * (double)(ms + warm_ms) / 1000.0) + nconns + 16;
        queue = rps > 0 ? calloc((size_t)queue_cap, sizeof *queue) : NULL;
        result_t res = {0};
        int rc = -1;
        ep = epoll_create1(0);
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        if (ep < 0 || tfd < 0 || (rps > 0 && !queue)) {
            snprintf(err, sizeof err, "setup: %s", strerror(errno));
        } else {
            struct epoll_event tev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
            epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
            /* Connect, then one priming request per connection. */
            closed_loop = 0;
            sending = 0;
            rc = connect_all();
            long long now = clock_ns(CLOCK_MONOTONIC);
            for (int i = 0; rc == 0 && i < nconns; i++) rc = start_request(&conns[i], now, 0);
            if (rc == 0) rc = drain();
            if (rc == 0)
                rc = count > 0 ? run_count(count, &res)
                     : rps > 0 ? run_rate(rps, ms, warm_ms, &res) : run_sat(ms, warm_ms, &res);
        }
        for (int i = 0; i < nconns; i++)
            if (conns[i].fd >= 0) close(conns[i].fd);
        if (ep >= 0) close(ep);
        if (tfd >= 0) close(tfd);
        free(queue);
        queue = NULL;
        if (rc == 0 && errors == 0 && res.requests == 0) {
            snprintf(err, sizeof err, "no response within the measured window");
            rc = -1;
        }
        if (rc < 0 || errors) {
            /* The message is JSON-escaped by hand: quotes and backslashes. */
            char esc[1100];
            size_t j = 0;
            for (size_t i = 0; err[i] && j < sizeof esc - 2; i++) {
                unsigned char ch = (unsigned char)err[i];
                if (ch == '"' || ch == '\\') esc[j++] = '\\';
                esc[j++] = isprint(ch) ? (char)ch : '?';
            }
            esc[j] = 0;
            printf("{\"error\": \"%s\", \"errors\": %lld, \"bad_status\": %lld, "
                   "\"bad_length\": %lld}\n", esc[0] ? esc : "failed", errors, bad_status,
                   bad_length);
        } else {
            printf("{\"mode\": \"%s\", \"requests\": %lld, \"elapsed_ns\": %lld, "
                   "\"cpu_ns\": %lld, \"errors\": 0, \"rate\": %.1f, \"due\": %lld, "
                   "\"late_1ms\": %lld, \"queued_max\": %lld, \"responses\": %lld, "
                   "\"lat\": ", mode, res.requests, res.elapsed, res.cpu, rps, res.sent_due,
                   res.late, queue_max, responses);
            hist_json(&hist, stdout);
            printf("}\n");
        }
        fflush(stdout);
        if (rc < 0) return 1;
    }
    return 0;
}
