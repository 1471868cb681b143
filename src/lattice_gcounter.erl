%% @doc Grow-only counter: each actor's count, the value their sum (docs/FORMAT.md,
%% "Counters"). The state is a vector clock's body under its own type tag; merge is the
%% pointwise maximum.
%%
%% Operations for {@link update/3}: `{increment, N}' with N a positive integer. The delta of an
%% increment is a G-Counter holding the actor's new count. Queries for {@link value/2}:
%% `{get, Actor}', the actor's count.
-module(lattice_gcounter).
-behaviour(lattice_type).

-export([new/0, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_GCOUNTER).

-type state() :: binary().
-type error() :: {error, {bad_gcounter, atom()}}.
-export_type([state/0]).

-spec new() -> state().
new() ->
    <<?TAG, ?LT_FORMAT_V1, 0>>.

-spec update({increment, pos_integer()}, lattice_type:actor(), state()) ->
          {ok, state(), state()} | error() | {error, counter_overflow}.
update({increment, N}, Actor, State) when is_integer(N), N > 0 ->
    case lattice_nif:clock_increment(?TAG, Actor, N, State) of
        {error, _} = Error ->
            Error;
        State2 ->
            Count = lattice_nif:clock_get(?TAG, Actor, State2),
            {ok, State2, lattice_nif:clock_from_list(?TAG, [{Actor, Count}])}
    end;
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    lattice_nif:clock_merge(?TAG, A, B).

%% @doc The sum of every actor's count.
-spec value(state()) -> non_neg_integer() | error().
value(State) ->
    lattice_nif:gcounter_value(State).

-spec value({get, lattice_type:actor()}, state()) -> non_neg_integer() | error().
value({get, Actor}, State) ->
    lattice_nif:clock_get(?TAG, Actor, State);
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
    lattice_nif:gcounter_digest(State).

%% @doc `{gcounter, [{Actor, Count}]}', actors in Erlang term order.
-spec to_term(state()) -> {gcounter, [{lattice_type:actor(), pos_integer()}]} | error().
to_term(State) ->
    case lattice_nif:clock_to_list(?TAG, State) of
        List when is_list(List) -> {gcounter, lists:sort(List)};
        Error -> Error
    end.

%% @doc Every rule of the format, including canonical actors and ids.
-spec validate(state()) -> ok | error().
validate(State) ->
    lattice_nif:clock_validate(?TAG, State).
