/*
 * lt_rogue_peer — a misbehaving peer for the C node's tests (test/lattice_cnode_tests.erl).
 *
 *   lt_rogue_peer half NAME TARGET       connect as node NAME, send half a packet, hold
 *   lt_rogue_peer noread NAME TARGET N   connect, send N ping requests, never read a reply
 *   lt_rogue_peer stall PORT             open a TCP connection to PORT and send two bytes of
 *                                        a handshake, then hold
 *
 * The cookie comes from $LATTICE_COOKIE. Once the misdeed is done the tool prints "holding" on
 * stdout and holds its connection until stdin reaches end of file (the test closes the port),
 * then exits 0. Exit 1 if it cannot connect, 2 for bad arguments.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ei.h>

/* Blocks until stdin ends: the test's port closing. */
static void hold(void) {
    char buf[256];
    printf("holding\n");
    fflush(stdout);
    while (read(STDIN_FILENO, buf, sizeof buf) > 0) {
    }
}

/* Connects to target (borrowed) as node name (borrowed). Returns the socket or -1. */
static int connect_node(ei_cnode *ec, const char *name, char *target) {
    const char *cookie = getenv("LATTICE_COOKIE");
    if (cookie == NULL || ei_init() != 0 || ei_connect_init(ec, name, cookie, 0) < 0)
        return -1;
    return ei_connect_tmo(ec, target, 5000);
}

/* Writes all of buf[0..len) to fd. Returns 0 or -1. */
static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv) {
    ei_cnode ec;
    int fd;

    if (argc == 4 && strcmp(argv[1], "half") == 0) {
        /* A packet announcing 1000 bytes, of which 20 come: 'p', then a control message cut
         * short. */
        unsigned char part[24] = {0, 0, 3, 232, 'p', 131, 'h', 4, 'a', 6};
        if ((fd = connect_node(&ec, argv[2], argv[3])) < 0)
            return 1;
        if (write_all(fd, part, sizeof part) < 0)
            return 1;
        hold();
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "noread") == 0) {
        long count = strtol(argv[4], NULL, 10);
        if ((fd = connect_node(&ec, argv[2], argv[3])) < 0)
            return 1;
        for (long i = 0; i < count; i++) {
            ei_x_buff x;
            erlang_ref ref;
            ei_x_new_with_version(&x);
            ei_make_ref(&ec, &ref);
            ei_x_encode_tuple_header(&x, 3);
            ei_x_encode_atom(&x, "stats");
            ei_x_encode_pid(&x, ei_self(&ec));
            ei_x_encode_ref(&x, &ref);
            int rc = ei_reg_send(&ec, fd, "any", x.buff, x.index);
            ei_x_free(&x);
            if (rc < 0)
                break; /* the C node gave up on us: fine */
        }
        hold();
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "stall") == 0) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((unsigned short)atoi(argv[2]));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            return 1;
        if (write_all(fd, "\0", 1) < 0) /* one byte of the two-byte handshake length */
            return 1;
        hold();
        return 0;
    }
    fprintf(stderr, "usage: lt_rogue_peer half NAME TARGET | noread NAME TARGET N | stall PORT\n");
    return 2;
}
