%% @doc A Merkle tree of `key → 128-bit digest' in the VM: the tree the C node runs
%% anti-entropy with (c_src/lt_merkle.h), behind a resource. See docs/MERKLE.md.
%%
%% The shape is fixed: `Levels' levels below the root (1..6, default 4), each node with 16
%% children, so `16^Levels' buckets; a key falls in the bucket named by the top `4 * Levels'
%% bits of its 64-bit key hash. A node's hash is the sum (mod 2^128) of the entry hashes below
%% it, with a count, so an update costs O(levels) and two trees of the same levels compare node
%% by node. Keys are binaries of 1..4096 bytes, digests 16-byte binaries (a value's digest, as
%% `lattice_hash:term/1' gives).
%%
%% A tree is mutable and may be used by any process (a mutex guards it); it is freed when no
%% process refers to it. Calls never hold a normal scheduler for long: a batch of updates
%% yields every millisecond or so (other calls on the tree may run between its steps, and see
%% part of it applied); a diff, a listing or an encoding of a big tree runs on a dirty
%% scheduler. A tree lives on its node: send its encodings, not the tree.
%%
%% A caller's bug (a key that is not a binary, a digest of another size, a level outside the
%% tree) is `badarg' with `error_info' ({@link format_error/2} says which argument and why).
-module(lattice_merkle).

-export([new/0, new/1, put/2, put/3, delete/2, update/2, lookup/2, count/1, memory/1,
         levels/1, root/1, node/3, key_hash/2, diff/2, to_list/1, fold/3, keys_with_hash/2,
         children/3, buckets/2, diff_children/2, diff_buckets/2]).
-export([format_error/2, error_message/1]).

-opaque tree() :: reference().
-type key() :: binary().
-type digest() :: <<_:128>>.
-type levels() :: 1..6.
-type side() :: differs | local_only | remote_only.
-type node_info() :: #{hash := <<_:128>>, count := non_neg_integer()}.
-export_type([tree/0, key/0, digest/0, levels/0, side/0, node_info/0]).

-define(BADARG(Args), erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])).
-define(MAX_LEVELS, 6).
-define(MAX_KEY, 4096).
-define(MAX_WIRE_NODES, 65536).

%% @doc An empty tree of 4 levels (65,536 buckets: about 15 keys a bucket at a million keys).
-spec new() -> tree().
new() ->
    new(4).

%% @doc An empty tree of `Levels' levels (1..6): `16^Levels' buckets. Trees compare only with
%% trees of the same levels.
-spec new(levels()) -> tree().
new(Levels) ->
    try lattice_nif:merkle_new(Levels) catch error:badarg -> ?BADARG([Levels]) end.

%% @doc Sets `Key' to `Digest' (an insert or an update).
-spec put(tree(), key(), digest()) -> ok.
put(Tree, Key, Digest) ->
    try lattice_nif:merkle_put(Tree, Key, Digest)
    catch error:badarg -> ?BADARG([Tree, Key, Digest])
    end.

%% @doc Sets every `{Key, Digest}' of `Entries', in order (a later entry of a key wins). The
%% whole list is checked first: on `badarg' nothing is applied. `{error, too_big}' when the
%% tree would pass 2^32 - 2 keys.
-spec put(tree(), [{key(), digest()}]) -> ok | {error, too_big}.
put(Tree, Entries) ->
    try lattice_nif:merkle_update(Tree, Entries, 0) catch error:badarg -> ?BADARG([Tree, Entries]) end.

%% @doc Removes the keys `Keys' (absent keys are ignored).
-spec delete(tree(), [key()]) -> ok.
delete(Tree, Keys) ->
    try lattice_nif:merkle_update(Tree, Keys, 1) catch error:badarg -> ?BADARG([Tree, Keys]) end.

%% @doc Sets and removes in one batch: `[{Key, Digest} | {Key, delete}]', applied in order.
-spec update(tree(), [{key(), digest() | delete}]) -> ok | {error, too_big}.
update(Tree, Changes) ->
    try lattice_nif:merkle_update(Tree, Changes, 2) catch error:badarg -> ?BADARG([Tree, Changes]) end.

%% @doc The digest of `Key': `{ok, Digest}', or `error' when the tree does not hold it.
-spec lookup(tree(), key()) -> {ok, digest()} | error.
lookup(Tree, Key) ->
    try lattice_nif:merkle_lookup(Tree, Key) catch error:badarg -> ?BADARG([Tree, Key]) end.

%% @doc The number of keys held.
-spec count(tree()) -> non_neg_integer().
count(Tree) ->
    try lattice_nif:merkle_info(Tree, 0) catch error:badarg -> ?BADARG([Tree]) end.

%% @doc The bytes the tree has allocated (outside the process heaps), approximately.
-spec memory(tree()) -> non_neg_integer().
memory(Tree) ->
    try lattice_nif:merkle_info(Tree, 1) catch error:badarg -> ?BADARG([Tree]) end.

%% @doc The tree's levels.
-spec levels(tree()) -> levels().
levels(Tree) ->
    try lattice_nif:merkle_info(Tree, 2) catch error:badarg -> ?BADARG([Tree]) end.

%% @doc The root: the sum of every entry hash (16 bytes, big-endian) and the number of keys.
%% Two trees of the same keys and digests have the same root, whatever the order of updates.
-spec root(tree()) -> node_info().
root(Tree) ->
    try node_map(lattice_nif:merkle_node(Tree, 0, 0)) catch error:badarg -> ?BADARG([Tree]) end.

%% @doc Node `Index' of `Level' (0 the root, `levels(Tree)' the buckets; `0 =< Index <
%% 16^Level'). Node `I' of level `L' has the children `16 * I' .. `16 * I + 15' in level `L + 1'.
-spec node(tree(), non_neg_integer(), non_neg_integer()) -> node_info().
node(Tree, Level, Index) ->
    try node_map(lattice_nif:merkle_node(Tree, Level, Index))
    catch error:badarg -> ?BADARG([Tree, Level, Index])
    end.

node_map({Hash, Count}) ->
    #{hash => Hash, count => Count}.

%% @doc `Key''s 64-bit key hash (XXH3-64, seed "latticek1") and the bucket it falls in.
-spec key_hash(tree(), key()) -> {non_neg_integer(), non_neg_integer()}.
key_hash(Tree, Key) ->
    try lattice_nif:merkle_key_hash(Tree, Key) catch error:badarg -> ?BADARG([Tree, Key]) end.

%% @doc The keys in which `Local' and `Remote' differ: `differs' (both hold it, with different
%% digests), `local_only', `remote_only'. Exactly the symmetric difference of the two
%% `key → digest' maps, found by descending only into nodes that differ. Both trees must have
%% the same levels.
-spec diff(tree(), tree()) -> [{key(), side()}].
diff(Local, Remote) ->
    try lattice_nif:merkle_diff(Local, Remote) catch error:badarg -> ?BADARG([Local, Remote]) end.

%% @doc Every `{Key, Digest}', in no particular order.
-spec to_list(tree()) -> [{key(), digest()}].
to_list(Tree) ->
    try lattice_nif:merkle_to_list(Tree) catch error:badarg -> ?BADARG([Tree]) end.

%% @doc Folds `Fun(Key, Digest, Acc)' over the entries (of a copy: the tree may change meanwhile),
%% in no particular order.
-spec fold(fun((key(), digest(), Acc) -> Acc), Acc, tree()) -> Acc.
fold(Fun, Acc0, Tree) when is_function(Fun, 3) ->
    lists:foldl(fun({K, D}, Acc) -> Fun(K, D, Acc) end, Acc0,
                try lattice_nif:merkle_to_list(Tree)
                catch error:badarg -> ?BADARG([Fun, Acc0, Tree])
                end);
fold(Fun, Acc0, Tree) ->
    ?BADARG([Fun, Acc0, Tree]).

%% @doc This tree's keys whose key hash is `KeyHash': how a side turns a peer's
%% `{key_hash, KeyHash}' (from {@link diff_buckets/2}) into keys.
-spec keys_with_hash(tree(), non_neg_integer()) -> [key()].
keys_with_hash(Tree, KeyHash) ->
    try lattice_nif:merkle_keys_with_hash(Tree, KeyHash)
    catch error:badarg -> ?BADARG([Tree, KeyHash])
    end.

%% @doc The children encoding of the nodes `Parents' of `Level' (strictly ascending indices;
%% `Level < levels(Tree)'; at most 65,536): for each, its 16 children's hashes folded to
%% 64 bits, for a peer to compare with {@link diff_children/2}. docs/MERKLE.md has the bytes.
-spec children(tree(), non_neg_integer(), [non_neg_integer()]) -> binary().
children(Tree, Level, Parents) ->
    try lattice_nif:merkle_children(Tree, Level, Parents)
    catch error:badarg -> ?BADARG([Tree, Level, Parents])
    end.

%% @doc The bucket encoding of `Buckets' (strictly ascending bucket indices, at most 65,536):
%% each bucket's `(key hash, entry hash)' pairs, for a peer to compare with
%% {@link diff_buckets/2}. `{error, too_big}' above 2^20 entries in all.
-spec buckets(tree(), [non_neg_integer()]) -> binary() | {error, too_big}.
buckets(Tree, Buckets) ->
    try lattice_nif:merkle_buckets(Tree, Buckets) catch error:badarg -> ?BADARG([Tree, Buckets]) end.

%% @doc Compares a peer's children encoding with this tree: `{ok, Level, Children}', the
%% indices (in `Level + 1') of the children whose hashes differ. A message that is not a
%% children encoding of a tree of these levels is `{error, {bad_merkle_wire, Reason}}'.
-spec diff_children(tree(), binary()) ->
          {ok, non_neg_integer(), [non_neg_integer()]} | {error, {bad_merkle_wire, atom()}}.
diff_children(Tree, Message) ->
    try lattice_nif:merkle_diff_children(Tree, Message)
    catch error:badarg -> ?BADARG([Tree, Message])
    end.

%% @doc Compares a peer's bucket encoding with this tree: `{Key, differs | local_only}' for this
%% side's keys that do not match, and `{{key_hash, KeyHash}, remote_only}' for each key hash of
%% which the peer has entries this side lacks (the peer turns it into keys with
%% {@link keys_with_hash/2}). Errors as {@link diff_children/2}.
-spec diff_buckets(tree(), binary()) ->
          {ok, [{key() | {key_hash, non_neg_integer()}, side()}]}
          | {error, {bad_merkle_wire, atom()}}.
diff_buckets(Tree, Message) ->
    try lattice_nif:merkle_diff_buckets(Tree, Message)
    catch error:badarg -> ?BADARG([Tree, Message])
    end.

%% ---- caller errors ----------------------------------------------------------------------

%% @doc The OTP `error_info' callback: what is wrong with the arguments of a call that raised
%% `badarg'.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(badarg, [{?MODULE, F, Args, _} | _]) when is_list(Args) ->
    explain(F, Args);
format_error(_, _) ->
    #{}.

%% @doc The explanation in one line, for the Elixir facade's `ArgumentError'; `undefined' when
%% the top frame is not a lattice_merkle call that raised with its `error_info'.
-spec error_message(erlang:stacktrace()) -> binary() | undefined.
error_message(Stack) ->
    lattice_error:message(?MODULE, Stack, fun explain/2).

explain(F, Args) ->
    lattice_error:explain(?MODULE, F, Args, checks(F, Args)).

checks(new, [Levels]) ->
    [{1, fun() -> check_int("the levels", Levels, 1, ?MAX_LEVELS) end}];
checks(diff, [A, B]) ->
    [{1, fun() -> check_tree(A) end},
     {2, fun() -> case check_tree(B) of ok -> check_same_levels(A, B); Error -> Error end end}];
checks(fold, [Fun, _Acc, Tree]) ->
    [{1, fun() when is_function(Fun, 3) -> ok;
            () -> {error, fmt("the fun must take 3 arguments (Key, Digest, Acc), got: ~ts",
                              [show(Fun)])}
         end},
     {3, fun() -> check_tree(Tree) end}];
checks(F, [Tree | Rest]) ->
    [{1, fun() -> check_tree(Tree) end} | more_checks(F, Tree, Rest)].

more_checks(put, _, [Key, Digest]) ->
    [{2, fun() -> check_key(Key) end}, {3, fun() -> check_digest(Digest) end}];
more_checks(put, _, [Entries]) ->
    [{2, fun() -> check_list("entries", "{Key, Digest}", fun is_entry/1, Entries) end}];
more_checks(delete, _, [Keys]) ->
    [{2, fun() -> check_list("keys", "Key", fun is_key/1, Keys) end}];
more_checks(update, _, [Changes]) ->
    [{2, fun() -> check_list("changes", "{Key, Digest} or {Key, delete}", fun is_change/1,
                             Changes) end}];
more_checks(F, _, [Key]) when F =:= lookup; F =:= key_hash ->
    [{2, fun() -> check_key(Key) end}];
more_checks(node, Tree, [Level, Index]) ->
    [{2, fun() -> with_levels(Tree, fun(L) -> check_int("the level", Level, 0, L) end) end},
     {3, fun() when is_integer(Level), Level >= 0, Level =< ?MAX_LEVELS ->
                 check_int("the index", Index, 0, (1 bsl (4 * Level)) - 1);
            () -> ok
         end}];
more_checks(keys_with_hash, _, [KeyHash]) ->
    [{2, fun() -> check_int("the key hash", KeyHash, 0, (1 bsl 64) - 1) end}];
more_checks(children, Tree, [Level, Parents]) ->
    [{2, fun() -> with_levels(Tree, fun(L) -> check_int("the level", Level, 0, L - 1) end) end},
     {3, fun() when is_integer(Level), Level >= 0, Level < ?MAX_LEVELS ->
                 check_indices("parents", Parents, Level);
            () -> ok
         end}];
more_checks(buckets, Tree, [Buckets]) ->
    [{2, fun() -> with_levels(Tree, fun(L) -> check_indices("buckets", Buckets, L) end) end}];
more_checks(F, _, [Message]) when F =:= diff_children; F =:= diff_buckets ->
    [{2, fun() when is_binary(Message) -> ok;
            () -> {error, fmt("the message must be a binary (an encoding from a peer), got: ~ts",
                              [show(Message)])}
         end}];
more_checks(_, _, _) ->
    [].

check_tree(Tree) ->
    case is_tree(Tree) of
        true ->
            ok;
        false when is_reference(Tree), node(Tree) =/= node() ->
            {error, fmt("the tree lives on ~ts: a tree cannot be used from another node "
                        "(send its encodings instead)", [node(Tree)])};
        false ->
            {error, fmt("not a Merkle tree (one that lattice_merkle:new/0,1 made): ~ts",
                        [show(Tree)])}
    end.

is_tree(Tree) ->
    try lattice_nif:merkle_info(Tree, 2) of
        _ -> true
    catch
        error:badarg -> false
    end.

levels_of(Tree) ->
    case is_tree(Tree) of
        true -> lattice_nif:merkle_info(Tree, 2);
        false -> undefined
    end.

%% A check that needs the tree's levels; nothing to say when the tree itself is wrong (its
%% own check says so).
with_levels(Tree, Check) ->
    case levels_of(Tree) of
        undefined -> ok;
        L -> Check(L)
    end.

check_same_levels(A, B) ->
    case {levels_of(A), levels_of(B)} of
        {L, M} when is_integer(L), is_integer(M), L =/= M ->
            {error, fmt("the trees have different levels (~b and ~b): only trees of the same "
                        "levels can be compared", [L, M])};
        _ ->
            ok
    end.

is_key(K) -> is_binary(K) andalso byte_size(K) >= 1 andalso byte_size(K) =< ?MAX_KEY.

is_digest(D) -> is_binary(D) andalso byte_size(D) =:= 16.

is_entry({K, D}) -> is_key(K) andalso is_digest(D);
is_entry(_) -> false.

is_change({K, delete}) -> is_key(K);
is_change(E) -> is_entry(E).

check_key(K) ->
    case is_key(K) of
        true -> ok;
        false -> {error, fmt("the key must be a binary of 1..~b bytes, got: ~ts",
                             [?MAX_KEY, show(K)])}
    end.

check_digest(D) ->
    case is_digest(D) of
        true -> ok;
        false -> {error, fmt("the digest must be a binary of 16 bytes, got: ~ts", [show(D)])}
    end.

%% The first element of List that is not Good, by position.
check_list(What, Shape, Good, List) ->
    Explain = fmt("the ~ts must be a list of ~ts, each Key a binary of 1..~b bytes~ts",
                  [What, Shape, ?MAX_KEY, case Shape of
                                              "Key" -> "";
                                              _ -> " and each Digest one of 16 bytes"
                                          end]),
    first_bad(List, 1, Good, Explain).

first_bad([], _, _, _) ->
    ok;
first_bad([E | Rest], I, Good, Explain) ->
    case Good(E) of
        true -> first_bad(Rest, I + 1, Good, Explain);
        false -> {error, fmt("~ts; element ~b is not: ~ts", [Explain, I, show(E)])}
    end;
first_bad(Tail, _, _, Explain) ->
    {error, fmt("~ts; got an improper list ending in ~ts", [Explain, show(Tail)])}.

check_indices(What, List, Level) ->
    Max = (1 bsl (4 * Level)) - 1,
    Explain = fmt("the ~ts must be a list of at most ~b strictly ascending indices in "
                  "0..~b (level ~b)", [What, ?MAX_WIRE_NODES, Max, Level]),
    case is_list(List) andalso length_at_most(List, ?MAX_WIRE_NODES) of
        false -> {error, fmt("~ts, got: ~ts", [Explain, show(List)])};
        true -> ascending(List, -1, Max, Explain)
    end.

length_at_most(List, N) ->
    try length(List) =< N catch error:badarg -> false end.

ascending([], _, _, _) ->
    ok;
ascending([X | Rest], Prev, Max, Explain) when is_integer(X), X > Prev, X =< Max ->
    ascending(Rest, X, Max, Explain);
ascending([X | _], _, _, Explain) ->
    {error, fmt("~ts; ~ts is out of range or out of order", [Explain, show(X)])}.

check_int(_What, N, Min, Max) when is_integer(N), N >= Min, N =< Max ->
    ok;
check_int(What, N, Min, Max) ->
    {error, fmt("~ts must be an integer in ~b..~b, got: ~ts", [What, Min, Max, show(N)])}.

show(T) -> lists:flatten(io_lib:format("~0tP", [T, 12])).

fmt(Format, Args) -> lists:flatten(io_lib:format(Format, Args)).
