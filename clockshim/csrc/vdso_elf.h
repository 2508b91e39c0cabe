/*
 * Finding a function in the kernel's vDSO image by its dynamic symbol
 * table. Shared by the preload shim (which calls the real vDSO through it)
 * and clockinject (which patches the vDSO of another process and reads its
 * image through /proc/PID/mem into a buffer).
 *
 * Every offset read from the image is checked against `len` before it is
 * followed, since clockinject reads another process's memory.
 */
#ifndef SPLITBRAIN_VDSO_ELF_H
#define SPLITBRAIN_VDSO_ELF_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

static inline int sb_in_image(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

static inline int sb_same_name(const char *a, const char *b, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		if (a[i] != b[i])
			return 0;
		if (a[i] == '\0')
			return 1;
	}
	return 0;
}

/* Number of dynamic symbols from a GNU hash table at image offset `off`: one
 * past the highest symbol index reachable from any bucket; 0 if malformed. */
static inline uint32_t sb_gnu_hash_symbol_count(const uint8_t *image, size_t len, uint64_t off)
{
	if (!sb_in_image(len, off, 16))
		return 0;
	const uint32_t *gh = (const uint32_t *)(const void *)(image + off);
	uint64_t nbuckets = gh[0], symoffset = gh[1], bloom_words = gh[2];
	uint64_t buckets_off = off + 16 + bloom_words * 8;
	if (!sb_in_image(len, buckets_off, nbuckets * 4))
		return 0;
	const uint32_t *buckets = (const uint32_t *)(const void *)(image + buckets_off);
	uint64_t chain_off = buckets_off + nbuckets * 4;
	uint64_t last = 0;
	for (uint64_t b = 0; b < nbuckets; b++)
		if (buckets[b] > last)
			last = buckets[b];
	if (last < symoffset)
		return (uint32_t)symoffset;
	for (;;) {
		uint64_t at = chain_off + (last - symoffset) * 4;
		if (!sb_in_image(len, at, 4))
			return 0;
		if ((*(const uint32_t *)(const void *)(image + at) & 1) != 0)
			return (uint32_t)(last + 1);
		last++;
	}
}

/*
 * Look up function `name` in the vDSO image of `len` bytes at `image`.
 * On success returns 1 and sets *offset to the function's offset from the
 * start of the image and *size to its symbol size (0 if unknown).
 */
static inline int sb_vdso_function(const uint8_t *image, size_t len, const char *name,
				   uint64_t *offset, uint64_t *size)
{
	if (!sb_in_image(len, 0, sizeof(Elf64_Ehdr)))
		return 0;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)image;
	if (eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
	    eh->e_ident[EI_MAG2] != ELFMAG2 || eh->e_ident[EI_MAG3] != ELFMAG3 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64)
		return 0;
	if (!sb_in_image(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return 0;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(const void *)(image + eh->e_phoff);
	/* image offset = vaddr - bias */
	int64_t bias = 0;
	int have_load = 0;
	uint64_t dyn_off = 0;
	int have_dyn = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !have_load) {
			bias = (int64_t)ph[i].p_vaddr - (int64_t)ph[i].p_offset;
			have_load = 1;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn_off = ph[i].p_offset;
			have_dyn = 1;
		}
	}
	if (!have_load || !have_dyn)
		return 0;

	uint64_t symtab = 0, strtab = 0, strsz = 0, hash = 0, gnu_hash = 0;
	for (uint64_t at = dyn_off;; at += sizeof(Elf64_Dyn)) {
		if (!sb_in_image(len, at, sizeof(Elf64_Dyn)))
			return 0;
		const Elf64_Dyn *d = (const Elf64_Dyn *)(const void *)(image + at);
		if (d->d_tag == DT_NULL)
			break;
		uint64_t p = d->d_un.d_ptr - (uint64_t)bias;
		switch (d->d_tag) {
		case DT_SYMTAB: symtab = p; break;
		case DT_STRTAB: strtab = p; break;
		case DT_STRSZ: strsz = d->d_un.d_val; break;
		case DT_HASH: hash = p; break;
		case DT_GNU_HASH: gnu_hash = p; break;
		default: break;
		}
	}
	if (symtab == 0 || strtab == 0 || !sb_in_image(len, strtab, strsz))
		return 0;
	uint32_t count = 0;
	if (hash != 0 && sb_in_image(len, hash, 8))
		count = ((const uint32_t *)(const void *)(image + hash))[1];
	else if (gnu_hash != 0)
		count = sb_gnu_hash_symbol_count(image, len, gnu_hash);
	if (count == 0 || !sb_in_image(len, symtab, (uint64_t)count * sizeof(Elf64_Sym)))
		return 0;

	const Elf64_Sym *syms = (const Elf64_Sym *)(const void *)(image + symtab);
	for (uint32_t i = 0; i < count; i++) {
		const Elf64_Sym *s = &syms[i];
		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
		    s->st_name >= strsz)
			continue;
		if (!sb_same_name((const char *)image + strtab + s->st_name, name, strsz - s->st_name))
			continue;
		uint64_t off = s->st_value - (uint64_t)bias;
		if (!sb_in_image(len, off, 1))
			return 0;
		*offset = off;
		*size = s->st_size;
		return 1;
	}
	return 0;
}

#endif
