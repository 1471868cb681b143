%% @doc The behaviour every lattice CRDT type implements, and dispatch on a state's type.
%%
%% A state is a canonical binary (docs/FORMAT.md): a type tag, a format version, a body.
%% Equal states are byte-identical on every node, so `equal/2' is byte equality and
%% `digest/1' names a state. Updates are delta-state mutations: `update/3' returns the new
%% state and a delta, itself a state of the same type, with `merge(State, Delta) =:= State2'.
%% Deltas, states and groups of deltas all merge with `merge/2'.
%%
%% Errors follow the library's three channels: `badarg' for a caller's bug (an unknown
%% operation, a wrong type), `{error, Reason}' for bad data or an unmet precondition, and a
%% raised `enomem' for internal failure.
-module(lattice_type).

-include("lattice_types.hrl").

-export([module/1, modules/0, merge/2, value/1, value/2, digest/1, to_term/1, validate/1]).

-type state() :: binary().
-type delta() :: binary().
-type actor() :: term().
-export_type([state/0, delta/0, actor/0]).

-callback new() -> state().
-callback update(Op :: term(), actor(), state()) -> {ok, state(), delta()} | {error, term()}.
-callback merge(state(), state()) -> state() | {error, term()}.
-callback value(state()) -> term().
-callback value(Query :: term(), state()) -> term().
-callback equal(state(), state()) -> boolean().
-callback digest(state()) -> <<_:128>> | {error, term()}.
-callback to_term(state()) -> term().
%% Every rule of the format, including canonical terms and ids: for states from outside.
-callback validate(state()) -> ok | {error, term()}.

%% @doc The module implementing the type of a state, from its type tag.
-spec module(state()) -> module() | {error, {bad_state, atom()}}.
module(<<Tag, _/binary>>) ->
    case lists:keyfind(Tag, 1, ?LT_CRDT_TYPES) of
        {_, Module} -> Module;
        false -> {error, {bad_state, unknown_type}}
    end;
module(Bin) when is_binary(Bin) -> {error, {bad_state, truncated}};
module(Other) -> erlang:error(badarg, [Other]).

%% @doc Every CRDT type module, in tag order (include/lattice_types.hrl).
-spec modules() -> [module()].
modules() ->
    [Module || {_, Module} <- ?LT_CRDT_TYPES].

%% @doc Merges two states (or deltas) of the same type, whatever the type.
-spec merge(state(), state()) -> state() | {error, term()}.
merge(A, B) ->
    with_module(A, fun(M) -> M:merge(A, B) end).

-spec value(state()) -> term().
value(State) ->
    with_module(State, fun(M) -> M:value(State) end).

-spec value(term(), state()) -> term().
value(Query, State) ->
    with_module(State, fun(M) -> M:value(Query, State) end).

-spec digest(state()) -> <<_:128>> | {error, term()}.
digest(State) ->
    with_module(State, fun(M) -> M:digest(State) end).

-spec to_term(state()) -> term().
to_term(State) ->
    with_module(State, fun(M) -> M:to_term(State) end).

-spec validate(state()) -> ok | {error, term()}.
validate(State) ->
    with_module(State, fun(M) -> M:validate(State) end).

with_module(State, Fun) ->
    case module(State) of
        {error, _} = Error -> Error;
        Module -> Fun(Module)
    end.
