%% Many processes on one in-place object (STYLE.md habit 14). A call on a normal scheduler never
%% waits for an object's lock: with one scheduler online and a big call holding the lock on a
%% dirty scheduler, a process making small calls on the same object must not keep the 1 ms
%% ticker waiting. Concurrent updates from 100 processes are neither lost nor doubled, and an
%% object every process has dropped while a dirty call runs on it is freed once the call ends.
-module(lattice_object_contention_tests).
-include_lib("eunit/include/eunit.hrl").

-define(M, lattice_orset).
-define(MAX_GAP_MS, 20).
%% Sizes that make each big call take hundreds of milliseconds on the bench machine: a
%% 400k-element join about 400 ms, a 200k add_all about 400 ms, the value of 400k elements
%% about 500 ms; a snapshot is quicker (a sort), so the snapshot pairs start from three
%% states joined, 1.2M elements (about 300 ms).
-define(BASE, 400000). % elements of the object each pair starts from (each of the states)
-define(ADD, 200000).  % elements of the big add_all
%% The small updates add (and re-add) this many elements: the object must not grow much, as
%% an object that grows past its tables' capacity re-indexes every element in one update (a
%% separate stall, about 100 ms at 400k elements, not the lock's).
-define(SMALL_ELEMENTS, 16).

%% ---- a big dirty call against small calls, one scheduler ------------------------------------

pairs_test_() ->
    {setup, fun pairs_setup/0, fun pairs_cleanup/1,
     fun({_Online, A, B, C}) ->
             [{timeout, 120, {atom_to_list(Big) ++ " vs " ++ atom_to_list(Small),
                              fun() -> pair(Big, Small, A, B, C) end}}
              || Big <- [join, update, snapshot, value], Small <- [query, update, digest]]
     end}.

%% The states (disjoint elements, by different actors) are built once, with every scheduler;
%% the pairs then run with one.
pairs_setup() ->
    A = build(e, ra, ?BASE),
    B = build(f, rb, ?BASE),
    C = build(h, rc, ?BASE),
    garbage_collect(),
    {erlang:system_flag(schedulers_online, 1), A, B, C}.

pairs_cleanup({Online, _, _, _}) ->
    erlang:system_flag(schedulers_online, Online).

pair(Big, Small, A, B, C) ->
    MaxGap = lattice_ticker:best_of_two(?MAX_GAP_MS, fun() -> pair_once(Big, Small, A, B, C) end),
    ?assert(MaxGap < ?MAX_GAP_MS).

%% One run of a pair: checks the state and the small calls, and returns the longest gap.
pair_once(Big, Small, A, B, C) ->
    {Gaps, {O, BigResult, Calls, LongestMs, Bad}, _} =
        lattice_ticker:run(
          fun() -> {start(Big, A, B, C), big_input(Big)} end,
          fun({O, Input}) ->
                  Self = self(),
                  Caller = spawn_link(fun() -> small_loop(Small, O, 0, 0.0, []) end),
                  R = big_call(Big, O, Input, B),
                  Caller ! {stop, Self},
                  receive {small, Caller, N, Longest, Bad} -> {O, R, N, Longest, Bad} end
          end),
    MaxGap = lists:max(Gaps),
    io:format(user, "~ncontention ~s vs ~s: ~b ticks, longest gap ~.2f ms (limit ~b ms), "
              "~b small calls, the longest ~.1f ms~n",
              [Big, Small, length(Gaps), MaxGap, ?MAX_GAP_MS, Calls, LongestMs]),
    ?assertEqual([], Bad),
    %% The small calls really waited for the big one (else the test measures nothing).
    ?assert(LongestMs > 10),
    ?assert(length(Gaps) > 10),
    Added = case Small of update -> min(Calls, ?SMALL_ELEMENTS); _ -> 0 end,
    check_big(Big, BigResult, Added),
    Size = base(Big) + Added + case Big of join -> ?BASE; update -> ?ADD; _ -> 0 end,
    ?assertEqual(Size, lattice_object:value(size, O)),
    ?assertEqual(?M:digest(lattice_object:snapshot(O)), lattice_object:digest(O)),
    ?assert(lattice_object:value({contains, {e, 5}}, O)),
    MaxGap.

start(snapshot, A, B, C) ->
    O = lattice_object:new(A),
    ok = lattice_object:join(B, O),
    ok = lattice_object:join(C, O),
    O;
start(_, A, _, _) ->
    lattice_object:new(A).

base(snapshot) -> 3 * ?BASE;
base(_) -> ?BASE.

big_input(update) -> [{g, I} || I <- lists:seq(1, ?ADD)];
big_input(_) -> none.

%% Runs in the worker while the ticker runs: only NIF calls and cheap summaries (sending a
%% 400k-element list to the test process would hold the scheduler for the copy).
big_call(join, O, none, B) -> lattice_object:join(B, O);
big_call(update, O, Add, _) -> element(1, lattice_object:update({add_all, Add}, rg, O));
big_call(snapshot, O, none, _) -> lattice_object:snapshot(O);
big_call(value, O, none, _) -> length(lattice_object:value(O)).

%% The snapshot and the value are taken at one moment: after some of the small updates.
check_big(join, R, _) -> ?assertEqual(ok, R);
check_big(update, R, _) -> ?assertEqual(ok, R);
check_big(snapshot, Snap, Added) -> in_range(?M:value(size, Snap), 3 * ?BASE, Added);
check_big(value, Len, Added) -> in_range(Len, ?BASE, Added).

in_range(Size, Base, Added) ->
    ?assert(Size >= Base andalso Size =< Base + Added).

%% Small calls in a loop until told to stop: how many, the longest (ms), and any wrong answer.
small_loop(Small, O, N, Longest, Bad) ->
    receive
        {stop, From} -> From ! {small, self(), N, Longest, Bad}
    after 0 ->
            T0 = erlang:monotonic_time(microsecond),
            R = small_call(Small, O, N),
            Ms = (erlang:monotonic_time(microsecond) - T0) / 1000,
            Bad2 = case is_right(Small, R) of
                       true -> Bad;
                       false when length(Bad) < 5 -> [{N, R} | Bad];
                       false -> Bad
                   end,
            small_loop(Small, O, N + 1, max(Longest, Ms), Bad2)
    end.

small_call(query, O, _) -> lattice_object:value({contains, {e, 5}}, O);
small_call(update, O, N) -> lattice_object:update({add, {s, N rem ?SMALL_ELEMENTS}}, rs, O);
small_call(digest, O, _) -> lattice_object:digest(O).

is_right(query, R) -> R =:= true;
is_right(update, R) -> is_tuple(R) andalso element(1, R) =:= ok;
is_right(digest, R) -> is_binary(R) andalso byte_size(R) =:= 16.

%% An OR-Set state of N elements {Tag, I} added by Actor.
build(Tag, Actor, N) ->
    O = lattice_object:new(?M),
    [{ok, _} = lattice_object:update({add_all, [{Tag, I} || I <- lists:seq(K, min(N, K + 9999))]},
                                     Actor, O)
     || K <- lists:seq(1, N, 10000)],
    lattice_object:snapshot(O).

%% ---- 100 processes updating one object ------------------------------------------------------

-define(PROCS, 100).
-define(UPDATES, 60).

concurrent_test_() ->
    {timeout, 120,
     [{atom_to_list(T), fun() -> concurrent(T) end}
      || T <- [lattice_gcounter, lattice_pncounter, lattice_orset]]}.

%% Ten actors shared by the 100 processes, so that updates by one actor race each other. A
%% process snapshotting the object in a loop holds its lock for a while (on a dirty scheduler
%% once the OR-Set has more than 4096 entries), so that updates also find it held.
concurrent(Type) ->
    O = lattice_object:new(Type),
    Self = self(),
    Snapper = spawn_link(fun() -> snap_loop(O, 0) end),
    Pids = [spawn_link(fun() ->
                               receive go -> ok end,
                               Deltas = [delta(Type, P, I, O) || I <- lists:seq(1, ?UPDATES)],
                               Self ! {deltas, self(), lists:append(Deltas)}
                       end)
            || P <- lists:seq(1, ?PROCS)],
    [P ! go || P <- Pids],
    Deltas = lists:append([receive {deltas, P, Ds} -> Ds end || P <- Pids]),
    Snapper ! {stop, Self},
    Snaps = receive {snaps, Snapper, K} -> K end,
    ?assert(Snaps > 0),
    expect(Type, O),
    %% The same deltas, merged in another order into a binary, give the same state.
    Shuffled = [D || {_, D} <- lists:sort([{rand:uniform(), D} || D <- Deltas])],
    Merged = merge_all(Type, Shuffled),
    ?assertEqual(lattice_object:snapshot(O), Merged),
    ?assertEqual(Type:digest(Merged), lattice_object:digest(O)).

snap_loop(O, N) ->
    receive
        {stop, From} -> From ! {snaps, self(), N}
    after 0 ->
            true = is_binary(lattice_object:snapshot(O)),
            snap_loop(O, N + 1)
    end.

actor(P) -> {actor, P rem 10}.

%% Process P's I-th update, as a list of deltas.
delta(lattice_gcounter, P, _I, O) ->
    {ok, D} = lattice_object:update({increment, P}, actor(P), O),
    [D];
delta(lattice_pncounter, P, I, O) ->
    Dir = case I rem 3 of 0 -> decrement; _ -> increment end,
    {ok, D} = lattice_object:update({Dir, P}, actor(P), O),
    [D];
delta(lattice_orset, P, I, O) ->
    {ok, D} = lattice_object:update({add, {P, I}}, actor(P), O),
    case I rem 3 of
        0 ->
            {ok, D2} = lattice_object:update({remove, {P, I}}, actor(P), O),
            [D, D2];
        _ ->
            [D]
    end.

%% Each process P adds P per update (G-Counter), P on two updates of three and -P on the third
%% (PN-Counter), or keeps the elements it did not remove (OR-Set).
expect(lattice_gcounter, O) ->
    ?assertEqual(?UPDATES * lists:sum(lists:seq(1, ?PROCS)), lattice_object:value(O));
expect(lattice_pncounter, O) ->
    PerP = length([I || I <- lists:seq(1, ?UPDATES), I rem 3 =/= 0])
        - length([I || I <- lists:seq(1, ?UPDATES), I rem 3 =:= 0]),
    ?assertEqual(PerP * lists:sum(lists:seq(1, ?PROCS)), lattice_object:value(O));
expect(lattice_orset, O) ->
    Members = [{P, I} || P <- lists:seq(1, ?PROCS), I <- lists:seq(1, ?UPDATES), I rem 3 =/= 0],
    ?assertEqual(lattice_gset:sort_elements(Members), lattice_object:value(O)).

%% Merges pairwise, a balanced tree: every delta once, in the list's order.
merge_all(Type, []) -> Type:new();
merge_all(_, [S]) -> S;
merge_all(Type, Ds) -> merge_all(Type, merge_pairs(Type, Ds)).

merge_pairs(Type, [A, B | Rest]) -> [Type:merge(A, B) | merge_pairs(Type, Rest)];
merge_pairs(_, Rest) -> Rest.

%% ---- an object dropped while a dirty call on it runs ----------------------------------------

dropped_test_() ->
    {timeout, 120, fun dropped/0}.

%% The creator hands the object to a process that joins a big state into it (on a dirty CPU
%% scheduler) and to one whose query waits for the lock (on a dirty I/O scheduler), and exits;
%% the waiting one is killed. The join's process is then the only holder: its join succeeds,
%% and when it exits the object is freed (the process's memory falls back: the C state is
%% allocated with malloc, outside erlang:memory/0, so this reads /proc/self/statm).
dropped() ->
    A = build(e, ra, ?BASE),
    B = build(f, rb, ?BASE),
    garbage_collect(),
    timer:sleep(200),
    Before = rss_mb(),
    Self = self(),
    Creator = spawn(fun() ->
                            O = lattice_object:new(A),
                            Joiner = spawn(fun() ->
                                                   receive go -> ok end,
                                                   R = lattice_object:join(B, O),
                                                   Self ! {joined, self(), R,
                                                           lattice_object:value(size, O), rss_mb()}
                                           end),
                            Waiter = spawn(fun() ->
                                                   receive go -> ok end,
                                                   timer:sleep(50),
                                                   lattice_object:value({contains, x}, O)
                                           end),
                            Joiner ! go,
                            Waiter ! go,
                            Self ! {started, Joiner, Waiter}
                    end),
    {Joiner, Waiter} = receive {started, J, W} -> {J, W} end,
    JRef = monitor(process, Joiner),
    CRef = monitor(process, Creator),
    receive {'DOWN', CRef, process, Creator, _} -> ok end,
    timer:sleep(100),
    exit(Waiter, kill),
    {Result, Size, Held} = receive {joined, Joiner, R, S, Mb} -> {R, S, Mb} end,
    receive {'DOWN', JRef, process, Joiner, _} -> ok end,
    ?assertEqual(ok, Result),
    ?assertEqual(2 * ?BASE, Size),
    ?assert(Held - Before > 40), % a 800k-element object holds about 100 MB
    ?assert(freed(Before, Held, 50)).

%% Whether the resident memory falls back to within a quarter of the object's size of
%% `Before' (the reaper thread frees big objects shortly after their destructor ran).
freed(Before, Held, 0) ->
    io:format(user, "~ndropped object: ~b MB before, ~b MB held, ~b MB now~n",
              [Before, Held, rss_mb()]),
    false;
freed(Before, Held, Tries) ->
    case rss_mb() - Before < (Held - Before) div 4 of
        true -> true;
        false -> timer:sleep(100), freed(Before, Held, Tries - 1)
    end.

rss_mb() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_, Pages | _] = binary:split(Statm, <<" ">>, [global]),
    binary_to_integer(Pages) * 4096 div (1024 * 1024).
