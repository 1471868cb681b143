%% @doc Node certificates and revocation lists, signed by a cluster authority's Ed25519 key.
%%
%% A certificate (docs/FORMAT.md, "Node certificate") is a canonical binary naming the cluster
%% and the node, the node's Ed25519 (signing) and X25519 (key exchange) public keys, a validity
%% window (`not_before' .. `not_after', inclusive, in seconds since the Unix epoch), a serial
%% and the format version, signed by the authority under the domain tag
%% `"lattice.cert.v1\0"'. A revocation list ("Revocation list") names the cluster, a sequence
%% number, when it was issued and the revoked serials (ascending), signed under
%% `"lattice.crl.v1\0"'. Both decoders are in C (c_src/crypto/lt_cert.c), with size caps and a
%% libFuzzer target; a signature made for one of them is never valid for the other, nor for
%% anything else lattice signs.
%%
%% {@link verify/4} is what the secure channel calls with a peer's certificate: it checks the
%% structure (`malformed'), the authority's signature (`bad_signature'), the validity window
%% (`not_yet_valid', `expired') and the revocation list (`revoked'); a revocation list that does
%% not verify gives `{revocation_list, Reason}'.
-module(lattice_cert).

-export([issue/2, decode/1, verify/4, revocation_list/2, verify_revocation_list/2,
         revoked/2, stats/0]).
-export([format_error/2, error_message/1]).

-type cert() :: #{cluster := binary(), node := binary(), sign_pub := <<_:256>>,
                  kx_pub := <<_:256>>, not_before := non_neg_integer(),
                  not_after := non_neg_integer(), serial := non_neg_integer(),
                  version := 1}.
-type cert_fields() :: #{cluster := binary(), node := binary(), sign_pub := <<_:256>>,
                         kx_pub := <<_:256>>, not_before := non_neg_integer(),
                         not_after := non_neg_integer(), serial := non_neg_integer()}.
-opaque revocations() :: #{cluster := binary(), sequence := non_neg_integer(),
                           issued_at := non_neg_integer(), serials := binary(),
                           '$lattice_crl' := true}.
-type crl_fields() :: #{cluster := binary(), sequence := non_neg_integer(),
                        issued_at := non_neg_integer(), serials := [non_neg_integer()]}.
-type reason() :: expired | not_yet_valid | revoked | bad_signature | malformed |
                  {revocation_list, malformed | bad_signature | wrong_cluster}.
-export_type([cert/0, cert_fields/0, revocations/0, crl_fields/0, reason/0]).

-define(N, lattice_crypto_nif).
-define(CERT_TAG, <<"lattice.cert.v1", 0>>).
-define(CRL_TAG, <<"lattice.crl.v1", 0>>).
-define(U64(X), (is_integer(X) andalso X >= 0 andalso X < 1 bsl 64)).
-define(MAX_SERIALS, 65536).
-define(BADARG(Args), erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])).

%% @doc The certificate of `Fields', signed by the authority's `sign' key.
-spec issue(lattice_crypto:key(), cert_fields()) -> binary().
issue(Authority, Fields) ->
    try
        #{cluster := C, node := Node, sign_pub := SP, kx_pub := KP, not_before := NB,
          not_after := NA, serial := Serial} = Fields,
        [] = maps:keys(Fields) -- [cluster, node, sign_pub, kx_pub, not_before, not_after,
                                   serial],
        true = name(C) andalso name(Node) andalso pub(SP) andalso pub(KP) andalso ?U64(NB)
            andalso ?U64(NA) andalso NB =< NA andalso ?U64(Serial),
        Body = <<16#41, 1, (byte_size(C)), C/binary, (byte_size(Node)), Node/binary, SP/binary,
                 KP/binary, NB:64, NA:64, Serial:64>>,
        Cert = <<Body/binary, (lattice_crypto:sign(Authority, [?CERT_TAG, Body]))/binary>>,
        lattice_proto:bump({?MODULE, issued}),
        Cert
    catch error:_ -> ?BADARG([Authority, Fields])
    end.

name(B) -> is_binary(B) andalso byte_size(B) >= 1 andalso byte_size(B) =< 255.
pub(B) -> is_binary(B) andalso byte_size(B) =:= 32.

%% @doc The fields of a certificate, without verifying anything: `{ok, Cert}' or
%% `{error, malformed}'.
-spec decode(binary()) -> {ok, cert()} | {error, malformed}.
decode(Bin) when is_binary(Bin) ->
    case ?N:cert_decode(Bin) of
        {ok, {C, Node, SP, KP, NB, NA, Serial, _, _}} ->
            {ok, #{cluster => C, node => Node, sign_pub => SP, kx_pub => KP, not_before => NB,
                   not_after => NA, serial => Serial, version => 1}};
        {error, _} ->
            {error, malformed}
    end;
decode(Bin) ->
    ?BADARG([Bin]).

%% @doc Verifies a certificate at `Now' (seconds since the Unix epoch) against the
%% authority's 32-byte public key and a revocation list: a binary from
%% {@link revocation_list/2} (verified here against the same authority and cluster), one
%% already verified by {@link verify_revocation_list/2}, or `none'. `{ok, Cert}' or
%% `{error, Reason}'.
-spec verify(binary(), <<_:256>>, binary() | revocations() | none, non_neg_integer()) ->
          {ok, cert()} | {error, reason()}.
verify(CertBin, AuthorityPub, Revocations, Now)
  when is_binary(CertBin), is_binary(AuthorityPub), byte_size(AuthorityPub) =:= 32,
       ?U64(Now),
       (Revocations =:= none orelse is_binary(Revocations) orelse
        (is_map(Revocations) andalso is_map_key('$lattice_crl', Revocations))) ->
    Result = try check(CertBin, AuthorityPub, Revocations, Now)
             catch error:badarg -> ?BADARG([CertBin, AuthorityPub, Revocations, Now])
             end,
    case Result of
        {ok, _} = Ok ->
            lattice_proto:bump({?MODULE, verified}),
            Ok;
        {error, _} = E ->
            lattice_proto:fail(?MODULE, E)
    end;
verify(CertBin, AuthorityPub, Revocations, Now) ->
    ?BADARG([CertBin, AuthorityPub, Revocations, Now]).

check(CertBin, AuthorityPub, Revocations, Now) ->
    case ?N:cert_decode(CertBin) of
        {ok, {C, Node, SP, KP, NB, NA, Serial, Signed, Sig}} ->
            Cert = #{cluster => C, node => Node, sign_pub => SP, kx_pub => KP,
                     not_before => NB, not_after => NA, serial => Serial, version => 1},
            case lattice_crypto:verify(AuthorityPub, [?CERT_TAG, Signed], Sig) of
                false -> {error, bad_signature};
                true when Now < NB -> {error, not_yet_valid};
                true when Now > NA -> {error, expired};
                true -> not_revoked(Cert, crl(Revocations, AuthorityPub, C))
            end;
        {error, _} ->
            {error, malformed}
    end.

crl(none, _, _) ->
    none;
crl(Bin, AuthorityPub, Cluster) when is_binary(Bin) ->
    case verify_crl(Bin, AuthorityPub) of
        {ok, #{cluster := Cluster} = L} -> L;
        {ok, #{}} -> {error, {revocation_list, wrong_cluster}};
        {error, R} -> {error, {revocation_list, R}}
    end;
crl(#{'$lattice_crl' := true, cluster := Cluster} = L, _, Cluster) ->
    L;
crl(#{'$lattice_crl' := true}, _, _) ->
    {error, {revocation_list, wrong_cluster}};
crl(_, _, _) ->
    erlang:error(badarg).

not_revoked(Cert, none) ->
    {ok, Cert};
not_revoked(_, {error, _} = E) ->
    E;
not_revoked(#{serial := S} = Cert, L) ->
    case revoked(L, S) of
        true -> {error, revoked};
        false -> {ok, Cert}
    end.

%% @doc A revocation list of `Fields' (the serials in any order, each once, at most 65536),
%% signed by the authority's `sign' key.
-spec revocation_list(lattice_crypto:key(), crl_fields()) -> binary().
revocation_list(Authority, Fields) ->
    try
        #{cluster := C, sequence := Seq, issued_at := At, serials := Serials} = Fields,
        [] = maps:keys(Fields) -- [cluster, sequence, issued_at, serials],
        Sorted = lists:usort(Serials),
        true = name(C) andalso ?U64(Seq) andalso ?U64(At) andalso
            length(Sorted) =:= length(Serials) andalso length(Sorted) =< ?MAX_SERIALS andalso
            lists:all(fun(S) -> ?U64(S) end, Sorted),
        Body = <<16#42, 1, (byte_size(C)), C/binary, Seq:64, At:64, (length(Sorted)):32,
                 << <<S:64>> || S <- Sorted >>/binary>>,
        L = <<Body/binary, (lattice_crypto:sign(Authority, [?CRL_TAG, Body]))/binary>>,
        lattice_proto:bump({?MODULE, revocation_lists_issued}),
        L
    catch error:_ -> ?BADARG([Authority, Fields])
    end.

%% @doc Verifies a revocation list against the authority's public key once, for many
%% {@link verify/4} calls: `{ok, Revocations}' (opaque; its `cluster', `sequence' and
%% `issued_at' may be read) or `{error, malformed | bad_signature}'. Which of two lists is
%% newer is the caller's to decide, by `sequence'.
-spec verify_revocation_list(binary(), <<_:256>>) ->
          {ok, revocations()} | {error, malformed | bad_signature}.
verify_revocation_list(Bin, AuthorityPub)
  when is_binary(Bin), is_binary(AuthorityPub), byte_size(AuthorityPub) =:= 32 ->
    case verify_crl(Bin, AuthorityPub) of
        {ok, _} = Ok ->
            lattice_proto:bump({?MODULE, revocation_lists_verified}),
            Ok;
        {error, _} = E ->
            lattice_proto:bump({?MODULE, {failed, revocation_list}}),
            E
    end;
verify_revocation_list(Bin, AuthorityPub) ->
    ?BADARG([Bin, AuthorityPub]).

verify_crl(Bin, AuthorityPub) ->
    case ?N:crl_decode(Bin) of
        {ok, {C, Seq, At, Serials, Signed, Sig}} ->
            case lattice_crypto:verify(AuthorityPub, [?CRL_TAG, Signed], Sig) of
                true -> {ok, #{cluster => C, sequence => Seq, issued_at => At,
                               serials => Serials, '$lattice_crl' => true}};
                false -> {error, bad_signature}
            end;
        {error, _} ->
            {error, malformed}
    end.

%% @doc Whether a verified revocation list names `Serial' (a binary search).
-spec revoked(revocations(), non_neg_integer()) -> boolean().
revoked(#{'$lattice_crl' := true, serials := Serials}, Serial) when ?U64(Serial) ->
    search(Serials, Serial, 0, byte_size(Serials) div 8);
revoked(L, Serial) ->
    ?BADARG([L, Serial]).

search(_, _, Lo, Hi) when Lo >= Hi ->
    false;
search(Serials, Serial, Lo, Hi) ->
    Mid = (Lo + Hi) div 2,
    <<_:Mid/binary-unit:64, V:64, _/binary>> = Serials,
    if
        V =:= Serial -> true;
        V < Serial -> search(Serials, Serial, Mid + 1, Hi);
        true -> search(Serials, Serial, Lo, Mid)
    end.

%% @doc The node's certificate counters: `issued', `verified', `revocation_lists_issued',
%% `revocation_lists_verified', `failed' (by reason; `revocation_list' for lists that did not
%% verify).
-spec stats() -> map().
stats() ->
    lattice_proto:counts(?MODULE).

%% ---- explaining badarg -------------------------------------------------------------------

%% @doc The OTP `error_info' callback (see lattice_error).
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(badarg, [{?MODULE, F, Args, _} | _]) when is_list(Args) ->
    explain(F, Args);
format_error(_, _) ->
    #{}.

%% @doc The explanation as one line, for the Elixir facade's `ArgumentError'.
-spec error_message(erlang:stacktrace()) -> binary() | undefined.
error_message(Stack) ->
    lattice_error:message(?MODULE, Stack, fun explain/2).

explain(F, Args) ->
    lattice_error:explain(?MODULE, F, Args, checks(F, Args)).

checks(issue, [Authority, Fields]) ->
    [{1, fun() -> lattice_proto:key("the authority key", Authority, [sign]) end},
     {2, fun() -> cert_fields(Fields) end}];
checks(revocation_list, [Authority, Fields]) ->
    [{1, fun() -> lattice_proto:key("the authority key", Authority, [sign]) end},
     {2, fun() -> crl_fields(Fields) end}];
checks(verify, [Cert, Pub, Revocations, Now]) ->
    [{1, fun() -> lattice_proto:binary_between("the certificate", Cert, 0, 1 bsl 40) end},
     {2, fun() -> lattice_proto:binary_between("the authority's public key", Pub, 32, 32) end},
     {3, fun() -> revocations(Revocations) end},
     {4, fun() -> u64("the time (seconds since the Unix epoch)", Now) end}];
checks(verify_revocation_list, [Bin, Pub]) ->
    [{1, fun() -> lattice_proto:binary_between("the revocation list", Bin, 0, 1 bsl 40) end},
     {2, fun() -> lattice_proto:binary_between("the authority's public key", Pub, 32, 32) end}];
checks(revoked, [L, Serial]) ->
    [{1, fun() -> revocations(L) end}, {2, fun() -> u64("the serial", Serial) end}];
checks(decode, [Bin]) ->
    [{1, fun() -> lattice_proto:binary_between("the certificate", Bin, 0, 1 bsl 40) end}];
checks(_, _) ->
    [].

u64(What, X) ->
    lattice_proto:int_range(What, X, 0, 1 bsl 64 - 1, "").

revocations(none) -> ok;
revocations(B) when is_binary(B) -> ok;
revocations(#{'$lattice_crl' := true}) -> ok;
revocations(X) ->
    {error, lattice_proto:fmt("the revocation list must be none, a binary, or what "
                              "verify_revocation_list/2 gave, got: ~tp", [X])}.

cert_fields(F) ->
    Keys = [cluster, node, sign_pub, kx_pub, not_before, not_after, serial],
    case lattice_proto:map_keys("the certificate's fields", F, Keys) of
        ok ->
            case Keys -- maps:keys(F) of
                [] ->
                    first([lattice_proto:binary_between("cluster", maps:get(cluster, F), 1, 255),
                           lattice_proto:binary_between("node", maps:get(node, F), 1, 255),
                           lattice_proto:binary_between("sign_pub", maps:get(sign_pub, F), 32, 32),
                           lattice_proto:binary_between("kx_pub", maps:get(kx_pub, F), 32, 32),
                           u64("not_before", maps:get(not_before, F)),
                           u64("not_after", maps:get(not_after, F)),
                           u64("serial", maps:get(serial, F)),
                           case maps:get(not_before, F) =< maps:get(not_after, F) of
                               true -> ok;
                               false -> {error, "not_before is after not_after"}
                           end]);
                Missing ->
                    {error, lattice_proto:fmt("the certificate's fields lack ~tp", [Missing])}
            end;
        E -> E
    end.

crl_fields(F) ->
    Keys = [cluster, sequence, issued_at, serials],
    case lattice_proto:map_keys("the revocation list's fields", F, Keys) of
        ok ->
            case Keys -- maps:keys(F) of
                [] ->
                    S = maps:get(serials, F),
                    first([lattice_proto:binary_between("cluster", maps:get(cluster, F), 1, 255),
                           u64("sequence", maps:get(sequence, F)),
                           u64("issued_at", maps:get(issued_at, F)),
                           case is_list(S) andalso lists:all(fun(X) -> ?U64(X) end, S) of
                               false -> {error, "serials must be a list of integers in "
                                                "0..2^64-1"};
                               true when length(S) > ?MAX_SERIALS ->
                                   {error, "a revocation list holds at most 65536 serials"};
                               true ->
                                   case length(lists:usort(S)) =:= length(S) of
                                       true -> ok;
                                       false -> {error, "serials must not repeat"}
                                   end
                           end]);
                Missing ->
                    {error, lattice_proto:fmt("the revocation list's fields lack ~tp", [Missing])}
            end;
        E -> E
    end.

first(Results) ->
    case [E || {error, _} = E <- Results] of
        [] -> ok;
        [E | _] -> E
    end.
