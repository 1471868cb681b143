%% @private
%% The NIF library's stub module. Every function here is replaced by its C version when
%% priv/lattice_nif.so loads; call the lattice_* modules rather than these.
-module(lattice_nif).

%% Every NIF, once: exported, and listed in -nifs (OTP 25 refuses to load the library when
%% -nifs misses one). nif/lt_nif.c's table lists the same, with the C functions.
-define(NIFS, [
    canon_encode/1, canon_decode/2,
    clock_from_list/2, clock_to_list/2, clock_increment/4, clock_get/3,
    clock_merge/3, vclock_compare/2, vclock_prune/2, clock_size/2, clock_validate/2,
    dvv_from_list/2, dvv_to_list/1, dvv_add/3, dvv_event/2, dvv_contains/3, dvv_max/2,
    dvv_merge/2, dvv_descends/2, dvv_validate/1,
    hlc_now/0, hlc_update/1, hlc_peek/0, hlc_set_max_offset/1, hlc_max_offset/0,
    hlc_tick/2, hlc_receive/4,
    hash/3, term_digest/1,
    obj_new/1, obj_update/3, obj_join/2, obj_value/1, obj_query/2, obj_snapshot/1,
    obj_digest/1, obj_retire/1, gcounter_value/1, gcounter_digest/1, pncounter_digest/1,
    pncounter_split/1,
    %% OR-Set, LWW-Map, MV-Register (nif/lt_nif_dotkernel.c): the type tag comes first.
    dk_update/4, dk_merge/3, dk_value/2, dk_query/3, dk_digest/2, dk_validate/2, dk_to_list/2,
    %% LWW-Register (nif/lt_nif_lwwreg.c).
    lwwreg_merge/2, lwwreg_assign/4, lwwreg_value/2, lwwreg_digest/1, lwwreg_validate/1,
    lwwreg_to_term/1,
    %% G-Set and 2P-Set (nif/lt_nif_set.c).
    set_update/3, set_merge/3, set_value/2, set_contains/3, set_size/2, set_digest/2,
    set_validate/2, set_to_list/2,
    %% LWW-Element-Set (nif/lt_nif_lwwset.c).
    lwwset_update/2, lwwset_merge/2, lwwset_value/1, lwwset_contains/2, lwwset_size/1,
    lwwset_digest/1, lwwset_validate/1, lwwset_to_list/1,
    %% The Merkle tree (nif/lt_nif_merkle.c): the tree comes first.
    merkle_new/1, merkle_put/3, merkle_update/3, merkle_lookup/2, merkle_info/2, merkle_node/3,
    merkle_key_hash/2, merkle_diff/2, merkle_to_list/1, merkle_keys_with_hash/2,
    merkle_children/3, merkle_buckets/2, merkle_diff_children/2, merkle_diff_buckets/2
]).
-export(?NIFS).
-nifs(?NIFS).

-on_load(init/0).

-spec init() -> ok | {error, term()}.
init() ->
    Path = lattice_priv:path("lattice_nif"),
    case erlang:load_nif(Path, 0) of
        ok ->
            ok;
        {error, {Reason, Text}} = Error ->
            logger:error("lattice: cannot load the NIF library ~ts.so (~p): ~ts~n~ts",
                         [Path, Reason, Text, hint(Reason, Text)]),
            Error
    end.

hint(load_failed, Text) ->
    case string:find(Text, "cannot open shared object file") of
        nomatch ->
            "It was probably built against another OTP release or is missing a library: "
            "rebuild it with `make clean all` using the erl on PATH.";
        _ ->
            "It has not been built: run `make` in the lattice directory "
            "(mix and rebar3 do this when they compile lattice)."
    end;
hint(bad_lib, _) ->
    "The library does not match this module (stale build?): run `make clean all`.";
hint(_, _) ->
    "".

-define(NOT_LOADED, erlang:nif_error({not_loaded, ?MODULE})).

canon_encode(_) -> ?NOT_LOADED.
canon_decode(_, _) -> ?NOT_LOADED.
clock_from_list(_, _) -> ?NOT_LOADED.
clock_to_list(_, _) -> ?NOT_LOADED.
clock_increment(_, _, _, _) -> ?NOT_LOADED.
clock_get(_, _, _) -> ?NOT_LOADED.
clock_merge(_, _, _) -> ?NOT_LOADED.
vclock_compare(_, _) -> ?NOT_LOADED.
vclock_prune(_, _) -> ?NOT_LOADED.
clock_size(_, _) -> ?NOT_LOADED.
clock_validate(_, _) -> ?NOT_LOADED.
dvv_from_list(_, _) -> ?NOT_LOADED.
dvv_to_list(_) -> ?NOT_LOADED.
dvv_add(_, _, _) -> ?NOT_LOADED.
dvv_event(_, _) -> ?NOT_LOADED.
dvv_contains(_, _, _) -> ?NOT_LOADED.
dvv_max(_, _) -> ?NOT_LOADED.
dvv_merge(_, _) -> ?NOT_LOADED.
dvv_descends(_, _) -> ?NOT_LOADED.
dvv_validate(_) -> ?NOT_LOADED.
hlc_now() -> ?NOT_LOADED.
hlc_update(_) -> ?NOT_LOADED.
hlc_peek() -> ?NOT_LOADED.
hlc_set_max_offset(_) -> ?NOT_LOADED.
hlc_max_offset() -> ?NOT_LOADED.
hlc_tick(_, _) -> ?NOT_LOADED.
hlc_receive(_, _, _, _) -> ?NOT_LOADED.
hash(_, _, _) -> ?NOT_LOADED.
term_digest(_) -> ?NOT_LOADED.
obj_new(_) -> ?NOT_LOADED.
obj_update(_, _, _) -> ?NOT_LOADED.
obj_join(_, _) -> ?NOT_LOADED.
obj_value(_) -> ?NOT_LOADED.
obj_query(_, _) -> ?NOT_LOADED.
obj_snapshot(_) -> ?NOT_LOADED.
obj_digest(_) -> ?NOT_LOADED.
obj_retire(_) -> ?NOT_LOADED.
gcounter_value(_) -> ?NOT_LOADED.
gcounter_digest(_) -> ?NOT_LOADED.
pncounter_digest(_) -> ?NOT_LOADED.
pncounter_split(_) -> ?NOT_LOADED.
%% LWW-Register
lwwreg_merge(_, _) -> ?NOT_LOADED.
lwwreg_assign(_, _, _, _) -> ?NOT_LOADED.
lwwreg_value(_, _) -> ?NOT_LOADED.
lwwreg_digest(_) -> ?NOT_LOADED.
lwwreg_validate(_) -> ?NOT_LOADED.
lwwreg_to_term(_) -> ?NOT_LOADED.
%% G-Set and 2P-Set
set_update(_, _, _) -> ?NOT_LOADED.
set_merge(_, _, _) -> ?NOT_LOADED.
set_value(_, _) -> ?NOT_LOADED.
set_contains(_, _, _) -> ?NOT_LOADED.
set_size(_, _) -> ?NOT_LOADED.
set_digest(_, _) -> ?NOT_LOADED.
set_validate(_, _) -> ?NOT_LOADED.
set_to_list(_, _) -> ?NOT_LOADED.
%% LWW-Element-Set
lwwset_update(_, _) -> ?NOT_LOADED.
lwwset_merge(_, _) -> ?NOT_LOADED.
lwwset_value(_) -> ?NOT_LOADED.
lwwset_contains(_, _) -> ?NOT_LOADED.
lwwset_size(_) -> ?NOT_LOADED.
lwwset_digest(_) -> ?NOT_LOADED.
lwwset_validate(_) -> ?NOT_LOADED.
lwwset_to_list(_) -> ?NOT_LOADED.

dk_update(_, _, _, _) -> ?NOT_LOADED.
dk_merge(_, _, _) -> ?NOT_LOADED.
dk_value(_, _) -> ?NOT_LOADED.
dk_query(_, _, _) -> ?NOT_LOADED.
dk_digest(_, _) -> ?NOT_LOADED.
dk_validate(_, _) -> ?NOT_LOADED.
dk_to_list(_, _) -> ?NOT_LOADED.
%% The Merkle tree
merkle_new(_) -> ?NOT_LOADED.
merkle_put(_, _, _) -> ?NOT_LOADED.
merkle_update(_, _, _) -> ?NOT_LOADED.
merkle_lookup(_, _) -> ?NOT_LOADED.
merkle_info(_, _) -> ?NOT_LOADED.
merkle_node(_, _, _) -> ?NOT_LOADED.
merkle_key_hash(_, _) -> ?NOT_LOADED.
merkle_diff(_, _) -> ?NOT_LOADED.
merkle_to_list(_) -> ?NOT_LOADED.
merkle_keys_with_hash(_, _) -> ?NOT_LOADED.
merkle_children(_, _, _) -> ?NOT_LOADED.
merkle_buckets(_, _) -> ?NOT_LOADED.
merkle_diff_children(_, _) -> ?NOT_LOADED.
merkle_diff_buckets(_, _) -> ?NOT_LOADED.
