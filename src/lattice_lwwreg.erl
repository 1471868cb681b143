%% @doc Last-writer-wins register: one data term, the latest write winning (docs/FORMAT.md,
%% "LWW-Register").
%%
%% Every write carries a hybrid logical clock timestamp (see {@link lattice_hlc}) and its
%% writer's actor. Merge keeps the greater of two registers by (timestamp, actor, value), actors
%% and values compared as canonical bytes (so ties between writers at the same timestamp are
%% broken the same way on every node; only a forged state can tie on both timestamp and actor).
%% The empty register, from {@link new/0}, is below every other.
%%
%% Operations for {@link update/3}:
%% <ul>
%% <li>`{assign, V}': V stamped by the node's HLC. A register never goes back in time: the
%% register's own timestamp is first folded into the node's clock (as `lattice_hlc:update/1'
%% does, without the maximum-offset check: it is our own state), so the new timestamp is
%% greater than the register's however far ahead that is, and the write wins locally. Only a
%% register at the largest timestamp, 2^64 - 1, cannot be written this way:
%% `{error, timestamp_overflow}'.</li>
%% <li>`{assign, V, Ts}': V at the explicit timestamp Ts, an integer 1..2^64-1 (for tests, and
%% for callers that carry their own clock). Ts must be greater than the register's timestamp,
%% else `{error, {precondition, {stale_timestamp, Ts}}}'. The node's clock is not touched.</li>
%% </ul>
%% The delta of an assign is the new register itself (it is as small as a delta could be).
%%
%% {@link value/1} is the value, or `undefined' for the empty register (a register can also
%% hold the atom `undefined': `value(timestamp, S)' tells them apart). Queries for
%% {@link value/2}: `timestamp' and `actor', each `undefined' for the empty register.
%%
%% Errors: `badarg' for a caller's bug (an unknown op or query, a value or actor that is not
%% data, a Ts out of range, a state that is not a binary); `{error, {bad_lwwreg, Reason}}' for a
%% binary that is not a valid register (every call checks the whole format).
-module(lattice_lwwreg).
-behaviour(lattice_type).

-export([new/0, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_LWWREG).
-define(IS_TS(T), (is_integer(T) andalso T >= 1 andalso T < 1 bsl 64)).

-type state() :: binary().
-type op() :: {assign, term()} | {assign, term(), lattice_hlc:timestamp()}.
-type error() :: {error, {bad_lwwreg, atom()}}.
-type assign_error() :: error() | {error, {precondition, {stale_timestamp, pos_integer()}}}
                      | {error, timestamp_overflow}.
-export_type([state/0, op/0]).

%% @doc The empty register (never assigned).
-spec new() -> state().
new() ->
    <<?TAG, ?LT_FORMAT_V1>>.

%% @doc Applies `{assign, V}' or `{assign, V, Ts}' by `Actor'; the delta is the new state.
-spec update(op(), lattice_type:actor(), state()) -> {ok, state(), state()} | assign_error().
update({assign, Value}, Actor, State) ->
    assign(Value, Actor, undefined, State);
update({assign, Value, Ts}, Actor, State) when ?IS_TS(Ts) ->
    assign(Value, Actor, Ts, State);
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

assign(Value, Actor, Ts, State) ->
    case lattice_nif:lwwreg_assign(Value, Actor, Ts, State) of
        State2 when is_binary(State2) -> {ok, State2, State2};
        {error, _} = Error -> Error
    end.

%% @doc The greater of two registers (one of the two, unchanged).
-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    lattice_nif:lwwreg_merge(A, B).

%% @doc The value, or `undefined' for the empty register.
-spec value(state()) -> term() | error().
value(State) ->
    lattice_nif:lwwreg_value(value, State).

%% @doc `timestamp': the timestamp of the winning write; `actor': its writer. Each is
%% `undefined' for the empty register.
-spec value(timestamp | actor, state()) -> lattice_hlc:timestamp() | term() | error().
value(Query, State) when Query =:= timestamp; Query =:= actor ->
    lattice_nif:lwwreg_value(Query, State);
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
    lattice_nif:lwwreg_digest(State).

%% @doc `{lwwreg, undefined}' for the empty register, else
%% `{lwwreg, #{value => V, timestamp => Ts, actor => Actor}}'.
-spec to_term(state()) ->
          {lwwreg, undefined | #{value := term(), timestamp := lattice_hlc:timestamp(),
                                 actor := lattice_type:actor()}} | error().
to_term(State) ->
    case lattice_nif:lwwreg_to_term(State) of
        {error, _} = Error -> Error;
        Term -> {lwwreg, Term}
    end.

%% @doc Every rule of the format: header, timestamp, and canonical actor and value.
-spec validate(state()) -> ok | error().
validate(State) ->
    lattice_nif:lwwreg_validate(State).
