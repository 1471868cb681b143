/*
 * lt_types.h — the registry of lattice binary types: each type's tag (the first byte of every
 * state, docs/FORMAT.md) and the format version (the second byte). include/lattice_types.hrl
 * holds the same numbers for Erlang; a test (test/c/test_common.c) and the Erlang contract
 * suite check each side against its own decoder. docs/ADDING_A_TYPE.md lists what else a new
 * type touches.
 */
#ifndef LT_TYPES_H
#define LT_TYPES_H

#define LT_FORMAT_V1 0x01

/* X(NAME, tag, erlang module): every type with a tag, clocks first, then the CRDTs. Expand it
 * where a list of every type is wanted, so adding a type adds one line here. */
#define LT_TYPES(X)                                                                                \
    X(VCLOCK, 0x01, lattice_vclock)                                                                \
    X(DVV, 0x02, lattice_dvv)                                                                      \
    X(GCOUNTER, 0x10, lattice_gcounter)                                                            \
    X(PNCOUNTER, 0x11, lattice_pncounter)                                                          \
    X(GSET, 0x12, lattice_gset)                                                                    \
    X(TWOPSET, 0x13, lattice_twopset)                                                              \
    X(ORSET, 0x14, lattice_orset)                                                                  \
    X(LWWREG, 0x15, lattice_lwwreg)                                                                \
    X(LWWSET, 0x16, lattice_lwwset)                                                                \
    X(LWWMAP, 0x17, lattice_lwwmap)                                                                \
    X(MVREG, 0x18, lattice_mvreg)

#define LT_TYPE_ENUM_(name, tag, mod) LT_TYPE_##name = tag,
enum { LT_TYPES(LT_TYPE_ENUM_) };
#undef LT_TYPE_ENUM_

#endif
