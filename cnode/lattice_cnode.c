/*
 * lattice C node: joins the distributed Erlang cluster as a hidden node of its own.
 *
 *   lattice_cnode --name NODE --owner NODE [--notify NAME]
 *
 * NODE is alive@host. The cookie comes from $LATTICE_COOKIE, or from the file named by
 * $LATTICE_COOKIE_FILE; never from argv, which anyone can read in ps. The node listens on
 * 127.0.0.1 only, registers with epmd, connects to its owner node, optionally sends
 * {lattice_cnode, ready, NodeName} to the process registered as NAME on the owner, prints one
 * line on stdout:
 *
 *   lattice_cnode ready NODE PORT
 *
 * and then serves requests from any connected node until the owner's connection closes, stdin
 * reaches end of file (the owning port was closed, or the VM died) or SIGTERM/SIGINT arrives;
 * each of those ends the process with status 0. Diagnostics go to stderr.
 *
 * Requests may be sent to any registered name on this node. FromPid is where the reply goes; it
 * must live on the node the request came from (replies go back over the same connection, never
 * to a third node). Ref comes back unchanged so the caller can match it:
 *
 *   {ping, FromPid, Ref}    -> {lattice_cnode, Ref, pong}
 *   {version, FromPid, Ref} -> {lattice_cnode, Ref, {version, <<"0.1.0">>, 1}}
 *   {Op, FromPid, Ref}      -> {lattice_cnode, Ref, {error, {unknown_request, Op}}}
 *
 * Any other message is counted and ignored. net_kernel's {is_auth, Node} call is answered with
 * yes, so net_adm:ping/1 works against this node.
 *
 * Input is untrusted: a packet longer than CN_MAX_MSG is discarded unread, and every payload is
 * walked by lt_cnode_check_payload (lt_cnode_term.c), which checks each length against the bytes
 * received, before any ei_decode_* call (those take no buffer length).
 *
 * Exit status: 0 for a clean stop, 1 when start-up fails (listen, epmd, owner unreachable), 2 for
 * bad arguments or no cookie.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ei.h>

#include "lt_version.h"
#include "lt_cnode_term.h"

#define CN_MAX_MSG LT_CNODE_MAX_MSG /* longer packets are discarded unread */
#define CN_MAX_CONNS 64             /* node connections, the owner's included */
#define CN_IO_TMO_MS 5000u          /* reading or writing one message; one handshake */
#define CN_DRAIN_CHUNK 65536        /* bytes of an oversized packet discarded per wake-up */
#define CN_EXIT_USAGE 2             /* bad arguments or no cookie */
#define CN_EXIT_START 1             /* listen, epmd or owner connection failed */
#define CN_ERL_MONITOR_P 9          /* MONITOR_P (19) as ei reports it, with 10 taken off */
#define CN_ERL_DEMONITOR_P 10       /* DEMONITOR_P (20) as ei reports it */
#define CN_ERL_MONITOR_P_EXIT 11    /* MONITOR_P_EXIT (21) as ei reports it */

/* Offsets into a payload are kept in ei's int indexes. */
_Static_assert(CN_MAX_MSG < INT_MAX / 2, "CN_MAX_MSG must fit ei's int indexes");

/* lt_cnode_term.c walks payloads without ei.h; its tags must be ei's. */
#define CN_SAME_TAG(ours, eis) _Static_assert((ours) == (eis), #ours " differs from " #eis)
CN_SAME_TAG(LT_CNODE_TAG_NEW_FLOAT, NEW_FLOAT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_BIT_BINARY, ERL_BIT_BINARY_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEW_PID, ERL_NEW_PID_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEW_PORT, ERL_NEW_PORT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEWER_REFERENCE, ERL_NEWER_REFERENCE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_INTEGER, ERL_SMALL_INTEGER_EXT);
CN_SAME_TAG(LT_CNODE_TAG_INTEGER, ERL_INTEGER_EXT);
CN_SAME_TAG(LT_CNODE_TAG_FLOAT, ERL_FLOAT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_ATOM, ERL_ATOM_EXT);
CN_SAME_TAG(LT_CNODE_TAG_REFERENCE, ERL_REFERENCE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_PORT, ERL_PORT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_PID, ERL_PID_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_TUPLE, ERL_SMALL_TUPLE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_LARGE_TUPLE, ERL_LARGE_TUPLE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NIL, ERL_NIL_EXT);
CN_SAME_TAG(LT_CNODE_TAG_STRING, ERL_STRING_EXT);
CN_SAME_TAG(LT_CNODE_TAG_LIST, ERL_LIST_EXT);
CN_SAME_TAG(LT_CNODE_TAG_BINARY, ERL_BINARY_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_BIG, ERL_SMALL_BIG_EXT);
CN_SAME_TAG(LT_CNODE_TAG_LARGE_BIG, ERL_LARGE_BIG_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEW_FUN, ERL_NEW_FUN_EXT);
CN_SAME_TAG(LT_CNODE_TAG_EXPORT, ERL_EXPORT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEW_REFERENCE, ERL_NEW_REFERENCE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_ATOM, ERL_SMALL_ATOM_EXT);
CN_SAME_TAG(LT_CNODE_TAG_MAP, ERL_MAP_EXT);
CN_SAME_TAG(LT_CNODE_TAG_ATOM_UTF8, ERL_ATOM_UTF8_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_ATOM_UTF8, ERL_SMALL_ATOM_UTF8_EXT);
CN_SAME_TAG(LT_CNODE_TAG_V4_PORT, ERL_V4_PORT_EXT);

/* One connection to another node. The table owns fd and closes it with ei_close_connection. */
typedef struct {
    int fd;                    /* -1 marks a free slot */
    int is_owner;              /* closing this connection ends the process */
    uint64_t skip;             /* bytes of an oversized packet still to discard */
    char node[MAXNODELEN + 1]; /* the peer's node name */
} cn_conn;

/* Everything the node holds. One instance, owned by main. */
typedef struct {
    ei_cnode ec;
    int listen_fd;
    int epmd_fd;   /* from ei_publish; closing it unregisters the name */
    int signal_fd; /* read end of the self-pipe the signal handler writes to */
    cn_conn conns[CN_MAX_CONNS];
    ei_x_buff in; /* the last payload received; never grows beyond CN_MAX_MSG */
    unsigned long ignored;
    unsigned long oversized;
} cn_node;

/* Write end of the self-pipe: the one global, because a signal handler can reach nothing else. */
static int cn_signal_wfd = -1;

/* Prints the usage text to out (borrowed). */
static void cn_usage(FILE *out) {
    fprintf(out, "usage: lattice_cnode --name NODE --owner NODE [--notify NAME]\n"
                 "       lattice_cnode --version | --help\n"
                 "  --name NODE    this node's name, alive@host (listens on 127.0.0.1 only)\n"
                 "  --owner NODE   the node to connect to; its connection closing stops this one\n"
                 "  --notify NAME  a process registered on the owner, sent\n"
                 "                 {lattice_cnode, ready, NodeName} once connected\n"
                 "The cookie is read from $LATTICE_COOKIE, or from the file named by\n"
                 "$LATTICE_COOKIE_FILE; it is never taken from the command line.\n");
}

/* Checks that name (borrowed) is alive@host within ei's limits, and copies the two parts into
 * alive and host (caller's buffers of EI_MAXALIVELEN + 1 and EI_MAXHOSTNAMELEN + 1 bytes, either
 * may be NULL). Returns 0, or -1 if name is malformed. */
static int cn_split_node_name(const char *name, char *alive, char *host) {
    const char *at = strchr(name, '@');
    size_t alive_len, host_len;

    if (at == NULL || strchr(at + 1, '@') != NULL || strlen(name) > MAXNODELEN - 1)
        return -1;
    alive_len = (size_t)(at - name);
    host_len = strlen(at + 1);
    if (alive_len == 0 || alive_len > EI_MAXALIVELEN || host_len == 0 ||
        host_len > EI_MAXHOSTNAMELEN)
        return -1;
    for (const char *p = name; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return -1;
    }
    if (alive != NULL) {
        memcpy(alive, name, alive_len);
        alive[alive_len] = '\0';
    }
    if (host != NULL)
        memcpy(host, at + 1, host_len + 1);
    return 0;
}

/* Overwrites n bytes at p (caller's) with zeros in a way the compiler may not drop. */
static void cn_wipe(void *p, size_t n) {
    volatile unsigned char *v = p;
    while (n-- > 0)
        *v++ = 0;
}

/* Reads the cookie into out (caller's buffer of cap bytes, cap > EI_MAX_COOKIE_SIZE) from
 * $LATTICE_COOKIE or the file named by $LATTICE_COOKIE_FILE, with trailing white space removed,
 * and removes $LATTICE_COOKIE from the environment. Returns 0, or -1 after a message on stderr. */
static int cn_read_cookie(char *out, size_t cap) {
    const char *env = getenv("LATTICE_COOKIE");
    const char *path = getenv("LATTICE_COOKIE_FILE");
    size_t n = 0;

    if (env != NULL && env[0] != '\0') {
        n = strlen(env);
        if (n > EI_MAX_COOKIE_SIZE || n >= cap) {
            fprintf(stderr, "lattice_cnode: LATTICE_COOKIE is longer than %d bytes\n",
                    EI_MAX_COOKIE_SIZE);
            return -1;
        }
        memcpy(out, env, n + 1);
        unsetenv("LATTICE_COOKIE");
    } else if (path != NULL && path[0] != '\0') {
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            fprintf(stderr, "lattice_cnode: cannot read LATTICE_COOKIE_FILE %s: %s\n", path,
                    strerror(errno));
            return -1;
        }
        n = fread(out, 1, cap - 1, f);
        int failed = ferror(f);
        fclose(f);
        if (failed || n > EI_MAX_COOKIE_SIZE) {
            cn_wipe(out, cap);
            fprintf(stderr, "lattice_cnode: LATTICE_COOKIE_FILE %s: %s\n", path,
                    failed ? "read error" : "cookie too long");
            return -1;
        }
        out[n] = '\0';
    } else {
        fprintf(stderr, "lattice_cnode: no cookie: set LATTICE_COOKIE, or LATTICE_COOKIE_FILE to "
                        "a file holding it\n");
        return -1;
    }
    while (n > 0 &&
           (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t'))
        out[--n] = '\0';
    if (n == 0 || memchr(out, '\0', n) != NULL) {
        fprintf(stderr, "lattice_cnode: the cookie is empty or holds a NUL byte\n");
        return -1;
    }
    return 0;
}

/* SIGTERM/SIGINT handler: wakes the loop through the self-pipe. */
static void cn_on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(cn_signal_wfd, &b, 1) < 0) {
        /* The pipe is full: the loop is already woken. */
    }
    errno = saved;
}

/* Makes a non-blocking, close-on-exec self-pipe, installs the handlers and ignores SIGPIPE (a
 * write to a closed socket then fails with EPIPE). Returns the read end, owned by the caller, or
 * -1. */
static int cn_setup_signals(void) {
    int p[2];
    struct sigaction sa;

    if (pipe(p) != 0)
        return -1;
    cn_signal_wfd = p[1];
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = cn_on_signal;
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(p[1], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0 ||
        sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        close(p[0]);
        close(p[1]);
        cn_signal_wfd = -1;
        return -1;
    }
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);
    return p[0];
}

/* Takes ownership of fd, a connection to node name (borrowed). Returns the new slot (borrowed
 * from n), or NULL after closing fd when the table is full. */
static cn_conn *cn_conn_add(cn_node *n, int fd, const char *name, int is_owner) {
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        cn_conn *c = &n->conns[i];
        if (c->fd < 0) {
            c->fd = fd;
            c->is_owner = is_owner;
            c->skip = 0;
            snprintf(c->node, sizeof c->node, "%s", name);
            return c;
        }
    }
    fprintf(stderr, "lattice_cnode: too many connections; refusing %s\n", name);
    ei_close_connection(fd);
    return NULL;
}

/* Closes c's connection and frees its slot. Returns 1 if it was the owner's (time to stop), 0
 * otherwise. */
static int cn_conn_close(cn_conn *c) {
    int was_owner = c->is_owner;
    ei_close_connection(c->fd);
    c->fd = -1;
    c->is_owner = 0;
    c->skip = 0;
    c->node[0] = '\0';
    return was_owner;
}

/* Sends the encoded term in x (borrowed) to pid (borrowed) over c, the connection the request
 * came in on, if pid lives on c's node; otherwise drops it, counted. Replies never go to a third
 * node, so a malformed term copied from a request can only go back to the node that sent it.
 * Closes c if the send fails. Returns 1 if the owner's connection was closed, 0 otherwise. */
static int cn_send(cn_node *n, cn_conn *c, erlang_pid *pid, ei_x_buff *x) {
    if (strcmp(pid->node, c->node) != 0) {
        n->ignored++;
        return 0;
    }
    if (ei_send_tmo(c->fd, pid, x->buff, x->index, CN_IO_TMO_MS) < 0) {
        fprintf(stderr, "lattice_cnode: send to %s failed (erl_errno %d); closing\n", c->node,
                erl_errno);
        return cn_conn_close(c);
    }
    return 0;
}

/* Answers one request {Op, FromPid, Ref}, held in buf[0..len) (borrowed, already walked by
 * lt_cnode_skip_term), that came in on c (borrowed). Returns 1 if the owner's connection was
 * closed, 0 otherwise. */
static int cn_handle_request(cn_node *n, cn_conn *c, const char *buf, size_t len) {
    int idx = 1, arity = 0;
    size_t op_start, op_end, ref_start, ref_end;
    char op[MAXATOMLEN_UTF8];
    erlang_pid from;
    erlang_ref ref;
    ei_x_buff x;
    int rc = 0, stop = 0;

    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3)
        goto ignore;
    op_start = op_end = (size_t)idx;
    if (lt_cnode_skip_term(buf, len, &op_end) < 0)
        goto ignore;
    idx = (int)op_end;
    if (ei_decode_pid(buf, &idx, &from) < 0)
        goto ignore;
    ref_start = (size_t)idx;
    if (ei_decode_ref(buf, &idx, &ref) < 0)
        goto ignore;
    ref_end = (size_t)idx;
    if (ref_end != len)
        goto ignore;

    idx = (int)op_start;
    if (ei_decode_atom_as(buf, &idx, op, sizeof op, ERLANG_UTF8, NULL, NULL) < 0)
        op[0] = '\0'; /* not an atom: an unknown request all the same */

    if (ei_x_new_with_version(&x) < 0)
        return 0;
    rc |= ei_x_encode_tuple_header(&x, 3);
    rc |= ei_x_encode_atom(&x, "lattice_cnode");
    rc |= ei_x_append_buf(&x, buf + ref_start, (int)(ref_end - ref_start));
    if (strcmp(op, "ping") == 0) {
        rc |= ei_x_encode_atom(&x, "pong");
    } else if (strcmp(op, "version") == 0) {
        rc |= ei_x_encode_tuple_header(&x, 3);
        rc |= ei_x_encode_atom(&x, "version");
        rc |= ei_x_encode_binary(&x, LT_VERSION, (int)strlen(LT_VERSION));
        rc |= ei_x_encode_long(&x, LT_CNODE_PROTOCOL);
    } else {
        rc |= ei_x_encode_tuple_header(&x, 2);
        rc |= ei_x_encode_atom(&x, "error");
        rc |= ei_x_encode_tuple_header(&x, 2);
        rc |= ei_x_encode_atom(&x, "unknown_request");
        rc |= ei_x_append_buf(&x, buf + op_start, (int)(op_end - op_start));
    }
    if (rc == 0)
        stop = cn_send(n, c, &from, &x);
    ei_x_free(&x);
    return stop;

ignore:
    n->ignored++;
    return 0;
}

/* Answers net_kernel's {'$gen_call', {FromPid, Tag}, {is_auth, Node}}, in buf[0..len) (borrowed,
 * already walked) and come in on c (borrowed), with {Tag, yes}, as net_adm:ping/1 expects. Anything
 * else is ignored. Returns 1 if the owner's connection was closed, 0 otherwise. */
static int cn_handle_net_kernel(cn_node *n, cn_conn *c, const char *buf, size_t len) {
    int idx = 1, arity = 0;
    char atom[MAXATOMLEN_UTF8];
    erlang_pid from;
    size_t tag_start, tag_end;
    ei_x_buff x;
    int rc = 0, stop = 0;

    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
        ei_decode_atom_as(buf, &idx, atom, sizeof atom, ERLANG_UTF8, NULL, NULL) < 0 ||
        strcmp(atom, "$gen_call") != 0 || ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
        arity != 2 || ei_decode_pid(buf, &idx, &from) < 0)
        goto ignore;
    tag_start = tag_end = (size_t)idx;
    if (lt_cnode_skip_term(buf, len, &tag_end) < 0)
        goto ignore;
    idx = (int)tag_end;
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
        ei_decode_atom_as(buf, &idx, atom, sizeof atom, ERLANG_UTF8, NULL, NULL) < 0 ||
        strcmp(atom, "is_auth") != 0)
        goto ignore;

    if (ei_x_new_with_version(&x) < 0)
        return 0;
    rc |= ei_x_encode_tuple_header(&x, 2);
    rc |= ei_x_append_buf(&x, buf + tag_start, (int)(tag_end - tag_start));
    rc |= ei_x_encode_atom(&x, "yes");
    if (rc == 0)
        stop = cn_send(n, c, &from, &x);
    ei_x_free(&x);
    return stop;

ignore:
    n->ignored++;
    return 0;
}

/* Dispatches the payload in n->in, received on c (borrowed) for the registered name to_name
 * (borrowed; "" for a send to a pid). Returns 1 if the owner's connection was closed, 0 otherwise.
 */
static int cn_dispatch(cn_node *n, cn_conn *c, const char *to_name) {
    const char *buf = n->in.buff;
    size_t len = n->in.index > 0 ? (size_t)n->in.index : 0;

    if (lt_cnode_check_payload(buf, len) < 0) {
        n->ignored++;
        return 0;
    }
    if (strcmp(to_name, "net_kernel") == 0)
        return cn_handle_net_kernel(n, c, buf, len);
    return cn_handle_request(n, c, buf, len);
}

/* Looks at the length of the next packet on fd without consuming it. Returns 1 with *plen set, 2
 * if nothing is there yet, 0 at end of file, -1 on error (or if the rest of a 4-byte length does
 * not arrive within CN_IO_TMO_MS). */
static int cn_peek_length(int fd, uint32_t *plen) {
    char h[4];
    for (unsigned waited_ms = 0;; waited_ms++) {
        ssize_t got = recv(fd, h, sizeof h, MSG_PEEK | MSG_DONTWAIT);
        if (got == (ssize_t)sizeof h) {
            *plen = lt_cnode_get32(h);
            return 1;
        }
        if (got == 0)
            return 0;
        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
            if (waited_ms == 0)
                return 2;
        }
        if (waited_ms >= CN_IO_TMO_MS)
            return -1;
        (void)poll(NULL, 0, 1); /* the rest of the 4-byte length is on its way */
    }
}

/* Handles c's socket being readable: discards part of an oversized packet, or receives and
 * answers one message. Closes c on end of file or error. Returns 1 if the owner's connection was
 * closed, 0 otherwise. */
static int cn_conn_readable(cn_node *n, cn_conn *c) {
    char drain[CN_DRAIN_CHUNK];
    erlang_msg msg;
    uint32_t len = 0;
    int r;

    if (c->skip > 0) {
        size_t want = c->skip < sizeof drain ? (size_t)c->skip : sizeof drain;
        ssize_t got = recv(c->fd, drain, want, MSG_DONTWAIT);
        if (got > 0) {
            c->skip -= (uint64_t)got;
            return 0;
        }
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        return cn_conn_close(c);
    }

    r = cn_peek_length(c->fd, &len);
    if (r == 2)
        return 0;
    if (r <= 0)
        return cn_conn_close(c);
    if (len > CN_MAX_MSG) {
        fprintf(stderr, "lattice_cnode: discarding a %lu-byte message from %s (limit %u)\n",
                (unsigned long)len, c->node, CN_MAX_MSG);
        n->oversized++;
        c->skip = 4 + (uint64_t)len;
        return 0;
    }

    memset(&msg, 0, sizeof msg);
    msg.msgtype = -1;
    r = ei_xreceive_msg_tmo(c->fd, &msg, &n->in, CN_IO_TMO_MS);
    if (r == ERL_TICK)
        return 0;
    if (r == ERL_MSG) {
        if (msg.msgtype == ERL_REG_SEND)
            return cn_dispatch(n, c, msg.toname);
        if (msg.msgtype == ERL_SEND)
            return cn_dispatch(n, c, "");
        n->ignored++; /* link, unlink, exit signals, group leader */
        return 0;
    }
    /* ei reads a monitor signal whole, then refuses it; the stream is still in step. */
    if (msg.msgtype == CN_ERL_MONITOR_P || msg.msgtype == CN_ERL_DEMONITOR_P ||
        msg.msgtype == CN_ERL_MONITOR_P_EXIT) {
        n->ignored++;
        return 0;
    }
    /* Anything else may have left part of a packet unread: the stream cannot be trusted. */
    fprintf(stderr, "lattice_cnode: receive from %s failed (erl_errno %d); closing\n", c->node,
            erl_errno);
    return cn_conn_close(c);
}

/* Accepts one connection on the listen socket (the handshake is bounded by CN_IO_TMO_MS). */
static void cn_accept(cn_node *n) {
    ErlConnect peer;
    int fd;

    memset(&peer, 0, sizeof peer);
    fd = ei_accept_tmo(&n->ec, n->listen_fd, &peer, CN_IO_TMO_MS);
    if (fd < 0) {
        fprintf(stderr, "lattice_cnode: accept failed (erl_errno %d)\n", erl_errno);
        return;
    }
    peer.nodename[sizeof peer.nodename - 1] = '\0';
    (void)cn_conn_add(n, fd, peer.nodename, 0);
}

/* Drains stdin. Returns 1 at end of file or on a read error (the owning port is gone), else 0. */
static int cn_stdin_readable(void) {
    char buf[512];
    ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
    if (got > 0)
        return 0;
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    return 1;
}

/* Serves until a stop condition; returns the reason, a static string. */
static const char *cn_loop(cn_node *n) {
    struct pollfd fds[3 + CN_MAX_CONNS];
    int slot_of[3 + CN_MAX_CONNS];

    for (;;) {
        nfds_t nfds = 0;
        fds[nfds++] = (struct pollfd){.fd = n->signal_fd, .events = POLLIN};
        fds[nfds++] = (struct pollfd){.fd = n->listen_fd, .events = POLLIN};
        fds[nfds++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        for (int i = 0; i < CN_MAX_CONNS; i++) {
            if (n->conns[i].fd >= 0) {
                slot_of[nfds] = i;
                fds[nfds++] = (struct pollfd){.fd = n->conns[i].fd, .events = POLLIN};
            }
        }

        if (poll(fds, nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            return "poll failed";
        }
        if (fds[0].revents != 0)
            return "signal";
        if (fds[2].revents != 0 && cn_stdin_readable())
            return "end of stdin";
        for (nfds_t k = 3; k < nfds; k++) {
            if (fds[k].revents == 0)
                continue;
            cn_conn *c = &n->conns[slot_of[k]];
            if (c->fd != fds[k].fd)
                continue; /* closed while answering an earlier connection */
            if ((fds[k].revents & (POLLERR | POLLNVAL)) != 0) {
                if (cn_conn_close(c))
                    return "owner connection closed";
            } else if (cn_conn_readable(n, c)) {
                return "owner connection closed";
            }
        }
        if (fds[1].revents != 0)
            cn_accept(n);
    }
}

/* Closes every connection and the sockets n owns, and frees its buffer. */
static void cn_shutdown(cn_node *n) {
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        if (n->conns[i].fd >= 0)
            (void)cn_conn_close(&n->conns[i]);
    }
    if (n->epmd_fd >= 0)
        close(n->epmd_fd);
    if (n->listen_fd >= 0)
        ei_close_connection(n->listen_fd);
    if (n->signal_fd >= 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        close(n->signal_fd);
        close(cn_signal_wfd);
        cn_signal_wfd = -1;
    }
    ei_x_free(&n->in);
}

/* Sends {lattice_cnode, ready, NodeName} to the process registered as name (borrowed) on the
 * owner over fd. Returns 0 or -1. */
static int cn_notify_owner(cn_node *n, int fd, const char *name) {
    ei_x_buff x;
    int rc = 0;
    char to[MAXATOMLEN_UTF8];

    snprintf(to, sizeof to, "%s", name);
    if (ei_x_new_with_version(&x) < 0)
        return -1;
    rc |= ei_x_encode_tuple_header(&x, 3);
    rc |= ei_x_encode_atom(&x, "lattice_cnode");
    rc |= ei_x_encode_atom(&x, "ready");
    rc |= ei_x_encode_atom(&x, ei_thisnodename(&n->ec));
    if (rc == 0)
        rc = ei_reg_send_tmo(&n->ec, fd, to, x.buff, x.index, CN_IO_TMO_MS);
    ei_x_free(&x);
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
    const char *name = NULL, *owner = NULL, *notify = NULL;
    char alive[EI_MAXALIVELEN + 1], host[EI_MAXHOSTNAMELEN + 1];
    char owner_buf[MAXNODELEN + 1];
    char cookie[EI_MAX_COOKIE_SIZE + 2];
    struct in_addr loopback;
    cn_node n;
    int port = 0, fd, rc;
    const char *why;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cn_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("lattice_cnode %s protocol %d\n", LT_VERSION, LT_CNODE_PROTOCOL);
            return 0;
        } else if (i + 1 < argc && strcmp(argv[i], "--name") == 0 && name == NULL) {
            name = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--owner") == 0 && owner == NULL) {
            owner = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--notify") == 0 && notify == NULL) {
            notify = argv[++i];
        } else {
            fprintf(stderr, "lattice_cnode: unexpected argument: %s\n", argv[i]);
            cn_usage(stderr);
            return CN_EXIT_USAGE;
        }
    }
    if (name == NULL || owner == NULL || cn_split_node_name(name, alive, host) < 0 ||
        cn_split_node_name(owner, NULL, NULL) < 0 ||
        (notify != NULL && (notify[0] == '\0' || strlen(notify) >= MAXATOMLEN))) {
        fprintf(stderr, "lattice_cnode: --name and --owner must both be given as alive@host\n");
        cn_usage(stderr);
        return CN_EXIT_USAGE;
    }
    snprintf(owner_buf, sizeof owner_buf, "%s", owner);
    if (cn_read_cookie(cookie, sizeof cookie) < 0)
        return CN_EXIT_USAGE;

    memset(&n, 0, sizeof n);
    n.listen_fd = n.epmd_fd = n.signal_fd = -1;
    for (int i = 0; i < CN_MAX_CONNS; i++)
        n.conns[i].fd = -1;
    if (ei_x_new(&n.in) < 0) {
        cn_wipe(cookie, sizeof cookie);
        fprintf(stderr, "lattice_cnode: out of memory\n");
        return CN_EXIT_START;
    }

    loopback.s_addr = htonl(INADDR_LOOPBACK);
    rc = ei_init();
    if (rc == 0)
        rc = ei_connect_xinit(&n.ec, host, alive, name, &loopback, cookie, 0);
    cn_wipe(cookie, sizeof cookie);
    if (rc < 0) {
        fprintf(stderr, "lattice_cnode: cannot initialise ei for %s\n", name);
        goto fail;
    }
    n.signal_fd = cn_setup_signals();
    if (n.signal_fd < 0) {
        fprintf(stderr, "lattice_cnode: cannot install signal handlers: %s\n", strerror(errno));
        goto fail;
    }
    n.listen_fd = ei_xlisten(&n.ec, &loopback, &port, 16);
    if (n.listen_fd < 0) {
        fprintf(stderr, "lattice_cnode: cannot listen on 127.0.0.1 (erl_errno %d)\n", erl_errno);
        goto fail;
    }
    n.epmd_fd = ei_publish_tmo(&n.ec, port, CN_IO_TMO_MS);
    if (n.epmd_fd < 0) {
        fprintf(stderr,
                "lattice_cnode: cannot register %s with epmd (is epmd running? is the name "
                "taken?)\n",
                name);
        goto fail;
    }
    fd = ei_connect_tmo(&n.ec, owner_buf, CN_IO_TMO_MS);
    if (fd < 0) {
        fprintf(stderr, "lattice_cnode: cannot connect to owner %s (erl_errno %d)\n", owner,
                erl_errno);
        goto fail;
    }
    if (cn_conn_add(&n, fd, owner, 1) == NULL)
        goto fail;
    if (notify != NULL && cn_notify_owner(&n, fd, notify) < 0) {
        fprintf(stderr, "lattice_cnode: cannot notify %s on %s\n", notify, owner);
        goto fail;
    }

    printf("lattice_cnode ready %s %d\n", ei_thisnodename(&n.ec), port);
    fflush(stdout);

    why = cn_loop(&n);
    fprintf(stderr, "lattice_cnode: %s: stopping (%lu messages ignored, %lu oversized dropped)\n",
            why, n.ignored, n.oversized);
    cn_shutdown(&n);
    return 0;

fail:
    cn_shutdown(&n);
    return CN_EXIT_START;
}
