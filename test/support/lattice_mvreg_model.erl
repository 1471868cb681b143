%% A plain Erlang multi-value register: the reference for lattice_mvreg in properties
%% (lattice_convergence's mirror mode).
%%
%% Written with tombstones, as lattice_orset_model: the state is {Adds, Removed}, Adds a set of
%% {V, Tag}, Removed a set of Tag, a tag {Actor, Seq} naming one assign (Seq is 1 + the
%% greatest Seq of the actor's own tags in the replica; only that actor mints them). Merge is
%% the union of both sets; a delta is a state.
%%
%% `{assign, V}' (any term as actor): a new tag; every tag the replica sees live is removed;
%% {V, Tag} is added. The delta holds exactly those. Assigns that did not see each other are
%% all kept. value/1: the distinct values of the live tags (=:=), sorted with
%% lattice_gset:sort_elements/1; [] for a register never assigned.
-module(lattice_mvreg_model).

-export([new/0, update/3, merge/2, value/1]).

new() ->
    {set([]), set([])}.

update({assign, V}, Actor, {Adds, Removed} = S) ->
    Live = [Tag || {_, Tag} <- sets:to_list(Adds), not sets:is_element(Tag, Removed)],
    Delta = {set([{V, next_tag(Actor, S)}]), set(Live)},
    {ok, merge(S, Delta), Delta}.

merge({A1, R1}, {A2, R2}) ->
    {sets:union(A1, A2), sets:union(R1, R2)}.

value({Adds, Removed}) ->
    Live = [V || {V, Tag} <- sets:to_list(Adds), not sets:is_element(Tag, Removed)],
    lattice_gset:sort_elements(maps:keys(maps:from_list([{V, true} || V <- Live]))).

next_tag(Actor, {Adds, Removed}) ->
    Seqs = [N || {_, {A, N}} <- sets:to_list(Adds), A =:= Actor]
        ++ [N || {A, N} <- sets:to_list(Removed), A =:= Actor],
    {Actor, lists:max([0 | Seqs]) + 1}.

%% Version 2 sets are maps: exact (=:=) membership, and equal sets are =:=.
set(List) -> sets:from_list(List, [{version, 2}]).
