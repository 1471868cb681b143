%% A replay table made by one instance of the crypto NIF library keeps working, with its
%% windows, after a hot upgrade (a new instance of lattice_crypto_nif loaded over the old one,
%% its resource types taken over) and a purge of the old instance; the decoders of the new
%% instance read what the old one's callers sealed.
-module(lattice_proto_lifecycle_tests).
-include_lib("eunit/include/eunit.hrl").

upgrade_test_() ->
    {timeout, 60, fun run/0}.

run() ->
    {module, lattice_crypto_nif} = code:ensure_loaded(lattice_crypto_nif),
    R = lattice_replay:new(#{bits => 1024}),
    ok = lattice_replay:update(R, <<"a">>, 10),
    {ok, M} = lattice_crypto:secret_key(),
    KR = lattice_keyring:new(M),
    Env = lattice_envelope:seal(<<"before">>, KR, <<"a">>, 11),
    {lattice_crypto_nif, Beam, File} = code:get_object_code(lattice_crypto_nif),
    {module, lattice_crypto_nif} = code:load_binary(lattice_crypto_nif, File, Beam),
    ?assertEqual({error, duplicate}, lattice_replay:update(R, <<"a">>, 10)),
    ?assert(code:soft_purge(lattice_crypto_nif)),
    ?assertEqual({ok, 10}, lattice_replay:greatest(R, <<"a">>)),
    ?assertMatch({ok, <<"before">>, #{counter := 11}}, lattice_envelope:open(Env, KR, R)),
    ?assertEqual({error, replay}, lattice_envelope:open(Env, KR, R)),
    R2 = lattice_replay:new(),
    ?assertEqual(ok, lattice_replay:update(R2, <<"a">>, 10)).
