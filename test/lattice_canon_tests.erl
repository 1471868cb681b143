-module(lattice_canon_tests).
-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_canon).

roundtrip_test() ->
    Terms = [0, 1, -1, 1 bsl 63 - 1, -(1 bsl 63), 1 bsl 63, -(1 bsl 63) - 1, 1 bsl 1000,
             -(1 bsl 1000), 0.0, 1.5, -2.25, 1.0e300, 5.0e-324, a, '', 'ünï', '日本',
             list_to_atom(lists:duplicate(255, $x)), list_to_atom(lists:duplicate(255, 16#1F600)),
             <<>>, <<0, 255>>, [], [1], [1, 2 | 3], "string", {}, {a, {b, [c]}},
             #{}, #{a => 1, 1 => a, <<"k">> => [#{}]}, [[[[[]]]]]],
    [?assertEqual({ok, T}, ?C:decode(?C:encode(T))) || T <- Terms].

known_bytes_test() ->
    ?assertEqual(<<1, 0>>, ?C:encode(0)),
    ?assertEqual(<<1, 1>>, ?C:encode(-1)),
    ?assertEqual(<<1, 2>>, ?C:encode(1)),
    ?assertEqual(<<4, 1, $a>>, ?C:encode(a)),
    ?assertEqual(<<5, 2, 1, 2>>, ?C:encode(<<1, 2>>)),
    ?assertEqual(<<7>>, ?C:encode([])),
    ?assertEqual(<<8, 1, 1, 2, 7>>, ?C:encode([1])),
    ?assertEqual(<<6, 2, 4, 1, $a, 1, 2>>, ?C:encode({a, 1})),
    ?assertEqual(<<3, 16#3F, 16#F8, 0, 0, 0, 0, 0, 0>>, ?C:encode(1.5)),
    %% Map keys sorted by their bytes: 1 (01 02) before a (04 01 61).
    ?assertEqual(<<9, 2, 1, 2, 7, 4, 1, $a, 7>>, ?C:encode(#{a => [], 1 => []})).

equal_terms_equal_bytes_test() ->
    ?assertEqual(?C:encode(0.0), ?C:encode(-0.0)),
    M1 = maps:from_list([{K, K} || K <- lists:seq(1, 100)]),
    M2 = maps:from_list([{K, K} || K <- lists:reverse(lists:seq(1, 100))]),
    ?assertEqual(?C:encode(M1), ?C:encode(M2)),
    %% 1 and 1.0 are different terms (=/=), so different bytes.
    ?assertNotEqual(?C:encode(1), ?C:encode(1.0)).

not_data_test() ->
    [?assertError(badarg, ?C:encode(T))
     || T <- [self(), make_ref(), fun() -> ok end, hd(erlang:ports()), <<1:1>>, {a, self()},
              [1, 2 | self()], #{a => make_ref()}, deep(101)]],
    ?assertMatch({ok, _}, ?C:decode(?C:encode(deep(100)))).

deep(0) -> x;
deep(N) -> {deep(N - 1)}.

bad_bytes_test() ->
    Bad = [<<>>, <<0>>, <<200>>, <<1>>, <<1, 128>>, <<1, 128, 0>>, <<1, 0, 0>>,
           <<3, 16#80, 0, 0, 0, 0, 0, 0, 0>>,             % -0.0
           <<3, 16#7F, 16#F0, 0, 0, 0, 0, 0, 0>>,         % infinity
           <<2, 0, 1, 5>>,                                % a bigint that fits int64
           <<4, 2, 16#C0, 16#80>>,                        % overlong UTF-8
           <<8, 0, 7>>,                                   % a list of no elements
           <<8, 1, 1, 2, 8, 1, 1, 2, 7>>,                 % a list tail that is a list
           <<9, 2, 4, 1, $a, 7, 1, 2, 7>>,                % map keys out of order
           <<9, 2, 1, 2, 7, 1, 2, 7>>,                    % duplicate map keys
           <<6, 5, 7>>],                                  % a tuple of 5 in 1 byte
    [?assertMatch({error, {bad_term, _}}, ?C:decode(B)) || B <- Bad],
    ?assertError(badarg, ?C:decode(not_binary)).

existing_atoms_test() ->
    Name = <<"lattice_never_seen_atom_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Bytes = <<4, (byte_size(Name)), Name/binary>>,
    ?assertEqual({error, {bad_term, unknown_atom}}, ?C:decode(Bytes, [existing_atoms])),
    ?assertEqual({ok, ok}, ?C:decode(?C:encode(ok), [existing_atoms])),
    Uni = <<"lattice_日本_"/utf8, (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    UniBytes = <<4, (byte_size(Uni)), Uni/binary>>,
    ?assertEqual({error, {bad_term, unknown_atom}}, ?C:decode(UniBytes, [existing_atoms])),
    {ok, A} = ?C:decode(Bytes),
    ?assertEqual(Name, atom_to_binary(A, utf8)).

big_term_test_() ->
    %% Large enough to exceed the normal-scheduler budget: the encode moves to a dirty
    %% scheduler and the decode too.
    {timeout, 60,
     fun() ->
             T = [{I, integer_to_binary(I)} || I <- lists:seq(1, 300000)],
             B = ?C:encode(T),
             ?assertEqual({ok, T}, ?C:decode(B))
     end}.
