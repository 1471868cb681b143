%% @doc A store and its replication, as one unit (docs/REPLICATION.md): the store's `pg'
%% scope, the store (`lattice_store'), its replication process (`lattice_repl') and, when
%% enabled, its signed checkpoints (`lattice_checkpoint'), started in that order,
%% `rest_for_one': a store that dies takes its replication with it (its tables are gone), and
%% they start again, the store under a new incarnation.
%%
%% Started by `lattice_store:child_spec/1' (and so by `{Lattice.ContextStore, opts}'), and by
%% the lattice application for the default store.
-module(lattice_store_sup).
-behaviour(supervisor).

-export([start_link/3, start_link/4, init/1]).

%% @equiv start_link(Name, StoreOpts, Repl, false)
-spec start_link(atom(), map(), false | map()) -> {ok, pid()} | {error, term()}.
start_link(Name, StoreOpts, Repl) ->
    start_link(Name, StoreOpts, Repl, false).

%% @doc `Repl' is `false' (a local store: no replication) or the options of
%% `lattice_repl:start_link/2'; `Checkpoints' is `false' or the options of
%% `lattice_checkpoint:start_link/2' (signed checkpoints, a child after the replication; only
%% with replication).
-spec start_link(atom(), map(), false | map(), false | map()) -> {ok, pid()} | {error, term()}.
start_link(Name, StoreOpts, Repl, Checkpoints) ->
    supervisor:start_link(?MODULE, {Name, StoreOpts, Repl, Checkpoints}).

%% @private
init({Name, StoreOpts, Repl, Checkpoints}) ->
    Store = #{id => store, start => {lattice_store, start_link, [Name, StoreOpts]},
              restart => permanent, shutdown => 5000, type => worker,
              modules => [lattice_store]},
    Children =
        case Repl of
            false ->
                [Store];
            _ ->
                Scope = lattice_repl:scope(Name),
                [#{id => pg, start => {pg, start_link, [Scope]}, restart => permanent,
                   shutdown => 5000, type => worker, modules => [pg]},
                 Store,
                 lattice_repl:child_spec(Name, Repl)
                 | [lattice_checkpoint:child_spec(Name, Checkpoints) || Checkpoints =/= false]]
        end,
    {ok, {#{strategy => rest_for_one, intensity => 10, period => 10}, Children}}.
