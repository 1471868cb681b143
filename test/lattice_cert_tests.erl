%% lattice_cert: issue and verify, every single-byte change refused (every position), expiry
%% and not-yet-valid at the exact edges, revocation lists (signed, per cluster), another
%% authority, badarg.
-module(lattice_cert_tests).
-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_cert).

setup() ->
    {ok, Auth} = lattice_crypto:keypair(sign),
    {ok, NodeSign} = lattice_crypto:keypair(sign),
    {ok, NodeKx} = lattice_crypto:keypair(kx),
    Fields = #{cluster => <<"prod-eu">>, node => <<"node-7@host">>,
               sign_pub => lattice_crypto:public_key(NodeSign),
               kx_pub => lattice_crypto:public_key(NodeKx),
               not_before => 1000, not_after => 2000, serial => 77},
    {Auth, lattice_crypto:public_key(Auth), Fields, ?C:issue(Auth, Fields)}.

verify_test() ->
    {_, Pub, Fields, Cert} = setup(),
    ?assertEqual(2 + 1 + 7 + 1 + 11 + 64 + 24 + 64, byte_size(Cert)),
    {ok, Map} = ?C:verify(Cert, Pub, none, 1500),
    ?assertEqual(Fields#{version => 1}, Map),
    ?assertEqual({ok, Map}, ?C:decode(Cert)),
    %% The window is inclusive at both ends.
    ?assertMatch({ok, _}, ?C:verify(Cert, Pub, none, 1000)),
    ?assertMatch({ok, _}, ?C:verify(Cert, Pub, none, 2000)),
    ?assertEqual({error, not_yet_valid}, ?C:verify(Cert, Pub, none, 999)),
    ?assertEqual({error, expired}, ?C:verify(Cert, Pub, none, 2001)),
    ?assertEqual({error, not_yet_valid}, ?C:verify(Cert, Pub, none, 0)).

other_authority_test() ->
    {_, _, Fields, Cert} = setup(),
    {ok, Other} = lattice_crypto:keypair(sign),
    OtherPub = lattice_crypto:public_key(Other),
    ?assertEqual({error, bad_signature}, ?C:verify(Cert, OtherPub, none, 1500)),
    %% A certificate signed by another authority, checked against ours.
    {_, Pub, _, _} = setup(),
    ?assertEqual({error, bad_signature}, ?C:verify(?C:issue(Other, Fields), Pub, none, 1500)).

%% Every single-byte change at every position is refused, and a valid signature of a
%% certificate is not valid for anything else: a revocation list with the same bytes after its
%% header does not verify as a certificate.
every_byte_test() ->
    {_, Pub, _, Cert} = setup(),
    Accepted = [{I, X} || I <- lists:seq(0, byte_size(Cert) - 1), X <- [1, 16#40, 16#FF],
                          element(1, ?C:verify(flip(Cert, I, X), Pub, none, 1500)) =:= ok],
    ?assertEqual([], Accepted),
    [?assertEqual({error, malformed}, ?C:verify(binary:part(Cert, 0, N), Pub, none, 1500))
     || N <- lists:seq(0, byte_size(Cert) - 1)],
    ?assertEqual({error, malformed}, ?C:verify(<<Cert/binary, 0>>, Pub, none, 1500)).

flip(Bin, I, X) ->
    <<A:I/binary, B, C/binary>> = Bin,
    <<A/binary, (B bxor X), C/binary>>.

revocation_test() ->
    {Auth, Pub, Fields, Cert} = setup(),
    L0 = ?C:revocation_list(Auth, #{cluster => <<"prod-eu">>, sequence => 1, issued_at => 1200,
                                    serials => []}),
    ?assertMatch({ok, _}, ?C:verify(Cert, Pub, L0, 1500)),
    L1 = ?C:revocation_list(Auth, #{cluster => <<"prod-eu">>, sequence => 2, issued_at => 1300,
                                    serials => [900, 77, 5, 1 bsl 64 - 1]}),
    ?assertEqual({error, revoked}, ?C:verify(Cert, Pub, L1, 1500)),
    {ok, V1} = ?C:verify_revocation_list(L1, Pub),
    ?assertEqual({error, revoked}, ?C:verify(Cert, Pub, V1, 1500)),
    ?assert(?C:revoked(V1, 5)),
    ?assert(?C:revoked(V1, 1 bsl 64 - 1)),
    ?assertNot(?C:revoked(V1, 6)),
    ?assertNot(?C:revoked(V1, 0)),
    %% Another serial of the same cluster is not revoked.
    Cert2 = ?C:issue(Auth, Fields#{serial => 78}),
    ?assertMatch({ok, #{serial := 78}}, ?C:verify(Cert2, Pub, L1, 1500)),
    %% Expired wins over revoked (checked first); so does a bad signature.
    ?assertEqual({error, expired}, ?C:verify(Cert, Pub, L1, 3000)),
    %% A list of another cluster, or signed by another key, is refused as a list.
    LOther = ?C:revocation_list(Auth, #{cluster => <<"prod-us">>, sequence => 1,
                                        issued_at => 1, serials => [77]}),
    ?assertEqual({error, {revocation_list, wrong_cluster}}, ?C:verify(Cert, Pub, LOther, 1500)),
    {ok, VOther} = ?C:verify_revocation_list(LOther, Pub),
    ?assertEqual({error, {revocation_list, wrong_cluster}}, ?C:verify(Cert, Pub, VOther, 1500)),
    {ok, Mallory} = lattice_crypto:keypair(sign),
    LForged = ?C:revocation_list(Mallory, #{cluster => <<"prod-eu">>, sequence => 9,
                                            issued_at => 1, serials => []}),
    ?assertEqual({error, {revocation_list, bad_signature}}, ?C:verify(Cert, Pub, LForged, 1500)),
    ?assertEqual({error, bad_signature}, ?C:verify_revocation_list(LForged, Pub)),
    %% Every byte of a list matters too: removing a revocation by editing it is refused.
    Accepted = [I || I <- lists:seq(0, byte_size(L1) - 1),
                     element(1, ?C:verify_revocation_list(flip(L1, I, 1), Pub)) =:= ok],
    ?assertEqual([], Accepted),
    ?assertEqual({error, malformed}, ?C:verify_revocation_list(<<"junk">>, Pub)),
    %% A certificate is not a revocation list and the other way round.
    ?assertEqual({error, malformed}, ?C:verify_revocation_list(Cert, Pub)),
    ?assertEqual({error, malformed}, ?C:verify(L1, Pub, none, 1500)).

big_list_test() ->
    {Auth, Pub, Fields, _} = setup(),
    Serials = lists:seq(1, 65536 * 3, 3),
    L = ?C:revocation_list(Auth, #{cluster => <<"prod-eu">>, sequence => 1, issued_at => 1,
                                   serials => Serials}),
    {ok, V} = ?C:verify_revocation_list(L, Pub),
    ?assertEqual({error, revoked}, ?C:verify(?C:issue(Auth, Fields#{serial => 3 * 1000 + 1}),
                                             Pub, V, 1500)),
    ?assertMatch({ok, _}, ?C:verify(?C:issue(Auth, Fields#{serial => 3 * 1000 + 2}),
                                    Pub, V, 1500)),
    ?assertError(badarg, ?C:revocation_list(Auth, #{cluster => <<"c">>, sequence => 1,
                                                    issued_at => 1,
                                                    serials => lists:seq(1, 65537)})).

counters_test() ->
    S0 = ?C:stats(),
    {_, Pub, _, Cert} = setup(),
    {ok, _} = ?C:verify(Cert, Pub, none, 1500),
    {error, expired} = ?C:verify(Cert, Pub, none, 5000),
    S1 = ?C:stats(),
    ?assert(maps:get(verified, S1) >= maps:get(verified, S0) + 1),
    ?assert(maps:get(issued, S1) >= maps:get(issued, S0) + 1),
    ?assert(maps:get(expired, maps:get(failed, S1)) >=
                maps:get(expired, maps:get(failed, S0)) + 1).

badarg_test_() ->
    {Auth, Pub, Fields, Cert} = setup(),
    {ok, Kx} = lattice_crypto:keypair(kx),
    [?_assertError(badarg, ?C:issue(Kx, Fields)),
     ?_assertError(badarg, ?C:issue(Auth, Fields#{not_before => 3000})),
     ?_assertError(badarg, ?C:issue(Auth, Fields#{node => <<>>})),
     ?_assertError(badarg, ?C:issue(Auth, Fields#{sign_pub => <<1, 2>>})),
     ?_assertError(badarg, ?C:issue(Auth, maps:remove(serial, Fields))),
     ?_assertError(badarg, ?C:verify(Cert, <<1, 2>>, none, 1)),
     ?_assertError(badarg, ?C:verify(Cert, Pub, bogus, 1)),
     ?_assertError(badarg, ?C:verify(Cert, Pub, none, -1)),
     ?_assertError(badarg, ?C:revocation_list(Auth, #{cluster => <<"c">>, sequence => 1,
                                                      issued_at => 1, serials => [1, 1]})),
     ?_assertMatch(#{2 := "not_before is after not_after"},
                   explain(fun() -> ?C:issue(Auth, Fields#{not_before => 3000}) end)),
     ?_assertMatch(#{1 := "the authority key must be a sign key, got a kx key"},
                   explain(fun() -> ?C:issue(Kx, Fields) end)),
     ?_assertMatch(#{3 := "the revocation list must be none" ++ _},
                   explain(fun() -> ?C:verify(Cert, Pub, bogus, 1) end)),
     ?_assertMatch(#{2 := "serials must not repeat"},
                   explain(fun() -> ?C:revocation_list(Auth, #{cluster => <<"c">>, sequence => 1,
                                                               issued_at => 1,
                                                               serials => [1, 1]}) end))].

explain(F) ->
    try F(), no_error
    catch error:badarg:St -> lattice_cert:format_error(badarg, St)
    end.
