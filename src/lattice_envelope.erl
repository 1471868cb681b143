%% @doc Sealed messages: a versioned envelope naming its sender, key version and counter,
%% encrypted and authenticated with the keyring's AEAD key, optionally signed (Ed25519) by
%% the sender.
%%
%% The format is docs/FORMAT.md's "Envelope" (decoded in C, c_src/crypto/lt_envelope.c, with a
%% size cap and a libFuzzer target). The whole header — format version, flags, AEAD, sender,
%% key version, counter, nonce and ciphertext length — is the AEAD's associated data, so no
%% byte of it can change unnoticed; the signature covers a domain tag and every byte before it.
%%
%% {@link open/4} checks, in order: the structure and size (`malformed', `too_large'), the key
%% version (`unknown_key', `expired': lattice_keyring), the counter against the replay window
%% without changing it (`replay': lattice_replay), the MAC (`bad_mac'), the signature
%% (`unsigned' when one is required, `unknown_signer', `bad_signature'), and only then marks
%% the counter in the window (`replay' again if another process accepted it meanwhile). A
%% message that fails never moves the window.
%%
%% With a cluster-wide keyring every holder of the master key can seal under any sender name;
%% the signature is what ties a message to its sender's own key. Counters must grow per sender
%% and key: {@link counter/0} starts one at the wall clock in microseconds, so a restarted
%% sender does not reuse counters its peers' windows remember.
-module(lattice_envelope).

-export([seal/4, seal/5, open/3, open/4, peek/1, counter/0, next/1, stats/0]).
-export([format_error/2, error_message/1]).

-type meta() :: #{sender := binary(), key_version := lattice_keyring:version(),
                  counter := lattice_replay:counter(), alg := lattice_crypto:aead_alg(),
                  signed := boolean()}.
-type reason() :: bad_mac | replay | unknown_key | expired | malformed | too_large |
                  bad_signature | unknown_signer | unsigned.
-type signers() :: #{binary() => <<_:256>>} | fun((binary()) -> {ok, <<_:256>>} | error).
-type open_opts() :: #{max_size => non_neg_integer(), signers => signers(),
                       require_signature => boolean()}.
-type counter() :: atomics:atomics_ref().
-export_type([meta/0, reason/0, signers/0, open_opts/0, counter/0]).

-define(N, lattice_crypto_nif).
-define(TAG, <<"lattice.envelope.v1", 0>>).
-define(MAX_PLAIN, 64 * 1024 * 1024).
-define(DEFAULT_MAX, 16 * 1024 * 1024).
-define(BADARG(Args), erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])).

%% @doc Seals `Plain' from `Sender' (1..255 bytes) with the keyring's current key, as message
%% `Counter' (0..2^64-1; never reuse one with a key: {@link next/1}).
-spec seal(iodata(), lattice_keyring:keyring(), binary(), lattice_replay:counter()) -> binary().
seal(Plain, Keyring, Sender, Counter) ->
    seal(Plain, Keyring, Sender, Counter, #{}).

%% @doc As {@link seal/4}; with `#{sign => Key}' the envelope is also signed by the Ed25519
%% key (the sender's own).
-spec seal(iodata(), lattice_keyring:keyring(), binary(), lattice_replay:counter(),
           #{sign => lattice_crypto:key()}) -> binary().
seal(Plain, Keyring, Sender, Counter, Opts) ->
    try
        do_seal(iolist_to_binary(Plain), Keyring, Sender, Counter, Opts)
    catch error:_ -> ?BADARG([Plain, Keyring, Sender, Counter, Opts])
    end.

do_seal(Plain, Keyring, Sender, Counter, Opts)
  when byte_size(Plain) =< ?MAX_PLAIN, is_binary(Sender), byte_size(Sender) >= 1,
       byte_size(Sender) =< 255, is_integer(Counter), Counter >= 0, Counter < 1 bsl 64,
       is_map(Opts) ->
    [] = maps:keys(Opts) -- [sign],
    {Version, Key} = lattice_keyring:current(Keyring),
    Alg = lattice_keyring:alg(Keyring),
    Nonce = lattice_crypto:random_bytes(nonce_len(Alg)),
    Sign = maps:get(sign, Opts, none),
    Flags = case Sign of none -> 0; _ -> 1 end,
    Header = <<16#40, 1, Flags, (alg_code(Alg)), (byte_size(Sender)), Sender/binary,
               Version:32, Counter:64, Nonce/binary, (byte_size(Plain) + 16):32>>,
    Cipher = lattice_crypto:aead_seal(Key, Nonce, Header, Plain),
    lattice_proto:bump({?MODULE, sealed}),
    case Sign of
        none ->
            <<Header/binary, Cipher/binary>>;
        _ ->
            Body = <<Header/binary, Cipher/binary>>,
            lattice_proto:bump({?MODULE, signed}),
            <<Body/binary, (lattice_crypto:sign(Sign, [?TAG, Body]))/binary>>
    end.

%% @doc As {@link open/4} with no options.
-spec open(binary(), lattice_keyring:keyring(), lattice_replay:replay()) ->
          {ok, binary(), meta()} | {error, reason()}.
open(Bin, Keyring, Replay) ->
    open(Bin, Keyring, Replay, #{}).

%% @doc Checks and opens an envelope: `{ok, Plain, Meta}' or `{error, Reason}' (see the
%% module's description for the order of the checks). Options: `max_size', the largest
%% plaintext accepted (default 16 MiB, at most 64 MiB; larger gives `too_large' before anything
%% is read); `signers', the senders' Ed25519 public keys (a map, or a fun giving
%% `{ok, Pub} | error'), needed to open a signed envelope (`unknown_signer' without one);
%% `require_signature' (default false): refuse unsigned envelopes as `unsigned'.
-spec open(binary(), lattice_keyring:keyring(), lattice_replay:replay(), open_opts()) ->
          {ok, binary(), meta()} | {error, reason()}.
open(Bin, Keyring, Replay, Opts) when is_binary(Bin), is_map(Opts) ->
    map_size(maps:without([max_size, signers, require_signature], Opts)) =:= 0 orelse
        ?BADARG([Bin, Keyring, Replay, Opts]),
    Max = maps:get(max_size, Opts, ?DEFAULT_MAX),
    Decoded = try ?N:envelope_decode(Bin, Max)
              catch error:badarg -> ?BADARG([Bin, Keyring, Replay, Opts])
              end,
    case Decoded of
        {ok, Fields} ->
            Opened = try opened(Fields, Keyring, Replay, Opts)
                     catch error:Why when Why =:= badarg; Why =:= function_clause ->
                             ?BADARG([Bin, Keyring, Replay, Opts])
                     end,
            case Opened of
                {ok, _, _} = Ok ->
                    lattice_proto:bump({?MODULE, opened}),
                    Ok;
                {error, _} = E ->
                    lattice_proto:fail(?MODULE, E)
            end;
        {error, _} = E ->
            lattice_proto:fail(?MODULE, E)
    end;
open(Bin, Keyring, Replay, Opts) ->
    ?BADARG([Bin, Keyring, Replay, Opts]).

opened({_Flags, Code, Sender, Version, Counter, Nonce, Header, Cipher, Signed, Sig}, Keyring,
       Replay, Opts) ->
    Alg = lattice_keyring:alg(Keyring),
    Meta = #{sender => Sender, key_version => Version, counter => Counter, alg => Alg,
             signed => Sig =/= none},
    case same_alg(Code, Alg) of
        ok ->
            case lattice_keyring:lookup(Keyring, Version) of
                {ok, Key} ->
                    case window(lattice_replay:check(Replay, Sender, Counter)) of
                        ok ->
                            case lattice_crypto:aead_open(Key, Nonce, Header, Cipher) of
                                {ok, Plain} ->
                                    accept(signature(Sender, Signed, Sig, Opts), Replay, Plain,
                                           Meta);
                                {error, bad_mac} = E ->
                                    E
                            end;
                        E ->
                            E
                    end;
                E ->
                    E
            end;
        E ->
            E
    end.

%% The MAC (and signature) checked: only now does the counter go into the window.
accept(ok, Replay, Plain, #{sender := Sender, counter := Counter} = Meta) ->
    case window(lattice_replay:update(Replay, Sender, Counter)) of
        ok -> {ok, Plain, Meta};
        E -> E
    end;
accept(E, _, _, _) ->
    E.

same_alg(Code, Alg) ->
    case alg_code(Alg) of
        Code -> ok;
        _ -> {error, unknown_key}
    end.

signature(_Sender, _Signed, none, Opts) ->
    case maps:get(require_signature, Opts, false) of
        true -> {error, unsigned};
        false -> ok
    end;
signature(Sender, Signed, Sig, Opts) ->
    case signer(Sender, maps:get(signers, Opts, #{})) of
        {ok, Pub} when is_binary(Pub), byte_size(Pub) =:= 32 ->
            case lattice_crypto:verify(Pub, [?TAG, Signed], Sig) of
                true -> ok;
                false -> {error, bad_signature}
            end;
        _ ->
            {error, unknown_signer}
    end.

signer(Sender, Signers) when is_map(Signers) ->
    maps:find(Sender, Signers);
signer(Sender, Signers) when is_function(Signers, 1) ->
    Signers(Sender).

%% duplicate and too_old are both `replay' to the caller; so is a new sender that a full table
%% cannot take (its message cannot be protected from replay).
window(ok) -> ok;
window({error, _}) -> {error, replay}.

%% @doc The header of an envelope, without opening it (nothing is verified: to route a
%% message to its keyring or window before {@link open/4}): `{ok, Meta}' or
%% `{error, malformed | too_large}'.
-spec peek(binary()) -> {ok, meta()} | {error, malformed | too_large}.
peek(Bin) when is_binary(Bin) ->
    case ?N:envelope_decode(Bin, ?MAX_PLAIN) of
        {ok, {_, Code, Sender, Version, Counter, _, _, _, _, Sig}} ->
            {ok, #{sender => Sender, key_version => Version, counter => Counter,
                   alg => code_alg(Code), signed => Sig =/= none}};
        {error, _} = E ->
            E
    end;
peek(Bin) ->
    ?BADARG([Bin]).

%% @doc A sender's message counter, starting at the wall clock in microseconds (a restarted
%% sender starts above what it sent before, unless it sent more than a million messages a
%% second).
-spec counter() -> counter().
counter() ->
    Ref = atomics:new(1, [{signed, false}]),
    atomics:put(Ref, 1, erlang:system_time(microsecond)),
    Ref.

%% @doc The next counter: each call gives a new, greater value, from any process.
-spec next(counter()) -> lattice_replay:counter().
next(Ref) ->
    atomics:add_get(Ref, 1, 1).

%% @doc The node's envelope counters: `sealed', `signed', `opened', `failed' (by reason).
-spec stats() -> map().
stats() ->
    lattice_proto:counts(?MODULE).

alg_code(xchacha20poly1305) -> 1;
alg_code(chacha20poly1305) -> 2;
alg_code(aes256gcm) -> 3.

code_alg(1) -> xchacha20poly1305;
code_alg(2) -> chacha20poly1305;
code_alg(3) -> aes256gcm.

nonce_len(xchacha20poly1305) -> 24;
nonce_len(_) -> 12.

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

checks(seal, [Plain, Keyring, Sender, Counter, Opts]) ->
    [{1, fun() -> plain(Plain) end},
     {2, fun() -> keyring(Keyring) end},
     {3, fun() -> lattice_proto:binary_between("the sender", Sender, 1, 255) end},
     {4, fun() -> lattice_proto:int_range("the counter", Counter, 0, 1 bsl 64 - 1, "") end},
     {5, fun() -> seal_opts(Opts) end}];
checks(open, [Bin, Keyring, Replay, Opts]) ->
    [{1, fun() -> lattice_proto:binary_between("the envelope", Bin, 0, 1 bsl 40) end},
     {2, fun() -> keyring(Keyring) end},
     {3, fun() -> replay(Replay) end},
     {4, fun() -> open_opts(Opts) end}];
checks(peek, [Bin]) ->
    [{1, fun() -> lattice_proto:binary_between("the envelope", Bin, 0, 1 bsl 40) end}];
checks(_, _) ->
    [].

plain(P) ->
    try iolist_size(P) of
        N when N =< ?MAX_PLAIN -> ok;
        N -> {error, lattice_proto:fmt("the plaintext is ~b bytes; an envelope holds at most "
                                       "64 MiB", [N])}
    catch error:_ -> {error, lattice_proto:fmt("the plaintext must be iodata, got: ~tp", [P])}
    end.

keyring(KR) ->
    try lattice_keyring:version(KR) of
        _ -> ok
    catch error:_ ->
            {error, lattice_proto:fmt("the keyring must be a lattice_keyring, got: ~tp", [KR])}
    end.

replay(R) ->
    try lattice_replay:info(R) of
        _ -> ok
    catch error:_ ->
            {error, lattice_proto:fmt("the replay window must be a lattice_replay table, got: ~tp",
                                      [R])}
    end.

seal_opts(Opts) ->
    case lattice_proto:map_keys("the options", Opts, [sign]) of
        ok ->
            case Opts of
                #{sign := K} -> lattice_proto:key("sign", K, [sign]);
                #{} -> ok
            end;
        E -> E
    end.

open_opts(Opts) ->
    case lattice_proto:map_keys("the options", Opts, [max_size, signers, require_signature]) of
        ok ->
            Checks = [lattice_proto:int_range("max_size", maps:get(max_size, Opts, 0), 0,
                                              1 bsl 64 - 1, ""),
                      case maps:get(signers, Opts, #{}) of
                          S when is_map(S); is_function(S, 1) -> ok;
                          S -> {error, lattice_proto:fmt("signers must be a map of sender to "
                                                         "public key or a fun of arity 1, "
                                                         "got: ~tp", [S])}
                      end,
                      lattice_proto:one_of("require_signature",
                                           maps:get(require_signature, Opts, false),
                                           [true, false])],
            case [E || {error, _} = E <- Checks] of
                [] -> ok;
                [E | _] -> E
            end;
        E -> E
    end.
