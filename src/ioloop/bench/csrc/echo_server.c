/* The echo floor: an epoll echo server in C, no loop library. Usage:
   server LISTEN_FD (an inherited listening socket). Each line on stdin is
   answered with this process's CPU time in ns; EOF on stdin ends it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536
typedef struct { char *buf; size_t len, cap; } pend_t;
static pend_t *pend[MAXFD];

static long long cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    if (pend[fd]) { free(pend[fd]->buf); free(pend[fd]); pend[fd] = NULL; }
}

/* Keep what the kernel would not take; watch for writability. */
static int queue(int ep, int fd, const char *data, size_t n) {
    pend_t *p = pend[fd];
    if (!p) {
        p = pend[fd] = calloc(1, sizeof(pend_t));
        if (!p) return -1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
    if (p->len + n > p->cap) {
        size_t cap = (p->len + n) * 2;
        char *b = realloc(p->buf, cap);
        if (!b) return -1;
        p->buf = b; p->cap = cap;
    }
    memcpy(p->buf + p->len, data, n);
    p->len += n;
    return 0;
}

/* 0: all flushed, 1: more to go, -1: error */
static int flush(int ep, int fd) {
    pend_t *p = pend[fd];
    size_t off = 0;
    while (off < p->len) {
        ssize_t w = send(fd, p->buf + off, p->len - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return -1;
        }
        off += (size_t)w;
    }
    memmove(p->buf, p->buf + off, p->len - off);
    p->len -= off;
    if (p->len) return 1;
    free(p->buf); free(p); pend[fd] = NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    return 0;
}

int main(int argc, char **argv) {
    static char buf[65536];
    struct epoll_event evs[256];
    char line[64];
    size_t line_len = 0;
    if (argc != 2) { fprintf(stderr, "usage: %s LISTEN_FD\n", argv[0]); return 2; }
    int lfd = atoi(argv[1]);
    int ep = epoll_create1(0);
    if (ep < 0) { perror("epoll_create1"); return 1; }
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) { perror("listening fd"); return 1; }
    ev.data.fd = 0;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) { perror("stdin"); return 1; }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0) break;
                    if (c >= MAXFD) { close(c); continue; }
                    int one = 1;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
            } else if (fd == 0) {
                ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
                if (r <= 0) return 0;
                line_len += (size_t)r;
                char *nl;
                while ((nl = memchr(line, '\n', line_len))) {
                    printf("%lld\n", cpu_ns());
                    fflush(stdout);
                    line_len -= (size_t)(nl + 1 - line);
                    memmove(line, nl + 1, line_len);
                }
                if (line_len >= sizeof line - 1) line_len = 0;
            } else {
                if ((evs[i].events & EPOLLOUT) && pend[fd]) {
                    if (flush(ep, fd) < 0) { drop(ep, fd); continue; }
                }
                if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
                ssize_t r = recv(fd, buf, sizeof buf, 0);
                if (r < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
                    drop(ep, fd);
                    continue;
                }
                if (r == 0) { drop(ep, fd); continue; }
                if (pend[fd]) {
                    if (queue(ep, fd, buf, (size_t)r) < 0) drop(ep, fd);
                    continue;
                }
                ssize_t off = 0;
                while (off < r) {
                    ssize_t w = send(fd, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
                    if (w < 0) {
                        if (errno == EINTR) continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                        off = -1;
                        break;
                    }
                    off += w;
                }
                if (off < 0) drop(ep, fd);
                else if (off < r && queue(ep, fd, buf + off, (size_t)(r - off)) < 0) drop(ep, fd);
            }
        }
    }
}
