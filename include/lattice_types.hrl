%% The registry of lattice binary types: each type's tag (the first byte of every state,
%% docs/FORMAT.md) and the format version (the second byte). c_src/lt_types.h holds the same
%% numbers for C; test/lattice_type_contract_tests.erl checks that every tag here is the one
%% the NIF writes. docs/ADDING_A_TYPE.md lists what else a new type touches.
-ifndef(LATTICE_TYPES_HRL).
-define(LATTICE_TYPES_HRL, true).

-define(LT_FORMAT_V1, 16#01).

-define(LT_TYPE_VCLOCK, 16#01).
-define(LT_TYPE_DVV, 16#02).
-define(LT_TYPE_GCOUNTER, 16#10).
-define(LT_TYPE_PNCOUNTER, 16#11).
-define(LT_TYPE_GSET, 16#12).
-define(LT_TYPE_TWOPSET, 16#13).
-define(LT_TYPE_ORSET, 16#14).
-define(LT_TYPE_LWWREG, 16#15).
-define(LT_TYPE_LWWSET, 16#16).
-define(LT_TYPE_LWWMAP, 16#17).
-define(LT_TYPE_MVREG, 16#18).

%% {Tag, Module} for every CRDT type (the lattice_type behaviour): lattice_type:module/1
%% dispatches on it.
-define(LT_CRDT_TYPES, [
    {?LT_TYPE_GCOUNTER, lattice_gcounter},
    {?LT_TYPE_PNCOUNTER, lattice_pncounter},
    {?LT_TYPE_GSET, lattice_gset},
    {?LT_TYPE_TWOPSET, lattice_twopset},
    {?LT_TYPE_ORSET, lattice_orset},
    {?LT_TYPE_LWWREG, lattice_lwwreg},
    {?LT_TYPE_LWWSET, lattice_lwwset},
    {?LT_TYPE_LWWMAP, lattice_lwwmap},
    {?LT_TYPE_MVREG, lattice_mvreg}
]).

-endif.
