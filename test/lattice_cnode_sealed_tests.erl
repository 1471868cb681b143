%% EUnit tests of the C node's sealed sessions (docs/CNODE.md, section 3a; protocol 3): two real
%% C nodes started from this VM with the same key converge and report exactly the differing
%% keys; a wrong key, a key on one side only, require_keys without a key, and a rogue C node
%% (build/tools/lt_rogue_peer: a plain HELLO, the wrong key, a replayed HELLO, a flipped bit, a
%% plain message injected into a sealed session) are refused and counted, reveal nothing of the
%% tree and make no false report; honest sessions work afterwards; keys change between sessions
%% and while one runs.
%%
%% Needs epmd on loopback (scripts/ensure-epmd.sh).
-module(lattice_cnode_sealed_tests).

-include_lib("eunit/include/eunit.hrl").

-define(DEADLINE_MS, 10000).
-define(ST, <<"store">>).

sealed_test_() ->
    {setup, fun setup/0, fun cleanup/1, fun(Env) ->
        [
            {timeout, 120, {Title, fun() -> Test(Env) end}}
         || {Title, Test} <- [
                {"the owner requests: set_peer_key, clear_peer_key, require_keys, errors",
                    fun requests/1},
                {"the same key on both sides: exact differences, sealed, both ways",
                    fun same_key_exact/1},
                {"the wrong key, a key on one side only: refused both ways, counted",
                    fun wrong_and_one_sided_keys/1},
                {"require_keys without a key: sync refused, a plain HELLO refused",
                    fun require_keys/1},
                {"a rogue C node: plain, wrong key, replay, flip, plaintext injected; "
                 "then the honest session works",
                    fun rogue/1},
                {"keys change between sessions and while one runs", fun rekey/1}
            ]
        ]
    end}.

setup() ->
    Started =
        case is_alive() of
            true ->
                false;
            false ->
                Name = list_to_atom("lattice_sealed_test_" ++ os:getpid() ++ "_" ++
                                        integer_to_list(erlang:unique_integer([positive]))),
                {ok, _} = net_kernel:start([Name, shortnames]),
                true
        end,
    Exe = lattice_cnode:executable(),
    Opts =
        case filelib:is_regular(Exe) of
            true -> #{};
            false -> #{executable => filename:absname("priv/lattice_cnode")}
        end,
    #{started => Started, opts => Opts}.

cleanup(#{started := Started}) ->
    case Started of
        true -> ok = net_kernel:stop();
        false -> ok
    end.

%%--------------------------------------------------------------------------------------------
%% Tests

requests(Env) ->
    with_pair(Env, fun(A, B) ->
        K = key32(1),
        PB = node_name(B),
        ?assertEqual(ok, lattice_cnode:set_peer_key(A, ?ST, PB, K)),
        ?assertEqual(ok, lattice_cnode:set_peer_key(A, ?ST, PB, key32(2))),
        ?assertMatch({ok, #{gauges := #{peer_keys := 1}}}, lattice_cnode:stats(A)),
        ?assertEqual({error, no_store}, lattice_cnode:set_peer_key(A, <<"nope">>, PB, K)),
        ?assertEqual({error, badarg}, call(A, {set_peer_key, ?ST, PB, <<1, 2, 3>>})),
        ?assertEqual({error, badarg}, call(A, {set_peer_key, ?ST, no_at_sign, K})),
        ?assertEqual({error, badarg}, call(A, {set_peer_key, ?ST, "list", K})),
        ?assertEqual({error, badarg}, call(A, {require_keys, ?ST, maybe})),
        ?assertEqual(ok, lattice_cnode:require_keys(A, ?ST, true)),
        ?assertEqual(ok, lattice_cnode:require_keys(A, ?ST, false)),
        ?assertEqual({error, no_store}, lattice_cnode:require_keys(A, <<"nope">>, true)),
        ?assertEqual(ok, lattice_cnode:clear_peer_key(A, ?ST, PB)),
        ?assertEqual(ok, lattice_cnode:clear_peer_key(A, ?ST, PB)),
        ?assertMatch({ok, #{gauges := #{peer_keys := 0}}}, lattice_cnode:stats(A)),
        %% Keys go with their store.
        ok = lattice_cnode:set_peer_key(A, ?ST, PB, K),
        ok = lattice_cnode:drop(A, ?ST),
        ?assertMatch({ok, #{gauges := #{peer_keys := 0}}}, lattice_cnode:stats(A))
    end).

same_key_exact(Env) ->
    with_pair(Env, fun(A, B) ->
        rand:seed(exsss, 5),
        Base = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, 20000)]),
        {MA, MB} = diverge(Base, Base, 60),
        feed(A, maps:to_list(MA)),
        feed(B, maps:to_list(MB)),
        %% Unsealed first, to compare.
        Plain = session(A, B),
        ?assertMatch(#{sealed := false}, Plain),
        share_key(A, B, key32(7)),
        Sealed = session(A, B),
        ?assertMatch(#{sealed := true, result := differ}, Sealed),
        ?assertEqual(lists:sort(expected(MA, MB)), lists:sort(maps:get(keys, Sealed))),
        ?assertEqual(lists:sort(maps:get(keys, Plain)), lists:sort(maps:get(keys, Sealed))),
        %% Each message carries a counter and a tag (and the first of each side a salt).
        Over = maps:get(payload_out, Sealed) - maps:get(payload_out, Plain),
        ?assertEqual(24 * maps:get(msgs_out, Sealed) + 16, Over),
        %% The other way round, the mirror image.
        Back = session(B, A),
        ?assertMatch(#{sealed := true}, Back),
        ?assertEqual(lists:sort(mirror(maps:get(keys, Sealed))), lists:sort(maps:get(keys, Back))),
        %% Equal trees, sealed: one round trip.
        feed(B, maps:to_list(MA) ++ [{K, delete} || K <- maps:keys(MB), not maps:is_key(K, MA)]),
        ?assertMatch(#{result := equal, sealed := true, round_trips := 1}, session(A, B)),
        {ok, #{counters := CA}} = lattice_cnode:stats(A),
        {ok, #{counters := CB}} = lattice_cnode:stats(B),
        ?assertMatch(#{sessions_sealed := 3, sealed_refused := 0, sealed_replayed := 0,
                       plaintext_refused := 0, no_key_refused := 0}, CA),
        ?assert(maps:get(msgs_sealed, CA) > 0 andalso maps:get(msgs_opened, CA) > 0),
        ?assertEqual(maps:get(msgs_sealed, CA), maps:get(msgs_opened, CB)),
        ?assertEqual(maps:get(msgs_sealed, CB), maps:get(msgs_opened, CA))
    end).

wrong_and_one_sided_keys(Env) ->
    with_pair(Env, fun(A, B) ->
        KVs = [{key(I), digest(I)} || I <- lists:seq(1, 2000)],
        feed(A, KVs),
        feed(B, tl(KVs)),
        PA = node_name(A),
        PB = node_name(B),
        %% The wrong key: B cannot open the HELLO.
        ok = lattice_cnode:set_peer_key(A, ?ST, PB, key32(1)),
        ok = lattice_cnode:set_peer_key(B, ?ST, PA, key32(2)),
        ?assertMatch(#{result := {error, bad_seal}, keys := []}, session(A, B)),
        ?assertMatch(#{sealed_refused := 1}, counters(B)),
        ?assertMatch(#{result := {error, bad_seal}}, session(B, A)),
        ?assertMatch(#{sealed_refused := 1}, counters(A)),
        %% A key on A's side only: B holds none for A.
        ok = lattice_cnode:clear_peer_key(B, ?ST, PA),
        ?assertMatch(#{result := {error, no_key}}, session(A, B)),
        ?assertMatch(#{no_key_refused := 1}, counters(B)),
        %% ... and B, keyless, starting one: A holds a key for B, so a plain HELLO is refused.
        ?assertMatch(#{result := {error, no_key}}, session(B, A)),
        ?assertMatch(#{plaintext_refused := 1}, counters(A)),
        %% The right keys: it works.
        share_key(A, B, key32(3)),
        ?assertMatch(#{result := differ, sealed := true, keys := [{_, local_only}]}, session(A, B))
    end).

require_keys(Env) ->
    with_pair(Env, fun(A, B) ->
        feed(A, [{key(1), digest(1)}]),
        ok = lattice_cnode:require_keys(B, ?ST, true),
        %% B starts nothing without a key.
        ?assertEqual({error, no_key}, lattice_cnode:sync(B, ?ST, node_name(A))),
        %% A's plain HELLO is refused.
        ?assertMatch(#{result := {error, no_key}, keys := []}, session(A, B)),
        ?assertMatch(#{no_key_refused := 2}, counters(B)),
        share_key(A, B, key32(4)),
        ?assertMatch(#{result := differ, sealed := true}, session(A, B)),
        ?assertMatch(#{result := differ, sealed := true}, session(B, A))
    end).

rogue(#{opts := _} = Env) ->
    Tool = rogue_tool(),
    with_pair(Env, fun(A, B) ->
        KVs = [{key(I), digest(I)} || I <- lists:seq(1, 3000)],
        feed(A, KVs),
        feed(B, lists:sublist(KVs, 2990)),
        CB = node_name(B),
        [_, Host] = string:split(atom_to_list(CB), "@"),
        Unique = integer_to_list(erlang:unique_integer([positive])),
        Rogue = list_to_atom("rogue_sealed_" ++ Unique ++ "@" ++ Host),
        Keyless = "rogue_keyless_" ++ Unique ++ "@" ++ Host,
        K = key32(9),
        Hex = binary:encode_hex(K),
        WrongHex = binary:encode_hex(key32(10)),
        Empty = <<"empty">>,
        ok = lattice_cnode:open(B, Empty, 1),
        %% B, secure: it requires keys and holds one for the rogue's name (as if a certified
        %% node ran there), and the real one for A.
        [ok = lattice_cnode:require_keys(B, S, true) || S <- [?ST, Empty]],
        [ok = lattice_cnode:set_peer_key(B, S, Rogue, K) || S <- [?ST, Empty]],
        ok = lattice_cnode:set_peer_key(B, ?ST, node_name(A), key32(11)),
        ok = lattice_cnode:set_peer_key(A, ?ST, CB, key32(11)),
        %% B's tree holds its store at levels 4; the rogue says levels 1: with the right key it
        %% gets ABORT levels_mismatch (sealed); so the scenarios that need an answer use the
        %% levels-1 store `empty' with a count of 1 (CHILDREN back), and `equal' gets EQUAL.
        Run = fun(How, Name, Store, KeyHex) ->
            rogue_lines(Tool, ["sealed", How, Name, atom_to_list(CB), binary_to_list(Store),
                               binary_to_list(KeyHex)])
        end,
        R = atom_to_list(Rogue),
        Before = counters(B),
        %% The positive control: the tool speaks the protocol (EQUAL, sealed, opened).
        ?assertEqual([<<"got 2 8 sealed opened 0">>], Run("equal", R, Empty, Hex)),
        %% A plain HELLO for a keyed peer: ABORT no_key (9), in the clear; nothing else.
        ?assertEqual([<<"got 7 0 plain unopened 9">>], Run("plain", R, ?ST, Hex)),
        %% The wrong key: ABORT bad_seal (10); nothing of the tree.
        ?assertEqual([<<"got 7 0 plain unopened 10">>], Run("sealed", R, ?ST, WrongHex)),
        ?assertEqual([<<"got 7 0 plain unopened 10">>], Run("sealed", R, Empty, WrongHex)),
        %% A node without any key: no_key.
        ?assertEqual([<<"got 7 0 plain unopened 9">>], Run("sealed", Keyless, Empty, Hex)),
        %% With the key, the session starts (CHILDREN), then: the HELLO replayed into it, a
        %% flipped bit, a plain message: each refused with a sealed ABORT bad_seal.
        Answer = <<"got 3 8 sealed opened 0">>,
        Refused = <<"got 7 8 sealed opened 10">>,
        ?assertEqual([Answer, Refused], Run("replay", R, Empty, Hex)),
        ?assertEqual([Answer, Refused], Run("flip", R, Empty, Hex)),
        ?assertEqual([Answer, Refused], Run("inject", R, Empty, Hex)),
        After = counters(B),
        Delta = fun(C) -> maps:get(C, After) - maps:get(C, Before) end,
        ?assertEqual(2, Delta(plaintext_refused)),
        ?assertEqual(3, Delta(sealed_refused)),
        ?assertEqual(1, Delta(sealed_replayed)),
        ?assertEqual(1, Delta(no_key_refused)),
        %% B's owner was told of the rogue's sessions: none with keys, none `differ'.
        Reports = rogue_reports(Rogue, []),
        ?assertEqual(4, length(Reports)),
        [?assertMatch(#{keys := []}, Rep) || Rep <- Reports],
        ?assertEqual(
            lists:sort([equal, {error, replay}, {error, bad_seal}, {error, plaintext}]),
            lists:sort([maps:get(result, Rep) || Rep <- Reports])
        ),
        %% The honest session still works, exactly.
        Honest = session(A, B),
        ?assertMatch(#{sealed := true, result := differ}, Honest),
        ?assertEqual(
            lists:sort([{key(I), local_only} || I <- lists:seq(2991, 3000)]),
            lists:sort(maps:get(keys, Honest))
        )
    end).

rekey(Env) ->
    with_pair(Env, fun(A, B) ->
        feed(A, [{key(I), digest(I)} || I <- lists:seq(1, 500)]),
        share_key(A, B, key32(20)),
        ?assertMatch(#{sealed := true, result := differ}, session(A, B)),
        %% A new key on both sides: the next sessions use it.
        share_key(A, B, key32(21)),
        ?assertMatch(#{sealed := true, result := differ}, session(A, B)),
        ?assertMatch(#{sealed := true, result := differ}, session(B, A)),
        %% Mid-session: a session waits in its confirm pass (300 ms) while both keys change;
        %% it finishes under the key it started with, and the next one runs under the new.
        ok = lattice_cnode:set_limits(A, #{confirm_delay_ms => 300}),
        ok = lattice_cnode:set_limits(B, #{confirm_delay_ms => 300}),
        {ok, Id} = lattice_cnode:sync(A, ?ST, node_name(B)),
        timer:sleep(100),
        share_key(A, B, key32(22)),
        RA = report(Id, initiator),
        ?assertMatch(#{sealed := true, result := differ}, RA),
        ?assertEqual(500, length(maps:get(keys, RA))),
        _ = report(Id, responder),
        ?assertMatch(#{sealed := true, result := differ}, session(A, B)),
        %% A rekey on one side only is a wrong key until the other follows.
        ok = lattice_cnode:set_peer_key(A, ?ST, node_name(B), key32(23)),
        ?assertMatch(#{result := {error, bad_seal}}, session(A, B)),
        ok = lattice_cnode:set_peer_key(B, ?ST, node_name(A), key32(23)),
        ?assertMatch(#{sealed := true, result := differ}, session(A, B))
    end).

%%--------------------------------------------------------------------------------------------
%% Helpers

with_pair(#{opts := Opts}, Fun) ->
    Limits = #{confirm_delay_ms => 0},
    {ok, A} = lattice_cnode:start(Opts#{limits => Limits}),
    {ok, B} = lattice_cnode:start(Opts#{limits => Limits}),
    try
        ok = lattice_cnode:open(A, ?ST, 4),
        ok = lattice_cnode:open(B, ?ST, 4),
        Fun(A, B)
    after
        lattice_cnode:stop(A),
        lattice_cnode:stop(B),
        flush_reports()
    end.

share_key(A, B, K) ->
    ok = lattice_cnode:set_peer_key(A, ?ST, node_name(B), K),
    ok = lattice_cnode:set_peer_key(B, ?ST, node_name(A), K).

key32(I) -> crypto:hash(sha256, <<"ae key", I:32>>).

node_name(S) -> lattice_cnode:node_name(S).

call(S, Op) ->
    {ok, R} = lattice_cnode:request(S, Op, 5000),
    R.

counters(S) ->
    {ok, #{counters := C}} = lattice_cnode:stats(S),
    C.

key(I) -> <<"key-", (integer_to_binary(I))/binary>>.

digest(I) -> <<(erlang:phash2({d, I})):64, I:64/signed>>.

feed(_, []) ->
    ok;
feed(S, KVs) ->
    {Batch, Rest} = lists:split(min(5000, length(KVs)), KVs),
    Entries = [
        case D of
            delete -> {delete, K};
            _ -> {put, K, D}
        end
     || {K, D} <- Batch
    ],
    {ok, N} = lattice_cnode:update(S, ?ST, Entries),
    ?assertEqual(length(Batch), N),
    feed(S, Rest).

%% A session from A to B; A's report, B's checked to agree when it succeeded.
session(A, B) ->
    {ok, Id} = lattice_cnode:sync(A, ?ST, node_name(B)),
    RA = report(Id, initiator),
    case RA of
        #{result := {error, _}} ->
            flush_reports(),
            RA;
        _ ->
            RB = report(Id, responder),
            ?assertEqual(maps:get(sealed, RA), maps:get(sealed, RB)),
            ?assertEqual(lists:sort(mirror(maps:get(keys, RA))), lists:sort(maps:get(keys, RB))),
            ?assertEqual(maps:get(payload_out, RA), maps:get(payload_in, RB)),
            ?assertEqual(maps:get(payload_in, RA), maps:get(payload_out, RB)),
            RA
    end.

report(Id, Role) ->
    receive
        {lattice_cnode, session, _, #{id := Id, role := Role} = R} -> R
    after ?DEADLINE_MS -> error({no_report, Id, Role})
    end.

flush_reports() ->
    receive
        {lattice_cnode, session, _, _} -> flush_reports()
    after 100 -> ok
    end.

rogue_reports(Rogue, Acc) ->
    receive
        {lattice_cnode, session, _, #{peer := Rogue} = R} -> rogue_reports(Rogue, [R | Acc])
    after 500 -> lists:reverse(Acc)
    end.

mirror(Keys) ->
    [{K, case S of local_only -> remote_only; remote_only -> local_only; differs -> differs end}
     || {K, S} <- Keys].

expected(MA, MB) ->
    [{K, differs} || {K, D} <- maps:to_list(MA), maps:is_key(K, MB), maps:get(K, MB) =/= D] ++
        [{K, local_only} || K <- maps:keys(MA), not maps:is_key(K, MB)] ++
        [{K, remote_only} || K <- maps:keys(MB), not maps:is_key(K, MA)].

diverge(MA, MB, D) ->
    lists:foldl(
        fun(_, {A, B}) ->
            I = rand:uniform(30000),
            K = key(I),
            V = digest(rand:uniform(1 bsl 30)),
            case rand:uniform(4) of
                1 -> {A#{K => V}, B};
                2 -> {A, B#{K => V}};
                3 -> {maps:remove(K, A), B};
                4 -> {A, maps:remove(K, B)}
            end
        end,
        {MA, MB},
        lists:seq(1, D)
    ).

rogue_tool() ->
    Path = "build/tools/lt_rogue_peer",
    _ = os:cmd("make -s " ++ Path),
    ?assert(filelib:is_regular(Path)),
    filename:absname(Path).

%% Runs the tool until it holds; the "got ..." lines it printed.
rogue_lines(Tool, Args) ->
    Port = open_port({spawn_executable, Tool}, [
        {args, Args}, {env, [{"LATTICE_COOKIE", atom_to_list(erlang:get_cookie())}]},
        {line, 256}, use_stdio, binary, exit_status
    ]),
    Lines = rogue_collect(Port, Args, []),
    port_close(Port),
    Lines.

rogue_collect(Port, Args, Acc) ->
    receive
        {Port, {data, {eol, <<"holding">>}}} -> lists:reverse(Acc);
        {Port, {data, {eol, Line}}} -> rogue_collect(Port, Args, [Line | Acc]);
        {Port, {exit_status, S}} -> error({rogue_exited, S, Args, lists:reverse(Acc)})
    after ?DEADLINE_MS -> error({rogue_not_holding, Args, lists:reverse(Acc)})
    end.
