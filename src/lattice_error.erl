%% @doc What a caller did wrong, in words: the `format_error/2' of every `badarg' lattice raises.
%%
%% The API modules call the NIFs directly, so the fast path checks nothing in Erlang. When a NIF
%% (or a guard) refuses an argument, the API function re-raises `badarg' with its own arguments
%% and `{error_info, #{module => lattice_error}}' (the OTP 24+ convention of
%% `erl_stdlib_errors'); only then does this module work out which argument is wrong and why.
%% The shell prints the explanation under the error; the Elixir facade raises `ArgumentError'
%% with the same words ({@link message/1}). The explanations name the argument ("the actor",
%% "the state") as well as its position, because the Elixir facade puts the subject first.
%%
%% Bad data (a binary that is not a state) is not a `badarg': it is `{error, {Kind, Reason}}'
%% (docs/ERRORS.md).
-module(lattice_error).

-export([format_error/2, explain/3, message/1]).
%% For modules that name their own checks (lattice_store, lattice_merkle).
-export([explain/4, message/3]).

-define(TYPES, [lattice_gcounter, lattice_pncounter, lattice_gset, lattice_twopset,
                lattice_orset, lattice_lwwset, lattice_lwwreg, lattice_lwwmap, lattice_mvreg]).
-define(MAX_ACTOR_BYTES, 1024).

%% @doc The OTP `error_info' callback: a map from argument positions (1-based) to what is wrong
%% with each, or `general' when no single argument is to blame.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(badarg, [{M, F, Args, _Info} | _]) when is_list(Args) ->
    explain(M, F, Args);
format_error(_, _) ->
    #{}.

%% @doc The explanation as one line per argument, for the Elixir facade's `ArgumentError':
%% from the top frame of a stack trace whose call raised with lattice's `error_info'.
-spec message(erlang:stacktrace()) -> binary() | undefined.
message([{M, F, Args, Info} | _]) when is_list(Args), is_list(Info) ->
    case proplists:get_value(error_info, Info) of
        #{module := ?MODULE} -> one_line(explain(M, F, Args));
        _ -> undefined
    end;
message(_) ->
    undefined.

%% @doc What is wrong with the arguments of a call to `M:F' that raised `badarg'.
-spec explain(module(), atom(), [term()]) -> #{pos_integer() | general => string()}.
explain(M, F, Args) ->
    Checks = try roles(M, F, Args) catch error:_ -> [] end,
    case failed(Checks) of
        Found when map_size(Found) =:= 0 ->
            #{general => fmt("an argument of ~ts:~ts/~b is not valid (see its documentation)",
                             [M, F, length(Args)])};
        Found ->
            Found
    end.

%% @doc As explain/3, for a module `M' that names its own checks: `Checks' is a list of
%% `{Position, fun() -> ok | {error, Text}}'.
-spec explain(module(), atom(), [term()], [{pos_integer(), fun(() -> ok | {error, string()})}]) ->
          #{pos_integer() | general => string()}.
explain(M, F, Args, Checks) ->
    case failed(Checks) of
        Found when map_size(Found) =:= 0 ->
            #{general => fmt("an argument of ~ts:~ts/~b is not valid", [M, F, length(Args)])};
        Found ->
            Found
    end.

%% @doc As message/1, for a module `M' that raises with its own `error_info' and explains with
%% `Explain(F, Args)'; `undefined' when the top frame is not such a call of `M'.
-spec message(module(), erlang:stacktrace(), fun((atom(), [term()]) -> map())) ->
          binary() | undefined.
message(M, [{M, F, Args, Info} | _], Explain) when is_list(Args), is_list(Info) ->
    case proplists:get_value(error_info, Info) of
        #{module := M} -> one_line(Explain(F, Args));
        _ -> undefined
    end;
message(_, _, _) ->
    undefined.

failed(Checks) ->
    maps:from_list([{Pos, Text} || {Pos, Check} <- Checks, {error, Text} <- [Check()]]).

one_line(Explanation) ->
    Lines = [Text || {_, Text} <- lists:sort(maps:to_list(Explanation))],
    unicode:characters_to_binary(lists:join("; ", Lines)).

%% ---- which argument is what --------------------------------------------------------------
%% A list of {Position, fun() -> ok | {error, Text}}, checked in order; each check runs only
%% on the error path.

roles(M, update, [Op, Actor, State] = Args) when M =/= lattice_object ->
    true = lists:member(M, ?TYPES),
    [{1, fun() -> check_op(M, Op) end},
     {2, fun() -> check_actor(M, Actor) end},
     {3, fun() -> check_state(M, State, Args, 3) end}];
roles(M, merge, [A, B]) when M =/= lattice_vclock, M =/= lattice_dvv ->
    [{1, fun() -> check_state(M, A, [A], 1) end}, {2, fun() -> check_state(M, B, [B], 1) end}];
roles(M, equal, [A, B]) ->
    [{1, fun() -> check_state(M, A, [A], 1) end}, {2, fun() -> check_state(M, B, [B], 1) end}];
roles(lattice_lwwset, new, [Bias]) ->
    [{1, fun() -> {error, fmt("the bias must be add or remove, got: ~ts", [show(Bias)])} end}];
roles(lattice_object, new, [What]) ->
    [{1, fun() -> check_new(What) end}];
roles(lattice_object, update, [Op, Actor, Object]) ->
    [{3, fun() -> check_object(Object) end},
     {1, fun() -> with_object_type(Object, fun(M) -> check_op(M, Op) end) end},
     {2, fun() -> with_object_type(Object, fun(M) -> check_actor(M, Actor) end) end}];
roles(lattice_object, join, [State, Object]) ->
    [{2, fun() -> check_object(Object) end},
     {1, fun() -> check_state(lattice_object, State, [State, Object], 1) end}];
roles(lattice_object, value, [Query, Object]) ->
    [{2, fun() -> check_object(Object) end},
     {1, fun() -> with_object_type(Object, fun(M) -> check_query(M, Query) end) end}];
roles(lattice_object, _, [Object]) ->
    [{1, fun() -> check_object(Object) end}];
roles(M, value, [Query, State] = Args) when M =/= lattice_type ->
    [{1, fun() -> check_query(M, Query) end}, {2, fun() -> check_state(M, State, Args, 2) end}];
roles(lattice_type, value, [_Query, State] = Args) ->
    [{2, fun() -> check_state(lattice_type, State, Args, 2) end}];
roles(lattice_vclock, increment, [Actor, Clock] = Args) ->
    [{1, fun() -> check_actor(lattice_vclock, Actor) end},
     {2, fun() -> check_state(lattice_vclock, Clock, Args, 2) end}];
roles(lattice_vclock, increment, [Actor, By, Clock] = Args) ->
    [{1, fun() -> check_actor(lattice_vclock, Actor) end},
     {2, fun() -> check_count("the amount to increment by", By) end},
     {3, fun() -> check_state(lattice_vclock, Clock, Args, 3) end}];
roles(lattice_vclock, get, [Actor, Clock] = Args) ->
    [{1, fun() -> check_actor(lattice_vclock, Actor) end},
     {2, fun() -> check_state(lattice_vclock, Clock, Args, 2) end}];
roles(lattice_vclock, F, [A, B]) when F =:= merge; F =:= compare; F =:= descends;
                                              F =:= dominates ->
    [{1, fun() -> check_state(lattice_vclock, A, [A], 1) end},
     {2, fun() -> check_state(lattice_vclock, B, [B], 1) end}];
roles(lattice_dvv, F, [Actor, DVV] = Args) when F =:= event; F =:= counter ->
    [{1, fun() -> check_actor(lattice_dvv, Actor) end},
     {2, fun() -> check_state(lattice_dvv, DVV, Args, 2) end}];
roles(lattice_dvv, F, [Dot, DVV] = Args) when F =:= add; F =:= contains ->
    [{1, fun() -> check_dot(Dot) end},
     {2, fun() -> check_state(lattice_dvv, DVV, Args, 2) end}];
roles(lattice_dvv, F, [A, B]) when F =:= merge; F =:= descends ->
    [{1, fun() -> check_state(lattice_dvv, A, [A], 1) end},
     {2, fun() -> check_state(lattice_dvv, B, [B], 1) end}];
roles(lattice_hlc, make, [Physical, Logical]) ->
    [{1, fun() -> check_range("the physical time (ms since the epoch)", Physical, 0,
                              1 bsl 48 - 1) end},
     {2, fun() -> check_range("the logical counter", Logical, 0, 16#FFFF) end}];
roles(lattice_hlc, _, Timestamps) ->
    [{I, fun() -> check_range("the timestamp (an HLC timestamp)", Ts, 0, 1 bsl 64 - 1) end}
     || {I, Ts} <- lists:zip(lists:seq(1, length(Timestamps)), Timestamps)];
roles(lattice_canon, encode, [Term]) ->
    [{1, fun() -> check_data("term", Term) end}];
roles(lattice_canon, decode, [Bin, Opts]) ->
    [{1, fun() -> check_binary("encoding (canonical bytes)", Bin) end},
     {2, fun() -> check_decode_opts(Opts) end}];
roles(lattice_hash, term, [Term]) ->
    [{1, fun() -> check_data("term", Term) end}];
roles(lattice_hash, _, [Data, Seed]) ->
    [{1, fun() -> check_iodata(Data) end},
     {2, fun() -> check_range("the seed", Seed, 0, 1 bsl 64 - 1) end}];
roles(M, _, [State] = Args) ->
    [{1, fun() -> check_state(M, State, Args, 1) end}].

%% ---- the checks --------------------------------------------------------------------------

check_state(_, State, _, _) when is_binary(State) ->
    ok;
check_state(M, State, Args, Pos) when is_reference(State) ->
    case is_object(State) of
        true ->
            {error, fmt("the ~ts is an in-place object, not a state binary: use "
                        "lattice_object (Lattice.Object) with it, or lattice_object:snapshot/1 "
                        "for its state", [state_word(M)])};
        false ->
            {error, fmt("the ~ts must be ~ts (a binary), got: ~ts~ts",
                        [state_word(M), what(M), show(State), order_hint(Args, Pos)])}
    end;
check_state(M, State, Args, Pos) ->
    {error, fmt("the ~ts must be ~ts (a binary), got: ~ts~ts",
                [state_word(M), what(M), show(State), order_hint(Args, Pos)])}.

%% A state given where another argument goes: the Erlang and Elixir argument orders differ.
order_hint(Args, Pos) ->
    case [I || {I, A} <- lists:zip(lists:seq(1, length(Args)), Args), I =/= Pos,
               is_binary(A)] of
        [] -> "";
        [I | _] -> fmt(" (argument ~b is a binary: the state goes last in Erlang, "
                       "first in Elixir)", [I])
    end.

state_word(lattice_vclock) -> "clock";
state_word(lattice_dvv) -> "DVV";
state_word(_) -> "state".

check_actor(_M, Actor) ->
    case encoded_size(Actor) of
        {ok, N} when N =< ?MAX_ACTOR_BYTES -> ok;
        {ok, N} -> {error, fmt("the actor is ~b bytes encoded; an actor is at most ~b bytes "
                               "(lattice:actor/0 gives a small, safe one)",
                               [N, ?MAX_ACTOR_BYTES])};
        {error, Why} -> {error, "the actor " ++ Why}
    end.

check_binary(_Word, B) when is_binary(B) -> ok;
check_binary(Word, B) -> {error, fmt("the ~ts must be a binary, got: ~ts", [Word, show(B)])}.

check_decode_opts(Opts) when is_list(Opts) ->
    case [O || O <- Opts, O =/= existing_atoms] of
        [] -> ok;
        Bad -> {error, fmt("unknown decode options ~ts (the one option is existing_atoms)",
                           [show(Bad)])}
    end;
check_decode_opts(Opts) ->
    {error, fmt("the options must be a list, got: ~ts", [show(Opts)])}.

check_iodata(Data) ->
    try iolist_size(Data) of
        _ -> ok
    catch
        error:badarg -> {error, fmt("the data must be iodata (a binary or a list of bytes and "
                                    "binaries), got: ~ts", [show(Data)])}
    end.

check_data(Word, T) ->
    case encoded_size(T) of
        {ok, _} -> ok;
        {error, Why} -> {error, fmt("the ~ts ~ts", [Word, Why])}
    end.

encoded_size(T) ->
    try lattice_canon:encode(T) of
        Bin -> {ok, byte_size(Bin)}
    catch
        error:badarg -> {error, not_data(T)}
    end.

not_data(T) ->
    case find_non_data(T) of
        {Kind, Bad} when Bad =:= T ->
            fmt("is not data: it is a ~ts (~ts); CRDT elements, keys, values and actors are "
                "data terms, without pids, ports, references or funs", [Kind, show(Bad)]);
        {Kind, Bad} ->
            fmt("is not data: it holds a ~ts (~ts); CRDT elements, keys, values and actors "
                "are data terms, without pids, ports, references or funs", [Kind, show(Bad)]);
        none ->
            fmt("cannot be encoded canonically: ~ts", [show(T)])
    end.

find_non_data(T) when is_pid(T) -> {"pid", T};
find_non_data(T) when is_port(T) -> {"port", T};
find_non_data(T) when is_reference(T) -> {"reference", T};
find_non_data(T) when is_function(T) -> {"fun", T};
find_non_data(T) when is_tuple(T) -> find_first(tuple_to_list(T));
find_non_data(T) when is_map(T) -> find_first(maps:keys(T) ++ maps:values(T));
find_non_data(T) when is_list(T) -> find_in_list(T);
find_non_data(_) -> none.

find_in_list([]) -> none;
find_in_list([H | Tail]) ->
    case find_non_data(H) of
        none -> find_in_list(Tail);
        Found -> Found
    end;
find_in_list(Tail) ->
    {"improper list tail", Tail}.

find_first(List) -> find_in_list(List).

check_count(_Word, N) when is_integer(N), N > 0, N < 1 bsl 64 -> ok;
check_count(Word, N) ->
    {error, fmt("~ts must be a positive integer (1..2^64-1), got: ~ts", [Word, show(N)])}.

check_dot({Actor, N}) ->
    case check_actor(lattice_dvv, Actor) of
        ok -> check_count("the dot's counter", N);
        Error -> Error
    end;
check_dot(Dot) ->
    {error, fmt("the dot must be {Actor, N}, N a positive integer, got: ~ts", [show(Dot)])}.

check_range(_Word, N, Min, Max) when is_integer(N), N >= Min, N =< Max -> ok;
check_range(Word, N, Min, Max) ->
    {error, fmt("~ts must be an integer ~b..~b, got: ~ts", [Word, Min, Max, show(N)])}.

check_ts(Ts) when is_integer(Ts), Ts >= 1, Ts < 1 bsl 64 -> ok;
check_ts(Ts) ->
    {error, fmt("the timestamp must be an integer 1..2^64-1 (an HLC timestamp), got: ~ts",
                [show(Ts)])}.

check_list(Word, L) ->
    case is_list(L) andalso is_proper(L) of
        false -> {error, fmt("the ~ts must be a proper list, got: ~ts", [Word, show(L)])};
        true -> first_error([fun() -> check_data("element " ++ show(E), E) end || E <- L])
    end.

is_proper([]) -> true;
is_proper([_ | T]) -> is_proper(T);
is_proper(_) -> false.

first_error([]) -> ok;
first_error([Check | Rest]) ->
    case Check() of
        ok -> first_error(Rest);
        Error -> Error
    end.

%% The operations of each type: {Tag, [argument kind]}.
ops(lattice_gcounter) -> [{increment, [count]}];
ops(lattice_pncounter) -> [{increment, [count]}, {decrement, [count]}];
ops(lattice_gset) -> [{add, [element]}, {add_all, [elements]}];
ops(lattice_twopset) -> [{add, [element]}, {add_all, [elements]}, {remove, [element]}];
ops(lattice_orset) ->
    [{add, [element]}, {add_all, [elements]}, {remove, [element]}, {remove_all, [elements]}];
ops(lattice_lwwset) ->
    [{add, [element]}, {add_all, [elements]}, {remove, [element]}, {remove_all, [elements]},
     {add, [element, ts]}, {remove, [element, ts]}];
ops(lattice_lwwreg) -> [{assign, [value]}, {assign, [value, ts]}];
ops(lattice_lwwmap) -> [{put, [key, value]}, {put, [key, value, ts]}, {remove, [key]}];
ops(lattice_mvreg) -> [{assign, [value]}].

queries(lattice_gcounter) -> [{get, [actor]}];
queries(lattice_pncounter) -> [{get, [actor]}];
queries(lattice_lwwreg) -> [timestamp, actor];
queries(lattice_lwwmap) -> [{get, [key]}, {contains, [key]}, size];
queries(lattice_mvreg) -> [{contains, [value]}, size];
queries(M) when M =:= lattice_gset; M =:= lattice_twopset; M =:= lattice_orset;
                M =:= lattice_lwwset ->
    [{contains, [element]}, size].

check_op(M, Op) ->
    check_shape(M, "operation", ops(M), fun ops/1, Op).

check_query(M, Query) ->
    try queries(M) of
        Shapes -> check_shape(M, "query", Shapes, fun queries/1, Query)
    catch
        error:function_clause -> ok
    end.

check_shape(M, Word, Shapes, Of, Term) ->
    case match_shape(Shapes, Term) of
        {ok, Kinds, Args} ->
            first_error([fun() -> check_arg(K, A) end || {K, A} <- lists:zip(Kinds, Args)]);
        nomatch ->
            Others = [name(T) || T <- ?TYPES, T =/= M, match_shape(Of(T), Term) =/= nomatch],
            Also = case Others of
                       [] -> "";
                       _ -> fmt(" (it is one for: ~ts)", [lists:join(", ", Others)])
                   end,
            Binary = case is_binary(Term) of
                         true -> " (a binary: is it the state? Erlang puts the state last, "
                                 "Elixir first)";
                         false -> ""
                     end,
            {error, fmt("the ~ts ~ts is not ~ts of ~ts~ts~ts; those are: ~ts",
                        [Word, show(Term), article(Word), a_name(M), Also, Binary,
                         lists:join(", ", [shape(S) || S <- Shapes])])}
    end.

article("operation") -> "an operation";
article("query") -> "a query".

match_shape([], _) -> nomatch;
match_shape([Atom | _], Atom) when is_atom(Atom) -> {ok, [], []};
match_shape([{Tag, Kinds} | Rest], Term) ->
    case is_tuple(Term) andalso tuple_size(Term) =:= length(Kinds) + 1 andalso
         element(1, Term) =:= Tag of
        true -> {ok, Kinds, tl(tuple_to_list(Term))};
        false -> match_shape(Rest, Term)
    end;
match_shape([_ | Rest], Term) -> match_shape(Rest, Term).

check_arg(count, N) -> check_count("the amount", N);
check_arg(ts, Ts) -> check_ts(Ts);
check_arg(elements, L) -> check_list("list of elements", L);
check_arg(actor, A) -> check_actor(none, A);
check_arg(Kind, T) -> check_data(atom_to_list(Kind), T).

shape(Atom) when is_atom(Atom) -> atom_to_list(Atom);
shape({Tag, Kinds}) ->
    "{" ++ lists:join(", ", [atom_to_list(Tag) | [kind_name(K) || K <- Kinds]]) ++ "}".

kind_name(count) -> "N";
kind_name(ts) -> "Ts";
kind_name(element) -> "E";
kind_name(elements) -> "[E]";
kind_name(value) -> "V";
kind_name(key) -> "K";
kind_name(actor) -> "Actor".

a_name(M) ->
    case name(M) of
        [C | _] = Name when C =:= $O; C =:= $L; C =:= $M -> "an " ++ Name;
        Name -> "a " ++ Name
    end.

name(lattice_gcounter) -> "G-Counter";
name(lattice_pncounter) -> "PN-Counter";
name(lattice_gset) -> "G-Set";
name(lattice_twopset) -> "2P-Set";
name(lattice_orset) -> "OR-Set";
name(lattice_lwwset) -> "LWW-Element-Set";
name(lattice_lwwreg) -> "LWW-Register";
name(lattice_lwwmap) -> "LWW-Map";
name(lattice_mvreg) -> "MV-Register";
name(lattice_vclock) -> "vector clock";
name(lattice_dvv) -> "dotted version vector";
name(_) -> "CRDT".

what(lattice_object) -> "a state of the object's type";
what(lattice_type) -> "a CRDT state";
what(lattice_vclock) -> "a vector clock";
what(lattice_dvv) -> "a dotted version vector";
what(M) -> a_name(M) ++ " state".

%% ---- objects -----------------------------------------------------------------------------

is_object(Ref) ->
    node(Ref) =:= node() andalso
        try lattice_nif:obj_digest(Ref) of _ -> true catch error:badarg -> false end.

check_object(Object) when is_reference(Object) ->
    case node(Object) =:= node() of
        false ->
            {error, fmt("the object was made on node ~ts: objects are node-local (a resource "
                        "sent to another node is still a reference there, but it refers to "
                        "nothing; node(Object) tells where it lives). Send a snapshot or a "
                        "delta instead", [show(node(Object))])};
        true ->
            case is_object(Object) of
                true -> ok;
                false -> {error, fmt("the object must be an in-place object (from "
                                     "lattice_object:new/1), got a reference that is not one: "
                                     "~ts", [show(Object)])}
            end
    end;
check_object(Object) when is_binary(Object) ->
    {error, "the object must be an in-place object (from lattice_object:new/1), got a state "
            "binary: use the type's own functions on states, or lattice_object:new(State) to "
            "make an object of it"};
check_object(Object) ->
    {error, fmt("the object must be an in-place object (from lattice_object:new/1), got: ~ts",
                [show(Object)])}.

%% Runs Check on the object's type module, when the object itself is fine.
with_object_type(Object, Check) ->
    case check_object(Object) of
        ok -> Check(lattice_type:module(lattice_nif:obj_snapshot(Object)));
        _ -> ok
    end.

check_new(Module) when is_atom(Module) ->
    {error, fmt("~ts is not a CRDT type with objects; the types are: ~ts",
                [show(Module), lists:join(", ", [atom_to_list(T) || T <- ?TYPES])])};
check_new(Other) ->
    {error, fmt("expected a CRDT type module (such as lattice_orset) or a state binary, "
                "got: ~ts", [show(Other)])}.

%% ---- text --------------------------------------------------------------------------------

show(T) ->
    lists:flatten(io_lib:format("~0tP", [T, 12])).

fmt(Format, Args) ->
    lists:flatten(io_lib:format(Format, Args)).
