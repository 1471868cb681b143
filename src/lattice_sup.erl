%% @private
%% The root supervisor. The replicated store and the supervised C node go under it as they
%% arrive; for now lattice is a library of functions and the supervisor has no children.
-module(lattice_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10},
          [lattice_store:child_spec(application:get_env(lattice, store, []))]}}.
