%% @doc Grow-only set (G-Set) of data terms (docs/FORMAT.md, "Sets"). The state holds each
%% element's canonical bytes and their id; merge is the union, so elements are only ever added.
%%
%% Operations for {@link update/3}: `{add, E}' and `{add_all, [E]}', E any data term (a pid,
%% port, reference or fun is `badarg'). The actor is not used: any term will do. The delta of
%% an update is a G-Set holding the elements the operation named (whether or not they were
%% new), so `merge(State, Delta) =:= State2'. Queries for {@link value/2}: `{contains, E}' (a
%% boolean) and `size' (the number of elements).
%%
%% {@link value/1} lists the elements in Erlang term order; elements that compare equal
%% without being the same term (`1' and `1.0') come in the order of their canonical bytes
%% (see {@link sort_elements/1}), so equal states give equal lists.
-module(lattice_gset).
-behaviour(lattice_type).

-export([new/0, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).
-export([sort_elements/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_GSET).

-type state() :: binary().
-type element() :: term().
-type error() :: {error, {bad_gset, atom()}}.
-export_type([state/0, element/0]).

%% @doc The empty set.
-spec new() -> state().
new() ->
    <<?TAG, ?LT_FORMAT_V1, 0>>.

%% @doc Adds an element, or a list of them; the delta is the set of the elements named.
-spec update({add, element()} | {add_all, [element()]}, lattice_type:actor(), state()) ->
          {ok, state(), state()} | error().
update({add, _} = Op, _Actor, State) ->
    lattice_nif:set_update(?TAG, Op, State);
update({add_all, Elements} = Op, _Actor, State) when is_list(Elements) ->
    lattice_nif:set_update(?TAG, Op, State);
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

%% @doc The union of two states (or deltas).
-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    lattice_nif:set_merge(?TAG, A, B).

%% @doc The elements, in Erlang term order (see {@link sort_elements/1}).
-spec value(state()) -> [element()] | error().
value(State) ->
    case lattice_nif:set_value(?TAG, State) of
        Elements when is_list(Elements) -> sort_elements(Elements);
        Error -> Error
    end.

%% @doc `{contains, E}': whether E is an element; `size': the number of elements.
-spec value({contains, element()} | size, state()) -> boolean() | non_neg_integer() | error().
value({contains, Element}, State) ->
    lattice_nif:set_contains(?TAG, Element, State);
value(size, State) ->
    lattice_nif:set_size(?TAG, State);
value(Query, State) ->
    erlang:error(badarg, [Query, State]).

%% @doc Whether two states are equal: byte equality, the format being canonical.
-spec equal(state(), state()) -> boolean().
equal(A, B) when is_binary(A), is_binary(B) ->
    A =:= B;
equal(A, B) ->
    erlang:error(badarg, [A, B]).

-spec digest(state()) -> <<_:128>> | error().
digest(State) ->
    lattice_nif:set_digest(?TAG, State).

%% @doc `{gset, Elements}', the elements sorted as by {@link value/1}.
-spec to_term(state()) -> {gset, [element()]} | error().
to_term(State) ->
    case lattice_nif:set_to_list(?TAG, State) of
        Elements when is_list(Elements) -> {gset, sort_elements(Elements)};
        Error -> Error
    end.

%% @doc Every rule of the format, including canonical elements and their ids.
-spec validate(state()) -> ok | error().
validate(State) ->
    lattice_nif:set_validate(?TAG, State).

%% @doc Distinct terms in Erlang term order, with a tie-break that makes it a total order:
%% terms that compare equal (`==') without being the same (`1' and `1.0', `{1}' and `{1.0}')
%% are ordered by their canonical bytes ({@link lattice_canon:encode/1}). The sets' values and
%% their in-place objects' values are in this order.
-spec sort_elements([term()]) -> [term()].
sort_elements(Terms) ->
    break_ties(lists:sort(Terms), []).

%% Equal (==) terms sit together after lists:sort/1, in no particular order: re-sort each run.
break_ties([A, B | _] = Sorted, Acc) when A == B ->
    {Run, Rest} = lists:splitwith(fun(X) -> X == A end, Sorted),
    ByBytes = lists:sort([{lattice_canon:encode(T), T} || T <- Run]),
    break_ties(Rest, lists:reverse([T || {_, T} <- ByBytes], Acc));
break_ties([A | Rest], Acc) ->
    break_ties(Rest, [A | Acc]);
break_ties([], Acc) ->
    lists:reverse(Acc).
