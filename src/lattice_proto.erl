%% @private
%% What lattice_replay, lattice_keyring, lattice_envelope, lattice_cert and lattice_quorum
%% share: their counters (one `counters' array made when this module loads, kept in
%% persistent_term) and the checks their badarg explanations are made of.
-module(lattice_proto).

-export([bump/1, bump/2, counts/1, fail/2]).
-export([binary_between/4, pos_int/3, int_range/5, one_of/3, map_keys/3, key/3, is_key/1,
         fmt/2]).

-on_load(init/0).

%% Every counter, by module: the counts/1 map of a module holds its names.
-define(COUNTERS,
        [{lattice_envelope, [sealed, opened, signed,
                             {failed, [bad_mac, replay, unknown_key, expired, malformed,
                                       too_large, bad_signature, unknown_signer, unsigned]}]},
         {lattice_keyring, [rotations, derived, lookups,
                            {failed, [unknown_key, expired]}]},
         {lattice_cert, [issued, verified, revocation_lists_issued, revocation_lists_verified,
                         {failed, [expired, not_yet_valid, revoked, bad_signature, malformed,
                                   revocation_list]}]},
         {lattice_quorum, [votes, certificates, verified, evidence_made, evidence_verified,
                           {failed, [malformed, too_large, duplicate_signer, unknown_signer,
                                     bad_signature, insufficient_weight, evidence_refused]}]}]).
-define(KEY, {?MODULE, counters}).

-spec init() -> ok.
init() ->
    Names = names(),
    Index = maps:from_list(lists:zip(Names, lists:seq(1, length(Names)))),
    persistent_term:put(?KEY, {counters:new(length(Names), [write_concurrency]), Index}),
    ok.

names() ->
    lists:append([[{M, N} || N <- flat(Ns)] || {M, Ns} <- ?COUNTERS]).

flat(Ns) ->
    lists:append([case N of
                      {failed, Rs} -> [{failed, R} || R <- Rs];
                      _ -> [N]
                  end || N <- Ns]).

%% @doc Adds one to module M's counter `Name' (an atom, or `{failed, Reason}').
-spec bump({module(), term()}) -> ok.
bump(Name) ->
    bump(Name, 1).

-spec bump({module(), term()}, pos_integer()) -> ok.
bump(Name, N) ->
    {Ref, Index} = persistent_term:get(?KEY),
    case Index of
        #{Name := I} -> counters:add(Ref, I, N);
        #{} -> ok
    end.

%% @doc Counts a failure `{error, Reason}' of module M (by the reason's atom) and returns it.
-spec fail(module(), {error, term()}) -> {error, term()}.
fail(M, {error, Reason} = E) ->
    R = if is_tuple(Reason) -> element(1, Reason); true -> Reason end,
    bump({M, {failed, R}}),
    E.

%% @doc Module M's counters: `#{Name => N, failed => #{Reason => N}}'.
-spec counts(module()) -> #{atom() => non_neg_integer() | #{atom() => non_neg_integer()}}.
counts(M) ->
    {Ref, Index} = persistent_term:get(?KEY),
    maps:fold(fun({M1, {failed, R}}, I, Acc) when M1 =:= M ->
                      maps:update_with(failed, fun(F) -> F#{R => counters:get(Ref, I)} end,
                                       #{R => counters:get(Ref, I)}, Acc);
                 ({M1, N}, I, Acc) when M1 =:= M ->
                      Acc#{N => counters:get(Ref, I)};
                 (_, _, Acc) ->
                      Acc
              end, #{}, Index).

%% ---- checks for the badarg explanations (lattice_error:explain/4) -----------------------

-spec binary_between(string(), term(), non_neg_integer(), pos_integer()) -> ok | {error, string()}.
binary_between(_, B, Lo, Hi) when is_binary(B), byte_size(B) >= Lo, byte_size(B) =< Hi -> ok;
binary_between(What, B, Lo, Hi) when is_binary(B) ->
    {error, fmt("~ts must be ~b..~b bytes, got ~b", [What, Lo, Hi, byte_size(B)])};
binary_between(What, B, Lo, Hi) ->
    {error, fmt("~ts must be a binary of ~b..~b bytes, got: ~tp", [What, Lo, Hi, B])}.

-spec pos_int(string(), term(), pos_integer()) -> ok | {error, string()}.
pos_int(What, N, Max) ->
    int_range(What, N, 1, Max, "").

-spec int_range(string(), term(), integer(), integer(), string()) -> ok | {error, string()}.
int_range(_, N, Lo, Hi, _) when is_integer(N), N >= Lo, N =< Hi -> ok;
int_range(What, N, Lo, Hi, Extra) ->
    {error, fmt("~ts must be an integer in ~b..~b~ts, got: ~tp", [What, Lo, Hi, Extra, N])}.

-spec one_of(string(), term(), [term()]) -> ok | {error, string()}.
one_of(What, X, Allowed) ->
    case lists:member(X, Allowed) of
        true -> ok;
        false -> {error, fmt("~ts must be one of ~tp, got: ~tp", [What, Allowed, X])}
    end.

%% Options: a map whose keys are among Allowed.
-spec map_keys(string(), term(), [atom()]) -> ok | {error, string()}.
map_keys(What, M, Allowed) when is_map(M) ->
    case maps:keys(M) -- Allowed of
        [] -> ok;
        Bad -> {error, fmt("~ts: unknown keys ~tp (known: ~tp)", [What, Bad, Allowed])}
    end;
map_keys(What, M, _) ->
    {error, fmt("~ts must be a map, got: ~tp", [What, M])}.

%% A lattice_crypto key of one of the kinds (sign | kx | aead | secret).
-spec key(string(), term(), [atom()]) -> ok | {error, string()}.
key(What, K, Kinds) ->
    case is_key(K) of
        true ->
            #{kind := Kind} = lattice_crypto:key_info(K),
            case lists:member(Kind, Kinds) of
                true -> ok;
                false -> {error, fmt("~ts must be a ~ts key, got a ~ts key",
                                     [What, lists:join(" or ", [atom_to_list(X) || X <- Kinds]),
                                      Kind])}
            end;
        false ->
            {error, fmt("~ts must be a key of lattice_crypto (a resource of this node), got: ~tp",
                        [What, K])}
    end.

-spec is_key(term()) -> boolean().
is_key(K) ->
    try lattice_crypto:key_info(K) of
        #{} -> true
    catch error:_ -> false
    end.

-spec fmt(string(), [term()]) -> string().
fmt(F, A) ->
    lists:flatten(io_lib:format(F, A)).
