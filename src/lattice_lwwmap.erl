%% @doc Add-wins map with last-writer-wins values (docs/FORMAT.md, "Dot-kernel types"):
%% delta_crdt's AWLWWMap, on the dot kernel of {@link lattice_orset}.
%%
%% Keys are add-wins with observed remove, as an OR-Set's elements: each put of a key is a
%% write named by a dot (the putting actor and its next counter), and the dot carries the
%% put's hybrid logical clock timestamp and its value. The state holds each key's live dots
%% and a causal context of every dot it has seen. A put supersedes the dots of the key it has
%% seen; a remove takes them away, so a put concurrent with the remove (a dot the remover had
%% not seen) survives it: put wins. Concurrent puts of one key leave it several dots; its value
%% is that of the winning dot: the greatest timestamp, then the greatest actor (as canonical
%% bytes, so every node breaks a tie the same way), then the greatest counter.
%%
%% Operations for {@link update/3}, by `Actor' (any data term of at most 1024 bytes encoded):
%% <ul>
%% <li>`{put, K, V}': V stamped by the node's HLC, first moved past every timestamp K holds
%% here (as `lattice_hlc:update/1' does, without the maximum-offset check: it is our own
%% state), so a local put always wins locally however far ahead the key's timestamps are.
%% Only a key holding the largest timestamp, 2^64 - 1, cannot be passed:
%% `{error, timestamp_overflow}'.</li>
%% <li>`{put, K, V, Ts}': V at the explicit timestamp Ts, an integer 1..2^64-1 (for tests,
%% and for callers that carry their own clock). A Ts older than the key's is allowed: the put
%% supersedes the dots it has seen all the same, but may lose to a concurrent one. The node's
%% clock is not touched.</li>
%% <li>`{remove, K}': K must be present, else `{error, {precondition, {not_present, K}}}'.</li>
%% </ul>
%% The delta of an update holds the key's new dot (for a put) and, as its context, the dots it
%% adds and supersedes: `merge(State, Delta) =:= State2', and a delta is itself a state.
%%
%% {@link value/1} is the map of every key to its value. Queries for {@link value/2}:
%% `{get, K}' (`{ok, V}' or `{error, not_found}'), `{contains, K}' and `size'. For O(1)
%% queries and updates on a large map, use an in-place object ({@link lattice_object}): a
%% binary's operations walk it.
%%
%% Errors: `badarg' for a caller's bug (an unknown op or query, a Ts out of range, a key, value
%% or actor that is not data, a state that is not a binary); `{error, {bad_lwwmap, Reason}}'
%% for a binary that is not a valid LWW-Map.
-module(lattice_lwwmap).
-behaviour(lattice_type).

-export([new/0, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_LWWMAP).
-define(IS_TS(T), (is_integer(T) andalso T >= 1 andalso T < 1 bsl 64)).

-type state() :: binary().
-type key() :: term().
-type op() :: {put, key(), term()} | {put, key(), term(), lattice_hlc:timestamp()}
            | {remove, key()}.
-type query() :: {get, key()} | {contains, key()} | size.
-type error() :: {error, {bad_lwwmap, atom()}}.
-type update_error() :: error() | {error, {precondition, {not_present, key()}}}
                      | {error, timestamp_overflow} | {error, counter_overflow}.
-export_type([state/0, key/0, op/0, query/0]).

%% @doc The empty map.
-spec new() -> state().
new() ->
    <<?TAG, ?LT_FORMAT_V1, 0, 0>>.

%% @doc Applies an op by `Actor'; returns the new state and the delta.
-spec update(op(), lattice_type:actor(), state()) -> {ok, state(), state()} | update_error().
update({put, _, _} = Op, Actor, State) ->
    lattice_nif:dk_update(?TAG, Op, Actor, State);
update({put, _, _, Ts} = Op, Actor, State) when ?IS_TS(Ts) ->
    lattice_nif:dk_update(?TAG, Op, Actor, State);
update({remove, _} = Op, Actor, State) ->
    lattice_nif:dk_update(?TAG, Op, Actor, State);
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

%% @doc The join of two states or deltas.
-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    lattice_nif:dk_merge(?TAG, A, B).

%% @doc The map of every key to its value (that of the key's winning dot).
-spec value(state()) -> #{key() => term()} | error().
value(State) ->
    lattice_nif:dk_value(?TAG, State).

%% @doc `{get, K}': `{ok, V}' or `{error, not_found}'; `{contains, K}': whether K is a key;
%% `size': the number of keys.
-spec value(query(), state()) ->
          {ok, term()} | {error, not_found} | boolean() | non_neg_integer() | error().
value({Kind, _} = Query, State) when Kind =:= get; Kind =:= contains ->
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

%% @doc `{lwwmap, [{K, Dots}], Context}' for inspection: each key with its dots
%% (`{Actor, Counter, Ts, V}'), and the causal context as `{Actor, Base, Cloud}' (every
%% counter up to Base, and those in Cloud).
-spec to_term(state()) ->
          {lwwmap, [{key(), [{term(), pos_integer(), lattice_hlc:timestamp(), term()}]}],
           [{term(), non_neg_integer(), [pos_integer()]}]} | error().
to_term(State) ->
    case lattice_nif:dk_to_list(?TAG, State) of
        {error, _} = Error -> Error;
        {Entries, Context} -> {lwwmap, Entries, Context}
    end.

%% @doc Every rule of the format, including canonical terms, ids, and no dot under two keys:
%% for states from outside.
-spec validate(state()) -> ok | error().
validate(State) ->
    lattice_nif:dk_validate(?TAG, State).
