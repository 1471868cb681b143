%% @doc The status page's content: a summary of `lattice_metrics:snapshot/0' and the sampler's
%% history as a JSON document (`/status.json') and as a self-contained HTML page (`/status':
%% inline CSS and script, no external assets) that draws it and polls the JSON every 2 s.
%%
%% The summary: this node and the others it sees (connected or not, from the stores' peers),
%% per store its keys, bytes, replication lag, anti-entropy sessions and repairs, health and
%% the breaker state of each peer; the C node's sessions and breakers; the throughput history.
-module(lattice_status).

-export([summary/0, summary/2, json/1, html/1]).

-type json() :: null | boolean() | number() | binary() | atom() | [json()] | #{atom() | binary() => json()}.
-export_type([json/0]).

%% @doc The summary of this node, now.
-spec summary() -> #{atom() => json()}.
summary() -> summary(lattice_metrics:snapshot(), lattice_sampler:history()).

%% @doc The summary of `Snapshot' with the throughput `History' (`lattice_sampler:history/0').
-spec summary(lattice_metrics:snapshot(), [lattice_sampler:point()]) -> #{atom() => json()}.
summary(#{node := Node, stores := Stores, health := Health, peers := Peers} = Snap, History) ->
    PeerNodes = lists:usort([P || {_, Ps} <- maps:to_list(Peers), P <- maps:keys(Ps), is_atom(P)]),
    Connected = nodes(),
    NodeRows = [#{name => Node, self => true, reachable => true}] ++
        [#{name => P, self => false, reachable => lists:member(P, Connected)}
         || P <- lists:usort(PeerNodes ++ Connected), P =/= Node],
    StoreRows = [store_row(S, St, maps:get(S, Health, null), maps:get(S, Peers, #{}))
                 || {S, St} <- lists:sort(maps:to_list(Stores))],
    CNode = case maps:get(cnode, Snap) of
                #{gauges := G, counters := C} = CN ->
                    #{up => true, sessions => maps:get(sessions, G, 0),
                      sessions_completed => maps:get(sessions_completed, C, 0),
                      keys_reported => maps:get(keys_reported, C, 0),
                      breaker_trips => maps:get(breaker_trips, C, 0),
                      breakers => length(maps:get(breakers, CN, []))};
                _ -> #{up => false}
            end,
    #{node => Node, time_ms => maps:get(time_ms, Snap), nodes => NodeRows, stores => StoreRows,
      cnode => CNode,
      history => [#{t => T, writes => W, deltas => D} || #{t := T, writes := W, deltas := D} <- History]}.

store_row(Store, St, Health, Peers) ->
    Lag = case maps:get(replication_lag_ms, St, #{}) of #{} = L -> L; _ -> #{} end,
    #{name => Store, keys => maps:get(rows, St, 0), bytes => maps:get(table_bytes, St, 0),
      replication => maps:get(replication, St, false),
      health => case Health of {H, _} -> H; _ -> null end,
      lag_ms => #{p50 => maps:get(p50, Lag, 0), p99 => maps:get(p99, Lag, 0), max => maps:get(max, Lag, 0)},
      ae_sessions => maps:get(ae_sessions, St, 0), keys_repaired => maps:get(keys_repaired, St, 0),
      repairs_sent => maps:get(repairs_sent, St, 0), repairs_received => maps:get(repairs_received, St, 0),
      breaker_opens => maps:get(breaker_opens, St, 0),
      peers => [#{node => P, breaker => breaker(maps:get(breaker, I, closed))}
                || {P, I} <- lists:sort(maps:to_list(Peers)), is_atom(P), is_map(I)]}.

breaker(B) when is_atom(B) -> B;
breaker(B) when is_tuple(B), is_atom(element(1, B)) -> element(1, B);
breaker(_) -> unknown.

%% @doc `Term' as JSON text: maps are objects, lists arrays, atoms strings (but `true',
%% `false' and `null'), binaries strings.
-spec json(json()) -> iodata().
json(null) -> <<"null">>;
json(true) -> <<"true">>;
json(false) -> <<"false">>;
json(I) when is_integer(I) -> integer_to_binary(I);
json(F) when is_float(F) -> float_to_binary(F, [{decimals, 3}, compact]);
json(A) when is_atom(A) -> str(atom_to_binary(A));
json(B) when is_binary(B) -> str(B);
json(L) when is_list(L) -> [$[, lists:join($,, [json(X) || X <- L]), $]];
json(M) when is_map(M) ->
    [${, lists:join($,, [[str(key(K)), $:, json(V)] || {K, V} <- lists:sort(maps:to_list(M))]), $}].

key(K) when is_atom(K) -> atom_to_binary(K);
key(K) when is_binary(K) -> K.

str(B) -> [$", << <<(jesc(C))/binary>> || <<C/utf8>> <= B >>, $"].

jesc($") -> <<"\\\"">>;
jesc($\\) -> <<"\\\\">>;
jesc($<) -> <<"\\u003c">>;
jesc(C) when C < 16#20 -> iolist_to_binary(io_lib:format("\\u~4.16.0b", [C]));
jesc(C) -> <<C/utf8>>.

%% @doc The status page, with `Summary' inlined so it draws without a request.
-spec html(#{atom() => json()}) -> iodata().
html(Summary) ->
    [<<"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<title>lattice status</title><style>">>, css(), <<"</style></head><body>"
       "<h1>lattice <span id=\"node\"></span></h1>"
       "<section><h2>Throughput (last minutes)</h2>"
       "<svg id=\"chart\" width=\"1000\" height=\"220\" viewBox=\"0 0 1000 220\"></svg>"
       "<p class=\"legend\"><span class=\"w\">&#9632; writes/s</span> "
       "<span class=\"d\">&#9632; deltas/s</span> <span id=\"rates\"></span></p></section>"
       "<section><h2>Nodes</h2><table id=\"nodes\"></table></section>"
       "<section><h2>Stores</h2><table id=\"stores\"></table></section>"
       "<section><h2>C node</h2><table id=\"cnode\"></table></section>"
       "<script>const INITIAL = ">>, json(Summary), <<";\n">>, script(),
     <<"</script></body></html>\n">>].

css() ->
    <<"body{font-family:sans-serif;margin:20px;background:#fafafa;color:#222}"
      "h1{font-size:22px}h2{font-size:16px;margin:14px 0 6px}"
      "table{border-collapse:collapse;background:#fff}"
      "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
      "th{background:#eee}.ok{color:#1a7f37}.bad{color:#c62828;font-weight:bold}"
      "svg{background:#fff;border:1px solid #ccc}"
      ".w{color:#1f77b4}.d{color:#ff7f0e}.legend{font-size:13px}">>.

script() ->
    <<"function el(t,c){const e=document.createElement(t);if(c!==undefined)e.textContent=c;return e}\n"
      "function table(id,head,rows){const t=document.getElementById(id);t.innerHTML='';"
      "const h=el('tr');head.forEach(x=>h.appendChild(el('th',x)));t.appendChild(h);"
      "rows.forEach(r=>{const tr=el('tr');r.forEach(x=>{const td=el('td');"
      "if(x&&x.cls){td.textContent=x.text;td.className=x.cls}else td.textContent=String(x);"
      "tr.appendChild(td)});t.appendChild(tr)})}\n"
      "function line(svg,pts,key,max,color,w){if(pts.length<2)return;const n=pts.length;"
      "const t0=pts[0].t,sp=Math.max(1,pts[n-1].t-t0);"
      "const d=pts.map((p,i)=>(i?'L':'M')+(40+(p.t-t0)*950/sp).toFixed(1)+','+(200-p[key]/max*180).toFixed(1)).join(' ');"
      "const p=document.createElementNS('http://www.w3.org/2000/svg','path');"
      "p.setAttribute('d',d);p.setAttribute('fill','none');p.setAttribute('stroke',color);"
      "p.setAttribute('stroke-width',w);svg.appendChild(p)}\n"
      "function chart(h){const svg=document.getElementById('chart');svg.innerHTML='';"
      "const ns='http://www.w3.org/2000/svg';"
      "let max=1;h.forEach(p=>{max=Math.max(max,p.writes,p.deltas)});"
      "const ax=document.createElementNS(ns,'path');ax.setAttribute('d','M40,10 L40,200 L990,200');"
      "ax.setAttribute('stroke','#888');ax.setAttribute('fill','none');svg.appendChild(ax);"
      "const lb=document.createElementNS(ns,'text');lb.setAttribute('x','2');lb.setAttribute('y','20');"
      "lb.setAttribute('font-size','12');lb.textContent=Math.round(max);svg.appendChild(lb);"
      %% writes/s wide underneath, deltas/s narrow on top: equal rates (a delta per write) show both
      "line(svg,h,'writes',max,'#1f77b4','7');line(svg,h,'deltas',max,'#ff7f0e','3');"
      "const last=h.length?h[h.length-1]:{writes:0,deltas:0};"
      "document.getElementById('rates').textContent='now: '+last.writes.toFixed(1)+' writes/s, '+last.deltas.toFixed(1)+' deltas/s ('+h.length+' samples)'}\n"
      "function ok(b,t){return {text:t,cls:b?'ok':'bad'}}\n"
      "function draw(s){document.getElementById('node').textContent=s.node;"
      "table('nodes',['node','reachable'],s.nodes.map(n=>[n.name+(n.self?' (this node)':''),ok(n.reachable,n.reachable?'yes':'no')]));"
      "table('stores',['store','keys','bytes','replication','health','lag p50/p99/max ms','AE sessions','keys repaired','repairs sent/received','breaker opens','peers (breaker)'],"
      "s.stores.map(x=>[x.name,x.keys,x.bytes,x.replication?'on':'off',x.health===null?'-':ok(x.health==='healthy',x.health),"
      "x.lag_ms.p50+' / '+x.lag_ms.p99+' / '+x.lag_ms.max,x.ae_sessions,x.keys_repaired,x.repairs_sent+' / '+x.repairs_received,x.breaker_opens,"
      "x.peers.length?x.peers.map(p=>p.node+' ('+p.breaker+')').join(', '):'-']));"
      "table('cnode',['up','sessions','sessions completed','keys reported','breaker trips','breakers'],"
      "[s.cnode.up?[ok(true,'yes'),s.cnode.sessions,s.cnode.sessions_completed,s.cnode.keys_reported,s.cnode.breaker_trips,s.cnode.breakers]:[ok(false,'no'),'-','-','-','-','-']]);"
      "chart(s.history)}\n"
      "draw(INITIAL);\n"
      "setInterval(()=>{fetch('status.json').then(r=>r.json()).then(draw).catch(()=>{})},2000);\n">>.
