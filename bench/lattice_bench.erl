%% `make bench`: lattice against plain Erlang, in one run, as a table of medians.
%%
%% Each row times an operation in a tight loop: ROUNDS rounds of enough iterations to take
%% about 20 ms each, reporting the median time per operation. The plain Erlang column runs
%% the models in test/ (written the way riak_dt does it), riak_dt's ORSWOT as
%% bench/lattice_bench_orswot.erl re-implements it, or, where no Erlang version exists, the
%% closest built-in, named in the row. Ratios compare the two columns of the same run, which
%% is what survives a noisy machine. A row without a lattice fun shows the plain Erlang figure
%% alone. The "bytes" rows are sizes, not times: bytes per element of a canonical binary
%% against the canonical bytes of what it holds.
%%
%% `lattice_bench:main()' runs every group; `main(Group)' (an atom, or a list of them) one.
-module(lattice_bench).

-export([main/0, main/1]).

-define(ROUNDS, 15).
-define(ROUND_NS, 20000000).

-define(V, lattice_vclock).
-define(M, lattice_vclock_model).

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
    io:format("lattice benchmarks - ~s, OTP ~s, ~b schedulers, median of ~b rounds~n~n",
              [hostname(), erlang:system_info(otp_release), erlang:system_info(schedulers_online),
               ?ROUNDS]),
    io:format("| benchmark | lattice | plain Erlang | baseline | speed-up | target | met |~n"),
    io:format("|---|---:|---:|---|---:|---:|:-:|~n"),
    Rows = [R || {Group, _} = R <- rows(), Only =:= all orelse lists:member(Group, Only)],
    Missed = lists:append([run_group(G) || {_, G} <- Rows]),
    io:format("~n"),
    case Missed of
        [] -> io:format("All targets met.~n");
        _ -> io:format("Targets missed: ~s~n", [lists:join(", ", Missed)])
    end.

hostname() ->
    {ok, H} = inet:gethostname(),
    H.

rows() ->
    [{clocks, fun clocks/0}, {counters, fun counters/0}, {sets, fun sets/0}, {lwwreg, fun lwwreg/0},
     {orset, fun orset/0}, {lwwset, fun lwwset/0}, {lwwmap, fun lwwmap/0}, {mvreg, fun mvreg/0},
     {bytes, fun bytes/0}, {hlc, fun hlc/0}, {hash, fun hash/0}, {cutoff, fun cutoff/0}].

run_group(Fun) ->
    lists:filtermap(fun row/1, Fun()).

%% {Name, LatticeFun | none, {BaselineName, BaselineFun} | none, TargetUs | none}. A row
%% without a lattice fun (a baseline waiting for its lattice type) prints the baseline alone.
%% Name may be a fun of the lattice median (microseconds), for rows that report a rate.
%% A timed fun may be {prepare, Prep}: before each round of N calls, Prep(N) (not timed)
%% returns the fun to call N times (for operations that use something up, as a remove).
%%
%% {bytes, Name, PayloadPerElem, BinaryPerElem, MaxOverheadPerElem | none}: a size row.
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
        "**no**" -> {true, Name};
        _ -> false
    end;
row({Name0, F, Baseline, Target}) ->
    Ours = case F of
               none -> none;
               _ -> median_us(F)
           end,
    {TheirsText, BaseName, Ratio} =
        case Baseline of
            none -> {"", "", ""};
            {BName, G} when Ours =:= none -> {fmt_us(median_us(G)), BName, ""};
            {BName, G} ->
                Theirs = median_us(G),
                {fmt_us(Theirs), BName, io_lib:format("~.1fx", [Theirs / Ours])}
        end,
    {TargetText, Met} =
        case Target of
            none -> {"", ""};
            T when Ours =:= none -> {"<= " ++ fmt_us(T), ""};
            T when Ours =< T -> {"<= " ++ fmt_us(T), "yes"};
            T -> {"<= " ++ fmt_us(T), "**no**"}
        end,
    OursText = case Ours of
                   none -> "";
                   _ -> fmt_us(Ours)
               end,
    Name = case Name0 of
               _ when is_function(Name0, 1) -> Name0(Ours);
               _ -> Name0
           end,
    io:format("| ~s | ~s | ~s | ~s | ~s | ~s | ~s |~n",
              [Name, OursText, TheirsText, BaseName, Ratio, TargetText, Met]),
    case Met of
        "**no**" -> {true, Name};
        _ -> false
    end.

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

clock_rows(N) ->
    {L1, L2} = same_actor_clocks(N),
    {O1, O2} = overlap_clocks(N),
    [A, B, OA, OB] = [?V:from_list(L) || L <- [L1, L2, O1, O2]],
    [MA, MB, MOA, MOB] = [?M:from_list(L) || L <- [L1, L2, O1, O2]],
    %% A1 descends from A (one more event of the last actor): descends must look at every entry.
    {LastActor, _} = lists:last(L1),
    A1 = ?V:increment(LastActor, A),
    MA1 = ?M:increment(LastActor, MA),
    %% An actor from the middle: neither the list head (free for keyfind) nor absent.
    Actor = element(1, lists:nth(N div 2 + 1, L1)),
    Label = fun(What) -> io_lib:format("vclock ~s, ~b actors", [What, N]) end,
    [{Label("compare (same actors)"), fun() -> ?V:compare(A, B) end,
      {"riak_dt-style descends x2", fun() -> ?M:compare(MA, MB) end},
      target(compare, N)},
     {Label("descends (B = A + 1 event)"), fun() -> ?V:descends(A1, A) end,
      {"riak_dt-style descends", fun() -> ?M:descends(MA1, MA) end}, none},
     {Label("compare (half shared)"), fun() -> ?V:compare(OA, OB) end,
      {"riak_dt-style descends x2", fun() -> ?M:compare(MOA, MOB) end}, none},
     {Label("merge (same actors)"), fun() -> ?V:merge(A, B) end,
      {"riak_dt-style merge", fun() -> ?M:merge(MA, MB) end}, target(merge, N)},
     {Label("merge (half shared)"), fun() -> ?V:merge(OA, OB) end,
      {"riak_dt-style merge", fun() -> ?M:merge(MOA, MOB) end}, none},
     {Label("increment"), fun() -> ?V:increment(Actor, A) end,
      {"lists:keytake", fun() -> ?M:increment(Actor, MA) end}, none},
     {Label("get"), fun() -> ?V:get(Actor, A) end,
      {"lists:keyfind", fun() -> ?M:get(Actor, MA) end}, none}].

target(compare, 8) -> 0.25;
target(compare, 1000) -> 5.0;
target(merge, 1000) -> 3.0;
target(gmerge, 8) -> 0.25;
target(gmerge, 1000) -> 3.0;
target(_, _) -> none.

%% ---- counters ------------------------------------------------------------------------------
%% The plain Erlang baseline is riak_dt_gcounter's representation: an orddict of
%% {Actor, Count} merged with orddict:merge/3.

counters() ->
    lists:append([counter_rows(N) || N <- [8, 1000]]) ++ object_rows().

gcounter(L) ->
    lists:foldl(fun({A, C}, S) -> {ok, S2, _} = lattice_gcounter:update({increment, C}, A, S), S2 end,
                lattice_gcounter:new(), L).

counter_rows(N) ->
    {L1, L2} = same_actor_clocks(N),
    A = gcounter(L1),
    B = gcounter(L2),
    OA = orddict:from_list(L1),
    OB = orddict:from_list(L2),
    Max = fun(_, X, Y) -> max(X, Y) end,
    Label = fun(What) -> io_lib:format("G-Counter ~s, ~b actors", [What, N]) end,
    [{Label("merge"), fun() -> lattice_gcounter:merge(A, B) end,
      {"orddict merge (riak_dt)", fun() -> orddict:merge(Max, OA, OB) end}, target(gmerge, N)},
     {Label("value"), fun() -> lattice_gcounter:value(A) end,
      {"sum over the orddict", fun() -> lists:sum([C || {_, C} <- OA]) end}, none}].

object_rows() ->
    O = lattice_object:new(lattice_gcounter),
    [{ok, _} = lattice_object:update({increment, 1}, {n, I}, O) || I <- lists:seq(1, 1000)],
    [{"G-Counter object increment, 1000 actors",
      fun() -> lattice_object:update({increment, 1}, {n, 500}, O) end,
      {"binary update/3", fun() -> lattice_gcounter:update({increment, 1}, {n, 500},
                                                             lattice_object:snapshot(O)) end},
      none}].

%% ---- sets: scenarios ------------------------------------------------------------------------
%% Set scenarios in terms any set type can build, so that each type (and the riak_dt baseline)
%% runs the same ones. Elements are {e, 2 * I}, so that {e, 1} is a new element first in term
%% order and {e, N + 1} one in the middle (where an orddict insert costs most).
%%   {merge, Base, OnlyA, OnlyB}: replica A is actor a adding Base then OnlyA; replica B starts
%%       from the same Base and actor b adds OnlyB; the timed call merges A and B.
%%   {contains, Elements, Probe}: membership of Probe in the set of Elements.
%%   {add, Elements, New}: actor a adds New to the set of Elements (the state stays as it was:
%%       every call adds to the same set).
%%   {remove, Elements, Old}: actor a removes Old, one of Elements, from the same set each call.

elements(N) -> [{e, 2 * I} || I <- lists:seq(1, N)].

%% Two 10k-element sets sharing 9k.
merge_scenario() ->
    {merge, elements(9000), [{e, 2 * I} || I <- lists:seq(9001, 10000)],
     [{f, I} || I <- lists:seq(1, 1000)]}.

%% The fun that times Scenario on set module M: a lattice type (update/3 gives {ok, S, Delta})
%% or a riak_dt-style one (update/3 gives {ok, S}). The states are built here, not timed.
scenario_fun(M, {merge, Base, OnlyA, OnlyB}) ->
    S0 = add_all(M, Base, a, M:new()),
    A = add_all(M, OnlyA, a, S0),
    B = add_all(M, OnlyB, b, S0),
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

%% In reverse order: an orddict (riak_dt) then takes each add at its head, which keeps building
%% 10k-element baselines quick; the lattice types do not care about the order.
add_all(M, Elements, Actor, S) ->
    case M:update({add_all, lists:reverse(Elements)}, Actor, S) of
        {ok, S2} -> S2;
        {ok, S2, _Delta} -> S2
    end.

%% ---- G-Set and 2P-Set -------------------------------------------------------------------------
%% The plain Erlang baseline is an ordset (riak_dt_gset's representation; a 2P-Set is two).

sets() ->
    {merge, Base, OnlyA, OnlyB} = Merge = merge_scenario(),
    OA = ordsets:from_list(Base ++ OnlyA),
    OB = ordsets:from_list(Base ++ OnlyB),
    Es = elements(10000),
    Probe = {e, 10000},
    Ordset = ordsets:from_list(Es),
    GS = element(2, lattice_gset:update({add_all, Es}, a, lattice_gset:new())),
    [{"G-Set merge, 2 x 10k sharing 9k", scenario_fun(lattice_gset, Merge),
      {"ordsets:union", fun() -> ordsets:union(OA, OB) end}, none},
     {"2P-Set merge, 2 x 10k sharing 9k", scenario_fun(lattice_twopset, Merge),
      {"ordsets:union x2", fun() -> {ordsets:union(OA, OB), ordsets:union([], [])} end}, none},
     {"G-Set contains, 10k", scenario_fun(lattice_gset, {contains, Es, Probe}),
      {"ordsets:is_element", fun() -> ordsets:is_element(Probe, Ordset) end}, none},
     {"2P-Set contains, 10k", scenario_fun(lattice_twopset, {contains, Es, Probe}),
      {"ordsets:is_element", fun() -> ordsets:is_element(Probe, Ordset) end}, none},
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
%% The plain Erlang baseline is riak_dt_lwwreg's representation, {Value, Timestamp}, the greater
%% timestamp winning.

lwwreg() ->
    Value = <<"a value of some thirty-two bytes">>,
    {ok, A, _} = lattice_lwwreg:update({assign, Value, 100}, n1, lattice_lwwreg:new()),
    {ok, B, _} = lattice_lwwreg:update({assign, Value, 200}, n2, lattice_lwwreg:new()),
    PA = {Value, 100},
    PB = {Value, 200},
    [{"LWW-Register merge", fun() -> lattice_lwwreg:merge(A, B) end,
      {"{V, Ts} compare", fun() -> lww_merge(PA, PB) end}, none},
     {"LWW-Register assign (explicit timestamp)",
      fun() -> lattice_lwwreg:update({assign, Value, 300}, n1, A) end,
      {"{V, Ts} compare", fun() -> lww_assign(Value, 300, PA) end}, none},
     {"LWW-Register assign (HLC)", fun() -> lattice_lwwreg:update({assign, Value}, n1, A) end,
      {"{V, Ts} with erlang:system_time",
       fun() -> lww_assign(Value, erlang:system_time(microsecond), PA) end}, none}].

lww_merge({_, TA} = A, {_, TB}) when TA > TB -> A;
lww_merge(_, B) -> B.

lww_assign(V, Ts, {_, Old}) when Ts > Old -> {ok, {V, Ts}};
lww_assign(_, _, Reg) -> {ok, Reg}.

%% ---- OR-Set -------------------------------------------------------------------------------------
%% The baseline is riak_dt_orswot as bench/lattice_bench_orswot.erl re-implements it (a dict of
%% element -> dots, as the released riak_dt). The scenario rows run one scenario on both: our
%% binary (lattice_orset) and riak_dt's term. The object rows time lattice_object on the same
%% sets, with riak_dt's figure for the same operation beside them (riak_dt has no in-place
%% form: its state is an Erlang term either way).

-define(ORSWOT, lattice_bench_orswot).

orset() ->
    orset_rows(fun(Scenario) -> scenario_fun(lattice_orset, Scenario) end) ++ orset_object_rows().

%% Ours is a fun from a scenario to the lattice fun to time (or none).
orset_rows(Ours) ->
    [{Name, Ours(Scenario), {"riak_dt_orswot (Erlang)", scenario_fun(?ORSWOT, Scenario)}, Target}
     || {Name, Scenario, Target} <- orset_scenarios()].

%% {Name, Scenario, TargetUs | none}
orset_scenarios() ->
    Es = elements(10000),
    [{"OR-Set merge, 2 x 10k sharing 9k (binary merge/2; 2 x ~220 KiB: yields)", merge_scenario(),
      350.0},
     {"OR-Set contains, 10k (binary value/2)", {contains, Es, {e, 10000}}, none},
     {"OR-Set add, 10k (binary update/3; new element, first in order)", {add, Es, {e, 1}}, none},
     {"OR-Set add, 10k (binary update/3; new element, mid-order)", {add, Es, {e, 10001}}, none}].

orset_object_rows() ->
    Es = elements(10000),
    S10k = add_all(lattice_orset, Es, a, lattice_orset:new()),
    S100k = add_all(lattice_orset, elements(100000), a, lattice_orset:new()),
    Probe = {e, 10000},
    Riak = fun(Scenario) -> {"riak_dt_orswot (Erlang)", scenario_fun(?ORSWOT, Scenario)} end,
    {ok, _, Delta} = lattice_orset:update({add, {d, 0}}, b, lattice_orset:new()),
    [{"OR-Set object contains, 10k",
      object_fun(S10k, fun(O) -> lattice_object:value({contains, Probe}, O) end),
      Riak({contains, Es, Probe}), 1.0},
     orset_object_add_row(10000, S10k, Riak),
     orset_object_add_row(100000, S100k, Riak),
     {"OR-Set object remove, 10k (each call removes an element added, untimed, before its round)",
      orset_object_remove_fun(S10k), Riak({remove, Es, Probe}), none},
     {"OR-Set object delta join, 100k (a new one-add delta of actor b each call: the object grows)",
      orset_object_join_fun(S100k),
      {"binary merge/2 (one delta into the 100k binary; yields)",
       fun() -> lattice_orset:merge(S100k, Delta) end}, none}].

%% The riak_dt baseline adds one new element to the same N-element term every time.
orset_object_add_row(N, State, Riak) ->
    Next = fresh_elements(new),
    {io_lib:format("OR-Set object add, ~bk (a new element each call: the object grows)",
                   [N div 1000]),
     object_fun(State, fun(O) -> lattice_object:update({add, Next()}, a, O) end),
     Riak({add, elements(N), {e, N + 1}}), 1.0}.

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
%% No riak_dt type: the plain Erlang baseline is a map of element -> {AddTs, RemoveTs}, merged
%% key by key keeping the later of each timestamp.

lwwset() ->
    {merge, Base, OnlyA, OnlyB} = Merge = merge_scenario(),
    Stamped = fun(Es, T0) -> maps:from_list([{E, {T0 + I, 0}} || {I, E} <- enumerate(Es)]) end,
    MA = maps:merge(Stamped(Base, 0), Stamped(OnlyA, 100000)),
    MB = maps:merge(Stamped(Base, 0), Stamped(OnlyB, 200000)),
    Later = fun({A1, R1}, {A2, R2}) -> {max(A1, A2), max(R1, R2)} end,
    S10k = add_all(lattice_lwwset, elements(10000), a, lattice_lwwset:new()),
    Next = fresh_elements(new),
    [{"LWW-Element-Set merge, 2 x 10k sharing 9k", scenario_fun(lattice_lwwset, Merge),
      {"maps fold, later {AddTs, RemTs}", fun() -> maps_join(Later, MA, MB) end}, none},
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
%% The plain Erlang baseline is the simplest LWW map, #{K => {Ts, Actor, V}}, merged key by key
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
      {"maps fold, greater {Ts, Actor, V} (no removes: less work)",
       fun() -> maps_join(Greater, MA, MB) end}, none},
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
%% The plain Erlang baseline is the tombstone model test/lattice_mvreg_model.erl. Until
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
      {"tombstone model (test/lattice_mvreg_model)", fun() -> ?MVM:merge(MA, MB) end}, none},
     {"MV-Register object assign",
      object_fun(R0, fun(O) -> lattice_object:update({assign, Value}, a, O) end),
      {"tombstone model (test/lattice_mvreg_model)",
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
