%% @doc The optional HTTP endpoint: `/metrics' (Prometheus text, `lattice_metrics'),
%% `/status' (an HTML page) and `/status.json' (`lattice_status'), served by OTP's `httpd'.
%%
%% Off by default. It starts with the application when its environment has
%% `{http, #{port => Port}}' (and optionally `ip', `{127,0,0,1}' by default, and
%% `sample_interval_ms'), or at run time with {@link start/1}. It binds to loopback unless told
%% otherwise and has no authentication: docs/OBSERVABILITY.md, "Security".
%%
%% httpd runs as a service of the `inets' application, started here when needed. This module
%% is also the `httpd' callback module (`do/1') answering the three paths.
-module(lattice_http).
-behaviour(gen_server).

-include_lib("inets/include/httpd.hrl").

-export([start/1, stop/0, port/0, child_spec/1, start_link/1, configured/0]).
-export([do/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(SERVER, ?MODULE).

-type options() :: #{port => inet:port_number(), ip => inet:ip_address(),
                     sample_interval_ms => pos_integer()}.
-export_type([options/0]).

%% @doc Starts the endpoint under lattice's supervisor (port `0': an ephemeral port):
%% `{ok, Port}', or `{error, Reason}' (`already_started', or the listen error).
-spec start(options()) -> {ok, inet:port_number()} | {error, term()}.
start(Opts) when is_map(Opts) ->
    case supervisor:start_child(lattice_sup, child_spec(Opts)) of
        {ok, _} -> {ok, port()};
        {error, {already_started, _}} -> {error, already_started};
        {error, already_present} ->
            _ = supervisor:delete_child(lattice_sup, ?SERVER),
            start(Opts);
        {error, {Reason, _Child}} -> {error, Reason};
        {error, Reason} -> {error, Reason}
    end.

%% @doc Stops the endpoint started by {@link start/1} or by the application environment.
-spec stop() -> ok | {error, not_started}.
stop() ->
    case supervisor:terminate_child(lattice_sup, ?SERVER) of
        ok -> _ = supervisor:delete_child(lattice_sup, ?SERVER), ok;
        {error, not_found} -> {error, not_started}
    end.

%% @doc The port the endpoint listens on, or `undefined' when it does not run.
-spec port() -> inet:port_number() | undefined.
port() ->
    try gen_server:call(?SERVER, port)
    catch exit:_ -> undefined
    end.

%% @doc The options of the application environment's `http' key, `undefined' without one.
-spec configured() -> options() | undefined.
configured() ->
    case application:get_env(lattice, http) of
        {ok, #{} = Opts} -> Opts;
        _ -> undefined
    end.

%% @doc The child specification (a worker owning httpd and the sampler).
-spec child_spec(options()) -> supervisor:child_spec().
child_spec(Opts) ->
    #{id => ?SERVER, start => {?MODULE, start_link, [Opts]}, shutdown => 5000}.

%% @private
-spec start_link(options()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, Opts, []).

%% ---- gen_server -------------------------------------------------------------------------

%% @private
init(Opts) ->
    process_flag(trap_exit, true),
    Port = maps:get(port, Opts, 0),
    IP = maps:get(ip, Opts, {127, 0, 0, 1}),
    Root = filename:basedir(user_cache, "lattice_http"),
    ok = filelib:ensure_path(Root),
    Sampler = case whereis(lattice_sampler) of
                  undefined ->
                      {ok, S} = lattice_sampler:start_link(
                                  #{interval_ms => maps:get(sample_interval_ms, Opts, 1000)}),
                      S;
                  _ -> undefined
              end,
    Conf = [{port, Port}, {bind_address, IP}, {server_name, "lattice"},
            {server_root, Root}, {document_root, Root}, {modules, [?MODULE]},
            {ipfamily, case tuple_size(IP) of 4 -> inet; 8 -> inet6 end}],
    case application:ensure_all_started(inets) of
        {ok, _} ->
            case inets:start(httpd, Conf) of
                {ok, Pid} ->
                    [{port, P}] = httpd:info(Pid, [port]),
                    _ = erlang:monitor(process, Pid),
                    {ok, #{httpd => Pid, port => P, sampler => Sampler}};
                {error, Reason} ->
                    {stop, Reason}
            end;
        {error, Reason} ->
            {stop, {inets, Reason}}
    end.

%% @private
handle_call(port, _From, #{port := P} = St) -> {reply, P, St};
handle_call(_, _From, St) -> {reply, {error, unknown_call}, St}.

%% @private
handle_cast(_, St) -> {noreply, St}.

%% @private
handle_info({'DOWN', _, process, Pid, Reason}, #{httpd := Pid} = St) -> {stop, Reason, St};
handle_info({'EXIT', Pid, Reason}, #{sampler := Pid} = St) -> {stop, Reason, St};
handle_info(_, St) -> {noreply, St}.

%% @private
terminate(_Reason, #{httpd := Pid, sampler := S}) ->
    _ = inets:stop(httpd, Pid),
    case S of
        undefined -> ok;
        _ -> unlink(S), exit(S, shutdown)
    end,
    ok.

%% ---- httpd callback ---------------------------------------------------------------------

%% @private
do(#mod{method = "GET", request_uri = URI}) ->
    Path = hd(string:split(URI, "?")),
    case Path of
        "/metrics" ->
            reply(200, "text/plain; version=0.0.4; charset=utf-8", lattice_metrics:render());
        "/status.json" ->
            reply(200, "application/json", lattice_status:json(lattice_status:summary()));
        P when P =:= "/status"; P =:= "/" ->
            reply(200, "text/html; charset=utf-8", lattice_status:html(lattice_status:summary()));
        _ ->
            reply(404, "text/plain", <<"not found: /metrics, /status, /status.json\n">>)
    end;
do(#mod{}) ->
    reply(405, "text/plain", <<"GET only\n">>).

reply(Code, Type, Body0) ->
    Body = iolist_to_binary(Body0),
    {proceed, [{response, {response, [{code, Code}, {content_type, Type},
                                      {content_length, integer_to_list(byte_size(Body))},
                                      {cache_control, "no-store"}],
                           [Body]}}]}.
