%% @private
%% @doc Where lattice's built files are: its priv directory, for the NIF library
%% (lattice_nif) and the C node (lattice_cnode). A module of its own, without -on_load, so
%% the C node's path can be had when the NIF library does not load.
-module(lattice_priv).

-export([path/1]).

%% The file `Name' in the priv directory of the lattice application, also when lattice is not
%% loaded as an application (a bare code path): then ../priv from this module's ebin, or
%% ./priv when the module was not loaded from a file.
-spec path(file:filename()) -> file:filename().
path(Name) ->
    filename:join(dir(), Name).

dir() ->
    case code:priv_dir(lattice) of
        Dir when is_list(Dir) ->
            Dir;
        {error, _} ->
            case code:which(?MODULE) of
                Beam when is_list(Beam) ->
                    filename:join(filename:dirname(filename:dirname(Beam)), "priv");
                _ ->
                    "priv"
            end
    end.
