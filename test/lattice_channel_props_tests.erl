%% PropEr: the channel's transport against a model. Random sequences of sends both ways,
%% deliveries in any order, duplicates, single-byte tampering and rekeys (each a whole
%% handshake): every genuine message is accepted exactly once, with its plaintext, while its
%% epoch is the current or the previous one; a duplicate is a replay; a message of an older
%% epoch is key_expired; a tampered one is refused and changes nothing. Run by `rebar3 eunit`.
-module(lattice_channel_props_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

props_test_() ->
    {timeout, 300,
     fun() ->
             ?assert(proper:quickcheck(prop_transport_model(),
                                       [{numtests, numtests()}, {to_file, user}, long_result])
                     =:= true)
     end}.

numtests() ->
    case os:getenv("LATTICE_PROPER_NUMTESTS") of
        false -> 200;
        N -> list_to_integer(N)
    end.

op() ->
    frequency([{6, {send, dir(), range(0, 40)}},
               {6, {deliver, dir(), nat()}},
               {2, {dup, dir(), nat()}},
               {2, {tamper, dir(), nat(), nat()}},
               {1, rekey}]).

dir() -> elements([ab, ba]).

prop_transport_model() ->
    ?FORALL(Ops, list(op()),
            begin
                {A, B} = pair(),
                run(Ops, #{ab => A, ba => B}, model())
            end).

%% pending: messages sent and not delivered, per direction: [{Msg, Plain, Epoch}];
%% delivered: the same, delivered once.
model() ->
    #{epoch => 1, prev => 0, pending => #{ab => [], ba => []}, delivered => #{ab => [], ba => []}}.

run([], _, _) ->
    true;
run([Op | Ops], Chans, M) ->
    case step(Op, Chans, M) of
        {ok, M1} -> run(Ops, Chans, M1);
        {fail, Why} -> io:format(user, "~nop ~p: ~p~n", [Op, Why]), false
    end.

%% The sending side of a direction encrypts, the other decrypts.
sender(ab, #{ab := A}) -> A;
sender(ba, #{ba := B}) -> B.
receiver(ab, #{ba := B}) -> B;
receiver(ba, #{ab := A}) -> A.

step({send, Dir, Size}, Chans, #{epoch := E, pending := P} = M) ->
    Plain = crypto:strong_rand_bytes(Size),
    case lattice_channel:encrypt(sender(Dir, Chans), Plain) of
        {ok, [Msg], _} ->
            {ok, M#{pending := P#{Dir := maps:get(Dir, P) ++ [{Msg, Plain, E}]}}};
        Other ->
            {fail, {send, Other}}
    end;
step({deliver, _, _}, _, #{pending := #{ab := [], ba := []}} = M) ->
    {ok, M};
step({deliver, Dir0, I}, Chans, #{pending := P, delivered := D} = M) ->
    Dir = case maps:get(Dir0, P) of [] -> other(Dir0); _ -> Dir0 end,
    List = maps:get(Dir, P),
    {Msg, Plain, Epoch} = lists:nth(I rem length(List) + 1, List),
    Want = case usable(Epoch, M) of
               true -> {ok, Plain};
               false -> {error, key_expired}
           end,
    case got(lattice_channel:decrypt(receiver(Dir, Chans), Msg)) of
        Want ->
            {ok, M#{pending := P#{Dir := lists:delete({Msg, Plain, Epoch}, List)},
                    delivered := D#{Dir := [{Msg, Plain, Epoch} | maps:get(Dir, D)]}}};
        Got ->
            {fail, {deliver, Epoch, maps:with([epoch, prev], M), Want, Got}}
    end;
step({dup, Dir, I}, Chans, #{delivered := D} = M) ->
    case maps:get(Dir, D) of
        [] ->
            {ok, M};
        List ->
            {Msg, _, Epoch} = lists:nth(I rem length(List) + 1, List),
            Want = case usable(Epoch, M) of
                       true -> {error, replay};
                       false -> {error, key_expired}
                   end,
            case got(lattice_channel:decrypt(receiver(Dir, Chans), Msg)) of
                Want -> {ok, M};
                Got -> {fail, {dup, Want, Got}}
            end
    end;
step({tamper, Dir, I, Pos}, Chans, #{pending := P} = M) ->
    case maps:get(Dir, P) of
        [] ->
            {ok, M};
        List ->
            {Msg, _, _} = lists:nth(I rem length(List) + 1, List),
            At = Pos rem byte_size(Msg),
            <<H:At/binary, X, T/binary>> = Msg,
            case lattice_channel:decrypt(receiver(Dir, Chans), <<H/binary, (X bxor 1), T/binary>>) of
                {error, _} -> {ok, M};
                Got -> {fail, {tamper, At, Got}}
            end
    end;
step(rekey, #{ab := A, ba := B}, #{epoch := E} = M) ->
    {ok, [M1], A1} = lattice_channel:rekey(A),
    {ok, B1, [M2]} = lattice_channel:handle_handshake_message(B, M1),
    {ok, _, [M3]} = lattice_channel:handle_handshake_message(A1, M2),
    {ok, _, []} = lattice_channel:handle_handshake_message(B1, M3),
    {ok, M#{epoch := E + 1, prev := E}}.

other(ab) -> ba;
other(ba) -> ab.

usable(Epoch, #{epoch := E, prev := Prev}) ->
    Epoch =:= E orelse Epoch =:= Prev.

got({ok, Plain, _}) -> {ok, Plain};
got(Other) -> Other.

pair() ->
    {ok, AuthKey} = lattice_crypto:keypair(sign),
    AuthPub = lattice_crypto:public_key(AuthKey),
    Now = erlang:system_time(second),
    Opts = fun(Name) ->
                   {ok, Kx} = lattice_crypto:keypair(kx),
                   {ok, Sign} = lattice_crypto:keypair(sign),
                   Cert = lattice_cert:issue(AuthKey, #{cluster => <<"p">>, node => Name,
                                                        sign_pub => lattice_crypto:public_key(Sign),
                                                        kx_pub => lattice_crypto:public_key(Kx),
                                                        not_before => Now - 60,
                                                        not_after => Now + 3600, serial => 1}),
                   %% A clock that never moves: the grace never ends, only epochs retire keys.
                   #{cluster => <<"p">>, static => Kx, certificate => Cert, authority => AuthPub,
                     clock => fun() -> 0 end}
           end,
    {ok, A0, [M1]} = lattice_channel:initiate(Opts(<<"a">>)),
    {ok, B0} = lattice_channel:respond(Opts(<<"b">>)),
    {ok, B1, [M2]} = lattice_channel:handle_handshake_message(B0, M1),
    {ok, A1, [M3]} = lattice_channel:handle_handshake_message(A0, M2),
    {ok, B2, []} = lattice_channel:handle_handshake_message(B1, M3),
    {A1, B2}.
