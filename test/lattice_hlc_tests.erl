-module(lattice_hlc_tests).
-include_lib("eunit/include/eunit.hrl").

-define(H, lattice_hlc).

now_is_strictly_increasing_test() ->
    Ts = [?H:now() || _ <- lists:seq(1, 100000)],
    ?assertEqual(Ts, lists:usort(Ts)).

now_is_unique_across_processes_test() ->
    Self = self(),
    Pids = [spawn_link(fun() -> Self ! {self(), [?H:now() || _ <- lists:seq(1, 20000)]} end)
            || _ <- lists:seq(1, 8)],
    All = lists:append([receive {P, L} -> L end || P <- Pids]),
    ?assertEqual(length(All), length(lists:usort(All))).

now_tracks_wall_clock_test() ->
    Wall = erlang:system_time(millisecond),
    P = ?H:physical(?H:now()),
    ?assert(P >= Wall - 1),
    ?assert(P =< erlang:system_time(millisecond) + 1).

update_test() ->
    Now = ?H:now(),
    %% A remote timestamp slightly ahead (within the offset): the clock moves past it.
    Remote = ?H:make(?H:physical(Now) + 100, 7),
    {ok, T} = ?H:update(Remote),
    ?assert(T > Remote),
    ?assert(?H:now() > T),
    %% One far ahead is refused and does not move the clock.
    Before = ?H:peek(),
    Far = ?H:make(erlang:system_time(millisecond) + 60000, 0),
    {error, {clock_skew, Skew}} = ?H:update(Far),
    ?assert(Skew >= 59000 andalso Skew =< 60000, Skew),
    ?assert(?H:peek() < Far),
    ?assert(?H:peek() >= Before),
    %% An old remote timestamp: the clock still advances.
    {ok, T2} = ?H:update(1),
    ?assert(T2 > T).

max_offset_test() ->
    Old = ?H:max_offset(),
    try
        ok = ?H:set_max_offset(100000),
        Ahead = ?H:make(erlang:system_time(millisecond) + 50000, 0),
        ?assertMatch({ok, _}, ?H:update(Ahead)),
        ok = ?H:set_max_offset(10),
        ?assertMatch({error, {clock_skew, _}},
                     ?H:update(?H:make(erlang:system_time(millisecond) + 60000, 0)))
    after
        ?H:set_max_offset(Old)
    end.

pure_rules_test() ->
    %% Wall clock ahead of the last timestamp: physical time, logical 0.
    ?assertEqual(?H:make(1000, 0), ?H:pure_now(?H:make(900, 5), 1000)),
    %% Same millisecond: logical + 1.
    ?assertEqual(?H:make(1000, 1), ?H:pure_now(?H:make(1000, 0), 1000)),
    %% Wall clock stepped back: still after the last timestamp.
    ?assertEqual(?H:make(1000, 6), ?H:pure_now(?H:make(1000, 5), 10)),
    %% Logical overflow carries into the physical part.
    ?assertEqual(?H:make(1001, 0), ?H:pure_now(?H:make(1000, 65535), 1000)),
    %% Receive: the max of last + 1, remote + 1 and the wall clock.
    ?assertEqual({ok, ?H:make(1000, 4)}, ?H:pure_update(?H:make(900, 0), ?H:make(1000, 3), 1000, 500)),
    ?assertEqual({ok, ?H:make(2000, 0)}, ?H:pure_update(?H:make(900, 0), ?H:make(1000, 3), 2000, 500)),
    ?assertEqual({ok, ?H:make(3000, 1)}, ?H:pure_update(?H:make(3000, 0), ?H:make(1000, 3), 2000, 500)),
    ?assertEqual({ok, ?H:make(1500, 1)}, ?H:pure_update(0, ?H:make(1500, 0), 1000, 500)),
    ?assertEqual({error, {clock_skew, 501}}, ?H:pure_update(0, ?H:make(1501, 0), 1000, 500)).

conversions_test() ->
    T = ?H:make(1700000000123, 42),
    ?assertEqual(1700000000123, ?H:physical(T)),
    ?assertEqual(42, ?H:logical(T)),
    ?assertEqual(1700000000, ?H:to_system_time(T, second)),
    ?assertEqual(?H:make(5, 0), ?H:from_physical(5)),
    ?assertEqual(lt, ?H:compare(1, 2)),
    ?assertEqual(eq, ?H:compare(2, 2)),
    ?assertEqual(gt, ?H:compare(3, 2)),
    ?assertError(badarg, ?H:make(1, 65536)),
    ?assertError(badarg, ?H:make(1 bsl 48, 0)),
    ?assertError(badarg, ?H:physical(-1)),
    ?assertError(badarg, ?H:compare(a, 1)).

badarg_test() ->
    ?assertError(badarg, ?H:update(-1)),
    ?assertError(badarg, ?H:update(1 bsl 64)),
    ?assertError(badarg, ?H:update(foo)),
    ?assertError(badarg, ?H:pure_now(-1, 0)),
    ?assertError(badarg, ?H:set_max_offset(-5)),
    ?assertError(badarg, ?H:pure_now(0, 1 bsl 48)),
    ?assertError(badarg, ?H:pure_update(0, 0, 1 bsl 48, 500)).
