%% Any binary given where an envelope, certificate, revocation list, quorum certificate or
%% evidence goes gives a value — `{error, _}' or a valid answer — never an exception: random
%% bytes, and valid values with random bytes changed, cut or appended.
-module(lattice_proto_random_tests).
-include_lib("eunit/include/eunit.hrl").

random_test_() ->
    {timeout, 120, fun run/0}.

run() ->
    rand:seed(exsss, {11, 12, 13}),
    {ok, M} = lattice_crypto:secret_key(),
    KR = lattice_keyring:new(M),
    R = lattice_replay:new(),
    {ok, SK} = lattice_crypto:keypair(sign),
    {ok, KX} = lattice_crypto:keypair(kx),
    Pub = lattice_crypto:public_key(SK),
    Set = lattice_quorum:new_set([{<<"a">>, Pub, 1}, {<<"b">>, Pub, 1}]),
    Votes = [lattice_quorum:vote(SK, Id, <<"s">>, 1, <<"d">>) || Id <- [<<"a">>, <<"b">>]],
    {ok, QC} = lattice_quorum:certificate(<<"s">>, 1, <<"d">>, Votes),
    {ok, Ev} = lattice_quorum:equivocation(hd(Votes),
                                           lattice_quorum:vote(SK, <<"a">>, <<"s">>, 1, <<"e">>),
                                           Set),
    Cert = lattice_cert:issue(SK, #{cluster => <<"c">>, node => <<"n">>, sign_pub => Pub,
                                    kx_pub => lattice_crypto:public_key(KX), not_before => 0,
                                    not_after => 10, serial => 1}),
    Crl = lattice_cert:revocation_list(SK, #{cluster => <<"c">>, sequence => 1, issued_at => 0,
                                             serials => [2, 3]}),
    Env = lattice_envelope:seal(<<"plain">>, KR, <<"n">>, 1, #{sign => SK}),
    Valid = [Env, Cert, Crl, QC, Ev],
    Calls = [fun(B) -> lattice_envelope:open(B, KR, R, #{signers => #{<<"n">> => Pub}}) end,
             fun(B) -> lattice_envelope:peek(B) end,
             fun(B) -> lattice_cert:decode(B) end,
             fun(B) -> lattice_cert:verify(B, Pub, none, 5) end,
             fun(B) -> lattice_cert:verify(Cert, Pub, B, 5) end,
             fun(B) -> lattice_cert:verify_revocation_list(B, Pub) end,
             fun(B) -> lattice_quorum:decode(B) end,
             fun(B) -> lattice_quorum:verify(B, Set, normal) end,
             fun(B) -> lattice_quorum:verify_evidence(B, Set) end],
    Inputs = [crypto:strong_rand_bytes(rand:uniform(300) - 1) || _ <- lists:seq(1, 300)] ++
        [mutate(lists:nth(rand:uniform(5), Valid)) || _ <- lists:seq(1, 1500)] ++
        [<<Tag, 1, Rest/binary>> || Tag <- lists:seq(16#40, 16#44),
                                    Rest <- [crypto:strong_rand_bytes(N) || N <- [0, 5, 80]]],
    Bad = [{I, C} || I <- Inputs, C <- Calls, not answers(C, I)],
    ?assertEqual([], Bad).

answers(Call, Input) ->
    try Call(Input) of
        {ok, _} -> true;
        {ok, _, _} -> true;
        {error, _} -> true;
        _ -> false
    catch _:_ -> false
    end.

mutate(B) ->
    case rand:uniform(3) of
        1 ->
            I = rand:uniform(byte_size(B)) - 1,
            <<P:I/binary, X, S/binary>> = B,
            <<P/binary, (X bxor rand:uniform(255)), S/binary>>;
        2 ->
            binary:part(B, 0, rand:uniform(byte_size(B)) - 1);
        3 ->
            <<B/binary, (crypto:strong_rand_bytes(rand:uniform(8)))/binary>>
    end.
