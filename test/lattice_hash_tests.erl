-module(lattice_hash_tests).
-include_lib("eunit/include/eunit.hrl").

-define(X, lattice_hash).

known_answers_test() ->
    %% From xxHash's own test vectors.
    ?assertEqual(16#2D06800538D394C2, ?X:xxh3_64(<<>>)),
    ?assertEqual(<<16#06b05ab6733a618578af5f94892f3950:128>>, ?X:xxh3_128(<<"abc">>)),
    ?assertEqual(?X:xxh3_128(<<"abc">>), ?X:xxh3_128(["a", [<<"b">>], $c])).

seed_test() ->
    ?assertNotEqual(?X:xxh3_64(<<"x">>, 1), ?X:xxh3_64(<<"x">>, 2)),
    ?assertEqual(?X:xxh3_64(<<"x">>), ?X:xxh3_64(<<"x">>, 0)),
    ?assertError(badarg, ?X:xxh3_64(<<"x">>, -1)),
    ?assertError(badarg, ?X:xxh3_64(atom)).

large_input_streams_test_() ->
    %% Above the one-shot size the NIF streams in 1 MB chunks and may yield between them. The
    %% answer must not depend on how the input arrives or how often the call yielded;
    %% streaming = one-shot is checked against xxHash itself in test/c/test_hash.c.
    {timeout, 60,
     fun() ->
             Bin = crypto_free_bytes(5 * 1024 * 1024 + 17),
             H64 = ?X:xxh3_64(Bin, 7),
             H128 = ?X:xxh3_128(Bin, 7),
             ?assertEqual(H64, ?X:xxh3_64(Bin, 7)),
             ?assertEqual(H128, ?X:xxh3_128(Bin, 7)),
             <<Head:1048576/binary, Tail/binary>> = Bin,
             ?assertEqual(H64, ?X:xxh3_64([Head, Tail], 7)),
             Flipped = <<Head/binary, (binary:first(Tail) bxor 1), (binary:part(Tail, 1, byte_size(Tail) - 1))/binary>>,
             ?assertNotEqual(H64, ?X:xxh3_64(Flipped, 7))
     end}.

crypto_free_bytes(N) ->
    rand:seed(exsss, {4, 5, 6}),
    rand:bytes(N).

term_digest_test() ->
    ?assertEqual(?X:term(#{a => 1, b => 2}), ?X:term(maps:from_list([{b, 2}, {a, 1}]))),
    ?assertEqual(?X:xxh3_128(lattice_canon:encode({x, [1]})), ?X:term({x, [1]})),
    ?assertNotEqual(?X:term(1), ?X:term(1.0)),
    ?assertError(badarg, ?X:term(self())).
