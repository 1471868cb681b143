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

-export([new/1, update/3, join/2, value/1, value/2, snapshot/1, digest/1]).

-opaque object() :: reference().
-export_type([object/0]).

%% @doc An object holding `State', or the empty state of the type `Module'. A binary that is
%% not a valid state of its type gives `{error, {bad_<type>, Reason}}'; anything that is not a
%% state of a type with objects (see above), or the name of one, is `badarg'.
-spec new(module() | lattice_type:state()) -> object() | {error, term()}.
new(Module) when is_atom(Module) ->
    case erlang:function_exported(Module, new, 0) orelse
         (code:ensure_loaded(Module) =:= {module, Module} andalso
          erlang:function_exported(Module, new, 0)) of
        true -> lattice_nif:obj_new(Module:new());
        false -> erlang:error(badarg, [Module])
    end;
new(State) ->
    lattice_nif:obj_new(State).

%% @doc Applies `Op' by `Actor' in place; returns the delta to send to other replicas.
-spec update(term(), lattice_type:actor(), object()) ->
          {ok, lattice_type:delta()} | {error, term()}.
update(Op, Actor, Object) ->
    lattice_nif:obj_update(Object, Op, Actor).

%% @doc Merges a state or delta of the object's type into the object.
-spec join(lattice_type:state(), object()) -> ok | {error, term()}.
join(State, Object) ->
    lattice_nif:obj_join(Object, State).

-spec value(object()) -> term().
value(Object) ->
    lattice_nif:obj_value(Object).

-spec value(term(), object()) -> term().
value(Query, Object) ->
    lattice_nif:obj_query(Object, Query).

%% @doc The canonical binary of the object's state.
-spec snapshot(object()) -> lattice_type:state().
snapshot(Object) ->
    lattice_nif:obj_snapshot(Object).

%% @doc The digest of the object's state: equal to the type's `digest/1' of `snapshot/1'.
-spec digest(object()) -> <<_:128>>.
digest(Object) ->
    lattice_nif:obj_digest(Object).
