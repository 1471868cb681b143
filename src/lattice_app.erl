%% @private
-module(lattice_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    {ok, MaxOffset} = application:get_env(lattice, hlc_max_offset_ms),
    ok = lattice_hlc:set_max_offset(MaxOffset),
    %% The node's incarnation is chosen now, before any process asks for an actor.
    _ = lattice:actor(),
    lattice_sup:start_link().

stop(_State) ->
    ok.
