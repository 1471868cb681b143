%% The benchmark baseline for the OR-Set: riak_dt's riak_dt_orswot, re-implemented here in
%% plain Erlang with its data structure and algorithms, costs included: value/2 builds the
%% whole value to answer `{contains, E}' or `size', and merge folds over sets of keys
%% (merge_common_keys/merge_disjoint_keys), fetching from both sides and storing each key into
%% an accumulator.
%%
%% State: {Clock, Entries}. Clock is riak_dt_vclock's list of {Actor, Counter}: an increment
%% moves the actor to the head, as riak_dt_vclock:increment/2 does, and merge sorts. Entries
%% maps Element -> Dots, Dots a list of {Actor, Counter} (the element's "birth dots"), in one of
%% the two containers riak_dt used, told apart with is_list/1 as riak_dt's own functions do:
%% <ul>
%% <li>a `dict' ({@link new/0}): the released riak_dt (its `?DICT'), value/1 sorting the keys.
%% This is the baseline `make bench' times.</li>
%% <li>an `orddict' (`new(orddict)'): riak_dt's first ORSWOT. Every fetch and store is linear,
%% so an add costs from O(1) (a new first element) to O(n), and a merge of two 10k-element
%% sets O(n^2): seconds.</li>
%% </ul>
%% Add: increment the set clock at the actor, then merge the dot {Actor, Counter} into the
%% element's dots. Remove: erase the element; `{error, {precondition, {not_present, E}}}' if it
%% is not there. Merge: the clocks merged; an element on one side only is kept (with the dots
%% the other side has not seen) unless the other side's clock descends its dots; see
%% merge_common_keys/3 for elements on both sides. Not here: riak_dt's binary format, contexts
%% and deferred removes.
-module(lattice_bench_orswot).

-export([new/0, new/1, update/3, merge/2, value/1, value/2, equal/2]).

-type clock() :: [{term(), pos_integer()}].
-type entries() :: [{term(), clock()}] | dict:dict(term(), clock()).
-type orswot() :: {clock(), entries()}.
-export_type([orswot/0]).

-spec new() -> orswot().
new() ->
    new(dict).

-spec new(dict | orddict) -> orswot().
new(dict) -> {[], dict:new()};
new(orddict) -> {[], orddict:new()}.

%% The elements in term order.
-spec value(orswot()) -> [term()].
value({_Clock, Entries}) when is_list(Entries) ->
    orddict:fetch_keys(Entries);
value({_Clock, Entries}) ->
    lists:sort(dict:fetch_keys(Entries)).

%% As riak_dt: both queries go through the whole value.
-spec value(size | {contains, term()}, orswot()) -> non_neg_integer() | boolean().
value(size, Set) ->
    length(value(Set));
value({contains, E}, Set) ->
    lists:member(E, value(Set)).

-spec update(term(), term(), orswot()) -> {ok, orswot()} | {error, term()}.
update({add, E}, Actor, Set) ->
    {ok, add_elem(Actor, Set, E)};
update({add_all, Es}, Actor, Set) ->
    {ok, lists:foldl(fun(E, Acc) -> add_elem(Actor, Acc, E) end, Set, Es)};
update({remove, E}, _Actor, {Clock, Entries}) ->
    case find(E, Entries) of
        {ok, _} -> {ok, {Clock, erase(E, Entries)}};
        error -> {error, {precondition, {not_present, E}}}
    end;
update({remove_all, Es}, Actor, Set) ->
    %% One remove after another; the first failure is the result (so none is applied).
    apply_ops([{remove, E} || E <- Es], Actor, Set);
update({update, Ops}, Actor, Set) ->
    apply_ops(Ops, Actor, Set).

apply_ops([], _Actor, Set) ->
    {ok, Set};
apply_ops([Op | Rest], Actor, Set) ->
    case update(Op, Actor, Set) of
        {ok, Set2} -> apply_ops(Rest, Actor, Set2);
        Error -> Error
    end.

add_elem(Actor, {Clock, Entries}, E) ->
    Clock2 = clock_increment(Actor, Clock),
    Dot = [{Actor, clock_get(Actor, Clock2)}],
    Dots = case find(E, Entries) of
               {ok, Old} -> clock_merge([Old, Dot]);
               error -> Dot
           end,
    {Clock2, store(E, Dots, Entries)}.

-spec merge(orswot(), orswot()) -> orswot().
merge({ClockL, EntriesL}, {ClockR, EntriesR}) ->
    Clock = clock_merge([ClockL, ClockR]),
    KeysL = sets:from_list(keys(EntriesL)),
    KeysR = sets:from_list(keys(EntriesR)),
    Common = sets:intersection(KeysL, KeysR),
    OnlyL = sets:subtract(KeysL, Common),
    OnlyR = sets:subtract(KeysR, Common),
    Merged = merge_common_keys(Common, {ClockL, EntriesL}, {ClockR, EntriesR}),
    WithL = merge_disjoint_keys(OnlyL, EntriesL, ClockR, Merged),
    {Clock, merge_disjoint_keys(OnlyR, EntriesR, ClockL, WithL)}.

%% Elements on both sides: the dots both hold, and each side's other dots that the other side's
%% clock has not seen (a dot it has seen and lacks, it removed); gone if no dot is left.
%% (riak_dt's first ORSWOT merged the two dot lists as clocks here, which brings back a dot
%% that one side removed when the element is still present on both; riak_dt replaced that
%% with this logic, which is what is timed.)
merge_common_keys(Keys, {ClockL, EntriesL}, {ClockR, EntriesR}) ->
    sets:fold(fun(K, Acc) ->
                      DotsL = sets:from_list(fetch(K, EntriesL)),
                      DotsR = sets:from_list(fetch(K, EntriesR)),
                      Both = sets:intersection(DotsL, DotsR),
                      KeepL = clock_subtract_dots(sets:to_list(sets:subtract(DotsL, Both)), ClockR),
                      KeepR = clock_subtract_dots(sets:to_list(sets:subtract(DotsR, Both)), ClockL),
                      case clock_merge([sets:to_list(Both), KeepL, KeepR]) of
                          [] -> erase(K, Acc);
                          Dots -> store(K, Dots, Acc)
                      end
              end, empty_like(EntriesL), Keys).

%% Elements on one side: dropped if the other side's clock has seen all their dots (it removed
%% them), else kept with the dots it has not seen.
merge_disjoint_keys(Keys, Entries, OtherClock, Acc0) ->
    sets:fold(fun(K, Acc) ->
                      Dots = fetch(K, Entries),
                      case clock_descends(OtherClock, Dots) of
                          true -> Acc;
                          false -> store(K, clock_subtract_dots(Dots, OtherClock), Acc)
                      end
              end, Acc0, Keys).

-spec equal(orswot(), orswot()) -> boolean().
equal({ClockA, EntriesA}, {ClockB, EntriesB}) ->
    Sorted = fun(Es) -> [{K, lists:sort(Dots)} || {K, Dots} <- lists:sort(to_list(Es))] end,
    lists:sort(ClockA) =:= lists:sort(ClockB) andalso Sorted(EntriesA) == Sorted(EntriesB).

%% ---- the entries: an orddict (a list) or a dict ---------------------------------------------

empty_like(Entries) when is_list(Entries) -> orddict:new();
empty_like(_) -> dict:new().

find(K, Entries) when is_list(Entries) -> orddict:find(K, Entries);
find(K, Entries) -> dict:find(K, Entries).

fetch(K, Entries) when is_list(Entries) -> orddict:fetch(K, Entries);
fetch(K, Entries) -> dict:fetch(K, Entries).

store(K, V, Entries) when is_list(Entries) -> orddict:store(K, V, Entries);
store(K, V, Entries) -> dict:store(K, V, Entries).

erase(K, Entries) when is_list(Entries) -> orddict:erase(K, Entries);
erase(K, Entries) -> dict:erase(K, Entries).

keys(Entries) when is_list(Entries) -> orddict:fetch_keys(Entries);
keys(Entries) -> dict:fetch_keys(Entries).

to_list(Entries) when is_list(Entries) -> Entries;
to_list(Entries) -> dict:to_list(Entries).

%% ---- the clock, as riak_dt_vclock ---------------------------------------------------------------

clock_get(Actor, Clock) ->
    case lists:keyfind(Actor, 1, Clock) of
        {_, N} -> N;
        false -> 0
    end.

clock_increment(Actor, Clock) ->
    case lists:keytake(Actor, 1, Clock) of
        {value, {_, N}, Rest} -> [{Actor, N + 1} | Rest];
        false -> [{Actor, 1} | Clock]
    end.

%% Every entry of B is covered by A.
clock_descends(_, []) ->
    true;
clock_descends(A, [{Actor, NB} | Rest]) ->
    case lists:keyfind(Actor, 1, A) of
        {_, NA} when NA >= NB -> clock_descends(A, Rest);
        _ -> false
    end.

%% The dots that Clock has not seen, sorted.
clock_subtract_dots(Dots, Clock) ->
    lists:sort([{Actor, N} || {Actor, N} <- Dots, clock_get(Actor, Clock) < N]).

%% The pointwise maximum of a list of clocks, each sorted by actor first.
clock_merge([Clock]) ->
    Clock;
clock_merge([First | Rest]) ->
    lists:foldl(fun(C, Acc) -> merge_sorted(lists:keysort(1, C), Acc, []) end,
                lists:keysort(1, First), Rest).

merge_sorted([], B, Acc) -> lists:reverse(Acc, B);
merge_sorted(A, [], Acc) -> lists:reverse(Acc, A);
merge_sorted([{XA, _} = EA | RA], [{XB, _} | _] = B, Acc) when XA < XB ->
    merge_sorted(RA, B, [EA | Acc]);
merge_sorted([{XA, _} | _] = A, [{XB, _} = EB | RB], Acc) when XA > XB ->
    merge_sorted(A, RB, [EB | Acc]);
merge_sorted([{X, NA} | RA], [{_, NB} | RB], Acc) ->
    merge_sorted(RA, RB, [{X, max(NA, NB)} | Acc]).
