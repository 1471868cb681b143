%% lattice_replay: the window against a model set (PropEr), the edges, senders, the table cap,
%% concurrency on one table, and badarg explanations.
-module(lattice_replay_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(R, lattice_replay).

basics_test() ->
    R = ?R:new(#{bits => 1024}),
    ?assertEqual(ok, ?R:check(R, <<"a">>, 0)),
    ?assertEqual(ok, ?R:check(R, <<"a">>, 0)),
    ?assertEqual(ok, ?R:update(R, <<"a">>, 0)),
    ?assertEqual({error, duplicate}, ?R:check(R, <<"a">>, 0)),
    ?assertEqual({error, duplicate}, ?R:update(R, <<"a">>, 0)),
    ?assertEqual(ok, ?R:update(R, <<"b">>, 0)),
    ?assertEqual(ok, ?R:update(R, <<"a">>, 5000)),
    %% The window: 1024 - 64 = 960 counters, down to 5000 - 959.
    ?assertEqual(ok, ?R:check(R, <<"a">>, 5000 - 959)),
    ?assertEqual({error, too_old}, ?R:check(R, <<"a">>, 5000 - 960)),
    ?assertEqual({ok, 5000}, ?R:greatest(R, <<"a">>)),
    ?assertEqual(none, ?R:greatest(R, <<"c">>)),
    ?assertEqual(ok, ?R:update(R, <<"a">>, 1 bsl 64 - 1)),
    ?assertEqual({error, duplicate}, ?R:update(R, <<"a">>, 1 bsl 64 - 1)),
    ?assert(?R:forget(R, <<"a">>)),
    ?assertNot(?R:forget(R, <<"a">>)),
    ?assertEqual(ok, ?R:update(R, <<"a">>, 0)),
    Info = ?R:info(R),
    ?assertMatch(#{bits := 1024, window := 960, senders := 2, max_senders := 4096}, Info),
    ?assert(maps:get(duplicates, Info) >= 3).

full_test() ->
    R = ?R:new(#{max_senders => 3, bits => 2048}),
    [?assertEqual(ok, ?R:update(R, <<I>>, 1)) || I <- [1, 2, 3]],
    ?assertEqual({error, full}, ?R:update(R, <<4>>, 1)),
    ?assertEqual(ok, ?R:check(R, <<4>>, 1)),
    ?assert(?R:forget(R, <<2>>)),
    ?assertEqual(ok, ?R:update(R, <<4>>, 1)).

stats_test() ->
    Before = ?R:stats(),
    R = ?R:new(),
    ok = ?R:update(R, <<"s">>, 1),
    {error, duplicate} = ?R:update(R, <<"s">>, 1),
    After = ?R:stats(),
    ?assert(maps:get(accepted, After) >= maps:get(accepted, Before) + 1),
    ?assert(maps:get(duplicates, After) >= maps:get(duplicates, Before) + 1).

badarg_test_() ->
    R = ?R:new(),
    [?_assertError(badarg, ?R:new(#{bits => 1000})),
     ?_assertError(badarg, ?R:new(#{bits => 512})),
     ?_assertError(badarg, ?R:new(#{max_senders => 0})),
     ?_assertError(badarg, ?R:new(#{other => 1})),
     ?_assertError(badarg, ?R:check(R, <<>>, 1)),
     ?_assertError(badarg, ?R:check(R, binary:copy(<<"x">>, 256), 1)),
     ?_assertError(badarg, ?R:update(R, <<"a">>, -1)),
     ?_assertError(badarg, ?R:update(R, <<"a">>, 1 bsl 64)),
     ?_assertError(badarg, ?R:update(make_ref(), <<"a">>, 1)),
     ?_assertMatch(#{3 := "the counter must be an integer in 0..18446744073709551615" ++ _},
                   explain(fun() -> ?R:update(R, <<"a">>, -1) end)),
     ?_assertMatch(#{1 := "the replay table must be" ++ _},
                   explain(fun() -> ?R:check(foo, <<"a">>, 1) end)),
     ?_assertMatch(#{1 := "bits must be a power of two" ++ _},
                   explain(fun() -> ?R:new(#{bits => 3}) end))].

explain(F) ->
    try F(), no_error
    catch error:badarg:St -> lattice_replay:format_error(badarg, St)
    end.

%% Processes on every scheduler race to update the same counters: each counter is accepted
%% exactly once. Calls that find the lock taken move to a dirty I/O scheduler (counted as
%% lock_busy: some thousands here on two schedulers) and still give exact answers.
race_test_() ->
    {timeout, 60, fun race/0}.

race() ->
    R = ?R:new(),
    Self = self(),
    N = 100000,
    Pids = [spawn_link(fun() ->
                               Oks = length([C || C <- lists:seq(1, N),
                                                  ?R:update(R, <<"race">>, C) =:= ok]),
                               Self ! {self(), Oks}
                       end) || _ <- [1, 2, 3, 4]],
    Total = lists:sum([receive {P, K} -> K end || P <- Pids]),
    ?assertEqual(N, Total).

%% ---- the property: the window against a model set ------------------------------------------

replay_model_test_() ->
    {timeout, 120,
     fun() ->
             ?assert(proper:quickcheck(prop_model(), [{numtests, 300}, {to_file, user},
                                                     long_result]) =:= true)
     end}.

%% Steps: a small step forward (reordered a little), a step back inside or beyond the window,
%% a jump (sometimes over the whole ring), an exact repeat of an earlier counter; for one or
%% two senders. Each is checked, then updated; both must agree with the model.
step() ->
    frequency([{5, {fwd, range(0, 3), range(0, 8)}},
               {3, {back, range(0, 2200)}},
               {1, {jump, range(0, 5000)}},
               {2, repeat},
               {1, {edge, range(-2, 2)}}]).

prop_model() ->
    ?FORALL({Bits, Start, Steps},
            {elements([1024, 2048]), oneof([range(0, 100), range(1 bsl 64 - 3000, 1 bsl 64 - 2900)]),
             list({elements([<<"a">>, <<"b">>]), step()})},
            begin
                R = ?R:new(#{bits => Bits}),
                Span = Bits - 64,
                Init = #{<<"a">> => {Start, none, []}, <<"b">> => {Start, none, []}},
                {Ok, _} = lists:foldl(
                            fun({S, Step}, {true, M}) ->
                                    {Front, G, Seen} = maps:get(S, M),
                                    {C, Front2} = counter(Step, Front, Seen, Span),
                                    Want = model(C, G, Seen, Span),
                                    Check = ?R:check(R, S, C),
                                    Update = ?R:update(R, S, C),
                                    {G2, Seen2} = case Want of
                                                      ok -> {max_g(G, C), [C | Seen]};
                                                      _ -> {G, Seen}
                                                  end,
                                    {Check =:= Want andalso Update =:= Want,
                                     M#{S => {Front2, G2, Seen2}}};
                               (_, Acc) ->
                                    Acc
                            end, {true, Init}, Steps),
                Ok
            end).

clamp(C) -> max(0, min(1 bsl 64 - 1, C)).

counter({fwd, Step, Back}, Front, _, _) ->
    F = clamp(Front + Step), {clamp(F - Back), F};
counter({back, D}, Front, _, _) -> {clamp(Front - D), Front};
counter({jump, D}, Front, _, _) -> F = clamp(Front + D), {F, F};
counter(repeat, Front, [], _) -> {Front, Front};
counter(repeat, Front, Seen, _) -> {lists:nth(1 + (Front rem length(Seen)), Seen), Front};
counter({edge, D}, Front, _, Span) -> {clamp(Front - Span + D), Front}.

model(_, none, _, _) -> ok;
model(C, G, _, _) when C > G -> ok;
model(C, G, _, Span) when G - C >= Span -> {error, too_old};
model(C, _, Seen, _) ->
    case lists:member(C, Seen) of
        true -> {error, duplicate};
        false -> ok
    end.

max_g(none, C) -> C;
max_g(G, C) -> max(G, C).
