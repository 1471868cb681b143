%% @doc Positive-negative counter: two G-Counters, increments and decrements; the value is
%% their difference (docs/FORMAT.md, "Counters").
%%
%% Operations for {@link update/3}: `{increment, N}' and `{decrement, N}' with N a positive
%% integer. The delta holds the actor's new count on the side that changed. Queries for
%% {@link value/2}: `{get, Actor}', the actor's increments less its decrements.
-module(lattice_pncounter).
-behaviour(lattice_type).

-export([new/0, update/3, merge/2, value/1, value/2, equal/2, digest/1, to_term/1,
         validate/1]).

-include("lattice_types.hrl").
-define(TAG, ?LT_TYPE_PNCOUNTER).

-type state() :: binary().
-type error() :: {error, {bad_pncounter, atom()}}.
-export_type([state/0]).

-spec new() -> state().
new() ->
    join(lattice_gcounter:new(), lattice_gcounter:new()).

-spec update({increment | decrement, pos_integer()}, lattice_type:actor(), state()) ->
          {ok, state(), state()} | error() | {error, counter_overflow}.
update({Dir, N} = Op, Actor, State) when (Dir =:= increment orelse Dir =:= decrement),
                                          is_integer(N), N > 0 ->
    with_halves(State, fun(P, M) ->
        {Side, Other} = case Dir of increment -> {P, M}; decrement -> {M, P} end,
        %% The half that is copied unchanged is checked too: no update passes on a bad state.
        case {lattice_gcounter:update({increment, N}, Actor, Side),
              lattice_nif:clock_size(?LT_TYPE_GCOUNTER, Other)} of
            {_, {error, _} = Error} ->
                pn_error(Error);
            {{ok, Side2, Delta}, _} when Dir =:= increment ->
                {ok, join(Side2, M), join(Delta, lattice_gcounter:new())};
            {{ok, Side2, Delta}, _} ->
                {ok, join(P, Side2), join(lattice_gcounter:new(), Delta)};
            {Error, _} ->
                pn_error(Error)
        end
    end, Op, Actor);
update(Op, Actor, State) ->
    erlang:error(badarg, [Op, Actor, State]).

-spec merge(state(), state()) -> state() | error().
merge(A, B) ->
    with_halves(A, fun(PA, NA) ->
        with_halves(B, fun(PB, NB) ->
            case {lattice_gcounter:merge(PA, PB), lattice_gcounter:merge(NA, NB)} of
                {P, N} when is_binary(P), is_binary(N) -> join(P, N);
                {P, N} -> pn_error(case P of {error, _} -> P; _ -> N end)
            end
        end, B, A)
    end, A, B).

%% @doc Increments less decrements.
-spec value(state()) -> integer() | error().
value(State) ->
    with_halves(State, fun(P, N) ->
        case {lattice_gcounter:value(P), lattice_gcounter:value(N)} of
            {VP, VN} when is_integer(VP), is_integer(VN) -> VP - VN;
            {VP, VN} -> pn_error(case VP of {error, _} -> VP; _ -> VN end)
        end
    end, State, value).

-spec value({get, lattice_type:actor()}, state()) -> integer() | error().
value({get, Actor} = Query, State) ->
    with_halves(State, fun(P, N) ->
        case {lattice_gcounter:value(Query, P), lattice_gcounter:value(Query, N)} of
            {VP, VN} when is_integer(VP), is_integer(VN) -> VP - VN;
            {VP, VN} -> pn_error(case VP of {error, _} -> VP; _ -> VN end)
        end
    end, Query, Actor);
value(Query, State) ->
    erlang:error(badarg, [Query, State]).

-spec equal(state(), state()) -> boolean().
equal(A, B) when is_binary(A), is_binary(B) ->
    A =:= B;
equal(A, B) ->
    erlang:error(badarg, [A, B]).

-spec digest(state()) -> <<_:128>> | error().
digest(State) ->
    lattice_nif:pncounter_digest(State).

%% @doc `{pncounter, #{increments => [{Actor, N}], decrements => [{Actor, N}]}}'.
-spec to_term(state()) -> {pncounter, #{increments | decrements => list()}} | error().
to_term(State) ->
    with_halves(State, fun(P, N) ->
        case {lattice_gcounter:to_term(P), lattice_gcounter:to_term(N)} of
            {{gcounter, LP}, {gcounter, LN}} ->
                {pncounter, #{increments => LP, decrements => LN}};
            {TP, TN} ->
                pn_error(case TP of {error, _} -> TP; _ -> TN end)
        end
    end, State, to_term).

-spec validate(state()) -> ok | error().
validate(State) ->
    with_halves(State, fun(P, N) ->
        case {lattice_gcounter:validate(P), lattice_gcounter:validate(N)} of
            {ok, ok} -> ok;
            {ok, Error} -> pn_error(Error);
            {Error, _} -> pn_error(Error)
        end
    end, State, validate).

%% ---- the two halves -----------------------------------------------------------------------
%% <<16#11, 1, varint byte_size(P), P/binary, N/binary>> with P and N G-Counter binaries.

join(P, N) ->
    <<?TAG, ?LT_FORMAT_V1, (varint(byte_size(P)))/binary, P/binary, N/binary>>.

%% Calls Fun(P, N) on the halves of State (split by the C parser, so every function reports a
%% malformed framing the same way); a non-binary is badarg, with Arg1, Arg2 as the other
%% arguments reported.
with_halves(State, Fun, _, _) when is_binary(State) ->
    case lattice_nif:pncounter_split(State) of
        {P, N} when is_binary(P) -> Fun(P, N);
        {error, _} = Error -> Error
    end;
with_halves(Other, _, Arg1, Arg2) ->
    erlang:error(badarg, [Other, Arg1, Arg2]).

%% Errors of the halves are errors of the PN-Counter.
pn_error({error, {bad_gcounter, Reason}}) -> {error, {bad_pncounter, Reason}};
pn_error(Other) -> Other.

varint(N) when N < 128 -> <<N>>;
varint(N) -> <<1:1, (N band 127):7, (varint(N bsr 7))/binary>>.
