%% @doc Two-phase set (2P-Set) of data terms (docs/FORMAT.md, "Sets"): elements are added and
%% removed, and a removed element never comes back. The state keeps, for each element it has
%% seen, whether it was added, removed (a tombstone) or both; merge is the union with the flags
%% OR'ed. The value is the elements added and not removed.
%%
%% Operations for {@link update/3}: `{add, E}', `{add_all, [E]}' and `{remove, E}', E any data
%% term (a pid, port, reference or fun is `badarg'). The actor is not used: any term will do.
%% <ul>
%% <li>A remove needs E in the value (added, and not removed yet) at this replica, as in
%% riak_dt: otherwise it is `{error, {precondition, {not_present, E}}}' and nothing changes.</li>
%% <li>Adding an element that was removed is allowed but has no effect on the value: the
%% tombstone wins, now and after every merge.</li>
%% </ul>
%% The delta of an add is a 2P-Set holding the elements named as added; that of a remove holds
%% E as removed; in both cases `merge(State, Delta) =:= State2'. Queries for {@link value/2}:
%% `{contains, E}' (a boolean: E is in the value) and `size' (the number of elements in the
%% value).
%%
%% {@link value/1} lists the elements in the order of {@link lattice_gset:sort_elements/1}.
-module(lattice_twopset).
-behaviour(lattice_type).

-export([new/0, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_TWOPSET).

-type state() :: binary().
-type element() :: term().
-type error() :: {error, {bad_twopset, atom()}}.
-type op() :: {add, element()} | {add_all, [element()]} | {remove, element()}.
-export_type([state/0, op/0]).

%% @doc The empty set.
-spec new() -> state().
new() ->
    <<?TAG, ?LT_FORMAT_V1, 0>>.

%% @doc Adds elements or removes one; the delta holds the elements named with their new flag.
-spec update(op(), lattice_type:actor(), state()) ->
          {ok, state(), state()} | error() | {error, {precondition, {not_present, element()}}}.
update({add, _} = Op, _Actor, State) ->
    lattice_nif:set_update(?TAG, Op, State);
update({add_all, Elements} = Op, _Actor, State) when is_list(Elements) ->
    lattice_nif:set_update(?TAG, Op, State);
update({remove, _} = Op, _Actor, State) ->
    lattice_nif:set_update(?TAG, Op, State);
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

%% @doc The union of two states (or deltas), flags OR'ed.
-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    lattice_nif:set_merge(?TAG, A, B).

%% @doc The elements added and not removed (see {@link lattice_gset:sort_elements/1}).
-spec value(state()) -> [element()] | error().
value(State) ->
    case lattice_nif:set_value(?TAG, State) of
        Elements when is_list(Elements) -> lattice_gset:sort_elements(Elements);
        Error -> Error
    end.

%% @doc `{contains, E}': whether E is in the value; `size': the number of elements in it.
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

%% @doc `{twopset, #{added => Added, removed => Removed}}': every element ever added, and every
%% element removed (the tombstones), each sorted as by {@link value/1}. The value is
%% `Added' less `Removed'.
-spec to_term(state()) -> {twopset, #{added := [element()], removed := [element()]}} | error().
to_term(State) ->
    case lattice_nif:set_to_list(?TAG, State) of
        Entries when is_list(Entries) ->
            Added = [E || {E, Flags} <- Entries, Flags band 1 =/= 0],
            Removed = [E || {E, Flags} <- Entries, Flags band 2 =/= 0],
            {twopset, #{added => lattice_gset:sort_elements(Added),
                        removed => lattice_gset:sort_elements(Removed)}};
        Error ->
            Error
    end.

%% @doc Every rule of the format, including canonical elements and their ids.
-spec validate(state()) -> ok | error().
validate(State) ->
    lattice_nif:set_validate(?TAG, State).
