%% @private
%% The root supervisor. Children, one_for_one:
%% <ul>
%% <li>`lattice_cnode_keeper', which runs this node's C node (restarted with back-off by the
%%     keeper itself, see its module doc) while the node is distributed; absent when the
%%     application environment has `{cnode, false}'.</li>
%% <li>`lattice_ae', the owners' interface to anti-entropy (stores, leaves, sessions); it
%%     follows the keeper's events and feeds a restarted C node again.</li>
%% <li>the default store, `lattice_store', with its replication (`lattice_store_sup'; the
%%     `store' key of the application environment holds its options).</li>
%% <li>`lattice_http', the HTTP endpoint (metrics and status page) with its sampler, only when
%%     the application environment has an `http' key; else `lattice_sampler' alone when
%%     telemetry is in the code path, for the periodic telemetry events
%%     (docs/OBSERVABILITY.md).</li>
%% </ul>
-module(lattice_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Keeper =
        case lattice_cnode_keeper:enabled() of
            true -> [lattice_cnode_keeper:child_spec()];
            false -> []
        end,
    Store = lattice_store:child_spec(application:get_env(lattice, store, [])),
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10},
          Keeper ++ [lattice_ae:child_spec(), Store] ++ observers()}}.

observers() ->
    case lattice_http:configured() of
        #{} = Opts -> [lattice_http:child_spec(Opts)];
        undefined ->
            %% in the code path, not necessarily loaded yet: a host's applications may start
            %% lattice before telemetry, and in interactive mode a module loads on first use
            case code:which(telemetry) of
                Path when is_list(Path) -> [lattice_sampler:child_spec(#{})];
                _ -> []
            end
    end.
