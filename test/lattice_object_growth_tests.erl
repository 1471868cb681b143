%% An in-place object grown one key at a time never holds the lone normal scheduler for long:
%% each doubling of its index and per-key arrays (past 2^19 keys it moved everything in one
%% call, 64 ms for an OR-Set) runs on a dirty scheduler (lt_obj_type.grow_is_big). The state
%% stays the one the same updates give: its size, and its digest against its snapshot's.
-module(lattice_object_growth_tests).

-include_lib("eunit/include/eunit.hrl").

-define(KEYS, (1 bsl 19 + 1000)).
-define(MAX_GAP_MS, 20).

growth_test_() ->
    {setup,
     fun() -> erlang:system_flag(schedulers_online, 1) end,
     fun(Online) -> erlang:system_flag(schedulers_online, Online) end,
     [{timeout, 120, fun() -> grow(lattice_orset) end},
      {timeout, 120, fun() -> grow(lattice_gset) end},
      {timeout, 120, fun() -> grow(lattice_gcounter) end}]}.

%% One new key per call: an element, or (for the counter) an actor.
update(lattice_gcounter, I, O) -> lattice_object:update({increment, 1}, I, O);
update(_, I, O) -> lattice_object:update({add, I}, a, O).

grow_loop(_, _, N, N) -> ok;
grow_loop(Type, O, I, N) ->
    {ok, _} = update(Type, I, O),
    grow_loop(Type, O, I + 1, N).

grow(Type) ->
    MaxGap = lattice_ticker:best_of_two(?MAX_GAP_MS, fun() -> grow_once(Type) end),
    ?assert(MaxGap < ?MAX_GAP_MS).

%% One run: grows an object, checks its state, and returns the longest gap.
grow_once(Type) ->
    {Gaps, O} = lattice_ticker:run(fun() ->
                                           O = lattice_object:new(Type),
                                           grow_loop(Type, O, 0, ?KEYS),
                                           O
                                   end),
    MaxGap = lists:max(Gaps),
    io:format(user, "~ngrowth ~s to ~b keys: ~b ticks, longest gap ~.2f ms (limit ~b ms)~n",
              [Type, ?KEYS, length(Gaps), MaxGap, ?MAX_GAP_MS]),
    Snapshot = lattice_object:snapshot(O),
    ?assertEqual(Type:digest(Snapshot), lattice_object:digest(O)),
    case Type of
        lattice_gcounter ->
            ?assertEqual(?KEYS, lattice_object:value(O)),
            ?assertEqual(1, lattice_object:value({get, ?KEYS - 1}, O));
        _ ->
            ?assertEqual(?KEYS, lattice_object:value(size, O)),
            ?assertEqual(?KEYS, Type:value(size, Snapshot)),
            ?assert(lattice_object:value({contains, ?KEYS - 1}, O)),
            ?assertNot(lattice_object:value({contains, ?KEYS}, O))
    end,
    MaxGap.
