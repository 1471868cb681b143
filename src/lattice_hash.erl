%% @doc XXH3 hashing (xxHash 0.8, compiled into lattice) and digests of terms.
%%
%% Hashes of large inputs never hold a scheduler: the NIF works through them in 1 MB chunks
%% and yields between chunks. iodata that is not a binary is flattened first with
%% `iolist_to_binary/1' (itself a yielding BIF).
-module(lattice_hash).

-include("lattice_error.hrl").

-export([xxh3_64/1, xxh3_64/2, xxh3_128/1, xxh3_128/2, term/1]).

-type seed() :: 0..18446744073709551615.
-export_type([seed/0]).

%% @doc XXH3-64 of `Data' with seed 0.
-spec xxh3_64(iodata()) -> non_neg_integer().
xxh3_64(Data) ->
    xxh3_64(Data, 0).

-spec xxh3_64(iodata(), seed()) -> non_neg_integer().
xxh3_64(Data, Seed) ->
    try lattice_nif:hash(to_binary(Data), Seed, 64) catch error:badarg -> ?BADARG([Data, Seed]) end.

%% @doc XXH3-128 of `Data' with seed 0, as 16 bytes in xxHash's canonical (big-endian) order.
-spec xxh3_128(iodata()) -> <<_:128>>.
xxh3_128(Data) ->
    xxh3_128(Data, 0).

-spec xxh3_128(iodata(), seed()) -> <<_:128>>.
xxh3_128(Data, Seed) ->
    try lattice_nif:hash(to_binary(Data), Seed, 128) catch error:badarg -> ?BADARG([Data, Seed]) end.

%% @doc The digest of a term: XXH3-128 of its canonical bytes ({@link lattice_canon}), the
%% same for equal terms on every node.
-spec term(term()) -> <<_:128>>.
term(Term) ->
    try lattice_nif:term_digest(Term) catch error:badarg -> ?BADARG([Term]) end.

to_binary(Data) when is_binary(Data) -> Data;
to_binary(Data) when is_list(Data) -> iolist_to_binary(Data);
to_binary(_) -> erlang:error(badarg).
