%% A plain Erlang add-wins map with last-writer-wins values (as delta_crdt's AWLWWMap): the
%% reference for lattice_lwwmap in properties (lattice_convergence's mirror mode).
%%
%% Written with tombstones, as lattice_orset_model: the state is {Entries, Removed}, Entries a
%% set of {K, Tag, Ts, V}, Removed a set of Tag, a tag {Actor, Seq} naming one put (Seq is 1 +
%% the greatest Seq of the actor's own tags in the replica; only that actor mints them). An
%% entry is live when its tag is not in Removed. Merge is the union of both sets; a delta is a
%% state.
%%
%% Operations (any term as actor and key; keys told apart with =:=):
%% <ul>
%% <li>`{put, K, V, Ts}': a new tag; the key's live tags are removed; {K, Tag, Ts, V} is added.
%% The delta holds exactly those. Ts is used as given (no check that it is newer).</li>
%% <li>`{put, K, V}': the real type stamps it with the node's hybrid logical clock, which a
%% model cannot predict, so the model refuses it (error `{model_needs_timestamp, Op}'):
%% properties use `{put, K, V, Ts}'.</li>
%% <li>`{remove, K}': `{error, {precondition, {not_present, K}}}' if K has no live entry; else
%% its live tags are removed (a concurrent put elsewhere wins).</li>
%% </ul>
%% value/1 is a map K => V, V the value of K's live entry with the greatest
%% {Ts, lattice_canon:encode(Actor), Seq}, Actor and Seq from the entry's tag. That is the
%% real type's order: timestamp, then the dot's actor in canonical byte order (binaries
%% compared bytewise, not Erlang term order: `b' comes before `aa'), then its counter.
%% value/2 answers `{get, K}' ({ok, V} | {error, not_found}), `size', and `keys' (sorted with
%% lattice_gset:sort_elements/1).
-module(lattice_lwwmap_model).

-export([new/0, update/3, merge/2, value/1, value/2]).

new() ->
    {set([]), set([])}.

update({put, K, V, Ts}, Actor, S) ->
    Delta = {set([{K, next_tag(Actor, S), Ts, V}]), set(live_tags(K, S))},
    {ok, merge(S, Delta), Delta};
update({put, _, _} = Op, _Actor, _S) ->
    erlang:error({model_needs_timestamp, Op});
update({remove, K}, _Actor, S) ->
    case live_tags(K, S) of
        [] ->
            {error, {precondition, {not_present, K}}};
        Tags ->
            Delta = {set([]), set(Tags)},
            {ok, merge(S, Delta), Delta}
    end.

merge({E1, R1}, {E2, R2}) ->
    {sets:union(E1, E2), sets:union(R1, R2)}.

value(S) ->
    Ranked = lists:sort([{{Ts, lattice_canon:encode(Actor), Seq}, K, V}
                         || {K, {Actor, Seq}, Ts, V} <- live(S)]),
    %% Sorted by rank, so the last entry of each key wins in maps:from_list/1.
    maps:from_list([{K, V} || {_, K, V} <- Ranked]).

value({get, K}, S) ->
    case value(S) of
        #{K := V} -> {ok, V};
        _ -> {error, not_found}
    end;
value(size, S) -> map_size(value(S));
value(keys, S) -> lattice_gset:sort_elements(maps:keys(value(S))).

%% ---- helpers ---------------------------------------------------------------------------------

live({Entries, Removed}) ->
    [Entry || {_, Tag, _, _} = Entry <- sets:to_list(Entries), not sets:is_element(Tag, Removed)].

live_tags(K, S) ->
    [Tag || {X, Tag, _, _} <- live(S), X =:= K].

next_tag(Actor, {Entries, Removed}) ->
    Seqs = [N || {_, {A, N}, _, _} <- sets:to_list(Entries), A =:= Actor]
        ++ [N || {A, N} <- sets:to_list(Removed), A =:= Actor],
    {Actor, lists:max([0 | Seqs]) + 1}.

%% Version 2 sets are maps: exact (=:=) membership, and equal sets are =:=.
set(List) -> sets:from_list(List, [{version, 2}]).
