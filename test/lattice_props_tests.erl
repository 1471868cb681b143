%% PropEr properties: the lattice laws, agreement with the plain Erlang models in test/, and
%% that no bytes can crash a decoder. Run by `rebar3 eunit`.
-module(lattice_props_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(V, lattice_vclock).
-define(D, lattice_dvv).
-define(H, lattice_hlc).

%% ---- running ---------------------------------------------------------------------------

props_test_() ->
    Props = [P || {P, 0} <- ?MODULE:module_info(exports),
                  lists:prefix("prop_", atom_to_list(P))],
    [{atom_to_list(P), {timeout, 300,
                        fun() -> ?assert(proper:quickcheck(?MODULE:P(),
                                                           [{numtests, numtests()},
                                                            {to_file, user}, long_result]) =:= true)
                        end}}
     || P <- lists:sort(Props)].

numtests() ->
    case os:getenv("LATTICE_PROPER_NUMTESTS") of
        false -> 500;
        N -> list_to_integer(N)
    end.

%% ---- generators ------------------------------------------------------------------------

actor() ->
    oneof([elements([a, b, c, d, e, f, g, h, 'ü', '日']), range(-3, 12), binary(1),
           {elements([n1, n2]), range(1, 3)}]).

clock_list() ->
    ?LET(L, list({actor(), range(0, 6)}), lists:ukeysort(1, L)).

clock() ->
    ?LET(L, clock_list(), ?V:from_list(L)).

dvv_list() ->
    {list({actor(), range(0, 4)}), list({actor(), range(1, 8)})}.

dvv() ->
    ?LET(L, dvv_list(), ?D:from_list(L)).

data_term() ->
    ?SIZED(S, data_term(S)).

data_term(S) when S =< 1 ->
    scalar();
data_term(S) ->
    frequency([{4, scalar()},
               {1, ?LAZY(list(data_term(S div 3)))},
               {1, ?LAZY(?LET(L, list(data_term(S div 3)), list_to_tuple(L)))},
               {1, ?LAZY(?LET(L, list({data_term(S div 4), data_term(S div 4)}), maps:from_list(L)))},
               {1, ?LAZY(?LET({L, T}, {non_empty(list(data_term(S div 3))), scalar()}, L ++ T))}]).

scalar() ->
    %% Atoms from a fixed pool: generated atoms are never collected and would fill the table.
    oneof([integer(), largeint(), ?LET(N, largeint(), N * 1000000000000000000000), float(),
           elements(['', a, 'B', 'with space', 'ünïcödé', '日本語', 'emoji😀', true, undefined,
                     list_to_atom(lists:duplicate(255, $x)),
                     list_to_atom(lists:duplicate(255, 16#1F600))]),
           binary(),
           elements([0.0, -0.0, 1 bsl 63, -(1 bsl 63), 1 bsl 63 - 1, -(1 bsl 63) - 1, []])]).

%% ---- vector clocks -----------------------------------------------------------------------

prop_vclock_merge_commutative() ->
    ?FORALL({A, B}, {clock(), clock()}, ?V:merge(A, B) =:= ?V:merge(B, A)).

prop_vclock_merge_associative() ->
    ?FORALL({A, B, C}, {clock(), clock(), clock()},
            ?V:merge(?V:merge(A, B), C) =:= ?V:merge(A, ?V:merge(B, C))).

prop_vclock_merge_idempotent() ->
    ?FORALL(A, clock(), ?V:merge(A, A) =:= A).

prop_vclock_merge_is_upper_bound() ->
    ?FORALL({A, B}, {clock(), clock()},
            begin
                M = ?V:merge(A, B),
                lists:member(?V:compare(A, M), [lt, eq]) andalso
                    lists:member(?V:compare(B, M), [lt, eq])
            end).

prop_vclock_compare_agrees_with_model() ->
    ?FORALL({LA, LB}, {clock_list(), clock_list()},
            begin
                MA = lattice_vclock_model:from_list(LA),
                MB = lattice_vclock_model:from_list(LB),
                ?WHENFAIL(io:format("~p vs ~p~n", [MA, MB]),
                          ?V:compare(?V:from_list(LA), ?V:from_list(LB)) =:=
                              lattice_vclock_model:compare(MA, MB))
            end).

prop_vclock_merge_agrees_with_model() ->
    ?FORALL({LA, LB}, {clock_list(), clock_list()},
            ?V:to_list(?V:merge(?V:from_list(LA), ?V:from_list(LB))) =:=
                lists:sort(lattice_vclock_model:merge(lattice_vclock_model:from_list(LA),
                                                      lattice_vclock_model:from_list(LB)))).

prop_vclock_increment_agrees_with_model() ->
    ?FORALL({L, Actors}, {clock_list(), list(actor())},
            begin
                C = lists:foldl(fun ?V:increment/2, ?V:from_list(L), Actors),
                M = lists:foldl(fun lattice_vclock_model:increment/2,
                                lattice_vclock_model:from_list(L), Actors),
                ?V:to_list(C) =:= lists:sort(M)
                    andalso lists:all(fun(A) -> ?V:get(A, C) =:= lattice_vclock_model:get(A, M) end,
                                      Actors)
            end).

prop_vclock_increment_is_inflation() ->
    ?FORALL({C, A}, {clock(), actor()}, ?V:compare(C, ?V:increment(A, C)) =:= lt).

prop_vclock_list_roundtrip() ->
    ?FORALL(C, clock(), ?V:from_list(?V:to_list(C)) =:= C).

%% Any bytes: every call answers (a value or {error, _}) and never raises; bytes that pass
%% the full check re-encode to themselves.
prop_vclock_garbage_never_crashes() ->
    ?FORALL(Bin, oneof([binary(), ?LET({C, Pos, X}, {clock(), nat(), byte()}, flip(C, Pos, X))]),
            begin
                Ref = ?V:from_list([{a, 1}]),
                Answers = [catch_all(F) || F <- [fun() -> ?V:compare(Bin, Ref) end,
                                                 fun() -> ?V:merge(Ref, Bin) end,
                                                 fun() -> ?V:increment(b, Bin) end,
                                                 fun() -> ?V:to_list(Bin) end,
                                                 fun() -> ?V:size(Bin) end]],
                NoRaise = not lists:any(fun({raised, _, _}) -> true; (_) -> false end, Answers),
                Reencodes = case ?V:validate(Bin) of
                                ok -> ?V:from_list(?V:to_list(Bin)) =:= Bin;
                                {error, {bad_vclock, _}} -> true
                            end,
                ?WHENFAIL(io:format("~p -> ~p~n", [Bin, Answers]), NoRaise andalso Reencodes)
            end).

flip(Bin, _Pos, _X) when byte_size(Bin) =:= 0 -> Bin;
flip(Bin, Pos, X) ->
    N = Pos rem byte_size(Bin),
    <<Pre:N/binary, B, Post/binary>> = Bin,
    <<Pre/binary, (B bxor X), Post/binary>>.

catch_all(F) ->
    try F() catch Class:Reason -> {raised, Class, Reason} end.

%% ---- canonical terms ---------------------------------------------------------------------

prop_canon_roundtrip() ->
    ?FORALL(T, data_term(), lattice_canon:decode(lattice_canon:encode(T)) =:= {ok, T}).

prop_canon_equal_terms_equal_bytes() ->
    ?FORALL(L, list({data_term(), data_term()}),
            begin
                M = maps:from_list(L),
                R = maps:from_list(lists:reverse(maps:to_list(M))),
                lattice_canon:encode(M) =:= lattice_canon:encode(R)
            end).

prop_canon_garbage_never_crashes() ->
    ?FORALL(Bin, oneof([binary(),
                        ?LET({T, Pos, X}, {data_term(), nat(), byte()},
                             flip(lattice_canon:encode(T), Pos, X)),
                        ?LET({T, N}, {data_term(), nat()}, truncate(lattice_canon:encode(T), N))]),
            case catch_all(fun() -> lattice_canon:decode(Bin, [existing_atoms]) end) of
                {ok, T} -> lattice_canon:encode(T) =:= Bin;
                {error, {bad_term, _}} -> true;
                Other -> ?WHENFAIL(io:format("~p -> ~p~n", [Bin, Other]), false)
            end).

truncate(Bin, N) -> binary:part(Bin, 0, N rem (byte_size(Bin) + 1)).

%% ---- hybrid logical clock ----------------------------------------------------------------

physical_ms() -> range(1000000, 1100000).

prop_hlc_now_strictly_increases() ->
    ?FORALL({Start, Walls}, {physical_ms(), list(physical_ms())},
            begin
                Ts = lists:foldl(fun(W, [Last | _] = Acc) -> [?H:pure_now(Last, W) | Acc] end,
                                 [?H:from_physical(Start)], Walls),
                Asc = lists:reverse(Ts),
                Asc =:= lists:usort(Asc)
            end).

prop_hlc_update_is_above_both() ->
    ?FORALL({Last, RemoteMs, RemoteLogical, Wall, MaxOffset},
            {?LET(P, physical_ms(), ?H:from_physical(P)), physical_ms(), range(0, 65535),
             physical_ms(), range(0, 2000)},
            begin
                Remote = ?H:make(RemoteMs, RemoteLogical),
                case ?H:pure_update(Last, Remote, Wall, MaxOffset) of
                    {ok, T} ->
                        RemoteMs - Wall =< MaxOffset andalso T > Last andalso T > Remote
                            andalso T >= ?H:from_physical(Wall);
                    {error, {clock_skew, Skew}} ->
                        Skew =:= RemoteMs - Wall andalso Skew > MaxOffset
                end
            end).

prop_hlc_update_is_least_upper_bound() ->
    %% Nothing smaller than the result would also be above both inputs and the wall clock.
    ?FORALL({Last, Remote, Wall}, {nat(), nat(), range(0, 100)},
            begin
                {ok, T} = ?H:pure_update(Last, Remote, Wall, 1 bsl 40),
                T =:= lists:max([Last + 1, Remote + 1, ?H:from_physical(Wall)])
            end).

%% ---- dotted version vectors --------------------------------------------------------------

prop_dvv_agrees_with_model() ->
    ?FORALL({LA, LB, Dots}, {dvv_list(), dvv_list(), list({actor(), range(1, 10)})},
            begin
                A = lists:foldl(fun ?D:add/2, ?D:from_list(LA), Dots),
                B = ?D:from_list(LB),
                MA = lists:foldl(fun lattice_dvv_model:add/2, lattice_dvv_model:from_list(LA), Dots),
                MB = lattice_dvv_model:from_list(LB),
                M = ?D:merge(A, B),
                ?D:to_list(A) =:= lattice_dvv_model:to_list(MA)
                    andalso ?D:to_list(M) =:= lattice_dvv_model:to_list(lattice_dvv_model:merge(MA, MB))
                    andalso ?D:descends(A, B) =:= lattice_dvv_model:descends(MA, MB)
                    andalso lists:all(fun(Dot) -> ?D:contains(Dot, M) =:= lattice_dvv_model:contains(Dot, lattice_dvv_model:merge(MA, MB)) end,
                                      [{Act, N} || {Act, _} <- Dots, N <- lists:seq(1, 12)])
                    andalso lists:all(fun({Act, _}) -> ?D:counter(Act, A) =:= lattice_dvv_model:counter(Act, MA) end, Dots)
            end).

prop_dvv_merge_laws() ->
    ?FORALL({A, B, C}, {dvv(), dvv(), dvv()},
            ?D:merge(A, B) =:= ?D:merge(B, A)
                andalso ?D:merge(?D:merge(A, B), C) =:= ?D:merge(A, ?D:merge(B, C))
                andalso ?D:merge(A, A) =:= A
                andalso ?D:descends(?D:merge(A, B), A)).

prop_dvv_garbage_never_crashes() ->
    ?FORALL(Bin, oneof([binary(), ?LET({D, Pos, X}, {dvv(), nat(), byte()}, flip(D, Pos, X))]),
            begin
                Answers = [catch_all(F) || F <- [fun() -> ?D:merge(Bin, ?D:new()) end,
                                                 fun() -> ?D:add({a, 3}, Bin) end,
                                                 fun() -> ?D:to_list(Bin) end,
                                                 fun() -> ?D:descends(Bin, Bin) end]],
                NoRaise = not lists:any(fun({raised, _, _}) -> true; (_) -> false end, Answers),
                Reencodes = case ?D:validate(Bin) of
                                ok -> ?D:from_list(?D:to_list(Bin)) =:= Bin;
                                {error, {bad_dvv, _}} -> true
                            end,
                ?WHENFAIL(io:format("~p -> ~p~n", [Bin, Answers]), NoRaise andalso Reencodes)
            end).
