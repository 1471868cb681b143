%% The edges a new user hits: caller errors that say which argument is wrong and why (the OTP
%% error_info way), binaries that are not states giving error tuples from every entry point,
%% and the actor a restarted node must not reuse.
-module(lattice_errors_tests).

-include_lib("eunit/include/eunit.hrl").

-define(TYPES, [lattice_gcounter, lattice_pncounter, lattice_gset, lattice_twopset,
                lattice_orset, lattice_lwwset, lattice_lwwreg, lattice_lwwmap, lattice_mvreg]).

%% ---- caller errors -----------------------------------------------------------------------

%% {Name, the call, the words its explanation must hold}.
mistakes() ->
    G = lattice_object:new(lattice_gcounter),
    OS = lattice_object:new(lattice_orset),
    S = lattice_orset:new(),
    M = lattice_lwwmap:new(),
    V = lattice_vclock:new(),
    [{"a set op on a counter object", fun() -> lattice_object:update({add, 1}, a, G) end,
      "{add,1} is not an operation of a G-Counter"},
     {"a counter op on an OR-Set object", fun() -> lattice_object:update({increment, 1}, a, OS) end,
      "is not an operation of an OR-Set"},
     {"a negative increment", fun() -> lattice_object:update({increment, -1}, a, G) end,
      "the amount must be a positive integer (1..2^64-1), got: -1"},
     {"a zero increment of a binary", fun() -> lattice_gcounter:update({increment, 0}, a, lattice_gcounter:new()) end,
      "got: 0"},
     {"an increment of 2^64", fun() -> lattice_pncounter:update({decrement, 1 bsl 64}, a, lattice_pncounter:new()) end,
      "the amount must be a positive integer"},
     {"a pid as an element", fun() -> lattice_orset:update({add, self()}, a, S) end,
      "the element is not data: it is a pid"},
     {"a pid inside an element", fun() -> lattice_gset:update({add, {k, self()}}, a, lattice_gset:new()) end,
      "the element is not data: it holds a pid"},
     {"a fun as a map value", fun() -> lattice_lwwmap:update({put, k, fun() -> ok end}, a, M) end,
      "the value is not data: it is a fun"},
     {"a reference as a key", fun() -> lattice_lwwmap:update({remove, make_ref()}, a, M) end,
      "the key is not data: it is a reference"},
     {"a pid as an actor", fun() -> lattice_orset:update({add, 1}, self(), S) end,
      "the actor is not data: it is a pid"},
     {"an actor over 1024 bytes", fun() -> lattice_orset:update({add, 1}, binary:copy(<<1>>, 2000), S) end,
      "the actor is 2003 bytes encoded"},
     {"an improper list for add_all", fun() -> lattice_orset:update({add_all, [1 | 2]}, a, S) end,
      "the list of elements must be a proper list, got: [1|2]"},
     {"an element not data in add_all", fun() -> lattice_twopset:update({add_all, [1, self()]}, a, lattice_twopset:new()) end,
      "the element <"},
     {"the state first (Elixir order from Erlang)", fun() -> lattice_orset:update(S, {add, 1}, a) end,
      "the state goes last in Erlang, first in Elixir"},
     {"an unknown operation", fun() -> lattice_orset:update({insert, 1}, a, S) end,
      "the operation {insert,1} is not an operation of an OR-Set; those are: {add, E}"},
     {"an unknown query", fun() -> lattice_orset:value({get, a}, S) end,
      "the query {get,a} is not a query of an OR-Set"},
     {"a query of an LWW-Map on an OR-Set object", fun() -> lattice_object:value({get, a}, OS) end,
      "is not a query of an OR-Set (it is one for: G-Counter, PN-Counter, LWW-Map)"},
     {"a timestamp of 0", fun() -> lattice_lwwmap:update({put, k, v, 0}, a, M) end,
      "the timestamp must be an integer 1..2^64-1"},
     {"an LWW-Set add with a float timestamp", fun() -> lattice_lwwset:update({add, e, 1.5}, a, lattice_lwwset:new()) end,
      "the timestamp must be an integer"},
     {"a state that is not a binary", fun() -> lattice_orset:value([1, 2]) end,
      "the state must be an OR-Set state (a binary), got: [1,2]"},
     {"an object given where a state goes", fun() -> lattice_orset:value(OS) end,
      "the state is an in-place object, not a state binary"},
     {"a state given where an object goes", fun() -> lattice_object:value(S) end,
      "got a state binary: use the type's own functions on states"},
     {"a plain reference as an object", fun() -> lattice_object:digest(make_ref()) end,
      "got a reference that is not one"},
     {"an object of no type", fun() -> lattice_object:new(foo) end,
      "foo is not a CRDT type with objects"},
     {"an object of a pid", fun() -> lattice_object:new(self()) end,
      "expected a CRDT type module (such as lattice_orset) or a state binary"},
     {"a bad LWW-Set bias", fun() -> lattice_lwwset:new(both) end,
      "the bias must be add or remove, got: both"},
     {"a vclock increment by 0", fun() -> lattice_vclock:increment(a, 0, V) end,
      "the amount to increment by must be a positive integer (1..2^64-1), got: 0"},
     {"a vclock as a list", fun() -> lattice_vclock:merge([{a, 1}], V) end,
      "the clock must be a vector clock (a binary), got: [{a,1}]"},
     {"a pid as a DVV actor", fun() -> lattice_dvv:event(self(), lattice_dvv:new()) end,
      "the actor is not data: it is a pid"},
     {"a DVV dot with counter 0", fun() -> lattice_dvv:add({a, 0}, lattice_dvv:new()) end,
      "the dot's counter must be a positive integer"},
     {"a DVV merge with a non-binary", fun() -> lattice_dvv:merge(lattice_dvv:new(), 42) end,
      "the DVV must be a dotted version vector (a binary), got: 42"},
     {"an HLC update with a float", fun() -> lattice_hlc:update(1.5) end,
      "the timestamp (an HLC timestamp) must be an integer 0..18446744073709551615, got: 1.5"},
     {"an HLC logical counter too big", fun() -> lattice_hlc:make(1, 1 bsl 16) end,
      "the logical counter must be an integer 0..65535, got: 65536"},
     {"lattice_type on a non-binary", fun() -> lattice_type:value(42) end,
      "the state must be a CRDT state (a binary), got: 42"},
     {"a pid to the canonical encoder", fun() -> lattice_canon:encode({k, self()}) end,
      "the term is not data: it holds a pid"},
     {"canonical decode of a list", fun() -> lattice_canon:decode([1, 2]) end,
      "the encoding (canonical bytes) must be a binary, got: [1,2]"},
     {"an unknown canonical decode option", fun() -> lattice_canon:decode(<<>>, [fast]) end,
      "unknown decode options [fast]"},
     {"a hash of an atom", fun() -> lattice_hash:xxh3_64(abc) end,
      "the data must be iodata"},
     {"a negative hash seed", fun() -> lattice_hash:xxh3_128(<<"x">>, -1) end,
      "the seed must be an integer 0..18446744073709551615, got: -1"},
     {"a term digest of a fun", fun() -> lattice_hash:term(fun() -> ok end) end,
      "the term is not data: it is a fun"}].

mistakes_test_() ->
    [{Name, fun() -> check_mistake(Call, Words) end} || {Name, Call, Words} <- mistakes()].

check_mistake(Call, Words) ->
    try Call() of
        Result -> ?assertEqual(badarg, {no_error, Result})
    catch
        error:badarg:St ->
            [{_, _, Args, Info} | _] = St,
            ?assert(is_list(Args)),
            ?assertMatch(#{module := lattice_error}, proplists:get_value(error_info, Info)),
            Message = binary_to_list(lattice_error:message(St)),
            ?assertNotEqual(nomatch, string:find(Message, Words), Message),
            %% What the shell prints: the explanation under the error, not the bare badarg.
            Shell = lists:flatten(erl_error:format_exception(error, badarg, St)),
            ?assertNotEqual(nomatch, string:find(Shell, Words), Shell)
    end.

%% A resource term sent to another node is still a reference there: node(Ref) names where it
%% lives, and the explanation says objects are node-local.
object_on_another_node_test() ->
    {ok, Peer, PeerNode} = peer:start(#{
        name => list_to_atom("lattice_errors_peer_" ++ os:getpid()),
        connection => standard_io,
        args => ["-pa", filename:dirname(code:which(lattice_object))]
    }),
    try
        Remote = peer:call(Peer, lattice_object, new, [lattice_gcounter]),
        ?assert(is_reference(Remote)),
        ?assertEqual(PeerNode, node(Remote)),
        try lattice_object:update({increment, 1}, a, Remote) of
            R -> ?assertEqual(badarg, {no_error, R})
        catch
            error:badarg:St ->
                Message = binary_to_list(lattice_error:message(St)),
                ?assertNotEqual(nomatch, string:find(Message, "objects are node-local"), Message),
                ?assertNotEqual(nomatch, string:find(Message, atom_to_list(PeerNode)), Message)
        end
    after
        peer:stop(Peer)
    end.

%% The fast path is untouched: the right calls still work and return what they did.
right_calls_test() ->
    O = lattice_object:new(lattice_orset),
    {ok, _} = lattice_object:update({add, 1}, lattice:actor(), O),
    ?assertEqual(true, lattice_object:value({contains, 1}, O)),
    {ok, S, _} = lattice_orset:update({add, 1}, lattice:actor(), lattice_orset:new()),
    ?assertEqual(S, lattice_object:snapshot(O)).

%% ---- binaries that are not states --------------------------------------------------------

garbage_new_test() ->
    ?assertEqual({error, {bad_state, unknown_type}}, lattice_object:new(<<"garbage">>)),
    ?assertEqual({error, {bad_state, truncated}}, lattice_object:new(<<>>)),
    ?assertEqual({error, {bad_state, unknown_type}}, lattice_type:value(<<"garbage">>)).

%% Every entry point that takes a state gives a value or an error tuple for any binary: random
%% bytes, and random bytes behind each type's tag and format version.
random_binaries_test_() ->
    {timeout, 120, fun() ->
        rand:seed(exsss, {8, 8, 8}),
        Tags = [16#10, 16#11, 16#12, 16#13, 16#14, 16#15, 16#16, 16#17, 16#18],
        Bins = [<<>>] ++
               [rand:bytes(rand:uniform(40)) || _ <- lists:seq(1, 300)] ++
               [<<T, 1, (rand:bytes(rand:uniform(40) - 1))/binary>> || T <- Tags,
                                                                       _ <- lists:seq(1, 60)],
        [check_binary(M, B) || M <- ?TYPES, B <- Bins],
        ok
    end}.

check_binary(M, B) ->
    Good = M:new(),
    Object = lattice_object:new(M),
    Calls = [{update, fun() -> M:update(op(M), a, B) end},
             {merge_1, fun() -> M:merge(B, Good) end},
             {merge_2, fun() -> M:merge(Good, B) end},
             {value, fun() -> M:value(B) end},
             {query, fun() -> M:value(query(M), B) end},
             {equal, fun() -> M:equal(B, Good) end},
             {digest, fun() -> M:digest(B) end},
             {to_term, fun() -> M:to_term(B) end},
             {validate, fun() -> M:validate(B) end},
             {type_value, fun() -> lattice_type:value(B) end},
             {type_merge, fun() -> lattice_type:merge(B, Good) end},
             {type_digest, fun() -> lattice_type:digest(B) end},
             {type_to_term, fun() -> lattice_type:to_term(B) end},
             {type_validate, fun() -> lattice_type:validate(B) end},
             {object_new, fun() -> lattice_object:new(B) end},
             {object_join, fun() -> lattice_object:join(B, Object) end}],
    [try Call() of
         _ -> ok
     catch
         Class:Reason -> ?assertEqual({M, Name, B, ok}, {M, Name, B, {Class, Reason}})
     end || {Name, Call} <- Calls].

op(lattice_gcounter) -> {increment, 1};
op(lattice_pncounter) -> {decrement, 1};
op(lattice_lwwreg) -> {assign, v};
op(lattice_lwwmap) -> {put, k, v};
op(lattice_mvreg) -> {assign, v};
op(_) -> {add, e}.

query(M) when M =:= lattice_gcounter; M =:= lattice_pncounter -> {get, a};
query(lattice_lwwreg) -> timestamp;
query(lattice_lwwmap) -> {get, k};
query(_) -> size.

%% ---- the actor ---------------------------------------------------------------------------

actor_test() ->
    {Node, Incarnation} = A = lattice:actor(),
    ?assertEqual(node(), Node),
    ?assert(is_integer(Incarnation) andalso Incarnation >= 0 andalso Incarnation < 1 bsl 64),
    Self = self(),
    [spawn(fun() -> Self ! {actor, lattice:actor()} end) || _ <- lists:seq(1, 20)],
    [receive {actor, Other} -> ?assertEqual(A, Other) end || _ <- lists:seq(1, 20)].

%% Two starts of the same node (a peer VM started twice under one name): the same node(), two
%% actors.
actor_per_start_test() ->
    Name = list_to_atom("lattice_actor_peer_" ++ os:getpid()),
    Start = fun() ->
        {ok, Peer, PeerNode} = peer:start(#{name => Name, connection => standard_io,
                                            args => ["-pa", filename:dirname(code:which(lattice))]}),
        try {PeerNode, peer:call(Peer, lattice, actor, [])} after peer:stop(Peer) end
    end,
    {Node1, {Node1, _} = A1} = Start(),
    {Node2, {Node2, _} = A2} = Start(),
    ?assertEqual(Node1, Node2),
    ?assertNotEqual(A1, A2).

%% The restart scenario, with OR-Set objects as a store would hold them: node a adds x and
%% sends the delta to b; a restarts (a fresh object) and adds y; a and b exchange snapshots.
restart(ActorBefore, ActorAfter) ->
    A1 = lattice_object:new(lattice_orset),
    B = lattice_object:new(lattice_orset),
    {ok, Dx} = lattice_object:update({add, x}, ActorBefore, A1),
    ok = lattice_object:join(Dx, B),
    A2 = lattice_object:new(lattice_orset),                % the restart: nothing kept
    {ok, Dy} = lattice_object:update({add, y}, ActorAfter, A2),
    ok = lattice_object:join(Dy, B),
    AfterDelta = lattice_object:value(B),
    SnapA = lattice_object:snapshot(A2),
    SnapB = lattice_object:snapshot(B),
    ok = lattice_object:join(SnapB, A2),
    ok = lattice_object:join(SnapA, B),
    {AfterDelta, lattice_object:value(A2), lattice_object:value(B)}.

restart_with_node_as_actor_loses_data_test() ->
    %% The same actor before and after the restart: y gets the dot x had, (node(), 1). b has
    %% seen that dot, so it drops y; and the delta has seen it without x under it, so b takes
    %% x for removed. After the exchange a loses y the same way: nothing is left anywhere.
    {AfterDelta, ValueA, ValueB} = restart(node(), node()),
    ?assertEqual([], AfterDelta),
    ?assertEqual([], ValueA),
    ?assertEqual([], ValueB).

restart_with_fresh_incarnation_keeps_data_test() ->
    %% Two incarnations of one node, as lattice:actor/0 gives across a restart.
    {AfterDelta, ValueA, ValueB} = restart({node(), 1}, {node(), 2}),
    ?assertEqual([x, y], AfterDelta),
    ?assertEqual([x, y], ValueA),
    ?assertEqual([x, y], ValueB).
