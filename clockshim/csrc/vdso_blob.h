/*
 * The code clockinject maps into a process whose vDSO it patches, and the
 * layout clockinject and that code share.
 *
 * The blob is SB_BLOB_SIZE bytes mapped anonymously in the target: a code
 * page (read and execute once written) followed by a data page (read and
 * write). Entry i of the code page, at offset i * SB_BLOB_ENTRY_STRIDE, jumps
 * to the replacement for vDSO function i; each patched vDSO function starts
 * with `movabs $entry, %r11; jmp *%r11` (SB_PATCH_LEN bytes).
 *
 *   vDSO __vdso_clock_gettime:  movabs $blob+0, %r11 ; jmp *%r11 ; <rest unused>
 *   blob +0x0000  entries -> sb_clock_gettime / sb_gettimeofday / sb_time
 *   blob +0x1000  struct sb_blob_data (state pointer, high-water marks,
 *                 original bytes of each patched function, state path)
 *
 * The replacements read the real clock by the raw syscall (the vDSO they
 * would call is the one patched) and skew it with skew.h, from the state
 * file mapped shared and read-only, exactly as the preload shim does.
 */
#ifndef SPLITBRAIN_VDSO_BLOB_H
#define SPLITBRAIN_VDSO_BLOB_H

#include <stdint.h>

#include "clockfile.h"

#define SB_BLOB_MAGIC 0x31304f5344565342ull /* "BSVDSO01" as little-endian bytes */
#define SB_BLOB_PAGE 4096
#define SB_BLOB_SIZE (2 * SB_BLOB_PAGE)
#define SB_BLOB_DATA_OFFSET SB_BLOB_PAGE
#define SB_BLOB_ENTRY_STRIDE 8
#define SB_PATCH_LEN 13
/* The patch: movabs $entry, %r11 (49 bb imm64); jmp *%r11 (41 ff e3). Its
 * first two bytes are how a patched entry is recognised. */
#define SB_PATCH_MOVABS_R11_0 0x49
#define SB_PATCH_MOVABS_R11_1 0xbb
#define SB_PATCH_JMP_R11_0 0x41
#define SB_PATCH_JMP_R11_1 0xff
#define SB_PATCH_JMP_R11_2 0xe3
#define SB_ORIGINAL_LEN 16
#define SB_STATE_PATH_MAX 256
#define SB_FIXED_CLOCKS 12

enum sb_vdso_fn {
	SB_FN_CLOCK_GETTIME,
	SB_FN_GETTIMEOFDAY,
	SB_FN_TIME,
	SB_FN_COUNT,
};

struct sb_blob_data {
	uint64_t magic;
	/* The state file, mapped MAP_SHARED read-only; 0 reads as real time. */
	uint64_t state_addr;
	/* Monotonic high-water marks (skew.h), one per fixed clock id. */
	int64_t high_water[SB_FIXED_CLOCKS];
	/* vDSO address of each patched function, 0 if that one is not patched. */
	uint64_t patched[SB_FN_COUNT];
	uint8_t original[SB_FN_COUNT][SB_ORIGINAL_LEN];
	char state_path[SB_STATE_PATH_MAX];
};

_Static_assert(sizeof(struct sb_blob_data) <= SB_BLOB_PAGE, "blob data fits its page");

#endif
