%% The HTTP endpoint (lattice_http): off by default; /metrics parsed line by line against the
%% Prometheus text format and checked for seed 004's names; /status.json; the status page in
%% a real browser (Debian's headless Chromium): a screenshot decoded here (PNG signature, IHDR
%% size, IDAT inflated with zlib and unfiltered) must show the chart's colours, and the DOM the
%% script built must name the stores and the nodes. Two peer nodes replicate the default store.
-module(lattice_http_tests).

-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_peer_cluster).
-define(S, lattice_store).

%% ---- unit: the text format's pieces ----------------------------------------------------

escape_test() ->
    ?assertEqual(<<"a\\\"b\\\\c\\nd">>, lattice_metrics:escape(<<"a\"b\\c\nd">>)),
    ?assertEqual(<<"plain">>, lattice_metrics:escape("plain")).

render_escapes_labels_test() ->
    Snap = #{node => 'n"1@h', time_ms => 0, stores => #{'s\\x' => #{rows => 2, merge_conflicts => 1}},
             health => #{}, peers => #{}, cnode => {error, down}, crypto => {error, down}},
    Text = iolist_to_binary(lattice_metrics:render(Snap)),
    ?assertMatch({_, _}, binary:match(Text, <<"crdt_merge_conflicts_total{store=\"s\\\\x\",node=\"n\\\"1@h\"} 1\n">>)),
    ?assertMatch({_, _}, binary:match(Text, <<"lattice_cnode_up{node=\"n\\\"1@h\"} 0\n">>)),
    ok = check_exposition(Text).

json_test() ->
    ?assertEqual(<<"{\"a\":[1,2.5,\"x\\\"\\u003c\",true,null]}">>,
                 iolist_to_binary(lattice_status:json(#{a => [1, 2.5, <<"x\"<">>, true, null]}))).

%% ---- the endpoint on two peers ---------------------------------------------------------

endpoint_test_() ->
    {timeout, 300, fun endpoint/0}.

endpoint() ->
    _ = application:stop(lattice),
    Dist = ?C:ensure_distributed(),
    Repl = {replication, #{ae_interval_ms => 1000}},
    P1 = ?C:start_one(#{store => [Repl], http => #{port => 0, sample_interval_ms => 250}}),
    P2 = ?C:start_one(#{store => [Repl]}),
    [{_, N1}, {_, N2}] = Peers = [P1, P2],
    try
        true = erpc:call(N1, net_kernel, connect_node, [N2]),
        ?C:wait_until(peers, fun() ->
            maps:get(peers, erpc:call(N1, lattice_repl, stats, [?S])) =:= 1
        end),
        %% Off by default, on at run time (an ephemeral loopback port), and off again.
        ?assertEqual(undefined, erpc:call(N2, lattice_http, port, [])),
        {ok, P2Port} = erpc:call(N2, lattice_http, start, [#{port => 0}]),
        ?assertEqual({error, already_started}, erpc:call(N2, lattice_http, start, [#{port => 0}])),
        {200, _} = get(P2Port, "/metrics"),
        ok = erpc:call(N2, lattice_http, stop, []),
        ?assertEqual(undefined, erpc:call(N2, lattice_http, port, [])),
        ?assertMatch({error, _}, httpc_get(P2Port, "/metrics")),

        Port = erpc:call(N1, lattice_http, port, []),
        ?assert(is_integer(Port)),
        %% Writes on both nodes, over a few seconds, so the chart has lines: on N1 the deltas
        %% (sent and received) are about twice the writes, and the two lines do not coincide.
        [begin
             W = case I rem 2 of 0 -> N1; 1 -> N2 end,
             ok = erpc:call(W, ?S, create, [?S, {k, I}, g_counter]),
             {ok, _} = erpc:call(W, ?S, increment, [?S, {k, I}]),
             timer:sleep(20)
         end || I <- lists:seq(1, 100)],
        ?C:wait_until(replicated, fun() ->
            lists:all(fun(N) -> length(erpc:call(N, ?S, keys, [?S])) >= 100 end, [N1, N2])
        end),
        timer:sleep(1500),

        {200, Metrics} = get(Port, "/metrics"),
        ok = check_exposition(Metrics),
        Types = types(Metrics),
        [?assertEqual({Name, Type}, {Name, maps:get(Name, Types, missing)})
         || {Name, Type} <- [{<<"crdt_sync_latency_seconds">>, <<"gauge">>},
                             {<<"crdt_merge_conflicts_total">>, <<"counter">>},
                             {<<"crdt_peer_reachability">>, <<"gauge">>},
                             {<<"crdt_state_size_bytes">>, <<"gauge">>},
                             {<<"crdt_backpressure_drops_total">>, <<"counter">>},
                             {<<"crdt_circuit_breaker_opens_total">>, <<"counter">>},
                             {<<"crdt_sync_timeouts_total">>, <<"counter">>},
                             {<<"crdt_oversized_messages_total">>, <<"counter">>},
                             {<<"lattice_store_rows">>, <<"gauge">>},
                             {<<"lattice_store_deltas_sent_items_total">>, <<"counter">>},
                             {<<"lattice_replication_lag_seconds">>, <<"gauge">>},
                             {<<"lattice_crypto_seals_total">>, <<"counter">>},
                             {<<"lattice_cnode_up">>, <<"gauge">>},
                             {<<"lattice_cnode_sessions_started_total">>, <<"counter">>}]],
        Node1 = atom_to_binary(N1),
        ?assertMatch({_, _}, binary:match(Metrics, <<"lattice_store_rows{store=\"lattice_store\",node=\"",
                                                     Node1/binary, "\"} 100\n">>)),
        ?assertMatch({_, _}, binary:match(Metrics, <<"crdt_peer_reachability{store=\"lattice_store\",node=\"",
                                                     Node1/binary, "\"} 1.0\n">>)),

        {200, Json} = get(Port, "/status.json"),
        [?assertMatch({_, _}, binary:match(Json, atom_to_binary(N))) || N <- [N1, N2]],
        ?assertMatch({_, _}, binary:match(Json, <<"\"history\":[{">>)),
        {404, _} = get(Port, "/nope"),

        browser(Port, N1, N2)
    after
        ?C:stop(Peers),
        ?C:release_distribution(Dist)
    end.

browser(Port, N1, N2) ->
    case os:find_executable("chromium") of
        false ->
            io:format(user, "~nlattice_http_tests: browser check skipped: no chromium on PATH "
                      "(Debian package chromium, scripts/install-deps.sh)~n", []);
        Exe ->
            URL = "http://127.0.0.1:" ++ integer_to_list(Port) ++ "/status",
            Png = filename:join(tmp_dir(), "status.png"),
            _ = file:delete(Png),
            Flags = " --headless --no-sandbox --disable-gpu --hide-scrollbars"
                    " --window-size=1200,900 --virtual-time-budget=3000 ",
            Profile = " --user-data-dir=" ++ filename:join(tmp_dir(), "profile") ++ " ",
            _ = os:cmd(Exe ++ Flags ++ Profile ++ "--screenshot=" ++ Png ++ " " ++ URL ++ " 2>&1"),
            {ok, Bin} = file:read_file(Png),
            {W, H, Pixels} = decode_png(Bin),
            ?assertEqual({1200, 900}, {W, H}),
            %% Not blank: many colours, and the chart's two lines (#1f77b4, #ff7f0e) are drawn.
            Counts = colour_counts(Pixels),
            ?assert(maps:size(Counts) > 20),
            ?assert(near(Counts, {16#1f, 16#77, 16#b4}) > 200),
            ?assert(near(Counts, {16#ff, 16#7f, 16#0e}) > 200),
            Dom = os:cmd(Exe ++ Flags ++ Profile ++ "--dump-dom " ++ URL ++ " 2>/dev/null"),
            [?assertNotEqual(nomatch, string:find(Dom, S))
             || S <- ["<td>lattice_store</td>", atom_to_list(N1) ++ " (this node)",
                      "<td>" ++ atom_to_list(N2) ++ "</td>", "<path d=\"M"]],
            io:format(user, "~nlattice_http_tests: screenshot ~ts: ~bx~b, ~b colours~n",
                      [Png, W, H, maps:size(Counts)])
    end.

tmp_dir() ->
    D = filename:join(["/tmp", "lattice_http_tests_" ++ os:getpid()]),
    ok = filelib:ensure_path(D),
    D.

near(Counts, {R, G, B}) ->
    maps:fold(fun({R1, G1, B1}, N, Acc) when abs(R1 - R) < 24, abs(G1 - G) < 24, abs(B1 - B) < 24 ->
                      Acc + N;
                 (_, _, Acc) -> Acc
              end, 0, Counts).

%% ---- HTTP ------------------------------------------------------------------------------

get(Port, Path) ->
    {ok, {Code, Body}} = httpc_get(Port, Path),
    {Code, Body}.

httpc_get(Port, Path) ->
    {ok, _} = application:ensure_all_started(inets),
    URL = "http://127.0.0.1:" ++ integer_to_list(Port) ++ Path,
    case httpc:request(get, {URL, []}, [{timeout, 10000}], [{body_format, binary}]) of
        {ok, {{_, Code, _}, _Headers, Body}} -> {ok, {Code, Body}};
        {error, R} -> {error, R}
    end.

%% ---- the text format (0.0.4), line by line ---------------------------------------------

%% Every line is a HELP, a TYPE or a sample; a family's TYPE comes before its samples, at most
%% once; sample names belong to the family last typed.
check_exposition(Text) ->
    Lines = binary:split(Text, <<"\n">>, [global]),
    <<>> = lists:last(Lines),
    lists:foldl(fun check_line/2, #{typed => #{}, current => undefined}, lists:droplast(Lines)),
    ok.

check_line(<<"# HELP ", Rest/binary>>, St) ->
    [Name, _Help] = binary:split(Rest, <<" ">>),
    true = is_name(Name),
    St;
check_line(<<"# TYPE ", Rest/binary>>, #{typed := T} = St) ->
    [Name, Type] = binary:split(Rest, <<" ">>),
    true = is_name(Name),
    true = lists:member(Type, [<<"counter">>, <<"gauge">>, <<"histogram">>, <<"summary">>, <<"untyped">>]),
    false = maps:is_key(Name, T),
    St#{typed := T#{Name => Type}, current := Name};
check_line(Line, #{current := Cur} = St) ->
    {match, [Name, Labels, Value]} =
        re:run(Line, "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{.*\\})? ([^ ]+)$", [{capture, all_but_first, binary}]),
    Cur = Name,
    ok = check_labels(Labels),
    _ = number(Value),
    St.

check_labels(<<>>) -> ok;
check_labels(L) ->
    Pair = "[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\[\\\\\"n])*\"",
    {match, _} = re:run(L, "^\\{" ++ Pair ++ "(," ++ Pair ++ ")*\\}$"),
    ok.

is_name(N) -> re:run(N, "^[a-zA-Z_:][a-zA-Z0-9_:]*$") =/= nomatch.

number(V) ->
    try binary_to_integer(V)
    catch error:badarg -> binary_to_float(V)
    end.

types(Text) ->
    maps:from_list([{N, T} || <<"# TYPE ", R/binary>> <- binary:split(Text, <<"\n">>, [global]),
                              [N, T] <- [binary:split(R, <<" ">>)]]).

%% ---- PNG -------------------------------------------------------------------------------

%% {Width, Height, [{R, G, B}]} of an 8-bit RGB or RGBA, non-interlaced PNG.
decode_png(<<137, "PNG", 13, 10, 26, 10, Chunks/binary>>) ->
    {ihdr, W, H, 8, Colour, 0} = ihdr(Chunks),
    Bpp = case Colour of 2 -> 3; 6 -> 4 end,
    Data = zlib:uncompress(iolist_to_binary(idat(Chunks))),
    Rows = unfilter(Data, W * Bpp, Bpp, binary:copy(<<0>>, W * Bpp), []),
    H = length(Rows),
    {W, H, lists:append([pixels(R, Bpp) || R <- Rows])}.

ihdr(<<13:32, "IHDR", W:32, H:32, Depth, Colour, _Comp, _Filter, Interlace, _Crc:32, _/binary>>) ->
    {ihdr, W, H, Depth, Colour, Interlace}.

idat(<<>>) -> [];
idat(<<Len:32, Type:4/binary, Data:Len/binary, _Crc:32, Rest/binary>>) ->
    case Type of
        <<"IDAT">> -> [Data | idat(Rest)];
        _ -> idat(Rest)
    end.

unfilter(<<>>, _Stride, _Bpp, _Prev, Acc) -> lists:reverse(Acc);
unfilter(<<F, Row0/binary>>, Stride, Bpp, Prev, Acc) ->
    <<Row:Stride/binary, Rest/binary>> = Row0,
    Out = unfilter_row(F, Row, Prev, Bpp),
    unfilter(Rest, Stride, Bpp, Out, [Out | Acc]).

unfilter_row(0, Row, _Prev, _Bpp) -> Row;
unfilter_row(2, Row, Prev, _Bpp) ->
    << <<((X + B) band 255)>> || {X, B} <- lists:zip(binary_to_list(Row), binary_to_list(Prev)) >>;
unfilter_row(F, Row, Prev, Bpp) ->
    Ups = binary_to_list(Prev),
    list_to_binary(row(F, binary_to_list(Row), Ups, lists:duplicate(Bpp, 0), lists:duplicate(Bpp, 0), [])).

%% Left and UpLeft are the last Bpp bytes decoded (and their up), oldest first.
row(_F, [], [], _Left, _UpLeft, Acc) -> lists:reverse(Acc);
row(F, [X | Xs], [B | Bs], [A | As], [C | Cs], Acc) ->
    P = case F of
            1 -> A;
            3 -> (A + B) div 2;
            4 -> paeth(A, B, C)
        end,
    V = (X + P) band 255,
    row(F, Xs, Bs, As ++ [V], Cs ++ [B], [V | Acc]).

paeth(A, B, C) ->
    P = A + B - C,
    PA = abs(P - A), PB = abs(P - B), PC = abs(P - C),
    if PA =< PB, PA =< PC -> A;
       PB =< PC -> B;
       true -> C
    end.

pixels(Row, 3) -> [{R, G, B} || <<R, G, B>> <= Row];
pixels(Row, 4) -> [{R, G, B} || <<R, G, B, _>> <= Row].

colour_counts(Pixels) ->
    lists:foldl(fun(P, M) -> maps:update_with(P, fun(N) -> N + 1 end, 1, M) end, #{}, Pixels).
