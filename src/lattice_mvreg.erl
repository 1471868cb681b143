%% @doc Multi-value register (docs/FORMAT.md, "Dot-kernel types"): every value written
%% concurrently is kept, as in Dynamo's and Riak's siblings; a write that has seen them all
%% replaces them with one.
%%
%% This is the MV-register over a dotted version vector, in its delta-state form (Almeida et
%% al.'s delta MVRegister, on the dot kernel shared with {@link lattice_orset} and
%% {@link lattice_lwwmap}): the state holds a causal context, a DVV of every write it has seen
%% (a counter per actor plus the dots seen out of order; {@link lattice_dvv}), and one dot per
%% live value, naming the write that made it. A value stays while its dot is in the state; a
%% join drops a dot that the other side has seen but no longer holds (it was overwritten
%% there), and keeps a dot the other side has never seen (a concurrent write).
%%
%% Operations for {@link update/3}, by `Actor' (any data term of at most 1024 bytes encoded):
%% <ul>
%% <li>`{assign, V}' (V any data term): one new dot for V, and every dot the replica holds is
%% superseded, so the local value is then `[V]'. Assigns on replicas that had not seen each
%% other are all kept after a join (`[V1, V2]'); two concurrent assigns of the same value give
%% it once.</li>
%% </ul>
%% The delta of an assign holds the new dot and, as its context, the new dot and every dot it
%% supersedes: `merge(State, Delta) =:= State2', and a delta is itself a state.
%%
%% {@link value/1} lists the values in the order of {@link lattice_gset:sort_elements/1}, `[]'
%% for a register never assigned. Queries for {@link value/2}: `size' (the number of values)
%% and `{contains, V}'. For updates and queries in place, use an object ({@link lattice_object}).
%%
%% Errors: `badarg' for a caller's bug (an unknown op or query, a value or actor that is not
%% data, a state that is not a binary); `{error, {bad_mvreg, Reason}}' for a binary that is
%% not a valid MV-Register.
-module(lattice_mvreg).
-behaviour(lattice_type).

-export([new/0, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_MVREG).

-type state() :: binary().
-type value() :: term().
-type op() :: {assign, value()}.
-type error() :: {error, {bad_mvreg, atom()}}.
-export_type([state/0, value/0, op/0]).

%% @doc The empty register (never assigned): its value is `[]'.
-spec new() -> state().
new() ->
    <<?TAG, ?LT_FORMAT_V1, 0, 0>>.

%% @doc Applies `{assign, V}' by `Actor'; returns the new state and the delta.
-spec update(op(), lattice_type:actor(), state()) ->
          {ok, state(), state()} | error() | {error, counter_overflow}.
update({assign, _} = Op, Actor, State) ->
    lattice_nif:dk_update(?TAG, Op, Actor, State);
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

%% @doc The join of two states or deltas.
-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    lattice_nif:dk_merge(?TAG, A, B).

%% @doc The values, in the order of {@link lattice_gset:sort_elements/1}; `[]' for a register
%% never assigned.
-spec value(state()) -> [value()] | error().
value(State) ->
    lattice_nif:dk_value(?TAG, State).

%% @doc `size': the number of values; `{contains, V}': whether V is one of them.
-spec value(size | {contains, value()}, state()) -> non_neg_integer() | boolean() | error().
value({contains, _} = Query, State) ->
    lattice_nif:dk_query(?TAG, Query, State);
value(size, State) ->
    lattice_nif:dk_query(?TAG, size, State);
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
    lattice_nif:dk_digest(?TAG, State).

%% @doc `{mvreg, [{V, Dots}], Context}' for inspection: each value with the dots
%% (`{Actor, Counter}') of the assigns that wrote it (more than one when concurrent assigns
%% wrote the same value), and the causal context as `{Actor, Base, Cloud}' (every counter up
%% to Base, and those in Cloud).
-spec to_term(state()) ->
          {mvreg, [{value(), [{term(), pos_integer()}]}],
           [{term(), non_neg_integer(), [pos_integer()]}]} | error().
to_term(State) ->
    case lattice_nif:dk_to_list(?TAG, State) of
        {error, _} = Error -> Error;
        {Entries, Context} -> {mvreg, Entries, Context}
    end.

%% @doc Every rule of the format, including canonical terms, ids, and no dot under two
%% values: for states from outside.
-spec validate(state()) -> ok | error().
validate(State) ->
    lattice_nif:dk_validate(?TAG, State).
