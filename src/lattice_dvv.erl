%% @doc Dotted version vectors: a causal context made of a version vector plus the dots seen
%% outside it (the "causal context" of Almeida et al.'s delta CRDTs; the OR-Set and the
%% MV-register use it).
%%
%% A dot `{Actor, N}' (N >= 1) names the N-th event of an actor. A context is a set of dots,
%% stored as, per actor, a base B (all dots 1..B) and the dots above B + 1 seen out of order.
%% The stored form is always compact — a dot at B + 1 extends the base, and so do the dots
%% that then follow on — because equal contexts must be equal bytes. Compaction is therefore
%% part of every operation rather than a separate call.
%%
%% Errors as in {@link lattice_vclock}: `badarg' for wrong types, `{error, {bad_dvv, Reason}}'
%% for a binary that is not a valid context.
-module(lattice_dvv).

-export([new/0, from_list/1, to_list/1, add/2, event/2, contains/2, counter/2, merge/1,
         merge/2, descends/2, validate/1]).

-type dvv() :: binary().
-type actor() :: term().
-type dot() :: {actor(), pos_integer()}.
-type error() :: {error, {bad_dvv, atom()}}.
-export_type([dvv/0, dot/0, error/0]).

-include("lattice_types.hrl").

%% @doc The empty context.
-spec new() -> dvv().
new() ->
    <<?LT_TYPE_DVV, ?LT_FORMAT_V1, 0>>.

%% @doc A context from a version vector `[{Actor, Base}]' (dots 1..Base) and extra dots
%% `[{Actor, N}]', in any order and overlapping as they please.
-spec from_list({[{actor(), non_neg_integer()}], [dot()]}) -> dvv().
from_list({VV, Dots}) ->
    lattice_nif:dvv_from_list(VV, Dots);
from_list(Other) ->
    erlang:error(badarg, [Other]).

%% @doc `{VersionVector, Dots}': the compact form, actors in Erlang term order.
-spec to_list(dvv()) -> {[{actor(), pos_integer()}], [dot()]} | error().
to_list(DVV) ->
    case lattice_nif:dvv_to_list(DVV) of
        {error, _} = Error -> Error;
        {VV, Dots} -> {lists:sort(VV), lists:sort(Dots)}
    end.

%% @doc The context with one more dot.
-spec add(dot(), dvv()) -> dvv() | error().
add({Actor, N}, DVV) ->
    lattice_nif:dvv_add(Actor, N, DVV);
add(Dot, DVV) ->
    erlang:error(badarg, [Dot, DVV]).

%% @doc A new event of `Actor': its next dot (one above the highest it has) and the context
%% with that dot added.
-spec event(actor(), dvv()) -> {dot(), dvv()} | error() | {error, counter_overflow}.
event(Actor, DVV) ->
    case lattice_nif:dvv_event(Actor, DVV) of
        {N, DVV2} when is_integer(N) -> {{Actor, N}, DVV2};
        Error -> Error
    end.

-spec contains(dot(), dvv()) -> boolean() | error().
contains({Actor, N}, DVV) ->
    lattice_nif:dvv_contains(Actor, N, DVV);
contains(Dot, DVV) ->
    erlang:error(badarg, [Dot, DVV]).

%% @doc The highest counter among `Actor''s dots (0 when it has none).
-spec counter(actor(), dvv()) -> non_neg_integer() | error().
counter(Actor, DVV) ->
    lattice_nif:dvv_max(Actor, DVV).

%% @doc The context holding the dots of both.
-spec merge(dvv(), dvv()) -> dvv() | error().
merge(A, B) ->
    lattice_nif:dvv_merge(A, B).

-spec merge([dvv()]) -> dvv() | error().
merge(List) ->
    lists:foldl(fun(D, {error, _} = Acc) when is_binary(D) -> Acc;
                   (D, Acc) -> merge(Acc, D)
                end, new(), List).

%% @doc Whether `A' holds every dot of `B'.
-spec descends(dvv(), dvv()) -> boolean() | error().
descends(A, B) ->
    lattice_nif:dvv_descends(A, B).

%% @doc Checks every rule of the format, including canonical actors and ids.
-spec validate(dvv()) -> ok | error().
validate(DVV) ->
    lattice_nif:dvv_validate(DVV).
