%% @doc The canonical byte form of Erlang data terms (docs/FORMAT.md, "Terms").
%%
%% Equal terms (`=:=') give identical bytes on every node and OTP release, and no two terms
%% share bytes, so the bytes can stand in for the term: compared, sorted, hashed, stored.
%% Integers of any size, floats, atoms, binaries, tuples, lists (proper or not) and maps are
%% data; pids, ports, references, funs and bitstrings that are not whole bytes are not (they
%% mean nothing, or something else, on another node) and `encode/1' raises `badarg' for them,
%% as it does for terms nested more than 100 deep.
%%
%% The byte order is a total order but not the Erlang term order.
-module(lattice_canon).

-include("lattice_error.hrl").

-export([encode/1, decode/1, decode/2]).

-type decode_opt() :: existing_atoms.
-export_type([decode_opt/0]).

%% @doc The canonical bytes of `Term'.
-spec encode(term()) -> binary().
encode(Term) ->
    try lattice_nif:canon_encode(Term) catch error:badarg -> ?BADARG([Term]) end.

%% @doc The term whose canonical bytes `Bin' are. Any other binary gives
%% `{error, {bad_term, Reason}}'. Atoms are created as needed, as `binary_to_term/1' does.
-spec decode(binary()) -> {ok, term()} | {error, {bad_term, atom()}}.
decode(Bin) ->
    decode(Bin, []).

%% @doc As `decode/1'; with `existing_atoms' an atom that does not exist yet is refused with
%% `{error, {bad_term, unknown_atom}}' instead of being created (for bytes from peers you do
%% not trust with your atom table).
-spec decode(binary(), [decode_opt()]) -> {ok, term()} | {error, {bad_term, atom()}}.
decode(Bin, []) when is_binary(Bin) ->
    lattice_nif:canon_decode(Bin, false);
decode(Bin, [existing_atoms]) when is_binary(Bin) ->
    lattice_nif:canon_decode(Bin, true);
decode(Bin, Opts) ->
    %% Any other list of options: duplicates are fine, an unknown option is a caller's bug.
    case is_binary(Bin) andalso is_list(Opts) andalso
        (catch lists:all(fun(O) -> O =:= existing_atoms end, Opts)) =:= true of
        true -> decode(Bin, [existing_atoms]);
        false -> ?BADARG([Bin, Opts])
    end.
