%% @doc `:telemetry' events, when the host application has telemetry; lattice does not need it.
%%
%% An event is emitted only while the `telemetry' module is loaded (a host that attaches a
%% handler has loaded it): {@link execute/3} asks `erlang:module_loaded/1', a BIF that reads
%% the module table, so without telemetry an event costs that one lookup and nothing is
%% built or sent. telemetry is called through `apply/3': lattice has no compile-time or
%% application dependency on it. A handler that raises is telemetry's business (it detaches
%% the handler); an exception from telemetry itself (its table not started yet) is caught
%% here: observing must not break a store. The events are listed in docs/OBSERVABILITY.md.
-module(lattice_telemetry).

-export([execute/3, available/0]).

-type event() :: [atom(), ...].
-export_type([event/0]).

%% @doc Emits `Event' with `Measurements' and `Metadata' through `telemetry:execute/3' when
%% telemetry is loaded; `ok' either way.
-spec execute(event(), map(), map()) -> ok.
execute(Event, Measurements, Metadata) ->
    case available() of
        true ->
            try
                _ = apply(telemetry, execute, [Event, Measurements, Metadata]),
                ok
            catch
                _:_ -> ok
            end;
        false ->
            ok
    end.

%% @doc Whether events are emitted now: the `telemetry' module is loaded and exports
%% `execute/3'.
-spec available() -> boolean().
available() ->
    erlang:module_loaded(telemetry) andalso erlang:function_exported(telemetry, execute, 3).
