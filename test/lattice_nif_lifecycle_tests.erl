%% The NIF library survives a hot upgrade (a new instance of lattice_nif loaded over the old
%% one), a purge of the old instance, and a full unload and reload.
-module(lattice_nif_lifecycle_tests).
-include_lib("eunit/include/eunit.hrl").

lifecycle_test_() ->
    {timeout, 60, fun run/0}.

run() ->
    {module, lattice_nif} = code:ensure_loaded(lattice_nif),
    Clock = lattice_vclock:from_list([{a, 1}]),
    Before = lattice_hlc:now(),
    Big = binary:copy(<<"x">>, 8 * 1024 * 1024),
    H = lattice_hash:xxh3_64(Big),
    %% Objects big enough to be freed by the reaper thread, dropped after an upgrade and after
    %% a full unload (when the reaper has stopped and the destructor frees in place).
    Held1 = hold_big_object(),
    Held2 = hold_big_object(),
    %% A Merkle tree made by the first instance, used by each later one (a taken-over type).
    Tree = lattice_merkle:new(),
    ok = lattice_merkle:put(Tree, [{integer_to_binary(I), <<I:128>>} || I <- lists:seq(1, 5000)]),
    Root = lattice_merkle:root(Tree),

    %% Upgrade: the same object code loaded again; the old instance becomes old code.
    {lattice_nif, Beam, File} = code:get_object_code(lattice_nif),
    {module, lattice_nif} = code:load_binary(lattice_nif, File, Beam),
    ?assertEqual(2, lattice_vclock:get(a, lattice_vclock:increment(a, Clock))),
    ?assert(lattice_hlc:now() > Before),       % the clock lives on across an upgrade
    ?assertEqual(H, lattice_hash:xxh3_64(Big)), % yielding jobs use the taken-over resource type
    ?assert(code:soft_purge(lattice_nif)),
    ?assertEqual(H, lattice_hash:xxh3_64(Big)),
    ?assertEqual(Root, lattice_merkle:root(Tree)),
    ok = lattice_merkle:put(Tree, <<"after upgrade">>, <<1:128>>),
    drop(Held1),

    %% Full unload and reload.
    ?assert(code:delete(lattice_nif)),
    ?assert(code:purge(lattice_nif) orelse true),
    ?assertEqual(false, code:is_loaded(lattice_nif)),
    {module, lattice_nif} = code:load_file(lattice_nif),
    drop(Held2),
    Held3 = hold_big_object(),
    ?assertEqual(20000, element(2, Held3)),
    drop(Held3),
    ?assertEqual(eq, lattice_vclock:compare(Clock, Clock)),
    ?assertEqual(H, lattice_hash:xxh3_64(Big)),
    %% A resource made before a full unload is not taken over by a fresh load (the VM's rule,
    %% the same for objects): it is refused, and freed by its old destructor; new trees work.
    ?assertError(badarg, lattice_merkle:lookup(Tree, <<"after upgrade">>)),
    Tree2 = lattice_merkle:new(),
    ok = lattice_merkle:put(Tree2, [{integer_to_binary(I), <<I:128>>} || I <- lists:seq(1, 5000)]),
    ?assertEqual(Root, lattice_merkle:root(Tree2)),
    ?assertEqual([], lattice_merkle:diff(Tree2, Tree2)),
    ?assert(is_integer(lattice_hlc:now())).

%% A process holding a 20k-element G-Set object (the only reference to it) until told to drop
%% it: {Pid, the object's size}.
hold_big_object() ->
    Self = self(),
    Pid = spawn(fun() ->
                        O = lattice_object:new(lattice_gset),
                        {ok, _} = lattice_object:update({add_all, lists:seq(1, 20000)}, a, O),
                        Self ! {holding, self(), lattice_object:value(size, O)},
                        receive drop -> ok end
                end),
    receive {holding, Pid, Size} -> {Pid, Size} end.

%% The holder exits, and its object's destructor runs.
drop({Pid, _}) ->
    Ref = monitor(process, Pid),
    Pid ! drop,
    receive {'DOWN', Ref, process, Pid, _} -> ok end.

missing_library_test_() ->
    %% A VM that finds lattice_nif.beam (and lattice_priv.beam) but no library next to it: loading fails with a
    %% clear logged reason instead of crashing, and the module is not loaded.
    {timeout, 60,
     fun() ->
             Dir = filename:join(["/tmp", "lattice_missing_nif_" ++ os:getpid(), "ebin"]),
             ok = filelib:ensure_path(Dir),
             %% lattice_nif and the module its on_load asks for the priv directory.
             [begin
                  {M, Beam, _} = code:get_object_code(M),
                  ok = file:write_file(filename:join(Dir, atom_to_list(M) ++ ".beam"), Beam)
              end || M <- [lattice_nif, lattice_priv]],
             Erl = filename:join([code:root_dir(), "bin", "erl"]),
             Out = os:cmd(Erl ++ " -noshell -pa " ++ Dir ++
                          " -eval 'io:format(\"~p~n\", [code:ensure_loaded(lattice_nif)]), "
                          "timer:sleep(500), halt().'"
                          " 2>&1"),
             ?assertNotEqual(nomatch, string:find(Out, "{error,on_load_failure}")),
             ?assertNotEqual(nomatch, string:find(Out, "has not been built")),
             os:cmd("rm -rf " ++ filename:dirname(Dir))
     end}.
