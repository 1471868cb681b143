%% A plain Erlang causal context: the set of dots itself. The reference for lattice_dvv.
-module(lattice_dvv_model).

-export([from_list/1, add/2, contains/2, merge/2, descends/2, to_list/1, counter/2]).

from_list({VV, Dots}) ->
    lists:foldl(fun add/2,
                sets:from_list([{A, N} || {A, Base} <- VV, N <- lists:seq(1, Base)]),
                Dots).

add(Dot, Set) -> sets:add_element(Dot, Set).

contains(Dot, Set) -> sets:is_element(Dot, Set).

merge(A, B) -> sets:union(A, B).

descends(A, B) -> sets:is_subset(B, A).

counter(Actor, Set) ->
    lists:max([0 | [N || {A, N} <- sets:to_list(Set), A =:= Actor]]).

%% The compact form: per actor the base (longest run from 1) and the dots above it.
to_list(Set) ->
    Actors = lists:usort([A || {A, _} <- sets:to_list(Set)]),
    lists:foldr(
      fun(Actor, {VV, Dots}) ->
              Ns = lists:sort([N || {A, N} <- sets:to_list(Set), A =:= Actor]),
              Base = run_from_one(Ns, 0),
              Extra = [{Actor, N} || N <- Ns, N > Base],
              {[{Actor, Base} || Base > 0] ++ VV, Extra ++ Dots}
      end, {[], []}, Actors).

run_from_one([N | Rest], Base) when N =:= Base + 1 -> run_from_one(Rest, N);
run_from_one(_, Base) -> Base.
