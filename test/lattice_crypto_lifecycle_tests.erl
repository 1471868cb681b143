%% The crypto NIF library survives a hot upgrade (a new instance of lattice_crypto_nif loaded
%% over the old one: keys and streaming states are taken over), a purge of the old instance,
%% and a full unload and reload; a missing library gives a clear logged reason.
-module(lattice_crypto_lifecycle_tests).
-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_crypto).

lifecycle_test_() ->
    {timeout, 60, fun run/0}.

run() ->
    {module, lattice_crypto_nif} = code:ensure_loaded(lattice_crypto_nif),
    {ok, K} = ?C:keypair(sign),
    {ok, A} = ?C:aead_key(chacha20poly1305),
    St = ?C:blake2b_update(?C:blake2b_init(), <<"half">>),
    Pub = ?C:public_key(K),
    N = <<0:96>>,
    Sealed = ?C:aead_seal(A, N, <<>>, <<"before">>),

    %% Upgrade: the same object code loaded again; the old instance becomes old code. The
    %% resource types are taken over (ERL_NIF_RT_TAKEOVER): keys made before still work.
    {lattice_crypto_nif, Beam, File} = code:get_object_code(lattice_crypto_nif),
    {module, lattice_crypto_nif} = code:load_binary(lattice_crypto_nif, File, Beam),
    ?assert(?C:verify(Pub, <<"m">>, ?C:sign(K, <<"m">>))),
    ?assertEqual({ok, <<"before">>}, ?C:aead_open(A, N, <<>>, Sealed)),
    ?assertEqual(?C:blake2b(<<"half and half">>),
                 ?C:blake2b_final(?C:blake2b_update(St, <<" and half">>))),
    ?assert(code:soft_purge(lattice_crypto_nif)),
    ?assert(?C:verify(Pub, <<"m">>, ?C:sign(K, <<"m">>))),

    %% Full unload and reload: a key made before is not taken over by a fresh load (the VM's
    %% rule): refused with badarg, and freed by its destructor; new keys work.
    ?assert(code:delete(lattice_crypto_nif)),
    ?assert(code:purge(lattice_crypto_nif) orelse true),
    ?assertEqual(false, code:is_loaded(lattice_crypto_nif)),
    {module, lattice_crypto_nif} = code:load_file(lattice_crypto_nif),
    ?assertError(badarg, ?C:sign(K, <<"m">>)),
    {ok, K2} = ?C:keypair(sign),
    ?assert(?C:verify(?C:public_key(K2), <<"m">>, ?C:sign(K2, <<"m">>))),
    ?assertMatch(#{keys_made := _}, ?C:stats()).

missing_library_test_() ->
    %% A VM that finds lattice_crypto_nif.beam (and lattice_priv.beam) but no library next to
    %% it: loading fails with a clear logged reason instead of crashing.
    {timeout, 60,
     fun() ->
             Dir = filename:join(["/tmp", "lattice_missing_crypto_nif_" ++ os:getpid(), "ebin"]),
             ok = filelib:ensure_path(Dir),
             [begin
                  {M, Beam, _} = code:get_object_code(M),
                  ok = file:write_file(filename:join(Dir, atom_to_list(M) ++ ".beam"), Beam)
              end || M <- [lattice_crypto_nif, lattice_priv]],
             Erl = filename:join([code:root_dir(), "bin", "erl"]),
             Out = os:cmd(Erl ++ " -noshell -pa " ++ Dir ++
                          " -eval 'io:format(\"~p~n\", [code:ensure_loaded(lattice_crypto_nif)]), "
                          "timer:sleep(500), halt().'"
                          " 2>&1"),
             ?assertNotEqual(nomatch, string:find(Out, "{error,on_load_failure}")),
             ?assertNotEqual(nomatch, string:find(Out, "cannot load the crypto NIF library")),
             ?assertNotEqual(nomatch, string:find(Out, "has not been built")),
             os:cmd("rm -rf " ++ filename:dirname(Dir))
     end}.
