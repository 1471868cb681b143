%% Multi-node EUnit tests of sealed anti-entropy through lattice_ae (set_peer_key/3,
%% clear_peer_key/2, the require_keys option): BEAM peers with their supervised C nodes, as in
%% lattice_ae_tests. Keys are set per peer BEAM node; lattice_ae finds the peer's C node and gives
%% its own C node the key; a restarted C node gets the keys again before any session.
%%
%% Needs epmd (scripts/ensure-epmd.sh).
-module(lattice_ae_sealed_tests).

-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_peer_cluster).
-define(WAIT, 30000).

sealed_ae_test_() ->
    {setup, fun() -> ?C:ensure_distributed() end, fun ?C:release_distribution/1, fun(_) ->
        [
            {timeout, 180, {Title, Test}}
         || {Title, Test} <- [
                {"require_keys: refused without keys; with keys sealed and exact; keys kept "
                 "across a C node restart; cleared: refused again",
                    fun keyed_sessions/0},
                {"argument errors, not_open, peer_keys hides the keys", fun api/0}
            ]
        ]
    end}.

keyed_sessions() ->
    [{_, A}, {_, B}] = Peers = ?C:start(2),
    try
        S = store(),
        Base = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, 5000)]),
        MB = maps:merge(Base, maps:from_list([{key(I), digest(-I)} || I <- lists:seq(1, 40)])),
        MA = maps:remove(key(4999), Base),
        OA = open_store(S, A, MA),
        OB = open_store(S, B, MB),
        {ok, _} = call(A, flush, [S]),
        {ok, _} = call(B, flush, [S]),
        %% No keys: refused on both sides (this side's sync; the peer's HELLO).
        ?assertEqual({error, no_key}, sync_wait(S, A, B)),
        K = crypto:strong_rand_bytes(32),
        ok = call(A, set_peer_key, [S, B, K]),
        ok = call(B, set_peer_key, [S, A, K]),
        wait_keys(A, S, B),
        wait_keys(B, S, A),
        Want = expected(MA, MB),
        {ok, Diffs, Report} = sync_wait(S, A, B),
        ?assertEqual(Want, Diffs),
        ?assertMatch(#{sealed := true}, Report),
        {ok, Theirs, #{sealed := true}} = await_report(B, S, A, responder),
        ?assertEqual(mirror(Want), Theirs),
        %% The C node of A killed: the new one gets the key (and require_keys) again.
        #{incarnation := I0} = erpc:call(A, lattice_cnode_keeper, info, []),
        kill_cnode(A),
        ?C:wait_cnode(A, I0),
        ?assertMatch({lattice_ae, cnode_up, S, _}, owner_msg(A, cnode_up)),
        {ok, Diffs2, Report2} = sync_wait(S, A, B),
        ?assertEqual(Want, Diffs2),
        ?assertMatch(#{sealed := true}, Report2),
        {ok, #{counters := #{sessions_sealed := Sealed}, gauges := #{peer_keys := 1}}} =
            call(A, cnode_stats, []),
        ?assert(Sealed >= 1),
        %% B's sessions with A's new C node: also sealed (B's key followed A's C node name).
        {ok, Back, #{sealed := true}} = sync_wait(S, B, A),
        ?assertEqual(mirror(Want), Back),
        %% A new key on both sides (a rekey of the channel): still sealed and exact.
        K2 = crypto:strong_rand_bytes(32),
        ok = call(A, set_peer_key, [S, B, K2]),
        ok = call(B, set_peer_key, [S, A, K2]),
        {ok, Diffs3, #{sealed := true}} = sync_wait(S, A, B),
        ?assertEqual(Want, Diffs3),
        %% Cleared on A: A refuses (require_keys).
        ok = call(A, clear_peer_key, [S, B]),
        ?assertEqual({error, no_key}, sync_wait(S, A, B)),
        close_store(S, A, OA),
        close_store(S, B, OB)
    after
        ?C:stop(Peers)
    end.

api() ->
    [{_, A}, {_, B}] = Peers = ?C:start(2),
    try
        S = store(),
        ?assertEqual({error, not_open}, call(A, set_peer_key, [S, B, <<0:256>>])),
        ?assertEqual({error, not_open}, call(A, clear_peer_key, [S, B])),
        ?assertError({exception, badarg, _}, call(A, set_peer_key, [S, B, <<1, 2>>])),
        ?assertError({exception, badarg, _}, call(A, set_peer_key, [S, "node", <<0:256>>])),
        ?assertError({exception, badarg, _}, call(A, set_peer_key, [S, A, <<0:256>>])),
        ?assertError({exception, badarg, _}, call(A, clear_peer_key, [S, "node"])),
        Owner = owner(A),
        ?assertMatch({error, {bad_options, _}}, call(A, open, [S, #{owner => Owner, require_keys => yes}])),
        ok = call(A, open, [S, #{owner => Owner}]),
        %% The peer has no such store yet: the key waits, its C node unknown.
        Secret = crypto:strong_rand_bytes(32),
        ok = call(A, set_peer_key, [S, B, Secret]),
        ?assertEqual({ok, #{B => undefined}}, call(A, peer_keys, [S])),
        %% The key is in no status (what a crash report would print).
        Status = erpc:call(A, sys, get_status, [lattice_ae]),
        ?assertEqual(nomatch, binary:match(term_to_binary(Status), Secret)),
        OB = open_store(S, B, #{}),
        wait_keys(A, S, B),
        {ok, Known} = call(A, peer_keys, [S]),
        ?assert(is_atom(maps:get(B, Known))),
        ok = call(A, clear_peer_key, [S, B]),
        ?assertEqual({ok, #{}}, call(A, peer_keys, [S])),
        close_store(S, A, Owner),
        close_store(S, B, OB)
    after
        ?C:stop(Peers)
    end.

%%--------------------------------------------------------------------------------------------
%% Helpers (as lattice_ae_tests)

store() ->
    list_to_atom("ae_sealed_" ++ integer_to_list(erlang:unique_integer([positive]))).

key(I) -> <<"key-", (integer_to_binary(I))/binary>>.

digest(I) -> <<(erlang:phash2({I, digest})):32, 0:64, (erlang:phash2(I)):32>>.

call(Node, F, Args) ->
    erpc:call(Node, lattice_ae, F, Args, ?WAIT).

wait_keys(Node, S, Peer) ->
    ?C:wait_until(peer_key_resolved, fun() ->
        case call(Node, peer_keys, [S]) of
            {ok, #{Peer := CNode}} -> CNode =/= undefined;
            _ -> false
        end
    end).

expected(MA, MB) ->
    Keys = lists:usort(maps:keys(MA) ++ maps:keys(MB)),
    lists:sort(lists:filtermap(
        fun(K) ->
            case {maps:find(K, MA), maps:find(K, MB)} of
                {{ok, D}, {ok, D}} -> false;
                {{ok, _}, {ok, _}} -> {true, {K, differs}};
                {{ok, _}, error} -> {true, {K, local_only}};
                {error, {ok, _}} -> {true, {K, remote_only}}
            end
        end,
        Keys
    )).

mirror(Diffs) ->
    lists:sort([{K, flip(Side)} || {K, Side} <- Diffs]).

flip(local_only) -> remote_only;
flip(remote_only) -> local_only;
flip(differs) -> differs.

open_store(S, Node, M) ->
    Owner = owner(Node),
    ok = call(Node, open, [S, #{owner => Owner, require_keys => true}]),
    ok = call(Node, put, [S, maps:to_list(M)]),
    Owner.

close_store(S, Node, Owner) ->
    ok = call(Node, close, [S]),
    Owner ! stop,
    flush_owner(Node).

sync_wait(S, A, B) ->
    ok = call(A, sync, [S, B]),
    case await_report(A, S, B, initiator) of
        {ok, _, #{result := {error, Reason}}} -> {error, Reason};
        Ok -> Ok
    end.

await_report(Node, S, Peer, Role) ->
    receive
        {owner, Node, {lattice_ae, session, S, #{node := Peer, role := Role} = Report}} ->
            {ok, lists:sort(maps:get(keys, Report)), Report}
    after ?WAIT -> error({no_session_report, Node, S, Peer, Role})
    end.

owner(Node) ->
    Test = self(),
    spawn(fun() -> forward(Test, Node) end).

forward(Test, Node) ->
    receive
        stop -> ok;
        Msg -> Test ! {owner, Node, Msg}, forward(Test, Node)
    end.

owner_msg(Node, Kind) ->
    receive
        {owner, Node, {lattice_ae, Kind, _, _} = Msg} -> Msg
    after ?WAIT -> error({no_owner_message, Node, Kind})
    end.

flush_owner(Node) ->
    receive
        {owner, Node, _} -> flush_owner(Node)
    after 0 -> ok
    end.

kill_cnode(Node) ->
    OsPid = ?C:cnode_os_pid(Node),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok.
