/*
 * lt_secret.h — small secrets in slabs of locked, guarded memory.
 *
 * sodium_malloc gives each allocation its own mapping with guard pages on both sides and an
 * mlock: three kernel map entries and at least three pages per key. A process holding some tens
 * of thousands of keys that way reaches the kernel's map limit (vm.max_map_count, 65530 by
 * default) and sodium_malloc starts failing. Here a secret is a fixed-size slot carved out of a
 * large sodium_malloc'd slab (LT_SECRET_SLAB_BYTES, guard pages around the whole slab), one slab
 * per mapping, so 100k keys take some tens of mappings.
 *
 * Slots come in power-of-two classes from 32 to LT_SECRET_MAX bytes; a slot is aligned to its
 * class size (up to the page). Every slot is zeroed when handed out and wiped with
 * sodium_memzero when freed. A slab's pages are mlock'ed where the process may (RLIMIT_MEMLOCK):
 * lt_secret_stats says how many were and were not. Locked or not, the memory is excluded from
 * core dumps (sodium_mlock's MADV_DONTDUMP) and never reaches a process heap.
 *
 * Thread-safe: one mutex per class, held only for the slot bookkeeping (and for the mmap of a
 * new slab, some microseconds). Plain C99 over libsodium; knows nothing of the BEAM.
 */
#ifndef LT_SECRET_H
#define LT_SECRET_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define LT_SECRET_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define LT_SECRET_WARN_UNUSED
#endif

/* The largest secret a slot holds (an AES-256-GCM key schedule is 512 bytes, a streaming
 * HMAC-SHA-512 state 416). */
#define LT_SECRET_MAX 1024
/* Bytes of one slab (a multiple of the page size): 4096 slots of 64 bytes. */
#define LT_SECRET_SLAB_BYTES (256 * 1024)

typedef struct lt_secret_slab lt_secret_slab;

/* One secret: `p` points at `len` bytes of slab memory (its slot may be larger). The struct
 * itself holds no secret and may live anywhere (a NIF resource, the stack). All zero (or
 * lt_secret_free'd) means "no secret". */
typedef struct {
    uint8_t *p;
    size_t len;
    lt_secret_slab *slab;
    uint32_t slot;
} lt_secret;

/* Initializes libsodium (idempotent, thread-safe). 0 on success, -1 when sodium_init fails. */
int lt_secret_init(void) LT_SECRET_WARN_UNUSED;

/* Gives `s` a zeroed slot of at least `len` bytes (1..LT_SECRET_MAX). 0 on success; -1 when
 * len is out of range or no slab can be mapped (s is then all zero). The caller owns the slot
 * and gives it back with lt_secret_free. */
int lt_secret_alloc(lt_secret *s, size_t len) LT_SECRET_WARN_UNUSED;

/* Wipes and frees s's slot and zeroes s; a no-op on an all-zero s. A slab left empty is
 * unmapped, unless it is its class's only spare. */
void lt_secret_free(lt_secret *s);

typedef struct {
    uint64_t slabs;          /* slabs mapped now */
    uint64_t slabs_locked;   /* of them, mlock'ed */
    uint64_t slabs_unlocked; /* of them, mlock refused (RLIMIT_MEMLOCK) */
    uint64_t slots_total;    /* slots in the mapped slabs */
    uint64_t slots_used;     /* secrets alive */
    uint64_t bytes_mapped;   /* slab bytes mapped */
    uint64_t alloc_failures; /* lt_secret_alloc calls that found no memory */
    uint64_t slabs_ever;     /* slabs mapped since start */
} lt_secret_stats;

/* A consistent snapshot per class, summed (classes are read one after the other). */
void lt_secret_get_stats(lt_secret_stats *st);

#endif
