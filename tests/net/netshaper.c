/* netshaper: a userspace switch between network namespaces that shapes each
 * directed link (delay, jitter, loss, bandwidth, cut), for kernels without
 * sch_netem. tests/net/netbed.sh drives it.
 *
 * `netshaper run --ctl SOCK --node NS=ADDR ...` opens one TUN device ("nb0")
 * inside each namespace NS (setns into /var/run/netns/NS, then back); the
 * script gives it ADDR/24, so every packet a namespace sends to a peer's
 * address comes up here. A packet from node s to node d crosses the directed
 * link (s, d): dropped when the link is cut or by its loss draw, else it
 * leaves after the link's serialisation backlog (token bucket at rate_kbit,
 * refused beyond queue_kb of backlog), plus delay, plus a uniform draw in
 * [-jitter, +jitter] (never before it left: packets may overtake each other,
 * which is how jitter reorders them, as in netem). Packets in flight sit in
 * one min-heap of release times over a pool allocated at start: memory is
 * fixed, a full pool drops (counted). Only IPv4 packets between the nodes'
 * addresses are forwarded; nothing is routed anywhere else.
 *
 * `netshaper ctl SOCK COMMAND...` sends one command line to a running
 * shaper and prints its answer (exit 0 when it starts with "ok"):
 *   set A B [delay_us=N] [jitter_us=N] [loss_pct=F] [rate_kbit=N] [queue_kb=N]
 *   cut A B | heal A B        (directed: packets from A to B)
 *   isolate K | healall | stats
 * A and B are node indexes (order of --node) or '*' for all. `set` gives
 * the links exactly the values named: a key left out is 0 (none), the queue
 * 256 KiB; a cut link stays cut.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setns, accept4, ppoll */
#endif
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

enum { NS_NODES_MAX = 16, NS_PKT_BYTES_MAX = 2048, NS_POOL_DEFAULT = 8192,
       NS_READ_BURST = 64, NS_CMD_BYTES_MAX = 512 };

typedef struct {
    uint64_t delay_ns, jitter_ns, rate_bps, queue_bytes;
    uint32_t loss_ppm; /* per million */
    bool up;
    uint64_t busy_until_ns; /* when the last accepted packet has left */
    uint64_t sent, lost, cut, overflow, bytes;
} ns_link;

typedef struct {
    uint64_t release_ns, order;
    uint32_t slot, len;
    uint8_t dst;
} ns_entry;

static struct {
    int n;
    int tun_fd[NS_NODES_MAX];
    uint32_t addr[NS_NODES_MAX]; /* network order */
    ns_link link[NS_NODES_MAX][NS_NODES_MAX];
    uint8_t *pool;       /* pool_max packets of NS_PKT_BYTES_MAX */
    uint32_t *free_slot; /* stack of free slots */
    uint32_t free_n, pool_max;
    ns_entry *heap;
    uint32_t heap_n, heap_max_seen;
    uint64_t order, rng;
    uint64_t pool_full, unknown_dst, not_ipv4, write_err, reads;
} S;

static volatile sig_atomic_t ns_stop;
static void ns_on_signal(int sig) { (void)sig; ns_stop = 1; }

static uint64_t ns_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the draws need no quality beyond independence per packet. */
static uint64_t ns_rand(void)
{
    S.rng ^= S.rng >> 12;
    S.rng ^= S.rng << 25;
    S.rng ^= S.rng >> 27;
    return S.rng * 2685821657736338717ull;
}

static bool ns_before(const ns_entry *a, const ns_entry *b)
{
    return a->release_ns < b->release_ns ||
           (a->release_ns == b->release_ns && a->order < b->order);
}

static void ns_heap_push(ns_entry e)
{
    assert(S.heap_n < S.pool_max);
    uint32_t i = S.heap_n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!ns_before(&e, &S.heap[p])) break;
        S.heap[i] = S.heap[p];
        i = p;
    }
    S.heap[i] = e;
    if (S.heap_n > S.heap_max_seen) S.heap_max_seen = S.heap_n;
}

static ns_entry ns_heap_pop(void)
{
    assert(S.heap_n > 0);
    ns_entry top = S.heap[0], last = S.heap[--S.heap_n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= S.heap_n) break;
        if (c + 1 < S.heap_n && ns_before(&S.heap[c + 1], &S.heap[c])) c++;
        if (!ns_before(&S.heap[c], &last)) break;
        S.heap[i] = S.heap[c];
        i = c;
    }
    if (S.heap_n > 0) S.heap[i] = last;
    return top;
}

static int ns_node_of(uint32_t addr)
{
    for (int k = 0; k < S.n; k++)
        if (S.addr[k] == addr) return k;
    return -1;
}

/* One packet read from node src's device: admitted to the heap or dropped. */
static void ns_admit(int src, const uint8_t *pkt, size_t len, uint64_t now_ns)
{
    if (len < 20 || (pkt[0] >> 4) != 4) { S.not_ipv4++; return; }
    uint32_t dst_addr;
    memcpy(&dst_addr, pkt + 16, 4);
    int dst = ns_node_of(dst_addr);
    if (dst < 0 || dst == src) { S.unknown_dst++; return; }
    ns_link *l = &S.link[src][dst];
    if (!l->up) { l->cut++; return; }
    if (l->loss_ppm > 0 && ns_rand() % 1000000u < l->loss_ppm) { l->lost++; return; }
    uint64_t depart_ns = now_ns;
    if (l->rate_bps > 0) {
        uint64_t start_ns = l->busy_until_ns > now_ns ? l->busy_until_ns : now_ns;
        uint64_t backlog_bytes = (start_ns - now_ns) * l->rate_bps / 8000000000u;
        if (backlog_bytes + len > l->queue_bytes) { l->overflow++; return; }
        depart_ns = start_ns + (uint64_t)len * 8000000000u / l->rate_bps;
        l->busy_until_ns = depart_ns;
    }
    if (S.free_n == 0) { S.pool_full++; return; }
    uint64_t release_ns = depart_ns + l->delay_ns;
    if (l->jitter_ns > 0) {
        uint64_t j = ns_rand() % (2 * l->jitter_ns + 1);
        release_ns = release_ns + j >= l->jitter_ns ? release_ns + j - l->jitter_ns : 0;
        if (release_ns < depart_ns) release_ns = depart_ns;
    }
    uint32_t slot = S.free_slot[--S.free_n];
    memcpy(S.pool + (size_t)slot * NS_PKT_BYTES_MAX, pkt, len);
    ns_heap_push((ns_entry){ release_ns, S.order++, slot, (uint32_t)len, (uint8_t)dst });
    l->sent++;
    l->bytes += len;
}

/* Writes every packet whose release time has come; returns the next release
 * time, or UINT64_MAX when nothing is in flight. */
static uint64_t ns_release_due(uint64_t now_ns)
{
    while (S.heap_n > 0 && S.heap[0].release_ns <= now_ns) {
        ns_entry e = ns_heap_pop();
        if (write(S.tun_fd[e.dst], S.pool + (size_t)e.slot * NS_PKT_BYTES_MAX, e.len) < 0)
            S.write_err++;
        assert(S.free_n < S.pool_max);
        S.free_slot[S.free_n++] = e.slot;
    }
    return S.heap_n > 0 ? S.heap[0].release_ns : UINT64_MAX;
}

/* Opens the TUN device "nb0" inside namespace ns; -1 with a message on error. */
static int ns_open_tun(const char *ns, int home_fd)
{
    char path[300];
    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    int nfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nfd < 0) { fprintf(stderr, "netshaper: %s: %s\n", path, strerror(errno)); return -1; }
    if (setns(nfd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "netshaper: setns %s: %s\n", ns, strerror(errno));
        close(nfd);
        return -1;
    }
    close(nfd);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "nb0");
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0) {
        fprintf(stderr, "netshaper: tun in %s: %s\n", ns, strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    /* The device stays in ns; this process goes home for the next one. */
    if (setns(home_fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "netshaper: setns back: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

/* Parses a node selector: an index below n, or '*' (-1). */
static bool ns_parse_sel(const char *s, int *out)
{
    if (strcmp(s, "*") == 0) { *out = -1; return true; }
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v >= S.n) return false;
    *out = (int)v;
    return true;
}

/* Applies fn to every directed link a -> b matching the selectors. */
typedef void (*ns_link_fn)(ns_link *l, void *arg);
static void ns_each(int a, int b, ns_link_fn fn, void *arg)
{
    for (int s = 0; s < S.n; s++)
        for (int d = 0; d < S.n; d++)
            if (s != d && (a < 0 || a == s) && (b < 0 || b == d)) fn(&S.link[s][d], arg);
}
static void ns_set_up(ns_link *l, void *arg) { l->up = *(bool *)arg; }
static void ns_set_params(ns_link *l, void *arg)
{
    const ns_link *p = arg;
    l->delay_ns = p->delay_ns;
    l->jitter_ns = p->jitter_ns;
    l->loss_ppm = p->loss_ppm;
    l->rate_bps = p->rate_bps;
    l->queue_bytes = p->queue_bytes;
}

static void ns_stats(char *out, size_t cap)
{
    uint64_t sent = 0, lost = 0, cut = 0, over = 0, bytes = 0;
    for (int s = 0; s < S.n; s++)
        for (int d = 0; d < S.n; d++) {
            sent += S.link[s][d].sent;
            lost += S.link[s][d].lost;
            cut += S.link[s][d].cut;
            over += S.link[s][d].overflow;
            bytes += S.link[s][d].bytes;
        }
    snprintf(out, cap,
             "ok sent=%" PRIu64 " bytes=%" PRIu64 " lost=%" PRIu64 " cut=%" PRIu64
             " overflow=%" PRIu64 " pool_full=%" PRIu64 " unknown_dst=%" PRIu64
             " not_ipv4=%" PRIu64 " write_err=%" PRIu64 " in_flight=%u in_flight_max=%u"
             " pool=%u\n",
             sent, bytes, lost, cut, over, S.pool_full, S.unknown_dst, S.not_ipv4,
             S.write_err, S.heap_n, S.heap_max_seen, S.pool_max);
}

/* Executes one command line; writes the answer to out. */
static void ns_command(char *line, char *out, size_t cap)
{
    char *tok[12];
    int nt = 0;
    for (char *p = strtok(line, " \t\r\n"); p && nt < 12; p = strtok(NULL, " \t\r\n")) tok[nt++] = p;
    int a, b;
    if (nt == 0) { snprintf(out, cap, "error: empty command\n"); return; }
    if (strcmp(tok[0], "stats") == 0) { ns_stats(out, cap); return; }
    if (strcmp(tok[0], "healall") == 0) {
        bool up = true;
        ns_each(-1, -1, ns_set_up, &up);
        snprintf(out, cap, "ok\n");
        return;
    }
    if (strcmp(tok[0], "isolate") == 0 && nt == 2 && ns_parse_sel(tok[1], &a) && a >= 0) {
        bool up = false;
        ns_each(a, -1, ns_set_up, &up);
        ns_each(-1, a, ns_set_up, &up);
        snprintf(out, cap, "ok\n");
        return;
    }
    if (nt >= 3 && ns_parse_sel(tok[1], &a) && ns_parse_sel(tok[2], &b)) {
        if (strcmp(tok[0], "cut") == 0 || strcmp(tok[0], "heal") == 0) {
            bool up = tok[0][0] == 'h';
            ns_each(a, b, ns_set_up, &up);
            snprintf(out, cap, "ok\n");
            return;
        }
        if (strcmp(tok[0], "set") == 0) {
            ns_link p = { .queue_bytes = 256 * 1024 };
            for (int i = 3; i < nt; i++) {
                char *eq = strchr(tok[i], '=');
                if (!eq) { snprintf(out, cap, "error: %s: want key=value\n", tok[i]); return; }
                *eq = '\0';
                char *end;
                double v = strtod(eq + 1, &end);
                if (*end != '\0' || v < 0) { snprintf(out, cap, "error: %s: bad value\n", tok[i]); return; }
                if (strcmp(tok[i], "delay_us") == 0) p.delay_ns = (uint64_t)(v * 1000);
                else if (strcmp(tok[i], "jitter_us") == 0) p.jitter_ns = (uint64_t)(v * 1000);
                else if (strcmp(tok[i], "loss_pct") == 0 && v <= 100) p.loss_ppm = (uint32_t)(v * 10000);
                else if (strcmp(tok[i], "rate_kbit") == 0) p.rate_bps = (uint64_t)(v * 1000);
                else if (strcmp(tok[i], "queue_kb") == 0 && v >= 2) p.queue_bytes = (uint64_t)(v * 1024);
                else { snprintf(out, cap, "error: %s: unknown key or value out of range\n", tok[i]); return; }
            }
            ns_each(a, b, ns_set_params, &p);
            snprintf(out, cap, "ok\n");
            return;
        }
    }
    snprintf(out, cap, "error: unknown command or bad node (nodes 0..%d)\n", S.n - 1);
}

/* One control connection: a line in, an answer out. The client writes its
 * line at once, so a short receive timeout bounds a silent client. */
static void ns_serve_ctl(int lfd)
{
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) return;
    struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char line[NS_CMD_BYTES_MAX], out[1024];
    size_t got = 0;
    while (got < sizeof line - 1) {
        ssize_t r = read(c, line + got, sizeof line - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        if (memchr(line, '\n', got)) break;
    }
    line[got] = '\0';
    ns_command(line, out, sizeof out);
    if (write(c, out, strlen(out)) < 0) { /* the client left: nothing to tell */ }
    close(c);
}

static int ns_ctl_socket(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) return -1;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void ns_loop(int lfd)
{
    struct pollfd pfd[NS_NODES_MAX + 1];
    static uint8_t buf[NS_PKT_BYTES_MAX];
    for (int k = 0; k < S.n; k++) pfd[k] = (struct pollfd){ .fd = S.tun_fd[k], .events = POLLIN };
    pfd[S.n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
    while (!ns_stop) {
        uint64_t now_ns = ns_now_ns();
        uint64_t next_ns = ns_release_due(now_ns);
        struct timespec ts, *tsp = NULL;
        if (next_ns != UINT64_MAX) {
            uint64_t wait_ns = next_ns > now_ns ? next_ns - now_ns : 0;
            ts = (struct timespec){ (time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u) };
            tsp = &ts;
        }
        int r = ppoll(pfd, (nfds_t)S.n + 1, tsp, NULL);
        if (r < 0 && errno != EINTR) { perror("netshaper: ppoll"); return; }
        if (r <= 0) continue;
        for (int k = 0; k < S.n; k++) {
            if (!(pfd[k].revents & POLLIN)) continue;
            /* A bounded burst per device per round: one busy node cannot
             * starve the others or delay releases for long. */
            for (int i = 0; i < NS_READ_BURST; i++) {
                ssize_t len = read(S.tun_fd[k], buf, sizeof buf);
                if (len <= 0) break;
                S.reads++;
                ns_admit(k, buf, (size_t)len, ns_now_ns());
            }
        }
        if (pfd[S.n].revents & POLLIN) ns_serve_ctl(lfd);
    }
}

static int ns_run(int argc, char **argv)
{
    const char *ctl = NULL;
    const char *ns_name[NS_NODES_MAX];
    S.pool_max = NS_POOL_DEFAULT;
    S.rng = 0x9e3779b97f4a7c15ull;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--ctl") == 0 && i + 1 < argc) ctl = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) S.rng ^= strtoull(argv[++i], NULL, 10) * 0xbf58476d1ce4e5b9ull;
        else if (strcmp(argv[i], "--pool") == 0 && i + 1 < argc) S.pool_max = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--node") == 0 && i + 1 < argc && S.n < NS_NODES_MAX) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            struct in_addr ia;
            if (!eq || inet_pton(AF_INET, eq + 1, &ia) != 1) {
                fprintf(stderr, "netshaper: --node %s: want NS=IPV4\n", spec);
                return 2;
            }
            *eq = '\0';
            ns_name[S.n] = spec;
            S.addr[S.n++] = ia.s_addr;
        } else {
            fprintf(stderr, "netshaper: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!ctl || S.n < 2 || S.pool_max < 16 || S.pool_max > 1u << 20 || S.rng == 0) {
        fprintf(stderr, "netshaper run: needs --ctl SOCK and 2..%d --node NS=ADDR\n", NS_NODES_MAX);
        return 2;
    }
    S.pool = malloc((size_t)S.pool_max * NS_PKT_BYTES_MAX);
    S.free_slot = malloc(S.pool_max * sizeof *S.free_slot);
    S.heap = malloc(S.pool_max * sizeof *S.heap);
    if (!S.pool || !S.free_slot || !S.heap) { fprintf(stderr, "netshaper: out of memory\n"); return 1; }
    for (uint32_t i = 0; i < S.pool_max; i++) S.free_slot[i] = S.pool_max - 1 - i;
    S.free_n = S.pool_max;
    for (int s = 0; s < S.n; s++)
        for (int d = 0; d < S.n; d++) S.link[s][d] = (ns_link){ .up = true, .queue_bytes = 256 * 1024 };
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) { perror("netshaper: /proc/self/ns/net"); return 1; }
    for (int k = 0; k < S.n; k++)
        if ((S.tun_fd[k] = ns_open_tun(ns_name[k], home)) < 0) return 1;
    close(home);
    /* The socket appears only once every device exists: the script waits for it. */
    int lfd = ns_ctl_socket(ctl);
    if (lfd < 0) { fprintf(stderr, "netshaper: control socket %s: %s\n", ctl, strerror(errno)); return 1; }
    struct sigaction sa = { .sa_handler = ns_on_signal };
    /* Its script killed outright (a test's timeout): the devices must go
     * too, and they live as long as this process holds them. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    ns_loop(lfd);
    char out[1024];
    ns_stats(out, sizeof out);
    fprintf(stderr, "netshaper: exit: %s", out + 3);
    close(lfd);
    unlink(ctl);
    return 0;
}

static int ns_ctl(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "netshaper ctl SOCK COMMAND...\n"); return 2; }
    char line[NS_CMD_BYTES_MAX] = "";
    for (int i = 3; i < argc; i++) {
        if (strlen(line) + strlen(argv[i]) + 2 >= sizeof line) return 2;
        strcat(line, argv[i]);
        strcat(line, i + 1 < argc ? " " : "\n");
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(argv[2]) >= sizeof sa.sun_path) return 2;
    strcpy(sa.sun_path, argv[2]);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "netshaper ctl: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    if (write(fd, line, strlen(line)) < 0) { perror("netshaper ctl: write"); return 1; }
    char out[1024];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof out - 1 && (r = read(fd, out + got, sizeof out - 1 - got)) > 0) got += (size_t)r;
    out[got] = '\0';
    close(fd);
    fputs(out, stdout);
    return strncmp(out, "ok", 2) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "run") == 0) return ns_run(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "ctl") == 0) return ns_ctl(argc, argv);
    fprintf(stderr, "usage: netshaper run --ctl SOCK --node NS=ADDR... [--seed N] [--pool N]\n"
                    "       netshaper ctl SOCK COMMAND...   (see the file's header)\n");
    return 2;
}
