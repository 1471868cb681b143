%% @doc Observed-remove set, add-wins, without tombstones (docs/FORMAT.md, "Dot-kernel types"):
%% Almeida et al.'s delta AWORSet, riak_dt's orswot.
%%
%% Each add of an element is a write named by a dot (the adding actor and its next counter);
%% the state holds each element's live dots and a causal context of every dot it has seen. A
%% remove takes away the element's dots that the remover has seen, so an add concurrent with
%% the remove (a dot the remover had not seen) survives it: add wins. A removed element leaves
%% nothing behind but its dots in the context, which stays compact (a counter per actor) when
%% deltas are delivered in order.
%%
%% Operations for {@link update/3}, by `Actor' (any data term of at most 1024 bytes encoded):
%% <ul>
%% <li>`{add, E}' and `{add_all, [E]}': each element gets a new dot, replacing the dots it had
%% here (so a set's size does not grow with re-adds);</li>
%% <li>`{remove, E}' and `{remove_all, [E]}': the elements must be present, else
%% `{error, {precondition, {not_present, E}}}' (for the first absent one, in list order;
%% nothing is removed).</li>
%% </ul>
%% The delta of an update holds the touched elements' new dots and, as its context, the dots
%% it adds and supersedes: `merge(State, Delta) =:= State2', and a delta is itself a state.
%%
%% Queries for {@link value/2}: `{contains, E}' and `size'. {@link value/1} lists the elements
%% in the order of {@link lattice_gset:sort_elements/1}. For O(1) queries and updates on a
%% large set, use an in-place object ({@link lattice_object}): a binary's operations walk it.
%%
%% Errors: `badarg' for a caller's bug (an unknown op or query, an element or actor that is not
%% data); `{error, {bad_orset, Reason}}' for a binary that is not a valid OR-Set.
-module(lattice_orset).
-behaviour(lattice_type).

-export([new/0, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_ORSET).

-type state() :: binary().
-type element() :: term().
-type op() :: {add, element()} | {add_all, [element()]} | {remove, element()}
            | {remove_all, [element()]}.
-type error() :: {error, {bad_orset, atom()}}.
-export_type([state/0, element/0, op/0]).

%% @doc The empty set.
-spec new() -> state().
new() ->
    <<?TAG, ?LT_FORMAT_V1, 0, 0>>.

%% @doc Applies an op by `Actor'; returns the new state and the delta.
-spec update(op(), lattice_type:actor(), state()) ->
          {ok, state(), state()} | error() | {error, {precondition, {not_present, element()}}}
          | {error, counter_overflow}.
update({Kind, _} = Op, Actor, State) when Kind =:= add; Kind =:= remove ->
    lattice_nif:dk_update(?TAG, Op, Actor, State);
update({Kind, List} = Op, Actor, State) when (Kind =:= add_all orelse Kind =:= remove_all),
                                             is_list(List) ->
    lattice_nif:dk_update(?TAG, Op, Actor, State);
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

%% @doc The join of two states or deltas.
-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    lattice_nif:dk_merge(?TAG, A, B).

%% @doc The elements, in the order of {@link lattice_gset:sort_elements/1}.
-spec value(state()) -> [element()] | error().
value(State) ->
    lattice_nif:dk_value(?TAG, State).

%% @doc `{contains, E}': whether E is an element; `size': the number of elements.
-spec value({contains, element()} | size, state()) -> boolean() | non_neg_integer() | error().
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

%% @doc `{orset, [{E, Dots}], Context}' for inspection: each element with its dots
%% (`{Actor, Counter}'), and the causal context as `{Actor, Base, Cloud}' (every counter up to
%% Base, and those in Cloud).
-spec to_term(state()) ->
          {orset, [{element(), [{term(), pos_integer()}]}],
           [{term(), non_neg_integer(), [pos_integer()]}]} | error().
to_term(State) ->
    case lattice_nif:dk_to_list(?TAG, State) of
        {error, _} = Error -> Error;
        {Entries, Context} -> {orset, Entries, Context}
    end.

%% @doc Every rule of the format, including canonical terms, ids, and no dot under two
%% elements: for states from outside.
-spec validate(state()) -> ok | error().
validate(State) ->
    lattice_nif:dk_validate(?TAG, State).
