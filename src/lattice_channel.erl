%% @doc A secure channel between two nodes: a Noise XX handshake
%% (Noise_XX_25519_ChaChaPoly_BLAKE2b) authenticated by node certificates, then transport
%% messages under one key per direction, with replay protection and rekeying. docs/CHANNEL.md
%% describes the protocol and its wire format.
%%
%% The channel is a value the owning process keeps (one per peer) and threads through the calls;
%% its secrets (the static private key's copy, the ephemeral keys, the chaining key, the transport
%% keys) live in guarded C memory behind it and never in an Erlang term. The calls do no I/O: each
%% returns the messages to send, in order, and the caller carries them to the peer however it
%% likes (Erlang distribution, a socket with `{packet, 4}'), over a transport that keeps their
%% order. One side initiates:
%%
%% ```
%% {ok, A0, [M1]} = lattice_channel:initiate(OptsA),
%% {ok, B0} = lattice_channel:respond(OptsB),
%% {ok, B1, [M2]} = lattice_channel:handle_handshake_message(B0, M1),
%% {ok, A1, [M3]} = lattice_channel:handle_handshake_message(A0, M2),
%% {ok, B2, []} = lattice_channel:handle_handshake_message(B1, M3),
%% {ok, [Msg], A2} = lattice_channel:encrypt(A1, <<"hello">>),
%% {ok, <<"hello">>, B3} = lattice_channel:decrypt(B2, Msg).
%% '''
%%
%% `handle/2' dispatches any incoming message by its type. Call `tick/1' from a timer (every few
%% seconds): it starts a rekey when one is due on a quiet channel and ends a handshake that has
%% waited too long.
%%
%% Errors: `{error, Reason}' with Reason one of `bad_mac', `replay', `malformed', `too_large',
%% `key_expired', `unknown_key', `not_established', `unexpected_message', `bad_key',
%% `wrong_cluster', `peer_changed', `wrong_peer', `handshake_timeout', `{unsupported_version, V}' and
%% `{bad_certificate, CertReason}' (CertReason from the certificate check: `expired',
%% `not_yet_valid', `revoked', `bad_signature', `malformed', or `key_mismatch' when the
%% certificate's X25519 key is not the one the peer proved it holds). A refused handshake message
%% leaves the channel as it was before the handshake began: a refused rekey keeps the current
%% keys. Wrong options are `badarg' with `error_info' (format_error/2 says which and why).
-module(lattice_channel).

-export([initiate/1, respond/1, handle_handshake_message/2, encrypt/2, decrypt/2, handle/2,
         tick/1, rekey/1, close/1, established/1, peer/1, info/1, stats/0, message_type/1,
         ae_key/1]).
-export([format_error/2, error_message/1]).

-define(VERSION, 1).
-define(PROLOGUE_TAG, "lattice.channel").
-define(MAX_CLUSTER, 255).
-define(T_HS1, 1).
-define(T_HS2, 2).
-define(T_HS3, 3).
-define(T_DATA, 4).
%% Raised in the API function itself, so that the stack's top frame is that function's, called
%% with its arguments (format_error/2 reads them there).
-define(BAD(Args), erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])).

-record(lattice_channel, {
    ref :: reference(),
    role :: initiator | responder,
    cluster :: binary(),
    certificate :: binary(),
    %% A verify_fun() by contract; any fun of one argument in fact (what it returns is checked).
    verify :: fun((binary()) -> term()),
    clock :: fun(() -> integer()),
    handshake_timeout :: pos_integer(),
    expect = any :: any | binary(),
    peer = undefined :: undefined | peer_cert(),
    peer_static = undefined :: undefined | binary()
}).

-opaque channel() :: #lattice_channel{}.
-type message() :: binary().
-type peer_cert() :: #{cluster := binary(), node := binary(), kx_pub := <<_:256>>,
                       atom() => term()}.
-type verify_fun() :: fun((binary()) -> {ok, peer_cert()} | {error, term()}).
-type reason() :: bad_mac | replay | malformed | too_large | key_expired | unknown_key
                | not_established | unexpected_message | bad_key | wrong_cluster | peer_changed
                | wrong_peer
                | handshake_timeout | nonce_exhausted | {unsupported_version, term()}
                | {bad_certificate, term()}.
-type opts() :: #{cluster := binary(),
                  static := term(),
                  certificate := binary(),
                  authority => binary(),
                  revocations => binary() | lattice_cert:revocations() | none,
                  verify => verify_fun(),
                  rekey_after_time => pos_integer(),
                  reject_after_time => pos_integer(),
                  rekey_after_messages => pos_integer(),
                  reject_after_messages => pos_integer(),
                  grace => non_neg_integer(),
                  handshake_timeout => pos_integer(),
                  peer => binary(),
                  clock => fun(() -> integer())}.
-export_type([channel/0, message/0, reason/0, opts/0, peer_cert/0, verify_fun/0]).

%% ---- setting up ---------------------------------------------------------------------------

%% @doc Starts a handshake as the initiator: the channel and message 1 to send to the peer.
%%
%% Options: `cluster' (the cluster's name, 1..255 bytes: both sides must agree), `static' (this
%% node's X25519 key, a `kx' key of `lattice_crypto'), `certificate' (this node's certificate,
%% naming that key), and either `verify' (a fun checking a peer's certificate binary, giving
%% `{ok, #{cluster, node, kx_pub}}' or `{error, Reason}') or `authority' (the cluster
%% authority's Ed25519 public key) with `revocations' (its signed revocation list, as a binary
%% or verified by `lattice_cert:verify_revocation_list/2', or `none', the default), checked with
%% `lattice_cert:verify/4' at the wall clock's time. Timers, in
%% milliseconds of `clock' (default `erlang:monotonic_time(millisecond)'): `rekey_after_time'
%% (120000), `reject_after_time' (180000), `grace' (10000: the previous keys' life after a
%% rekey), `handshake_timeout' (10000); counts: `rekey_after_messages' (2^60),
%% `reject_after_messages' (2^64 - 2^13 - 1). `peer' (a node name, as certificates name nodes):
%% the peer's certificate must name that node, or the handshake ends with `wrong_peer' (a node
%% that dials another should say whom it expects: any member of the cluster has a valid
%% certificate).
-spec initiate(opts()) -> {ok, channel(), [message()]} | {error, reason()}.
initiate(Opts) ->
    Ch = case new(initiator, Opts) of
             {ok, C} -> C;
             badopt -> ?BAD([Opts])
         end,
    case lattice_crypto_nif:chan_start(Ch#lattice_channel.ref, now_ms(Ch), hello(Ch)) of
        {ok, M1} -> {ok, Ch, [M1]};
        {error, _} = E -> E
    end.

%% @doc A channel waiting for an initiator's message 1 (options as initiate/1).
-spec respond(opts()) -> {ok, channel()}.
respond(Opts) ->
    case new(responder, Opts) of
        {ok, Ch} -> {ok, Ch};
        badopt -> ?BAD([Opts])
    end.

new(Role, Opts) ->
    try check_opts(Opts) of
        {Cluster, Static, Cert, Verify, Clock, Config, HsTimeout, Expect} ->
            Ref = lattice_crypto_nif:chan_new(Role, prologue(Cluster), Static, Config),
            {ok, #lattice_channel{ref = Ref, role = Role, cluster = Cluster, certificate = Cert,
                                  verify = Verify, clock = Clock, handshake_timeout = HsTimeout,
                                  expect = Expect}}
    catch
        throw:{badopt, _} -> badopt
    end.

check_opts(#{cluster := Cluster, static := Static, certificate := Cert} = Opts)
  when is_binary(Cluster), byte_size(Cluster) >= 1, byte_size(Cluster) =< ?MAX_CLUSTER,
       is_binary(Cert) ->
    case catch lattice_crypto_nif:key_info(Static) of
        #{kind := kx} -> ok;
        _ -> throw({badopt, static})
    end,
    Verify = verify_fun(Opts),
    own_certificate(Opts, Cluster, Static, Cert),
    Clock = case maps:get(clock, Opts, undefined) of
                undefined -> fun() -> erlang:monotonic_time(millisecond) end;
                F when is_function(F, 0) -> F;
                _ -> throw({badopt, clock})
            end,
    RekeyT = pos(Opts, rekey_after_time, 120000),
    RejectT = pos(Opts, reject_after_time, 180000),
    RekeyN = count(Opts, rekey_after_messages, 1 bsl 60),
    RejectN = count(Opts, reject_after_messages, (1 bsl 64) - (1 bsl 13) - 1),
    Grace = non_neg(Opts, grace, 10000),
    HsTimeout = pos(Opts, handshake_timeout, 10000),
    RejectT >= RekeyT orelse throw({badopt, reject_after_time}),
    RejectN >= RekeyN orelse throw({badopt, reject_after_messages}),
    Expect = case maps:get(peer, Opts, any) of
                 any -> any;
                 P when is_binary(P), byte_size(P) >= 1, byte_size(P) =< 255 -> P;
                 _ -> throw({badopt, peer})
             end,
    {Cluster, Static, Cert, Verify, Clock, {RekeyT, RejectT, RekeyN, RejectN, Grace}, HsTimeout,
     Expect};
check_opts(_) ->
    throw({badopt, required}).

%% With lattice_cert's certificates (the `authority' option), this node's own certificate must
%% be one, of this cluster, naming the static key: a mistake there would otherwise surface only
%% as the peer's silent refusal. (A `verify' fun has its own format: not checked.)
own_certificate(#{verify := _}, _, _, _) ->
    ok;
own_certificate(_, Cluster, Static, Cert) ->
    Pub = lattice_crypto_nif:public_key(Static),
    case lattice_cert:decode(Cert) of
        {ok, #{cluster := Cluster, kx_pub := Pub}} -> ok;
        _ -> throw({badopt, certificate})
    end.

pos(Opts, K, Default) ->
    case maps:get(K, Opts, Default) of
        V when is_integer(V), V > 0, V < 1 bsl 63 -> V;
        _ -> throw({badopt, K})
    end.

count(Opts, K, Default) ->
    case maps:get(K, Opts, Default) of
        V when is_integer(V), V > 0, V < 1 bsl 64 -> V;
        _ -> throw({badopt, K})
    end.

non_neg(Opts, K, Default) ->
    case maps:get(K, Opts, Default) of
        V when is_integer(V), V >= 0, V < 1 bsl 63 -> V;
        _ -> throw({badopt, K})
    end.

verify_fun(#{verify := F}) when is_function(F, 1) ->
    F;
verify_fun(#{verify := _}) ->
    throw({badopt, verify});
verify_fun(#{authority := <<_:256>> = Authority} = Opts) ->
    Revocations = maps:get(revocations, Opts, none),
    is_binary(Revocations) orelse Revocations =:= none orelse is_map(Revocations) orelse
        throw({badopt, revocations}),
    fun(CertBin) ->
            lattice_cert:verify(CertBin, Authority, Revocations, erlang:system_time(second))
    end;
verify_fun(_) ->
    throw({badopt, verify}).

%% The prologue: a tag, the protocol version and the cluster's name. The C side appends the
%% handshake's epoch.
prologue(Cluster) ->
    <<?PROLOGUE_TAG, 0, ?VERSION, (byte_size(Cluster)), Cluster/binary>>.

%% Message 1's payload (sent in clear, but bound into the handshake hash): the version and the
%% cluster, so that a responder of another cluster can say so instead of failing on a MAC.
hello(#lattice_channel{cluster = Cluster}) ->
    <<?VERSION, (byte_size(Cluster)), Cluster/binary>>.

now_ms(#lattice_channel{clock = Clock}) ->
    Clock().

%% ---- handshake ----------------------------------------------------------------------------

%% @doc Processes a handshake message from the peer: the channel and the messages to send back
%% (message 2 for a responder given message 1, message 3 for an initiator given message 2,
%% nothing after message 3). The handshake that completes installs new keys: the first makes the
%% channel established; later ones (rekeys) replace the keys, keeping the previous ones for
%% messages in flight.
-spec handle_handshake_message(channel(), message()) ->
          {ok, channel(), [message()]} | {error, reason()}.
handle_handshake_message(#lattice_channel{} = Ch, Msg) when is_binary(Msg) ->
    try read_handshake(Ch, Msg) catch error:badarg -> ?BAD([Ch, Msg]) end;
handle_handshake_message(Ch, Msg) ->
    ?BAD([Ch, Msg]).

read_handshake(#lattice_channel{ref = Ref} = Ch, Msg) ->
    Now = now_ms(Ch),
    %% A message 1 replaces any handshake under way; a late message 2 or 3 is refused.
    case message_type(Msg) =/= hs1 andalso timed_out(Ch, Now) of
        true ->
            abort(Ch, handshake_timeout);
        false ->
            case lattice_crypto_nif:chan_hs_read(Ref, Now, Msg) of
                {ok, Payload, RS} -> handshake_step(Ch, message_type(Msg), Payload, RS, Now);
                {error, _} = E -> E
            end
    end.

%% A handshake under way for longer than handshake_timeout.
timed_out(#lattice_channel{ref = Ref, handshake_timeout = T}, Now) ->
    case lattice_crypto_nif:chan_info(Ref) of
        #{handshaking := true, handshake_started := S} -> Now - S > T;
        _ -> false
    end.

handshake_step(#lattice_channel{role = responder} = Ch, hs1, Payload, _, _Now) ->
    case Payload of
        <<?VERSION, N, Cluster:N/binary>> when Cluster =:= Ch#lattice_channel.cluster ->
            write(Ch, []);
        <<?VERSION, N, _:N/binary>> ->
            abort(Ch, wrong_cluster);
        <<V, _/binary>> when V =/= ?VERSION ->
            abort(Ch, {unsupported_version, V});
        _ ->
            abort(Ch, malformed)
    end;
handshake_step(#lattice_channel{role = initiator} = Ch, hs2, CertBin, RS, Now) ->
    case check_peer(Ch, CertBin, RS) of
        {ok, Peer} ->
            case write(Ch, []) of
                {ok, _, [M3]} -> finish(Ch, Peer, RS, Now, [M3]);
                {error, _} = E -> E
            end;
        {error, Reason} ->
            abort(Ch, Reason)
    end;
handshake_step(#lattice_channel{role = responder} = Ch, hs3, CertBin, RS, Now) ->
    case check_peer(Ch, CertBin, RS) of
        {ok, Peer} -> finish(Ch, Peer, RS, Now, []);
        {error, Reason} -> abort(Ch, Reason)
    end;
handshake_step(Ch, _, _, _, _) ->
    abort(Ch, unexpected_message).

write(#lattice_channel{ref = Ref, certificate = Cert} = Ch, Out) ->
    case lattice_crypto_nif:chan_hs_write(Ref, Cert) of
        {ok, M} -> {ok, Ch, Out ++ [M]};
        {error, _} = E -> E
    end.

finish(#lattice_channel{ref = Ref} = Ch, Peer, RS, Now, Out) ->
    case lattice_crypto_nif:chan_finish(Ref, Now) of
        ok -> {ok, Ch#lattice_channel{peer = Peer, peer_static = RS}, Out};
        {error, _} = E -> E
    end.

abort(#lattice_channel{ref = Ref}, Reason) ->
    Counted = case Reason of
                  {bad_certificate, _} -> bad_certificate;
                  {unsupported_version, _} -> unsupported_version;
                  A -> A
              end,
    ok = lattice_crypto_nif:chan_abort(Ref, Counted),
    {error, Reason}.

%% The peer's certificate: valid for the cluster, naming the X25519 key the peer proved it holds
%% (RS, from the handshake), and on a rekey the same node and key as before.
check_peer(#lattice_channel{verify = Verify, cluster = Cluster} = Ch, CertBin, RS) ->
    case safe_verify(Verify, CertBin) of
        {ok, #{cluster := Cluster, kx_pub := RS, node := Node} = Peer}
          when Ch#lattice_channel.expect =:= any; Ch#lattice_channel.expect =:= Node ->
            same_peer(Ch, Peer);
        {ok, #{cluster := Cluster, kx_pub := RS, node := _}} ->
            {error, wrong_peer};
        {ok, #{cluster := C}} when C =/= Cluster ->
            {error, wrong_cluster};
        {ok, #{kx_pub := _}} ->
            {error, {bad_certificate, key_mismatch}};
        {ok, _} ->
            {error, {bad_certificate, malformed}};
        {error, Reason} ->
            {error, {bad_certificate, Reason}}
    end.

safe_verify(Verify, CertBin) ->
    try Verify(CertBin) of
        {ok, #{} = M} -> {ok, M};
        {error, R} -> {error, R};
        _ -> {error, malformed}
    catch
        error:_ -> {error, malformed}
    end.

same_peer(#lattice_channel{peer = undefined}, Peer) ->
    {ok, Peer};
same_peer(#lattice_channel{peer = #{node := Node}, peer_static = RS},
          #{node := Node, kx_pub := RS} = Peer) ->
    {ok, Peer};
same_peer(_, _) ->
    {error, peer_changed}.

%% ---- transport ----------------------------------------------------------------------------

%% @doc Encrypts a message to the peer: the messages to send, in order. The first is the data;
%% when the initiator's key is due for renewal (by age, by count, or because the peer asked) a
%% rekey's message 1 follows it, and the data keeps flowing under the current key meanwhile.
%% `{error, key_expired}' once a key passed its reject limit (a rekey that never completed:
%% `tick/1' starts another).
-spec encrypt(channel(), iodata()) -> {ok, [message()], channel()} | {error, reason()}.
encrypt(#lattice_channel{} = Ch, Plain) ->
    try seal(Ch, iolist_to_binary(Plain)) catch error:badarg -> ?BAD([Ch, Plain]) end;
encrypt(Ch, Plain) ->
    ?BAD([Ch, Plain]).

seal(#lattice_channel{ref = Ref, role = Role} = Ch, Bin) ->
    Now = now_ms(Ch),
    case lattice_crypto_nif:chan_encrypt(Ref, Now, Bin) of
        {ok, Msg, true} when Role =:= initiator ->
            case start_rekey(Ch, Now) of
                {ok, M1} -> {ok, [Msg, M1], Ch};
                _ -> {ok, [Msg], Ch}
            end;
        {ok, Msg, _} ->
            {ok, [Msg], Ch};
        {error, _} = E ->
            E
    end.

%% @doc Decrypts a transport message from the peer. Its counter is checked against the receiving
%% key's replay window (lattice_replay's ring of 8192 bits: counters up to 8128 below the newest
%% are accepted once each) and recorded only after the MAC verified.
-spec decrypt(channel(), message()) -> {ok, binary(), channel()} | {error, reason()}.
decrypt(#lattice_channel{ref = Ref} = Ch, Msg) when is_binary(Msg) ->
    try lattice_crypto_nif:chan_decrypt(Ref, now_ms(Ch), Msg) of
        {ok, Plain} -> {ok, Plain, Ch};
        {error, _} = E -> E
    catch
        error:badarg -> ?BAD([Ch, Msg])
    end;
decrypt(Ch, Msg) ->
    ?BAD([Ch, Msg]).

%% @doc Any incoming message, by its type: `{data, Plain, Ch}' for transport, `{handshake, Out,
%% Ch}' for a handshake message (Out to be sent back).
-spec handle(channel(), message()) ->
          {data, binary(), channel()} | {handshake, [message()], channel()} | {error, reason()}.
handle(#lattice_channel{} = Ch, Msg) when is_binary(Msg) ->
    try dispatch(Ch, Msg) catch error:badarg -> ?BAD([Ch, Msg]) end;
handle(Ch, Msg) ->
    ?BAD([Ch, Msg]).

dispatch(Ch, Msg) ->
    case message_type(Msg) of
        data ->
            case decrypt(Ch, Msg) of
                {ok, Plain, Ch1} -> {data, Plain, Ch1};
                E -> E
            end;
        unknown ->
            {error, malformed};
        _ ->
            case handle_handshake_message(Ch, Msg) of
                {ok, Ch1, Out} -> {handshake, Out, Ch1};
                E -> E
            end
    end.

%% @doc The kind of a wire message: `hs1', `hs2', `hs3' (handshake), `data', or `unknown'.
-spec message_type(binary()) -> hs1 | hs2 | hs3 | data | unknown.
message_type(<<?T_HS1, _/binary>>) -> hs1;
message_type(<<?T_HS2, _/binary>>) -> hs2;
message_type(<<?T_HS3, _/binary>>) -> hs3;
message_type(<<?T_DATA, _/binary>>) -> data;
message_type(_) -> unknown.

%% @doc Timers: ends a handshake that waited longer than `handshake_timeout' (the initiator of
%% an established channel then starts another at once), wipes the previous epoch's keys once
%% their grace has passed, and, on the initiator, starts a rekey that is due. Returns the messages to send. `{error, handshake_timeout}' when the first
%% handshake timed out: the channel is of no further use.
-spec tick(channel()) -> {ok, [message()], channel()} | {error, reason()}.
tick(#lattice_channel{} = Ch) ->
    try timers(Ch) catch error:badarg -> ?BAD([Ch]) end;
tick(Ch) ->
    ?BAD([Ch]).

timers(#lattice_channel{ref = Ref, role = Role} = Ch) ->
    Now = now_ms(Ch),
    Info = lattice_crypto_nif:chan_info(Ref),
    TimedOut = timed_out(Ch, Now),
    _ = case TimedOut of
            true -> abort(Ch, handshake_timeout);
            false -> ok
        end,
    case {TimedOut, Info} of
        {true, #{epoch := 0}} ->
            {error, handshake_timeout};
        {true, _} when Role =:= initiator ->
            rekey_out(Ch, Now);
        _ ->
            %% (also wipes the previous epoch's keys once their grace has passed)
            case lattice_crypto_nif:chan_rekey_due(Ref, Now) of
                true when Role =:= initiator -> rekey_out(Ch, Now);
                _ -> {ok, [], Ch}
            end
    end.

%% @doc Starts a rekey now (the initiator only): message 1 of a new handshake.
-spec rekey(channel()) -> {ok, [message()], channel()} | {error, reason()}.
rekey(#lattice_channel{role = initiator} = Ch) ->
    try rekey_out(Ch, now_ms(Ch)) catch error:badarg -> ?BAD([Ch]) end;
rekey(#lattice_channel{role = responder}) ->
    {error, unexpected_message};
rekey(Ch) ->
    ?BAD([Ch]).

rekey_out(Ch, Now) ->
    case start_rekey(Ch, Now) of
        {ok, M1} -> {ok, [M1], Ch};
        {error, _} = E -> E
    end.

start_rekey(#lattice_channel{ref = Ref} = Ch, Now) ->
    lattice_crypto_nif:chan_start(Ref, Now, hello(Ch)).

%% @doc Wipes and frees the channel's secrets now (they go anyway when the last reference to the
%% channel is collected): for a peer that is dropped, or keys that must not outlive a decision.
%% Every later call on the channel raises `badarg'; closing it again is `ok'.
-spec close(channel()) -> ok.
close(#lattice_channel{ref = Ref}) ->
    lattice_crypto_nif:chan_close(Ref);
close(Ch) ->
    ?BAD([Ch]).

%% ---- what it is ---------------------------------------------------------------------------

%% @doc Whether a handshake has completed (transport messages can flow).
-spec established(channel()) -> boolean().
established(#lattice_channel{peer = Peer}) ->
    Peer =/= undefined.

%% @doc The peer's verified certificate (as the verify function gave it), once established.
-spec peer(channel()) -> peer_cert() | undefined.
peer(#lattice_channel{peer = Peer}) ->
    Peer.

%% @doc What is not secret about the channel: role, epoch (handshakes completed, counting from 1),
%% messages sent and received under the current key (`sent', `received') and over every epoch
%% (`sent_total', `received_total'), rekeys, whether a handshake is under way,
%% the handshake hash (a channel binding: equal on both sides, different for every handshake),
%% the peer's static key and certificate.
-spec info(channel()) -> map().
info(#lattice_channel{ref = Ref, peer = Peer, cluster = Cluster} = Ch) ->
    try (lattice_crypto_nif:chan_info(Ref))#{peer => Peer, cluster => Cluster}
    catch error:badarg -> ?BAD([Ch])
    end;
info(Ch) ->
    ?BAD([Ch]).

%% @doc The anti-entropy key of the channel's current epoch: 32 bytes, the same on both ends,
%% new at every rekey (compare `maps:get(epoch, info(Ch))' to know when to ask again). It is
%% BLAKE2b-256 keyed with the initiator-to-responder transport key over the label
%% `"lattice.ae.v1"', the epoch, the other direction's key and the handshake hash, so it
%% reveals neither transport key. It exists to be handed to this node's own C node
%% (`lattice_ae:set_peer_key/3'), which seals its anti-entropy sessions with the peer's C node
%% under it (docs/CHANNEL.md, "The anti-entropy key"; docs/CNODE.md). `{error,
%% not_established}' before the first handshake completes.
-spec ae_key(channel()) -> <<_:256>> | {error, not_established}.
ae_key(#lattice_channel{ref = Ref} = Ch) ->
    try lattice_crypto_nif:chan_ae_key(Ref)
    catch error:badarg -> ?BAD([Ch])
    end;
ae_key(Ch) ->
    ?BAD([Ch]).

%% @doc The node's channel counters (all channels, since the library loaded): handshakes started,
%% channels established, rekeys, handshake failures by reason, messages sealed and opened,
%% refusals by reason, and `lock_busy': calls that found their channel's lock held (by a call
%% from another process) and rescheduled themselves.
-spec stats() -> #{atom() => non_neg_integer() | #{atom() => non_neg_integer()}}.
stats() ->
    S = lattice_crypto_nif:stats(),
    Group = fun(Prefix) ->
                    L = length(Prefix),
                    maps:from_list([{list_to_atom(lists:nthtail(L, atom_to_list(K))), V}
                                    || {K, V} <- maps:to_list(S),
                                       lists:prefix(Prefix, atom_to_list(K))])
            end,
    #{handshakes_started => maps:get(channel_handshakes_started, S),
      established => maps:get(channels_established, S),
      rekeys => maps:get(channel_rekeys, S),
      sealed => maps:get(channel_sealed, S),
      opened => maps:get(channel_opened, S),
      lock_busy => maps:get(channel_lock_busy, S),
      handshake_failures => Group("channel_handshake_failures_"),
      seal_failures => Group("channel_seal_failures_"),
      open_failures => Group("channel_open_failures_")}.


%% ---- explanations -------------------------------------------------------------------------

%% @doc The OTP `error_info' callback: what is wrong with the arguments of a call that raised
%% `badarg'.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(badarg, [{?MODULE, F, [Opts], _} | _]) when F =:= initiate; F =:= respond ->
    #{1 => explain_opts(Opts)};
format_error(badarg, [{?MODULE, F, [Ch | Rest], _} | _]) ->
    case is_record(Ch, lattice_channel) andalso open(Ch) of
        false when is_record(Ch, lattice_channel) ->
            #{1 => "the channel is closed (lattice_channel:close/1), or of another node"};
        false ->
            #{1 => "not a channel (made by lattice_channel:initiate/1 or respond/1)"};
        true when F =:= encrypt ->
            #{2 => "the plaintext is not iodata"};
        true when Rest =/= [] ->
            #{2 => "the message is not a binary"};
        true ->
            #{general => "bad argument"}
    end;
format_error(_, _) ->
    #{}.

%% @doc The explanation as one line, for the Elixir facade's `ArgumentError': from the top frame
%% of a stack trace whose call raised with this module's `error_info'.
-spec error_message(erlang:stacktrace()) -> binary() | undefined.
error_message(Stack) ->
    lattice_error:message(?MODULE, Stack,
                          fun(F, Args) -> format_error(badarg, [{?MODULE, F, Args, []}]) end).

open(#lattice_channel{ref = Ref}) ->
    try lattice_crypto_nif:chan_info(Ref) of
        #{} -> true
    catch
        error:badarg -> false
    end.

explain_opts(Opts) when not is_map(Opts) ->
    "the options are not a map";
explain_opts(Opts) ->
    try check_opts(Opts) of
        _ -> "the options are not valid"
    catch
        throw:{badopt, required} ->
            "cluster (a binary of 1..255 bytes), static (a kx key) and certificate (a binary) "
            "are required";
        throw:{badopt, static} ->
            "static is not an X25519 key of lattice_crypto (keypair(kx))";
        throw:{badopt, verify} ->
            "give either verify (a fun of one argument, the certificate binary) or "
            "authority (the cluster authority's 32-byte Ed25519 public key)";
        throw:{badopt, certificate} ->
            "certificate is not a lattice_cert certificate of this cluster naming the static "
            "key (lattice_cert:issue/2 with kx_pub => lattice_crypto:public_key(Static))";
        throw:{badopt, peer} ->
            "peer is not a node name (a binary of 1..255 bytes)";
        throw:{badopt, revocations} ->
            "revocations is not a revocation list (a binary, or lattice_cert's verified one) "
            "or none";
        throw:{badopt, K} ->
            lists:flatten(io_lib:format("~ts is not valid: limits are positive integers of "
                                        "milliseconds or messages, rejects at least rekeys",
                                        [K]))
    end.
