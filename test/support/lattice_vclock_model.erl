%% A plain Erlang vector clock, written the way riak_dt_vclock is (a list of {Actor, Counter}
%% searched with lists:keyfind): the reference for lattice_vclock in properties, and the
%% baseline it is measured against in `make bench`.
-module(lattice_vclock_model).

-export([new/0, from_list/1, increment/2, get/2, merge/2, compare/2, descends/2]).

new() -> [].

from_list(List) -> [{A, C} || {A, C} <- List, C > 0].

increment(Actor, Clock) ->
    case lists:keytake(Actor, 1, Clock) of
        {value, {Actor, C}, Rest} -> [{Actor, C + 1} | Rest];
        false -> [{Actor, 1} | Clock]
    end.

get(Actor, Clock) ->
    case lists:keyfind(Actor, 1, Clock) of
        {_, C} -> C;
        false -> 0
    end.

%% As riak_dt_vclock:merge/1: sort both, then a pointwise max.
merge(A, B) ->
    merge_sorted(lists:keysort(1, A), lists:keysort(1, B), []).

merge_sorted([], B, Acc) -> lists:reverse(Acc, B);
merge_sorted(A, [], Acc) -> lists:reverse(Acc, A);
merge_sorted([{X, CA} | RA], [{X, CB} | RB], Acc) -> merge_sorted(RA, RB, [{X, max(CA, CB)} | Acc]);
merge_sorted([{XA, _} = EA | RA], [{XB, _} | _] = B, Acc) when XA < XB -> merge_sorted(RA, B, [EA | Acc]);
merge_sorted(A, [EB | RB], Acc) -> merge_sorted(A, RB, [EB | Acc]).

%% As riak_dt_vclock:descends/2: every entry of B is covered in A.
descends(_, []) -> true;
descends(A, [{Actor, CB} | Rest]) ->
    case lists:keyfind(Actor, 1, A) of
        {_, CA} when CA >= CB -> descends(A, Rest);
        _ -> false
    end.

compare(A, B) ->
    case {descends(A, B), descends(B, A)} of
        {true, true} -> eq;
        {true, false} -> gt;
        {false, true} -> lt;
        {false, false} -> concurrent
    end.
