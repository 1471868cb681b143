/*
 * lt_ae_rogue: a misbehaving peer for the anti-entropy tests (test/lattice_ae_limits_tests.erl).
 *
 *   lt_ae_rogue --name NODE --target NODE --mode half|handshake|huge
 *
 * The cookie comes from $LATTICE_COOKIE (never argv). NODE is alive@host.
 *
 *   half       completes the distribution handshake with the target, then sends the 4-byte
 *              length of a 1000-byte packet and 10 bytes of it, and stops there.
 *   handshake  opens a TCP connection to the target's port (asked of epmd on 127.0.0.1) and
 *              sends half of a handshake's first message, and stops there.
 *   huge       completes the handshake, then announces a packet of 2^31 bytes and sends junk
 *              at about 64 KiB per 10 ms, forever.
 *
 * Once in place it prints "lt_ae_rogue ready MODE" on stdout and holds the connection until
 * stdin ends (the port that runs it is closed) or it is killed. Exit 1 when it cannot get in
 * place, 2 for bad arguments. The code owns everything it allocates; nothing outlives main.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ei.h>

#define ROGUE_TMO_MS 5000u

static void rogue_usage(void) {
    fprintf(stderr, "usage: lt_ae_rogue --name NODE --target NODE --mode half|handshake|huge\n"
                    "       (cookie from $LATTICE_COOKIE)\n");
}

/* Writes all of buf[0..len) to fd (blocking). Returns 0, or -1 on error. */
static int rogue_write(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Asks epmd on 127.0.0.1 for the port of `alive` (PORT_PLEASE2_REQ). Returns it, or -1. */
static int rogue_epmd_port(const char *alive) {
    size_t n = strlen(alive);
    unsigned char req[3 + 256], resp[4];
    struct sockaddr_in sa;
    int fd, port = -1;
    if (n == 0 || n > 255)
        return -1;
    req[0] = (unsigned char)((n + 1) >> 8);
    req[1] = (unsigned char)((n + 1) & 0xff);
    req[2] = 122; /* PORT_PLEASE2_REQ */
    memcpy(req + 3, alive, n);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(4369);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && rogue_write(fd, req, 3 + n) == 0) {
        size_t got = 0;
        while (got < sizeof resp) {
            ssize_t r = read(fd, resp + got, sizeof resp - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        /* PORT2_RESP: 119, Result (0 = found), PortNo:16, ... */
        if (got == sizeof resp && resp[0] == 119 && resp[1] == 0)
            port = (resp[2] << 8) | resp[3];
    }
    close(fd);
    return port;
}

/* Half of a handshake's first message: a 2-byte length of 20 and 5 bytes of it. */
static int rogue_handshake(const char *target) {
    char alive[MAXNODELEN + 1];
    const char *at = strchr(target, '@');
    struct sockaddr_in sa;
    const unsigned char half[] = {0, 20, 'N', 0, 0, 0, 0};
    int port, fd;
    if (at == NULL || (size_t)(at - target) >= sizeof alive)
        return -1;
    memcpy(alive, target, (size_t)(at - target));
    alive[at - target] = '\0';
    port = rogue_epmd_port(alive);
    if (port < 0)
        return -1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        rogue_write(fd, half, sizeof half) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True once stdin has ended (or errs); waits up to ms. */
static int rogue_stdin_closed(int ms) {
    struct pollfd p = {.fd = 0, .events = POLLIN, .revents = 0};
    char buf[256];
    if (poll(&p, 1, ms) <= 0)
        return 0;
    return read(0, buf, sizeof buf) <= 0;
}

int main(int argc, char **argv) {
    const char *name = NULL, *target = NULL, *mode = NULL, *cookie = getenv("LATTICE_COOKIE");
    char alive[MAXNODELEN + 1], host[MAXNODELEN + 1], target_buf[MAXNODELEN + 1];
    static char junk[65536];
    struct in_addr loopback;
    ei_cnode ec;
    const char *at;
    int fd = -1;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--name") == 0)
            name = argv[i + 1];
        else if (strcmp(argv[i], "--target") == 0)
            target = argv[i + 1];
        else if (strcmp(argv[i], "--mode") == 0)
            mode = argv[i + 1];
    }
    if (name == NULL || target == NULL || mode == NULL || cookie == NULL || argc != 7 ||
        (at = strchr(name, '@')) == NULL || (size_t)(at - name) >= sizeof alive ||
        strlen(at + 1) >= sizeof host || strlen(target) >= sizeof target_buf) {
        rogue_usage();
        return 2;
    }
    memcpy(alive, name, (size_t)(at - name));
    alive[at - name] = '\0';
    snprintf(host, sizeof host, "%s", at + 1);
    snprintf(target_buf, sizeof target_buf, "%s", target);
    memset(junk, 0x5a, sizeof junk);

    if (strcmp(mode, "handshake") == 0) {
        fd = rogue_handshake(target_buf);
    } else if (strcmp(mode, "half") == 0 || strcmp(mode, "huge") == 0) {
        loopback.s_addr = htonl(INADDR_LOOPBACK);
        if (ei_init() == 0 && ei_connect_xinit(&ec, host, alive, name, &loopback, cookie, 0) == 0)
            fd = ei_connect_tmo(&ec, target_buf, ROGUE_TMO_MS);
        if (fd >= 0 && strcmp(mode, "half") == 0) {
            const unsigned char head[4] = {0, 0, 0x03, 0xe8}; /* a 1000-byte packet */
            if (rogue_write(fd, head, sizeof head) < 0 || rogue_write(fd, junk, 10) < 0)
                fd = -1;
        } else if (fd >= 0) {
            const unsigned char head[4] = {0x80, 0, 0, 0}; /* 2^31 bytes */
            if (rogue_write(fd, head, sizeof head) < 0)
                fd = -1;
        }
    } else {
        rogue_usage();
        return 2;
    }
    if (fd < 0) {
        fprintf(stderr, "lt_ae_rogue: cannot get in place (%s against %s)\n", mode, target_buf);
        return 1;
    }
    printf("lt_ae_rogue ready %s\n", mode);
    fflush(stdout);
    int flood = strcmp(mode, "huge") == 0;
    while (!rogue_stdin_closed(10)) {
        if (flood && rogue_write(fd, junk, sizeof junk) < 0)
            flood = 0; /* the target closed the connection: wait for stdin */
    }
    close(fd);
    return 0;
}
