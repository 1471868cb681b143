%% @doc Versioned keys for one purpose, derived from a master key, rotated on a schedule.
%%
%% A keyring holds a master secret key (a `lattice_crypto:secret_key/0' of 32 bytes, the same
%% on every node that must read what the others seal) and derives the AEAD key of each
%% version with `crypto_kdf': subkey id = the version, context = the purpose (8 bytes). Any
%% node with the master derives the same key for a version, so only the version travels (in
%% each envelope, lattice_envelope).
%%
%% Versions are 1..2^32-1. The current version seals; on rotation it retires and stays
%% accepted for `grace' milliseconds more, after which {@link lookup/2} says `expired'. Versions
%% up to `lookahead' above the current one (default 1) are accepted too, derived on demand: a
%% peer that rotated a moment earlier is not refused. Anything else is `unknown_key'.
%%
%% Schedules (`schedule' option): `aligned' (the default) numbers versions by the clock,
%% version = Now div interval + 1, so nodes whose clocks agree rotate together without talking;
%% `local' starts at `version' (default 1) and rotates `interval' after the last rotation.
%% An aligned keyring made during the grace after a boundary accepts the version before, as a
%% node that was running then would (messages sealed just before the boundary, clock skew).
%% Profiles give seed 000's intervals: `long_term' (24 h, grace 1 h, the default) and
%% `session' (1 h, grace 5 min); `interval' and `grace' override them.
%%
%% An {@link ephemeral/1} keyring has no master: each version's key is fresh random bytes,
%% which no other node can derive, and a version dropped after its grace is gone for good (its
%% key is wiped when the last reference to it goes): forward secrecy for what it sealed. Its
%% keys are for this node, or for a peer that agreed on them another way, through the secure
%% channel say, and {@link install/3}s them.
%%
%% A keyring is a value (a record holding key resources: node-local, like the keys). Rotation
%% happens only when asked: {@link maybe_rotate/1} (on the schedule) or {@link rotate/1}
%% (now); both take the time from the `clock' option, a fun returning milliseconds (default
%% `erlang:system_time(millisecond)'), which tests replace. {@link stats/0} counts rotations,
%% derivations and refused lookups over the node.
-module(lattice_keyring).

-export([new/1, new/2, ephemeral/1, install/3, current/1, version/1, lookup/2, rotate/1,
         maybe_rotate/1, info/1, alg/1, stats/0]).
-export([format_error/2, error_message/1]).

-record(keyring, {
    master :: lattice_crypto:key() | ephemeral,
    context :: <<_:64>>,
    alg :: lattice_crypto:aead_alg(),
    interval :: pos_integer(),
    grace :: non_neg_integer(),
    lookahead :: non_neg_integer(),
    schedule :: aligned | local,
    clock :: fun(() -> integer()),
    current :: version(),
    started :: integer(),
    keys :: #{version() => lattice_crypto:key()},
    retired :: #{version() => integer()},
    oldest :: version(),
    rotations = 0 :: non_neg_integer()
}).

-opaque keyring() :: #keyring{}.
-type version() :: 1..4294967295.
-type opts() :: #{purpose => binary(), alg => lattice_crypto:aead_alg(),
                  profile => long_term | session, interval => pos_integer(),
                  grace => non_neg_integer(), lookahead => non_neg_integer(),
                  schedule => aligned | local, version => version(),
                  clock => fun(() -> integer())}.
-export_type([keyring/0, version/0, opts/0]).

-define(MAX_VERSION, 4294967295).
-define(HOUR, 3600000).
-define(OPTS, [purpose, alg, profile, interval, grace, lookahead, schedule, version, clock]).
-define(BADARG(Args), erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])).

%% @doc A keyring with the default options (purpose `<<"envelope">>', XChaCha20-Poly1305,
%% long-term profile, aligned schedule).
-spec new(lattice_crypto:key()) -> keyring().
new(Master) ->
    new(Master, #{}).

%% @doc A keyring over `Master' (a secret key of 32 bytes). Options: `purpose' (1..8 bytes,
%% the KDF context, zero-padded), `alg', `profile', `interval' and `grace' (ms), `lookahead',
%% `schedule', `version' (the first version of a `local' schedule), `clock'.
-spec new(lattice_crypto:key(), opts()) -> keyring().
new(Master, Opts) ->
    try make(Master, Opts)
    catch error:_ -> ?BADARG([Master, Opts])
    end.

%% @doc A keyring whose keys are random, one per version (see the module's description);
%% options as {@link new/2} but `purpose', with the `session' profile and the `local'
%% schedule by default, and no lookahead (a later version cannot be derived).
-spec ephemeral(opts()) -> keyring().
ephemeral(Opts) ->
    try make(ephemeral, maps:merge(#{profile => session, schedule => local}, Opts))
    catch error:_ -> ?BADARG([Opts])
    end.

make(Master, Opts) when is_map(Opts) ->
    [] = maps:keys(Opts) -- ?OPTS,
    true = case Master of
               ephemeral ->
                   not (is_map_key(purpose, Opts) orelse is_map_key(lookahead, Opts));
               _ ->
                   is_map(#{kind := secret, size := 32} = lattice_crypto:key_info(Master))
           end,
    Purpose = maps:get(purpose, Opts, <<"envelope">>),
    true = is_binary(Purpose) andalso byte_size(Purpose) >= 1 andalso byte_size(Purpose) =< 8,
    {DefInterval, DefGrace} = case maps:get(profile, Opts, long_term) of
                                  long_term -> {24 * ?HOUR, ?HOUR};
                                  session -> {?HOUR, 5 * 60000}
                              end,
    Interval = maps:get(interval, Opts, DefInterval),
    Grace = maps:get(grace, Opts, DefGrace),
    Lookahead = case Master of
                    ephemeral -> 0;
                    _ -> maps:get(lookahead, Opts, 1)
                end,
    Schedule = maps:get(schedule, Opts, aligned),
    Clock = maps:get(clock, Opts, fun() -> erlang:system_time(millisecond) end),
    Alg = maps:get(alg, Opts, xchacha20poly1305),
    true = lists:member(Alg, [xchacha20poly1305, chacha20poly1305, aes256gcm]),
    true = is_integer(Interval) andalso Interval > 0,
    true = is_integer(Grace) andalso Grace >= 0,
    true = is_integer(Lookahead) andalso Lookahead >= 0 andalso Lookahead < 1 bsl 16,
    true = is_function(Clock, 0),
    Now = Clock(),
    true = is_integer(Now),
    {Version, Started} =
        case Schedule of
            aligned -> {scheduled(Now, Interval), (Now div Interval) * Interval};
            local -> {maps:get(version, Opts, 1), Now}
        end,
    true = is_integer(Version) andalso Version >= 1 andalso Version =< ?MAX_VERSION,
    Context = <<Purpose/binary, 0:((8 - byte_size(Purpose)) * 8)>>,
    KR = #keyring{master = Master, context = Context, alg = Alg, interval = Interval,
                  grace = Grace, lookahead = Lookahead, schedule = Schedule, clock = Clock,
                  current = Version, started = Started, keys = #{}, retired = #{},
                  oldest = Version},
    Keys = #{Version => derive(KR, Version)},
    case Schedule of
        aligned when Version > 1, Master =/= ephemeral ->
            %% The version before is what peers sealed with until the interval began: retired
            %% then, in its grace as on a node that was running at the time.
            Prev = Version - 1,
            prune(KR#keyring{keys = Keys#{Prev => derive(KR, Prev)},
                             retired = #{Prev => Started}, oldest = Prev}, Now);
        _ ->
            KR#keyring{keys = Keys}
    end.

scheduled(Now, Interval) ->
    min(?MAX_VERSION, max(1, Now div Interval + 1)).

derive(#keyring{master = ephemeral, alg = Alg}, _Version) ->
    case lattice_crypto:aead_key(Alg) of
        {ok, Key} ->
            lattice_proto:bump({?MODULE, derived}),
            Key;
        {error, {unsupported, aes256gcm}} = E ->
            erlang:error(E)
    end;
derive(#keyring{master = M, context = C, alg = Alg}, Version) ->
    case lattice_crypto:kdf(M, Version, C, Alg) of
        {ok, Key} ->
            lattice_proto:bump({?MODULE, derived}),
            Key;
        {error, {unsupported, aes256gcm}} = E ->
            erlang:error(E)
    end.

%% @doc The version that seals now, and its key.
-spec current(keyring()) -> {version(), lattice_crypto:key()}.
current(#keyring{current = V, keys = Keys}) ->
    {V, map_get(V, Keys)};
current(KR) ->
    ?BADARG([KR]).

%% @doc The current version.
-spec version(keyring()) -> version().
version(#keyring{current = V}) ->
    V;
version(KR) ->
    ?BADARG([KR]).

%% @doc The AEAD algorithm of the keyring's keys.
-spec alg(keyring()) -> lattice_crypto:aead_alg().
alg(#keyring{alg = A}) ->
    A;
alg(KR) ->
    ?BADARG([KR]).

%% @doc The key of `Version' if it may open a message now: the current one, a retired one
%% within its grace, or one up to `lookahead' ahead. `{error, expired}' for a retired version
%% past its grace (or any version older than those kept), `{error, unknown_key}' for a version
%% this keyring never had and would not accept.
-spec lookup(keyring(), non_neg_integer()) ->
          {ok, lattice_crypto:key()} | {error, unknown_key | expired}.
lookup(#keyring{current = V, keys = Keys}, V) ->
    {ok, map_get(V, Keys)};
lookup(#keyring{} = KR, Version) when is_integer(Version) ->
    lattice_proto:bump({?MODULE, lookups}),
    #keyring{current = Cur, keys = Keys, retired = Retired, grace = Grace, clock = Clock,
             lookahead = Ahead, oldest = Oldest} = KR,
    if
        Version > Cur, Version - Cur =< Ahead, Version =< ?MAX_VERSION ->
            {ok, derive(KR, Version)};
        Version > Cur; Version < 1 ->
            lattice_proto:fail(?MODULE, {error, unknown_key});
        true ->
            case Retired of
                #{Version := At} ->
                    case Clock() < At + Grace of
                        true -> {ok, map_get(Version, Keys)};
                        false -> lattice_proto:fail(?MODULE, {error, expired})
                    end;
                #{} when Version >= Oldest ->
                    %% Skipped by an aligned schedule that jumped, or pruned: never live here
                    %% since, so past any grace.
                    lattice_proto:fail(?MODULE, {error, expired});
                #{} ->
                    lattice_proto:fail(?MODULE, {error, unknown_key})
            end
    end;
lookup(KR, Version) ->
    ?BADARG([KR, Version]).

%% @doc Makes `Key' (an AEAD key of the keyring's algorithm) the key of `Version', a version
%% after the current one, which it replaces as {@link rotate/1} would (the current version
%% retires into its grace). Only for {@link ephemeral/1} keyrings: a derived keyring's keys are
%% the master's, the same on every node.
-spec install(keyring(), version(), lattice_crypto:key()) -> keyring().
install(#keyring{master = ephemeral, current = Cur, alg = Alg, keys = Keys, clock = Clock} = KR,
        Version, Key) when is_integer(Version), Version > Cur, Version =< ?MAX_VERSION ->
    case lattice_proto:is_key(Key) andalso lattice_crypto:key_info(Key) of
        #{kind := aead, alg := Alg} ->
            rotate_to(KR#keyring{keys = Keys#{Version => Key}}, Version, Clock());
        _ ->
            ?BADARG([KR, Version, Key])
    end;
install(KR, Version, Key) ->
    ?BADARG([KR, Version, Key]).

%% @doc Rotates now: the current version retires (accepted for `grace' ms more) and the next
%% one seals. Retired versions past their grace are dropped.
-spec rotate(keyring()) -> keyring().
rotate(#keyring{current = V} = KR) when V < ?MAX_VERSION ->
    rotate_to(KR, V + 1, (KR#keyring.clock)());
rotate(KR) ->
    ?BADARG([KR]).

%% @doc Rotates if the schedule says so: `aligned', when the clock has reached a later
%% version (it moves straight to it); `local', when `interval' ms passed since the last
%% rotation. Otherwise the keyring is returned unchanged, but for dropping retired versions
%% past their grace.
-spec maybe_rotate(keyring()) -> keyring().
maybe_rotate(#keyring{schedule = aligned, interval = I, current = V, clock = Clock} = KR) ->
    Now = Clock(),
    case scheduled(Now, I) of
        Next when Next > V -> rotate_to(KR, Next, Now);
        _ -> prune(KR, Now)
    end;
maybe_rotate(#keyring{schedule = local, interval = I, started = S, current = V,
                      clock = Clock} = KR) ->
    Now = Clock(),
    if
        Now - S >= I, V < ?MAX_VERSION -> rotate_to(KR, V + 1, Now);
        true -> prune(KR, Now)
    end;
maybe_rotate(KR) ->
    ?BADARG([KR]).

rotate_to(#keyring{current = V, keys = Keys, retired = Retired, rotations = N} = KR, Next,
          Now) ->
    Key = case Keys of
              #{Next := K} -> K;
              #{} -> derive(KR, Next)
          end,
    lattice_proto:bump({?MODULE, rotations}),
    prune(KR#keyring{current = Next, started = Now, keys = Keys#{Next => Key},
                     retired = Retired#{V => Now}, rotations = N + 1}, Now).

prune(#keyring{retired = Retired, keys = Keys, grace = Grace} = KR, Now) ->
    Gone = [V || {V, At} <- maps:to_list(Retired), Now >= At + Grace],
    KR#keyring{retired = maps:without(Gone, Retired), keys = maps:without(Gone, Keys)}.

%% @doc What the keyring holds: `version' (current), `accepted' (retired versions still in
%% grace, with the ms at which each expires), `rotations' (of this keyring), `alg', `purpose',
%% `interval', `grace', `lookahead', `schedule', `source' (`derived' or `ephemeral').
-spec info(keyring()) -> map().
info(#keyring{} = KR) ->
    #{version => KR#keyring.current,
      accepted => maps:map(fun(_, At) -> At + KR#keyring.grace end, KR#keyring.retired),
      rotations => KR#keyring.rotations, alg => KR#keyring.alg,
      purpose => KR#keyring.context, interval => KR#keyring.interval,
      grace => KR#keyring.grace, lookahead => KR#keyring.lookahead,
      schedule => KR#keyring.schedule,
      source => case KR#keyring.master of ephemeral -> ephemeral; _ -> derived end};
info(KR) ->
    ?BADARG([KR]).

%% @doc The node's keyring counters: `rotations', `derived' (keys derived), `lookups' (of
%% versions other than the current), `failed' (lookups refused, by reason).
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

checks(ephemeral, [Opts]) ->
    [{1, fun() ->
                 case is_map(Opts) andalso
                     (is_map_key(purpose, Opts) orelse is_map_key(lookahead, Opts)) of
                     true -> {error, "an ephemeral keyring takes no purpose or lookahead (its "
                                     "keys are random, not derived)"};
                     false -> opts(Opts)
                 end
         end}];
checks(install, [KR, V, Key]) ->
    [{1, fun() ->
                 case KR of
                     #keyring{master = ephemeral} -> ok;
                     #keyring{} -> {error, "only an ephemeral keyring takes installed keys (a "
                                           "derived keyring's keys come from its master)"};
                     _ -> keyring(KR)
                 end
         end},
     {2, fun() ->
                 case KR of
                     #keyring{current = Cur} ->
                         lattice_proto:int_range("the version", V, Cur + 1, ?MAX_VERSION,
                                                 " (after the current one)");
                     _ -> ok
                 end
         end},
     {3, fun() ->
                 case lattice_proto:key("the key", Key, [aead]) of
                     ok when is_record(KR, keyring) ->
                         case lattice_crypto:key_info(Key) of
                             #{alg := A} when A =:= KR#keyring.alg -> ok;
                             #{alg := A} -> {error, lattice_proto:fmt(
                                                      "the key is a ~ts key; the keyring's are ~ts",
                                                      [A, KR#keyring.alg])}
                         end;
                     Other -> Other
                 end
         end}];
checks(new, [Master, Opts]) ->
    [{1, fun() -> master(Master) end}, {2, fun() -> opts(Opts) end}];
checks(lookup, [KR, V]) ->
    [{1, fun() -> keyring(KR) end},
     {2, fun() -> lattice_proto:int_range("the version", V, 0, 1 bsl 32 - 1, "") end}];
checks(rotate, [#keyring{current = ?MAX_VERSION}]) ->
    [{1, fun() -> {error, "the keyring is at the last version (2^32-1): make a new one"} end}];
checks(_, [KR | _]) ->
    [{1, fun() -> keyring(KR) end}].

keyring(#keyring{}) -> ok;
keyring(KR) -> {error, lattice_proto:fmt("the keyring must be one made by lattice_keyring:new/1,2, "
                                         "got: ~tp", [KR])}.

master(M) ->
    case lattice_proto:key("the master key", M, [secret]) of
        ok ->
            case lattice_crypto:key_info(M) of
                #{size := 32} -> ok;
                #{size := S} -> {error, lattice_proto:fmt("the master key must be a secret key "
                                                          "of 32 bytes, got ~b bytes", [S])}
            end;
        E -> E
    end.

opts(Opts) ->
    case lattice_proto:map_keys("the options", Opts, ?OPTS) of
        ok -> first_error([opt(K, V) || {K, V} <- maps:to_list(Opts)]);
        E -> E
    end.

first_error(Results) ->
    case [E || {error, _} = E <- Results] of
        [] -> {error, "the clock must return an integer (milliseconds), or AES-256-GCM is "
                      "not supported on this CPU"};
        [E | _] -> E
    end.

opt(purpose, P) -> lattice_proto:binary_between("purpose", P, 1, 8);
opt(alg, A) -> lattice_proto:one_of("alg", A, [xchacha20poly1305, chacha20poly1305, aes256gcm]);
opt(profile, P) -> lattice_proto:one_of("profile", P, [long_term, session]);
opt(schedule, S) -> lattice_proto:one_of("schedule", S, [aligned, local]);
opt(interval, I) -> lattice_proto:pos_int("interval (ms)", I, 1 bsl 62);
opt(grace, G) -> lattice_proto:int_range("grace (ms)", G, 0, 1 bsl 62, "");
opt(lookahead, L) -> lattice_proto:int_range("lookahead", L, 0, 1 bsl 16 - 1, "");
opt(version, V) -> lattice_proto:pos_int("version", V, ?MAX_VERSION);
opt(clock, C) when is_function(C, 0) -> ok;
opt(clock, C) -> {error, lattice_proto:fmt("clock must be a fun of arity 0, got: ~tp", [C])}.
