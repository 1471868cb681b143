%% @doc In-place CRDT objects: a state held as a mutable C object behind a resource, for the
%% replicated store's hot path. An update changes the object in place and returns the delta
%% (the same delta the type's binary `update/3' gives); a join merges a remote state or delta
%% in place; the value and the digest are kept current as the object changes; a snapshot is
%% the canonical binary of the state.
%%
%% Objects exist for: G-Counter, PN-Counter, LWW-Register, G-Set, 2P-Set, LWW-Element-Set,
%% and the dot-kernel types OR-Set, LWW-Map and MV-Register.
%% An LWW-Element-Set object has the bias of the state it is made from:
%% `new(lattice_lwwset)' is add-biased, `new(lattice_lwwset:new(remove))' remove-biased.
%% Any process may use an object (a mutex guards it); an object is freed when no process
%% refers to it any more. An object lives on its node: send snapshots or deltas, not objects.
-module(lattice_object).

-include("lattice_error.hrl").

-export([new/1, update/3, join/2, value/1, value/2, snapshot/1, digest/1, retire/1]).

-opaque object() :: reference().
-export_type([object/0]).

%% @doc An object holding `State', or the empty state of the type `Module'. A binary that is
%% not a valid state gives an error tuple, as every other function given one does:
%% `{error, {bad_state, unknown_type}}' (or `truncated') when it has no known type tag, the
%% type's `{error, {bad_<type>, Reason}}' when it is a corrupt state of a known type. Anything
%% else that is not the name of a type (see above) is `badarg'.
-spec new(module() | lattice_type:state()) -> object() | {error, {atom(), atom()}}.
new(Module) when is_atom(Module) ->
    case erlang:function_exported(Module, new, 0) orelse
         (code:ensure_loaded(Module) =:= {module, Module} andalso
          erlang:function_exported(Module, new, 0)) of
        true ->
            try lattice_nif:obj_new(Module:new()) catch error:badarg -> ?BADARG([Module]) end;
        false -> ?BADARG([Module])
    end;
new(State) when is_binary(State) ->
    case lattice_type:module(State) of
        {error, _} = Error -> Error;
        _ -> try lattice_nif:obj_new(State) catch error:badarg -> ?BADARG([State]) end
    end;
new(State) ->
    ?BADARG([State]).

%% @doc Applies `Op' by `Actor' in place; returns the delta to send to other replicas. Besides
%% the type's data errors, an update can refuse an unmet precondition (a remove of an absent
%% element, a stale explicit timestamp) or a counter or timestamp that cannot grow
%% (docs/ERRORS.md).
-spec update(term(), lattice_type:actor(), object()) ->
          {ok, lattice_type:delta()}
          | {error, {precondition, term()}}
          | {error, {overflow, counter | timestamp}}
          | {error, retired}
          | {error, {atom(), atom()}}.
update(Op, Actor, Object) ->
    try lattice_nif:obj_update(Object, Op, Actor)
    catch error:badarg -> ?BADARG([Op, Actor, Object])
    end.

%% @doc Merges a state or delta of the object's type into the object.
-spec join(lattice_type:state(), object()) -> ok | {error, term()}.
join(State, Object) ->
    try lattice_nif:obj_join(Object, State) catch error:badarg -> ?BADARG([State, Object]) end.

-spec value(object()) -> term().
value(Object) ->
    try lattice_nif:obj_value(Object) catch error:badarg -> ?BADARG([Object]) end.

-spec value(term(), object()) -> term().
value(Query, Object) ->
    try lattice_nif:obj_query(Object, Query) catch error:badarg -> ?BADARG([Query, Object]) end.

%% @doc The canonical binary of the object's state.
-spec snapshot(object()) -> lattice_type:state().
snapshot(Object) ->
    try lattice_nif:obj_snapshot(Object) catch error:badarg -> ?BADARG([Object]) end.

%% @doc The digest of the object's state: equal to the type's `digest/1' of `snapshot/1'.
-spec digest(object()) -> <<_:128>>.
digest(Object) ->
    try lattice_nif:obj_digest(Object) catch error:badarg -> ?BADARG([Object]) end.

%% @doc Retires the object: every later `update/3' or `join/2' on it gives
%% `{error, retired}' (reads and snapshots go on). An update or join either came before the
%% retire, and a snapshot taken after it holds it, or is refused: the store retires a key's
%% objects when it demotes the key (docs/TIERING.md), so that no write lands on an object
%% nobody will read.
-spec retire(object()) -> ok.
retire(Object) ->
    try lattice_nif:obj_retire(Object) catch error:badarg -> ?BADARG([Object]) end.
