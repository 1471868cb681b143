-module(lattice_dvv_tests).
-include_lib("eunit/include/eunit.hrl").

-define(D, lattice_dvv).

basics_test() ->
    D0 = ?D:new(),
    ?assertEqual({[], []}, ?D:to_list(D0)),
    {{a, 1}, D1} = ?D:event(a, D0),
    {{a, 2}, D2} = ?D:event(a, D1),
    ?assertEqual({[{a, 2}], []}, ?D:to_list(D2)),
    ?assert(?D:contains({a, 1}, D2)),
    ?assert(?D:contains({a, 2}, D2)),
    ?assertNot(?D:contains({a, 3}, D2)),
    ?assertNot(?D:contains({b, 1}, D2)),
    ?assertEqual(2, ?D:counter(a, D2)),
    ?assertEqual(0, ?D:counter(b, D2)),
    ?assertEqual(ok, ?D:validate(D2)).

compaction_test() ->
    %% Dots above the base stay in the cloud until the gap fills; then they fold in.
    D = ?D:from_list({[{a, 3}], [{a, 5}, {a, 6}, {a, 8}, {b, 2}]}),
    ?assertEqual({[{a, 3}], [{a, 5}, {a, 6}, {a, 8}, {b, 2}]}, ?D:to_list(D)),
    ?assertEqual(8, ?D:counter(a, D)),
    D2 = ?D:add({a, 4}, D),
    ?assertEqual({[{a, 6}], [{a, 8}, {b, 2}]}, ?D:to_list(D2)),
    D3 = ?D:add({b, 1}, D2),
    ?assertEqual({[{a, 6}, {b, 2}], [{a, 8}]}, ?D:to_list(D3)),
    %% Adding a dot already held changes nothing (the same binary comes back).
    ?assertEqual(D3, ?D:add({a, 2}, D3)),
    %% The same context built another way is the same bytes.
    ?assertEqual(D3, ?D:from_list({[], [{a, N} || N <- [8, 6, 5, 4, 3, 2, 1]] ++ [{b, 2}, {b, 1}]})).

merge_descends_test() ->
    A = ?D:from_list({[{a, 2}], [{b, 3}]}),
    B = ?D:from_list({[{a, 1}, {b, 2}], [{c, 5}]}),
    M = ?D:merge(A, B),
    ?assertEqual({[{a, 2}, {b, 3}], [{c, 5}]}, ?D:to_list(M)),
    ?assert(?D:descends(M, A)),
    ?assert(?D:descends(M, B)),
    ?assertNot(?D:descends(A, B)),
    ?assertNot(?D:descends(B, A)),
    ?assert(?D:descends(A, ?D:new())),
    ?assertEqual(M, ?D:merge([A, B, ?D:new()])),
    ?assertEqual(?D:new(), ?D:merge([])).

errors_test() ->
    D = ?D:from_list({[{a, 2}], [{b, 3}]}),
    ?assertError(badarg, ?D:add({self(), 1}, D)),
    ?assertError(badarg, ?D:add({a, 0}, D)),
    ?assertError(badarg, ?D:add(a, D)),
    ?assertError(badarg, ?D:contains({a, 0}, D)),
    ?assertError(badarg, ?D:contains(a, D)),
    ?assertError(badarg, ?D:from_list([])),
    ?assertError(badarg, ?D:add({a, 1}, not_binary)),
    ?assertError(badarg, ?D:from_list({[{a, -1}], []})),
    ?assertError(badarg, ?D:from_list({[], [{a, 0}]})),
    ?assertError(badarg, ?D:merge(D, 1)),
    Bad = [<<>>, <<2>>, <<2, 2, 0>>, <<1, 1, 0>>, <<D/binary, 0>>]
        ++ [binary:part(D, 0, N) || N <- lists:seq(0, byte_size(D) - 1)],
    [begin
         ?assertMatch({error, {bad_dvv, _}}, ?D:merge(B, D)),
         ?assertMatch({error, {bad_dvv, _}}, ?D:merge(D, B)),
         ?assertMatch({error, {bad_dvv, _}}, ?D:add({a, 9}, B)),
         ?assertMatch({error, {bad_dvv, _}}, ?D:contains({a, 1}, B)),
         ?assertMatch({error, {bad_dvv, _}}, ?D:to_list(B)),
         ?assertMatch({error, {bad_dvv, _}}, ?D:validate(B))
     end || B <- Bad].
