%% @doc Vector clocks as canonical binaries (docs/FORMAT.md, "Vector clock").
%%
%% A clock maps actors (any data term, see {@link lattice_canon}) to counters; an absent
%% actor has counter 0. The clock is a binary: equal clocks are byte-identical on every node,
%% so `=:=' is equality, and it can be stored, sent and hashed as it is. All work is done in
%% C; large clocks never hold a scheduler (compare yields, other calls move to a dirty
%% scheduler).
%%
%% Errors: a wrong type is `badarg'; a binary that is not a valid clock gives
%% `{error, {bad_vclock, Reason}}'. Every call checks the clock's structure (bounds, order,
%% counters); {@link validate/1} also checks each actor's canonical bytes and id, and is the
%% check to run on clocks received from elsewhere.
-module(lattice_vclock).

-export([new/0, from_list/1, to_list/1, increment/2, increment/3, get/2, merge/1, merge/2,
         compare/2, descends/2, dominates/2, prune/2, size/1, validate/1]).

%% The type tag of a vector clock binary (docs/FORMAT.md).
-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_VCLOCK).

-type vclock() :: binary().
-type actor() :: term().
-type counter() :: non_neg_integer().
-type order() :: eq | lt | gt | concurrent.
-type error() :: {error, {bad_vclock, atom()}}.
-export_type([vclock/0, actor/0, counter/0, order/0, error/0]).

%% @doc The empty clock.
-spec new() -> vclock().
new() ->
    <<?TAG, ?LT_FORMAT_V1, 0>>.

%% @doc A clock from `[{Actor, Counter}]'. Counters of 0 are left out; an actor given twice,
%% a negative counter or one of 2^64 or more is `badarg'.
-spec from_list([{actor(), counter()}]) -> vclock().
from_list(List) ->
    lattice_nif:clock_from_list(?TAG, List).

%% @doc The clock's entries, sorted by actor in Erlang term order.
-spec to_list(vclock()) -> [{actor(), pos_integer()}] | error().
to_list(Clock) ->
    case lattice_nif:clock_to_list(?TAG, Clock) of
        List when is_list(List) -> lists:sort(List);
        Error -> Error
    end.

%% @doc Adds 1 to `Actor''s counter.
-spec increment(actor(), vclock()) -> vclock() | error() | {error, counter_overflow}.
increment(Actor, Clock) ->
    lattice_nif:clock_increment(?TAG, Actor, 1, Clock).

%% @doc Adds `By' (a positive integer) to `Actor''s counter.
-spec increment(actor(), pos_integer(), vclock()) ->
          vclock() | error() | {error, counter_overflow}.
increment(Actor, By, Clock) ->
    lattice_nif:clock_increment(?TAG, Actor, By, Clock).

%% @doc `Actor''s counter (0 when absent).
-spec get(actor(), vclock()) -> counter() | error().
get(Actor, Clock) ->
    lattice_nif:clock_get(?TAG, Actor, Clock).

%% @doc The least clock that descends from both: the pointwise maximum.
-spec merge(vclock(), vclock()) -> vclock() | error().
merge(A, B) ->
    lattice_nif:clock_merge(?TAG, A, B).

%% @doc The merge of a list of clocks (`new()' for the empty list).
-spec merge([vclock()]) -> vclock() | error().
merge([]) ->
    new();
merge([First | Rest]) ->
    merge_all(First, Rest).

merge_all(Acc, []) ->
    Acc;
merge_all(Acc, [Clock | Rest]) ->
    case merge(Acc, Clock) of
        {error, _} = Error -> Error;
        Merged -> merge_all(Merged, Rest)
    end.

%% @doc How `A' stands to `B': `eq', `lt' (B has seen all A has, and more), `gt', or
%% `concurrent'.
-spec compare(vclock(), vclock()) -> order() | error().
compare(A, B) ->
    lattice_nif:vclock_compare(A, B).

%% @doc Whether `A' has seen everything `B' has (`A >= B').
-spec descends(vclock(), vclock()) -> boolean() | error().
descends(A, B) ->
    case compare(A, B) of
        gt -> true;
        eq -> true;
        {error, _} = Error -> Error;
        _ -> false
    end.

%% @doc Whether `A' has seen everything `B' has and more (`A > B').
-spec dominates(vclock(), vclock()) -> boolean() | error().
dominates(A, B) ->
    case compare(A, B) of
        gt -> true;
        {error, _} = Error -> Error;
        _ -> false
    end.

%% @doc The clock without the given actors' entries: for actors retired from the cluster,
%% once no replica will send their entries again (a pruned entry that comes back through a
%% merge is simply present again).
-spec prune([actor()], vclock()) -> vclock() | error().
prune(Actors, Clock) ->
    lattice_nif:vclock_prune(Actors, Clock).

%% @doc The number of actors with a non-zero counter.
-spec size(vclock()) -> non_neg_integer() | error().
size(Clock) ->
    lattice_nif:clock_size(?TAG, Clock).

%% @doc Checks every rule of the format, including that each actor is canonical and each id
%% is its actor's hash. Run it on clocks that come from outside.
-spec validate(vclock()) -> ok | error().
validate(Clock) ->
    lattice_nif:clock_validate(?TAG, Clock).
