%% `make bench`: lattice against the real riak_dt and plain Erlang, in one run, as a table of
%% medians.
%%
%% Each row times an operation in a tight loop: ROUNDS rounds of enough iterations to take
%% about 20 ms each, reporting the median time per operation. The baseline column times, in
%% the same run, the real riak_dt module for the same operation (riak_dt_orswot,
%% riak_dt_gcounter, riak_dt_pncounter, riak_dt_gset, riak_dt_lwwreg, riak_dt_vclock: their
%% states built through riak_dt's own API on the same elements and actors as lattice's) or,
%% where riak_dt has no such type or operation, the closest OTP code, named in the row. riak_dt
%% is not part of lattice: `make bench' puts a build of it on the code path (the anchors, or
%% RIAK_DT_EBIN); without one its rows say "skipped". Ratios compare the two columns of the
%% same run, which is what survives a noisy machine. A row without a lattice fun shows the
%% baseline alone. The "bytes" rows are sizes, not times: bytes per element of a canonical
%% binary against the canonical bytes of what it holds.
%%
%% `lattice_bench:main()' runs every group; `main(Group)' (an atom, or a list of them) one.
-module(lattice_bench).

-export([main/0, main/1]).

-define(ROUNDS, 15).
-define(ROUND_NS, 20000000).

-define(V, lattice_vclock).

%% The riak_dt modules the baselines call; all must load, or every riak_dt row is skipped.
-define(RIAK_DT, [riak_dt_vclock, riak_dt_gcounter, riak_dt_pncounter, riak_dt_gset,
                  riak_dt_lwwreg, riak_dt_orswot]).

main() ->
    main(all).

main(Only) when is_atom(Only), Only =/= all ->
    main([Only]);
main(Only) ->
    Known = [G || {G, _} <- rows()],
    case Only =:= all orelse Only -- Known of
        true -> ok;
        [] -> ok;
        Unknown -> erlang:error({unknown_groups, Unknown, {groups, Known}})
    end,
    io:format("lattice benchmarks - ~s, ~s: ~s cores (nproc), Linux ~s, OTP ~s (erts ~s), "
              "~b schedulers, load average ~s; median of ~b rounds~n",
              [calendar:system_time_to_rfc3339(erlang:system_time(second), [{offset, "Z"}]),
               hostname(), cmd("nproc"), cmd("uname -r"), otp_version(),
               erlang:system_info(version), erlang:system_info(schedulers_online),
               load_average(), ?ROUNDS]),
    case riak_dt_loaded() of
        true -> io:format("riak_dt: ~s~n~n", [filename:dirname(code:which(riak_dt_orswot))]);
        false -> io:format("riak_dt: not on the code path, its rows are skipped "
                           "(make bench RIAK_DT_EBIN=/path/to/riak_dt/ebin)~n~n")
    end,
    io:format("| benchmark | lattice | baseline (same run) | baseline | speed-up | target | met |~n"),
    io:format("|---|---:|---:|---|---:|---:|:-:|~n"),
    Rows = [R || {Group, _} = R <- rows(), Only =:= all orelse lists:member(Group, Only)],
    Results = lists:append([run_group(G) || {_, G} <- Rows]),
    io:format("~n"),
    Missed = [Name || {missed, Name} <- Results],
    case Missed of
        [] -> io:format("All targets measured were met.~n");
        _ -> io:format("Targets missed: ~s~n", [lists:join(", ", Missed)])
    end,
    case [Name || {skipped, Name} <- Results] of
        [] -> ok;
        Skipped -> io:format("Skipped (no riak_dt): ~b rows~n", [length(Skipped)])
    end.

hostname() ->
    {ok, H} = inet:gethostname(),
    H.

cmd(Command) ->
    string:trim(os:cmd(Command)).

otp_version() ->
    Release = erlang:system_info(otp_release),
    File = filename:join([code:root_dir(), "releases", Release, "OTP_VERSION"]),
    case file:read_file(File) of
        {ok, Version} -> string:trim(binary_to_list(Version));
        {error, _} -> Release
    end.

load_average() ->
    case file:read_file("/proc/loadavg") of
        {ok, Load} -> lists:join(" ", lists:sublist(string:lexemes(binary_to_list(Load), " "), 3));
        {error, _} -> "unknown"
    end.

riak_dt_loaded() ->
    lists:all(fun(M) -> element(1, code:ensure_loaded(M)) =:= module end, ?RIAK_DT).

%% A riak_dt baseline: {Name, Make()}, Make building the states (through riak_dt's API) and
%% returning the fun to time; {skipped, Name} when riak_dt is not on the code path.
riak(Name, Make) ->
    case riak_dt_loaded() of
        true -> {Name, Make()};
        false -> {skipped, Name}
    end.

rows() ->
    [{clocks, fun clocks/0}, {counters, fun counters/0}, {sets, fun sets/0}, {lwwreg, fun lwwreg/0},
     {orset, fun orset/0}, {lwwset, fun lwwset/0}, {lwwmap, fun lwwmap/0}, {mvreg, fun mvreg/0},
     {bytes, fun bytes/0}, {hlc, fun hlc/0}, {hash, fun hash/0}, {cutoff, fun cutoff/0},
     {merkle, fun merkle/0}, {ae, fun ae/0}, {store, fun lattice_bench_store:rows/0},
     {cluster, fun() -> [{table, fun lattice_bench_store:cluster/0}] end},
     {secure, fun() -> [{table, fun lattice_bench_store:secure/0}] end},
     {crypto, fun lattice_bench_crypto:rows/0},
     {envelope, fun lattice_bench_envelope:rows/0},
     {channel, fun lattice_bench_channel:rows/0},
     {tiering, fun() -> [{table, fun lattice_bench_tier:run/0}] end},
     {durable, fun lattice_bench_durable:rows/0}].

%% Anti-entropy between two C nodes at scale: a table of its own (bench/lattice_bench_ae.erl).
ae() ->
    [{table, fun lattice_bench_ae:run/0}].

run_group(Fun) ->
    lists:append([row(R) || R <- Fun()]).

%% {Name, LatticeFun | none, Baseline, Targets}, with
%%   Baseline: {BaselineName, BaselineFun}, {skipped, BaselineName} (riak_dt absent) or none;
%%   Targets: none, one target or a list: TargetUs (lattice's median at most this many
%%   microseconds) or {ratio, X} (the baseline's median at least X times lattice's, in the
%%   same run).
%% A row without a lattice fun (a baseline waiting for its lattice type) prints the baseline
%% alone. Name may be a fun of the lattice median (microseconds), for rows that report a rate.
%% A timed fun may be {prepare, Prep}: before each round of N calls, Prep(N) (not timed)
%% returns the fun to call N times (for operations that use something up, as a remove).
%% Returns [{missed, Name}] for a target missed, [{skipped, Name}] for a skipped baseline.
%%
%% {bytes, Name, PayloadPerElem, BinaryPerElem, MaxOverheadPerElem | none}: a size row.
%% {table, Fun}: Fun prints a table of its own and returns the targets missed; the main
%% table's header is printed again after it.
row({table, Fun}) ->
    Missed = Fun(),
    io:format("| benchmark | lattice | baseline (same run) | baseline | speed-up | target | met |~n"),
    io:format("|---|---:|---:|---|---:|---:|:-:|~n"),
    Missed;
row({bytes, Name, Payload, Binary, MaxOver}) ->
    Over = Binary - Payload,
    {TargetText, Met} =
        case MaxOver of
            none -> {"", ""};
            M when Over =< M -> {io_lib:format("overhead <= ~b B", [M]), "yes"};
            M -> {io_lib:format("overhead <= ~b B", [M]), "**no**"}
        end,
    io:format("| ~s | ~.1f B/elem | ~.1f B/elem | canonical payload (lattice_canon:encode sizes) "
              "| overhead ~.1f B/elem | ~s | ~s |~n",
              [Name, Binary, Payload, Over, TargetText, Met]),
    case Met of
        "**no**" -> [{missed, Name}];
        _ -> []
    end;
row({Name0, F, Baseline, Targets0}) ->
    Targets = lists:flatten([Targets0]) -- [none],
    Ours = case F of
               none -> none;
               _ -> median_us(F)
           end,
    {Theirs, BaseName} =
        case Baseline of
            none -> {none, ""};
            {skipped, B} -> {skipped, B};
            {B, G} -> {median_us(G), B}
        end,
    Ratio = case is_number(Ours) andalso is_number(Theirs) of
                true -> Theirs / Ours;
                false -> none
            end,
    Checked = [check_target(T, Ours, Theirs, Ratio) || T <- Targets],
    Mets = [M || {_, M} <- Checked],
    Name = case Name0 of
               _ when is_function(Name0, 1) -> Name0(Ours);
               _ -> Name0
           end,
    io:format("| ~s | ~s | ~s | ~s | ~s | ~s | ~s |~n",
              [Name, fmt_opt(Ours), fmt_opt(Theirs), BaseName,
               case Ratio of
                   none -> "";
                   _ when Ratio < 0.1 -> io_lib:format("~.2fx", [Ratio]);
                   _ -> io_lib:format("~.1fx", [Ratio])
               end,
               lists:join("; ", [T || {T, _} <- Checked]), lists:join("; ", Mets)]),
    [{missed, Name} || lists:member("**no**", Mets)] ++ [{skipped, Name} || Theirs =:= skipped].

%% {TargetText, MetText} for one target.
check_target(Us, Ours, _Theirs, _Ratio) when is_number(Us) ->
    {"<= " ++ fmt_us(Us),
     if
         Ours =:= none -> "";
         Ours =< Us -> "yes";
         true -> "**no**"
     end};
check_target({ratio, X}, _Ours, Theirs, Ratio) ->
    {io_lib:format(">= ~bx", [X]),
     if
         Theirs =:= skipped -> "skipped";
         Ratio =:= none -> "";
         Ratio >= X -> "yes";
         true -> "**no**"
     end}.

fmt_opt(none) -> "";
fmt_opt(skipped) -> "skipped";
fmt_opt(Us) -> fmt_us(Us).

fmt_us(Us) when Us < 1 -> io_lib:format("~.3f us", [Us]);
fmt_us(Us) when Us < 1000 -> io_lib:format("~.2f us", [Us]);
fmt_us(Us) -> io_lib:format("~.2f ms", [Us / 1000]).

%% Median microseconds per call of F over ?ROUNDS rounds.
median_us({prepare, Prep} = F) ->
    (Prep(1))(),
    median_rounds(F);
median_us(F) ->
    F(),
    median_rounds(F).

median_rounds(F) ->
    N = calibrate(F, 1),
    Times = lists:sort([round_ns(F, N) / N || _ <- lists:seq(1, ?ROUNDS)]),
    lists:nth(?ROUNDS div 2 + 1, Times) / 1000.

calibrate(F, N) ->
    T = round_ns(F, N),
    if
        T >= ?ROUND_NS div 4 orelse N >= 1 bsl 24 -> max(1, (N * ?ROUND_NS) div max(T, 1));
        true -> calibrate(F, N * 4)
    end.

round_ns({prepare, Prep}, N) ->
    round_ns(Prep(N), N);
round_ns(F, N) ->
    T0 = erlang:monotonic_time(nanosecond),
    loop(F, N),
    erlang:monotonic_time(nanosecond) - T0.

loop(_, 0) -> ok;
loop(F, N) -> F(), loop(F, N - 1).

%% ---- vector clocks -------------------------------------------------------------------------

actors(N) -> [list_to_atom("node" ++ integer_to_list(I) ++ "@host") || I <- lists:seq(1, N)].

%% Two clocks over the same actors, concurrent (each ahead somewhere): the common case in a
%% cluster, where every replica's clock names the same nodes.
same_actor_clocks(N) ->
    As = actors(N),
    L1 = [{A, I} || {A, I} <- lists:zip(As, lists:seq(1, N))],
    L2 = [{A, N - I + 1} || {A, I} <- lists:zip(As, lists:seq(1, N))],
    {L1, L2}.

%% Half the actors shared.
overlap_clocks(N) ->
    As = actors(N + N div 2),
    {[{A, 2} || A <- lists:sublist(As, N)], [{A, 1} || A <- lists:nthtail(N div 2, As)]}.

clocks() ->
    lists:append([clock_rows(N) || N <- [8, 1000]]).

%% riak_dt_vclock's clock for [{Actor, Count}], built with its own API: each actor's events
%% counted with increment/2 on a clock of its own, then all of them merged with merge/1 (a
%% clock as replicas that merged each other's end up with: sorted by actor).
riak_clock(L) ->
    riak_dt_vclock:merge([lists:foldl(fun(_, C) -> riak_dt_vclock:increment(A, C) end,
                                      riak_dt_vclock:fresh(), lists:seq(1, Count))
                          || {A, Count} <- L]).

clock_rows(N) ->
    {L1, L2} = same_actor_clocks(N),
    {O1, O2} = overlap_clocks(N),
    [A, B, OA, OB] = [?V:from_list(L) || L <- [L1, L2, O1, O2]],
    %% A1 descends from A (one more event of the last actor): descends must look at every entry.
    {LastActor, _} = lists:last(L1),
    A1 = ?V:increment(LastActor, A),
    %% An actor from the middle: neither the list head (free for keyfind) nor absent.
    Actor = element(1, lists:nth(N div 2 + 1, L1)),
    Label = fun(What) -> io_lib:format("vclock ~s, ~b actors", [What, N]) end,
    %% lattice_vclock:compare/2 answers lt, gt, eq or concurrent: with riak_dt a user calls
    %% descends/2 both ways for that (no short cut: concurrent needs both false). riak_dt's
    %% descends/2 stops at the first entry that fails: on the concurrent clocks of the "same
    %% actors" rows that is the fourth entry (in actor order) even at 1000 actors, so
    %% "B = A + 1 event", where one call must check every entry, is the long walk.
    Both = fun(X, Y) -> {riak_dt_vclock:descends(X, Y), riak_dt_vclock:descends(Y, X)} end,
    Riak = fun(Name, Make) ->
                   riak(Name, fun() ->
                                      [RA, RB, ROA, ROB] = [riak_clock(L) || L <- [L1, L2, O1, O2]],
                                      Make({RA, RB, ROA, ROB})
                              end)
           end,
    [{Label("compare (same actors)"), fun() -> ?V:compare(A, B) end,
      Riak("riak_dt_vclock:descends(A, B) and (B, A)", fun({RA, RB, _, _}) -> fun() -> Both(RA, RB) end end),
      target(compare, N)},
     {Label("compare (B = A + 1 event)"), fun() -> ?V:compare(A1, A) end,
      Riak("riak_dt_vclock:descends(A, B) and (B, A)",
           fun({RA, _, _, _}) ->
                   RA1 = riak_dt_vclock:increment(LastActor, RA),
                   fun() -> Both(RA1, RA) end
           end), none},
     {Label("descends (B = A + 1 event)"), fun() -> ?V:descends(A1, A) end,
      Riak("riak_dt_vclock:descends/2",
           fun({RA, _, _, _}) ->
                   RA1 = riak_dt_vclock:increment(LastActor, RA),
                   fun() -> riak_dt_vclock:descends(RA1, RA) end
           end), none},
     {Label("compare (half shared)"), fun() -> ?V:compare(OA, OB) end,
      Riak("riak_dt_vclock:descends(A, B) and (B, A)", fun({_, _, ROA, ROB}) -> fun() -> Both(ROA, ROB) end end),
      none},
     {Label("merge (same actors)"), fun() -> ?V:merge(A, B) end,
      Riak("riak_dt_vclock:merge/1", fun({RA, RB, _, _}) -> fun() -> riak_dt_vclock:merge([RA, RB]) end end),
      target(merge, N)},
     {Label("merge (half shared)"), fun() -> ?V:merge(OA, OB) end,
      Riak("riak_dt_vclock:merge/1", fun({_, _, ROA, ROB}) -> fun() -> riak_dt_vclock:merge([ROA, ROB]) end end),
      none},
     {Label("increment"), fun() -> ?V:increment(Actor, A) end,
      Riak("riak_dt_vclock:increment/2", fun({RA, _, _, _}) -> fun() -> riak_dt_vclock:increment(Actor, RA) end end),
      none},
     {Label("get"), fun() -> ?V:get(Actor, A) end,
      Riak("riak_dt_vclock:get_counter/2", fun({RA, _, _, _}) -> fun() -> riak_dt_vclock:get_counter(Actor, RA) end end),
      none}].

target(compare, 8) -> [0.25, {ratio, 2}];
target(compare, 1000) -> 5.0;
target(merge, 1000) -> 3.0;
target(gmerge, 8) -> 0.25;
target(gmerge, 1000) -> 3.0;
target(_, _) -> none.

%% ---- counters ------------------------------------------------------------------------------
%% The baselines are riak_dt_gcounter and riak_dt_pncounter (orddicts of {Actor, Count} and
%% {Actor, Inc, Dec}), built with their update/3 from the same increments. The PN-Counters add
%% a decrement of 1 by every other actor.

counters() ->
    lists:append([counter_rows(N) || N <- [8, 1000]]) ++ object_rows().

gcounter(L) ->
    lists:foldl(fun({A, C}, S) -> {ok, S2, _} = lattice_gcounter:update({increment, C}, A, S), S2 end,
                lattice_gcounter:new(), L).

riak_gcounter(L) ->
    lists:foldl(fun({A, C}, S) -> {ok, S2} = riak_dt_gcounter:update({increment, C}, A, S), S2 end,
                riak_dt_gcounter:new(), L).

pn_ops(L) ->
    [{{increment, C}, A} || {A, C} <- L] ++
        [{{decrement, 1}, A} || {I, {A, _}} <- enumerate(L), I rem 2 =:= 0].

pncounter(L) ->
    lists:foldl(fun({Op, A}, S) -> {ok, S2, _} = lattice_pncounter:update(Op, A, S), S2 end,
                lattice_pncounter:new(), pn_ops(L)).

riak_pncounter(L) ->
    lists:foldl(fun({Op, A}, S) -> {ok, S2} = riak_dt_pncounter:update(Op, A, S), S2 end,
                riak_dt_pncounter:new(), pn_ops(L)).

counter_rows(N) ->
    {L1, L2} = same_actor_clocks(N),
    A = gcounter(L1),
    B = gcounter(L2),
    PA = pncounter(L1),
    PB = pncounter(L2),
    true = lattice_gcounter:value(A) =:= lists:sum([C || {_, C} <- L1]),
    Actor = element(1, lists:nth(N div 2 + 1, L1)),
    Label = fun(What) -> io_lib:format("~s, ~b actors", [What, N]) end,
    Riak = fun(Name, Make) -> riak(Name, fun() -> Make({riak_gcounter(L1), riak_gcounter(L2)}) end) end,
    RiakPN = fun(Name, Make) -> riak(Name, fun() -> Make({riak_pncounter(L1), riak_pncounter(L2)}) end) end,
    [{Label("G-Counter merge"), fun() -> lattice_gcounter:merge(A, B) end,
      Riak("riak_dt_gcounter:merge/2", fun({RA, RB}) -> fun() -> riak_dt_gcounter:merge(RA, RB) end end),
      target(gmerge, N)},
     {Label("G-Counter value"), fun() -> lattice_gcounter:value(A) end,
      Riak("riak_dt_gcounter:value/1", fun({RA, _}) -> fun() -> riak_dt_gcounter:value(RA) end end), none},
     {Label("G-Counter increment (binary update/3)"),
      fun() -> lattice_gcounter:update({increment, 1}, Actor, A) end,
      Riak("riak_dt_gcounter:update/3", fun({RA, _}) -> fun() -> riak_dt_gcounter:update({increment, 1}, Actor, RA) end end),
      none},
     {Label("PN-Counter merge"), fun() -> lattice_pncounter:merge(PA, PB) end,
      RiakPN("riak_dt_pncounter:merge/2", fun({RA, RB}) -> fun() -> riak_dt_pncounter:merge(RA, RB) end end),
      none},
     {Label("PN-Counter value"), fun() -> lattice_pncounter:value(PA) end,
      RiakPN("riak_dt_pncounter:value/1", fun({RA, _}) -> fun() -> riak_dt_pncounter:value(RA) end end), none}].

%% The object against lattice's own binary update/3 (the G-Counter increment rows above give
%% riak_dt's figure for the same increment).
object_rows() ->
    O = lattice_object:new(lattice_gcounter),
    [{ok, _} = lattice_object:update({increment, 1}, {n, I}, O) || I <- lists:seq(1, 1000)],
    S = lattice_object:snapshot(O),
    [{"G-Counter object increment, 1000 actors",
      fun() -> lattice_object:update({increment, 1}, {n, 500}, O) end,
      {"binary update/3", fun() -> lattice_gcounter:update({increment, 1}, {n, 500}, S) end},
      none}].

%% ---- sets: scenarios ------------------------------------------------------------------------
%% Set scenarios in terms any set type can build, so that each type (and the riak_dt baseline)
%% runs the same ones. Elements are {e, 2 * I}, so that {e, 1} is a new element first in term
%% order and {e, N + 1} one in the middle (where an orddict insert costs most).
%%   {merge, Base, OnlyA, OnlyB}: replica A is actor a adding Base then OnlyA; replica B starts
%%       from the same Base and actor b adds OnlyB; the timed call merges A and B.
%%   {merge_independent, Base, OnlyA, OnlyB}: two replicas that never exchanged: actor a adds
%%       Base then OnlyA, actor b adds Base then OnlyB, each to an empty set, so that after the
%%       merge each element of Base carries a dot of each.
%%   {contains, Elements, Probe}: membership of Probe in the set of Elements.
%%   {add, Elements, New}: actor a adds New to the set of Elements (the state stays as it was:
%%       every call adds to the same set).
%%   {remove, Elements, Old}: actor a removes Old, one of Elements, from the same set each call.

elements(N) -> [{e, 2 * I} || I <- lists:seq(1, N)].

%% Two 10k-element sets sharing 9k.
merge_scenario() ->
    {merge, elements(9000), [{e, 2 * I} || I <- lists:seq(9001, 10000)],
     [{f, I} || I <- lists:seq(1, 1000)]}.

%% The same elements, added independently on each side.
independent_scenario() ->
    setelement(1, merge_scenario(), merge_independent).

%% The fun that times Scenario on set module M: a lattice type (update/3 gives {ok, S, Delta})
%% or a riak_dt one (update/3 gives {ok, S}). The states are built here, not timed.
scenario_fun(M, {merge, Base, OnlyA, OnlyB}) ->
    S0 = add_all(M, Base, a, M:new()),
    A = add_all(M, OnlyA, a, S0),
    B = add_all(M, OnlyB, b, S0),
    fun() -> M:merge(A, B) end;
scenario_fun(M, {merge_independent, Base, OnlyA, OnlyB}) ->
    A = add_all(M, OnlyA, a, add_all(M, Base, a, M:new())),
    B = add_all(M, OnlyB, b, add_all(M, Base, b, M:new())),
    fun() -> M:merge(A, B) end;
scenario_fun(M, {contains, Elements, Probe}) ->
    S = add_all(M, Elements, a, M:new()),
    true = M:value({contains, Probe}, S),
    fun() -> M:value({contains, Probe}, S) end;
scenario_fun(M, {add, Elements, New}) ->
    S = add_all(M, Elements, a, M:new()),
    fun() -> M:update({add, New}, a, S) end;
scenario_fun(M, {remove, Elements, Old}) ->
    S = add_all(M, Elements, a, M:new()),
    case M:update({remove, Old}, a, S) of
        {ok, _} -> ok;
        {ok, _, _} -> ok
    end,
    fun() -> M:update({remove, Old}, a, S) end.

%% In reverse order: an ordset (riak_dt_gset) then takes each add at its head; the other types
%% do not care about the order.
add_all(M, Elements, Actor, S) ->
    case M:update({add_all, lists:reverse(Elements)}, Actor, S) of
        {ok, S2} -> S2;
        {ok, S2, _Delta} -> S2
    end.

%% ---- G-Set and 2P-Set -------------------------------------------------------------------------
%% The baseline is riak_dt_gset (an ordset: its merge is ordsets:union/2). riak_dt has no 2P-Set:
%% its row times two riak_dt_gset merges, adds and removes, as a 2P-Set is two G-Sets (here the
%% removes are empty on both sides, as in lattice's). riak_dt_gset has no membership query
%% (value/2 ignores the query and returns the whole set): the contains rows time OTP's
%% ordsets:is_element/2 on its state.

sets() ->
    Merge = merge_scenario(),
    Es = elements(10000),
    Probe = {e, 10000},
    GS = element(2, lattice_gset:update({add_all, Es}, a, lattice_gset:new())),
    RiakGSet = fun() -> scenario_fun(riak_dt_gset, Merge) end,
    IsElement = fun() ->
                        {ok, Ordset} = riak_dt_gset:update({add_all, Es}, a, riak_dt_gset:new()),
                        fun() -> ordsets:is_element(Probe, Ordset) end
                end,
    [{"G-Set merge, 2 x 10k sharing 9k", scenario_fun(lattice_gset, Merge),
      riak("riak_dt_gset:merge/2", RiakGSet), {ratio, 3}},
     {"2P-Set merge, 2 x 10k sharing 9k", scenario_fun(lattice_twopset, Merge),
      riak("riak_dt_gset:merge/2 x2 (riak_dt has no 2P-Set)",
           fun() ->
                   Adds = RiakGSet(),
                   Empty = riak_dt_gset:new(),
                   fun() -> {Adds(), riak_dt_gset:merge(Empty, Empty)} end
           end), {ratio, 3}},
     {"G-Set contains, 10k", scenario_fun(lattice_gset, {contains, Es, Probe}),
      riak("ordsets:is_element/2 on riak_dt_gset's state", IsElement), none},
     {"2P-Set contains, 10k", scenario_fun(lattice_twopset, {contains, Es, Probe}),
      riak("ordsets:is_element/2 on riak_dt_gset's state", IsElement), none},
     {"G-Set object contains, 10k", object_fun(GS, fun(O) -> lattice_object:value({contains, Probe}, O) end),
      {"binary value/2", fun() -> lattice_gset:value({contains, Probe}, GS) end}, none}]
        ++ [set_object_add_row(N) || N <- [10000, 100000]].

%% Adds a new element each call, so the object grows by the number of calls in the row (a few
%% hundred thousand at most) on top of its N elements; the binary baseline adds one new element
%% to the same N-element state every time.
set_object_add_row(N) ->
    S = element(2, lattice_gset:update({add_all, elements(N)}, a, lattice_gset:new())),
    Counter = counters:new(1, []),
    Next = fun() -> counters:add(Counter, 1, 1), {new, counters:get(Counter, 1)} end,
    {io_lib:format("G-Set object add (new elements), ~bk", [N div 1000]),
     object_fun(S, fun(O) -> lattice_object:update({add, Next()}, a, O) end),
     {"binary update/3", fun() -> lattice_gset:update({add, {e, N + 1}}, a, S) end}, none}.

object_fun(State, F) ->
    O = lattice_object:new(State),
    fun() -> F(O) end.

%% ---- LWW-Register -----------------------------------------------------------------------------
%% The baseline is riak_dt_lwwreg ({Value, Timestamp}, the greater timestamp winning); its
%% assign without a timestamp reads os:timestamp/0, lattice's the node's HLC.

lwwreg() ->
    Value = <<"a value of some thirty-two bytes">>,
    {ok, A, _} = lattice_lwwreg:update({assign, Value, 100}, n1, lattice_lwwreg:new()),
    {ok, B, _} = lattice_lwwreg:update({assign, Value, 200}, n2, lattice_lwwreg:new()),
    Riak = fun(Name, Make) ->
                   riak(Name, fun() ->
                                      {ok, RA} = riak_dt_lwwreg:update({assign, Value, 100}, n1,
                                                                       riak_dt_lwwreg:new()),
                                      {ok, RB} = riak_dt_lwwreg:update({assign, Value, 200}, n2,
                                                                       riak_dt_lwwreg:new()),
                                      Make(RA, RB)
                              end)
           end,
    [{"LWW-Register merge", fun() -> lattice_lwwreg:merge(A, B) end,
      Riak("riak_dt_lwwreg:merge/2", fun(RA, RB) -> fun() -> riak_dt_lwwreg:merge(RA, RB) end end),
      none},
     {"LWW-Register assign (explicit timestamp)",
      fun() -> lattice_lwwreg:update({assign, Value, 300}, n1, A) end,
      Riak("riak_dt_lwwreg:update/3",
           fun(RA, _) -> fun() -> riak_dt_lwwreg:update({assign, Value, 300}, n1, RA) end end),
      none},
     {"LWW-Register assign (HLC)", fun() -> lattice_lwwreg:update({assign, Value}, n1, A) end,
      Riak("riak_dt_lwwreg:update/3 (os:timestamp)",
           fun(RA, _) -> fun() -> riak_dt_lwwreg:update({assign, Value}, n1, RA) end end),
      none}].

%% ---- OR-Set -------------------------------------------------------------------------------------
%% The baseline is the real riak_dt_orswot (a dict of element -> dots; value/2 builds the whole
%% sorted value to answer `{contains, E}'). The scenario rows run one scenario on both: our
%% binary (lattice_orset) and riak_dt's term. The object rows time lattice_object on the same
%% sets, with riak_dt's figure for the same operation beside them (riak_dt has no in-place
%% form: its state is an Erlang term either way).

orset() ->
    [{Name, scenario_fun(lattice_orset, Scenario), riak_orswot(Scenario), Target}
     || {Name, Scenario, Target} <- orset_scenarios()] ++ orset_object_rows().

riak_orswot(Scenario) ->
    riak("riak_dt_orswot", fun() -> scenario_fun(riak_dt_orswot, Scenario) end).

%% {Name, Scenario, Targets}
orset_scenarios() ->
    Es = elements(10000),
    [{"OR-Set merge, 2 x 10k sharing 9k of common history (binary merge/2; 2 x ~220 KiB: yields)",
      merge_scenario(), [350.0, {ratio, 100}]},
     {"OR-Set merge, 2 x 10k sharing 9k added independently (a dot of each replica on each; "
      "binary merge/2, yields)", independent_scenario(), {ratio, 100}},
     {"OR-Set contains, 10k (binary value/2)", {contains, Es, {e, 10000}}, none},
     {"OR-Set add, 10k (binary update/3; new element, first in order)", {add, Es, {e, 1}}, none},
     {"OR-Set add, 10k (binary update/3; new element, mid-order)", {add, Es, {e, 10001}}, none}].

orset_object_rows() ->
    Es = elements(10000),
    S10k = add_all(lattice_orset, Es, a, lattice_orset:new()),
    S100k = add_all(lattice_orset, elements(100000), a, lattice_orset:new()),
    Probe = {e, 10000},
    {ok, _, Delta} = lattice_orset:update({add, {d, 0}}, b, lattice_orset:new()),
    [{"OR-Set object contains, 10k",
      object_fun(S10k, fun(O) -> lattice_object:value({contains, Probe}, O) end),
      riak_orswot({contains, Es, Probe}), 1.0},
     orset_object_add_row(10000, S10k),
     orset_object_add_row(100000, S100k),
     {"OR-Set object remove, 10k (each call removes an element added, untimed, before its round)",
      orset_object_remove_fun(S10k), riak_orswot({remove, Es, Probe}), none},
     {"OR-Set object delta join, 100k (a new one-add delta of actor b each call: the object grows)",
      orset_object_join_fun(S100k),
      {"binary merge/2 (one delta into the 100k binary; yields)",
       fun() -> lattice_orset:merge(S100k, Delta) end}, none}].

%% The riak_dt baseline adds one new element to the same N-element term every time.
orset_object_add_row(N, State) ->
    Next = fresh_elements(new),
    {io_lib:format("OR-Set object add, ~bk (a new element each call: the object grows)",
                   [N div 1000]),
     object_fun(State, fun(O) -> lattice_object:update({add, Next()}, a, O) end),
     riak_orswot({add, elements(N), {e, N + 1}}), 1.0}.

%% Before each round of N calls, N new elements are added (one add_all, not timed); each call
%% then removes the next of them, so every remove finds its element present.
orset_object_remove_fun(State) ->
    O = lattice_object:new(State),
    Added = counters:new(1, []),
    {prepare,
     fun(N) ->
             First = counters:get(Added, 1) + 1,
             counters:add(Added, 1, N),
             Es = [{r, I} || I <- lists:seq(First, First + N - 1)],
             {ok, _} = lattice_object:update({add_all, Es}, a, O),
             Next = counters:new(1, []),
             fun() ->
                     counters:add(Next, 1, 1),
                     lattice_object:update({remove, {r, First - 1 + counters:get(Next, 1)}}, a, O)
             end
     end}.

%% Before each round of N calls, another replica (an object of actor b) makes N one-add deltas,
%% not timed; each call joins the next of them, in order, into the object.
orset_object_join_fun(State) ->
    O = lattice_object:new(State),
    Other = lattice_object:new(lattice_orset),
    Next = fresh_elements(d),
    {prepare,
     fun(N) ->
             Deltas = list_to_tuple([element(2, lattice_object:update({add, Next()}, b, Other))
                                     || _ <- lists:seq(1, N)]),
             I = counters:new(1, []),
             fun() ->
                     counters:add(I, 1, 1),
                     lattice_object:join(element(counters:get(I, 1), Deltas), O)
             end
     end}.

%% A fun giving {Tag, 1}, {Tag, 2}, ...: a new element on every call.
fresh_elements(Tag) ->
    Counter = counters:new(1, []),
    fun() -> counters:add(Counter, 1, 1), {Tag, counters:get(Counter, 1)} end.

%% ---- LWW-Element-Set ------------------------------------------------------------------------
%% riak_dt has no such type: the baseline is OTP code, a map of element -> {AddTs, RemoveTs},
%% merged key by key keeping the later of each timestamp.

lwwset() ->
    {merge, Base, OnlyA, OnlyB} = Merge = merge_scenario(),
    Stamped = fun(Es, T0) -> maps:from_list([{E, {T0 + I, 0}} || {I, E} <- enumerate(Es)]) end,
    MA = maps:merge(Stamped(Base, 0), Stamped(OnlyA, 100000)),
    MB = maps:merge(Stamped(Base, 0), Stamped(OnlyB, 200000)),
    Later = fun({A1, R1}, {A2, R2}) -> {max(A1, A2), max(R1, R2)} end,
    S10k = add_all(lattice_lwwset, elements(10000), a, lattice_lwwset:new()),
    Next = fresh_elements(new),
    [{"LWW-Element-Set merge, 2 x 10k sharing 9k", scenario_fun(lattice_lwwset, Merge),
      {"maps fold (OTP), later {AddTs, RemTs}", fun() -> maps_join(Later, MA, MB) end}, none},
     {"LWW-Element-Set object add, 10k (a new element each call: the object grows)",
      object_fun(S10k, fun(O) -> lattice_object:update({add, Next()}, a, O) end),
      {"binary update/3", fun() -> lattice_lwwset:update({add, {e, 10001}}, a, S10k) end}, none}].

%% The key-by-key join of two maps: the smaller folded into the larger, writing only the keys
%% whose joined value differs. (maps:merge_with/3 writes every common key: about twice as slow
%% on these sets, where most common keys are equal.)
maps_join(Join, A, B) when map_size(A) < map_size(B) ->
    maps_join(Join, B, A);
maps_join(Join, A, B) ->
    maps:fold(fun(K, V, Acc) ->
                      case Acc of
                          #{K := Old} ->
                              case Join(Old, V) of
                                  Old -> Acc;
                                  New -> Acc#{K := New}
                              end;
                          #{} ->
                              Acc#{K => V}
                      end
              end, A, B).

enumerate(L) ->
    lists:zip(lists:seq(1, length(L)), L).

%% ---- LWW-Map ------------------------------------------------------------------------------------
%% riak_dt has no LWW-Map (riak_dt_map is a map of CRDTs with a causal context per field): the
%% baseline is OTP code, the simplest LWW map, #{K => {Ts, Actor, V}}, merged key by key
%% keeping the greater triple (maps_join/3). It has no removes (no dots, no causal context),
%% so it does less work than an add-wins map: it is a floor, not a like-for-like rival.
%% Keys are {k, I} (and {l, I} for replica B's own), values <<"v", I>> in decimal.

lwwmap() ->
    Base = lwwmap_entries(k, 1, 90000),
    OnlyA = lwwmap_entries(k, 90001, 100000),
    OnlyB = lwwmap_entries(l, 1, 10000),
    S0 = lwwmap_puts(lattice_lwwmap:new(), Base, a),
    A = lwwmap_puts(S0, OnlyA, a),
    B = lwwmap_puts(S0, OnlyB, b),
    Plain = fun(Entries, Actor) ->
                    maps:from_list([{K, {Ts, Actor, V}} || {K, V, Ts} <- Entries])
            end,
    MA = maps:merge(Plain(Base, a), Plain(OnlyA, a)),
    MB = maps:merge(Plain(Base, a), Plain(OnlyB, b)),
    Greater = fun(X, Y) -> max(X, Y) end,
    Key = {k, 50000},
    Value = lwwmap_value(7),
    Next = fresh_elements(new),
    [{"LWW-Map merge, 2 x 100k sharing 90k (binary merge/2; yields)",
      fun() -> lattice_lwwmap:merge(A, B) end,
      {"maps fold (OTP), greater {Ts, Actor, V} (no removes: less work)",
       fun() -> maps_join(Greater, MA, MB) end}, {ratio, 5}},
     {"LWW-Map object put, 100k (an existing key, HLC timestamp)",
      object_fun(A, fun(O) -> lattice_object:update({put, Key, Value}, a, O) end),
      {"maps:put of {erlang:system_time, Actor, V}",
       fun() -> maps:put(Key, {erlang:system_time(microsecond), a, Value}, MA) end}, none},
     {"LWW-Map object put, 100k (a new key each call, HLC timestamp: the object grows)",
      object_fun(A, fun(O) -> lattice_object:update({put, Next(), Value}, a, O) end),
      {"maps:put of a new key",
       fun() -> maps:put({k, 100001}, {erlang:system_time(microsecond), a, Value}, MA) end}, none},
     {"LWW-Map object get, 100k", object_fun(A, fun(O) -> lattice_object:value({get, Key}, O) end),
      {"maps:find", fun() -> maps:find(Key, MA) end}, none}].

%% [{Key, Value, Ts}] for {Tag, From..To}, each timestamped with its number.
lwwmap_entries(Tag, From, To) ->
    [{{Tag, I}, lwwmap_value(I), I} || I <- lists:seq(From, To)].

lwwmap_value(I) ->
    <<"v", (integer_to_binary(I))/binary>>.

%% The state after Actor puts every entry, with its explicit timestamp, through an object: the
%% binary update/3 copies the whole state on every put, too slow to build 100k keys.
lwwmap_puts(State, Entries, Actor) ->
    O = lattice_object:new(State),
    lists:foreach(fun({K, V, Ts}) -> {ok, _} = lattice_object:update({put, K, V, Ts}, Actor, O) end,
                  Entries),
    lattice_object:snapshot(O).

%% ---- MV-Register --------------------------------------------------------------------------------
%% riak_dt has no MV-Register: the baseline is the plain Erlang tombstone model
%% test/support/lattice_mvreg_model.erl. Until
%% src/lattice_mvreg.erl exists, the binary rows call the dot-kernel NIFs with its tag (0x18)
%% and say so; objects need only the state.

-define(MVREG_TAG, 16#18).
-define(MVM, lattice_mvreg_model).

mvreg() ->
    {New, Update, Merge, Via} = mvreg_api(),
    Value = <<"a value of some thirty-two bytes">>,
    {ok, R0, _} = Update({assign, Value}, a, New),
    {ok, RA, _} = Update({assign, <<"value from a">>}, a, R0),
    {ok, RB, _} = Update({assign, <<"value from b">>}, b, R0),
    {ok, M0, _} = ?MVM:update({assign, Value}, a, ?MVM:new()),
    {ok, MA, _} = ?MVM:update({assign, <<"value from a">>}, a, M0),
    {ok, MB, _} = ?MVM:update({assign, <<"value from b">>}, b, M0),
    [{"MV-Register merge, 2 concurrent assigns over a common one" ++ Via,
      fun() -> Merge(RA, RB) end,
      {"tombstone model (test/support/lattice_mvreg_model)", fun() -> ?MVM:merge(MA, MB) end}, none},
     {"MV-Register object assign",
      object_fun(R0, fun(O) -> lattice_object:update({assign, Value}, a, O) end),
      {"tombstone model (test/support/lattice_mvreg_model)",
       fun() -> ?MVM:update({assign, Value}, a, M0) end},
      none}].

mvreg_api() ->
    case code:ensure_loaded(lattice_mvreg) of
        {module, _} ->
            {lattice_mvreg:new(), fun lattice_mvreg:update/3, fun lattice_mvreg:merge/2, ""};
        _ ->
            {<<?MVREG_TAG, 1, 0, 0>>,
             fun(Op, Actor, S) -> lattice_nif:dk_update(?MVREG_TAG, Op, Actor, S) end,
             fun(A, B) -> lattice_nif:dk_merge(?MVREG_TAG, A, B) end,
             " (lattice_nif:dk_merge: no lattice_mvreg yet)"}
    end.

%% ---- bytes ---------------------------------------------------------------------------------------
%% Bytes per element of the canonical binary against the canonical payload: the sum over the
%% elements (keys, plus values for a map) of byte_size(lattice_canon:encode(T)). The rest is
%% the format's: per element an id (8 bytes), lengths, the dots (actor index, counter), and an
%% LWW-Map dot's timestamp (8 bytes); the causal context is a few bytes per actor.

bytes() ->
    N = 100000,
    Es = elements(N),
    EsPayload = lists:sum([byte_size(lattice_canon:encode(E)) || E <- Es]),
    One = add_all(lattice_orset, Es, a, lattice_orset:new()),
    Eighth = fun(I) -> [E || {J, E} <- enumerate(Es), J rem 8 =:= I] end,
    Eight = lists:foldl(fun(I, S) -> add_all(lattice_orset, Eighth(I), {n, I}, S) end,
                        lattice_orset:new(), lists:seq(0, 7)),
    Entries = lwwmap_entries(k, 1, N),
    Map = lwwmap_puts(lattice_lwwmap:new(), Entries, a),
    MapPayload = lists:sum([byte_size(lattice_canon:encode(K)) + byte_size(lattice_canon:encode(V))
                            || {K, V, _} <- Entries]),
    [{bytes, "OR-Set binary, 100k elements (one actor)", EsPayload / N, byte_size(One) / N, 24},
     {bytes, "OR-Set binary, 100k elements (8 actors, every 8th element each)", EsPayload / N,
      byte_size(Eight) / N, 24},
     {bytes, "LWW-Map binary, 100k keys (one actor; payload: key + value)", MapPayload / N,
      byte_size(Map) / N, 24}].

%% ---- hybrid logical clock ------------------------------------------------------------------

hlc() ->
    Ref = atomics:new(1, [{signed, false}]),
    [{"HLC now", fun lattice_hlc:now/0,
      {"atomics CAS loop in Erlang", fun() -> erlang_hlc_now(Ref) end}, 0.2}].

erlang_hlc_now(Ref) ->
    Wall = erlang:system_time(millisecond) bsl 16,
    Old = atomics:get(Ref, 1),
    New = max(Old + 1, Wall),
    case atomics:compare_exchange(Ref, 1, Old, New) of
        ok -> New;
        _ -> erlang_hlc_now(Ref)
    end.

%% ---- hashing -------------------------------------------------------------------------------

hash() ->
    rand:seed(exsss, {1, 2, 3}),
    MB = rand:bytes(1024 * 1024),
    [{"XXH3-64 of 1 MB", fun() -> lattice_hash:xxh3_64(MB) end,
      {"erlang:md5/1 (a C BIF)", fun() -> erlang:md5(MB) end}, 100.0},
     {"XXH3-128 of 1 MB", fun() -> lattice_hash:xxh3_128(MB) end,
      {"erlang:phash2/1 (a C BIF)", fun() -> erlang:phash2(MB) end}, none},
     {"term digest of a 1000-key map", fun() -> lattice_hash:term(big_map()) end,
      {"erlang:phash2/1 (a C BIF)", fun() -> erlang:phash2(big_map()) end}, none}].

big_map() ->
    case get(big_map) of
        undefined ->
            M = maps:from_list([{I, integer_to_binary(I)} || I <- lists:seq(1, 1000)]),
            put(big_map, M),
            M;
        M ->
            M
    end.

%% ---- the Merkle tree ----------------------------------------------------------------------
%% lattice_merkle (the NIF over c_src/lt_merkle.c) on its own at 1M keys, then beside the real
%% merkle_map (Elixir, from the anchors: MerkleMap.new/1 and update_hashes/1, diff_keys/2) on
%% the same 100k keys and digests in the same run. merkle_map is Elixir: its rows need the
%% anchors' build and Elixir's own ebin on the code path (found from the `elixir' on PATH);
%% without them they say skipped. Keys are <<"key-", I>>, digests <<I:128>>.

merkle_key(I) -> <<"key-", (integer_to_binary(I))/binary>>.

merkle_entries(N, Salt) -> [{merkle_key(I), <<(I + Salt):128>>} || I <- lists:seq(1, N)].

merkle_map_loaded() ->
    Loaded = fun(M) -> element(1, code:ensure_loaded(M)) =:= module end,
    case Loaded('Elixir.Enum') of
        true -> ok;
        false -> add_elixir_path()
    end,
    Loaded('Elixir.Enum') andalso Loaded('Elixir.MerkleMap').

%% Elixir's own ebin, from the `elixir' on PATH (its bin/ sits beside lib/elixir/ebin).
add_elixir_path() ->
    case os:find_executable("elixir") of
        false ->
            ok;
        Exe ->
            Real = case file:read_link_all(Exe) of
                       {ok, R} -> R;
                       {error, _} -> Exe
                   end,
            Bin = filename:dirname(filename:absname(Real, filename:dirname(Exe))),
            _ = code:add_pathz(filename:join([filename:dirname(Bin), "lib", "elixir", "ebin"])),
            ok
    end.

merkle_map(Name, Make) ->
    case merkle_map_loaded() of
        true -> {Name, Make()};
        false -> {skipped, Name}
    end.

%% A fun timing Fun, with a garbage collection (not timed) before each round: the trees each
%% call builds are freed by it, not left to pile up (a 1M-key tree holds about 85 MB).
fresh_each_round(Fun) ->
    {prepare, fun(_N) -> garbage_collect(), Fun end}.

merkle() ->
    M = lattice_merkle,
    Big = merkle_entries(1000000, 0),
    T = M:new(),
    ok = M:put(T, Big),
    Keys = list_to_tuple([K || {K, _} <- Big]),
    Next = counters:new(1, []),
    NextKey = fun() ->
                      counters:add(Next, 1, 1),
                      I = counters:get(Next, 1),
                      {element(I rem 1000000 + 1, Keys), <<(I + 7):128>>}
              end,
    Batch = fun() -> [NextKey() || _ <- lists:seq(1, 1000)] end,
    %% 100k keys: A, and B with 1% (or 10) of the digests changed and as many keys replaced.
    N = 100000,
    A = merkle_entries(N, 0),
    Changed = fun(Every) ->
                      [case I rem Every of
                           0 -> {merkle_key(I), <<0:128>>};
                           1 -> {<<"other-", (integer_to_binary(I))/binary>>, <<I:128>>};
                           _ -> E
                       end || {I, E} <- enumerate(A)]
              end,
    [B100, B10k] = [Changed(E) || E <- [100, 10000]],
    Tree = fun(L) -> TT = M:new(), ok = M:put(TT, L), TT end,
    [TA, TB100, TB10k] = [Tree(L) || L <- [A, B100, B10k]],
    true = length(M:diff(TA, TB100)) =:= 3 * (N div 100),
    MM = fun(L) -> 'Elixir.MerkleMap':update_hashes('Elixir.MerkleMap':new(L)) end,
    MMDiff = fun(L) ->
                     MA = MM(A),
                     MB = MM(L),
                     {ok, Ks} = 'Elixir.MerkleMap':diff_keys(MA, MB),
                     true = length(lists:usort(Ks)) =:= length(M:diff(TA, Tree(L))),
                     fun() -> 'Elixir.MerkleMap':diff_keys(MA, MB) end
             end,
    PerUpdate = fun(Us) -> io_lib:format("Merkle batch of 1000 updates, 1M keys (put/2): "
                                         "~.3f us an update (target: 1 us)", [Us / 1000]) end,
    [{"Merkle build, 1M keys (new/0 + put/2 of [{Key, Digest}]; yields)",
      fresh_each_round(fun() -> TT = M:new(), ok = M:put(TT, Big) end), none, 200000.0},
     {"Merkle update, 1M keys (put/3 of an existing key, a new digest)",
      fun() -> {K, D} = NextKey(), M:put(T, K, D) end, none, 1.0},
     {PerUpdate, {prepare, fun(Rounds) ->
                                   Bs = list_to_tuple([Batch() || _ <- lists:seq(1, Rounds)]),
                                   I = counters:new(1, []),
                                   fun() ->
                                           counters:add(I, 1, 1),
                                           M:put(T, element(counters:get(I, 1), Bs))
                                   end
                           end}, none, 1000.0},
     {"Merkle build, 100k keys (new/0 + put/2)",
      fresh_each_round(fun() -> TT = M:new(), ok = M:put(TT, A) end),
      merkle_map("MerkleMap.new/1 + update_hashes/1 (merkle_map)", fun() -> fun() -> MM(A) end end),
      none},
     {"Merkle diff, 2 x 100k keys, 3% differ (1000 digests, 1000 keys each side)",
      fun() -> M:diff(TA, TB100) end,
      merkle_map("MerkleMap.diff_keys/2 (merkle_map)", fun() -> MMDiff(B100) end), none},
     {"Merkle diff, 2 x 100k keys, 30 keys differ",
      fun() -> M:diff(TA, TB10k) end,
      merkle_map("MerkleMap.diff_keys/2 (merkle_map)", fun() -> MMDiff(B10k) end), none},
     {"Merkle update, 100k keys (put/3 of an existing key)",
      fun() -> M:put(TA, merkle_key(500), <<(erlang:unique_integer([positive])):128>>) end,
      merkle_map("MerkleMap.put/3 + update_hashes/1 (merkle_map)",
                 fun() ->
                         MA = MM(A),
                         fun() ->
                                 'Elixir.MerkleMap':update_hashes(
                                   'Elixir.MerkleMap':put(MA, merkle_key(500),
                                                          erlang:unique_integer([positive])))
                         end
                 end), none}].

%% ---- the dirty cut-offs -------------------------------------------------------------------
%% Calls that cannot yield move to a dirty scheduler above a cut-off (nif/lt_nif.h): 256 KiB
%% for passes over bytes in C, 16 KiB for work that builds terms or hashes every actor, 4 KiB
%% for DVV operations; 256 KiB for the dot kernel's passes (nif/lt_nif_dotkernel.c), whose
%% merge yields instead above 64 KiB. These rows time the slowest calls of each kind just
%% under their cut-off: all must stay well under 1 ms, or the cut-off is too high.

-define(DK_YIELD_BYTES, (64 * 1024)).

cutoff() ->
    Term = fit(fun(N) -> [{I, <<"v">>} || I <- lists:seq(1, N)] end,
               fun lattice_canon:encode/1, 16 * 1024),
    Bytes = lattice_canon:encode(Term),
    Ext = term_to_binary(Term),
    Small = fit(fun(N) -> ?V:from_list([{{n, I}, I} || I <- lists:seq(1, N)]) end,
                fun(C) -> C end, 16 * 1024),
    DVV = fit(fun(N) -> lattice_dvv:from_list({[{{n, I}, I} || I <- lists:seq(1, N div 2)],
                                               [{{n, I}, I + 2} || I <- lists:seq(1, N div 2)]})
              end, fun(D) -> D end, 4 * 1024),
    DVV2 = lattice_dvv:add({{n, 0}, 1}, DVV),
    Half = fun(N) -> ?V:from_list([{{n, I}, I} || I <- lists:seq(1, N)]) end,
    BigA = fit(Half, fun(C) -> C end, 128 * 1024),
    BigB = ?V:from_list([{{m, I}, 1} || I <- lists:seq(1, ?V:size(BigA))]),
    Big = fit(Half, fun(C) -> C end, 256 * 1024),
    KiB = fun(X) -> integer_to_list(byte_size(X) div 1024) ++ " KiB" end,
    [{"canonical decode, " ++ KiB(Bytes), fun() -> lattice_canon:decode(Bytes) end,
      {"binary_to_term of the same term", fun() -> binary_to_term(Ext) end}, none},
     {"vclock to_list, " ++ KiB(Small), fun() -> ?V:to_list(Small) end, none, none},
     {"vclock validate, " ++ KiB(Small), fun() -> ?V:validate(Small) end, none, none},
     {"dvv merge, " ++ KiB(DVV), fun() -> lattice_dvv:merge(DVV, DVV2) end, none, none},
     {"vclock merge (disjoint), 2 x " ++ KiB(BigA), fun() -> ?V:merge(BigA, BigB) end,
      none, none},
     {"vclock increment, " ++ KiB(Big), fun() -> ?V:increment({n, 1}, Big) end, none, none}]
        ++ [orset_cutoff_row(Total, Target) || {Total, Target} <- [{?DK_YIELD_BYTES, 1000.0},
                                                                   {256 * 1024, none}]].

%% The dot kernel's merge (nif/lt_nif_dotkernel.c) runs in one go up to DK_YIELD_BYTES of
%% input and yields above. Its slowest shape: two sets of the same size, disjoint, by two
%% actors (every element is checked against the other side's context and copied out). The
%% call at the cut-off should take well under 1 ms; the rate at 256 KiB (yielding) shows
%% whether the time per byte holds up.

orset_cutoff_row(Total, Target) ->
    Make = fun(N) ->
                   Empty = lattice_orset:new(),
                   {add_all(lattice_orset, elements(N), a, Empty),
                    add_all(lattice_orset, [{f, I} || I <- lists:seq(1, N)], b, Empty)}
           end,
    {A, B} = fit(Make, fun({X, Y}) -> <<X/binary, Y/binary>> end, Total, 1, 1 bsl 14),
    Bytes = byte_size(A) + byte_size(B),
    Name = fun(Us) ->
                   io_lib:format("OR-Set merge (disjoint, 2 actors), ~b + ~b KiB: ~.2f ns/byte",
                                 [byte_size(A) div 1024, byte_size(B) div 1024, Us * 1000 / Bytes])
           end,
    {Name, fun() -> lattice_orset:merge(A, B) end, none, Target}.

%% The largest value Make(N) whose size Size(Value) is at most Limit bytes.
fit(Make, Size, Limit) ->
    fit(Make, Size, Limit, 1, 1 bsl 22).

fit(Make, _Size, _Limit, Lo, Hi) when Hi - Lo =< 1 ->
    Make(Lo);
fit(Make, Size, Limit, Lo, Hi) ->
    Mid = (Lo + Hi) div 2,
    case byte_size(Size(Make(Mid))) =< Limit of
        true -> fit(Make, Size, Limit, Mid, Hi);
        false -> fit(Make, Size, Limit, Lo, Mid)
    end.
