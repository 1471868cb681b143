%% A plain Erlang add-wins observed-remove set (OR-Set): the reference for lattice_orset in
%% properties (lattice_convergence's mirror mode).
%%
%% Written with tombstones, not dots and a causal context, so that it checks the C dot kernel
%% independently. The state is {Adds, Removed}: Adds a set of {E, Tag}, Removed a set of Tag,
%% where a tag {Actor, Seq} names one add. An element is in the value when some tag of it is
%% live (in Adds, not in Removed). Merge, and so the application of a delta, is the union of
%% both sets; a delta is a state.
%%
%% Tags are unique across the system: an actor's Seq is 1 + the greatest Seq of its own tags
%% that the replica holds, and only that actor mints tags with its name (its own replica
%% always holds all of them, so it never reuses one, however much it learned from others).
%%
%% Operations (any term as actor; elements are told apart with =:=, so 1 and 1.0 are two):
%% <ul>
%% <li>`{add, E}': a new tag for E; the tags of E the replica sees live are removed (an add
%% supersedes the element's older observed tags, as Almeida's delta AWORSet does). The delta
%% holds exactly the new {E, Tag} and those removed tags.</li>
%% <li>`{add_all, Es}': the adds in sequence, one tag per distinct element.</li>
%% <li>`{remove, E}': `{error, {precondition, {not_present, E}}}' if E is not in the value;
%% else every live tag of E is removed (and only those: a concurrent add elsewhere wins).</li>
%% <li>`{remove_all, Es}': the error for the first absent element in list order, nothing
%% applied; else the removes of each. Presence is checked against the state before the
%% operation, so a repeated element is fine.</li>
%% </ul>
%% value/1 lists the elements in lattice_gset:sort_elements/1 order; value/2 answers
%% `{contains, E}' and `size'.
-module(lattice_orset_model).

-export([new/0, update/3, merge/2, value/1, value/2]).

new() ->
    {set([]), set([])}.

update({add, E}, Actor, S) ->
    update({add_all, [E]}, Actor, S);
update({add_all, Es}, Actor, S) when is_list(Es) ->
    {S2, Delta} = lists:foldl(fun(E, {Acc, D}) ->
                                      Tag = next_tag(Actor, Acc),
                                      DE = {set([{E, Tag}]), set(live_tags(E, Acc))},
                                      {merge(Acc, DE), merge(D, DE)}
                              end, {S, new()}, distinct(Es)),
    {ok, S2, Delta};
update({remove, E}, Actor, S) ->
    update({remove_all, [E]}, Actor, S);
update({remove_all, Es}, _Actor, S) when is_list(Es) ->
    Value = value(S),
    case [E || E <- Es, not lists:member(E, Value)] of
        [Absent | _] ->
            {error, {precondition, {not_present, Absent}}};
        [] ->
            Delta = {set([]), set(lists:append([live_tags(E, S) || E <- Es]))},
            {ok, merge(S, Delta), Delta}
    end.

merge({A1, R1}, {A2, R2}) ->
    {sets:union(A1, A2), sets:union(R1, R2)}.

value({Adds, Removed}) ->
    Live = [E || {E, Tag} <- sets:to_list(Adds), not sets:is_element(Tag, Removed)],
    lattice_gset:sort_elements(distinct(Live)).

value({contains, E}, S) -> lists:member(E, value(S));
value(size, S) -> length(value(S)).

%% ---- helpers ---------------------------------------------------------------------------------

live_tags(E, {Adds, Removed}) ->
    [Tag || {X, Tag} <- sets:to_list(Adds), X =:= E, not sets:is_element(Tag, Removed)].

next_tag(Actor, {Adds, Removed}) ->
    Seqs = [N || {_, {A, N}} <- sets:to_list(Adds), A =:= Actor]
        ++ [N || {A, N} <- sets:to_list(Removed), A =:= Actor],
    {Actor, lists:max([0 | Seqs]) + 1}.

%% Version 2 sets are maps: exact (=:=) membership, and equal sets are =:=.
set(List) -> sets:from_list(List, [{version, 2}]).

%% Distinct terms (=:=), in order of first appearance.
distinct(List) ->
    distinct(List, #{}, []).

distinct([X | Rest], Seen, Acc) when is_map_key(X, Seen) -> distinct(Rest, Seen, Acc);
distinct([X | Rest], Seen, Acc) -> distinct(Rest, Seen#{X => true}, [X | Acc]);
distinct([], _, Acc) -> lists:reverse(Acc).
