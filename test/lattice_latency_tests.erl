%% No lattice call may hold a normal scheduler for long: with a single scheduler online, a
%% process ticking every millisecond must never be kept waiting more than 20 ms while large
%% clocks are compared and a large binary is hashed (STYLE.md habit 6).
-module(lattice_latency_tests).
-include_lib("eunit/include/eunit.hrl").

-define(MAX_GAP_MS, 20).
-define(ACTORS, 1000000).

latency_test_() ->
    {timeout, 600, fun run/0}.

run() ->
    %% Everything big is built before the ticker starts: building it is not what we measure.
    Same1 = lattice_vclock:from_list([{{node, I}, I} || I <- lists:seq(1, ?ACTORS)]),
    Same2 = lattice_vclock:from_list([{{node, I}, ?ACTORS - I + 1} || I <- lists:seq(1, ?ACTORS)]),
    Other = lattice_vclock:from_list([{{other, I}, 1} || I <- lists:seq(1, ?ACTORS)]),
    Big = binary:copy(<<"0123456789abcdef">>, 16 * 1024 * 1024),
    ?assertEqual(256 * 1024 * 1024, byte_size(Big)),
    garbage_collect(),
    Online = erlang:system_flag(schedulers_online, 1),
    try
        Measure = fun() ->
            {Gaps, Results} = lattice_ticker:run(
                                fun() ->
                                        [lattice_vclock:compare(Same1, Same2),
                                         lattice_vclock:compare(Same1, Other),
                                         lattice_vclock:compare(Same1, Same1),
                                         lattice_hash:xxh3_64(Big),
                                         lattice_hash:xxh3_128(Big),
                                         lattice_vclock:merge(Same1, Other)]
                                end),
            ?assertMatch([concurrent, concurrent, eq, _, <<_:128>>, _], Results),
            ?assertEqual(2 * ?ACTORS, lattice_vclock:size(lists:last(Results))),
            MaxGap = lists:max(Gaps),
            io:format(user, "~nlatency: ~b ticks, longest gap ~.2f ms (limit ~b ms)~n",
                      [length(Gaps), MaxGap, ?MAX_GAP_MS]),
            ?assert(length(Gaps) > 10),
            MaxGap
        end,
        ?assert(lattice_ticker:best_of_two(?MAX_GAP_MS, Measure) < ?MAX_GAP_MS)
    after
        erlang:system_flag(schedulers_online, Online)
    end.
