%% @doc Last-writer-wins element set (LWW-Element-Set) of data terms (docs/FORMAT.md, "Sets").
%% Elements are added and removed, and can come back after a remove: for each element the
%% state keeps the hybrid logical clock timestamp (see {@link lattice_hlc}) of its latest add
%% and of its latest remove (0 for never); merge takes the later of each, element by element.
%% An element is in the value when its add is later than its remove; when both happened at
%% the same timestamp, the set's <em>bias</em> decides: `add' (the default) keeps the element,
%% `remove' drops it. The bias is fixed when the set is made ({@link new/1}); merging sets of
%% different bias is `{error, {bad_lwwset, bias_mismatch}}'.
%%
%% Operations for {@link update/3} (E any data term; a pid, port, reference or fun is
%% `badarg'; the actor is not used: any term will do):
%% <ul>
%% <li>`{add, E}', `{add_all, [E]}', `{remove, E}', `{remove_all, [E]}': stamped with one
%% timestamp from the node's HLC, first moved past every timestamp the named elements already
%% carry here (as `lattice_lwwreg' does for its register), so a local operation always wins
%% over everything this replica has seen. If one of them carries the largest timestamp,
%% 2^64 - 1, none can be later: `{error, timestamp_overflow}'.</li>
%% <li>`{add, E, Ts}', `{remove, E, Ts}': at the explicit timestamp Ts, an integer 1..2^64-1
%% (for tests and replays). The node's clock is not touched; a Ts older than what the element
%% has simply loses (the state does not change, the delta still carries Ts).</li>
%% </ul>
%% A remove (each form) needs every element it names in the value at this replica, else it is
%% `{error, {precondition, {not_present, E}}}' for the first absent one, and nothing changes.
%%
%% The delta of an update is an LWW-Set of the same bias holding just the elements named, each
%% with the operation's timestamp as its add (an add) or remove (a remove) timestamp and 0 for
%% the other, so `merge(State, Delta) =:= State2'. Queries for {@link value/2}:
%% `{contains, E}' (a boolean) and `size' (the number of elements in the value).
%%
%% {@link value/1} lists the elements in the order of {@link lattice_gset:sort_elements/1}.
%% In-place objects: `lattice_object:new(lattice_lwwset)' has add bias;
%% `lattice_object:new(lattice_lwwset:new(remove))' (or any state) has the bias of the state it
%% is made from.
-module(lattice_lwwset).
-behaviour(lattice_type).

-export([new/0, new/1, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_LWWSET).
-define(IS_TS(T), (is_integer(T) andalso T >= 1 andalso T < 1 bsl 64)).

-type state() :: binary().
-type element() :: term().
-type bias() :: add | remove.
-type op() :: {add, element()} | {add_all, [element()]} | {remove, element()}
            | {remove_all, [element()]} | {add, element(), lattice_hlc:timestamp()}
            | {remove, element(), lattice_hlc:timestamp()}.
-type error() :: {error, {bad_lwwset, atom()}}.
-type update_error() :: error() | {error, {precondition, {not_present, element()}}}
                      | {error, timestamp_overflow}.
-export_type([state/0, element/0, bias/0, op/0]).

%% @doc The empty set with add bias.
-spec new() -> state().
new() ->
    new(add).

%% @doc The empty set with the given bias: `add' or `remove'.
-spec new(bias()) -> state().
new(add) ->
    <<?TAG, ?LT_FORMAT_V1, 0, 0>>;
new(remove) ->
    <<?TAG, ?LT_FORMAT_V1, 1, 0>>;
new(Bias) ->
    erlang:error(badarg, [Bias]).

%% @doc Adds or removes elements; the delta holds the elements named with the new timestamp.
-spec update(op(), lattice_type:actor(), state()) -> {ok, state(), state()} | update_error().
update({Kind, _} = Op, _Actor, State) when Kind =:= add; Kind =:= remove ->
    lattice_nif:lwwset_update(Op, State);
update({Kind, Elements} = Op, _Actor, State)
  when (Kind =:= add_all orelse Kind =:= remove_all), is_list(Elements) ->
    lattice_nif:lwwset_update(Op, State);
update({Kind, _, Ts} = Op, _Actor, State) when (Kind =:= add orelse Kind =:= remove), ?IS_TS(Ts) ->
    lattice_nif:lwwset_update(Op, State);
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

%% @doc The merge of two states (or deltas) of the same bias: each timestamp the later.
-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    lattice_nif:lwwset_merge(A, B).

%% @doc The elements in the value (see {@link lattice_gset:sort_elements/1}).
-spec value(state()) -> [element()] | error().
value(State) ->
    case lattice_nif:lwwset_value(State) of
        Elements when is_list(Elements) -> lattice_gset:sort_elements(Elements);
        Error -> Error
    end.

%% @doc `{contains, E}': whether E is in the value; `size': the number of elements in it.
-spec value({contains, element()} | size, state()) -> boolean() | non_neg_integer() | error().
value({contains, Element}, State) ->
    lattice_nif:lwwset_contains(Element, State);
value(size, State) ->
    lattice_nif:lwwset_size(State);
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
    lattice_nif:lwwset_digest(State).

%% @doc `{lwwset, Bias, [{E, AddTs, RemTs}]}': every element the state knows of, with the
%% timestamps of its latest add and remove (0 for never), ordered by element as by
%% {@link value/1}.
-spec to_term(state()) ->
          {lwwset, bias(), [{element(), non_neg_integer(), non_neg_integer()}]} | error().
to_term(State) ->
    case lattice_nif:lwwset_to_list(State) of
        {Bias, Entries} when is_list(Entries) ->
            %% Map keys are matched exactly (=:=), so 1 and 1.0 stay two entries.
            ByElement = maps:from_list([{E, Ts} || {E, _, _} = Ts <- Entries]),
            Sorted = lattice_gset:sort_elements(maps:keys(ByElement)),
            {lwwset, Bias, [maps:get(E, ByElement) || E <- Sorted]};
        Error ->
            Error
    end.

%% @doc Every rule of the format, including canonical elements and their ids.
-spec validate(state()) -> ok | error().
validate(State) ->
    lattice_nif:lwwset_validate(State).
