/*
 * lt_rogue_peer — a misbehaving peer for the C node's tests (test/lattice_cnode_tests.erl).
 *
 *   lt_rogue_peer half NAME TARGET       connect as node NAME, send half a packet, hold
 *   lt_rogue_peer noread NAME TARGET N   connect, send N ping requests, never read a reply
 *   lt_rogue_peer stall PORT             open a TCP connection to PORT and send two bytes of
 *                                        a handshake, then hold
 *   lt_rogue_peer sealed HOW NAME TARGET STORE KEYHEX
 *                                        connect as NAME and start a session for STORE (levels
 *                                        1, a root that differs from an empty tree's, unless HOW
 *                                        is `equal'), HOW being:
 *       plain    a HELLO in the clear;
 *       sealed   a HELLO sealed under KEYHEX (64 hex digits), the answer opened;
 *       replay   as sealed, then the same HELLO again, into the running session;
 *       flip     as sealed, then the next message sealed properly with one bit flipped;
 *       inject   as sealed, then a next message in the clear;
 *       equal    a sealed HELLO of an empty tree (the target's store empty too: EQUAL back).
 *     Every session message received is printed as "got KIND FLAGS sealed|plain opened|unopened
 *     ABORT-REASON" (kind and reason numbers; reason 0 for other kinds), each on its line, until
 *     an ABORT, an EQUAL or 2 s of silence; then "holding".
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
#include <sodium.h>

#include "lt_aeseal.h"
#include "lt_cnode_proto.h"

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

/* Connects to target (borrowed) as the node named exactly name (alive@host, borrowed), so that
 * the target sees that name. Returns the socket or -1. */
static int connect_as(ei_cnode *ec, const char *name, char *target) {
    const char *cookie = getenv("LATTICE_COOKIE");
    char alive[256], host[256];
    const char *at = strchr(name, '@');
    struct in_addr addr;
    if (cookie == NULL || at == NULL || (size_t)(at - name) >= sizeof alive ||
        strlen(at + 1) >= sizeof host || ei_init() != 0)
        return -1;
    memcpy(alive, name, (size_t)(at - name));
    alive[at - name] = '\0';
    strcpy(host, at + 1);
    addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ei_connect_xinit(ec, host, alive, name, &addr, cookie, 0) < 0)
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

/* Sends the session message m[0..len) to the target's lattice_ae, as the C node sends them. */
static int send_ae(ei_cnode *ec, int fd, const uint8_t *m, size_t len) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_binary(&x, m, (long)len);
    int rc = ei_reg_send(ec, fd, "lattice_ae", x.buff, x.index);
    ei_x_free(&x);
    return rc;
}

/* Receives the next session message binary into out (cap bytes). Its length, or -1 after 2 s
 * without one. */
static long recv_ae(int fd, uint8_t *out, size_t cap) {
    for (;;) {
        erlang_msg msg;
        ei_x_buff x;
        int idx = 0, version, type, size;
        long len = 0;
        ei_x_new(&x);
        int rc = ei_xreceive_msg_tmo(fd, &msg, &x, 2000);
        if (rc == ERL_TICK) {
            ei_x_free(&x);
            continue;
        }
        if (rc == ERL_ERROR) {
            ei_x_free(&x);
            return -1;
        }
        if (ei_decode_version(x.buff, &idx, &version) == 0 &&
            ei_get_type(x.buff, &idx, &type, &size) == 0 && type == ERL_BINARY_EXT &&
            (size_t)size <= cap && ei_decode_binary(x.buff, &idx, out, &len) == 0) {
            ei_x_free(&x);
            return len;
        }
        ei_x_free(&x);
    }
}

/* Prints what comes until an ABORT, an EQUAL or silence; opens sealed messages with st. */
static void report(int fd, lt_aeseal *st) {
    static uint8_t m[1 << 20], body[1 << 20];
    long len;
    while ((len = recv_ae(fd, m, sizeof m)) >= LT_AE_HEADER) {
        unsigned kind = m[1], flags = m[2], reason = 0;
        int sealed = (flags & LT_AE_FLAG_SEALED) != 0, opened = 0;
        size_t blen = 0;
        if (sealed && st != NULL &&
            lt_aeseal_open(st, m, (size_t)len, body, sizeof body, &blen) == LT_AESEAL_OK)
            opened = 1;
        if (kind == LT_AE_ABORT) {
            if (!sealed && len == LT_AE_HEADER + 1)
                reason = m[LT_AE_HEADER];
            else if (opened && blen == 1)
                reason = body[0];
        }
        printf("got %u %u %s %s %u\n", kind, flags, sealed ? "sealed" : "plain",
               opened ? "opened" : "unopened", reason);
        fflush(stdout);
        if (kind == LT_AE_ABORT || kind == LT_AE_EQUAL || (sealed && !opened))
            return;
        if (st != NULL)
            return; /* the caller goes on with the session */
    }
}

static int sealed_mode(const char *how, const char *name, char *target, const char *store,
                       const char *keyhex) {
    ei_cnode ec;
    uint8_t key[LT_AESEAL_KEYLEN], body[300], hdr[LT_AE_HEADER], msg[1024];
    size_t klen = 0, slen = strlen(store), mlen = 0;
    int equal = strcmp(how, "equal") == 0, plain = strcmp(how, "plain") == 0;
    lt_aeseal *st;
    if (sodium_init() < 0 || slen == 0 || slen > 255 ||
        sodium_hex2bin(key, sizeof key, keyhex, strlen(keyhex), NULL, &klen, NULL) != 0 ||
        klen != sizeof key || (st = sodium_malloc(sizeof *st)) == NULL)
        return 2;
    int fd = connect_as(&ec, name, target);
    if (fd < 0)
        return 1;
    /* HELLO: levels 1, the root fold (0 for an empty tree), count (0 or 1), the store. */
    size_t b = 0;
    body[b++] = 1;
    memset(body + b, equal ? 0 : 0x5a, 8);
    b += 8;
    body[b++] = equal ? 0 : 1;
    body[b++] = (uint8_t)slen;
    memcpy(body + b, store, slen);
    b += slen;
    uint8_t h0[LT_AE_HEADER] = {LT_AE_V1, LT_AE_HELLO, LT_AE_FLAG_FROM_INIT, 0, 0, 0x42, 0x42};
    memcpy(hdr, h0, sizeof hdr);
    if (plain) {
        memcpy(msg, hdr, LT_AE_HEADER);
        memcpy(msg + LT_AE_HEADER, body, b);
        send_ae(&ec, fd, msg, LT_AE_HEADER + b);
        report(fd, NULL);
    } else {
        lt_aeseal_init(st, key, 1);
        hdr[2] |= LT_AE_FLAG_SEALED;
        if (lt_aeseal_seal(st, hdr, body, b, msg, sizeof msg, &mlen) != LT_AESEAL_OK)
            return 2;
        send_ae(&ec, fd, msg, mlen);
        report(fd, st);
        uint8_t h1[LT_AE_HEADER] = {
            LT_AE_V1, LT_AE_BUCKETS, LT_AE_FLAG_FROM_INIT | LT_AE_FLAG_SEALED, 0, 0, 0x42, 0x42};
        uint8_t next[64] = {0}, m2[256];
        size_t m2len = 0;
        if (strcmp(how, "replay") == 0) {
            send_ae(&ec, fd, msg, mlen);
            report(fd, st);
        } else if (strcmp(how, "flip") == 0) {
            if (lt_aeseal_seal(st, h1, next, sizeof next, m2, sizeof m2, &m2len) != LT_AESEAL_OK)
                return 2;
            m2[m2len - 20] ^= 0x10;
            send_ae(&ec, fd, m2, m2len);
            report(fd, st);
        } else if (strcmp(how, "inject") == 0) {
            h1[2] = LT_AE_FLAG_FROM_INIT;
            memcpy(m2, h1, LT_AE_HEADER);
            memcpy(m2 + LT_AE_HEADER, next, sizeof next);
            send_ae(&ec, fd, m2, LT_AE_HEADER + sizeof next);
            report(fd, st);
        }
    }
    lt_aeseal_wipe(st);
    sodium_free(st);
    hold();
    return 0;
}

int main(int argc, char **argv) {
    ei_cnode ec;
    int fd;

    if (argc == 7 && strcmp(argv[1], "sealed") == 0)
        return sealed_mode(argv[2], argv[3], argv[4], argv[5], argv[6]);

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
