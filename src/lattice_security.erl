%% @doc The cluster-wide security configuration of this node (docs/REPLICATION.md, "Secure
%% replication"): the cluster's name, the authority's Ed25519 public key, this node's
%% certificate (`lattice_cert') with its Ed25519 (`sign') and X25519 (`kx') keys, and the
%% authority's revocation list. Stores replicated with `secure => true' read it for every
%% channel they open (`lattice_channel'), and their ticks read the revocation list.
%%
%% It comes from the application environment, `{lattice, [{security, #{...}}]}', read at its
%% first use, or from {@link configure/1} at run time (which replaces it). The keys:
%%
%% <ul>
%% <li>`cluster': the cluster's name, a binary of 1..255 bytes;</li>
%% <li>`authority': the authority's 32-byte public key, or `{file, Path}' (the 32 raw bytes);</li>
%% <li>`certificate': this node's certificate, a binary or `{file, Path}';</li>
%% <li>`sign_key', `kx_key': a `lattice_crypto' key, or `{sealed, Bin, Passphrase}' (what
%%     `lattice_crypto:export_secret/2,3' made), or `{file, Path, Passphrase}' (a file holding
%%     that);</li>
%% <li>`revocations' (optional): a signed revocation list (`lattice_cert:revocation_list/2'),
%%     a binary or `{file, Path}', or `none' (the default);</li>
%% <li>`channel' (optional): options given to every `lattice_channel' (`rekey_after_time',
%%     `reject_after_time', `rekey_after_messages', `reject_after_messages', `grace',
%%     `handshake_timeout').</li>
%% </ul>
%%
%% A configuration of the wrong shape is `badarg' (with `error_info': {@link format_error/2}
%% says which key and why); one whose contents do not hold together is `{error, {bad_security,
%% Reason}}': a key that does not import (`{sign_key | kx_key, bad_passphrase | malformed |
%% not_a_sign_key | not_a_kx_key}'), a file that cannot be read (`{file, Path, Posix}'), a
%% certificate that does not verify under the authority (`{certificate, expired |
%% not_yet_valid | revoked | bad_signature | malformed}'), or one that is not this node's
%% (`{certificate_mismatch, cluster | node | sign_key | kx_key}'), a revocation list that does
%% not verify (`{revocations, Reason}').
%%
%% Revocation lists only move forward: {@link set_revocations/1} takes a list signed by the
%% authority for this cluster whose sequence is above the current one (`{error, {bad_security,
%% stale_revocations}}' otherwise).
-module(lattice_security).

-export([configure/1, clear/0, config/0, is_configured/0, set_revocations/1, revocations/0,
         revocation_sequence/0, verify_peer/1, check_peer/1, channel_opts/1]).
-export([format_error/2, error_message/1]).

-define(KEY, {?MODULE, config}).
-define(KEYS, [cluster, authority, certificate, sign_key, kx_key, revocations, channel]).
-define(CHANNEL_KEYS, [rekey_after_time, reject_after_time, rekey_after_messages,
                       reject_after_messages, grace, handshake_timeout]).
-define(BADARG(Args, Cause),
        erlang:error(badarg, Args, [{error_info, #{module => ?MODULE, cause => Cause}}])).
%% A handshake not finished in this long is dropped, and tried again: peers start at
%% different moments, and the first message 1 may find no one.
-define(HANDSHAKE_TIMEOUT, 2000).

-type config() :: #{cluster := binary(), authority := <<_:256>>, certificate := binary(),
                    cert := lattice_cert:cert(), sign_key := lattice_crypto:key(),
                    kx_key := lattice_crypto:key(),
                    revocations := none | binary(),
                    crl := none | lattice_cert:revocations(),
                    sequence := integer(), channel := map()}.
-export_type([config/0]).

%% @doc Sets (or replaces) this node's configuration: `ok', `{error, {bad_security,
%% Reason}}', or `badarg' for a map of the wrong shape.
-spec configure(map()) -> ok | {error, {bad_security, term()}}.
configure(Map) ->
    case shape(Map) of
        ok -> ok;
        {bad, Cause} -> ?BADARG([Map], Cause)
    end,
    case build(Map) of
        {ok, Config} ->
            locked(fun() -> persistent_term:put(?KEY, Config) end),
            ok;
        {error, _} = E ->
            E
    end.

%% @doc Forgets the configuration (secure stores cut every peer off at their next tick).
-spec clear() -> ok.
clear() ->
    locked(fun() -> _ = persistent_term:erase(?KEY), ok end),
    %% and the environment is not read again
    persistent_term:put({?MODULE, cleared}, true),
    ok.

%% @doc The configuration: from {@link configure/1}, or the application environment at its
%% first use; `{error, not_configured}' when there is none, `{error, {bad_security, R}}' when
%% the environment's does not hold together.
-spec config() -> {ok, config()} | {error, not_configured | {bad_security, term()}}.
config() ->
    case persistent_term:get(?KEY, undefined) of
        undefined -> from_env();
        Config -> {ok, Config}
    end.

-spec is_configured() -> boolean().
is_configured() ->
    element(1, config()) =:= ok.

from_env() ->
    case {persistent_term:get({?MODULE, cleared}, false),
          application:get_env(lattice, security)} of
        {false, {ok, Map}} when is_map(Map) ->
            case shape(Map) of
                ok ->
                    case build(Map) of
                        {ok, Config} ->
                            locked(fun() ->
                                           case persistent_term:get(?KEY, undefined) of
                                               undefined -> persistent_term:put(?KEY, Config);
                                               _ -> ok
                                           end
                                   end),
                            {ok, persistent_term:get(?KEY)};
                        {error, _} = E ->
                            E
                    end;
                {bad, Cause} ->
                    {error, {bad_security, Cause}}
            end;
        {false, {ok, _}} ->
            {error, {bad_security, not_a_map}};
        _ ->
            {error, not_configured}
    end.

%% @doc A newer revocation list (a binary signed by the authority for this cluster, with a
%% sequence above the current list's): `ok', or `{error, {bad_security, R}}' with R
%% `stale_revocations', `{revocations, malformed | bad_signature | wrong_cluster}', or
%% `not_configured'. Secure stores cut revoked peers off at their next tick and forward the
%% list to their peers.
-spec set_revocations(binary()) -> ok | {error, {bad_security, term()}}.
set_revocations(Bin) when is_binary(Bin) ->
    locked(fun() ->
                   case config() of
                       {ok, #{authority := Auth, cluster := Cluster, sequence := Seq} = C} ->
                           case lattice_cert:verify_revocation_list(Bin, Auth) of
                               {ok, #{cluster := Cluster, sequence := S} = L} when S > Seq ->
                                   persistent_term:put(?KEY, C#{revocations := Bin, crl := L,
                                                                sequence := S}),
                                   ok;
                               {ok, #{cluster := Cluster}} ->
                                   {error, {bad_security, stale_revocations}};
                               {ok, _} ->
                                   {error, {bad_security, {revocations, wrong_cluster}}};
                               {error, R} ->
                                   {error, {bad_security, {revocations, R}}}
                           end;
                       {error, _} ->
                           {error, {bad_security, not_configured}}
                   end
           end);
set_revocations(Bin) ->
    ?BADARG([Bin], revocations).

%% @doc The current revocation list (as signed), or `none'.
-spec revocations() -> none | binary().
revocations() ->
    case config() of
        {ok, #{revocations := R}} -> R;
        _ -> none
    end.

%% @doc The current revocation list's sequence: -1 without one, `undefined' unconfigured.
-spec revocation_sequence() -> integer() | undefined.
revocation_sequence() ->
    case config() of
        {ok, #{sequence := S}} -> S;
        _ -> undefined
    end.

%% @doc A peer's certificate (a binary from a handshake) checked now against the authority
%% and the current revocation list: the channel's `verify' function.
-spec verify_peer(binary()) -> {ok, lattice_cert:cert()} | {error, term()}.
verify_peer(CertBin) ->
    case config() of
        {ok, #{authority := Auth, crl := Crl}} ->
            lattice_cert:verify(CertBin, Auth, Crl, erlang:system_time(second));
        {error, _} ->
            {error, not_configured}
    end.

%% @doc Whether a verified certificate still holds: `ok', `{error, revoked | expired}', or
%% `{error, not_configured}'.
-spec check_peer(map()) -> ok | {error, revoked | expired | not_configured}.
check_peer(#{serial := Serial, not_after := NA}) ->
    case config() of
        {ok, #{crl := Crl}} ->
            case Crl =/= none andalso lattice_cert:revoked(Crl, Serial) of
                true -> {error, revoked};
                false ->
                    case erlang:system_time(second) > NA of
                        true -> {error, expired};
                        false -> ok
                    end
            end;
        {error, _} ->
            {error, not_configured}
    end;
check_peer(_) ->
    {error, revoked}.

%% @doc The `lattice_channel' options for a channel with `PeerNode' (whose certificate must
%% name it), or `{error, not_configured}'.
-spec channel_opts(node()) -> {ok, map()} | {error, not_configured}.
channel_opts(PeerNode) when is_atom(PeerNode) ->
    case config() of
        {ok, #{cluster := Cluster, kx_key := Kx, certificate := Cert, channel := Ch}} ->
            {ok, maps:merge(#{handshake_timeout => ?HANDSHAKE_TIMEOUT}, Ch#{
                              cluster => Cluster, static => Kx, certificate => Cert,
                              verify => fun verify_peer/1,
                              peer => atom_to_binary(PeerNode)})};
        {error, _} ->
            {error, not_configured}
    end.

%%--------------------------------------------------------------------------------------------
%% Checks

shape(Map) when is_map(Map) ->
    try
        [] =:= maps:keys(Map) -- ?KEYS orelse throw({unknown_keys, maps:keys(Map) -- ?KEYS}),
        [is_map_key(K, Map) orelse throw({missing, K})
         || K <- [cluster, authority, certificate, sign_key, kx_key]],
        #{cluster := C} = Map,
        is_binary(C) andalso byte_size(C) >= 1 andalso byte_size(C) =< 255 orelse
            throw(cluster),
        bin_source(maps:get(authority, Map)) orelse throw(authority),
        bin_source(maps:get(certificate, Map)) orelse throw(certificate),
        key_source(maps:get(sign_key, Map)) orelse throw(sign_key),
        key_source(maps:get(kx_key, Map)) orelse throw(kx_key),
        R = maps:get(revocations, Map, none),
        R =:= none orelse bin_source(R) orelse throw(revocations),
        Ch = maps:get(channel, Map, #{}),
        is_map(Ch) andalso [] =:= maps:keys(Ch) -- ?CHANNEL_KEYS andalso
            lists:all(fun(V) -> is_integer(V) andalso V >= 0 end, maps:values(Ch))
            orelse throw(channel),
        ok
    catch
        throw:Cause -> {bad, Cause}
    end;
shape(_) ->
    {bad, not_a_map}.

bin_source(B) when is_binary(B) -> true;
bin_source({file, P}) -> is_list(P) orelse is_binary(P);
bin_source(_) -> false.

key_source(K) when is_reference(K) -> true;
key_source({sealed, B, Pass}) -> is_binary(B) andalso is_iodata(Pass);
key_source({file, P, Pass}) -> (is_list(P) orelse is_binary(P)) andalso is_iodata(Pass);
key_source(_) -> false.

is_iodata(X) -> is_binary(X) orelse (is_list(X) andalso
                                      try iolist_size(X) >= 0 catch error:badarg -> false end).

build(Map) ->
    try
        Cluster = maps:get(cluster, Map),
        Auth = case read(maps:get(authority, Map)) of
                   <<_:256>> = A -> A;
                   _ -> throw({authority, not_32_bytes})
               end,
        CertBin = read(maps:get(certificate, Map)),
        Sign = key(sign_key, sign, maps:get(sign_key, Map)),
        Kx = key(kx_key, kx, maps:get(kx_key, Map)),
        {RevBin, Crl, Seq} =
            case maps:get(revocations, Map, none) of
                none -> {none, none, -1};
                Src ->
                    RB = read(Src),
                    case lattice_cert:verify_revocation_list(RB, Auth) of
                        {ok, #{cluster := Cluster, sequence := S} = L} -> {RB, L, S};
                        {ok, _} -> throw({revocations, wrong_cluster});
                        {error, R} -> throw({revocations, R})
                    end
            end,
        Cert = case lattice_cert:verify(CertBin, Auth, Crl, erlang:system_time(second)) of
                   {ok, Ct} -> Ct;
                   {error, Why} -> throw({certificate, Why})
               end,
        #{cluster := CC, node := N, sign_pub := SP, kx_pub := KP} = Cert,
        CC =:= Cluster orelse throw({certificate_mismatch, cluster}),
        N =:= atom_to_binary(node()) orelse throw({certificate_mismatch, node}),
        SP =:= lattice_crypto:public_key(Sign) orelse throw({certificate_mismatch, sign_key}),
        KP =:= lattice_crypto:public_key(Kx) orelse throw({certificate_mismatch, kx_key}),
        {ok, #{cluster => Cluster, authority => Auth, certificate => CertBin, cert => Cert,
               sign_key => Sign, kx_key => Kx, revocations => RevBin, crl => Crl,
               sequence => Seq, channel => maps:get(channel, Map, #{})}}
    catch
        throw:Reason -> {error, {bad_security, Reason}}
    end.

read(B) when is_binary(B) -> B;
read({file, P}) ->
    case file:read_file(P) of
        {ok, B} -> B;
        {error, Posix} -> throw({file, P, Posix})
    end.

key(Name, Kind, K) ->
    Key = case K of
              Ref when is_reference(Ref) -> Ref;
              {sealed, B, Pass} -> import(Name, B, Pass);
              {file, P, Pass} -> import(Name, read({file, P}), Pass)
          end,
    case catch lattice_crypto:key_info(Key) of
        #{kind := Kind} -> Key;
        _ -> throw({Name, list_to_atom("not_a_" ++ atom_to_list(Kind) ++ "_key")})
    end.

import(Name, B, Pass) ->
    case lattice_crypto:import_secret(B, Pass) of
        {ok, Key} -> Key;
        {error, R} -> throw({Name, R})
    end.

%% Updates of the configuration, one at a time (a newer revocation list is never replaced by
%% an older one that was checked at the same moment).
locked(Fun) ->
    global:trans({?MODULE, self()}, Fun, [node()], infinity).

%%--------------------------------------------------------------------------------------------
%% Explanations

%% @doc The OTP `error_info' callback: which key of the configuration is wrong, and why.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(badarg, [{?MODULE, _, _, Info} | _]) ->
    case proplists:get_value(error_info, Info, #{}) of
        #{cause := Cause} -> #{1 => explain(Cause)};
        _ -> #{}
    end;
format_error(_, _) ->
    #{}.

%% @doc The explanation as one line (for a facade's `ArgumentError').
-spec error_message(erlang:stacktrace()) -> binary() | undefined.
error_message([{?MODULE, _, _, _} | _] = Stack) ->
    case format_error(badarg, Stack) of
        #{1 := Text} -> unicode:characters_to_binary(Text);
        _ -> undefined
    end;
error_message(_) ->
    undefined.

explain(not_a_map) -> "the security configuration is not a map";
explain({unknown_keys, Ks}) ->
    lists:flatten(io_lib:format("unknown keys ~p (known: ~p)", [Ks, ?KEYS]));
explain({missing, K}) ->
    lists:flatten(io_lib:format("~p is required (cluster, authority, certificate, sign_key "
                                "and kx_key are)", [K]));
explain(cluster) -> "cluster is not a binary of 1..255 bytes";
explain(authority) -> "authority is not a binary (the 32-byte public key) or {file, Path}";
explain(certificate) -> "certificate is not a binary or {file, Path}";
explain(revocations) -> "revocations is not a binary, {file, Path} or none";
explain(channel) ->
    lists:flatten(io_lib:format("channel is not a map of ~p to non-negative integers",
                                [?CHANNEL_KEYS]));
explain(K) when K =:= sign_key; K =:= kx_key ->
    lists:flatten(io_lib:format("~p is not a lattice_crypto key, {sealed, Bin, Passphrase} or "
                                "{file, Path, Passphrase}", [K]));
explain(_) -> "bad security configuration".
