%% @doc A store key's whole entry as a pure, canonical term, and its merge (docs/STORE.md,
%% "Delete: observed-remove" and "The entry merge").
%%
%% An entry is `#{Type => {Presence, State, Tomb}}', one element per type the key has had at
%% any replica (usually one; more after concurrent creates with different types):
%% <ul>
%% <li>`Presence': an OR-Set (`lattice_orset' binary) holding `present' while a create is not
%% removed by a delete that saw it;</li>
%% <li>`State': the type's state binary, everything the replica has seen;</li>
%% <li>`Tomb': what a delete removed, in the type's terms: a state of the type for counters,
%% G-Sets and 2P-Sets (the state the deleters saw), the HLC delete timestamp for LWW-Register
%% and LWW-Element-Set, `none' for the dot-kernel types (whose delete is in their causal
%% context).</li>
%% </ul>
%% {@link merge/2} joins two entries type by type (the OR-Set join of presences, the type's
%% join of states, the join of tombs), so it is commutative, associative and idempotent; it
%% also joins each tomb into its state, so a tomb is always below its state.
%%
%% The in-place store (`lattice_store') keeps the same parts with the state in an in-place
%% object, and calls the per-type functions here (`delete_state/3', `beyond/3',
%% `visible_value/3') so the two agree.
-module(lattice_store_entry).

-export([types/0, module/1, kind/1, is_type/1, new/0, from_delta/2, create/3, update/4, delete/2,
         merge/2, visible/1, value/1, conflicts/1, validate/1]).
-export([new_tomb/1, merge_tomb/3, delete_state/3, beyond/3, visible_value/3,
         tomb_elements/2, empty_context/1, presence_new/0, presence_add/2,
         presence_remove/2, is_present/1]).

-type type() :: g_counter | pn_counter | g_set | two_p_set | or_set | lww_register
              | lww_set | lww_map | mv_register.
-type tomb() :: binary() | non_neg_integer() | none.
-type entry() :: #{type() => {binary(), binary(), tomb()}}.
-export_type([type/0, tomb/0, entry/0]).

%% The types in the order of their type tags (include/lattice_types.hrl): the order that
%% decides which type a key shows when replicas created it with different types.
-define(TYPES, [{g_counter, lattice_gcounter, state},
                {pn_counter, lattice_pncounter, state},
                {g_set, lattice_gset, state},
                {two_p_set, lattice_twopset, state},
                {or_set, lattice_orset, dot},
                {lww_register, lattice_lwwreg, ts},
                {lww_set, lattice_lwwset, ts},
                {lww_map, lattice_lwwmap, dot},
                {mv_register, lattice_mvreg, dot}]).

-define(PRESENT, present).

%% @doc The type names, in tag order.
-spec types() -> [type()].
types() ->
    [g_counter, pn_counter, g_set, two_p_set, or_set, lww_register, lww_set, lww_map,
     mv_register].

-spec is_type(term()) -> boolean().
is_type(T) -> lists:keymember(T, 1, ?TYPES).

%% @doc The lattice module of a type name. (Clauses, not a search of ?TYPES: every merge asks.)
-spec module(type()) -> module().
module(g_counter) -> lattice_gcounter;
module(pn_counter) -> lattice_pncounter;
module(g_set) -> lattice_gset;
module(two_p_set) -> lattice_twopset;
module(or_set) -> lattice_orset;
module(lww_register) -> lattice_lwwreg;
module(lww_set) -> lattice_lwwset;
module(lww_map) -> lattice_lwwmap;
module(mv_register) -> lattice_mvreg.

%% @doc How a type records a delete: `state' (a tomb state), `ts' (a delete timestamp) or
%% `dot' (its causal context).
-spec kind(type()) -> state | ts | dot.
kind(T) ->
    {T, _, K} = lists:keyfind(T, 1, ?TYPES),
    K.

%% @doc The entry of a key no replica has created.
-spec new() -> entry().
new() -> #{}.

%% @doc The entry that a write's delta is, to merge at a peer: the delta as state, with no
%% presence and no tomb.
-spec from_delta(type(), binary()) -> entry().
from_delta(Type, Delta) ->
    #{Type => {presence_new(), Delta, new_tomb(Type)}}.

%% @doc Creates the key with `Type' by `Actor': `{ok, Entry}' (unchanged if the key shows that
%% type and is present), or `{error, {wrong_type, T}}' when the key shows another type.
-spec create(type(), term(), entry()) -> {ok, entry()} | {error, {wrong_type, type()}}.
create(Type, Actor, Entry) ->
    case visible(Entry) of
        [T | _] when T =/= Type ->
            {error, {wrong_type, T}};
        _ ->
            {P, S, Tb} = maps:get(Type, Entry, {presence_new(), (module(Type)):new(),
                                                new_tomb(Type)}),
            {ok, Entry#{Type => {presence_add(Actor, P), S, Tb}}}
    end.

%% @doc Applies the type's operation to the type the key shows: `{ok, Entry, Delta}', or
%% `{error, not_found}', `{error, {wrong_type, T}}' (the key shows T, and `Type' was given), or
%% the type's own error.
-spec update(type(), term(), term(), entry()) -> {ok, entry(), binary()} | {error, term()}.
update(Type, Op, Actor, Entry) ->
    case visible(Entry) of
        [] -> {error, not_found};
        [Type | _] ->
            {P, S, Tb} = maps:get(Type, Entry),
            case (module(Type)):update(Op, Actor, S) of
                {ok, S2, Delta} -> {ok, Entry#{Type => {P, S2, Tb}}, Delta};
                {error, _} = Error -> Error
            end;
        [T | _] -> {error, {wrong_type, T}}
    end.

%% @doc Observed-remove delete: takes away the presence this replica has seen and everything
%% the states hold, for every type of the entry. `{error, not_found}' if the key shows no type.
-spec delete(term(), entry()) -> {ok, entry()} | {error, not_found}.
delete(Actor, Entry) ->
    case visible(Entry) of
        [] -> {error, not_found};
        _ ->
            {ok, maps:map(fun(T, {P, S, Tb}) ->
                              {S2, Tb2} = delete_state(T, S, Tb),
                              {presence_remove(Actor, P), S2, Tb2}
                          end, Entry)}
    end.

%% @doc The join of two entries: type by type, presence, state and tomb each joined, and each
%% tomb joined into its state.
-spec merge(entry(), entry()) -> entry().
merge(A, B) ->
    Joined = maps:merge_with(fun(T, {P1, S1, T1}, {P2, S2, T2}) ->
                                 {lattice_orset:merge(P1, P2), merge_state(T, S1, S2),
                                  merge_tomb(T, T1, T2)}
                             end, A, B),
    maps:map(fun(T, {P, S, Tb}) -> {P, absorb_tomb(T, S, Tb), Tb} end, Joined).

merge_state(T, S1, S2) ->
    case (module(T)):merge(S1, S2) of
        Bin when is_binary(Bin) -> Bin;
        {error, _} = Error -> erlang:error(Error)
    end.

absorb_tomb(T, S, Tb) ->
    case kind(T) of
        state -> merge_state(T, S, Tb);
        _ -> S
    end.

%% @doc The types the key shows, in tag order: each type whose presence holds `present' or
%% whose state holds a write its tomb does not (a write concurrent with a delete). The first
%% is the key's type; the others are a conflict, reported by {@link conflicts/1}.
-spec visible(entry()) -> [type()].
visible(Entry) ->
    [T || T <- types(), {P, S, Tb} <- [maps:get(T, Entry, none)],
          is_present(P) orelse beyond(T, S, Tb)].

%% @doc The types that lost to the key's type (concurrent creates with different types).
-spec conflicts(entry()) -> [type()].
conflicts(Entry) ->
    case visible(Entry) of
        [] -> [];
        [_ | Losers] -> Losers
    end.

%% @doc The key's type and value, or `{error, not_found}'.
-spec value(entry()) -> {ok, type(), term()} | {error, not_found}.
value(Entry) ->
    case visible(Entry) of
        [] -> {error, not_found};
        [T | _] ->
            {_, S, Tb} = maps:get(T, Entry),
            {ok, T, visible_value(T, S, Tb)}
    end.

%% @doc Checks an entry from outside: known types, valid presences, states and tombs.
-spec validate(term()) -> ok | {error, {bad_entry, term()}}.
validate(Entry) when is_map(Entry) ->
    try
        maps:foreach(fun(T, {P, S, Tb}) ->
                             true = is_type(T),
                             ok = lattice_orset:validate(P),
                             M = module(T),
                             ok = M:validate(S),
                             ok = case {kind(T), Tb} of
                                      {state, Bin} when is_binary(Bin) -> M:validate(Bin);
                                      {ts, Ts} when is_integer(Ts), Ts >= 0,
                                                    Ts < 1 bsl 64 -> ok;
                                      {dot, none} -> ok
                                  end,
                             case T of
                                 lww_set -> add = element(2, M:to_term(S));
                                 _ -> ok
                             end
                     end, Entry)
    of
        ok -> ok
    catch
        _:_ -> {error, {bad_entry, invalid}}
    end;
validate(_) ->
    {error, {bad_entry, not_a_map}}.

%% ---- per type: tombs, deletes, visibility -------------------------------------------------

%% @doc The tomb of a type before any delete.
-spec new_tomb(type()) -> tomb().
new_tomb(T) ->
    case kind(T) of
        state -> (module(T)):new();
        ts -> 0;
        dot -> none
    end.

-spec merge_tomb(type(), tomb(), tomb()) -> tomb().
merge_tomb(T, A, B) ->
    case kind(T) of
        state -> merge_state(T, A, B);
        ts -> max(A, B);
        dot -> none
    end.

%% @doc What a delete does to a state and its tomb: `{State2, Tomb2}'. Counters and G/2P-Sets
%% put the state into the tomb; LWW types move the delete timestamp past every timestamp the
%% state holds and past the node's clock; dot-kernel types keep only their causal context
%% (every dot seen is removed).
-spec delete_state(type(), binary(), tomb()) -> {binary(), tomb()}.
delete_state(T, S, Tb) ->
    case kind(T) of
        state -> {S, merge_state(T, Tb, S)};
        ts -> {S, lists:max([Tb, lattice_hlc:now(), max_ts(T, S)])};
        dot -> {empty_context(S), none}
    end.

max_ts(lww_register, S) ->
    case lattice_lwwreg:value(timestamp, S) of
        Ts when is_integer(Ts) -> Ts;
        _ -> 0
    end;
max_ts(lww_set, S) ->
    {lwwset, _, Elems} = lattice_lwwset:to_term(S),
    lists:max([0 | [max(A, R) || {_, A, R} <- Elems]]).

%% @doc Whether the state holds a write the tomb does not: a write concurrent with a delete.
-spec beyond(type(), binary(), tomb()) -> boolean().
beyond(T, S, Tb) ->
    case kind(T) of
        %% The tomb is below the state, so they differ only by writes it has not seen.
        state -> S =/= Tb;
        dot -> (module(T)):value(size, S) > 0;
        ts when Tb =:= 0 -> S =/= (module(T)):new();
        ts -> max_ts(T, S) > Tb
    end.

%% @doc The value the key shows for a type's state and tomb.
-spec visible_value(type(), binary(), tomb()) -> term().
visible_value(T, S, Tb) when T =:= g_counter; T =:= pn_counter ->
    M = module(T),
    M:value(S) - M:value(Tb);
visible_value(T, S, Tb) when T =:= g_set; T =:= two_p_set ->
    Removed = tomb_elements(T, Tb),
    [E || E <- (module(T)):value(S), not is_map_key(E, Removed)];
visible_value(lww_register, S, Td) ->
    case lattice_lwwreg:value(timestamp, S) of
        Ts when is_integer(Ts), Ts > Td -> lattice_lwwreg:value(S);
        _ -> undefined
    end;
visible_value(lww_set, S, 0) ->
    lattice_lwwset:value(S);
visible_value(lww_set, S, Td) ->
    {lwwset, _, Elems} = lattice_lwwset:to_term(S),
    Set = [E || {E, A, R} <- Elems, A > Td, A >= R],
    lattice_gset:sort_elements(Set);
visible_value(T, S, none) ->
    (module(T)):value(S).

%% @doc The elements a G-Set's or 2P-Set's tomb holds, as a map of `E => true'.
-spec tomb_elements(g_set | two_p_set, binary()) -> #{term() => true}.
tomb_elements(g_set, Tb) ->
    maps:from_keys(lattice_gset:value(Tb), true);
tomb_elements(two_p_set, Tb) ->
    {twopset, #{added := A, removed := R}} = lattice_twopset:to_term(Tb),
    maps:from_keys(A ++ R, true).

%% @doc A dot-kernel state with the same causal context and no entries: joined into a state, it
%% removes every dot the context has seen and the state does not hold anew.
-spec empty_context(binary()) -> binary().
empty_context(<<Tag, Version, Rest/binary>>) ->
    {Na, R1} = varint(Rest),
    R2 = skip_actors(Na, R1),
    CtxLen = byte_size(Rest) - byte_size(R2),
    <<Ctx:CtxLen/binary, _/binary>> = Rest,
    <<Tag, Version, Ctx/binary, 0>>.

skip_actors(0, R) -> R;
skip_actors(N, <<_Id:64, R0/binary>>) ->
    {Len, R1} = varint(R0),
    <<_:Len/binary, R2/binary>> = R1,
    {_Base, R3} = varint(R2),
    {K, R4} = varint(R3),
    skip_actors(N - 1, skip_varints(K, R4)).

skip_varints(0, R) -> R;
skip_varints(K, R) ->
    {_, R1} = varint(R),
    skip_varints(K - 1, R1).

varint(Bin) -> varint(Bin, 0, 0).
varint(<<1:1, V:7, R/binary>>, Shift, Acc) -> varint(R, Shift + 7, Acc bor (V bsl Shift));
varint(<<0:1, V:7, R/binary>>, Shift, Acc) -> {Acc bor (V bsl Shift), R}.

%% ---- presence -----------------------------------------------------------------------------

-spec presence_new() -> binary().
presence_new() -> lattice_orset:new().

-spec presence_add(term(), binary()) -> binary().
presence_add(Actor, P) ->
    case is_present(P) of
        true -> P;
        false ->
            {ok, P2, _} = lattice_orset:update({add, ?PRESENT}, Actor, P),
            P2
    end.

-spec presence_remove(term(), binary()) -> binary().
presence_remove(Actor, P) ->
    case is_present(P) of
        true ->
            {ok, P2, _} = lattice_orset:update({remove, ?PRESENT}, Actor, P),
            P2;
        false -> P
    end.

-spec is_present(binary()) -> boolean().
is_present(P) -> lattice_orset:value({contains, ?PRESENT}, P).
