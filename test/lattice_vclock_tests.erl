-module(lattice_vclock_tests).
-include_lib("eunit/include/eunit.hrl").

-define(V, lattice_vclock).

basics_test() ->
    C0 = ?V:new(),
    ?assertEqual(0, ?V:size(C0)),
    ?assertEqual(0, ?V:get(a, C0)),
    C1 = ?V:increment(a, C0),
    C2 = ?V:increment(b, 5, C1),
    C3 = ?V:increment(a, C2),
    ?assertEqual(2, ?V:get(a, C3)),
    ?assertEqual(5, ?V:get(b, C3)),
    ?assertEqual(0, ?V:get(c, C3)),
    ?assertEqual(2, ?V:size(C3)),
    ?assertEqual([{a, 2}, {b, 5}], ?V:to_list(C3)),
    ?assertEqual(ok, ?V:validate(C3)).

canonical_bytes_test() ->
    %% The same clock reached in different orders is the same binary.
    A = ?V:increment(x, ?V:increment(y, ?V:increment(z, ?V:new()))),
    B = ?V:increment(z, ?V:increment(x, ?V:increment(y, ?V:new()))),
    ?assertEqual(A, B),
    ?assertEqual(A, ?V:from_list([{z, 1}, {y, 1}, {x, 1}])).

from_list_test() ->
    ?assertEqual(?V:new(), ?V:from_list([])),
    ?assertEqual(?V:new(), ?V:from_list([{a, 0}])),
    C = ?V:from_list([{{node, 1}, 3}, {<<"bin">>, 1}, {"str", 7}, {42, 2}]),
    ?assertEqual(lists:sort([{{node, 1}, 3}, {<<"bin">>, 1}, {"str", 7}, {42, 2}]), ?V:to_list(C)),
    ?assertEqual(C, ?V:from_list(?V:to_list(C))),
    ?assertError(badarg, ?V:from_list([{a, 1}, {a, 2}])),
    ?assertError(badarg, ?V:from_list([{a, -1}])),
    ?assertError(badarg, ?V:from_list([{a, 1 bsl 64}])),
    ?assertError(badarg, ?V:from_list([a])),
    ?assertError(badarg, ?V:from_list([{a, 1} | b])),
    ?assertError(badarg, ?V:from_list(not_a_list)).

compare_test() ->
    A = ?V:from_list([{a, 1}, {b, 2}]),
    B = ?V:from_list([{a, 1}, {b, 3}]),
    C = ?V:from_list([{a, 2}, {b, 1}]),
    D = ?V:from_list([{a, 1}, {b, 2}, {c, 1}]),
    ?assertEqual(eq, ?V:compare(A, A)),
    ?assertEqual(lt, ?V:compare(A, B)),
    ?assertEqual(gt, ?V:compare(B, A)),
    ?assertEqual(concurrent, ?V:compare(B, C)),
    ?assertEqual(lt, ?V:compare(A, D)),
    ?assertEqual(concurrent, ?V:compare(B, D)),
    ?assertEqual(gt, ?V:compare(A, ?V:new())),
    ?assert(?V:descends(B, A)),
    ?assert(?V:descends(A, A)),
    ?assertNot(?V:descends(A, B)),
    ?assert(?V:dominates(B, A)),
    ?assertNot(?V:dominates(A, A)),
    ?assertNot(?V:dominates(B, C)).

merge_test() ->
    A = ?V:from_list([{a, 1}, {b, 2}]),
    B = ?V:from_list([{b, 3}, {c, 4}]),
    M = ?V:merge(A, B),
    ?assertEqual([{a, 1}, {b, 3}, {c, 4}], ?V:to_list(M)),
    ?assertEqual(M, ?V:merge([A, B])),
    ?assertEqual(M, ?V:merge([B, ?V:new(), A, A])),
    ?assertEqual(?V:new(), ?V:merge([])),
    %% Same actors: the fast path.
    S = ?V:from_list([{a, 3}, {b, 1}]),
    ?assertEqual([{a, 3}, {b, 2}], ?V:to_list(?V:merge(A, S))).

prune_test() ->
    C = ?V:from_list([{a, 1}, {b, 2}, {c, 3}]),
    ?assertEqual([{b, 2}], ?V:to_list(?V:prune([a, c, not_there], C))),
    ?assertEqual(C, ?V:prune([], C)),
    ?assertError(badarg, ?V:prune(a, C)).

overflow_test() ->
    Max = 1 bsl 64 - 1,
    C = ?V:from_list([{a, Max}]),
    ?assertEqual(Max, ?V:get(a, C)),
    ?assertEqual({error, {overflow, counter}}, ?V:increment(a, C)).

actor_kinds_test() ->
    Actors = [a, 'ünïcödé', '日本', 0, -1, 1 bsl 100, 1.5, <<>>, <<"x">>, "", "str", {}, {a, 1},
              [a | b], #{k => v}, #{}],
    C = lists:foldl(fun(A, Acc) -> ?V:increment(A, Acc) end, ?V:new(), Actors),
    ?assertEqual(length(Actors), ?V:size(C)),
    [?assertEqual(1, ?V:get(A, C)) || A <- Actors],
    ?assertEqual(lists:sort([{A, 1} || A <- Actors]), ?V:to_list(C)),
    ?assertEqual(ok, ?V:validate(C)).

badarg_test() ->
    C = ?V:from_list([{a, 1}]),
    ?assertError(badarg, ?V:increment(self(), C)),
    ?assertError(badarg, ?V:increment(fun() -> ok end, C)),
    ?assertError(badarg, ?V:increment(make_ref(), C)),
    ?assertError(badarg, ?V:increment(<<1:3>>, C)),
    ?assertError(badarg, ?V:increment(binary:copy(<<"x">>, 2000), C)),
    ?assertError(badarg, ?V:increment(a, 0, C)),
    ?assertError(badarg, ?V:increment(a, -1, C)),
    ?assertError(badarg, ?V:increment(a, not_a_clock)),
    ?assertError(badarg, ?V:get(a, [])),
    ?assertError(badarg, ?V:merge(C, 1)),
    ?assertError(badarg, ?V:compare(1, C)),
    ?assertError(badarg, ?V:to_list(foo)),
    ?assertError(badarg, ?V:size(foo)),
    ?assertError(badarg, ?V:validate(foo)).

corrupt_test() ->
    C = ?V:from_list([{a, 1}, {bb, 2}, {{c, 3}, 4}]),
    Bad = [<<>>, <<1>>, <<1, 1>>, <<1, 2, 0>>, <<2, 1, 0>>, <<1, 1, 5>>, <<C/binary, 0>>,
           <<1, 1, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1>>]
        ++ [binary:part(C, 0, N) || N <- lists:seq(0, byte_size(C) - 1)],
    lists:foreach(
      fun(B) ->
              ?assertMatch({error, {bad_vclock, _}}, ?V:compare(B, C)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:compare(C, B)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:merge(B, C)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:merge(C, B)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:increment(a, B)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:get(a, B)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:to_list(B)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:size(B)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:prune([a], B)),
              ?assertMatch({error, {bad_vclock, _}}, ?V:validate(B))
      end, Bad).

zero_counter_test() ->
    %% A clock whose counter column holds a 0: structurally invalid.
    <<H:3/binary, Id:8/binary, _:8/binary, Rest/binary>> = ?V:from_list([{a, 1}]),
    Zero = <<H/binary, Id/binary, 0:64, Rest/binary>>,
    ?assertEqual({error, {bad_vclock, zero_counter}}, ?V:size(Zero)),
    ?assertEqual({error, {bad_vclock, zero_counter}}, ?V:compare(Zero, Zero)).

wrong_id_test() ->
    %% A structurally sound clock whose id is not its actor's hash: validate/1 and to_list/1
    %% (which decode actors) refuse it.
    <<H:3/binary, _:8/binary, Rest/binary>> = ?V:from_list([{a, 1}]),
    Forged = <<H/binary, 12345:64, Rest/binary>>,
    ?assertEqual({error, {bad_vclock, bad_actor_id}}, ?V:validate(Forged)),
    ?assertEqual({error, {bad_vclock, bad_actor_id}}, ?V:to_list(Forged)),
    ?assertEqual(1, ?V:size(Forged)).

garbage_never_crashes_test() ->
    rand:seed(exsss, {1, 2, 3}),
    C = ?V:from_list([{a, 1}, {b, 2}]),
    lists:foreach(
      fun(_) ->
              G = case rand:uniform(2) of
                      1 -> rand:bytes(rand:uniform(64));
                      2 -> mutate(C)
                  end,
              [ok = returns(F) || F <- [fun() -> ?V:compare(G, C) end,
                                        fun() -> ?V:merge(G, C) end,
                                        fun() -> ?V:to_list(G) end,
                                        fun() -> ?V:increment(x, G) end,
                                        fun() -> ?V:validate(G) end]]
      end, lists:seq(1, 5000)).

mutate(Bin) ->
    N = rand:uniform(byte_size(Bin)) - 1,
    <<Pre:N/binary, Byte, Post/binary>> = Bin,
    <<Pre/binary, (Byte bxor rand:uniform(255)), Post/binary>>.

returns(F) ->
    try F() of
        _ -> ok
    catch
        Class:Reason -> {raised, Class, Reason}
    end.

large_clock_test_() ->
    {timeout, 60,
     fun() ->
             N = 200000,
             A = ?V:from_list([{I, I} || I <- lists:seq(1, N)]),
             B = ?V:from_list([{I, I + 1} || I <- lists:seq(1, N)]),
             ?assertEqual(N, ?V:size(A)),
             ?assertEqual(lt, ?V:compare(A, B)),
             ?assertEqual(B, ?V:merge(A, B)),
             Other = ?V:from_list([{I, 1} || I <- lists:seq(N, 2 * N)]),
             ?assertEqual(concurrent, ?V:compare(A, Other)),
             M = ?V:merge(A, Other),
             ?assertEqual(2 * N, ?V:size(M)),
             ?assertEqual(gt, ?V:compare(M, A)),
             ?assertEqual(N + 1, ?V:get(N, ?V:increment(N, M))),
             ?assertEqual(ok, ?V:validate(M))
     end}.
