%% What every CRDT type module owes the lattice_type behaviour, checked once for all of them
%% (lattice_type:modules/0) instead of a copy per type: the callbacks are exported, the type's
%% tag is the one in include/lattice_types.hrl, and a state that is not a binary is a caller's
%% bug (badarg) in every function. The per-type suites keep what only their type has (its ops,
%% its forged binaries).
-module(lattice_type_contract_tests).

-include_lib("eunit/include/eunit.hrl").
-include("lattice_types.hrl").

%% Per type: a sample state's recipe, the update ops and the value queries to try on a state
%% that is not a binary.
spec(lattice_gcounter) ->
    {{increment, 1}, [{increment, 1}], []};
spec(lattice_pncounter) ->
    {{increment, 1}, [{increment, 1}, {decrement, 1}], []};
spec(lattice_gset) ->
    {{add_all, [a, b]}, [{add, a}, {add_all, [a]}], [size, {contains, a}]};
spec(lattice_twopset) ->
    {{add_all, [a, b]}, [{add, a}, {add_all, [a]}, {remove, a}], [size, {contains, a}]};
spec(lattice_orset) ->
    {{add_all, [a, b]}, [{add, a}, {add_all, [a]}, {remove, a}, {remove_all, [a]}],
     [size, {contains, a}]};
spec(lattice_lwwreg) ->
    {{assign, v, 1}, [{assign, v, 1}], []};
spec(lattice_lwwset) ->
    {{add_all, [a, b]}, [{add, a}, {add_all, [a]}, {remove, a}, {add, a, 3}],
     [size, {contains, a}]};
spec(lattice_lwwmap) ->
    {{put, k, v, 5}, [{put, k, v}, {put, k, v, 5}, {remove, k}],
     [size, {get, a}, {contains, a}]};
spec(lattice_mvreg) ->
    {{assign, a}, [{assign, a}], [size, {contains, a}]}.

modules_test() ->
    Modules = lattice_type:modules(),
    ?assertEqual(length(?LT_CRDT_TYPES), length(lists:usort(Modules))),
    Tags = [Tag || {Tag, _} <- ?LT_CRDT_TYPES],
    ?assertEqual(length(Tags), length(lists:usort(Tags))),
    [?assert(is_spec(M)) || M <- Modules].

is_spec(M) ->
    try spec(M) of _ -> true catch error:function_clause -> false end.

%% Every callback of the behaviour is exported.
callbacks_test_() ->
    Callbacks = lattice_type:behaviour_info(callbacks),
    [{atom_to_list(M),
      fun() ->
              {module, M} = code:ensure_loaded(M),
              [?assert(erlang:function_exported(M, F, A)) || {F, A} <- Callbacks]
      end}
     || M <- lattice_type:modules()].

%% new/0 and every update write the registry's tag and format version, and lattice_type
%% finds the module from them.
tags_test_() ->
    [{atom_to_list(M),
      fun() ->
              {Op, _, _} = spec(M),
              {ok, S, D} = M:update(Op, r1, M:new()),
              [begin
                   ?assertMatch(<<Tag, ?LT_FORMAT_V1, _/binary>>, Bin),
                   ?assertEqual(M, lattice_type:module(Bin))
               end
               || Bin <- [M:new(), S, D]]
      end}
     || {Tag, M} <- ?LT_CRDT_TYPES].

%% A state that is not a binary (nor a whole number of bytes) is badarg everywhere.
not_a_binary_test_() ->
    [{atom_to_list(M), fun() -> not_a_binary(M, Tag) end} || {Tag, M} <- ?LT_CRDT_TYPES].

not_a_binary(M, Tag) ->
    {Op, Ops, Queries} = spec(M),
    {ok, S, _} = M:update(Op, r1, M:new()),
    Bads = [nil, gset, orset, lwwset, lwwmap, mvreg, 123, "abc", [Tag, 1, 0, 0], {S}, self(),
            <<1:7>>, <<Tag:5>>],
    [begin
         [?assertError(badarg, M:update(O, r1, Bad)) || O <- Ops],
         ?assertError(badarg, M:merge(S, Bad)),
         ?assertError(badarg, M:merge(Bad, S)),
         ?assertError(badarg, M:value(Bad)),
         [?assertError(badarg, M:value(Q, Bad)) || Q <- Queries],
         ?assertError(badarg, M:digest(Bad)),
         ?assertError(badarg, M:to_term(Bad)),
         ?assertError(badarg, M:validate(Bad)),
         ?assertError(badarg, M:equal(Bad, S)),
         ?assertError(badarg, M:equal(S, Bad)),
         ?assertError(badarg, lattice_type:value(Bad))
     end || Bad <- Bads].

%% A binary that is not a state of any type is data: an error tuple from lattice_type.
unknown_type_test() ->
    ?assertEqual({error, {bad_state, unknown_type}}, lattice_type:value(<<16#7f, 1, 0>>)),
    ?assertEqual({error, {bad_state, truncated}}, lattice_type:value(<<>>)).

%% A binary that is not a valid state of the type — any proper prefix of a state, a state with
%% bytes after it, another format version, another type's tag on the same body, garbage — is
%% data: every function gives {error, {bad_<type>, Reason}}, never a raise. (The empty state
%% is left out: it is a prefix of the LWW-Register's states. The counters' merge of two
%% byte-identical clocks treats their actor sections as opaque bytes, by design: docs/FORMAT.md,
%% "Checks"; so merge(Bad, Bad) is not tried on them.)
corrupt_test_() ->
    [{atom_to_list(M), {timeout, 60, fun() -> corrupt(M, Tag) end}} || {Tag, M} <- ?LT_CRDT_TYPES].

corrupt(M, Tag) ->
    {Op, Ops, Queries} = spec(M),
    {ok, Good, _} = M:update(Op, r1, M:new()),
    Kind = list_to_atom("bad_" ++ lists:nthtail(length("lattice_"), atom_to_list(M))),
    <<Tag, ?LT_FORMAT_V1, Body/binary>> = Good,
    Bads = ([binary:part(Good, 0, N) || N <- lists:seq(0, byte_size(Good) - 1)]
        ++ [<<Good/binary, 0>>, <<Good/binary, 1, 2, 3>>, <<"garbage">>, <<255, 255, 255, 255>>]
        ++ [<<Tag, V, Body/binary>> || V <- [0, 2, 255]]
        ++ [<<Other, ?LT_FORMAT_V1, Body/binary>> || {Other, _} <- ?LT_CRDT_TYPES, Other =/= Tag])
        -- [M:new()],
    SelfMerge = not lists:member(M, [lattice_gcounter, lattice_pncounter]),
    [begin
         Calls = [fun() -> M:merge(Good, Bad) end,
                  fun() -> M:merge(Bad, Good) end,
                  fun() -> M:value(Bad) end,
                  fun() -> M:digest(Bad) end,
                  fun() -> M:to_term(Bad) end,
                  fun() -> M:validate(Bad) end]
             ++ [fun() -> M:value(Q, Bad) end || Q <- Queries]
             ++ [fun() -> M:update(O, r1, Bad) end || O <- Ops]
             ++ [fun() -> M:merge(Bad, Bad) end || SelfMerge],
         [?assertMatch({{error, {Kind, Reason}}, _} when is_atom(Reason), {catch_all(F), Bad})
          || F <- Calls]
     end || Bad <- Bads].

catch_all(F) ->
    try F() catch Class:Reason -> {raised, Class, Reason} end.
